//! The request guards through which a route learns who is calling: the token
//! from the headers, then its claims, then the live session row and its user.
//! Nothing is cached between requests, so a revocation written by any instance
//! is seen by the next request.

use rocket::request::{FromRequest, Outcome, Request};

use crate::auth::token::{Claims, Expiry};
use crate::db::sessions::{self, Session};
use crate::error::ApiError;
use crate::state::AppState;

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

/// Verified claims of a signed token; expired tokens are accepted (logout).
pub struct SignedClaims(pub Claims);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SignedClaims {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        let result = (|| {
            let state = AppState::from_request_state(req)?;
            let token = token_from_headers(req)
                .ok_or_else(|| ApiError::Unauthorized("missing token".into()))?;
            state.tokens.verify(token, Expiry::Ignore)
        })();
        into_outcome(result.map(SignedClaims))
    }
}

/// A caller with a valid token of a live session of a user who is not banned.
pub struct AuthSession {
    pub claims: Claims,
    pub user_id: i64,
    pub session: Session,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for AuthSession {
    type Error = ApiError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ApiError> {
        into_outcome(authenticate(req).await)
    }
}

async fn authenticate(req: &Request<'_>) -> Result<AuthSession, ApiError> {
    let state = AppState::from_request_state(req)?;
    let token =
        token_from_headers(req).ok_or_else(|| ApiError::Unauthorized("missing token".into()))?;
    let claims = state.tokens.verify(token, Expiry::Enforce)?;
    let user_id = claims.user_id()?;
    let idle_timeout = state.config.session_idle_timeout;
    let checked = claims.clone();
    let session = state
        .db
        .read(move |conn| {
            let (session, banned_at) = sessions::find_with_ban(conn, &checked.sid)?
                .ok_or_else(|| ApiError::SessionExpired("session has ended".into()))?;
            check_session(&checked, user_id, &session, banned_at, idle_timeout)?;
            Ok(session)
        })
        .await?;
    let now = crate::timestamp::now();
    let interval = sessions::touch_interval(idle_timeout);
    if now - session.last_seen_at >= interval {
        let id = session.id.clone();
        state
            .db
            .write(move |conn| Ok(sessions::touch(conn, &id, now, interval)?))
            .await?;
    }
    Ok(AuthSession {
        claims,
        user_id,
        session,
    })
}

/// The token must name the session's user and app; the user must not be
/// banned (said first: a ban also revokes the sessions, and -503 is the
/// useful answer); the session must be live.
pub fn check_session(
    claims: &Claims,
    user_id: i64,
    session: &Session,
    banned_at: Option<i64>,
    idle_timeout: i64,
) -> Result<(), ApiError> {
    if session.user_id != user_id {
        return Err(ApiError::Unauthorized(
            "token session does not belong to its subject".into(),
        ));
    }
    if session.appid != claims.aud {
        return Err(ApiError::Unauthorized("token audience is invalid".into()));
    }
    if banned_at.is_some() {
        return Err(ApiError::UserBanned);
    }
    if let Some(dead) = session.dead(crate::timestamp::now(), idle_timeout) {
        return Err(ApiError::SessionExpired(dead.message().into()));
    }
    Ok(())
}

fn into_outcome<T>(result: Result<T, ApiError>) -> Outcome<T, ApiError> {
    match result {
        Ok(value) => Outcome::Success(value),
        Err(e) => Outcome::Error((e.status(), e)),
    }
}

/// Where a request came from, for sessions and the audit log.
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn ip_addr(&self) -> Option<std::net::IpAddr> {
        self.ip.as_deref().and_then(|ip| ip.parse().ok())
    }
}

/// User agents are kept for operators, not verbatim without bound.
const MAX_USER_AGENT: usize = 512;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ClientInfo {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let user_agent = req.headers().get_one("User-Agent").map(|ua| {
            let mut end = ua.len().min(MAX_USER_AGENT);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_string()
        });
        Outcome::Success(ClientInfo {
            ip: req.client_ip().map(|ip| ip.to_string()),
            user_agent,
        })
    }
}
