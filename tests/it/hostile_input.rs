//! Hostile input (the security audit, SPEC §1.1): oversized and numerous
//! headers, deeply nested JSON, invalid UTF-8, SQL, FTS and LIKE
//! metacharacters in every console search field, huge query strings. Each is
//! answered cleanly — the envelope under `/api`, a console page under
//! `/admin`, the right status — and nothing is written.

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::StatusCode;
use serde_json::json;

use crate::admin_sign_in::signed_in;
use crate::both_backends;
use crate::common::*;

both_backends!(
    hostile_api_requests_get_the_envelope,
    hostile_console_input_gets_a_console_page
);

/// Far beyond any real query string, yet under the 64 KiB a URI may have.
fn huge() -> String {
    "x".repeat(60_000)
}

async fn hostile_api_requests_get_the_envelope(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("victim").await;
    let (users, events) = (app.db.count("users"), app.db.count("audit_events"));
    let http = &app.http;

    // A 64 KB token: not ours, so not authorized.
    let big = format!("Bearer {}", "A".repeat(64 * 1024));
    let reply = send(http.get(app.api("status")).header("authorization", &big)).await;
    reply.expect(0, 200);
    assert_eq!(reply.data()["is_authorized"], 0);
    send(http.get(app.api("user")).header("authorization", &big))
        .await
        .expect(-500, 401);
    // A token header that is not UTF-8.
    let not_utf8 = HeaderValue::from_bytes(b"Bearer \xff\xfe\xc3(").unwrap();
    let reply = send(http.get(app.api("user")).header("authorization", not_utf8)).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert!(reply.code() < 0);

    // More headers than the HTTP layer takes (100): it refuses the request
    // itself, before wxauth sees it — a bare 431, no page.
    let mut many = http.get(app.api("status")).bearer_auth(s.token());
    for i in 0..200 {
        many = many.header(
            HeaderName::from_bytes(format!("x-junk-{i}").as_bytes()).unwrap(),
            "1",
        );
    }
    let r = many.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(!r.text().await.unwrap().contains("<html"));

    // JSON nested 20,000 deep, where a string belongs and where any value is
    // ignored: refused at serde_json's depth limit, not by a stack overflow.
    let nested = |inner: &str| format!("{}{inner}{}", "[".repeat(20_000), "]".repeat(20_000));
    for body in [
        format!("{{\"code\":{}}}", nested("1")),
        format!("{{\"code\":\"abc\",\"junk\":{}}}", nested("1")),
    ] {
        let reply = send(
            http.post(app.api("authorize"))
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(reply.code(), -101, "{}", reply.text);
        assert!(
            reply.status == 400 || reply.status == 422,
            "{}",
            reply.status
        );
    }

    // Invalid UTF-8 inside JSON bodies.
    for (path, body) in [
        ("authorize", b"{\"code\":\"\xff\xfe\"}".to_vec()),
        ("user", b"{\"nickName\":\"\xc3\x28\"}".to_vec()),
    ] {
        send(
            http.post(app.api(path))
                .bearer_auth(s.token())
                .header("content-type", "application/json")
                .body(body),
        )
        .await
        .expect(-101, 400);
    }

    // A huge query string is ignored.
    let reply = send(
        http.get(format!("{}?q={}", app.api("status"), huge()))
            .bearer_auth(s.token()),
    )
    .await;
    reply.expect(0, 200);
    assert_eq!(reply.data()["is_authorized"], 1);

    assert_eq!(app.db.count("users"), users);
    assert_eq!(app.db.count("audit_events"), events);
    let profile = app.get_with_token("user", &s.token()).await;
    assert!(profile.data()["nickname"].is_null(), "{}", profile.text);
}

fn percent_encoded(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn hostile_console_input_gets_a_console_page(backend: Backend) {
    let app = spawn_app(backend).await;
    // Two users named through the API, for the search at the end.
    for (code, name) in [("victim", "Victor Victim"), ("bystander", "Bea Bystander")] {
        let user = app.login(code).await;
        app.post_with_token("user", &user.token(), json!({ "nickName": name }))
            .await
            .expect(0, 200);
    }
    let browser = signed_in(&app).await;
    let events = app.db.count("audit_events");
    let hostile = [
        "'",
        "\"",
        "%",
        "_",
        "\\",
        "a\"b",
        "' OR 1=1 --",
        "'; DROP TABLE users; --",
        "NEAR(a b)",
        "a* OR b",
        "-x",
        "^x",
        "\u{0}",
        "a\u{0}b",
        "\u{7f}",
        "🙂🙂🙂",
        "x%_\\'\"",
        "<script>",
    ];
    for q in hostile {
        for field in [
            "/admin/users?q=",
            "/admin/users?before=",
            "/admin/sessions?q=",
            "/admin/sessions?after=",
            "/admin/audit?kind=",
            "/admin/audit?user=",
            "/admin/audit?before=",
        ] {
            let url = format!("{field}{}", percent_encoded(q));
            let (status, _, html) = browser.get(&url).await;
            // A bad value for a typed field is the console's 404/422 page; a
            // search answers the page itself.
            assert!(
                status == StatusCode::OK
                    || status == StatusCode::NOT_FOUND
                    || status == StatusCode::UNPROCESSABLE_ENTITY,
                "{url}: {status}"
            );
            assert!(html.contains("<html"), "{url}: {html}");
            assert!(!html.contains("<script>"), "{url} echoes markup");
        }
    }
    let (status, _, html) = browser.get(&format!("/admin/users?q={}", huge())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<html"));
    // The search still finds what it should after all that: the victim by
    // name, and no one else.
    let (status, _, html) = browser.get("/admin/users?q=victim").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Victor Victim"), "{html}");
    assert!(!html.contains("Bea Bystander"), "{html}");
    assert_eq!(html.matches("<tr>").count() - 1, 1, "one row: {html}");
    assert_eq!(app.db.count("audit_events"), events);
    assert_eq!(app.db.count("users"), 2);

    // Extreme cursors beside a piece of one or two characters (searched in
    // a window of ids below the cursor): a page, never an overflow (which a
    // debug build, as here, would turn into a panic and a 500).
    let key = crate::admin_api::make_key(&app.db, "reader", "read");
    for before in ["-9223372036854775808", "-1", "0", "9223372036854775807"] {
        let url = format!("/admin/users?q=Vi&before={before}");
        let (status, _, html) = browser.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {html}");
        let api = app
            .http
            .get(crate::admin_api::admin_url(
                &app,
                &format!("users?q=Vi&before={before}"),
            ))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        let status = api.status();
        let body: serde_json::Value = api.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "users?before={before}: {body}");
        assert_eq!(body["result_code"], 0, "{body}");
    }
}
