//! The `audit_events` table: who did what to which user or session, and when.

use diesel::prelude::*;

use super::schema::audit_events;
use super::{on_backend, AnyConnection};

/// The kinds of audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Login,
    LoginRefused,
    Logout,
    Refresh,
    RefreshReuse,
    Revoke,
    Ban,
    Unban,
    AdminLogin,
    AdminLoginFailed,
    AdminLogout,
    /// `wxauth admin unlock NAME`: NAME's failed sign-ins stop counting.
    AdminUnlock,
    /// `wxauth admin delete NAME`.
    AdminDelete,
    /// `wxauth admin role NAME ROLE` (detail: `old -> new`).
    AdminRole,
    /// An admin confirmed a second factor (TOTP) on the console.
    AdminTotpEnrolled,
    /// `wxauth admin reset-totp NAME`.
    AdminTotpReset,
    /// An admin signed in with a recovery code instead of a TOTP code.
    AdminRecoveryCodeUsed,
    /// A call of the admin API, by the key named in `actor`.
    ApiCall,
    /// `wxauth apikey create NAME`, `wxauth apikey revoke NAME`.
    ApiKeyCreate,
    ApiKeyRevoke,
    /// A new identity joined a person who existed (a unionid they hold, or
    /// the Douyin guest they were).
    IdentityLinked,
    /// A unionid arrived for an identity whose person is not the unionid's:
    /// stored, nothing merged; an operator decides.
    LinkConflict,
    /// An operator merged one person into another.
    Merge,
    /// An operator moved an identity into a person of its own.
    Unlink,
    /// An operator sent a webhook delivery again (the console).
    WebhookRetry,
    /// A browser asked to sign in to a web application (a ticket shown).
    WebLoginStart,
    /// A person scanned a web sign-in ticket's code.
    WebLoginScan,
    /// The scanner let the browser in.
    WebLoginConfirm,
    /// The scanner refused.
    WebLoginDeny,
    /// A person took the export of their account (SPEC §12).
    AccountExport,
    /// A person asked for their account's deletion.
    DeletionRequested,
    /// A login within the delay cancelled it.
    DeletionCancelled,
    /// A person was erased: after the delay, or at once by an operator.
    UserDeleted,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Login => "login",
            Kind::LoginRefused => "login_refused",
            Kind::Logout => "logout",
            Kind::Refresh => "refresh",
            Kind::RefreshReuse => "refresh_reuse",
            Kind::Revoke => "revoke",
            Kind::Ban => "ban",
            Kind::Unban => "unban",
            Kind::AdminLogin => "admin_login",
            Kind::AdminLoginFailed => "admin_login_failed",
            Kind::AdminLogout => "admin_logout",
            Kind::AdminUnlock => "admin_unlock",
            Kind::AdminDelete => "admin_delete",
            Kind::AdminRole => "admin_role",
            Kind::AdminTotpEnrolled => "admin_totp_enrolled",
            Kind::AdminTotpReset => "admin_totp_reset",
            Kind::AdminRecoveryCodeUsed => "admin_recovery_code_used",
            Kind::ApiCall => "api_call",
            Kind::ApiKeyCreate => "api_key_create",
            Kind::ApiKeyRevoke => "api_key_revoke",
            Kind::IdentityLinked => "identity_linked",
            Kind::LinkConflict => "link_conflict",
            Kind::Merge => "merge",
            Kind::Unlink => "unlink",
            Kind::WebhookRetry => "webhook_retry",
            Kind::WebLoginStart => "web_login_start",
            Kind::WebLoginScan => "web_login_scan",
            Kind::WebLoginConfirm => "web_login_confirm",
            Kind::WebLoginDeny => "web_login_deny",
            Kind::AccountExport => "account_export",
            Kind::DeletionRequested => "deletion_requested",
            Kind::DeletionCancelled => "deletion_cancelled",
            Kind::UserDeleted => "user_deleted",
        }
    }
}

