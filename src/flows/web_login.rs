//! Web sign-in tickets (SPEC §11): a browser's authorization request waits
//! as a ticket; the person scans its code in the mini-program (the first
//! scanner holds it), then confirms or denies it. Each step is one
//! conditional write and its audit event, in one transaction; what a step
//! refuses is said by reading the ticket after.

use crate::db::audit::{self, Kind, NewEvent};
use crate::db::web_logins::{self, NewWebLogin, WebLogin, CONFIRMED, DENIED};
use crate::db::{users, Db};
use crate::error::ApiError;
use crate::webhooks::{EventType, Webhooks};
use serde_json::json;

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
        let took = web_logins::take_scan(conn, &scene, who.user_id, &who.session_id, now)?;
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

/// The confirmed ticket's authorization code for the browser that showed
/// it (`browser_hash`): None when the ticket is not confirmed, not this
/// browser's, was confirmed more than `code_ttl` ago without the browser
/// coming for it, or its code was spent or has expired. The code is a MAC
/// of the ticket under `key`, so a reload that overlaps the first delivery
/// gets the same code rather than none.
pub async fn give_code(
    db: &Db,
    key: &[u8; 32],
    ticket: &WebLogin,
    browser_hash: &str,
    code_ttl: i64,
    now: i64,
) -> Result<Option<String>, ApiError> {
    let code = crate::crypto::keyed_token(key, "web_login_code", &ticket.id);
    let code_hash = crate::crypto::hash_token(&code);
    if let Some(given) = &ticket.code_hash {
        let again = *given == code_hash
            && ticket.code_used_at.is_none()
            && ticket.code_expires_at.is_some_and(|at| at > now);
        return Ok(again.then_some(code));
    }
    if ticket.decided_at.is_none_or(|at| at + code_ttl <= now) {
        return Ok(None);
    }
    let (id, browser) = (ticket.id.clone(), browser_hash.to_string());
    let given = db
        .write(move |conn| {
            Ok(web_logins::give_code(
                conn,
                &id,
                &browser,
                &code_hash,
                now + code_ttl,
            )?)
        })
        .await?;
    Ok(given.then_some(code))
}

/// A relying party's authorization code request (RFC 6749 §4.1.3), its
/// client already authenticated.
pub struct Redeem {
    pub code: String,
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub session_ttl: i64,
    /// The person's sessions, the web's among them, are bounded as a
    /// login's are.
    pub limit: super::session_limit::Limit,
}

