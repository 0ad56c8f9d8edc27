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

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

use super::users::ProfileChanges;

/// What a first login writes; the times are Unix seconds.
pub struct FirstLogin<'a> {
    pub appid: &'a str,
    pub openid: &'a str,
    pub unionid: Option<&'a str>,
    pub profile: &'a ProfileChanges,
    pub session_id: &'a str,
    pub session_key_sealed: &'a str,
    pub now: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub cookie_hash: Option<&'a str>,
    /// The audit event's kind and detail (`Kind::Login`, "new_user").
    pub audit_kind: &'a str,
    pub audit_detail: &'a str,
}

/// The statement as a query type of its own rather than `sql_query`: diesel
/// keeps a prepared statement per connection only for queries with a static
/// id, and `sql_query` text would be parsed and planned by PostgreSQL on
/// every login (a third of its time in the benchmark).
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
        let l = self.0;
        let p = l.profile;
        out.push_sql(
            "WITH u AS (INSERT INTO users (appid, openid, unionid, nickname, avatar_url, \
             gender, language, city, province, country, created_at, updated_at, \
             last_login_at) VALUES (",
        );
        out.push_bind_param::<Text, _>(&l.appid)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&l.openid)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&l.unionid)?;
        for text in [&p.nickname, &p.avatar_url] {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(text)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Integer>, _>(&p.gender)?;
        for text in [&p.language, &p.city, &p.province, &p.country] {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(text)?;
        }
        for _ in 0..3 {
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&l.now)?;
        }
        out.push_sql(
            ") ON CONFLICT (appid, openid) DO NOTHING RETURNING id), \
             s AS (INSERT INTO sessions (id, user_id, appid, session_key_sealed, created_at, \
             last_seen_at, expires_at, ip, user_agent, cookie_hash) SELECT ",
        );
        out.push_bind_param::<Text, _>(&l.session_id)?;
        out.push_sql(", id, ");
        out.push_bind_param::<Text, _>(&l.appid)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&l.session_key_sealed)?;
        for time in [&l.now, &l.now, &l.expires_at] {
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(time)?;
        }
        for text in [&l.ip, &l.user_agent, &l.cookie_hash] {
            out.push_sql(", ");
            out.push_bind_param::<Nullable<Text>, _>(text)?;
        }
        out.push_sql(
            " FROM u), a AS (INSERT INTO audit_events (kind, user_id, session_id, ip, \
             detail, created_at) SELECT ",
        );
        out.push_bind_param::<Text, _>(&l.audit_kind)?;
        out.push_sql(", id, ");
        out.push_bind_param::<Text, _>(&l.session_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&l.ip)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&l.audit_detail)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&l.now)?;
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
