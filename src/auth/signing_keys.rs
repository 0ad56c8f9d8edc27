//! The keys access tokens are signed and verified with (SPEC §1.4, §8): the
//! current key — an HS256 secret, or an Ed25519 private key — and the
//! previous keys still accepted after a rotation. Every key has a key id
//! (`kid`), which new tokens carry in their header so that a verifier picks
//! the key without trying each; the Ed25519 public keys are published as a
//! JWK Set for services that verify tokens offline.
//!
//! Parsing happens once, at start-up, so that a bad key is one clear line
//! before the server starts, never a failure at the first login.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::{JwtAlgorithm, JwtSettings, PreviousKey};

/// A key tokens may be verified with.
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub decoding: DecodingKey,
    /// The raw Ed25519 public key, published in the JWK Set.
    ed25519_public: Option<[u8; 32]>,
}

/// The current signing key and every key a token may be verified with.
#[derive(Clone)]
pub struct SigningKeys {
    pub kid: String,
    pub algorithm: Algorithm,
    pub encoding: EncodingKey,
    /// The current key first, then the previous ones in configured order.
    pub verifying: Vec<VerifyingKey>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.verifying.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("SigningKeys")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("verifying", &kids)
            .finish_non_exhaustive()
    }
}

/// The shortest HS256 secret accepted (SPEC §1.4).
pub const MIN_SECRET_BYTES: usize = 32;

impl SigningKeys {
    /// The keys the settings name: the current key (a random one that dies
    /// with the process when none is set, which `config` allows outside the
    /// release profile) and the previous keys still accepted.
    pub fn from_settings(jwt: &JwtSettings) -> Result<SigningKeys, String> {
        let kid = jwt.key_id.as_deref();
        match (jwt.algorithm, &jwt.secret, &jwt.private_key) {
            (JwtAlgorithm::Hs256, Some(secret), _) => SigningKeys::hs256(secret.expose(), kid),
            (JwtAlgorithm::Hs256, None, _) => {
                SigningKeys::hs256(&crate::crypto::random_token(32), kid)
            }
            (JwtAlgorithm::EdDsa, _, Some(key)) => {
                read_private_key(key.expose()).and_then(|der| SigningKeys::ed25519(&der, kid))
            }
            (JwtAlgorithm::EdDsa, _, None) => SigningKeys::ephemeral_ed25519(),
        }
        .and_then(|keys| keys.with_previous(&jwt.previous_keys))
    }

