//! Three instances on one PostgreSQL database behind the project's nginx
//! site, under load, one of them killed and brought back: nothing answered
//! is lost, nothing undocumented is answered, the load is served (logins and
//! refreshes succeed, refusals are rare outside the kill), a logout holds
//! everywhere.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::common::nginx::start_nginx;
use crate::common::*;

const CLIENTS: usize = 50;
/// The load's schedule (not what is checked): three instances, then two
/// from the kill, then three again once the restarted one is ready.
const KILL_AT: Duration = Duration::from_secs(10);
const RESTART_AFTER: Duration = Duration::from_secs(10);
const LOAD_AFTER_RESTART: Duration = Duration::from_secs(10);
/// Successful logins and refreshes the load must at least make (each round
/// of a client is a login, two reads, a refresh and every other time a
/// logout; on 2 busy cores the suite's run makes several times this).
const FLOOR: usize = 150;
/// Refusals allowed outside the kill window, in per cent of the answers.
const REFUSED_MAX_PERCENT: usize = 2;

fn start_instance(dir: &std::path::Path, port: u16, db_url: &str, mock_url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wxauth"))
        .current_dir(dir)
        .env("ROCKET_CONFIG", dir.join("absent.toml"))
        .env("ROCKET_PROFILE", "debug")
        .env("ROCKET_ADDRESS", "127.0.0.1")
        .env("ROCKET_PORT", port.to_string())
        .env("ROCKET_DATABASE_URL", db_url)
        // The suite's other tests share PostgreSQL's 100 connections.
        .env("ROCKET_DATABASE_POOL_SIZE", "4")
        .env("ROCKET_JWT_SECRET", JWT_SECRET)
        .env("ROCKET_SESSION_KEY_SECRET", SESSION_KEY_SECRET)
        .env(
            "ROCKET_WECHAT",
            format!("{{api_base=\"{mock_url}\",apps=[{{appid=\"{APP_ID}\",secret=\"s\"}}]}}"),
        )
        .env("ROCKET_IP_HEADER", "X-Real-IP")
        .env(
            "ROCKET_RATE_LIMIT",
            "{authorize_per_minute=0,refresh_per_minute=0}",
        )
        .env("WXAUTH_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The instance processes, killed however the test ends (a failed
/// assertion included).
struct Instances(Vec<Child>);

impl Drop for Instances {
    fn drop(&mut self) {
        for instance in &mut self.0 {
            let _ = instance.kill();
            let _ = instance.wait();
        }
    }
}

/// Waits until the instance on `port` answers `/readyz` with 200.
async fn wait_ready(http: &reqwest::Client, port: u16) {
    wait_until(&format!("the instance on {port} ready"), || async {
        http.get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

/// The session id in an access token's claims.
fn sid_of(token: &str) -> String {
    let claims = token.split('.').nth(1).unwrap();
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .unwrap();
    let claims: Value = serde_json::from_slice(&claims).unwrap();
    claims["sid"].as_str().unwrap().to_string()
}

/// How one answer went.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    Success,
    /// A documented failure in the envelope, with its result code.
    Refused(i64),
    /// nginx's own answer (no envelope): a request caught by the kill.
    Gateway(u16),
}

/// One answer: what was asked, when it was sent and answered, how it went.
struct Record {
    what: &'static str,
    sent: Instant,
    answered: Instant,
    outcome: Outcome,
}

#[derive(Default)]
struct Tally {
    answers: Vec<Record>,
    /// Anything else: must stay empty.
    wrong: Vec<String>,
    /// Sessions whose login was answered, with the refreshes answered.
    sessions: HashMap<String, i64>,
    /// Sessions whose refresh got no answer from wxauth (caught by the
    /// kill): it may or may not have been committed.
    unanswered: Vec<String>,
    logged_out: Vec<String>,
}

/// How one answer went, with its body when it succeeded.
enum Answer {
    Success(Value),
    Refused,
    /// No answer from wxauth.
    Lost,
}

/// Sends `request` and sorts its answer into the tally.
async fn ask(tally: &Mutex<Tally>, what: &'static str, request: reqwest::RequestBuilder) -> Answer {
    let sent = Instant::now();
    let response = request.send().await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            tally.lock().unwrap().wrong.push(format!("{what}: {e}"));
            return Answer::Lost;
        }
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let answered = Instant::now();
    let mut tally = tally.lock().unwrap();
    let (outcome, answer) = match serde_json::from_str::<Value>(&text) {
        Ok(body) if body["result_code"] == 0 && status == 200 => {
            // A token just issued is authorized: `status` answers result
            // code 0 either way, its data tells.
            if what == "status" && body["data"]["is_authorized"] != 1 {
                tally
                    .wrong
                    .push(format!("{what}: a fresh token refused: {text}"));
            }
            (Outcome::Success, Answer::Success(body))
        }
        Ok(body) => {
            let code = body["result_code"].as_i64().unwrap_or(0);
            let documented = wxauth::error::codes::ALL
                .iter()
                .any(|c| i64::from(c.code) == code && c.statuses.contains(&status));
            if !documented || status == 500 {
                tally.wrong.push(format!("{what}: HTTP {status} {text}"));
                return Answer::Refused;
            }
            (Outcome::Refused(code), Answer::Refused)
        }
        Err(_) if status == 502 || status == 504 => (Outcome::Gateway(status), Answer::Lost),
        Err(_) => {
            tally.wrong.push(format!("{what}: HTTP {status} {text}"));
            return Answer::Lost;
        }
    };
    tally.answers.push(Record {
        what,
        sent,
        answered,
        outcome,
    });
    answer
}

/// One client's rounds until `stop`: log in, read, refresh, every other
/// time log out.
async fn client(
    client: usize,
    http: reqwest::Client,
    base: String,
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let login = http
            .post(format!("{base}/authorize"))
            .json(&json!({ "code": format!("scale-{client}-{n}") }));
        let Answer::Success(login) = ask(&tally, "authorize", login).await else {
            continue;
        };
        let token = login["data"]["token"].as_str().unwrap().to_string();
        let refresh_token = login["data"]["refresh_token"].as_str().unwrap();
        let sid = sid_of(&token);
        tally.lock().unwrap().sessions.insert(sid.clone(), 0);
        for path in ["status", "user"] {
            let read = http.get(format!("{base}/{path}")).bearer_auth(&token);
            ask(&tally, path, read).await;
        }
        let refresh = http
            .post(format!("{base}/refresh"))
            .json(&json!({ "refresh_token": refresh_token }));
        let mut tokens = vec![token.clone()];
        match ask(&tally, "refresh", refresh).await {
            Answer::Success(pair) => {
                *tally.lock().unwrap().sessions.get_mut(&sid).unwrap() += 1;
                tokens.push(pair["data"]["token"].as_str().unwrap().to_string());
            }
            Answer::Lost => tally.lock().unwrap().unanswered.push(sid.clone()),
            Answer::Refused => {}
        }
        if n % 2 == 0 {
            let logout = http
                .post(format!("{base}/logout"))
                .bearer_auth(tokens.last().unwrap());
            if let Answer::Success(_) = ask(&tally, "logout", logout).await {
                tally.lock().unwrap().logged_out.extend(tokens);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_nginx_lose_nothing_when_one_is_killed() {
    let db = TestDb::new(Backend::Postgres);
    let mock = Arc::new(MockWechat::spawn().await);
    let dir = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    // All at once on the fresh database: one applies the migrations while
    // the others wait for its lock.
    let mut instances = Instances(
        ports
            .iter()
            .map(|p| start_instance(dir.path(), *p, &db.url, &mock.url))
            .collect(),
    );
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for port in ports {
        wait_ready(&http, port).await;
    }
    let upstreams: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let (_nginx, _, https_port) = start_nginx(dir.path(), &upstreams).await;
    let base = format!("https://127.0.0.1:{https_port}/api/v1.0/auth");
    // The instances see each other before the load starts.
    wait_instances_see_each_other(&db, 3).await;

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(client(
                n,
                http.clone(),
                base.clone(),
                tally.clone(),
                stop.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(KILL_AT).await;
    let kill_started = Instant::now();
    instances.0[1].kill().unwrap();
    instances.0[1].wait().unwrap();
    let kill_done = Instant::now();
    tokio::time::sleep(RESTART_AFTER).await;
    instances.0[1] = start_instance(dir.path(), ports[1], &db.url, &mock.url);
    wait_ready(&http, ports[1]).await;
    let ready_again = Instant::now();
    tokio::time::sleep(LOAD_AFTER_RESTART).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        guarded("a client's last round", client).await.unwrap();
    }

    let tally = std::mem::take(&mut *tally.lock().unwrap());
    // The kill window: answered after the kill began, sent before the
    // restarted instance was ready.
    let in_window = |r: &Record| r.answered >= kill_started && r.sent <= ready_again;
    let count = |f: &dyn Fn(&Record) -> bool| tally.answers.iter().filter(|r| f(r)).count();
    let succeeded = |what: &str| count(&|r| r.what == what && r.outcome == Outcome::Success);
    let calm = count(&|r| !in_window(r));
    let mut refused_calm: HashMap<(&str, i64), usize> = HashMap::new();
    for r in tally.answers.iter().filter(|r| !in_window(r)) {
        if let Outcome::Refused(code) = r.outcome {
            *refused_calm.entry((r.what, code)).or_default() += 1;
        }
    }
    let gateway: Vec<(&str, u16, u128)> = tally
        .answers
        .iter()
        .filter_map(|r| match r.outcome {
            Outcome::Gateway(status) => Some((
                r.what,
                status,
                r.answered
                    .saturating_duration_since(kill_started)
                    .as_millis(),
            )),
            _ => None,
        })
        .collect();
    eprintln!(
        "scale-out: {} answers ({calm} outside the kill window), {} logins and {} refreshes \
         succeeded, {} logged out, refused outside the kill window {refused_calm:?}, \
         nginx answered (what, status, ms after the kill) {gateway:?}",
        tally.answers.len(),
        succeeded("authorize"),
        succeeded("refresh"),
        tally.logged_out.len(),
    );
    assert!(
        tally.wrong.is_empty(),
        "undocumented answers: {:#?}",
        tally.wrong
    );
    // The load was served: a test where every login failed fails here.
    assert!(
        succeeded("authorize") >= FLOOR && succeeded("refresh") >= FLOOR,
        "too few served: {} logins, {} refreshes",
        succeeded("authorize"),
        succeeded("refresh")
    );
    let refused: usize = refused_calm.values().sum();
    assert!(
        refused * 100 <= calm * REFUSED_MAX_PERCENT,
        "{refused} of {calm} answers outside the kill window refused: {refused_calm:?}"
    );
    // nginx answers by itself only for requests caught by the kill: sent
    // before the killed instance was gone, answered after it began to go.
    for r in &tally.answers {
        if let Outcome::Gateway(status) = r.outcome {
            assert!(
                r.sent <= kill_done && r.answered >= kill_started,
                "nginx answered {} with {status}, sent {:?} after the kill ended",
                r.what,
                r.sent.saturating_duration_since(kill_done)
            );
        }
    }
    // Every login answered is in the database, with exactly the refreshes
    // answered for it (each rotation once: at most one live refresh token);
    // a refresh whose answer the kill swallowed may have been committed.
    let stored: HashMap<String, i64> = {
        use diesel::prelude::*;
        use wxauth::db::schema::sessions::dsl as s;
        s::sessions
            .select((s::id, s::refresh_gen))
            .load::<(String, i64)>(&mut db.conn())
            .unwrap()
            .into_iter()
            .collect()
    };
    for (sid, refreshes) in &tally.sessions {
        let stored = stored.get(sid).copied();
        let lost = tally.unanswered.contains(sid);
        assert!(
            stored == Some(*refreshes) || (lost && stored == Some(refreshes + 1)),
            "session {sid}: {stored:?} rotations stored, {refreshes} answered"
        );
    }
    // A token logged out is refused by every instance, the restarted one too.
    for port in ports {
        for token in tally.logged_out.iter().step_by(7) {
            let r = http
                .get(format!("http://127.0.0.1:{port}/api/v1.0/auth/status"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["data"]["is_authorized"], 0, "on {port}");
        }
    }
    drop(instances);
}
