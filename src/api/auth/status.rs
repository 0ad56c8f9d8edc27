//! `GET status`: is this token good? The introspection call of backend
//! services, and the hot path. Always HTTP 200 with result_code 0, as in the
//! original design; the verdict is `is_authorized`.

use rocket::{get, post};
use serde_json::json;

use crate::api::envelope::{ApiResult, Success};
use crate::auth::guard::AuthSession;
use crate::error::ApiError;
use crate::timestamp::rfc3339;

#[get("/status")]
pub async fn status(auth: Result<AuthSession, ApiError>) -> ApiResult {
    verdict(auth)
}

/// The tutorial's `status` view answered any method.
#[post("/status")]
pub async fn status_post(auth: Result<AuthSession, ApiError>) -> ApiResult {
    verdict(auth)
}

fn verdict(auth: Result<AuthSession, ApiError>) -> ApiResult {
    match auth {
        Ok(auth) => Success::data(json!({
            "is_authorized": 1,
            "user_id": auth.user_id,
            "expires_at": rfc3339(auth.expires_at),
        })),
        // A failure of our own is not a verdict on the token.
        Err(e @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => Err(e),
        Err(_) => Success::data(json!({ "is_authorized": 0 })),
    }
}
