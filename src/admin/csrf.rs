//! The console's CSRF tokens, which every form echoes as `csrf_token`.
//!
//! A signed-in browser's token is an HMAC of its console session cookie: it
//! changes with every sign-in, and a cookie planted from a sibling domain
//! cannot supply one, because the token follows the session, not a cookie of
//! its own. Before sign-in (the sign-in form) there is no session yet: the
//! token is the one in the browser's own encrypted cookie (double submit).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rocket::http::CookieJar;
use rocket::Request;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::guard::ConsoleCookies;
use crate::crypto;

type HmacSha256 = Hmac<Sha256>;

/// The key the session-bound tokens are made with (managed state).
pub struct CsrfKey([u8; 32]);

impl CsrfKey {
    /// Derived from `secret` (a key that stays stable across restarts and
    /// instances), bound to this one use.
    pub fn new(secret: &[u8]) -> Self {
        CsrfKey(Self::mac(secret, b"wxauth console-csrf key v1"))
    }

    fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
        // HMAC takes a key of any length: `new_from_slice` cannot fail here.
        let mut mac = match HmacSha256::new_from_slice(key) {
            Ok(mac) => mac,
            Err(_) => return [0; 32],
        };
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    fn bound_to(&self, session_cookie: &str) -> String {
        URL_SAFE_NO_PAD.encode(Self::mac(&self.0, session_cookie.as_bytes()))
    }
}

/// The token the forms of this response carry.
pub fn token(req: &Request<'_>) -> String {
    let cookies = req.cookies();
    let names = ConsoleCookies::of(req);
    if let (Some(key), Some(session)) = (
        req.rocket().state::<CsrfKey>(),
        cookies.get(names.session()),
    ) {
        return key.bound_to(session.value());
    }
    if let Some(c) = cookies.get_private(names.csrf()) {
        return c.value().to_string();
    }
    let token = crypto::random_token(24);
    cookies.add_private(names.make(names.csrf(), token.clone()));
    token
}

/// Whether `submitted` is this browser's token.
pub fn check(req: &Request<'_>, submitted: &str) -> bool {
    match req.rocket().state::<CsrfKey>() {
        Some(key) => check_cookies(req.cookies(), ConsoleCookies::of(req), key, submitted),
        None => false,
    }
}

/// [`check`], for a handler that has the cookies and the key.
pub fn check_cookies(
    cookies: &CookieJar<'_>,
    names: ConsoleCookies,
    key: &CsrfKey,
    submitted: &str,
) -> bool {
    let expected = match cookies.get(names.session()) {
        Some(session) => key.bound_to(session.value()),
        None => match cookies.get_private(names.csrf()) {
            Some(c) => c.value().to_string(),
            None => return false,
        },
    };
    !submitted.is_empty() && expected.as_bytes().ct_eq(submitted.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::CsrfKey;

    #[test]
    fn tokens_follow_the_session_and_the_key() {
        let key = CsrfKey::new(b"a server key of some length.....");
        let a = key.bound_to("session-a");
        assert_eq!(a, key.bound_to("session-a"));
        assert_ne!(a, key.bound_to("session-b"));
        let other = CsrfKey::new(b"another server key of some length");
        assert_ne!(a, other.bound_to("session-a"));
        assert_eq!(a.len(), 43);
    }
}
