//! Figures for the console's overview, each one indexed query.

use diesel::prelude::*;
use serde::Serialize;

use super::audit::{self, Kind};
use super::schema::{sessions, users};
use super::AnyConnection;

#[derive(Debug, Serialize)]
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
