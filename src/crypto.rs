//! Small cryptographic helpers: random tokens, refresh-token hashing, and
//! AES-256-GCM sealing of values kept at rest (WeChat session keys, the pair
//! issued for a spent refresh token during its grace window).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// `len` random bytes as URL-safe base64 (no padding).
pub fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The lookup key stored for a refresh token: only its SHA-256 is kept, so a
/// database leak does not hand out live refresh tokens.
pub fn hash_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A token derived from `key` for (`label`, `id`): 32 bytes of HMAC-SHA256,
/// base64url. The same inputs give the same token; without the key, none
/// can be made.
pub fn keyed_token(key: &[u8; 32], label: &str, id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(label.as_bytes());
    mac.update(b"\0");
    mac.update(id.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `a` and `b` are equal, in time that does not depend on where
/// they differ (secrets, MACs, PKCE challenges).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// AES-256-GCM with a random 96-bit nonce. The `purpose` is bound in as
/// associated data, so a value sealed for one use cannot be replayed as another.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

#[derive(Debug, thiserror::Error)]
#[error("sealed value cannot be opened")]
pub struct OpenError;

#[derive(Debug, thiserror::Error)]
#[error("a value could not be sealed")]
pub struct SealError;

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        Sealer {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// `base64(nonce || ciphertext || tag)`. AES-GCM refuses only inputs
    /// beyond its 64 GiB limit; such a refusal is an error, never an empty
    /// "sealed" value stored in place of the secret.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let nonce = random_bytes::<12>();
        let payload = Payload {
            msg: plaintext,
            aad: purpose.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| SealError)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(STANDARD.encode(out))
    }

    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| OpenError)?;
        if bytes.len() < 12 + 16 {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let payload = Payload {
            msg: ciphertext,
            aad: purpose.as_bytes(),
        };
        self.cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_purpose() {
        let sealer = Sealer::new(&[7u8; 32]);
        let sealed = sealer.seal("session_key", b"secret").unwrap();
        assert_eq!(sealer.open("session_key", &sealed).unwrap(), b"secret");
        assert!(sealer.open("refresh_pair", &sealed).is_err());
        assert!(Sealer::new(&[8u8; 32])
            .open("session_key", &sealed)
            .is_err());
        assert!(!sealed.contains("secret"));
    }

    #[test]
    fn tampered_sealed_values_are_refused() {
        let sealer = Sealer::new(&[7u8; 32]);
        let sealed = sealer.seal("p", b"secret").unwrap();
        let mut bytes = STANDARD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(sealer.open("p", &STANDARD.encode(bytes)).is_err());
        assert!(sealer.open("p", "not base64!").is_err());
    }

    #[test]
    fn refresh_token_hash_is_stable_and_not_the_token() {
        assert_eq!(hash_token("abc"), hash_token("abc"));
        assert_ne!(hash_token("abc"), hash_token("abd"));
        assert_ne!(hash_token("abc"), "abc");
    }
}
