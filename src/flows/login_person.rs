//! Which person a login is (SPEC §10): the known identity's; for a new
//! identity, the person holding its unionid, or the Douyin guest the device
//! was, or a new person. Runs inside the login's transaction.
//!
//! Races, on any instance: a known identity's row is locked first (the
//! login's first statement), then its person's; merges and unlinks lock in
//! the same order, so either they wait for the login (and end its session)
//! or the login reads where the identity belongs now. On PostgreSQL a new
//! identity is made in a savepoint; when another login made the same
//! identity or claimed the same unionid first, the savepoint is undone and
//! the login tries again, then finding what the other made. (SQLite's
//! single writer leaves no such race.)

use diesel::connection::SimpleConnection;
use serde_json::json;

use super::login::NewLogin;
use super::people;
use crate::db::audit::{self, Kind, NewEvent};
use crate::db::identities::{self, NewIdentity};
use crate::db::users::{self, LoginUser, NewUser, User};
use crate::db::AnyConnection;
use crate::error::ApiError;
use crate::webhooks::{EventType, Webhooks};

/// The person a login continues with.
pub struct LoginPerson {
    pub user: User,
    pub identity_id: i64,
    pub found: LoginUser,
}

/// Attempts at a new identity before giving up: each lost race means the
/// next attempt finds what the winner made, so a second one is the most
/// that is ever needed in practice.
const ATTEMPTS: usize = 3;

