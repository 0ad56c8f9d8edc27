//! The mock Douyin: `POST /api/apps/v2/jscode2session` with JSON
//! `{appid, secret, code, anonymous_code}`. A code gives a stable openid
//! (and a unionid, the same through every Douyin app) and a session_key; an
//! anonymous code a stable anonymous_openid; both together give both.
//! Special codes, optionally followed by `-anything`:
//!
//! | code (or anonymous code alone) | answer                              |
//! |--------------------------------|-------------------------------------|
//! | `invalid`, `used`              | err_no 40018 (for an anonymous code: 40019) |
//! | `busy`                         | err_no -1, every time               |
//! | `busyonce`                     | err_no -1 the first time            |
//! | `slow` / `lag`                 | success after 30 s / 0.5 s          |
//! | `garbage`                      | HTTP 200, not JSON                  |
//! | `huge`                         | success padded to 100 KiB           |
//! | `http500`                      | HTTP 500                            |
//! | `unknown`                      | err_no 40999                        |
//! | `noopenid`                     | success without openid              |
//! | `nounion…`                     | success without unionid             |
//!
//! An anonymous code `invalid…` beside a good code is err_no 40019.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rocket::http::{ContentType, Status};
use rocket::serde::json::Json;
use rocket::{post, routes, Route, State};
use serde_json::json;

use super::{anonymous_openid_for, unionid_of, MockPlatforms, Refusal};
use crate::platforms::Platform;
use crate::wechat::mock::{openid_for, Answer};

pub fn routes() -> Vec<Route> {
    routes![jscode2session]
}

#[derive(serde::Deserialize)]
struct Request {
    appid: Option<String>,
    secret: Option<String>,
    code: Option<String>,
    anonymous_code: Option<String>,
}

fn answer(value: serde_json::Value) -> Answer {
    (Status::Ok, (ContentType::JSON, value.to_string()))
}

fn err_no(n: i64, tips: &str) -> Answer {
    answer(json!({ "err_no": n, "err_tips": tips, "data": null }))
}

#[post("/api/apps/v2/jscode2session", data = "<body>")]
async fn jscode2session(platforms: &State<MockPlatforms>, body: Option<Json<Request>>) -> Answer {
    let Some(Json(request)) = body else {
        return err_no(40014, "bad params");
    };
    let present = |v: Option<String>| v.filter(|v| !v.is_empty());
    let Some(appid) = present(request.appid) else {
        return err_no(40015, "bad appid");
    };
    let Some(secret) = present(request.secret) else {
        return err_no(40017, "bad secret");
    };
    match platforms
        .apps
        .check_secret(Platform::Douyin, &appid, &secret)
    {
        Ok(()) => {}
        Err(Refusal::UnknownApp) => return err_no(40015, "bad appid"),
        Err(Refusal::WrongSecret) => return err_no(40017, "bad secret"),
    }
    let code = present(request.code);
    let anonymous_code = present(request.anonymous_code);
    let (key, said) = match (&code, &anonymous_code) {
        (Some(code), _) => (code.clone(), code.as_str()),
        (None, Some(anonymous)) => (format!("anonymous {anonymous}"), anonymous.as_str()),
        (None, None) => return err_no(40014, "bad params: code or anonymous_code"),
    };
    let attempt = platforms.count(Platform::Douyin, &key);
    let kind = said.split('-').next().unwrap_or(said);
    let bad_anonymous = anonymous_code
        .as_deref()
        .is_some_and(|a| a.starts_with("invalid"));
    match kind {
        "invalid" | "used" if code.is_some() => return err_no(40018, "bad code"),
        "invalid" => return err_no(40019, "bad anonymous_code"),
        _ if bad_anonymous => return err_no(40019, "bad anonymous_code"),
        "busy" => return err_no(-1, "system error"),
        "busyonce" if attempt == 1 => return err_no(-1, "system error"),
        "slow" => tokio::time::sleep(Duration::from_secs(30)).await,
        "lag" => tokio::time::sleep(Duration::from_millis(500)).await,
        "garbage" => return (Status::Ok, (ContentType::HTML, "<html>502</html>".into())),
        "http500" => {
            return (
                Status::InternalServerError,
                (ContentType::Plain, "oops".into()),
            )
        }
        "unknown" => return err_no(40999, "something new"),
        _ => {}
    }
    let mut data = json!({
        "session_key": "",
        "openid": "",
        "anonymous_openid": "",
        "unionid": "",
    });
    if let Some(anonymous) = &anonymous_code {
        data["anonymous_openid"] = json!(anonymous_openid_for(&appid, anonymous));
    }
    if let Some(code) = &code {
        data["session_key"] = json!(STANDARD.encode(crate::crypto::random_bytes::<16>()));
        if kind != "noopenid" {
            data["openid"] = json!(openid_for(&appid, code));
        }
        if !code.starts_with("nounion") {
            data["unionid"] = json!(unionid_of(Platform::Douyin, code));
        }
    }
    let mut body = json!({ "err_no": 0, "err_tips": "success", "data": data });
    if kind == "huge" {
        body["padding"] = json!("x".repeat(100 * 1024));
    }
    answer(body)
}
