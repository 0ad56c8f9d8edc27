//! `GET user` / `POST user`: the caller's profile.

use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(profile_reads_and_updates, banned_user_is_refused_everywhere);

async fn profile_reads_and_updates(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("paul").await;
    let before = app.get_with_token("user", &s.token()).await;
    before.expect(0, 200);
    let p = before.data();
    assert_eq!(p["user_id"], s.user_id());
    assert_eq!(p["nickname"], serde_json::Value::Null);
    assert_eq!(p["phone"], serde_json::Value::Null);
    assert!(p["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(p["last_login_at"].as_str().unwrap().ends_with('Z'));
    assert!(p.get("openid").is_none() && p.get("session_key").is_none());

    let updated = app
        .post_with_token(
            "user",
            &s.token(),
            json!({ "nickName": "Paul", "avatar_url": "https://img.example.com/p.png", "gender": "1", "country": "China" }),
        )
        .await;
    updated.expect(0, 200);
    assert_eq!(updated.data()["nickname"], "Paul");
    assert_eq!(
        updated.data()["avatar_url"],
        "https://img.example.com/p.png"
    );
    assert_eq!(updated.data()["gender"], 1);
    assert_eq!(updated.data()["country"], "China");
    let again = app.get_with_token("user", &s.token()).await;
    assert_eq!(again.data()["nickname"], "Paul");

    app.post_with_token("user", &s.token(), json!({ "gender": 5 }))
        .await
        .expect(-101, 400);
    app.post_with_token("user", &s.token(), json!({ "nickName": ["x"] }))
        .await
        .expect(-101, 422);
    let unchanged = app.get_with_token("user", &s.token()).await;
    assert_eq!(unchanged.data()["gender"], 1);
}

async fn banned_user_is_refused_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("quinn").await;
    app.db.execute(&format!(
        "UPDATE users SET banned_at = 1, ban_reason = 'test' WHERE id = {}",
        s.user_id()
    ));
    app.get_with_token("user", &s.token())
        .await
        .expect(-503, 403);
    assert!(!app.is_authorized(&s.token()).await);
    app.post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await
        .expect(-503, 403);
    let sessions_before = app.db.count("sessions");
    app.post("authorize", json!({ "code": "quinn" }))
        .await
        .expect(-503, 403);
    assert_eq!(
        app.db.count("sessions"),
        sessions_before,
        "no session for a banned user"
    );
}
