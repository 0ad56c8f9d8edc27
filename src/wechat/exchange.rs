//! Exchanges login codes once: the same (app, code) arriving while its first
//! exchange is in flight, or within the reuse window after it, shares the first
//! exchange's result instead of asking the platform again (WeChat would
//! answer 40163). It holds per app on every platform; a Douyin guest's
//! anonymous code is keyed apart from codes ([`Proof::key`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::shared_exchange::SharedCodes;
use crate::clock::Clock;
use crate::config::AppEntry;
use crate::error::ApiError;
use crate::platforms::login::{Exchanged, Exchangers, Proof};

pub const REUSE_WINDOW: Duration = Duration::from_secs(10);

type Outcome = (Result<Exchanged, ApiError>, Instant);
type Cell = Arc<OnceCell<Outcome>>;
type Key = (String, String);

/// Shared by clones: the managed one and the tidier's.
#[derive(Clone, Default)]
pub struct CodeExchanges {
    inner: Arc<Mutex<Inner>>,
    /// PostgreSQL: the first request of a code in this instance also claims
    /// it across instances.
    shared: Option<SharedCodes>,
}

/// Two generations of exchanges instead of one map swept for expired
/// entries: at the morning peak the map holds every code of the last ten
/// seconds, and sweeping it (with the rehashing that removals cause) held
/// every login waiting on the lock. Every [`REUSE_WINDOW`] the current
/// generation becomes the previous one and the previous one is dropped
/// whole, except the few exchanges still in flight or finished within the
/// window, which move on. A login rotates when it is due; so does a tidier
/// every window (see [`CodeExchanges::spawn_tidier`]), so that the codes of a
/// burst do not stay in memory until the next login.
#[derive(Default)]
struct Inner {
    current: HashMap<Key, Cell>,
    previous: HashMap<Key, Cell>,
    rotated_at: Option<Instant>,
}

impl CodeExchanges {
    /// De-duplicated across every instance on the database, too.
    pub fn shared(shared: SharedCodes) -> CodeExchanges {
        CodeExchanges {
            inner: Arc::default(),
            shared: Some(shared),
        }
    }

    pub async fn exchange(
        &self,
        clock: &Clock,
        clients: Exchangers<'_>,
        app: &AppEntry,
        proof: &Proof,
    ) -> Result<Exchanged, ApiError> {
        let cell = self.cell_for(&app.appid, &proof.key(), clock.instant());
        let (result, _) = cell
            .get_or_init(|| async {
                let result = match &self.shared {
                    Some(shared) => shared.exchange(clock, clients, app, proof).await,
                    None => clients.exchange(app, proof).await,
                };
                (result, clock.instant())
            })
            .await;
        result.clone()
    }

    /// The exchange of (appid, code) to join at `now`, or a new one.
    fn cell_for(&self, appid: &str, code: &str, now: Instant) -> Cell {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.rotated_at {
            None => inner.rotated_at = Some(now),
            Some(t) if now.duration_since(t) >= REUSE_WINDOW => inner.rotate(now),
            Some(_) => {}
        }
        let key = (appid.to_string(), code.to_string());
        let live = inner
            .current
            .get(&key)
            .or_else(|| inner.previous.get(&key))
            .filter(|cell| !expired(cell, now))
            .cloned();
        live.unwrap_or_else(|| {
            let cell = Arc::new(OnceCell::new());
            inner.current.insert(key, cell.clone());
            cell
        })
    }
}

impl CodeExchanges {
    /// Rotates if a window has passed since the last rotation.
    fn tidy(&self, now: Instant) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner
            .rotated_at
            .is_some_and(|t| now.duration_since(t) >= REUSE_WINDOW)
        {
            inner.rotate(now);
        }
    }

    /// Tidies every [`REUSE_WINDOW`] until shutdown.
    pub fn spawn_tidier(&self, clock: Clock, mut shutdown: rocket::Shutdown) {
        let exchanges = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(REUSE_WINDOW) => exchanges.tidy(clock.instant()),
                }
            }
        });
    }
}

