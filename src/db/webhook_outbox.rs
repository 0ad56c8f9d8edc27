//! The `webhook_outbox` table: events waiting for, or done with, delivery to
//! one endpoint each (`crate::webhooks`).

use diesel::prelude::*;

use super::schema::webhook_outbox;
use super::{on_backend, AnyConnection};

type Backend = <AnyConnection as diesel::Connection>::Backend;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_outbox)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: String,
    pub event_type: String,
    pub endpoint: String,
    pub body: String,
    pub created_at: i64,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub leased_until: Option<i64>,
    /// Who holds the lease: the worker that took the row, until it finishes.
    pub lease_token: Option<String>,
    pub delivered_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_status: Option<i32>,
    pub last_answer: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = webhook_outbox)]
pub struct NewOutboxRow<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub endpoint: &'a str,
    pub body: &'a str,
    pub created_at: i64,
    pub next_attempt_at: i64,
    /// The person the event is about (its data names them).
    pub user_id: Option<i64>,
}

/// Deletes the deliveries about `user_ids` but `keep_type`'s: an erasure
/// (their bodies carry the person's profile, openids and addresses; one
/// not yet sent is never sent).
pub fn delete_of_users(
    conn: &mut AnyConnection,
    user_ids: &[i64],
    keep_type: &str,
) -> QueryResult<usize> {
    diesel::delete(
        webhook_outbox::table
            .filter(webhook_outbox::user_id.eq_any(user_ids))
            .filter(webhook_outbox::event_type.ne(keep_type)),
    )
    .execute(conn)
}

