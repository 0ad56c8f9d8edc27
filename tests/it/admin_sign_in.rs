//! The console's sign-in: sessions, lockout, CSRF, headers, language.

use std::sync::Mutex;

use reqwest::redirect::Policy;
use reqwest::StatusCode;

use crate::both_backends;
use crate::common::*;

pub const ADMIN: &str = "ops";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A browser: cookies kept (by name and path, for this one site), redirects
/// not followed (so tests see them). The jar is the test's own, so that
/// reqwest's cookie feature stays out of the build the benchmark measures.
pub struct Browser {
    http: reqwest::Client,
    pub base: String,
    cookies: Mutex<Vec<KeptCookie>>,
}

struct KeptCookie {
    name: String,
    value: String,
    path: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser::with_headers(app, reqwest::header::HeaderMap::new())
    }

    /// A browser behind a proxy that names it `ip` in `X-Real-IP` (the app
    /// must trust that header: `ip_header = "X-Real-IP"`).
    pub fn from_address(app: &TestApp, ip: &str) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("X-Real-IP", ip.parse().unwrap());
        Browser::with_headers(app, headers)
    }

    fn with_headers(app: &TestApp, headers: reqwest::header::HeaderMap) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .default_headers(headers)
                .build()
                .unwrap(),
            base: app.url.clone(),
            cookies: Mutex::new(Vec::new()),
        }
    }

    /// A request to `path` that carries the cookies kept for it.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        let cookies = self.cookies.lock().unwrap();
        let header = cookies
            .iter()
            .filter(|c| path.starts_with(&c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ");
        if header.is_empty() {
            request
        } else {
            request.header(reqwest::header::COOKIE, header)
        }
    }

    /// Sends `request` and keeps the cookies that the answer sets or ends.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let r = request.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        self.keep(&headers);
        (status, headers, r.text().await.unwrap())
    }

    fn keep(&self, headers: &reqwest::header::HeaderMap) {
        let mut cookies = self.cookies.lock().unwrap();
        for line in headers.get_all(reqwest::header::SET_COOKIE) {
            let mut parts = line.to_str().unwrap().split(';').map(str::trim);
            let (name, value) = parts.next().unwrap().split_once('=').unwrap();
            let mut path = "/".to_string();
            let mut ended = false;
            for attribute in parts {
                let lower = attribute.to_ascii_lowercase();
                if let Some(p) = lower.strip_prefix("path=") {
                    path = p.to_string();
                }
                ended |= lower == "max-age=0" || lower.starts_with("max-age=-");
            }
            cookies.retain(|c| !(c.name == name && c.path == path));
            if !ended {
                cookies.push(KeptCookie {
                    name: name.to_string(),
                    value: value.to_string(),
                    path,
                });
            }
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        self.send(self.request(reqwest::Method::POST, path).form(form))
            .await
    }

    /// The CSRF token of the forms on `path`.
    pub async fn csrf(&self, path: &str) -> String {
        let (_, _, html) = self.get(path).await;
        csrf_in(&html)
    }

    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let csrf = self.csrf("/admin/login").await;
        self.post(
            "/admin/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf_token", &csrf),
                ("next", "/admin"),
            ],
        )
        .await
    }
}

/// The console session's Set-Cookie line.
fn session_cookie(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("wxauth_admin=") || c.starts_with("__Host-wxauth_admin="))
        .expect("a session cookie")
}

pub fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

pub fn create_admin(db: &TestDb, username: &str, password: &str) {
    create_admin_as(db, username, password, wxauth::auth::role::Role::Owner);
}

/// An admin of the console with `role`.
pub fn create_admin_as(
    db: &TestDb,
    username: &str,
    password: &str,
    role: wxauth::auth::role::Role,
) {
    let hash = wxauth::admin::password::hash(password).unwrap();
    let mut conn = db.conn();
    assert!(
        wxauth::db::admins::create(&mut conn, username, &hash, role, wxauth::timestamp::now())
            .unwrap()
    );
}

