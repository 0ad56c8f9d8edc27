//! Signing in to the console, around the password check that the handler runs
//! off the database connection: first the attempt is reserved (the lockout
//! counts checked and the attempt recorded as a failure, in one step
//! serialised per address, so that parallel guesses each see the ones
//! before), then a right password turns that event into a sign-in and opens
//! the console session.

use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{admin_sessions, admins, Db};
use crate::error::ApiError;

/// One address may fail `admin.lockout_attempts` times this many times
/// across all names before it is refused for every name.
const PER_ADDRESS_FACTOR: i64 = 4;

/// An attempt to sign in as `username` from `ip` at `now`.
pub struct Attempt {
    pub username: String,
    pub ip: String,
    pub now: i64,
    /// Failures allowed per (name, address) within `window` seconds.
    pub attempts: i64,
    pub window: i64,
}

pub enum Reservation {
    /// Too many recent failures: try again in this many minutes.
    LockedOut { minutes: i64 },
    /// The attempt is recorded (as failed until the password proves right).
    Recorded {
        event_id: i64,
        /// The admin's id and password hash, when the name exists.
        admin: Option<(i64, String)>,
    },
}

pub async fn reserve(db: &Db, attempt: Attempt) -> Result<Reservation, ApiError> {
    db.write(move |conn| {
        let Attempt {
            username,
            ip,
            now,
            attempts,
            window,
        } = &attempt;
        let (now, attempts, window) = (*now, *attempts, *window);
        audit::serialize_signins_from(conn, ip)?;
        // Failures count per (name, address), so that nobody can lock an
        // admin out from elsewhere, and per address with a higher ceiling,
        // against one address trying many names.
        let unlocked_at = audit::last_unlock(conn, username)?;
        let failures = audit::signin_failures(conn, username, ip, now - window, unlocked_at)?;
        let oldest = if failures.by_name_and_ip >= attempts {
            Some(failures.oldest_by_name_and_ip)
        } else if failures.by_ip >= attempts * PER_ADDRESS_FACTOR {
            Some(failures.oldest_by_ip)
        } else {
            None
        };
        if let Some(oldest) = oldest {
            let wait = (oldest.unwrap_or(now) + window - now).max(1);
            return Ok(Reservation::LockedOut {
                minutes: (wait + 59) / 60,
            });
        }
        let admin = admins::find_by_username(conn, username)?;
        let event_id = audit::record_returning_id(
            conn,
            &NewEvent::new(Kind::AdminLoginFailed, now)
                .actor(username)
                .ip(Some(ip.clone()).filter(|i| !i.is_empty())),
        )?;
        Ok(Reservation::Recorded {
            event_id,
            admin: admin.map(|a| (a.id, a.password_hash)),
        })
    })
    .await
}

/// The password was right: the reserved event becomes a sign-in and the
/// console session `session_id` (the hash of its cookie's token) opens.
pub struct Opening {
    pub event_id: i64,
    pub admin_id: i64,
    pub session_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub now: i64,
}

pub async fn open_session(db: &Db, opening: Opening) -> Result<(), ApiError> {
    db.write(move |conn| {
        audit::set_kind(conn, opening.event_id, Kind::AdminLogin)?;
        admin_sessions::insert(
            conn,
            &admin_sessions::NewAdminSession {
                id: &opening.session_id,
                admin_id: opening.admin_id,
                created_at: opening.now,
                last_seen_at: opening.now,
                ip: opening.ip.as_deref(),
                user_agent: opening.user_agent.as_deref(),
            },
        )?;
        Ok(())
    })
    .await
}
