//! Webhooks under faults (SPEC §8, issue 28): a receiver that never answers
//! delays only its own events; an answer is read a few KiB deep and no
//! further; an instance leaves the events of endpoints it does not know to
//! the instances that do (a rolling deploy) and gives them up only after
//! 24 hours; only the worker holding a row's lease records its outcome.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use rocket::{post, routes, State};
use serde_json::json;
use tokio::io::{AsyncRead, ReadBuf};

use crate::both_backends;
use crate::common::waiting::eventually;
use crate::common::*;
use wxauth::db::webhook_outbox::{self, Attempt, NewOutboxRow, OutboxRow};

const SECRET: &str = "whsec_test_0123456789";

/// What the receivers saw.
#[derive(Default)]
struct Counts {
    /// Requests answered by `/ok`.
    ok: AtomicUsize,
    /// Bytes of `/huge`'s answer that the server produced: a client that
    /// stops reading stops it early.
    huge_produced: AtomicUsize,
}

#[post("/ok")]
fn ok(counts: &State<Arc<Counts>>) -> &'static str {
    counts.ok.fetch_add(1, Ordering::SeqCst);
    "thanks"
}

/// 256 MiB of 'x', made as the client reads it.
struct Endless {
    left: usize,
    counts: Arc<Counts>,
}

impl AsyncRead for Endless {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = buf.remaining().min(self.left).min(64 * 1024);
        buf.put_slice(&vec![b'x'; n]);
        self.left -= n;
        self.counts.huge_produced.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }
}

const HUGE: usize = 256 << 20;

#[post("/huge")]
fn huge(counts: &State<Arc<Counts>>) -> rocket::response::stream::ReaderStream![Endless] {
    let counts = counts.inner().clone();
    rocket::response::stream::ReaderStream::one(Endless { left: HUGE, counts })
}

/// Receivers on one port: `/ok` and `/huge`.
async fn receiver() -> (String, Arc<Counts>, rocket::Shutdown) {
    let counts = Arc::new(Counts::default());
    let figment = rocket::Config::figment()
        .merge(("port", 0))
        .merge(("address", "127.0.0.1"))
        .merge(("log_level", "off"));
    let rocket = rocket::custom(figment)
        .manage(counts.clone())
        .mount("/", routes![ok, huge]);
    let (url, shutdown) = launch(rocket).await;
    (url, counts, shutdown)
}

/// A receiver that accepts connections and never answers: its URL, and how
/// many connections it accepted.
async fn blackhole() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // Read and never answer, until the client hangs up.
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 4096];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    (url, accepted)
}

fn endpoints(urls: &[&str]) -> serde_json::Value {
    json!(urls
        .iter()
        .map(|u| json!({ "url": u, "secret": SECRET, "events": ["*"] }))
        .collect::<Vec<_>>())
}

/// Queues `n` events for `endpoint` made at `created_at`, as `emit` does.
fn queue(db: &TestDb, endpoint: &str, n: usize, created_at: i64) {
    let ids: Vec<String> = (0..n)
        .map(|i| format!("evt_test_{created_at}_{i}"))
        .collect();
    let bodies: Vec<String> = ids
        .iter()
        .map(|id| {
            json!({ "id": id, "type": "user.updated", "created_at": "", "data": {} }).to_string()
        })
        .collect();
    let rows: Vec<NewOutboxRow<'_>> = ids
        .iter()
        .zip(&bodies)
        .map(|(id, body)| NewOutboxRow {
            event_id: id,
            event_type: "user.updated",
            endpoint,
            body,
            created_at,
            next_attempt_at: created_at,
            user_id: None,
        })
        .collect();
    webhook_outbox::insert(&mut db.conn(), &rows).unwrap();
}

fn rows_of(db: &TestDb, endpoint: &str) -> Vec<OutboxRow> {
    webhook_outbox::recent(&mut db.conn(), false, 100_000)
        .unwrap()
        .into_iter()
        .filter(|r| r.endpoint == endpoint)
        .collect()
}

/// Slots one endpoint may hold (the worker's `PER_ENDPOINT`).
const PER_ENDPOINT: usize = 4;

