//! `POST authorize`: login, users, sessions, code de-duplication, profiles.

use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(
    login_creates_user_then_finds_it_again,
    each_login_opens_its_own_session,
    concurrent_first_logins_create_one_user,
    same_code_twice_at_once_asks_wechat_once,
    app_id_selects_the_mini_program,
    placeholder_profile_never_overwrites_real_values,
    unionid_is_stored,
    bad_input_is_refused_and_changes_nothing,
    authorize_is_rate_limited_per_ip,
    a_refused_login_of_a_banned_user_changes_nothing,
    a_first_login_stores_the_user_the_session_and_its_event,
    refresh_tokens_carry_a_server_mac_that_cannot_be_guessed,
);

/// A refresh token is `<session>.<generation>.<MAC>` (src/auth/refresh_token.rs):
/// only the MAC is secret, so it must be long, made with the server's key,
/// and checked whole.
async fn refresh_tokens_carry_a_server_mac_that_cannot_be_guessed(backend: Backend) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let app = spawn_app(backend).await;
    let first = app.login("mac-owner").await.refresh_token();
    let second = app.login("mac-owner").await.refresh_token();
    let parts = |token: &str| -> (String, String, String) {
        let v: Vec<&str> = token.split('.').collect();
        assert_eq!(v.len(), 3, "{token}");
        (v[0].into(), v[1].into(), v[2].into())
    };
    let (sid, generation, mac) = parts(&first);
    let (other_sid, _, other_mac) = parts(&second);
    assert_ne!(first, second);
    assert_ne!(mac, other_mac, "each session its own MAC");
    let secret = URL_SAFE_NO_PAD.decode(&mac).unwrap();
    assert!(secret.len() >= 16, "{} bytes of MAC", secret.len());

    let refused = |token: String| {
        let app = &app;
        async move {
            let reply = app
                .post("refresh", json!({ "refresh_token": token.clone() }))
                .await;
            assert_eq!(
                (reply.code(), reply.status),
                (-500, 401),
                "{token} was taken: {}",
                reply.text
            );
        }
    };
    // One character of the MAC changed, at every place.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for at in 0..mac.len() {
        let was = mac.as_bytes()[at] as char;
        let by = alphabet.chars().find(|c| *c != was).unwrap();
        let mut changed = mac.clone();
        changed.replace_range(at..at + 1, &by.to_string());
        refused(format!("{sid}.{generation}.{changed}")).await;
    }
    // Half the MAC; another session's MAC; a MAC under another key.
    refused(format!("{sid}.{generation}.{}", &mac[..mac.len() / 2])).await;
    refused(format!("{sid}.{generation}.{other_mac}")).await;
    refused(format!("{other_sid}.0.{mac}")).await;
    let foreign =
        wxauth::auth::refresh_token::RefreshTokens::new(b"some other server's secret key!!");
    refused(foreign.token(&sid, 0)).await;
    // None of that spent the real tokens.
    for token in [first, second] {
        app.post("refresh", json!({ "refresh_token": token }))
            .await
            .expect(0, 200);
    }
}

