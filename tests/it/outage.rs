//! The database goes away under a running server and comes back: requests
//! answer 503 in the envelope (no hang, no 500 page), `/readyz` says 503, and
//! the same process serves again — old tokens included — once the database
//! is back.

use std::sync::Arc;

use serde_json::json;

use crate::common::relay::Relay;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_is_503_and_its_return_is_served() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    // The server reaches the test's PostgreSQL (wherever it listens) through
    // a relay the test can cut.
    let mut through_relay = reqwest::Url::parse(&db.url).unwrap();
    let target = format!(
        "{}:{}",
        through_relay
            .host_str()
            .expect("the test's PostgreSQL is reached over TCP"),
        through_relay.port().unwrap_or(5432)
    );
    let relay = Relay::start(target).await;
    through_relay.set_host(Some("127.0.0.1")).unwrap();
    through_relay.set_port(Some(relay.port)).unwrap();
    let options = Options::new(&db, &mock).with("database_url", through_relay.as_str());
    let app = spawn_with(db.clone(), mock.clone(), options).await;
    let before = app.login("before-outage").await;
    assert!(app.is_authorized(&before.token()).await);

    relay.cut();
    let token = before.token();
    // Each answer is awaited under a hang guard only: what is checked is
    // the answer (503 in the envelope), not how soon it came.
    for what in ["status", "user"] {
        guarded(what, app.get_with_token(what, &token))
            .await
            .expect(-100, 503);
    }
    for (what, body) in [
        ("authorize", json!({ "code": "during-outage" })),
        (
            "refresh",
            json!({ "refresh_token": before.refresh_token() }),
        ),
    ] {
        guarded(what, app.post(what, body)).await.expect(-100, 503);
    }
    let ready = app
        .http
        .get(format!("{}/readyz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 503);

    relay.restore();
    wait_until("serving again after the database's return", || async {
        let ready = app
            .http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .unwrap();
        ready.status().as_u16() == 200
            && app.get_with_token("status", &before.token()).await.code() == 0
    })
    .await;
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
/// is gone the same process writes again. A write that meets the lock waits
/// for it (the busy timeout): released meanwhile, the login goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_is_503_and_nothing_half_made() {
    use diesel::connection::SimpleConnection;
    let app = spawn_app(Backend::Sqlite).await;
    let before = app.login("before-the-lock").await;
    let users = app.db.count("users");

    let mut locker = app.db.conn();
    locker.batch_execute("BEGIN EXCLUSIVE").unwrap();
    // Hang guard only: the busy timeout (10 s) ends the wait.
    guarded(
        "a login against the lock",
        app.post("authorize", json!({ "code": "while-locked" })),
    )
    .await
    .expect(-100, 503);
    assert!(app.is_authorized(&before.token()).await, "reads go on");
    locker.batch_execute("ROLLBACK").unwrap();

    assert_eq!(app.db.count("users"), users, "nothing half-made");
    app.login("after-the-lock").await;

    locker.batch_execute("BEGIN EXCLUSIVE").unwrap();
    let (waited, ()) = tokio::join!(
        guarded(
            "a login that waits for the lock",
            app.post("authorize", json!({ "code": "waits-its-turn" })),
        ),
        async {
            // WeChat has answered: the login's write is about to meet the lock.
            wait_until("WeChat asked for the code", || async {
                app.mock.calls("waits-its-turn").await >= 1
            })
            .await;
            locker.batch_execute("ROLLBACK").unwrap();
        },
    );
    waited.expect(0, 200);
}
