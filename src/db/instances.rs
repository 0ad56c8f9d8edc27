//! Which instances are alive on this database (PostgreSQL): each writes a
//! heartbeat, and learns whether any other one has written one lately.

use diesel::sql_types::{BigInt, Text};
use diesel::{ExpressionMethods, QueryDsl, QueryResult, QueryableByName};
use diesel_async::RunQueryDsl;

use super::schema::instances;

/// What an instance learns of the others at its heartbeat.
#[derive(QueryableByName, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Others {
    /// How many were alive.
    #[diesel(sql_type = BigInt)]
    pub alive: i64,
    /// The newest `joined_at` among them (0 with none).
    #[diesel(sql_type = BigInt)]
    pub newest_joined: i64,
    /// How many of them have not yet acknowledged this instance.
    #[diesel(sql_type = BigInt)]
    pub unacknowledged: i64,
}

/// Records that instance `id`, which joined at `joined_ms`, is alive at
/// `now_ms`, and tells what it knows of the others alive since
/// `fresh_since_ms`.
pub async fn heartbeat(
    conn: &mut diesel_async::AsyncPgConnection,
    id: &str,
    joined_ms: i64,
    now_ms: i64,
    fresh_since_ms: i64,
) -> QueryResult<Others> {
    use instances::dsl as i;
    diesel::insert_into(instances::table)
        .values((
            i::id.eq(id),
            i::seen_at.eq(now_ms),
            i::joined_at.eq(joined_ms),
        ))
        .on_conflict(i::id)
        .do_update()
        .set(i::seen_at.eq(now_ms))
        .execute(conn)
        .await?;
    // Instances gone for a minute are forgotten.
    diesel::delete(instances::table.filter(i::seen_at.lt(now_ms - 60_000)))
        .execute(conn)
        .await?;
    diesel::sql_query(
        "SELECT count(*) AS alive, COALESCE(max(joined_at), 0) AS newest_joined, \
         count(*) FILTER (WHERE acknowledged < $2) AS unacknowledged \
         FROM instances WHERE id <> $1 AND seen_at >= $3",
    )
    .bind::<Text, _>(id)
    .bind::<BigInt, _>(joined_ms)
    .bind::<BigInt, _>(fresh_since_ms)
    .get_result(conn)
    .await
}

/// Instance `id` has seen, and shares with, every instance that joined up
/// to `joined_ms`.
pub async fn acknowledge(
    conn: &mut diesel_async::AsyncPgConnection,
    id: &str,
    joined_ms: i64,
) -> QueryResult<()> {
    use instances::dsl as i;
    let behind = instances::table
        .filter(i::id.eq(id))
        .filter(i::acknowledged.lt(joined_ms));
    diesel::update(behind)
        .set(i::acknowledged.eq(joined_ms))
        .execute(conn)
        .await?;
    Ok(())
}

/// Instance `id` is stopping.
pub async fn leave(conn: &mut diesel_async::AsyncPgConnection, id: &str) -> QueryResult<()> {
    use instances::dsl as i;
    diesel::delete(instances::table.filter(i::id.eq(id)))
        .execute(conn)
        .await?;
    Ok(())
}
