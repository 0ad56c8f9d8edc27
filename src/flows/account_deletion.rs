//! A person's deletion (SPEC §12, 注销): asked for by the person, it ends
//! their sessions at once and erases them after `account_deletion_delay`
//! unless they log in before (the login flow cancels it); an operator
//! erases at once.
//!
//! An erasure is one transaction per person, so a person is never half
//! erased: their identities are locked first, then the tickets they scanned,
//! then the person — the order every login and code exchange takes — and the deletion is checked to be still due once
//! the locks are held. A login that got there first and cancelled it leaves
//! nothing to erase; a login that comes after finds no identity and makes a
//! new person.

use serde_json::json;

use super::operator_actions::Operator;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{
    identities, login_codes, sessions, users, web_logins, webhook_outbox, AnyConnection, Db,
};
use crate::error::ApiError;
use crate::webhooks::{EventType, Webhooks};

/// The reason the sessions a deletion request ends carry.
pub const REQUESTED: &str = "account_deletion";

/// Schedules the caller's person's deletion `delay` seconds from `now` and
/// ends every session of theirs: the moment they will be erased after (a
/// repeated request keeps the first one's). `NotFound` when they are gone.
pub async fn request(
    db: &Db,
    user_id: i64,
    session_id: String,
    ip: Option<String>,
    now: i64,
    delay: i64,
) -> Result<i64, ApiError> {
    let hooks = db.webhooks().clone();
    let result = db
        .write(move |conn| {
            let delete_after = users::schedule_deletion(conn, user_id, now, now + delay)?
                .ok_or_else(|| ApiError::NotFound("user not found".into()))?;
            let ended = sessions::revoke_all_of_user(conn, user_id, REQUESTED, now)?;
            hooks.sessions_ended(conn, &ended, user_id, REQUESTED, now)?;
            audit::record(
                conn,
                &NewEvent::new(Kind::DeletionRequested, now)
                    .user(user_id)
                    .session(&session_id)
                    .ip(ip.clone())
                    .detail(format!(
                        "erased after {}",
                        crate::timestamp::rfc3339(delete_after)
                    )),
            )?;
            Ok(delete_after)
        })
        .await;
    db.webhooks().ring();
    result
}

/// Within a login's transaction: the person logs in while their deletion
/// waits, so it is cancelled (audited). Whether it was.
pub fn cancel_on_login(
    conn: &mut AnyConnection,
    user: &users::User,
    ip: Option<String>,
    now: i64,
) -> Result<bool, ApiError> {
    if user.delete_after.is_none() || !users::cancel_deletion(conn, user.id, now)? {
        return Ok(false);
    }
    audit::record(
        conn,
        &NewEvent::new(Kind::DeletionCancelled, now)
            .user(user.id)
            .ip(ip),
    )?;
    Ok(true)
}

/// People erased per purge run at most; the purge runs again at once while
/// more are due.
pub const BATCH: i64 = 100;

/// Erases up to [`BATCH`] people whose deletion is due at `now`, each in a
/// transaction of their own; whether more may be due.
pub async fn erase_due(db: &Db, now: i64) -> Result<bool, ApiError> {
    let due = db
        .run(move |conn| Ok(users::due_for_deletion(conn, now, BATCH)?))
        .await?;
    let full = due.len() as i64 == BATCH;
    let mut failed = 0;
    for id in due {
        let hooks = db.webhooks().clone();
        // One person who cannot be erased now holds up nobody else: logged,
        // and tried again next run.
        if let Err(e) = db
            .write(move |conn| erase_in(conn, &hooks, id, Why::Due, now))
            .await
        {
            tracing::warn!(user_id = id, "erasure failed, tried again next run: {e}");
            failed += 1;
        }
    }
    db.webhooks().ring();
    Ok(full && failed == 0)
}

/// An operator erases person `id` at once: whether there was one to erase
/// (a tombstone is not: its person lives on under `merged_into`).
pub async fn erase_now(db: &Db, id: i64, by: Operator, now: i64) -> Result<bool, ApiError> {
    let hooks = db.webhooks().clone();
    let erased = db
        .write(move |conn| erase_in(conn, &hooks, id, Why::Operator(&by), now))
        .await;
    db.webhooks().ring();
    erased
}

enum Why<'a> {
    /// The person's own request, its delay over.
    Due,
    Operator(&'a Operator),
}

/// Erases person `id` and the tombstones of the people merged into them:
/// sessions, web sign-in tickets, the outcomes of their login codes still
/// kept for other instances, identities, the profile; their audit
/// events keep kind and time. Whether anyone was erased.
fn erase_in(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    id: i64,
    why: Why<'_>,
    now: i64,
) -> Result<bool, ApiError> {
    identities::lock_of_user(conn, id)?;
    web_logins::lock_of_user(conn, id)?;
    let due_at = matches!(why, Why::Due).then_some(now);
    if users::lock_for_erasure(conn, id, due_at)?.is_none() {
        return Ok(false);
    }
    let mut ids = users::tombstones_of(conn, id)?;
    ids.push(id);
    web_logins::delete_of_users(conn, &ids)?;
    login_codes::forget_of_users(conn, &ids)?;
    webhook_outbox::delete_of_users(conn, &ids, EventType::UserDeleted.as_str())?;
    sessions::delete_of_users(conn, &ids)?;
    identities::delete_of_users(conn, &ids)?;
    audit::scrub_users(conn, &ids)?;
    users::delete_rows(conn, &ids)?;
    let (reason, detail) = match why {
        Why::Due => ("requested", "after_delay"),
        Why::Operator(_) => ("operator", "by_operator"),
    };
    // The one event that keeps the id: what became of it.
    let mut event = NewEvent::new(Kind::UserDeleted, now)
        .user(id)
        .detail(detail);
    if let Why::Operator(by) = why {
        event = event.actor(&by.username).ip(by.ip.clone());
    }
    audit::record(conn, &event)?;
    hooks.emit(
        conn,
        EventType::UserDeleted,
        || json!({ "user_id": id, "reason": reason }),
        now,
    )?;
    Ok(true)
}