pub fn resolve(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    login: &NewLogin,
    now: i64,
) -> Result<LoginPerson, ApiError> {
    for _ in 0..ATTEMPTS {
        if let Some(seen) = identities::touch_for_login(conn, &login.appid, &login.openid, now)? {
            let Some(user) = users::lock_for_login(conn, seen.user_id, now)? else {
                // Merged away in the same moment: the identity has moved on.
                continue;
            };
            return known(conn, hooks, login, seen, user, now);
        }
        match in_savepoint(conn, |c| new_identity(c, hooks, login, now)) {
            Ok(person) => return Ok(person),
            Err(Attempt::Lost) => continue,
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
    Err(ApiError::Unavailable(
        "the login kept racing other logins of the same person; try again".into(),
    ))
}

/// A known identity: a unionid that arrived late, the Douyin guest to join,
/// then the profile.
fn known(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    login: &NewLogin,
    seen: identities::Seen,
    mut user: User,
    now: i64,
) -> Result<LoginPerson, ApiError> {
    if let Some(unionid) = login.unionid.as_deref() {
        if seen.unionid.as_deref() != Some(unionid) {
            claim_or_note_conflict(conn, login, seen.id, unionid, user.id, now)?;
        }
    }
    if user.is_banned() {
        // A refused login changes nothing of the stored profile.
        return Ok(LoginPerson {
            user,
            identity_id: seen.id,
            found: LoginUser::Known {
                profile_changed: false,
            },
        });
    }
    join_guest(conn, hooks, login, &mut user, now)?;
    let changed = users::update_for_login(conn, &mut user, login.profile.clone(), now)?;
    Ok(LoginPerson {
        user,
        identity_id: seen.id,
        found: LoginUser::Known {
            profile_changed: changed,
        },
    })
}

/// A unionid that came late for a person who may not hold it: claimed when
/// nobody does; held by someone else, it is recorded for an operator (never
/// merged silently).
fn claim_or_note_conflict(
    conn: &mut AnyConnection,
    login: &NewLogin,
    identity_id: i64,
    unionid: &str,
    user_id: i64,
    now: i64,
) -> Result<(), ApiError> {
    let platform = login.platform.as_str();
    let mut holder = identities::unionid_holder(conn, platform, unionid)?;
    if holder.is_none() {
        if identities::set_unionid_holding(conn, identity_id, unionid)? {
            return Ok(());
        }
        // Claimed by a login elsewhere a moment ago, committed by now.
        holder = identities::unionid_holder(conn, platform, unionid)?;
    }
    identities::set_unionid(conn, identity_id, unionid)?;
    match holder {
        Some(holder) if holder != user_id => audit::record(
            conn,
            &NewEvent::new(Kind::LinkConflict, now)
                .user(user_id)
                .ip(login.ip.clone())
                .detail(format!(
                    "{platform} unionid {unionid} belongs to user {holder}"
                )),
        )
        .map_err(Into::into),
        _ => Ok(()),
    }
}

/// Douyin: the guest identity the device used before this login joins the
/// person (their person merged in), so nothing done as a guest is lost.
fn join_guest(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    login: &NewLogin,
    user: &mut User,
    now: i64,
) -> Result<(), ApiError> {
    let Some(guest_openid) = login.guest_openid.as_deref() else {
        return Ok(());
    };
    let Some(guest) = identities::find_by_openid(conn, &login.appid, guest_openid)? else {
        return Ok(());
    };
    if !guest.anonymous || guest.user_id == user.id {
        return Ok(());
    }
    people::merge_in(conn, hooks, guest.user_id, user, "douyin_guest", now)?;
    linked_event(conn, hooks, login, user.id, guest.id, "douyin_guest", now)
}

/// Runs `f` in a savepoint of the login's transaction, undone when `f`
/// fails. Spelled out rather than diesel's nested `transaction`: SQLite's
/// writer opens its transactions and savepoints itself, unseen by diesel.
///
/// Not on SQLite: its writer runs one write at a time, so no other login
/// can make the identity or claim the unionid in between — there is no race
/// to lose — and a failing write is undone by the writer itself. The
/// savepoint would cost two statements that SQLite parses on every login.
fn in_savepoint<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, Attempt>,
) -> Result<T, Attempt> {
    if matches!(conn, AnyConnection::Sqlite(_)) {
        return f(conn).map_err(|e| match e {
            Attempt::Lost => Attempt::Failed(ApiError::internal(
                "a login lost a race that SQLite's single writer rules out",
            )),
            failed => failed,
        });
    }
    conn.batch_execute("SAVEPOINT login_person")?;
    match f(conn) {
        Ok(value) => {
            conn.batch_execute("RELEASE SAVEPOINT login_person")?;
            Ok(value)
        }
        Err(e) => {
            conn.batch_execute(
                "ROLLBACK TO SAVEPOINT login_person; RELEASE SAVEPOINT login_person",
            )?;
            Err(e)
        }
    }
}

enum Attempt {
    /// Another login made the same identity or claimed the same unionid
    /// first: undo and try again.
    Lost,
    Failed(ApiError),
}

impl From<diesel::result::Error> for Attempt {
    fn from(e: diesel::result::Error) -> Self {
        Attempt::Failed(e.into())
    }
}

impl From<ApiError> for Attempt {
    fn from(e: ApiError) -> Self {
        Attempt::Failed(e)
    }
}

fn new_identity(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    login: &NewLogin,
    now: i64,
) -> Result<LoginPerson, Attempt> {
    // SQLite, a new person (no guest to join): the identity's insert itself
    // tells whether anyone holds its unionid — its key refuses the claim —
    // which spares every new person's login a lookup. Its single writer
    // leaves no other reason for a refusal: the identity was just not
    // found. A refused claim undoes the person and looks the holder up.
    let optimistic = matches!(conn, AnyConnection::Sqlite(_)) && login.guest_openid.is_none();
    new_identity_with(conn, hooks, login, now, optimistic)
}

fn new_identity_with(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    login: &NewLogin,
    now: i64,
    optimistic: bool,
) -> Result<LoginPerson, Attempt> {
    let platform = login.platform.as_str();
    let holder = match login.unionid.as_deref() {
        Some(u) if !optimistic => identities::unionid_holder(conn, platform, u)?,
        _ => None,
    };
    let guest = match login.guest_openid.as_deref() {
        Some(g) => identities::find_by_openid(conn, &login.appid, g)?.filter(|i| i.anonymous),
        None => None,
    };
    // The unionid's holder first; else the guest the device was becomes the
    // person (nothing is new: the person existed); else a new person.
    let (user_id, fresh, linked_by) = match (holder, &guest) {
        (Some(id), _) => (id, None, Some("unionid")),
        (None, Some(g)) => (g.user_id, None, Some("douyin_guest")),
        (None, None) => {
            let user = users::insert(conn, NewUser::for_login(&login.profile, now))?;
            (user.id, Some(user), None)
        }
    };
    // The identity before an existing person is locked: the order of every
    // login and merge (identity, then person). Locking the person first
    // deadlocked with a login through the same identity made a moment ago:
    // that one holds the identity's row and waits for the person, while
    // this insert waits for that row.
    let inserted = identities::insert_if_new(
        conn,
        &NewIdentity {
            user_id,
            platform,
            appid: &login.appid,
            openid: &login.openid,
            unionid: login.unionid.as_deref(),
            anonymous: login.anonymous,
            created_at: now,
            last_login_at: Some(now),
            // Claimed when nobody holds it; a concurrent claim elsewhere
            // makes the key refuse this identity: a lost race.
            holds_unionid: (login.unionid.is_some() && holder.is_none()).then_some(true),
        },
    );
    let identity_id = match inserted {
        // The person it was to join was erased in the same moment
        // (`account_deletion`): tried again, it finds nobody to join.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) if fresh.is_none() => return Err(Attempt::Lost),
        other => other?,
    };
    let identity_id = match (identity_id, &fresh) {
        (Some(id), _) => id,
        (None, Some(person)) if optimistic => {
            users::delete_unused(conn, person.id)?;
            return new_identity_with(conn, hooks, login, now, false);
        }
        (None, _) => return Err(Attempt::Lost),
    };
    let mut user = match fresh {
        Some(user) => user,
        None => lock(conn, user_id, now)?,
    };
    let found = match linked_by {
        None => LoginUser::Created,
        Some(_) if user.is_banned() => LoginUser::Linked,
        Some(how) => {
            linked_event(conn, hooks, login, user.id, identity_id, how, now)?;
            LoginUser::Linked
        }
    };
    if found == LoginUser::Linked && !user.is_banned() {
        if let Some(g) = guest.filter(|g| g.user_id != user.id) {
            people::merge_in(conn, hooks, g.user_id, &mut user, "douyin_guest", now)?;
        }
        users::update_for_login(conn, &mut user, login.profile.clone(), now)?;
    }
    Ok(LoginPerson {
        user,
        identity_id,
        found,
    })
}

/// An existing person a new identity joins, locked; a tombstone (merged in
/// the same moment) is a lost race.
fn lock(conn: &mut AnyConnection, id: i64, now: i64) -> Result<User, Attempt> {
    users::lock_for_login(conn, id, now)?.ok_or(Attempt::Lost)
}

/// Audit `identity_linked` and webhook `user.identity_linked`.
fn linked_event(
    conn: &mut AnyConnection,
    hooks: &Webhooks,
    login: &NewLogin,
    user_id: i64,
    identity_id: i64,
    how: &str,
    now: i64,
) -> Result<(), ApiError> {
    audit::record(
        conn,
        &NewEvent::new(Kind::IdentityLinked, now)
            .user(user_id)
            .ip(login.ip.clone())
            .detail(format!("{how}: identity {identity_id} ({})", login.appid)),
    )?;
    hooks.emit(
        conn,
        EventType::UserIdentityLinked,
        || {
            json!({
                "user_id": user_id,
                "identity": login.identity_json(identity_id),
                "by": how,
            })
        },
        now,
    )
}
