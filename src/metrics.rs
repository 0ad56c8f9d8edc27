//! Prometheus metrics, served as text at `/metrics`: requests by route
//! template, method and status with their latency; logins by outcome (and
//! WeChat's refusal by result_code); WeChat calls by endpoint and outcome
//! with their latency; refreshes by outcome; live sessions; the database
//! pool. Each server has its own registry (no process-wide recorder), so two
//! servers in one process — the tests — never mix their counts.
//!
//! `metrics = false` turns all of it off: nothing is recorded and
//! `/metrics` is not mounted.

use std::cell::RefCell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use rocket::http::{ContentType, Status};
use rocket::{get, routes, Route, State};

use crate::clock::Clock;
use crate::db::{stats, Db};

/// Latency buckets, seconds: `status` answers in well under a millisecond,
/// a login waits for WeChat.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// How old the live-session count may be, seconds (never a COUNT per scrape).
const SESSIONS_EVERY: i64 = 30;

/// The server's metrics; a disabled one (`metrics = false`) records nothing.
#[derive(Clone, Default)]
pub struct Metrics(Option<std::sync::Arc<Recorded>>);

struct Recorded {
    /// Tells this registry's handles apart from another's in [`HANDLES`].
    id: u64,
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    logins: IntCounterVec,
    wechat_calls: IntCounterVec,
    wechat_seconds: HistogramVec,
    refreshes: IntCounterVec,
    live_sessions: IntGauge,
    /// When `live_sessions` was counted (Unix seconds).
    live_counted_at: AtomicI64,
    pool: IntGaugeVec,
}

impl Metrics {
    /// Metrics that record nothing.
    pub fn disabled() -> Metrics {
        Metrics(None)
    }

    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("wxauth".into()), None)?;
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(BUCKETS.to_vec());
            let h = HistogramVec::new(opts, labels)?;
            registry.register(Box::new(h.clone()))?;
            Ok::<_, prometheus::Error>(h)
        };
        let requests = counter(
            "http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            &["route", "method", "status"],
        )?;
        let request_seconds = histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            &["route"],
        )?;
        let logins = counter(
            "logins_total",
            "Logins (POST authorize) by outcome: new_user, returning_user, refused (banned), wechat_error (with WeChat's result_code).",
            &["outcome", "result_code"],
        )?;
        let wechat_calls = counter(
            "wechat_calls_total",
            "Calls to WeChat's API, each attempt, by endpoint and outcome.",
            &["endpoint", "outcome"],
        )?;
        let wechat_seconds = histogram(
            "wechat_call_duration_seconds",
            "Time of one call to WeChat's API, by endpoint.",
            &["endpoint"],
        )?;
        let refreshes = counter(
            "refreshes_total",
            "Refresh-token rotations by outcome: rotated, grace (a retry within the grace period), reused (a spent token: the session is revoked).",
            &["outcome"],
        )?;
        let live_sessions = IntGauge::new(
            "live_sessions",
            "Sessions neither revoked nor expired, counted by a scrape at most every 30 s.",
        )?;
        registry.register(Box::new(live_sessions.clone()))?;
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state."),
            &["pool", "state"],
        )?;
        registry.register(Box::new(pool.clone()))?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Ok(Metrics(Some(std::sync::Arc::new(Recorded {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            registry,
            requests,
            request_seconds,
            logins,
            wechat_calls,
            wechat_seconds,
            refreshes,
            live_sessions,
            live_counted_at: AtomicI64::new(i64::MIN),
            pool,
        }))))
    }

    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let Some(m) = &self.0 else { return };
        let seconds = elapsed.as_secs_f64();
        HANDLES.with_borrow_mut(|handles| {
            let found = handles.iter().find(|h| {
                h.registry == m.id && h.status == status && h.method == method && h.route == route
            });
            if let Some(h) = found {
                h.requests.inc();
                h.seconds.observe(seconds);
                return;
            }
            let digits = status_digits(status);
            let status_text = std::str::from_utf8(&digits).unwrap_or("000");
            let requests = m.requests.with_label_values(&[route, method, status_text]);
            let seconds_by_route = m.request_seconds.with_label_values(&[route]);
            requests.inc();
            seconds_by_route.observe(seconds);
            if handles.len() >= MAX_HANDLES {
                // A server with this many (route, method, status)s counts
                // the rest the slower way; old registries' handles go too.
                handles.clear();
            }
            handles.push(Handles {
                registry: m.id,
                route: route.to_string(),
                method: method.to_string(),
                status,
                requests,
                seconds: seconds_by_route,
            });
        });
    }

    pub fn login(&self, outcome: &str, result_code: Option<i32>) {
        let Some(m) = &self.0 else { return };
        let code = result_code.map(|c| c.to_string()).unwrap_or_default();
        m.logins.with_label_values(&[outcome, &code]).inc();
    }

    pub fn wechat_call(&self, endpoint: &str, outcome: &str, elapsed: Duration) {
        let Some(m) = &self.0 else { return };
        m.wechat_calls.with_label_values(&[endpoint, outcome]).inc();
        m.wechat_seconds
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
    }

    pub fn refresh(&self, outcome: &str) {
        let Some(m) = &self.0 else { return };
        m.refreshes.with_label_values(&[outcome]).inc();
    }

    /// The text a scrape gets, the pool gauges read now.
    fn render(&self, db: &Db) -> Result<String, String> {
        let Some(m) = &self.0 else {
            return Err("metrics are off".into());
        };
        for (pool, state, n) in db.pool_state() {
            m.pool.with_label_values(&[pool, state]).set(n as i64);
        }
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&m.registry.gather(), &mut out)
            .map_err(|e| e.to_string())?;
        String::from_utf8(out).map_err(|e| e.to_string())
    }

    /// Counts the live sessions when the last count is 30 s old or more
    /// (by the server's clock): a scrape costs at most one COUNT per 30 s,
    /// however often it comes.
    async fn count_live_sessions(&self, db: &Db, now: i64) {
        let Some(m) = &self.0 else { return };
        let last = m.live_counted_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SESSIONS_EVERY
            || m.live_counted_at
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match db
            .run(move |conn| Ok(stats::live_sessions(conn, now)?))
            .await
        {
            Ok(n) => m.live_sessions.set(n),
            Err(e) => tracing::warn!("counting live sessions failed: {e}"),
        }
    }
}

