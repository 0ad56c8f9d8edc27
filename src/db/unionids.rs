//! The `unionids` table: which person a platform's unionid belongs to. The
//! first login that brings a unionid claims it; the primary key decides
//! between concurrent claims on any instance, so one person results.

use diesel::prelude::*;

use super::schema::unionids;
use super::AnyConnection;

/// The person holding (platform, unionid), if any.
pub fn owner(conn: &mut AnyConnection, platform: &str, unionid: &str) -> QueryResult<Option<i64>> {
    unionids::table
        .find((platform, unionid))
        .select(unionids::user_id)
        .get_result(conn)
        .optional()
}

/// Claims (platform, unionid) for `user_id`; false when someone holds it
/// already (PostgreSQL waits for a concurrent claimer to commit first).
pub fn claim(
    conn: &mut AnyConnection,
    platform: &str,
    unionid: &str,
    user_id: i64,
    now: i64,
) -> QueryResult<bool> {
    let n = super::insert_or_ignore!(
        conn,
        unionids::table,
        (
            unionids::platform.eq(platform),
            unionids::unionid.eq(unionid),
            unionids::user_id.eq(user_id),
            unionids::created_at.eq(now),
        )
    )?;
    Ok(n == 1)
}

/// Hands every unionid `from` holds to `into` (a merge).
pub fn move_all(conn: &mut AnyConnection, from: i64, into: i64) -> QueryResult<usize> {
    diesel::update(unionids::table.filter(unionids::user_id.eq(from)))
        .set(unionids::user_id.eq(into))
        .execute(conn)
}

/// Gives one unionid to another person (an unlink that takes it along).
pub fn hand_over(
    conn: &mut AnyConnection,
    platform: &str,
    unionid: &str,
    to_user: i64,
) -> QueryResult<()> {
    diesel::update(unionids::table.find((platform, unionid)))
        .set(unionids::user_id.eq(to_user))
        .execute(conn)
        .map(|_| ())
}
