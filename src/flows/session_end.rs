//! Ending one session, the one way every flow ends one: revoked with its
//! reason, `session.ended` to subscribers (naming the session's own app),
//! and a revoke in the audit log.

use crate::db::audit::{self, NewEvent};
use crate::db::{sessions, AnyConnection};
use crate::error::ApiError;
use crate::webhooks::{self, EventType, Webhooks};

/// The session to end, whose it is, and why.
pub struct Ending<'a> {
    pub id: &'a str,
    pub user_id: i64,
    /// The app the session was opened through.
    pub appid: &'a str,
    /// The revocation's reason, stored and sent (`admin_revoke`, …).
    pub reason: &'a str,
}

/// Ends the session, recording `event` (a revoke saying who and from
/// where; the session and its person are filled in). False when it had
/// ended already: then nothing is sent or recorded.
pub fn end(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    ending: Ending<'_>,
    event: NewEvent,
    now: i64,
) -> Result<bool, ApiError> {
    let Ending {
        id,
        user_id,
        appid,
        reason,
    } = ending;
    if !sessions::revoke(conn, id, reason, now)? {
        return Ok(false);
    }
    hooks.emit(
        conn,
        EventType::SessionEnded,
        || webhooks::session_ended(id, user_id, appid, reason),
        now,
    )?;
    audit::record(conn, &event.user(user_id).session(id))?;
    Ok(true)
}
