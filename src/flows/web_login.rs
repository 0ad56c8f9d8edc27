//! Web sign-in tickets (SPEC §11): a browser's authorization request waits
//! as a ticket; the person scans its code in the mini-program (the first
//! scanner holds it), then confirms or denies it. Each step is one
//! conditional write and its audit event, in one transaction; what a step
//! refuses is said by reading the ticket after.

use crate::db::audit::{self, Kind, NewEvent};
use crate::db::web_logins::{self, NewWebLogin, WebLogin, CONFIRMED, DENIED};
use crate::db::{users, Db};
use crate::error::ApiError;

/// A browser's request, checked by the authorization endpoint.
pub struct NewTicket {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub browser_hash: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The longest scene WeChat's mini-program code carries.
pub const SCENE_LEN: usize = 32;

/// Stores the request as a new ticket that lives `ttl` seconds: its id is
/// the scene of the code the browser shows.
pub async fn open(db: &Db, ticket: NewTicket, ttl: i64, now: i64) -> Result<String, ApiError> {
    // 24 characters of base64url (18 random bytes): within the scene's 32,
    // and all of them characters a scene may hold.
    let id = crate::crypto::random_token(18);
    let stored = id.clone();
    db.write(move |conn| {
        web_logins::insert(
            conn,
            &NewWebLogin {
                id: &stored,
                client_id: &ticket.client_id,
                redirect_uri: &ticket.redirect_uri,
                scope: &ticket.scope,
                state: ticket.state.as_deref(),
                nonce: ticket.nonce.as_deref(),
                code_challenge: ticket.code_challenge.as_deref(),
                browser_hash: &ticket.browser_hash,
                ip: ticket.ip.as_deref(),
                user_agent: ticket.user_agent.as_deref(),
                created_at: now,
                expires_at: now + ttl,
            },
        )?;
        audit::record(
            conn,
            &NewEvent::new(Kind::WebLoginStart, now)
                .ip(ticket.ip.clone())
                .detail(format!("client {}", ticket.client_id)),
        )?;
        Ok(())
    })
    .await?;
    Ok(id)
}

/// Who is scanning or deciding: the caller's person and session.
#[derive(Clone)]
pub struct Scanner {
    pub user_id: i64,
    pub session_id: String,
    pub ip: Option<String>,
}

/// A scene as the mini-program sends it: checked before any lookup.
pub fn check_scene(scene: &str) -> Result<&str, ApiError> {
    let scene = scene.trim();
    if scene.is_empty() || scene.len() > SCENE_LEN {
        return Err(ApiError::bad_request(format!(
            "scene must be the 1 to {SCENE_LEN} characters of the scanned code's scene"
        )));
    }
    Ok(scene)
}

/// The scanner takes the ticket (or already holds it): the ticket, to
/// show what is asking.
pub async fn scan(db: &Db, scene: &str, who: Scanner, now: i64) -> Result<WebLogin, ApiError> {
    let scene = check_scene(scene)?.to_string();
    db.write(move |conn| {
        let took = web_logins::take_scan(conn, &scene, who.user_id, now)?;
        let ticket = web_logins::find(conn, &scene)?;
        let ticket = match ticket {
            Some(t) if t.expires_at > now && t.decision.is_none() => t,
            _ => return Err(gone()),
        };
        if ticket.scanned_by != Some(who.user_id) {
            return Err(held());
        }
        if took {
            audit::record(
                conn,
                &NewEvent::new(Kind::WebLoginScan, now)
                    .user(who.user_id)
                    .session(&who.session_id)
                    .ip(who.ip.clone())
                    .detail(format!("client {}", ticket.client_id)),
            )?;
        }
        Ok(ticket)
    })
    .await
}

/// The scanner's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirm,
    Deny,
}

/// Records the scanner's decision. Only the person who scanned the ticket
/// decides, once, while it lives; a banned person cannot confirm.
pub async fn decide(
    db: &Db,
    scene: &str,
    who: Scanner,
    decision: Decision,
    now: i64,
) -> Result<(), ApiError> {
    let scene = check_scene(scene)?.to_string();
    db.write(move |conn| {
        if decision == Decision::Confirm {
            let banned = users::find(conn, who.user_id)?.is_none_or(|u| u.is_banned());
            if banned {
                return Err(ApiError::UserBanned);
            }
        }
        let (value, kind) = match decision {
            Decision::Confirm => (CONFIRMED, Kind::WebLoginConfirm),
            Decision::Deny => (DENIED, Kind::WebLoginDeny),
        };
        if !web_logins::decide(conn, &scene, who.user_id, value, now)? {
            return Err(match web_logins::find(conn, &scene)? {
                Some(t) if t.expires_at > now && t.decision.is_none() => match t.scanned_by {
                    None => ApiError::Forbidden("scan this sign-in code first".into()),
                    Some(_) => held(),
                },
                _ => gone(),
            });
        }
        let client_id = web_logins::find(conn, &scene)?
            .map(|t| t.client_id)
            .unwrap_or_default();
        audit::record(
            conn,
            &NewEvent::new(kind, now)
                .user(who.user_id)
                .session(&who.session_id)
                .ip(who.ip.clone())
                .detail(format!("client {client_id}")),
        )?;
        Ok(())
    })
    .await
}

/// An unknown, expired or spent ticket: -102 (404).
fn gone() -> ApiError {
    ApiError::NotFound("this sign-in code is unknown, expired or already used".into())
}

/// Someone else scanned the ticket first, or a decision by anyone but its
/// scanner: -500 (403).
fn held() -> ApiError {
    ApiError::Forbidden("this sign-in code was scanned by someone else".into())
}
