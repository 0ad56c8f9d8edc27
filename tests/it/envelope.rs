//! Every answer under `/api/` is the JSON envelope, Rocket's own failures too.

use serde_json::json;

use crate::both_backends;
use crate::common::*;

both_backends!(
    rocket_failures_are_enveloped,
    ops_endpoints_answer,
    internal_errors_hide_their_details,
);

async fn rocket_failures_are_enveloped(backend: Backend) {
    let app = spawn_app(backend).await;
    let http = &app.http;

    // Unknown paths and methods.
    send(http.get(format!("{}/api/nope", app.url)))
        .await
        .expect(-102, 404);
    send(http.get(app.api("authorize"))).await.expect(-102, 404);
    send(http.delete(app.api("status"))).await.expect(-102, 404);

    // Malformed JSON, wrong content type, oversized body.
    send(
        http.post(app.api("authorize"))
            .header("content-type", "application/json")
            .body("{\"code\": "),
    )
    .await
    .expect(-101, 400);
    send(
        http.post(app.api("authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("code=abc"),
    )
    .await
    .expect(-101, 415);
    // serde would read an array into a struct field by field: refused, on
    // every JSON body (the fuzzer found `[null, null]` taken as a profile).
    for body in [json!(["abc"]), json!([null, null]), json!("abc"), json!(7)] {
        send(http.post(app.api("authorize")).json(&body))
            .await
            .expect(-101, 422);
    }
    let login = app.login("array-check").await;
    send(
        http.post(app.api("user"))
            .bearer_auth(login.token())
            .json(&json!([null, null])),
    )
    .await
    .expect(-101, 422);
    // An empty body is an empty object; whitespace alone is not JSON.
    send(
        http.post(app.api("logout"))
            .bearer_auth(login.token())
            .header("content-type", "application/json")
            .body(" \r\n"),
    )
    .await
    .expect(-101, 400);
    let huge = json!({ "code": "abc", "nickName": "x".repeat(70 * 1024) });
    send(http.post(app.api("authorize")).json(&huge))
        .await
        .expect(-101, 413);

    // No token where one is needed.
    send(http.get(app.api("user"))).await.expect(-500, 401);
    send(http.post(app.api("logout"))).await.expect(-500, 401);
    assert_eq!(app.db.count("users"), 1);
}

async fn ops_endpoints_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = send(app.http.get(format!("{}/healthz", app.url))).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = send(app.http.get(format!("{}/readyz", app.url))).await;
    assert_eq!(
        (ready.status, ready.body["database"].as_str()),
        (200, Some("ok"))
    );
}

/// A database error is -100 with a generic message: no table name, no SQL,
/// not the database's own words (each backend's are checked).
async fn internal_errors_hide_their_details(backend: Backend) {
    let app = spawn_app(backend).await;
    let s = app.login("broken").await;
    app.db.execute("DROP TABLE audit_events");
    let reply = app
        .post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await;
    reply.expect(-100, 500);
    assert_eq!(reply.body["message"], "internal server error");
    let text = reply.text.to_lowercase();
    for detail in [
        "audit_events",
        "no such table",
        "relation",
        "does not exist",
        "insert",
    ] {
        assert!(!text.contains(detail), "{detail} in {text}");
    }
}
