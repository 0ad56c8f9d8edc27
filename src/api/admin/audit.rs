//! The audit log, newest first, filtered by kind and user.

use rocket::{get, State};

use super::key_guard::ReadKey;
use super::views::{AuditList, AuditRecord};
use crate::api::envelope::{ApiResult, Success};
use crate::db::{audit, Db};
use crate::error::ApiError;

/// Audit events, newest first.
#[utoipa::path(get, path = "/api/admin/v1/audit", tag = "admin", operation_id = "admin_list_events",
    params(
        ("kind" = Option<String>, Query, description = "Only events of this kind (login, logout, refresh, refresh_reuse, revoke, ban, unban, api_call, …)"),
        ("user_id" = Option<i64>, Query, description = "Only events about this user"),
        ("before" = Option<i64>, Query, description = "The next_before of the previous page"),
        ("limit" = Option<i64>, Query, description = "Events per page, 1 to 200 (default 50)"),
    ),
    security(("admin_key" = [])))]
#[get("/audit?<kind>&<user_id>&<before>&<limit>")]
pub async fn list_events(
    db: &State<Db>,
    key: Result<ReadKey, ApiError>,
    kind: Vec<&str>,
    user_id: Vec<&str>,
    before: Vec<&str>,
    limit: Vec<&str>,
) -> ApiResult {
    key?;
    let limit = super::page_size(super::single("limit", &limit)?)?;
    let user_id = super::integer("user_id", super::single("user_id", &user_id)?)?;
    let before = super::integer("before", super::single("before", &before)?)?;
    let kind = super::single("kind", &kind)?.map(str::to_string);
    if let Some(kind) = &kind {
        if !audit::KINDS.iter().any(|k| k.as_str() == kind) {
            let known: Vec<&str> = audit::KINDS.iter().map(|k| k.as_str()).collect();
            return Err(ApiError::bad_request(format!(
                "unknown kind {kind:?}; one of {}",
                known.join(", ")
            )));
        }
    }
    let page = db
        .run(move |conn| {
            let (found, next_before) =
                audit::page_with_next(conn, kind.as_deref(), user_id, before, limit)?;
            Ok(AuditList {
                events: found.into_iter().map(AuditRecord::from).collect(),
                next_before,
            })
        })
        .await?;
    Success::data(page)
}
