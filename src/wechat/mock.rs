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
//! | `lag`       | success, after 0.5 s (a code still in exchange) |
//! | `held`      | success once `POST /__mock/release` names it (at most 30 s) |
//! | `garbage`   | HTTP 200 with a body that is not JSON          |
//! | `huge`      | success, padded to 100 KiB                     |
//! | `http500`   | HTTP 500                                       |
//! | `truncated` | HTTP 200 with JSON cut off half-way            |
//! | `noopenid`  | HTTP 200 with a session_key but no openid      |
//! | `unknown`   | errcode 40999 (an error wxauth has no name for) |
//! | `nounion…`  | success without a unionid                      |
//!
//! `POST /cgi-bin/stable_token` hands out access tokens (all stay valid);
//! `POST /wxa/business/getuserphonenumber` answers a token it did not hand out
//! with 42001 (expired) when the token starts with `expired`, 40014 (invalid)
//! when it starts with `invalid`, else 40001; and for its codes: `invalid` 40029, `used` 40163, `ratelimit`
//! 45011, `busy` -1, `garbage` a body that is not JSON; any other code is a
//! stable phone number derived from the code (`numcc…` codes get
//! `countryCode` as a number, as WeChat sometimes sends it).
//!
//! `POST /wxa/getwxacodeunlimit` refuses a token as `getuserphonenumber`
//! does, then checks the body as WeChat does: no JSON, or a scene missing,
//! empty or longer than 32 characters, 40169; a character outside
//! `[0-9A-Za-z]` and `!#$&'()*+,/:;=?@-._~`, 40129; a page that is empty,
//! starts with `/` or has a query, 41030 (no page: the home page, as
//! WeChat's); an `env_version` other than `release`, `trial` or `develop`,
//! 40097. Otherwise it answers a real PNG (`image/png`; WeChat's are JPEG)
//! whose QR code holds exactly the scene (see [`code_png`]).
//!
//! `GET /__mock/calls` tells how often each code was exchanged, how many
//! tokens and phone numbers were asked for, how often a phone number call
//! was refused with each errcode, and of `getwxacodeunlimit` the calls, the
//! codes answered per scene and per version asked for (`env_version`,
//! `check_path`), and the refusals per errcode; and under `qq`,
//! `douyin` and `alipay` how often each of their codes was (see
//! `crate::mock`).
//!
//! The other platforms' mocks are mounted beside it, at `/qq`, `/douyin` and
//! `/alipay` under the same base (`crate::mock`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rocket::http::{ContentType, Status};
use rocket::serde::json::Json;
use rocket::{get, post, routes, Build, Rocket, Route, State};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::wxacode::{is_scene_char, SCENE_MAX};
use crate::config::AppEntry;
use crate::platforms::Platform;

#[derive(Default)]
pub struct MockWechat {
    /// jscode2session calls per code.
    calls: Mutex<HashMap<String, u64>>,
    /// access tokens handed out, and how many calls asked for one.
    tokens: Mutex<(std::collections::HashSet<String>, u64)>,
    /// getuserphonenumber calls.
    phone_calls: std::sync::atomic::AtomicU64,
    /// getuserphonenumber refusals per errcode (which stale-token code a
    /// test's call really met).
    phone_errcodes: Mutex<HashMap<i64, u64>>,
    /// How `stable_token` fails, when a test has said so.
    token_fault: Mutex<Option<String>>,
    /// getwxacodeunlimit calls.
    wxacodes: Mutex<WxaCodeCalls>,
}

#[derive(Default)]
struct WxaCodeCalls {
    total: u64,
    /// Codes answered per scene (a refused call counts under its errcode).
    by_scene: HashMap<String, u64>,
    by_errcode: HashMap<i64, u64>,
    /// Codes answered per version opened and whether the page was checked,
    /// as "release, check_path" or "trial, no check_path" (WeChat's
    /// defaults where the request left them out).
    by_version: HashMap<String, u64>,
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
    routes![
        jscode2session,
        stable_token,
        user_phone_number,
        wxacode_unlimited,
        calls,
        stable_token_fault,
        release
    ]
}