#[derive(Debug, Clone, Default, Insertable)]
// Every column bound, a missing value as NULL (each of these columns is
// nullable with no default): the statement's SQL is then the same for every
// row, and diesel prepares it once per connection rather than once per
// pattern of missing values. (It still builds that text on every insert to
// find the statement: diesel gives no insert a static query id. Giving the
// login's four inserts one saved under 1% of a login's instructions,
// measured with `bench/count_logins.sh`, and was left out.)
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct NewEvent {
    pub kind: String,
    pub user_id: Option<i64>,
    pub session_id: Option<String>,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
    pub created_at: i64,
}

impl NewEvent {
    pub fn new(kind: Kind, now: i64) -> Self {
        NewEvent {
            kind: kind.as_str().to_string(),
            created_at: now,
            ..Default::default()
        }
    }
    pub fn user(mut self, user_id: i64) -> Self {
        self.user_id = Some(user_id);
        self
    }
    pub fn session(mut self, session_id: &str) -> Self {
        self.session_id = Some(session_id.to_string());
        self
    }
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
    pub fn actor(mut self, actor: &str) -> Self {
        self.actor = Some(actor.to_string());
        self
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

pub fn record(conn: &mut AnyConnection, event: &NewEvent) -> QueryResult<()> {
    on_backend!(conn, |c| diesel::insert_into(audit_events::table)
        .values(event)
        .execute(c))
    .map(|_| ())
}

/// [`record`], answering the new event's id.
pub fn record_returning_id(conn: &mut AnyConnection, event: &NewEvent) -> QueryResult<i64> {
    on_backend!(conn, |c| diesel::insert_into(audit_events::table)
        .values(event)
        .returning(audit_events::id)
        .get_result(c))
}

/// Settles the outcome of an event recorded before it was known (a console
/// sign-in is recorded as failed until its password proves right).
pub fn set_kind(conn: &mut AnyConnection, id: i64, kind: Kind) -> QueryResult<()> {
    diesel::update(audit_events::table.find(id))
        .set(audit_events::kind.eq(kind.as_str()))
        .execute(conn)
        .map(|_| ())
}

/// Makes console sign-ins from the network `net` and as `actor` take turns
/// until the end of the transaction, so that each counts the failures (and
/// takes the name's turn) recorded before it. SQLite's single writer already
/// runs them one at a time; PostgreSQL takes advisory locks on both.
pub fn serialize_signins(
    conn: &mut AnyConnection,
    net: Option<&str>,
    actor: &str,
) -> QueryResult<()> {
    if let AnyConnection::Postgresql(c) = conn {
        // Always the network's lock first, then the name's, each in a class
        // of its own (the two-key form): no two sign-ins wait on each other
        // the other way round, whatever their hashes.
        diesel::sql_query(
            "SELECT pg_advisory_xact_lock(41, hashtext($1)), pg_advisory_xact_lock(42, hashtext($2))",
        )
        .bind::<diesel::sql_types::Text, _>(net.unwrap_or(""))
        .bind::<diesel::sql_types::Text, _>(actor)
        .execute(c)?;
    }
    Ok(())
}

/// Deletes up to `batch` of the oldest events, those older than `before`.
/// Ids grow with time, so the oldest are first in id order: no index on the
/// time is needed (nor written by every login).
pub fn purge_before(conn: &mut AnyConnection, before: i64, batch: i64) -> QueryResult<usize> {
    let oldest: Vec<(i64, i64)> = audit_events::table
        .select((audit_events::id, audit_events::created_at))
        .order(audit_events::id)
        .limit(batch)
        .load(conn)?;
    let ids: Vec<i64> = oldest
        .into_iter()
        .take_while(|&(_, created_at)| created_at < before)
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(audit_events::table.filter(audit_events::id.eq_any(&ids))).execute(conn)
}

/// Failed console sign-ins only, written as a literal: the indexes that
/// count them are partial ones (see the migration `lighter_login_writes`),
/// which a database uses only when the query names the same kind.
fn failed_signin() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql("kind = 'admin_login_failed'")
}

/// The failed console sign-ins that count against `actor` signing in from
/// the network `net` (an IPv4 address or an IPv6 /64, kept as the failed
/// event's detail): since `since`, and for `actor` only after `unlocked_at`
/// (the last `wxauth admin unlock` of that name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigninFailures {
    /// As `actor`, from `net`.
    pub by_name_and_net: i64,
    /// From `net`, as any name.
    pub by_net: i64,
    /// As `actor`, from anywhere.
    pub by_name: i64,
    /// The oldest of the first two sets: when it ages out of the window, a
    /// lockout ends.
    pub oldest_by_name_and_net: Option<i64>,
    pub oldest_by_net: Option<i64>,
}

