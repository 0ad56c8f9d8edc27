//! The `web_logins` table: web sign-in tickets (SPEC §11). Each step is one
//! conditional UPDATE, so that two scanners, or a confirm racing a deny, on
//! any instances, cannot both win; when it changes nothing, the row is
//! read to say why.

use diesel::prelude::*;

use super::schema::web_logins;
use super::AnyConnection;

/// A ticket as the flows read it (without its code image).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = web_logins)]
pub struct WebLogin {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub browser_hash: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub scanned_by: Option<i64>,
    pub scanned_session: Option<String>,
    pub scanned_at: Option<i64>,
    pub decision: Option<String>,
    pub decided_at: Option<i64>,
    pub code_hash: Option<String>,
    pub code_expires_at: Option<i64>,
    pub code_used_at: Option<i64>,
    pub session_id: Option<String>,
}

/// What the scanner decided.
pub const CONFIRMED: &str = "confirmed";
pub const DENIED: &str = "denied";

#[derive(Insertable)]
#[diesel(table_name = web_logins, treat_none_as_default_value = false)]
pub struct NewWebLogin<'a> {
    pub id: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub state: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub browser_hash: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The tickets these people scanned, oldest first (a person's export).
pub fn scanned_by_any(conn: &mut AnyConnection, user_ids: &[i64]) -> QueryResult<Vec<WebLogin>> {
    web_logins::table
        .filter(web_logins::scanned_by.eq_any(user_ids))
        .order((web_logins::created_at.asc(), web_logins::id.asc()))
        .select(WebLogin::as_select())
        .load(conn)
}

pub fn insert(conn: &mut AnyConnection, row: &NewWebLogin<'_>) -> QueryResult<()> {
    diesel::insert_into(web_logins::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<WebLogin>> {
    web_logins::table
        .find(id)
        .select(WebLogin::as_select())
        .get_result(conn)
        .optional()
}

/// Makes `user_id` (through `session_id`) the ticket's scanner, if it is
/// live, undecided and nobody holds it yet. True when this call took it.
pub fn take_scan(
    conn: &mut AnyConnection,
    id: &str,
    user_id: i64,
    session_id: &str,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        web_logins::table
            .find(id)
            .filter(web_logins::scanned_by.is_null())
            .filter(web_logins::decision.is_null())
            .filter(web_logins::expires_at.gt(now)),
    )
    .set((
        web_logins::scanned_by.eq(user_id),
        web_logins::scanned_session.eq(session_id),
        web_logins::scanned_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records the scanner's decision, if the ticket is live, undecided and
/// held by `user_id`. True when this call decided it.
pub fn decide(
    conn: &mut AnyConnection,
    id: &str,
    user_id: i64,
    decision: &str,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        web_logins::table
            .find(id)
            .filter(web_logins::scanned_by.eq(user_id))
            .filter(web_logins::decision.is_null())
            .filter(web_logins::expires_at.gt(now)),
    )
    .set((
        web_logins::decision.eq(decision),
        web_logins::decided_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Gives the confirmed ticket its authorization code (its hash), once, to
/// the browser that showed it. True when this call gave it.
pub fn give_code(
    conn: &mut AnyConnection,
    id: &str,
    browser_hash: &str,
    code_hash: &str,
    code_expires_at: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        web_logins::table
            .find(id)
            .filter(web_logins::browser_hash.eq(browser_hash))
            .filter(web_logins::decision.eq(CONFIRMED))
            .filter(web_logins::code_hash.is_null()),
    )
    .set((
        web_logins::code_hash.eq(code_hash),
        web_logins::code_expires_at.eq(code_expires_at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The ticket whose authorization code has this hash.
pub fn find_by_code(conn: &mut AnyConnection, code_hash: &str) -> QueryResult<Option<WebLogin>> {
    web_logins::table
        .filter(web_logins::code_hash.eq(code_hash))
        .select(WebLogin::as_select())
        .get_result(conn)
        .optional()
}

/// Spends the ticket's code for the session it opens. False when the code
/// was spent already (by a request a moment ago, on any instance).
pub fn spend_code(
    conn: &mut AnyConnection,
    id: &str,
    session_id: &str,
    now: i64,
) -> QueryResult<bool> {
    let n = diesel::update(
        web_logins::table
            .find(id)
            .filter(web_logins::code_used_at.is_null()),
    )
    .set((
        web_logins::code_used_at.eq(now),
        web_logins::session_id.eq(session_id),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The mini-program code shown for the ticket, once fetched.
pub fn code_image(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<Vec<u8>>> {
    web_logins::table
        .find(id)
        .select(web_logins::qr_png)
        .get_result::<Option<Vec<u8>>>(conn)
        .optional()
        .map(Option::flatten)
}

/// Keeps the ticket's code image; an image another instance kept first
/// stays (both show the same scene).
pub fn keep_code_image(conn: &mut AnyConnection, id: &str, png: &[u8]) -> QueryResult<()> {
    diesel::update(
        web_logins::table
            .find(id)
            .filter(web_logins::qr_png.is_null()),
    )
    .set(web_logins::qr_png.eq(png))
    .execute(conn)
    .map(|_| ())
}

/// Drops up to `batch` tickets that expired before `before` and whose
/// code, if any, can no longer be presented (a replayed code must still
/// find its ticket to revoke what it issued).
pub fn purge_before(conn: &mut AnyConnection, before: i64, batch: i64) -> QueryResult<usize> {
    let ids: Vec<String> = web_logins::table
        .filter(web_logins::expires_at.lt(before))
        .filter(
            web_logins::code_expires_at
                .is_null()
                .or(web_logins::code_expires_at.lt(before)),
        )
        .order(web_logins::expires_at)
        .select(web_logins::id)
        .limit(batch)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::delete(web_logins::table.filter(web_logins::id.eq_any(&ids))).execute(conn)
}

/// Locks the tickets person `user_id` scanned (PostgreSQL), before an
/// erasure locks the person: a code exchange holds its ticket, then needs
/// the person (its session's key), so the erasure takes them in that order.
pub fn lock_of_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    if let AnyConnection::Postgresql(c) = conn {
        web_logins::table
            .filter(web_logins::scanned_by.eq(user_id))
            .select(web_logins::id)
            .for_update()
            .load::<String>(c)?;
    }
    Ok(())
}

/// Deletes the web sign-in tickets `user_ids` scanned: an erasure.
pub fn delete_of_users(conn: &mut AnyConnection, user_ids: &[i64]) -> QueryResult<usize> {
    diesel::delete(web_logins::table.filter(web_logins::scanned_by.eq_any(user_ids))).execute(conn)
}