/// The openid the mock gives `code` in `appid`.
pub fn openid_for(appid: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("openid:{appid}:{code}").as_bytes());
    format!("o{}", &URL_SAFE_NO_PAD.encode(digest)[..27])
}

/// The unionid the mock WeChat gives `code` (the same across apps).
pub fn unionid_for(code: &str) -> String {
    crate::mock::unionid_of(Platform::Wechat, code)
}

pub type Answer = (Status, (ContentType, String));

fn wechat_json(value: Value) -> Answer {
    wechat_json_text(value.to_string())
}

fn wechat_json_text(text: String) -> Answer {
    // WeChat labels its JSON text/plain; the client must parse the bytes anyway.
    (Status::Ok, (ContentType::Plain, text))
}

pub fn errcode(code: i64, msg: &str) -> Answer {
    wechat_json(json!({
        "errcode": code,
        "errmsg": format!("{msg}, rid: {}", crate::crypto::random_token(6)),
    }))
}

#[get("/sns/jscode2session?<appid>&<secret>&<js_code>&<grant_type>")]
async fn jscode2session(
    mock: &State<MockWechat>,
    platforms: &State<crate::mock::MockPlatforms>,
    appid: Option<&str>,
    secret: Option<&str>,
    js_code: Option<&str>,
    grant_type: Option<&str>,
) -> Answer {
    let request = Code2SessionRequest {
        appid,
        secret,
        js_code,
        grant_type,
    };
    code2session_answer(Platform::Wechat, platforms, request, |code| {
        mock.count(code)
    })
    .await
}

/// A `jscode2session` request's query.
pub struct Code2SessionRequest<'a> {
    pub appid: Option<&'a str>,
    pub secret: Option<&'a str>,
    pub js_code: Option<&'a str>,
    pub grant_type: Option<&'a str>,
}

