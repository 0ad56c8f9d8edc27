//! The authorization endpoint (OIDC Core §3.1.2; RFC 6749 §4.1.1 with
//! RFC 7636's PKCE and RFC 9700's advice): checks a relying party's request
//! and turns it into a web sign-in ticket, then sends the browser to the
//! ticket's scan page.
//!
//! A request that names no known client, or a `redirect_uri` the client did
//! not register, is answered with an error page (HTTP 400): redirecting
//! there would hand an attacker the answer. Every other refusal goes back to
//! the registered `redirect_uri` with `error`, `state` and `iss` (RFC 9207).

use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::response::Redirect;
use rocket::{get, post, FromForm, Responder, State};
use serde_json::json;

use super::settings::{Client, OidcSettings};
use crate::admin::i18n::Lang;
use crate::admin::templates::Template;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::Db;
use crate::error::ApiError;
use crate::flows::web_login::{self, NewTicket};
use crate::rate_limit::RateLimits;

/// The cookie that binds a ticket to the browser that showed it: the code
/// goes to that browser only.
pub const BROWSER_COOKIE: &str = "wxauth_web";

/// What a relying party may send (as the query, or a form POST).
#[derive(Debug, Default, FromForm)]
pub struct AuthorizeRequest {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    response_mode: Option<String>,
    request: Option<String>,
    request_uri: Option<String>,
}

#[derive(Responder)]
pub enum Answer {
    /// A request that cannot be answered at a redirect URI.
    Page((Status, Template)),
    /// The scan page, or the relying party with an error.
    Redirect(Redirect),
}

#[get("/oidc/authorize?<request..>")]
#[allow(clippy::too_many_arguments)]
pub async fn authorize_get(
    request: AuthorizeRequest,
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    limits: &State<std::sync::Arc<RateLimits>>,
    client: ClientInfo,
    cookies: &CookieJar<'_>,
    lang: Lang,
) -> Answer {
    authorize(request, config, clock, db, limits, client, cookies, lang).await
}

/// OIDC Core §3.1.2.1: the endpoint takes POST (a form) as well as GET.
#[post("/oidc/authorize", data = "<request>")]
#[allow(clippy::too_many_arguments)]
pub async fn authorize_post(
    request: rocket::form::Form<AuthorizeRequest>,
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    limits: &State<std::sync::Arc<RateLimits>>,
    client: ClientInfo,
    cookies: &CookieJar<'_>,
    lang: Lang,
) -> Answer {
    authorize(
        request.into_inner(),
        config,
        clock,
        db,
        limits,
        client,
        cookies,
        lang,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn authorize(
    request: AuthorizeRequest,
    config: &AppConfig,
    clock: &Clock,
    db: &Db,
    limits: &RateLimits,
    client: ClientInfo,
    cookies: &CookieJar<'_>,
    lang: Lang,
) -> Answer {
    let Some(oidc) = config.oidc.as_deref() else {
        return error_page(
            lang,
            Status::NotFound,
            "web sign-in is not configured on this server",
        );
    };
    let (relying_party, redirect_uri) = match relying_party(oidc, &request) {
        Ok(found) => found,
        Err(why) => return error_page(lang, Status::BadRequest, &why),
    };
    let back = Back {
        oidc,
        redirect_uri: &redirect_uri,
        state: request.state.as_deref(),
    };
    let checked = match check(relying_party, &request) {
        Ok(checked) => checked,
        Err((error, description)) => return back.error(error, &description),
    };
    if let Err(e) = limits
        .web_login
        .check_for_deployment(client.ip_addr(), db)
        .await
    {
        return match e {
            ApiError::TooManyRequests { .. } => back.error(
                "temporarily_unavailable",
                "too many sign-in attempts from this address; try again in a minute",
            ),
            other => {
                tracing::error!("web sign-in rate limit: {other}");
                back.error(
                    "server_error",
                    "the sign-in could not be started; try again",
                )
            }
        };
    }
    let browser = browser_secret(cookies, oidc);
    let ticket = NewTicket {
        client_id: relying_party.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope: checked.scope,
        state: request.state.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        browser_hash: crate::crypto::hash_token(&browser),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
    };
    match web_login::open(db, ticket, oidc.ticket_ttl, clock.now()).await {
        Ok(id) => Answer::Redirect(Redirect::to(format!("{}/{id}", super::SCAN_PATH))),
        Err(e) => {
            tracing::error!("cannot open a web sign-in ticket: {e}");
            back.error(
                "server_error",
                "the sign-in could not be started; try again",
            )
        }
    }
}

/// The client and its redirect URI, or why the request cannot even be
/// answered at a redirect URI.
fn relying_party<'a>(
    oidc: &'a OidcSettings,
    request: &AuthorizeRequest,
) -> Result<(&'a Client, String), String> {
    let client_id = request
        .client_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("the request names no client_id")?;
    let client = oidc
        .client(client_id)
        .ok_or_else(|| format!("{client_id:?} is not a client of this server"))?;
    let redirect_uri = request
        .redirect_uri
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("the request has no redirect_uri")?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(format!(
            "{redirect_uri:?} is not a redirect_uri registered for {client_id:?}"
        ));
    }
    Ok((client, redirect_uri.to_string()))
}

