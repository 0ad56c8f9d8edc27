//! The delivery worker: every instance runs one. It keeps a steady pool of
//! deliveries under way — a slot freed is a row taken — with a few slots at
//! most per endpoint, so a slow or dead receiver delays only its own events.
//! Each row is leased before it is sent (so one instance sends a row at a
//! time), POSTed with its signature, and its outcome recorded — only by the
//! worker that still holds the lease (its token), so a stalled worker cannot
//! overwrite a newer attempt. A failed attempt is tried again after 10 s,
//! then 30 s, 90 s… (×3 each time, at most 4 h apart) until 24 hours after
//! the event; then the row is marked failed, and the console can send it
//! again. A lease outlives the 5-second timeout, so a row whose instance
//! died mid-attempt is taken up again 20 seconds later.
//!
//! An instance leases only rows of endpoints it knows: during a rolling
//! deploy, events for an endpoint that only the new instances know wait for
//! them. Rows that no instance took for 24 hours are given up.

use std::collections::HashMap;
use std::time::Duration;

use rocket::Shutdown;
use tokio::task::{Id, JoinSet};

use super::{signature, Webhooks};
use crate::clock::Clock;
use crate::db::webhook_outbox::{self, Attempt, OutboxRow};
use crate::db::Db;
use crate::error::ApiError;

/// Deliveries under way at once on an instance.
const POOL: usize = 32;
/// Deliveries under way at once to one endpoint: a receiver that never
/// answers holds this many slots of the pool, and no more.
const PER_ENDPOINT: usize = 4;
/// How long a lease holds a row, seconds: the 5-second attempt and the
/// write of its outcome, with room to spare. A row whose instance died while
/// holding it waits this long before another takes it (at least once: a
/// delivery that was under way may be sent again).
pub const LEASE: i64 = 20;
/// Whole-request time limit.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long after the event a failing delivery is still tried, and how long
/// events for an endpoint this instance does not know wait for one that does.
pub const GIVE_UP_AFTER: i64 = 24 * 3600;
/// The worker looks for due rows this often besides being rung.
const POLL: Duration = Duration::from_millis(250);
/// How often the worker gives up on rows no instance knows the endpoint of.
const SWEEP: Duration = Duration::from_secs(60);
/// Rows given up per sweep and endpoint (a bounded write).
const SWEEP_BATCH: i64 = 500;
/// What is read of an answer's body: the rest is never read (a receiver
/// answering with megabytes costs nothing), and what is kept is cut to
/// [`ANSWER_CHARS`].
const ANSWER_BYTES: usize = 4096;
/// What is kept of an answer's body.
const ANSWER_CHARS: usize = 300;

/// Seconds before attempt `attempts + 1`, after `attempts` failed ones.
pub fn backoff(attempts: i32) -> i64 {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(10);
    (10 * 3_i64.pow(exponent)).min(4 * 3600)
}

#[derive(Clone)]
pub struct Deliverer {
    db: Db,
    hooks: Webhooks,
    clock: Clock,
    http: reqwest::Client,
}

/// The deliveries under way, and how many go to each endpoint.
#[derive(Default)]
struct Pool {
    sending: JoinSet<()>,
    /// Each delivery's endpoint and outbox row.
    endpoint_of: HashMap<Id, (String, i64)>,
    per_endpoint: HashMap<String, usize>,
    /// Where the next fill starts in the list of endpoints, so that with
    /// more endpoints than the pool has slots each gets its turn.
    turn: usize,
}

impl Pool {
    /// The endpoints with room, each with how many rows it may take now.
    fn room(&mut self, endpoints: &[String]) -> Vec<(String, i64)> {
        let mut free = POOL.saturating_sub(self.sending.len());
        let mut wanted = Vec::new();
        let n = endpoints.len();
        for k in 0..n {
            let url = &endpoints[(self.turn + k) % n];
            let busy = self.per_endpoint.get(url).copied().unwrap_or(0);
            let take = PER_ENDPOINT.saturating_sub(busy).min(free);
            if take > 0 {
                free -= take;
                wanted.push((url.clone(), take as i64));
            }
        }
        self.turn = self.turn.wrapping_add(1);
        wanted
    }

