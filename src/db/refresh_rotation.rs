//! A refresh token's rotation on PostgreSQL, in one statement.
//!
//! The general rotation (`flows::refresh`) is a transaction of five round
//! trips on a blocking thread: BEGIN, the session read, its UPDATE, the audit
//! event, COMMIT. When the presented token is the session's current one and
//! the session and its user are in good standing, nothing needs deciding
//! between them: one UPDATE, guarded by all of those conditions, rotates the
//! generation, and a data-modifying CTE writes the audit event (one implicit
//! transaction: all or nothing). When the guard does not hold — a spent or
//! unknown token, an ended session, a banned user, a racing rotation — nothing
//! is written and the caller takes the general path, which tells them apart.
//! SQLite does not need this: its writer batches rotations instead.
//!
//! The guard restates `sessions::liveness` and the ban check of the general
//! flow in SQL; the audit event is the general flow's own. The differential
//! test (`tests/it/differential.rs`) holds the two paths to the same rows and
//! answers.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};

use super::audit::NewEvent;

/// A rotation of `session_id` from `generation` to the next, at `now`.
pub struct QuickRotation<'a> {
    pub session_id: &'a str,
    pub generation: i64,
    pub now: i64,
    pub idle_timeout: i64,
    /// Whose session it must be: a web sign-in's relying party, or None for
    /// a mini-program's (a refresh token rotates only where it belongs).
    pub client_id: Option<&'a str>,
    /// The audit event, as the general rotation writes it (`flows::refresh`);
    /// its `user_id` is ignored: the session's is written.
    pub event: NewEvent,
}

/// A query type of its own, not `sql_query`, so that diesel keeps it prepared
/// (see `first_login`).
struct RotationQuery<'q>(&'q QuickRotation<'q>);

impl QueryId for RotationQuery<'_> {
    type QueryId = RotationQuery<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for RotationQuery<'_> {
    type SqlType = (BigInt, Text);
}

impl QueryFragment<Pg> for RotationQuery<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let r = self.0;
        // The liveness of `sessions::liveness`, as a guard: not revoked, not
        // past its lifetime, not idle; and the user not banned.
        out.push_sql(
            "WITH r AS (UPDATE sessions SET refresh_gen = refresh_gen + 1, refreshed_at = ",
        );
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(", last_seen_at = ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Text, _>(&r.session_id)?;
        out.push_sql(" AND refresh_gen = ");
        out.push_bind_param::<BigInt, _>(&r.generation)?;
        out.push_sql(" AND client_id IS NOT DISTINCT FROM ");
        out.push_bind_param::<Nullable<Text>, _>(&r.client_id)?;
        out.push_sql(" AND revoked_at IS NULL AND expires_at > ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(" AND last_seen_at + ");
        out.push_bind_param::<BigInt, _>(&r.idle_timeout)?;
        out.push_sql(" > ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(
            " AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id \
             AND users.banned_at IS NOT NULL) RETURNING user_id, COALESCE(client_id, appid) AS audience), \
             a AS (INSERT INTO audit_events (kind, user_id, session_id, actor, ip, detail, \
             created_at) SELECT ",
        );
        let e = &r.event;
        out.push_bind_param::<Text, _>(&e.kind)?;
        out.push_sql(", user_id, ");
        for text in [&e.session_id, &e.actor, &e.ip, &e.detail] {
            out.push_bind_param::<Nullable<Text>, _>(text)?;
            out.push_sql(", ");
        }
        out.push_bind_param::<BigInt, _>(&e.created_at)?;
        out.push_sql(" FROM r) SELECT user_id, audience FROM r");
        Ok(())
    }
}

/// The session's (user_id, audience: its app, or a web session's client)
/// when it was rotated; None when the guard
/// did not hold (then nothing was written).
pub async fn rotate(
    conn: &mut diesel_async::AsyncPgConnection,
    r: &QuickRotation<'_>,
) -> QueryResult<Option<(i64, String)>> {
    diesel_async::RunQueryDsl::get_result::<(i64, String)>(RotationQuery(r), conn)
        .await
        .optional()
}