/// WeChat's `jscode2session` answer, which QQ's is too; `count` counts the
/// code's exchange and tells which attempt this is.
pub async fn code2session_answer(
    platform: Platform,
    platforms: &crate::mock::MockPlatforms,
    request: Code2SessionRequest<'_>,
    count: impl FnOnce(&str) -> u64,
) -> Answer {
    let Some(appid) = request.appid.filter(|a| !a.is_empty()) else {
        return errcode(40013, "invalid appid");
    };
    let Some(secret) = request.secret.filter(|s| !s.is_empty()) else {
        return errcode(40125, "invalid appsecret");
    };
    match platforms.apps.check_secret(platform, appid, secret) {
        Ok(()) => {}
        Err(crate::mock::Refusal::UnknownApp) => return errcode(40013, "invalid appid"),
        Err(crate::mock::Refusal::WrongSecret) => return errcode(40125, "invalid appsecret"),
    }
    if request.grant_type != Some("authorization_code") {
        return errcode(40002, "invalid grant_type");
    }
    let Some(code) = request.js_code.filter(|c| !c.is_empty()) else {
        return errcode(41008, "missing code");
    };
    let attempt = count(code);
    let kind = code.split('-').next().unwrap_or(code);
    match kind {
        "invalid" => return errcode(40029, "invalid code"),
        "used" => return errcode(40163, "code been used"),
        "ratelimit" => return errcode(45011, "api minute-quota reach limit"),
        "blocked" => return errcode(40226, "invalid user"),
        "busy" => return errcode(-1, "system error"),
        "busyonce" if attempt == 1 => return errcode(-1, "system error"),
        "slow" => tokio::time::sleep(Duration::from_secs(30)).await,
        "lag" => tokio::time::sleep(Duration::from_millis(500)).await,
        "held" => platforms.hold(code).await,
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
        "truncated" => return wechat_json_text(r#"{"openid":"oTrunc","session_key":"#.into()),
        "noopenid" => {
            return wechat_json(json!({
                "session_key": STANDARD.encode(crate::crypto::random_bytes::<16>()),
            }))
        }
        _ => {}
    }
    let mut body = json!({
        "openid": openid_for(appid, code),
        "session_key": STANDARD.encode(crate::crypto::random_bytes::<16>()),
    });
    if !code.starts_with("nounion") {
        body["unionid"] = json!(crate::mock::unionid_of(platform, code));
    }
    if kind == "huge" {
        body["padding"] = json!("x".repeat(100 * 1024));
    }
    wechat_json(body)
}

#[derive(serde::Deserialize)]
struct StableTokenRequest {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
}

#[post("/cgi-bin/stable_token", data = "<body>")]
async fn stable_token(mock: &State<MockWechat>, body: Option<Json<StableTokenRequest>>) -> Answer {
    let Some(Json(body)) = body else {
        return errcode(44002, "empty post data");
    };
    if body.grant_type.as_deref() != Some("client_credential") {
        return errcode(40002, "invalid grant_type");
    }
    if body.appid.as_deref().is_none_or(str::is_empty) {
        return errcode(40013, "invalid appid");
    }
    if body.secret.as_deref().is_none_or(str::is_empty) {
        return errcode(40125, "invalid appsecret");
    }
    mock.tokens.lock().unwrap_or_else(|p| p.into_inner()).1 += 1;
    let fault = mock
        .token_fault
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match fault.as_deref() {
        Some("slow") => tokio::time::sleep(Duration::from_secs(3)).await,
        Some("http500") => {
            return (
                Status::InternalServerError,
                (ContentType::Plain, "oops".into()),
            )
        }
        Some("garbage") => return (Status::Ok, (ContentType::HTML, "<html>502</html>".into())),
        Some("truncated") => return wechat_json_text(r#"{"access_token":"#.into()),
        Some("busy") => return errcode(-1, "system error"),
        _ => {}
    }
    let token = format!("mock-access-token-{}", crate::crypto::random_token(12));
    mock.tokens
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .0
        .insert(token.clone());
    wechat_json(json!({ "access_token": token, "expires_in": 7200 }))
}

#[derive(serde::Deserialize)]
struct PhoneRequest {
    code: Option<String>,
}

/// The phone number the mock gives `code`: 13 and nine digits of its hash.
pub fn phone_for(code: &str) -> String {
    let digest = Sha256::digest(format!("phone:{code}").as_bytes());
    let digits: String = digest
        .iter()
        .take(9)
        .map(|b| char::from(b'0' + b % 10))
        .collect();
    format!("13{digits}")
}

#[post("/wxa/business/getuserphonenumber?<access_token>", data = "<body>")]
fn user_phone_number(
    mock: &State<MockWechat>,
    access_token: Option<&str>,
    body: Option<Json<PhoneRequest>>,
) -> Answer {
    mock.phone_calls
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let answer = phone_answer(mock, access_token, body);
    if let Some(code) = serde_json::from_str::<Value>(&answer.1 .1)
        .ok()
        .and_then(|v| v["errcode"].as_i64())
        .filter(|c| *c != 0)
    {
        *mock
            .phone_errcodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code)
            .or_insert(0) += 1;
    }
    answer
}

/// WeChat's refusal of an access_token the mock did not hand out: 42001
/// (expired) when it starts with `expired`, 40014 (invalid) when it starts
/// with `invalid`, else 40001.
fn refused_token(mock: &MockWechat, access_token: Option<&str>) -> Option<(i64, &'static str)> {
    let known = {
        let tokens = mock.tokens.lock().unwrap_or_else(|p| p.into_inner());
        access_token.is_some_and(|t| tokens.0.contains(t))
    };
    if known {
        return None;
    }
    Some(match access_token.unwrap_or_default() {
        t if t.starts_with("expired") => (42001, "access_token expired"),
        t if t.starts_with("invalid") => (40014, "invalid access_token"),
        _ => (
            40001,
            "invalid credential, access_token is invalid or not latest",
        ),
    })
}

fn phone_answer(
    mock: &MockWechat,
    access_token: Option<&str>,
    body: Option<Json<PhoneRequest>>,
) -> Answer {
    if let Some((code, msg)) = refused_token(mock, access_token) {
        return errcode(code, msg);
    }
    let Some(code) = body.and_then(|Json(b)| b.code).filter(|c| !c.is_empty()) else {
        return errcode(47001, "data format error");
    };
    match code.split('-').next().unwrap_or(&code) {
        "invalid" => return errcode(40029, "invalid code"),
        "used" => return errcode(40163, "code been used"),
        "ratelimit" => return errcode(45011, "api minute-quota reach limit"),
        "busy" => return errcode(-1, "system error"),
        "garbage" => return (Status::Ok, (ContentType::HTML, "<html>oops</html>".into())),
        _ => {}
    }
    let pure = phone_for(&code);
    let country_code = if code.starts_with("numcc") {
        json!(86)
    } else {
        json!("86")
    };
    wechat_json(json!({
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": pure,
            "purePhoneNumber": pure,
            "countryCode": country_code,
            "watermark": { "timestamp": crate::timestamp::now(), "appid": "mock" },
        },
    }))
}

