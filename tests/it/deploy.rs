//! The files in `deploy/`: the nginx site in front of a running wxauth, over
//! TLS, and the systemd unit checked by systemd's own tools.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::common::*;

/// `text` with `from` replaced, which must be there: the test follows the
/// shipped file and fails when it changes shape.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "deploy/nginx/wxauth.conf no longer has {from:?}"
    );
    text.replace(from, to)
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // nginx runs in a process group of its own: the master and every
        // worker go (a worker outlives a master killed alone).
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    }
}

/// nginx with the project's site, its ports and paths moved into `dir`, in
/// front of the server at `upstream` (host:port).
async fn start_nginx(dir: &Path, upstream: &str) -> (Nginx, u16, u16) {
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=auth.example.com"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (http_port, https_port) = (free_port(), free_port());
    let site = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/wxauth.conf"),
    )
    .unwrap();
    let d = dir.display();
    let site = replaced(
        &site,
        "server 127.0.0.1:8000 ",
        &format!("server {upstream} "),
    );
    let site = replaced(
        &site,
        "    listen 80;\n",
        &format!("    listen 127.0.0.1:{http_port};\n"),
    );
    let site = replaced(&site, "    listen [::]:80;\n", "");
    let site = replaced(
        &site,
        "    listen 443 ssl http2;\n",
        &format!("    listen 127.0.0.1:{https_port} ssl http2;\n"),
    );
    let site = replaced(&site, "    listen [::]:443 ssl http2;\n", "");
    let site = replaced(
        &site,
        "/etc/letsencrypt/live/auth.example.com/fullchain.pem",
        &format!("{d}/cert.pem"),
    );
    let site = replaced(
        &site,
        "/etc/letsencrypt/live/auth.example.com/privkey.pem",
        &format!("{d}/key.pem"),
    );
    let site = replaced(
        &site,
        "/var/log/nginx/wxauth.access.log",
        &format!("{d}/access.log"),
    );
    std::fs::write(dir.join("site.conf"), site).unwrap();
    // Workers run as this test's user, with every path inside `dir`.
    let user = if running_as_root() {
        "user root;\n"
    } else {
        ""
    };
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{}}\nhttp {{\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
             include {d}/site.conf;\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .process_group(0)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed (scripts/test.sh installs it)");
    let nginx = Nginx(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", https_port)).is_ok() {
            return (nginx, http_port, https_port);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

/// Whether this process runs as root (nginx then needs `user root;` to let
/// its workers into the test's private directory).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_site_serves_wxauth_over_tls() {
    let app = spawn_app_with(Backend::Sqlite, |o| o.with("ip_header", "X-Real-IP")).await;
    let dir = tempfile::tempdir().unwrap();
    let upstream = app.url.trim_start_matches("http://").to_string();
    let (_nginx, http_port, https_port) = start_nginx(dir.path(), &upstream).await;
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{https_port}/api/v1.0/auth");

    // A made-up address is replaced by the one nginx saw; the cookie is
    // Secure, since the client came over HTTPS.
    let login = http
        .post(format!("{base}/authorize"))
        .header("X-Real-IP", "203.0.113.9")
        .json(&json!({ "code": "through-nginx" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("Secure"), "{cookie}");
    let body: serde_json::Value = login.json().await.unwrap();
    assert_eq!(body["result_code"], 0);
    let token = body["data"]["token"].as_str().unwrap().to_string();
    let ip: Option<String> = {
        use diesel::prelude::*;
        use wxauth::db::schema::sessions;
        sessions::table
            .select(sessions::ip)
            .first(&mut app.db.conn())
            .unwrap()
    };
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));

    // A token wrongly put in the URL stays out of nginx's access log.
    let status = http
        .get(format!("{base}/status?token=QUERYSECRET{token}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let body: serde_json::Value = status.json().await.unwrap();
    assert_eq!(body["data"]["is_authorized"], 1);
    // nginx writes the line once the answer is sent: wait for it.
    let logged = "GET /api/v1.0/auth/status HTTP/1.1\" 200";
    let mut log = String::new();
    for _ in 0..100 {
        log = std::fs::read_to_string(dir.path().join("access.log")).unwrap_or_default();
        if log.contains(logged) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(log.contains(logged), "{log}");
    assert!(!log.contains("QUERYSECRET"), "{log}");

    // The metrics stay inside.
    let metrics = http
        .get(format!("https://127.0.0.1:{https_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 404);

    // Plain HTTP is sent to HTTPS.
    let plain = http
        .get(format!("http://127.0.0.1:{http_port}/admin/login"))
        .header("Host", "auth.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 301);
    assert_eq!(
        plain.headers()["location"],
        "https://auth.example.com/admin/login"
    );
}

#[test]
fn the_systemd_unit_passes_systemds_checks() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/wxauth.service"),
    )
    .unwrap();
    // The unit as installed, but for where the binary is.
    let unit = unit.replace("/usr/local/bin/wxauth", env!("CARGO_BIN_EXE_wxauth"));
    let path = dir.path().join("wxauth.service");
    std::fs::write(&path, unit).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze is installed");
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "{complaints}"
    );
    // systemd's own exposure score: 0 is locked down, 10 is wide open.
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    let score: f64 = report
        .split("Overall exposure level for wxauth.service: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in {report}"));
    assert!(score <= 1.5, "exposure {score}: {report}");
}
