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

/// What a caller that wants the app's token should do next.
pub enum Lookup {
    /// The cached token is good for more than `refresh_ahead` seconds.
    Fresh(CachedToken),
    /// The cached row as it was (if any), and whether this caller took the
    /// lease to refresh it until `lease_until`.
    Stale {
        row: Option<CachedToken>,
        leased: bool,
    },
}

/// The app's token if it is fresh; else the row and, when nobody else is
/// refreshing, the lease (a row is made first for an app never seen).
pub fn fresh_or_lease(
    conn: &mut AnyConnection,
    appid: &str,
    now: i64,
    lease_until: i64,
    refresh_ahead: i64,
) -> QueryResult<Lookup> {
    let row = find(conn, appid)?;
    match &row {
        Some(r) if r.token_sealed.is_some() && r.expires_at - refresh_ahead > now => {
            return Ok(Lookup::Fresh(r.clone()));
        }
        Some(_) => {}
        None => ensure_row(conn, appid, now)?,
    }
    let leased = take_lease(conn, appid, now, lease_until, now + refresh_ahead)?;
    Ok(Lookup::Stale { row, leased })
}

/// Makes sure the app has its (empty) row, so leases can be taken on it.
fn ensure_row(conn: &mut AnyConnection, appid: &str, now: i64) -> QueryResult<()> {
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
fn take_lease(
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
