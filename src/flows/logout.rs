//! Ending the caller's session, or every session of its user, with the audit
//! event in the same transaction.

use crate::auth::session_check::check_claims;
use crate::auth::session_cookie;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{sessions, users, Db};
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Local,
    Global,
}

/// The session a caller names, and how it proves it may end it.
pub enum SessionRef {
    /// A token this server signed (expired ones too: logout is idempotent):
    /// its session, subject and audience.
    Token {
        session_id: String,
        user_id: i64,
        appid: String,
    },
    /// The tutorial clients' session cookie: its session and secret.
    Cookie { session_id: String, secret: String },
}

/// Revokes per `scope`; idempotent (an ended or purged session is fine). A
/// token whose session belongs to another user or app, or a cookie that is
/// not its session's, is -500.
pub async fn logout(
    db: &Db,
    caller: SessionRef,
    scope: Scope,
    ip: Option<String>,
    now: i64,
) -> Result<(), ApiError> {
    let hooks = db.webhooks().clone();
    db.write(move |conn| {
        let session_id = match &caller {
            SessionRef::Token { session_id, .. } | SessionRef::Cookie { session_id, .. } => {
                session_id
            }
        };
        let found = sessions::find(conn, session_id)?;
        let session = match (&caller, found) {
            (SessionRef::Token { user_id, appid, .. }, Some(session)) => {
                check_claims(*user_id, appid, session.user_id, session.audience())?;
                session
            }
            (SessionRef::Cookie { secret, .. }, Some(session))
                if session_cookie::matches(secret, session.cookie_hash.as_deref()) =>
            {
                session
            }
            // A signed token whose session was purged long ago: nothing left
            // to revoke.
            (SessionRef::Token { .. }, None) => return Ok(()),
            (SessionRef::Cookie { .. }, _) => {
                return Err(ApiError::Unauthorized("unknown session cookie".into()))
            }
        };
        let user_id = session.user_id;
        let (revoked, reason) = match scope {
            Scope::Local => {
                let ended = sessions::revoke(conn, &session.id, "logout", now)?;
                (
                    if ended {
                        vec![sessions::Ended {
                            id: session.id.clone(),
                            appid: session.appid.clone(),
                        }]
                    } else {
                        Vec::new()
                    },
                    "logout",
                )
            }
            Scope::Global => {
                // The person before her sessions, as every flow that ends
                // several of them takes them (a login or a web sign-in
                // making room ends sessions in an order of its own).
                users::lock_row(conn, user_id)?;
                (
                    sessions::revoke_all_of_user(conn, user_id, "logout_global", now)?,
                    "logout_global",
                )
            }
        };
        hooks.sessions_ended(conn, &revoked, user_id, reason, now)?;
        if !revoked.is_empty() {
            audit::record(
                conn,
                &NewEvent::new(Kind::Logout, now)
                    .user(user_id)
                    .session(&session.id)
                    .ip(ip.clone())
                    .detail(match scope {
                        Scope::Local => "local",
                        Scope::Global => "global",
                    }),
            )?;
        }
        Ok(())
    })
    .await?;
    db.webhooks().ring();
    Ok(())
}
