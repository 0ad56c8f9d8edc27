//! What time it is, for everything that decides by time: session and token
//! lifetimes, idle timeouts, the refresh grace, the login-code reuse window,
//! console sessions. One clock per server, in its state. A server's clock is
//! the system's; tests build theirs adjustable and move it forward instead of
//! sleeping through ten-second windows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct Clock {
    /// Seconds this clock runs ahead of the system's; `None` for the
    /// system's own clock, which can never be moved.
    ahead: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock that starts at the system's time and can be moved forward
    /// with [`Clock::advance`] (tests).
    pub fn adjustable() -> Self {
        Clock {
            ahead: Some(Arc::new(AtomicU64::new(0))),
        }
    }

    fn ahead(&self) -> u64 {
        self.ahead.as_ref().map_or(0, |a| a.load(Ordering::Relaxed))
    }

    /// Unix seconds.
    pub fn now(&self) -> i64 {
        crate::timestamp::now() + self.ahead() as i64
    }

    /// Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        system + self.ahead() as i64 * 1000
    }

    /// A monotonic instant, moved forward with the clock.
    pub fn instant(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.ahead())
    }

    /// Moves an adjustable clock forward by whole seconds.
    ///
    /// # Panics
    /// On the system's clock.
    pub fn advance(&self, by: Duration) {
        let ahead = self
            .ahead
            .as_ref()
            .expect("only an adjustable clock can be moved");
        ahead.fetch_add(by.as_secs(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustable_clock_moves_both_kinds_of_time() {
        let clock = Clock::adjustable();
        let (wall, mono) = (clock.now(), clock.instant());
        clock.advance(Duration::from_secs(30));
        assert!(clock.now() >= wall + 30);
        assert!(clock.instant() >= mono + Duration::from_secs(30));
        let copy = clock.clone();
        copy.advance(Duration::from_secs(10));
        assert!(clock.now() >= wall + 40, "clones share the time");
    }

    #[test]
    #[should_panic(expected = "only an adjustable clock")]
    fn the_system_clock_cannot_be_moved() {
        Clock::system().advance(Duration::from_secs(1));
    }
}
