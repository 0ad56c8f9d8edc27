//! The tutorial's own clients (SPEC §9): they keep `res.header['Set-Cookie']`
//! from `authorize` verbatim and send it back as their `Cookie` header, often
//! with `wx.request`'s default GET.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::admin_sign_in::{csrf_in, signed_in};
use crate::both_backends;
use crate::common::*;

both_backends!(
    a_tutorial_client_works_unchanged,
    the_cookie_ends_with_logout_revoke_and_ban,
    a_cross_site_request_cannot_use_the_cookie,
    the_cookie_is_stored_only_as_its_hash,
    the_cookie_ends_after_the_idle_timeout,
    a_token_header_comes_before_the_cookie,
    the_cookie_can_be_renamed_or_turned_off,
    the_cookie_is_secure_over_https,
);

/// What such a client does after `authorize`: keep the Set-Cookie string.
async fn tutorial_login(app: &TestApp, code: &str) -> (Reply, String) {
    let reply = app.post("authorize", json!({ "code": code })).await;
    reply.expect(0, 200);
    let stored = reply
        .headers
        .get("set-cookie")
        .expect("authorize sets the session cookie")
        .to_str()
        .unwrap()
        .to_string();
    (reply, stored)
}

impl TestApp {
    /// `wx.request({ url, method, header: { Cookie: stored } })`.
    async fn with_cookie(&self, method: reqwest::Method, path: &str, cookie: &str) -> Reply {
        let mut request = self
            .http
            .request(method.clone(), self.api(path))
            .header("Cookie", cookie);
        if method == reqwest::Method::POST {
            // wx.request's default content type.
            request = request.json(&json!({}));
        }
        send(request).await
    }

    async fn cookie_status(&self, cookie: &str) -> serde_json::Value {
        let reply = self
            .with_cookie(reqwest::Method::GET, "status", cookie)
            .await;
        reply.expect(0, 200);
        reply.data().clone()
    }
}

async fn a_tutorial_client_works_unchanged(backend: Backend) {
    let app = spawn_app(backend).await;
    let (login, stored) = tutorial_login(&app, "tutorial").await;
    // The attributes a browser would act on, for a session cookie.
    assert!(stored.starts_with("sessionid="), "{stored}");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=2592000"] {
        assert!(stored.contains(attribute), "{attribute} in {stored}");
    }
    assert!(!stored.contains("Secure"), "plain HTTP: no Secure");
    let value = stored["sessionid=".len()..].split(';').next().unwrap();
    assert!(!value.starts_with("eyJ"), "not a JWT");
    assert_ne!(value, login.refresh_token());

    let status = app.cookie_status(&stored).await;
    assert_eq!(status["is_authorized"], 1);
    assert_eq!(status["user_id"], login.user_id());
    // POST works too, as the tutorial's view answered any method.
    let posted = app
        .with_cookie(reqwest::Method::POST, "status", &stored)
        .await;
    assert_eq!(posted.data()["is_authorized"], 1);
    // The cookie authenticates every call a token does.
    let user = app.with_cookie(reqwest::Method::GET, "user", &stored).await;
    user.expect(0, 200);
    assert_eq!(user.data()["user_id"], login.user_id());
    // Several cookies joined by ", ", and the expires attribute's comma.
    let joined = format!("csrftoken=abc; expires=Wed, 09 Dec 2026 10:00:00 GMT; Path=/, {stored}");
    assert_eq!(app.cookie_status(&joined).await["is_authorized"], 1);
    // It refreshes nothing.
    app.with_cookie(reqwest::Method::POST, "refresh", &stored)
        .await
        .expect(-101, 400);

    // Logout with wx.request's default GET.
    app.with_cookie(reqwest::Method::GET, "logout", &stored)
        .await
        .expect(0, 200);
    assert_eq!(app.cookie_status(&stored).await["is_authorized"], 0);
    app.with_cookie(reqwest::Method::GET, "user", &stored)
        .await
        .expect(-502, 401);
    // Idempotent, as with tokens; and the session's token is dead with it.
    app.with_cookie(reqwest::Method::POST, "logout", &stored)
        .await
        .expect(0, 200);
    assert!(!app.is_authorized(&login.token()).await);
    // A made-up cookie is nobody.
    let forged = stored.replacen("sessionid=", "sessionid=x", 1);
    app.with_cookie(reqwest::Method::GET, "user", &forged)
        .await
        .expect(-500, 401);
    app.with_cookie(reqwest::Method::GET, "logout", &forged)
        .await
        .expect(-500, 401);
}

