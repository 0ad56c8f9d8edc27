//! RSA2 as Alipay uses it: SHA256withRSA (PKCS#1 v1.5), keys read in every
//! form Alipay's console and OpenSSL give them, the signing string of a
//! request, signing and verifying. On `ring` (already here for the EdDSA
//! tokens): its RSA verifies and signs in constant time, where the `rsa`
//! crate carries the Marvin timing advisory.
//!
//! ring reads a private key as PKCS#8 or PKCS#1 DER, and a public key only
//! as PKCS#1 `RSAPublicKey` DER; Alipay's console hands out public keys as
//! X.509 `SubjectPublicKeyInfo`, so [`rsa_public_key_of_spki`] unwraps them.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};

/// An RSA private key (an app's, or the mock Alipay's); never printed.
pub struct PrivateKey(RsaKeyPair);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(***)")
    }
}

impl PrivateKey {
    /// A key as configured: a PEM (`PRIVATE KEY`, PKCS#8, or `RSA PRIVATE
    /// KEY`, PKCS#1), the bare base64 of either (what Alipay's key tool
    /// shows), or the path of a file holding one of those.
    pub fn read(value: &str) -> Result<PrivateKey, String> {
        let der = read_der(value, true, &["PRIVATE KEY", "RSA PRIVATE KEY"])?;
        PrivateKey::from_der(&der)
    }

    /// PKCS#8 or PKCS#1 DER.
    pub fn from_der(der: &[u8]) -> Result<PrivateKey, String> {
        RsaKeyPair::from_pkcs8(der)
            .or_else(|_| RsaKeyPair::from_der(der))
            .map(PrivateKey)
            .map_err(|e| format!("is not an RSA private key of 2048 bits or more ({e})"))
    }

    /// The base64 RSA2 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<String, String> {
        self.sign_raw(message).map(|sig| STANDARD.encode(sig))
    }

    /// The RSA2 signature of `message` as bytes: SHA256withRSA, PKCS#1
    /// v1.5, which JWS calls RS256 (the OIDC provider's ID tokens).
    pub fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = ring::rand::SystemRandom::new();
        let mut sig = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
            .map_err(|_| "RSA signing failed".to_string())?;
        Ok(sig)
    }

    /// The public key's modulus and exponent, big-endian without leading
    /// zeros: a JWK's `n` and `e`.
    pub fn public_components(&self) -> (Vec<u8>, Vec<u8>) {
        let c = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(self.0.public());
        (c.n, c.e)
    }

    /// The public half (what Alipay's console is given for the app).
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.public().as_ref().to_vec())
    }
}

/// An RSA public key, held as PKCS#1 `RSAPublicKey` DER.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(Vec<u8>);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} bytes)", self.0.len())
    }
}

impl PublicKey {
    /// A key as configured: a PEM (`PUBLIC KEY`, X.509 SubjectPublicKeyInfo,
    /// or `RSA PUBLIC KEY`, PKCS#1), or the bare base64 of either (what
    /// Alipay's console shows as "支付宝公钥").
    pub fn read(value: &str) -> Result<PublicKey, String> {
        let der = read_der(value, false, &["PUBLIC KEY", "RSA PUBLIC KEY"])?;
        PublicKey::from_der(&der)
    }

    /// SubjectPublicKeyInfo or PKCS#1 DER.
    pub fn from_der(der: &[u8]) -> Result<PublicKey, String> {
        let pkcs1 = if is_rsa_public_key(der) {
            der
        } else {
            rsa_public_key_of_spki(der)?
        };
        Ok(PublicKey(pkcs1.to_vec()))
    }

    /// Whether `signature_b64` is this key's RSA2 signature of `message`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(sig) = STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.0)
            .verify(message, &sig)
            .is_ok()
    }

    /// PKCS#1 DER.
    pub fn der(&self) -> &[u8] {
        &self.0
    }
}