pub fn insert(conn: &mut AnyConnection, rows: &[NewOutboxRow<'_>]) -> QueryResult<()> {
    for row in rows {
        diesel::insert_into(webhook_outbox::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// `endpoint`'s rows waiting for an attempt that nobody holds at `now`
/// (through the (endpoint, next_attempt_at) index of waiting rows).
fn waiting_and_free(endpoint: &str, now: i64) -> webhook_outbox::BoxedQuery<'_, Backend> {
    webhook_outbox::table
        .filter(webhook_outbox::endpoint.eq(endpoint))
        .filter(webhook_outbox::delivered_at.is_null())
        .filter(webhook_outbox::failed_at.is_null())
        .filter(
            webhook_outbox::leased_until
                .is_null()
                .or(webhook_outbox::leased_until.lt(now)),
        )
        .into_boxed()
}

/// Ids of `endpoint`'s rows due at `now` that nobody holds, oldest first.
pub fn due(
    conn: &mut AnyConnection,
    endpoint: &str,
    now: i64,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    waiting_and_free(endpoint, now)
        .filter(webhook_outbox::next_attempt_at.le(now))
        .order(webhook_outbox::next_attempt_at.asc())
        .select(webhook_outbox::id)
        .limit(limit)
        .load(conn)
}

/// Leases those of `ids` that are still due and free until `until` under
/// `token`, and returns them. The condition is checked again by the UPDATE
/// itself (under PostgreSQL's row lock), so of two instances leasing one
/// row, one gets it.
pub fn lease(
    conn: &mut AnyConnection,
    ids: &[i64],
    now: i64,
    until: i64,
    token: &str,
) -> QueryResult<Vec<OutboxRow>> {
    on_backend!(conn, |c| diesel::update(
        webhook_outbox::table
            .filter(webhook_outbox::id.eq_any(ids))
            .filter(webhook_outbox::delivered_at.is_null())
            .filter(webhook_outbox::failed_at.is_null())
            .filter(
                webhook_outbox::leased_until
                    .is_null()
                    .or(webhook_outbox::leased_until.lt(now)),
            ),
    )
    .set((
        webhook_outbox::leased_until.eq(until),
        webhook_outbox::lease_token.eq(token),
        webhook_outbox::attempts.eq(webhook_outbox::attempts + 1),
    ))
    .returning(OutboxRow::as_returning())
    .get_results(c))
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy)]
pub enum Attempt {
    Delivered,
    /// Try again at this time.
    Retry(i64),
    /// Given up.
    Failed,
}

/// Records the outcome of the attempt made under lease `token`; false (and
/// nothing written) when the row is no longer leased under it — the lease
/// ran out and another attempt took the row, whose outcome counts.
pub fn finish(
    conn: &mut AnyConnection,
    id: i64,
    token: &str,
    attempt: Attempt,
    status: Option<i32>,
    answer: &str,
    now: i64,
) -> QueryResult<bool> {
    let row = webhook_outbox::table
        .filter(webhook_outbox::id.eq(id))
        .filter(webhook_outbox::lease_token.eq(token));
    let answer = (
        webhook_outbox::leased_until.eq(None::<i64>),
        webhook_outbox::lease_token.eq(None::<String>),
        webhook_outbox::last_status.eq(status),
        webhook_outbox::last_answer.eq(answer),
    );
    let n = match attempt {
        Attempt::Delivered => diesel::update(row)
            .set((answer, webhook_outbox::delivered_at.eq(now)))
            .execute(conn)?,
        Attempt::Retry(at) => diesel::update(row)
            .set((answer, webhook_outbox::next_attempt_at.eq(at)))
            .execute(conn)?,
        Attempt::Failed => diesel::update(row)
            .set((answer, webhook_outbox::failed_at.eq(now)))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// The endpoints that have rows waiting, each once: a walk over the
/// pending rows' (endpoint, next_attempt_at) index that jumps from one
/// endpoint to the next, however many rows each has.
pub fn pending_endpoints(conn: &mut AnyConnection) -> QueryResult<Vec<String>> {
    let mut found = Vec::new();
    let mut after = String::new();
    loop {
        let next: Option<String> = webhook_outbox::table
            .filter(webhook_outbox::delivered_at.is_null())
            .filter(webhook_outbox::failed_at.is_null())
            .filter(webhook_outbox::endpoint.gt(&after))
            .order(webhook_outbox::endpoint.asc())
            .select(webhook_outbox::endpoint)
            .first(conn)
            .optional()?;
        let Some(endpoint) = next else {
            return Ok(found);
        };
        after = endpoint.clone();
        found.push(endpoint);
    }
}

/// Marks failed, with `why`, up to `batch` of `endpoint`'s waiting rows
/// made before `created_before` that nobody holds; how many.
pub fn give_up(
    conn: &mut AnyConnection,
    endpoint: &str,
    created_before: i64,
    now: i64,
    why: &str,
    batch: i64,
) -> QueryResult<usize> {
    let ids: Vec<i64> = waiting_and_free(endpoint, now)
        .filter(webhook_outbox::created_at.lt(created_before))
        .order(webhook_outbox::next_attempt_at.asc())
        .select(webhook_outbox::id)
        .limit(batch)
        .load(conn)?;
    diesel::update(webhook_outbox::table.filter(webhook_outbox::id.eq_any(&ids)))
        .set((
            webhook_outbox::failed_at.eq(now),
            webhook_outbox::last_status.eq(None::<i32>),
            webhook_outbox::last_answer.eq(why),
        ))
        .execute(conn)
}

/// The latest rows, newest first (the console's list); `failed_only` keeps
/// those that have failed at least once and are not delivered.
pub fn recent(
    conn: &mut AnyConnection,
    failed_only: bool,
    limit: i64,
) -> QueryResult<Vec<OutboxRow>> {
    let mut q = webhook_outbox::table
        .select(OutboxRow::as_select())
        .into_boxed();
    if failed_only {
        q = q
            .filter(webhook_outbox::delivered_at.is_null())
            .filter(webhook_outbox::last_answer.is_not_null());
    }
    q.order(webhook_outbox::id.desc()).limit(limit).load(conn)
}

/// Makes an undelivered row due now, a given-up one included; the row (its
/// event type and endpoint, for the audit), or None when there is no such
/// row or it was delivered.
pub fn retry_now(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> QueryResult<Option<(String, String)>> {
    on_backend!(conn, |c| diesel::update(
        webhook_outbox::table
            .filter(webhook_outbox::id.eq(id))
            .filter(webhook_outbox::delivered_at.is_null()),
    )
    .set((
        webhook_outbox::next_attempt_at.eq(now),
        webhook_outbox::failed_at.eq(None::<i64>),
        webhook_outbox::created_at.eq(now),
    ))
    .returning((webhook_outbox::event_type, webhook_outbox::endpoint))
    .get_result(c)
    .optional())
}

/// Deletes up to `batch` delivered or given-up rows created before `before`.
pub fn purge_before(conn: &mut AnyConnection, before: i64, batch: i64) -> QueryResult<usize> {
    let ids: Vec<i64> = webhook_outbox::table
        .filter(webhook_outbox::created_at.lt(before))
        .filter(
            webhook_outbox::delivered_at
                .is_not_null()
                .or(webhook_outbox::failed_at.is_not_null()),
        )
        .select(webhook_outbox::id)
        .limit(batch)
        .load(conn)?;
    diesel::delete(webhook_outbox::table.filter(webhook_outbox::id.eq_any(&ids))).execute(conn)
}
