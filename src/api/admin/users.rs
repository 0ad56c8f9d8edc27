//! Users: list and search, one user with sessions, and the actions on a
//! user — end every session, ban, unban, merge, unlink, erase — through the
//! console's flows, so
//! each is one transaction with its audit event (actor `apikey:NAME`).

use rocket::{delete, get, post, State};
use serde::Deserialize;
use utoipa::ToSchema;

use super::key_guard::{OwnerKey, ReadKey, WriteKey};
use super::views::{
    MergeDone, SessionRecord, SessionsEnded, UnlinkDone, UserErased, UserList, UserRecord,
    UserWithSessions,
};
use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::{identities, sessions, users, Db};
use crate::error::{codes, ApiError, ResultCode};
use crate::flows::account_deletion;
use crate::flows::operator_actions::{self, UserAction};
use crate::flows::people::{self, Merged, Unlinked};
use crate::flows::user_directory;

/// What the reading calls answer besides success.
pub const READ_FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::WRONG_PARAMS,
    codes::RESOURCE_NOT_FOUND,
    codes::TOO_MANY_REQUESTS,
    codes::UNAUTHORIZED,
];

/// What the changing calls answer besides success (a read key: -500, 403).
pub const WRITE_FAILS: &[ResultCode] = READ_FAILS;

/// Users, newest first, optionally searched: `q` matches an id, phone number,
/// openid or unionid exactly, or a piece of a nickname (the console's search).
#[utoipa::path(get, path = "/api/admin/v1/users", tag = "admin", operation_id = "admin_list_users",
    params(
        ("q" = Option<String>, Query, description = "Search text"),
        ("before" = Option<i64>, Query, description = "The next_before of the previous page"),
        ("limit" = Option<i64>, Query, description = "Users per page, 1 to 200 (default 50)"),
    ),
    security(("admin_key" = [])))]
#[get("/users?<q>&<before>&<limit>")]
pub async fn list_users(
    db: &State<Db>,
    clock: &State<Clock>,
    key: Result<ReadKey, ApiError>,
    q: Vec<&str>,
    before: Vec<&str>,
    limit: Vec<&str>,
) -> ApiResult {
    key?;
    let limit = super::page_size(super::single("limit", &limit)?)?;
    let before = super::integer("before", super::single("before", &before)?)?;
    let q = super::single("q", &q)?;
    let found = user_directory::page(db, q, before, limit, clock.now()).await?;
    let users = found
        .users
        .into_iter()
        .map(|l| UserRecord::new(l.user, l.active_sessions, l.identities))
        .collect();
    Success::data(UserList {
        users,
        next_before: found.next_before,
    })
}

/// Sessions shown with a user, newest first.
const SESSIONS_SHOWN: i64 = 200;

/// One user, with their latest sessions. A merged-away id answers its
/// tombstone, with `merged_into` saying where the person lives on.
#[utoipa::path(get, path = "/api/admin/v1/users/{id}", tag = "admin", operation_id = "admin_get_user",
    params(("id" = i64, Path, description = "The user's id")),
    security(("admin_key" = [])))]
#[get("/users/<id>")]
pub async fn get_user(
    db: &State<Db>,
    clock: &State<Clock>,
    config: &State<AppConfig>,
    key: Result<ReadKey, ApiError>,
    id: i64,
) -> ApiResult {
    key?;
    let now = clock.now();
    let idle = config.session_idle_timeout;
    let found = db
        .run(move |conn| {
            let Some(user) = users::find(conn, id)? else {
                return Ok(None);
            };
            let sessions = sessions::of_user(conn, id, SESSIONS_SHOWN)?;
            Ok(Some((user, sessions, identities::of_user(conn, id)?)))
        })
        .await?;
    let (user, sessions, identities) = found.ok_or_else(|| no_such_user(id))?;
    let sessions: Vec<SessionRecord> = sessions
        .into_iter()
        .map(|s| SessionRecord::new(s, now, idle))
        .collect();
    let active = sessions
        .iter()
        .filter(|s| matches!(s.state, super::views::SessionState::Active))
        .count() as i64;
    Success::data(UserWithSessions {
        merged_into: user.merged_into,
        user: UserRecord::new(user, active, identities),
        sessions,
    })
}

