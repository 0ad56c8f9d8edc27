//! The background purge: people whose deletion is due, dead sessions (and
//! ended console sessions) after their retention, old audit events, shared
//! login codes, done webhook deliveries, idle rate-limit buckets. Works in bounded batches so it
//! never holds the database long, and runs again at once while it is
//! behind.

use std::sync::Arc;
use std::time::Duration;

use rocket::Shutdown;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::{admin_sessions, audit, login_codes, sessions, web_logins, webhook_outbox};
use crate::rate_limit::RateLimits;

const BATCH: i64 = 1000;
/// Batches per table per run, so one run stays short even after a long pause.
const MAX_BATCHES: usize = 100;
/// The pause between runs while the purge is behind (a run left rows): it
/// catches up at its own pace instead of waiting `purge_interval`, so it
/// keeps up with any rate its batches can delete (README, *Maintenance*).
const CATCH_UP_PAUSE: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Purger {
    pub db: Db,
    pub limits: Arc<RateLimits>,
    pub interval: Duration,
    pub session_retention: i64,
    pub audit_retention: i64,
    pub clock: Clock,
}

impl Purger {
    pub fn spawn(self, mut shutdown: Shutdown) {
        tokio::spawn(async move {
            // A run a moment after start (a restarted server catches up at
            // once), then one every `purge_interval`.
            let mut behind = true;
            loop {
                let pause = if behind {
                    CATCH_UP_PAUSE
                } else {
                    self.interval
                };
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(pause) => {}
                }
                behind = match self.run_once().await {
                    Ok(left) => left,
                    Err(e) => {
                        tracing::warn!("purge failed: {e}");
                        false
                    }
                };
            }
        });
    }

    /// One run: each table's batches until a batch is not full, at most
    /// [`MAX_BATCHES`]; whether some table still has rows to drop.
    pub async fn run_once(&self) -> Result<bool, crate::error::ApiError> {
        self.limits.authorize.forget_idle();
        self.limits.refresh.forget_idle();
        self.limits.admin_api.forget_idle();
        self.limits.web_login.forget_idle();
        self.limits.account_export.forget_idle();
        let session_retention = self.session_retention;
        let audit_retention = self.audit_retention;
        let now = self.clock.now();
        // People whose deletion is due (SPEC §12), each erased in a
        // transaction of their own.
        // A failure here does not keep the tables below from their purge.
        let people = crate::flows::account_deletion::erase_due(&self.db, now)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!("erasing due people failed: {e}");
                false
            });
        let rows = self
            .db
            .run(move |conn| {
                admin_sessions::purge_ended(
                    conn,
                    now - session_retention,
                    admin_sessions::IDLE_TIMEOUT,
                )?;
                // Shared login codes matter for seconds; an hour is plenty
                // for any exchange still being waited on.
                let codes = drain(|| login_codes::purge_before(conn, now - 3600, BATCH))?;
                let sessions =
                    drain(|| sessions::purge_dead(conn, now - session_retention, BATCH))?;
                let events = drain(|| audit::purge_before(conn, now - audit_retention, BATCH))?;
                // Webhook deliveries that are done (delivered or given up)
                // are kept as long as ended sessions, for the console.
                let deliveries =
                    drain(|| webhook_outbox::purge_before(conn, now - session_retention, BATCH))?;
                // Web sign-in tickets live minutes; a day past their end
                // keeps a replayed code able to find what it issued.
                let tickets = drain(|| web_logins::purge_before(conn, now - 86_400, BATCH))?;
                Ok(codes || sessions || events || deliveries || tickets)
            })
            .await?;
        Ok(people || rows)
    }
}

/// Runs `batch` until it drops less than a full batch, at most
/// [`MAX_BATCHES`] times; whether rows were left.
fn drain(mut batch: impl FnMut() -> diesel::QueryResult<usize>) -> diesel::QueryResult<bool> {
    for _ in 0..MAX_BATCHES {
        if batch()? < BATCH as usize {
            return Ok(false);
        }
    }
    Ok(true)
}
