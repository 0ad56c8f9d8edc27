//! `POST authorize`: a login code in, a token pair out. The code is
//! exchanged with the app's platform — WeChat, QQ, Douyin or Alipay — (once,
//! however often it arrives within the reuse window), the user found or
//! created, and a new session opened. A Douyin app also takes a guest's
//! `anonymousCode`, alone or beside the code.

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
use crate::platforms::login::Proof;
use crate::platforms::Platform;

/// A login: the code of `wx.login` (`qq.login`, `tt.login`,
/// `my.getAuthCode`), and optionally the profile fields the mini-program has
/// (they update the stored profile).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AuthorizeRequest {
    /// From `wx.login` (or the app's platform's login); valid once, for five
    /// minutes. Required, except from a Douyin app that sends `anonymousCode`.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    code: Option<String>,
    /// Douyin only: `tt.login`'s `anonymousCode`. Alone, it logs in the
    /// device as a guest; beside `code`, the guest joins the real person.
    #[serde(default, rename = "anonymousCode", alias = "anonymous_code")]
    #[schema(value_type = String, min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    anonymous_code: Option<String>,
    /// The mini-program's appid; may be left out when only one app, or only
    /// one WeChat app, is configured.
    #[serde(default, rename = "appId", alias = "appid", alias = "app_id")]
    app_id: Option<String>,
    #[serde(flatten)]
    profile: ProfileFields,
}

const MAX_CODE_LEN: usize = 128;

fn check_code(code: Option<String>) -> Result<String, ApiError> {
    let code = code.ok_or_else(|| ApiError::bad_request("code is required"))?;
    check_bounds("code", code)
}

fn check_bounds(name: &str, code: String) -> Result<String, ApiError> {
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(format!(
            "{name} must be 1 to {MAX_CODE_LEN} printable ASCII characters"
        )));
    }
    Ok(code)
}

/// What the request proves: a code, or (Douyin) an anonymous code, or both.
fn proof(code: Option<String>, anonymous_code: Option<String>) -> Result<Proof, ApiError> {
    let anonymous_code = anonymous_code
        .map(|a| check_bounds("anonymousCode", a))
        .transpose()?;
    match (code, anonymous_code) {
        (None, Some(anonymous_code)) => Ok(Proof::Anonymous(anonymous_code)),
        (code, None) => Ok(Proof::Code(check_code(code)?)),
        (Some(code), Some(anonymous_code)) => Ok(Proof::CodeAndAnonymous {
            code: check_bounds("code", code)?,
            anonymous_code,
        }),
    }
}

/// Only Douyin knows anonymous codes.
fn check_platform(app: &AppEntry, proof: &Proof) -> Result<(), ApiError> {
    let anonymous = matches!(proof, Proof::Anonymous(_) | Proof::CodeAndAnonymous { .. });
    if anonymous && app.platform != Platform::Douyin {
        let name = app.platform.display_name();
        return Err(ApiError::bad_request(format!(
            "anonymousCode is Douyin's: this {name} app logs in with code alone"
        )));
    }
    Ok(())
}

/// The app `app_id` names. Without one: the only app, or else the only
/// WeChat app — a client of the original design is a WeChat mini-program
/// that sends no appId, and adding a Douyin or Alipay app must not break it
/// (SPEC §10: `authorize` is unchanged for clients). Several WeChat apps
/// and no appId is -101.
fn pick_app<'a>(config: &'a AppConfig, app_id: Option<&str>) -> Result<&'a AppEntry, ApiError> {
    let apps = &config.apps;
    if let Some(id) = app_id {
        return config
            .app(id)
            .ok_or_else(|| ApiError::BrokenAuthorizedData("unknown appId".into()));
    }
    if let [only] = apps.as_slice() {
        return Ok(only);
    }
    let mut wechat = apps.iter().filter(|a| a.platform == Platform::Wechat);
    match (wechat.next(), wechat.next()) {
        (Some(only), None) => Ok(only),
        _ => Err(ApiError::bad_request(
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

/// Log in with a `wx.login` code (or the app's platform's).
///
/// Exchanges the code with the app's platform (a code sent again within 10
/// seconds shares the first exchange), finds or creates the user and opens a
/// session. A Douyin app may send `anonymousCode` instead of, or beside,
/// `code`. The answer also sets the tutorial's session cookie (unless it is
/// turned off).
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
    limits
        .authorize
        .check_for_deployment(client.ip_addr(), db)
        .await?;
    let JsonBody(request) = body?;
    let proof = proof(request.code, request.anonymous_code)?;
    let profile = request.profile.into_changes()?;
    let app = pick_app(config, request.app_id.as_deref())?;
    check_platform(app, &proof)?;

    let exchanged = wx_login
        .exchanges
        .exchange(clock, wx_login.clients(), app, &proof)
        .await
        .inspect_err(|e| metrics.login("wechat_error", Some(e.result_code())))?;
    let session_key_sealed = match &exchanged.session_key {
        Some(key) => Some(
            wx_login
                .sealer
                .seal(crate::db::sessions::SESSION_KEY_PURPOSE, key.as_bytes())?,
        ),
        None => None,
    };
    let cookie_name = config.compat.cookie();
    let cookie_secret = cookie_name.map(|_| session_cookie::mint());
    let login = NewLogin {
        platform: app.platform,
        appid: app.appid.clone(),
        openid: exchanged.openid,
        unionid: exchanged.unionid,
        anonymous: exchanged.anonymous,
        guest_openid: exchanged.guest_openid,
        profile,
        session_key_sealed,
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
            deletion_cancelled,
        } => {
            let mut pair = keys.pair(PairFacts {
                user_id,
                session_id: &session_id,
                appid: &app.appid,
                generation: 0,
                issued_at: now,
                is_new_user: is_new,
            })?;
            pair.deletion_cancelled = deletion_cancelled.then_some(true);
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
    use super::{check_code, proof, Proof};

    #[test]
    fn one_of_code_and_anonymous_code_is_required() {
        assert!(proof(None, None).is_err());
        assert_eq!(
            proof(Some("c".into()), None).unwrap(),
            Proof::Code("c".into())
        );
        assert_eq!(
            proof(None, Some("a".into())).unwrap(),
            Proof::Anonymous("a".into())
        );
        assert!(matches!(
            proof(Some("c".into()), Some("a".into())).unwrap(),
            Proof::CodeAndAnonymous { .. }
        ));
        let err = proof(None, Some("has space".into())).unwrap_err();
        assert!(err.to_string().contains("anonymousCode"), "{err}");
        assert!(proof(Some(String::new()), Some("a".into())).is_err());
    }

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
