//! `POST refresh`: rotates the refresh token (see [`crate::flows::refresh`]).

use rocket::{post, State};
use serde::Deserialize;

use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::client::ClientInfo;
use crate::error::ApiError;
use crate::flows;
use crate::flows::refresh::{Rotate, Rotation};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct RefreshRequest {
    #[serde(default, alias = "refreshToken")]
    refresh_token: Option<String>,
}

#[post("/refresh", data = "<body>")]
pub async fn refresh(
    state: &State<AppState>,
    client: ClientInfo,
    body: Result<JsonBody<RefreshRequest>, ApiError>,
) -> ApiResult {
    state.limits.refresh.check(client.ip_addr())?;
    let JsonBody(request) = body?;
    let presented = request
        .refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("refresh_token is required"))?;
    let presented = state
        .keys
        .refresh
        .parse(&presented)
        .ok_or_else(|| ApiError::Unauthorized("unknown refresh token".into()))?;
    let request = Rotate {
        presented,
        idle_timeout: state.config.session_idle_timeout,
        ip: client.ip,
    };
    match flows::refresh::rotate(&state.db, state.keys.clone(), request, state.clock.now()).await? {
        Rotation::Rotated(pair) | Rotation::Grace(pair) => Success::data(pair),
        Rotation::Reused => Err(ApiError::SessionExpired(
            "refresh token was already used; the session has been revoked".into(),
        )),
    }
}
