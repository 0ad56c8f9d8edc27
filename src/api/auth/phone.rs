//! `POST phone`: the code from `<button open-type="getPhoneNumber">` in, the
//! user's phone number out (and bound to the user). Uses the app's shared
//! WeChat access_token.

use rocket::{post, State};
use serde::Deserialize;
use utoipa::ToSchema;

use super::profile::PhoneView;
use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::AuthSession;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::crypto::Sealer;
use crate::db::users;
use crate::db::Db;
use crate::error::{codes, ApiError, ResultCode};
use crate::wechat::access_token::AccessTokens;
use crate::wechat::client::WechatClient;

/// The code of `<button open-type="getPhoneNumber">`'s event.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PhoneRequest {
    #[serde(default)]
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    code: Option<String>,
}

/// What `phone` answers besides success.
pub const FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::WRONG_PARAMS,
    codes::UNAUTHORIZED,
    codes::BROKEN_AUTHORIZED_DATA,
    codes::SESSION_EXPIRED,
    codes::USER_BANNED,
    codes::WECHAT_ERROR,
    codes::WECHAT_INVALID_CODE,
    codes::WECHAT_RATE_LIMITED,
    codes::WECHAT_USER_BLOCKED,
    codes::WECHAT_UNAVAILABLE,
];

/// Bind the user's phone number: the getPhoneNumber code in, the number out.
#[utoipa::path(post, path = "/api/v1.0/auth/phone", tag = "auth", operation_id = "phone",
    request_body = PhoneRequest, security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[post("/phone", data = "<body>")]
pub async fn phone(
    config: &State<AppConfig>,
    db: &State<Db>,
    sealer: &State<Sealer>,
    wechat: &State<WechatClient>,
    clock: &State<Clock>,
    auth: Result<AuthSession, ApiError>,
    body: Result<JsonBody<PhoneRequest>, ApiError>,
) -> ApiResult {
    let auth = auth?.mini_program()?;
    let JsonBody(request) = body?;
    let code = request
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("code is required"))?;
    if code.len() > 128 || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "code must be 1 to 128 printable ASCII characters",
        ));
    }
    let app = config.app(&auth.session.appid).ok_or_else(|| {
        ApiError::BrokenAuthorizedData("this session's app is no longer configured".into())
    })?;
    let tokens = AccessTokens {
        db,
        sealer,
        client: wechat,
        timeout_ms: config.wechat.timeout_ms,
    };
    let info = tokens.phone_number(app, &code).await?;
    let user_id = auth.user_id;
    let stored = info.clone();
    let now = clock.now();
    let hooks = db.webhooks().clone();
    db.run(move |conn| {
        crate::db::write_transaction(conn, |conn| {
            users::set_phone(
                conn,
                user_id,
                &stored.phone_number,
                &stored.pure_phone_number,
                &stored.country_code,
                now,
            )?;
            if let Some(user) = users::find(conn, user_id)? {
                crate::webhooks::profile_updated(&hooks, conn, &user, now)?;
            }
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    db.webhooks().ring();
    Success::data(PhoneView {
        phone_number: info.phone_number,
        pure_phone_number: info.pure_phone_number,
        country_code: info.country_code,
    })
}
