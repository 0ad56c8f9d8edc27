//! Rotating a refresh token: the presented token is spent and a new pair
//! issued; the spent token presented again within the grace gets that same
//! pair back (two tabs, a retry); later, it is taken as theft and the whole
//! session is revoked. One UPDATE of the session row does the rotation: a
//! session keeps only its current generation (see `auth::refresh_token`).

use super::Keys;
use crate::auth::pair::{PairFacts, TokenPair};
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
    /// The token was current: here is the new pair.
    Rotated(TokenPair),
    /// The token was spent moments ago: the pair issued for it then.
    Grace(TokenPair),
    /// The token was spent before: the session is now revoked.
    Reused,
}

pub struct Rotate {
    pub presented: Presented,
    pub idle_timeout: i64,
    pub ip: Option<String>,
}

pub async fn rotate(db: &Db, keys: Keys, request: Rotate, now: i64) -> Result<Rotation, ApiError> {
    // PostgreSQL: the usual case — the current token of a live session — in
    // one statement; anything else takes the general flow below.
    let quick = QuickRotation {
        session_id: &request.presented.session_id,
        generation: request.presented.generation,
        now,
        idle_timeout: request.idle_timeout,
        ip: request.ip.as_deref(),
        audit_kind: Kind::Refresh.as_str(),
    };
    if let Some((user_id, appid)) = db.quick_rotation(&quick).await? {
        let pair = pair_of(
            &keys,
            user_id,
            &request.presented.session_id,
            &appid,
            request.presented.generation + 1,
            now,
        )?;
        return Ok(Rotation::Rotated(pair));
    }
    let hooks = db.webhooks().clone();
    let rotation = db
        .write(move |conn| rotate_in(conn, &keys, &hooks, &request, now))
        .await?;
    if matches!(rotation, Rotation::Reused) {
        db.webhooks().ring();
    }
    Ok(rotation)
}

/// Unknown session → -500; banned user → -503; ended session → -502: those
/// change nothing. Everything else is a [`Rotation`].
fn rotate_in(
    conn: &mut AnyConnection,
    keys: &Keys,
    hooks: &Webhooks,
    request: &Rotate,
    now: i64,
) -> Result<Rotation, ApiError> {
    let Presented {
        ref session_id,
        generation,
    } = request.presented;
    let (mut session, banned_at) = sessions::find_with_ban(conn, session_id)?
        .ok_or_else(|| ApiError::Unauthorized("unknown refresh token".into()))?;
    if banned_at.is_some() {
        return Err(ApiError::UserBanned);
    }
    if let Some(dead) = session.dead(now, request.idle_timeout) {
        return Err(ApiError::SessionExpired(dead.message().into()));
    }
    if generation == session.refresh_gen {
        if sessions::rotate_refresh(conn, session_id, generation, now)? {
            audit::record(
                conn,
                &NewEvent::new(Kind::Refresh, now)
                    .user(session.user_id)
                    .session(session_id)
                    .ip(request.ip.clone()),
            )?;
            return Ok(Rotation::Rotated(pair_of(
                keys,
                session.user_id,
                &session.id,
                &session.appid,
                generation + 1,
                now,
            )?));
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
        let pair = pair_of(
            keys,
            session.user_id,
            &session.id,
            &session.appid,
            session.refresh_gen,
            rotated_at,
        )?;
        return Ok(Rotation::Grace(pair));
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

/// The session's pair of `generation`, issued at `issued_at`: the same every
/// time.
fn pair_of(
    keys: &Keys,
    user_id: i64,
    session_id: &str,
    appid: &str,
    generation: i64,
    issued_at: i64,
) -> Result<TokenPair, ApiError> {
    TokenPair::mint(
        &keys.access,
        &keys.refresh,
        PairFacts {
            user_id,
            session_id,
            appid,
            generation,
            issued_at,
            is_new_user: false,
        },
    )
}
