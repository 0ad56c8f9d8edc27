//! `POST logout` (and `GET`, as the tutorial's clients call it): revokes the
//! caller's session, or every session of the user. Idempotent: any token we
//! signed is accepted, even expired or already logged out.

use rocket::{get, post, State};
use serde::Deserialize;

use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::Caller;
use crate::client::ClientInfo;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::ApiError;
use crate::flows;
use crate::flows::logout::Scope;

#[derive(Debug, Default, Deserialize)]
pub struct LogoutRequest {
    #[serde(default)]
    scope: Option<String>,
}

#[post("/logout", data = "<body>")]
pub async fn logout(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Result<Caller, ApiError>,
    client: ClientInfo,
    body: Result<JsonBody<LogoutRequest>, ApiError>,
) -> ApiResult {
    let caller = caller?;
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
    flows::logout::logout(db, caller, scope, client.ip, clock.now()).await?;
    Success::empty()
}

/// The tutorial's `logout` view answered any method, and its clients call it
/// with `wx.request`'s default GET: the local session ends.
#[get("/logout")]
pub async fn logout_get(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Result<Caller, ApiError>,
    client: ClientInfo,
) -> ApiResult {
    flows::logout::logout(db, caller?, Scope::Local, client.ip, clock.now()).await?;
    Success::empty()
}
