//! `GET account/export`: everything kept about the person, in one answer,
//! never a secret (no session key, hash or token); `POST account/delete`:
//! the person's deletion after a cooling-off period (SPEC §12).

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use rocket::{get, post, State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::admin::views::{IdentityRecord, SessionRecord};
use crate::api::envelope::{ApiResult, Success};
use crate::auth::guard::AuthSession;
use crate::client_info::ClientInfo;
use crate::clock::Clock;
use crate::config::AppConfig;
use crate::db::audit::Event;
use crate::db::users::User;
use crate::db::Db;
use crate::error::{codes, ApiError, ResultCode};
use crate::flows::{account_deletion, own_account};
use crate::rate_limit::RateLimits;
use crate::timestamp::rfc3339;

/// What `GET account/export` answers besides success.
pub const EXPORT_FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::RESOURCE_NOT_FOUND,
    codes::UNAUTHORIZED,
    codes::SESSION_EXPIRED,
    codes::USER_BANNED,
    codes::TOO_MANY_REQUESTS,
];

/// Everything kept about the person.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountExport {
    pub profile: ExportProfile,
    /// Every app the person logged in through, with its openid and unionid.
    pub identities: Vec<IdentityRecord>,
    /// Every session still kept, oldest first: live ones, and ended ones
    /// within `session_retention`.
    pub sessions: Vec<SessionRecord>,
    /// Every audit event about the person within `audit_retention`, oldest
    /// first (this export's own included).
    pub audit_events: Vec<ExportEvent>,
    /// The web sign-ins the person scanned (SPEC §11), oldest first: which
    /// web application, which browser asked, what the person decided.
    pub web_sign_ins: Vec<ExportWebSignIn>,
}

/// A web sign-in ticket the person scanned, without what would let anyone
/// use it (its id, the browser's key, the code).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportWebSignIn {
    pub client_id: String,
    /// The web application's name, as the scan page showed it.
    pub client_name: String,
    /// The address and user agent of the browser that asked to sign in.
    pub browser_ip: Option<String>,
    pub browser_user_agent: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub scanned_at: Option<String>,
    /// `confirmed`, `denied`, or null when the person did not decide.
    pub decision: Option<String>,
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
    /// The session the browser signed in with, once its code was exchanged.
    pub session_id: Option<String>,
}

/// The person's row as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportProfile {
    pub user_id: i64,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    pub gender: Option<i32>,
    pub language: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
    /// The bound phone number with its country code, as WeChat gave it.
    pub phone_number: Option<String>,
    pub pure_phone_number: Option<String>,
    pub country_code: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub last_login_at: Option<String>,
    #[schema(format = DateTime)]
    pub banned_at: Option<String>,
    pub ban_reason: Option<String>,
}

impl From<User> for ExportProfile {
    fn from(u: User) -> Self {
        ExportProfile {
            user_id: u.id,
            nickname: u.nickname,
            avatar_url: u.avatar_url,
            gender: u.gender,
            language: u.language,
            city: u.city,
            province: u.province,
            country: u.country,
            phone_number: u.phone_number,
            pure_phone_number: u.pure_phone_number,
            country_code: u.country_code,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
            last_login_at: u.last_login_at.map(rfc3339),
            banned_at: u.banned_at.map(rfc3339),
            ban_reason: u.ban_reason,
        }
    }
}

/// An audit event about the person. Who acted is `operator` when it was
/// not the person, and then no address: the console's account names and
/// the operators' addresses stay inside.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportEvent {
    /// `login`, `logout`, `refresh`, `revoke`, `ban`, `account_export`…
    pub kind: String,
    pub session_id: Option<String>,
    /// Null when the person acted; `operator` otherwise.
    pub actor: Option<String>,
    /// Where the person acted from (never an operator's address).
    pub ip: Option<String>,
    pub detail: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<Event> for ExportEvent {
    fn from(e: Event) -> Self {
        ExportEvent {
            kind: e.kind,
            session_id: e.session_id,
            ip: if e.actor.is_some() { None } else { e.ip },
            actor: e.actor.map(|_| "operator".to_string()),
            detail: e.detail,
            created_at: rfc3339(e.created_at),
        }
    }
}

