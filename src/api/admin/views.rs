//! What the admin API answers in `data`: users, sessions and audit events as
//! records, times in RFC 3339.

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::audit::Event;
use crate::db::identities::Identity;
use crate::db::sessions::{Dead, Session};
use crate::db::users::User;
use crate::timestamp::rfc3339;

/// A person as the admin API shows one.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserRecord {
    pub id: i64,
    /// Every (platform, app, openid) the person logged in through, oldest
    /// first.
    pub identities: Vec<IdentityRecord>,
    /// Set when the person was merged into another: this id is a tombstone
    /// and lives on as that one.
    pub merged_into: Option<i64>,
    /// Deprecated (before people had several identities): the oldest
    /// identity's appid, openid and unionid.
    pub appid: Option<String>,
    pub openid: Option<String>,
    pub unionid: Option<String>,
    pub nickname: Option<String>,
    pub avatar_url: Option<String>,
    /// 0 unknown, 1 male, 2 female (WeChat's numbering).
    pub gender: Option<i32>,
    /// The bound phone number without its country code.
    pub phone_number: Option<String>,
    pub country_code: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_login_at: Option<String>,
    /// Set while the user is banned.
    #[schema(format = DateTime)]
    pub banned_at: Option<String>,
    pub ban_reason: Option<String>,
    /// Sessions live now.
    pub active_sessions: i64,
}

/// One identity of a person.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityRecord {
    pub id: i64,
    /// `wechat`, `qq`, `douyin` or `alipay`.
    pub platform: String,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    /// This identity holds its unionid for the person: a first login through
    /// another app of the platform that brings the same unionid joins them.
    pub holds_unionid: bool,
    /// A Douyin guest (logged in with `anonymousCode` alone).
    pub anonymous: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_login_at: Option<String>,
}

impl From<Identity> for IdentityRecord {
    fn from(i: Identity) -> Self {
        IdentityRecord {
            holds_unionid: i.holds_unionid(),
            id: i.id,
            platform: i.platform,
            appid: i.appid,
            openid: i.openid,
            unionid: i.unionid,
            anonymous: i.anonymous,
            created_at: rfc3339(i.created_at),
            last_login_at: i.last_login_at.map(rfc3339),
        }
    }
}

impl UserRecord {
    pub fn new(user: User, active_sessions: i64, identities: Vec<Identity>) -> Self {
        let oldest = identities.first();
        UserRecord {
            id: user.id,
            appid: oldest.map(|i| i.appid.clone()),
            openid: oldest.map(|i| i.openid.clone()),
            unionid: oldest.and_then(|i| i.unionid.clone()),
            merged_into: user.merged_into,
            identities: identities.into_iter().map(IdentityRecord::from).collect(),
            nickname: user.nickname,
            avatar_url: user.avatar_url,
            gender: user.gender,
            phone_number: user.pure_phone_number,
            country_code: user.country_code,
            created_at: rfc3339(user.created_at),
            last_login_at: user.last_login_at.map(rfc3339),
            banned_at: user.banned_at.map(rfc3339),
            ban_reason: user.ban_reason,
            active_sessions,
        }
    }
}

/// Whether a session can still be used, and if not, why.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Active,
    Revoked,
    Expired,
    Idle,
}

/// A session (never its keys or tokens).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: i64,
    pub appid: String,
    /// A web sign-in's relying party (SPEC §11): the `aud` of its tokens.
    pub client_id: Option<String>,
    pub state: SessionState,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    /// Its absolute end.
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
    /// `logout`, `admin_revoke`, `ban`, `refresh_reuse`, `session_limit`…
    pub revoke_reason: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl SessionRecord {
    pub fn new(session: Session, now: i64, idle_timeout: i64) -> Self {
        let state = match session.dead(now, idle_timeout) {
            None => SessionState::Active,
            Some(Dead::Revoked) => SessionState::Revoked,
            Some(Dead::Expired) => SessionState::Expired,
            Some(Dead::Idle) => SessionState::Idle,
        };
        SessionRecord {
            id: session.id,
            user_id: session.user_id,
            appid: session.appid,
            client_id: session.client_id,
            state,
            created_at: rfc3339(session.created_at),
            last_seen_at: rfc3339(session.last_seen_at),
            expires_at: rfc3339(session.expires_at),
            revoked_at: session.revoked_at.map(rfc3339),
            revoke_reason: session.revoke_reason,
            ip: session.ip,
            user_agent: session.user_agent,
        }
    }
}

/// One page of users, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserRecord>,
    /// Pass as `before` for the next page; null on the last one.
    pub next_before: Option<i64>,
}

/// A user and their sessions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserWithSessions {
    /// Set when this id was merged into another person (a tombstone):
    /// follow it.
    pub merged_into: Option<i64>,
    pub user: UserRecord,
    /// The latest sessions (at most 200), live and ended.
    pub sessions: Vec<SessionRecord>,
}

/// What a merge did.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergeDone {
    /// The person that remains, as they now are.
    pub user: UserRecord,
    /// The merged-away person's sessions that the merge ended.
    pub sessions_ended: i64,
}

/// What an unlink did.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnlinkDone {
    /// The new person the identity now belongs to, alone.
    pub user_id: i64,
    /// The identity's sessions that the unlink ended.
    pub sessions_ended: i64,
}

/// A person erased.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserErased {
    /// Their former id: unknown from now on.
    pub user_id: i64,
}

/// What ending sessions did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsEnded {
    /// Sessions that were live and are now revoked (0 when there were none).
    pub revoked: i64,
}

/// An audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    /// `login`, `logout`, `refresh`, `refresh_reuse`, `revoke`, `ban`,
    /// `unban`, `api_call`…
    pub kind: String,
    pub user_id: Option<i64>,
    pub session_id: Option<String>,
    /// Who acted: a console admin's name, or `apikey:NAME`.
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<Event> for AuditRecord {
    fn from(e: Event) -> Self {
        AuditRecord {
            id: e.id,
            kind: e.kind,
            user_id: e.user_id,
            session_id: e.session_id,
            actor: e.actor,
            ip: e.ip,
            detail: e.detail,
            created_at: rfc3339(e.created_at),
        }
    }
}

/// One page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    pub events: Vec<AuditRecord>,
    /// Pass as `before` for the next page; null on the last one.
    pub next_before: Option<i64>,
}
