//! `POST refresh`: rotates the refresh token (see [`crate::flows::refresh`]).

use rocket::post;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::context::Api;
use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::pair::{PairFacts, TokenPair};
use crate::auth::Keys;
use crate::error::{codes, ApiError, ResultCode};
use crate::flows;
use crate::flows::refresh::{Rotate, Rotation};
use crate::flows::Issued;

/// The refresh token of the last pair (`refreshToken` is accepted too).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[serde(default, alias = "refreshToken")]
    #[schema(value_type = String, required = true, min_length = 1)]
    refresh_token: Option<String>,
}

/// What `refresh` answers besides success.
pub const FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::WRONG_PARAMS,
    codes::TOO_MANY_REQUESTS,
    codes::UNAUTHORIZED,
    codes::SESSION_EXPIRED,
    codes::USER_BANNED,
];

/// Trade a refresh token for a new pair.
///
/// The presented refresh token is spent. Presented again within 10 seconds it
/// answers the same pair; later, it is taken for theft: the session is
/// revoked and the answer is -502.
#[utoipa::path(post, path = "/api/v1.0/auth/refresh", tag = "auth", operation_id = "refresh",
    request_body = RefreshRequest)]
#[post("/refresh", data = "<body>")]
pub async fn refresh(api: Api<'_>, body: Result<JsonBody<RefreshRequest>, ApiError>) -> ApiResult {
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
        .refresh
        .check_for_deployment(client.ip_addr(), db)
        .await?;
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
        // A mini-program's refresh token only: a web sign-in's rotates at
        // /oidc/token, where its client authenticates.
        client_id: None,
    };
    match flows::refresh::rotate(db, request, clock.now()).await? {
        Rotation::Rotated(issued) => {
            metrics.refresh("rotated");
            Success::data(pair_of(keys, &issued)?)
        }
        Rotation::Grace(issued) => {
            metrics.refresh("grace");
            Success::data(pair_of(keys, &issued)?)
        }
        Rotation::Reused => {
            metrics.refresh("reused");
            Err(ApiError::SessionExpired(
                "refresh token was already used; the session has been revoked".into(),
            ))
        }
    }
}

/// The pair of a rotated (or, within the grace, re-given) generation.
fn pair_of(keys: &Keys, issued: &Issued) -> Result<TokenPair, ApiError> {
    keys.pair(PairFacts {
        user_id: issued.user_id,
        session_id: &issued.session_id,
        appid: &issued.appid,
        generation: issued.generation,
        issued_at: issued.issued_at,
        is_new_user: false,
    })
}
