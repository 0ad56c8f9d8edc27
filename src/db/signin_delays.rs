//! The `admin_signin_delays` table: per console name, the moment (ms)
//! before which its next sign-in is not answered — how a name's failures
//! hold back the next answer, on every instance.

use diesel::prelude::*;

use super::schema::admin_signin_delays;
use super::AnyConnection;

/// When the name's latest held-back answer is due, if one is.
pub fn answer_at(conn: &mut AnyConnection, username: &str) -> QueryResult<Option<i64>> {
    admin_signin_delays::table
        .find(username)
        .select(admin_signin_delays::answer_at_ms)
        .get_result(conn)
        .optional()
}

/// Records that the name's next answer is due at `at_ms`; rows whose answer
/// is older than `forget_before_ms` go on the way, so that names tried once
/// do not pile up.
pub fn hold(
    conn: &mut AnyConnection,
    username: &str,
    at_ms: i64,
    forget_before_ms: i64,
) -> QueryResult<()> {
    diesel::delete(
        admin_signin_delays::table.filter(admin_signin_delays::answer_at_ms.lt(forget_before_ms)),
    )
    .execute(conn)?;
    let updated = diesel::update(admin_signin_delays::table.find(username))
        .set(admin_signin_delays::answer_at_ms.eq(at_ms))
        .execute(conn)?;
    if updated == 0 {
        // The name's sign-ins are serialised (`audit::serialize_signins`):
        // nobody inserts it in between.
        diesel::insert_into(admin_signin_delays::table)
            .values((
                admin_signin_delays::username.eq(username),
                admin_signin_delays::answer_at_ms.eq(at_ms),
            ))
            .execute(conn)?;
    }
    Ok(())
}
