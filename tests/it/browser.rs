//! End to end in real headless Chromium, driven through chromedriver's
//! WebDriver API: sign in, search a user, revoke a session, check the page
//! after it. Screenshots go to `target/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::admin_sign_in::{create_admin, ADMIN, ADMIN_PASSWORD};
use crate::common::*;

/// A chromedriver process and one browser session in it.
struct Browser {
    driver: Child,
    driver_port: u16,
    http: reqwest::Client,
    session: String,
    base: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// Ends the WebDriver session first, which makes chromedriver close
    /// Chromium: killing chromedriver alone leaves Chromium running, orphaned.
    /// A plain blocking request, since `drop` cannot await (and runs on
    /// panics too).
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.driver_port));
        if let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                self.session, self.driver_port
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        let driver =
            Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
                .arg(format!("--port={port}"))
                // A reader east of UTC, as most of the people who scan are:
                // the scan page shows times in the reader's zone.
                .env("TZ", "Asia/Shanghai")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver must be installed (scripts/test.sh installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1360,900", "--lang=en-US",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_string();
        let mut browser = Browser {
            driver,
            driver_port: port,
            http,
            session,
            base,
            _profile: profile,
        };
        browser.base = format!("{}/session/{}", browser.base, browser.session);
        browser
    }

    async fn raw(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let reply: Value = req.send().await.unwrap().json().await.unwrap();
        reply["value"].clone()
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let value = self.raw(method, path, body).await;
        if value.get("error").is_some() {
            panic!("webdriver {path}: {value}");
        }
        value
    }

    /// Clicks something that loads another page, and waits until it has.
    async fn click_to_navigate(&self, css: &str) {
        let old = self.find("html").await;
        self.click(css).await;
        for _ in 0..100 {
            let probe = self
                .raw(reqwest::Method::GET, &format!("/element/{old}/name"), None)
                .await;
            if probe.get("error").is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} loaded no new page");
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    }

    async fn count(&self, css: &str) -> usize {
        self.call(
            reqwest::Method::POST,
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .await
        .as_array()
        .unwrap()
        .len()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/clear"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn attribute(&self, css: &str, name: &str) -> String {
        let el = self.find(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{el}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .unwrap()
        .to_string()
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_signs_in_searches_and_revokes_in_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    create_admin(&app.db, ADMIN, ADMIN_PASSWORD);
    let people = [
        ("e2e-li", "李雷"),
        ("e2e-han", "韩梅梅"),
        ("e2e-lucy", "Lucy Chen"),
        ("e2e-jim", "Jim Green"),
        ("e2e-xss", "<script>alert(1)</script>"),
    ];
    let mut tokens = Vec::new();
    for (code, nick) in people {
        let reply = send(
            app.http
                .post(app.api("authorize"))
                .header(
                    "user-agent",
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4) MicroMessenger/8.0.50",
                )
                .json(&json!({ "code": code, "nickName": nick, "gender": 1, "city": "Hangzhou" })),
        )
        .await;
        reply.expect(0, 200);
        tokens.push(reply);
    }
    // Lucy signed in on two devices.
    let lucy_second = app.login("e2e-lucy").await;
    // A month of history for the chart: logins per day, and users who came earlier.
    let now = wxauth::timestamp::now();
    let mut history = String::new();
    for day in 1..30i64 {
        for _ in 0..((day * 7) % 13 + 3) {
            history.push_str(&format!(
                "INSERT INTO audit_events (kind, created_at) VALUES ('login', {});",
                now - day * 86_400
            ));
        }
    }
    for (id, days_ago) in [(1, 3), (2, 11), (4, 24)] {
        history.push_str(&format!(
            "UPDATE users SET created_at = {} WHERE id = {id};",
            now - days_ago * 86_400
        ));
    }
    app.db.execute(&history);

    let browser = Browser::start().await;
    // Signed out: the console sends us to sign in, and back afterwards.
    browser.go(&format!("{}/admin/users", app.url)).await;
    assert!(browser.url().await.contains("/admin/login?next="));
    browser.screenshot("sign-in").await;
    browser.type_into("input[name=username]", ADMIN).await;
    browser
        .type_into("input[name=password]", ADMIN_PASSWORD)
        .await;
    browser
        .click_to_navigate("form[action='/admin/login'] button[type=submit]")
        .await;
    assert_eq!(browser.url().await, format!("{}/admin/users", app.url));
    assert_eq!(browser.count("table#users tbody tr").await, 5);
    browser.screenshot("users").await;

    // Search by a piece of the nickname.
    browser.type_into("input[name=q]", "Lucy").await;
    browser
        .click_to_navigate("form.toolbar button[type=submit]")
        .await;
    browser.screenshot("users-search").await;
    assert_eq!(
        browser.url().await,
        format!("{}/admin/users?q=Lucy", app.url)
    );
    assert_eq!(browser.count("table#users tbody tr").await, 1);
    assert!(browser
        .text("table#users tbody")
        .await
        .contains("Lucy Chen"));
    // The nickname that looks like a script is shown as text.
    browser
        .go(&format!("{}/admin/users?q=script", app.url))
        .await;
    assert!(browser
        .text("table#users tbody")
        .await
        .contains("<script>alert(1)</script>"));

    browser.go(&format!("{}/admin", app.url)).await;
    assert_eq!(browser.text("#users-total").await, "5");
    assert_eq!(browser.count("svg#daily-chart rect.bar-logins").await, 30);
    browser.screenshot("overview").await;

    // Revoke one of Lucy's sessions from the sessions page.
    browser.go(&format!("{}/admin/sessions", app.url)).await;
    assert_eq!(browser.count("table#sessions tbody tr").await, 6);
    browser.screenshot("sessions").await;
    let sid = crate::tokens::claims_of(&lucy_second.token())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    browser
        .click_to_navigate(&format!(
            "form[action='/admin/sessions/{sid}/revoke'] button"
        ))
        .await;
    assert!(browser
        .url()
        .await
        .ends_with("/admin/sessions?done=revoked"));
    assert!(browser.text("p.notice").await.contains("Session revoked."));
    assert_eq!(browser.count("table#sessions tbody tr").await, 5);
    assert_eq!(
        browser
            .count(&format!("form[action='/admin/sessions/{sid}/revoke']"))
            .await,
        0
    );
    browser.screenshot("sessions-after-revoke").await;
    // …and the mini-program's token is refused at once; her other device lives.
    assert!(!app.is_authorized(&lucy_second.token()).await);
    assert!(app.is_authorized(&tokens[2].token()).await);

    // The Chinese console, by the switch.
    browser.go(&format!("{}/admin", app.url)).await;
    browser
        .click_to_navigate("form[action='/admin/lang'] button")
        .await;
    assert!(browser.text("h1").await.contains("概览"));
    browser.screenshot("overview-zh").await;
}

/// A relying party's callback on this machine: answers every request, and
/// tells the test the first request line it got.
async fn callback_listener() -> (String, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr().unwrap().port()
    );
    let (tell, told) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut tell = Some(tell);
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0; 8192];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            if let Some(tell) = tell.take() {
                let _ = tell.send(head.lines().next().unwrap_or_default().to_string());
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nsigned in")
                .await;
        }
    });
    (url, told)
}

