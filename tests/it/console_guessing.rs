//! Console sign-in guessing (SPEC §12): failures count per IPv6 /64, and a
//! name's failures from anywhere hold its next answers back one at a time
//! by a growing delay — which slows a pool of addresses without ever
//! locking the owner out. The delays are real (0.5 s, 1 s, 2 s…): the
//! checks are lower bounds on them and the queue the database keeps, never
//! an upper bound on time.

use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::StatusCode;

use crate::admin_sign_in::{create_admin, Browser, ADMIN, ADMIN_PASSWORD};
use crate::both_backends;
use crate::common::*;

both_backends!(
    failures_count_per_64_for_ipv6,
    a_names_failures_hold_its_answers_back_one_at_a_time,
);

async fn spawn(backend: Backend) -> TestApp {
    let app = spawn_app_with(backend, |o| o.with("ip_header", "X-Real-IP")).await;
    create_admin(&app.db, ADMIN, ADMIN_PASSWORD);
    app
}

async fn attempt(app: &TestApp, ip: &str, username: &str, password: &str) -> (StatusCode, String) {
    let (status, _, body) = Browser::from_address(app, ip)
        .sign_in(username, password)
        .await;
    (status, body)
}

/// When the name's latest held-back answer is due (Unix ms).
fn answer_at(db: &TestDb) -> Option<i64> {
    use diesel::prelude::*;
    use wxauth::db::schema::admin_signin_delays;
    admin_signin_delays::table
        .find(ADMIN)
        .select(admin_signin_delays::answer_at_ms)
        .get_result(&mut db.conn())
        .optional()
        .unwrap()
}

async fn failures_count_per_64_for_ipv6(backend: Backend) {
    let app = spawn(backend).await;
    // Five failures from five addresses of one /64 (lockout_attempts is 5).
    for k in 1..=5 {
        let (status, _) =
            attempt(&app, &format!("2001:db8:1:2::{k}"), ADMIN, "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.db.count(
            "audit_events WHERE kind = 'admin_login_failed' AND detail = '2001:db8:1:2::/64'"
        ),
        5
    );
    // A sixth address of the same /64 is that network: refused, even with
    // the right password.
    let (status, body) = attempt(&app, "2001:db8:1:2:abcd::99", ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Another /64 is another subscriber: the owner signs in.
    let (status, body) = attempt(&app, "2001:db8:1:3::1", ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    // One /64 trying many names meets the network's ceiling (four times the
    // name's): twenty failures, then every name is refused from it.
    for k in 1..=20 {
        let (status, _) = attempt(
            &app,
            &format!("2001:db8:9:9::{k:x}"),
            &format!("name{k}"),
            "x",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {k}");
    }
    let (status, _) = attempt(&app, "2001:db8:9:9:1:2:3:4", ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = attempt(&app, "2001:db8:9:a::1", "name1", "x").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the next /64 is not refused"
    );
}

async fn a_names_failures_hold_its_answers_back_one_at_a_time(backend: Backend) {
    let app = spawn(backend).await;
    // The owner's own browser signed in before: it is not held back.
    let owners = Browser::from_address(&app, "198.51.100.200");
    let (status, _, _) = owners.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, headers, page) = owners.get("/admin").await;
    assert_eq!(status, StatusCode::OK, "{headers:?} {page}");
    let csrf = crate::admin_sign_in::csrf_in(&page);
    owners.post("/admin/logout", &[("csrf_token", &csrf)]).await;

    // Three failures, from three networks: answered at once.
    for k in 1..=3 {
        let (status, _) = attempt(&app, &format!("198.51.100.{k}"), ADMIN, "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(answer_at(&app.db), None, "nothing held back yet");

    // Three more at once, from three more networks: answered one at a
    // time, 0.5 s, then 1 s, then 2 s after the one before.
    let before_ms = app.clock.now_ms();
    let started = Instant::now();
    let guesses: FuturesUnordered<_> = (4..=6)
        .map(|k| {
            let app = &app;
            async move {
                let answer =
                    attempt(app, &format!("198.51.100.{k}"), ADMIN, "wrong password").await;
                (answer.0, started.elapsed().as_millis() as i64)
            }
        })
        .collect();
    let answered: Vec<(StatusCode, i64)> = guesses.collect().await;
    let mut times: Vec<i64> = answered
        .iter()
        .map(|(status, at)| {
            assert_eq!(*status, StatusCode::UNAUTHORIZED);
            *at
        })
        .collect();
    times.sort();
    for (at, due) in times.iter().zip([500, 1_500, 3_500]) {
        assert!(
            *at >= due,
            "answered after {at} ms, not before {due}: {times:?}"
        );
    }
    let queued = answer_at(&app.db).expect("the name's queue");
    assert!(queued >= before_ms + 3_500, "{queued} vs {before_ms}");

    // The owner's browser is not held back: it does not join the queue.
    let (status, _, _) = owners.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(answer_at(&app.db), Some(queued));
    // Nor is anyone locked out: the right password from a new browser on
    // a new network gets in, after its turn (4 s).
    let started = Instant::now();
    let (status, body) = attempt(&app, "198.51.100.7", ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert!(started.elapsed().as_millis() >= 3_000, "held back its turn");

    // A new password makes the device cookie a stranger's: held back.
    let hash = wxauth::admin::password::hash(ADMIN_PASSWORD).unwrap();
    assert!(wxauth::db::admins::set_password(&mut app.db.conn(), ADMIN, &hash, 0).unwrap());
    let (_, _, page) = owners.get("/admin").await;
    let csrf = crate::admin_sign_in::csrf_in(&page);
    owners.post("/admin/logout", &[("csrf_token", &csrf)]).await;
    let queued = answer_at(&app.db);
    let (status, _, _) = owners.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_ne!(answer_at(&app.db), queued, "it took a turn");

    // A flood does not queue for ever: beyond 30 s of queue, an attempt is
    // refused at once, and its answer says when to try again.
    let mut flood: FuturesUnordered<_> = (10..=20)
        .map(|k| {
            let app = &app;
            async move { attempt(app, &format!("198.51.100.{k}"), ADMIN, "wrong password").await }
        })
        .collect();
    loop {
        let (status, body) = flood.next().await.expect("a refusal before the flood ends");
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                body.contains("Too many sign-ins for this name right now"),
                "{body}"
            );
            break;
        }
    }
}
