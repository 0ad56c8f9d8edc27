//! A new person's first login on PostgreSQL, in one statement.
//!
//! The general login (`flows::login`) is a transaction of many round trips.
//! For an identity that does not exist yet, whose unionid nobody holds,
//! nothing needs deciding between them, so one statement does all the
//! inserts (data-modifying CTEs, one implicit transaction: all or nothing):
//! the identity first, numbering its person from the users' sequence and
//! holding its unionid; the person; the session; the audit event. When
//! (appid, openid) already exists, or someone holds the unionid (also a
//! concurrent login that has not committed yet: PostgreSQL waits for it),
//! the identity's INSERT yields to the key, the CTEs insert nothing and the
//! caller takes the general path — which links the identity to the holder.
//! SQLite does not need this: its writer batches logins instead.
//!
//! The rows' values come from the general login's own code (`NewUser`'s
//! insert is spelled in `users`). The differential test
//! (`tests/it/differential.rs`) holds the two paths to the same rows.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use super::audit::NewEvent;
use super::identities::NewIdentity;
use super::sessions::NewSession;
use super::users::NewUser;

/// What a first login writes: the rows the general login writes for a new
/// person, built by the same code (`flows::login`). The identity's, the
/// session's and the event's `user_id` and `identity_id` are ignored: they
/// are not known before the statement runs.
pub struct FirstLogin<'a> {
    pub user: NewUser<'a>,
    pub identity: NewIdentity<'a>,
    pub session: NewSession<'a>,
    pub event: NewEvent,
}

/// The statement as a query type of its own rather than `sql_query`: diesel
/// keeps a prepared statement per connection only for queries with a static
/// id, and `sql_query` text would be parsed and planned by PostgreSQL on
/// every login.
struct FirstLoginQuery<'q>(&'q FirstLogin<'q>);

impl QueryId for FirstLoginQuery<'_> {
    type QueryId = FirstLoginQuery<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for FirstLoginQuery<'_> {
    type SqlType = BigInt;
}

impl QueryFragment<Pg> for FirstLoginQuery<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let i = &self.0.identity;
        let s = &self.0.session;
        let e = &self.0.event;
        // The identity column's sequence by its name: `pg_get_serial_sequence`
        // would look it up in the catalog on every login.
        out.push_sql(
            "WITH n AS (SELECT nextval('users_id_seq') AS id), \
             i AS (INSERT INTO identities (user_id, platform, appid, openid, unionid, anonymous, \
             created_at, last_login_at, holds_unionid) SELECT id, ",
        );
        out.push_bind_param::<Text, _>(&i.platform)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&i.appid)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&i.openid)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&i.unionid)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&i.anonymous)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&i.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<BigInt>, _>(&i.last_login_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Bool>, _>(&i.holds_unionid)?;
        // Either key refuses: (appid, openid), or the unionid's holder.
        out.push_sql(" FROM n ON CONFLICT DO NOTHING RETURNING id, user_id), u AS (");
        self.0.user.push_insert_select("user_id", &mut out)?;
        out.push_sql(
            " FROM i RETURNING id), \
             s AS (INSERT INTO sessions (id, user_id, identity_id, appid, session_key_sealed, \
             created_at, last_seen_at, expires_at, ip, user_agent, cookie_hash) SELECT ",
        );
        out.push_bind_param::<Text, _>(&s.id)?;
        out.push_sql(", u.id, i.id, ");
        out.push_bind_param::<Text, _>(&s.appid)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&s.session_key_sealed)?;
        for time in [&s.created_at, &s.last_seen_at, &s.expires_at] {
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(time)?;
        }
        for text in [&s.ip, &s.user_agent, &s.cookie_hash] {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(text)?;
        }
        out.push_sql(
            " FROM u, i), a AS (INSERT INTO audit_events (kind, user_id, session_id, actor, ip, \
             detail, created_at) SELECT ",
        );
        out.push_bind_param::<Text, _>(&e.kind)?;
        out.push_sql(", id, ");
        for text in [&e.session_id, &e.actor, &e.ip, &e.detail] {
            out.push_bind_param::<Nullable<Text>, _>(text)?;
            out.push_sql(", ");
        }
        out.push_bind_param::<BigInt, _>(&e.created_at)?;
        out.push_sql(" FROM u) SELECT id FROM u");
        Ok(())
    }
}

/// The new person's id, or None when the general path must decide (the
/// identity exists, or its unionid is held; then nothing was written).
pub async fn insert(
    conn: &mut diesel_async::AsyncPgConnection,
    l: &FirstLogin<'_>,
) -> QueryResult<Option<i64>> {
    match diesel_async::RunQueryDsl::get_result::<i64>(FirstLoginQuery(l), conn).await {
        Ok(id) => Ok(Some(id)),
        Err(diesel::result::Error::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}
