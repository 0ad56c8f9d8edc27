//! `GET status`: is this token good? The introspection call of backend
//! services, and the hot path. Always HTTP 200 with result_code 0, as in the
//! original design; the verdict is `is_authorized`.

use rocket::{get, post};
use serde::Serialize;

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

#[derive(Serialize)]
struct Verdict {
    is_authorized: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

fn verdict(auth: Result<AuthSession, ApiError>) -> ApiResult {
    match auth {
        Ok(auth) => Success::data(Verdict {
            is_authorized: 1,
            user_id: Some(auth.user_id),
            expires_at: Some(rfc3339(auth.expires_at)),
        }),
        // A failure of our own is not a verdict on the token.
        Err(e @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => Err(e),
        Err(_) => Success::data(Verdict {
            is_authorized: 0,
            user_id: None,
            expires_at: None,
        }),
    }
}