pub fn signin_failures(
    conn: &mut AnyConnection,
    actor: &str,
    net: Option<&str>,
    since: i64,
    unlocked_at: Option<i64>,
) -> QueryResult<SigninFailures> {
    // Events of the unlock's own second count as before it.
    let unlocked = unlocked_at.unwrap_or(i64::MIN);
    let by_name = || {
        audit_events::table
            .filter(failed_signin())
            .filter(audit_events::actor.eq(actor))
            .filter(audit_events::created_at.ge(since))
            .filter(audit_events::created_at.gt(unlocked))
    };
    let from_net = || {
        audit_events::table
            .filter(failed_signin())
            .filter(audit_events::detail.eq(net))
            .filter(audit_events::created_at.ge(since))
            .filter(diesel::dsl::not(
                audit_events::actor
                    .eq(actor)
                    .and(audit_events::created_at.le(unlocked)),
            ))
    };
    let Some(net) = net else {
        // No address known: nothing counts per network.
        return Ok(SigninFailures {
            by_name_and_net: 0,
            by_net: 0,
            by_name: by_name().count().get_result(conn)?,
            oldest_by_name_and_net: None,
            oldest_by_net: None,
        });
    };
    let (by_name_and_net, oldest_by_name_and_net) = by_name()
        .filter(audit_events::detail.eq(net))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(audit_events::created_at),
        ))
        .get_result(conn)?;
    let (by_net, oldest_by_net) = from_net()
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(audit_events::created_at),
        ))
        .get_result(conn)?;
    let by_name = by_name().count().get_result(conn)?;
    Ok(SigninFailures {
        by_name_and_net,
        by_net,
        by_name,
        oldest_by_name_and_net,
        oldest_by_net,
    })
}

pub fn last_unlock(conn: &mut AnyConnection, actor: &str) -> QueryResult<Option<i64>> {
    audit_events::table
        .filter(audit_events::kind.eq(Kind::AdminUnlock.as_str()))
        .filter(audit_events::actor.eq(actor))
        .select(diesel::dsl::max(audit_events::created_at))
        .get_result(conn)
}

