//! The session check's read on SQLite, spelled in SQL for rusqlite (see the
//! parent module for why, and for the other spellings).

use std::sync::Mutex;

use super::{Found, LiveSession};
use crate::error::ApiError;

/// The columns of [`LiveSession`] after its id, then the user's ban time.
const SQLITE_QUERY: &str = "SELECT s.user_id, s.appid, s.last_seen_at, s.expires_at, \
     s.revoked_at, s.cookie_hash, s.client_id, u.banned_at \
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

    pub fn find(&self, id: &str) -> Result<Found, ApiError> {
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

    fn query(conn: &rusqlite::Connection, id: &str) -> rusqlite::Result<Found> {
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
            client_id: row.get(6)?,
        };
        Ok(Some((session, row.get(7)?)))
    }
}
