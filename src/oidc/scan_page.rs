//! The scan page (SPEC §11): what the browser shows while a ticket waits —
//! the client's name and the mini-program code whose scene is the ticket —
//! and where it goes once the person decides: on to the client's
//! `redirect_uri` with the authorization code (made for this browser only,
//! by its binding cookie) or with `error=access_denied`. It refreshes itself
//! without JavaScript and polls with it; "expired — show a new code" after
//! `oidc.ticket_ttl`.

use std::collections::HashMap;
use std::sync::Arc;

use rocket::http::{ContentType, CookieJar, Header, Status};
use rocket::response::Redirect;
use rocket::{get, Responder, State};
use serde_json::json;

use super::authorize::{browser_hash, with_query, Answer};
use super::settings::OidcSettings;
use crate::admin::i18n::Lang;
use crate::admin::templates::Template;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::crypto::Sealer;
use crate::db::web_logins::{self, WebLogin, CONFIRMED, DENIED};
use crate::db::Db;
use crate::flows::web_login;
use crate::wechat::access_token::AccessTokens;
use crate::wechat::client::WechatClient;
use crate::wechat::wxacode::{is_image, WxaCodes};

/// Seconds between the page's own refreshes without JavaScript.
const REFRESH: u32 = 3;

/// Where a ticket stands, as the browser that showed it sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Waiting,
    Scanned,
    Confirmed,
    Denied,
    Expired,
    /// The code went to this browser already (a reload after it left).
    Finished,
}

impl Stage {
    /// `code_ttl`: how long a confirmed ticket's code may be collected, and
    /// lives once made.
    fn of(ticket: &WebLogin, code_ttl: i64, now: i64) -> Stage {
        let collectable = match (&ticket.code_hash, ticket.code_expires_at) {
            (Some(_), Some(expires)) => ticket.code_used_at.is_none() && expires > now,
            _ => ticket.decided_at.is_some_and(|at| at + code_ttl > now),
        };
        match ticket.decision.as_deref() {
            Some(d) if d == CONFIRMED && collectable => Stage::Confirmed,
            Some(d) if d == CONFIRMED => Stage::Finished,
            Some(d) if d == DENIED => Stage::Denied,
            _ if ticket.expires_at <= now => Stage::Expired,
            _ if ticket.scanned_by.is_some() => Stage::Scanned,
            _ => Stage::Waiting,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Stage::Waiting => "waiting",
            Stage::Scanned => "scanned",
            Stage::Confirmed => "confirmed",
            Stage::Denied => "denied",
            Stage::Expired => "expired",
            Stage::Finished => "finished",
        }
    }
}

/// The ticket, if it is this browser's.
async fn this_browsers(
    db: &Db,
    cookies: &CookieJar<'_>,
    ticket: &str,
) -> Result<Option<WebLogin>, crate::error::ApiError> {
    let Some(hash) = browser_hash(cookies) else {
        return Ok(None);
    };
    if ticket.len() > web_login::SCENE_LEN {
        return Ok(None);
    }
    let id = ticket.to_string();
    let found = db.run(move |conn| Ok(web_logins::find(conn, &id)?)).await?;
    Ok(found
        .filter(|t| crate::crypto::constant_time_eq(t.browser_hash.as_bytes(), hash.as_bytes())))
}

#[get("/oidc/scan/<ticket>?<lang>")]
#[allow(clippy::too_many_arguments)]
pub async fn scan_page(
    ticket: &str,
    lang: Option<&str>,
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    cookies: &CookieJar<'_>,
    chosen: Lang,
) -> Answer {
    let lang = lang.and_then(Lang::parse).unwrap_or(chosen);
    let Some(oidc) = config.oidc.as_deref() else {
        return page_error(lang, Status::NotFound, "web_login_elsewhere");
    };
    let found = match this_browsers(db, cookies, ticket).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!("scan page: {e}");
            return page_error(lang, Status::ServiceUnavailable, "web_login_error_hint");
        }
    };
    let Some(found) = found else {
        return page_error(lang, Status::BadRequest, "web_login_elsewhere");
    };
    let now = clock.now();
    let stage = Stage::of(&found, oidc.code_ttl, now);
    match stage {
        Stage::Confirmed => {
            let Some(hash) = browser_hash(cookies) else {
                return page_error(lang, Status::BadRequest, "web_login_elsewhere");
            };
            let key = &config.session_key_secret.0;
            match web_login::give_code(db, key, &found, &hash, oidc.code_ttl, now).await {
                Ok(Some(code)) => {
                    let mut params = vec![("code", code.as_str())];
                    if let Some(state) = &found.state {
                        params.push(("state", state));
                    }
                    params.push(("iss", &oidc.issuer));
                    Answer::Redirect(Redirect::to(with_query(&found.redirect_uri, &params)))
                }
                Ok(None) => render(oidc, lang, &found, Stage::Finished),
                Err(e) => {
                    tracing::error!("scan page: {e}");
                    page_error(lang, Status::ServiceUnavailable, "web_login_error_hint")
                }
            }
        }
        Stage::Denied => {
            let mut params = vec![
                ("error", "access_denied"),
                ("error_description", "the person declined the sign-in"),
            ];
            if let Some(state) = &found.state {
                params.push(("state", state));
            }
            params.push(("iss", &oidc.issuer));
            Answer::Redirect(Redirect::to(with_query(&found.redirect_uri, &params)))
        }
        _ => render(oidc, lang, &found, stage),
    }
}

