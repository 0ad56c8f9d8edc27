//! Alipay's login exchange: `alipay.system.oauth.token` on
//! `{api_base}/gateway.do`, the request signed RSA2 with the app's private
//! key, the answer's `sign` verified with Alipay's public key over the exact
//! text of the answer's object (as it stands in the body: re-serialising it
//! would change what was signed). Also the AES decryption of the app's
//! encrypted data (`my.getPhoneNumber`).

use std::sync::RwLock;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::http::{self, read_body, retrying, transport_error, Attempt};
use super::login::Exchanged;
use super::rsa2::{self, PublicKey};
use super::Platform;
use crate::config::AlipayKeys;
use crate::error::ApiError;
use crate::metrics::Metrics;

const ALIPAY: Platform = Platform::Alipay;
pub const OAUTH_TOKEN: &str = "alipay.system.oauth.token";
/// The key of the answer's object: the method, dots as underscores.
pub const OAUTH_TOKEN_RESPONSE: &str = "alipay_system_oauth_token_response";

/// Alipay's sub_codes for a login code that is not (or no longer) good.
const INVALID_CODE: [&str; 3] = [
    "isv.code-invalid",
    "isv.invalid-auth-code",
    "isv.auth-code-used",
];
/// Alipay's sub_codes for "try again".
const BUSY: [&str; 4] = [
    "aop.ACQ.SYSTEM_ERROR",
    "isp.unknow-error",
    "isp.unknown-error",
    "isp.system-busy",
];

pub const VERIFICATION_FAILED: &str = "Alipay's answer failed signature verification";

pub struct AlipayClient {
    http: reqwest::Client,
    gateway: RwLock<reqwest::Url>,
    metrics: Metrics,
}

fn gateway(api_base: &str) -> Result<reqwest::Url, String> {
    http::endpoint(ALIPAY, "platforms.alipay.api_base", api_base, "/gateway.do")
}

/// The request's time as Alipay wants it: `yyyy-MM-dd HH:mm:ss` in China
/// (UTC+8), whatever the server's zone.
pub fn timestamp(now: time::OffsetDateTime) -> String {
    let china = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    now.to_offset(china)
        .format(&format)
        .unwrap_or_else(|_| String::new())
}

/// The signed parameters of an `alipay.system.oauth.token` request.
pub fn oauth_token_params(
    appid: &str,
    keys: &AlipayKeys,
    code: &str,
    now: time::OffsetDateTime,
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let mut params: Vec<(&'static str, String)> = vec![
        ("app_id", appid.to_string()),
        ("method", OAUTH_TOKEN.to_string()),
        ("charset", "utf-8".to_string()),
        ("sign_type", "RSA2".to_string()),
        ("timestamp", timestamp(now)),
        ("version", "1.0".to_string()),
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
    ];
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sign = keys
        .private_key
        .sign(rsa2::signing_string(&pairs).as_bytes())
        .map_err(ApiError::internal)?;
    params.push(("sign", sign));
    Ok(params)
}

impl AlipayClient {
    pub fn new(api_base: &str, timeout_ms: u64, metrics: Metrics) -> Result<Self, String> {
        Ok(AlipayClient {
            http: http::client(timeout_ms)?,
            gateway: RwLock::new(gateway(api_base)?),
            metrics,
        })
    }

    pub fn set_api_base(&self, api_base: &str) -> Result<(), String> {
        let url = gateway(api_base)?;
        *self.gateway.write().unwrap_or_else(|p| p.into_inner()) = url;
        Ok(())
    }

    /// `alipay.system.oauth.token` for a code of `my.getAuthCode`.
    pub async fn oauth_token(
        &self,
        appid: &str,
        keys: &AlipayKeys,
        code: &str,
    ) -> Result<Exchanged, ApiError> {
        let url = self
            .gateway
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        retrying(&self.metrics, "alipay.oauth_token", || async {
            // Signed per attempt: the timestamp is the attempt's.
            let params = oauth_token_params(appid, keys, code, time::OffsetDateTime::now_utc())
                .map_err(Attempt::Failed)?;
            let response = self
                .http
                .post(url.clone())
                .query(&[("charset", "utf-8")])
                .form(&params)
                .send()
                .await
                .map_err(|e| Attempt::Failed(transport_error(ALIPAY, &e)))?;
            let (status, bytes) = read_body(ALIPAY, response).await?;
            read_answer(&bytes, status, &keys.alipay_public_key)
        })
        .await
        .map_err(|e| e.into_api_error(ALIPAY))
    }
}

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow, default)]
    alipay_system_oauth_token_response: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error_response: Option<&'a RawValue>,
    #[serde(default)]
    sign: Option<String>,
}

/// The object inside, success or error.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Inner {
    user_id: Option<String>,
    open_id: Option<String>,
    union_id: Option<String>,
    code: Option<String>,
    msg: Option<String>,
    sub_code: Option<String>,
    sub_msg: Option<String>,
}