    /// Whether row `id` is being sent from here: a lease that ran out while
    /// its answer is awaited (a clock that jumped) is not taken again by the
    /// same instance.
    fn sending_row(&self, id: i64) -> bool {
        self.endpoint_of.values().any(|(_, row)| *row == id)
    }

    fn start(&mut self, deliverer: &Deliverer, row: OutboxRow, token: String) {
        let (endpoint, row_id) = (row.endpoint.clone(), row.id);
        let me = deliverer.clone();
        let handle = self.sending.spawn(async move {
            if let Err(e) = me.deliver(row, &token).await {
                tracing::warn!("webhook delivery: {e}");
            }
        });
        *self.per_endpoint.entry(endpoint.clone()).or_default() += 1;
        self.endpoint_of.insert(handle.id(), (endpoint, row_id));
    }

    fn finished(&mut self, done: Result<(Id, ()), tokio::task::JoinError>) {
        let id = match done {
            Ok((id, ())) => id,
            Err(e) => {
                tracing::error!("webhook delivery task failed: {e}");
                e.id()
            }
        };
        if let Some((endpoint, _)) = self.endpoint_of.remove(&id) {
            if let Some(n) = self.per_endpoint.get_mut(&endpoint) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

impl Deliverer {
    pub fn new(db: Db, hooks: Webhooks, clock: Clock) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            // A redirect is an answer, not an instruction: the event is not
            // sent anywhere the configuration does not name.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wxauth-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        Ok(Deliverer {
            db,
            hooks,
            clock,
            http,
        })
    }