fn render(oidc: &OidcSettings, lang: Lang, ticket: &WebLogin, stage: Stage) -> Answer {
    let client_name = oidc
        .client(&ticket.client_id)
        .map_or(ticket.client_id.as_str(), |c| c.name.as_str());
    let base = format!("{}/{}", super::SCAN_PATH, ticket.id);
    let live = matches!(stage, Stage::Waiting | Stage::Scanned);
    Answer::Page((
        Status::Ok,
        Template::render(
            "oidc/scan",
            json!({
                "t": lang.table(),
                "lang": lang.code(),
                "state": stage.as_str(),
                "client_name": client_name,
                "image": format!("{base}/code.png"),
                "poll": if live { format!("{base}/state") } else { String::new() },
                "renew": format!("{base}/renew"),
                "refresh": if live { REFRESH } else { 0 },
                "expires_at": crate::timestamp::rfc3339(ticket.expires_at),
                // Without JavaScript; the page's script shows the reader's own time.
                "expires_at_utc": clock_utc(ticket.expires_at),
            }),
        ),
    ))
}

/// `HH:MM UTC` of a moment.
fn clock_utc(unix_seconds: i64) -> String {
    let seconds = unix_seconds.rem_euclid(86_400);
    format!("{:02}:{:02} UTC", seconds / 3600, seconds % 3600 / 60)
}

fn page_error(lang: Lang, status: Status, key: &str) -> Answer {
    Answer::Page((
        status,
        Template::render(
            "oidc/error",
            json!({ "t": lang.table(), "lang": lang.code(), "text": lang.get(key) }),
        ),
    ))
}

/// The ticket's stage for the page's polling.
#[get("/oidc/scan/<ticket>/state")]
pub async fn scan_state(
    ticket: &str,
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    cookies: &CookieJar<'_>,
) -> (Status, (ContentType, String)) {
    let code_ttl = config.oidc.as_ref().map_or(0, |o| o.code_ttl);
    match this_browsers(db, cookies, ticket).await {
        Ok(Some(found)) => (
            Status::Ok,
            (
                ContentType::JSON,
                json!({ "state": Stage::of(&found, code_ttl, clock.now()).as_str() }).to_string(),
            ),
        ),
        Ok(None) => (
            Status::NotFound,
            (ContentType::JSON, json!({ "state": "unknown" }).to_string()),
        ),
        Err(_) => (
            Status::ServiceUnavailable,
            (
                ContentType::JSON,
                json!({ "state": "unavailable" }).to_string(),
            ),
        ),
    }
}

/// One fetch of a ticket's code image at a time on this instance: two
/// loads of a new page at once would otherwise both ask WeChat.
#[derive(Default)]
pub struct ImageFetches(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl ImageFetches {
    fn lock_for(&self, ticket: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(ticket.to_string()).or_default().clone()
    }

    fn done(&self, ticket: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(ticket).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(ticket);
        }
    }
}

#[derive(Responder)]
pub enum Image {
    Found(Box<(ContentType, Vec<u8>)>, Header<'static>),
    Missing(Status),
}

/// The mini-program code of a waiting ticket: asked of WeChat once (with
/// the shared access_token of `oidc.scan_app`) and kept with the ticket.
#[get("/oidc/scan/<ticket>/code.png")]
#[allow(clippy::too_many_arguments)]
pub async fn code_image(
    ticket: &str,
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    sealer: &State<Sealer>,
    wechat: &State<WechatClient>,
    codes: &State<WxaCodes>,
    fetches: &State<ImageFetches>,
    cookies: &CookieJar<'_>,
) -> Image {
    let Some(oidc) = config.oidc.as_deref() else {
        return Image::Missing(Status::NotFound);
    };
    let found = match this_browsers(db, cookies, ticket).await {
        Ok(Some(found)) if Stage::of(&found, oidc.code_ttl, clock.now()) == Stage::Waiting => found,
        Ok(_) => return Image::Missing(Status::NotFound),
        Err(_) => return Image::Missing(Status::ServiceUnavailable),
    };
    let lock = fetches.lock_for(&found.id);
    let held = lock.lock().await;
    let bytes = cached_or_fetched(config, oidc, db, sealer, wechat, codes, &found.id).await;
    drop(held);
    drop(lock);
    fetches.done(&found.id);
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(status) => return Image::Missing(status),
    };
    let content_type = if bytes.starts_with(b"\x89PNG") {
        ContentType::PNG
    } else if is_image(&bytes) {
        ContentType::JPEG
    } else {
        return Image::Missing(Status::BadGateway);
    };
    Image::Found(
        Box::new((content_type, bytes)),
        Header::new("Cache-Control", "private, max-age=300"),
    )
}

