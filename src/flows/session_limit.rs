//! SPEC §2: a person holds at most `session_limit_per_user` live sessions.
//! A new session beyond it — a mini-program's login or a web sign-in —
//! first ends the person's least recently used ones, each with its webhook
//! and audit event.

use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{sessions, AnyConnection};
use crate::error::ApiError;
use crate::webhooks::{self, EventType, Webhooks};

/// What bounds a person's sessions: how many may be live, and the idle
/// timeout that decides which are.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub sessions: i64,
    pub idle_timeout: i64,
}

/// Ends `user_id`'s least recently used live sessions beyond `limit - 1`,
/// making room for one more (opened through `appid`).
pub fn make_room(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    user_id: i64,
    appid: &str,
    limit: Limit,
    now: i64,
) -> Result<(), ApiError> {
    let ended = sessions::live_beyond(conn, user_id, now, limit.idle_timeout, limit.sessions - 1)?;
    for id in ended {
        if sessions::revoke(conn, &id, "session_limit", now)? {
            hooks.emit(
                conn,
                EventType::SessionEnded,
                || webhooks::session_ended(&id, user_id, appid, "session_limit"),
                now,
            )?;
            audit::record(
                conn,
                &NewEvent::new(Kind::Revoke, now)
                    .user(user_id)
                    .session(&id)
                    .detail("session_limit"),
            )?;
        }
    }
    Ok(())
}