fn garbage(status: u16) -> Attempt {
    Attempt::Failed(ApiError::Wechat(format!(
        "Alipay answered something that is not the expected JSON (HTTP {status})"
    )))
}

/// Reads Alipay's answer: verified, then success or the error mapped.
pub fn read_answer(
    bytes: &[u8],
    status: u16,
    alipay_key: &PublicKey,
) -> Result<Exchanged, Attempt> {
    let answer: Answer = serde_json::from_slice(bytes).map_err(|_| garbage(status))?;
    let unverified = || Attempt::Failed(ApiError::Wechat(VERIFICATION_FAILED.into()));
    let (raw, is_error) = match (
        answer.alipay_system_oauth_token_response,
        answer.error_response,
    ) {
        (Some(raw), _) => {
            // A success must be Alipay's: it names who logs in.
            let sign = answer.sign.as_deref().ok_or_else(unverified)?;
            if !alipay_key.verify(raw.get().as_bytes(), sign) {
                return Err(unverified());
            }
            (raw, false)
        }
        (None, Some(raw)) => {
            // Alipay signs most error answers; one that is not signed can
            // only fail a login, so it is read as it is.
            if let Some(sign) = &answer.sign {
                if !alipay_key.verify(raw.get().as_bytes(), sign) {
                    return Err(unverified());
                }
            }
            (raw, true)
        }
        (None, None) => return Err(garbage(status)),
    };
    let inner: Inner = serde_json::from_str(raw.get()).map_err(|_| garbage(status))?;
    let failed = inner.code.as_deref().is_some_and(|c| c != "10000");
    if is_error || failed || inner.sub_code.is_some() {
        return Err(map_error(&inner));
    }
    let present = |v: Option<String>| v.filter(|v| !v.is_empty());
    let openid = present(inner.open_id)
        .or(present(inner.user_id))
        .ok_or_else(|| {
            Attempt::Failed(ApiError::Wechat(
                "Alipay answered without open_id or user_id".into(),
            ))
        })?;
    Ok(Exchanged {
        openid,
        unionid: present(inner.union_id),
        session_key: None,
        anonymous: false,
        guest_openid: None,
    })
}

/// Alipay's error (SPEC §10): a bad or used code is -601, a system error is
/// busy (-604 after the retries), the rest -600; every message names Alipay.
fn map_error(inner: &Inner) -> Attempt {
    let sub_code = inner.sub_code.as_deref().unwrap_or("");
    let code = inner.code.as_deref().unwrap_or("");
    if INVALID_CODE.contains(&sub_code) {
        return Attempt::Failed(ApiError::WechatInvalidCode(format!(
            "the login code is invalid or already used (Alipay {sub_code})"
        )));
    }
    // 20000: "service unavailable".
    if BUSY.contains(&sub_code) || code == "20000" {
        return Attempt::Busy;
    }
    let message = inner
        .sub_msg
        .as_deref()
        .or(inner.msg.as_deref())
        .map(|m| http::short_message(Some(m)))
        .unwrap_or_default();
    let what = [code, sub_code]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    Attempt::Failed(ApiError::Wechat(
        format!("Alipay error {what}: {message}")
            .trim_end_matches(": ")
            .to_string(),
    ))
}

/// Alipay's encrypted data (the `response` of `my.getPhoneNumber` and
/// similar): AES-128-CBC with the app's aes_key, a zero IV, PKCS#7; the
/// plaintext is a JSON object. A wrong key, bad padding and a plaintext that
/// is no JSON object share one error (no padding oracle).
pub fn decrypt(
    aes_key: &[u8; 16],
    encrypted: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, DecryptError> {
    use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(encrypted.trim())
        .map_err(|_| DecryptError::Base64)?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(DecryptError::Length);
    }
    let plain = cbc::Decryptor::<aes::Aes128>::new(aes_key.into(), &[0u8; 16].into())
        .decrypt_padded_vec_mut::<Pkcs7>(&data)
        .map_err(|_| DecryptError::Undecryptable)?;
    match serde_json::from_slice(&plain) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        _ => Err(DecryptError::Undecryptable),
    }
}

