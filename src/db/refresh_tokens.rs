//! The `refresh_tokens` table: every refresh token issued, by hash. The current
//! one of a session is unspent; a spent one keeps the pair it was exchanged for,
//! sealed, during the reuse grace, and afterwards marks reuse as theft.

use diesel::prelude::*;

use super::schema::{refresh_tokens, sessions, users};
use super::sessions::Session;
use super::AnyConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub token_hash: String,
    pub session_id: String,
    pub created_at: i64,
    pub spent_at: Option<i64>,
    pub successor_sealed: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = refresh_tokens)]
struct NewRefreshToken<'a> {
    token_hash: &'a str,
    session_id: &'a str,
    created_at: i64,
}

pub fn insert(
    conn: &mut AnyConnection,
    token_hash: &str,
    session_id: &str,
    now: i64,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(NewRefreshToken {
            token_hash,
            session_id,
            created_at: now,
        })
        .execute(conn)
        .map(|_| ())
}

/// The token with its session and the session user's ban time.
pub fn find_with_session(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> QueryResult<Option<(RefreshToken, Session, Option<i64>)>> {
    refresh_tokens::table
        .inner_join(sessions::table.inner_join(users::table))
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((
            RefreshToken::as_select(),
            Session::as_select(),
            users::banned_at,
        ))
        .first(conn)
        .optional()
}

/// Marks the token spent and keeps the sealed successor pair; returns false
/// when another request spent it first (the UPDATE is the arbiter).
pub fn spend(
    conn: &mut AnyConnection,
    token_hash: &str,
    successor_sealed: &str,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .filter(refresh_tokens::spent_at.is_null()),
    )
    .set((
        refresh_tokens::spent_at.eq(now),
        refresh_tokens::successor_sealed.eq(successor_sealed),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Forgets the sealed successor pairs whose grace ended before `before`.
pub fn forget_successors(conn: &mut AnyConnection, before: i64) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::successor_sealed.is_not_null())
            .filter(refresh_tokens::spent_at.lt(before)),
    )
    .set(refresh_tokens::successor_sealed.eq(None::<String>))
    .execute(conn)
}
