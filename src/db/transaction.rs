//! A write transaction on a connection already in hand (the console's and
//! the API's multi-statement writes run inside [`super::Db::run`]).

use diesel::connection::SimpleConnection;
use diesel::Connection;

use super::AnyConnection;

/// Runs `f` in a transaction that writes. On SQLite it begins with `BEGIN
/// IMMEDIATE`, taking the write lock up front: a deferred transaction that
/// reads first (the FTS triggers on `users` do) and then writes gets
/// SQLITE_BUSY at once when another writer is active, busy timeout or not.
/// `f` must not open transactions of its own.
pub fn write_transaction<T, E, F>(conn: &mut AnyConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    if matches!(conn, AnyConnection::Postgresql(_)) {
        return conn.transaction(f);
    }
    conn.batch_execute("BEGIN IMMEDIATE")?;
    let mut guard = RollbackOnDrop { conn, armed: true };
    let result = f(&mut *guard.conn);
    guard.armed = false;
    let conn = &mut *guard.conn;
    match result {
        Ok(value) => {
            if let Err(e) = conn.batch_execute("COMMIT") {
                let _ = conn.batch_execute("ROLLBACK");
                return Err(e.into());
            }
            Ok(value)
        }
        Err(e) => {
            conn.batch_execute("ROLLBACK")?;
            Err(e)
        }
    }
}

/// Rolls back if `f` panics, so the pooled connection is not left inside a
/// transaction.
struct RollbackOnDrop<'a> {
    conn: &'a mut AnyConnection,
    armed: bool,
}

impl Drop for RollbackOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.conn.batch_execute("ROLLBACK");
        }
    }
}
