//! The test harness: each test spawns the real app on port 0 with its own
//! database (a temp SQLite file, or a fresh PostgreSQL database) and its own
//! mock WeChat, and talks to both over real HTTP.

#![allow(dead_code)]

pub mod known_key_wechat;
pub mod nginx;
pub mod openapi;
pub mod platforms;
pub mod relay;
pub mod stored;
pub mod waiting;

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rocket::figment::Figment;
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef-xyz";
pub const SESSION_KEY_SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const APP_ID: &str = "wxtestapp000000001";
pub const OTHER_APP_ID: &str = "wxtestapp000000002";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once against SQLite and once against PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            }
        )*
    };
}

/// A database of the test's own.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn postgres_admin_url() -> String {
    std::env::var("WXAUTH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestDb {
    pub fn new(backend: Backend) -> Arc<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = dir.path().join("wxauth.sqlite").display().to_string();
                Arc::new(TestDb {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("wxauth_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin)
                    .expect("PostgreSQL must run for the tests (see README)");
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Arc::new(TestDb {
                    url: format!("{base}/{name}"),
                    pg_name: Some(name),
                    _dir: None,
                })
            }
        }
    }

    pub fn conn(&self) -> wxauth::db::AnyConnection {
        let url = wxauth::db::DatabaseUrl::parse(&self.url).unwrap();
        wxauth::db::ConnectionManager::new(url).establish().unwrap()
    }

    pub fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.conn();
        let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table}");
        let rows: Vec<Count> = match &mut conn {
            wxauth::db::AnyConnection::Sqlite(c) => diesel::sql_query(sql).load(c).unwrap(),
            wxauth::db::AnyConnection::Postgresql(c) => diesel::sql_query(sql).load(c).unwrap(),
        };
        rows[0].n
    }

    pub fn execute(&self, sql: &str) {
        self.conn().batch_execute(sql).unwrap();
    }

    pub fn backend(&self) -> Backend {
        if self.pg_name.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut conn) = PgConnection::establish(&postgres_admin_url()) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

fn base_figment() -> Figment {
    Figment::from(rocket::Config::debug_default())
        .merge(("address", "127.0.0.1"))
        .merge(("port", 0))
        .merge(("log_level", "off"))
        .merge(("ip_header", false))
        .merge(("shutdown.ctrlc", false))
        .merge(("shutdown.grace", 1))
        .merge(("shutdown.mercy", 1))
}

/// Launches `rocket` on a free port; returns its base URL and shutdown handle.
pub async fn launch(rocket: rocket::Rocket<rocket::Build>) -> (String, rocket::Shutdown) {
    let (tx, rx) = oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let rocket = rocket.attach(rocket::fairing::AdHoc::on_liftoff("test port", move |r| {
        let port = r.config().port;
        if let Some(tx) = tx.lock().unwrap().take() {
            let _ = tx.send((port, r.shutdown()));
        }
        Box::pin(async {})
    }));
    tokio::spawn(async move {
        if let Err(e) = rocket.launch().await {
            eprintln!("test server failed: {e}");
        }
    });
    let (port, shutdown) = rx.await.expect("server started");
    (format!("http://127.0.0.1:{port}"), shutdown)
}

pub struct MockWechat {
    pub url: String,
    shutdown: rocket::Shutdown,
}

impl MockWechat {
    pub async fn spawn() -> MockWechat {
        let (url, shutdown) = launch(wxauth::wechat::mock::rocket(base_figment())).await;
        MockWechat { url, shutdown }
    }

    /// A mock that knows `apps` (as `apps` of the configuration): it checks
    /// their secrets, and the Alipay apps' request signatures.
    pub async fn spawn_knowing(apps: Value) -> MockWechat {
        let figment = base_figment().merge(("apps", apps));
        let (url, shutdown) = launch(wxauth::wechat::mock::rocket(figment)).await;
        MockWechat { url, shutdown }
    }