/// A new user's login is one statement on PostgreSQL and the general flow on
/// SQLite: both store the same rows.
async fn a_first_login_stores_the_user_the_session_and_its_event(backend: Backend) {
    use diesel::prelude::*;
    use wxauth::db::schema::{audit_events, identities, sessions, users};
    let app = spawn_app(backend).await;
    let first = app
        .post(
            "authorize",
            json!({ "code": "fresh", "nickName": "Fresh", "gender": 2, "city": "Hangzhou",
                    "avatarUrl": "https://example.com/a.png", "language": "zh_CN",
                    "province": "Zhejiang", "country": "China" }),
        )
        .await;
    first.expect(0, 200);
    assert_eq!(first.data()["is_new_user"], true);
    let again = app.login("fresh").await;
    assert_eq!(again.data()["is_new_user"], false);
    let mut conn = app.db.conn();
    let user: (
        String,
        Option<String>,
        Option<i32>,
        Option<String>,
        i64,
        Option<i64>,
    ) = users::table
        .inner_join(identities::table)
        .filter(users::id.eq(first.user_id()))
        .select((
            identities::openid,
            users::nickname,
            users::gender,
            users::city,
            users::created_at,
            users::last_login_at,
        ))
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(user.0, wxauth::wechat::mock::openid_for(APP_ID, "fresh"));
    assert_eq!(user.1.as_deref(), Some("Fresh"));
    assert_eq!(user.2, Some(2));
    assert_eq!(user.3.as_deref(), Some("Hangzhou"));
    assert!(user.5 >= Some(user.4));
    // Every profile column in its place (SQLite's insert binds them by hand).
    let profile: [Option<String>; 5] = users::table
        .inner_join(identities::table)
        .filter(users::id.eq(first.user_id()))
        .select((
            identities::unionid,
            users::avatar_url,
            users::language,
            users::province,
            users::country,
        ))
        .get_result::<(_, _, _, _, _)>(&mut conn)
        .map(|(a, b, c, d, e)| [a, b, c, d, e])
        .unwrap();
    assert_eq!(
        profile,
        [
            Some(wxauth::wechat::mock::unionid_for("fresh")),
            Some("https://example.com/a.png".into()),
            Some("zh_CN".into()),
            Some("Zhejiang".into()),
            Some("China".into()),
        ]
    );
    /// user, appid, created, last seen, expires, ip, refresh generation
    type SessionRow = (i64, String, i64, i64, i64, Option<String>, i64);
    let stored: Vec<SessionRow> = sessions::table
        .order(sessions::created_at)
        .select((
            sessions::user_id,
            sessions::appid,
            sessions::created_at,
            sessions::last_seen_at,
            sessions::expires_at,
            sessions::ip,
            sessions::refresh_gen,
        ))
        .load(&mut conn)
        .unwrap();
    assert_eq!(stored.len(), 2);
    for s in &stored {
        assert_eq!(s.0, first.user_id());
        assert_eq!(s.1, APP_ID);
        assert_eq!(s.2, s.3, "last seen at the start");
        assert!(s.4 > s.2, "expires after it starts");
        assert_eq!(s.5.as_deref(), Some("127.0.0.1"));
        assert_eq!(s.6, 0);
    }
    let events: Vec<(String, Option<i64>, Option<String>)> = audit_events::table
        .order(audit_events::id)
        .select((
            audit_events::kind,
            audit_events::user_id,
            audit_events::detail,
        ))
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        events,
        vec![
            (
                "login".into(),
                Some(first.user_id()),
                Some("new_user".into())
            ),
            (
                "login".into(),
                Some(first.user_id()),
                Some("returning_user".into())
            ),
        ]
    );
    // The token of the first login works and names its session.
    assert!(app.is_authorized(&first.token()).await);
}

async fn a_refused_login_of_a_banned_user_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app
        .post(
            "authorize",
            json!({ "code": "banned-pro", "nickName": "Real" }),
        )
        .await;
    first.expect(0, 200);
    app.db.execute(&format!(
        "UPDATE users SET banned_at = 1, ban_reason = 'spam' WHERE id = {}",
        first.user_id()
    ));
    let sessions = app.db.count("sessions");
    app.post(
        "authorize",
        json!({ "code": "banned-pro", "nickName": "Evil", "avatarUrl": "https://evil.example/pixel.gif" }),
    )
    .await
    .expect(-503, 403);
    assert_eq!(app.db.count("sessions"), sessions, "no session");
    use diesel::prelude::*;
    use wxauth::db::schema::users;
    let (nickname, avatar): (Option<String>, Option<String>) = users::table
        .find(first.user_id())
        .select((users::nickname, users::avatar_url))
        .get_result(&mut app.db.conn())
        .unwrap();
    assert_eq!(nickname.as_deref(), Some("Real"));
    assert_eq!(avatar, None, "no tracking pixel for the console");
}

async fn login_creates_user_then_finds_it_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.login("alice").await;
    let data = first.data();
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["expires_in"], 7200);
    assert_eq!(data["is_new_user"], true);
    assert!(data["user_id"].is_i64());
    let second = app.login("alice").await;
    assert_eq!(second.data()["is_new_user"], false);
    assert_eq!(second.user_id(), first.user_id());
    let bob = app.login("bob").await;
    assert_ne!(bob.user_id(), first.user_id());
    assert_eq!(app.db.count("users"), 2);
}

async fn each_login_opens_its_own_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.login("carol").await;
    let b = app.login("carol").await;
    assert_ne!(a.token(), b.token());
    assert_eq!(app.db.count("sessions"), 2);
    assert!(app.is_authorized(&a.token()).await);
    assert!(app.is_authorized(&b.token()).await);
    // Only a login event per session, and the session key never stored in clear.
    assert_eq!(app.db.count("audit_events"), 2);
}

async fn concurrent_first_logins_create_one_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let replies = futures::future::join_all(
        (0..16).map(|_| app.post("authorize", json!({ "code": "crowd" }))),
    )
    .await;
    let mut new_users = 0;
    let user_id = replies[0].user_id();
    for reply in &replies {
        reply.expect(0, 200);
        assert_eq!(reply.user_id(), user_id);
        if reply.data()["is_new_user"] == true {
            new_users += 1;
        }
    }
    assert_eq!(new_users, 1);
    assert_eq!(app.db.count("users"), 1);
    assert_eq!(app.db.count("sessions"), 16);
}

