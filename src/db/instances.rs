//! Which instances are alive on this database (PostgreSQL): each writes a
//! heartbeat, and learns whether any other one has written one lately.

use diesel::{ExpressionMethods, QueryDsl, QueryResult};
use diesel_async::RunQueryDsl;

use super::schema::instances;

/// Records that instance `id` is alive at `now_ms` and tells how many other
/// instances were alive since `fresh_since_ms`.
pub async fn heartbeat(
    conn: &mut diesel_async::AsyncPgConnection,
    id: &str,
    now_ms: i64,
    fresh_since_ms: i64,
) -> QueryResult<i64> {
    use instances::dsl as i;
    diesel::insert_into(instances::table)
        .values((i::id.eq(id), i::seen_at.eq(now_ms)))
        .on_conflict(i::id)
        .do_update()
        .set(i::seen_at.eq(now_ms))
        .execute(conn)
        .await?;
    // Instances gone for a minute are forgotten.
    diesel::delete(instances::table.filter(i::seen_at.lt(now_ms - 60_000)))
        .execute(conn)
        .await?;
    instances::table
        .filter(i::id.ne(id))
        .filter(i::seen_at.ge(fresh_since_ms))
        .count()
        .get_result(conn)
        .await
}

/// Instance `id` is stopping.
pub async fn leave(conn: &mut diesel_async::AsyncPgConnection, id: &str) -> QueryResult<()> {
    use instances::dsl as i;
    diesel::delete(instances::table.filter(i::id.eq(id)))
        .execute(conn)
        .await?;
    Ok(())
}
