//! PostgreSQL's token checks, many to a query. Under load each `status` used
//! to be its own round trip: a pooled connection, a query written to the
//! socket, a wake-up when the answer came back. On the server's one core that
//! protocol work, not PostgreSQL, set the rate, and the clients queued
//! behind it.
//!
//! Here a check joins a queue. A drain task takes everything queued (up to
//! [`MAX_BATCH`] ids), reads those sessions with one query ([`BATCH_SQL`]),
//! and answers each check. With no load a check is taken at once and waits
//! for nobody; under load the checks that arrived during one query go in the
//! next. The user's ban time is a subselect rather than a join, so that
//! PostgreSQL looks each user up by primary key whatever its statistics say
//! (on small fresh tables it chose a hash join over a scan of `users`).
//!
//! Revocation is still seen at once: a check is queued before its batch is
//! taken, and the batch's query starts after that, so it sees every commit
//! that happened before the request arrived — as a query of its own would.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Nullable, Text};
use tokio::sync::oneshot;

use super::{Found, LiveSession};
use crate::db::pool::{async_conn, within_timeout, AsyncPgPool};
use crate::error::ApiError;

/// Sessions read by one query at most.
const MAX_BATCH: usize = 128;

/// Queries in flight at once, at most. Normally one: the checks that arrive
/// during its round trip make the next batch. Each query in flight splits the
/// arrivals into smaller batches, each paying the protocol's fixed cost again
/// (measured with 64 clients on one core: one drainer read ~21 sessions a
/// query and served 35–42k checks/s; three, ~8 a query and 29–31k/s). More
/// start only when one query cannot take all that waits.
const MAX_DRAINERS: usize = 4;

pub struct PgSessionChecks {
    pool: AsyncPgPool,
    state: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Check>,
    /// Drain tasks running.
    draining: usize,
}

struct Check {
    id: String,
    reply: oneshot::Sender<Result<Found, ApiError>>,
}

impl PgSessionChecks {
    pub fn new(pool: AsyncPgPool) -> Arc<Self> {
        Arc::new(PgSessionChecks {
            pool,
            state: Mutex::new(Queue::default()),
        })
    }

    /// The session `id`, read by the next batch; 503 when PostgreSQL does
    /// not answer in time.
    pub async fn find(self: &Arc<Self>, id: &str) -> Result<Found, ApiError> {
        let (reply, answer) = oneshot::channel();
        let start_drainer = {
            let mut queue = self.lock();
            queue.waiting.push_back(Check {
                id: id.to_string(),
                reply,
            });
            // One query in flight takes whatever arrives meanwhile; another
            // starts only when more is waiting than one query reads.
            let start = queue.draining == 0
                || (queue.draining < MAX_DRAINERS && queue.waiting.len() > MAX_BATCH);
            if start {
                queue.draining += 1;
            }
            start
        };
        if start_drainer {
            // Spawned lazily, on the runtime of the request: no task outlives
            // the load, and none is tied to a runtime that has ended.
            tokio::spawn(Arc::clone(self).drain());
        }
        within_timeout(async {
            answer
                .await
                .map_err(|_| ApiError::internal("the session check was dropped"))?
        })
        .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes batches until the queue is empty.
    async fn drain(self: Arc<Self>) {
        let mut running = Draining(Some(Arc::clone(&self)));
        loop {
            let batch: Vec<Check> = {
                let mut queue = self.lock();
                let n = queue.waiting.len().min(MAX_BATCH);
                if n == 0 {
                    // Counted out under the lock that found the queue empty:
                    // a check queued after this sees no drainer and starts one.
                    queue.draining -= 1;
                    running.0 = None;
                    return;
                }
                queue.waiting.drain(..n).collect()
            };
            let ids: Vec<&str> = batch.iter().map(|c| c.id.as_str()).collect();
            let found = within_timeout(async {
                let mut conn = async_conn(&self.pool).await?;
                Ok(read(&mut conn, &ids).await?)
            })
            .await;
            answer(batch, found);
        }
    }
}

/// A drain task that ends without finding the queue empty (it panicked, or
/// its runtime is shutting down): counted out, and replaced when checks are
/// still waiting and a runtime is there to run the replacement.
struct Draining(Option<Arc<PgSessionChecks>>);

impl Drop for Draining {
    fn drop(&mut self) {
        let Some(checks) = self.0.take() else {
            return;
        };
        // Outside a runtime (one being dropped) nothing can be started, and
        // nobody is left to answer.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let restart = {
            let mut queue = checks.lock();
            queue.draining -= 1;
            let restart = runtime.is_some() && queue.draining == 0 && !queue.waiting.is_empty();
            if restart {
                queue.draining += 1;
            }
            restart
        };
        if let (true, Some(runtime)) = (restart, runtime) {
            runtime.spawn(checks.drain());
        }
    }
}

/// Hands each check its session, or the batch's error.
fn answer(batch: Vec<Check>, found: Result<Vec<(LiveSession, Option<i64>)>, ApiError>) {
    match found {
        Ok(rows) => {
            let by_id: HashMap<String, (LiveSession, Option<i64>)> = rows
                .into_iter()
                .map(|row| (row.0.id.clone(), row))
                .collect();
            for check in batch {
                // The same session may be checked several times in a batch.
                let _ = check.reply.send(Ok(by_id.get(&check.id).cloned()));
            }
        }
        Err(e) => {
            for check in batch {
                let _ = check.reply.send(Err(e.clone()));
            }
        }
    }
}

