//! The files in `deploy/`: the nginx site in front of a running wxauth, over
//! TLS, and the systemd unit checked by systemd's own tools.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::common::nginx::start_nginx;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_site_serves_wxauth_over_tls() {
    let app = spawn_app_with(Backend::Sqlite, |o| o.with("ip_header", "X-Real-IP")).await;
    let dir = tempfile::tempdir().unwrap();
    let upstream = app.url.trim_start_matches("http://").to_string();
    let (_nginx, http_port, https_port) = start_nginx(dir.path(), &[upstream]).await;
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