/// How many `kind` events there were since `since`.
pub fn count_since(conn: &mut AnyConnection, kind: Kind, since: i64) -> QueryResult<i64> {
    audit_events::table
        .filter(audit_events::kind.eq(kind.as_str()))
        .filter(audit_events::created_at.ge(since))
        .count()
        .get_result(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub session_id: Option<String>,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
    pub created_at: i64,
}

pub const KINDS: [Kind; 33] = [
    Kind::Login,
    Kind::LoginRefused,
    Kind::Logout,
    Kind::Refresh,
    Kind::RefreshReuse,
    Kind::Revoke,
    Kind::Ban,
    Kind::Unban,
    Kind::AdminLogin,
    Kind::AdminLoginFailed,
    Kind::AdminLogout,
    Kind::AdminUnlock,
    Kind::AdminDelete,
    Kind::AdminRole,
    Kind::AdminTotpEnrolled,
    Kind::AdminTotpReset,
    Kind::AdminRecoveryCodeUsed,
    Kind::ApiCall,
    Kind::ApiKeyCreate,
    Kind::ApiKeyRevoke,
    Kind::IdentityLinked,
    Kind::LinkConflict,
    Kind::Merge,
    Kind::Unlink,
    Kind::WebLoginStart,
    Kind::WebLoginScan,
    Kind::WebLoginConfirm,
    Kind::WebLoginDeny,
    Kind::WebhookRetry,
    Kind::AccountExport,
    Kind::DeletionRequested,
    Kind::DeletionCancelled,
    Kind::UserDeleted,
];

/// Every event about a person still kept (the purge drops them after
/// `audit_retention`), oldest first: the person's export.
pub fn of_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<Event>> {
    audit_events::table
        .filter(audit_events::user_id.eq(user_id))
        .order(audit_events::id.asc())
        .select(Event::as_select())
        .load(conn)
}

/// Where an event stands among its kind's: the one index on the kind,
/// (kind, created_at, id), orders them by time, then by id within a second.
/// (A second index on (kind, id) cost every event written an entry of its
/// own.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub created_at: i64,
    pub id: i64,
}

