//! What an admin API call's audit event says of its request: the method,
//! the path, and the query with the values of every parameter but a few
//! left out.
//!
//! A search (`users?q=`) names a person by openid, unionid, phone number or
//! nickname. Kept in the event, that would outlive the person's erasure
//! (SPEC §12), which scrubs the person's own events but cannot know which
//! operator's events name them. Values are kept only for the parameters
//! that name nothing about anyone ([`SHOWN`]); any other parameter, a future
//! one included, shows its name alone.

use rocket::http::{Method, RawStr};

/// Parameters whose values the event keeps: filters and paging.
const SHOWN: [&str; 4] = ["kind", "user_id", "before", "limit"];

/// What stands for a value left out.
pub const LEFT_OUT: &str = "…";

/// `GET /api/admin/v1/users?q=…&limit=20` for a call to
/// `/api/admin/v1/users?q=13800138000&limit=20`.
pub fn request_line(method: Method, path: &str, query: Option<&str>) -> String {
    let mut line = format!("{method} {path}");
    let Some(query) = query else {
        return line;
    };
    line.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            line.push('&');
        }
        let (name, value) = match pair.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (pair, None),
        };
        line.push_str(name);
        if let Some(value) = value {
            line.push('=');
            // Rocket matches a parameter by its decoded name: so does this.
            let decoded = RawStr::new(name).url_decode_lossy();
            if SHOWN.contains(&decoded.as_ref()) {
                line.push_str(value);
            } else {
                line.push_str(LEFT_OUT);
            }
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_leave_out_what_was_searched_and_filters_stay() {
        let line = |q| request_line(Method::Get, "/api/admin/v1/users", q);
        assert_eq!(line(None), "GET /api/admin/v1/users");
        assert_eq!(
            line(Some("q=13800138000&limit=20")),
            "GET /api/admin/v1/users?q=…&limit=20"
        );
        // Encoded names are the same parameters to Rocket.
        assert_eq!(
            line(Some("%71=oAbC&%6Cimit=5&flag")),
            "GET /api/admin/v1/users?%71=…&%6Cimit=5&flag"
        );
        assert_eq!(
            request_line(
                Method::Get,
                "/api/admin/v1/audit",
                Some("kind=login&user_id=7&before=99&other=x")
            ),
            "GET /api/admin/v1/audit?kind=login&user_id=7&before=99&other=…"
        );
        assert_eq!(line(Some("")), "GET /api/admin/v1/users?");
    }
}
