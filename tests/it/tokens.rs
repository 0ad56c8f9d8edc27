//! Access tokens: transport, and forgeries of every kind refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

pub fn sign_with(secret: &str, claims: Value) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn sign(claims: Value) -> String {
    sign_with(JWT_SECRET, claims)
}

pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

both_backends!(token_travels_in_either_header, forged_tokens_are_refused);

async fn token_travels_in_either_header(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("mia").await;
    let status = app.status(&s.token()).await;
    assert_eq!(status["is_authorized"], 1);
    assert_eq!(status["user_id"], s.user_id());
    let exp = claims_of(&s.token())["exp"].as_i64().unwrap();
    assert_eq!(status["expires_at"], wxauth::timestamp::rfc3339(exp));
    let via_token_header = send(app.http.get(app.api("user")).header("token", s.token())).await;
    via_token_header.expect(0, 200);
    // Without a token, status still answers 200 / 0.
    let anonymous = send(app.http.get(app.api("status"))).await;
    anonymous.expect(0, 200);
    assert_eq!(anonymous.data(), &json!({ "is_authorized": 0 }));
}

async fn forged_tokens_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    let alice = app
        .post("authorize", json!({ "code": "nina", "appId": APP_ID }))
        .await;
    let bob = app
        .post("authorize", json!({ "code": "oscar", "appId": APP_ID }))
        .await;
    let real = claims_of(&alice.token());
    let bob_claims = claims_of(&bob.token());

    let mut forgeries: Vec<(&str, String, i64)> = Vec::new();
    // alg none, no signature.
    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&real)
    );
    forgeries.push(("alg none", none, -500));
    // alg HS512 with the right key: the algorithm is pinned.
    let hs512 = encode(
        &Header::new(jsonwebtoken::Algorithm::HS512),
        &real,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    forgeries.push(("alg HS512", hs512, -500));
    forgeries.push((
        "wrong key",
        sign_with("wrong-key-wrong-key-wrong-key-123", real.clone()),
        -500,
    ));
    // Tampered claims under the original signature.
    let mut parts: Vec<String> = alice.token().split('.').map(String::from).collect();
    let mut tampered = real.clone();
    tampered["sub"] = json!(bob.user_id().to_string());
    parts[1] = b64(&tampered);
    forgeries.push(("tampered", parts.join("."), -500));
    // Signed right, but for the other app.
    let mut other_aud = real.clone();
    other_aud["aud"] = json!(OTHER_APP_ID);
    forgeries.push(("other aud", sign(other_aud), -500));
    let mut wrong_iss = real.clone();
    wrong_iss["iss"] = json!("someone-else");
    forgeries.push(("wrong iss", sign(wrong_iss), -500));
    // Alice's subject with Bob's session.
    let mut stolen_sid = real.clone();
    stolen_sid["sid"] = bob_claims["sid"].clone();
    forgeries.push(("another user's sid", sign(stolen_sid), -500));
    let mut expired = real.clone();
    expired["exp"] = json!(wxauth::timestamp::now() - 1);
    forgeries.push(("expired", sign(expired), -502));
    forgeries.push(("garbage", "abc.def.ghi".into(), -500));

    for (what, token, code) in forgeries {
        let reply = app.get_with_token("user", &token).await;
        assert_eq!(reply.code(), code, "{what}: {}", reply.text);
        assert!(!app.is_authorized(&token).await, "{what} authorized");
    }
    assert!(app.is_authorized(&alice.token()).await);
}