/// [`decrypt`]'s inverse, for the mock and the tests.
pub fn encrypt(aes_key: &[u8; 16], plain: &[u8]) -> String {
    use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
    use base64::Engine;
    let data = cbc::Encryptor::<aes::Aes128>::new(aes_key.into(), &[0u8; 16].into())
        .encrypt_padded_vec_mut::<Pkcs7>(plain);
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("encryptedData is not valid base64")]
    Base64,
    #[error("encryptedData is empty or not a whole number of 16-byte blocks")]
    Length,
    #[error("decryption failed: wrong aes_key, tampered data, or not a JSON object")]
    Undecryptable,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::rsa2::PrivateKey;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/alipay");

    fn key(name: &str) -> PrivateKey {
        PrivateKey::read(&format!("{FIXTURES}/{name}")).unwrap()
    }

    fn signed(key: &PrivateKey, field: &str, inner: &str) -> String {
        let sign = key.sign(inner.as_bytes()).unwrap();
        format!(r#"{{"{field}":{inner},"sign":"{sign}"}}"#)
    }

    #[test]
    fn the_timestamp_is_chinas() {
        let t = time::macros::datetime!(2026-12-04 18:30:05 UTC);
        assert_eq!(timestamp(t), "2026-12-05 02:30:05");
    }

    #[test]
    fn an_answer_is_verified_over_its_exact_text() {
        let alipay = key("other_app_private_pkcs1.pem");
        let public = alipay.public_key();
        // Spacing and escapes that re-serialising would change.
        let inner = r#"{ "user_id":"2088102","open_id" : "074a\/1","access_token":"t"}"#;
        let body = signed(&alipay, OAUTH_TOKEN_RESPONSE, inner);
        let ok = read_answer(body.as_bytes(), 200, &public).ok().unwrap();
        assert_eq!(ok.openid, "074a/1");
        assert_eq!(ok.session_key, None);
        // The same answer with one byte changed.
        let tampered = body.replace("2088102", "2088103");
        let err = read_answer(tampered.as_bytes(), 200, &public)
            .err()
            .unwrap()
            .into_api_error(ALIPAY);
        assert_eq!(
            (err.result_code(), err.to_string()),
            (-600, VERIFICATION_FAILED.into())
        );
        // Signed by another key, or not signed.
        let forged = signed(&key("app_private_pkcs1.pem"), OAUTH_TOKEN_RESPONSE, inner);
        assert!(read_answer(forged.as_bytes(), 200, &public).is_err());
        let unsigned = format!(r#"{{"{OAUTH_TOKEN_RESPONSE}":{inner}}}"#);
        assert!(read_answer(unsigned.as_bytes(), 200, &public).is_err());
        // Older apps: user_id only.
        let old = signed(&alipay, OAUTH_TOKEN_RESPONSE, r#"{"user_id":"2088102"}"#);
        assert_eq!(
            read_answer(old.as_bytes(), 200, &public)
                .ok()
                .unwrap()
                .openid,
            "2088102"
        );
    }

    #[test]
    fn errors_map_to_result_codes_naming_alipay() {
        let alipay = key("other_app_private_pkcs1.pem");
        let public = alipay.public_key();
        let error = |sub_code: &str| {
            let inner = format!(
                r#"{{"code":"40002","msg":"Invalid Arguments","sub_code":"{sub_code}","sub_msg":"授权码code无效"}}"#
            );
            read_answer(
                signed(&alipay, "error_response", &inner).as_bytes(),
                200,
                &public,
            )
            .err()
            .unwrap()
        };
        assert!(matches!(error("aop.ACQ.SYSTEM_ERROR"), Attempt::Busy));
        assert!(matches!(error("isp.unknow-error"), Attempt::Busy));
        let invalid = error("isv.code-invalid").into_api_error(ALIPAY);
        assert_eq!(invalid.result_code(), -601);
        assert!(invalid.to_string().contains("Alipay"), "{invalid}");
        let other = error("isv.invalid-app-id").into_api_error(ALIPAY);
        assert_eq!(other.result_code(), -600);
        assert_eq!(
            other.to_string(),
            "Alipay error 40002 isv.invalid-app-id: 授权码code无效"
        );
        // An unsigned error is read; a badly signed one is not.
        let unsigned = r#"{"error_response":{"code":"40002","sub_code":"isv.code-invalid"}}"#;
        let e = read_answer(unsigned.as_bytes(), 200, &public)
            .err()
            .unwrap();
        assert_eq!(e.into_api_error(ALIPAY).result_code(), -601);
        let badly =
            r#"{"error_response":{"code":"40002","sub_code":"isv.code-invalid"},"sign":"AAAA"}"#;
        let e = read_answer(badly.as_bytes(), 200, &public).err().unwrap();
        assert_eq!(e.into_api_error(ALIPAY).to_string(), VERIFICATION_FAILED);
    }

    #[test]
    fn encrypted_data_opens_with_the_aes_key_only() {
        let key = [7u8; 16];
        let sealed = encrypt(&key, br#"{"code":"10000","mobile":"13800000000"}"#);
        assert_eq!(decrypt(&key, &sealed).unwrap()["mobile"], "13800000000");
        assert_eq!(
            decrypt(&[8u8; 16], &sealed),
            Err(DecryptError::Undecryptable)
        );
        assert_eq!(decrypt(&key, "!!"), Err(DecryptError::Base64));
        assert_eq!(decrypt(&key, "AAAA"), Err(DecryptError::Length));
        let not_object = encrypt(&key, b"[1,2]");
        assert_eq!(decrypt(&key, &not_object), Err(DecryptError::Undecryptable));
    }
}
