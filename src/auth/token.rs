//! Access tokens: HS256 JWTs with `sub`, `sid`, `aud`, `iss`, `iat`, `exp`,
//! `jti`. Verification pins the algorithm and checks `exp` with no leeway;
//! that `aud` is the session's app is checked against the session row.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

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
    /// Built once: verification runs on every authenticated request.
    strict: Validation,
    lenient: Validation,
}

/// How strictly a token is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Expired tokens are refused (every call but logout).
    Enforce,
    /// Expired tokens are accepted (logout is idempotent).
    Ignore,
}

impl TokenKeys {
    pub fn new(secret: &str, issuer: &str, ttl: i64) -> Self {
        let validation = |expiry: Expiry| {
            let mut v = Validation::new(Algorithm::HS256);
            v.leeway = 0;
            v.validate_exp = expiry == Expiry::Enforce;
            v.set_issuer(&[issuer]);
            // `aud` must equal the session's app, which only the session row knows.
            v.validate_aud = false;
            v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            v
        };
        TokenKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            issuer: issuer.to_string(),
            ttl,
            strict: validation(Expiry::Enforce),
            lenient: validation(Expiry::Ignore),
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

    pub fn verify(&self, token: &str, expiry: Expiry) -> Result<Claims, ApiError> {
        let validation = match expiry {
            Expiry::Enforce => &self.strict,
            Expiry::Ignore => &self.lenient,
        };
        match decode::<Claims>(token, &self.decoding, validation) {
            Ok(data) => Ok(data.claims),
            Err(e) => Err(match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::SessionExpired("token has expired".into()),
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
        let verified = keys.verify(&token, Expiry::Enforce).unwrap();
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
        let err = keys.verify(&token, Expiry::Enforce).unwrap_err();
        assert_eq!(err.result_code(), -502);
        assert!(keys.verify(&token, Expiry::Ignore).is_ok());
    }

    #[test]
    fn wrong_key_or_issuer_is_unauthorized() {
        let keys = TokenKeys::new(SECRET, "wxauth", 60);
        let other = TokenKeys::new("another-secret-another-secret-123", "wxauth", 60);
        let (token, _) = other
            .issue(7, "sid", "wxapp", crate::timestamp::now(), "jti".into())
            .unwrap();
        assert_eq!(
            keys.verify(&token, Expiry::Enforce)
                .unwrap_err()
                .result_code(),
            -500
        );
        let foreign = TokenKeys::new(SECRET, "someone-else", 60);
        let (token, _) = foreign
            .issue(7, "sid", "wxapp", crate::timestamp::now(), "jti".into())
            .unwrap();
        assert_eq!(
            keys.verify(&token, Expiry::Enforce)
                .unwrap_err()
                .result_code(),
            -500
        );
        assert_eq!(
            keys.verify("garbage", Expiry::Enforce)
                .unwrap_err()
                .result_code(),
            -500
        );
    }
}
