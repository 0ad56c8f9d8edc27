//! `POST logout`: revokes the caller's session, or every session of the user.
//! Idempotent: any token we signed is accepted, even expired or already
//! logged out.

use rocket::{post, State};
use serde::Deserialize;

use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::{ClientInfo, SignedClaims};
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::sessions;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct LogoutRequest {
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Local,
    Global,
}

#[post("/logout", data = "<body>")]
pub async fn logout(
    state: &State<AppState>,
    claims: Result<SignedClaims, ApiError>,
    client: ClientInfo,
    body: Result<JsonBody<LogoutRequest>, ApiError>,
) -> ApiResult {
    let SignedClaims(claims) = claims?;
    let JsonBody(request) = body?;
    let scope = match request.scope.as_deref() {
        None | Some("local") => Scope::Local,
        Some("global") => Scope::Global,
        Some(_) => {
            return Err(ApiError::bad_request(
                "scope must be \"local\" or \"global\"",
            ))
        }
    };
    let user_id = claims.user_id()?;
    state
        .db
        .run(move |conn| {
            let now = crate::timestamp::now();
            let Some((session, _)) = sessions::find_with_ban(conn, &claims.sid)? else {
                // Purged long ago: nothing left to revoke.
                return Ok(());
            };
            if session.user_id != user_id {
                return Err(ApiError::Unauthorized(
                    "token session does not belong to its subject".into(),
                ));
            }
            if session.appid != claims.aud {
                return Err(ApiError::Unauthorized("token audience is invalid".into()));
            }
            let revoked = match scope {
                Scope::Local => usize::from(sessions::revoke(conn, &session.id, "logout", now)?),
                Scope::Global => sessions::revoke_all_of_user(conn, user_id, "logout_global", now)?,
            };
            if revoked > 0 {
                audit::record(
                    conn,
                    &NewEvent::new(Kind::Logout, now)
                        .user(user_id)
                        .session(&session.id)
                        .ip(client.ip.clone())
                        .detail(match scope {
                            Scope::Local => "local",
                            Scope::Global => "global",
                        }),
                )?;
            }
            Ok(())
        })
        .await?;
    Success::empty()
}
