//! `POST refresh`: rotates the refresh token (see [`crate::flows::refresh`]).

use rocket::{post, State};
use serde::Deserialize;

use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::client::ClientInfo;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::Db;
use crate::error::ApiError;
use crate::flows;
use crate::flows::refresh::{Rotate, Rotation};
use crate::flows::Keys;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
pub struct RefreshRequest {
    #[serde(default, alias = "refreshToken")]
    refresh_token: Option<String>,
}

#[post("/refresh", data = "<body>")]
// Rocket hands every managed part and request guard in as an argument of
// its own; each says what this handler uses.
#[allow(clippy::too_many_arguments)]
pub async fn refresh(
    limits: &State<Arc<RateLimits>>,
    keys: &State<Keys>,
    config: &State<AppConfig>,
    db: &State<Db>,
    clock: &State<Clock>,
    metrics: &State<Metrics>,
    client: ClientInfo,
    body: Result<JsonBody<RefreshRequest>, ApiError>,
) -> ApiResult {
    limits.refresh.check(client.ip_addr())?;
    let JsonBody(request) = body?;
    let presented = request
        .refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("refresh_token is required"))?;
    let presented = keys
        .refresh
        .parse(&presented)
        .ok_or_else(|| ApiError::Unauthorized("unknown refresh token".into()))?;
    let request = Rotate {
        presented,
        idle_timeout: config.session_idle_timeout,
        ip: client.ip,
    };
    match flows::refresh::rotate(db, Keys::clone(keys), request, clock.now()).await? {
        Rotation::Rotated(pair) => {
            metrics.refresh("rotated");
            Success::data(pair)
        }
        Rotation::Grace(pair) => {
            metrics.refresh("grace");
            Success::data(pair)
        }
        Rotation::Reused => {
            metrics.refresh("reused");
            Err(ApiError::SessionExpired(
                "refresh token was already used; the session has been revoked".into(),
            ))
        }
    }
}
