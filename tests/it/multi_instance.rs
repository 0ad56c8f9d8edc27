//! Several instances on one PostgreSQL database behave as one.

use std::sync::Arc;

use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_instance_is_seen_by_the_other_at_once() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let a = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    let b = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;

    let s = a.login("anna").await;
    assert!(b.is_authorized(&s.token()).await);
    let r = b
        .post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await;
    r.expect(0, 200);
    // The grace answer comes from the database, so the other instance gives it too.
    let again = a
        .post("refresh", json!({ "refresh_token": s.refresh_token() }))
        .await;
    assert_eq!(again.data(), r.data());

    b.post_with_token("logout", &s.token(), json!({}))
        .await
        .expect(0, 200);
    assert!(!a.is_authorized(&s.token()).await);
    assert!(!a.is_authorized(&r.token()).await);
    a.post("refresh", json!({ "refresh_token": r.refresh_token() }))
        .await
        .expect(-502, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_logins_racing_on_two_instances_create_one_user() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let a = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    let b = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    let calls = (0..8).flat_map(|_| {
        [
            a.post("authorize", json!({ "code": "race" })),
            b.post("authorize", json!({ "code": "race" })),
        ]
    });
    let replies = futures::future::join_all(calls).await;
    let ids: std::collections::HashSet<i64> = replies
        .iter()
        .map(|r| {
            r.expect(0, 200);
            r.user_id()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(db.count("users"), 1);
    assert_eq!(db.count("sessions"), 16);
}

/// A lone instance pays no round trip for sharing codes: it keeps them in
/// memory, and learns of a second instance by the heartbeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_instance_keeps_its_codes_in_memory() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let a = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    wait_instances_see_each_other(&db, 1).await;
    a.login("alone").await;
    assert_eq!(db.count("login_codes"), 0);
    let b = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    wait_instances_see_each_other(&db, 2).await;
    a.login("together").await;
    assert_eq!(db.count("login_codes"), 1);
    drop(b);
    // A stopped instance takes its heartbeat with it.
    wait_until("the stopped instance's heartbeat removed", || {
        std::future::ready(db.count("instances") == 1)
    })
    .await;
}

/// A retry that the load balancer sends to another instance while the first
/// is still exchanging the code: WeChat sees the code once (it would answer
/// the second exchange 40163), both requests succeed for one user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_in_exchange_on_one_instance_is_shared_with_the_other() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let a = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    let b = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    let c = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    wait_instances_see_each_other(&db, 3).await;
    let (first, second, third) = tokio::join!(
        a.post("authorize", json!({ "code": "lag-retried" })),
        async {
            // Sent once WeChat has the code (the mock holds its answer half
            // a second): lands while an instance waits for WeChat.
            wait_until("WeChat asked for the code", || async {
                mock.calls("lag-retried").await >= 1
            })
            .await;
            b.post("authorize", json!({ "code": "lag-retried" })).await
        },
        c.post("authorize", json!({ "code": "lag-retried" })),
    );
    for reply in [&first, &second, &third] {
        reply.expect(0, 200);
    }
    assert_eq!(mock.calls("lag-retried").await, 1);
    assert_eq!(first.user_id(), second.user_id());
    assert_eq!(first.user_id(), third.user_id());
    assert_eq!(db.count("users"), 1);
    assert_eq!(db.count("sessions"), 3);
    // The code is kept only as its hash, the session_key only sealed.
    let mut conn = db.conn();
    let kept: Vec<(String, Option<String>)> = {
        use diesel::prelude::*;
        use wxauth::db::schema::login_codes::dsl as c;
        let wxauth::db::AnyConnection::Postgresql(pg) = &mut conn else {
            unreachable!()
        };
        c::login_codes
            .select((c::code_hash, c::session_key_sealed))
            .load(pg)
            .unwrap()
    };
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].0, wxauth::db::login_codes::code_hash("lag-retried"));
    assert!(!kept[0].0.contains("lag"));
    assert!(kept[0].1.as_deref().is_some_and(|s| !s.is_empty()));

    // After the window, the code goes to WeChat again (which would answer
    // 40163 for a real code; the mock exchanges it).
    a.clock.advance(std::time::Duration::from_secs(11));
    b.clock.advance(std::time::Duration::from_secs(11));
    b.post("authorize", json!({ "code": "lag-retried" }))
        .await
        .expect(0, 200);
    assert_eq!(mock.calls("lag-retried").await, 2);
}

/// A failed exchange is shared too: the retry on another instance gets the
/// same answer without asking WeChat again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_code_is_refused_on_the_other_instance_too() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let a = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    let b = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    wait_instances_see_each_other(&db, 2).await;
    a.post("authorize", json!({ "code": "invalid-shared" }))
        .await
        .expect(-601, 401);
    b.post("authorize", json!({ "code": "invalid-shared" }))
        .await
        .expect(-601, 401);
    assert_eq!(mock.calls("invalid-shared").await, 1);
    assert_eq!(db.count("users"), 0);
}

/// The deployment's bucket of the authorize limiter (one client here), when
/// some instance has shared it: when it is full again (Unix ms).
fn shared_authorize_bucket(db: &TestDb) -> Option<i64> {
    use diesel::prelude::*;
    use wxauth::db::schema::rate_limits::dsl as r;
    let mut conn = db.conn();
    let wxauth::db::AnyConnection::Postgresql(pg) = &mut conn else {
        unreachable!()
    };
    r::rate_limits
        .filter(r::limiter.eq("authorize"))
        .select(r::full_at)
        .first(pg)
        .optional()
        .unwrap()
}

/// Instances that share a database share the rate limit: what one admitted
/// is charged to the others at their next heartbeat, so a deployment of
/// three is not three times as generous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds_for_the_deployment() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let limited = || Options::new(&db, &mock).with("rate_limit.authorize_per_minute", 6);
    let a = spawn_with(db.clone(), mock.clone(), limited()).await;
    let b = spawn_with(db.clone(), mock.clone(), limited()).await;
    wait_instances_see_each_other(&db, 2).await;
    for n in 0..6 {
        a.post("authorize", json!({ "code": format!("rl-a-{n}") }))
            .await
            .expect(0, 200);
    }
    a.post("authorize", json!({ "code": "rl-a-6" }))
        .await
        .expect(-103, 429);
    // a adds its six to the deployment's bucket at its next heartbeat.
    let mut full_at = None;
    wait_until("a's admissions shared", || {
        full_at = shared_authorize_bucket(&db);
        std::future::ready(full_at.is_some())
    })
    .await;
    // b admits its first (it has heard of no bucket yet), adds it to the
    // deployment's at its next heartbeat and takes the bucket in.
    b.post("authorize", json!({ "code": "rl-b-0" }))
        .await
        .expect(0, 200);
    wait_until("b's admission shared", || {
        std::future::ready(shared_authorize_bucket(&db) > full_at)
    })
    .await;
    // Each instance beats again after that: b's sync has finished.
    wait_instances_see_each_other(&db, 2).await;
    // Alone, b would admit a whole minute's six.
    b.post("authorize", json!({ "code": "rl-b-1" }))
        .await
        .expect(-103, 429);
}