    /// HS256 under `secret` (at least 32 bytes), with its derived kid.
    pub fn hs256(secret: &str, kid: Option<&str>) -> Result<SigningKeys, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err("jwt_secret is too weak: it must be at least 32 bytes".into());
        }
        let kid = kid.map_or_else(|| secret_kid(secret), str::to_string);
        Ok(SigningKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            verifying: vec![VerifyingKey {
                kid: kid.clone(),
                algorithm: Algorithm::HS256,
                decoding: DecodingKey::from_secret(secret.as_bytes()),
                ed25519_public: None,
            }],
            kid,
            algorithm: Algorithm::HS256,
        })
    }

    /// EdDSA under the Ed25519 key in `pkcs8_der`, with its derived kid
    /// (the RFC 7638 thumbprint of its public JWK) unless one is given.
    pub fn ed25519(pkcs8_der: &[u8], kid: Option<&str>) -> Result<SigningKeys, String> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8_der).map_err(|_| {
            "jwt_private_key is not an Ed25519 private key in PKCS#8 (make one with `openssl genpkey -algorithm ed25519`)".to_string()
        })?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| "jwt_private_key: unexpected public key length".to_string())?;
        let kid = kid.map_or_else(|| thumbprint(&public), str::to_string);
        Ok(SigningKeys {
            encoding: EncodingKey::from_ed_der(pkcs8_der),
            verifying: vec![ed25519_verifier(kid.clone(), public)],
            kid,
            algorithm: Algorithm::EdDSA,
        })
    }

    /// A fresh Ed25519 key that lives as long as the process (the debug
    /// profile without `jwt_private_key`).
    pub fn ephemeral_ed25519() -> Result<SigningKeys, String> {
        let document = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map_err(|_| "cannot generate an Ed25519 key".to_string())?;
        SigningKeys::ed25519(document.as_ref(), None)
    }

    /// Adds the keys of `jwt_previous_keys`, still accepted for verification.
    pub fn with_previous(mut self, previous: &[PreviousKey]) -> Result<SigningKeys, String> {
        for key in previous {
            let kid = key.kid.trim();
            if kid.is_empty() {
                return Err("every entry of jwt_previous_keys needs a kid".into());
            }
            if self.verifying.iter().any(|k| k.kid == kid) {
                return Err(format!(
                    "jwt_previous_keys: the kid {kid:?} is used twice (a previous key needs a kid of its own, other than the current key's)"
                ));
            }
            let verifier = match (&key.secret, &key.public_key) {
                (Some(secret), None) => {
                    if secret.expose().len() < MIN_SECRET_BYTES {
                        return Err(format!(
                            "jwt_previous_keys: the secret of {kid:?} is shorter than 32 bytes"
                        ));
                    }
                    VerifyingKey {
                        kid: kid.to_string(),
                        algorithm: Algorithm::HS256,
                        decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
                        ed25519_public: None,
                    }
                }
                (None, Some(pem)) => {
                    let public = ed25519_public_from_pem(pem).map_err(|why| {
                        format!("jwt_previous_keys: the public_key of {kid:?} {why}")
                    })?;
                    ed25519_verifier(kid.to_string(), public)
                }
                _ => {
                    return Err(format!(
                        "jwt_previous_keys: {kid:?} needs either a secret (HS256) or a public_key (Ed25519 PEM), not both"
                    ))
                }
            };
            self.verifying.push(verifier);
        }
        Ok(self)
    }

    /// The public keys as a JWK Set (RFC 7517): every Ed25519 key a token
    /// may be verified with; an empty set when only secrets are in use.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .verifying
            .iter()
            .filter_map(|k| {
                k.ed25519_public.map(|public| {
                    json!({
                        "kty": "OKP",
                        "crv": "Ed25519",
                        "x": URL_SAFE_NO_PAD.encode(public),
                        "kid": k.kid,
                        "alg": "EdDSA",
                        "use": "sig",
                    })
                })
            })
            .collect();
        json!({ "keys": keys })
    }
}

fn ed25519_verifier(kid: String, public: [u8; 32]) -> VerifyingKey {
    VerifyingKey {
        kid,
        algorithm: Algorithm::EdDSA,
        decoding: DecodingKey::from_ed_der(&public),
        ed25519_public: Some(public),
    }
}

/// An HS256 key's id: not the secret's hash (which would let anyone test a
/// guess offline) but a MAC under it, cut short.
fn secret_kid(secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"wxauth jwt key id");
    let tag = mac.finalize().into_bytes();
    format!("hs256-{}", URL_SAFE_NO_PAD.encode(&tag[..9]))
}

/// RFC 7638: the SHA-256 of the JWK's required members, in order.
fn thumbprint(public: &[u8; 32]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The DER inside a PEM block labelled `label`.
pub fn pem_der(pem: &str, label: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .ok_or_else(|| format!("is not a PEM \"{label}\" block"))?;
    let body = &pem[start + begin.len()..];
    let stop = body
        .find(&end)
        .ok_or_else(|| format!("has no \"{end}\" line"))?;
    let base64: String = body[..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    STANDARD
        .decode(base64)
        .map_err(|_| "is not valid base64 inside its PEM lines".to_string())
}

/// The algorithm identifier and key prefix of an Ed25519
/// SubjectPublicKeyInfo (RFC 8410): 12 fixed bytes, then the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn ed25519_public_from_pem(pem: &str) -> Result<[u8; 32], String> {
    let der = pem_der(pem, "PUBLIC KEY")?;
    match der.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        Some(key) if key.len() == 32 => Ok(key.try_into().expect("32 bytes")),
        _ => Err("is not an Ed25519 public key (`openssl pkey -pubout` of the old key)".into()),
    }
}

