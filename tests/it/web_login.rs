//! Web sign-in by scanning a mini-program code (SPEC §11), so far: the
//! provider's discovery document and JWK Set, the authorization endpoint's
//! checks, and the tickets it opens — scanned, held and decided through the
//! mini-program's API.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::common::waiting::eventually;
use crate::common::*;

both_backends!(
    discovery_and_the_jwk_set_describe_the_provider,
    a_bad_client_or_redirect_uri_gets_a_page_never_a_redirect,
    other_refusals_go_back_to_the_client_with_error_and_state,
    a_ticket_is_held_by_its_first_scanner_and_decided_by_them_alone,
    a_denied_ticket_cannot_be_confirmed,
    expired_tickets_and_banned_people_are_refused,
    ticket_creation_is_rate_limited_per_address,
    without_clients_the_provider_is_off,
    tickets_past_their_end_are_purged,
    a_person_signs_in_on_the_web_by_scanning,
    the_token_endpoint_refuses_as_rfc_6749_says,
    refresh_tokens_rotate_for_their_own_client_only,
    a_denial_sends_the_browser_back_with_access_denied,
    web_sessions_show_their_client_in_the_console,
    a_web_session_is_among_the_persons_own_and_its_token_is_not_theirs,
    eddsa_id_tokens_for_a_client_that_asks,
    concurrent_loads_of_a_code_ask_wechat_once,
    the_code_opens_the_configured_version_of_the_mini_program,
    a_code_not_collected_in_time_is_gone,
    browsers_of_the_clients_origins_may_call_the_token_endpoint,
    refreshes_at_the_token_endpoint_are_rate_limited,
    rockets_own_failures_under_oidc_are_oauth_errors,
    web_sessions_count_against_the_session_limit,
    the_session_that_confirms_a_web_sign_in_is_not_the_one_it_ends,
);

const ISSUER: &str = "http://localhost:8000";
const REDIRECT: &str = "https://shop.example.com/callback";
/// The S256 code_challenge of [`VERIFIER`].
const CHALLENGE: &str = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc";

fn with_oidc(options: Options) -> Options {
    options.with(
        "oidc",
        json!({
            "issuer": ISSUER,
            "rsa_private_key": concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oidc/rsa_private_key.pem"),
            "clients": [
                { "client_id": "shop", "client_secret": "shop-secret-0123456789", "name": "The Shop",
                  "redirect_uris": [REDIRECT] },
                { "client_id": "spa", "name": "Dashboard", "redirect_uris": ["http://127.0.0.1:3000/cb"] },
            ],
        }),
    )
}

async fn spawn_oidc(backend: Backend) -> TestApp {
    spawn_app_with(backend, with_oidc).await
}

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn authorize_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse(&format!("{}/oidc/authorize", app.url)).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

fn good_request() -> Vec<(&'static str, &'static str)> {
    vec![
        ("response_type", "code"),
        ("client_id", "shop"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in {response:?}"))
        .to_str()
        .unwrap()
        .to_string()
}

/// Opens a ticket as a browser would: its id (the code's scene).
async fn open_ticket(app: &TestApp, browser: &reqwest::Client) -> String {
    let response = browser
        .get(authorize_url(app, &good_request()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{response:?}");
    let to = location(&response);
    let ticket = to
        .strip_prefix("/oidc/scan/")
        .unwrap_or_else(|| panic!("sent to {to}"));
    assert!(!ticket.is_empty() && ticket.len() <= 32, "{ticket}");
    ticket.to_string()
}

async fn discovery_and_the_jwk_set_describe_the_provider(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let doc: Value = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{ISSUER}/oidc/authorize")
    );
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/oidc/token"));
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(doc["response_types_supported"], json!(["code"]));

    let set: Value = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rsa = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "RSA")
        .unwrap_or_else(|| panic!("no RSA key in {set}"));
    assert_eq!(rsa["alg"], "RS256");
    assert_eq!(rsa["use"], "sig");
    // The kid is the key's RFC 7638 thumbprint.
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        rsa["e"].as_str().unwrap(),
        rsa["n"].as_str().unwrap()
    );
    assert_eq!(
        rsa["kid"].as_str().unwrap(),
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    );
    assert_eq!(rsa["e"], "AQAB");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(rsa["n"].as_str().unwrap())
            .unwrap()
            .len(),
        256
    );
}

async fn a_bad_client_or_redirect_uri_gets_a_page_never_a_redirect(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let browser = browser();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        good_request()
            .into_iter()
            .filter(|(k, _)| *k != "client_id")
            .collect(),
        good_request()
            .into_iter()
            .map(|(k, v)| {
                if k == "client_id" {
                    (k, "nobody")
                } else {
                    (k, v)
                }
            })
            .collect(),
        good_request()
            .into_iter()
            .map(|(k, v)| {
                if k == "redirect_uri" {
                    (k, "https://evil.example.com/callback")
                } else {
                    (k, v)
                }
            })
            .collect(),
        // Not exactly the registered URI: a prefix match would let an
        // attacker's path through.
        good_request()
            .into_iter()
            .map(|(k, v)| {
                if k == "redirect_uri" {
                    (k, "https://shop.example.com/callback/../evil")
                } else {
                    (k, v)
                }
            })
            .collect(),
        good_request()
            .into_iter()
            .filter(|(k, _)| *k != "redirect_uri")
            .collect(),
    ];
    for params in cases {
        let response = browser
            .get(authorize_url(&app, &params))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{params:?}");
        assert!(response.headers().get("location").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("id=\"web-login-error\""), "{html}");
    }
    assert_eq!(app.db.count("web_logins"), 0);
}

/// A request, the URI it is sent back to, and the error it gets.
type Refusal = (
    Vec<(&'static str, &'static str)>,
    &'static str,
    &'static str,
);

