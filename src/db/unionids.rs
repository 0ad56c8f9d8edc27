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
    let row = (
        unionids::platform.eq(platform),
        unionids::unionid.eq(unionid),
        unionids::user_id.eq(user_id),
        unionids::created_at.eq(now),
    );
    match conn {
        // A plain INSERT, whose prepared statement diesel keeps (none for
        // an upsert); the key's refusal fails this statement only.
        AnyConnection::Sqlite(c) => {
            match diesel::insert_into(unionids::table).values(row).execute(c) {
                Ok(n) => Ok(n == 1),
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => Ok(false),
                Err(e) => Err(e),
            }
        }
        // PostgreSQL waits for a concurrent claimer to commit, then yields.
        AnyConnection::Postgresql(c) => diesel::insert_into(unionids::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)
            .map(|n| n == 1),
    }
}

/// Hands every unionid `from` holds to `into` (a merge), once `from`'s
/// identities have moved to `into`. A holder's unionids are carried by its
/// identities, so they are found through `into`'s identities and the key —
/// no index on `user_id` for every login to keep up.
pub fn move_all(conn: &mut AnyConnection, from: i64, into: i64) -> QueryResult<usize> {
    use super::schema::identities;
    let carried: Vec<(String, String)> = identities::table
        .filter(identities::user_id.eq(into))
        .filter(identities::unionid.is_not_null())
        .select((identities::platform, identities::unionid.assume_not_null()))
        .load(conn)?;
    let mut moved = 0;
    for (platform, unionid) in carried {
        moved += diesel::update(
            unionids::table
                .find((platform, unionid))
                .filter(unionids::user_id.eq(from)),
        )
        .set(unionids::user_id.eq(into))
        .execute(conn)?;
    }
    Ok(moved)
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
