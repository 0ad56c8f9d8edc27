//! The delivery worker: every instance runs one; each takes due outbox rows
//! by leasing them (so one instance sends a row at a time), POSTs the event
//! with its signature, and records the answer. A failed attempt is tried
//! again after 10 s, then 30 s, 90 s… (×3 each time, at most 4 h apart) until
//! 24 hours after the event; then the row is marked failed, and the console
//! can send it again. A lease outlives the 5-second timeout, so a row whose
//! instance died mid-attempt is taken up again 20 seconds later.

use std::time::Duration;

use rocket::Shutdown;
use tokio::task::JoinSet;

use super::{signature, Webhooks};
use crate::clock::Clock;
use crate::db::webhook_outbox::{self, Attempt, OutboxRow};
use crate::db::Db;
use crate::error::ApiError;

/// Rows taken per round.
const BATCH: i64 = 32;
/// How long a lease holds a row, seconds: the 5-second attempt and the
/// write of its outcome, with room to spare. A row whose instance died while
/// holding it waits this long before another takes it (at least once: a
/// delivery that was under way may be sent again).
pub const LEASE: i64 = 20;
/// Whole-request time limit.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long after the event a failing delivery is still tried.
pub const GIVE_UP_AFTER: i64 = 24 * 3600;
/// The worker looks for due rows this often besides being rung.
const POLL: Duration = Duration::from_millis(250);
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

    /// Runs until shutdown (only when an endpoint is configured).
    pub fn spawn(self, mut shutdown: Shutdown) {
        if !self.hooks.is_enabled() {
            return;
        }
        tokio::spawn(async move {
            loop {
                match self.run_once().await {
                    // A full batch: there may be more right away.
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => {}
                    Err(e) => tracing::warn!("webhook delivery: {e}"),
                }
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = self.hooks.rung() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        });
    }

    /// One round: leases the due rows and sends them side by side; how many.
    pub async fn run_once(&self) -> Result<usize, ApiError> {
        let now = self.clock.now();
        let ids = self
            .db
            .read(move |conn| Ok(webhook_outbox::due(conn, now, BATCH)?))
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let rows = self
            .db
            .write(move |conn| Ok(webhook_outbox::lease(conn, &ids, now, now + LEASE)?))
            .await?;
        let count = rows.len();
        let mut sending = JoinSet::new();
        for row in rows {
            let me = self.clone();
            sending.spawn(async move { me.deliver(row).await });
        }
        while let Some(done) = sending.join_next().await {
            match done {
                Ok(Err(e)) => tracing::warn!("webhook delivery: {e}"),
                Err(e) => tracing::error!("webhook delivery task failed: {e}"),
                Ok(Ok(())) => {}
            }
        }
        Ok(count)
    }

    async fn deliver(&self, row: OutboxRow) -> Result<(), ApiError> {
        let (status, answer, ok) = match self.hooks.endpoint(&row.endpoint) {
            None => (
                None,
                "the endpoint is no longer configured".to_string(),
                None,
            ),
            Some(endpoint) => {
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
                match sent {
                    Ok(response) => {
                        let status = response.status();
                        let text = response.text().await.unwrap_or_default();
                        let kept: String = text.chars().take(ANSWER_CHARS).collect();
                        (
                            Some(i32::from(status.as_u16())),
                            format!("HTTP {}: {kept}", status.as_u16()),
                            Some(status.is_success()),
                        )
                    }
                    Err(e) => (None, describe(e), Some(false)),
                }
            }
        };
        let now = self.clock.now();
        let attempt = match ok {
            Some(true) => Attempt::Delivered,
            None => Attempt::Failed,
            Some(false) => {
                let at = now + backoff(row.attempts);
                if at > row.created_at + GIVE_UP_AFTER {
                    Attempt::Failed
                } else {
                    Attempt::Retry(at)
                }
            }
        };
        let id = row.id;
        self.db
            .write(move |conn| {
                Ok(webhook_outbox::finish(
                    conn, id, attempt, status, &answer, now,
                )?)
            })
            .await
    }
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