/// Alipay's signing string: the `key=value` pairs sorted by key, joined with
/// `&`, values as they are (not URL-encoded), leaving out `sign` and every
/// empty value.
pub fn signing_string(params: &[(&str, &str)]) -> String {
    let mut pairs: Vec<&(&str, &str)> = params
        .iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A key's DER from a PEM with one of `labels`, the bare base64, or (when
/// `files` is true) a file holding either.
fn read_der(value: &str, files: bool, labels: &[&str]) -> Result<Vec<u8>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("is empty".into());
    }
    if value.contains("-----BEGIN") {
        let (label, der) = pem(value)?;
        if !labels.contains(&label.as_str()) {
            return Err(format!(
                "is a PEM \"{label}\" block, not one of {}",
                labels
                    .iter()
                    .map(|l| format!("\"{l}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return Ok(der);
    }
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if let Ok(der) = STANDARD.decode(&compact) {
        return Ok(der);
    }
    if files {
        if let Ok(text) = std::fs::read_to_string(value) {
            return read_der(&text, false, labels)
                .map_err(|why| format!("(the file {value:?}) {why}"));
        }
        return Err(format!(
            "is neither a PEM key, the base64 of a key, nor a file that can be read ({value:?})"
        ));
    }
    Err("is neither a PEM key nor the base64 of a key".into())
}

/// The label and DER of the first PEM block in `text`.
fn pem(text: &str) -> Result<(String, Vec<u8>), String> {
    let start = text.find("-----BEGIN ").ok_or("has no PEM BEGIN line")?;
    let after = &text[start + "-----BEGIN ".len()..];
    let label_end = after.find("-----").ok_or("has a broken PEM BEGIN line")?;
    let label = after[..label_end].to_string();
    let body = &after[label_end + 5..];
    let end_line = format!("-----END {label}-----");
    let stop = body
        .find(&end_line)
        .ok_or_else(|| format!("has no \"{end_line}\" line"))?;
    let base64: String = body[..stop]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD
        .decode(base64)
        .map_err(|_| "is not valid base64 inside its PEM lines".to_string())?;
    Ok((label, der))
}

/// One DER element: (tag, contents, what follows). Definite lengths only,
/// as DER has them.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const NULL: u8 = 0x05;
/// 1.2.840.113549.1.1.1, rsaEncryption.
const RSA_ENCRYPTION: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The PKCS#1 `RSAPublicKey` inside an X.509 SubjectPublicKeyInfo:
/// `SEQUENCE { SEQUENCE { OID rsaEncryption, NULL? }, BIT STRING { RSAPublicKey } }`.
pub fn rsa_public_key_of_spki(der: &[u8]) -> Result<&[u8], String> {
    let not_spki = || "is not an X.509 SubjectPublicKeyInfo".to_string();
    let (tag, spki, trailing) = element(der).ok_or_else(not_spki)?;
    if tag != SEQUENCE || !trailing.is_empty() {
        return Err(not_spki());
    }
    let (tag, algorithm, rest) = element(spki).ok_or_else(not_spki)?;
    if tag != SEQUENCE {
        return Err(not_spki());
    }
    let (tag, oid, params) = element(algorithm).ok_or_else(not_spki)?;
    if tag != OID {
        return Err(not_spki());
    }
    if oid != RSA_ENCRYPTION {
        return Err("is a public key of another algorithm than RSA".into());
    }
    match element(params) {
        None if params.is_empty() => {}
        Some((NULL, [], [])) => {}
        _ => return Err(not_spki()),
    }
    let (tag, bits, trailing) = element(rest).ok_or_else(not_spki)?;
    if tag != BIT_STRING || !trailing.is_empty() {
        return Err(not_spki());
    }
    match bits.split_first() {
        // No unused bits: the key is whole bytes.
        Some((0, key)) if is_rsa_public_key(key) => Ok(key),
        _ => Err(not_spki()),
    }
}

/// Whether `der` is a PKCS#1 `RSAPublicKey`: `SEQUENCE { INTEGER n, INTEGER e }`.
fn is_rsa_public_key(der: &[u8]) -> bool {
    let Some((SEQUENCE, inner, [])) = element(der) else {
        return false;
    };
    let Some((INTEGER, _, rest)) = element(inner) else {
        return false;
    };
    matches!(element(rest), Some((INTEGER, _, [])))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/alipay");

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
    }

    /// The base64 between a PEM's lines, on one line: Alipay's console form.
    fn bare(pem: &str) -> String {
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn the_signing_string_sorts_and_leaves_out_sign_and_empty_values() {
        let params = [
            ("timestamp", "2026-12-04 10:00:00"),
            ("method", "alipay.system.oauth.token"),
            ("app_id", "2021000000000001"),
            ("sign", "whatever"),
            ("refresh_token", ""),
            ("charset", "utf-8"),
            ("code", "4b203fe6c11548bcabd8da5bb087a83b"),
            ("version", "1.0"),
            ("sign_type", "RSA2"),
            ("grant_type", "authorization_code"),
        ];
        assert_eq!(signing_string(&params), fixture("signing_string.txt"));
    }

    /// PKCS#1 v1.5 is deterministic: ring's signature is the one OpenSSL
    /// made (`openssl dgst -sha256 -sign`) of the same string.
    #[test]
    fn signatures_are_openssls_and_verify() {
        let key = PrivateKey::read(&fixture("app_private_pkcs1.pem")).unwrap();
        let message = fixture("signing_string.txt");
        let sig = key.sign(message.as_bytes()).unwrap();
        assert_eq!(sig, fixture("signing_string.sig.b64").trim());
        let public = PublicKey::read(&fixture("app_public.pem")).unwrap();
        assert!(public.verify(message.as_bytes(), &sig));
        assert!(!public.verify(b"another message", &sig));
        assert!(!public.verify(message.as_bytes(), "not base64!"));
        let other = PrivateKey::read(&fixture("other_app_private_pkcs1.pem")).unwrap();
        assert!(!other.public_key().verify(message.as_bytes(), &sig));
    }

    #[test]
    fn private_keys_are_read_in_every_form() {
        let pkcs1 = fixture("app_private_pkcs1.pem");
        let pkcs8 = fixture("app_private_pkcs8.pem");
        let expected = PublicKey::read(&fixture("app_public.pem")).unwrap();
        let path = format!("{FIXTURES}/app_private_pkcs8.pem");
        for (form, value) in [
            ("PEM PKCS#1", pkcs1.clone()),
            ("PEM PKCS#8", pkcs8.clone()),
            ("bare PKCS#1", bare(&pkcs1)),
            ("bare PKCS#8", bare(&pkcs8)),
            ("file path", path),
        ] {
            let key = PrivateKey::read(&value).unwrap_or_else(|e| panic!("{form}: {e}"));
            assert_eq!(key.public_key(), expected, "{form}");
        }
        for (form, value, why) in [
            ("a public key", fixture("app_public.pem"), "not one of"),
            ("no key", "aGVsbG8=".into(), "not an RSA private key"),
            ("a missing file", "/nonexistent/key.pem".into(), "file"),
            ("empty", " ".into(), "empty"),
        ] {
            let err = PrivateKey::read(&value).unwrap_err();
            assert!(err.contains(why), "{form}: {err}");
        }
        assert_eq!(
            format!("{:?}", PrivateKey::read(&pkcs1).unwrap()),
            "PrivateKey(***)"
        );
    }

    #[test]
    fn public_keys_are_read_as_spki_or_pkcs1_pem_or_bare() {
        let spki = fixture("app_public.pem");
        let pkcs1 = fixture("app_public_pkcs1.pem");
        let from_spki = PublicKey::read(&spki).unwrap();
        assert_eq!(PublicKey::read(&bare(&spki)).unwrap(), from_spki);
        assert_eq!(PublicKey::read(&pkcs1).unwrap(), from_spki);
        assert_eq!(PublicKey::read(&bare(&pkcs1)).unwrap(), from_spki);
        // Public keys are not read from files: a typo'd key is not a path.
        assert!(PublicKey::read("/etc/hostname").is_err());
        assert!(PublicKey::read("aGVsbG8=").is_err());
    }

    #[test]
    fn the_spki_reader_unwraps_rsa_and_refuses_the_rest() {
        let spki = STANDARD.decode(bare(&fixture("app_public.pem"))).unwrap();
        let pkcs1 = STANDARD
            .decode(bare(&fixture("app_public_pkcs1.pem")))
            .unwrap();
        assert_eq!(rsa_public_key_of_spki(&spki).unwrap(), &pkcs1[..]);
        // PKCS#1 itself is no SPKI.
        assert!(rsa_public_key_of_spki(&pkcs1).is_err());
        // Cut short, or with bytes after it.
        assert!(rsa_public_key_of_spki(&spki[..spki.len() - 1]).is_err());
        let mut longer = spki.clone();
        longer.push(0);
        assert!(rsa_public_key_of_spki(&longer).is_err());
        // Another algorithm: Ed25519 (RFC 8410).
        let ed25519 = [
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ]
        .iter()
        .copied()
        .chain([7u8; 32])
        .collect::<Vec<u8>>();
        let err = rsa_public_key_of_spki(&ed25519).unwrap_err();
        assert!(err.contains("another algorithm"), "{err}");
        // Unused bits in the BIT STRING.
        let mut unused = spki.clone();
        let at = unused
            .windows(3)
            .position(|w| w[0] == BIT_STRING && w[1] == 0x82)
            .unwrap();
        unused[at + 4] = 1;
        assert!(rsa_public_key_of_spki(&unused).is_err());
        // A short-form length, by hand: SEQUENCE { SEQUENCE { OID, NULL },
        // BIT STRING { 0, SEQUENCE { INTEGER 5, INTEGER 3 } } }.
        let tiny = [
            0x30, 0x1a, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
            0x01, 0x05, 0x00, 0x03, 0x09, 0x00, 0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03,
        ];
        assert_eq!(
            rsa_public_key_of_spki(&tiny).unwrap(),
            &[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03]
        );
    }
}