fn no_such_user(id: i64) -> ApiError {
    ApiError::NotFound(format!("no user with id {id}"))
}

/// Ends every live session of the user (their tokens are refused at once).
#[utoipa::path(post, path = "/api/admin/v1/users/{id}/revoke-sessions", tag = "admin",
    operation_id = "admin_end_sessions",
    params(("id" = i64, Path, description = "The user's id")),
    security(("admin_key" = [])))]
#[post("/users/<id>/revoke-sessions")]
pub async fn end_sessions(
    db: &State<Db>,
    clock: &State<Clock>,
    key: Result<WriteKey, ApiError>,
    id: i64,
) -> ApiResult {
    let WriteKey(key) = key?;
    let revoked =
        operator_actions::act_on_user(db, id, UserAction::SignOutAll, key.operator(), clock.now())
            .await?
            .ok_or_else(|| no_such_user(id))?;
    Success::data(SessionsEnded {
        revoked: revoked as i64,
    })
}

/// Why a user is banned.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct BanRequest {
    /// Shown to operators in the console and the audit log; at most 200
    /// characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub reason: Option<String>,
}

const MAX_REASON_CHARS: usize = 200;

/// Bans the user: every session ends and new logins are refused (-503).
#[utoipa::path(post, path = "/api/admin/v1/users/{id}/ban", tag = "admin", operation_id = "admin_ban",
    params(("id" = i64, Path, description = "The user's id")),
    request_body = Option<BanRequest>,
    security(("admin_key" = [])))]
#[post("/users/<id>/ban", data = "<body>")]
pub async fn ban(
    db: &State<Db>,
    clock: &State<Clock>,
    key: Result<WriteKey, ApiError>,
    id: i64,
    body: Result<JsonBody<BanRequest>, ApiError>,
) -> ApiResult {
    let WriteKey(key) = key?;
    let JsonBody(request) = body?;
    let reason = match request.reason.map(|r| r.trim().to_string()) {
        Some(r) if r.chars().count() > MAX_REASON_CHARS => {
            return Err(ApiError::unprocessable(format!(
                "reason is at most {MAX_REASON_CHARS} characters"
            )))
        }
        Some(r) if r.is_empty() => None,
        other => other,
    };
    act_and_show(db, clock, id, UserAction::Ban { reason }, key).await
}

/// Lifts the user's ban; their sessions stay ended.
#[utoipa::path(post, path = "/api/admin/v1/users/{id}/unban", tag = "admin", operation_id = "admin_unban",
    params(("id" = i64, Path, description = "The user's id")),
    security(("admin_key" = [])))]
#[post("/users/<id>/unban")]
pub async fn unban(
    db: &State<Db>,
    clock: &State<Clock>,
    key: Result<WriteKey, ApiError>,
    id: i64,
) -> ApiResult {
    let WriteKey(key) = key?;
    act_and_show(db, clock, id, UserAction::Unban, key).await
}

/// Applies `action` and answers the user as it now is.
async fn act_and_show(
    db: &Db,
    clock: &Clock,
    id: i64,
    action: UserAction,
    key: super::key_guard::ApiKey,
) -> ApiResult {
    let now = clock.now();
    operator_actions::act_on_user(db, id, action, key.operator(), now)
        .await?
        .ok_or_else(|| no_such_user(id))?;
    Success::data(user_record(db, id, now).await?)
}

/// The person `id` as they now are.
async fn user_record(db: &Db, id: i64, now: i64) -> Result<UserRecord, ApiError> {
    db.run(move |conn| {
        let Some(user) = users::find(conn, id)? else {
            return Ok(None);
        };
        let active = sessions::active_counts(conn, &[id], now)?;
        let active = active.get(&id).copied().unwrap_or(0);
        Ok(Some(UserRecord::new(
            user,
            active,
            identities::of_user(conn, id)?,
        )))
    })
    .await?
    .ok_or_else(|| no_such_user(id))
}