async fn other_refusals_go_back_to_the_client_with_error_and_state(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let browser = browser();
    let replace = |key: &'static str, value: &'static str| -> Vec<(&'static str, &'static str)> {
        let mut params: Vec<_> = good_request()
            .into_iter()
            .filter(|(k, _)| *k != key)
            .collect();
        if !value.is_empty() {
            params.push((key, value));
        }
        params
    };
    let public = |extra: Vec<(&'static str, &'static str)>| {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", "spa"),
            ("redirect_uri", "http://127.0.0.1:3000/cb"),
            ("scope", "openid"),
            ("state", "st-1"),
        ];
        params.extend(extra);
        params
    };
    let cases: Vec<Refusal> = vec![
        (
            replace("response_type", "token"),
            REDIRECT,
            "unsupported_response_type",
        ),
        (replace("response_type", ""), REDIRECT, "invalid_request"),
        (replace("scope", "profile"), REDIRECT, "invalid_scope"),
        (
            replace("code_challenge_method", "plain"),
            REDIRECT,
            "invalid_request",
        ),
        (
            replace("code_challenge", "short"),
            REDIRECT,
            "invalid_request",
        ),
        (replace("prompt", "none"), REDIRECT, "login_required"),
        (
            replace("request", "eyJhbGciOiJub25lIn0.e30."),
            REDIRECT,
            "request_not_supported",
        ),
        // A public client must use PKCE.
        (
            public(vec![]),
            "http://127.0.0.1:3000/cb",
            "invalid_request",
        ),
    ];
    for (params, redirect, error) in cases {
        let response = browser
            .get(authorize_url(&app, &params))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{params:?}");
        let to = reqwest::Url::parse(&location(&response)).unwrap();
        assert!(to.as_str().starts_with(redirect), "{to}");
        let query: std::collections::HashMap<String, String> =
            to.query_pairs().into_owned().collect();
        assert_eq!(
            query.get("error").map(String::as_str),
            Some(error),
            "{params:?}: {to}"
        );
        assert_eq!(query.get("state").map(String::as_str), Some("st-1"));
        assert_eq!(query.get("iss").map(String::as_str), Some(ISSUER));
        assert!(query
            .get("error_description")
            .is_some_and(|d| !d.is_empty()));
    }
    assert_eq!(app.db.count("web_logins"), 0);
    // A public client with PKCE is let through.
    let response = browser
        .get(authorize_url(
            &app,
            &public(vec![
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ]),
        ))
        .send()
        .await
        .unwrap();
    assert!(location(&response).starts_with("/oidc/scan/"));
}