/// The ticket's code image: kept, or asked of WeChat now and kept.
#[allow(clippy::too_many_arguments)]
async fn cached_or_fetched(
    config: &AppConfig,
    oidc: &OidcSettings,
    db: &Db,
    sealer: &Sealer,
    wechat: &WechatClient,
    codes: &WxaCodes,
    ticket: &str,
) -> Result<Vec<u8>, Status> {
    let id = ticket.to_string();
    let cached = db
        .run(move |conn| Ok(web_logins::code_image(conn, &id)?))
        .await
        .map_err(|_| Status::ServiceUnavailable)?;
    if let Some(bytes) = cached {
        return Ok(bytes);
    }
    let app = config.app(&oidc.scan_app).ok_or(Status::NotFound)?;
    let tokens = AccessTokens {
        db,
        sealer,
        client: wechat,
        timeout_ms: config.wechat.timeout_ms,
    };
    let (page, env) = (oidc.scan_page.as_str(), oidc.scan_env_version);
    let bytes = tokens
        .with_token(app, |token| async move {
            codes.unlimited(wechat, &token, ticket, page, env).await
        })
        .await
        .map_err(|e| {
            tracing::error!("cannot fetch the mini-program code: {e}");
            Status::BadGateway
        })?;
    let (id, kept) = (ticket.to_string(), bytes.clone());
    if let Err(e) = db
        .write(move |conn| Ok(web_logins::keep_code_image(conn, &id, &kept)?))
        .await
    {
        tracing::warn!("cannot keep a sign-in code image: {e}");
    }
    Ok(bytes)
}

/// "Show a new code": the same request as a new ticket for this browser.
#[get("/oidc/scan/<ticket>/renew")]
#[allow(clippy::too_many_arguments)]
pub async fn renew(
    ticket: &str,
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    limits: &State<std::sync::Arc<crate::rate_limit::RateLimits>>,
    client: crate::client_info::ClientInfo,
    cookies: &CookieJar<'_>,
    lang: Lang,
) -> Answer {
    let Some(oidc) = config.oidc.as_deref() else {
        return page_error(lang, Status::NotFound, "web_login_elsewhere");
    };
    let old = match this_browsers(db, cookies, ticket).await {
        // Only a ticket that can no longer sign in is renewed: two live
        // tickets of one request would give two codes for one verifier.
        Ok(Some(old)) if Stage::of(&old, oidc.code_ttl, clock.now()) == Stage::Expired => old,
        Ok(Some(_)) => return page_error(lang, Status::BadRequest, "web_login_elsewhere"),
        Ok(None) => return page_error(lang, Status::BadRequest, "web_login_elsewhere"),
        Err(_) => return page_error(lang, Status::ServiceUnavailable, "web_login_error_hint"),
    };
    if limits
        .web_login
        .check_for_deployment(client.ip_addr(), db)
        .await
        .is_err()
    {
        return page_error(lang, Status::TooManyRequests, "web_login_error_hint");
    }
    let renewed = web_login::NewTicket {
        client_id: old.client_id,
        redirect_uri: old.redirect_uri,
        scope: old.scope,
        state: old.state,
        nonce: old.nonce,
        code_challenge: old.code_challenge,
        browser_hash: old.browser_hash,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
    };
    match web_login::open(db, renewed, oidc.ticket_ttl, clock.now()).await {
        Ok(id) => Answer::Redirect(Redirect::to(format!("{}/{id}", super::SCAN_PATH))),
        Err(_) => page_error(lang, Status::ServiceUnavailable, "web_login_error_hint"),
    }
}

/// The page's script (CSP: scripts from this origin only).
#[get("/oidc/static/scan.js")]
pub fn script() -> (ContentType, &'static str) {
    (
        ContentType::JavaScript,
        include_str!("../../templates/oidc/static/scan.js"),
    )
}