async fn same_code_twice_at_once_asks_wechat_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = tokio::join!(
        app.post("authorize", json!({ "code": "twice" })),
        app.post("authorize", json!({ "code": "twice" })),
    );
    a.expect(0, 200);
    b.expect(0, 200);
    assert_eq!(a.user_id(), b.user_id());
    assert_ne!(a.token(), b.token(), "each request gets its own session");
    assert_eq!(app.mock.calls("twice").await, 1);
    // A retry a moment later shares the same exchange too.
    app.login("twice").await;
    assert_eq!(app.mock.calls("twice").await, 1);
}

async fn app_id_selects_the_mini_program(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.two_apps()).await;
    app.post("authorize", json!({ "code": "dave" }))
        .await
        .expect(-101, 400);
    // Without a unionid the same code text in two apps is two people: the
    // mock's openids are per app.
    let a = app
        .post(
            "authorize",
            json!({ "code": "nounion-dave", "appId": APP_ID }),
        )
        .await;
    a.expect(0, 200);
    let b = app
        .post(
            "authorize",
            json!({ "code": "nounion-dave", "appId": OTHER_APP_ID }),
        )
        .await;
    b.expect(0, 200);
    assert_ne!(a.user_id(), b.user_id(), "openids are per app");
    let a_token = a.token();
    let b_token = b.token();
    let a_claims = app.status(&a_token).await;
    assert_eq!(a_claims["user_id"], a.user_id());
    assert!(app.is_authorized(&b_token).await);
    let unknown = app
        .post(
            "authorize",
            json!({ "code": "dave2", "appId": "wxnosuchapp" }),
        )
        .await;
    unknown.expect(-501, 400);
    assert_eq!(app.mock.calls("dave2").await, 0, "nothing sent to WeChat");
}

async fn placeholder_profile_never_overwrites_real_values(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app
        .post(
            "authorize",
            json!({ "code": "erin", "nickName": "Erin", "avatarUrl": "https://img.example.com/e.png", "gender": 2, "city": "Hangzhou" }),
        )
        .await;
    first.expect(0, 200);
    app.post(
        "authorize",
        json!({ "code": "erin", "nickName": "微信用户", "avatarUrl": "", "gender": 0, "city": "", "language": "zh_CN" }),
    )
    .await
    .expect(0, 200);
    let token = app.login("erin").await.token();
    let profile = app.get_with_token("user", &token).await;
    profile.expect(0, 200);
    let p = profile.data();
    assert_eq!(p["nickname"], "Erin");
    assert_eq!(p["avatar_url"], "https://img.example.com/e.png");
    assert_eq!(p["gender"], 2);
    assert_eq!(p["city"], "Hangzhou");
    assert_eq!(p["language"], "zh_CN");
    // A real new nickname (snake_case alias) does replace it.
    app.post(
        "authorize",
        json!({ "code": "erin", "nick_name": "Erin Z" }),
    )
    .await
    .expect(0, 200);
    let p = app.get_with_token("user", &token).await;
    assert_eq!(p.data()["nickname"], "Erin Z");
}

async fn unionid_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login("frank").await;
    app.login("nounion-gina").await;
    let mut conn = app.db.conn();
    use diesel::prelude::*;
    use wxauth::db::schema::identities;
    let unionids: Vec<Option<String>> = identities::table
        .order(identities::id)
        .select(identities::unionid)
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        unionids,
        vec![Some(wxauth::wechat::mock::unionid_for("frank")), None]
    );
}

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let long_code = "x".repeat(10_000);
    for body in [
        json!({}),
        json!({ "code": "" }),
        json!({ "code": long_code }),
        json!({ "code": "with space" }),
        json!({ "code": "ok", "gender": 7 }),
        json!({ "code": "ok", "avatarUrl": "javascript:alert(1)" }),
        json!({ "code": "ok", "nickName": "n".repeat(65) }),
    ] {
        app.post("authorize", body).await.expect(-101, 400);
    }
    for body in [
        json!({ "code": 42 }),
        json!([1, 2]),
        json!("code"),
        json!({ "code": "ok", "city": 5 }),
    ] {
        app.post("authorize", body).await.expect(-101, 422);
    }
    assert_eq!(app.mock.total_calls().await, 0);
    assert_eq!(app.db.count("users"), 0);
    assert_eq!(app.db.count("sessions"), 0);
}

async fn authorize_is_rate_limited_per_ip(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("rate_limit.authorize_per_minute", 3)).await;
    for i in 0..3 {
        app.login(&format!("rl{i}")).await;
    }
    let limited = app.post("authorize", json!({ "code": "rl9" })).await;
    limited.expect(-103, 429);
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(app.mock.calls("rl9").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_reused_after_the_window_goes_to_wechat_again() {
    let app = spawn_app(Backend::Sqlite).await;
    app.login("later").await;
    app.clock.advance(std::time::Duration::from_secs(11));
    app.login("later").await;
    assert_eq!(app.mock.calls("later").await, 2);
}
