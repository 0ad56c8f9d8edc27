//! What an operator does, from the console or the admin API: revoke one
//! session, sign a user out everywhere, ban, unban, send a webhook delivery
//! again. Each is one transaction with its audit event —
//! a change that cannot be audited does not happen.

use super::session_end::{self, Ending};
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::{sessions, users, webhook_outbox, Db};
use crate::error::ApiError;
use crate::webhooks::EventType;
use serde_json::json;

/// Who acts, and from where: the audit event's actor and address.
#[derive(Clone)]
pub struct Operator {
    pub username: String,
    pub ip: Option<String>,
}

/// Revokes session `id`: whether it was live (revoking an ended one changes
/// nothing and records nothing); `None` when there is no such session.
pub async fn revoke_session(
    db: &Db,
    id: String,
    by: Operator,
    now: i64,
) -> Result<Option<bool>, ApiError> {
    let hooks = db.webhooks().clone();
    let result = db
        .write(move |conn| {
            let Some(session) = sessions::find(conn, &id)? else {
                return Ok(None);
            };
            let revoked = session_end::end(
                conn,
                &hooks,
                Ending {
                    id: &id,
                    user_id: session.user_id,
                    appid: &session.appid,
                    reason: "admin_revoke",
                },
                NewEvent::new(Kind::Revoke, now)
                    .actor(&by.username)
                    .ip(by.ip.clone()),
                now,
            )?;
            Ok(Some(revoked))
        })
        .await;
    db.webhooks().ring();
    result
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserAction {
    SignOutAll,
    /// With the operator's reason, if any (trimmed, at most 200 characters).
    Ban {
        reason: Option<String>,
    },
    Unban,
}

/// Applies `action` to user `id`: the number of live sessions it ended;
/// `None` when there is no such user, or only its tombstone.
pub async fn act_on_user(
    db: &Db,
    id: i64,
    action: UserAction,
    by: Operator,
    now: i64,
) -> Result<Option<usize>, ApiError> {
    let hooks = db.webhooks().clone();
    let result = db
        .write(move |conn| {
            // A tombstone (merged away) is no one to act on: its person
            // lives on under `merged_into`.
            let Some(user) = users::find(conn, id)?.filter(|u| u.merged_into.is_none()) else {
                return Ok(None);
            };
            // Details are codes the console translates, or the operator's own
            // words (a ban's reason).
            let (kind, detail, ended, why) = match &action {
                UserAction::SignOutAll => {
                    // The person before her sessions, as a ban (which
                    // updates her) and a login making room take them.
                    users::lock_row(conn, id)?;
                    let ended = sessions::revoke_all_of_user(conn, id, "admin_revoke", now)?;
                    (
                        Kind::Revoke,
                        Some("all_sessions".to_string()),
                        ended,
                        "admin_revoke",
                    )
                }
                UserAction::Ban { reason } => {
                    users::ban(conn, id, reason.as_deref(), now)?;
                    // Banned anew, or with another reason: news for subscribers.
                    if !user.is_banned() || user.ban_reason != *reason {
                        hooks.emit(
                            conn,
                            EventType::UserBanned,
                            || json!({ "user_id": id, "reason": reason }),
                            now,
                        )?;
                    }
                    let ended = sessions::revoke_all_of_user(conn, id, "ban", now)?;
                    (Kind::Ban, reason.clone(), ended, "ban")
                }
                UserAction::Unban => {
                    users::unban(conn, id, now)?;
                    if user.is_banned() {
                        hooks.emit(
                            conn,
                            EventType::UserUnbanned,
                            || json!({ "user_id": id }),
                            now,
                        )?;
                    }
                    (Kind::Unban, None, Vec::new(), "")
                }
            };
            hooks.sessions_ended(conn, &ended, id, why, now)?;
            let mut event = NewEvent::new(kind, now)
                .user(id)
                .actor(&by.username)
                .ip(by.ip.clone());
            if let Some(detail) = detail {
                event = event.detail(detail);
            }
            audit::record(conn, &event)?;
            Ok(Some(ended.len()))
        })
        .await;
    db.webhooks().ring();
    result
}

/// Makes webhook delivery `id` due now (a given-up one gets another 24
/// hours); false when there is no such delivery or it was delivered.
pub async fn send_webhook_again(
    db: &Db,
    id: i64,
    by: Operator,
    now: i64,
) -> Result<bool, ApiError> {
    let again = db
        .write(move |conn| {
            let Some((event_type, endpoint)) = webhook_outbox::retry_now(conn, id, now)? else {
                return Ok(false);
            };
            audit::record(
                conn,
                &NewEvent::new(Kind::WebhookRetry, now)
                    .actor(&by.username)
                    .ip(by.ip.clone())
                    .detail(format!("delivery {id}: {event_type} to {endpoint}")),
            )?;
            Ok(true)
        })
        .await?;
    db.webhooks().ring();
    Ok(again)
}
