//! The `admins` table: operators of the console, with argon2id password hashes.

use diesel::prelude::*;

use super::schema::admins;
use super::{insert_or_ignore, AnyConnection};
use crate::auth::role::Role;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = admins)]
pub struct Admin {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// `viewer`, `operator` or `owner` (`crate::auth::role::Role`).
    pub role: String,
}

#[derive(Insertable)]
#[diesel(table_name = admins)]
struct NewAdmin<'a> {
    username: &'a str,
    password_hash: &'a str,
    created_at: i64,
    updated_at: i64,
    role: &'a str,
}

pub fn find_by_username(conn: &mut AnyConnection, username: &str) -> QueryResult<Option<Admin>> {
    admins::table
        .filter(admins::username.eq(username))
        .select(Admin::as_select())
        .get_result(conn)
        .optional()
}

pub fn name_and_hash(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<(String, String)>> {
    admins::table
        .find(id)
        .select((admins::username, admins::password_hash))
        .get_result(conn)
        .optional()
}

/// Every admin, by name.
pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<Admin>> {
    admins::table
        .order(admins::username.asc())
        .select(Admin::as_select())
        .load(conn)
}

/// Deletes an admin (their console sessions go with the row); false when
/// there is no such admin.
pub fn delete(conn: &mut AnyConnection, username: &str) -> QueryResult<bool> {
    let n = diesel::delete(admins::table.filter(admins::username.eq(username))).execute(conn)?;
    Ok(n == 1)
}

pub fn any_exists(conn: &mut AnyConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(admins::table.select(admins::id))).get_result(conn)
}

/// Creates an admin with `role`; false when the username is taken.
pub fn create(
    conn: &mut AnyConnection,
    username: &str,
    password_hash: &str,
    role: Role,
    now: i64,
) -> QueryResult<bool> {
    let row = NewAdmin {
        username,
        password_hash,
        created_at: now,
        updated_at: now,
        role: role.as_str(),
    };
    let inserted = insert_or_ignore!(conn, admins::table, &row)?;
    Ok(inserted == 1)
}

/// Sets a new password; false when there is no such admin.
pub fn set_password(
    conn: &mut AnyConnection,
    username: &str,
    password_hash: &str,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(admins::table.filter(admins::username.eq(username)))
        .set((
            admins::password_hash.eq(password_hash),
            admins::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Gives an admin another role; false when there is no such admin.
pub fn set_role(
    conn: &mut AnyConnection,
    username: &str,
    role: Role,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(admins::table.filter(admins::username.eq(username)))
        .set((admins::role.eq(role.as_str()), admins::updated_at.eq(now)))
        .execute(conn)?;
    Ok(n == 1)
}
