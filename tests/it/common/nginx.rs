//! The project's nginx site (`deploy/nginx/wxauth.conf`) run by a test:
//! its ports and paths moved into a directory of the test's own.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::free_port;

/// `text` with `from` replaced, which must be there: the test follows the
/// shipped file and fails when it changes shape.
fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "deploy/nginx/wxauth.conf no longer has {from:?}"
    );
    text.replace(from, to)
}

pub struct Nginx(Child);

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
/// front of the servers at `upstreams` (host:port each).
pub async fn start_nginx(dir: &Path, upstreams: &[String]) -> (Nginx, u16, u16) {
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
    let servers: Vec<String> = upstreams
        .iter()
        .map(|u| format!("server {u} max_fails=3 fail_timeout=5s;"))
        .collect();
    let site = replaced(
        &site,
        "server 127.0.0.1:8000 max_fails=3 fail_timeout=5s;",
        &servers.join("\n    "),
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
