//! `POST logout` (and `GET`, as the tutorial's clients call it): revokes the
//! caller's session, or every session of the user. Idempotent: any token we
//! signed is accepted, even expired or already logged out.

use rocket::{get, post, State};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::Caller;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::Db;
use crate::error::{codes, ApiError, ResultCode};
use crate::flows;
use crate::flows::logout::{Scope, SessionRef};

/// Which sessions end; the body may be left out (`local`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LogoutRequest {
    /// `local` (the default): this session; `global`: every session of the user.
    #[serde(default)]
    #[schema(value_type = Option<LogoutScope>)]
    scope: Option<String>,
}

/// The values `scope` takes (read as a string, so that another value is a
/// clear -101 rather than a parse error).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum LogoutScope {
    Local,
    Global,
}

/// What `logout` answers besides success.
pub const FAILS: &[ResultCode] = &[codes::FAILED, codes::WRONG_PARAMS, codes::UNAUTHORIZED];

/// End this session, or every session of the user.
///
/// Idempotent: any token this server signed is accepted, even an expired one
/// or one already logged out. With the session cookie alone, a request that
/// carries a browser's cross-site marks is refused (-500, HTTP 403).
#[utoipa::path(post, path = "/api/v1.0/auth/logout", tag = "auth", operation_id = "logout",
    request_body(content = Option<LogoutRequest>), security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[post("/logout", data = "<body>")]
pub async fn logout(
    config: &State<AppConfig>,
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Result<Caller, ApiError>,
    client: ClientInfo,
    body: Result<JsonBody<LogoutRequest>, ApiError>,
) -> ApiResult {
    let caller = caller?;
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
    let session = session_ref(caller)?;
    if scope == Scope::Global && is_web(config, &session) {
        // A relying party holds it: it ends its own session, not the
        // person's every sign-in.
        return Err(ApiError::Forbidden(
            "a web sign-in's token ends its own session only (scope \"local\")".into(),
        ));
    }
    flows::logout::logout(db, session, scope, client.ip, clock.now()).await?;
    Success::empty()
}

/// A web sign-in's token (SPEC §11): its audience is a client, not an app.
fn is_web(config: &AppConfig, session: &SessionRef) -> bool {
    match session {
        SessionRef::Token { appid, .. } => config.app(appid).is_none(),
        SessionRef::Cookie { .. } => false,
    }
}

/// The tutorial's `logout` view answered any method, and its clients call it
/// with `wx.request`'s default GET: the local session ends.
/// End this session (the tutorial's clients call logout with GET).
#[utoipa::path(get, path = "/api/v1.0/auth/logout", tag = "auth", operation_id = "logout_get",
    security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[get("/logout")]
pub async fn logout_get(
    db: &State<Db>,
    clock: &State<Clock>,
    caller: Result<Caller, ApiError>,
    client: ClientInfo,
) -> ApiResult {
    let session = session_ref(caller?)?;
    flows::logout::logout(db, session, Scope::Local, client.ip, clock.now()).await?;
    Success::empty()
}

/// The session the caller names, as the logout flow takes it.
fn session_ref(caller: Caller) -> Result<SessionRef, ApiError> {
    Ok(match caller {
        Caller::Token(claims) => SessionRef::Token {
            user_id: claims.user_id()?,
            session_id: claims.sid.clone(),
            appid: claims.aud.clone(),
        },
        Caller::Cookie { session_id, secret } => SessionRef::Cookie { session_id, secret },
    })
}