/// Everything kept about the caller's person: profile, identities, sessions
/// and audit events. Rate-limited per person (`rate_limit.account_export_per_hour`).
#[utoipa::path(get, path = "/api/v1.0/auth/account/export", tag = "auth", operation_id = "export_account",
    security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[get("/account/export")]
pub async fn export(
    config: &State<AppConfig>,
    db: &State<Db>,
    clock: &State<Clock>,
    limits: &State<Arc<RateLimits>>,
    auth: Result<AuthSession, ApiError>,
    client: ClientInfo,
) -> ApiResult {
    let auth = auth?.mini_program()?;
    limits
        .account_export
        .check(Some(person_bucket(auth.user_id)))?;
    let now = clock.now();
    let export =
        own_account::export(db, auth.user_id, auth.session.id.clone(), client.ip, now).await?;
    let idle_timeout = config.session_idle_timeout;
    Success::data(AccountExport {
        profile: export.user.into(),
        identities: export
            .identities
            .into_iter()
            .map(IdentityRecord::from)
            .collect(),
        sessions: export
            .sessions
            .into_iter()
            .map(|s| SessionRecord::new(s, now, idle_timeout))
            .collect(),
        audit_events: export.events.into_iter().map(ExportEvent::from).collect(),
        web_sign_ins: export
            .web_sign_ins
            .into_iter()
            .map(|w| ExportWebSignIn {
                client_name: config
                    .oidc
                    .as_ref()
                    .and_then(|oidc| oidc.client(&w.client_id))
                    .map_or_else(|| w.client_id.clone(), |c| c.name.clone()),
                client_id: w.client_id,
                browser_ip: w.ip,
                browser_user_agent: w.user_agent,
                created_at: rfc3339(w.created_at),
                scanned_at: w.scanned_at.map(rfc3339),
                decision: w.decision,
                decided_at: w.decided_at.map(rfc3339),
                session_id: w.session_id,
            })
            .collect(),
    })
}

/// A person's own bucket in a limiter keyed by address: the id in the upper
/// half of an IPv6 address, which the limiter keeps apart (it counts /64s).
fn person_bucket(user_id: i64) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from((user_id as u128) << 64))
}

/// What `POST account/delete` answers besides success.
pub const DELETE_FAILS: &[ResultCode] = &[
    codes::FAILED,
    codes::WRONG_PARAMS,
    codes::RESOURCE_NOT_FOUND,
    codes::UNAUTHORIZED,
    codes::SESSION_EXPIRED,
    codes::USER_BANNED,
];

/// A scheduled deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletionScheduled {
    /// The person is erased after this moment, unless they log in before
    /// (which cancels the deletion).
    #[schema(format = DateTime)]
    pub delete_after: String,
}

/// Delete the caller's person (注销): every session ends now, and the
/// person is erased after `account_deletion_delay` (15 days by default)
/// unless they log in before. Asked again, the first request's moment stands.
#[utoipa::path(post, path = "/api/v1.0/auth/account/delete", tag = "auth", operation_id = "delete_account",
    security(("bearer" = []), ("token" = []), ("session_cookie" = [])))]
#[post("/account/delete")]
pub async fn delete(
    config: &State<AppConfig>,
    db: &State<Db>,
    clock: &State<Clock>,
    auth: Result<AuthSession, ApiError>,
    client: ClientInfo,
) -> ApiResult {
    let auth = auth?.mini_program()?;
    let delete_after = account_deletion::request(
        db,
        auth.user_id,
        auth.session.id.clone(),
        client.ip,
        clock.now(),
        config.account_deletion_delay,
    )
    .await?;
    Success::data(DeletionScheduled {
        delete_after: rfc3339(delete_after),
    })
}
