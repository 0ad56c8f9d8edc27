//! WeChat user data: phone numbers through the shared access_token, and
//! decryption of encrypted data with the session's key.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use diesel::prelude::*;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};

use crate::both_backends;
use crate::common::*;

async fn mock_stats(mock: &MockWechat) -> Value {
    reqwest::get(format!("{}/__mock/calls", mock.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn token_fetches(mock: &MockWechat) -> u64 {
    mock_stats(mock).await["stable_token"]["total"]
        .as_u64()
        .unwrap()
}

both_backends!(
    the_access_token_fetch_survives_wechat_faults_without_a_stampede,
    phone_number_is_fetched_and_bound_to_the_user,
    concurrent_phone_calls_fetch_one_token,
    a_stale_token_is_refreshed_once,
    an_invalid_token_40014_is_refreshed_once,
    an_expired_token_42001_is_refreshed_once,
    decryption_opens_data_sealed_with_the_session_key,
);

async fn phone_number_is_fetched_and_bound_to_the_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("phone-owner").await;
    let reply = app
        .post_with_token("phone", &s.token(), json!({ "code": "phone-code-1" }))
        .await;
    reply.expect(0, 200);
    let pure = wxauth::wechat::mock::phone_for("phone-code-1");
    assert_eq!(
        reply.data(),
        &json!({ "phone_number": pure, "pure_phone_number": pure, "country_code": "86" })
    );
    let profile = app.get_with_token("user", &s.token()).await;
    assert_eq!(profile.data()["phone"], *reply.data());

    // countryCode as a number is accepted too.
    let reply = app
        .post_with_token("phone", &s.token(), json!({ "code": "numcc-2" }))
        .await;
    reply.expect(0, 200);
    assert_eq!(reply.data()["country_code"], "86");

    // The console finds the user by the number.
    let browser = crate::admin_sign_in::signed_in(&app).await;
    let pure = wxauth::wechat::mock::phone_for("numcc-2");
    let (_, _, html) = browser.get(&format!("/admin/users?q={pure}")).await;
    assert_eq!(html.matches("<tr>").count() - 1, 1, "{html}");

    // WeChat's refusals, mapped.
    for (code, result_code, status) in [
        ("invalid", -601, 401),
        ("used", -601, 401),
        ("ratelimit", -602, 429),
        ("busy", -604, 503),
        ("garbage", -600, 502),
    ] {
        app.post_with_token("phone", &s.token(), json!({ "code": code }))
            .await
            .expect(result_code, status);
    }
    app.post_with_token("phone", &s.token(), json!({}))
        .await
        .expect(-101, 400);
    app.post("phone", json!({ "code": "x" }))
        .await
        .expect(-500, 401);
    assert_eq!(token_fetches(&app.mock).await, 1, "one token for all of it");
}

async fn concurrent_phone_calls_fetch_one_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("many-phones").await;
    let token = s.token();
    let replies = futures::future::join_all(
        (0..12).map(|i| app.post_with_token("phone", &token, json!({ "code": format!("c{i}") }))),
    )
    .await;
    for reply in &replies {
        reply.expect(0, 200);
    }
    assert_eq!(token_fetches(&app.mock).await, 1);
}

async fn set_token_fault(mock: &MockWechat, fault: &str) {
    reqwest::Client::new()
        .post(format!("{}/__mock/stable_token_fault", mock.url))
        .body(fault.to_string())
        .send()
        .await
        .unwrap();
}

/// While WeChat's token endpoint fails, twelve phone calls at once get the
/// SPEC's code, and ask WeChat for a token a bounded number of times — not
/// once each, retried; the server then recovers on its own.
async fn the_access_token_fetch_survives_wechat_faults_without_a_stampede(backend: Backend) {
    for (fault, result_code, status) in [
        ("slow", -604, 503),
        ("http500", -604, 503),
        ("garbage", -600, 502),
        ("truncated", -600, 502),
        ("busy", -604, 503),
    ] {
        // A server of its own per fault: no earlier failure to share (one is
        // everyone's answer for a second).
        let app = spawn_app_with(backend, |o| o.with("wechat.timeout_ms", 300)).await;
        let token = app.login("phones-in-a-storm").await.token();
        set_token_fault(&app.mock, fault).await;
        let replies = guarded(
            fault,
            futures::future::join_all((0..12).map(|i| {
                app.post_with_token("phone", &token, json!({ "code": format!("{fault}-{i}") }))
            })),
        )
        .await;
        for reply in &replies {
            reply.expect(result_code, status);
        }
        let fetches = token_fetches(&app.mock).await;
        eprintln!("{fault}: {fetches} token fetches for 12 calls");
        // WeChat was asked, and not once per call.
        assert!(
            (1..=3).contains(&fetches),
            "{fault}: {fetches} token fetches for 12 calls"
        );
        // The failure is everyone's answer for a second; then WeChat is
        // asked again.
        set_token_fault(&app.mock, "none").await;
        wait_until(&format!("a phone call served after {fault}"), || async {
            app.post_with_token("phone", &token, json!({ "code": "after-the-storm" }))
                .await
                .code()
                == 0
        })
        .await;
    }
}

/// Puts `token`, which the mock never issued, in the cache, as if it had gone
/// stale (the mock's errcode for it follows its text: see `wechat::mock`).
fn cache_stale_token(db: &TestDb, token: &str) {
    use wxauth::db::schema::wechat_access_tokens as t;
    let key: [u8; 32] = STANDARD
        .decode(SESSION_KEY_SECRET)
        .unwrap()
        .try_into()
        .unwrap();
    let sealed = wxauth::crypto::Sealer::new(&key)
        .seal("wechat_access_token", token.as_bytes())
        .unwrap();
    let now = wxauth::timestamp::now();
    let mut conn = db.conn();
    diesel::insert_into(t::table)
        .values((
            t::appid.eq(APP_ID),
            t::token_sealed.eq(Some(sealed)),
            t::expires_at.eq(now + 3600),
            t::updated_at.eq(now),
        ))
        .execute(&mut conn)
        .unwrap();
}

async fn a_stale_token_is_refreshed_once(backend: Backend) {
    refreshed_once_when_wechat_calls_it_stale(backend, "stale-token", 40001).await;
}

async fn an_invalid_token_40014_is_refreshed_once(backend: Backend) {
    refreshed_once_when_wechat_calls_it_stale(backend, "invalid-token", 40014).await;
}

async fn an_expired_token_42001_is_refreshed_once(backend: Backend) {
    refreshed_once_when_wechat_calls_it_stale(backend, "expired-token", 42001).await;
}

/// SPEC §2: a phone call that WeChat refuses with `errcode` (the cached
/// access_token is stale) refreshes the token once and retries once.
async fn refreshed_once_when_wechat_calls_it_stale(backend: Backend, token: &str, errcode: u64) {
    let app = spawn_app(backend).await;
    cache_stale_token(&app.db, token);
    let s = app.login("stale").await;
    let reply = app
        .post_with_token("phone", &s.token(), json!({ "code": "p1" }))
        .await;
    reply.expect(0, 200);
    let stats = mock_stats(&app.mock).await;
    assert_eq!(
        stats["getuserphonenumber"]["by_errcode"],
        json!({ errcode.to_string(): 1 }),
        "the cached token met {errcode}, once"
    );
    assert_eq!(stats["stable_token"]["total"], 1, "one refresh");
    assert_eq!(stats["getuserphonenumber"]["total"], 2, "one retry");
    // The fresh token is cached: no more fetches.
    app.post_with_token("phone", &s.token(), json!({ "code": "p2" }))
        .await
        .expect(0, 200);
    assert_eq!(token_fetches(&app.mock).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_access_token() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let a = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    let b = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    let on_a = a.login("shared-a").await;
    let on_b = b.login("shared-b").await;
    let (token_a, token_b) = (on_a.token(), on_b.token());
    let (ra, rb) = tokio::join!(
        a.post_with_token("phone", &token_a, json!({ "code": "pa" })),
        b.post_with_token("phone", &token_b, json!({ "code": "pb" })),
    );
    ra.expect(0, 200);
    rb.expect(0, 200);
    b.post_with_token("phone", &on_b.token(), json!({ "code": "pc" }))
        .await
        .expect(0, 200);
    assert_eq!(token_fetches(&mock).await, 1);
}

/// The session_key wxauth keeps for the session of `token`.
fn session_key_of(db: &TestDb, token: &str) -> String {
    use wxauth::db::schema::sessions;
    let sid = crate::tokens::claims_of(token)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let mut conn = db.conn();
    let sealed: String = sessions::table
        .find(sid)
        .select(sessions::session_key_sealed)
        .first(&mut conn)
        .unwrap();
    let key: [u8; 32] = STANDARD
        .decode(SESSION_KEY_SECRET)
        .unwrap()
        .try_into()
        .unwrap();
    let opened = wxauth::crypto::Sealer::new(&key)
        .open("session_key", &sealed)
        .unwrap();
    assert!(
        !sealed.contains(&String::from_utf8(opened.clone()).unwrap()),
        "sealed at rest"
    );
    String::from_utf8(opened).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encrypts with the openssl command line, an implementation independent of
/// wxauth's: `openssl enc -aes-128-cbc -K … -iv … -base64 -A [-nopad]`.
fn openssl_encrypt(key_b64: &str, iv: &[u8; 16], plain: &[u8], nopad: bool) -> String {
    let key = STANDARD.decode(key_b64).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args([
        "enc",
        "-aes-128-cbc",
        "-K",
        &hex(&key),
        "-iv",
        &hex(iv),
        "-base64",
        "-A",
    ]);
    if nopad {
        cmd.arg("-nopad");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child.stdin.take().unwrap().write_all(plain).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn decryption_opens_data_sealed_with_the_session_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("secret-keeper").await;
    let key = session_key_of(&app.db, &s.token());
    let iv = [9u8; 16];
    let iv_b64 = STANDARD.encode(iv);
    let plain = json!({
        "nickName": "Band", "gender": 1, "city": "Guangzhou",
        "watermark": { "timestamp": 1477314187, "appid": APP_ID },
    });
    let encrypted = openssl_encrypt(&key, &iv, plain.to_string().as_bytes(), false);
    let ok = app
        .post_with_token(
            "decrypt",
            &s.token(),
            json!({ "encryptedData": encrypted, "iv": iv_b64 }),
        )
        .await;
    ok.expect(0, 200);
    assert_eq!(ok.data(), &plain);

    // With rawData and its signature.
    let raw = r#"{"nickName":"Band","gender":1}"#;
    let signature = hex(&Sha1::digest(format!("{raw}{key}").as_bytes()));
    app.post_with_token(
        "decrypt",
        &s.token(),
        json!({ "encryptedData": encrypted, "iv": iv_b64, "rawData": raw, "signature": signature }),
    )
    .await
    .expect(0, 200);

    let refused = |body: Value, words: &'static str| {
        let app = &app;
        let token = s.token();
        async move {
            let reply = app.post_with_token("decrypt", &token, body).await;
            reply.expect(-501, 400);
            let message = reply.body["message"].as_str().unwrap().to_string();
            assert!(message.contains(words), "{message} should say {words}");
        }
    };
    refused(
        json!({ "encryptedData": encrypted, "iv": iv_b64, "rawData": raw, "signature": "0".repeat(40) }),
        "signature",
    )
    .await;
    refused(json!({ "encryptedData": "%%%", "iv": iv_b64 }), "base64").await;
    refused(json!({ "encryptedData": encrypted, "iv": "AAAA" }), "iv").await;
    // Tampered: the last byte of the next-to-last block decides the padding.
    let mut bytes = STANDARD.decode(&encrypted).unwrap();
    let at = bytes.len() - 17;
    bytes[at] ^= 0x5a;
    refused(
        json!({ "encryptedData": STANDARD.encode(&bytes), "iv": iv_b64 }),
        "decryption failed",
    )
    .await;
    // Wrong padding: a whole block whose last byte is 0.
    let mut unpadded = plain.to_string().into_bytes();
    while unpadded.len() % 16 != 0 {
        unpadded.push(b' ');
    }
    unpadded.extend_from_slice(&[0u8; 16]);
    let bad_padding = openssl_encrypt(&key, &iv, &unpadded, true);
    refused(
        json!({ "encryptedData": bad_padding, "iv": iv_b64 }),
        "decryption failed",
    )
    .await;
    // Bad padding, a plaintext that is not JSON and JSON that is not an
    // object all answer the same message: the endpoint is no padding oracle.
    let message_of = |body: Value| {
        let app = &app;
        let token = s.token();
        async move {
            let reply = app.post_with_token("decrypt", &token, body).await;
            reply.expect(-501, 400);
            reply.body["message"].as_str().unwrap().to_string()
        }
    };
    let padding_message = message_of(json!({ "encryptedData": bad_padding, "iv": iv_b64 })).await;
    for plaintext in [&b"not json at all"[..], b"[1, 2, 3]", b"\xff\xfe"] {
        let sealed = openssl_encrypt(&key, &iv, plaintext, false);
        assert_eq!(
            message_of(json!({ "encryptedData": sealed, "iv": iv_b64 })).await,
            padding_message,
            "{plaintext:?}"
        );
    }
    // Another app's watermark.
    let foreign =
        json!({ "nickName": "X", "watermark": { "timestamp": 1, "appid": "wxsomeoneelse" } });
    let foreign = openssl_encrypt(&key, &iv, foreign.to_string().as_bytes(), false);
    refused(
        json!({ "encryptedData": foreign, "iv": iv_b64 }),
        "watermark",
    )
    .await;

    // Missing fields are -101; half a signature pair too.
    app.post_with_token("decrypt", &s.token(), json!({ "encryptedData": encrypted }))
        .await
        .expect(-101, 400);
    app.post_with_token(
        "decrypt",
        &s.token(),
        json!({ "encryptedData": encrypted, "iv": iv_b64, "rawData": raw }),
    )
    .await
    .expect(-101, 400);

    // A new wx.login means a new session_key: the old data cannot be opened
    // with the new session (the order the README explains).
    let newer = app.login("secret-keeper-2").await;
    let reply = app
        .post_with_token(
            "decrypt",
            &newer.token(),
            json!({ "encryptedData": encrypted, "iv": iv_b64 }),
        )
        .await;
    assert_eq!(reply.code(), -501);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_token_is_sealed_and_refreshed_ahead_of_expiry() {
    use wxauth::db::schema::wechat_access_tokens as t;
    let app = spawn_app(Backend::Sqlite).await;
    let s = app.login("ahead").await;
    app.post_with_token("phone", &s.token(), json!({ "code": "a1" }))
        .await
        .expect(0, 200);
    let mut conn = app.db.conn();
    let (sealed, expires_at): (Option<String>, i64) = t::table
        .find(APP_ID)
        .select((t::token_sealed, t::expires_at))
        .first(&mut conn)
        .unwrap();
    assert!(
        !sealed.unwrap().contains("mock-access-token"),
        "sealed at rest"
    );
    assert!(expires_at > wxauth::timestamp::now() + 7000);
    // Four minutes left: inside the five-minute margin, so the next call refreshes.
    diesel::update(t::table.find(APP_ID))
        .set(t::expires_at.eq(wxauth::timestamp::now() + 240))
        .execute(&mut conn)
        .unwrap();
    app.post_with_token("phone", &s.token(), json!({ "code": "a2" }))
        .await
        .expect(0, 200);
    assert_eq!(token_fetches(&app.mock).await, 2);
}
