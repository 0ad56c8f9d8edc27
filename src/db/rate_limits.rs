//! The deployment's rate-limit buckets (PostgreSQL, while several instances
//! share it; see `crate::rate_limit`).

use diesel::sql_types::{Array, BigInt, Text};
use diesel::{OptionalExtension, QueryResult, QueryableByName};
use diesel_async::RunQueryDsl;

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

/// What [`take`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Admitted: the bucket is now full again at this Unix ms.
    Admitted { full_at: i64 },
    /// Refused: the bucket stays full again at this Unix ms.
    Refused { full_at: i64 },
}

#[derive(QueryableByName)]
struct FullAt {
    #[diesel(sql_type = BigInt)]
    full_at: i64,
}

/// One admission of `bucket` in `limiter` at `now_ms`, decided for the
/// deployment in one atomic statement: the bucket moves by `cost_ms` unless
/// that would put it more than `tolerance_ms` ahead of now (the GCRA of
/// `crate::rate_limit`, in the database). Concurrent requests on any
/// instance queue on the bucket's row, so no burst gets past the limit.
pub async fn take(
    conn: &mut diesel_async::AsyncPgConnection,
    limiter: &str,
    bucket: &str,
    now_ms: i64,
    cost_ms: i64,
    tolerance_ms: i64,
) -> QueryResult<Taken> {
    let admitted: Option<FullAt> = diesel::sql_query(
        "INSERT INTO rate_limits (limiter, bucket, full_at) VALUES ($1, $2, $3 + $4) \
         ON CONFLICT (limiter, bucket) DO UPDATE \
         SET full_at = GREATEST(rate_limits.full_at, $3) + $4 \
         WHERE GREATEST(rate_limits.full_at, $3) + $4 - $3 <= $5 \
         RETURNING full_at",
    )
    .bind::<Text, _>(limiter)
    .bind::<Text, _>(bucket)
    .bind::<BigInt, _>(now_ms)
    .bind::<BigInt, _>(cost_ms)
    .bind::<BigInt, _>(tolerance_ms)
    .get_result(conn)
    .await
    .optional()?;
    if let Some(FullAt { full_at }) = admitted {
        return Ok(Taken::Admitted { full_at });
    }
    // Refused (rare, and cheap to refuse twice): how long the client waits.
    let FullAt { full_at } =
        diesel::sql_query("SELECT full_at FROM rate_limits WHERE limiter = $1 AND bucket = $2")
            .bind::<Text, _>(limiter)
            .bind::<Text, _>(bucket)
            .get_result(conn)
            .await?;
    Ok(Taken::Refused { full_at })
}

/// Buckets dropped per statement of [`forget_full`], and statements per call.
const FORGET_BATCH: i64 = 1000;
const FORGET_BATCHES: usize = 10;

/// Drops buckets full again before `now_ms` (they hold nothing), in bounded
/// batches through the full_at index; at most 10,000 a call (a heartbeat),
/// the rest at the next.
pub async fn forget_full(
    conn: &mut diesel_async::AsyncPgConnection,
    now_ms: i64,
) -> QueryResult<usize> {
    let mut forgotten = 0;
    for _ in 0..FORGET_BATCHES {
        let n = diesel::sql_query(
            "DELETE FROM rate_limits WHERE (limiter, bucket) IN \
             (SELECT limiter, bucket FROM rate_limits WHERE full_at < $1 LIMIT $2)",
        )
        .bind::<BigInt, _>(now_ms)
        .bind::<BigInt, _>(FORGET_BATCH)
        .execute(conn)
        .await?;
        forgotten += n;
        if (n as i64) < FORGET_BATCH {
            break;
        }
    }
    Ok(forgotten)
}
