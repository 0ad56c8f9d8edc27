//! Revoking one session.

use rocket::{post, State};

use super::key_guard::WriteKey;
use super::views::SessionsEnded;
use crate::api::envelope::{ApiResult, Success};
use crate::clock::Clock;
use crate::db::Db;
use crate::error::ApiError;
use crate::flows::operator_actions;

/// Revokes the session: its tokens, refresh token and cookie are refused
/// from the next request on. `revoked` is 0 when it had already ended.
#[utoipa::path(post, path = "/api/admin/v1/sessions/{id}/revoke", tag = "admin",
    operation_id = "admin_revoke_session",
    params(("id" = String, Path, description = "The session's id (a token's `sid`)")),
    security(("admin_key" = [])))]
#[post("/sessions/<id>/revoke")]
pub async fn revoke_session(
    db: &State<Db>,
    clock: &State<Clock>,
    key: Result<WriteKey, ApiError>,
    id: &str,
) -> ApiResult {
    let WriteKey(key) = key?;
    let revoked = operator_actions::revoke_session(db, id.to_string(), key.operator(), clock.now())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no session with id {id}")))?;
    Success::data(SessionsEnded {
        revoked: i64::from(revoked),
    })
}
