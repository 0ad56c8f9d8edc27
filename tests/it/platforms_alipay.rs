//! Alipay's signatures, both ways, and its encrypted data; and `decrypt`
//! for a QQ session, whose session_key works as WeChat's does.

use base64::Engine;
use serde_json::json;

use crate::common::known_key_wechat::{KnownKeyWechat, KNOWN_SESSION_KEY};
use crate::common::platforms::*;
use crate::common::*;

/// The mock verifies each request's RSA2 signature with the app's public
/// key, as Alipay does: a server signing with another key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_signed_with_another_key_is_refused() {
    let server_apps = json!([alipay_app(ALIPAY_APP, "other_app_private_pkcs1.pem", true)]);
    let mock_apps = json!([alipay_app(ALIPAY_APP, "app_private_pkcs8.pem", true)]);
    let app = spawn_platforms_with(Backend::Sqlite, server_apps, mock_apps, |o| o).await;
    let reply = authorize(&app, ALIPAY_APP, json!({ "code": "mallory" })).await;
    reply.expect(-600, 502);
    assert!(
        reply.text.contains("isv.invalid-signature"),
        "{}",
        reply.text
    );
    assert_eq!(app.db.count("sessions"), 0);
    // The same key in another form (PKCS#1 of the pair the mock knows as
    // PKCS#8) signs the same.
    let server_apps = json!([alipay_app(ALIPAY_APP, "app_private_pkcs1.pem", true)]);
    let mock_apps = json!([alipay_app(ALIPAY_APP, "app_private_pkcs8.pem", true)]);
    let app = spawn_platforms_with(Backend::Sqlite, server_apps, mock_apps, |o| o).await;
    authorize(&app, ALIPAY_APP, json!({ "code": "alice" }))
        .await
        .expect(0, 200);
}

/// An answer must verify with the configured alipay_public_key: a server
/// that trusts another key takes no answer of the mock's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_does_not_verify_is_refused() {
    let mut trusting_another = alipay_app(ALIPAY_APP, "app_private_pkcs8.pem", true);
    trusting_another["alipay_public_key"] =
        json!(std::fs::read_to_string(fixture("app_public.pem")).unwrap());
    let app = spawn_platforms_with(
        Backend::Sqlite,
        json!([trusting_another]),
        json!([alipay_app(ALIPAY_APP, "app_private_pkcs8.pem", true)]),
        |o| o,
    )
    .await;
    let reply = authorize(&app, ALIPAY_APP, json!({ "code": "alice" })).await;
    reply.expect(-600, 502);
    assert!(
        reply
            .text
            .contains("Alipay's answer failed signature verification"),
        "{}",
        reply.text
    );
    assert_eq!(app.db.count("sessions"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alipay_data_opens_with_the_apps_aes_key() {
    let app = spawn_platforms(Backend::Sqlite, |o| o).await;
    let login = authorize(&app, ALIPAY_APP, json!({ "code": "phone-owner" })).await;
    login.expect(0, 200);
    let token = login.token();
    let phone = json!({ "code": "10000", "msg": "Success", "mobile": "13800138000" });
    let sealed = wxauth::platforms::alipay::encrypt(&AES_KEY, phone.to_string().as_bytes());
    let reply = app
        .post_with_token("decrypt", &token, json!({ "encryptedData": sealed }))
        .await;
    reply.expect(0, 200);
    assert_eq!(reply.data(), &phone);
    // Sealed with another key, or not base64: -501, saying which.
    let other = wxauth::platforms::alipay::encrypt(b"fedcba9876543210", b"{\"a\":1}");
    let wrong = app
        .post_with_token("decrypt", &token, json!({ "encryptedData": other }))
        .await;
    wrong.expect(-501, 400);
    assert!(wrong.text.contains("wrong aes_key"), "{}", wrong.text);
    app.post_with_token("decrypt", &token, json!({ "encryptedData": "%%%" }))
        .await
        .expect(-501, 400);
    app.post_with_token("decrypt", &token, json!({}))
        .await
        .expect(-101, 400);

    // An Alipay app without an aes_key cannot open anything.
    let plain = authorize(&app, PLAIN_ALIPAY_APP, json!({ "code": "phone-owner" })).await;
    plain.expect(0, 200);
    let reply = app
        .post_with_token(
            "decrypt",
            &plain.token(),
            json!({ "encryptedData": sealed }),
        )
        .await;
    reply.expect(-501, 400);
    assert!(reply.text.contains("no aes_key"), "{}", reply.text);
}

/// QQ's session_key opens QQ's encrypted data, as WeChat's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qq_session_decrypts_with_its_session_key() {
    let qq = KnownKeyWechat::spawn().await;
    let app = spawn_platforms(Backend::Sqlite, |o| {
        o.with("platforms.qq.api_base", qq.url.clone())
    })
    .await;
    let login = authorize(&app, QQ_APP, json!({ "code": "quentin" })).await;
    login.expect(0, 200);
    use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
    let iv = [3u8; 16];
    let plain = json!({ "nickName": "Q", "watermark": { "appid": QQ_APP, "timestamp": 1 } });
    let data = cbc::Encryptor::<aes::Aes128>::new(KNOWN_SESSION_KEY.into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plain.to_string().as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = json!({ "encryptedData": b64.encode(data), "iv": b64.encode(iv) });
    let reply = app.post_with_token("decrypt", &login.token(), body).await;
    reply.expect(0, 200);
    assert_eq!(reply.data()["nickName"], "Q");
}