/// What a valid request asks for.
struct Checked {
    /// The scopes granted: `openid`, with `profile` and `phone` if asked;
    /// others are ignored (OIDC Core §3.1.2.1).
    scope: String,
}

/// RFC 6749 §4.1.2.1's error and its description.
type Refusal = (&'static str, String);

fn check(client: &Client, request: &AuthorizeRequest) -> Result<Checked, Refusal> {
    if request.request.is_some() {
        return Err((
            "request_not_supported",
            "request objects are not supported".into(),
        ));
    }
    if request.request_uri.is_some() {
        return Err((
            "request_uri_not_supported",
            "request_uri is not supported".into(),
        ));
    }
    match request.response_type.as_deref() {
        Some("code") => {}
        None | Some("") => return Err(("invalid_request", "response_type is missing".into())),
        Some(other) => {
            return Err((
                "unsupported_response_type",
                format!("response_type {other:?} is not supported; use \"code\""),
            ))
        }
    }
    if request
        .response_mode
        .as_deref()
        .is_some_and(|m| m != "query")
    {
        return Err(("invalid_request", "response_mode must be \"query\"".into()));
    }
    let asked: Vec<&str> = request
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if !asked.contains(&"openid") {
        return Err(("invalid_scope", "scope must include \"openid\"".into()));
    }
    let scope = ["openid", "profile", "phone"]
        .into_iter()
        .filter(|s| asked.contains(s))
        .collect::<Vec<_>>()
        .join(" ");
    if request
        .prompt
        .as_deref()
        .is_some_and(|p| p.split(' ').any(|p| p == "none"))
    {
        // Signing in always takes a scan.
        return Err((
            "login_required",
            "signing in takes a scan of the mini-program code".into(),
        ));
    }
    match (
        request.code_challenge.as_deref(),
        request.code_challenge_method.as_deref(),
    ) {
        (None, None) if client.secret.is_some() => {}
        (None, _) => {
            return Err((
                "invalid_request",
                "code_challenge is required (PKCE, S256)".into(),
            ))
        }
        (Some(challenge), Some("S256")) => {
            // BASE64URL(SHA-256(verifier)): 43 characters (RFC 7636 §4.2).
            let valid = challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err((
                    "invalid_request",
                    "code_challenge must be the base64url SHA-256 of the code_verifier".into(),
                ));
            }
        }
        (Some(_), _) => {
            return Err((
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)".into(),
            ))
        }
    }
    Ok(Checked { scope })
}

/// Where refusals go: the registered redirect URI.
struct Back<'a> {
    oidc: &'a OidcSettings,
    redirect_uri: &'a str,
    state: Option<&'a str>,
}

impl Back<'_> {
    fn error(&self, error: &str, description: &str) -> Answer {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(state) = self.state {
            params.push(("state", state));
        }
        params.push(("iss", &self.oidc.issuer));
        Answer::Redirect(Redirect::to(with_query(self.redirect_uri, &params)))
    }
}

/// `uri` with `params` added to its query.
pub fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    match reqwest::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.to_string()
        }
        // Registered URIs were checked at start.
        Err(_) => uri.to_string(),
    }
}

/// The secret of the browser's binding cookie, if it holds a well-formed one.
fn held_secret(cookies: &CookieJar<'_>) -> Option<String> {
    cookies
        .get(BROWSER_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// What a ticket keeps of the browser's binding cookie: its hash.
pub fn browser_hash(cookies: &CookieJar<'_>) -> Option<String> {
    held_secret(cookies).map(|secret| crate::crypto::hash_token(&secret))
}

/// The browser's binding secret: the one it holds, or a new one set now.
fn browser_secret(cookies: &CookieJar<'_>, oidc: &OidcSettings) -> String {
    if let Some(secret) = held_secret(cookies) {
        return secret;
    }
    let secret = crate::crypto::random_token(32);
    let cookie = Cookie::build((BROWSER_COOKIE, secret.clone()))
        .path("/oidc")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(oidc.issuer.starts_with("https://"));
    cookies.add(cookie);
    secret
}

fn error_page(lang: Lang, status: Status, why: &str) -> Answer {
    let t = lang.table();
    Answer::Page((
        status,
        Template::render(
            "oidc/error",
            json!({ "t": t, "lang": lang.code(), "text": why }),
        ),
    ))
}
