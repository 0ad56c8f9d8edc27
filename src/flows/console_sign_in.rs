//! Signing in to the console, around the password check that the handler runs
//! off the database connection: first the attempt is reserved (the lockout
//! counts checked and the attempt recorded as a failure, in one step
//! serialised per address, so that parallel guesses each see the ones
//! before), then a right password turns that event into a sign-in and opens
//! the console session — at once, or, for an admin with a second factor,
//! once its code proves right in a second step.

use crate::admin::totp;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{admin_sessions, admin_totp, admins, Db};
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
        /// The admin, when the name exists.
        admin: Option<Candidate>,
    },
}

/// The admin a sign-in names.
pub struct Candidate {
    pub id: i64,
    pub password_hash: String,
    /// Whether they have a second factor: the sign-in asks for its code.
    pub totp: bool,
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
        let admin = match admin {
            Some(a) => Some(Candidate {
                totp: admin_totp::factor(conn, a.id)?.is_some_and(|f| f.secret.is_some()),
                id: a.id,
                password_hash: a.password_hash,
            }),
            None => None,
        };
        Ok(Reservation::Recorded { event_id, admin })
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
    db.write(move |conn| open_in(conn, &opening)).await
}

fn open_in(conn: &mut crate::db::AnyConnection, opening: &Opening) -> Result<(), ApiError> {
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
}

/// A sign-in that asks for a code: when the password was right
/// (`admin_id`), it waits under `challenge_id` (the hash of the browser's
/// cookie), its event a failure until the code proves right; when it was
/// wrong, nothing waits — but the same write is made (the old waiting
/// sign-ins swept), so that the answer takes as long either way.
pub async fn await_code(
    db: &Db,
    challenge_id: String,
    admin_id: Option<i64>,
    event_id: i64,
    now: i64,
) -> Result<(), ApiError> {
    db.write(move |conn| {
        admin_totp::sweep_challenges(conn, now)?;
        if let Some(admin_id) = admin_id {
            admin_totp::open_challenge(conn, &challenge_id, admin_id, event_id, now)?;
        }
        Ok(())
    })
    .await
}

/// The second step: the code typed for the sign-in waiting under the
/// browser's cookie.
pub struct SecondStep {
    pub challenge_id: String,
    pub code: String,
    /// The console session to open when the code is right, as in [`Opening`].
    pub session_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub now: i64,
}

/// Whether the second step opened the session. A wrong code, a code used
/// before, an unknown or expired sign-in — or one whose password was wrong,
/// which never waits here — are all the same refusal.
pub async fn second_step(db: &Db, step: SecondStep) -> Result<bool, ApiError> {
    db.write(move |conn| {
        let Some((admin_id, event_id)) =
            admin_totp::take_challenge(conn, &step.challenge_id, step.now)?
        else {
            return Ok(false);
        };
        let Some(factor) = admin_totp::factor(conn, admin_id)? else {
            return Ok(false);
        };
        let Some(secret) = factor.secret else {
            return Ok(false);
        };
        let by_code = match totp::matching_step(&secret, &step.code, step.now, factor.last_step) {
            Some(matched) => admin_totp::take_step(conn, admin_id, matched)?,
            None => false,
        };
        let by_recovery = !by_code
            && match totp::normalise_recovery_code(&step.code) {
                Some(code) => admin_totp::use_recovery_code(
                    conn,
                    admin_id,
                    &totp::recovery_code_hash(&code),
                    step.now,
                )?,
                None => false,
            };
        if !(by_code || by_recovery) {
            return Ok(false);
        }
        if by_recovery {
            let left = admin_totp::recovery_codes_left(conn, admin_id)?;
            let username = admins::username_of(conn, admin_id)?.unwrap_or_default();
            audit::record(
                conn,
                &NewEvent::new(Kind::AdminRecoveryCodeUsed, step.now)
                    .actor(&username)
                    .ip(step.ip.clone())
                    .detail(format!("{left} left")),
            )?;
        }
        open_in(
            conn,
            &Opening {
                event_id,
                admin_id,
                session_id: step.session_id.clone(),
                ip: step.ip.clone(),
                user_agent: step.user_agent.clone(),
                now: step.now,
            },
        )?;
        Ok(true)
    })
    .await
}
