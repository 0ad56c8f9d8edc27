//! What a person does with their own account (SPEC §12): list where they are
//! signed in, end one of those sessions, and take a copy of everything kept
//! about them. Each is facts about rows; the handlers shape the answer.

use std::collections::HashMap;

use super::session_end::{self, Ending};
use crate::db::audit::{self, Event, Kind, NewEvent};
use crate::db::identities::{self, Identity};
use crate::db::sessions::{self, Session};
use crate::db::users::{self, User};
use crate::db::web_logins::{self, WebLogin};
use crate::db::{apps, Db};
use crate::error::ApiError;

/// Live sessions listed at most: a person with more (web sign-ins are not
/// capped by `session_limit_per_user`) sees the most recently used.
pub const LIST_LIMIT: i64 = 500;

/// The reason a session ended by its person carries (console, webhooks).
pub const REVOKED_BY_PERSON: &str = "user_revoke";

/// The person's live sessions, most recently used first, and every app ever
/// configured (appid → platform, name) to name them by.
pub async fn live_sessions(
    db: &Db,
    user_id: i64,
    now: i64,
    idle_timeout: i64,
) -> Result<(Vec<Session>, HashMap<String, (String, String)>), ApiError> {
    db.run(move |conn| {
        let live = sessions::live_of_user(conn, user_id, now, idle_timeout, LIST_LIMIT)?;
        Ok((live, apps::all(conn)?))
    })
    .await
}

/// Ends the person's session `id`: whether it was live until now (ending an
/// ended one changes nothing). Another person's session, or none, is
/// `NotFound` — the same answer, so that ids cannot be probed.
pub async fn revoke_own(
    db: &Db,
    user_id: i64,
    id: String,
    ip: Option<String>,
    now: i64,
    idle_timeout: i64,
) -> Result<bool, ApiError> {
    let hooks = db.webhooks().clone();
    let result = db
        .write(move |conn| {
            let session = sessions::find(conn, &id)?
                .filter(|s| s.user_id == user_id)
                .ok_or_else(|| ApiError::NotFound("no such session of yours".into()))?;
            // Expired or idle is ended too: nothing to end, nothing to tell.
            if session.dead(now, idle_timeout).is_some() {
                return Ok(false);
            }
            let ended = session_end::end(
                conn,
                &hooks,
                Ending {
                    id: &id,
                    user_id,
                    appid: &session.appid,
                    reason: REVOKED_BY_PERSON,
                },
                NewEvent::new(Kind::Revoke, now)
                    .ip(ip.clone())
                    .detail("by_person"),
                now,
            )?;
            Ok(ended)
        })
        .await;
    db.webhooks().ring();
    result
}

/// Everything kept about a person, read in one transaction so the parts
/// agree with each other.
pub struct Export {
    pub user: User,
    pub identities: Vec<Identity>,
    pub sessions: Vec<Session>,
    pub events: Vec<Event>,
    /// The web sign-in tickets the person scanned (SPEC §11).
    pub web_sign_ins: Vec<WebLogin>,
}

/// The person's export, audited (the event is written first, so the export
/// lists itself), with the sessions and events of the people merged into
/// them. `NotFound` when the person is gone.
pub async fn export(
    db: &Db,
    user_id: i64,
    session_id: String,
    ip: Option<String>,
    now: i64,
) -> Result<Export, ApiError> {
    // The event first (a write), the reads apart from it: SQLite's single
    // writer is not held while a long history is read.
    db.write(move |conn| {
        audit::record(
            conn,
            &NewEvent::new(Kind::AccountExport, now)
                .user(user_id)
                .session(&session_id)
                .ip(ip.clone()),
        )?;
        Ok(())
    })
    .await?;
    db.run(move |conn| {
        let user = users::find(conn, user_id)?
            .filter(|u| u.merged_into.is_none())
            .ok_or_else(|| ApiError::NotFound("user not found".into()))?;
        // The people merged into this one are this person too: their
        // sessions and events (kept under their old ids) belong here.
        let mut ids = users::tombstones_of(conn, user_id)?;
        ids.push(user_id);
        let mut sessions = Vec::new();
        let mut events = Vec::new();
        for id in &ids {
            sessions.extend(sessions::all_of_user(conn, *id)?);
            events.extend(audit::of_user(conn, *id)?);
        }
        sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        events.sort_by_key(|e| e.id);
        Ok(Export {
            user,
            identities: identities::of_user(conn, user_id)?,
            sessions,
            events,
            web_sign_ins: web_logins::scanned_by_any(conn, &ids)?,
        })
    })
    .await
}
