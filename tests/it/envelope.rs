//! Every answer under `/api/` is the JSON envelope, Rocket's own failures too.

use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(rocket_failures_are_enveloped);

async fn rocket_failures_are_enveloped(backend: Backend) {
    let app = spawn_app(backend).await;
    let http = &app.http;

    // Unknown paths and methods.
    read(
        http.get(format!("{}/api/nope", app.url))
            .send()
            .await
            .unwrap(),
    )
    .await
    .expect(-102, 404);
    read(http.get(app.api("authorize")).send().await.unwrap())
        .await
        .expect(-102, 404);
    read(http.delete(app.api("status")).send().await.unwrap())
        .await
        .expect(-102, 404);

    // Malformed JSON, wrong content type, oversized body.
    read(
        http.post(app.api("authorize"))
            .header("content-type", "application/json")
            .body("{\"code\": ")
            .send()
            .await
            .unwrap(),
    )
    .await
    .expect(-101, 400);
    read(
        http.post(app.api("authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("code=abc")
            .send()
            .await
            .unwrap(),
    )
    .await
    .expect(-101, 415);
    let huge = json!({ "code": "abc", "nickName": "x".repeat(70 * 1024) });
    read(
        http.post(app.api("authorize"))
            .json(&huge)
            .send()
            .await
            .unwrap(),
    )
    .await
    .expect(-101, 413);

    // No token where one is needed.
    read(http.get(app.api("user")).send().await.unwrap())
        .await
        .expect(-500, 401);
    read(http.post(app.api("logout")).send().await.unwrap())
        .await
        .expect(-500, 401);
    assert_eq!(app.db.count("users"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_endpoints_answer() {
    let app = spawn_app(Backend::Sqlite).await;
    let health = read(
        app.http
            .get(format!("{}/healthz", app.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = read(
        app.http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (ready.status, ready.body["database"].as_str()),
        (200, Some("ok"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_hide_their_details() {
    let app = spawn_app(Backend::Sqlite).await;
    let s = app.login("broken").await;
    app.db.execute("DROP TABLE audit_events");
    let reply = app
        .post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await;
    reply.expect(-100, 500);
    assert_eq!(reply.body["message"], "internal server error");
    assert!(!reply.text.to_lowercase().contains("audit_events"));
}