    /// How often `code` was exchanged with `platform` (`qq`, `douyin`,
    /// `alipay`; a Douyin guest's code as `anonymous <code>`).
    pub async fn platform_calls(&self, platform: &str, code: &str) -> u64 {
        self.call_stats().await[platform]["by_code"][code]
            .as_u64()
            .unwrap_or(0)
    }

    /// Lets the exchange of the `held-…` code `code` answer.
    pub async fn release(&self, code: &str) {
        reqwest::Client::new()
            .post(format!("{}/__mock/release", self.url))
            .body(code.to_string())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    /// How often `code` was exchanged.
    pub async fn calls(&self, code: &str) -> u64 {
        let body = self.call_stats().await;
        body["jscode2session"]["by_code"][code]
            .as_u64()
            .unwrap_or(0)
    }

    pub async fn total_calls(&self) -> u64 {
        self.call_stats().await["jscode2session"]["total"]
            .as_u64()
            .unwrap()
    }

    pub async fn call_stats(&self) -> Value {
        reqwest::get(format!("{}/__mock/calls", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for MockWechat {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

/// Settings of one app instance; `with` adds any configuration key.
pub struct Options {
    pub figment: Figment,
}

impl Options {
    pub fn new(db: &TestDb, mock: &MockWechat) -> Options {
        let figment = base_figment()
            .merge(("database_url", db.url.clone()))
            .merge(("database_pool_size", 4))
            .merge(("jwt_secret", JWT_SECRET))
            .merge(("session_key_secret", SESSION_KEY_SECRET))
            .merge(("wechat.api_base", mock.url.clone()))
            .merge(("wechat.timeout_ms", 2000))
            .merge((
                "wechat.apps",
                json!([{ "appid": APP_ID, "secret": "test-secret", "name": "Test app" }]),
            ));
        Options { figment }
    }

    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Options {
        self.figment = self.figment.merge((key, value));
        self
    }

    pub fn two_apps(self) -> Options {
        self.with(
            "wechat.apps",
            json!([
                { "appid": APP_ID, "secret": "test-secret", "name": "Test app" },
                { "appid": OTHER_APP_ID, "secret": "other-secret", "name": "Other app" },
            ]),
        )
    }
}

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub db: Arc<TestDb>,
    pub mock: Arc<MockWechat>,
    /// The server's clock: tests move it forward instead of sleeping.
    pub clock: wxauth::clock::Clock,
    shutdown: rocket::Shutdown,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.clone().notify();
    }
}

/// An app with default settings on a fresh database and mock.
pub async fn spawn_app(backend: Backend) -> TestApp {
    let db = TestDb::new(backend);
    let mock = Arc::new(MockWechat::spawn().await);
    let options = Options::new(&db, &mock);
    spawn_with(db, mock, options).await
}

/// An app with custom settings.
pub async fn spawn_app_with(backend: Backend, f: impl FnOnce(Options) -> Options) -> TestApp {
    let db = TestDb::new(backend);
    let mock = Arc::new(MockWechat::spawn().await);
    let options = f(Options::new(&db, &mock));
    spawn_with(db, mock, options).await
}

pub async fn spawn_with(db: Arc<TestDb>, mock: Arc<MockWechat>, options: Options) -> TestApp {
    // Errors the server logs are shown with a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("wxauth=error")
        .try_init();
    let figment = options.figment;
    let clock = wxauth::clock::Clock::adjustable();
    let server_clock = clock.clone();
    let rocket =
        tokio::task::spawn_blocking(move || wxauth::rocket_with_clock(figment, server_clock))
            .await
            .unwrap()
            .expect("app builds");
    let (url, shutdown) = launch(rocket).await;
    TestApp {
        url,
        http: reqwest::Client::new(),
        db,
        mock,
        clock,
        shutdown,
    }
}

/// A response, read whole: status, headers and the JSON body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn code(&self) -> i64 {
        self.body["result_code"]
            .as_i64()
            .unwrap_or_else(|| panic!("no result_code in {} (HTTP {})", self.text, self.status))
    }
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    /// Asserts the envelope: JSON content type, result code and HTTP status.
    pub fn expect(&self, result_code: i64, status: u16) -> &Self {
        assert_eq!(
            (self.code(), self.status),
            (result_code, status),
            "unexpected answer: {}",
            self.text
        );
        let ct = self.headers.get("content-type").unwrap().to_str().unwrap();
        assert!(ct.starts_with("application/json"), "content type {ct}");
        assert!(
            self.body["message"].is_string(),
            "no message in {}",
            self.text
        );
        self
    }
    pub fn token(&self) -> String {
        self.data()["token"].as_str().unwrap().to_string()
    }
    pub fn refresh_token(&self) -> String {
        self.data()["refresh_token"].as_str().unwrap().to_string()
    }
    pub fn user_id(&self) -> i64 {
        self.data()["user_id"].as_i64().unwrap()
    }
}

/// Sends `request` and reads the answer; an answer under `/api` is checked
/// against the OpenAPI document.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let (client, request) = request.build_split();
    let request = request.expect("a request that builds");
    let method = request.method().to_string();
    let path = request.url().path().to_string();
    let reply = read(client.execute(request).await.unwrap()).await;
    openapi::check(&method, &path, reply.status, &reply.body, &reply.text);
    reply
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

impl TestApp {
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1.0/auth/{path}", self.url)
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        send(self.http.post(self.api(path)).json(&body)).await
    }

    pub async fn post_with_token(&self, path: &str, token: &str, body: Value) -> Reply {
        send(
            self.http
                .post(self.api(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Reply {
        send(self.http.get(self.api(path)).bearer_auth(token)).await
    }

    /// Logs in with `code` and asserts success.
    pub async fn login(&self, code: &str) -> Reply {
        let reply = self.post("authorize", json!({ "code": code })).await;
        reply.expect(0, 200);
        reply
    }

    pub async fn status(&self, token: &str) -> Value {
        let reply = self.get_with_token("status", token).await;
        reply.expect(0, 200);
        reply.data().clone()
    }

    pub async fn is_authorized(&self, token: &str) -> bool {
        self.status(token).await["is_authorized"] == 1
    }
}

/// A port nothing listens on (for servers the tests start themselves).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How long a test waits for something that must happen before calling it
/// a hang: a guard, never a speed check (the suite runs on 2 busy cores).
pub const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(120);

/// `future`'s output; a panic naming `what` if it hangs past [`HANG_GUARD`].
pub async fn guarded<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("hang: {what} not done after {HANG_GUARD:?}"))
}

/// Waits for `condition` to hold (polled), with [`HANG_GUARD`] against hangs.
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    guarded(what, async {
        while !condition().await {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
}

/// The `instances` heartbeat rows (PostgreSQL): id and when last seen.
fn heartbeats(db: &TestDb) -> std::collections::HashMap<String, i64> {
    use wxauth::db::schema::instances::dsl as i;
    let mut conn = db.conn();
    let wxauth::db::AnyConnection::Postgresql(pg) = &mut conn else {
        panic!("heartbeats are PostgreSQL's")
    };
    i::instances
        .select((i::id, i::seen_at))
        .load::<(String, i64)>(pg)
        .unwrap()
        .into_iter()
        .collect()
}

/// Waits until each of the `n` instances on `db` has heard of all the
/// others: every row beat twice after all `n` were there. The first beat
/// after that moment counted the others; the second shows the first one
/// finished (the instance acts on the count before it sleeps).
pub async fn wait_instances_see_each_other(db: &TestDb, n: usize) {
    let mut since = std::collections::HashMap::new();
    wait_until(&format!("{n} instances' heartbeats"), || {
        since = heartbeats(db);
        std::future::ready(since.len() == n)
    })
    .await;
    for beat in ["first", "second"] {
        wait_until(&format!("every instance's {beat} beat"), || {
            let now = heartbeats(db);
            let all_beat = now.len() == n
                && since
                    .iter()
                    .all(|(id, at)| now.get(id).is_some_and(|t| t > at));
            if all_beat {
                since = now;
            }
            std::future::ready(all_beat)
        })
        .await;
    }
}