/// `jwt_private_key` as given: a PEM, or the path of a file holding one.
pub fn read_private_key(value: &str) -> Result<Vec<u8>, String> {
    let pem = if value.trim_start().starts_with("-----BEGIN") {
        value.to_string()
    } else {
        std::fs::read_to_string(value.trim()).map_err(|e| {
            format!(
                "jwt_private_key: cannot read the file {:?}: {e}",
                value.trim()
            )
        })?
    };
    pem_der(&pem, "PRIVATE KEY").map_err(|why| format!("jwt_private_key {why}"))
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::config::Secret;

    /// Made with `openssl genpkey -algorithm ed25519` (PKCS#8 v1, as OpenSSL
    /// writes it); only ever used by tests.
    pub const OPENSSL_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEILR2YPeFmVlasyIkVOzwZM8qq0sCp99kZ6TdkBKr6LoN
-----END PRIVATE KEY-----
";
    /// Its public key, by `openssl pkey -pubout`.
    pub const OPENSSL_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEARBWs9BI96HAQ/6tAJMw1ukW3sBk+9Z6VavVrHrDw4a8=
-----END PUBLIC KEY-----
";

    #[test]
    fn an_openssl_key_signs_and_its_public_key_is_published() {
        let der = read_private_key(OPENSSL_PRIVATE_PEM).unwrap();
        let keys = SigningKeys::ed25519(&der, None).unwrap();
        assert_eq!(keys.algorithm, Algorithm::EdDSA);
        let jwks = keys.jwks();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["kid"], keys.kid.as_str());
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(key["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        // The RFC 7638 thumbprint is 43 base64url characters.
        assert_eq!(keys.kid.len(), 43);
    }

    #[test]
    fn secrets_publish_nothing_and_their_kid_hides_them() {
        let keys = SigningKeys::hs256("0123456789abcdef0123456789abcdef", None).unwrap();
        assert_eq!(keys.jwks(), json!({ "keys": [] }));
        assert!(keys.kid.starts_with("hs256-"));
        let again = SigningKeys::hs256("0123456789abcdef0123456789abcdef", None).unwrap();
        assert_eq!(
            keys.kid, again.kid,
            "the same secret, the same kid on every instance"
        );
        let other = SigningKeys::hs256("another-secret-another-secret-123", None).unwrap();
        assert_ne!(keys.kid, other.kid);
        assert!(SigningKeys::hs256("short", None).is_err());
    }

    #[test]
    fn previous_keys_are_checked() {
        let base = || SigningKeys::hs256("0123456789abcdef0123456789abcdef", Some("k2")).unwrap();
        let secret = |kid: &str, s: &str| PreviousKey {
            kid: kid.into(),
            secret: Some(Secret::new(s)),
            public_key: None,
        };
        let ok = base()
            .with_previous(&[secret("k1", "old-secret-old-secret-old-secret-0")])
            .unwrap();
        assert_eq!(ok.verifying.len(), 2);
        let twice = base().with_previous(&[secret("k2", "old-secret-old-secret-old-secret-0")]);
        assert!(twice.unwrap_err().contains("used twice"));
        let short = base().with_previous(&[secret("k1", "short")]);
        assert!(short.unwrap_err().contains("shorter than 32 bytes"));
        let neither = base().with_previous(&[PreviousKey {
            kid: "k1".into(),
            secret: None,
            public_key: None,
        }]);
        assert!(neither.unwrap_err().contains("either a secret"));

        // An Ed25519 public key, as `openssl pkey -pubout` writes it: the
        // same key as the private one's.
        let ed =
            SigningKeys::ed25519(&read_private_key(OPENSSL_PRIVATE_PEM).unwrap(), None).unwrap();
        let x = ed.jwks()["keys"][0]["x"].as_str().unwrap().to_string();
        let pem = OPENSSL_PUBLIC_PEM.to_string();
        let rotated = base()
            .with_previous(&[PreviousKey {
                kid: "old-ed".into(),
                secret: None,
                public_key: Some(pem),
            }])
            .unwrap();
        assert_eq!(rotated.jwks()["keys"][0]["x"], x.as_str());
        assert_eq!(rotated.jwks()["keys"][0]["kid"], "old-ed");
        let garbage = base().with_previous(&[PreviousKey {
            kid: "bad".into(),
            secret: None,
            public_key: Some("not a key".into()),
        }]);
        assert!(garbage.unwrap_err().contains("PEM"));
    }

    #[test]
    fn private_keys_must_be_ed25519_pkcs8() {
        assert!(
            read_private_key("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----")
                .unwrap_err()
                .contains("base64")
        );
        assert!(read_private_key("/nonexistent/jwt.pem")
            .unwrap_err()
            .contains("cannot read"));
        let not_ed = SigningKeys::ed25519(b"\x30\x03\x02\x01\x00", None);
        assert!(not_ed.unwrap_err().contains("not an Ed25519 private key"));
        assert!(SigningKeys::ephemeral_ed25519().is_ok());
    }
}
