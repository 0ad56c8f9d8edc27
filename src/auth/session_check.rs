//! The rules a live session row must meet for a credential to be good:
//! shared by the request guard (every authenticated call) and by logout,
//! which checks a token against its session without requiring it live.

use crate::db::live_session::LiveSession;
use crate::error::ApiError;

/// The token must name the session's user and audience (its app, or a web
/// session's relying party).
pub fn check_claims(
    user_id: i64,
    aud: &str,
    session_user_id: i64,
    session_audience: &str,
) -> Result<(), ApiError> {
    if session_user_id != user_id {
        return Err(ApiError::Unauthorized(
            "token session does not belong to its subject".into(),
        ));
    }
    if session_audience != aud {
        return Err(ApiError::Unauthorized("token audience is invalid".into()));
    }
    Ok(())
}

/// The user must not be banned (said first: a ban also revokes the sessions,
/// and -503 is the useful answer); the session must be live at `now`.
pub fn check_live(
    session: &LiveSession,
    banned_at: Option<i64>,
    idle_timeout: i64,
    now: i64,
) -> Result<(), ApiError> {
    if banned_at.is_some() {
        return Err(ApiError::UserBanned);
    }
    if let Some(dead) = session.dead(now, idle_timeout) {
        return Err(ApiError::SessionExpired(dead.message().into()));
    }
    Ok(())
}
