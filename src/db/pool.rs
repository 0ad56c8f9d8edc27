//! Connections: the one connection type for both backends, the manager that
//! opens them (SQLite's pragmas), the blocking pool, and PostgreSQL's
//! asynchronous pool with the timeout that answers 503.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};

use super::DatabaseUrl;
use crate::error::ApiError;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Opens connections of the backend the URL names; SQLite ones get their pragmas.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    pub(super) url: DatabaseUrl,
    /// A query failed for want of a connection (PostgreSQL went away): until
    /// a connection answers again, each one coming back to the pool is
    /// checked and dropped if dead. Diesel's synchronous PostgreSQL
    /// connection cannot tell that its socket closed, and a check on every
    /// checkout would cost a round trip per request.
    pub(super) suspect: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Connection(#[from] diesel::ConnectionError),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        ConnectionManager {
            url,
            suspect: Arc::default(),
        }
    }

    pub fn establish(&self) -> Result<AnyConnection, ConnectError> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                Ok(AnyConnection::Postgresql(PgConnection::establish(url)?))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path)?;
                // WAL lets readers run beside the writer; NORMAL sync in WAL mode
                // still loses nothing when the process is killed (only on power
                // loss); the busy timeout makes concurrent writers wait their turn.
                // The busy timeout comes first: switching to WAL needs a lock
                // that another connection (one closing, say) may hold a moment.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;",
                )?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<AnyConnection, ConnectError> {
        self.establish()
    }

    // Only used if checkout tests are turned on; they are not (see `Db::connect`).
    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), ConnectError> {
        conn.batch_execute("SELECT 1").map_err(Into::into)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        if !self.suspect.load(Ordering::Relaxed) || matches!(conn, AnyConnection::Sqlite(_)) {
            return false;
        }
        match conn.batch_execute("SELECT 1") {
            Ok(()) => {
                self.suspect.store(false, Ordering::Relaxed);
                false
            }
            Err(_) => true,
        }
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

pub(super) type AsyncPgPool =
    diesel_async::pooled_connection::deadpool::Pool<diesel_async::AsyncPgConnection>;

/// How long the token check waits for PostgreSQL before answering 503.
const ASYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// One of PostgreSQL's asynchronous connections; 503 when none can be had.
pub(super) async fn async_conn(
    pool: &AsyncPgPool,
) -> Result<
    diesel_async::pooled_connection::deadpool::Object<diesel_async::AsyncPgConnection>,
    ApiError,
> {
    pool.get()
        .await
        .map_err(|e| ApiError::Unavailable(format!("cannot get a database connection: {e}")))
}

/// `work` on the asynchronous pool, answered with 503 when PostgreSQL takes
/// longer than [`ASYNC_TIMEOUT`] (no request hangs on a database that went away).
pub(super) async fn within_timeout<T>(
    work: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout(ASYNC_TIMEOUT, work)
        .await
        .map_err(|_| ApiError::Unavailable("the database did not answer in time".into()))?
}