both_backends!(
    a_dead_receiver_delays_only_its_own_events,
    an_answer_is_read_a_few_kib_deep,
    only_the_lease_holder_records_an_outcome
);

/// One endpoint never answers; another gets 1,000 events, each once,
/// while the dead one never holds more than its few slots.
async fn a_dead_receiver_delays_only_its_own_events(backend: Backend) {
    let (dead, accepted) = blackhole().await;
    let (base, counts, _stop) = receiver().await;
    let healthy = format!("{base}/ok");
    let app = spawn_app_with(backend, |o| {
        o.with("webhooks", endpoints(&[&dead, &healthy]))
    })
    .await;
    let now = app.clock.now();
    // The dead endpoint's events first: a worker that took rows in their
    // order would meet them before any of the healthy one's.
    queue(&app.db, &dead, 200, now);
    queue(&app.db, &healthy, 1000, now);
    app.post("authorize", json!({ "code": "ring" })).await; // rings the worker

    // Meanwhile, the dead endpoint's rows under a lease (taken and not
    // finished): a worker frees a slot only after recording the attempt.
    let mut most_leased = 0;
    let started = std::time::Instant::now();
    eventually("1,000 events delivered to the healthy endpoint", || {
        let leased = rows_of(&app.db, &dead)
            .iter()
            .filter(|r| r.lease_token.is_some())
            .count();
        most_leased = most_leased.max(leased);
        counts.ok.load(Ordering::SeqCst) >= 1000
    })
    .await;
    let took = started.elapsed();
    eventually("every healthy row recorded as delivered", || {
        rows_of(&app.db, &healthy)
            .iter()
            .all(|r| r.delivered_at.is_some())
    })
    .await;
    eprintln!(
        "webhook_faults: 1,000 events to a healthy endpoint beside a dead one in {} ms ({backend:?})",
        took.as_millis()
    );
    let healthy_rows = rows_of(&app.db, &healthy);
    // The login made two more events for each endpoint.
    assert_eq!(healthy_rows.len(), 1002);
    assert!(healthy_rows.iter().all(|r| r.attempts == 1));
    assert_eq!(counts.ok.load(Ordering::SeqCst), 1002, "each event once");
    assert!(
        (1..=PER_ENDPOINT).contains(&most_leased),
        "the dead endpoint held {most_leased} rows at once"
    );
    assert!(accepted.load(Ordering::SeqCst) >= 1);
}

/// A receiver answering with 256 MiB: the attempt is recorded with the
/// start of the answer, and the server stops producing it early, since
/// nobody reads it.
async fn an_answer_is_read_a_few_kib_deep(backend: Backend) {
    let (base, counts, _stop) = receiver().await;
    let huge = format!("{base}/huge");
    let app = spawn_app_with(backend, |o| o.with("webhooks", endpoints(&[&huge]))).await;
    queue(&app.db, &huge, 1, app.clock.now());
    app.post("authorize", json!({ "code": "ring" })).await;
    eventually("the huge answer's attempts recorded", || {
        rows_of(&app.db, &huge)
            .iter()
            .all(|r| r.delivered_at.is_some())
    })
    .await;
    let rows = rows_of(&app.db, &huge);
    let answer = rows[0].last_answer.clone().unwrap();
    assert!(answer.starts_with("HTTP 200: xxxx"), "{answer}");
    assert!(answer.len() < 400, "{} characters kept", answer.len());
    // Socket buffers hold a few MiB at most; reading it all produces 256.
    let produced = counts.huge_produced.load(Ordering::SeqCst);
    assert!(
        produced < 32 << 20,
        "the receiver produced {} MiB of its answer",
        produced >> 20
    );
}