/// A `getwxacodeunlimit` body; what the mock does not check (`check_path`:
/// it knows no pages, and only counts it; `width`, `auto_color`,
/// `line_color`, `is_hyaline`) is let through.
#[derive(serde::Deserialize)]
struct WxaCodeRequest {
    scene: Option<String>,
    page: Option<String>,
    env_version: Option<String>,
    check_path: Option<bool>,
}

/// An answer that is an image or WeChat's JSON.
type ImageAnswer = (Status, (ContentType, Vec<u8>));

#[post("/wxa/getwxacodeunlimit?<access_token>", data = "<body>")]
fn wxacode_unlimited(
    mock: &State<MockWechat>,
    access_token: Option<&str>,
    body: Option<Json<WxaCodeRequest>>,
) -> ImageAnswer {
    let answer = wxacode_answer(mock, access_token, body);
    let mut calls = mock.wxacodes.lock().unwrap_or_else(|p| p.into_inner());
    calls.total += 1;
    match answer {
        Ok((scene, version, png)) => {
            *calls.by_scene.entry(scene).or_insert(0) += 1;
            *calls.by_version.entry(version).or_insert(0) += 1;
            (Status::Ok, (ContentType::PNG, png))
        }
        Err((code, msg)) => {
            *calls.by_errcode.entry(code).or_insert(0) += 1;
            let (status, (content_type, text)) = errcode(code, msg);
            (status, (content_type, text.into_bytes()))
        }
    }
}

/// The scene, the version asked for (see [`WxaCodeCalls::by_version`]) and
/// the code, or WeChat's errcode and errmsg.
fn wxacode_answer(
    mock: &MockWechat,
    access_token: Option<&str>,
    body: Option<Json<WxaCodeRequest>>,
) -> Result<(String, String, Vec<u8>), (i64, &'static str)> {
    if let Some(refusal) = refused_token(mock, access_token) {
        return Err(refusal);
    }
    let bad_scene = (
        40169,
        "invalid length for scene, or the data is not json string",
    );
    let Some(Json(body)) = body else {
        return Err(bad_scene);
    };
    let scene = body.scene.unwrap_or_default();
    if scene.is_empty() || scene.chars().count() > SCENE_MAX {
        return Err(bad_scene);
    }
    if !scene.chars().all(is_scene_char) {
        return Err((40129, "invalid scene"));
    }
    if let Some(page) = &body.page {
        if page.is_empty() || page.starts_with('/') || page.contains('?') {
            return Err((41030, "invalid page"));
        }
    }
    if let Some(env) = &body.env_version {
        if !matches!(env.as_str(), "release" | "trial" | "develop") {
            return Err((40097, "invalid args"));
        }
    }
    let version = format!(
        "{}, {}",
        body.env_version.as_deref().unwrap_or("release"),
        if body.check_path.unwrap_or(true) {
            "check_path"
        } else {
            "no check_path"
        }
    );
    match code_png(&scene) {
        Ok(png) => Ok((scene, version, png)),
        Err(e) => {
            tracing::error!("the mock cannot draw the code of a valid scene: {e}");
            Err((-1, "system error"))
        }
    }
}

/// Pixels per module of the mock's codes, and the quiet zone around the
/// symbol in modules (the four the QR standard asks for).
const MODULE_PX: usize = 4;
const QUIET_ZONE: usize = 4;

