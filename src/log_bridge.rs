//! Log records of the crates that use the `log` crate — Rocket above all —
//! go through `tracing` like wxauth's own lines (one format, one filter,
//! `WXAUTH_LOG`), instead of through Rocket's own logger.
//!
//! Rocket's request lines show whole URIs, and a client that wrongly puts a
//! token in a query string (`/status?token=eyJ…`) would have it written down:
//! every record passes through [`redacted`], which cuts query strings and
//! anything shaped like a JWT. Rocket's `log_level` still decides how much
//! Rocket says (`critical`, the default here, is warnings and errors).

use std::borrow::Cow;

use rocket::config::LogLevel;

struct Bridge;

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        let from = record.target();
        let level = routine_level(from, &text).unwrap_or(record.level());
        if level > log::max_level() {
            return;
        }
        let text = redacted(&text);
        match level {
            log::Level::Error => tracing::error!(target: "wxauth::log", from, "{text}"),
            log::Level::Warn => tracing::warn!(target: "wxauth::log", from, "{text}"),
            log::Level::Info => tracing::info!(target: "wxauth::log", from, "{text}"),
            log::Level::Debug => tracing::debug!(target: "wxauth::log", from, "{text}"),
            log::Level::Trace => tracing::trace!(target: "wxauth::log", from, "{text}"),
        }
    }

    fn flush(&self) {}
}

/// Installs the bridge at Rocket's `log_level`, unless a `log` logger is
/// already set in this process (a second server in the tests).
pub fn install(level: LogLevel) {
    if log::set_boxed_logger(Box::new(Bridge)).is_ok() {
        log::set_max_level(match level {
            LogLevel::Critical => log::LevelFilter::Warn,
            LogLevel::Normal => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Trace,
            LogLevel::Off => log::LevelFilter::Off,
        });
    }
}

/// Rocket narrates ordinary events as warnings and errors: a request guard
/// that refuses (every signed-out console visit), a 404 ("No matching
/// routes"), which catcher answered, a client that hung up mid-request, its
/// launch banner, a SIGTERM. wxauth's
/// own request line already records each request's status, and a warning
/// should mean something is wrong; so these are told at the level of what
/// they are. Everything else Rocket says (a panicking handler, a failing
/// catcher, a malformed header) keeps its level.
fn routine_level(target: &str, text: &str) -> Option<log::Level> {
    const PER_REQUEST: [&str; 9] = [
        "Request guard `",
        "Parameter guard `",
        "Data guard `",
        "No matching routes for ",
        "Responding with registered ",
        "No 404 catcher registered",
        "Remote left: ",
        "Connection failed: ",
        "Outcome: ",
    ];
    if PER_REQUEST.iter().any(|p| text.starts_with(p)) {
        return Some(log::Level::Debug);
    }
    let shutdown = text.starts_with("Received ") && text.contains("shutdown");
    if target.contains("rocket::launch") || shutdown {
        return Some(log::Level::Info);
    }
    None
}

/// `text` without query strings (`/path?[redacted]`) and without anything
/// that looks like a JWT.
pub fn redacted(text: &str) -> Cow<'_, str> {
    if !text.contains('?') && !text.contains("eyJ") {
        return Cow::Borrowed(text);
    }
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            if let Some((before, _)) = word.split_once('?') {
                format!("{before}?[redacted]")
            } else if looks_like_jwt(word) {
                "[token]".to_string()
            } else {
                word.to_string()
            }
        })
        .collect();
    Cow::Owned(words.join(" "))
}

fn looks_like_jwt(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
    word.starts_with("eyJ") && word.matches('.').count() == 2
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn rocket_routine_is_not_a_warning() {
        use super::routine_level;
        use log::Level;
        let guard = "Request guard `AdminUser` failed: ().";
        assert_eq!(
            routine_level("wxauth::admin::users::_", guard),
            Some(Level::Debug)
        );
        let missing = "No matching routes for GET /favicon.ico.";
        assert_eq!(
            routine_level("rocket::server::_", missing),
            Some(Level::Debug)
        );
        let sigterm = "Received SIGTERM. Requesting shutdown.";
        assert_eq!(routine_level("rocket::server", sigterm), Some(Level::Info));
        let banner = "Rocket has launched from http://127.0.0.1:8000";
        assert_eq!(routine_level("rocket::launch", banner), Some(Level::Info));
        // A fault keeps Rocket's level.
        assert_eq!(
            routine_level("rocket::server::_", "Handler status panicked."),
            None
        );
    }

    #[test]
    fn query_strings_and_tokens_are_cut() {
        assert_eq!(
            redacted("GET /api/v1.0/auth/status?token=eyJa.b.c&x=1 text/html:"),
            "GET /api/v1.0/auth/status?[redacted] text/html:"
        );
        assert_eq!(
            redacted("Matched: (status) GET /api/v1.0/auth/status"),
            "Matched: (status) GET /api/v1.0/auth/status"
        );
        assert_eq!(
            redacted("bad token \"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3In0.sig-_x\""),
            "bad token [token]"
        );
        assert_eq!(redacted("eyJ alone is fine"), "eyJ alone is fine");
    }
}
