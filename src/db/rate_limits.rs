//! The deployment's rate-limit buckets (PostgreSQL, while several instances
//! share it; see `crate::rate_limit`).

use diesel::sql_types::{Array, BigInt, Text};
use diesel::{ExpressionMethods, QueryDsl, QueryResult, QueryableByName};
use diesel_async::RunQueryDsl;

use super::schema::rate_limits;

#[derive(QueryableByName, Debug)]
pub struct Bucket {
    #[diesel(sql_type = Text)]
    pub bucket: String,
    /// Unix milliseconds at which the bucket is full again.
    #[diesel(sql_type = BigInt)]
    pub full_at: i64,
}

/// Adds `costs_ms[i]` of admissions to `buckets[i]` of `limiter` at `now_ms`
/// (a bucket full already starts from now), and answers every bucket as it
/// now stands for the deployment. One statement for them all.
pub async fn add(
    conn: &mut diesel_async::AsyncPgConnection,
    limiter: &str,
    buckets: Vec<String>,
    costs_ms: Vec<i64>,
    now_ms: i64,
) -> QueryResult<Vec<Bucket>> {
    diesel::sql_query(
        "INSERT INTO rate_limits (limiter, bucket, full_at) \
         SELECT $1, b, $4 + c FROM unnest($2::text[], $3::bigint[]) AS t(b, c) \
         ON CONFLICT (limiter, bucket) DO UPDATE \
         SET full_at = GREATEST(rate_limits.full_at, $4) + (EXCLUDED.full_at - $4) \
         RETURNING bucket, full_at",
    )
    .bind::<Text, _>(limiter)
    .bind::<Array<Text>, _>(buckets)
    .bind::<Array<BigInt>, _>(costs_ms)
    .bind::<BigInt, _>(now_ms)
    .load(conn)
    .await
}

/// Drops buckets full again before `now_ms` (they hold nothing).
pub async fn forget_full(
    conn: &mut diesel_async::AsyncPgConnection,
    now_ms: i64,
) -> QueryResult<usize> {
    diesel::delete(rate_limits::table.filter(rate_limits::full_at.lt(now_ms)))
        .execute(conn)
        .await
}
