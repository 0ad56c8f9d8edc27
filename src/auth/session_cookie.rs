//! The tutorial clients' session cookie (SPEC §9): `<session id>.<secret>`,
//! where the secret is 256 random bits of which the session row keeps only the
//! SHA-256. It is valid exactly as long as its session, refreshes nothing and
//! is no JWT.
//!
//! Those clients keep `res.header['Set-Cookie']` from `authorize` and send it
//! back verbatim as their `Cookie` header — attributes (`expires=Wed, 09 Dec
//! 2026 …`, `HttpOnly`, `Path=/`) and all, or several cookies joined by `, ` —
//! so the header is searched for `name=value` among pieces split at `;` and
//! `,`, not parsed as a well-formed `Cookie` header.

use subtle::ConstantTimeEq;

use crate::crypto;

/// A new cookie secret, and the hash the session keeps.
pub fn mint() -> (String, String) {
    let secret = crypto::random_token(32);
    let hash = crypto::hash_token(&secret);
    (secret, hash)
}

pub fn value(session_id: &str, secret: &str) -> String {
    format!("{session_id}.{secret}")
}

/// The session id and secret of a cookie value; `None` when malformed.
pub fn split(value: &str) -> Option<(&str, &str)> {
    let (session_id, secret) = value.split_once('.')?;
    let ok = |part: &str| {
        !part.is_empty()
            && part.len() <= 64
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (ok(session_id) && ok(secret)).then_some((session_id, secret))
}

/// Whether `secret` is the one whose hash the session keeps.
pub fn matches(secret: &str, stored_hash: Option<&str>) -> bool {
    stored_hash.is_some_and(|stored| {
        crypto::hash_token(secret)
            .as_bytes()
            .ct_eq(stored.as_bytes())
            .into()
    })
}

/// The value of cookie `name` in `Cookie` headers as these clients send them.
pub fn find<'h>(headers: impl Iterator<Item = &'h str>, name: &str) -> Option<&'h str> {
    headers
        .flat_map(|header| header.split([';', ',']))
        .filter_map(|piece| piece.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_set_cookie_string_is_read_verbatim() {
        let stored = "sessionid=abc.def; expires=Wed, 09 Dec 2026 10:00:00 GMT; HttpOnly; Max-Age=2592000; Path=/; SameSite=Strict";
        assert_eq!(find([stored].into_iter(), "sessionid"), Some("abc.def"));
        let joined = "csrftoken=x; Path=/, sessionid=abc.def; HttpOnly; Path=/";
        assert_eq!(find([joined].into_iter(), "sessionid"), Some("abc.def"));
        assert_eq!(
            find(["a=1", "sessionid=s.t"].into_iter(), "sessionid"),
            Some("s.t")
        );
        assert_eq!(find(["xsessionid=abc.def"].into_iter(), "sessionid"), None);
        assert_eq!(find(["sessionid="].into_iter(), "sessionid"), None);
        assert_eq!(find(["Path=/; HttpOnly"].into_iter(), "sessionid"), None);
    }

    #[test]
    fn values_split_into_session_and_secret() {
        let (secret, hash) = mint();
        let v = value("019abc", &secret);
        let (sid, s) = split(&v).unwrap();
        assert_eq!(sid, "019abc");
        assert!(matches(s, Some(&hash)));
        assert!(!matches("other", Some(&hash)));
        assert!(!matches(s, None));
        for bad in ["", "nodot", ".x", "x.", "a.b.c", "a b.c", &"x".repeat(200)] {
            assert_eq!(split(bad), None, "{bad}");
        }
    }
}