/// What a code is worth.
pub enum Redeemed {
    /// A new web session, at refresh generation 0.
    Opened {
        issued: crate::flows::Issued,
        nonce: Option<String>,
        scope: String,
        /// When the person confirmed (`auth_time`).
        auth_time: i64,
    },
    /// Refused (RFC 6749 `invalid_grant`), and why.
    Refused(&'static str),
    /// The code came back after it was spent: the session it opened is
    /// revoked (RFC 6749 §4.1.2) and the request refused.
    Replayed,
}

/// Spends an authorization code: checks it against the request (client,
/// redirect URI, PKCE) and opens the web session of the person who
/// confirmed, continuing the identity they scanned with.
pub async fn redeem(db: &Db, request: Redeem, now: i64) -> Result<Redeemed, ApiError> {
    let code_hash = crate::crypto::hash_token(&request.code);
    let session_id = crate::db::sessions::new_id();
    let hooks = db.webhooks().clone();
    let redeemed = db
        .write(move |conn| {
            let Some(ticket) = web_logins::find_by_code(conn, &code_hash)? else {
                return Ok(Redeemed::Refused("the code is not known"));
            };
            if ticket.code_used_at.is_some() {
                revoke_replayed(conn, &hooks, &ticket, now)?;
                return Ok(Redeemed::Replayed);
            }
            if ticket.code_expires_at.is_none_or(|at| at <= now) {
                return Ok(Redeemed::Refused("the code has expired"));
            }
            if ticket.client_id != request.client_id {
                return Ok(Redeemed::Refused("the code was issued to another client"));
            }
            if request.redirect_uri.as_deref() != Some(ticket.redirect_uri.as_str()) {
                return Ok(Redeemed::Refused(
                    "redirect_uri is not the one of the authorization request",
                ));
            }
            if !pkce_holds(
                ticket.code_challenge.as_deref(),
                request.code_verifier.as_deref(),
            ) {
                return Ok(Redeemed::Refused(
                    "code_verifier does not match the code_challenge",
                ));
            }
            let (Some(user_id), Some(scanned), Some(auth_time)) = (
                ticket.scanned_by,
                &ticket.scanned_session,
                ticket.decided_at,
            ) else {
                return Ok(Redeemed::Refused("the code is not known"));
            };
            let Some((through, banned_at)) = crate::db::sessions::find_with_ban(conn, scanned)?
            else {
                return Ok(Redeemed::Refused("the session that confirmed has ended"));
            };
            if banned_at.is_some() || through.revoked_at.is_some() {
                return Ok(Redeemed::Refused(
                    "the person who confirmed can no longer sign in",
                ));
            }
            if !web_logins::spend_code(conn, &ticket.id, &session_id, now)? {
                return Ok(Redeemed::Replayed);
            }
            // Then the person's row (PostgreSQL): the ticket before the
            // person, as an erasure takes them, and the person before her
            // sessions, as every flow that ends several takes them; so two
            // sign-ins at the same moment do not both find room below the
            // session limit.
            if !users::lock_row(conn, user_id)? {
                return Ok(Redeemed::Refused(
                    "the person who confirmed can no longer sign in",
                ));
            }
            // The session that confirmed was used when it did (its last use
            // is recorded once a minute at most): it is not the least
            // recently used one that the new session may displace.
            crate::db::sessions::touch(conn, scanned, auth_time, 0)?;
            super::session_limit::make_room(conn, &hooks, user_id, request.limit, now)?;
            crate::db::sessions::insert(
                conn,
                &crate::db::sessions::NewSession {
                    id: &session_id,
                    user_id,
                    identity_id: through.identity_id,
                    appid: &through.appid,
                    session_key_sealed: "",
                    created_at: now,
                    last_seen_at: now,
                    expires_at: now + request.session_ttl,
                    ip: ticket.ip.as_deref(),
                    user_agent: ticket.user_agent.as_deref(),
                    cookie_hash: None,
                },
            )?;
            crate::db::sessions::set_web(conn, &session_id, &ticket.client_id, &ticket.scope)?;
            hooks.emit(
                conn,
                EventType::SessionCreated,
                || {
                    json!({ "session": {
                    "id": session_id,
                    "user_id": user_id,
                    "appid": through.appid,
                    "client_id": ticket.client_id,
                    "created_at": crate::timestamp::rfc3339(now),
                    "expires_at": crate::timestamp::rfc3339(now + request.session_ttl),
                    "ip": ticket.ip,
                } })
                },
                now,
            )?;
            audit::record(
                conn,
                &NewEvent::new(Kind::Login, now)
                    .user(user_id)
                    .session(&session_id)
                    .ip(ticket.ip.clone())
                    .detail(format!("web_login client {}", ticket.client_id)),
            )?;
            Ok(Redeemed::Opened {
                issued: crate::flows::Issued {
                    user_id,
                    session_id: session_id.clone(),
                    appid: ticket.client_id.clone(),
                    generation: 0,
                    issued_at: now,
                },
                nonce: ticket.nonce.clone(),
                scope: ticket.scope.clone(),
                auth_time,
            })
        })
        .await;
    db.webhooks().ring();
    redeemed
}

/// A spent code came back: the session it opened is revoked (RFC 6749
/// §4.1.2), with its audit event and `session.ended`.
fn revoke_replayed(
    conn: &mut crate::db::AnyConnection,
    hooks: &Webhooks,
    ticket: &WebLogin,
    now: i64,
) -> Result<(), ApiError> {
    let Some(spent) = &ticket.session_id else {
        return Ok(());
    };
    let Some(session) = crate::db::sessions::find(conn, spent)? else {
        return Ok(());
    };
    super::session_end::end(
        conn,
        hooks,
        super::session_end::Ending {
            id: spent,
            user_id: session.user_id,
            appid: &session.appid,
            reason: "code_replay",
        },
        NewEvent::new(Kind::Revoke, now).detail("code_replay"),
        now,
    )?;
    Ok(())
}

/// RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge, the
/// verifier 43 to 128 unreserved characters. Without a challenge (a
/// confidential client that sent none) a verifier is refused too
/// (RFC 9700 §2.1.1: no downgrade).
pub fn pkce_holds(challenge: Option<&str>, verifier: Option<&str>) -> bool {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use sha2::{Digest, Sha256};
    match (challenge, verifier) {
        (None, None) => true,
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
            let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            well_formed && crate::crypto::constant_time_eq(digest.as_bytes(), challenge.as_bytes())
        }
        _ => false,
    }
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
