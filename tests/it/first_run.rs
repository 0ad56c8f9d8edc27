//! A newcomer's first `cargo run`: the shipped `Rocket.toml`, the debug
//! profile, the default log filter. Ordinary use — a login from curl, the
//! console visited signed out and signed in, the browser's favicon request,
//! a stop with SIGTERM — logs no warning and no error.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// The server's whole log, from start to exit, after `visit` has used it.
async fn log_of_a_first_run<F, Fut>(visit: F) -> Vec<String>
where
    F: FnOnce(String, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Rocket.toml");
    std::fs::copy(shipped, dir.path().join("Rocket.toml")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wxauth"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ROCKET_") || k.starts_with("WXAUTH_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .current_dir(dir.path())
        // Only the port differs from `cargo run`: tests run side by side.
        .env("ROCKET_PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = Vec::new();
    let url = loop {
        let line = lines
            .next()
            .expect("the server announces its address")
            .unwrap();
        let url = line
            .split("listening on ")
            .nth(1)
            .map(|u| u.trim().to_string());
        log.push(line);
        if let Some(url) = url {
            break url;
        }
    };
    let password = log
        .iter()
        .find_map(|l| l.split("with password `").nth(1)?.split('`').next())
        .expect("the first run makes an admin and prints the password")
        .to_string();
    visit(url, password).await;
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    // The log ends when the process does: every line is flushed by then.
    log.extend(lines.map_while(Result::ok));
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "a SIGTERM is a clean exit: {status}\n{log:#?}"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(stderr, "", "nothing on stderr");
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordinary_use_logs_no_warning_or_error() {
    let log = log_of_a_first_run(|url, password| async move {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let jar = Jar::default();
        // The README's curl walk-through.
        let login: Value = http
            .post(format!("{url}/api/v1.0/auth/authorize"))
            .json(&json!({"code": "alice"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(login["result_code"], 0, "{login}");
        let token = login["data"]["token"].as_str().unwrap().to_string();
        let status: Value = http
            .get(format!("{url}/api/v1.0/auth/status"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["data"]["is_authorized"], 1, "{status}");
        // A browser opening the console: the favicon, then pages signed out.
        let icon = http.get(format!("{url}/favicon.ico")).send().await.unwrap();
        assert_eq!(icon.status(), 200);
        assert_eq!(icon.headers()["content-type"], "image/svg+xml");
        assert!(icon.text().await.unwrap().starts_with("<svg"));
        for page in ["/admin", "/admin/users", "/admin/sessions"] {
            let answer = jar.send(http.get(format!("{url}{page}"))).await;
            assert_eq!(
                answer.status(),
                303,
                "{page} sends a signed-out visitor to sign in"
            );
        }
        let form = jar
            .send(http.get(format!("{url}/admin/login")))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            form.contains("/admin/static/favicon.svg"),
            "pages link the icon"
        );
        let csrf = form
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the sign-in form carries a CSRF token")
            .to_string();
        let signed_in = jar
            .send(http.post(format!("{url}/admin/login")).form(&[
                ("csrf_token", csrf.as_str()),
                ("username", "admin"),
                ("password", password.as_str()),
                ("next", "/admin"),
            ]))
            .await;
        assert_eq!(signed_in.status(), 303);
        for page in ["/admin", "/admin/users", "/admin/sessions", "/admin/audit"] {
            let answer = jar.send(http.get(format!("{url}{page}"))).await;
            assert_eq!(answer.status(), 200, "{page} once signed in");
        }
        let svg = http
            .get(format!("{url}/admin/static/favicon.svg"))
            .send()
            .await
            .unwrap();
        assert_eq!(svg.status(), 200);
    })
    .await;
    let faults: Vec<&String> = log
        .iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(
        faults.is_empty(),
        "warnings or errors in ordinary use: {faults:#?}"
    );
    // The log still says what happened.
    assert!(log
        .iter()
        .any(|l| l.contains("path=/api/v1.0/auth/authorize status=200")));
    assert!(log.iter().any(|l| l.contains("path=/admin status=303")));
}

/// The cookies of one browser on one site: every console cookie's path is
/// under `/admin`, and this browser visits nothing else that sets one.
#[derive(Default)]
struct Jar(std::sync::Mutex<Vec<(String, String)>>);

impl Jar {
    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let header = {
            let kept = self.0.lock().unwrap();
            kept.iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let request = if header.is_empty() {
            request
        } else {
            request.header(reqwest::header::COOKIE, header)
        };
        let answer = request.send().await.unwrap();
        let mut kept = self.0.lock().unwrap();
        for line in answer.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = line.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            kept.retain(|(n, _)| n != name);
            kept.push((name.to_string(), value.to_string()));
        }
        answer
    }
}
