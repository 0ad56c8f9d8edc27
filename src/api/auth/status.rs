//! `GET status`: is this token good? The introspection call of backend
//! services, and the hot path. Always HTTP 200 with result_code 0, as in the
//! original design; the verdict is `is_authorized`.

use rocket::{get, post};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::envelope::{ApiResult, Success};
use crate::auth::guard::AuthSession;
use crate::error::{codes, ApiError, ResultCode};
use crate::timestamp::rfc3339;

/// What `status` answers besides success: only failures of its own; any
/// verdict on the token is a success.
pub const FAILS: &[ResultCode] = &[codes::FAILED];

/// Is this token good? The introspection call of backend services.
///
/// Always HTTP 200 with result_code 0: the verdict is `is_authorized`. With no
/// token, or a token that is not good (expired, revoked, banned…), it is 0.
#[utoipa::path(get, path = "/api/v1.0/auth/status", tag = "auth", operation_id = "status",
    security((), ("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[get("/status")]
pub async fn status(auth: Result<AuthSession, ApiError>) -> ApiResult {
    verdict(auth)
}

/// The same as `GET status` (the tutorial's `status` view answered any method).
#[utoipa::path(post, path = "/api/v1.0/auth/status", tag = "auth", operation_id = "status_post",
    security((), ("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[post("/status")]
pub async fn status_post(auth: Result<AuthSession, ApiError>) -> ApiResult {
    verdict(auth)
}

/// The verdict: `{"is_authorized": 1, "user_id", "expires_at"}` (and
/// `client_id` for a web sign-in's token) or `{"is_authorized": 0}`.
#[derive(Serialize, ToSchema)]
pub struct Verdict {
    #[schema(minimum = 0, maximum = 1)]
    is_authorized: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i64)]
    user_id: Option<i64>,
    /// When the session ends at the latest (its absolute lifetime).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: Option<String>,
    /// Only for a web sign-in's token (SPEC §11): the relying party it was
    /// issued to. A backend that serves the mini-program should refuse a
    /// token that has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    client_id: Option<String>,
}

fn verdict(auth: Result<AuthSession, ApiError>) -> ApiResult {
    match auth {
        Ok(auth) => Success::data(Verdict {
            is_authorized: 1,
            user_id: Some(auth.user_id),
            expires_at: Some(rfc3339(auth.expires_at)),
            client_id: auth.session.client_id,
        }),
        // A failure of our own is not a verdict on the token.
        Err(e @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => Err(e),
        Err(_) => Success::data(Verdict {
            is_authorized: 0,
            user_id: None,
            expires_at: None,
            client_id: None,
        }),
    }
}
