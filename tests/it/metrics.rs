//! `/metrics`: what the counters say after known traffic, and nothing when
//! metrics are off.

use std::time::Duration;

use serde_json::json;

use crate::common::*;

/// The value of the sample `name{labels…}` in Prometheus text, if present.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            if metric != name {
                return None;
            }
            let pairs: Vec<&str> = rest.trim_end_matches('}').split(',').collect();
            let all = labels
                .iter()
                .all(|(k, v)| pairs.contains(&format!("{k}=\"{v}\"").as_str()));
            all.then(|| value.parse().unwrap())
        })
}

async fn scrape(app: &TestApp) -> (u16, String, String) {
    let res = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, res.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_follow_the_traffic() {
    let app = spawn_app(Backend::Sqlite).await;
    let first = app.login("m1").await;
    app.login("m1").await; // the same user again: returning
    app.post("authorize", json!({ "code": "invalid" }))
        .await
        .expect(-601, 401);
    let doomed = app.login("banme").await;
    app.db.execute(&format!(
        "UPDATE users SET banned_at = 1 WHERE id = {}",
        doomed.user_id()
    ));
    app.post("authorize", json!({ "code": "banme" }))
        .await
        .expect(-503, 403);
    // Rotated, then the same token again at once (grace), then after the
    // grace (reuse: the session ends).
    let token = first.refresh_token();
    app.post("refresh", json!({ "refresh_token": token }))
        .await
        .expect(0, 200);
    app.post("refresh", json!({ "refresh_token": token }))
        .await
        .expect(0, 200);
    app.clock.advance(Duration::from_secs(11));
    app.post("refresh", json!({ "refresh_token": token }))
        .await
        .expect(-502, 401);

    let (status, content_type, text) = scrape(&app).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let logins = |outcome: &str, code: &str| {
        sample(
            &text,
            "wxauth_logins_total",
            &[("outcome", outcome), ("result_code", code)],
        )
    };
    assert_eq!(logins("new_user", ""), Some(2.0), "{text}");
    assert_eq!(logins("returning_user", ""), Some(1.0));
    assert_eq!(logins("refused", ""), Some(1.0));
    assert_eq!(logins("wechat_error", "-601"), Some(1.0));
    for (outcome, n) in [("rotated", 1.0), ("grace", 1.0), ("reused", 1.0)] {
        let got = sample(&text, "wxauth_refreshes_total", &[("outcome", outcome)]);
        assert_eq!(got, Some(n), "{outcome}");
    }
    let requests = |route: &str, method: &str, status: &str| {
        sample(
            &text,
            "wxauth_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(
        requests("/api/v1.0/auth/authorize", "POST", "200"),
        Some(3.0)
    );
    assert_eq!(
        requests("/api/v1.0/auth/authorize", "POST", "401"),
        Some(1.0)
    );
    assert_eq!(requests("/api/v1.0/auth/refresh", "POST", "200"), Some(2.0));
    assert_eq!(
        sample(
            &text,
            "wxauth_http_request_duration_seconds_count",
            &[("route", "/api/v1.0/auth/refresh")]
        ),
        Some(3.0)
    );
    // WeChat saw each code once (the second "m1" and "banme" shared the
    // first exchange): two answers, one refusal.
    let calls = |outcome: &str| {
        sample(
            &text,
            "wxauth_wechat_calls_total",
            &[("endpoint", "jscode2session"), ("outcome", outcome)],
        )
    };
    assert_eq!(calls("ok"), Some(2.0));
    assert_eq!(calls("invalid_code"), Some(1.0));
    assert!(sample(&text, "wxauth_live_sessions", &[]).is_some());
    assert!(sample(
        &text,
        "wxauth_db_pool_connections",
        &[("pool", "blocking"), ("state", "idle")]
    )
    .is_some());
    // A path is never a label: an unknown one counts as unmatched.
    app.http
        .get(format!("{}/no/such/path/12345", app.url))
        .send()
        .await
        .unwrap();
    let (_, _, text) = scrape(&app).await;
    assert!(!text.contains("12345"));
    assert!(sample(
        &text,
        "wxauth_http_requests_total",
        &[("route", "unmatched")]
    )
    .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sessions_are_counted_at_most_every_30_seconds() {
    let app = spawn_app(Backend::Postgres).await;
    let live = |text: &str| sample(text, "wxauth_live_sessions", &[]);
    let (status, _, text) = scrape(&app).await;
    assert_eq!(status, 200);
    assert_eq!(live(&text), Some(0.0));
    app.login("gauge-1").await;
    let s = app.login("gauge-2").await;
    // Within 30 s a scrape shows the last count; after, a fresh one.
    let (_, _, text) = scrape(&app).await;
    assert_eq!(live(&text), Some(0.0));
    app.clock.advance(Duration::from_secs(31));
    let (_, _, text) = scrape(&app).await;
    assert_eq!(live(&text), Some(2.0));
    app.post_with_token("logout", &s.token(), json!({}))
        .await
        .expect(0, 200);
    app.clock.advance(Duration::from_secs(31));
    let (_, _, text) = scrape(&app).await;
    assert_eq!(live(&text), Some(1.0));
    assert!(sample(
        &text,
        "wxauth_db_pool_connections",
        &[("pool", "async"), ("state", "idle")]
    )
    .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(Backend::Sqlite, |o| o.with("metrics", false)).await;
    app.login("quiet").await;
    let (status, _, _) = scrape(&app).await;
    assert_eq!(status, 404);
}
