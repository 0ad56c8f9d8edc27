//! Rocket's own failures under `/oidc` (no such endpoint, a method it does
//! not take, a guard that gave up, a panic) answered as the endpoints' own
//! refusals are, an RFC 6749 §5.2 error in JSON: a relying party's library
//! reads `error`, and Rocket's HTML page would leave it with nothing to
//! read. (The browser's pages, authorize and scan, answer their own
//! failures with a page.)

use rocket::http::Status;
use rocket::{catch, catchers, Catcher, Request};
use serde_json::json;

use super::token::TokenAnswer;

pub fn catchers() -> Vec<Catcher> {
    catchers![default]
}

#[catch(default)]
fn default(status: Status, req: &Request<'_>) -> TokenAnswer {
    let configured = req
        .rocket()
        .state::<crate::config::AppConfig>()
        .is_some_and(|c| c.oidc.is_some());
    let (status, error, description) = match status.code {
        404 | 405 if !configured => (
            Status::NotFound,
            "invalid_request",
            "this server is not an OpenID Connect provider: oidc.clients is empty".to_string(),
        ),
        404 | 405 => (
            Status::NotFound,
            "invalid_request",
            format!("no such endpoint: {} {}", req.method(), req.uri().path()),
        ),
        503 => (
            status,
            "temporarily_unavailable",
            "the service is unavailable".into(),
        ),
        code if code >= 500 => (
            Status::InternalServerError,
            "server_error",
            "the server failed to answer".into(),
        ),
        _ => (
            status,
            "invalid_request",
            status.reason_lossy().to_lowercase(),
        ),
    };
    TokenAnswer::with(
        status,
        json!({ "error": error, "error_description": description }),
        None,
    )
}
