//! A new user's first login on PostgreSQL, in one statement.
//!
//! The general login (`flows::login`) is a transaction of five round trips:
//! BEGIN, the user's INSERT, the session's, the audit event's, COMMIT. For a
//! user that does not exist yet nothing needs deciding between them, so one
//! statement does all three inserts (data-modifying CTEs, one implicit
//! transaction: all or nothing). When (appid, openid) already exists the
//! user's INSERT yields to the unique key, the CTE inserts nothing and the
//! caller takes the general path — concurrent first logins still make one
//! user. SQLite does not need this: its writer batches logins instead.
//!
//! The rows' values come from the general login's own code, and the users
//! insert is [`NewUser`]'s; what is spelled here is the sessions' and audit
//! events' column lists. The differential test (`tests/it/differential.rs`)
//! holds the two paths to the same rows.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};

use super::audit::NewEvent;
use super::sessions::NewSession;
use super::users::NewUser;

/// What a first login writes: the rows the general login writes for a new
/// user, built by the same code (`flows::login`). The session's and the
/// event's `user_id` are ignored: the new user's id is not known before the
/// statement runs.
pub struct FirstLogin<'a> {
    pub user: NewUser<'a>,
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
        let s = &self.0.session;
        let e = &self.0.event;
        out.push_sql("WITH u AS (");
        self.0.user.push_insert_if_new(&mut out)?;
        out.push_sql(
            " RETURNING id), \
             s AS (INSERT INTO sessions (id, user_id, appid, session_key_sealed, created_at, \
             last_seen_at, expires_at, ip, user_agent, cookie_hash) SELECT ",
        );
        out.push_bind_param::<Text, _>(&s.id)?;
        out.push_sql(", id, ");
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
            " FROM u), a AS (INSERT INTO audit_events (kind, user_id, session_id, actor, ip, \
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

/// The new user's id, or None when (appid, openid) already has a user (then
/// nothing was written).
pub async fn insert(
    conn: &mut diesel_async::AsyncPgConnection,
    l: &FirstLogin<'_>,
) -> QueryResult<Option<i64>> {
    diesel_async::RunQueryDsl::get_result::<i64>(FirstLoginQuery(l), conn)
        .await
        .optional()
}
