//! `Wxauth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! the scheme Stripe uses: the timestamp is signed with the body, so a
//! receiver can refuse old deliveries replayed at it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "Wxauth-Signature";

pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac() {
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec_test_secret",
        //   b"1764115200.{\"id\":\"evt_1\"}", hashlib.sha256).hexdigest())'
        assert_eq!(
            sign("whsec_test_secret", 1764115200, r#"{"id":"evt_1"}"#),
            "t=1764115200,v1=b71ceced82cb7c6714baa2ca6f34f6935291daf2ad67e3cdf499e083f0e92bfb"
        );
    }
}
