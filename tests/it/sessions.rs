//! Session lifetimes: absolute expiry, idle timeout, access-token expiry.

use std::time::Duration;

use serde_json::json;

use crate::both_backends;
use crate::common::waiting::eventually;
use crate::common::*;

both_backends!(
    session_expires_at_its_absolute_lifetime,
    idle_sessions_expire_and_active_ones_live,
    last_seen_is_written_once_a_window_and_by_every_refresh,
    old_audit_events_are_purged_in_the_background,
    access_tokens_expire_without_leeway,
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

async fn access_tokens_expire_without_leeway(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("access_token_ttl", 1)).await;
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

both_backends!(
    a_login_beyond_the_session_limit_ends_the_least_recently_used,
    the_session_limit_spans_a_persons_apps,
);

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

/// One person's sessions in two apps share the limit; the session a login
/// in the second app ends is told (`session.ended`) as of its own app.
async fn the_session_limit_spans_a_persons_apps(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        o.two_apps().with("session_limit_per_user", 2).with(
            "webhooks",
            // Nobody listens: the outbox row is what this test reads.
            json!([{ "url": "http://127.0.0.1:9/hook", "secret": "s3cret-s3cret-s3cret",
                     "events": ["session.ended"] }]),
        )
    })
    .await;
    let login = |appid: &'static str| {
        let app = &app;
        async move {
            let reply = app
                .post("authorize", json!({ "code": "ann", "appId": appid }))
                .await;
            reply.expect(0, 200);
            reply
        }
    };
    let first = login(APP_ID).await;
    let second = login(OTHER_APP_ID).await;
    assert_eq!(first.user_id(), second.user_id(), "one person by unionid");
    // The first app's session is the least recently used.
    let sid = |r: &Reply| {
        crate::tokens::claims_of(&r.token())["sid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    app.db.execute(&format!(
        "UPDATE sessions SET last_seen_at = last_seen_at - 100 WHERE id = '{}'",
        sid(&first)
    ));
    let third = login(OTHER_APP_ID).await;
    assert!(!app.is_authorized(&first.token()).await);
    assert!(app.is_authorized(&second.token()).await);
    assert!(app.is_authorized(&third.token()).await);
    let rows = wxauth::db::webhook_outbox::recent(&mut app.db.conn(), false, 10).unwrap();
    let ended: Vec<serde_json::Value> = rows
        .iter()
        .filter(|r| r.event_type == "session.ended")
        .map(|r| serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["data"].clone())
        .collect();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["session_id"], sid(&first).as_str());
    assert_eq!(ended[0]["appid"], APP_ID, "the ended session's own app");
    assert_eq!(ended[0]["reason"], "session_limit");
}

/// The session's last-seen column, as stored.
fn last_seen(app: &TestApp, login: &Reply) -> i64 {
    let sid = crate::tokens::claims_of(&login.token())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    app.db.number(&format!(
        "SELECT last_seen_at AS n FROM sessions WHERE id = '{sid}'"
    ))
}

/// Logs in, and checks that status writes last-seen only once `window`
/// seconds have passed. The steps leave ten seconds of slack for the real
/// clock ticking meanwhile.
async fn status_writes_last_seen_once_in(app: &TestApp, window: u64) -> Reply {
    let s = app.login(&format!("seen-{window}")).await;
    let opened = last_seen(app, &s);
    app.clock.advance(Duration::from_secs(window - 10));
    assert!(app.is_authorized(&s.token()).await);
    assert_eq!(last_seen(app, &s), opened, "written within {window} s");
    app.clock.advance(Duration::from_secs(11));
    let before = app.clock.now();
    assert!(app.is_authorized(&s.token()).await);
    let touched = last_seen(app, &s);
    assert!(
        (before..=app.clock.now()).contains(&touched),
        "{window} s on, status writes it: {touched} after {opened}"
    );
    s
}

/// SPEC §1.3: last-seen is written at most once a minute, or once per tenth
/// of the idle timeout when that is shorter; `refresh` always writes it.
async fn last_seen_is_written_once_a_window_and_by_every_refresh(backend: Backend) {
    // The default idle timeout (7 days): a one-minute window.
    let app = spawn_app(backend).await;
    let s = status_writes_last_seen_once_in(&app, 60).await;
    // A refresh writes it however recent it is.
    app.clock.advance(Duration::from_secs(5));
    let before = app.clock.now();
    app.post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await
        .expect(0, 200);
    let refreshed = last_seen(&app, &s);
    assert!(
        (before..=app.clock.now()).contains(&refreshed),
        "refresh writes it, 5 s after status did: {refreshed}"
    );

    // An idle timeout of 300 s: a 30-second window.
    let app = spawn_app_with(backend, |o| o.with("session_idle_timeout", 300)).await;
    status_writes_last_seen_once_in(&app, 30).await;
}

/// Audit events older than `audit_retention` go in the background purge;
/// newer ones stay.
async fn old_audit_events_are_purged_in_the_background(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        o.with("audit_retention", 1500).with("purge_interval", 1)
    })
    .await;
    let events_of = |login: &Reply| {
        app.db
            .count(&format!("audit_events WHERE user_id = {}", login.user_id()))
    };
    let old = app.login("audit-old").await;
    app.clock.advance(Duration::from_secs(1000));
    let recent = app.login("audit-recent").await;
    assert_eq!(
        (events_of(&old), events_of(&recent)),
        (1, 1),
        "one login event each, none old yet"
    );
    // Now the first is 2000 s old, the second 1000 s.
    app.clock.advance(Duration::from_secs(1000));
    eventually("the old login's audit event is purged", || {
        events_of(&old) == 0
    })
    .await;
    // The run that purged it kept the other, which existed already.
    assert_eq!(events_of(&recent), 1);
}
