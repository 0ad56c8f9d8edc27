//! The `identities` table: one row per (platform, appid, openid) a person
//! logged in through (SPEC §10), with the unionid that platform gave.

use diesel::prelude::*;
use serde::Serialize;

use super::schema::identities;
use super::users::last_insert_rowid;
use super::{on_backend, AnyConnection};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = identities)]
pub struct Identity {
    pub id: i64,
    pub user_id: i64,
    pub platform: String,
    pub appid: String,
    pub openid: String,
    pub unionid: Option<String>,
    /// A Douyin guest (logged in with `anonymousCode` alone).
    pub anonymous: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    /// TRUE when this identity holds its (platform, unionid) for its person:
    /// later identities with that unionid join the person (SPEC §10).
    pub holds_unionid: Option<bool>,
}

impl Identity {
    pub fn holds_unionid(&self) -> bool {
        self.holds_unionid == Some(true)
    }
}

#[derive(Insertable)]
#[diesel(table_name = identities, treat_none_as_default_value = false)]
pub struct NewIdentity<'a> {
    pub user_id: i64,
    pub platform: &'a str,
    pub appid: &'a str,
    pub openid: &'a str,
    pub unionid: Option<&'a str>,
    pub anonymous: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    /// `Some(true)` to claim the unionid for the person (nobody holds it);
    /// the unique key refuses a second holder, also one that a concurrent
    /// login on another instance is inserting.
    pub holds_unionid: Option<bool>,
}

/// A known identity as a login finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub id: i64,
    pub user_id: i64,
    pub unionid: Option<String>,
}

/// Records a login of (appid, openid) and returns the identity, or None when
/// it is new. One indexed write that also locks the row until the login
/// commits: a merge or unlink of the same identity waits for the login (and
/// then ends its session), or the login waits for them and reads the person
/// the identity belongs to now.
pub fn touch_for_login(
    conn: &mut AnyConnection,
    appid: &str,
    openid: &str,
    now: i64,
) -> QueryResult<Option<Seen>> {
    let row: Option<(i64, i64, Option<String>)> = match conn {
        // SQLite: a read, then a write by id when the identity exists. Both
        // are statements diesel keeps prepared (an UPDATE … RETURNING it
        // prepares anew on every login), and the writer runs one write at a
        // time, so nothing can change in between.
        AnyConnection::Sqlite(c) => {
            let found = identities::table
                .filter(identities::appid.eq(appid))
                .filter(identities::openid.eq(openid))
                .select((identities::id, identities::user_id, identities::unionid))
                .get_result::<(i64, i64, Option<String>)>(c)
                .optional()?;
            if let Some((id, _, _)) = &found {
                diesel::update(identities::table.find(*id))
                    .set(identities::last_login_at.eq(now))
                    .execute(c)?;
            }
            found
        }
        AnyConnection::Postgresql(c) => diesel::update(
            identities::table
                .filter(identities::appid.eq(appid))
                .filter(identities::openid.eq(openid)),
        )
        .set(identities::last_login_at.eq(now))
        .returning((identities::id, identities::user_id, identities::unionid))
        .get_result(c)
        .optional()?,
    };
    Ok(row.map(|(id, user_id, unionid)| Seen {
        id,
        user_id,
        unionid,
    }))
}

/// Inserts the identity unless (appid, openid) exists, or it claims a
/// unionid someone holds — another login made either at the same moment;
/// its id, or None.
pub fn insert_if_new(conn: &mut AnyConnection, row: &NewIdentity<'_>) -> QueryResult<Option<i64>> {
    match conn {
        // A plain INSERT, whose prepared statement diesel keeps (it keeps
        // none for an upsert, building its SQL on every login); the unique
        // keys' refusal fails this statement only.
        AnyConnection::Sqlite(c) => match diesel::insert_into(identities::table)
            .values(row)
            .execute(c)
        {
            Ok(_) => diesel::select(last_insert_rowid()).get_result(c).map(Some),
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => Ok(None),
            Err(e) => Err(e),
        },
        AnyConnection::Postgresql(c) => diesel::insert_into(identities::table)
            .values(row)
            // Either key: (appid, openid) and the unionid's holder. PostgreSQL
            // waits for a concurrent insert of either to commit, then yields.
            .on_conflict_do_nothing()
            .returning(identities::id)
            .get_result(c)
            .optional(),
    }
}

/// The identity of (appid, openid), if any.
pub fn find_by_openid(
    conn: &mut AnyConnection,
    appid: &str,
    openid: &str,
) -> QueryResult<Option<Identity>> {
    identities::table
        .filter(identities::appid.eq(appid))
        .filter(identities::openid.eq(openid))
        .select(Identity::as_select())
        .get_result(conn)
        .optional()
}

