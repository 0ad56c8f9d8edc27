//! The mock WeChat: the endpoints wxauth calls, over real HTTP, so that the
//! server runs and is tested with no WeChat account. Mounted inside the server
//! when `wechat.mock` is on, and served alone by `wxauth mock-wechat`.
//!
//! Any code yields a stable openid derived from the app and the code's text
//! (`alice` is always the same user) and a fresh random session_key. Special
//! codes, optionally followed by `-anything` to make them unique, trigger the
//! failure paths:
//!
//! | code        | answer                                         |
//! |-------------|------------------------------------------------|
//! | `invalid`   | errcode 40029                                  |
//! | `used`      | errcode 40163                                  |
//! | `ratelimit` | errcode 45011                                  |
//! | `blocked`   | errcode 40226                                  |
//! | `busy`      | errcode -1, every time                         |
//! | `busyonce`  | errcode -1 the first time, then success        |
//! | `slow`      | success, after 30 s (beyond any sane time-out) |
//! | `garbage`   | HTTP 200 with a body that is not JSON          |
//! | `http500`   | HTTP 500                                       |
//! | `unknown`   | errcode 40999 (an error wxauth has no name for) |
//! | `nounion…`  | success without a unionid                      |
//!
//! `GET /__mock/calls` tells how often each code was exchanged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rocket::http::{ContentType, Status};
use rocket::serde::json::Json;
use rocket::{get, routes, Build, Rocket, Route, State};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[derive(Default)]
pub struct MockWechat {
    /// jscode2session calls per code.
    calls: Mutex<HashMap<String, u64>>,
}

impl MockWechat {
    fn count(&self, code: &str) -> u64 {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let n = calls.entry(code.to_string()).or_insert(0);
        *n += 1;
        *n
    }
}

pub fn routes() -> Vec<Route> {
    routes![jscode2session, calls]
}

/// The openid the mock gives `code` in `appid`.
pub fn openid_for(appid: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("openid:{appid}:{code}").as_bytes());
    format!("o{}", &URL_SAFE_NO_PAD.encode(digest)[..27])
}

/// The unionid the mock gives `code` (the same across apps).
pub fn unionid_for(code: &str) -> String {
    let digest = Sha256::digest(format!("unionid:{code}").as_bytes());
    format!("u{}", &URL_SAFE_NO_PAD.encode(digest)[..27])
}

type Answer = (Status, (ContentType, String));

fn wechat_json(value: Value) -> Answer {
    // WeChat labels its JSON text/plain; the client must parse the bytes anyway.
    (Status::Ok, (ContentType::Plain, value.to_string()))
}

fn errcode(code: i64, msg: &str) -> Answer {
    wechat_json(json!({
        "errcode": code,
        "errmsg": format!("{msg}, rid: {}", crate::crypto::random_token(6)),
    }))
}

#[get("/sns/jscode2session?<appid>&<secret>&<js_code>&<grant_type>")]
async fn jscode2session(
    mock: &State<MockWechat>,
    appid: Option<&str>,
    secret: Option<&str>,
    js_code: Option<&str>,
    grant_type: Option<&str>,
) -> Answer {
    let Some(appid) = appid.filter(|a| !a.is_empty()) else {
        return errcode(40013, "invalid appid");
    };
    if secret.is_none_or(str::is_empty) {
        return errcode(40125, "invalid appsecret");
    }
    if grant_type != Some("authorization_code") {
        return errcode(40002, "invalid grant_type");
    }
    let Some(code) = js_code.filter(|c| !c.is_empty()) else {
        return errcode(41008, "missing code");
    };
    let attempt = mock.count(code);
    let kind = code.split('-').next().unwrap_or(code);
    match kind {
        "invalid" => return errcode(40029, "invalid code"),
        "used" => return errcode(40163, "code been used"),
        "ratelimit" => return errcode(45011, "api minute-quota reach limit"),
        "blocked" => return errcode(40226, "invalid user"),
        "busy" => return errcode(-1, "system error"),
        "busyonce" if attempt == 1 => return errcode(-1, "system error"),
        "slow" => tokio::time::sleep(Duration::from_secs(30)).await,
        "garbage" => {
            return (
                Status::Ok,
                (
                    ContentType::HTML,
                    "<html><body>502 Bad Gateway</body></html>".into(),
                ),
            )
        }
        "http500" => {
            return (
                Status::InternalServerError,
                (ContentType::Plain, "oops".into()),
            )
        }
        "unknown" => return errcode(40999, "something new"),
        _ => {}
    }
    let mut body = json!({
        "openid": openid_for(appid, code),
        "session_key": STANDARD.encode(crate::crypto::random_bytes::<16>()),
    });
    if !code.starts_with("nounion") {
        body["unionid"] = json!(unionid_for(code));
    }
    wechat_json(body)
}

#[get("/__mock/calls")]
fn calls(mock: &State<MockWechat>) -> Json<Value> {
    let calls = mock.calls.lock().unwrap_or_else(|p| p.into_inner());
    let total: u64 = calls.values().sum();
    Json(json!({ "jscode2session": { "total": total, "by_code": *calls } }))
}

/// The stand-alone mock of `wxauth mock-wechat`.
pub fn rocket(figment: rocket::figment::Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .manage(MockWechat::default())
        .mount("/", routes())
}
