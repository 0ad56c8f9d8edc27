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
    nothing_that_could_be_presented_is_stored,
    refresh_is_rate_limited_per_ip,
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
    // Refreshing adds no rows: the session keeps only its current generation.
    let mut conn = app.db.conn();
    use diesel::prelude::*;
    use wxauth::db::schema::sessions;
    let rows: Vec<(String, i64)> = sessions::table
        .select((sessions::id, sessions::refresh_gen))
        .load(&mut conn)
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, 2);
}

/// Nothing a client could present is stored anywhere, in any table: not the
/// refresh tokens nor their MACs, not the access tokens, not the session
/// cookie (SPEC §9: stored hashed), and the session_key never in clear.
async fn nothing_that_could_be_presented_is_stored(backend: Backend) {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    use known_key_wechat::{KnownKeyWechat, KNOWN_SESSION_KEY};
    use stored::{columns_holding, hex, values_of};

    let db = TestDb::new(backend);
    let mock = std::sync::Arc::new(MockWechat::spawn().await);
    let wechat = KnownKeyWechat::spawn().await;
    let options = Options::new(&db, &mock).with("wechat.api_base", wechat.url.clone());
    let app = spawn_with(db, mock, options).await;
    let login = app.login("hoarder").await;
    let cookie = login
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find_map(|c| c.strip_prefix("sessionid="))
        .expect("authorize sets the session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let refreshed = app
        .post("refresh", json!({ "refresh_token": login.refresh_token() }))
        .await;
    refreshed.expect(0, 200);

    let dump = stored::dump(&app.db);
    // The dump sees the session: its id, and its session_key sealed, which
    // opens to the one WeChat gave.
    let session_id = login.refresh_token().split('.').next().unwrap().to_string();
    assert!(
        columns_holding(&dump, &session_id).contains(&"sessions.id".to_string()),
        "the dump reads the sessions"
    );
    let secret: [u8; 32] = STANDARD
        .decode(SESSION_KEY_SECRET)
        .unwrap()
        .try_into()
        .unwrap();
    let sealed = values_of(&dump, "sessions.session_key_sealed");
    assert_eq!(sealed.len(), 1, "one session");
    let opened = wxauth::crypto::Sealer::new(&secret)
        .open("session_key", sealed[0])
        .expect("the session_key is stored sealed");
    assert_eq!(opened, STANDARD.encode(KNOWN_SESSION_KEY).as_bytes());

    let mut never = vec![
        (
            "session_key".to_string(),
            STANDARD.encode(KNOWN_SESSION_KEY),
        ),
        (
            "session_key bytes".into(),
            String::from_utf8(KNOWN_SESSION_KEY.to_vec()).unwrap(),
        ),
        ("session_key in hex".into(), hex(KNOWN_SESSION_KEY)),
        ("session cookie".into(), cookie.clone()),
        (
            "session cookie's secret".into(),
            cookie.split_once('.').unwrap().1.to_string(),
        ),
    ];
    for (name, reply) in [("login", &login), ("refresh", &refreshed)] {
        let token = reply.refresh_token();
        let mac = token.rsplit('.').next().unwrap().to_string();
        let mac_bytes = URL_SAFE_NO_PAD.decode(&mac).unwrap();
        never.extend([
            (format!("{name}'s refresh token"), token.clone()),
            (format!("{name}'s refresh-token MAC"), mac),
            (
                format!("{name}'s refresh-token MAC in hex"),
                hex(&mac_bytes),
            ),
            (
                format!("{name}'s refresh-token MAC in base64"),
                STANDARD.encode(&mac_bytes),
            ),
            (format!("{name}'s access token"), reply.token()),
        ]);
    }
    for (what, value) in never {
        let found = columns_holding(&dump, &value);
        assert!(found.is_empty(), "the {what} is stored in {found:?}");
    }
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

async fn refresh_is_rate_limited_per_ip(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("rate_limit.refresh_per_minute", 2)).await;
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
