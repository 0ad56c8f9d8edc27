//! Rotating a refresh token: the presented token is spent and a new pair
//! issued; the spent token presented again within the grace gets that same
//! pair back (two tabs, a retry); later, it is taken as theft and the whole
//! session is revoked. One UPDATE of the session row does the rotation: a
//! session keeps only its current generation (see `auth::refresh_token`).

use super::Issued;
use crate::auth::refresh_token::Presented;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::refresh_rotation::QuickRotation;
use crate::db::sessions;
use crate::db::{AnyConnection, Db};
use crate::error::ApiError;
use crate::webhooks::{self, EventType, Webhooks};

/// Seconds during which a spent refresh token still yields the pair issued for it.
pub const REUSE_GRACE: i64 = 10;

pub enum Rotation {
    /// The token was current: the session moved to the next generation.
    Rotated(Issued),
    /// The token was spent moments ago: the generation issued for it then.
    Grace(Issued),
    /// The token was spent before: the session is now revoked.
    Reused,
}

pub struct Rotate {
    pub presented: Presented,
    pub idle_timeout: i64,
    pub ip: Option<String>,
    /// Whose session the token must be: a web sign-in's relying party
    /// (`/oidc/token`, the client authenticated), or None for a
    /// mini-program's (`refresh`). Another's is an unknown token.
    pub client_id: Option<String>,
}

pub async fn rotate(db: &Db, request: Rotate, now: i64) -> Result<Rotation, ApiError> {
    // PostgreSQL: the usual case — the current token of a live session — in
    // one statement; anything else takes the general flow below.
    let quick = QuickRotation {
        session_id: &request.presented.session_id,
        generation: request.presented.generation,
        now,
        idle_timeout: request.idle_timeout,
        client_id: request.client_id.as_deref(),
        event: refresh_event(NO_USER_YET, &request, now),
    };
    if let Some((user_id, appid)) = db.quick_rotation(&quick).await? {
        return Ok(Rotation::Rotated(Issued {
            user_id,
            session_id: request.presented.session_id,
            appid,
            generation: request.presented.generation + 1,
            issued_at: now,
        }));
    }
    let hooks = db.webhooks().clone();
    let rotation = db
        .write(move |conn| rotate_in(conn, &hooks, &request, now))
        .await?;
    if matches!(rotation, Rotation::Reused) {
        db.webhooks().ring();
    }
    Ok(rotation)
}

/// The session's user when the one-statement rotation writes the event: it
/// takes the session's own.
const NO_USER_YET: i64 = 0;

/// The audit event of a rotation, whichever path writes it.
fn refresh_event(user_id: i64, request: &Rotate, now: i64) -> NewEvent {
    NewEvent::new(Kind::Refresh, now)
        .user(user_id)
        .session(&request.presented.session_id)
        .ip(request.ip.clone())
}

/// The general path, on a connection in a transaction. Unknown session →
/// -500; banned user → -503; ended session → -502: those change nothing.
/// Everything else is a [`Rotation`]. Public so that the differential test
/// can hold the one-statement rotation ([`Db::quick_rotation`]) to it.
pub fn rotate_in(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    request: &Rotate,
    now: i64,
) -> Result<Rotation, ApiError> {
    let Presented {
        ref session_id,
        generation,
    } = request.presented;
    let (mut session, banned_at) = sessions::find_with_ban(conn, session_id)?
        .filter(|(s, _)| s.client_id == request.client_id)
        .ok_or_else(|| ApiError::Unauthorized("unknown refresh token".into()))?;
    if banned_at.is_some() {
        return Err(ApiError::UserBanned);
    }
    if let Some(dead) = session.dead(now, request.idle_timeout) {
        return Err(ApiError::SessionExpired(dead.message().into()));
    }
    if generation == session.refresh_gen {
        if sessions::rotate_refresh(conn, session_id, generation, now)? {
            audit::record(conn, &refresh_event(session.user_id, request, now))?;
            return Ok(Rotation::Rotated(Issued {
                user_id: session.user_id,
                appid: session.audience().to_string(),
                session_id: session.id,
                generation: generation + 1,
                issued_at: now,
            }));
        }
        // A racing request rotated it a moment ago (PostgreSQL: we waited for
        // its row lock): answer as a reuse of what it spent.
        session = sessions::find(conn, session_id)?
            .ok_or_else(|| ApiError::SessionExpired("session has ended".into()))?;
    }
    if generation > session.refresh_gen {
        // Never issued by this database (a restored backup?): not ours.
        return Err(ApiError::Unauthorized("unknown refresh token".into()));
    }
    let rotated_at = session.refreshed_at.unwrap_or(session.created_at);
    if generation + 1 == session.refresh_gen && now - rotated_at <= REUSE_GRACE {
        return Ok(Rotation::Grace(Issued {
            user_id: session.user_id,
            appid: session.audience().to_string(),
            session_id: session.id,
            generation: session.refresh_gen,
            issued_at: rotated_at,
        }));
    }
    if sessions::revoke(conn, session_id, "refresh_reuse", now)? {
        hooks.emit(
            conn,
            EventType::SessionEnded,
            || {
                webhooks::session_ended(
                    session_id,
                    session.user_id,
                    &session.appid,
                    "refresh_reuse",
                )
            },
            now,
        )?;
    }
    audit::record(
        conn,
        &NewEvent::new(Kind::RefreshReuse, now)
            .user(session.user_id)
            .session(session_id)
            .ip(request.ip.clone())
            .detail("session_revoked"),
    )?;
    Ok(Rotation::Reused)
}
