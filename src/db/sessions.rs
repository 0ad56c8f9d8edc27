//! The `sessions` table: one row per login, the unit that is revoked. Holds the
//! sealed WeChat session_key, the lifetime and idle bookkeeping, and where the
//! login came from.

use diesel::prelude::*;

use super::schema::{sessions, users};
use super::{on_backend, AnyConnection};

/// The associated data `session_key_sealed` is sealed with.
pub const SESSION_KEY_PURPOSE: &str = "session_key";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub user_id: i64,
    pub appid: String,
    pub session_key_sealed: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The generation of the current refresh token (see `auth::refresh_token`).
    pub refresh_gen: i64,
    /// When the refresh token was last rotated.
    pub refreshed_at: Option<i64>,
    /// SHA-256 of the secret part of the session cookie, when one was issued.
    pub cookie_hash: Option<String>,
    /// The identity the session was opened through.
    pub identity_id: i64,
    /// A web session (SPEC §11): the relying party it was opened for, whose
    /// client_id its tokens carry as `aud`; None for a mini-program's.
    pub client_id: Option<String>,
    /// A web session's granted scopes (`openid profile phone`).
    pub scope: Option<String>,
}

impl Session {
    /// What its tokens carry as `aud`: the relying party of a web session,
    /// else the app.
    pub fn audience(&self) -> &str {
        self.client_id.as_deref().unwrap_or(&self.appid)
    }
}

/// Why a session cannot be used any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dead {
    Revoked,
    Expired,
    Idle,
}

impl Dead {
    pub fn message(self) -> &'static str {
        match self {
            Dead::Revoked => "session has been revoked or logged out",
            Dead::Expired => "session has expired",
            Dead::Idle => "session has expired after inactivity",
        }
    }
}

impl Session {
    /// `None` when the session is live at `now`.
    pub fn dead(&self, now: i64, idle_timeout: i64) -> Option<Dead> {
        liveness(
            self.revoked_at,
            self.expires_at,
            self.last_seen_at,
            now,
            idle_timeout,
        )
    }
}

/// The rule itself: revoked, past its absolute end, or idle too long.
pub fn liveness(
    revoked_at: Option<i64>,
    expires_at: i64,
    last_seen_at: i64,
    now: i64,
    idle_timeout: i64,
) -> Option<Dead> {
    if revoked_at.is_some() {
        Some(Dead::Revoked)
    } else if now >= expires_at {
        Some(Dead::Expired)
    } else if now >= last_seen_at + idle_timeout {
        Some(Dead::Idle)
    } else {
        None
    }
}

/// How often the last-seen time is written: once a minute, or once per tenth
/// of the idle timeout when that is shorter, so the hot path rarely writes.
pub fn touch_interval(idle_timeout: i64) -> i64 {
    (idle_timeout / 10).clamp(1, 60)
}

/// A new session id: the time in microseconds, in hex so that ids sort by
/// creation, and 72 random bits. Growing ids put every insert at the end of
/// the primary key's index (one page for a whole group commit) instead of on
/// a random page each.
pub fn new_id() -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!("{micros:013x}{}", crate::crypto::random_token(9))
}

#[derive(Insertable)]
// A missing value bound as NULL, not left to DEFAULT: see `audit::NewEvent`.
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub appid: &'a str,
    pub session_key_sealed: &'a str,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub cookie_hash: Option<&'a str>,
    pub identity_id: i64,
}

pub fn insert(conn: &mut AnyConnection, row: &NewSession<'_>) -> QueryResult<()> {
    on_backend!(conn, |c| diesel::insert_into(sessions::table)
        .values(row)
        .execute(c))
    .map(|_| ())
}

/// The whole session with its user's ban time, in one query (the refresh
/// flow; the token check reads less, see `live_session`).
pub fn find_with_ban(
    conn: &mut AnyConnection,
    id: &str,
) -> QueryResult<Option<(Session, Option<i64>)>> {
    on_backend!(conn, |c| sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(id))
        .select((Session::as_select(), users::banned_at))
        .get_result(c)
        .optional())
}

/// Records activity, unless it was recorded within the touch interval. The
/// condition is in the UPDATE so that concurrent requests write at most once.
pub fn touch(conn: &mut AnyConnection, id: &str, now: i64, interval: i64) -> QueryResult<()> {
    diesel::update(
        sessions::table
            .filter(sessions::id.eq(id))
            .filter(sessions::last_seen_at.le(now - interval)),
    )
    .set(sessions::last_seen_at.eq(now))
    .execute(conn)
    .map(|_| ())
}

