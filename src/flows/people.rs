//! Merging two people into one and unlinking an identity into a person of
//! its own (SPEC §10): by an operator (console, admin API), and merging by a
//! login when a Douyin guest signs in for real. Each is part of one
//! transaction with its audit event and webhooks.
//!
//! Safe against logins at the same moment: both lock the identities they
//! move before the people (the order a login locks in), so a login either
//! finishes first — and its session is ended here — or waits and then finds
//! the identity where it now belongs. An identity that a first login makes
//! for the person in the meantime is caught by going round again
//! (`move_identities_and_lock`).

use diesel::connection::SimpleConnection;
use serde_json::json;

use super::operator_actions::Operator;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::identities;
use crate::db::users::{self, NewUser, ProfileChanges, User};
use crate::db::{sessions, AnyConnection, Db};
use crate::error::ApiError;
use crate::webhooks::{EventType, Webhooks};

/// Moves everything of person `from` into `into` (which the caller holds
/// locked): identities (with the unionids they hold), the profile fields and phone `into`
/// lacks; ends `from`'s sessions (reason `merged`) and leaves `from` a
/// tombstone. Webhook `user.merged`, audit `merge` on `into`. The number of
/// sessions it ended; None when `from` is gone or already a tombstone.
pub fn merge_in(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    from: i64,
    into: &mut User,
    why: &str,
    now: i64,
) -> Result<Option<usize>, ApiError> {
    let Some(gone) = move_identities_and_lock(conn, from, into.id, now)? else {
        return Ok(None);
    };
    users::fill_from(conn, into, &gone, now)?;
    users::make_tombstone(conn, from, into.id, now)?;
    let ended = sessions::revoke_all_of_user(conn, from, "merged", now)?;
    hooks.sessions_ended(conn, &ended, from, "merged", now)?;
    hooks.emit(
        conn,
        EventType::UserMerged,
        || json!({ "from": from, "into": into.id, "by": why }),
        now,
    )?;
    audit::record(
        conn,
        &NewEvent::new(Kind::Merge, now)
            .user(into.id)
            .detail(format!("user {from} merged in ({why})")),
    )?;
    Ok(Some(ended.len()))
}

/// Rounds of [`move_identities_and_lock`] before giving up. Each round that
/// is undone saw a new identity of the person, made by a login in the
/// meantime: at most one per app (and Douyin device), so this is a guard,
/// not a limit that a merge meets.
const MOVE_ATTEMPTS: usize = 64;

/// Moves every identity of `from` to `into`, then locks `from`; `from` as
/// it was, or None when it is gone or a tombstone.
///
/// A first login that joins `from` (by its unionid, or as the Douyin guest
/// it was) locks the person before it makes its identity, so an identity
/// can appear between the move and the lock. Moving it then would wait on
/// its row while holding `from` — which a login through that identity,
/// holding the row, waits for: a deadlock. So the round is undone
/// instead (releasing `from`) and made again; the identity, committed by
/// now, is moved with the others.
fn move_identities_and_lock(
    conn: &mut AnyConnection,
    from: i64,
    into: i64,
    now: i64,
) -> Result<Option<User>, ApiError> {
    for _ in 0..MOVE_ATTEMPTS {
        conn.batch_execute("SAVEPOINT merge_move")?;
        identities::move_all(conn, from, into)?;
        let gone = users::lock_live(conn, from, now)?;
        if gone.is_some() && !identities::of_user(conn, from)?.is_empty() {
            conn.batch_execute("ROLLBACK TO SAVEPOINT merge_move; RELEASE SAVEPOINT merge_move")?;
            continue;
        }
        conn.batch_execute("RELEASE SAVEPOINT merge_move")?;
        return Ok(gone);
    }
    Err(ApiError::Unavailable(
        "logins kept joining the person during the merge; try again".into(),
    ))
}

/// What an operator's merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// `from` now lives on in `into`.
    Done { sessions_ended: usize },
    /// No such person (either), or one is already a tombstone.
    NotFound,
    /// `from` and `into` are the same person.
    Same,
}

