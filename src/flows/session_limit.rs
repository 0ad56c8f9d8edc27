//! SPEC §2: a person holds at most `session_limit_per_user` live sessions.
//! A new session beyond it — a mini-program's login or a web sign-in —
//! first ends the person's least recently used ones, each with its webhook
//! and audit event.

use super::session_end::{self, Ending};
use crate::db::audit::{Kind, NewEvent};
use crate::db::{sessions, AnyConnection};
use crate::error::ApiError;
use crate::webhooks::Webhooks;

/// What bounds a person's sessions: how many may be live, and the idle
/// timeout that decides which are.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub sessions: i64,
    pub idle_timeout: i64,
}

/// Ends `user_id`'s least recently used live sessions beyond `limit - 1`,
/// making room for one more. Each ended session is told as of its own app,
/// which may not be the new one's: a person's sessions span their apps.
pub fn make_room(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    user_id: i64,
    limit: Limit,
    now: i64,
) -> Result<(), ApiError> {
    let ended = sessions::live_beyond(conn, user_id, now, limit.idle_timeout, limit.sessions - 1)?;
    for session in ended {
        session_end::end(
            conn,
            hooks,
            Ending {
                id: &session.id,
                user_id,
                appid: &session.appid,
                reason: "session_limit",
            },
            NewEvent::new(Kind::Revoke, now).detail("session_limit"),
            now,
        )?;
    }
    Ok(())
}