/// A request's counter and latency histogram, found once per thread: the
/// labelled lookup (hashing the label values, a read lock, a map, a handle
/// cloned and dropped) was most of what the metrics cost a `status` request.
struct Handles {
    registry: u64,
    route: String,
    method: String,
    status: u16,
    requests: IntCounter,
    seconds: Histogram,
}

/// Handles kept per thread at most (routes × methods × statuses in use).
const MAX_HANDLES: usize = 64;

thread_local! {
    static HANDLES: RefCell<Vec<Handles>> = const { RefCell::new(Vec::new()) };
}

/// An HTTP status as its three digits, without allocating.
fn status_digits(status: u16) -> [u8; 3] {
    let digit = |n: u16| b'0' + (n % 10) as u8;
    [digit(status / 100), digit(status / 10), digit(status)]
}

/// Prometheus's text exposition format.
fn exposition() -> ContentType {
    ContentType::new("text", "plain").with_params([("version", "0.0.4"), ("charset", "utf-8")])
}

#[get("/metrics")]
async fn metrics(
    metrics: &State<Metrics>,
    db: &State<Db>,
    clock: &State<Clock>,
) -> Result<(ContentType, String), Status> {
    metrics.count_live_sessions(db, clock.now()).await;
    metrics
        .render(db)
        .map(|text| (exposition(), text))
        .map_err(|e| {
            tracing::error!("cannot render the metrics: {e}");
            Status::InternalServerError
        })
}

pub fn routes() -> Vec<Route> {
    routes![metrics]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(m: &Metrics, route: &str, status: &str) -> u64 {
        let recorded = m.0.as_ref().unwrap();
        recorded
            .requests
            .with_label_values(&[route, "GET", status])
            .get()
    }

    /// Handles are kept per thread: two registries on one thread, and more
    /// label sets than the thread keeps, still count each request once, in
    /// its own registry.
    #[test]
    fn each_registry_counts_its_own_requests() {
        let a = Metrics::new().unwrap();
        let b = Metrics::new().unwrap();
        let t = Duration::from_micros(40);
        for _ in 0..3 {
            a.request("/status", "GET", 200, t);
        }
        b.request("/status", "GET", 200, t);
        a.request("/status", "GET", 404, t);
        assert_eq!(count(&a, "/status", "200"), 3);
        assert_eq!(count(&a, "/status", "404"), 1);
        assert_eq!(count(&b, "/status", "200"), 1);
        // Past MAX_HANDLES label sets the thread's handles start over.
        for i in 0..(MAX_HANDLES + 10) {
            a.request(&format!("/r{i}"), "GET", 200, t);
            a.request("/status", "GET", 200, t);
        }
        assert_eq!(count(&a, "/status", "200"), 3 + MAX_HANDLES as u64 + 10);
        assert_eq!(count(&a, "/r70", "200"), 1);
        assert_eq!(count(&b, "/status", "200"), 1);
        // The latency histogram is by route: the 404 too.
        let seconds =
            a.0.as_ref()
                .unwrap()
                .request_seconds
                .with_label_values(&["/status"]);
        assert_eq!(seconds.get_sample_count(), 4 + MAX_HANDLES as u64 + 10);
    }
}
