//! The console's pages and actions, over HTTP.

use reqwest::StatusCode;
use serde_json::json;

use crate::admin_sign_in::{csrf_in, signed_in};
use crate::both_backends;
use crate::common::*;

both_backends!(
    overview_shows_the_figures,
    a_large_database_shows_a_dated_snapshot,
    users_are_searched_and_paged_newest_first,
    revocation_from_the_console_stops_the_token_at_once,
    a_console_revoke_that_cannot_be_audited_changes_nothing,
    console_failures_are_console_pages,
    ban_stops_tokens_and_new_logins_and_unban_lets_back_in,
    audit_log_filters_by_kind_and_user,
);

async fn overview_shows_the_figures(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login("ov-a").await;
    app.login("ov-a").await;
    let b = app.login("ov-b").await;
    app.post_with_token("logout", &b.token(), json!({}))
        .await
        .expect(0, 200);
    let browser = signed_in(&app).await;
    let (status, _, html) = browser.get("/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="users-total">2<"#), "{html}");
    assert!(html.contains(r#"id="new-users-today">2<"#));
    assert!(html.contains(r#"id="active-sessions">2<"#));
    assert!(html.contains(r#"id="logins-24h">3<"#));
    // Today's bars in the 30-day chart.
    let today = &wxauth::timestamp::rfc3339(wxauth::timestamp::now())[5..10];
    assert!(
        html.contains(&format!("{today} · Logins: 3</title>")),
        "{html}"
    );
    assert!(html.contains(&format!("{today} · New users: 2</title>")));
    assert_eq!(html.matches("class=\"bar-logins\"").count(), 30);
}

/// A large database's figures come from a snapshot that says when it was
/// counted; a small one's are counted on every view (above).
async fn a_large_database_shows_a_dated_snapshot(backend: Backend) {
    let app = spawn_app(backend).await;
    app.login("big-a").await;
    // A user id past the threshold makes the database count as large.
    let id = wxauth::admin::overview::LARGE + 1;
    app.db.execute(&format!(
        "INSERT INTO users (id, created_at, updated_at) VALUES ({id}, 0, 0)"
    ));
    let browser = signed_in(&app).await;
    let (status, _, html) = browser.get("/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="figures-as-of""#), "{html}");
    assert!(html.contains(r#"id="users-total">2<"#), "{html}");
    // Within the freshness window the snapshot is shown as it was.
    app.login("big-b").await;
    let (_, _, html) = browser.get("/admin").await;
    assert!(html.contains(r#"id="users-total">2<"#), "{html}");
}

async fn users_are_searched_and_paged_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..55 {
        app.post(
            "authorize",
            json!({ "code": format!("page{i:02}"), "nickName": format!("用户{i:02}") }),
        )
        .await
        .expect(0, 200);
    }
    let special = app
        .post(
            "authorize",
            json!({ "code": "needle", "nickName": "小明 Needle" }),
        )
        .await;
    special.expect(0, 200);
    let browser = signed_in(&app).await;

    let (_, _, first) = browser.get("/admin/users").await;
    assert_eq!(
        first.matches("<tr>").count() - 1,
        50,
        "50 rows and a header"
    );
    let newest = first.find("小明 Needle").unwrap();
    let older = first.find("用户54").unwrap();
    assert!(newest < older, "newest first");
    assert!(!first.contains("用户05<"));
    let (_, _, second) = browser.get(&next_page_link(&first)).await;
    assert!(second.contains("用户05<") && second.contains("用户00<"));
    assert!(!second.contains("用户06<"));
    assert!(!second.contains("rel=\"next\""));

    for q in [
        "Needle",
        "小明",
        &special.user_id().to_string(),
        &wxauth::wechat::mock::openid_for(APP_ID, "needle"),
        &wxauth::wechat::mock::unionid_for("needle"),
    ] {
        let (_, _, html) = browser
            .get(&format!("/admin/users?q={}", urlencode(q)))
            .await;
        assert!(html.contains("小明 Needle"), "search {q}");
        assert_eq!(
            html.matches("<tr>").count() - 1,
            1,
            "search {q} finds only the needle"
        );
    }
    // Case does not matter; a renamed user is found by the new name only.
    let (_, _, html) = browser.get("/admin/users?q=needle").await;
    assert!(html.contains("小明 Needle"));
    app.post_with_token(
        "user",
        &special.token(),
        json!({ "nickName": "Renamed Person" }),
    )
    .await
    .expect(0, 200);
    let (_, _, html) = browser.get("/admin/users?q=Needle").await;
    assert!(html.contains("Nothing found."), "old name forgotten");
    let (_, _, html) = browser.get("/admin/users?q=amed%20Pers").await;
    assert!(html.contains("Renamed Person"));
    // LIKE wildcards are searched for literally.
    let (_, _, html) = browser.get("/admin/users?q=%25").await;
    assert!(html.contains("Nothing found."));
}

/// The href of the page's "next page" link, unescaped.
fn next_page_link(html: &str) -> String {
    let href = html
        .split("rel=\"next\" href=\"")
        .nth(1)
        .expect("a next-page link")
        .split('"')
        .next()
        .unwrap();
    href.replace("&amp;", "&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn revocation_from_the_console_stops_the_token_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let victim = app.login("rev-a").await;
    let other_device = app.login("rev-a").await;
    let bystander = app.login("rev-b").await;
    let browser = signed_in(&app).await;

    let (_, _, html) = browser.get("/admin/sessions").await;
    assert_eq!(html.matches("/revoke\"").count(), 3);
    let csrf = csrf_in(&html);
    let sid = crate::tokens::claims_of(&victim.token())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, headers, _) = browser
        .post(
            &format!("/admin/sessions/{sid}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/sessions?done=revoked");
    assert!(!app.is_authorized(&victim.token()).await);
    app.post(
        "refresh",
        json!({ "refresh_token": victim.refresh_token() }),
    )
    .await
    .expect(-502, 401);
    assert!(app.is_authorized(&other_device.token()).await);

    // Without the CSRF token nothing happens.
    let (status, _, _) = browser
        .post(
            &format!("/admin/users/{}/signout-all", other_device.user_id()),
            &[("csrf_token", "nope")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(app.is_authorized(&other_device.token()).await);

    let (status, headers, _) = browser
        .post(
            &format!("/admin/users/{}/signout-all", other_device.user_id()),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(headers["location"]
        .to_str()
        .unwrap()
        .ends_with("?done=signed_out"));
    assert!(!app.is_authorized(&other_device.token()).await);
    assert!(app.is_authorized(&bystander.token()).await);
    let (_, _, html) = browser.get("/admin/sessions").await;
    assert_eq!(html.matches("/revoke\"").count(), 1);

    // GET never changes anything; unknown ids are 404.
    let (status, _, _) = browser.get(&format!("/admin/sessions/{sid}/revoke")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = browser
        .post(
            "/admin/sessions/no-such-session/revoke",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Makes every insert of an audit event of `kind` fail, as a full disk or a
/// lost connection would between the change and its audit event.
fn break_audit_of(app: &TestApp, backend: Backend, kind: &str) {
    app.db.execute(&match backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit_events WHEN new.kind = '{kind}' \
             BEGIN SELECT RAISE(ABORT, 'audit is down'); END;"
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION no_audit() RETURNS trigger AS $$ BEGIN \
               IF NEW.kind = '{kind}' THEN RAISE EXCEPTION 'audit is down'; END IF; \
               RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER no_audit BEFORE INSERT ON audit_events \
               FOR EACH ROW EXECUTE FUNCTION no_audit();"
        ),
    });
}

/// SPEC §4: a revocation and its audit event are one transaction — a revoke
/// that cannot be audited does not happen.
async fn a_console_revoke_that_cannot_be_audited_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.login("unaudited").await;
    let browser = signed_in(&app).await;
    let (_, _, html) = browser.get("/admin/sessions").await;
    let csrf = csrf_in(&html);
    let sid = crate::tokens::claims_of(&user.token())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    break_audit_of(&app, backend, "revoke");

    let (status, _, _) = browser
        .post(
            &format!("/admin/sessions/{sid}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(app.is_authorized(&user.token()).await);
    let (status, _, _) = browser
        .post(
            &format!("/admin/users/{}/signout-all", user.user_id()),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(app.is_authorized(&user.token()).await);
    assert_eq!(
        app.db.count("audit_events WHERE kind = 'revoke'"),
        0,
        "no event, and no revocation either"
    );
}

/// A console request that fails answers the console's own page — not the
/// API's JSON envelope — whatever the route and whatever went wrong.
async fn console_failures_are_console_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.login("console-fails").await;
    let browser = signed_in(&app).await;
    let (_, _, html) = browser.get("/admin/sessions").await;
    let csrf = csrf_in(&html);
    let is_console_page = |headers: &reqwest::header::HeaderMap, body: &str| {
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
            && body.contains("</html>")
            && !body.contains("result_code")
    };

    // A form without its CSRF field does not parse; one with a wrong token
    // is refused; neither reaches the action.
    let action = format!("/admin/users/{}/signout-all", user.user_id());
    let (status, headers, body) = browser.post(&action, &[("next", "/admin")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(is_console_page(&headers, &body), "{body}");
    let (status, headers, body) = browser.post(&action, &[("csrf_token", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(is_console_page(&headers, &body), "{body}");
    assert!(app.is_authorized(&user.token()).await);

    // A failure of ours, on a page and on an action.
    app.db.execute("DROP TABLE audit_events");
    let (status, headers, body) = browser.get("/admin/audit").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(is_console_page(&headers, &body), "{body}");
    let (status, headers, body) = browser.post(&action, &[("csrf_token", &csrf)]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(is_console_page(&headers, &body), "{body}");
    assert!(app.is_authorized(&user.token()).await);
}

async fn ban_stops_tokens_and_new_logins_and_unban_lets_back_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.login("ban-me").await;
    let browser = signed_in(&app).await;
    let page = format!("/admin/users/{}", user.user_id());
    let (_, _, html) = browser.get(&page).await;
    let csrf = csrf_in(&html);
    let (status, _, _) = browser
        .post(
            &format!("{page}/ban"),
            &[("csrf_token", &csrf), ("reason", "spam <b>bot</b>")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    app.get_with_token("user", &user.token())
        .await
        .expect(-503, 403);
    app.post("authorize", json!({ "code": "ban-me" }))
        .await
        .expect(-503, 403);
    let (_, _, html) = browser.get(&page).await;
    assert!(html.contains("Banned"));
    assert!(
        html.contains("spam &lt;b&gt;bot&lt;&#x2F;b&gt;"),
        "reason escaped"
    );
    assert!(!html.contains("<b>bot</b>"));

    let (status, _, _) = browser
        .post(&format!("{page}/unban"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The ban revoked the old sessions for good; a new login works.
    assert!(!app.is_authorized(&user.token()).await);
    let again = app.login("ban-me").await;
    assert!(app.is_authorized(&again.token()).await);
}

async fn audit_log_filters_by_kind_and_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.login("aud-a").await;
    let b = app.login("aud-b").await;
    app.post("refresh", json!({ "refresh_token": a.refresh_token() }))
        .await
        .expect(0, 200);
    app.post_with_token("logout", &b.token(), json!({}))
        .await
        .expect(0, 200);
    let browser = signed_in(&app).await;
    let (_, _, all) = browser.get("/admin/audit").await;
    for kind in ["login", "refresh", "logout", "admin sign-in"] {
        assert!(all.contains(&format!("<td>{kind}</td>")), "{kind} listed");
    }
    let (_, _, logins) = browser.get("/admin/audit?kind=login").await;
    assert_eq!(logins.matches("<td>login</td>").count(), 2);
    assert!(!logins.contains("<td>refresh</td>"));
    let (_, _, of_b) = browser
        .get(&format!("/admin/audit?user={}", b.user_id()))
        .await;
    assert!(of_b.contains("<td>logout</td>"));
    assert!(!of_b.contains("<td>refresh</td>"));
}

both_backends!(
    user_controlled_text_is_escaped_and_bad_avatars_are_not_loaded,
    signed_out_console_pages_all_go_to_sign_in,
);

async fn user_controlled_text_is_escaped_and_bad_avatars_are_not_loaded(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app
        .post(
            "authorize",
            json!({ "code": "xss", "nickName": "<script>alert(1)</script>" }),
        )
        .await;
    user.expect(0, 200);
    // The API refuses javascript: avatars; older or imported rows may still hold one.
    app.db.execute(&format!(
        "UPDATE users SET avatar_url = 'javascript:alert(1)' WHERE id = {}",
        user.user_id()
    ));
    let evil_ua = "<img src=x onerror=alert(1)>";
    let ua_login = send(
        app.http
            .post(app.api("authorize"))
            .header("user-agent", evil_ua)
            .json(&json!({ "code": "xss" })),
    )
    .await;
    ua_login.expect(0, 200);
    let browser = signed_in(&app).await;
    for path in [
        "/admin/users".to_string(),
        format!("/admin/users/{}", user.user_id()),
        "/admin/sessions".into(),
    ] {
        let (_, _, html) = browser.get(&path).await;
        assert!(!html.contains("<script>alert(1)</script>"), "{path}");
        assert!(!html.contains(evil_ua), "{path}");
        assert!(!html.contains("javascript:"), "{path}");
        if path != "/admin/sessions" {
            assert!(
                html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"),
                "{path}"
            );
        }
    }
}

async fn signed_out_console_pages_all_go_to_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.login("not-banned").await;
    let browser = crate::admin_sign_in::Browser::new(&app);
    for path in [
        "/admin/users?q=x",
        "/admin/users/1",
        "/admin/sessions",
        "/admin/audit?kind=login",
    ] {
        let (status, headers, _) = browser.get(path).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        let location = headers["location"].to_str().unwrap();
        assert!(
            location.starts_with("/admin/login?next=%2Fadmin"),
            "{path} -> {location}"
        );
    }
    // A signed-out ban, even with the CSRF token of the sign-in page, bans
    // no one: it is sent to sign in, and the user's token goes on working.
    let csrf = browser.csrf("/admin/login").await;
    let (status, headers, _) = browser
        .post(
            &format!("/admin/users/{}/ban", user.user_id()),
            &[("csrf_token", &csrf), ("reason", "signed out")],
        )
        .await;
    assert_eq!(
        app.db.count(&format!(
            "users WHERE id = {} AND banned_at IS NULL AND ban_reason IS NULL",
            user.user_id()
        )),
        1,
        "the user is still unbanned"
    );
    assert!(app.is_authorized(&user.token()).await);
    app.login("not-banned").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers["location"].to_str().unwrap();
    assert!(location.starts_with("/admin/login"), "{location}");
    assert_eq!(app.db.count("audit_events WHERE kind = 'ban'"), 0);
}

both_backends!(short_nickname_searches_walk_a_bounded_window_per_page);

async fn short_nickname_searches_walk_a_bounded_window_per_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = app
        .post(
            "authorize",
            json!({ "code": "old-rare", "nickName": "老稀" }),
        )
        .await;
    old.expect(0, 200);
    // More users in between than one page's window, straight into the database.
    let window = wxauth::db::users::SHORT_SEARCH_WINDOW;
    let n = window + window / 2;
    let fill = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
             INSERT INTO users (nickname, created_at, updated_at) \
             SELECT 'filler ' || i, 0, 0 FROM n"
        ),
        Backend::Postgres => format!(
            "INSERT INTO users (nickname, created_at, updated_at) \
             SELECT 'filler ' || i, 0, 0 FROM generate_series(1, {n}) AS i"
        ),
    };
    app.db.execute(&fill);
    let new = app
        .post(
            "authorize",
            json!({ "code": "new-rare", "nickName": "新稀" }),
        )
        .await;
    new.expect(0, 200);
    let browser = crate::admin_sign_in::signed_in(&app).await;

    let (_, _, first) = browser.get("/admin/users?q=%E7%A8%80").await; // 稀
    assert!(first.contains("新稀"));
    assert!(
        !first.contains("老稀"),
        "the old one is beyond this page's window"
    );
    assert!(
        first.contains(&format!("looks through {window} users at a time")),
        "{first}"
    );
    let (_, _, second) = browser.get(&next_page_link(&first)).await;
    assert!(second.contains("老稀"), "the next page walks on: {second}");
    assert!(!second.contains("新稀"));
    assert!(!second.contains("rel=\"next\""), "nothing older left");
    // An exact id is found on the first page however old.
    let (_, _, by_id) = browser
        .get(&format!("/admin/users?q={}", old.user_id()))
        .await;
    assert!(by_id.contains("老稀"));
}
