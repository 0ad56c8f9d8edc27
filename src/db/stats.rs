//! Figures for the console's overview, each one indexed query.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Serialize;

use super::audit::{self, Kind};
use super::schema::{sessions, users};
use super::AnyConnection;

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub users_total: i64,
    pub new_users_today: i64,
    pub active_sessions: i64,
    pub logins_24h: i64,
}

pub fn overview(conn: &mut AnyConnection, now: i64) -> QueryResult<Overview> {
    let midnight = now - now.rem_euclid(86_400);
    Ok(Overview {
        // People: tombstones of merges (through their small partial index)
        // are not counted.
        users_total: users::table.count().get_result::<i64>(conn)?
            - users::table
                .filter(users::merged_into.is_not_null())
                .count()
                .get_result::<i64>(conn)?,
        new_users_today: users::table
            .filter(users::created_at.ge(midnight))
            .count()
            .get_result(conn)?,
        active_sessions: live_sessions(conn, now)?,
        logins_24h: audit::count_since(conn, Kind::Login, now - 86_400)?,
    })
}

/// Sessions neither revoked nor expired at `now`.
pub fn live_sessions(conn: &mut AnyConnection, now: i64) -> QueryResult<i64> {
    sessions::table
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .count()
        .get_result(conn)
}

/// The highest user id: an index look, a cheap bound on the number of users.
pub fn users_high_water(conn: &mut AnyConnection) -> QueryResult<i64> {
    Ok(users::table
        .select(diesel::dsl::max(users::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// (day since the epoch, count), for the days that have any.
pub type DailyCounts = Vec<(i64, i64)>;

#[derive(QueryableByName)]
struct DayCount {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    day: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Counts per UTC day from `start_day` up to (not including) `end_day`, in
/// days since the epoch: logins (from the audit log) and new users.
pub fn daily(
    conn: &mut AnyConnection,
    start_day: i64,
    end_day: i64,
) -> QueryResult<(DailyCounts, DailyCounts)> {
    let since = start_day * 86_400;
    let until = end_day * 86_400;
    Ok((
        per_day(conn, LOGINS_PER_DAY, since, until)?,
        per_day(conn, NEW_USERS_PER_DAY, since, until)?,
    ))
}

/// A per-day count, spelled with each backend's placeholders (SQLite's,
/// PostgreSQL's); the window's bounds are bound, not formatted in.
type PerDaySql = [&'static str; 2];

/// `'login'` is [`Kind::Login`]'s name, a constant of the query.
const LOGINS_PER_DAY: PerDaySql = [
    "SELECT CAST(created_at / 86400 AS BIGINT) AS day, CAST(COUNT(*) AS BIGINT) AS n \
     FROM audit_events WHERE kind = 'login' AND created_at >= ?1 AND created_at < ?2 \
     GROUP BY created_at / 86400",
    "SELECT CAST(created_at / 86400 AS BIGINT) AS day, CAST(COUNT(*) AS BIGINT) AS n \
     FROM audit_events WHERE kind = 'login' AND created_at >= $1 AND created_at < $2 \
     GROUP BY created_at / 86400",
];

const NEW_USERS_PER_DAY: PerDaySql = [
    "SELECT CAST(created_at / 86400 AS BIGINT) AS day, CAST(COUNT(*) AS BIGINT) AS n \
     FROM users WHERE created_at >= ?1 AND created_at < ?2 GROUP BY created_at / 86400",
    "SELECT CAST(created_at / 86400 AS BIGINT) AS day, CAST(COUNT(*) AS BIGINT) AS n \
     FROM users WHERE created_at >= $1 AND created_at < $2 GROUP BY created_at / 86400",
];

fn per_day(
    conn: &mut AnyConnection,
    [sqlite, postgres]: PerDaySql,
    since: i64,
    until: i64,
) -> QueryResult<DailyCounts> {
    let query = |sql: &'static str| {
        diesel::sql_query(sql)
            .bind::<BigInt, _>(since)
            .bind::<BigInt, _>(until)
    };
    let rows: Vec<DayCount> = match conn {
        AnyConnection::Sqlite(c) => query(sqlite).load(c)?,
        AnyConnection::Postgresql(c) => query(postgres).load(c)?,
    };
    Ok(rows.into_iter().map(|r| (r.day, r.n)).collect())
}
