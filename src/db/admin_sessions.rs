//! The `admin_sessions` table: server-side console sessions, revocable, with
//! an idle timeout. The row id is the SHA-256 of the cookie's token.

use diesel::prelude::*;

use super::schema::{admin_sessions, admins};
use super::AnyConnection;

/// Console sessions end after 30 minutes without a request.
pub const IDLE_TIMEOUT: i64 = 30 * 60;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admin_sessions)]
pub struct AdminSession {
    pub id: String,
    pub admin_id: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub revoked_at: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = admin_sessions)]
pub struct NewAdminSession<'a> {
    pub id: &'a str,
    pub admin_id: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub fn insert(conn: &mut AnyConnection, row: &NewAdminSession<'_>) -> QueryResult<()> {
    diesel::insert_into(admin_sessions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Who a live console session belongs to.
#[derive(Debug, Clone, Queryable)]
pub struct SessionAdmin {
    pub username: String,
    pub role: String,
    /// Whether they have a second factor (TOTP) enrolled.
    pub totp_enrolled: bool,
}

/// A live session (not revoked, seen within `idle_timeout`) with its
/// admin; records the activity.
pub fn find_live(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
    idle_timeout: i64,
) -> QueryResult<Option<(AdminSession, SessionAdmin)>> {
    let found: Option<(AdminSession, SessionAdmin)> = admin_sessions::table
        .inner_join(admins::table)
        .filter(admin_sessions::id.eq(id))
        .filter(admin_sessions::revoked_at.is_null())
        .filter(admin_sessions::last_seen_at.gt(now - idle_timeout))
        .select((
            AdminSession::as_select(),
            (
                admins::username,
                admins::role,
                admins::totp_secret.is_not_null(),
            ),
        ))
        .get_result(conn)
        .optional()?;
    if let Some((session, _)) = &found {
        if now > session.last_seen_at {
            diesel::update(admin_sessions::table.find(&session.id))
                .set(admin_sessions::last_seen_at.eq(now))
                .execute(conn)?;
        }
    }
    Ok(found)
}

/// How many live console sessions `admin_id` has at `now`.
pub fn live_count(conn: &mut AnyConnection, admin_id: i64, now: i64) -> QueryResult<i64> {
    admin_sessions::table
        .filter(admin_sessions::admin_id.eq(admin_id))
        .filter(admin_sessions::revoked_at.is_null())
        .filter(admin_sessions::last_seen_at.gt(now - IDLE_TIMEOUT))
        .count()
        .get_result(conn)
}

pub fn revoke(conn: &mut AnyConnection, id: &str, now: i64) -> QueryResult<()> {
    diesel::update(admin_sessions::table.find(id))
        .set(admin_sessions::revoked_at.eq(now))
        .execute(conn)
        .map(|_| ())
}

/// Ends every console session of an admin (after a password change).
pub fn revoke_all_of_admin(
    conn: &mut AnyConnection,
    admin_id: i64,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(
        admin_sessions::table
            .filter(admin_sessions::admin_id.eq(admin_id))
            .filter(admin_sessions::revoked_at.is_null()),
    )
    .set(admin_sessions::revoked_at.eq(now))
    .execute(conn)
}

/// Deletes console sessions that ended (signed out, or idle) before `before`.
pub fn purge_ended(conn: &mut AnyConnection, before: i64, idle_timeout: i64) -> QueryResult<usize> {
    diesel::delete(
        admin_sessions::table.filter(
            admin_sessions::revoked_at
                .lt(before)
                .or(admin_sessions::last_seen_at.lt(before - idle_timeout)),
        ),
    )
    .execute(conn)
}