    /// Runs until shutdown (only when an endpoint is configured). Rows
    /// leased and not finished at shutdown are taken up again when their
    /// lease runs out.
    pub fn spawn(self, mut shutdown: Shutdown) {
        if !self.hooks.is_enabled() {
            return;
        }
        tokio::spawn(async move {
            let endpoints = self.hooks.urls();
            let mut pool = Pool::default();
            // Once at start, before the first rows are taken, then every
            // minute.
            if let Err(e) = self.sweep(&endpoints).await {
                tracing::warn!("webhook delivery: {e}");
            }
            let mut sweep = tokio::time::interval_at(tokio::time::Instant::now() + SWEEP, SWEEP);
            sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                if let Err(e) = self.fill(&mut pool, &endpoints).await {
                    tracing::warn!("webhook delivery: {e}");
                }
                tokio::select! {
                    _ = &mut shutdown => break,
                    Some(done) = pool.sending.join_next_with_id(), if !pool.sending.is_empty() => {
                        pool.finished(done);
                    }
                    _ = self.hooks.rung() => {}
                    _ = sweep.tick() => {
                        if let Err(e) = self.sweep(&endpoints).await {
                            tracing::warn!("webhook delivery: {e}");
                        }
                    }
                    _ = tokio::time::sleep(POLL) => {}
                }
                // Every delivery that ended meanwhile frees its slot before
                // the next fill, which then takes their places in one go.
                while let Some(done) = pool.sending.try_join_next_with_id() {
                    pool.finished(done);
                }
            }
        });
    }

    /// Leases due rows for the endpoints with room in the pool and starts
    /// sending them; how many.
    async fn fill(&self, pool: &mut Pool, endpoints: &[String]) -> Result<usize, ApiError> {
        let wanted = pool.room(endpoints);
        if wanted.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let ids = self
            .db
            .read(move |conn| {
                let mut ids = Vec::new();
                for (endpoint, limit) in &wanted {
                    ids.extend(webhook_outbox::due(conn, endpoint, now, *limit)?);
                }
                Ok(ids)
            })
            .await?;
        let ids: Vec<i64> = ids
            .into_iter()
            .filter(|id| !pool.sending_row(*id))
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let token = crate::crypto::random_token(12);
        let lease = token.clone();
        let rows = self
            .db
            .write(move |conn| Ok(webhook_outbox::lease(conn, &ids, now, now + LEASE, &lease)?))
            .await?;
        let count = rows.len();
        for row in rows {
            pool.start(self, row, token.clone());
        }
        Ok(count)
    }

    /// Gives up on the rows of endpoints this instance does not know that
    /// no instance has taken for [`GIVE_UP_AFTER`] (an endpoint removed from
    /// every instance's configuration).
    async fn sweep(&self, known: &[String]) -> Result<usize, ApiError> {
        let now = self.clock.now();
        let known = known.to_vec();
        self.db
            .write(move |conn| {
                let mut given_up = 0;
                for endpoint in webhook_outbox::pending_endpoints(conn)? {
                    if !known.contains(&endpoint) {
                        given_up += webhook_outbox::give_up(
                            conn,
                            &endpoint,
                            now - GIVE_UP_AFTER,
                            now,
                            "no instance knew this endpoint for 24 hours",
                            SWEEP_BATCH,
                        )?;
                    }
                }
                Ok(given_up)
            })
            .await
    }

    async fn deliver(&self, row: OutboxRow, token: &str) -> Result<(), ApiError> {
        // Rows are leased for known endpoints only, and the configuration
        // does not change while running.
        let Some(endpoint) = self.hooks.endpoint(&row.endpoint) else {
            return Ok(());
        };
        let t = self.clock.now();
        let sent = self
            .http
            .post(&row.endpoint)
            .header("Content-Type", "application/json")
            .header(
                signature::HEADER,
                signature::sign(endpoint.secret.expose(), t, &row.body),
            )
            .header("Wxauth-Event-Id", &row.event_id)
            .body(row.body.clone())
            .send()
            .await;
        let (status, answer, ok) = match sent {
            Ok(response) => {
                let status = response.status();
                let text = answer_text(response).await;
                (
                    Some(i32::from(status.as_u16())),
                    format!("HTTP {}: {text}", status.as_u16()),
                    status.is_success(),
                )
            }
            Err(e) => (None, describe(e), false),
        };
        let now = self.clock.now();
        let attempt = if ok {
            Attempt::Delivered
        } else {
            let at = now + backoff(row.attempts);
            if at > row.created_at + GIVE_UP_AFTER {
                Attempt::Failed
            } else {
                Attempt::Retry(at)
            }
        };
        let id = row.id;
        let token = token.to_string();
        let finished = self
            .db
            .write(move |conn| {
                Ok(webhook_outbox::finish(
                    conn, id, &token, attempt, status, &answer, now,
                )?)
            })
            .await?;
        if !finished {
            tracing::info!(
                "webhook delivery: row {id}'s lease ran out during the attempt; \
                 its outcome is left to the newer attempt"
            );
        }
        Ok(())
    }
}

/// The start of an answer's body, read up to [`ANSWER_BYTES`] and no
/// further: the rest stays unread, and the connection is dropped with it.
async fn answer_text(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = ANSWER_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&body)
        .chars()
        .take(ANSWER_CHARS)
        .collect()
}

/// A failed request in a few words (reqwest's own text names the URL, which
/// the console shows next to it anyway).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within 5 s".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        format!("request failed: {}", e.without_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_within_30_s_and_back_off_to_4_h() {
        assert_eq!(backoff(1), 10);
        assert_eq!(backoff(2), 30);
        assert_eq!(backoff(3), 90);
        assert_eq!(backoff(8), 4 * 3600);
        assert_eq!(backoff(1000), 4 * 3600);
        // Attempts over 24 hours: about a dozen.
        let mut t = 0;
        let mut n = 0;
        while t <= GIVE_UP_AFTER {
            n += 1;
            t += backoff(n);
        }
        assert!((10..=16).contains(&n), "{n}");
    }
}
