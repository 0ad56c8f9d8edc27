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

both_backends!(
    token_travels_in_either_header,
    forged_tokens_are_refused,
    tokens_in_urls_are_ignored,
    tokens_carry_the_claim_set,
);

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

/// SPEC §1.2: tokens never travel in URLs, so one there authenticates nothing.
async fn tokens_in_urls_are_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("url-token").await;
    for parameter in ["token", "access_token"] {
        let status = send(
            app.http
                .get(app.api("status"))
                .query(&[(parameter, s.token())]),
        )
        .await;
        status.expect(0, 200);
        assert_eq!(
            status.data(),
            &json!({ "is_authorized": 0 }),
            "?{parameter}="
        );
        let user = send(
            app.http
                .get(app.api("user"))
                .query(&[(parameter, s.token())]),
        )
        .await;
        user.expect(-500, 401);
    }
    // The same token in a header is good: the URL is what was ignored.
    assert!(app.is_authorized(&s.token()).await);
}

/// SPEC §1.4: `sub`, `sid`, `aud`, `iss`, `iat`, `exp` and `jti`, from the
/// server's clock and configuration.
async fn tokens_carry_the_claim_set(backend: Backend) {
    let app = spawn_app(backend).await;
    // A day ahead of the system's clock: `iat` must come from the server's.
    app.clock.advance(std::time::Duration::from_secs(86400));
    let before = app.clock.now();
    let first = app.login("claims").await;
    let second = app.login("claims").await;
    let after = app.clock.now();
    let claims = claims_of(&first.token());
    let iat = claims["iat"].as_i64().unwrap();
    assert!(
        (before..=after).contains(&iat),
        "iat {iat} not in {before}..={after}"
    );
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 7200);
    assert_eq!(claims["iss"], "wxauth");
    assert_eq!(claims["aud"], APP_ID);
    assert_eq!(claims["sub"], first.user_id().to_string());
    let sid = claims["sid"].as_str().unwrap();
    assert_eq!(
        app.db.count(&format!(
            "sessions WHERE id = '{sid}' AND user_id = {}",
            first.user_id()
        )),
        1,
        "sid names the user's session"
    );
    let jti = claims["jti"].as_str().unwrap();
    assert!(!jti.is_empty());
    assert_ne!(claims_of(&second.token())["jti"].as_str().unwrap(), jti);
    // A refresh's token is another token: a jti of its own.
    let refreshed = app
        .post("refresh", json!({ "refresh_token": first.refresh_token() }))
        .await;
    refreshed.expect(0, 200);
    let refreshed_jti = claims_of(&refreshed.token())["jti"].clone();
    assert!(refreshed_jti != jti && refreshed_jti != claims_of(&second.token())["jti"]);

    // A configured issuer and lifetime are the ones signed, and accepted.
    let app = spawn_app_with(backend, |o| {
        o.with("jwt_issuer", "issuer.example")
            .with("access_token_ttl", 600)
    })
    .await;
    let s = app.login("claims-configured").await;
    let claims = claims_of(&s.token());
    assert_eq!(claims["iss"], "issuer.example");
    assert_eq!(
        claims["exp"].as_i64().unwrap(),
        claims["iat"].as_i64().unwrap() + 600
    );
    assert!(app.is_authorized(&s.token()).await);
}
