//! Rocket's own failures under `/api` (no route, a guard that gave up, a
//! panic) answered in the envelope instead of Rocket's HTML pages.

use rocket::http::Status;
use rocket::{catch, catchers, Catcher, Request};

use crate::error::ApiError;

pub fn catchers() -> Vec<Catcher> {
    catchers![not_found, default]
}

#[catch(404)]
fn not_found(req: &Request<'_>) -> ApiError {
    ApiError::NotFound(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.uri().path()
    ))
}

#[catch(default)]
fn default(status: Status, _req: &Request<'_>) -> ApiError {
    match status.code {
        400 => ApiError::bad_request("bad request"),
        401 => ApiError::Unauthorized("unauthorized".into()),
        413 => ApiError::WrongParams {
            status,
            message: "request body is too large".into(),
        },
        415 => ApiError::WrongParams {
            status,
            message: "request body must be application/json".into(),
        },
        422 => ApiError::unprocessable(
            "a path or query parameter, or the request body, is not of the expected type",
        ),
        429 => ApiError::TooManyRequests { retry_after: 1 },
        405 | 404 => ApiError::NotFound("no such endpoint".into()),
        code if (400..500).contains(&code) => ApiError::WrongParams {
            status,
            message: status.reason_lossy().to_lowercase(),
        },
        503 => ApiError::Unavailable("service unavailable".into()),
        _ => ApiError::Internal(format!("unhandled status {status}")),
    }
}
