//! `GET sessions` and `POST sessions/{id}/revoke`: where the person is
//! signed in, and ending one of those sessions (SPEC §12).

use rocket::{get, post, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::envelope::{ApiResult, Success};
use crate::auth::guard::AuthSession;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::sessions::Session;
use crate::db::Db;
use crate::error::{codes, ApiError, ResultCode};
use crate::flows::own_account;
use crate::timestamp::rfc3339;

/// What `GET sessions` answers besides success.
pub const LIST_FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::UNAUTHORIZED,
    codes::SESSION_EXPIRED,
    codes::USER_BANNED,
];

/// What `POST sessions/{id}/revoke` answers besides success.
pub const REVOKE_FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::WRONG_PARAMS,
    codes::RESOURCE_NOT_FOUND,
    codes::UNAUTHORIZED,
    codes::SESSION_EXPIRED,
    codes::USER_BANNED,
];

/// One place the person is signed in.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnSession {
    /// Pass to `sessions/{id}/revoke`.
    pub id: String,
    /// The mini-program's appid, or a web sign-in's relying party (its
    /// OpenID Connect `client_id`).
    pub app: String,
    /// The app's or the relying party's name, as configured.
    pub app_name: String,
    /// `wechat`, `qq`, `douyin`, `alipay`, or `web` for a web sign-in.
    pub platform: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    /// Where the session was opened from.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// This is the session of the credential that asked.
    pub current: bool,
}

/// The person's live sessions, most recently used first (at most 500).
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnSessions {
    pub sessions: Vec<OwnSession>,
}

/// What ending one of one's sessions did.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnSessionEnded {
    /// 1 when the session was live and is now ended, 0 when it had ended
    /// already.
    pub revoked: i64,
}

/// Where the caller's person is signed in: their live sessions in every app
/// and on the web.
#[utoipa::path(get, path = "/api/v1.0/auth/sessions", tag = "auth", operation_id = "list_own_sessions",
    security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[get("/sessions")]
pub async fn list(
    config: &State<AppConfig>,
    db: &State<Db>,
    clock: &State<Clock>,
    auth: Result<AuthSession, ApiError>,
) -> ApiResult {
    let auth = auth?.mini_program()?;
    let (live, apps) =
        own_account::live_sessions(db, auth.user_id, clock.now(), config.session_idle_timeout)
            .await?;
    let sessions = live
        .into_iter()
        .map(|s| {
            let (platform, app_name) = name_of(config, &apps, &s);
            OwnSession {
                current: s.id == auth.session.id,
                app: s.audience().to_string(),
                app_name,
                platform,
                id: s.id,
                created_at: rfc3339(s.created_at),
                last_seen_at: rfc3339(s.last_seen_at),
                ip: s.ip,
                user_agent: s.user_agent,
            }
        })
        .collect();
    Success::data(OwnSessions { sessions })
}

/// A session's platform and the name of its app or relying party.
fn name_of(
    config: &AppConfig,
    apps: &std::collections::HashMap<String, (String, String)>,
    session: &Session,
) -> (String, String) {
    if let Some(client_id) = &session.client_id {
        let name = config
            .oidc
            .as_ref()
            .and_then(|oidc| oidc.client(client_id))
            .map_or_else(|| client_id.clone(), |c| c.name.clone());
        return ("web".into(), name);
    }
    match apps.get(&session.appid) {
        Some((platform, name)) => (platform.clone(), name.clone()),
        None => ("wechat".into(), session.appid.clone()),
    }
}

/// End one of the caller's person's sessions (the caller's own included).
/// Another person's session id answers -102, as an unknown one does.
#[utoipa::path(post, path = "/api/v1.0/auth/sessions/{id}/revoke", tag = "auth", operation_id = "revoke_own_session",
    params(("id" = String, Path, description = "A session id from `GET sessions`")),
    security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[post("/sessions/<id>/revoke")]
pub async fn revoke(
    config: &State<AppConfig>,
    db: &State<Db>,
    clock: &State<Clock>,
    auth: Result<AuthSession, ApiError>,
    client: ClientInfo,
    id: &str,
) -> ApiResult {
    let auth = auth?.mini_program()?;
    let well_formed = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if id.is_empty() || id.len() > 128 || !id.bytes().all(well_formed) {
        return Err(ApiError::NotFound("no such session of yours".into()));
    }
    let ended = own_account::revoke_own(
        db,
        auth.user_id,
        id.to_string(),
        client.ip,
        clock.now(),
        config.session_idle_timeout,
    )
    .await?;
    Success::data(OwnSessionEnded {
        revoked: i64::from(ended),
    })
}
