//! Opening a session: find or create the person of the login's identity
//! (`login_person`), refuse a banned one, open the session, audit.

use super::login_person::{self, LoginPerson};
use super::session_limit;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::first_login::FirstLogin;
use crate::db::identities::NewIdentity;
use crate::db::users::{self, ProfileChanges};
use crate::db::{sessions, AnyConnection, Db};
use crate::error::ApiError;
use crate::platforms::Platform;
use crate::webhooks::{self, EventType, Webhooks};
use serde_json::json;

/// A login that a platform vouched for.
pub struct NewLogin {
    pub platform: Platform,
    pub appid: String,
    /// The identity's openid on `platform`: a Douyin guest's anonymous
    /// openid when `anonymous`.
    pub openid: String,
    pub unionid: Option<String>,
    /// A Douyin guest: logged in with `anonymousCode` alone.
    pub anonymous: bool,
    /// Douyin: the device's anonymous openid, sent beside a real login's
    /// code. The guest identity of that openid joins this login's person.
    pub guest_openid: Option<String>,
    pub profile: ProfileChanges,
    /// The platform's session_key, already sealed; Alipay gives none.
    pub session_key_sealed: Option<String>,
    /// The session's absolute lifetime, seconds.
    pub session_ttl: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The hash of the session cookie's secret, when the cookie is on.
    pub cookie_hash: Option<String>,
    /// Live sessions a user may hold, and the idle timeout that decides
    /// which are live.
    pub session_limit: i64,
    pub idle_timeout: i64,
}

pub enum Login {
    /// A new session, at refresh generation 0, opened at the login's time.
    Opened {
        session_id: String,
        user_id: i64,
        is_new: bool,
        /// The person's pending deletion was cancelled by this login.
        deletion_cancelled: bool,
    },
    /// The user is banned: no session, an audit event.
    Banned,
}

pub async fn open(db: &Db, login: NewLogin, now: i64) -> Result<Login, ApiError> {
    // The new session's id, whichever path opens it. PostgreSQL: a person
    // seen for the first time in one statement; a known one (or SQLite)
    // takes the general flow below.
    let session_id = sessions::new_id();
    let hooks = db.webhooks().clone();
    // The one-statement first login writes no outbox rows: with subscribers
    // to logins, every login takes the general flow. Neither does it join a
    // Douyin guest.
    let announced = hooks.wants(EventType::UserCreated) || hooks.wants(EventType::SessionCreated);
    let fast = if announced || login.guest_openid.is_some() {
        None
    } else {
        let first = FirstLogin {
            user: users::NewUser::for_login(&login.profile, now),
            identity: login.identity_row(NO_USER_YET, now),
            session: login.session_row(&session_id, NO_USER_YET, NO_USER_YET, now),
            event: login.event(NO_USER_YET, &session_id, true, now),
        };
        db.first_login(&first).await?
    };
    if let Some(user_id) = fast {
        return Ok(Login::Opened {
            session_id,
            user_id,
            is_new: true,
            deletion_cancelled: false,
        });
    }
    let opened = db
        .write(move |conn| open_in(conn, &hooks, &login, &session_id, now))
        .await?;
    db.webhooks().ring();
    Ok(opened)
}

/// The session and event rows' user when the first-login statement writes
/// them: it fills in the new user's id itself.
const NO_USER_YET: i64 = 0;