/// A signed-in browser on an app with one admin.
pub async fn signed_in(app: &TestApp) -> Browser {
    create_admin(&app.db, ADMIN, ADMIN_PASSWORD);
    let browser = Browser::new(app);
    let (status, headers, body) = browser.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers["location"], "/admin");
    browser
}

both_backends!(
    sign_in_opens_a_server_side_session,
    failed_sign_ins_lock_out_a_name_from_one_address,
    the_lockout_holds_under_fifty_parallel_attempts
);

async fn sign_in_opens_a_server_side_session(backend: Backend) {
    let app = spawn_app(backend).await;
    create_admin(&app.db, ADMIN, ADMIN_PASSWORD);
    let browser = Browser::new(&app);

    // Signed out: to the sign-in page, remembering where we were going.
    let (status, headers, _) = browser.get("/admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/login?next=%2Fadmin");

    let csrf = browser.csrf("/admin/login?next=%2Fadmin%2Fsessions").await;
    let (status, headers, _) = browser
        .post(
            "/admin/login",
            &[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", &csrf),
                ("next", "/admin/sessions"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/sessions");
    let cookie = session_cookie(&headers);
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP here: {cookie}");

    let (status, _, html) = browser.get("/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(
        "Signed in as <a href=\"/admin/account/totp\" id=\"account\"><strong>ops</strong></a>"
    ));
    assert_eq!(app.db.count("admin_sessions"), 1);

    // An open redirect is not where `next` can send anyone.
    let csrf = browser.csrf("/admin").await;
    let other = Browser::new(&app);
    let csrf2 = other.csrf("/admin/login").await;
    let (_, headers, _) = other
        .post(
            "/admin/login",
            &[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", &csrf2),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(headers["location"], "/admin");

    // Signing out ends the session on the server: the old cookie is dead.
    let stolen_cookie = cookie.split(';').next().unwrap().to_string();
    let (status, headers, _) = browser
        .post("/admin/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/login?out=true");
    let replay = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/admin", app.url))
        .header("cookie", stolen_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
}

/// Security audit finding 1: failures count per (name, address), so an
/// attacker locks out only their own address for that name — the admin
/// elsewhere signs in at once — and per address with a higher ceiling.
async fn failed_sign_ins_lock_out_a_name_from_one_address(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        o.with("admin.lockout_attempts", 3)
            .with("ip_header", "X-Real-IP")
    })
    .await;
    create_admin(&app.db, ADMIN, ADMIN_PASSWORD);
    create_admin(&app.db, "other", ADMIN_PASSWORD);
    let attacker = Browser::from_address(&app, "203.0.113.7");
    for _ in 0..3 {
        let (status, _, html) = attacker.sign_in(ADMIN, "wrong password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(html.contains("Wrong username or password."));
    }
    // From that address even the right password is refused, with a clear message.
    let (status, _, html) = attacker.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        html.contains("Too many failed sign-ins. Try again in 15 minutes."),
        "{html}"
    );
    assert_eq!(app.db.count("admin_sessions"), 0);
    // The admin, from their own address, is not locked out.
    let admin = Browser::from_address(&app, "198.51.100.2");
    let (status, _, body) = admin.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    // One address trying many names is refused for every name at four
    // times the limit.
    for i in 0..9 {
        let (status, _, _) = attacker
            .sign_in(&format!("guess{i}"), "wrong password!")
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (status, _, _) = attacker.sign_in("other", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let colleague = Browser::from_address(&app, "198.51.100.2");
    let (status, _, _) = colleague.sign_in("other", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    // Every failure is in the audit log.
    let mut conn = app.db.conn();
    use diesel::prelude::*;
    use wxauth::db::schema::audit_events;
    let failures: i64 = audit_events::table
        .filter(audit_events::kind.eq("admin_login_failed"))
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(failures, 12);
}

/// Security audit finding 2: the count is checked and the attempt recorded
/// in one step before the password is hashed, so a burst of parallel guesses
/// gets no more than `lockout_attempts` of them checked.
async fn the_lockout_holds_under_fifty_parallel_attempts(backend: Backend) {
    let app = spawn_app_with(backend, |o| o.with("admin.lockout_attempts", 3)).await;
    create_admin(&app.db, ADMIN, ADMIN_PASSWORD);
    let browsers: Vec<Browser> = (0..50).map(|_| Browser::new(&app)).collect();
    let mut csrfs = Vec::new();
    for b in &browsers {
        csrfs.push(b.csrf("/admin/login").await);
    }
    let attempts = browsers.iter().zip(&csrfs).map(|(b, csrf)| async move {
        b.post(
            "/admin/login",
            &[
                ("username", ADMIN),
                ("password", "a wrong guess"),
                ("csrf_token", csrf),
                ("next", "/admin"),
            ],
        )
        .await
    });
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|(status, _, _)| status)
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (3, 47), "{statuses:?}");
    assert_eq!(
        app.db
            .count("audit_events WHERE kind = 'admin_login_failed'"),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_usernames_fail_like_wrong_passwords() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::new(&app);
    let (status, _, html) = browser.sign_in("nobody", "whatever password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("Wrong username or password."));
}

both_backends!(
    forms_without_the_csrf_token_are_refused,
    csrf_tokens_are_bound_to_the_console_session,
);

async fn forms_without_the_csrf_token_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = signed_in(&app).await;
    let (status, _, _) = browser
        .post("/admin/logout", &[("csrf_token", "forged")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = browser.get("/admin").await;
    assert_eq!(status, StatusCode::OK, "still signed in");
    let fresh = Browser::new(&app);
    let (status, _, _) = fresh
        .post(
            "/admin/login",
            &[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.db.count("admin_sessions"), 1);
}

/// Security audit finding 7: a signed-in browser's CSRF token follows its
/// console session. An attacker who plants their own CSRF cookie (from a
/// sibling domain, say) and submits the token that goes with it is refused;
/// so is a token of an earlier session.
async fn csrf_tokens_are_bound_to_the_console_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let victim_user = app.login("csrf-victim").await;
    create_admin(&app.db, ADMIN, ADMIN_PASSWORD);

    // The attacker's own, valid pair from a browser of theirs: the encrypted
    // CSRF cookie and the token that goes with it.
    let (planted, planted_token) = {
        let r = reqwest::Client::new()
            .get(format!("{}/admin/login", app.url))
            .send()
            .await
            .unwrap();
        let line = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("wxauth_csrf="))
            .expect("a CSRF cookie");
        let body = r.text().await.unwrap();
        (line.split(';').next().unwrap().to_string(), csrf_in(&body))
    };

    // The victim signs in.
    let victim = Browser::new(&app);
    let (status, headers, _) = victim.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = session_cookie(&headers);
    let session = session.split(';').next().unwrap().to_string();

    // A forged request in the victim's browser: their session cookie, the
    // planted CSRF cookie, and the token that matches the planted cookie.
    let forged = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .post(format!(
            "{}/admin/users/{}/signout-all",
            app.url,
            victim_user.user_id()
        ))
        .header("Cookie", format!("{session}; {planted}"))
        .form(&[("csrf_token", planted_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(app.is_authorized(&victim_user.token()).await);

    // The victim's own pages carry the session's token, which works; after
    // signing out and in again, the old token no longer does.
    let old_token = victim.csrf("/admin/sessions").await;
    let (status, _, _) = victim
        .post("/admin/logout", &[("csrf_token", &old_token)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = victim.sign_in(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let action = format!("/admin/users/{}/signout-all", victim_user.user_id());
    let (status, _, _) = victim.post(&action, &[("csrf_token", &old_token)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let new_token = victim.csrf("/admin/sessions").await;
    assert_ne!(new_token, old_token);
    let (status, _, _) = victim.post(&action, &[("csrf_token", &new_token)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(!app.is_authorized(&victim_user.token()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_carry_security_headers() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = signed_in(&app).await;
    for path in ["/admin/login", "/admin", "/admin/nothing-here"] {
        let (_, headers, _) = browser.get(path).await;
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers.contains_key("referrer-policy"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_follows_accept_language_and_the_remembered_switch() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::new(&app);
    let (_, _, zh) = browser
        .send(
            browser
                .request(reqwest::Method::GET, "/admin/login")
                .header("accept-language", "zh-CN,zh;q=0.9,en;q=0.5"),
        )
        .await;
    assert!(zh.contains("登录 wxauth 管理台"));
    assert!(zh.contains("<html lang=\"zh-CN\">"));
    let csrf = csrf_in(&zh);
    let (status, headers, _) = browser
        .post(
            "/admin/lang",
            &[
                ("lang", "en"),
                ("next", "/admin/login"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/login");
    let (_, _, en) = browser
        .send(
            browser
                .request(reqwest::Method::GET, "/admin/login")
                .header("accept-language", "zh-CN"),
        )
        .await;
    assert!(
        en.contains("Sign in to the wxauth console"),
        "the switch is remembered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sessions_end_after_thirty_idle_minutes() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = signed_in(&app).await;
    let (status, _, _) = browser.get("/admin").await;
    assert_eq!(status, StatusCode::OK);
    app.db.execute(&format!(
        "UPDATE admin_sessions SET last_seen_at = {}",
        wxauth::timestamp::now() - 30 * 60 - 1
    ));
    let (status, headers, _) = browser.get("/admin/users").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/admin/login?next=%2Fadmin%2Fusers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_cookies_are_secure_behind_https() {
    let app = spawn_app(Backend::Sqlite).await;
    create_admin(&app.db, ADMIN, ADMIN_PASSWORD);
    // No cookie store: it would not send Secure cookies back over plain HTTP.
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let login = http
        .get(format!("{}/admin/login", app.url))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let csrf_cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    // `__Host-` names: Secure, Path=/, no Domain, so a sibling subdomain can
    // neither plant nor shadow them.
    assert!(
        csrf_cookie.starts_with("__Host-wxauth_csrf="),
        "{csrf_cookie}"
    );
    assert!(csrf_cookie.contains("Secure"), "{csrf_cookie}");
    assert!(
        csrf_cookie.contains("Path=/;") || csrf_cookie.ends_with("Path=/"),
        "{csrf_cookie}"
    );
    assert!(!csrf_cookie.contains("Domain"), "{csrf_cookie}");
    let pair = csrf_cookie.split(';').next().unwrap().to_string();
    let csrf = csrf_in(&login.text().await.unwrap());
    let signed = http
        .post(format!("{}/admin/login", app.url))
        .header("x-forwarded-proto", "https")
        .header("cookie", pair)
        .form(&[
            ("username", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(signed.headers());
    assert!(
        cookie.starts_with("__Host-wxauth_admin=")
            && cookie.contains("Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && !cookie.contains("Path=/admin")
            && !cookie.contains("Domain"),
        "{cookie}"
    );
    // The session works under its `__Host-` name, and only over HTTPS: a
    // plain-HTTP request does not read that name.
    let pair = cookie.split(';').next().unwrap().to_string();
    let page = |https: bool| {
        let mut request = http
            .get(format!("{}/admin/users", app.url))
            .header("cookie", pair.clone());
        if https {
            request = request.header("x-forwarded-proto", "https");
        }
        request.send()
    };
    assert_eq!(page(true).await.unwrap().status(), StatusCode::OK);
    assert_eq!(page(false).await.unwrap().status(), StatusCode::SEE_OTHER);
    // Over plain HTTP the plain names stay, scoped to the console.
    let plain = http
        .get(format!("{}/admin/login", app.url))
        .send()
        .await
        .unwrap();
    let plain_cookie = plain.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(plain_cookie.starts_with("wxauth_csrf="), "{plain_cookie}");
    assert!(plain_cookie.contains("Path=/admin"), "{plain_cookie}");
}
