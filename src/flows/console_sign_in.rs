//! Signing in to the console, around the password check that the handler runs
//! off the database connection: first the attempt is reserved (the lockout
//! counts checked, the name's delay taken and the attempt recorded as a
//! failure, in one step serialised per network and per name, so that
//! parallel guesses each see the ones before), then a right password turns
//! that event into a sign-in and opens the console session — at once, or,
//! for an admin with a second factor, once its code proves right in a
//! second step.
//!
//! Guessing is bounded three ways (SPEC §12). Per (name, network): a hard
//! lockout, which only that network meets. Per network, across names, with
//! a higher ceiling. A network is an IPv4 address or an IPv6 /64 — one
//! subscriber holds a whole /64, so counting its addresses apart would give
//! each subscriber 2^64 tries. And per name, from anywhere: from the fourth
//! failure in the window, the name's sign-ins are answered one at a time,
//! each held back behind the one before by a delay that doubles from 0.5 s
//! up to 8 s — which slows a pool of addresses to one guess per 8 s and
//! never locks the owner out. A browser that signed in as that name before
//! (its device cookie, `admin::sign_in`) is not held back at all.

use crate::admin::totp;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{admin_sessions, admin_totp, admins, signin_delays, Db};
use crate::error::ApiError;

/// One network may fail `admin.lockout_attempts` times this many times
/// across all names before it is refused for every name.
const PER_NETWORK_FACTOR: i64 = 4;

/// Failures of a name (in the window) before its answers are held back.
pub const FREE_FAILURES: i64 = 3;
const FIRST_DELAY_MS: i64 = 500;
const MAX_DELAY_MS: i64 = 8_000;
/// The longest a sign-in waits in its name's queue; beyond, it is refused
/// at once (a flood of guesses would otherwise queue for hours).
pub const MAX_QUEUE_MS: i64 = 30_000;

/// How long the answer to a name's attempt is held back when the name has
/// `failures` failures in the window already: none for the first three,
/// then 0.5 s, doubling, at most 8 s.
pub fn delay_ms(failures: i64) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let doublings = (failures - FREE_FAILURES).min(5) as u32;
    (FIRST_DELAY_MS << doublings).min(MAX_DELAY_MS)
}

/// The network an address counts in: an IPv4 address as is, an IPv6
/// address's /64 (as `prefix::/64`); an address that does not parse, as is.
pub fn network_of(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(addr) => match crate::rate_limit::bucket_of(Some(addr)) {
            std::net::IpAddr::V6(prefix) => format!("{prefix}/64"),
            v4 => v4.to_string(),
        },
        Err(_) => ip.to_string(),
    }
}

/// What a browser's device cookie holds for the admin it signed in as:
/// their id and a mark of their credentials, so that it stops counting
/// when the password changes, the second factor is reset, or the name is
/// deleted and made again.
pub fn device_mark(admin_id: i64, password_hash: &str, totp_secret: Option<&str>) -> String {
    let credentials = format!("{password_hash}\n{}", totp_secret.unwrap_or(""));
    let digest = crate::crypto::hash_token(&credentials);
    format!("{admin_id}:{}", &digest[..32])
}

/// An attempt to sign in as `username` from `ip` at `now`.
pub struct Attempt {
    pub username: String,
    pub ip: String,
    pub now: i64,
    /// The same moment in milliseconds (the delays are shorter than a second).
    pub now_ms: i64,
    /// Failures allowed per (name, network) within `window` seconds.
    pub attempts: i64,
    pub window: i64,
    /// The marks of the browser's device cookie: when one is this name's
    /// admin's ([`device_mark`]), the attempt is not held back.
    pub devices: Vec<String>,
}

pub enum Reservation {
    /// Too many recent failures: try again in this many minutes.
    LockedOut { minutes: i64 },
    /// The name's queue is longer than [`MAX_QUEUE_MS`]: try again in this
    /// many seconds. Nothing is recorded.
    Busy { seconds: i64 },
    /// The attempt is recorded (as failed until the password proves right).
    Recorded {
        event_id: i64,
        /// The admin, when the name exists.
        admin: Option<Candidate>,
        /// Not to be answered before this moment (Unix ms), when held back.
        answer_at_ms: Option<i64>,
    },
}

/// The admin a sign-in names.
pub struct Candidate {
    pub id: i64,
    pub password_hash: String,
    /// Whether they have a second factor: the sign-in asks for its code.
    pub totp: bool,
    /// What a device cookie holds for them ([`device_mark`]).
    pub device_mark: String,
}

