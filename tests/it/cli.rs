//! The `wxauth` binary: configuration refusal and `migrate`.

use std::process::Command;

use diesel::prelude::*;

use crate::common::*;

fn wxauth(envs: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxauth"));
    cmd.args(args).current_dir(dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("ROCKET_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("ROCKET_CONFIG", dir.path().join("absent.toml"));
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

const GOOD: [(&str, &str); 5] = [
    ("ROCKET_PROFILE", "release"),
    ("ROCKET_JWT_SECRET", JWT_SECRET),
    ("ROCKET_SESSION_KEY_SECRET", SESSION_KEY_SECRET),
    (
        "ROCKET_SECRET_KEY",
        "hPRYyVRiMyxpw5sBB1XeCMN1kFsDCqKvBi2QJxBVHQk=",
    ),
    (
        "ROCKET_WECHAT",
        "{apps=[{appid=\"wxprod\",secret=\"s3cret\"}]}",
    ),
];

/// Release start-up without `skip`, or with `extra` overriding: one clear line.
fn refusal(skip: &str, extra: &[(&str, &str)]) -> String {
    let mut envs: Vec<(&str, &str)> = GOOD.iter().copied().filter(|(k, _)| *k != skip).collect();
    envs.extend_from_slice(extra);
    envs.push(("ROCKET_DATABASE_URL", "x.sqlite"));
    let (code, _, stderr) = wxauth(&envs, &["migrate"]);
    assert_eq!(code, 1, "must refuse: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    lines[0].to_string()
}

#[test]
fn release_profile_refuses_to_start_without_what_it_needs() {
    assert!(refusal("ROCKET_JWT_SECRET", &[]).contains("jwt_secret is missing"));
    assert!(refusal("", &[("ROCKET_JWT_SECRET", "short")]).contains("jwt_secret is too weak"));
    assert!(refusal("ROCKET_SESSION_KEY_SECRET", &[]).contains("session_key_secret is missing"));
    assert!(refusal("", &[("ROCKET_SESSION_KEY_SECRET", "c2hvcnQ=")]).contains("32 bytes"));
    assert!(refusal("ROCKET_SECRET_KEY", &[]).contains("secret_key is missing"));
    assert!(refusal("ROCKET_WECHAT", &[]).contains("wechat.apps"));
    assert!(refusal("", &[("ROCKET_WECHAT_MOCK", "true")]).contains("wechat.mock"));
    // EdDSA asks for its private key instead of the secret.
    assert!(
        refusal("ROCKET_JWT_SECRET", &[("ROCKET_JWT_ALGORITHM", "EdDSA")])
            .contains("jwt_private_key is missing")
    );
}

#[test]
fn release_profile_with_eddsa_needs_no_jwt_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.sqlite");
    let key = dir.path().join("jwt.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHrs5Vgp6QlZQm2E/yzsMn879rIwapRHBK9HidHpCtAt\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let mut envs: Vec<(&str, &str)> = GOOD
        .iter()
        .copied()
        .filter(|(k, _)| *k != "ROCKET_JWT_SECRET")
        .collect();
    envs.push(("ROCKET_JWT_ALGORITHM", "EdDSA"));
    envs.push(("ROCKET_JWT_PRIVATE_KEY", key.to_str().unwrap()));
    envs.push(("ROCKET_DATABASE_URL", db.to_str().unwrap()));
    let (code, _, stderr) = wxauth(&envs, &["migrate"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn development_settings_serve_only_this_machine() {
    const PUBLIC_JWT_SECRET: &str = "dev-only-jwt-secret-change-me-0123456789";
    let dev_app = ("ROCKET_WECHAT", "{apps=[{appid=\"wxdev\",secret=\"s\"}]}");
    let mock = (
        "ROCKET_WECHAT",
        "{mock=true,apps=[{appid=\"wxdev\",secret=\"s\"}]}",
    );
    let debug = ("ROCKET_PROFILE", "debug");
    let anywhere = ("ROCKET_ADDRESS", "0.0.0.0");
    let db = ("ROCKET_DATABASE_URL", "x.sqlite");
    let one_line = |envs: &[(&str, &str)]| {
        let (code, _, stderr) = wxauth(envs, &["migrate"]);
        assert_eq!(code, 1, "must refuse: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        stderr
    };
    let line = one_line(&[debug, mock, anywhere, db]);
    assert!(
        line.contains("wechat.mock") && line.contains("127.0.0.1"),
        "{line}"
    );
    let line = one_line(&[
        debug,
        dev_app,
        ("ROCKET_JWT_SECRET", PUBLIC_JWT_SECRET),
        anywhere,
        db,
    ]);
    assert!(
        line.contains("jwt_secret is the public development one"),
        "{line}"
    );
    // IPv6 everywhere as well; loopback is fine, as are secrets of one's own.
    let line = one_line(&[debug, mock, ("ROCKET_ADDRESS", "::"), db]);
    assert!(line.contains("127.0.0.1"), "{line}");
    for ok in [
        vec![debug, mock, ("ROCKET_ADDRESS", "127.0.0.1"), db],
        vec![debug, mock, ("ROCKET_ADDRESS", "::1"), db],
        vec![
            debug,
            dev_app,
            ("ROCKET_JWT_SECRET", JWT_SECRET),
            anywhere,
            db,
        ],
    ] {
        let (code, _, stderr) = wxauth(&ok, &["migrate"]);
        assert_eq!(code, 0, "{ok:?}: {stderr}");
    }
    // The release profile never takes them, whatever the address.
    assert!(refusal("", &[("ROCKET_JWT_SECRET", PUBLIC_JWT_SECRET)])
        .contains("jwt_secret is the public development one"));
}

#[test]
fn migrate_creates_the_schema_with_release_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prod.sqlite").display().to_string();
    let url = format!("sqlite://{path}");
    let mut envs: Vec<(&str, &str)> = GOOD.to_vec();
    envs.push(("ROCKET_DATABASE_URL", &url));
    let (code, stdout, stderr) = wxauth(&envs, &["migrate"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("migrations are up to date"));
    assert!(std::path::Path::new(&path).exists());
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["mock-wechat", "--help"],
        &["admin", "list", "--help"],
        &["admin", "delete", "--help"],
        &["admin", "role", "--help"],
        &["apikey", "create", "--help"],
        &["config", "check", "--help"],
    ] {
        let (code, stdout, _) = wxauth(&[], args);
        assert_eq!(code, 0);
        assert!(stdout.contains("Usage"), "{args:?}: {stdout}");
    }
}

/// A child process that is killed when the test ends, passed or failed.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_wechat_serves_alone_on_the_port_it_is_given() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxauth"));
    cmd.args(["mock-wechat", "--port", &port.to_string()])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("ROCKET_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("ROCKET_CONFIG", dir.path().join("absent.toml"));
    let mut mock = Running(cmd.spawn().unwrap());
    // Ready once it says where it listens.
    let stdout = mock.0.stdout.take().unwrap();
    let announced = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let line = loop {
            let line = lines.next().expect("the mock announced itself").unwrap();
            if line.contains("mock WeChat listening on") {
                break line;
            }
        };
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        line
    })
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert!(announced.ends_with(&base), "{announced}");

    // A code exchanged over HTTP, as wxauth exchanges it: one stable openid
    // per code and app, a session_key of 16 bytes each time.
    let http = reqwest::Client::new();
    let exchange = |code: &str| {
        let request = http.get(format!(
            "{base}/sns/jscode2session?appid={APP_ID}&secret=s&js_code={code}&grant_type=authorization_code"
        ));
        async move {
            let answer: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            answer
        }
    };
    let first = exchange("alice").await;
    let again = exchange("alice").await;
    let other = exchange("bob").await;
    let alice = wxauth::wechat::mock::openid_for(APP_ID, "alice");
    assert_eq!(first["openid"], alice.as_str(), "{first}");
    assert_eq!(again["openid"], alice.as_str(), "{again}");
    assert_eq!(
        other["openid"],
        wxauth::wechat::mock::openid_for(APP_ID, "bob").as_str()
    );
    for answer in [&first, &again] {
        let key = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            answer["session_key"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(key.len(), 16, "{answer}");
    }

    // A server pointed at it logs users in through it.
    let db_path = dir.path().join("wxauth.sqlite").display().to_string();
    let wechat = format!("{{api_base=\"{base}\",apps=[{{appid=\"{APP_ID}\",secret=\"s\"}}]}}");
    let (server, url, _, _) =
        start_server_with(&db_path, dir.path(), "info", &[("ROCKET_WECHAT", &wechat)]);
    let server = Running(server);
    let login = send(
        http.post(format!("{url}/api/v1.0/auth/authorize"))
            .json(&serde_json::json!({ "code": "carol" })),
    )
    .await;
    login.expect(0, 200);
    let calls: serde_json::Value = http
        .get(format!("{base}/__mock/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["jscode2session"]["by_code"]["carol"], 1, "{calls}");
    drop(server);
    let mut conn = diesel::SqliteConnection::establish(&db_path).unwrap();
    use wxauth::db::schema::identities;
    let openid: String = identities::table
        .filter(identities::user_id.eq(login.user_id()))
        .select(identities::openid)
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(openid, wxauth::wechat::mock::openid_for(APP_ID, "carol"));
}

/// Starts `wxauth serve` on a free port with the built-in mock; returns the
/// child and its base URL.
fn start_server(
    db_path: &str,
    dir: &std::path::Path,
) -> (std::process::Child, String, Vec<String>) {
    let (child, url, before, _) = start_server_logging(db_path, dir, "info");
    (child, url, before)
}

/// A server's log lines after its address line, kept as they are written.
#[derive(Default)]
pub(crate) struct Log {
    lines: std::sync::Mutex<Vec<String>>,
    /// The output ended: the process is gone and all it wrote is in `lines`.
    ended: std::sync::atomic::AtomicBool,
}

pub(crate) type LogLines = std::sync::Arc<Log>;

/// How long a test waits for an event before calling it a hang.
const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(30);

impl Log {
    pub(crate) fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until some line satisfies `found`.
    pub(crate) async fn wait_for(&self, what: &str, found: impl Fn(&str) -> bool) {
        let started = std::time::Instant::now();
        while !self.lines.lock().unwrap().iter().any(|l| found(l)) {
            assert!(
                started.elapsed() < HANG_GUARD,
                "no log line {what}: {}",
                self.text()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Waits until the output has ended.
    async fn wait_for_end(&self) {
        let started = std::time::Instant::now();
        while !self.ended.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(started.elapsed() < HANG_GUARD, "the log never ended");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Stops `server` with SIGTERM, as an operator would, and waits until it has
/// exited and every line it logged has been read: its log flushes on exit.
async fn stop_and_read_all(mut server: std::process::Child, log: &Log) {
    let sent = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let exit = tokio::task::spawn_blocking(move || server.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    log.wait_for_end().await;
}

/// Like `start_server`, with the log filter given and every later log line kept.
fn start_server_logging(
    db_path: &str,
    dir: &std::path::Path,
    filter: &str,
) -> (std::process::Child, String, Vec<String>, LogLines) {
    start_server_with(db_path, dir, filter, &[])
}

/// Like `start_server_logging`, with more environment variables.
pub(crate) fn start_server_with(
    db_path: &str,
    dir: &std::path::Path,
    filter: &str,
    envs: &[(&str, &str)],
) -> (std::process::Child, String, Vec<String>, LogLines) {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_wxauth"));
    start_binary(bin, db_path, dir, filter, envs)
}

/// Like `start_server_with`, running the binary at `bin`.
fn start_binary(
    bin: &std::path::Path,
    db_path: &str,
    dir: &std::path::Path,
    filter: &str,
    envs: &[(&str, &str)],
) -> (std::process::Child, String, Vec<String>, LogLines) {
    use std::io::{BufRead, BufReader};
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env("ROCKET_CONFIG", dir.join("absent.toml"))
        .env("ROCKET_PROFILE", "debug")
        .env("ROCKET_PORT", "0")
        .env("ROCKET_DATABASE_URL", db_path)
        .env("ROCKET_JWT_SECRET", JWT_SECRET)
        .env("ROCKET_SESSION_KEY_SECRET", SESSION_KEY_SECRET)
        .env(
            "ROCKET_WECHAT",
            format!("{{mock=true,apps=[{{appid=\"{APP_ID}\",secret=\"s\"}}]}}"),
        )
        .env("WXAUTH_LOG", filter)
        // The caller's settings last: they override the ones above.
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut before = Vec::new();
    let url = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            // A text line ends with the URL; a JSON one closes its string.
            break rest.split('"').next().unwrap().trim().to_string();
        }
        before.push(line);
    };
    // Keep draining the log so the server never blocks on a full pipe.
    let kept = LogLines::default();
    let sink = kept.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lines.lock().unwrap().push(line);
        }
        sink.ended.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    (child, url, before, kept)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_alone_serves_the_console() {
    // The binary in a directory of its own, run from there. A `templates/`
    // lying in the working directory is not picked up by itself (only
    // `template_dir` names one): the pages are the built-in ones.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("wxauth");
    std::fs::copy(env!("CARGO_BIN_EXE_wxauth"), &bin).unwrap();
    std::fs::create_dir_all(dir.path().join("templates/admin")).unwrap();
    std::fs::write(dir.path().join("templates/admin/login.html.tera"), "DECOY").unwrap();
    let db = dir.path().join("alone.sqlite").display().to_string();
    let (mut server, url, _, _) = start_binary(&bin, &db, dir.path(), "info", &[]);
    let http = reqwest::Client::new();
    let page = http.get(format!("{url}/admin/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"password\""), "{html}");
    assert!(!html.contains("DECOY"));
    let css = http
        .get(format!("{url}/admin/static/admin.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    server.kill().unwrap();
    server.wait().unwrap();
    let mut made: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with("alone.sqlite"))
        .collect();
    made.sort();
    assert_eq!(
        made,
        ["templates", "wxauth"],
        "nothing else was needed or made"
    );
}

#[test]
fn a_template_dir_that_is_missing_stops_the_start() {
    let mut envs: Vec<(&str, &str)> = GOOD.to_vec();
    envs.push(("ROCKET_DATABASE_URL", "x.sqlite"));
    envs.push(("ROCKET_TEMPLATE_DIR", "/nonexistent/wxauth-templates"));
    let (code, _, stderr) = wxauth(&envs, &["serve"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("template_dir"), "{stderr}");
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

/// The address a login from `X-Real-IP: 203.0.113.9` is stored with, by a
/// server started with `envs` and a configuration file that does not exist.
async fn address_stored_for_a_forged_header(envs: &[(&str, &str)]) -> String {
    use diesel::prelude::*;
    use wxauth::db::schema::sessions;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("wxauth.sqlite").display().to_string();
    let (mut server, url, _, _) = start_server_with(&db_path, dir.path(), "info", envs);
    let reply = send(
        reqwest::Client::new()
            .post(format!("{url}/api/v1.0/auth/authorize"))
            .header("X-Real-IP", "203.0.113.9")
            .json(&serde_json::json!({ "code": "forged" })),
    )
    .await;
    reply.expect(0, 200);
    server.kill().unwrap();
    server.wait().unwrap();
    let mut conn = diesel::SqliteConnection::establish(&db_path).unwrap();
    sessions::table
        .select(sessions::ip)
        .get_result::<Option<String>>(&mut conn)
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_address_header_is_trusted_only_when_configured() {
    // ROCKET_CONFIG names a file without `ip_header`: Rocket's own default
    // would trust X-Real-IP; wxauth does not.
    assert_eq!(address_stored_for_a_forged_header(&[]).await, "127.0.0.1");
    // Behind a proxy the operator names the header.
    assert_eq!(
        address_stored_for_a_forged_header(&[("ROCKET_IP_HEADER", "X-Real-IP")]).await,
        "203.0.113.9"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_in_flight_finish_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("wxauth.sqlite").display().to_string();
    // WeChat (a mock of its own, as in production) keeps `slow` codes
    // waiting; the call gives up after 1.5 s, within Rocket's 2 s grace.
    let mock = MockWechat::spawn().await;
    let wechat = format!(
        "{{api_base=\"{}\",timeout_ms=1500,apps=[{{appid=\"{APP_ID}\",secret=\"s\"}}]}}",
        mock.url
    );
    let (mut server, url, _, _) =
        start_server_with(&db_path, dir.path(), "info", &[("ROCKET_WECHAT", &wechat)]);
    let http = reqwest::Client::new();
    let api = |call: &str| format!("{url}/api/v1.0/auth/{call}");
    let in_flight: Vec<_> = (0..3)
        .map(|i| {
            let request = http
                .post(api("authorize"))
                .json(&serde_json::json!({ "code": format!("slow-{i}") }));
            tokio::spawn(async move { send(request).await })
        })
        .collect();
    // In flight: each code has reached WeChat, which holds on to it.
    let waiting = std::time::Instant::now();
    for i in 0..3 {
        while mock.calls(&format!("slow-{i}")).await == 0 {
            assert!(
                waiting.elapsed() < HANG_GUARD,
                "slow-{i} never reached WeChat"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let sent = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    // Each request in flight is answered, in the envelope: WeChat timed out.
    for reply in in_flight {
        let reply = reply.await.unwrap();
        reply.expect(-604, 503);
    }
    // It exits by itself, cleanly (the guard only catches a hang).
    let exit = guarded(
        "the server exits after SIGTERM",
        tokio::task::spawn_blocking(move || server.wait().unwrap()),
    )
    .await
    .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    assert!(
        http.get(api("status")).send().await.is_err(),
        "nothing listens any more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_committed_login() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("wxauth.sqlite").display().to_string();
    let (mut server, url, printed) = start_server(&db_path, dir.path());
    // The debug profile makes a first console admin and says so, once.
    assert!(
        printed
            .iter()
            .any(|l| l.contains("created the console admin `admin` with password")),
        "{printed:?}"
    );
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for i in 0..20 {
        let reply = send(
            http.post(format!("{url}/api/v1.0/auth/authorize"))
                .json(&serde_json::json!({ "code": format!("kill{i}") })),
        )
        .await;
        reply.expect(0, 200);
        tokens.push(reply.token());
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();

    let (mut server, url, printed) = start_server(&db_path, dir.path());
    assert!(!printed
        .iter()
        .any(|l| l.contains("created the console admin")));
    for token in &tokens {
        let reply = send(
            http.get(format!("{url}/api/v1.0/auth/status"))
                .bearer_auth(token),
        )
        .await;
        assert_eq!(reply.data()["is_authorized"], 1, "{}", reply.text);
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

fn wxauth_with_stdin(envs: &[(&str, &str)], args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxauth"));
    cmd.args(args)
        .current_dir(dir.path())
        .env("ROCKET_CONFIG", dir.path().join("absent.toml"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn admin_accounts_are_made_and_reset_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admins.sqlite").display().to_string();
    let mut envs: Vec<(&str, &str)> = GOOD.to_vec();
    envs.push(("ROCKET_DATABASE_URL", &path));

    let (code, stdout, stderr) =
        wxauth_with_stdin(&envs, &["admin", "create", "ops"], "first password 1\n");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("created admin `ops`"));
    let (code, _, stderr) =
        wxauth_with_stdin(&envs, &["admin", "create", "ops"], "another password\n");
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists"), "{stderr}");
    let (code, _, stderr) = wxauth_with_stdin(&envs, &["admin", "create", "shorty"], "short\n");
    assert_eq!(code, 1);
    assert!(stderr.contains("at least 10 characters"), "{stderr}");
    let (code, _, stderr) =
        wxauth_with_stdin(&envs, &["admin", "passwd", "ghost"], "second password 2\n");
    assert_eq!(code, 1);
    assert!(stderr.contains("no admin named `ghost`"), "{stderr}");
    let (code, stdout, stderr) =
        wxauth_with_stdin(&envs, &["admin", "passwd", "ops"], "second password 2\n");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("password of `ops` changed"));

    let url = wxauth::db::DatabaseUrl::parse(&path).unwrap();
    let mut conn = wxauth::db::ConnectionManager::new(url).establish().unwrap();
    let admin = wxauth::db::admins::find_by_username(&mut conn, "ops")
        .unwrap()
        .unwrap();
    assert!(admin.password_hash.starts_with("$argon2id$"));
    assert!(wxauth::admin::password::verify(
        "second password 2",
        &admin.password_hash
    ));
    assert!(!wxauth::admin::password::verify(
        "first password 1",
        &admin.password_hash
    ));
}

#[test]
fn admins_are_listed_and_deleted_but_never_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admins.sqlite").display().to_string();
    let mut envs: Vec<(&str, &str)> = GOOD.to_vec();
    envs.push(("ROCKET_DATABASE_URL", &path));
    for name in ["ops", "night-shift"] {
        let (code, _, stderr) =
            wxauth_with_stdin(&envs, &["admin", "create", name], "a good password\n");
        assert_eq!(code, 0, "{stderr}");
    }
    let (code, stdout, stderr) = wxauth(&envs, &["admin", "list"]);
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<&str> = stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["night-shift", "ops"], "{stdout}");
    assert!(stdout.contains("0 live console sessions"), "{stdout}");
    assert!(!stdout.contains("argon2"), "no hash is shown: {stdout}");

    let (code, _, stderr) = wxauth(&envs, &["admin", "delete", "ghost"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no admin named `ghost`"), "{stderr}");
    let (code, stdout, stderr) = wxauth(&envs, &["admin", "delete", "night-shift"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("deleted admin `night-shift`"));
    let (code, _, stderr) = wxauth(&envs, &["admin", "delete", "ops"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("the only admin"), "{stderr}");
    let (_, stdout, _) = wxauth(&envs, &["admin", "list"]);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");

    let url = wxauth::db::DatabaseUrl::parse(&path).unwrap();
    let mut conn = wxauth::db::ConnectionManager::new(url).establish().unwrap();
    let deleted: i64 = wxauth::db::schema::audit_events::table
        .filter(wxauth::db::schema::audit_events::kind.eq("admin_delete"))
        .filter(wxauth::db::schema::audit_events::actor.eq("night-shift"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(deleted, 1, "the deletion is audited");
}

#[test]
fn admin_roles_are_set_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admins.sqlite").display().to_string();
    let mut envs: Vec<(&str, &str)> = GOOD.to_vec();
    envs.push(("ROCKET_DATABASE_URL", &path));
    let (code, stdout, stderr) = wxauth_with_stdin(
        &envs,
        &["admin", "create", "vera", "--role", "viewer"],
        "a good password\n",
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("created admin `vera` (viewer)"), "{stdout}");
    let (code, _, stderr) =
        wxauth_with_stdin(&envs, &["admin", "create", "ops"], "a good password\n");
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = wxauth_with_stdin(
        &envs,
        &["admin", "create", "x", "--role", "admin"],
        "a good password\n",
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("viewer") && stderr.contains("owner"),
        "{stderr}"
    );
    let (_, stdout, _) = wxauth(&envs, &["admin", "list"]);
    let roles: Vec<(&str, &str)> = stdout
        .lines()
        .map(|l| {
            let mut cells = l.split('\t');
            (cells.next().unwrap(), cells.next().unwrap())
        })
        .collect();
    assert_eq!(roles, [("ops", "owner"), ("vera", "viewer")], "{stdout}");

    let (code, stdout, stderr) = wxauth(&envs, &["admin", "role", "vera", "operator"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("`vera` is now operator (was viewer)"),
        "{stdout}"
    );
    let (code, _, stderr) = wxauth(&envs, &["admin", "role", "ghost", "owner"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no admin named `ghost`"), "{stderr}");
    // Someone must stay able to manage keys and erase people.
    let (code, _, stderr) = wxauth(&envs, &["admin", "role", "ops", "viewer"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("the only owner"), "{stderr}");
    let (code, _, stderr) = wxauth(&envs, &["admin", "delete", "ops"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("the only owner"), "{stderr}");
    let (code, _, stderr) = wxauth(&envs, &["admin", "role", "vera", "owner"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = wxauth(&envs, &["admin", "role", "ops", "viewer"]);
    assert_eq!(code, 0, "another owner now: {stderr}");

    let url = wxauth::db::DatabaseUrl::parse(&path).unwrap();
    let mut conn = wxauth::db::ConnectionManager::new(url).establish().unwrap();
    let changes: Vec<(Option<String>, Option<String>)> = wxauth::db::schema::audit_events::table
        .filter(wxauth::db::schema::audit_events::kind.eq("admin_role"))
        .order(wxauth::db::schema::audit_events::id)
        .select((
            wxauth::db::schema::audit_events::actor,
            wxauth::db::schema::audit_events::detail,
        ))
        .load(&mut conn)
        .unwrap();
    let said = |who: &str, what: &str| (Some(who.to_string()), Some(what.to_string()));
    assert_eq!(
        changes,
        [
            said("vera", "viewer -> operator"),
            said("vera", "operator -> owner"),
            said("ops", "owner -> viewer"),
        ]
    );
}

#[test]
fn config_check_shows_the_configuration_without_secrets() {
    let mut envs: Vec<(&str, &str)> = GOOD.to_vec();
    envs.push(("ROCKET_DATABASE_URL", "x.sqlite"));
    let (code, stdout, stderr) = wxauth(&envs, &["config", "check"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("profile: release"), "{stdout}");
    assert!(stdout.contains("wxprod"), "{stdout}");
    assert!(stdout.contains("the configuration is valid"), "{stdout}");
    // The kid that tokens carry, which a key rotation needs (README).
    assert!(stdout.contains("kid: \"hs256-"), "{stdout}");
    for secret in [
        JWT_SECRET,
        SESSION_KEY_SECRET,
        "s3cret",
        "hPRYyVRiMyxpw5sBB1Xe",
    ] {
        assert!(!stdout.contains(secret), "{secret} shown: {stdout}");
    }
    // What the server would refuse, with the same one line.
    let without: Vec<(&str, &str)> = envs
        .iter()
        .copied()
        .filter(|(k, _)| *k != "ROCKET_JWT_SECRET")
        .collect();
    let (code, stdout, stderr) = wxauth(&without, &["config", "check"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("jwt_secret is missing"), "{stderr}");
}

crate::both_backends!(logs_never_show_tokens_secrets_or_session_keys);

async fn logs_never_show_tokens_secrets_or_session_keys(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend);
    // The most verbose there is: wxauth at trace, Rocket at debug.
    let (server, url, _, log) = start_server_with(
        &db.url,
        dir.path(),
        "trace",
        &[("ROCKET_LOG_LEVEL", "debug")],
    );
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{url}/api/v1.0/auth/{path}");
    let login = send(
        http.post(api("authorize"))
            .json(&serde_json::json!({ "code": "quiet" })),
    )
    .await;
    login.expect(0, 200);
    let refreshed = send(
        http.post(api("refresh"))
            .json(&serde_json::json!({ "refresh_token": login.refresh_token() })),
    )
    .await;
    refreshed.expect(0, 200);
    send(
        http.post(api("phone"))
            .bearer_auth(refreshed.token())
            .json(&serde_json::json!({ "code": "p" })),
    )
    .await
    .expect(0, 200);
    // Clients that wrongly put tokens in URLs: the token is good (it works
    // in its header), and in the URL it is ignored (SPEC §1.2).
    let in_header = send(http.get(api("status")).bearer_auth(refreshed.token())).await;
    assert_eq!(in_header.data()["is_authorized"], 1, "{}", in_header.text);
    let in_url = send(http.get(format!("{}?token={}", api("status"), refreshed.token()))).await;
    in_url.expect(0, 200);
    assert_eq!(
        in_url.data()["is_authorized"],
        0,
        "a token in the URL is not taken: {}",
        in_url.text
    );
    send(
        http.post(format!(
            "{}?refresh_token={}",
            api("refresh"),
            refreshed.refresh_token()
        ))
        .json(&serde_json::json!({})),
    )
    .await
    .expect(-101, 400);
    send(http.post(api("logout")).bearer_auth(refreshed.token()))
        .await
        .expect(0, 200);
    log.wait_for("for the logout", |l| {
        l.contains("path=/api/v1.0/auth/logout status=200")
    })
    .await;
    stop_and_read_all(server, &log).await;

    let mut conn = db.conn();
    use diesel::prelude::*;
    use wxauth::db::schema::sessions;
    let sealed: String = sessions::table
        .select(sessions::session_key_sealed)
        .first(&mut conn)
        .unwrap();
    let key: [u8; 32] = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        SESSION_KEY_SECRET,
    )
    .unwrap()
    .try_into()
    .unwrap();
    let session_key = String::from_utf8(
        wxauth::crypto::Sealer::new(&key)
            .open("session_key", &sealed)
            .unwrap(),
    )
    .unwrap();

    use wxauth::db::schema::wechat_access_tokens as t;
    let sealed: Option<String> = t::table.select(t::token_sealed).first(&mut conn).unwrap();
    let wechat_token = String::from_utf8(
        wxauth::crypto::Sealer::new(&key)
            .open("wechat_access_token", &sealed.unwrap())
            .unwrap(),
    )
    .unwrap();

    let log = log.text();
    assert!(
        log.contains("/api/v1.0/auth/authorize"),
        "requests are logged: {log}"
    );
    assert!(
        log.contains("/api/v1.0/auth/status?[redacted]"),
        "Rocket's own request lines are there, without their query: {log}"
    );
    for (what, secret) in [
        ("access token", login.token()),
        ("refreshed access token", refreshed.token()),
        ("refresh token", login.refresh_token()),
        ("new refresh token", refreshed.refresh_token()),
        ("JWT secret", JWT_SECRET.to_string()),
        ("session-key secret", SESSION_KEY_SECRET.to_string()),
        ("session_key", session_key),
        ("WeChat access_token", wechat_token),
    ] {
        let leak: Vec<&str> = log.lines().filter(|l| l.contains(&secret)).collect();
        assert!(leak.is_empty(), "the log shows the {what}: {leak:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("wxauth.sqlite").display().to_string();
    let (server, url, before, log) = start_server_with(
        &db_path,
        dir.path(),
        "info",
        &[("WXAUTH_LOG_FORMAT", "json")],
    );
    let http = reqwest::Client::new();
    let reply = send(
        http.post(format!("{url}/api/v1.0/auth/authorize"))
            .json(&serde_json::json!({ "code": "json-logs" })),
    )
    .await;
    reply.expect(0, 200);
    log.wait_for("for the login", |l| l.contains("/api/v1.0/auth/authorize"))
        .await;
    stop_and_read_all(server, &log).await;
    let after = log.lines();
    let lines: Vec<&String> = before.iter().chain(after.iter()).collect();
    let mut request_lines = 0;
    for line in &lines {
        let object: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        for key in ["timestamp", "level", "target", "fields"] {
            assert!(object.get(key).is_some(), "no {key} in {line}");
        }
        // (The built-in mock WeChat's requests have lines of their own.)
        if object["target"] == "wxauth::request"
            && object["fields"]["path"] == "/api/v1.0/auth/authorize"
        {
            request_lines += 1;
            assert_eq!(object["fields"]["status"], 200);
            assert_eq!(object["fields"]["method"], "POST");
            assert_eq!(object["level"], "INFO");
        }
    }
    assert_eq!(request_lines, 1, "{lines:?}");

    let (code, _, stderr) = wxauth(&[("WXAUTH_LOG_FORMAT", "yaml")], &["migrate"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("WXAUTH_LOG_FORMAT must be text or json"),
        "{stderr}"
    );
}

crate::both_backends!(unlock_lets_a_locked_out_admin_in_at_once);

/// `wxauth admin unlock NAME` clears NAME's failed sign-ins, while the server
/// runs: the address that locked itself out signs in with the right password.
async fn unlock_lets_a_locked_out_admin_in_at_once(backend: Backend) {
    use crate::admin_sign_in::{create_admin, Browser, ADMIN, ADMIN_PASSWORD};
    use reqwest::StatusCode;

    let app = spawn_app_with(backend, |o| {
        o.with("admin.lockout_attempts", 2)
            .with("ip_header", "X-Real-IP")
    })
    .await;
    create_admin(&app.db, ADMIN, ADMIN_PASSWORD);
    let office = Browser::from_address(&app, "203.0.113.9");
    for _ in 0..2 {
        let (status, _, _) = office.sign_in(ADMIN, "typo typo typo").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = office.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    let url = app.db.url.clone();
    let cli = move |name: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut envs: Vec<(&str, &str)> = GOOD.to_vec();
            envs.push(("ROCKET_DATABASE_URL", &url));
            wxauth(&envs, &["admin", "unlock", name])
        })
    };
    let (code, _, stderr) = cli("ghost").await.unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("no admin named `ghost`"), "{stderr}");
    let (code, stdout, stderr) = cli(ADMIN).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("can sign in again"), "{stdout}");

    let (status, _, body) = office.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(app.db.count("audit_events WHERE kind = 'admin_unlock'"), 1);
}
