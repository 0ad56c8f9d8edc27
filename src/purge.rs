//! The background purge: dead sessions (and ended console sessions) after their retention, old audit events, shared login codes, idle rate-limit
//! buckets. Works in bounded batches so it never holds the database long.

use std::sync::Arc;
use std::time::Duration;

use rocket::Shutdown;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::{admin_sessions, audit, login_codes, sessions, webhook_outbox};
use crate::rate_limit::RateLimits;

const BATCH: i64 = 1000;
/// Batches per table per run, so one run stays short even after a long pause.
const MAX_BATCHES: usize = 100;

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
            loop {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(self.interval) => {}
                }
                if let Err(e) = self.run_once().await {
                    tracing::warn!("purge failed: {e}");
                }
            }
        });
    }

    pub async fn run_once(&self) -> Result<(), crate::error::ApiError> {
        self.limits.authorize.forget_idle();
        self.limits.refresh.forget_idle();
        self.limits.admin_api.forget_idle();
        let session_retention = self.session_retention;
        let audit_retention = self.audit_retention;
        let now = self.clock.now();
        self.db
            .run(move |conn| {
                admin_sessions::purge_ended(
                    conn,
                    now - session_retention,
                    admin_sessions::IDLE_TIMEOUT,
                )?;
                // Shared login codes matter for seconds; an hour is plenty
                // for any exchange still being waited on.
                login_codes::purge_before(conn, now - 3600)?;
                for _ in 0..MAX_BATCHES {
                    if sessions::purge_dead(conn, now - session_retention, BATCH)? < BATCH as usize
                    {
                        break;
                    }
                }
                for _ in 0..MAX_BATCHES {
                    if audit::purge_before(conn, now - audit_retention, BATCH)? < BATCH as usize {
                        break;
                    }
                }
                // Webhook deliveries that are done (delivered or given up)
                // are kept as long as ended sessions, for the console.
                for _ in 0..MAX_BATCHES {
                    if webhook_outbox::purge_before(conn, now - session_retention, BATCH)?
                        < BATCH as usize
                    {
                        break;
                    }
                }
                Ok(())
            })
            .await
    }
}
