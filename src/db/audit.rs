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
        }
    }
}

#[derive(Debug, Clone, Default, Insertable)]
#[diesel(table_name = audit_events)]
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

/// Deletes up to `batch` events older than `before`.
pub fn purge_before(conn: &mut AnyConnection, before: i64, batch: i64) -> QueryResult<usize> {
    let ids: Vec<i64> = audit_events::table
        .filter(audit_events::created_at.lt(before))
        .select(audit_events::id)
        .order(audit_events::id)
        .limit(batch)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(audit_events::table.filter(audit_events::id.eq_any(&ids))).execute(conn)
}

/// How many `kind` events there were since `since` by `actor`.
pub fn count_by_actor(
    conn: &mut AnyConnection,
    kind: Kind,
    actor: &str,
    since: i64,
) -> QueryResult<i64> {
    audit_events::table
        .filter(audit_events::kind.eq(kind.as_str()))
        .filter(audit_events::actor.eq(actor))
        .filter(audit_events::created_at.ge(since))
        .count()
        .get_result(conn)
}

/// How many `kind` events there were since `since` from `ip`.
pub fn count_by_ip(conn: &mut AnyConnection, kind: Kind, ip: &str, since: i64) -> QueryResult<i64> {
    audit_events::table
        .filter(audit_events::kind.eq(kind.as_str()))
        .filter(audit_events::ip.eq(ip))
        .filter(audit_events::created_at.ge(since))
        .count()
        .get_result(conn)
}

/// The oldest `kind` event since `since` by `actor` or from `ip`: when it ages
/// out of the window, a lockout ends.
pub fn oldest_since(
    conn: &mut AnyConnection,
    kind: Kind,
    actor: &str,
    ip: &str,
    since: i64,
) -> QueryResult<Option<i64>> {
    audit_events::table
        .filter(audit_events::kind.eq(kind.as_str()))
        .filter(audit_events::actor.eq(actor).or(audit_events::ip.eq(ip)))
        .filter(audit_events::created_at.ge(since))
        .select(diesel::dsl::min(audit_events::created_at))
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

pub const KINDS: [Kind; 11] = [
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
];

/// Events newest first, optionally of one kind and/or one user; keyset on id.
pub fn page(
    conn: &mut AnyConnection,
    kind: Option<&str>,
    user_id: Option<i64>,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Event>> {
    let mut q = audit_events::table.select(Event::as_select()).into_boxed();
    if let Some(kind) = kind {
        q = q.filter(audit_events::kind.eq(kind.to_string()));
    }
    if let Some(user_id) = user_id {
        q = q.filter(audit_events::user_id.eq(user_id));
    }
    if let Some(before) = before_id {
        q = q.filter(audit_events::id.lt(before));
    }
    q.order(audit_events::id.desc()).limit(limit).load(conn)
}
