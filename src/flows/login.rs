//! Opening a session: find or create the user of (appid, openid), refuse a
//! banned one, open the session, keep its first refresh token's hash, audit.

use crate::db::audit::{self, Kind, NewEvent};
use crate::db::first_login::FirstLogin;
use crate::db::users::{self, ProfileChanges};
use crate::db::{sessions, AnyConnection, Db};
use crate::error::ApiError;
use crate::webhooks::{self, EventType, Webhooks};
use serde_json::json;

/// A login that WeChat vouched for.
pub struct NewLogin {
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub profile: ProfileChanges,
    /// WeChat's session_key, already sealed.
    pub session_key_sealed: String,
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
    },
    /// The user is banned: no session, an audit event.
    Banned,
}

pub async fn open(db: &Db, login: NewLogin, now: i64) -> Result<Login, ApiError> {
    // The new session's id, whichever path opens it. PostgreSQL: a user seen
    // for the first time in one statement; a known one (or SQLite) takes the
    // general flow below.
    let session_id = sessions::new_id();
    let first = FirstLogin {
        appid: &login.appid,
        openid: &login.openid,
        unionid: login.unionid.as_deref(),
        profile: &login.profile,
        session_id: &session_id,
        session_key_sealed: &login.session_key_sealed,
        now,
        expires_at: now + login.session_ttl,
        ip: login.ip.as_deref(),
        user_agent: login.user_agent.as_deref(),
        cookie_hash: login.cookie_hash.as_deref(),
        audit_kind: Kind::Login.as_str(),
        audit_detail: NEW_USER,
    };
    let hooks = db.webhooks().clone();
    // The one-statement first login writes no outbox rows: with subscribers
    // to logins, every login takes the general flow.
    let announced = hooks.wants(EventType::UserCreated) || hooks.wants(EventType::SessionCreated);
    let fast = if announced {
        None
    } else {
        db.first_login(&first).await?
    };
    if let Some(user_id) = fast {
        return Ok(Login::Opened {
            session_id,
            user_id,
            is_new: true,
        });
    }
    let opened = db
        .write(move |conn| open_in(conn, &hooks, &login, &session_id, now))
        .await?;
    db.webhooks().ring();
    Ok(opened)
}

/// The login audit event's detail for a new user, and for a known one.
const NEW_USER: &str = "new_user";
const RETURNING_USER: &str = "returning_user";

fn open_in(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    login: &NewLogin,
    session_id: &str,
    now: i64,
) -> Result<Login, ApiError> {
    let (user, found) = users::upsert_for_login(
        conn,
        &login.appid,
        &login.openid,
        login.unionid.as_deref(),
        login.profile.clone(),
        now,
    )?;
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
    if !is_new {
        // Room for the new session: the least recently used ones beyond the
        // limit end, each with its audit event.
        let ended = sessions::live_beyond(
            conn,
            user.id,
            now,
            login.idle_timeout,
            login.session_limit - 1,
        )?;
        for id in ended {
            if sessions::revoke(conn, &id, "session_limit", now)? {
                hooks.emit(
                    conn,
                    EventType::SessionEnded,
                    || webhooks::session_ended(&id, user.id, &login.appid, "session_limit"),
                    now,
                )?;
                audit::record(
                    conn,
                    &NewEvent::new(Kind::Revoke, now)
                        .user(user.id)
                        .session(&id)
                        .detail("session_limit"),
                )?;
            }
        }
    }
    sessions::insert(
        conn,
        &sessions::NewSession {
            id: session_id,
            user_id: user.id,
            appid: &login.appid,
            session_key_sealed: &login.session_key_sealed,
            created_at: now,
            last_seen_at: now,
            expires_at: now + login.session_ttl,
            ip: login.ip.as_deref(),
            user_agent: login.user_agent.as_deref(),
            cookie_hash: login.cookie_hash.as_deref(),
        },
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
                "appid": user.appid,
                "openid": user.openid,
                "unionid": user.unionid,
                "created_at": crate::timestamp::rfc3339(user.created_at),
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
    audit::record(
        conn,
        &NewEvent::new(Kind::Login, now)
            .user(user.id)
            .session(session_id)
            .ip(login.ip.clone())
            .detail(if is_new { NEW_USER } else { RETURNING_USER }),
    )?;
    Ok(Login::Opened {
        session_id: session_id.to_string(),
        user_id: user.id,
        is_new,
    })
}
