//! WeChat's encrypted user data (`wx.getUserInfo`, `wx.getWeRunData`, …):
//! AES-128-CBC with the session_key, strict PKCS#7, a watermark naming the
//! app, and the optional `sha1(rawData + session_key)` signature.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// Which check failed; each becomes a -501 whose message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("encryptedData is not valid base64")]
    DataBase64,
    #[error("encryptedData is empty or not a whole number of 16-byte blocks")]
    DataLength,
    #[error("iv is not the base64 of 16 bytes")]
    Iv,
    #[error("the session's session_key is unusable")]
    SessionKey,
    /// Bad padding and a plaintext that is not a JSON object are one error
    /// with one message: told apart, they would let a client that tampers
    /// with ciphertext learn the plaintext block by block (a padding oracle).
    #[error("decryption failed: wrong session_key or iv, tampered data, or not a JSON object")]
    Undecryptable,
    #[error("watermark.appid does not match this session's app")]
    Watermark,
    #[error("signature does not match sha1(rawData + session_key)")]
    Signature,
}

/// Decrypts `encrypted_data` with the session's key and checks the watermark.
pub fn decrypt(
    session_key_b64: &str,
    encrypted_data: &str,
    iv: &str,
    appid: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, DecryptError> {
    let key: [u8; 16] = STANDARD
        .decode(session_key_b64)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or(DecryptError::SessionKey)?;
    let iv: [u8; 16] = STANDARD
        .decode(iv)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(DecryptError::Iv)?;
    let data = STANDARD
        .decode(encrypted_data)
        .map_err(|_| DecryptError::DataBase64)?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(DecryptError::DataLength);
    }
    let plain = Aes128CbcDec::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&data)
        .map_err(|_| DecryptError::Undecryptable)?;
    let value: serde_json::Value =
        serde_json::from_slice(&plain).map_err(|_| DecryptError::Undecryptable)?;
    let serde_json::Value::Object(object) = value else {
        return Err(DecryptError::Undecryptable);
    };
    let watermark = object
        .get("watermark")
        .and_then(|w| w.get("appid"))
        .and_then(|a| a.as_str());
    if watermark != Some(appid) {
        return Err(DecryptError::Watermark);
    }
    Ok(object)
}

/// `sha1(rawData + session_key)` in lowercase hex must equal `signature`.
pub fn check_signature(
    raw_data: &str,
    session_key_b64: &str,
    signature: &str,
) -> Result<(), DecryptError> {
    let mut hasher = Sha1::new();
    hasher.update(raw_data.as_bytes());
    hasher.update(session_key_b64.as_bytes());
    let expected: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if expected
        .as_bytes()
        .ct_eq(signature.trim().as_bytes())
        .into()
    {
        Ok(())
    } else {
        Err(DecryptError::Signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // WeChat's own published example (the "demo" of its decryption docs).
    const APPID: &str = "wx4f4bc4dec97d474b";
    const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";
    const IV: &str = "r7BXXKkLb8qrSNn05n0qiA==";
    const DATA: &str = "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==";

    #[test]
    fn wechat_published_example_decrypts() {
        let data = decrypt(SESSION_KEY, DATA, IV, APPID).unwrap();
        assert_eq!(data["nickName"], "Band");
        assert_eq!(data["watermark"]["appid"], APPID);
    }

    #[test]
    fn each_failure_names_its_check() {
        assert_eq!(
            decrypt(SESSION_KEY, DATA, IV, "wxother").unwrap_err(),
            DecryptError::Watermark
        );
        assert_eq!(
            decrypt(SESSION_KEY, "not base64!", IV, APPID).unwrap_err(),
            DecryptError::DataBase64
        );
        assert_eq!(
            decrypt(SESSION_KEY, "AAAA", IV, APPID).unwrap_err(),
            DecryptError::DataLength
        );
        assert_eq!(
            decrypt(SESSION_KEY, DATA, "AAAA", APPID).unwrap_err(),
            DecryptError::Iv
        );
        assert_eq!(
            decrypt("short", DATA, IV, APPID).unwrap_err(),
            DecryptError::SessionKey
        );
        let other_key = STANDARD.encode([7u8; 16]);
        assert_eq!(
            decrypt(&other_key, DATA, IV, APPID).unwrap_err(),
            DecryptError::Undecryptable
        );
    }

    #[test]
    fn signature_is_sha1_of_raw_data_and_session_key() {
        let raw = r#"{"nickName":"Band"}"#;
        let mut h = Sha1::new();
        h.update(format!("{raw}{SESSION_KEY}").as_bytes());
        let sig: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert!(check_signature(raw, SESSION_KEY, &sig).is_ok());
        assert_eq!(
            check_signature(raw, SESSION_KEY, "00").unwrap_err(),
            DecryptError::Signature
        );
    }

    mod properties {
        use aes::cipher::BlockEncryptMut;
        use proptest::prelude::*;

        use super::*;

        type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;

        fn encrypt(key: &[u8; 16], iv: &[u8; 16], plain: &[u8]) -> String {
            STANDARD.encode(
                Aes128CbcEnc::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plain),
            )
        }

        proptest! {
            #![proptest_config(crate::property_tests::bounded())]

            #[test]
            fn any_text_input_is_an_error_not_a_panic(
                data in "\\PC{0,200}",
                iv in "\\PC{0,40}",
                key in "\\PC{0,40}",
            ) {
                prop_assert!(decrypt(&key, &data, &iv, APPID).is_err());
                prop_assert!(decrypt(SESSION_KEY, &data, &iv, APPID).is_err());
            }

            #[test]
            fn random_blocks_under_the_right_key_are_refused(
                blocks in prop::collection::vec(any::<[u8; 16]>(), 1..8),
                iv in any::<[u8; 16]>(),
            ) {
                let data = STANDARD.encode(blocks.concat());
                let outcome = decrypt(SESSION_KEY, &data, &STANDARD.encode(iv), APPID);
                prop_assert!(matches!(
                    outcome,
                    Err(DecryptError::Undecryptable | DecryptError::Watermark)
                ), "{:?}", outcome);
            }

            #[test]
            fn objects_encrypted_with_the_session_key_come_back(
                fields in prop::collection::btree_map("[a-z]{1,8}", "\\PC{0,20}", 0..6),
                key in any::<[u8; 16]>(),
                iv in any::<[u8; 16]>(),
            ) {
                let mut object: serde_json::Map<String, serde_json::Value> = fields
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                object.insert("watermark".into(), serde_json::json!({ "appid": APPID }));
                let plain = serde_json::to_vec(&object).unwrap();
                let data = encrypt(&key, &iv, &plain);
                let (key, iv) = (STANDARD.encode(key), STANDARD.encode(iv));
                prop_assert_eq!(decrypt(&key, &data, &iv, APPID), Ok(object));
                prop_assert_eq!(
                    decrypt(&key, &data, &iv, "wxother"),
                    Err(DecryptError::Watermark)
                );
            }
        }
    }
}
