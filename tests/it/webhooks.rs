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
use crate::admin_sign_in::{csrf_in, signed_in};
use crate::both_backends;
use crate::common::*;
use reqwest::StatusCode;

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

async fn receiver(inbox: Inbox, port: u16) -> (String, Arc<Inbox>, rocket::Shutdown) {
    let inbox = Arc::new(inbox);
    let figment = rocket::Config::figment()
        .merge(("port", port))
        .merge(("address", "127.0.0.1"))
        .merge(("log_level", "off"));
    let rocket = rocket::custom(figment)
        .manage(inbox.clone())
        .mount("/", routes![hook, elsewhere, slow]);
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

    // Each attempt fails twice; the server's clock moves past the backoff.
    let mut got = HashMap::new();
    for _ in 0..100 {
        got = events(&inbox);
        let done = inbox
            .attempts
            .lock()
            .unwrap()
            .values()
            .filter(|n| **n > 2)
            .count();
        if got.len() == expected && done == expected {
            break;
        }
        app.clock.advance(Duration::from_secs(40));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    // Three attempts per event: two refused, one taken; then no more.
    tokio::time::sleep(Duration::from_millis(600)).await;
    app.clock.advance(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let attempts = inbox.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), expected);
    assert!(attempts.values().all(|n| *n == 3), "{attempts:?}");
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
    for _ in 0..50 {
        if events(&ended).len() == 1
            && events(&created).len() == 1
            && !redirected.seen.lock().unwrap().is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ended = events(&ended);
    let created = events(&created);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended.values().next().unwrap()["type"], "session.ended");
    assert_eq!(created.len(), 1);
    assert_eq!(created.values().next().unwrap()["type"], "user.created");
    // A redirect is a failed attempt, not followed.
    assert_eq!(redirected.seen.lock().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*redirected.redirected_to.lock().unwrap(), 0);
    let db = wxauth::db::Db::connect(&app.db.url, 1).unwrap();
    let rows = db
        .run(|conn| Ok(wxauth::db::webhook_outbox::recent(conn, true, 10)?))
        .await
        .unwrap();
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
    let before = redirected.seen.lock().unwrap().len();
    let (status, headers, _) = browser
        .post(&retry, &[("csrf_token", &csrf_in(&failing))])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/webhooks?done=retry");
    for _ in 0..50 {
        if redirected.seen.lock().unwrap().len() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(redirected.seen.lock().unwrap().len(), before + 1);
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
    // (killed in the middle of that attempt) once its 20-second lease ends.
    for _ in 0..400 {
        if !inbox.seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
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
    for _ in 0..100 {
        if inbox.seen.lock().unwrap().len() >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = inbox.seen.lock().unwrap().len();
    assert_eq!(
        seen, 40,
        "20 user.created and 20 session.created, each once"
    );
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
    let db = wxauth::db::Db::connect(&app.db.url, 1).unwrap();
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = db
            .run(|conn| Ok(wxauth::db::webhook_outbox::recent(conn, true, 10)?))
            .await
            .unwrap();
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].last_answer.as_deref(), Some("no answer within 5 s"));
    assert_eq!(rows[0].delivered_at, None);
    assert_eq!(*inbox.redirected_to.lock().unwrap(), 1);
}
