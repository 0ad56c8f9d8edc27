//! Whether other instances share this PostgreSQL database, and what is kept
//! in step with them. Every [`HEARTBEAT`] an instance writes its heartbeat
//! to `instances` and counts the others alive. While it sees none it works
//! alone: login codes in memory, rate limits in memory, no round trip for
//! either. While it sees others, codes are claimed in the database
//! (`wechat::shared_exchange`) and, at each heartbeat, its rate-limit
//! admissions are added to the deployment's buckets and the buckets read
//! back (`rate_limit`).
//!
//! An instance that starts does not serve until every instance alive has
//! seen it ([`Peers::join`], before the server opens its port): each
//! other, at its next heartbeat, starts sharing, publishes the codes it
//! exchanged alone within the window and acknowledges the newcomer. So no
//! instance works alone while another serves beside it, from the first
//! request (SPEC §1.3) — short of a peer of an earlier release, or a
//! database unreachable for [`JOIN_PATIENCE`], after which a newcomer serves
//! anyway.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::db::instances::{self, Others};
use crate::db::{rate_limits, Db};
use crate::error::ApiError;
use crate::rate_limit::{unix_ms, IpLimiter, RateLimits};
use crate::wechat::exchange::CodeExchanges;

/// How often an instance says it is alive (and syncs its rate limits), and
/// how long one that has not said so still counts.
pub const HEARTBEAT: Duration = Duration::from_millis(500);
const ALIVE_FOR: Duration = Duration::from_secs(2);
/// How long a starting instance waits for the others' acknowledgement (an
/// instance of an earlier release never gives it), and how often it looks.
const JOIN_PATIENCE: Duration = Duration::from_secs(3);
const JOIN_POLL: Duration = Duration::from_millis(25);
/// Buckets synced per limiter and heartbeat at most.
const MAX_SYNCED: usize = 5_000;

#[derive(Clone)]
pub struct Peers {
    db: Db,
    /// This instance's name in `instances`.
    id: String,
    /// When it started (Unix ms): the others acknowledge up to it.
    joined_ms: i64,
    alive: Arc<AtomicBool>,
    /// The newest `joined_at` of the others it has acknowledged.
    acknowledged: Arc<AtomicI64>,
    /// Held while a heartbeat is written; true once this instance has left,
    /// so that no heartbeat in flight writes its row back.
    left: Arc<tokio::sync::Mutex<bool>>,
    /// Since sharing began, the codes exchanged alone are in the database:
    /// only then does this instance acknowledge others. Until then each
    /// heartbeat tries again.
    published: Arc<AtomicBool>,
}

/// What a heartbeat found.
enum Beat {
    /// No PostgreSQL: no other instance can be.
    Alone,
    /// The heartbeat or its publication failed: unsure.
    Failed,
    Saw(Others),
}

/// What the heartbeat keeps in step with the other instances.
#[derive(Clone)]
pub struct Shared {
    pub limits: Arc<RateLimits>,
    pub exchanges: CodeExchanges,
    pub clock: Clock,
}

impl Peers {
    pub fn new(db: Db) -> Peers {
        Peers {
            db,
            id: crate::crypto::random_token(12),
            joined_ms: unix_ms(),
            alive: Arc::default(),
            acknowledged: Arc::default(),
            left: Arc::default(),
            published: Arc::default(),
        }
    }

    /// Before the server serves: says this instance is here and waits until
    /// every other instance alive has acknowledged it — is sharing codes and
    /// limits, with what it exchanged alone published. An instance that died
    /// without removing its row stops counting [`ALIVE_FOR`] after its last
    /// beat. Gives up after [`JOIN_PATIENCE`] (an instance of an earlier
    /// release never acknowledges; the database may be unreachable), with a
    /// warning.
    pub async fn join(&self, shared: &Shared) {
        let give_up = Instant::now() + JOIN_PATIENCE;
        loop {
            let waiting = match self.beat(shared).await {
                Beat::Alone => return,
                Beat::Saw(others) if others.unacknowledged == 0 => return,
                Beat::Saw(others) => format!("{} other instance(s)", others.unacknowledged),
                Beat::Failed => "the database".to_string(),
            };
            if Instant::now() >= give_up {
                tracing::warn!(
                    "waited {} s for {waiting} to acknowledge this instance (an earlier \
                     release does not); serving anyway",
                    JOIN_PATIENCE.as_secs()
                );
                return;
            }
            tokio::time::sleep(JOIN_POLL).await;
        }
    }