/// Moves the session's refresh token from `generation` to the next one and
/// records activity; false when it is no longer at `generation` (a racing
/// rotation won: the UPDATE is the arbiter).
pub fn rotate_refresh(
    conn: &mut AnyConnection,
    id: &str,
    generation: i64,
    now: i64,
) -> QueryResult<bool> {
    let n = on_backend!(conn, |c| diesel::update(
        sessions::table
            .filter(sessions::id.eq(id))
            .filter(sessions::refresh_gen.eq(generation))
    )
    .set((
        sessions::refresh_gen.eq(generation + 1),
        sessions::refreshed_at.eq(now),
        sessions::last_seen_at.eq(now),
    ))
    .execute(c))?;
    Ok(n == 1)
}

/// The user's live sessions beyond the `keep` most recently used, least
/// recently used first, each with its app.
pub fn live_beyond(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
    idle_timeout: i64,
    keep: i64,
) -> QueryResult<Vec<Ended>> {
    let live: Vec<(String, i64, String)> = on_backend!(conn, |c| sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_seen_at.gt(now - idle_timeout))
        .select((sessions::id, sessions::last_seen_at, sessions::appid))
        .load(c))?;
    let excess = live.len().saturating_sub(keep.max(0) as usize);
    let mut live = live;
    live.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    Ok(live
        .into_iter()
        .take(excess)
        .map(|(id, _, appid)| Ended { id, appid })
        .collect())
}

/// Marks a session as a web session of `client_id` with `scope` (SPEC §11):
/// written beside the insert, so that the mini-programs' logins bind no
/// more columns than before.
pub fn set_web(
    conn: &mut AnyConnection,
    id: &str,
    client_id: &str,
    scope: &str,
) -> QueryResult<()> {
    diesel::update(sessions::table.filter(sessions::id.eq(id)))
        .set((sessions::client_id.eq(client_id), sessions::scope.eq(scope)))
        .execute(conn)
        .map(|_| ())
}

