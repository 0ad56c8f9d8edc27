//! Three instances on one PostgreSQL database behind the project's nginx
//! site, under load, one of them killed and brought back: nothing answered
//! is lost, nothing undocumented is answered, a logout holds everywhere.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::common::nginx::start_nginx;
use crate::common::*;

const CLIENTS: usize = 50;
const RUN: Duration = Duration::from_secs(30);
const KILL_AT: Duration = Duration::from_secs(10);
const RESTART_AT: Duration = Duration::from_secs(20);

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

async fn wait_listening(port: u16) {
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no instance listens on {port}");
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

#[derive(Default)]
struct Tally {
    requests: u64,
    /// Documented failures by result code.
    refused: HashMap<i64, u64>,
    /// nginx's own answers (no envelope): the killed instance's requests.
    gateway: Vec<(u16, Duration)>,
    /// Anything else: must stay empty.
    wrong: Vec<String>,
    /// Sessions whose login was answered, with the refreshes answered.
    sessions: HashMap<String, i64>,
    /// Sessions whose refresh got no answer from wxauth (caught by the
    /// kill): it may or may not have been committed.
    unanswered: Vec<String>,
    logged_out: Vec<String>,
}

/// How one answer went.
enum Answer {
    Success(Value),
    /// A documented failure in the envelope.
    Refused,
    /// No answer from wxauth: nginx's own page for a request caught by the kill.
    Lost,
}

/// Sorts one answer into the tally.
async fn judge(
    tally: &Mutex<Tally>,
    started: Instant,
    what: &str,
    response: Result<reqwest::Response, reqwest::Error>,
) -> Answer {
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            tally.lock().unwrap().wrong.push(format!("{what}: {e}"));
            return Answer::Lost;
        }
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let mut tally = tally.lock().unwrap();
    tally.requests += 1;
    match serde_json::from_str::<Value>(&text) {
        Ok(body) if body["result_code"] == 0 && status == 200 => Answer::Success(body),
        Ok(body) => {
            let code = body["result_code"].as_i64().unwrap_or(0);
            let documented = wxauth::error::codes::ALL
                .iter()
                .any(|c| i64::from(c.code) == code && c.statuses.contains(&status));
            if documented && status != 500 {
                *tally.refused.entry(code).or_default() += 1;
            } else {
                tally.wrong.push(format!("{what}: HTTP {status} {text}"));
            }
            Answer::Refused
        }
        Err(_) if status == 502 || status == 504 => {
            tally.gateway.push((status, started.elapsed()));
            Answer::Lost
        }
        Err(_) => {
            tally.wrong.push(format!("{what}: HTTP {status} {text}"));
            Answer::Lost
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
    for port in ports {
        wait_listening(port).await;
    }
    let upstreams: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let (_nginx, _, https_port) = start_nginx(dir.path(), &upstreams).await;
    let base = format!("https://127.0.0.1:{https_port}/api/v1.0/auth");
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // The instances see each other before the load starts.
    tokio::time::sleep(wxauth::peers::HEARTBEAT * 3).await;

    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, base, tally) = (http.clone(), base.clone(), tally.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while started.elapsed() < RUN {
                    n += 1;
                    let login = http
                        .post(format!("{base}/authorize"))
                        .json(&json!({ "code": format!("scale-{client}-{n}") }))
                        .send()
                        .await;
                    let Answer::Success(login) = judge(&tally, started, "authorize", login).await
                    else {
                        continue;
                    };
                    let token = login["data"]["token"].as_str().unwrap().to_string();
                    let refresh_token = login["data"]["refresh_token"].as_str().unwrap();
                    let sid = sid_of(&token);
                    tally.lock().unwrap().sessions.insert(sid.clone(), 0);
                    for path in ["status", "user"] {
                        let r = http
                            .get(format!("{base}/{path}"))
                            .bearer_auth(&token)
                            .send()
                            .await;
                        judge(&tally, started, path, r).await;
                    }
                    let r = http
                        .post(format!("{base}/refresh"))
                        .json(&json!({ "refresh_token": refresh_token }))
                        .send()
                        .await;
                    let mut tokens = vec![token.clone()];
                    match judge(&tally, started, "refresh", r).await {
                        Answer::Success(pair) => {
                            *tally.lock().unwrap().sessions.get_mut(&sid).unwrap() += 1;
                            tokens.push(pair["data"]["token"].as_str().unwrap().to_string());
                        }
                        Answer::Lost => tally.lock().unwrap().unanswered.push(sid.clone()),
                        Answer::Refused => {}
                    }
                    if n % 2 == 0 {
                        let r = http
                            .post(format!("{base}/logout"))
                            .bearer_auth(tokens.last().unwrap())
                            .send()
                            .await;
                        if let Answer::Success(_) = judge(&tally, started, "logout", r).await {
                            tally.lock().unwrap().logged_out.extend(tokens);
                        }
                    }
                }
            })
        })
        .collect();

    tokio::time::sleep(KILL_AT).await;
    instances.0[1].kill().unwrap();
    instances.0[1].wait().unwrap();
    tokio::time::sleep(RESTART_AT - KILL_AT).await;
    instances.0[1] = start_instance(dir.path(), ports[1], &db.url, &mock.url);
    wait_listening(ports[1]).await;
    for client in clients {
        client.await.unwrap();
    }

    let tally = std::mem::take(&mut *tally.lock().unwrap());
    eprintln!(
        "scale-out: {} requests, {} sessions, {} logged out, refused {:?}, nginx answered {} (at {:?})",
        tally.requests,
        tally.sessions.len(),
        tally.logged_out.len(),
        tally.refused,
        tally.gateway.len(),
        tally.gateway.iter().map(|(s, t)| (*s, t.as_millis())).collect::<Vec<_>>(),
    );
    assert!(
        tally.wrong.is_empty(),
        "undocumented answers: {:#?}",
        tally.wrong
    );
    assert!(
        tally.requests > 1_000,
        "too little load: {}",
        tally.requests
    );
    // nginx answers by itself only for requests caught by the kill.
    for (status, at) in &tally.gateway {
        assert!(
            *at >= KILL_AT && *at < KILL_AT + Duration::from_secs(3),
            "nginx answered {status} at {at:?}"
        );
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
