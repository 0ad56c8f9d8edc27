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