/// The query of a batch: for each id, its session by primary key and the
/// user's ban time by primary key. Spelled as a lateral lookup per id (and
/// `OFFSET 0` keeps PostgreSQL from flattening it into a join) so that the
/// plan is index lookups whatever the statistics say. `id = ANY($1)` left
/// the choice to the planner: on a young table that autovacuum had not yet
/// analysed, its generic plan for the prepared statement read every session
/// for every batch (measured: `status` at 0.37× of the yardstick instead of
/// 0.6×, the sequential scans in `pg_stat_user_tables`). The same session
/// asked twice in a batch comes back twice; [`answer`] keeps one.
pub const BATCH_SQL: &str = "SELECT s.id, s.user_id, s.appid, s.last_seen_at, s.expires_at, \
     s.revoked_at, s.cookie_hash, s.client_id, s.banned_at \
     FROM unnest($1) AS wanted(id) CROSS JOIN LATERAL ( \
       SELECT sessions.*, (SELECT users.banned_at FROM users WHERE users.id = sessions.user_id) AS banned_at \
       FROM sessions WHERE sessions.id = wanted.id OFFSET 0) AS s";

/// [`BATCH_SQL`] with its ids bound. A query type of its own, not
/// `sql_query`: diesel prepares a statement of this type once per
/// connection, where `sql_query`'s are parsed and planned every time.
struct BatchQuery<'a> {
    ids: &'a [&'a str],
}

impl QueryId for BatchQuery<'_> {
    type QueryId = BatchQuery<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for BatchQuery<'_> {
    type SqlType = (
        Text,
        BigInt,
        Text,
        BigInt,
        BigInt,
        Nullable<BigInt>,
        Nullable<Text>,
        Nullable<Text>,
        Nullable<BigInt>,
    );
}

impl QueryFragment<Pg> for BatchQuery<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (head, tail) = BATCH_SQL
            .split_once("$1")
            .expect("BATCH_SQL has its one parameter");
        out.push_sql(head);
        out.push_bind_param::<Array<Text>, [&str]>(self.ids)?;
        out.push_sql(tail);
        Ok(())
    }
}

/// A row of [`BATCH_SQL`], in its order.
#[derive(Queryable)]
struct BatchRow {
    id: String,
    user_id: i64,
    appid: String,
    last_seen_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    cookie_hash: Option<String>,
    client_id: Option<String>,
    banned_at: Option<i64>,
}

/// The sessions among `ids`, with their users' ban times.
async fn read(
    conn: &mut diesel_async::AsyncPgConnection,
    ids: &[&str],
) -> QueryResult<Vec<(LiveSession, Option<i64>)>> {
    let rows: Vec<BatchRow> = diesel_async::RunQueryDsl::load(BatchQuery { ids }, conn).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let session = LiveSession {
                id: r.id,
                user_id: r.user_id,
                appid: r.appid,
                last_seen_at: r.last_seen_at,
                expires_at: r.expires_at,
                revoked_at: r.revoked_at,
                cookie_hash: r.cookie_hash,
                client_id: r.client_id,
            };
            (session, r.banned_at)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, user_id: i64) -> LiveSession {
        LiveSession {
            id: id.into(),
            user_id,
            appid: "wx0".into(),
            last_seen_at: 0,
            expires_at: 10,
            revoked_at: None,
            cookie_hash: None,
            client_id: None,
        }
    }

    fn check(id: &str) -> (Check, oneshot::Receiver<Result<Found, ApiError>>) {
        let (reply, answer) = oneshot::channel();
        (
            Check {
                id: id.into(),
                reply,
            },
            answer,
        )
    }

    #[test]
    fn each_check_hears_its_own_session() {
        let (a, mut to_a) = check("a");
        let (b, mut to_b) = check("b");
        let (a_again, mut to_a_again) = check("a");
        let (gone, mut to_gone) = check("gone");
        let rows = vec![(session("b", 2), Some(7)), (session("a", 1), None)];
        answer(vec![a, b, a_again, gone], Ok(rows));
        let user = |found: Found| found.map(|(s, banned)| (s.id, s.user_id, banned));
        assert_eq!(
            user(to_a.try_recv().unwrap().unwrap()),
            Some(("a".into(), 1, None))
        );
        assert_eq!(
            user(to_b.try_recv().unwrap().unwrap()),
            Some(("b".into(), 2, Some(7)))
        );
        assert_eq!(
            user(to_a_again.try_recv().unwrap().unwrap()),
            Some(("a".into(), 1, None))
        );
        assert!(to_gone.try_recv().unwrap().unwrap().is_none());
    }

    #[test]
    fn a_failed_query_fails_every_check_of_its_batch() {
        let (a, mut to_a) = check("a");
        let (b, mut to_b) = check("b");
        answer(vec![a, b], Err(ApiError::Unavailable("down".into())));
        for to in [&mut to_a, &mut to_b] {
            assert!(matches!(
                to.try_recv().unwrap(),
                Err(ApiError::Unavailable(_))
            ));
        }
    }
}
