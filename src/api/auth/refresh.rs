//! `POST refresh`: rotates the refresh token. The presented token is spent and
//! a new pair issued; presenting the spent token again within the grace returns
//! that same pair (two tabs, a retry); later, it is taken as theft and the
//! whole session is revoked.

use rocket::{post, State};
use serde::Deserialize;

use super::pair::TokenPair;
use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::ClientInfo;
use crate::crypto;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{refresh_tokens, sessions};
use crate::error::ApiError;
use crate::state::AppState;

/// Seconds during which a spent refresh token still yields the pair issued for it.
pub const REUSE_GRACE: i64 = 10;
const SUCCESSOR_PURPOSE: &str = "refresh_successor";

#[derive(Debug, Deserialize)]
pub struct RefreshRequest {
    #[serde(default, alias = "refreshToken")]
    refresh_token: Option<String>,
}

#[post("/refresh", data = "<body>")]
pub async fn refresh(
    state: &State<AppState>,
    client: ClientInfo,
    body: Result<JsonBody<RefreshRequest>, ApiError>,
) -> ApiResult {
    state.limits.refresh.check(client.ip_addr())?;
    let JsonBody(request) = body?;
    let presented = request
        .refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("refresh_token is required"))?;
    if presented.len() > 512 {
        return Err(ApiError::Unauthorized("unknown refresh token".into()));
    }
    let hash = crypto::hash_token(&presented);
    let keys = state.tokens.clone();
    let sealer = state.sealer.clone();
    let idle_timeout = state.config.session_idle_timeout;
    let pair = state
        .db
        .run(move |conn| {
            let now = crate::timestamp::now();
            let (mut row, session, banned_at) = refresh_tokens::find_with_session(conn, &hash)?
                .ok_or_else(|| ApiError::Unauthorized("unknown refresh token".into()))?;
            if banned_at.is_some() {
                return Err(ApiError::UserBanned);
            }
            if let Some(dead) = session.dead(now, idle_timeout) {
                return Err(ApiError::SessionExpired(dead.message().into()));
            }
            if row.spent_at.is_none() {
                let pair = TokenPair::mint(
                    &keys,
                    session.user_id,
                    &session.id,
                    &session.appid,
                    false,
                    now,
                )?;
                let sealed = sealer.seal(
                    SUCCESSOR_PURPOSE,
                    &serde_json::to_vec(&pair).map_err(ApiError::internal)?,
                );
                let rotated = crate::db::write_transaction::<_, ApiError, _>(conn, |conn| {
                    // The conditional UPDATE comes first: it decides which of two
                    // racing requests rotates, and takes SQLite's write lock.
                    if !refresh_tokens::spend(conn, &hash, &sealed, now)? {
                        return Ok(false);
                    }
                    refresh_tokens::insert(
                        conn,
                        &crypto::hash_token(&pair.refresh_token),
                        &session.id,
                        now,
                    )?;
                    sessions::touch_now(conn, &session.id, now)?;
                    audit::record(
                        conn,
                        &NewEvent::new(Kind::Refresh, now)
                            .user(session.user_id)
                            .session(&session.id)
                            .ip(client.ip.clone()),
                    )?;
                    Ok(true)
                })?;
                if rotated {
                    return Ok(pair);
                }
                // Another request rotated it a moment ago: answer as a reuse.
                row = refresh_tokens::find_with_session(conn, &hash)?
                    .map(|(row, _, _)| row)
                    .ok_or_else(|| ApiError::SessionExpired("session has ended".into()))?;
            }
            let spent_at = row.spent_at.unwrap_or(now);
            if now - spent_at <= REUSE_GRACE {
                if let Some(sealed) = &row.successor_sealed {
                    let bytes = sealer
                        .open(SUCCESSOR_PURPOSE, sealed)
                        .map_err(ApiError::internal)?;
                    return serde_json::from_slice(&bytes).map_err(ApiError::internal);
                }
            }
            sessions::revoke(conn, &session.id, "refresh_reuse", now)?;
            audit::record(
                conn,
                &NewEvent::new(Kind::RefreshReuse, now)
                    .user(session.user_id)
                    .session(&session.id)
                    .ip(client.ip.clone())
                    .detail("session_revoked"),
            )?;
            Err(ApiError::SessionExpired(
                "refresh token was already used; the session has been revoked".into(),
            ))
        })
        .await?;
    Success::data(pair)
}
