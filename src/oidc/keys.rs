//! The ID tokens' keys: RS256 with `oidc.rsa_private_key` (its public half
//! joins the JWK Set of §8 under a kid of its own), or EdDSA with the
//! access tokens' Ed25519 key for a client configured so.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::settings::{IdTokenAlg, OidcSettings};
use crate::auth::signing_keys::SigningKeys;

pub struct IdTokenKeys {
    settings: Arc<OidcSettings>,
    rsa_kid: String,
    rsa_jwk: Value,
    /// The access tokens' keys: EdDSA ID tokens are signed with their
    /// current key (configuration refuses EdDSA clients unless it is one).
    access: SigningKeys,
}

impl IdTokenKeys {
    pub fn new(settings: Arc<OidcSettings>, access: SigningKeys) -> IdTokenKeys {
        let (n, e) = settings.rsa_key.public_components();
        let (n, e) = (URL_SAFE_NO_PAD.encode(n), URL_SAFE_NO_PAD.encode(e));
        // RFC 7638: the SHA-256 of the required members, in this order.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let rsa_kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let rsa_jwk = json!({
            "kty": "RSA",
            "n": n,
            "e": e,
            "kid": rsa_kid,
            "alg": "RS256",
            "use": "sig",
        });
        IdTokenKeys {
            settings,
            rsa_kid,
            rsa_jwk,
            access,
        }
    }

    /// The RSA key as a JWK, for the JWK Set.
    pub fn jwk(&self) -> &Value {
        &self.rsa_jwk
    }

    /// `claims` as a signed JWT under `alg`.
    pub fn sign(&self, claims: &impl Serialize, alg: IdTokenAlg) -> Result<String, String> {
        match alg {
            IdTokenAlg::Rs256 => {
                let header = json!({ "alg": "RS256", "typ": "JWT", "kid": self.rsa_kid });
                let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
                let signing_input = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(payload)
                );
                let signature = self.settings.rsa_key.sign_raw(signing_input.as_bytes())?;
                Ok(format!(
                    "{signing_input}.{}",
                    URL_SAFE_NO_PAD.encode(signature)
                ))
            }
            IdTokenAlg::EdDsa => {
                if self.access.algorithm != Algorithm::EdDSA {
                    return Err("EdDSA ID tokens need jwt_algorithm = \"EdDSA\"".into());
                }
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some(self.access.kid.clone());
                jsonwebtoken::encode(&header, claims, &self.access.encoding)
                    .map_err(|e| e.to_string())
            }
        }
    }
}
