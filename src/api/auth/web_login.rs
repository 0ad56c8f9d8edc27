//! `POST web-login/scan`, `confirm`, `deny`: the mini-program's side of
//! signing in on the web (SPEC §11). The person, signed in, scans the code a
//! web page shows; the mini-program asks them "sign in to <client> on the
//! computer?" with what `scan` answers, and sends their answer.

use rocket::{post, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::envelope::{ApiResult, Success};
use crate::api::json_body::JsonBody;
use crate::auth::guard::AuthSession;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::Db;
use crate::error::{codes, ApiError, ResultCode};
use crate::flows::web_login::{self, Decision, Scanner};
use crate::timestamp::rfc3339;

/// The scanned code's scene.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SceneRequest {
    /// What the mini-program page received as its `scene` option.
    scene: String,
}

/// What is asking to be signed in: for the confirmation screen.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebLoginRequest {
    client_id: String,
    /// The web application's name, as configured.
    client_name: String,
    /// The browser's address and user agent, as wxauth saw them.
    ip: Option<String>,
    user_agent: Option<String>,
    /// RFC 3339.
    created_at: String,
    expires_at: String,
}

/// What these calls answer besides success.
pub const FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::WRONG_PARAMS,
    codes::RESOURCE_NOT_FOUND,
    codes::UNAUTHORIZED,
    codes::SESSION_EXPIRED,
    codes::USER_BANNED,
];

/// Take the web sign-in ticket of a scanned code; answers what is asking.
/// The first person to scan a ticket holds it: anyone else gets -500 (HTTP
/// 403). An unknown, expired or decided ticket is -102 (404).
#[utoipa::path(post, path = "/api/v1.0/auth/web-login/scan", tag = "auth", operation_id = "web_login_scan",
    request_body = SceneRequest, security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[post("/web-login/scan", data = "<body>")]
pub async fn scan(
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    client: ClientInfo,
    auth: Result<AuthSession, ApiError>,
    body: Result<JsonBody<SceneRequest>, ApiError>,
) -> ApiResult {
    let oidc = enabled(config)?;
    let who = scanner(auth?, &client)?;
    let JsonBody(request) = body?;
    let ticket = web_login::scan(db, &request.scene, who, clock.now()).await?;
    let client_name = oidc
        .client(&ticket.client_id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| ticket.client_id.clone());
    Success::data(WebLoginRequest {
        client_id: ticket.client_id,
        client_name,
        ip: ticket.ip,
        user_agent: ticket.user_agent,
        created_at: rfc3339(ticket.created_at),
        expires_at: rfc3339(ticket.expires_at),
    })
}

/// Let the browser that shows the scanned code in, as the caller. Only the
/// person who scanned it may (-500, HTTP 403 otherwise); a banned person
/// cannot.
#[utoipa::path(post, path = "/api/v1.0/auth/web-login/confirm", tag = "auth", operation_id = "web_login_confirm",
    request_body = SceneRequest, security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[post("/web-login/confirm", data = "<body>")]
pub async fn confirm(
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    client: ClientInfo,
    auth: Result<AuthSession, ApiError>,
    body: Result<JsonBody<SceneRequest>, ApiError>,
) -> ApiResult {
    decide(config, clock, db, client, auth, body, Decision::Confirm).await
}

/// Refuse the scanned code's sign-in: the browser is sent back to the web
/// application with `error=access_denied`.
#[utoipa::path(post, path = "/api/v1.0/auth/web-login/deny", tag = "auth", operation_id = "web_login_deny",
    request_body = SceneRequest, security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[post("/web-login/deny", data = "<body>")]
pub async fn deny(
    config: &State<AppConfig>,
    clock: &State<Clock>,
    db: &State<Db>,
    client: ClientInfo,
    auth: Result<AuthSession, ApiError>,
    body: Result<JsonBody<SceneRequest>, ApiError>,
) -> ApiResult {
    decide(config, clock, db, client, auth, body, Decision::Deny).await
}

async fn decide(
    config: &AppConfig,
    clock: &Clock,
    db: &Db,
    client: ClientInfo,
    auth: Result<AuthSession, ApiError>,
    body: Result<JsonBody<SceneRequest>, ApiError>,
    decision: Decision,
) -> ApiResult {
    enabled(config)?;
    let who = scanner(auth?, &client)?;
    let JsonBody(request) = body?;
    web_login::decide(db, &request.scene, who, decision, clock.now()).await?;
    Success::empty()
}

/// The provider's settings; -102 when web sign-in is not configured.
fn enabled(config: &AppConfig) -> Result<&crate::oidc::settings::OidcSettings, ApiError> {
    config
        .oidc
        .as_deref()
        .ok_or_else(|| ApiError::NotFound("web sign-in is not configured on this server".into()))
}

/// The caller, who must be signed in to a mini-program: a web session's
/// token (a relying party holds it) cannot let another browser in.
fn scanner(auth: AuthSession, client: &ClientInfo) -> Result<Scanner, ApiError> {
    let auth = auth.mini_program()?;
    Ok(Scanner {
        user_id: auth.user_id,
        session_id: auth.session.id.clone(),
        ip: client.ip.clone(),
    })
}
