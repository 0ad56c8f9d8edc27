//! Background maintenance in bounded batches (issue 28): the purge of shared
//! login codes and the heartbeat's drop of full rate-limit buckets delete
//! a batch at a time, oldest first, through an index, and leave what is
//! still needed.

use crate::both_backends;
use crate::common::*;

both_backends!(login_codes_are_purged_in_bounded_batches);

/// `index` exists.
fn assert_index(db: &TestDb, index: &str) {
    let sql = match db.backend() {
        Backend::Sqlite => format!("sqlite_master WHERE type = 'index' AND name = '{index}'"),
        Backend::Postgres => format!("pg_indexes WHERE indexname = '{index}'"),
    };
    assert_eq!(db.count(&sql), 1, "index {index}");
}

async fn login_codes_are_purged_in_bounded_batches(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = &app.db;
    assert_index(db, "login_codes_claimed_at_idx");
    // 2,500 codes of long ago (one second each, some sharing one), and 10
    // of now.
    let old: Vec<String> = (0..2500)
        .map(|i| format!("('{APP_ID}', 'old-{i}', {})", 1000 + i / 3))
        .collect();
    let new: Vec<String> = (0..10)
        .map(|i| format!("('{APP_ID}', 'new-{i}', 5000000)"))
        .collect();
    db.execute(&format!(
        "INSERT INTO login_codes (appid, code_hash, claimed_at) VALUES {}, {}",
        old.join(", "),
        new.join(", ")
    ));
    let mut conn = db.conn();
    let mut batches = Vec::new();
    loop {
        let n = wxauth::db::login_codes::purge_before(&mut conn, 4_000_000, 1000).unwrap();
        batches.push(n);
        if n < 1000 {
            break;
        }
    }
    assert_eq!(batches, [1000, 1000, 500]);
    assert_eq!(db.count("login_codes"), 10);
    assert_eq!(db.count("login_codes WHERE code_hash LIKE 'new-%'"), 10);
    // Oldest first: after one batch of 1,000, the youngest old code stays.
    db.execute(&format!(
        "INSERT INTO login_codes (appid, code_hash, claimed_at) VALUES {}",
        old.join(", ")
    ));
    wxauth::db::login_codes::purge_before(&mut conn, 4_000_000, 1000).unwrap();
    assert_eq!(db.count("login_codes WHERE code_hash = 'old-2499'"), 1);
    assert_eq!(db.count("login_codes WHERE code_hash = 'old-0'"), 0);
}

/// PostgreSQL (the buckets are shared there only): a heartbeat drops at
/// most 10,000 full buckets, in batches, and never a bucket still counting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_rate_limit_buckets_are_dropped_in_bounded_batches() {
    use diesel_async::AsyncConnection;
    let app = spawn_app(Backend::Postgres).await;
    let db = &app.db;
    assert_index(db, "rate_limits_full_at_idx");
    db.execute(
        "INSERT INTO rate_limits (limiter, bucket, full_at) \
         SELECT 'authorize', 'gone-' || i, 1000 + i FROM generate_series(1, 12000) AS i; \
         INSERT INTO rate_limits (limiter, bucket, full_at) \
         SELECT 'authorize', 'live-' || i, 9000000 FROM generate_series(1, 5) AS i;",
    );
    let mut conn = diesel_async::AsyncPgConnection::establish(&db.url)
        .await
        .unwrap();
    let first = wxauth::db::rate_limits::forget_full(&mut conn, 5_000_000)
        .await
        .unwrap();
    assert_eq!(first, 10_000);
    let second = wxauth::db::rate_limits::forget_full(&mut conn, 5_000_000)
        .await
        .unwrap();
    assert_eq!(second, 2_000);
    assert_eq!(db.count("rate_limits"), 5);
    assert_eq!(db.count("rate_limits WHERE bucket LIKE 'live-%'"), 5);
}

/// A purge that is behind runs again at once instead of waiting for
/// `purge_interval`: 350,000 audit events past their retention (more than
/// three runs' worth) are all dropped by instances whose interval is a day
/// — in their start-up runs and the runs that follow straight away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_that_is_behind_catches_up_without_waiting() {
    let db = TestDb::new(Backend::Postgres);
    let mock = std::sync::Arc::new(MockWechat::spawn().await);
    let options = || {
        Options::new(&db, &mock)
            .with("purge_interval", 86_400)
            .with("audit_retention", 86_400)
    };
    // The first instance migrates the database. The old events come first
    // (the audit log is in the order of time), then a login of today.
    let first = spawn_with(db.clone(), mock.clone(), options()).await;
    db.execute(
        "INSERT INTO audit_events (kind, actor, detail, created_at) \
         SELECT 'admin_login', 'old', 'long ago', 1000 + i FROM generate_series(1, 350000) AS i",
    );
    first.login("keeper").await;
    let kept = db.count("audit_events WHERE created_at > 1000000");
    assert!(kept >= 1);
    let started = std::time::Instant::now();
    let _second = spawn_with(db.clone(), mock.clone(), options()).await;
    crate::common::waiting::eventually("every old event dropped", || {
        db.count("audit_events") == kept
    })
    .await;
    eprintln!(
        "maintenance: 350,000 events purged in {} ms (debug build, PostgreSQL)",
        started.elapsed().as_millis()
    );
}