impl Inner {
    fn rotate(&mut self, now: Instant) {
        // The next generation will likely hold as many codes as this one:
        // room for them up front rather than growing through every doubling.
        let sized = HashMap::with_capacity(self.current.len());
        let older = std::mem::replace(
            &mut self.previous,
            std::mem::replace(&mut self.current, sized),
        );
        let survivors: Vec<(Key, Cell)> = older
            .into_iter()
            .filter(|(key, cell)| !expired(cell, now) && !self.previous.contains_key(key))
            .collect();
        self.current.extend(survivors);
        self.rotated_at = Some(now);
    }
}

fn expired(cell: &OnceCell<Outcome>, now: Instant) -> bool {
    cell.get()
        .is_some_and(|(_, done)| now.saturating_duration_since(*done) > REUSE_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(cell: &Cell, at: Instant) {
        cell.set((Err(ApiError::internal("test")), at))
            .expect("a new cell");
    }

    #[test]
    fn the_same_code_joins_its_exchange_until_the_window_has_passed() {
        let exchanges = CodeExchanges::default();
        let t0 = Instant::now();
        let first = exchanges.cell_for("wx1", "code", t0);
        assert!(Arc::ptr_eq(&first, &exchanges.cell_for("wx1", "code", t0)));
        assert!(!Arc::ptr_eq(&first, &exchanges.cell_for("wx2", "code", t0)));
        done(&first, t0 + Duration::from_secs(1));
        // Across a rotation, still within ten seconds of the answer.
        let later = t0 + Duration::from_secs(11);
        assert!(Arc::ptr_eq(
            &first,
            &exchanges.cell_for("wx1", "code", later)
        ));
        let expired = t0 + Duration::from_secs(12);
        assert!(!Arc::ptr_eq(
            &first,
            &exchanges.cell_for("wx1", "code", expired)
        ));
    }

    #[test]
    fn an_exchange_in_flight_survives_every_rotation() {
        let exchanges = CodeExchanges::default();
        let t0 = Instant::now();
        let slow = exchanges.cell_for("wx1", "slow", t0);
        for seconds in [10, 20, 30, 40] {
            let now = t0 + Duration::from_secs(seconds);
            exchanges.cell_for("wx1", &format!("other{seconds}"), now);
            assert!(Arc::ptr_eq(&slow, &exchanges.cell_for("wx1", "slow", now)));
        }
    }

    #[test]
    fn finished_exchanges_are_dropped_after_two_windows() {
        let exchanges = CodeExchanges::default();
        let t0 = Instant::now();
        for n in 0..100 {
            done(&exchanges.cell_for("wx1", &n.to_string(), t0), t0);
        }
        exchanges.cell_for("wx1", "a", t0 + Duration::from_secs(10));
        exchanges.cell_for("wx1", "b", t0 + Duration::from_secs(20));
        let inner = exchanges.inner.lock().unwrap();
        assert_eq!(inner.current.len() + inner.previous.len(), 2);
    }

    #[test]
    fn the_tidier_drops_a_burst_without_waiting_for_a_login() {
        let exchanges = CodeExchanges::default();
        let t0 = Instant::now();
        for n in 0..100 {
            done(&exchanges.cell_for("wx1", &n.to_string(), t0), t0);
        }
        exchanges.tidy(t0 + Duration::from_secs(5));
        assert_eq!(
            exchanges.inner.lock().unwrap().current.len(),
            100,
            "not due"
        );
        exchanges.tidy(t0 + Duration::from_secs(10));
        exchanges.tidy(t0 + Duration::from_secs(20));
        let inner = exchanges.inner.lock().unwrap();
        assert_eq!(inner.current.len() + inner.previous.len(), 0);
    }
}
