//! Time-based one-time passwords for console admins (RFC 6238: HMAC-SHA-1,
//! 30-second steps, 6 digits), the `otpauth://` URI that authenticator apps
//! read from a QR code, the QR code as SVG, and recovery codes.

use hmac::{Hmac, Mac};
use rand::Rng;
use sha1::Sha1;
use subtle::ConstantTimeEq;

pub const STEP: i64 = 30;
const DIGITS: u32 = 6;
/// A secret of 160 bits, the length of an HMAC-SHA-1 key (RFC 4226 §4).
const SECRET_BYTES: usize = 20;
/// How many recovery codes an enrolment makes.
pub const RECOVERY_CODES: usize = 10;

/// A new secret, base32 as authenticator apps take it.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::thread_rng().fill(&mut bytes[..]);
    base32(&bytes)
}

/// The step that `unix` seconds fall in.
pub fn step_of(unix: i64) -> i64 {
    unix.div_euclid(STEP)
}

/// The code of `step` for the base32 `secret` (RFC 4226's truncation).
pub fn code_at(secret: &str, step: i64) -> Option<String> {
    let key = unbase32(secret)?;
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).ok()?;
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    Some(format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS),
        width = DIGITS as usize
    ))
}

/// The step whose code `code` is, one step either side of `now` allowed for
/// clocks that drift, and only a step after `last_used` — a code is taken
/// once (RFC 6238 §5.2). The caller records the step it returns.
pub fn matching_step(secret: &str, code: &str, now: i64, last_used: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    (current - 1..=current + 1)
        .filter(|step| last_used.is_none_or(|used| *step > used))
        .find(|step| {
            code_at(secret, *step)
                .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(code.as_bytes())))
        })
}

/// What an authenticator app reads: the secret with who it is for.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &str) -> String {
    let enc = |s: &str| rocket::http::RawStr::new(s).percent_encode().to_string();
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// `text` as a QR code drawn in SVG: one path of unit squares, with the
/// quiet zone of four modules that scanners need.
pub fn qr_svg(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| e.to_string())?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 8;
    let mut path = String::with_capacity(colors.len() * 8);
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (i % width + 4, i / width + 4);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"{px}\" \
         height=\"{px}\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>",
        px = size * 5
    ))
}

/// Ten recovery codes, `xxxxx-xxxxx` of lowercase letters and digits (51
/// bits each).
pub fn new_recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code: String = (0..10)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            code.insert(5, '-');
            code
        })
        .collect()
}

/// A typed recovery code as it was made (case and surrounding spaces
/// forgiven), or `None` when it is not shaped like one.
pub fn normalise_recovery_code(typed: &str) -> Option<String> {
    let code = typed.trim().to_ascii_lowercase();
    let shaped = code.len() == 11
        && code.as_bytes()[5] == b'-'
        && code
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 5 || b.is_ascii_lowercase() || b.is_ascii_digit());
    shaped.then_some(code)
}

/// How a recovery code is kept. A plain SHA-256 is enough here: each code
/// has 51 random bits, and whoever reads the database already holds the TOTP
/// secrets it keeps — a slow hash would guard nothing more, and would let
/// the time of an answer say whether a sign-in's password was right.
pub fn recovery_code_hash(code: &str) -> String {
    crate::crypto::hash_token(code)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = BASE32.iter().position(|b| *b == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 vectors, the last six of their eight digits.
    #[test]
    fn codes_are_rfc_6238s() {
        let secret = base32(b"12345678901234567890");
        assert_eq!(secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for (time, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
            (20000000000, "353130"),
        ] {
            assert_eq!(code_at(&secret, step_of(time)).unwrap(), code, "{time}");
        }
    }

    #[test]
    fn a_code_matches_one_step_either_side_and_once() {
        let secret = new_secret();
        let now = 1_800_000_015;
        let step = step_of(now);
        for s in [step - 1, step, step + 1] {
            let code = code_at(&secret, s).unwrap();
            assert_eq!(matching_step(&secret, &code, now, None), Some(s));
            assert_eq!(matching_step(&secret, &code, now, Some(s)), None, "once");
        }
        for s in [step - 2, step + 2] {
            let code = code_at(&secret, s).unwrap();
            assert_ne!(matching_step(&secret, &code, now, None), Some(s));
        }
        let spaced = code_at(&secret, step).unwrap();
        let spaced = format!("{} {}", &spaced[..3], &spaced[3..]);
        assert_eq!(matching_step(&secret, &spaced, now, None), Some(step));
        assert_eq!(matching_step(&secret, "12345", now, None), None);
        assert_eq!(matching_step(&secret, "abcdef", now, None), None);
    }

    #[test]
    fn base32_round_trips() {
        for len in 0..25 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(unbase32(&base32(&bytes)).unwrap(), bytes);
        }
        assert_eq!(new_secret().len(), 32);
        assert!(unbase32("not base32!").is_none());
    }

    #[test]
    fn recovery_codes_are_shaped_and_distinct() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(
                normalise_recovery_code(code).as_deref(),
                Some(code.as_str())
            );
            let upper = format!(" {} ", code.to_uppercase());
            assert_eq!(
                normalise_recovery_code(&upper).as_deref(),
                Some(code.as_str())
            );
        }
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        assert_eq!(normalise_recovery_code("12345678"), None);
        assert_eq!(normalise_recovery_code("abcde_fghij"), None);
    }

    #[test]
    fn the_uri_and_the_qr_code() {
        let uri = otpauth_uri("wxauth", "ops team", "ABC");
        assert_eq!(
            uri,
            "otpauth://totp/wxauth:ops%20team?secret=ABC&issuer=wxauth&algorithm=SHA1&digits=6&period=30"
        );
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<path d=\"M"));
    }
}