async fn a_ticket_is_held_by_its_first_scanner_and_decided_by_them_alone(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let browser = browser();
    let first = browser
        .get(authorize_url(&app, &good_request()))
        .header("User-Agent", "Firefox/140 on the PC")
        .send()
        .await
        .unwrap();
    let cookie = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("wxauth_web="))
        .expect("the browser is given its binding cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let ticket = location(&first)
        .trim_start_matches("/oidc/scan/")
        .to_string();

    let alice = app.login("alice").await.token();
    let bob = app.login("bob").await.token();
    let scanned = app
        .post_with_token("web-login/scan", &alice, json!({ "scene": ticket }))
        .await;
    scanned.expect(0, 200);
    assert_eq!(scanned.data()["client_id"], "shop");
    assert_eq!(scanned.data()["client_name"], "The Shop");
    assert_eq!(scanned.data()["user_agent"], "Firefox/140 on the PC");
    assert_eq!(scanned.data()["ip"], "127.0.0.1");
    assert!(scanned.data()["expires_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    // Scanning again is fine for the holder; anyone else is refused.
    app.post_with_token("web-login/scan", &alice, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    app.post_with_token("web-login/scan", &bob, json!({ "scene": ticket }))
        .await
        .expect(-500, 403);
    app.post_with_token("web-login/confirm", &bob, json!({ "scene": ticket }))
        .await
        .expect(-500, 403);
    app.post_with_token("web-login/deny", &bob, json!({ "scene": ticket }))
        .await
        .expect(-500, 403);
    app.post_with_token("web-login/confirm", &alice, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    // Decided: spent for everyone.
    app.post_with_token("web-login/confirm", &alice, json!({ "scene": ticket }))
        .await
        .expect(-102, 404);
    app.post_with_token("web-login/scan", &bob, json!({ "scene": ticket }))
        .await
        .expect(-102, 404);
    app.post_with_token(
        "web-login/scan",
        &alice,
        json!({ "scene": "no-such-ticket" }),
    )
    .await
    .expect(-102, 404);
    app.post_with_token("web-login/scan", &alice, json!({ "scene": "" }))
        .await
        .expect(-101, 400);
    app.post_with_token("web-login/scan", &alice, json!({ "scene": "x".repeat(33) }))
        .await
        .expect(-101, 400);
    app.post("web-login/scan", json!({ "scene": ticket }))
        .await
        .expect(-500, 401);
    // A ticket not scanned yet cannot be decided.
    let other = open_ticket(&app, &browser).await;
    app.post_with_token("web-login/confirm", &alice, json!({ "scene": other }))
        .await
        .expect(-500, 403);
    // Every step is audited.
    for kind in ["web_login_start", "web_login_scan", "web_login_confirm"] {
        let n = app.db.count(&format!("audit_events WHERE kind = '{kind}'"));
        assert!(n >= 1, "{kind}: {n}");
    }
}

async fn a_denied_ticket_cannot_be_confirmed(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let ticket = open_ticket(&app, &browser()).await;
    let alice = app.login("alice").await.token();
    app.post_with_token("web-login/scan", &alice, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    app.post_with_token("web-login/deny", &alice, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    app.post_with_token("web-login/confirm", &alice, json!({ "scene": ticket }))
        .await
        .expect(-102, 404);
    assert_eq!(
        app.db.count("audit_events WHERE kind = 'web_login_deny'"),
        1
    );
    assert_eq!(
        app.db
            .count("audit_events WHERE kind = 'web_login_confirm'"),
        0
    );
}

async fn expired_tickets_and_banned_people_are_refused(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let browser = browser();
    let alice = app.login("alice").await;
    let ticket = open_ticket(&app, &browser).await;
    app.clock.advance(std::time::Duration::from_secs(301));
    app.post_with_token("web-login/scan", &alice.token(), json!({ "scene": ticket }))
        .await
        .expect(-102, 404);

    let alice = app.login("alice").await;
    let ticket = open_ticket(&app, &browser).await;
    app.post_with_token("web-login/scan", &alice.token(), json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    app.db.execute(&format!(
        "UPDATE users SET banned_at = 1 WHERE id = {}",
        alice.user_id()
    ));
    let refused = app
        .post_with_token(
            "web-login/confirm",
            &alice.token(),
            json!({ "scene": ticket }),
        )
        .await;
    assert!(refused.code() < 0, "{refused:?}");
    assert_eq!(
        app.db
            .count("audit_events WHERE kind = 'web_login_confirm'"),
        0
    );
}

async fn ticket_creation_is_rate_limited_per_address(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        with_oidc(o).with("rate_limit.web_login_per_minute", 2)
    })
    .await;
    let browser = browser();
    open_ticket(&app, &browser).await;
    open_ticket(&app, &browser).await;
    let response = browser
        .get(authorize_url(&app, &good_request()))
        .send()
        .await
        .unwrap();
    let to = location(&response);
    assert!(to.starts_with(REDIRECT), "{to}");
    assert!(to.contains("error=temporarily_unavailable"), "{to}");
    assert!(to.contains("state=st-1"), "{to}");
    assert_eq!(app.db.count("web_logins"), 2);
}

async fn without_clients_the_provider_is_off(backend: Backend) {
    let app = spawn_app(backend).await;
    let discovery = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 404);
    let alice = app.login("alice").await.token();
    app.post_with_token("web-login/scan", &alice, json!({ "scene": "abc" }))
        .await
        .expect(-102, 404);
    // A relying party calling anyway is told why, as an OAuth error; a
    // browser gets a page.
    let page = app
        .http
        .get(format!("{}/oidc/authorize?client_id=shop", app.url))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("id=\"web-login-error\""));
    let (status, answer) = oauth_failure(&app, reqwest::Method::POST, "/oidc/token").await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"], "invalid_request");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("oidc.clients"),
        "{answer}"
    );
}

/// An answer under `/oidc` that is not the endpoint's own: its status and
/// JSON body (a panic if it is not JSON).
async fn oauth_failure(app: &TestApp, method: reqwest::Method, path: &str) -> (u16, Value) {
    let answer = app
        .http
        .request(method, format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    assert_eq!(
        answer.headers()["content-type"],
        "application/json",
        "{path}"
    );
    assert_eq!(answer.headers()["cache-control"], "no-store", "{path}");
    let body = answer.text().await.unwrap();
    let json = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: {body}"));
    (status, json)
}

/// What Rocket itself refuses under `/oidc` (no such endpoint, a method
/// an endpoint does not take) is an RFC 6749 error in JSON, as the
/// endpoints' own refusals are, never Rocket's HTML page.
async fn rockets_own_failures_under_oidc_are_oauth_errors(backend: Backend) {
    let app = spawn_oidc(backend).await;
    for (method, path) in [
        (reqwest::Method::GET, "/oidc/token"),
        (reqwest::Method::DELETE, "/oidc/userinfo"),
        (reqwest::Method::GET, "/oidc/no-such-endpoint"),
    ] {
        let (status, answer) = oauth_failure(&app, method.clone(), path).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(answer["error"], "invalid_request", "{method} {path}");
        assert_eq!(
            answer["error_description"],
            format!("no such endpoint: {method} {path}")
        );
    }
    // A browser that asks for a page gets the provider's error page.
    let page = app
        .http
        .get(format!("{}/oidc/scan/a/b/c", app.url))
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("Accept-Language", "zh-CN")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("id=\"web-login-error\""), "{html}");
    assert!(html.contains("此登录请求不存在"), "{html}");
}

/// The mini-program's session that confirms a web sign-in was in use at
/// that moment, even when its last use was recorded a while before: the
/// web session it opens displaces another one, not the phone's.
async fn the_session_that_confirms_a_web_sign_in_is_not_the_one_it_ends(backend: Backend) {
    let app = spawn_app_with(backend, |o| with_oidc(o).with("session_limit_per_user", 2)).await;
    let alice = app.login("alice").await;
    let sign_in = || {
        let app = &app;
        let token = alice.token();
        async move {
            let (_, code) = confirmed_in_a_new_browser(app, &token).await;
            let (status, _, tokens) =
                token_request(app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
            assert_eq!(status, 200, "{tokens}");
            tokens["access_token"].as_str().unwrap().to_string()
        }
    };
    // Within the minute in which a session's use is recorded once: the
    // phone's last recorded use stays that of its login, older than the
    // first web session.
    app.clock.advance(std::time::Duration::from_secs(20));
    let first = sign_in().await;
    app.clock.advance(std::time::Duration::from_secs(20));
    let second = sign_in().await;
    assert!(
        app.is_authorized(&alice.token()).await,
        "the phone's session"
    );
    assert_eq!(
        userinfo_status(&app, &first).await,
        401,
        "the older web session ended"
    );
    assert_eq!(userinfo_status(&app, &second).await, 200);
}

async fn tickets_past_their_end_are_purged(backend: Backend) {
    let app = spawn_app_with(backend, |o| with_oidc(o).with("purge_interval", 1)).await;
    let browser = browser();
    open_ticket(&app, &browser).await;
    open_ticket(&app, &browser).await;
    assert_eq!(app.db.count("web_logins"), 2);
    // A day past their end (a replayed code must find its ticket until then).
    app.clock
        .advance(std::time::Duration::from_secs(300 + 86_400 + 1));
    let fresh = open_ticket(&app, &browser).await;
    eventually("the old tickets are purged", || {
        app.db.count("web_logins") == 1
    })
    .await;
    assert_eq!(app.db.count(&format!("web_logins WHERE id = '{fresh}'")), 1);
}

/// The verifier whose S256 challenge is [`CHALLENGE`].
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
const SHOP_SECRET: &str = "shop-secret-0123456789";

/// A browser that keeps its binding cookie and shows redirects.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            http: browser(),
            base: app.url.clone(),
            cookie: None,
        }
    }

    async fn get(&mut self, path: &str) -> reqwest::Response {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.get(url);
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie);
        }
        let response = request.send().await.unwrap();
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap();
            if let Some(pair) = value
                .split(';')
                .next()
                .filter(|p| p.starts_with("wxauth_web="))
            {
                self.cookie = Some(pair.to_string());
            }
        }
        response
    }

    /// Starts a sign-in: the ticket.
    async fn start(&mut self, app: &TestApp, params: &[(&str, &str)]) -> String {
        let response = self.get(&authorize_url(app, params)).await;
        assert_eq!(response.status(), 303, "{response:?}");
        location(&response)
            .strip_prefix("/oidc/scan/")
            .unwrap()
            .to_string()
    }
}

