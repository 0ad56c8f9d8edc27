//! `POST refresh`: rotation, the reuse grace, theft detection.

use std::time::Duration;

use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(
    refresh_rotates_the_pair,
    reuse_within_grace_returns_the_same_pair,
    concurrent_refreshes_get_one_pair,
    refresh_refuses_unknown_and_missing_tokens,
    storage_stays_bounded_and_any_old_token_is_reuse,
    forged_refresh_tokens_are_unknown,
    a_session_in_bad_standing_is_not_rotated,
);

async fn refresh_rotates_the_pair(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("rose").await;
    let r = app
        .post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await;
    r.expect(0, 200);
    let d = r.data();
    assert_eq!(d["token_type"], "Bearer");
    assert_eq!(d["expires_in"], 7200);
    assert_eq!(d["user_id"], s.user_id());
    assert_eq!(d["is_new_user"], false);
    assert_ne!(r.token(), s.token());
    assert_ne!(r.refresh_token(), s.refresh_token());
    // Both access tokens live while the session lives.
    assert!(app.is_authorized(&s.token()).await);
    assert!(app.is_authorized(&r.token()).await);
    // The new refresh token works in turn.
    app.post("refresh", json!({ "refresh_token": r.refresh_token() }))
        .await
        .expect(0, 200);
    // Nothing that could be presented is stored, and refreshing adds no rows:
    // the session keeps only its current generation.
    let mut conn = app.db.conn();
    use diesel::prelude::*;
    use wxauth::db::schema::sessions;
    let rows: Vec<(String, i64)> = sessions::table
        .select((sessions::id, sessions::refresh_gen))
        .load(&mut conn)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, 2);
    let dump = format!("{rows:?}");
    assert!(!dump.contains(&s.refresh_token()) && !dump.contains(&r.refresh_token()));
}

async fn storage_stays_bounded_and_any_old_token_is_reuse(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("loop").await;
    let first = s.refresh_token();
    let mut token = first.clone();
    for _ in 0..30 {
        let r = app.post("refresh", json!({ "refresh_token": token })).await;
        r.expect(0, 200);
        token = r.refresh_token();
    }
    assert_eq!(app.db.count("sessions"), 1);
    assert_eq!(app.db.count("audit_events"), 31, "a login and 30 refreshes");
    // The very first token, spent 30 rotations ago, is still known as spent:
    // presenting it revokes the session.
    app.post("refresh", json!({ "refresh_token": first }))
        .await
        .expect(-502, 401);
    app.post("refresh", json!({ "refresh_token": token }))
        .await
        .expect(-502, 401);
}

async fn forged_refresh_tokens_are_unknown(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("forger").await;
    let real = s.refresh_token();
    let (sid, rest) = real.split_once('.').unwrap();
    let (_, mac) = rest.split_once('.').unwrap();
    for forged in [
        format!("{sid}.1.{mac}"),
        format!("{sid}.0.{}", "A".repeat(mac.len())),
        format!("{sid}.0"),
        "not-a-token".to_string(),
        "x".repeat(600),
    ] {
        app.post("refresh", json!({ "refresh_token": forged }))
            .await
            .expect(-500, 401);
    }
    // None of that touched the real one.
    app.post("refresh", json!({ "refresh_token": real }))
        .await
        .expect(0, 200);
}

async fn reuse_within_grace_returns_the_same_pair(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("sam").await;
    let first = app
        .post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await;
    first.expect(0, 200);
    let again = app
        .post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await;
    again.expect(0, 200);
    assert_eq!(
        again.data(),
        first.data(),
        "the pair issued for it, not a new one"
    );
    assert_eq!(app.db.count("sessions"), 1);
}

async fn concurrent_refreshes_get_one_pair(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("tina").await;
    let body = json!({ "refresh_token": s.refresh_token() });
    let (a, b) = tokio::join!(
        app.post("refresh", body.clone()),
        app.post("refresh", body.clone())
    );
    a.expect(0, 200);
    b.expect(0, 200);
    assert_eq!(a.data(), b.data());
    use diesel::prelude::*;
    use wxauth::db::schema::sessions;
    let generation: i64 = sessions::table
        .select(sessions::refresh_gen)
        .first(&mut app.db.conn())
        .unwrap();
    assert_eq!(generation, 1, "one rotation between them");
}

