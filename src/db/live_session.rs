//! The check behind every authenticated request: is this session live, and is
//! its user banned? A read by primary key, nothing cached, so a revocation
//! committed by any connection or instance is seen at once. On PostgreSQL the
//! reads of concurrent checks share a query (`pg_session_checks`).
//!
//! It reads only what the check needs, not the whole row (the sealed
//! session_key, where the login came from). On SQLite it goes through
//! rusqlite on the same bundled SQLite as diesel: on this one query diesel's
//! per-call work — walking the query to find its cached statement, binding,
//! building the row — cost about as much as SQLite's own, a tenth of the
//! whole `status` request. Everything else stays with diesel.

use std::sync::Mutex;

use diesel::prelude::*;

use super::schema::sessions;
use super::sessions::{liveness, Dead};
use crate::error::ApiError;

/// The session as the token check sees it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct LiveSession {
    pub id: String,
    pub user_id: i64,
    pub appid: String,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// SHA-256 of the secret part of the session cookie, when one was issued.
    pub cookie_hash: Option<String>,
}

impl LiveSession {
    /// `None` when the session is live at `now`.
    pub fn dead(&self, now: i64, idle_timeout: i64) -> Option<Dead> {
        liveness(
            self.revoked_at,
            self.expires_at,
            self.last_seen_at,
            now,
            idle_timeout,
        )
    }
}

/// The check on SQLite, spelled in SQL (PostgreSQL's is in `pg_session_checks`).
const SQLITE_QUERY: &str = "SELECT s.user_id, s.appid, s.last_seen_at, s.expires_at, \
     s.revoked_at, s.cookie_hash, u.banned_at \
     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1";

/// Read-only SQLite connections for the check, taken inline by the request
/// (a point read is shorter than a hop to another thread) and put back.
pub struct SqliteLookups {
    path: String,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl SqliteLookups {
    pub fn new(path: &str) -> Self {
        SqliteLookups {
            path: path.to_string(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open(&self.path)?;
        // The writer set WAL mode when it opened the database; this
        // connection only reads, and waits like the others when it must.
        conn.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA query_only = ON;")?;
        Ok(conn)
    }

    pub fn find(&self, id: &str) -> Result<Option<(LiveSession, Option<i64>)>, ApiError> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.open().map_err(|e| {
                ApiError::Unavailable(format!("cannot open a database connection: {e}"))
            })?,
        };
        let found = Self::query(&conn, id);
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        found.map_err(|e| ApiError::Internal(format!("database: {e}")))
    }

    fn query(
        conn: &rusqlite::Connection,
        id: &str,
    ) -> rusqlite::Result<Option<(LiveSession, Option<i64>)>> {
        let mut statement = conn.prepare_cached(SQLITE_QUERY)?;
        let mut rows = statement.query([id])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let session = LiveSession {
            id: id.to_string(),
            user_id: row.get(0)?,
            appid: row.get(1)?,
            last_seen_at: row.get(2)?,
            expires_at: row.get(3)?,
            revoked_at: row.get(4)?,
            cookie_hash: row.get(5)?,
        };
        Ok(Some((session, row.get(6)?)))
    }
}
