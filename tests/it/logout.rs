//! `POST logout`: local and global, idempotent, and final.

use serde_json::json;

use crate::both_backends;
use crate::common::waiting::eventually;
use crate::common::*;

both_backends!(
    logout_revokes_only_the_current_session,
    global_logout_revokes_every_session_of_the_user,
    logout_is_idempotent,
    logout_refuses_bad_scope_and_bad_tokens,
    ended_sessions_are_purged_in_the_background,
    logouts_logins_and_refreshes_of_one_person_at_once_all_finish,
);

async fn logout_revokes_only_the_current_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = app.login("henry").await;
    let laptop = app.login("henry").await;
    app.post_with_token("logout", &phone.token(), json!({}))
        .await
        .expect(0, 200);
    assert!(!app.is_authorized(&phone.token()).await);
    app.get_with_token("user", &phone.token())
        .await
        .expect(-502, 401);
    app.post("refresh", json!({ "refresh_token": phone.refresh_token() }))
        .await
        .expect(-502, 401);
    assert!(app.is_authorized(&laptop.token()).await);
}

async fn global_logout_revokes_every_session_of_the_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.login("ivy").await;
    let b = app.login("ivy").await;
    let other = app.login("jack").await;
    app.post_with_token("logout", &a.token(), json!({ "scope": "global" }))
        .await
        .expect(0, 200);
    assert!(!app.is_authorized(&a.token()).await);
    assert!(!app.is_authorized(&b.token()).await);
    app.post("refresh", json!({ "refresh_token": b.refresh_token() }))
        .await
        .expect(-502, 401);
    assert!(app.is_authorized(&other.token()).await);
}

async fn logout_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("kate").await;
    // With the original design's `token` header, and an empty body.
    let reply = send(app.http.post(app.api("logout")).header("token", s.token())).await;
    reply.expect(0, 200);
    app.post_with_token("logout", &s.token(), json!({ "scope": "local" }))
        .await
        .expect(0, 200);
    // An expired token of ours still logs out.
    let expired = crate::tokens::sign(json!({
        "sub": s.user_id().to_string(), "sid": "gone", "aud": APP_ID, "iss": "wxauth",
        "iat": 1, "exp": 2, "jti": "x"
    }));
    app.post_with_token("logout", &expired, json!({}))
        .await
        .expect(0, 200);
    assert_eq!(app.db.count("audit_events"), 2, "login + one logout");
}

async fn logout_refuses_bad_scope_and_bad_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("liam").await;
    app.post_with_token("logout", &s.token(), json!({ "scope": "everything" }))
        .await
        .expect(-101, 400);
    assert!(app.is_authorized(&s.token()).await);
    app.post_with_token("logout", "not-a-token", json!({}))
        .await
        .expect(-500, 401);
    let forged = crate::tokens::sign_with(
        "another-secret-another-secret-0000",
        json!({ "sub": s.user_id().to_string(), "sid": "x", "aud": APP_ID, "iss": "wxauth", "iat": 1, "exp": 9999999999i64, "jti": "j" }),
    );
    app.post_with_token("logout", &forged, json!({}))
        .await
        .expect(-500, 401);
    assert!(app.is_authorized(&s.token()).await);
}

async fn ended_sessions_are_purged_in_the_background(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        o.with("session_retention", 0).with("purge_interval", 1)
    })
    .await;
    let gone = app.login("purge-a").await;
    let kept = app.login("purge-b").await;
    app.post_with_token("logout", &gone.token(), json!({}))
        .await
        .expect(0, 200);
    eventually("the revoked session is purged", || {
        app.db.count("sessions") == 1
    })
    .await;
    assert!(app.is_authorized(&kept.token()).await);
    // Ended console sessions go as well; live ones stay.
    let browser = crate::admin_sign_in::signed_in(&app).await;
    let (_, _, html) = browser.get("/admin").await;
    let csrf = crate::admin_sign_in::csrf_in(&html);
    browser
        .post("/admin/logout", &[("csrf_token", &csrf)])
        .await;
    let live = crate::admin_sign_in::Browser::new(&app);
    live.sign_in(
        crate::admin_sign_in::ADMIN,
        crate::admin_sign_in::ADMIN_PASSWORD,
    )
    .await;
    eventually("the signed-out console session is purged", || {
        app.db.count("admin_sessions") == 1
    })
    .await;
    let (status, _, _) = live.get("/admin").await;
    assert_eq!(
        status,
        reqwest::StatusCode::OK,
        "the live console session stays"
    );
    // Purged or not, logout stays idempotent.
    app.post_with_token("logout", &gone.token(), json!({}))
        .await
        .expect(0, 200);
}

/// Every flow that ends several of a person's sessions (a global logout, a
/// login making room under the limit) takes the person's row before her
/// sessions; a local logout and a refresh take their one session. So at the
/// same moment they wait for each other and never deadlock, which
/// PostgreSQL would break by failing one of them. (A global logout that
/// took the sessions before the person failed this in five runs of six.)
async fn logouts_logins_and_refreshes_of_one_person_at_once_all_finish(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("session_limit_per_user", 4)).await;
    for round in 0..40 {
        let sessions: Vec<Reply> =
            futures::future::join_all((0..6).map(|_| app.login("lena"))).await;
        let replies = futures::future::join_all((0..sessions.len() + 8).map(|i| {
            let (app, sessions) = (&app, &sessions);
            async move {
                let Some(s) = sessions.get(i) else {
                    // Logins over the limit, each ending the least recently
                    // used session.
                    return app.post("authorize", json!({ "code": "lena" })).await;
                };
                match i % 3 {
                    0 => app.post_with_token("logout", &s.token(), json!({})).await,
                    1 => {
                        app.post_with_token("logout", &s.token(), json!({ "scope": "global" }))
                            .await
                    }
                    _ => {
                        app.post("refresh", json!({ "refresh_token": s.refresh_token() }))
                            .await
                    }
                }
            }
        }))
        .await;
        for reply in &replies {
            // A refresh whose session a logout (or a login making room)
            // ended first is -502; anything else is done.
            assert!(
                matches!((reply.code(), reply.status), (0, 200) | (-502, 401)),
                "round {round}: {} (HTTP {})",
                reply.text,
                reply.status
            );
        }
    }
}
