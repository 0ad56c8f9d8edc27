//! The `wechat_access_tokens` table: one cached WeChat access_token per app,
//! sealed, with a lease that lets one caller at a time refresh it.

use diesel::prelude::*;

use super::schema::wechat_access_tokens as tokens;
use super::{insert_or_ignore, AnyConnection};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tokens)]
pub struct CachedToken {
    pub appid: String,
    pub token_sealed: Option<String>,
    pub expires_at: i64,
    pub refreshing_until: Option<i64>,
    pub updated_at: i64,
}

#[derive(Insertable)]
#[diesel(table_name = tokens)]
struct NewRow<'a> {
    appid: &'a str,
    expires_at: i64,
    updated_at: i64,
}

pub fn find(conn: &mut AnyConnection, appid: &str) -> QueryResult<Option<CachedToken>> {
    tokens::table
        .find(appid)
        .select(CachedToken::as_select())
        .get_result(conn)
        .optional()
}

/// Makes sure the app has its (empty) row, so leases can be taken on it.
pub fn ensure_row(conn: &mut AnyConnection, appid: &str, now: i64) -> QueryResult<()> {
    let row = NewRow {
        appid,
        expires_at: 0,
        updated_at: now,
    };
    insert_or_ignore!(conn, tokens::table, &row)?;
    Ok(())
}

/// Takes the refresh lease until `until`, unless another caller holds it or
/// the token no longer needs a refresh (it expires after `stale_before`,
/// because someone just refreshed it). The conditional UPDATE makes this safe
/// across instances.
pub fn take_lease(
    conn: &mut AnyConnection,
    appid: &str,
    now: i64,
    until: i64,
    stale_before: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        tokens::table
            .filter(tokens::appid.eq(appid))
            .filter(tokens::expires_at.le(stale_before))
            .filter(
                tokens::refreshing_until
                    .is_null()
                    .or(tokens::refreshing_until.lt(now)),
            ),
    )
    .set(tokens::refreshing_until.eq(until))
    .execute(conn)?;
    Ok(n == 1)
}

/// Stores a fresh token and gives the lease back.
pub fn store(
    conn: &mut AnyConnection,
    appid: &str,
    sealed: &str,
    expires_at: i64,
    now: i64,
) -> QueryResult<()> {
    diesel::update(tokens::table.find(appid))
        .set((
            tokens::token_sealed.eq(sealed),
            tokens::expires_at.eq(expires_at),
            tokens::refreshing_until.eq(None::<i64>),
            tokens::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn release_lease(conn: &mut AnyConnection, appid: &str) -> QueryResult<()> {
    diesel::update(tokens::table.find(appid))
        .set(tokens::refreshing_until.eq(None::<i64>))
        .execute(conn)
        .map(|_| ())
}

/// Marks the cached token expired, if it is still `sealed` (another caller
/// may have replaced it already).
pub fn expire(conn: &mut AnyConnection, appid: &str, sealed: &str) -> QueryResult<()> {
    diesel::update(
        tokens::table
            .filter(tokens::appid.eq(appid))
            .filter(tokens::token_sealed.eq(sealed)),
    )
    .set(tokens::expires_at.eq(0))
    .execute(conn)
    .map(|_| ())
}
