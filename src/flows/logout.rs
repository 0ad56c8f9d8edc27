//! Ending the caller's session, or every session of its user, with the audit
//! event in the same transaction.

use crate::auth::token::Claims;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{sessions, Db};
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Local,
    Global,
}

/// Revokes per `scope`; idempotent (an ended or purged session is fine). A
/// token whose session belongs to another user or app is -500.
pub async fn logout(
    db: &Db,
    claims: Claims,
    scope: Scope,
    ip: Option<String>,
) -> Result<(), ApiError> {
    let user_id = claims.user_id()?;
    db.write(move |conn| {
        let now = crate::timestamp::now();
        let Some(session) = sessions::find(conn, &claims.sid)? else {
            // Purged long ago: nothing left to revoke.
            return Ok(());
        };
        if session.user_id != user_id {
            return Err(ApiError::Unauthorized(
                "token session does not belong to its subject".into(),
            ));
        }
        if session.appid != claims.aud {
            return Err(ApiError::Unauthorized("token audience is invalid".into()));
        }
        let revoked = match scope {
            Scope::Local => usize::from(sessions::revoke(conn, &session.id, "logout", now)?),
            Scope::Global => sessions::revoke_all_of_user(conn, user_id, "logout_global", now)?,
        };
        if revoked > 0 {
            audit::record(
                conn,
                &NewEvent::new(Kind::Logout, now)
                    .user(user_id)
                    .session(&session.id)
                    .ip(ip)
                    .detail(match scope {
                        Scope::Local => "local",
                        Scope::Global => "global",
                    }),
            )?;
        }
        Ok(())
    })
    .await
}
