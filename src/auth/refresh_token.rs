//! Refresh tokens that need no row of their own: `<session id>.<generation>.<MAC>`,
//! the MAC an HMAC-SHA256 under a server key. A session keeps only its current
//! generation, so its storage does not grow with its refreshes, and any token
//! of an earlier generation — however old — is recognised as spent. Nothing
//! that could be presented is stored; only the server can make a valid one.
//!
//! Everything of the pair issued at a rotation is derived from (session,
//! generation, time of the rotation), so the pair handed out again during the
//! reuse grace is computed afresh, never stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub struct RefreshTokens {
    key: [u8; 32],
}

/// What a valid refresh token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub session_id: String,
    pub generation: i64,
}

/// Tokens longer than this are not ours (a session id is 25 characters).
const MAX_LEN: usize = 160;

impl RefreshTokens {
    /// The MAC key is derived from `secret` (the session-key encryption key,
    /// which must stay stable anyway), bound to this one use.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"wxauth refresh-token key v1");
        RefreshTokens {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, label: &str, session_id: &str, generation: i64) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(label.as_bytes());
        mac.update(b"\0");
        mac.update(session_id.as_bytes());
        mac.update(b"\0");
        mac.update(generation.to_string().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The refresh token of `session_id` at `generation`.
    pub fn token(&self, session_id: &str, generation: i64) -> String {
        let mac = URL_SAFE_NO_PAD.encode(self.mac("refresh", session_id, generation));
        format!("{session_id}.{generation}.{mac}")
    }

    /// The `jti` of the access token issued with that refresh token.
    pub fn jti(&self, session_id: &str, generation: i64) -> String {
        URL_SAFE_NO_PAD.encode(&self.mac("jti", session_id, generation)[..16])
    }

    /// The session and generation of a token this server made; `None` for
    /// anything else (malformed, forged, another server's).
    pub fn parse(&self, token: &str) -> Option<Presented> {
        if token.len() > MAX_LEN {
            return None;
        }
        let mut parts = token.split('.');
        let (session_id, generation, mac) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || session_id.is_empty() {
            return None;
        }
        // Digits only: no sign, no leading `+`, so one generation has one spelling.
        if generation.is_empty()
            || generation.len() > 18
            || !generation.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let generation: i64 = generation.parse().ok()?;
        let presented = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let expected = self.mac("refresh", session_id, generation);
        if presented.len() != expected.len() || !bool::from(presented.ct_eq(&expected)) {
            return None;
        }
        Some(Presented {
            session_id: session_id.to_string(),
            generation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_name_their_generation() {
        let keys = RefreshTokens::new(b"a server key of some length.....");
        let token = keys.token("019abc0123456x7Yz-_AbCdEf", 3);
        assert_eq!(
            keys.parse(&token),
            Some(Presented {
                session_id: "019abc0123456x7Yz-_AbCdEf".into(),
                generation: 3
            })
        );
        assert_ne!(keys.token("s", 1), keys.token("s", 2));
        assert_ne!(keys.jti("s", 1), keys.jti("s", 2));
    }

    #[test]
    fn forged_or_foreign_tokens_are_refused() {
        let keys = RefreshTokens::new(b"a server key of some length.....");
        let other = RefreshTokens::new(b"another server key..............");
        let token = keys.token("sid", 0);
        assert_eq!(other.parse(&token), None);
        // Another generation or session under the same MAC.
        let mac = token.rsplit('.').next().unwrap();
        assert_eq!(keys.parse(&format!("sid.1.{mac}")), None);
        assert_eq!(keys.parse(&format!("sie.0.{mac}")), None);
        for bad in [
            "",
            "sid",
            "sid.0",
            "sid.-1.x",
            "sid.+0.x",
            ".0.x",
            "sid.0.x.y",
            "sid.0.!!",
        ] {
            assert_eq!(keys.parse(bad), None, "{bad}");
        }
        assert_eq!(keys.parse(&"a".repeat(10_000)), None);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(crate::property_tests::bounded())]

            #[test]
            fn any_string_is_refused_unless_this_server_made_it(s in "\\PC{0,200}") {
                let keys = RefreshTokens::new(b"property key");
                if let Some(p) = keys.parse(&s) {
                    prop_assert_eq!(keys.token(&p.session_id, p.generation), s);
                }
            }

            #[test]
            fn tokens_made_here_name_their_session_and_generation(
                session in "[A-Za-z0-9_-]{1,40}",
                generation in 0i64..=999_999_999_999_999_999,
            ) {
                let keys = RefreshTokens::new(b"property key");
                let parsed = keys.parse(&keys.token(&session, generation));
                prop_assert_eq!(parsed, Some(Presented { session_id: session, generation }));
            }

            #[test]
            fn one_changed_character_is_refused(
                session in "[A-Za-z0-9_-]{1,40}",
                generation in 0i64..1_000_000,
                at in any::<prop::sample::Index>(),
                c in any::<char>(),
            ) {
                let keys = RefreshTokens::new(b"property key");
                let token = keys.token(&session, generation);
                let changed = crate::property_tests::with_char_replaced(&token, at, c);
                prop_assume!(changed != token);
                prop_assert_eq!(keys.parse(&changed), None);
            }
        }
    }
}
