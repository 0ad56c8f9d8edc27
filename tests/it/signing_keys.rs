//! Tokens verifiable offline (SPEC §8): EdDSA tokens, the JWK Set, and key
//! rotation that logs nobody out.

use std::sync::Arc;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::*;

/// Test keys made with `openssl genpkey -algorithm ed25519`, and their public
/// halves by `openssl pkey -pubout`.
const KEY_1: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIHrs5Vgp6QlZQm2E/yzsMn879rIwapRHBK9HidHpCtAt
-----END PRIVATE KEY-----
";
const PUBLIC_1: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAIdITW519DGdbRTlrF+fvWjNU3FvX3t1010E+2ODw6NE=
-----END PUBLIC KEY-----
";
const KEY_2: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIECzLN/IArBw32lJlGY5ilHQqGg/VFvXkZGM4xCA+dUc
-----END PRIVATE KEY-----
";

both_backends!(
    eddsa_tokens_verify_offline_with_the_published_keys,
    rotating_keys_logs_nobody_out,
);

async fn jwks(app: &TestApp) -> Value {
    let reply = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(reply.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    reply.json().await.unwrap()
}

/// What a backend service does with a standard JWT library: pick the JWK by
/// the token's kid, verify signature, issuer and expiry.
fn verify_offline(token: &str, set: &Value) -> Result<Value, String> {
    let kid = decode_header(token)
        .map_err(|e| e.to_string())?
        .kid
        .ok_or("no kid")?;
    let jwk = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("kid not in the set")?;
    let key = DecodingKey::from_ed_components(jwk["x"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["wxauth"]);
    validation.set_audience(&[APP_ID]);
    decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

async fn eddsa_tokens_verify_offline_with_the_published_keys(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        o.with("jwt_algorithm", "EdDSA")
            .with("jwt_private_key", KEY_1)
    })
    .await;
    let s = app.login("olga").await;
    let token = s.token();
    let header = decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);

    let set = jwks(&app).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{set}");
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["kid"], header.kid.unwrap().as_str());

    let claims = verify_offline(&token, &set).expect("verifies offline");
    assert_eq!(claims["sub"], s.user_id().to_string());
    assert!(app.is_authorized(&token).await);
    // A refreshed token too; a forged one does not.
    let r = app
        .post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await;
    r.expect(0, 200);
    assert!(verify_offline(&r.token(), &set).is_ok());
    let mut parts: Vec<&str> = token.split('.').collect();
    let other = app.login("pavel").await.token();
    parts[1] = other.split('.').nth(1).unwrap();
    assert!(verify_offline(&parts.join("."), &set).is_err());

    // The default (HS256, a shared secret) publishes no key.
    let plain = spawn_app(backend).await;
    assert_eq!(jwks(&plain).await, json!({ "keys": [] }));
    let hs = decode_header(&plain.login("quinn").await.token()).unwrap();
    assert_eq!(hs.alg, Algorithm::HS256);
    assert!(hs.kid.is_some());
}

async fn rotating_keys_logs_nobody_out(backend: Backend) {
    let db = TestDb::new(backend);
    let mock = Arc::new(MockWechat::spawn().await);

    // Day 1: HS256 under JWT_SECRET.
    let day1 = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    let s1 = day1.login("rita").await;
    let hs_kid = decode_header(&s1.token()).unwrap().kid.unwrap();
    drop(day1);

    // Day 2: EdDSA under KEY_1, the old secret kept for verification.
    let day2 = spawn_with(
        db.clone(),
        mock.clone(),
        Options::new(&db, &mock)
            .with("jwt_algorithm", "EdDSA")
            .with("jwt_private_key", KEY_1)
            .with("jwt_key_id", "ed-1")
            .with(
                "jwt_previous_keys",
                json!([{ "kid": hs_kid, "secret": JWT_SECRET }]),
            ),
    )
    .await;
    assert!(day2.is_authorized(&s1.token()).await, "day 1's token");
    day2.get_with_token("user", &s1.token())
        .await
        .expect(0, 200);
    let s2 = day2.login("sven").await;
    assert_eq!(
        decode_header(&s2.token()).unwrap().kid.as_deref(),
        Some("ed-1")
    );
    // Day 1's session refreshes into a day-2 token.
    let r1 = day2
        .post("refresh", json!({ "refresh_token": s1.refresh_token() }))
        .await;
    r1.expect(0, 200);
    assert_eq!(decode_header(&r1.token()).unwrap().alg, Algorithm::EdDSA);
    drop(day2);

    // Day 3: KEY_2; KEY_1's public half still accepted and still published.
    let day3 = spawn_with(
        db.clone(),
        mock.clone(),
        Options::new(&db, &mock)
            .with("jwt_algorithm", "EdDSA")
            .with("jwt_private_key", KEY_2)
            .with("jwt_key_id", "ed-2")
            .with(
                "jwt_previous_keys",
                json!([{ "kid": "ed-1", "public_key": PUBLIC_1 }]),
            ),
    )
    .await;
    assert!(day3.is_authorized(&s2.token()).await, "day 2's token");
    let set = jwks(&day3).await;
    let kids: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["ed-2", "ed-1"]);
    assert!(verify_offline(&s2.token(), &set).is_ok());
    // The HS256 secret is gone from the list: day 1's token is refused.
    let refused = day3.get_with_token("user", &s1.token()).await;
    refused.expect(-500, 401);
    assert!(refused.body["message"]
        .as_str()
        .unwrap()
        .contains("key is not known"));
    drop(day3);

    // Without the previous key, day 2's tokens end: the list is what keeps them.
    let bare = spawn_with(
        db.clone(),
        mock.clone(),
        Options::new(&db, &mock)
            .with("jwt_algorithm", "EdDSA")
            .with("jwt_private_key", KEY_2),
    )
    .await;
    assert!(!bare.is_authorized(&s2.token()).await);
}

#[tokio::test]
async fn bad_key_settings_are_one_clear_error() {
    let db = TestDb::new(Backend::Sqlite);
    let mock = MockWechat::spawn().await;
    let refuse = |o: Options| {
        let figment = o.figment;
        match wxauth::rocket(figment) {
            Ok(_) => panic!("must refuse"),
            Err(e) => e.to_string(),
        }
    };
    let base = || Options::new(&db, &mock);
    let e = refuse(base().with("jwt_algorithm", "RS256"));
    assert!(e.contains("jwt_algorithm"), "{e}");
    let e = refuse(base().with("jwt_algorithm", "EdDSA").with(
        "jwt_private_key",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    ));
    assert!(e.contains("not an Ed25519 private key"), "{e}");
    let e = refuse(
        base()
            .with("jwt_algorithm", "EdDSA")
            .with("jwt_private_key", "/nonexistent/jwt.pem"),
    );
    assert!(e.contains("cannot read the file"), "{e}");
    let e = refuse(base().with(
        "jwt_previous_keys",
        json!([{ "kid": "k", "secret": "short" }]),
    ));
    assert!(e.contains("shorter than 32 bytes"), "{e}");
    let e = refuse(base().with(
        "jwt_previous_keys",
        json!([{ "kid": "k", "public_key": "nope" }]),
    ));
    assert!(e.contains("public_key"), "{e}");
    // A key file works as well as the PEM itself.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwt.pem");
    std::fs::write(&path, KEY_1).unwrap();
    let built = wxauth::rocket(
        base()
            .with("jwt_algorithm", "EdDSA")
            .with("jwt_private_key", path.to_str().unwrap())
            .figment,
    );
    assert!(built.is_ok());
}
