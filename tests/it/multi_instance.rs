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
/// memory, learns of a second instance by the heartbeat, and then publishes
/// them (the code of its lone login, still within the window) and claims
/// new ones in the database.
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
    assert_eq!(db.count("login_codes"), 1, "published when b joined");
    a.login("together").await;
    assert_eq!(db.count("login_codes"), 2);
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

/// Instances that share a database share the login-side rate limits
/// exactly (SPEC §1.3): each admission is decided on the deployment's
/// bucket in one atomic statement, so eighteen quick logins from one
/// address spread over three instances get the five a minute allows —
/// in turn, and all at once — not five per instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds_exactly_for_the_deployment() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let limited = || {
        Options::new(&db, &mock)
            .with("rate_limit.authorize_per_minute", 5)
            .with("rate_limit.refresh_per_minute", 5)
    };
    let a = spawn_with(db.clone(), mock.clone(), limited()).await;
    let b = spawn_with(db.clone(), mock.clone(), limited()).await;
    let c = spawn_with(db.clone(), mock.clone(), limited()).await;
    let instances = [&a, &b, &c];
    let mut admitted = 0;
    let mut refresh_tokens = Vec::new();
    for n in 0..18 {
        let reply = instances[n % 3]
            .post("authorize", json!({ "code": format!("rl-turn-{n}") }))
            .await;
        match reply.code() {
            0 => {
                admitted += 1;
                refresh_tokens.push(reply.data()["refresh_token"].as_str().unwrap().to_string());
            }
            _ => {
                reply.expect(-103, 429);
                let wait: u64 = reply.headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                // Five of twelve seconds each fill the minute's bucket: the
                // next fits twelve seconds after the first admission.
                assert!((11..=12).contains(&wait), "Retry-After {wait}");
            }
        }
    }
    assert_eq!(admitted, 5, "in turn over three instances");
    assert!(
        shared_authorize_bucket(&db).is_some(),
        "decided in the database"
    );

    // The refresh limit, with eighteen requests at once.
    let replies = futures::future::join_all((0..18).map(|n| {
        let token = &refresh_tokens[n % refresh_tokens.len()];
        instances[n % 3].post("refresh", json!({ "refresh_token": token }))
    }))
    .await;
    let limited = replies.iter().filter(|r| r.code() == -103).count();
    assert_eq!(18 - limited, 5, "all at once over three instances");
}

/// SPEC §1.3, from the first request: an instance that has just started
/// serves only once the instances already there have seen it and share
/// with it, so the same code sent to it and to an older instance at that
/// moment reaches WeChat once (the older one used to work alone until its
/// next heartbeat, and one of the two logins failed with 40163).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_sent_to_an_instance_that_just_started_is_exchanged_once() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let a = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    wait_instances_see_each_other(&db, 1).await;
    let b = spawn_with(db.clone(), mock.clone(), Options::new(&db, &mock)).await;
    let (first, second) = tokio::join!(
        a.post("authorize", json!({ "code": "lag-first-moment" })),
        b.post("authorize", json!({ "code": "lag-first-moment" })),
    );
    first.expect(0, 200);
    second.expect(0, 200);
    assert_eq!(first.user_id(), second.user_id());
    assert_eq!(mock.calls("lag-first-moment").await, 1);
}

/// What an instance exchanged while alone goes to the database when
/// another instance joins, before the newcomer serves: a code answered
/// alone, and one still in exchange at that moment (its outcome follows
/// when WeChat answers), each reach WeChat once wherever they are retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_exchanged_alone_are_shared_with_an_instance_that_joins() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    // The held exchange lasts while the second instance starts and joins.
    let patient = || Options::new(&db, &mock).with("wechat.timeout_ms", 30_000);
    let a = spawn_with(db.clone(), mock.clone(), patient()).await;
    wait_instances_see_each_other(&db, 1).await;
    let answered = a
        .post("authorize", json!({ "code": "alone-answered" }))
        .await;
    answered.expect(0, 200);
    assert_eq!(db.count("login_codes"), 0, "alone: in memory");
    let (held, (b, retried_answered, retried_held)) = tokio::join!(
        a.post("authorize", json!({ "code": "held-alone" })),
        async {
            wait_until("WeChat asked for the held code", || async {
                mock.calls("held-alone").await >= 1
            })
            .await;
            let b = spawn_with(db.clone(), mock.clone(), patient()).await;
            let retried_answered = b
                .post("authorize", json!({ "code": "alone-answered" }))
                .await;
            let (retried_held, ()) = tokio::join!(
                b.post("authorize", json!({ "code": "held-alone" })),
                mock.release("held-alone"),
            );
            (b, retried_answered, retried_held)
        },
    );
    for reply in [&answered, &held, &retried_answered, &retried_held] {
        reply.expect(0, 200);
    }
    assert_eq!(answered.user_id(), retried_answered.user_id());
    assert_eq!(held.user_id(), retried_held.user_id());
    assert_eq!(mock.calls("alone-answered").await, 1);
    assert_eq!(mock.calls("held-alone").await, 1);
    drop(b);
}

/// A claim published when another instance appeared, and its outcome,
/// which the exchange records when it finishes: the outcome is kept
/// whichever reaches the table first (the exchange may finish while the
/// publication is on its way), and another instance's claim of the code
/// is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_claim_and_its_outcome_land_in_either_order() {
    use diesel_async::AsyncConnection;
    use wxauth::db::login_codes::{finish, publish, read, Outcome, Published};
    let app = spawn_app(Backend::Postgres).await;
    let mut conn = diesel_async::AsyncPgConnection::establish(&app.db.url)
        .await
        .unwrap();
    let claim = |hash: &str, claimed_at: i64| Published {
        appid: "wx1".into(),
        code_hash: hash.into(),
        claimed_at,
        finished: None,
    };
    let answer = |hash: &str| Published {
        finished: Some((
            101,
            Outcome::Exchanged {
                openid: format!("o-{hash}"),
                unionid: None,
                session_key_sealed: None,
                guest_openid: None,
            },
        )),
        ..claim(hash, 100)
    };
    // The outcome first, then the publication.
    finish(&mut conn, answer("late-claim")).await.unwrap();
    publish(&mut conn, vec![claim("late-claim", 100)])
        .await
        .unwrap();
    // The publication first, then the outcome.
    publish(&mut conn, vec![claim("early-claim", 100)])
        .await
        .unwrap();
    finish(&mut conn, answer("early-claim")).await.unwrap();
    for hash in ["late-claim", "early-claim"] {
        let row = read(&mut conn, "wx1", hash).await.unwrap().unwrap();
        assert_eq!(row.finished_at, Some(101), "{hash}");
        assert_eq!(row.openid.as_deref(), Some(format!("o-{hash}").as_str()));
    }
    // Another instance claimed the code at another time: not ours to finish.
    publish(&mut conn, vec![claim("theirs", 99)]).await.unwrap();
    finish(&mut conn, answer("theirs")).await.unwrap();
    let row = read(&mut conn, "wx1", "theirs").await.unwrap().unwrap();
    assert_eq!((row.finished_at, row.openid), (None, None));
}