    /// Whether another instance was alive at the last heartbeat.
    pub fn present(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// Beats every [`HEARTBEAT`] until shutdown.
    pub fn spawn(&self, shared: Shared, mut shutdown: rocket::Shutdown) {
        let peers = self.clone();
        tokio::spawn(async move {
            loop {
                peers.beat(&shared).await;
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(HEARTBEAT) => {}
                }
            }
        });
    }

    /// Removes this instance's heartbeat (at shutdown, before the process
    /// ends): an instance that starts next does not wait for it.
    pub async fn leave(&self) {
        let mut left = self.left.lock().await;
        *left = true;
        let id = self.id.clone();
        let removed = self
            .db
            .on_pg(move |conn| Box::pin(async move { instances::leave(conn, &id).await }))
            .await;
        if let Some(Err(e)) = removed {
            tracing::debug!("cannot remove this instance's heartbeat: {e}");
        }
    }

    /// One heartbeat, and what it found.
    async fn beat(&self, shared: &Shared) -> Beat {
        let limits = &shared.limits;
        let now_ms = unix_ms();
        let fresh_since = now_ms - ALIVE_FOR.as_millis() as i64;
        let (id, joined_ms) = (self.id.clone(), self.joined_ms);
        let left = self.left.lock().await;
        if *left {
            return Beat::Alone;
        }
        let others = self
            .db
            .on_pg(move |conn| {
                Box::pin(async move {
                    instances::heartbeat(conn, &id, joined_ms, now_ms, fresh_since).await
                })
            })
            .await;
        drop(left);
        let (alive, mut found) = match others {
            Some(Ok(others)) => (others.alive > 0, Beat::Saw(others)),
            // Unsure: share, which is right whatever the others do.
            Some(Err(e)) => {
                tracing::debug!("heartbeat failed: {e}");
                (true, Beat::Failed)
            }
            None => (false, Beat::Alone),
        };
        self.alive.store(alive, Ordering::SeqCst);
        if !alive {
            self.published.store(false, Ordering::SeqCst);
        } else if !self.published.load(Ordering::SeqCst) {
            // From here on codes are claimed in the database; those this
            // instance exchanged alone join them there (again at the next
            // heartbeat if this fails: the others wait for it).
            match shared.exchanges.publish(&shared.clock).await {
                Ok(_) => self.published.store(true, Ordering::SeqCst),
                Err(e) => {
                    tracing::warn!("cannot publish the codes exchanged alone: {e}");
                    found = Beat::Failed;
                }
            }
        }
        for limiter in [
            &limits.authorize,
            &limits.refresh,
            &limits.admin_api,
            &limits.web_login,
            &limits.account_export,
        ] {
            let name = limiter.name();
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
        if let Beat::Saw(others) = &found {
            if others.alive > 0 {
                self.acknowledge(others.newest_joined).await;
            }
        }
        found
    }

    /// Tells the instances that joined up to `joined_ms` that this one
    /// shares with them (after it has begun to).
    async fn acknowledge(&self, joined_ms: i64) {
        if joined_ms <= self.acknowledged.load(Ordering::SeqCst) {
            return;
        }
        let id = self.id.clone();
        let done = self
            .db
            .on_pg(move |conn| {
                Box::pin(async move { instances::acknowledge(conn, &id, joined_ms).await })
            })
            .await;
        match done {
            Some(Err(e)) => tracing::debug!("cannot acknowledge the other instances: {e}"),
            _ => {
                self.acknowledged.fetch_max(joined_ms, Ordering::SeqCst);
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
