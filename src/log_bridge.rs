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
        let text = redacted(&text);
        let from = record.target();
        match record.level() {
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
