//! `POST logout`: revokes the caller's session, or every session of the user.
//! Idempotent: any token we signed is accepted, even expired or already
//! logged out.

use rocket::{post, State};
use serde::Deserialize;

use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::{ClientInfo, SignedClaims};
use crate::error::ApiError;
use crate::flows;
use crate::flows::logout::Scope;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct LogoutRequest {
    #[serde(default)]
    scope: Option<String>,
}

#[post("/logout", data = "<body>")]
pub async fn logout(
    state: &State<AppState>,
    claims: Result<SignedClaims, ApiError>,
    client: ClientInfo,
    body: Result<JsonBody<LogoutRequest>, ApiError>,
) -> ApiResult {
    let SignedClaims(claims) = claims?;
    let JsonBody(request) = body?;
    let scope = match request.scope.as_deref() {
        None | Some("local") => Scope::Local,
        Some("global") => Scope::Global,
        Some(_) => {
            return Err(ApiError::bad_request(
                "scope must be \"local\" or \"global\"",
            ))
        }
    };
    flows::logout::logout(&state.db, claims, scope, client.ip).await?;
    Success::empty()
}
