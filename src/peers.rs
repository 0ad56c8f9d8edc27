//! Whether other instances share this PostgreSQL database, and what is kept
//! in step with them. Every [`HEARTBEAT`] an instance writes its heartbeat
//! to `instances` and counts the others alive. While it sees none it works
//! alone: login codes in memory, rate limits in memory, no round trip for
//! either. While it sees others, codes are claimed in the database
//! (`wechat::shared_exchange`) and, at each heartbeat, its rate-limit
//! admissions are added to the deployment's buckets and the buckets read
//! back (`rate_limit`).
//!
//! An instance that starts is seen by the others within a heartbeat; a
//! retried code or a burst sent to it in that first half second is handled
//! as if it were alone.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::db::{instances, rate_limits, Db};
use crate::error::ApiError;
use crate::rate_limit::{IpLimiter, RateLimits};

/// How often an instance says it is alive (and syncs its rate limits), and
/// how long one that has not said so still counts.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
const ALIVE_FOR: Duration = Duration::from_secs(2);
/// Buckets synced per limiter and heartbeat at most.
const MAX_SYNCED: usize = 5_000;

#[derive(Clone)]
pub struct Peers {
    db: Db,
    /// This instance's name in `instances`.
    id: String,
    alive: Arc<AtomicBool>,
}

impl Peers {
    pub fn new(db: Db) -> Peers {
        Peers {
            db,
            id: crate::crypto::random_token(12),
            alive: Arc::default(),
        }
    }

    /// Whether another instance was alive at the last heartbeat.
    pub fn present(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// Beats every [`HEARTBEAT`] until shutdown, then removes its heartbeat.
    pub fn spawn(&self, limits: Arc<RateLimits>, mut shutdown: rocket::Shutdown) {
        let peers = self.clone();
        tokio::spawn(async move {
            loop {
                peers.beat(&limits).await;
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(HEARTBEAT) => {}
                }
            }
            let id = peers.id.clone();
            let left = peers
                .db
                .on_pg(move |conn| Box::pin(async move { instances::leave(conn, &id).await }))
                .await;
            if let Some(Err(e)) = left {
                tracing::debug!("cannot remove this instance's heartbeat: {e}");
            }
        });
    }

    async fn beat(&self, limits: &RateLimits) {
        let now_ms = unix_ms();
        let fresh_since = now_ms - ALIVE_FOR.as_millis() as i64;
        let id = self.id.clone();
        let others = self
            .db
            .on_pg(move |conn| {
                Box::pin(async move { instances::heartbeat(conn, &id, now_ms, fresh_since).await })
            })
            .await;
        let alive = match others {
            Some(Ok(n)) => n > 0,
            // Unsure: share, which is right whatever the others do.
            Some(Err(e)) => {
                tracing::debug!("heartbeat failed: {e}");
                true
            }
            None => false,
        };
        self.alive.store(alive, Ordering::Relaxed);
        for (name, limiter) in [
            ("authorize", &limits.authorize),
            ("refresh", &limits.refresh),
            ("admin_api", &limits.admin_api),
        ] {
            limiter.set_sharing(alive);
            if alive {
                if let Err(e) = self.sync(name, limiter, now_ms).await {
                    tracing::debug!("cannot share the {name} rate limit: {e}");
                }
            }
        }
        if alive {
            let forgotten = self
                .db
                .on_pg(move |conn| {
                    Box::pin(async move { rate_limits::forget_full(conn, now_ms).await })
                })
                .await;
            if let Some(Err(e)) = forgotten {
                tracing::debug!("cannot drop full rate-limit buckets: {e}");
            }
        }
    }

    /// Adds this instance's admissions since the last beat to the
    /// deployment's buckets and takes the buckets in.
    async fn sync(&self, name: &str, limiter: &IpLimiter, now_ms: i64) -> Result<(), ApiError> {
        let Some(interval_ms) = limiter.interval_ms() else {
            return Ok(());
        };
        let admitted = limiter.take_admitted(MAX_SYNCED);
        if admitted.is_empty() {
            return Ok(());
        }
        let buckets: Vec<String> = admitted.iter().map(|(ip, _)| ip.to_string()).collect();
        let costs: Vec<i64> = admitted
            .iter()
            .map(|(_, n)| i64::from(*n) * interval_ms)
            .collect();
        let name = name.to_string();
        let shared = self
            .db
            .on_pg(move |conn| {
                Box::pin(async move { rate_limits::add(conn, &name, buckets, costs, now_ms).await })
            })
            .await
            .unwrap_or(Ok(Vec::new()))?;
        for bucket in shared {
            if let Ok(ip) = bucket.bucket.parse::<IpAddr>() {
                limiter.merge(ip, bucket.full_at, now_ms);
            }
        }
        Ok(())
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