/// An operator merges person `from` into `into`.
pub async fn merge(
    db: &Db,
    into: i64,
    from: i64,
    by: Operator,
    now: i64,
) -> Result<Merged, ApiError> {
    if into == from {
        return Ok(Merged::Same);
    }
    let hooks = db.webhooks().clone();
    let result = db
        .write(move |conn| {
            // Locks in a login's order: `from`'s identities (in merge_in),
            // then the people. `into` first here is safe: a login of
            // `into`'s identities never waits on `from`.
            let Some(mut target) = users::lock_live(conn, into, now)? else {
                return Ok(Merged::NotFound);
            };
            let Some(ended) = merge_in(conn, &hooks, from, &mut target, "operator", now)? else {
                return Ok(Merged::NotFound);
            };
            audit::record(
                conn,
                &NewEvent::new(Kind::Merge, now)
                    .user(from)
                    .actor(&by.username)
                    .ip(by.ip.clone())
                    .detail(format!("merged into user {into}")),
            )?;
            Ok(Merged::Done {
                sessions_ended: ended,
            })
        })
        .await;
    db.webhooks().ring();
    result
}

/// What an unlink did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlinked {
    /// The identity is now the only one of person `user_id`.
    Done {
        user_id: i64,
        sessions_ended: usize,
    },
    NotFound,
    /// The identity is its person's only one: there is nothing to unlink it
    /// from.
    OnlyIdentity,
}

/// An operator moves identity `id` into a new person of its own and ends
/// its sessions.
pub async fn unlink(db: &Db, id: i64, by: Operator, now: i64) -> Result<Unlinked, ApiError> {
    let hooks = db.webhooks().clone();
    let result = db
        .write(move |conn| {
            for _ in 0..MOVE_ATTEMPTS {
                conn.batch_execute("SAVEPOINT unlink")?;
                match unlink_once(conn, &hooks, id, &by, now)? {
                    Some(done) => {
                        conn.batch_execute("RELEASE SAVEPOINT unlink")?;
                        return Ok(done);
                    }
                    // Moved by a merge in the same moment: again, from
                    // where it belongs now.
                    None => conn
                        .batch_execute("ROLLBACK TO SAVEPOINT unlink; RELEASE SAVEPOINT unlink")?,
                }
            }
            Err(ApiError::Unavailable(
                "the identity kept moving during the unlink; try again".into(),
            ))
        })
        .await;
    db.webhooks().ring();
    result
}

/// One attempt at [`unlink`], in a savepoint that the caller undoes when
/// this answers None (the identity moved meanwhile) — and that this undoes
/// itself when it refuses, so that a refusal leaves nothing behind.
fn unlink_once(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    id: i64,
    by: &Operator,
    now: i64,
) -> Result<Option<Unlinked>, ApiError> {
    let refuse = |conn: &mut AnyConnection, why: Unlinked| -> Result<Option<Unlinked>, ApiError> {
        conn.batch_execute("ROLLBACK TO SAVEPOINT unlink")?;
        Ok(Some(why))
    };
    let Some(identity) = identities::find(conn, id)? else {
        return refuse(conn, Unlinked::NotFound);
    };
    let fresh = users::insert(conn, NewUser::for_login(&ProfileChanges::default(), now))?;
    // The identity row first (a login's order), then the person it leaves.
    if !identities::move_one(conn, id, identity.user_id, fresh.id)? {
        return Ok(None);
    }
    if users::lock_live(conn, identity.user_id, now)?.is_none() {
        return Ok(None);
    }
    // Counted under the lock: two unlinks of a person's last two identities
    // at the same moment leave them one.
    let rest = identities::of_user(conn, identity.user_id)?;
    if rest.is_empty() {
        return refuse(conn, Unlinked::OnlyIdentity);
    }
    if identity.holds_unionid() {
        // The unionid stays with the person while another of their
        // identities carries it; otherwise it leaves with this one.
        let heir = rest
            .iter()
            .find(|i| i.unionid == identity.unionid && i.platform == identity.platform);
        if let Some(heir) = heir {
            identities::pass_unionid(conn, id, heir.id)?;
        }
    }
    let ended = sessions::revoke_all(conn, sessions::Owner::Identity(id), "unlinked", now)?;
    hooks.sessions_ended(conn, &ended, identity.user_id, "unlinked", now)?;
    audit::record(
        conn,
        &NewEvent::new(Kind::Unlink, now)
            .user(identity.user_id)
            .actor(&by.username)
            .ip(by.ip.clone())
            .detail(format!(
                "identity {id} ({} {}) moved to new user {}",
                identity.platform, identity.appid, fresh.id
            )),
    )?;
    Ok(Some(Unlinked::Done {
        user_id: fresh.id,
        sessions_ended: ended.len(),
    }))
}
