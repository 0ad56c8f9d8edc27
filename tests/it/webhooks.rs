//! Webhooks (SPEC §8): every event of the flows reaches a receiver that fails
//! its first attempts, signed, exactly once after de-duplication by id; the
//! endpoints' event filters; no redirect followed; and an event committed
//! just before a SIGKILL is delivered after the restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{post, routes, State};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::admin_api::{admin_post, make_key};
use crate::admin_sign_in::{csrf_in, signed_in, ADMIN, ADMIN_PASSWORD};
use crate::both_backends;
use crate::common::waiting::eventually;
use crate::common::*;
use reqwest::StatusCode;
use wxauth::db::webhook_outbox::{self, OutboxRow};

const SECRET: &str = "whsec_test_0123456789";

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Delivery {
    signature: String,
    body: String,
}

/// A webhook receiver: records every request; answers 500 to the first
/// `fail_first` attempts of each event id, or a redirect when told to.
#[derive(Default)]
struct Inbox {
    fail_first: usize,
    redirect: bool,
    seen: Mutex<Vec<Delivery>>,
    attempts: Mutex<HashMap<String, usize>>,
    redirected_to: Mutex<usize>,
}

struct Signature(String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Signature {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Success(Signature(
            req.headers()
                .get_one("Wxauth-Signature")
                .unwrap_or_default()
                .to_string(),
        ))
    }
}

#[post("/hook", data = "<body>")]
fn hook(
    inbox: &State<Arc<Inbox>>,
    signature: Signature,
    body: String,
) -> Result<Status, Box<rocket::response::Redirect>> {
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    inbox.seen.lock().unwrap().push(Delivery {
        signature: signature.0,
        body,
    });
    if inbox.redirect {
        return Err(Box::new(rocket::response::Redirect::found("/elsewhere")));
    }
    let mut attempts = inbox.attempts.lock().unwrap();
    let n = attempts.entry(id).or_default();
    *n += 1;
    Ok(if *n <= inbox.fail_first {
        Status::InternalServerError
    } else {
        Status::Ok
    })
}

/// Answers after 6 s: longer than a delivery waits.
#[post("/slow")]
async fn slow(inbox: &State<Arc<Inbox>>) -> Status {
    *inbox.redirected_to.lock().unwrap() += 1;
    tokio::time::sleep(Duration::from_secs(6)).await;
    Status::Ok
}

#[post("/elsewhere")]
fn elsewhere(inbox: &State<Arc<Inbox>>) -> Status {
    *inbox.redirected_to.lock().unwrap() += 1;
    Status::Ok
}

/// A client that follows a 302 comes back with a GET: counted as well.
#[rocket::get("/elsewhere")]
fn elsewhere_get(inbox: &State<Arc<Inbox>>) -> Status {
    elsewhere(inbox)
}

async fn receiver(inbox: Inbox, port: u16) -> (String, Arc<Inbox>, rocket::Shutdown) {
    let inbox = Arc::new(inbox);
    let figment = rocket::Config::figment()
        .merge(("port", port))
        .merge(("address", "127.0.0.1"))
        .merge(("log_level", "off"));
    let rocket = rocket::custom(figment)
        .manage(inbox.clone())
        .mount("/", routes![hook, elsewhere, elsewhere_get, slow]);
    let (url, shutdown) = launch(rocket).await;
    (format!("{url}/hook"), inbox, shutdown)
}

/// The signature checked as a receiver would, per the README.
fn verify(delivery: &Delivery) -> Value {
    let (t, v1) = delivery
        .signature
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature header {:?}", delivery.signature));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", delivery.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected, "signature of {}", delivery.body);
    let t: i64 = t.parse().unwrap();
    assert!((wxauth::timestamp::now() - t).abs() < 24 * 3600 + 600);
    serde_json::from_str(&delivery.body).unwrap()
}

/// The distinct events received, by id.
fn events(inbox: &Inbox) -> HashMap<String, Value> {
    inbox
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|d| {
            let event = verify(d);
            (event["id"].as_str().unwrap().to_string(), event)
        })
        .collect()
}

/// Every outbox row, oldest first.
fn outbox(db: &TestDb) -> Vec<OutboxRow> {
    let mut rows = webhook_outbox::recent(&mut db.conn(), false, 1000).unwrap();
    rows.reverse();
    rows
}

/// Delivered or given up: the worker never takes such a row again.
fn finished(row: &OutboxRow) -> bool {
    row.delivered_at.is_some() || row.failed_at.is_some()
}

/// Moves the server's clock past each backoff until the worker is done with
/// every outbox row; the rows.
async fn until_all_finished(app: &TestApp, what: &str) -> Vec<OutboxRow> {
    eventually(what, || {
        let done = outbox(&app.db).iter().all(finished);
        if !done {
            app.clock.advance(Duration::from_secs(40));
        }
        done
    })
    .await;
    outbox(&app.db)
}

