//! Access tokens: JWTs (HS256, or EdDSA) with `sub`, `sid`, `aud`, `iss`,
//! `iat`, `exp`, `jti`, and the signing key's `kid` in the header.
//! Verification picks the key by `kid`, pins that key's algorithm and checks
//! `exp` with no leeway; that `aud` is the session's app is checked against
//! the session row.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, encode, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::auth::signing_keys::SigningKeys;
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
    keys: SigningKeys,
    /// The header of every new token: the algorithm and the current kid.
    header: Header,
    issuer: String,
    ttl: i64,
    /// One per verifying key, in the same order, built once. They leave
    /// `exp` alone: [`TokenKeys::verify`] checks it, for fresh and
    /// remembered tokens alike.
    validations: Vec<Validation>,
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
    pub fn new(keys: SigningKeys, issuer: &str, ttl: i64) -> Self {
        let validations = keys
            .verifying
            .iter()
            .map(|key| {
                let mut validation = Validation::new(key.algorithm);
                validation.leeway = 0;
                validation.validate_exp = false;
                validation.set_issuer(&[issuer]);
                // `aud` must equal the session's app, which only the session row knows.
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
                validation
            })
            .collect();
        let mut header = Header::new(keys.algorithm);
        header.kid = Some(keys.kid.clone());
        TokenKeys {
            keys,
            header,
            issuer: issuer.to_string(),
            ttl,
            validations,
            verified: VerifiedTokens::default(),
        }
    }

    /// The public keys for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        self.keys.jwks()
    }

    pub fn ttl(&self) -> i64 {
        self.ttl
    }

    /// The keys tokens are signed with (EdDSA ID tokens use the same).
    pub fn signing_keys(&self) -> &SigningKeys {
        &self.keys
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
        let token =
            encode(&self.header, &claims, &self.keys.encoding).map_err(ApiError::internal)?;
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

    /// The full check: key, algorithm, signature, issuer, required claims.
    ///
    /// A token names its key by `kid`. Tokens from before kids were
    /// introduced carry none; they are tried under every key of their
    /// header's algorithm (HS256 secrets: the current one and the previous
    /// ones), so that the upgrade logs nobody out.
    fn verify_signed(&self, token: &str) -> Result<Claims, ApiError> {
        let header =
            decode_header(token).map_err(|_| ApiError::Unauthorized("malformed token".into()))?;
        let candidates = self.keys.verifying.iter().zip(&self.validations);
        let mut first_error = None;
        for (key, validation) in candidates {
            let matches = match header.kid.as_deref() {
                Some(kid) => key.kid == kid,
                None => key.algorithm == header.alg,
            };
            if !matches {
                continue;
            }
            match decode::<Claims>(token, &key.decoding, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let Some(e) = first_error else {
            return Err(ApiError::Unauthorized(if header.kid.is_some() {
                "token key is not known".into()
            } else {
                "token algorithm is not accepted".into()
            }));
        };
        Err(match e.kind() {
            ErrorKind::InvalidSignature => {
                ApiError::Unauthorized("token signature is invalid".into())
            }
            ErrorKind::InvalidIssuer => ApiError::Unauthorized("token issuer is invalid".into()),
            ErrorKind::InvalidAlgorithm => {
                ApiError::Unauthorized("token algorithm is not accepted".into())
            }
            _ => ApiError::Unauthorized("malformed token".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::auth::signing_keys;
    use crate::config::PreviousKey;
    use crate::config::Secret;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const OLD_SECRET: &str = "old-secret-old-secret-old-secret-0";

    fn hs(secret: &str, issuer: &str) -> TokenKeys {
        TokenKeys::new(SigningKeys::hs256(secret, None).unwrap(), issuer, 60)
    }

    fn ed() -> SigningKeys {
        let der = signing_keys::read_private_key(signing_keys::tests::OPENSSL_PRIVATE_PEM).unwrap();
        SigningKeys::ed25519(&der, None).unwrap()
    }

    fn now() -> Expiry {
        Expiry::At(crate::timestamp::now())
    }

    fn mint(keys: &TokenKeys) -> String {
        keys.issue(7, "sid", "wxapp", crate::timestamp::now(), "jti".into())
            .unwrap()
            .0
    }

    fn header(token: &str) -> Header {
        jsonwebtoken::decode_header(token).unwrap()
    }

    #[test]
    fn tokens_name_their_key() {
        let keys = hs(SECRET, "wxauth");
        let h = header(&mint(&keys));
        assert_eq!(h.alg, Algorithm::HS256);
        assert_eq!(h.kid, Some(SigningKeys::hs256(SECRET, None).unwrap().kid));
        let eddsa = TokenKeys::new(ed(), "wxauth", 60);
        let token = mint(&eddsa);
        assert_eq!(header(&token).alg, Algorithm::EdDSA);
        assert_eq!(header(&token).kid.as_deref(), Some(ed().kid.as_str()));
        assert_eq!(eddsa.verify(&token, now()).unwrap().sub, "7");
        // A secret-keyed server does not take it, nor the other way round.
        assert!(hs(SECRET, "wxauth").verify(&token, now()).is_err());
        assert!(eddsa.verify(&mint(&keys), now()).is_err());
    }

    #[test]
    fn a_rotated_key_still_verifies_its_tokens_until_it_is_dropped() {
        let before = hs(OLD_SECRET, "wxauth");
        let old_token = mint(&before);
        let old_kid = header(&old_token).kid.unwrap();
        let previous = [PreviousKey {
            kid: old_kid.clone(),
            secret: Some(Secret::new(OLD_SECRET)),
            public_key: None,
        }];
        // Rotated to an Ed25519 key, the old secret kept for verification.
        let after = TokenKeys::new(ed().with_previous(&previous).unwrap(), "wxauth", 60);
        assert_eq!(after.verify(&old_token, now()).unwrap().sub, "7");
        let new_token = mint(&after);
        assert_eq!(header(&new_token).alg, Algorithm::EdDSA);
        assert!(after.verify(&new_token, now()).is_ok());
        // Once the old key is removed, its tokens are refused.
        let later = TokenKeys::new(ed(), "wxauth", 60);
        let err = later.verify(&old_token, now()).unwrap_err();
        assert_eq!(err.result_code(), -500);
        assert!(err.to_string().contains("key is not known"), "{err}");
    }

    #[test]
    fn tokens_from_before_kids_verify_under_the_secrets() {
        // As wxauth signed before tokens carried a kid.
        let legacy = |secret: &str| {
            let keys = hs(secret, "wxauth");
            let (_, claims) = keys
                .issue(7, "sid", "wxapp", crate::timestamp::now(), "jti".into())
                .unwrap();
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret.as_bytes()),
            )
            .unwrap()
        };
        assert!(hs(SECRET, "wxauth").verify(&legacy(SECRET), now()).is_ok());
        let previous = [PreviousKey {
            kid: "old".into(),
            secret: Some(Secret::new(OLD_SECRET)),
            public_key: None,
        }];
        let rotated = TokenKeys::new(
            SigningKeys::hs256(SECRET, None)
                .unwrap()
                .with_previous(&previous)
                .unwrap(),
            "wxauth",
            60,
        );
        assert!(rotated.verify(&legacy(OLD_SECRET), now()).is_ok());
        assert!(rotated.verify(&legacy(SECRET), now()).is_ok());
        let err = rotated
            .verify(&legacy("some-other-secret-some-other-secret"), now())
            .unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");
        // Without a kid, an EdDSA server has no key for an HS256 token.
        let eddsa = TokenKeys::new(ed(), "wxauth", 60);
        assert!(eddsa
            .verify(&legacy(SECRET), now())
            .unwrap_err()
            .to_string()
            .contains("algorithm"));
    }

    #[test]
    fn a_token_cannot_pick_another_algorithm_for_a_key() {
        // The classic confusion: an HS256 token "signed" with the Ed25519
        // public key's bytes as the secret, naming the Ed25519 key.
        let keys = ed();
        let x = keys.jwks()["keys"][0]["x"].as_str().unwrap().to_string();
        let eddsa = TokenKeys::new(keys, "wxauth", 60);
        let (_, claims) = eddsa
            .issue(7, "sid", "wxapp", crate::timestamp::now(), "jti".into())
            .unwrap();
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(ed().kid);
        for secret in [
            x.as_bytes().to_vec(),
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &x).unwrap(),
        ] {
            let forged =
                jsonwebtoken::encode(&h, &claims, &EncodingKey::from_secret(&secret)).unwrap();
            let err = eddsa.verify(&forged, now()).unwrap_err();
            assert!(err.to_string().contains("algorithm"), "{err}");
        }
    }

    #[test]
    fn issued_tokens_verify() {
        let keys = hs(SECRET, "wxauth");
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
        let keys = hs(SECRET, "wxauth");
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
        let keys = hs(SECRET, "wxauth");
        let other = hs("another-secret-another-secret-123", "wxauth");
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
        let keys = hs(SECRET, "wxauth");
        let other = hs("another-secret-another-secret-123", "wxauth");
        let (token, _) = other
            .issue(7, "sid", "wxapp", crate::timestamp::now(), "jti".into())
            .unwrap();
        assert_eq!(
            keys.verify(&token, Expiry::At(crate::timestamp::now()))
                .unwrap_err()
                .result_code(),
            -500
        );
        let foreign = hs(SECRET, "someone-else");
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
                let keys = hs(SECRET, "wxauth");
                prop_assert!(keys.verify(&s, Expiry::At(crate::timestamp::now())).is_err());
                prop_assert!(keys.verify(&s, Expiry::Ignore).is_err());
            }

            #[test]
            fn three_base64_parts_are_refused(
                a in "[A-Za-z0-9_-]{0,80}",
                b in "[A-Za-z0-9_-]{0,200}",
                c in "[A-Za-z0-9_-]{0,60}",
            ) {
                let keys = hs(SECRET, "wxauth");
                let token = format!("{a}.{b}.{c}");
                prop_assert!(keys.verify(&token, Expiry::Ignore).is_err());
            }

            #[test]
            fn one_changed_character_of_a_signed_token_is_refused(
                at in any::<prop::sample::Index>(),
                c in any::<char>(),
            ) {
                let keys = hs(SECRET, "wxauth");
                let now = crate::timestamp::now();
                let (token, _) = keys.issue(7, "sid", "wxapp", now, "jti".into()).unwrap();
                let changed = crate::property_tests::with_char_replaced(&token, at, c);
                prop_assume!(changed != token);
                prop_assert!(keys.verify(&changed, Expiry::Ignore).is_err());
            }
        }
    }
}
