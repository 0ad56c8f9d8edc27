//! WeChat's failures, each mapped to its result code and HTTP status.

use serde_json::json;

use crate::both_backends;
use crate::common::*;

async fn authorize(app: &TestApp, code: &str) -> Reply {
    app.post("authorize", json!({ "code": code })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechat_errcodes_map_to_result_codes() {
    let app = spawn_app(Backend::Sqlite).await;
    authorize(&app, "invalid").await.expect(-601, 401);
    authorize(&app, "used").await.expect(-601, 401);
    authorize(&app, "ratelimit").await.expect(-602, 429);
    authorize(&app, "blocked").await.expect(-603, 403);
    authorize(&app, "garbage").await.expect(-600, 502);
    // An answer beyond 64 KiB is not read (WeChat's are a few hundred bytes).
    let huge = authorize(&app, "huge").await;
    huge.expect(-600, 502);
    assert!(huge.body["message"].as_str().unwrap().contains("64 KiB"));
    authorize(&app, "unknown").await.expect(-600, 502);
    authorize(&app, "http500").await.expect(-604, 503);
    assert_eq!(app.db.count("users"), 0);
    assert_eq!(app.db.count("sessions"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_wechat_is_retried_twice() {
    let app = spawn_app(Backend::Sqlite).await;
    authorize(&app, "busy").await.expect(-604, 503);
    assert_eq!(app.mock.calls("busy").await, 3, "first try and two retries");
    authorize(&app, "busyonce").await.expect(0, 200);
    assert_eq!(app.mock.calls("busyonce").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_wechat_times_out_without_retry() {
    let app = spawn_app_with(Backend::Sqlite, |o| o.with("wechat.timeout_ms", 300)).await;
    // Without the time-out, the mock's answer (a success, after 30 s) would
    // come back: the code tells.
    authorize(&app, "slow").await.expect(-604, 503);
    assert_eq!(app.mock.calls("slow").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_wechat_is_unavailable() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = spawn_app_with(Backend::Sqlite, |o| {
        o.with("wechat.api_base", format!("http://127.0.0.1:{port}"))
    })
    .await;
    authorize(&app, "zoe").await.expect(-604, 503);
}

both_backends!(every_fault_is_answered_with_its_code_creates_nothing_and_the_server_serves_on);

/// Each of WeChat's faults gets its code (a time-out is not retried; errcode
/// -1 is, twice), writes nothing, and the next login is served as usual.
async fn every_fault_is_answered_with_its_code_creates_nothing_and_the_server_serves_on(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |o| o.with("wechat.timeout_ms", 300)).await;
    for (code, result_code, status, attempts) in [
        ("slow-f", -604, 503, 1),
        ("http500-f", -604, 503, 1),
        ("garbage-f", -600, 502, 1),
        ("truncated-f", -600, 502, 1),
        ("noopenid-f", -600, 502, 1),
        ("busy-f", -604, 503, 3),
        ("busyonce-f", 0, 200, 2),
    ] {
        guarded(code, authorize(&app, code))
            .await
            .expect(result_code, status);
        assert_eq!(app.mock.calls(code).await, attempts, "{code}: WeChat asked");
        if result_code != 0 {
            assert_eq!(app.db.count("users"), 0, "{code} created a user");
            assert_eq!(app.db.count("sessions"), 0, "{code} opened a session");
        }
        let fine = authorize(&app, &format!("fine-after-{code}")).await;
        fine.expect(0, 200);
        assert!(app.is_authorized(&fine.token()).await);
        app.db
            .execute("DELETE FROM audit_events; DELETE FROM sessions; DELETE FROM identities; DELETE FROM users;");
    }
}