/// How many attempts each row had, by event id.
fn attempts_by_event(rows: &[OutboxRow]) -> HashMap<String, usize> {
    rows.iter()
        .map(|r| (r.event_id.clone(), r.attempts as usize))
        .collect()
}

both_backends!(
    every_event_arrives_once_after_retries,
    endpoints_get_only_their_events
);

async fn every_event_arrives_once_after_retries(backend: Backend) {
    let (hook_url, inbox, _stop) = receiver(
        Inbox {
            fail_first: 2,
            ..Inbox::default()
        },
        0,
    )
    .await;
    let app = spawn_app_with(backend, |o| {
        o.with(
            "webhooks",
            json!([{ "url": hook_url, "secret": SECRET, "events": ["*"] }]),
        )
    })
    .await;
    let key = make_key(&app.db, "ops", "write");

    let first = app.login("hana").await; // user.created, session.created
    let user = first.user_id();
    let second = app.login("hana").await; // session.created
    app.post_with_token("user", &first.token(), json!({ "nickName": "Hana" }))
        .await
        .expect(0, 200); // user.updated
                         // A login that brings a new nickname: session.created, user.updated.
    app.post("authorize", json!({ "code": "hana", "nickName": "Hana B" }))
        .await
        .expect(0, 200);
    app.post_with_token("logout", &first.token(), json!({}))
        .await
        .expect(0, 200); // session.ended (logout)
                         // A refresh token spent twice after the grace: session.ended (refresh_reuse).
    let third = app.login("hana").await; // session.created
    app.post("refresh", json!({ "refresh_token": third.refresh_token() }))
        .await
        .expect(0, 200);
    app.clock.advance(Duration::from_secs(11));
    app.post("refresh", json!({ "refresh_token": third.refresh_token() }))
        .await
        .expect(-502, 401);
    // Ban ends the second session; then unban.
    admin_post(
        &app,
        &key,
        &format!("users/{user}/ban"),
        Some(json!({ "reason": "spam" })),
    )
    .await
    .expect(0, 200); // user.banned, session.ended (ban)
    admin_post(&app, &key, &format!("users/{user}/unban"), None)
        .await
        .expect(0, 200); // user.unbanned
    let expected = 13;

    // Each event is refused twice; the server's clock moves past the backoffs.
    let rows = until_all_finished(&app, "every event delivered or given up").await;
    assert_eq!(rows.len(), expected, "{rows:?}");
    assert!(rows.iter().all(|r| r.delivered_at.is_some()), "{rows:?}");
    let got = events(&inbox);
    let mut types: Vec<(String, String)> = got
        .values()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["data"]["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    types.sort();
    let want = [
        ("session.created", ""),
        ("session.created", ""),
        ("session.created", ""),
        ("session.created", ""),
        ("session.ended", "ban"),
        ("session.ended", "ban"),
        ("session.ended", "logout"),
        ("session.ended", "refresh_reuse"),
        ("user.banned", "spam"),
        ("user.created", ""),
        ("user.unbanned", ""),
        ("user.updated", ""),
        ("user.updated", ""),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(types, want);
    // Three attempts per event: two refused, one taken; then no more, an
    // hour later either. One more event after that hour takes three rounds
    // of the worker, each of which would also take any older row due again;
    // once it is delivered, any such extra attempt has reached the receiver.
    app.clock.advance(Duration::from_secs(3600));
    app.login("hana").await; // session.created
    let rows = until_all_finished(&app, "the event after the hour delivered").await;
    assert_eq!(rows.len(), expected + 1, "{rows:?}");
    assert!(rows.iter().all(|r| r.delivered_at.is_some()), "{rows:?}");
    let attempts = inbox.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), expected + 1);
    assert!(attempts.values().all(|n| *n == 3), "{attempts:?}");
    assert_eq!(attempts, attempts_by_event(&rows));
    // The data say what happened.
    let created = got.values().find(|e| e["type"] == "user.created").unwrap();
    assert_eq!(created["data"]["user"]["id"], user);
    assert_eq!(created["data"]["user"]["appid"], APP_ID);
    let mut nicknames: Vec<&str> = got
        .values()
        .filter(|e| e["type"] == "user.updated")
        .map(|e| e["data"]["user"]["nickname"].as_str().unwrap())
        .collect();
    nicknames.sort();
    assert_eq!(nicknames, ["Hana", "Hana B"]);
    let ended: Vec<&Value> = got
        .values()
        .filter(|e| e["type"] == "session.ended" && e["data"]["reason"] == "ban")
        .collect();
    let sid = crate::tokens::claims_of(&second.token())["sid"].clone();
    assert!(ended.iter().any(|e| e["data"]["session_id"] == sid));
    assert!(got.values().all(|e| e["created_at"].is_string()));

    // The README's signature checks, in Node and Python, on a real delivery
    // and on the same body changed by one character.
    let delivery = inbox.seen.lock().unwrap()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    let bad = dir.path().join("bad.json");
    std::fs::write(&good, &delivery.body).unwrap();
    std::fs::write(&bad, delivery.body.replacen("\"id\"", "\"Id\"", 1)).unwrap();
    let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/webhooks");
    for (program, script) in [("node", "verify.js"), ("python3", "verify.py")] {
        let check = |file: &std::path::Path| {
            let out = std::process::Command::new(program)
                .arg(format!("{docs}/{script}"))
                .args([SECRET, delivery.signature.as_str()])
                .arg(file)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_lowercase()
        };
        assert_eq!(check(&good), "true", "{script}");
        assert_eq!(check(&bad), "false", "{script}");
    }
}

