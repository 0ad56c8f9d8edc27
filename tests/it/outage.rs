//! The database goes away under a running server and comes back: requests
//! answer 503 in the envelope within a bounded time (no hang, no 500 page),
//! `/readyz` says 503, and the same process serves again — old tokens
//! included — within seconds of the database's return.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::relay::Relay;
use crate::common::*;

/// How long an answer may take while the database is away.
const BOUND: Duration = Duration::from_secs(12);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_is_503_and_its_return_is_served() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let relay = Relay::start("127.0.0.1:5432".into()).await;
    let through_relay = db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", relay.port));
    assert_ne!(
        through_relay, db.url,
        "the test database is on 127.0.0.1:5432"
    );
    let options = Options::new(&db, &mock).with("database_url", through_relay);
    let app = spawn_with(db.clone(), mock.clone(), options).await;
    let before = app.login("before-outage").await;
    assert!(app.is_authorized(&before.token()).await);

    relay.cut();
    let token = before.token();
    for what in ["status", "user"] {
        let started = Instant::now();
        let reply = app.get_with_token(what, &token).await;
        assert!(
            started.elapsed() < BOUND,
            "{what} took {:?}",
            started.elapsed()
        );
        reply.expect(-100, 503);
    }
    for (what, body) in [
        ("authorize", json!({ "code": "during-outage" })),
        (
            "refresh",
            json!({ "refresh_token": before.refresh_token() }),
        ),
    ] {
        let started = Instant::now();
        let reply = app.post(what, body).await;
        assert!(
            started.elapsed() < BOUND,
            "{what} took {:?}",
            started.elapsed()
        );
        reply.expect(-100, 503);
    }
    let ready = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);

    relay.restore();
    let back = Instant::now();
    loop {
        let ready = app
            .http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .unwrap();
        if ready.status().as_u16() == 200
            && app.get_with_token("status", &before.token()).await.code() == 0
        {
            break;
        }
        assert!(
            back.elapsed() < BOUND,
            "not serving again after {:?}",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        app.is_authorized(&before.token()).await,
        "the old token is good again"
    );
    app.login("after-outage").await;
    app.post(
        "refresh",
        json!({ "refresh_token": before.refresh_token() }),
    )
    .await
    .expect(0, 200);
}

/// SQLite locked by another process past the busy timeout: a login answers
/// 503 in the envelope and writes nothing; reads go on (WAL); once the lock
/// is gone the same process writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_is_503_and_nothing_half_made() {
    use diesel::connection::SimpleConnection;
    let app = spawn_app(Backend::Sqlite).await;
    let before = app.login("before-the-lock").await;
    let users = app.db.count("users");

    let mut locker = app.db.conn();
    locker.batch_execute("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let reply = app
        .post("authorize", json!({ "code": "while-locked" }))
        .await;
    reply.expect(-100, 503);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(app.is_authorized(&before.token()).await, "reads go on");
    locker.batch_execute("ROLLBACK").unwrap();

    assert_eq!(app.db.count("users"), users, "nothing half-made");
    app.login("after-the-lock").await;
}
