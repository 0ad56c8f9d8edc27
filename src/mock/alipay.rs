//! The mock Alipay: `POST /gateway.do`, `alipay.system.oauth.token`, its
//! parameters in the form body. It checks what Alipay checks
//! — the app is known, the parameters are complete, the timestamp is
//! Alipay's format, and the RSA2 signature verifies with the app's public
//! key (else `isv.invalid-signature`) — and signs every answer with the mock
//! Alipay's key ([`super::ALIPAY_PUBLIC_KEY`] verifies them). Special codes,
//! optionally followed by `-anything`:
//!
//! | code        | answer                                                  |
//! |-------------|---------------------------------------------------------|
//! | `invalid`, `used` | `isv.code-invalid`                                |
//! | `busy`      | `isp.unknow-error` (code 20000), every time             |
//! | `busyonce`  | `aop.ACQ.SYSTEM_ERROR` the first time                   |
//! | `slow` / `lag` | success after 30 s / 0.5 s                           |
//! | `garbage`   | HTTP 200, not JSON                                      |
//! | `huge`      | success padded to 100 KiB                               |
//! | `http500`   | HTTP 500                                                |
//! | `unknown`   | `isv.something-new` (code 40004)                        |
//! | `tampered`  | success whose text was changed after it was signed      |
//! | `unsigned`  | success without `sign`                                  |
//! | `olduser`   | success with `user_id` only (an app of before open_id)  |
//! | `nounion…`  | success without `union_id`                              |

use std::time::Duration;

use rocket::http::{ContentType, RawStr, Status};
use rocket::{post, routes, Route, State};
use serde_json::json;

use super::{unionid_of, MockPlatforms};
use crate::platforms::alipay::{OAUTH_TOKEN, OAUTH_TOKEN_RESPONSE};
use crate::platforms::rsa2;
use crate::platforms::Platform;
use crate::wechat::mock::{openid_for, Answer};

pub fn routes() -> Vec<Route> {
    routes![gateway]
}

/// Form fields: `a=b&c=d`, `+` for spaces.
fn fields(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                RawStr::new(k).url_decode_lossy().into_owned(),
                RawStr::new(v).url_decode_lossy().into_owned(),
            )
        })
        .collect()
}

/// Alipay's user_id for `code`: `2088` and twelve digits.
fn user_id_for(appid: &str, code: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("alipay-user:{appid}:{code}").as_bytes());
    let digits: String = digest
        .iter()
        .take(12)
        .map(|b| char::from(b'0' + b % 10))
        .collect();
    format!("2088{digits}")
}

