//! `POST authorize`: a `wx.login` code in, a token pair out. The code is
//! exchanged with WeChat (once, however often it arrives within the reuse
//! window), the user found or created, and a new session opened.

use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::post;
use serde::Deserialize;
use utoipa::ToSchema;

use super::profile::ProfileFields;
use crate::api::context::{Api, WechatLogin};
use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::pair::PairFacts;
use crate::auth::session_cookie;
use crate::client_info::Https;
use crate::config::{AppConfig, AppEntry};
use crate::error::{codes, ApiError, ResultCode};
use crate::flows::login::{self, Login, NewLogin};

/// A login: the code of `wx.login`, and optionally the profile fields the
/// mini-program has (they update the stored profile).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthorizeRequest {
    /// From `wx.login`; valid once, for five minutes.
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    code: Option<String>,
    /// The mini-program's appid; may be left out when only one is configured.
    #[serde(default, rename = "appId", alias = "appid", alias = "app_id")]
    app_id: Option<String>,
    #[serde(flatten)]
    profile: ProfileFields,
}

const MAX_CODE_LEN: usize = 128;

fn check_code(code: Option<String>) -> Result<String, ApiError> {
    let code = code.ok_or_else(|| ApiError::bad_request("code is required"))?;
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(format!(
            "code must be 1 to {MAX_CODE_LEN} printable ASCII characters"
        )));
    }
    Ok(code)
}

fn pick_app<'a>(config: &'a AppConfig, app_id: Option<&str>) -> Result<&'a AppEntry, ApiError> {
    let apps = &config.wechat.apps;
    match app_id {
        Some(id) => config
            .app(id)
            .ok_or_else(|| ApiError::BrokenAuthorizedData("unknown appId".into())),
        None if apps.len() == 1 => Ok(&apps[0]),
        None => Err(ApiError::bad_request(
            "appId is required: several mini-programs are configured",
        )),
    }
}

/// What `authorize` answers besides success.
pub const FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::WRONG_PARAMS,
    codes::TOO_MANY_REQUESTS,
    codes::BROKEN_AUTHORIZED_DATA,
    codes::USER_BANNED,
    codes::WECHAT_ERROR,
    codes::WECHAT_INVALID_CODE,
    codes::WECHAT_RATE_LIMITED,
    codes::WECHAT_USER_BLOCKED,
    codes::WECHAT_UNAVAILABLE,
];

/// Log in with a `wx.login` code.
///
/// Exchanges the code with WeChat (a code sent again within 10 seconds shares
/// the first exchange), finds or creates the user and opens a session. The
/// answer also sets the tutorial's session cookie (unless it is turned off).
#[utoipa::path(post, path = "/api/v1.0/auth/authorize", tag = "auth", operation_id = "authorize",
    request_body = AuthorizeRequest)]
#[post("/authorize", data = "<body>")]
pub async fn authorize(
    api: Api<'_>,
    wx_login: WechatLogin<'_>,
    https: Https,
    cookies: &CookieJar<'_>,
    body: Result<JsonBody<AuthorizeRequest>, ApiError>,
) -> ApiResult {
    let Api {
        db,
        clock,
        config,
        keys,
        limits,
        metrics,
        client,
    } = api;
    let WechatLogin {
        wechat,
        exchanges,
        sealer,
    } = wx_login;
    limits.authorize.check(client.ip_addr())?;
    let JsonBody(request) = body?;
    let code = check_code(request.code)?;
    let profile = request.profile.into_changes()?;
    let app = pick_app(config, request.app_id.as_deref())?;

    let wx = exchanges
        .exchange(clock, wechat, &app.appid, app.secret.expose(), &code)
        .await
        .inspect_err(|e| metrics.login("wechat_error", Some(e.result_code())))?;
    let cookie_name = config.compat.cookie();
    let cookie_secret = cookie_name.map(|_| session_cookie::mint());
    let login = NewLogin {
        platform: crate::platforms::Platform::Wechat,
        appid: app.appid.clone(),
        openid: wx.openid,
        unionid: wx.unionid,
        anonymous: false,
        guest_openid: None,
        profile,
        session_key_sealed: Some(sealer.seal(
            crate::db::sessions::SESSION_KEY_PURPOSE,
            wx.session_key.as_bytes(),
        )?),
        session_ttl: config.session_ttl,
        ip: client.ip,
        user_agent: client.user_agent,
        cookie_hash: cookie_secret.as_ref().map(|(_, hash)| hash.clone()),
        session_limit: config.session_limit_per_user,
        idle_timeout: config.session_idle_timeout,
    };
    let now = clock.now();
    match login::open(db, login, now).await? {
        Login::Opened {
            session_id,
            user_id,
            is_new,
        } => {
            let pair = keys.pair(PairFacts {
                user_id,
                session_id: &session_id,
                appid: &app.appid,
                generation: 0,
                issued_at: now,
                is_new_user: is_new,
            })?;
            if let (Some(name), Some((secret, _))) = (cookie_name, cookie_secret) {
                // The tutorial's clients keep this header verbatim (SPEC §9).
                let value = session_cookie::value(&session_id, &secret);
                cookies.add(
                    Cookie::build((name.to_string(), value))
                        .path("/")
                        .http_only(true)
                        .same_site(SameSite::Strict)
                        .max_age(rocket::time::Duration::seconds(config.session_ttl))
                        .secure(https.0),
                );
            }
            // Debug: the request line is the one info line per request (SPEC §5);
            // the audit log keeps every login.
            tracing::debug!(target: "wxauth::login", user_id, is_new, appid = %app.appid, "login");
            metrics.login(if is_new { "new_user" } else { "returning_user" }, None);
            Success::data(pair)
        }
        Login::Banned => {
            metrics.login("refused", None);
            Err(ApiError::UserBanned)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_code;

    #[test]
    fn codes_are_bounded_printable_ascii() {
        assert!(check_code(Some("0a1B2c".into())).is_ok());
        assert!(check_code(None).is_err());
        assert!(check_code(Some(String::new())).is_err());
        assert!(check_code(Some("x".repeat(129))).is_err());
        assert!(check_code(Some("x".repeat(128))).is_ok());
        assert!(check_code(Some("has space".into())).is_err());
        assert!(check_code(Some("ünïcode".into())).is_err());
    }
}
