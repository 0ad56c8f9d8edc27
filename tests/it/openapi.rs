//! `GET /api/openapi.json`, and the check that holds every answer of the
//! other tests to it (`common::openapi`).

use serde_json::{json, Value};

use crate::common::*;

async fn served(app: &TestApp) -> Value {
    let response = app
        .http
        .get(format!("{}/api/openapi.json", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let ct = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_and_follows_the_cookie_setting() {
    let app = spawn_app_with(Backend::Sqlite, |o| o.with("compat.cookie_name", "wxsid")).await;
    let doc = served(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, wxauth::api::openapi::document(Some("wxsid")).unwrap());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["token"]["name"], "token");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert_eq!(schemes["session_cookie"]["name"], "wxsid");
    // Every operation of SPEC §1.3.
    for (method, path) in [
        ("post", "authorize"),
        ("post", "refresh"),
        ("post", "logout"),
        ("get", "logout"),
        ("get", "status"),
        ("post", "status"),
        ("get", "user"),
        ("post", "user"),
        ("post", "phone"),
        ("post", "decrypt"),
    ] {
        let op = &doc["paths"][format!("/api/v1.0/auth/{path}")][method];
        assert!(op["responses"]["200"].is_object(), "{method} {path}");
    }

    let off = spawn_app_with(Backend::Sqlite, |o| o.with("compat.session_cookie", false)).await;
    let doc = served(&off).await;
    assert!(doc["components"]["securitySchemes"]
        .get("session_cookie")
        .is_none());
}

/// The check is not a formality: answers the document does not describe are
/// caught.
#[test]
fn answers_off_the_document_are_caught() {
    let caught = |method: &str, path: &str, status: u16, body: Value| {
        let text = body.to_string();
        std::panic::catch_unwind(move || openapi::check(method, path, status, &body, &text))
            .is_err()
    };
    let status = "/api/v1.0/auth/status";
    let verdict = json!({"result_code": 0, "message": "success", "data": {"is_authorized": 0}});
    assert!(!caught("GET", status, 200, verdict.clone()));
    // A status the operation does not answer, a code it does not answer…
    assert!(caught(
        "GET",
        status,
        401,
        json!({"result_code": -500, "message": "x"})
    ));
    assert!(caught(
        "GET",
        status,
        500,
        json!({"result_code": -101, "message": "x"})
    ));
    // …a success without its data, or data of the wrong shape.
    assert!(caught(
        "GET",
        status,
        200,
        json!({"result_code": 0, "message": "success"})
    ));
    assert!(caught(
        "GET",
        status,
        200,
        json!({"result_code": 0, "message": "success", "data": {"is_authorized": "yes"}})
    ));
    let pair = json!({"token": "t", "refresh_token": "r", "token_type": "Bearer",
        "expires_in": 7200, "user_id": 1, "is_new_user": true});
    let authorize = "/api/v1.0/auth/authorize";
    assert!(!caught(
        "POST",
        authorize,
        200,
        json!({"result_code": 0, "message": "success", "data": pair})
    ));
    let mut no_user = pair.clone();
    no_user.as_object_mut().unwrap().remove("user_id");
    assert!(caught(
        "POST",
        authorize,
        200,
        json!({"result_code": 0, "message": "success", "data": no_user})
    ));
    // A timestamp that is not RFC 3339.
    let user = json!({"user_id": 1, "created_at": "yesterday"});
    assert!(caught(
        "GET",
        "/api/v1.0/auth/user",
        200,
        json!({"result_code": 0, "message": "success", "data": user})
    ));
    // Not JSON at all, and an unknown path answering success.
    assert!(caught("POST", authorize, 400, Value::Null));
    assert!(caught(
        "GET",
        "/api/nowhere",
        200,
        json!({"result_code": 0, "message": "success"})
    ));
    assert!(!caught(
        "GET",
        "/api/nowhere",
        404,
        json!({"result_code": -102, "message": "no such endpoint"})
    ));
}

/// The server as it is assembled, not a list kept beside it: every route
/// mounted under `/api` is a documented operation, and every documented
/// operation is mounted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounted_api_routes_are_the_documented_operations() {
    let db = TestDb::new(Backend::Sqlite);
    let mock = MockWechat::spawn().await;
    let figment = Options::new(&db, &mock).figment;
    let clock = wxauth::clock::Clock::adjustable();
    let rocket = tokio::task::spawn_blocking(move || wxauth::rocket_with_clock(figment, clock))
        .await
        .unwrap()
        .expect("app builds")
        .ignite()
        .await
        .expect("app ignites");
    let mut mounted: Vec<(String, String)> = rocket
        .routes()
        .filter(|r| r.uri.path().starts_with("/api/") && r.uri.path() != "/api/openapi.json")
        .map(|r| {
            (
                r.method.as_str().to_ascii_lowercase(),
                // Rocket's `<id>` is OpenAPI's `{id}`.
                r.uri.path().replace('<', "{").replace('>', "}"),
            )
        })
        .collect();
    mounted.sort();
    let doc = wxauth::api::openapi::document(Some("sessionid")).unwrap();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    assert_eq!(mounted, documented);
    assert_eq!(mounted.len(), 27);
}