/// Revokes one session; returns whether it was live until now.
pub fn revoke(conn: &mut AnyConnection, id: &str, reason: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        sessions::table
            .filter(sessions::id.eq(id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(now),
        sessions::revoke_reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A session that a revocation ended, and its app (a person's sessions
/// span apps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub id: String,
    pub appid: String,
}

/// Whose live sessions a revocation ends.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    /// A person's, through every identity.
    User(i64),
    /// One identity's (an unlink).
    Identity(i64),
}

/// Revokes every live session of a person; the ones it ended.
pub fn revoke_all_of_user(
    conn: &mut AnyConnection,
    user_id: i64,
    reason: &str,
    now: i64,
) -> QueryResult<Vec<Ended>> {
    revoke_all(conn, Owner::User(user_id), reason, now)
}

/// Revokes every live session of `owner`; the ones it ended.
pub fn revoke_all(
    conn: &mut AnyConnection,
    owner: Owner,
    reason: &str,
    now: i64,
) -> QueryResult<Vec<Ended>> {
    let ended: Vec<(String, String)> = on_backend!(conn, |c| {
        let live = diesel::update(sessions::table)
            .filter(sessions::revoked_at.is_null())
            .into_boxed();
        match owner {
            Owner::User(id) => live.filter(sessions::user_id.eq(id)),
            Owner::Identity(id) => live.filter(sessions::identity_id.eq(id)),
        }
        .set((
            sessions::revoked_at.eq(now),
            sessions::revoke_reason.eq(reason),
        ))
        .returning((sessions::id, sessions::appid))
        .get_results(c)
    })?;
    Ok(ended
        .into_iter()
        .map(|(id, appid)| Ended { id, appid })
        .collect())
}

/// Deletes up to `batch` sessions that ended before `before` (revoked, or past
/// their absolute expiry); returns how many went.
pub fn purge_dead(conn: &mut AnyConnection, before: i64, batch: i64) -> QueryResult<usize> {
    let ids: Vec<String> = sessions::table
        .filter(
            sessions::revoked_at
                .lt(before)
                .or(sessions::expires_at.lt(before)),
        )
        .select(sessions::id)
        .limit(batch)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(sessions::table.filter(sessions::id.eq_any(&ids))).execute(conn)
}

/// Live sessions per user, for one page of users (one grouped query).
pub fn active_counts(
    conn: &mut AnyConnection,
    user_ids: &[i64],
    now: i64,
) -> QueryResult<std::collections::HashMap<i64, i64>> {
    if user_ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(i64, i64)> = sessions::table
        .filter(sessions::user_id.eq_any(user_ids))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .group_by(sessions::user_id)
        .select((sessions::user_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// A user's sessions, newest first (live and ended).
pub fn of_user(conn: &mut AnyConnection, user_id: i64, limit: i64) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(Session::as_select())
        .limit(limit)
        .load(conn)
}

/// A person's live sessions, most recently used first, at most `limit`
/// (SPEC §12: the person's own list).
pub fn live_of_user(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
    idle_timeout: i64,
    limit: i64,
) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(sessions::last_seen_at.gt(now - idle_timeout))
        .order((sessions::last_seen_at.desc(), sessions::id.desc()))
        .select(Session::as_select())
        .limit(limit)
        .load(conn)
}

/// Every session of a person still kept (the purge drops ended ones after
/// their retention), oldest first: the person's export.
pub fn all_of_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .order((sessions::created_at.asc(), sessions::id.asc()))
        .select(Session::as_select())
        .load(conn)
}

/// Active sessions with their user's nickname, newest activity first; keyset
/// pagination on (last_seen_at, id).
pub fn active_page(
    conn: &mut AnyConnection,
    now: i64,
    before: Option<(i64, String)>,
    limit: i64,
) -> QueryResult<Vec<(Session, Option<String>)>> {
    let mut q = sessions::table
        .inner_join(users::table)
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select((Session::as_select(), users::nickname))
        .into_boxed();
    if let Some((seen, id)) = before {
        // (last_seen_at, id) < (seen, id), spelled so that the first term
        // bounds the index range on both backends.
        q = q
            .filter(sessions::last_seen_at.le(seen))
            .filter(sessions::last_seen_at.lt(seen).or(sessions::id.lt(id)));
    }
    q.order((sessions::last_seen_at.desc(), sessions::id.desc()))
        .limit(limit)
        .load(conn)
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<Session>> {
    sessions::table
        .find(id)
        .select(Session::as_select())
        .get_result(conn)
        .optional()
}

/// The sealed WeChat session_key of a session (the decrypt call's; the token
/// check does not read it).
pub fn sealed_key(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<String>> {
    sessions::table
        .find(id)
        .select(sessions::session_key_sealed)
        .get_result(conn)
        .optional()
}

/// Deletes every session of `user_ids` (their refresh tokens go with them):
/// an erasure.
pub fn delete_of_users(conn: &mut AnyConnection, user_ids: &[i64]) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq_any(user_ids))).execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(last_seen_at: i64, expires_at: i64, revoked_at: Option<i64>) -> Session {
        Session {
            id: "s".into(),
            user_id: 1,
            appid: "wx".into(),
            session_key_sealed: String::new(),
            created_at: 0,
            last_seen_at,
            expires_at,
            revoked_at,
            revoke_reason: None,
            ip: None,
            user_agent: None,
            refresh_gen: 0,
            refreshed_at: None,
            cookie_hash: None,
            identity_id: 1,
            client_id: None,
            scope: None,
        }
    }

    #[test]
    fn liveness_checks_revocation_expiry_and_idleness() {
        assert_eq!(session(100, 1000, None).dead(150, 100), None);
        assert_eq!(
            session(100, 1000, Some(120)).dead(150, 100),
            Some(Dead::Revoked)
        );
        assert_eq!(
            session(100, 1000, None).dead(1000, 10_000),
            Some(Dead::Expired)
        );
        assert_eq!(session(100, 1000, None).dead(200, 100), Some(Dead::Idle));
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let first = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id();
        assert!(first < second, "{first} < {second}");
        assert_eq!(first.len(), 25);
        assert_ne!(new_id(), new_id());
    }

    #[test]
    fn touch_interval_is_a_minute_or_a_tenth_of_idle() {
        assert_eq!(touch_interval(7 * 86400), 60);
        assert_eq!(touch_interval(300), 30);
        assert_eq!(touch_interval(5), 1);
    }
}