impl NewLogin {
    /// The identity row a first login through it makes, whichever path
    /// writes it.
    fn identity_row(&self, user_id: i64, now: i64) -> NewIdentity<'_> {
        NewIdentity {
            user_id,
            platform: self.platform.as_str(),
            appid: &self.appid,
            openid: &self.openid,
            unionid: self.unionid.as_deref(),
            anonymous: self.anonymous,
            created_at: now,
            last_login_at: Some(now),
            // A new person's identity claims the unionid it brings.
            holds_unionid: self.unionid.is_some().then_some(true),
        }
    }

    /// The identity as webhooks show it (`user.created`,
    /// `user.identity_linked`).
    pub(crate) fn identity_json(&self, identity_id: i64) -> serde_json::Value {
        json!({
            "id": identity_id,
            "platform": self.platform.as_str(),
            "appid": self.appid,
            "openid": self.openid,
            "unionid": self.unionid,
            "anonymous": self.anonymous,
        })
    }

    /// The session row this login opens, whichever path writes it.
    fn session_row<'a>(
        &'a self,
        id: &'a str,
        user_id: i64,
        identity_id: i64,
        now: i64,
    ) -> sessions::NewSession<'a> {
        sessions::NewSession {
            id,
            user_id,
            identity_id,
            appid: &self.appid,
            session_key_sealed: self.session_key_sealed.as_deref().unwrap_or(""),
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.session_ttl,
            ip: self.ip.as_deref(),
            user_agent: self.user_agent.as_deref(),
            cookie_hash: self.cookie_hash.as_deref(),
        }
    }

    /// The audit event of this login's session, whichever path writes it.
    fn event(&self, user_id: i64, session_id: &str, is_new: bool, now: i64) -> NewEvent {
        NewEvent::new(Kind::Login, now)
            .user(user_id)
            .session(session_id)
            .ip(self.ip.clone())
            .detail(if is_new { NEW_USER } else { RETURNING_USER })
    }
}

/// The login audit event's detail for a new user, and for a known one.
const NEW_USER: &str = "new_user";
const RETURNING_USER: &str = "returning_user";

/// The general path, on a connection in a transaction: what [`open`] takes
/// whenever the one-statement first login does not apply. Public so that the
/// differential test can hold that fast path to it.
pub fn open_in(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    login: &NewLogin,
    session_id: &str,
    now: i64,
) -> Result<Login, ApiError> {
    let LoginPerson {
        user,
        identity_id,
        found,
    } = login_person::resolve(conn, hooks, login, now)?;
    let is_new = found == users::LoginUser::Created;
    if user.is_banned() {
        audit::record(
            conn,
            &NewEvent::new(Kind::LoginRefused, now)
                .user(user.id)
                .ip(login.ip.clone())
                .detail("banned"),
        )?;
        return Ok(Login::Banned);
    }
    let deletion_cancelled =
        super::account_deletion::cancel_on_login(conn, &user, login.ip.clone(), now)?;
    if !is_new {
        // Room for the new session (a new person has none to end).
        session_limit::make_room(
            conn,
            hooks,
            user.id,
            session_limit::Limit {
                sessions: login.session_limit,
                idle_timeout: login.idle_timeout,
            },
            now,
        )?;
    }
    sessions::insert(
        conn,
        &login.session_row(session_id, user.id, identity_id, now),
    )?;
    if found
        == (users::LoginUser::Known {
            profile_changed: true,
        })
    {
        webhooks::profile_updated(hooks, conn, &user, now)?;
    }
    if is_new {
        hooks.emit(
            conn,
            EventType::UserCreated,
            || {
                json!({ "user": {
                "id": user.id,
                "created_at": crate::timestamp::rfc3339(user.created_at),
                "identities": [login.identity_json(identity_id)],
                // Before people had identities (SPEC §10): the first one's.
                "appid": login.appid,
                "openid": login.openid,
                "unionid": login.unionid,
            } })
            },
            now,
        )?;
    }
    hooks.emit(
        conn,
        EventType::SessionCreated,
        || {
            json!({ "session": {
            "id": session_id,
            "user_id": user.id,
            "appid": login.appid,
            "created_at": crate::timestamp::rfc3339(now),
            "expires_at": crate::timestamp::rfc3339(now + login.session_ttl),
            "ip": login.ip,
        } })
        },
        now,
    )?;
    audit::record(conn, &login.event(user.id, session_id, is_new, now))?;
    Ok(Login::Opened {
        session_id: session_id.to_string(),
        user_id: user.id,
        is_new,
        deletion_cancelled,
    })
}