pub fn find(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<Identity>> {
    identities::table
        .find(id)
        .select(Identity::as_select())
        .get_result(conn)
        .optional()
}

/// A person's identities, oldest first.
pub fn of_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<Identity>> {
    identities::table
        .filter(identities::user_id.eq(user_id))
        .order(identities::id.asc())
        .select(Identity::as_select())
        .load(conn)
}

/// The identities of several people (a page of the console's list).
pub fn of_users(conn: &mut AnyConnection, user_ids: &[i64]) -> QueryResult<Vec<Identity>> {
    identities::table
        .filter(identities::user_id.eq_any(user_ids))
        .order(identities::id.asc())
        .select(Identity::as_select())
        .load(conn)
}

/// The person holding (platform, unionid), if any (through the unionid key).
pub fn unionid_holder(
    conn: &mut AnyConnection,
    platform: &str,
    unionid: &str,
) -> QueryResult<Option<i64>> {
    // On each backend's own connection: diesel keeps the prepared statement
    // by the query's type there (through `AnyConnection` it builds the SQL
    // text on every login to look it up).
    on_backend!(conn, |c| identities::table
        .filter(identities::platform.eq(platform))
        .filter(identities::unionid.eq(unionid))
        .filter(identities::holds_unionid.eq(true))
        .select(identities::user_id)
        .get_result(c)
        .optional())
}

/// Stores the unionid a platform gave late (the app was bound to its open
/// platform after the identity's first login), not holding it.
pub fn set_unionid(conn: &mut AnyConnection, id: i64, unionid: &str) -> QueryResult<()> {
    diesel::update(identities::table.find(id))
        .set((
            identities::unionid.eq(unionid),
            identities::holds_unionid.eq(None::<bool>),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Stores a late unionid and claims it for the identity's person; false
/// (and nothing stored) when someone holds it — a login on another instance
/// may have claimed it a moment ago. In a savepoint: PostgreSQL's refusal
/// would otherwise abort the whole login.
pub fn set_unionid_holding(conn: &mut AnyConnection, id: i64, unionid: &str) -> QueryResult<bool> {
    use diesel::connection::SimpleConnection;
    use diesel::result::{DatabaseErrorKind, Error};
    conn.batch_execute("SAVEPOINT unionid_claim")?;
    let claimed = diesel::update(identities::table.find(id))
        .set((
            identities::unionid.eq(unionid),
            identities::holds_unionid.eq(Some(true)),
        ))
        .execute(conn);
    match claimed {
        Ok(_) => {
            conn.batch_execute("RELEASE SAVEPOINT unionid_claim")?;
            Ok(true)
        }
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            conn.batch_execute(
                "ROLLBACK TO SAVEPOINT unionid_claim; RELEASE SAVEPOINT unionid_claim",
            )?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Hands the unionid identity `from` holds to identity `to` (another of the
/// same person carrying it: an unlink takes `from` away). Released first,
/// since the key admits one holder at any moment.
pub fn pass_unionid(conn: &mut AnyConnection, from: i64, to: i64) -> QueryResult<()> {
    for (id, holds) in [(from, None), (to, Some(true))] {
        diesel::update(identities::table.find(id))
            .set(identities::holds_unionid.eq(holds))
            .execute(conn)?;
    }
    Ok(())
}

/// Moves one identity from person `from` to `to_user`; false when it is not
/// `from`'s (any more: PostgreSQL re-reads the row after waiting for a
/// concurrent merge that moved it).
pub fn move_one(conn: &mut AnyConnection, id: i64, from: i64, to_user: i64) -> QueryResult<bool> {
    diesel::update(
        identities::table
            .filter(identities::id.eq(id))
            .filter(identities::user_id.eq(from)),
    )
    .set(identities::user_id.eq(to_user))
    .execute(conn)
    .map(|n| n == 1)
}

/// Moves every identity of `from` to `into` (a merge); the moved ids. Locks
/// them first, in the order logins lock (the identity, then the person).
pub fn move_all(conn: &mut AnyConnection, from: i64, into: i64) -> QueryResult<Vec<i64>> {
    on_backend!(conn, |c| diesel::update(
        identities::table.filter(identities::user_id.eq(from))
    )
    .set(identities::user_id.eq(into))
    .returning(identities::id)
    .load(c))
}

/// A person's identities as the person themself may see them: the platform
/// and app of each, with the app's name, never an openid.
pub fn apps_of_user(
    conn: &mut AnyConnection,
    user_id: i64,
) -> QueryResult<Vec<(String, String, String)>> {
    use super::schema::apps;
    identities::table
        .inner_join(apps::table)
        .filter(identities::user_id.eq(user_id))
        .order(identities::id.asc())
        .select((identities::platform, identities::appid, apps::name))
        .load(conn)
}

/// Locks person `user_id`'s identities (PostgreSQL), in the order logins
/// take locks: identity first, then person. An erasure that then waits for
/// a login through one of them sees, once it has them, whether that login
/// cancelled the deletion.
pub fn lock_of_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    if let AnyConnection::Postgresql(c) = conn {
        identities::table
            .filter(identities::user_id.eq(user_id))
            .select(identities::id)
            .for_update()
            .load::<i64>(c)?;
    }
    Ok(())
}

/// Deletes every identity of `user_ids`: an erasure (a later login through
/// one of them is a new person).
pub fn delete_of_users(conn: &mut AnyConnection, user_ids: &[i64]) -> QueryResult<usize> {
    diesel::delete(identities::table.filter(identities::user_id.eq_any(user_ids))).execute(conn)
}
