//! Figures for the console's overview, each one indexed query.

use diesel::prelude::*;
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
        users_total: users::table.count().get_result(conn)?,
        new_users_today: users::table
            .filter(users::created_at.ge(midnight))
            .count()
            .get_result(conn)?,
        active_sessions: sessions::table
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now))
            .count()
            .get_result(conn)?,
        logins_24h: audit::count_since(conn, Kind::Login, now - 86_400)?,
    })
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
    // Integers of our own, formatted in: the same SQL runs on both backends.
    let logins = format!(
        "SELECT CAST(created_at / 86400 AS BIGINT) AS day, CAST(COUNT(*) AS BIGINT) AS n \
         FROM audit_events WHERE kind = 'login' AND created_at >= {since} AND created_at < {until} \
         GROUP BY created_at / 86400"
    );
    let new_users = format!(
        "SELECT CAST(created_at / 86400 AS BIGINT) AS day, CAST(COUNT(*) AS BIGINT) AS n \
         FROM users WHERE created_at >= {since} AND created_at < {until} GROUP BY created_at / 86400"
    );
    let run = |conn: &mut AnyConnection, sql: &str| -> QueryResult<DailyCounts> {
        let rows: Vec<DayCount> = match conn {
            AnyConnection::Sqlite(c) => diesel::sql_query(sql).load(c)?,
            AnyConnection::Postgresql(c) => diesel::sql_query(sql).load(c)?,
        };
        Ok(rows.into_iter().map(|r| (r.day, r.n)).collect())
    };
    Ok((run(conn, &logins)?, run(conn, &new_users)?))
}