async fn the_cookie_ends_with_logout_revoke_and_ban(backend: Backend) {
    let app = spawn_app(backend).await;
    // Logging out by token ends the cookie of that session too.
    let (login, stored) = tutorial_login(&app, "by-token").await;
    app.post_with_token("logout", &login.token(), json!({}))
        .await
        .expect(0, 200);
    assert_eq!(app.cookie_status(&stored).await["is_authorized"], 0);

    // The console's revoke.
    let (login, stored) = tutorial_login(&app, "revoked").await;
    let browser = signed_in(&app).await;
    let (_, _, html) = browser.get("/admin/sessions").await;
    let csrf = csrf_in(&html);
    let sid = crate::tokens::claims_of(&login.token())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, _) = browser
        .post(
            &format!("/admin/sessions/{sid}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.cookie_status(&stored).await["is_authorized"], 0);

    // A ban.
    let (login, stored) = tutorial_login(&app, "banned").await;
    let page = format!("/admin/users/{}", login.user_id());
    let (status, _, _) = browser
        .post(
            &format!("{page}/ban"),
            &[("csrf_token", &csrf), ("reason", "spam")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    app.with_cookie(reqwest::Method::GET, "user", &stored)
        .await
        .expect(-503, 403);
    assert_eq!(app.cookie_status(&stored).await["is_authorized"], 0);

    // Refresh-token reuse revokes the session, cookie included.
    let (login, stored) = tutorial_login(&app, "stolen").await;
    let first = json!({ "refresh_token": login.refresh_token() });
    let second = app.post("refresh", first.clone()).await;
    second.expect(0, 200);
    app.post(
        "refresh",
        json!({ "refresh_token": second.refresh_token() }),
    )
    .await
    .expect(0, 200);
    app.post("refresh", first).await.expect(-502, 401);
    assert_eq!(app.cookie_status(&stored).await["is_authorized"], 0);
}

/// SPEC §9: the database holds the cookie's SHA-256, never a value that
/// could be presented.
async fn the_cookie_is_stored_only_as_its_hash(backend: Backend) {
    use base64::Engine;
    use sha2::Digest;

    let app = spawn_app(backend).await;
    let (login, stored) = tutorial_login(&app, "hashed").await;
    let value = stored["sessionid=".len()..].split(';').next().unwrap();
    let (sid, secret) = value.split_once('.').unwrap();
    assert_eq!(
        sid,
        crate::tokens::claims_of(&login.token())["sid"]
            .as_str()
            .unwrap()
    );
    let dump = crate::common::stored::dump(&app.db);
    assert!(
        crate::common::stored::columns_holding(&dump, sid).contains(&"sessions.id".to_string()),
        "the search sees the session"
    );
    let found = crate::common::stored::columns_holding(&dump, secret);
    assert!(
        found.is_empty(),
        "the cookie's secret in clear in {found:?}"
    );
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(secret.as_bytes()));
    assert_eq!(
        app.db.count(&format!(
            "sessions WHERE id = '{sid}' AND cookie_hash = '{hash}'"
        )),
        1,
        "the session keeps the secret's SHA-256"
    );
}

async fn a_cross_site_request_cannot_use_the_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, stored) = tutorial_login(&app, "victim").await;
    let cross_site = [
        ("Sec-Fetch-Site", "cross-site"),
        ("Sec-Fetch-Site", "same-site"),
        ("Origin", "https://evil.example"),
        ("Origin", "null"),
        // A browser that sends neither header still names the page.
        ("Referer", "https://evil.example/page.html"),
        (
            "Referer",
            "https://servicewechat.com.evil.example/wx1/0/page-frame.html",
        ),
    ];
    for (header, value) in cross_site {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let reply = send(
                app.http
                    .request(method.clone(), app.api("logout"))
                    .header("Cookie", &stored)
                    .header(header, value)
                    .json(&json!({})),
            )
            .await;
            reply.expect(-500, 403);
        }
    }
    assert_eq!(app.cookie_status(&stored).await["is_authorized"], 1);
    // The server's own origin is fine.
    let own = app.url.trim_start_matches("http://").to_string();
    let reply = send(
        app.http
            .get(app.api("user"))
            .header("Cookie", &stored)
            .header("Origin", format!("http://{own}"))
            .header("Sec-Fetch-Site", "same-origin"),
    )
    .await;
    reply.expect(0, 200);
    // A mini-program's own requests carry its runtime's fixed Referer; a
    // page of this server names the server.
    for referer in [
        format!("https://servicewechat.com/{APP_ID}/0/page-frame.html"),
        "https://tmaservice.developer.toutiao.com/?appid=tt1&version=1.0.0".to_string(),
        format!("http://{own}/some/page"),
    ] {
        let reply = send(
            app.http
                .get(app.api("user"))
                .header("Cookie", &stored)
                .header("Referer", &referer),
        )
        .await;
        reply.expect(0, 200);
    }
    // A profile change by cookie needs a JSON body: no form, no text/plain,
    // no body without a content type.
    let post_user = |content_type: Option<&'static str>, nickname: &'static str| {
        let mut request = app
            .http
            .post(app.api("user"))
            .header("Cookie", &stored)
            .body(json!({ "nickName": nickname }).to_string());
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        async move { send(request).await }
    };
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        post_user(content_type, "pwned").await.expect(-101, 415);
    }
    let reply = post_user(Some("application/json"), "Mine").await;
    reply.expect(0, 200);
    assert_eq!(reply.data()["nickname"], "Mine");
}

