//! Session lifetimes: absolute expiry, idle timeout, access-token expiry.

use std::time::Duration;

use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(
    session_expires_at_its_absolute_lifetime,
    idle_sessions_expire_and_active_ones_live
);

async fn session_expires_at_its_absolute_lifetime(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("session_ttl", 2)).await;
    let s = app.login("vera").await;
    assert!(app.is_authorized(&s.token()).await);
    app.clock.advance(Duration::from_secs(3));
    app.get_with_token("user", &s.token())
        .await
        .expect(-502, 401);
    assert!(!app.is_authorized(&s.token()).await);
    app.post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await
        .expect(-502, 401);
}

async fn idle_sessions_expire_and_active_ones_live(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("session_idle_timeout", 4)).await;
    let active = app.login("walt").await;
    let idle = app.login("xena").await;
    // Activity every 2 s keeps a session alive past its idle timeout.
    for _ in 0..4 {
        app.clock.advance(Duration::from_secs(2));
        assert!(app.is_authorized(&active.token()).await);
    }
    app.get_with_token("user", &idle.token())
        .await
        .expect(-502, 401);
    app.post("refresh", json!({ "refresh_token": idle.refresh_token() }))
        .await
        .expect(-502, 401);
    // A refresh counts as activity as well.
    app.post(
        "refresh",
        json!({ "refresh_token": active.refresh_token() }),
    )
    .await
    .expect(0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_expire_without_leeway() {
    let app = spawn_app_with(Backend::Sqlite, |o| o.with("access_token_ttl", 1)).await;
    let s = app.login("yara").await;
    assert_eq!(s.data()["expires_in"], 1);
    app.clock.advance(Duration::from_secs(2));
    app.get_with_token("user", &s.token())
        .await
        .expect(-502, 401);
    // The session lives on: a refresh gives a fresh access token.
    let r = app
        .post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await;
    r.expect(0, 200);
    assert!(app.is_authorized(&r.token()).await);
}

both_backends!(a_login_beyond_the_session_limit_ends_the_least_recently_used);

async fn a_login_beyond_the_session_limit_ends_the_least_recently_used(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("session_limit_per_user", 3)).await;
    let logins = [
        app.login("limited").await,
        app.login("limited").await,
        app.login("limited").await,
    ];
    let sid = |r: &Reply| {
        crate::tokens::claims_of(&r.token())["sid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // The second login is the least recently used; the first was seen lately.
    let now = wxauth::timestamp::now();
    for (login, ago) in logins.iter().zip([10, 100, 50]) {
        app.db.execute(&format!(
            "UPDATE sessions SET last_seen_at = {} WHERE id = '{}'",
            now - ago,
            sid(login)
        ));
    }
    let fourth = app.login("limited").await;
    assert!(
        !app.is_authorized(&logins[1].token()).await,
        "the LRU one ended"
    );
    for kept in [&logins[0], &logins[2], &fourth] {
        assert!(app.is_authorized(&kept.token()).await);
    }
    app.get_with_token("user", &logins[1].token())
        .await
        .expect(-502, 401);
    // Said in the audit log, and counted per user: another user is unaffected.
    let other = app.login("someone-else").await;
    assert!(app.is_authorized(&other.token()).await);
    let browser = crate::admin_sign_in::signed_in(&app).await;
    let (_, _, html) = browser
        .get(&format!("/admin/users/{}", fourth.user_id()))
        .await;
    assert!(html.contains("ended for a newer login"), "{html}");
}