/// A worker whose lease ran out while it waited for an answer cannot
/// overwrite the outcome of the attempt that took the row after it.
async fn only_the_lease_holder_records_an_outcome(backend: Backend) {
    // No endpoint configured: no worker of the server's own takes the row.
    let app = spawn_app(backend).await;
    let endpoint = "http://127.0.0.1:9/hook";
    let now = app.clock.now();
    queue(&app.db, endpoint, 1, now);
    let mut conn = app.db.conn();
    let id = rows_of(&app.db, endpoint)[0].id;
    let first = webhook_outbox::lease(&mut conn, &[id], now, now + 20, "stalled").unwrap();
    assert_eq!(first.len(), 1);
    // Still held: nobody else takes it.
    let none = webhook_outbox::lease(&mut conn, &[id], now + 5, now + 25, "other").unwrap();
    assert!(none.is_empty());
    // The lease ran out; a second worker takes the row and delivers it.
    let second = webhook_outbox::lease(&mut conn, &[id], now + 30, now + 50, "second").unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempts, 2);
    let stale = webhook_outbox::finish(
        &mut conn,
        id,
        "stalled",
        Attempt::Retry(now + 40),
        Some(500),
        "HTTP 500: late",
        now + 31,
    )
    .unwrap();
    assert!(!stale, "the stalled worker's outcome is refused");
    let current = webhook_outbox::finish(
        &mut conn,
        id,
        "second",
        Attempt::Delivered,
        Some(200),
        "HTTP 200: ok",
        now + 32,
    )
    .unwrap();
    assert!(current);
    // After the outcome, a late finish under either token changes nothing.
    for token in ["stalled", "second"] {
        let late = webhook_outbox::finish(
            &mut conn,
            id,
            token,
            Attempt::Failed,
            None,
            "late",
            now + 33,
        )
        .unwrap();
        assert!(!late, "{token}");
    }
    let row = &rows_of(&app.db, endpoint)[0];
    assert_eq!(row.delivered_at, Some(now + 32));
    assert_eq!(row.failed_at, None);
    assert_eq!(row.last_answer.as_deref(), Some("HTTP 200: ok"));
    assert_eq!(row.lease_token, None);
}

/// A rolling deploy on one PostgreSQL database: an instance that does not
/// know an endpoint leaves its events alone (an instance that does sends
/// them), and gives them up only once they are 24 hours old.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_leaves_unknown_endpoints_to_the_instances_that_know_them() {
    let (base, counts, _stop) = receiver().await;
    let (old_url, new_url) = (format!("{base}/ok"), format!("{base}/ok?new"));
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let options = |urls: &[&str]| Options::new(&db, &mock).with("webhooks", endpoints(urls));
    let old = spawn_with(db.clone(), mock.clone(), options(&[&old_url])).await;
    let now = old.clock.now();
    // The new endpoint's events: five of today, three of over a day ago.
    queue(&db, &new_url, 5, now);
    queue(&db, &new_url, 3, now - 25 * 3600);
    // A second old instance starts: its first look, before it takes any
    // row, gives up the day-old events of the endpoint it does not know.
    let old_2 = spawn_with(db.clone(), mock.clone(), options(&[&old_url])).await;
    eventually("the day-old events given up", || {
        rows_of(&db, &new_url)
            .iter()
            .filter(|r| r.failed_at.is_some())
            .count()
            == 3
    })
    .await;
    // An event both old instances know, made after the new endpoint's
    // rows: once it is delivered, the old instances have looked at due rows
    // since those were queued.
    old_2.login("marker").await;
    eventually("the old endpoint's events delivered", || {
        let rows = rows_of(&db, &old_url);
        !rows.is_empty() && rows.iter().all(|r| r.delivered_at.is_some())
    })
    .await;
    for row in rows_of(&db, &new_url) {
        if row.created_at == now {
            assert_eq!(row.attempts, 0, "taken by an old instance: {row:?}");
            assert_eq!(row.failed_at, None, "{row:?}");
        } else {
            assert_eq!(row.attempts, 0, "{row:?}");
            assert_eq!(
                row.last_answer.as_deref(),
                Some("no instance knew this endpoint for 24 hours")
            );
        }
    }
    assert_eq!(
        counts.ok.load(Ordering::SeqCst),
        2,
        "the marker's two events"
    );

    // The new instance knows both: it sends today's five.
    let _new = spawn_with(db.clone(), mock.clone(), options(&[&old_url, &new_url])).await;
    eventually("the new endpoint's events delivered", || {
        rows_of(&db, &new_url)
            .iter()
            .filter(|r| r.delivered_at.is_some())
            .count()
            == 5
    })
    .await;
    assert_eq!(counts.ok.load(Ordering::SeqCst), 2 + 5);
    drop(old);
}