/// The query of a redirect to the client.
fn query_of(response: &reqwest::Response) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(&location(response))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// alice scans and confirms `ticket`; the browser that showed it then
/// picks up the code.
async fn confirmed_code(app: &TestApp, browser: &mut Browser, ticket: &str, who: &str) -> String {
    app.post_with_token("web-login/scan", who, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    app.post_with_token("web-login/confirm", who, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    let response = browser.get(&format!("/oidc/scan/{ticket}")).await;
    assert_eq!(response.status(), 303, "{response:?}");
    assert!(
        location(&response).starts_with(REDIRECT),
        "{}",
        location(&response)
    );
    let query = query_of(&response);
    assert_eq!(query.get("state").map(String::as_str), Some("st-1"));
    assert_eq!(query.get("iss").map(String::as_str), Some(ISSUER));
    query.get("code").expect("a code").clone()
}

async fn token_request(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app
        .http
        .post(format!("{}/oidc/token", app.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            form.iter()
                .map(|(k, v)| format!("{k}={}", urlencoding(v)))
                .collect::<Vec<_>>()
                .join("&"),
        );
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

fn urlencoding(value: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", &[("v", value)])
        .unwrap()
        .query()
        .unwrap()
        .trim_start_matches("v=")
        .to_string()
}

fn code_grant(code: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]
}

/// The ID token's claims, its RS256 signature checked with the JWK Set.
async fn verified_id_token(app: &TestApp, id_token: &str, aud: &str) -> Value {
    let set: Value = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let key = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| Some(k["kid"].as_str().unwrap()) == header.kid.as_deref())
        .expect("the ID token's kid is in the JWK Set");
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<Value>(id_token, &decoding, &validation)
        .expect("a valid ID token")
        .claims
}

async fn a_person_signs_in_on_the_web_by_scanning(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;

    // The scan page: the client's name and the code, live.
    let page = browser.get(&format!("/oidc/scan/{ticket}")).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("The Shop"), "{html}");
    assert!(html.contains("data-state=\"waiting\""), "{html}");
    assert!(
        html.contains("http-equiv=\"refresh\""),
        "works without JavaScript: {html}"
    );
    // The expiry: in UTC as served; the script shows the reader's own time
    // (`browser::the_scan_page_signs_a_browser_in_when_the_person_confirms`).
    let datetime = html
        .split("<time id=\"expires-at\" datetime=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no expiry: {html}"));
    let at = time::OffsetDateTime::parse(datetime, &time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(
        html.contains(&format!(">{:02}:{:02} UTC</time>", at.hour(), at.minute())),
        "{html}"
    );
    // The mini-program code holds the ticket as its scene, fetched once.
    let image = browser.get(&format!("/oidc/scan/{ticket}/code.png")).await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    let png = image.bytes().await.unwrap();
    assert_eq!(crate::wechat_wxacode::read_qr(&png), ticket);
    let again = browser.get(&format!("/oidc/scan/{ticket}/code.png")).await;
    assert_eq!(again.bytes().await.unwrap(), png);
    let calls = app.mock.call_stats().await;
    assert_eq!(
        calls["getwxacodeunlimit"]["by_scene"][&ticket], 1,
        "{calls}"
    );
    // By default, the released mini-program's page, checked by WeChat.
    assert_eq!(
        calls["getwxacodeunlimit"]["by_version"],
        json!({"release, check_path": 1}),
        "{calls}"
    );
    // Another browser sees nothing of it.
    let mut stranger = Browser::new(&app);
    stranger.start(&app, &good_request()).await;
    assert_eq!(
        stranger.get(&format!("/oidc/scan/{ticket}")).await.status(),
        400
    );
    assert_eq!(
        stranger
            .get(&format!("/oidc/scan/{ticket}/code.png"))
            .await
            .status(),
        404
    );

    let alice = app.login("alice").await;
    app.post_with_token("web-login/scan", &alice.token(), json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    let state: Value = browser
        .get(&format!("/oidc/scan/{ticket}/state"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state["state"], "scanned");
    app.post_with_token(
        "web-login/confirm",
        &alice.token(),
        json!({ "scene": ticket }),
    )
    .await
    .expect(0, 200);
    // Only the browser that showed the ticket gets the code.
    assert_eq!(
        stranger.get(&format!("/oidc/scan/{ticket}")).await.status(),
        400
    );
    let to_client = browser.get(&format!("/oidc/scan/{ticket}")).await;
    assert_eq!(to_client.status(), 303);
    let query = query_of(&to_client);
    let code = query["code"].clone();
    assert_eq!(query["state"], "st-1");
    // A reload before the code is spent (two overlapping loads) gets the
    // same code, never a second one.
    let reload = browser.get(&format!("/oidc/scan/{ticket}")).await;
    assert_eq!(query_of(&reload)["code"], code);

    let (status, headers, tokens) =
        token_request(&app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(headers["cache-control"], "no-store");
    // Spent: the page says so.
    let spent = browser.get(&format!("/oidc/scan/{ticket}")).await;
    assert_eq!(spent.status(), 200);
    assert!(spent
        .text()
        .await
        .unwrap()
        .contains("data-state=\"finished\""));
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile");
    let claims = verified_id_token(&app, tokens["id_token"].as_str().unwrap(), "shop").await;
    assert_eq!(claims["sub"], alice.user_id().to_string());
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["amr"], json!(["mini_program_scan"]));
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    assert_eq!(
        app.db
            .count("audit_events WHERE kind = 'login' AND detail = 'web_login client shop'"),
        1,
        "the code's exchange is audited"
    );
    // The access token is a wxauth token for the client: status knows it.
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert!(app.is_authorized(&access).await);
    // status says whose it is, so that a mini-program's backend can refuse it.
    assert_eq!(app.status(&access).await["client_id"], "shop");
    assert!(app.status(&alice.token()).await.get("client_id").is_none());
    let info: Value = app
        .http
        .get(format!("{}/oidc/userinfo", app.url))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], alice.user_id().to_string());
    assert!(
        info.get("phone_number").is_none(),
        "phone was not granted: {info}"
    );
    // A mini-program token is not one for userinfo.
    let refused = app
        .http
        .get(format!("{}/oidc/userinfo", app.url))
        .bearer_auth(alice.token())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    // It is not a mini-program's token: not for the profile, the phone, the
    // refresh of /api, nor for signing the person out everywhere.
    app.get_with_token("user", &access).await.expect(-500, 403);
    app.post_with_token("phone", &access, json!({ "code": "13800001111" }))
        .await
        .expect(-500, 403);
    app.post(
        "refresh",
        json!({ "refresh_token": tokens["refresh_token"] }),
    )
    .await
    .expect(-500, 401);
    app.post_with_token("logout", &access, json!({ "scope": "global" }))
        .await
        .expect(-500, 403);
    assert!(app.is_authorized(&alice.token()).await);
    // A web session's token cannot let another browser in.
    let mut other = Browser::new(&app);
    let other_ticket = other.start(&app, &good_request()).await;
    app.post_with_token("web-login/scan", &access, json!({ "scene": other_ticket }))
        .await
        .expect(-500, 403);

    // The code presented again: refused, and what it issued is revoked.
    let (status, _, replay) =
        token_request(&app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    assert_eq!(status, 400);
    assert_eq!(replay["error"], "invalid_grant");
    assert!(!app.is_authorized(&access).await);
    assert!(
        app.is_authorized(&alice.token()).await,
        "the mini-program session stays"
    );
}

async fn the_token_endpoint_refuses_as_rfc_6749_says(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let alice = app.login("alice").await.token();
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;
    let code = confirmed_code(&app, &mut browser, &ticket, &alice).await;

    let (status, headers, answer) = token_request(
        &app,
        Some(("shop", "not-the-secret-at-all")),
        &code_grant(&code),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(headers.get("www-authenticate").is_some());
    let (status, _, answer) = token_request(&app, None, &code_grant(&code)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let mut grant = code_grant(&code);
    grant[0] = ("grant_type", "password");
    let (status, _, answer) = token_request(&app, Some(("shop", SHOP_SECRET)), &grant).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let mut grant = code_grant(&code);
    grant[3] = (
        "code_verifier",
        "wrong-verifier-wrong-verifier-wrong-verifier-0",
    );
    let (status, _, answer) = token_request(&app, Some(("shop", SHOP_SECRET)), &grant).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let mut grant = code_grant(&code);
    grant[2] = ("redirect_uri", "https://shop.example.com/other");
    let (status, _, answer) = token_request(&app, Some(("shop", SHOP_SECRET)), &grant).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // The secret in the body works as well as HTTP Basic (client_secret_post).
    let mut grant = code_grant(&code);
    grant.push(("client_id", "shop"));
    grant.push(("client_secret", SHOP_SECRET));
    let (status, _, answer) = token_request(&app, None, &grant).await;
    assert_eq!(status, 200, "{answer}");

    // A code lives oidc.code_ttl (60 s).
    let ticket = browser.start(&app, &good_request()).await;
    let code = confirmed_code(&app, &mut browser, &ticket, &alice).await;
    app.clock.advance(std::time::Duration::from_secs(61));
    let (status, _, answer) =
        token_request(&app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Not a form: invalid_request, in JSON.
    let response = app
        .http
        .post(format!("{}/oidc/token", app.url))
        .json(&json!({ "grant_type": "authorization_code" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_request");
}

async fn refresh_tokens_rotate_for_their_own_client_only(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let alice = app.login("alice").await.token();
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;
    let code = confirmed_code(&app, &mut browser, &ticket, &alice).await;
    let (_, _, tokens) = token_request(&app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    // Another client cannot use it.
    let (status, _, answer) = token_request(
        &app,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", "spa"),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // Nor a mini-program's refresh token at this endpoint.
    let mini = app.login("bob").await.refresh_token();
    let (status, _, answer) = token_request(
        &app,
        Some(("shop", SHOP_SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", &mini)],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _, rotated) = token_request(
        &app,
        Some(("shop", SHOP_SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);
    assert!(
        app.is_authorized(rotated["access_token"].as_str().unwrap())
            .await
    );
    assert_eq!(rotated["scope"], "openid profile");
}

async fn a_denial_sends_the_browser_back_with_access_denied(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let alice = app.login("alice").await.token();
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;
    app.post_with_token("web-login/scan", &alice, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    app.post_with_token("web-login/deny", &alice, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    let response = browser.get(&format!("/oidc/scan/{ticket}")).await;
    assert_eq!(response.status(), 303);
    let query = query_of(&response);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "st-1");
    assert!(!query.contains_key("code"));
    // An expired ticket's page offers a new code for the same request.
    let ticket = browser.start(&app, &good_request()).await;
    app.clock.advance(std::time::Duration::from_secs(301));
    let page = browser.get(&format!("/oidc/scan/{ticket}")).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("data-state=\"expired\""), "{html}");
    let renewed = browser.get(&format!("/oidc/scan/{ticket}/renew")).await;
    assert_eq!(renewed.status(), 303);
    let fresh = location(&renewed)
        .trim_start_matches("/oidc/scan/")
        .to_string();
    assert_ne!(fresh, ticket);
    let page = browser.get(&format!("/oidc/scan/{fresh}?lang=zh")).await;
    let html = page.text().await.unwrap();
    assert!(
        html.contains("data-state=\"waiting\"") && html.contains("lang=\"zh-CN\""),
        "{html}"
    );
}

async fn web_sessions_show_their_client_in_the_console(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let alice = app.login("alice").await;
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;
    let code = confirmed_code(&app, &mut browser, &ticket, &alice.token()).await;
    let (_, _, tokens) = token_request(&app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let console = crate::admin_sign_in::signed_in(&app).await;
    let (_, _, html) = console.get("/admin/sessions").await;
    assert!(html.contains("The Shop"), "{html}");
    let (_, _, html) = console
        .get(&format!("/admin/users/{}", alice.user_id()))
        .await;
    assert!(html.contains("class=\"web-client\">The Shop<"), "{html}");
    // Revocable like any other: the console's revoke ends the web session.
    let session_id = app.db.count("sessions WHERE client_id = 'shop'");
    assert_eq!(session_id, 1);
    let csrf = crate::admin_sign_in::csrf_in(&html);
    let id = html
        .split("/admin/sessions/")
        .filter_map(|rest| rest.split('/').next())
        .find(|id| {
            app.db.count(&format!(
                "sessions WHERE id = '{id}' AND client_id = 'shop'"
            )) == 1
        })
        .expect("the web session's revoke form")
        .to_string();
    console
        .post(
            &format!("/admin/sessions/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert!(!app.is_authorized(&access).await);
    assert!(app.is_authorized(&alice.token()).await);
}

/// SPEC §12's own sessions list a web sign-in as `web` with its relying
/// party; the web session's own token, a relying party's, may not list,
/// export, end or delete the person's account.
async fn a_web_session_is_among_the_persons_own_and_its_token_is_not_theirs(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let alice = app.login("alice").await;
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;
    let code = confirmed_code(&app, &mut browser, &ticket, &alice.token()).await;
    let (_, _, tokens) = token_request(&app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    let web = tokens["access_token"].as_str().unwrap().to_string();

    let list = app.get_with_token("sessions", &alice.token()).await;
    list.expect(0, 200);
    let sessions = list.data()["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", list.text);
    let on_web = sessions
        .iter()
        .find(|s| s["platform"] == "web")
        .expect("the web session");
    assert_eq!(on_web["app"], "shop");
    assert_eq!(on_web["app_name"], "The Shop");
    assert_eq!(on_web["current"], false);

    // The person's export lists the sign-in: which application, which
    // browser, what they decided, the session it opened; nothing that
    // would let anyone use the ticket.
    let export = app.get_with_token("account/export", &alice.token()).await;
    export.expect(0, 200);
    let sign_ins = export.data()["web_sign_ins"].as_array().unwrap();
    assert_eq!(sign_ins.len(), 1, "{}", export.text);
    let sign_in = &sign_ins[0];
    assert_eq!(sign_in["client_id"], "shop");
    assert_eq!(sign_in["client_name"], "The Shop");
    assert_eq!(sign_in["decision"], "confirmed");
    assert_eq!(sign_in["session_id"], on_web["id"]);
    assert!(sign_in["scanned_at"].is_string() && sign_in["decided_at"].is_string());
    assert!(!export.text.contains(&ticket), "no ticket id in the export");
    app.get_with_token("sessions", &web).await.expect(-500, 403);
    app.get_with_token("account/export", &web)
        .await
        .expect(-500, 403);
    let revoke = format!("sessions/{}/revoke", on_web["id"].as_str().unwrap());
    app.post_with_token(&revoke, &web, json!({}))
        .await
        .expect(-500, 403);
    app.post_with_token("account/delete", &web, json!({}))
        .await
        .expect(-500, 403);
    assert!(app.is_authorized(&alice.token()).await);
    assert_eq!(app.db.count("users WHERE delete_after IS NOT NULL"), 0);
    // The person ends the web session from their own list.
    app.post_with_token(&revoke, &alice.token(), json!({}))
        .await
        .expect(0, 200);
    assert!(!app.is_authorized(&web).await);
}

async fn eddsa_id_tokens_for_a_client_that_asks(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        with_oidc(o).with("jwt_algorithm", "EdDSA").with(
            "oidc.clients",
            json!([{ "client_id": "shop", "client_secret": SHOP_SECRET, "name": "The Shop",
                         "redirect_uris": [REDIRECT], "id_token_alg": "EdDSA" }]),
        )
    })
    .await;
    let alice = app.login("alice").await;
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;
    let code = confirmed_code(&app, &mut browser, &ticket, &alice.token()).await;
    let (status, _, tokens) =
        token_request(&app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let set: Value = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| Some(k["kid"].as_str().unwrap()) == header.kid.as_deref())
        .expect("the ID token's kid is in the JWK Set");
    assert_eq!(key["kty"], "OKP");
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["shop"]);
    validation.set_issuer(&[ISSUER]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &decoding, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], alice.user_id().to_string());
    let doc: Value = app
        .http
        .get(format!("{}/.well-known/openid-configuration", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256", "EdDSA"])
    );
}

/// SPEC §11 on several instances (PostgreSQL): a ticket shown by one
/// instance is scanned through a second and completed through a third.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_crosses_three_instances() {
    let db = TestDb::new(Backend::Postgres);
    let mock = std::sync::Arc::new(MockWechat::spawn().await);
    let a = spawn_with(
        db.clone(),
        mock.clone(),
        with_oidc(Options::new(&db, &mock)),
    )
    .await;
    let b = spawn_with(
        db.clone(),
        mock.clone(),
        with_oidc(Options::new(&db, &mock)),
    )
    .await;
    let c = spawn_with(
        db.clone(),
        mock.clone(),
        with_oidc(Options::new(&db, &mock)),
    )
    .await;
    let alice = b.login("alice").await;
    let mut browser = Browser::new(&a);
    let ticket = browser.start(&a, &good_request()).await;
    let image = browser.get(&format!("/oidc/scan/{ticket}/code.png")).await;
    assert_eq!(image.status(), 200);
    b.post_with_token("web-login/scan", &alice.token(), json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    b.post_with_token(
        "web-login/confirm",
        &alice.token(),
        json!({ "scene": ticket }),
    )
    .await
    .expect(0, 200);
    // The browser, now served by the third instance, holds the same cookie.
    browser.base = c.url.clone();
    let again = browser.get(&format!("/oidc/scan/{ticket}/code.png")).await;
    assert_eq!(
        again.status(),
        404,
        "no code image once the ticket is decided"
    );
    let to_client = browser.get(&format!("/oidc/scan/{ticket}")).await;
    assert_eq!(to_client.status(), 303);
    let code = query_of(&to_client)["code"].clone();
    let (status, _, tokens) =
        token_request(&c, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    assert!(a.is_authorized(&access).await);
    // Presented again to the first instance: refused, and revoked everywhere.
    let (status, _, _) = token_request(&a, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    assert_eq!(status, 400);
    assert!(!b.is_authorized(&access).await);
    let calls = mock.call_stats().await;
    assert_eq!(
        calls["getwxacodeunlimit"]["by_scene"][&ticket], 1,
        "{calls}"
    );
}

async fn concurrent_loads_of_a_code_ask_wechat_once(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;
    let cookie = browser.cookie.clone().unwrap();
    let loads = (0..6).map(|_| {
        app.http
            .get(format!("{}/oidc/scan/{ticket}/code.png", app.url))
            .header("Cookie", cookie.clone())
            .send()
    });
    for response in futures::future::join_all(loads).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    let calls = app.mock.call_stats().await;
    assert_eq!(
        calls["getwxacodeunlimit"]["by_scene"][&ticket], 1,
        "{calls}"
    );
}

/// `oidc.scan_env_version`: a team trying web sign-in before its page is
/// released shows a code that opens the trial version, the page unchecked
/// (WeChat would refuse a page that the released version lacks).
async fn the_code_opens_the_configured_version_of_the_mini_program(backend: Backend) {
    let app = spawn_app_with(backend, |options| {
        with_oidc(options).with("oidc.scan_env_version", "trial")
    })
    .await;
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;
    let image = browser.get(&format!("/oidc/scan/{ticket}/code.png")).await;
    assert_eq!(image.status(), 200);
    assert_eq!(
        crate::wechat_wxacode::read_qr(&image.bytes().await.unwrap()),
        ticket
    );
    let calls = app.mock.call_stats().await;
    assert_eq!(
        calls["getwxacodeunlimit"]["by_version"],
        json!({"trial, no check_path": 1}),
        "{calls}"
    );
}

async fn a_code_not_collected_in_time_is_gone(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let alice = app.login("alice").await.token();
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;
    app.post_with_token("web-login/scan", &alice, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    app.post_with_token("web-login/confirm", &alice, json!({ "scene": ticket }))
        .await
        .expect(0, 200);
    // The browser comes back after the code's lifetime: nothing to collect.
    app.clock.advance(std::time::Duration::from_secs(61));
    let late = browser.get(&format!("/oidc/scan/{ticket}")).await;
    assert_eq!(late.status(), 200);
    assert!(late
        .text()
        .await
        .unwrap()
        .contains("data-state=\"finished\""));
    // A web token logs out its own session.
    let ticket = browser.start(&app, &good_request()).await;
    let code = confirmed_code(&app, &mut browser, &ticket, &alice).await;
    let (_, _, tokens) = token_request(&app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    let access = tokens["access_token"].as_str().unwrap();
    app.post_with_token("logout", access, json!({}))
        .await
        .expect(0, 200);
    assert!(!app.is_authorized(access).await);
    assert!(app.is_authorized(&alice).await);
}

/// A single-page application (a public client) calls the token endpoint
/// from its own origin: the preflight and the answers (refusals included)
/// allow that origin and no other; discovery and the JWK Set allow any.
async fn browsers_of_the_clients_origins_may_call_the_token_endpoint(backend: Backend) {
    let app = spawn_oidc(backend).await;
    let spa = "http://127.0.0.1:3000";
    let allow = |headers: &reqwest::header::HeaderMap| {
        headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    for path in ["/oidc/token", "/oidc/userinfo"] {
        let preflight = app
            .http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.url))
            .header("Origin", spa)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 204, "{path}");
        let headers = preflight.headers();
        assert_eq!(allow(headers).as_deref(), Some(spa), "{path}");
        let methods = headers["access-control-allow-methods"].to_str().unwrap();
        assert!(methods.contains("POST"), "{methods}");
        let allowed = headers["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("Authorization") && allowed.contains("Content-Type"));
        assert!(headers.get("access-control-allow-credentials").is_none());
        // Another origin is not allowed.
        let other = app
            .http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.url))
            .header("Origin", "https://evil.example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(allow(other.headers()), None, "{path}");
    }
    // A refusal is readable by the client's page: it carries the origin.
    let refused = app
        .http
        .post(format!("{}/oidc/token", app.url))
        .header("Origin", spa)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=nope&client_id=spa&redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcb&code_verifier=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrs")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(allow(refused.headers()).as_deref(), Some(spa));
    assert_eq!(refused.headers()["vary"], "Origin");
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        let public = app
            .http
            .get(format!("{}{path}", app.url))
            .header("Origin", "https://anyone.example")
            .send()
            .await
            .unwrap();
        assert_eq!(public.status(), 200);
        assert_eq!(allow(public.headers()).as_deref(), Some("*"), "{path}");
    }
}

/// `rate_limit.refresh_per_minute` holds at the token endpoint as at the
/// mini-programs' refresh: over it, 429 with `Retry-After`, in RFC 6749's
/// error shape.
async fn refreshes_at_the_token_endpoint_are_rate_limited(backend: Backend) {
    let app = spawn_app_with(backend, |o| {
        with_oidc(o).with("rate_limit", json!({ "refresh_per_minute": 2 }))
    })
    .await;
    let alice = app.login("alice").await.token();
    let mut browser = Browser::new(&app);
    let ticket = browser.start(&app, &good_request()).await;
    let code = confirmed_code(&app, &mut browser, &ticket, &alice).await;
    let (_, _, tokens) = token_request(&app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
    let mut refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let (status, _, answer) = token_request(
            &app,
            Some(("shop", SHOP_SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        refresh = answer["refresh_token"].as_str().unwrap().to_string();
    }
    let (status, headers, answer) = token_request(
        &app,
        Some(("shop", SHOP_SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["error"], "temporarily_unavailable");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
}

/// SPEC §2's bound on a person's live sessions holds for the web's too: a
/// web sign-in beyond it ends the least recently used session, as a login
/// in the mini-program does.
async fn web_sessions_count_against_the_session_limit(backend: Backend) {
    let app = spawn_app_with(backend, |o| with_oidc(o).with("session_limit_per_user", 3)).await;
    let alice = app.login("alice").await;
    let live = format!(
        "sessions WHERE user_id = {} AND revoked_at IS NULL",
        alice.user_id()
    );
    let mut web_tokens = Vec::new();
    for _ in 0..3 {
        let (_, code) = confirmed_in_a_new_browser(&app, &alice.token()).await;
        let (status, _, tokens) =
            token_request(&app, Some(("shop", SHOP_SECRET)), &code_grant(&code)).await;
        assert_eq!(status, 200, "{tokens}");
        web_tokens.push(tokens["access_token"].as_str().unwrap().to_string());
        // Two minutes on, the mini-program's session is used again (past
        // the interval at which use is recorded): it stays the most
        // recently used, each web session the one before less so.
        app.clock.advance(std::time::Duration::from_secs(120));
        assert!(app.is_authorized(&alice.token()).await);
    }
    // Four sessions opened, three live: the first web session ended.
    assert_eq!(app.db.count(&live), 3);
    assert_eq!(
        app.db
            .count("sessions WHERE revoke_reason = 'session_limit' AND client_id = 'shop'"),
        1
    );
    assert_eq!(
        app.db
            .count("audit_events WHERE kind = 'revoke' AND detail = 'session_limit'"),
        1
    );
    assert_eq!(userinfo_status(&app, &web_tokens[0]).await, 401);
    assert_eq!(userinfo_status(&app, &web_tokens[2]).await, 200);
}

/// Two web sign-ins of one person redeemed at the same moment on
/// PostgreSQL: each makes room under the session limit only once it holds
/// the person's row, so the second finds the first's session and the
/// limit holds. (Without the lock both counted the same sessions, ended
/// the same one, and left one session too many.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_sign_ins_at_the_same_moment_stay_within_the_limit() {
    use diesel::connection::SimpleConnection;
    let app = spawn_app_with(Backend::Postgres, |o| {
        with_oidc(o).with("session_limit_per_user", 3)
    })
    .await;
    // Two phones, each confirming one sign-in: nothing else the two
    // redeems share but her.
    let phones = [app.login("alice").await, app.login("alice").await];
    let alice = &phones[0];
    let mut codes = Vec::new();
    for phone in &phones {
        codes.push(confirmed_in_a_new_browser(&app, &phone.token()).await.1);
    }
    // Something else holds her row (a login, an erasure) while both codes
    // are redeemed.
    let mut held = crate::own_account::hold(
        &app,
        &format!(
            "SELECT id FROM users WHERE id = {} FOR UPDATE",
            alice.user_id()
        ),
    );
    let release = async {
        eventually("both redeems wait for her row", || {
            crate::own_account::lock_waits(&app) >= 2
        })
        .await;
        held.batch_execute("COMMIT").unwrap();
    };
    let (grant_a, grant_b) = (code_grant(&codes[0]), code_grant(&codes[1]));
    let (first, second, ()) = tokio::join!(
        token_request(&app, Some(("shop", SHOP_SECRET)), &grant_a),
        token_request(&app, Some(("shop", SHOP_SECRET)), &grant_b),
        release,
    );
    assert_eq!((first.0, second.0), (200, 200), "{} {}", first.2, second.2);
    assert_eq!(
        app.db.count(&format!(
            "sessions WHERE user_id = {} AND revoked_at IS NULL",
            alice.user_id()
        )),
        3,
        "four sessions opened, three may be live"
    );
}

/// A sign-in started in a new browser and confirmed with the mini-program
/// token `token`: its ticket and its authorization code.
async fn confirmed_in_a_new_browser(app: &TestApp, token: &str) -> (String, String) {
    let mut browser = Browser::new(app);
    let ticket = browser.start(app, &good_request()).await;
    let code = confirmed_code(app, &mut browser, &ticket, token).await;
    (ticket, code)
}

/// The status `/oidc/userinfo` answers an access token with.
async fn userinfo_status(app: &TestApp, token: &str) -> u16 {
    app.http
        .get(format!("{}/oidc/userinfo", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A code redeemed while an erasure of its person is under way (PostgreSQL):
/// the erasure holds the ticket and then wants the person, so the redeem
/// takes the ticket before the person too, and waits instead of holding
/// the person the erasure wants — no deadlock, which PostgreSQL would
/// answer by failing one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redeem_and_an_erasure_take_the_ticket_and_the_person_in_one_order() {
    use diesel::connection::SimpleConnection;
    let app = spawn_oidc(Backend::Postgres).await;
    let alice = app.login("alice").await;
    let (ticket, code) = confirmed_in_a_new_browser(&app, &alice.token()).await;
    // The erasure's steps (`account_deletion`): her tickets, then her.
    let mut erasure = crate::own_account::hold(
        &app,
        &format!("SELECT id FROM web_logins WHERE id = '{ticket}' FOR UPDATE"),
    );
    let person = format!(
        "SELECT id FROM users WHERE id = {} FOR UPDATE",
        alice.user_id()
    );
    let erase = async {
        eventually("the redeem waits for the ticket", || {
            crate::own_account::lock_waits(&app) >= 1
        })
        .await;
        let took = tokio::task::block_in_place(|| erasure.batch_execute(&person));
        erasure.batch_execute("ROLLBACK").unwrap();
        took
    };
    let grant = code_grant(&code);
    let (answer, took) = tokio::join!(
        token_request(&app, Some(("shop", SHOP_SECRET)), &grant),
        erase
    );
    assert!(took.is_ok(), "the erasure's lock of her: {took:?}");
    assert_eq!(answer.0, 200, "{}", answer.2);
}