async fn the_cookie_ends_after_the_idle_timeout(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("session_idle_timeout", 2)).await;
    let (_, stored) = tutorial_login(&app, "sleepy").await;
    assert_eq!(app.cookie_status(&stored).await["is_authorized"], 1);
    app.clock.advance(Duration::from_secs(3));
    app.with_cookie(reqwest::Method::GET, "user", &stored)
        .await
        .expect(-502, 401);
}

async fn a_token_header_comes_before_the_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, stored) = tutorial_login(&app, "both").await;
    let reply = send(
        app.http
            .get(app.api("user"))
            .header("Cookie", &stored)
            .bearer_auth("not-a-token"),
    )
    .await;
    reply.expect(-500, 401);
}

async fn the_cookie_can_be_renamed_or_turned_off(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("compat.cookie_name", "wxsid")).await;
    let (_, stored) = tutorial_login(&app, "renamed").await;
    assert!(stored.starts_with("wxsid="), "{stored}");
    assert_eq!(app.cookie_status(&stored).await["is_authorized"], 1);
    let as_sessionid = stored.replacen("wxsid=", "sessionid=", 1);
    assert_eq!(app.cookie_status(&as_sessionid).await["is_authorized"], 0);

    // Turned off: no cookie is set, and one set while it was on (same
    // database) is not read.
    let on = spawn_app(backend).await;
    let (_, stored) = tutorial_login(&on, "off").await;
    let options = Options::new(&on.db, &on.mock).with("compat.session_cookie", false);
    let off = spawn_with(on.db.clone(), on.mock.clone(), options).await;
    let reply = off.post("authorize", json!({ "code": "off-again" })).await;
    reply.expect(0, 200);
    assert!(reply.headers.get("set-cookie").is_none());
    assert_eq!(off.cookie_status(&stored).await["is_authorized"], 0);
    assert_eq!(on.cookie_status(&stored).await["is_authorized"], 1);
}

async fn the_cookie_is_secure_over_https(backend: Backend) {
    let app = spawn_app(backend).await;
    let reply = send(
        app.http
            .post(app.api("authorize"))
            .header("X-Forwarded-Proto", "https")
            .json(&json!({ "code": "tls" })),
    )
    .await;
    reply.expect(0, 200);
    let cookie = reply.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
}