#[post("/gateway.do", data = "<body>")]
async fn gateway(platforms: &State<MockPlatforms>, body: Option<String>) -> Answer {
    // wxauth sends every parameter in the form body (the `charset` of the
    // query repeats the body's).
    let params = fields(body.as_deref().unwrap_or(""));
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let error = |code: &str, msg: &str, sub_code: &str, sub_msg: &str| {
        signed(
            platforms,
            "error_response",
            json!({ "code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg }),
            Fault::None,
        )
    };
    let Some(appid) = param("app_id") else {
        return error(
            "40001",
            "Missing Required Arguments",
            "isv.missing-app-id",
            "缺少AppID参数",
        );
    };
    let Some(app_key) = platforms.apps.alipay_public_key(appid) else {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-app-id",
            "无效的AppID参数",
        );
    };
    if param("method") != Some(OAUTH_TOKEN) {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-method",
            "不存在的方法名",
        );
    }
    if param("sign_type") != Some("RSA2") {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature-type",
            "无效的签名类型",
        );
    }
    if param("charset").is_some_and(|c| !c.eq_ignore_ascii_case("utf-8")) {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-charset",
            "字符集错误",
        );
    }
    if param("version") != Some("1.0") {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-version",
            "版本号无效",
        );
    }
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    if param("timestamp").is_none_or(|t| time::PrimitiveDateTime::parse(t, &format).is_err()) {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-timestamp",
            "非法的时间戳参数",
        );
    }
    let Some(sign) = param("sign") else {
        return error(
            "40001",
            "Missing Required Arguments",
            "isv.missing-signature",
            "缺少签名参数",
        );
    };
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !app_key.verify(rsa2::signing_string(&pairs).as_bytes(), sign) {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature",
            "验签出错",
        );
    }
    if param("grant_type") != Some("authorization_code") {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.grant-type-invalid",
            "grant_type参数不正确",
        );
    }
    let Some(code) = param("code") else {
        return error(
            "40002",
            "Invalid Arguments",
            "isv.code-invalid",
            "授权码code无效",
        );
    };
    let attempt = platforms.count(Platform::Alipay, code);
    let kind = code.split('-').next().unwrap_or(code);
    let mut fault = Fault::None;
    match kind {
        "invalid" | "used" => {
            return error(
                "40002",
                "Invalid Arguments",
                "isv.code-invalid",
                "授权码code无效",
            )
        }
        "busy" => {
            return error(
                "20000",
                "Service Currently Unavailable",
                "isp.unknow-error",
                "系统繁忙",
            )
        }
        "busyonce" if attempt == 1 => {
            return error(
                "20000",
                "Service Currently Unavailable",
                "aop.ACQ.SYSTEM_ERROR",
                "系统异常",
            )
        }
        "slow" => tokio::time::sleep(Duration::from_secs(30)).await,
        "lag" => tokio::time::sleep(Duration::from_millis(500)).await,
        "garbage" => return (Status::Ok, (ContentType::HTML, "<html>502</html>".into())),
        "http500" => {
            return (
                Status::InternalServerError,
                (ContentType::Plain, "oops".into()),
            )
        }
        "unknown" => return error("40004", "Business Failed", "isv.something-new", "新的错误"),
        "tampered" => fault = Fault::Tampered,
        "unsigned" => fault = Fault::Unsigned,
        _ => {}
    }
    let mut response = json!({
        "user_id": user_id_for(appid, code),
        "open_id": openid_for(appid, code),
        "access_token": format!("authusrB{}", crate::crypto::random_token(12)),
        "expires_in": 1296000,
        "refresh_token": format!("authusrB{}", crate::crypto::random_token(12)),
        "re_expires_in": 2592000,
        "auth_start": "2026-12-04 10:00:00",
    });
    if kind == "olduser" {
        response.as_object_mut().map(|o| o.remove("open_id"));
    }
    if !code.starts_with("nounion") {
        response["union_id"] = json!(unionid_of(Platform::Alipay, code));
    }
    if kind == "huge" {
        response["padding"] = json!("x".repeat(100 * 1024));
    }
    signed(platforms, OAUTH_TOKEN_RESPONSE, response, fault)
}

/// What the mock does wrong on purpose.
#[derive(PartialEq)]
enum Fault {
    None,
    /// The text changes after signing.
    Tampered,
    Unsigned,
}

/// `{"<field>": <object>, "sign": "<RSA2 of the object's text>"}`.
fn signed(
    platforms: &MockPlatforms,
    field: &str,
    object: serde_json::Value,
    fault: Fault,
) -> Answer {
    // Alipay writes its answers with spaces of its own; the signature is over
    // the text as written, and the client must verify that very text.
    let text = serde_json::to_string_pretty(&object).unwrap_or_default();
    let sign = platforms
        .alipay_key
        .as_ref()
        .and_then(|key| key.sign(text.as_bytes()).ok())
        .unwrap_or_default();
    let text = match fault {
        Fault::Tampered => {
            text.replacen("\"open_id\"", "\"open_id\":\"o-someone-else\",\"was\"", 1)
        }
        _ => text,
    };
    let body = if fault == Fault::Unsigned {
        format!(r#"{{"{field}":{text}}}"#)
    } else {
        format!(r#"{{"{field}":{text},"sign":"{sign}"}}"#)
    };
    // Alipay labels its JSON text/html; the client reads the bytes anyway.
    (Status::Ok, (ContentType::HTML, body))
}
