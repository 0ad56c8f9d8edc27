//! The request guards through which a route learns who is calling: the
//! credential from the headers (a token, or the tutorial clients' session
//! cookie), then the live session row and its user. Nothing is cached between
//! requests, so a revocation written by any instance is seen by the next
//! request.

use std::sync::Arc;

use rocket::http::{Method, Status};
use rocket::request::{FromRequest, Outcome, Request};

use crate::auth::session_check::{check_claims, check_live};
use crate::auth::session_cookie;
use crate::auth::token::{Claims, Expiry};
use crate::auth::Keys;
use crate::client_info::is_cross_site;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::live_session::LiveSession;
use crate::db::sessions;
use crate::db::Db;
use crate::error::ApiError;
use crate::state::managed;

/// The raw token: `Authorization: Bearer <token>`, or the original design's
/// `token: <token>` header. Never a query parameter.
pub fn token_from_headers<'r>(req: &'r Request<'_>) -> Option<&'r str> {
    if let Some(value) = req.headers().get_one("Authorization") {
        let value = value.trim();
        if let Some((scheme, token)) = value.split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
                return Some(token.trim());
            }
        }
    }
    req.headers()
        .get_one("token")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// What the caller presented: `Authorization` first, then `token:`, then the
/// session cookie (when it is on).
enum Credential<'r> {
    Token(&'r str),
    Cookie(&'r str),
}

fn credential<'r>(req: &'r Request<'_>, config: &AppConfig) -> Option<Credential<'r>> {
    if let Some(token) = token_from_headers(req) {
        return Some(Credential::Token(token));
    }
    let name = config.compat.cookie()?;
    session_cookie::find(req.headers().get("Cookie"), name).map(Credential::Cookie)
}

/// A browser sends the cookie by itself, so a request that the cookie alone
/// authenticates must not come from another site's page: cross-site marks are
/// refused, and a POST (but `status`) must carry a JSON body, which no plain
/// form or cross-site fetch without a preflight can send.
fn cookie_request_allowed(req: &Request<'_>) -> Result<(), ApiError> {
    if is_cross_site(req) {
        return Err(ApiError::Forbidden(
            "a request from another site cannot use the session cookie".into(),
        ));
    }
    let is_status = req.uri().path().as_str().ends_with("/status");
    if req.method() == Method::Post
        && !is_status
        && !req.content_type().is_some_and(|ct| ct.is_json())
    {
        return Err(ApiError::WrongParams {
            status: Status::UnsupportedMediaType,
            message: "a request authenticated by the session cookie must send a JSON body (Content-Type: application/json)".into(),
        });
    }
    Ok(())
}

/// Who may log out: the claims of any token we signed (expired ones too:
/// logout is idempotent), or a session cookie, checked against its session by
/// the logout flow.
pub enum Caller {
    Token(Arc<Claims>),
    Cookie { session_id: String, secret: String },
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Caller {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        let result = (|| match credential(req, managed::<AppConfig>(req)?)
            .ok_or_else(|| ApiError::Unauthorized("missing token".into()))?
        {
            Credential::Token(token) => Ok(Caller::Token(
                managed::<Keys>(req)?.access.verify(token, Expiry::Ignore)?,
            )),
            Credential::Cookie(value) => {
                cookie_request_allowed(req)?;
                let (session_id, secret) = session_cookie::split(value)
                    .ok_or_else(|| ApiError::Unauthorized("malformed session cookie".into()))?;
                Ok(Caller::Cookie {
                    session_id: session_id.into(),
                    secret: secret.into(),
                })
            }
        })();
        into_outcome(result)
    }
}

/// A caller with a valid credential of a live session of a user who is not
/// banned.
pub struct AuthSession {
    pub user_id: i64,
    pub session: LiveSession,
    /// Until when the credential is good: the token's `exp`, or for the
    /// cookie the session's own expiry.
    pub expires_at: i64,
}

impl AuthSession {
    /// The caller, if its session is a mini-program's. A web sign-in's
    /// session (SPEC §11) belongs to a relying party, whose token is for
    /// `status`, userinfo and its own revocation only: not for the person's
    /// profile, phone or data, nor for letting another browser in.
    pub fn mini_program(self) -> Result<AuthSession, ApiError> {
        if self.session.client_id.is_some() {
            return Err(ApiError::Forbidden(
                "this is a web sign-in's token: it is for status, userinfo and logout only".into(),
            ));
        }
        Ok(self)
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AuthSession {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        into_outcome(authenticate(req).await)
    }
}

/// What the session row must show for the credential to be good.
struct Expected {
    session_id: String,
    /// From a token: its subject and audience.
    claims: Option<(i64, String)>,
    /// From a cookie: its secret.
    cookie_secret: Option<String>,
}

async fn authenticate(req: &Request<'_>) -> Result<AuthSession, ApiError> {
    let config = managed::<AppConfig>(req)?;
    let db = managed::<Db>(req)?;
    let now = managed::<Clock>(req)?.now();
    let (expected, token_exp) = match credential(req, config)
        .ok_or_else(|| ApiError::Unauthorized("missing token".into()))?
    {
        Credential::Token(token) => {
            let claims = managed::<Keys>(req)?
                .access
                .verify(token, Expiry::At(now))?;
            let user_id = claims.user_id()?;
            let expected = Expected {
                session_id: claims.sid.clone(),
                claims: Some((user_id, claims.aud.clone())),
                cookie_secret: None,
            };
            (expected, Some(claims.exp))
        }
        Credential::Cookie(value) => {
            let (session_id, secret) = session_cookie::split(value)
                .ok_or_else(|| ApiError::Unauthorized("malformed session cookie".into()))?;
            let expected = Expected {
                session_id: session_id.into(),
                claims: None,
                cookie_secret: Some(secret.into()),
            };
            (expected, None)
        }
    };
    let idle_timeout = config.session_idle_timeout;
    let found = db.live_session(&expected.session_id).await?;
    let Some((session, banned_at)) = found else {
        return Err(match expected.claims {
            Some(_) => ApiError::SessionExpired("session has ended".into()),
            None => ApiError::Unauthorized("unknown session cookie".into()),
        });
    };
    if let Some(secret) = &expected.cookie_secret {
        if !session_cookie::matches(secret, session.cookie_hash.as_deref()) {
            return Err(ApiError::Unauthorized("unknown session cookie".into()));
        }
        // Only a cookie that proved itself is asked how it came: one that
        // did not is 401 whatever the request looks like (a POST without a
        // body, such as `account/delete`, included).
        cookie_request_allowed(req)?;
    }
    if let Some((user_id, aud)) = &expected.claims {
        check_claims(*user_id, aud, session.user_id, session.audience())?;
    }
    check_live(&session, banned_at, idle_timeout, now)?;
    let interval = sessions::touch_interval(idle_timeout);
    if now - session.last_seen_at >= interval {
        let id = session.id.clone();
        db.write(move |conn| Ok(sessions::touch(conn, &id, now, interval)?))
            .await?;
    }
    Ok(AuthSession {
        user_id: session.user_id,
        expires_at: token_exp.unwrap_or(session.expires_at),
        session,
    })
}

fn into_outcome<T>(result: Result<T, ApiError>) -> Outcome<T, ApiError> {
    match result {
        Ok(value) => Outcome::Success(value),
        Err(e) => Outcome::Error((e.status(), e)),
    }
}