/// A grayscale PNG of the QR code that holds `scene`, as its bytes.
pub fn code_png(scene: &str) -> Result<Vec<u8>, String> {
    let code = qrcode::QrCode::new(scene.as_bytes()).map_err(|e| e.to_string())?;
    let modules = code.width();
    let side = (modules + 2 * QUIET_ZONE) * MODULE_PX;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in code.to_colors().into_iter().enumerate() {
        let value = color.select(0u8, 255u8);
        let (x, y) = (i % modules + QUIET_ZONE, i / modules + QUIET_ZONE);
        for row in y * MODULE_PX..(y + 1) * MODULE_PX {
            let start = row * side + x * MODULE_PX;
            pixels[start..start + MODULE_PX].fill(value);
        }
    }
    let mut png = Vec::new();
    let side = u32::try_from(side).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(&mut png, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(png)
}

/// Makes `stable_token` fail from now on (`slow`, `http500`, `garbage`,
/// `truncated`, `busy`), or work again (anything else).
#[post("/__mock/stable_token_fault", data = "<fault>")]
fn stable_token_fault(mock: &State<MockWechat>, fault: String) {
    *mock.token_fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(fault);
}

/// Lets the exchange of a `held` code (the body) answer, now or when it
/// comes.
#[post("/__mock/release", data = "<code>")]
fn release(platforms: &State<crate::mock::MockPlatforms>, code: String) {
    platforms.release(&code);
}

#[get("/__mock/calls")]
fn calls(mock: &State<MockWechat>, platforms: &State<crate::mock::MockPlatforms>) -> Json<Value> {
    let calls = mock.calls.lock().unwrap_or_else(|p| p.into_inner());
    let total: u64 = calls.values().sum();
    let stable_tokens = mock.tokens.lock().unwrap_or_else(|p| p.into_inner()).1;
    let phone_errcodes: HashMap<String, u64> = mock
        .phone_errcodes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(code, n)| (code.to_string(), *n))
        .collect();
    let wxacodes = mock.wxacodes.lock().unwrap_or_else(|p| p.into_inner());
    let wxacode_errcodes: HashMap<String, u64> = wxacodes
        .by_errcode
        .iter()
        .map(|(code, n)| (code.to_string(), *n))
        .collect();
    let mut answer = json!({
        "jscode2session": { "total": total, "by_code": *calls },
        "stable_token": { "total": stable_tokens },
        "getuserphonenumber": {
            "total": mock.phone_calls.load(std::sync::atomic::Ordering::Relaxed),
            "by_errcode": phone_errcodes,
        },
        "getwxacodeunlimit": {
            "total": wxacodes.total,
            "by_scene": wxacodes.by_scene,
            "by_errcode": wxacode_errcodes,
            "by_version": wxacodes.by_version,
        },
    });
    for platform in [Platform::Qq, Platform::Douyin, Platform::Alipay] {
        answer[platform.as_str()] = platforms.calls(platform);
    }
    Json(answer)
}

/// The mock of every platform mounted at `base` of a server (the built-in
/// mock of `wechat.mock`), knowing the server's apps.
pub fn stage(base: &'static str, apps: Vec<AppEntry>) -> rocket::fairing::AdHoc {
    rocket::fairing::AdHoc::on_ignite("mock WeChat", move |rocket| async move {
        mount(rocket, base, &apps)
    })
}

/// The stand-alone mock of `wxauth mock-wechat`: it knows the apps of the
/// configuration, if any (their secrets, and the Alipay apps' public keys,
/// derived from their private keys); with none it takes any secret, and
/// refuses every Alipay request (it cannot check its signature).
pub fn rocket(figment: rocket::figment::Figment) -> Rocket<Build> {
    let apps = crate::config::read_apps_of(&figment).unwrap_or_else(|e| {
        tracing::warn!("the mock knows no apps: {e}");
        Vec::new()
    });
    // The mock keeps no secrets, but Rocket's `secrets` feature refuses a
    // release build without a key: give it a throw-away one.
    let key = STANDARD.encode(crate::crypto::random_bytes::<32>());
    mount(
        rocket::custom(figment.merge(("secret_key", key))),
        "/",
        &apps,
    )
}

fn mount(rocket: Rocket<Build>, base: &str, apps: &[AppEntry]) -> Rocket<Build> {
    crate::mock::mount(
        rocket.manage(MockWechat::default()).mount(base, routes()),
        base,
        apps,
    )
}