async fn endpoints_get_only_their_events(backend: Backend) {
    let (ended_url, ended, _a) = receiver(Inbox::default(), 0).await;
    let (created_url, created, _b) = receiver(Inbox::default(), 0).await;
    let (redirect_url, redirected, _c) = receiver(
        Inbox {
            redirect: true,
            ..Inbox::default()
        },
        0,
    )
    .await;
    let app = spawn_app_with(backend, |o| {
        o.with(
            "webhooks",
            json!([
                { "url": ended_url, "secret": SECRET, "events": ["session.ended"] },
                { "url": created_url, "secret": SECRET, "events": ["user.created"] },
                { "url": redirect_url, "secret": SECRET, "events": ["user.created"] },
            ]),
        )
    })
    .await;
    let s = app.login("ines").await;
    app.post_with_token("logout", &s.token(), json!({}))
        .await
        .expect(0, 200);
    // Every row written is done with, or (the redirected one) has the
    // answer to its first attempt recorded: written after the answer, so
    // after any redirect that would have been followed.
    let redirect_row = || {
        let rows: Vec<OutboxRow> = outbox(&app.db)
            .into_iter()
            .filter(|r| r.endpoint == redirect_url)
            .collect();
        assert_eq!(rows.len(), 1, "{rows:?}");
        rows[0].clone()
    };
    eventually("each endpoint's deliveries attempted", || {
        outbox(&app.db)
            .iter()
            .all(|r| finished(r) || (r.endpoint == redirect_url && r.last_answer.is_some()))
    })
    .await;
    let ended = events(&ended);
    let created = events(&created);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended.values().next().unwrap()["type"], "session.ended");
    assert_eq!(created.len(), 1);
    assert_eq!(created.values().next().unwrap()["type"], "user.created");
    // A redirect is a failed attempt, not followed.
    assert_eq!(redirected.seen.lock().unwrap().len(), 1);
    assert_eq!(*redirected.redirected_to.lock().unwrap(), 0);
    let rows = webhook_outbox::recent(&mut app.db.conn(), true, 10).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].last_status, Some(302));
    assert!(rows[0]
        .last_answer
        .as_deref()
        .unwrap()
        .starts_with("HTTP 302"));

    // The console shows it among the failing ones and sends it again.
    let browser = signed_in(&app).await;
    let (_, _, all) = browser.get("/admin/webhooks").await;
    assert_eq!(all.matches("<tr>").count(), 1 + 3, "{all}");
    let (_, _, failing) = browser.get("/admin/webhooks?failed=1").await;
    assert_eq!(failing.matches("<tr>").count(), 1 + 1, "{failing}");
    assert!(failing.contains("HTTP 302"), "{failing}");
    assert!(failing.contains("retrying"), "{failing}");
    let retry = format!("/admin/webhooks/{}/retry", rows[0].id);
    assert!(failing.contains(&retry));
    let (status, _, _) = browser.post(&retry, &[("csrf_token", "nope")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Given up (the clock past its 24 hours of retries), the event is sent
    // only when the console says so: the next attempt can be the console's
    // alone.
    app.clock.advance(Duration::from_secs(24 * 3600));
    eventually("the redirected event given up", || {
        redirect_row().failed_at.is_some()
    })
    .await;
    let before = redirect_row().attempts;
    assert_eq!(redirected.seen.lock().unwrap().len(), before as usize);
    // The console session has ended with the day.
    let (status, _, body) = browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let (_, _, failing) = browser.get("/admin/webhooks?failed=1").await;
    assert!(failing.contains("failed (given up)"), "{failing}");
    let (status, headers, _) = browser
        .post(&retry, &[("csrf_token", &csrf_in(&failing))])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/webhooks?done=retry");
    // Audited: who sent which delivery again.
    let audited = {
        use diesel::prelude::*;
        use wxauth::db::schema::audit_events;
        audit_events::table
            .filter(audit_events::kind.eq("webhook_retry"))
            .select((audit_events::actor, audit_events::detail))
            .load::<(Option<String>, Option<String>)>(&mut app.db.conn())
            .unwrap()
    };
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0].0.as_deref(), Some(ADMIN));
    let detail = audited[0].1.clone().unwrap_or_default();
    assert!(
        detail.contains(&format!("delivery {}", rows[0].id)) && detail.contains("/hook"),
        "{detail}"
    );
    eventually("the console's attempt recorded", || {
        let row = redirect_row();
        row.attempts > before && row.leased_until.is_none()
    })
    .await;
    assert_eq!(redirect_row().attempts, before + 1);
    assert_eq!(
        redirected.seen.lock().unwrap().len(),
        before as usize + 1,
        "one request per attempt"
    );
    assert_eq!(*redirected.redirected_to.lock().unwrap(), 0);
    let (status, _, _) = browser
        .post(
            "/admin/webhooks/999999/retry",
            &[("csrf_token", &csrf_in(&failing))],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_before_a_sigkill_is_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("hooks.sqlite").display().to_string();
    // Nothing listens there yet.
    let port = free_port();
    let hooks = format!(
        "[{{url=\"http://127.0.0.1:{port}/hook\",secret=\"{SECRET}\",events=[\"user.created\"]}}]"
    );
    let envs = [("ROCKET_WEBHOOKS", hooks.as_str())];
    let (mut server, url, _, _) =
        crate::cli::start_server_with(&db_path, dir.path(), "info", &envs);
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{url}/api/v1.0/auth/authorize"))
        .json(&json!({ "code": "kill-me" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    // The answered login's event is committed; the process dies at once.
    server.kill().unwrap();
    server.wait().unwrap();

    let (_, inbox, _stop) = receiver(Inbox::default(), port).await;
    let (mut server, _, _, _) = crate::cli::start_server_with(&db_path, dir.path(), "info", &envs);
    // Due at once, or after the first failed attempt's 10-second backoff, or
    // (killed in the middle of that attempt) once its 20-second lease ends:
    // on this process's real clock. The server is stopped before a hang fails
    // the test.
    let arrived = tokio::time::timeout(HANG_GUARD, async {
        while inbox.seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        arrived,
        "hang: no delivery after the restart in {HANG_GUARD:?}"
    );
    let got = events(&inbox);
    assert_eq!(got.len(), 1);
    assert_eq!(got.values().next().unwrap()["type"], "user.created");
}

/// Two instances on one PostgreSQL database, both delivering: each event is
/// sent by one of them, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_event_once() {
    let (hook_url, inbox, _stop) = receiver(Inbox::default(), 0).await;
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let options = || {
        Options::new(&db, &mock).with(
            "webhooks",
            json!([{ "url": hook_url, "secret": SECRET, "events": ["*"] }]),
        )
    };
    let a = spawn_with(db.clone(), mock.clone(), options()).await;
    let b = spawn_with(db.clone(), mock.clone(), options()).await;
    for i in 0..20 {
        let app = if i % 2 == 0 { &a } else { &b };
        app.login(&format!("twin-{i}")).await;
    }
    // Once every row is delivered neither instance takes it again; each
    // lease counts an attempt before its request, so a row both instances
    // took shows two even if the second request is still on its way.
    // (Both clocks left alone: one instance ahead would see the other's
    // leases as expired.)
    eventually("every event delivered", || outbox(&db).iter().all(finished)).await;
    let rows = outbox(&db);
    assert_eq!(rows.len(), 40, "20 user.created and 20 session.created");
    assert!(rows.iter().all(|r| r.delivered_at.is_some()), "{rows:?}");
    assert!(rows.iter().all(|r| r.attempts == 1), "{rows:?}");
    let seen = inbox.seen.lock().unwrap().len();
    assert_eq!(seen, 40, "each event once");
    assert_eq!(events(&inbox).len(), 40);
}

/// A receiver slower than 5 s is a failed attempt, recorded as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_is_a_failed_attempt() {
    let (hook_url, inbox, _stop) = receiver(Inbox::default(), 0).await;
    let slow_url = hook_url.replace("/hook", "/slow");
    let app = spawn_app_with(Backend::Sqlite, |o| {
        o.with(
            "webhooks",
            json!([{ "url": slow_url, "secret": SECRET, "events": ["user.created"] }]),
        )
    })
    .await;
    app.login("tortoise").await;
    // The attempt's outcome is written once the client gives up waiting.
    eventually("the slow attempt recorded", || {
        outbox(&app.db).iter().all(|r| r.last_answer.is_some())
    })
    .await;
    let rows = webhook_outbox::recent(&mut app.db.conn(), true, 10).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].last_answer.as_deref(), Some("no answer within 5 s"));
    assert_eq!(rows[0].delivered_at, None);
    assert_eq!(*inbox.redirected_to.lock().unwrap(), 1);
}