impl Event {
    pub fn position(&self) -> Position {
        Position {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

/// A query of events through the indexes: a person's by (user_id, id), a
/// kind's by (kind, created_at, id), all of them by id.
type Boxed<'a> = audit_events::BoxedQuery<'a, <AnyConnection as Connection>::Backend>;

/// Events of `kind` and/or `user_id`, when given.
fn of(kind: Option<&str>, user_id: Option<i64>) -> Boxed<'static> {
    let mut q: Boxed<'static> = audit_events::table.into_boxed();
    if let Some(kind) = kind {
        q = q.filter(audit_events::kind.eq(kind.to_string()));
    }
    if let Some(user_id) = user_id {
        q = q.filter(audit_events::user_id.eq(user_id));
    }
    q
}

/// `q` beyond the event at `from` (before it when `newest_first`, after it
/// otherwise), in the order of the index that serves it: a kind's events
/// alone (`by_kind`) by (created_at, id), any others by id (a person's index
/// ends with it). A kind's range on `created_at` is what the index seeks;
/// the rest sorts out the events of `from`'s own second.
fn ordered(q: Boxed<'_>, by_kind: bool, from: Option<Position>, newest_first: bool) -> Boxed<'_> {
    use audit_events::{created_at, id};
    let q = match from {
        None => q,
        Some(p) if by_kind && newest_first => q
            .filter(created_at.le(p.created_at))
            .filter(created_at.lt(p.created_at).or(id.lt(p.id))),
        Some(p) if by_kind => q
            .filter(created_at.ge(p.created_at))
            .filter(created_at.gt(p.created_at).or(id.gt(p.id))),
        Some(p) if newest_first => q.filter(id.lt(p.id)),
        Some(p) => q.filter(id.gt(p.id)),
    };
    match (by_kind, newest_first) {
        (true, true) => q.order((created_at.desc(), id.desc())),
        (true, false) => q.order((created_at.asc(), id.asc())),
        (false, true) => q.order(id.desc()),
        (false, false) => q.order(id.asc()),
    }
}

/// Events newest first, optionally of one kind and/or one user, keyset: the
/// page after the event `before_id`. A person's events come in id order
/// (through their index), a kind's in its index's order ([`Position`]).
pub fn page(
    conn: &mut AnyConnection,
    kind: Option<&str>,
    user_id: Option<i64>,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Event>> {
    let by_kind = kind.is_some() && user_id.is_none();
    let before = match before_id {
        Some(before) if by_kind => match position_of(conn, before)? {
            Some(p) => Some(p),
            // Nothing kept at or before it: nothing older is.
            None => return Ok(Vec::new()),
        },
        // In id order the time is not read.
        Some(before) => Some(Position {
            created_at: 0,
            id: before,
        }),
        None => None,
    };
    ordered(of(kind, user_id), by_kind, before, true)
        .select(Event::as_select())
        .limit(limit)
        .load(conn)
}

/// Where the cursor `id` stands among a kind's events: its event's place.
/// A cursor past every kept event stands above them all; one whose event is
/// gone (purged, or never was) stands where the event just before it by id
/// does, written at the same moment as near as the log can tell. None when
/// no event at or before it is kept.
fn position_of(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<Position>> {
    use audit_events::dsl as e;
    let at_or_before: Option<(i64, i64)> = e::audit_events
        .filter(e::id.le(id))
        .order(e::id.desc())
        .select((e::id, e::created_at))
        .first(conn)
        .optional()?;
    let Some((found, created_at)) = at_or_before else {
        return Ok(None);
    };
    if found != id {
        let later: Option<i64> = e::audit_events
            .filter(e::id.gt(id))
            .order(e::id.asc())
            .select(e::id)
            .first(conn)
            .optional()?;
        if later.is_none() {
            return Ok(Some(Position {
                created_at: i64::MAX,
                id: i64::MAX,
            }));
        }
    }
    Ok(Some(Position { created_at, id }))
}

/// What an export of the audit log takes: the console page's filters and a
/// time range (`from` inclusive, `until` exclusive, Unix seconds).
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub kind: Option<String>,
    pub user_id: Option<i64>,
    pub from: Option<i64>,
    pub until: Option<i64>,
}

/// The events of `filter` after the event at `after` (from the first when
/// None), oldest first, at most `limit`: one batch of an export, which goes
/// on from the last event it got. Ordered as [`page`] orders them.
pub fn export_batch(
    conn: &mut AnyConnection,
    filter: &ExportFilter,
    after: Option<Position>,
    limit: i64,
) -> QueryResult<Vec<Event>> {
    let by_kind = filter.kind.is_some() && filter.user_id.is_none();
    let mut q = of(filter.kind.as_deref(), filter.user_id);
    if let Some(from) = filter.from {
        q = q.filter(audit_events::created_at.ge(from));
    }
    if let Some(until) = filter.until {
        q = q.filter(audit_events::created_at.lt(until));
    }
    ordered(q, by_kind, after, false)
        .select(Event::as_select())
        .limit(limit)
        .load(conn)
}

/// [`page`] of at most `limit` events, and the `before` of the next page
/// when there are more.
pub fn page_with_next(
    conn: &mut AnyConnection,
    kind: Option<&str>,
    user_id: Option<i64>,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<(Vec<Event>, Option<i64>)> {
    let mut found = page(conn, kind, user_id, before_id, limit + 1)?;
    let more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    let next = if more {
        found.last().map(|e| e.id)
    } else {
        None
    };
    Ok((found, next))
}

/// Keeps of `user_ids`' events only their kind and time: an erasure.
pub fn scrub_users(conn: &mut AnyConnection, user_ids: &[i64]) -> QueryResult<usize> {
    diesel::update(audit_events::table.filter(audit_events::user_id.eq_any(user_ids)))
        .set((
            audit_events::user_id.eq(None::<i64>),
            audit_events::session_id.eq(None::<String>),
            audit_events::actor.eq(None::<String>),
            audit_events::ip.eq(None::<String>),
            audit_events::detail.eq(None::<String>),
        ))
        .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{run_migrations, ConnectionManager, DatabaseUrl};

    fn migrated(dir: &tempfile::TempDir) -> AnyConnection {
        let path = dir.path().join("audit.sqlite").display().to_string();
        let mut conn = ConnectionManager::new(DatabaseUrl::Sqlite(path))
            .establish()
            .unwrap();
        run_migrations(&mut conn).unwrap();
        conn
    }

    #[test]
    fn the_failed_signin_literal_names_the_kind_that_is_written() {
        // `failed_signin()` spells the kind out for the partial indexes.
        assert_eq!(Kind::AdminLoginFailed.as_str(), "admin_login_failed");
    }

    #[test]
    fn purge_removes_the_oldest_events_in_batches_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = migrated(&dir);
        for t in 0..10 {
            record(&mut conn, &NewEvent::new(Kind::Login, 100 + t)).unwrap();
        }
        // Older than 107: seven events, taken three at a time.
        assert_eq!(purge_before(&mut conn, 107, 3).unwrap(), 3);
        assert_eq!(purge_before(&mut conn, 107, 3).unwrap(), 3);
        assert_eq!(purge_before(&mut conn, 107, 3).unwrap(), 1);
        assert_eq!(purge_before(&mut conn, 107, 3).unwrap(), 0);
        let left: Vec<i64> = audit_events::table
            .select(audit_events::created_at)
            .order(audit_events::id)
            .load(&mut conn)
            .unwrap();
        assert_eq!(left, vec![107, 108, 109]);
    }

    #[test]
    fn failed_signins_are_counted_per_name_per_network_and_both() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = migrated(&dir);
        // The event names its network in its detail (console_sign_in).
        let failed = |actor: &str, net: &str, at: i64| {
            NewEvent::new(Kind::AdminLoginFailed, at)
                .actor(actor)
                .ip(Some("any".into()))
                .detail(net)
        };
        record(&mut conn, &failed("admin", "10.0.0.1", 50)).unwrap();
        record(&mut conn, &failed("admin", "10.0.0.2", 60)).unwrap();
        record(&mut conn, &failed("ops", "10.0.0.1", 70)).unwrap();
        // Other kinds with the same name and network do not count.
        record(
            &mut conn,
            &NewEvent::new(Kind::AdminLogin, 80)
                .actor("admin")
                .detail("10.0.0.1"),
        )
        .unwrap();
        let counted = |conn: &mut AnyConnection, actor, net, since, unlocked| {
            signin_failures(conn, actor, Some(net), since, unlocked).unwrap()
        };
        let f = counted(&mut conn, "admin", "10.0.0.1", 0, None);
        assert_eq!((f.by_name_and_net, f.by_net, f.by_name), (1, 2, 2));
        assert_eq!(
            (f.oldest_by_name_and_net, f.oldest_by_net),
            (Some(50), Some(50))
        );
        let f = counted(&mut conn, "admin", "10.0.0.1", 55, None);
        assert_eq!((f.by_name_and_net, f.by_net, f.by_name), (0, 1, 1));
        assert_eq!(f.oldest_by_net, Some(70));
        // An unlock of `admin` at 65 clears its failures, not those of `ops`.
        let f = counted(&mut conn, "admin", "10.0.0.1", 0, Some(65));
        assert_eq!((f.by_name_and_net, f.by_net, f.by_name), (0, 1, 0));
        let f = counted(&mut conn, "ops", "10.0.0.1", 0, None);
        assert_eq!((f.by_name_and_net, f.by_net, f.by_name), (1, 2, 1));
        let f = counted(&mut conn, "nobody", "10.9.9.9", 0, None);
        assert_eq!((f.by_name_and_net, f.by_net, f.by_name), (0, 0, 0));
        assert_eq!(f.oldest_by_net, None);
        // No address known: the name's failures count, no network's.
        let f = signin_failures(&mut conn, "admin", None, 0, None).unwrap();
        assert_eq!((f.by_name_and_net, f.by_net, f.by_name), (0, 0, 2));
        assert_eq!(last_unlock(&mut conn, "admin").unwrap(), None);
        record(
            &mut conn,
            &NewEvent::new(Kind::AdminUnlock, 90).actor("admin"),
        )
        .unwrap();
        assert_eq!(last_unlock(&mut conn, "admin").unwrap(), Some(90));
        assert_eq!(last_unlock(&mut conn, "ops").unwrap(), None);
    }
}
