//! The `api_keys` table: the admin API's keys, by name and scope, kept as the
//! SHA-256 of the key (`crate::auth::api_key`).

use diesel::prelude::*;

use super::schema::api_keys;
use super::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Insertable)]
#[diesel(table_name = api_keys)]
struct NewKey<'a> {
    name: &'a str,
    scope: &'a str,
    key_hash: &'a str,
    created_at: i64,
}

/// Stores a new key; false when a live key already has this name.
pub fn create(
    conn: &mut AnyConnection,
    name: &str,
    scope: &str,
    key_hash: &str,
    now: i64,
) -> QueryResult<bool> {
    if find_live_by_name(conn, name)?.is_some() {
        return Ok(false);
    }
    let inserted = diesel::insert_into(api_keys::table)
        .values(&NewKey {
            name,
            scope,
            key_hash,
            created_at: now,
        })
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        // Another process created the same name in between.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(false),
        Err(e) => Err(e),
    }
}

fn find_live_by_name(conn: &mut AnyConnection, name: &str) -> QueryResult<Option<ApiKeyRow>> {
    api_keys::table
        .filter(api_keys::name.eq(name))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()
}

/// The live key whose hash this is.
pub fn find_live_by_hash(
    conn: &mut AnyConnection,
    key_hash: &str,
) -> QueryResult<Option<ApiKeyRow>> {
    api_keys::table
        .filter(api_keys::key_hash.eq(key_hash))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()
}

/// Every key, live ones first, then by name.
pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<ApiKeyRow>> {
    let mut keys: Vec<ApiKeyRow> = api_keys::table
        .select(ApiKeyRow::as_select())
        .order((api_keys::name.asc(), api_keys::id.desc()))
        .load(conn)?;
    keys.sort_by_key(|k| k.revoked_at.is_some());
    Ok(keys)
}

/// Revokes the live key named `name`; false when there is none.
pub fn revoke(conn: &mut AnyConnection, name: &str, now: i64) -> QueryResult<bool> {
    let n = diesel::update(
        api_keys::table
            .filter(api_keys::name.eq(name))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(now))
    .execute(conn)?;
    Ok(n > 0)
}

/// Notes a use, at most once a minute per key (the audit log has every call).
pub fn touch(conn: &mut AnyConnection, id: i64, now: i64) -> QueryResult<()> {
    diesel::update(
        api_keys::table.filter(api_keys::id.eq(id)).filter(
            api_keys::last_used_at
                .is_null()
                .or(api_keys::last_used_at.lt(now - 60)),
        ),
    )
    .set(api_keys::last_used_at.eq(now))
    .execute(conn)?;
    Ok(())
}
