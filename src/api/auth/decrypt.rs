//! `POST decrypt`: WeChat's encrypted user data, opened with the session_key
//! of the caller's current session (QQ's and Douyin's alike). The
//! mini-program must not call `wx.login` between getting the data and
//! sending it here: a new login means a new session_key, and data the new
//! session cannot open. An Alipay session has no session_key: its data (the
//! `response` of `my.getPhoneNumber`) opens with the app's `aes_key`.

use rocket::{post, State};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::AuthSession;
use crate::config::AppConfig;
use crate::crypto::Sealer;
use crate::db::sessions;
use crate::db::Db;
use crate::error::{codes, ApiError, ResultCode};
use crate::platforms::alipay;
use crate::wechat::user_data as wx;

/// WeChat's encrypted data as the mini-program got it; `rawData` and
/// `signature` go together (both or neither). From an Alipay app, only
/// `encryptedData`: the `response` string of `my.getPhoneNumber`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DecryptRequest {
    /// Base64.
    #[serde(default, rename = "encryptedData", alias = "encrypted_data")]
    #[schema(value_type = String, required = true, min_length = 1)]
    encrypted_data: Option<String>,
    /// Base64, 16 bytes (not for Alipay).
    #[serde(default)]
    #[schema(value_type = String, min_length = 1)]
    iv: Option<String>,
    #[serde(default, rename = "rawData", alias = "raw_data")]
    raw_data: Option<String>,
    /// `sha1(rawData + session_key)`, lowercase hex.
    #[serde(default)]
    signature: Option<String>,
}

/// What `decrypt` answers besides success.
pub const FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::WRONG_PARAMS,
    codes::UNAUTHORIZED,
    codes::BROKEN_AUTHORIZED_DATA,
    codes::SESSION_EXPIRED,
    codes::USER_BANNED,
];

fn required(value: Option<String>, name: &str) -> Result<String, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

/// Open WeChat's encrypted user data with this session's session_key.
///
/// Call it without a `wx.login` in between: a new login means a new
/// session_key. Answers the decrypted JSON object. For an Alipay session,
/// send only `encryptedData`: it opens with the app's `aes_key` (an app
/// without one answers -501).
#[utoipa::path(post, path = "/api/v1.0/auth/decrypt", tag = "auth", operation_id = "decrypt",
    request_body = DecryptRequest, security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[post("/decrypt", data = "<body>")]
pub async fn decrypt(
    db: &State<Db>,
    sealer: &State<Sealer>,
    config: &State<AppConfig>,
    auth: Result<AuthSession, ApiError>,
    body: Result<JsonBody<DecryptRequest>, ApiError>,
) -> ApiResult {
    let auth = auth?.mini_program()?;
    let JsonBody(request) = body?;
    let encrypted = required(request.encrypted_data, "encryptedData")?;
    let app = config.app(&auth.session.appid);
    if let Some(keys) = app.and_then(|a| a.alipay.as_deref()) {
        let aes_key = keys.aes_key.as_ref().ok_or_else(|| {
            ApiError::BrokenAuthorizedData(
                "this Alipay app has no aes_key configured: its encrypted data cannot be opened"
                    .into(),
            )
        })?;
        let data = alipay::decrypt(&aes_key.0, &encrypted)
            .map_err(|e| ApiError::BrokenAuthorizedData(e.to_string()))?;
        return Success::data(data);
    }
    let iv = required(request.iv, "iv")?;
    let signed = match (request.raw_data, request.signature) {
        (Some(raw), Some(signature)) => Some((raw, signature)),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "rawData and signature go together: send both or neither",
            ))
        }
    };
    let id = auth.session.id.clone();
    let sealed = db
        .read(move |conn| Ok(sessions::sealed_key(conn, &id)?))
        .await?
        // Gone since the check a moment ago: purged with its user.
        .ok_or_else(|| ApiError::SessionExpired("session has ended".into()))?;
    // A login that gave no session_key (a Douyin guest) stores none.
    if sealed.is_empty() {
        return Err(ApiError::BrokenAuthorizedData(
            "this session has no session_key to open data with (log in with code)".into(),
        ));
    }
    let session_key = sealer
        .open(sessions::SESSION_KEY_PURPOSE, &sealed)
        .map_err(ApiError::internal)?;
    let session_key = String::from_utf8(session_key).map_err(ApiError::internal)?;
    let broken = |e: wx::DecryptError| ApiError::BrokenAuthorizedData(e.to_string());
    if let Some((raw, signature)) = &signed {
        wx::check_signature(raw, &session_key, signature).map_err(broken)?;
    }
    let data = wx::decrypt(&session_key, &encrypted, &iv, &auth.session.appid).map_err(broken)?;
    Success::data(data)
}