async fn refresh_refuses_unknown_and_missing_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post("refresh", json!({ "refresh_token": "no-such-token" }))
        .await
        .expect(-500, 401);
    app.post("refresh", json!({})).await.expect(-101, 400);
    app.post("refresh", json!({ "refresh_token": 12 }))
        .await
        .expect(-101, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_after_grace_revokes_the_session_sqlite() {
    reuse_after_grace_revokes_the_session(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_after_grace_revokes_the_session_postgres() {
    reuse_after_grace_revokes_the_session(Backend::Postgres).await
}

async fn reuse_after_grace_revokes_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("uma").await;
    let r = app
        .post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await;
    r.expect(0, 200);
    app.clock.advance(Duration::from_secs(11));
    app.post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await
        .expect(-502, 401);
    // The whole session is gone: the thief's and the owner's tokens alike.
    assert!(!app.is_authorized(&r.token()).await);
    assert!(!app.is_authorized(&s.token()).await);
    app.post("refresh", json!({ "refresh_token": r.refresh_token() }))
        .await
        .expect(-502, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_is_rate_limited_per_ip() {
    let app = spawn_app_with(Backend::Sqlite, |o| {
        o.with("rate_limit.refresh_per_minute", 2)
    })
    .await;
    let s = app.login("rl-refresh").await;
    let mut token = s.refresh_token();
    for _ in 0..2 {
        let r = app.post("refresh", json!({ "refresh_token": token })).await;
        r.expect(0, 200);
        token = r.refresh_token();
    }
    let limited = app.post("refresh", json!({ "refresh_token": token })).await;
    limited.expect(-103, 429);
    assert!(limited.headers.contains_key("retry-after"));
    // The refused call spent nothing: the session is still at the generation
    // of the last token handed out.
    use diesel::prelude::*;
    use wxauth::db::schema::sessions;
    let generation: i64 = sessions::table
        .select(sessions::refresh_gen)
        .first(&mut app.db.conn())
        .unwrap();
    assert_eq!(generation, 2);
}

/// The refresh token is the current one, but its session or user is not in
/// good standing: refused, and nothing is written (on PostgreSQL the
/// one-statement rotation must step aside for each of these).
async fn a_session_in_bad_standing_is_not_rotated(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("session_idle_timeout", 100)).await;
    let good = app.login("standing-good").await;
    let idle = app.login("standing-idle").await;
    let banned = app.login("standing-banned").await;
    let revoked = app.login("standing-revoked").await;
    // Use keeps every session but `idle` from going idle.
    app.clock.advance(Duration::from_secs(60));
    for s in [&good, &banned, &revoked] {
        assert!(app.is_authorized(&s.token()).await);
    }
    app.clock.advance(Duration::from_secs(60));
    app.post_with_token("logout", &revoked.token(), json!({}))
        .await
        .expect(0, 200);
    // Banned behind the session's back: the session row stays live.
    app.db.execute(&format!(
        "UPDATE users SET banned_at = 1 WHERE id = {}",
        banned.user_id()
    ));
    let refreshes_before = app.db.count("audit_events WHERE kind = 'refresh'");

    for (s, code, status) in [
        (&idle, -502, 401),
        (&banned, -503, 403),
        (&revoked, -502, 401),
    ] {
        app.post("refresh", json!({ "refresh_token": s.refresh_token() }))
            .await
            .expect(code, status);
    }
    assert_eq!(
        app.db
            .count("sessions WHERE refresh_gen > 0 OR refreshed_at IS NOT NULL"),
        0
    );
    assert_eq!(
        app.db.count("audit_events WHERE kind = 'refresh'"),
        refreshes_before
    );

    // The one in good standing rotates, with its audit event.
    let r = app
        .post("refresh", json!({ "refresh_token": good.refresh_token() }))
        .await;
    r.expect(0, 200);
    assert_eq!(r.data()["user_id"], good.user_id());
    assert!(app.is_authorized(&r.token()).await);
    assert_eq!(
        app.db.count(&format!(
            "audit_events WHERE kind = 'refresh' AND user_id = {} AND session_id IS NOT NULL",
            good.user_id()
        )),
        1
    );
    assert_eq!(app.db.count("sessions WHERE refresh_gen = 1"), 1);
}
