//! `POST phone`: the code from `<button open-type="getPhoneNumber">` in, the
//! user's phone number out (and bound to the user). Uses the app's shared
//! WeChat access_token.

use rocket::{post, State};
use serde::Deserialize;

use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::AuthSession;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::crypto::Sealer;
use crate::db::users;
use crate::db::Db;
use crate::error::ApiError;
use crate::wechat::access_token::AccessTokens;
use crate::wechat::client::WechatClient;

#[derive(Debug, Deserialize)]
pub struct PhoneRequest {
    #[serde(default)]
    code: Option<String>,
}

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
    let auth = auth?;
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
    db.run(move |conn| {
        crate::db::write_transaction(conn, |conn| {
            users::set_phone(
                conn,
                user_id,
                &stored.phone_number,
                &stored.pure_phone_number,
                &stored.country_code,
                now,
            )
        })?;
        Ok(())
    })
    .await?;
    Success::data(info)
}