/// SPEC §11's page in a real browser: the scan page in both languages, live
/// (its script reloads it as the ticket moves), and the browser landing on
/// the relying party's redirect URI with the code and state once the person
/// confirms through the mini-program's API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_page_signs_a_browser_in_when_the_person_confirms() {
    let (callback, told) = callback_listener().await;
    let app = spawn_app_with(Backend::Sqlite, |o| {
        o.with(
            "oidc",
            json!({
                "issuer": "http://127.0.0.1:8000",
                "rsa_private_key": concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc/rsa_private_key.pem"),
                "clients": [{ "client_id": "shop", "client_secret": "shop-secret-0123456789",
                              "name": "The Shop", "redirect_uris": [callback] }],
            }),
        )
    })
    .await;
    let browser = Browser::start().await;
    let mut authorize = reqwest::Url::parse(&format!("{}/oidc/authorize", app.url)).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", "shop"),
        ("redirect_uri", callback.as_str()),
        ("scope", "openid profile"),
        ("state", "browser-state"),
        ("nonce", "n"),
    ]);
    browser.go(authorize.as_str()).await;
    let scan_url = browser.url().await;
    let ticket = scan_url.rsplit('/').next().unwrap().to_string();
    assert!(scan_url.contains("/oidc/scan/"), "{scan_url}");
    assert_eq!(browser.text("#client-name").await, "The Shop");
    assert_eq!(browser.count("img#code").await, 1);
    // The code's expiry in the reader's time (UTC+8), not the server's UTC.
    let expiry = time::OffsetDateTime::parse(
        &browser.attribute("#expires-at", "datetime").await,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .to_offset(time::macros::offset!(+8));
    assert_eq!(
        browser.text("#expires-at").await,
        format!("{:02}:{:02}", expiry.hour(), expiry.minute())
    );
    browser.screenshot("web-login-scan").await;
    browser.go(&format!("{scan_url}?lang=zh")).await;
    assert!(browser.text("h1").await.contains("微信扫码登录"));
    browser.screenshot("web-login-scan-zh").await;
    browser.go(&scan_url).await;

    let alice = app.login("alice").await.token();
    app.post_with_token("web-login/scan", &alice, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    // The page's script sees the scan and reloads: no one touches it.
    wait_until("the page shows the scan", || async {
        browser.count("#web-login[data-state=\"scanned\"]").await == 1
    })
    .await;
    browser.screenshot("web-login-scanned").await;
    app.post_with_token("web-login/confirm", &alice, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    let line = tokio::time::timeout(HANG_GUARD, told)
        .await
        .expect("the browser reaches the callback")
        .unwrap();
    assert!(line.starts_with("GET /callback?code="), "{line}");
    assert!(line.contains("state=browser-state"), "{line}");
    wait_until("the browser is at the callback", || async {
        browser.url().await.starts_with(&callback)
    })
    .await;
}