pub async fn reserve(db: &Db, attempt: Attempt) -> Result<Reservation, ApiError> {
    db.write(move |conn| {
        let Attempt {
            username,
            ip,
            now,
            now_ms,
            attempts,
            window,
            devices,
        } = &attempt;
        let (now, now_ms, attempts, window) = (*now, *now_ms, *attempts, *window);
        // Without an address (none known) nothing counts per network.
        let net = (!ip.is_empty()).then(|| network_of(ip));
        audit::serialize_signins(conn, net.as_deref(), username)?;
        let unlocked_at = audit::last_unlock(conn, username)?;
        let failures =
            audit::signin_failures(conn, username, net.as_deref(), now - window, unlocked_at)?;
        let oldest = if failures.by_name_and_net >= attempts {
            Some(failures.oldest_by_name_and_net)
        } else if failures.by_net >= attempts * PER_NETWORK_FACTOR {
            Some(failures.oldest_by_net)
        } else {
            None
        };
        if let Some(oldest) = oldest {
            let wait = (oldest.unwrap_or(now) + window - now).max(1);
            return Ok(Reservation::LockedOut {
                minutes: (wait + 59) / 60,
            });
        }
        // The same reads for a name that exists and one that does not (no
        // admin has the id -1).
        let admin = admins::find_by_username(conn, username)?;
        let factor = admin_totp::factor(conn, admin.as_ref().map_or(-1, |a| a.id))?;
        let admin = admin.map(|a| {
            let secret = factor.as_ref().and_then(|f| f.secret.as_deref());
            Candidate {
                totp: secret.is_some(),
                device_mark: device_mark(a.id, &a.password_hash, secret),
                id: a.id,
                password_hash: a.password_hash,
            }
        });
        let trusted = admin
            .as_ref()
            .is_some_and(|a| devices.contains(&a.device_mark));
        // The name's queue: this answer comes the delay after the one before
        // it (or after now, when that one is past).
        let delay = if trusted {
            0
        } else {
            delay_ms(failures.by_name)
        };
        let answer_at_ms = if delay > 0 {
            let after = signin_delays::answer_at(conn, username)?
                .unwrap_or(0)
                .max(now_ms);
            let at = after + delay;
            if at - now_ms > MAX_QUEUE_MS {
                return Ok(Reservation::Busy {
                    seconds: (after - now_ms + 999) / 1000,
                });
            }
            signin_delays::hold(conn, username, at, now_ms - window * 1000)?;
            Some(at)
        } else {
            None
        };
        let mut event = NewEvent::new(Kind::AdminLoginFailed, now)
            .actor(username)
            .ip(Some(ip.clone()).filter(|i| !i.is_empty()));
        if let Some(net) = net {
            event = event.detail(net);
        }
        let event_id = audit::record_returning_id(conn, &event)?;
        Ok(Reservation::Recorded {
            event_id,
            admin,
            answer_at_ms,
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

/// A sign-in that asks for a code waits under `challenge_id` (the hash of
/// the browser's cookie), its event a failure until the code proves right:
/// with its admin when the password was right (`admin_id`), with none when
/// it was wrong — the same row written (and, in [`second_step`], the same
/// rows read), so that no answer's time tells which.
pub async fn await_code(
    db: &Db,
    challenge_id: String,
    admin_id: Option<i64>,
    event_id: i64,
    now: i64,
) -> Result<(), ApiError> {
    db.write(move |conn| {
        admin_totp::sweep_challenges(conn, now)?;
        admin_totp::open_challenge(conn, &challenge_id, admin_id, event_id, now)?;
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

/// What the browser's device cookie is to hold ([`device_mark`]) for the
/// admin whose session the second step opened, or `None`:
/// a wrong code, a code used before, an unknown or expired sign-in — or one
/// whose password was wrong, which waits with no admin — are all the same
/// refusal.
pub async fn second_step(db: &Db, step: SecondStep) -> Result<Option<String>, ApiError> {
    db.write(move |conn| {
        let Some((admin_id, event_id)) =
            admin_totp::take_challenge(conn, &step.challenge_id, step.now)?
        else {
            return Ok(None);
        };
        // A wrong password's sign-in reads as a right one's does (no admin
        // has the id -1), and fails here.
        let factor = admin_totp::factor(conn, admin_id.unwrap_or(-1))?;
        let (Some(admin_id), Some(factor)) = (admin_id, factor) else {
            return Ok(None);
        };
        let Some(secret) = factor.secret.clone() else {
            return Ok(None);
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
            return Ok(None);
        }
        let Some((username, password_hash)) = admins::name_and_hash(conn, admin_id)? else {
            return Ok(None);
        };
        if by_recovery {
            let left = admin_totp::recovery_codes_left(conn, admin_id)?;
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
        Ok(Some(device_mark(admin_id, &password_hash, Some(&secret))))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_starts_at_the_fourth_failure_and_doubles_to_eight_seconds() {
        let delays: Vec<i64> = (0..10).map(delay_ms).collect();
        assert_eq!(
            delays,
            [0, 0, 0, 500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000]
        );
        assert_eq!(delay_ms(1_000_000), 8_000);
    }

    #[test]
    fn networks_are_ipv4_addresses_and_ipv6_64s() {
        assert_eq!(network_of("203.0.113.7"), "203.0.113.7");
        assert_eq!(network_of("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            network_of("2001:db8:1:2:ffff:1:2:3"),
            network_of("2001:0db8:0001:0002::9")
        );
        assert_ne!(network_of("2001:db8:1:2::1"), network_of("2001:db8:1:3::1"));
        assert_eq!(network_of("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(network_of(""), "");
    }
}