/// Whom to merge.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeRequest {
    /// The person merged away: their identities move into `{id}`, their
    /// sessions end, and their id becomes a tombstone.
    pub from: Option<i64>,
}

/// Merges person `from` into `{id}` (SPEC §10): every identity of `from`
/// moves in, profile fields and phone that `{id}` lacks are filled, `from`'s
/// sessions end and `from` answers `merged_into` from then on.
#[utoipa::path(post, path = "/api/admin/v1/users/{id}/merge", tag = "admin", operation_id = "admin_merge",
    params(("id" = i64, Path, description = "The person that remains")),
    request_body = MergeRequest,
    security(("admin_key" = [])))]
#[post("/users/<id>/merge", data = "<body>")]
pub async fn merge(
    db: &State<Db>,
    clock: &State<Clock>,
    key: Result<OwnerKey, ApiError>,
    id: i64,
    body: Result<JsonBody<MergeRequest>, ApiError>,
) -> ApiResult {
    let OwnerKey(key) = key?;
    let JsonBody(request) = body?;
    let from = request.from.ok_or_else(|| {
        ApiError::bad_request("from (the id of the person to merge in) is required")
    })?;
    let now = clock.now();
    match people::merge(db, id, from, key.operator(), now).await? {
        Merged::Done { sessions_ended } => Success::data(MergeDone {
            user: user_record(db, id, now).await?,
            sessions_ended: sessions_ended as i64,
        }),
        Merged::Same => Err(ApiError::bad_request(
            "a person cannot be merged into themself",
        )),
        Merged::NotFound => Err(ApiError::NotFound(format!(
            "no live person with id {id} or {from} (either is unknown or merged away)"
        ))),
    }
}

/// Moves identity `{id}` into a new person of its own and ends its sessions.
#[utoipa::path(post, path = "/api/admin/v1/identities/{id}/unlink", tag = "admin",
    operation_id = "admin_unlink",
    params(("id" = i64, Path, description = "The identity's id")),
    security(("admin_key" = [])))]
#[post("/identities/<id>/unlink")]
pub async fn unlink(
    db: &State<Db>,
    clock: &State<Clock>,
    key: Result<OwnerKey, ApiError>,
    id: i64,
) -> ApiResult {
    let OwnerKey(key) = key?;
    match people::unlink(db, id, key.operator(), clock.now()).await? {
        Unlinked::Done {
            user_id,
            sessions_ended,
        } => Success::data(UnlinkDone {
            user_id,
            sessions_ended: sessions_ended as i64,
        }),
        Unlinked::OnlyIdentity => Err(ApiError::unprocessable(
            "this is the person's only identity: there is nothing to unlink it from",
        )),
        Unlinked::NotFound => Err(ApiError::NotFound(format!("no identity with id {id}"))),
    }
}

/// Erases person `{id}` at once (SPEC §12): profile, phone, identities and
/// sessions go; their audit events keep kind and time; webhook
/// `user.deleted`. The id is then unknown (-102) everywhere.
#[utoipa::path(delete, path = "/api/admin/v1/users/{id}", tag = "admin", operation_id = "admin_delete_user",
    params(("id" = i64, Path, description = "The user's id")),
    security(("admin_key" = [])))]
#[delete("/users/<id>")]
pub async fn delete_user(
    db: &State<Db>,
    clock: &State<Clock>,
    key: Result<OwnerKey, ApiError>,
    id: i64,
) -> ApiResult {
    let OwnerKey(key) = key?;
    if !account_deletion::erase_now(db, id, key.operator(), clock.now()).await? {
        return Err(ApiError::NotFound(format!(
            "no live person with id {id} (unknown, or merged away: erase the person it lives on in)"
        )));
    }
    Success::data(UserErased { user_id: id })
}
