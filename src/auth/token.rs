//! Access tokens: HS256 JWTs with `sub`, `sid`, `aud`, `iss`, `iat`, `exp`,
//! `jti`. Verification pins the algorithm and checks `exp` with no leeway;
//! that `aud` is the session's app is checked against the session row.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::auth::verified_tokens::VerifiedTokens;
use crate::error::ApiError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub sid: String,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl Claims {
    pub fn user_id(&self) -> Result<i64, ApiError> {
        self.sub
            .parse()
            .map_err(|_| ApiError::Unauthorized("malformed token".into()))
    }
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    ttl: i64,
    /// Built once. It leaves `exp` alone: [`TokenKeys::verify`] checks it,
    /// for fresh and remembered tokens alike.
    validation: Validation,
    verified: VerifiedTokens,
}

/// How strictly a token is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Tokens expired at this time (Unix seconds) are refused (every call
    /// but logout).
    At(i64),
    /// Expired tokens are accepted (logout is idempotent).
    Ignore,
}

impl TokenKeys {
    pub fn new(secret: &str, issuer: &str, ttl: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = false;
        validation.set_issuer(&[issuer]);
        // `aud` must equal the session's app, which only the session row knows.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            issuer: issuer.to_string(),
            ttl,
            validation,
            verified: VerifiedTokens::default(),
        }
    }

    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    /// Signs a token issued at `iat`. Everything in it is given, so the same
    /// arguments give the same token (the refresh grace re-derives pairs).
    pub fn issue(
        &self,
        user_id: i64,
        session_id: &str,
        appid: &str,
        iat: i64,
        jti: String,
    ) -> Result<(String, Claims), ApiError> {
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            aud: appid.to_string(),
            iss: self.issuer.clone(),
            iat,
            exp: iat + self.ttl,
            jti,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok((token, claims))
    }

    /// The token's claims if we signed it (and, with [`Expiry::At`], it
    /// has not expired). A token verified before is recognised without
    /// checking its signature again; its expiry is checked every time.
    pub fn verify(&self, token: &str, expiry: Expiry) -> Result<Arc<Claims>, ApiError> {
        let claims = match self.verified.get(token) {
            Some(claims) => claims,
            None => {
                // Expiry is checked below, the same way for both paths.
                let claims = Arc::new(self.verify_signed(token)?);
                self.verified.insert(token, Arc::clone(&claims));
                claims
            }
        };
        // As jsonwebtoken does with no leeway: good through the second of `exp`.
        if matches!(expiry, Expiry::At(now) if claims.exp < now) {
            return Err(ApiError::SessionExpired("token has expired".into()));
        }
        Ok(claims)
    }

    /// The full check: algorithm, signature, issuer, required claims.
    fn verify_signed(&self, token: &str) -> Result<Claims, ApiError> {
        match decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::InvalidSignature => {
                    ApiError::Unauthorized("token signature is invalid".into())
                }
                ErrorKind::InvalidIssuer => {
                    ApiError::Unauthorized("token issuer is invalid".into())
                }
                ErrorKind::InvalidAlgorithm => {
                    ApiError::Unauthorized("token algorithm is not accepted".into())
                }
                _ => ApiError::Unauthorized("malformed token".into()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_tokens_verify() {
        let keys = TokenKeys::new(SECRET, "wxauth", 60);
        let now = crate::timestamp::now();
        let (token, claims) = keys.issue(7, "sid", "wxapp", now, "jti".into()).unwrap();
        let verified = keys
            .verify(&token, Expiry::At(crate::timestamp::now()))
            .unwrap();
        assert_eq!(verified.sub, "7");
        assert_eq!(verified.sid, "sid");
        assert_eq!(verified.aud, "wxapp");
        assert_eq!(verified.jti, claims.jti);
        assert_eq!(verified.exp, now + 60);
    }

    #[test]
    fn expired_tokens_are_session_expired_unless_ignored() {
        let keys = TokenKeys::new(SECRET, "wxauth", 60);
        let (token, _) = keys
            .issue(
                7,
                "sid",
                "wxapp",
                crate::timestamp::now() - 61,
                "jti".into(),
            )
            .unwrap();
        let err = keys
            .verify(&token, Expiry::At(crate::timestamp::now()))
            .unwrap_err();
        assert_eq!(err.result_code(), -502);
        assert!(keys.verify(&token, Expiry::Ignore).is_ok());
        // Remembered from the calls above, and still refused as expired.
        let err = keys
            .verify(&token, Expiry::At(crate::timestamp::now()))
            .unwrap_err();
        assert_eq!(err.result_code(), -502);
    }

    #[test]
    fn a_remembered_token_is_only_good_under_its_own_key() {
        let keys = TokenKeys::new(SECRET, "wxauth", 60);
        let other = TokenKeys::new("another-secret-another-secret-123", "wxauth", 60);
        let (token, _) = keys
            .issue(7, "sid", "wxapp", crate::timestamp::now(), "jti".into())
            .unwrap();
        assert!(keys
            .verify(&token, Expiry::At(crate::timestamp::now()))
            .is_ok());
        assert!(keys
            .verify(&token, Expiry::At(crate::timestamp::now()))
            .is_ok());
        assert_eq!(
            other
                .verify(&token, Expiry::At(crate::timestamp::now()))
                .unwrap_err()
                .result_code(),
            -500
        );
        // One changed character of a remembered token is a different token.
        let at = token.len() - 10;
        let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert!(keys
            .verify(&tampered, Expiry::At(crate::timestamp::now()))
            .is_err());
    }

    #[test]
    fn wrong_key_or_issuer_is_unauthorized() {
        let keys = TokenKeys::new(SECRET, "wxauth", 60);
        let other = TokenKeys::new("another-secret-another-secret-123", "wxauth", 60);
        let (token, _) = other
            .issue(7, "sid", "wxapp", crate::timestamp::now(), "jti".into())
            .unwrap();
        assert_eq!(
            keys.verify(&token, Expiry::At(crate::timestamp::now()))
                .unwrap_err()
                .result_code(),
            -500
        );
        let foreign = TokenKeys::new(SECRET, "someone-else", 60);
        let (token, _) = foreign
            .issue(7, "sid", "wxapp", crate::timestamp::now(), "jti".into())
            .unwrap();
        assert_eq!(
            keys.verify(&token, Expiry::At(crate::timestamp::now()))
                .unwrap_err()
                .result_code(),
            -500
        );
        assert_eq!(
            keys.verify("garbage", Expiry::At(crate::timestamp::now()))
                .unwrap_err()
                .result_code(),
            -500
        );
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(crate::property_tests::bounded())]

            #[test]
            fn any_string_is_refused(s in "\\PC{0,300}") {
                let keys = TokenKeys::new(SECRET, "wxauth", 60);
                prop_assert!(keys.verify(&s, Expiry::At(crate::timestamp::now())).is_err());
                prop_assert!(keys.verify(&s, Expiry::Ignore).is_err());
            }

            #[test]
            fn three_base64_parts_are_refused(
                a in "[A-Za-z0-9_-]{0,80}",
                b in "[A-Za-z0-9_-]{0,200}",
                c in "[A-Za-z0-9_-]{0,60}",
            ) {
                let keys = TokenKeys::new(SECRET, "wxauth", 60);
                let token = format!("{a}.{b}.{c}");
                prop_assert!(keys.verify(&token, Expiry::Ignore).is_err());
            }

            #[test]
            fn one_changed_character_of_a_signed_token_is_refused(
                at in any::<prop::sample::Index>(),
                c in any::<char>(),
            ) {
                let keys = TokenKeys::new(SECRET, "wxauth", 60);
                let now = crate::timestamp::now();
                let (token, _) = keys.issue(7, "sid", "wxapp", now, "jti".into()).unwrap();
                let changed = crate::property_tests::with_char_replaced(&token, at, c);
                prop_assume!(changed != token);
                prop_assert!(keys.verify(&changed, Expiry::Ignore).is_err());
            }
        }
    }
}
