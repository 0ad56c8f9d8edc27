//! The database: one connection type for SQLite and PostgreSQL picked from the
//! URL, an r2d2 pool, SQLite pragmas, and the embedded migrations per backend.
//!
//! Diesel is synchronous. Three ways in, by what the work is:
//! - [`Db::read`]: a point read on the hot path. On SQLite it runs right on the
//!   calling task with a connection of its own (microseconds: cheaper than a
//!   hop to the blocking pool); on PostgreSQL, which answers over the network,
//!   it goes to the blocking pool. The hottest read of all, the session behind
//!   a token ([`Db::live_session`]), is asynchronous on PostgreSQL
//!   (diesel-async): no thread hop, and concurrent checks share one query
//!   (`pg_session_checks`); on SQLite it is an inline read of its own
//!   (`live_session`).
//! - [`Db::write`]: a flow's transaction. On SQLite it goes to the one writer
//!   thread, which commits whatever is queued together ([`writer`]); on
//!   PostgreSQL it is a pooled transaction.
//! - [`Db::run`]: anything else (console pages, purges) on the blocking pool.

pub mod admin_sessions;
pub mod admins;
pub mod api_keys;
pub mod apps;
pub mod audit;
pub mod first_login;
pub mod instances;
pub mod live_session;
pub mod login_codes;
pub mod nickname_index;
pub mod pg_session_checks;
pub mod rate_limits;
pub mod refresh_rotation;
pub mod schema;
pub mod sessions;
pub mod stats;
pub mod users;
pub mod webhook_outbox;
pub mod wechat_access_tokens;
pub mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::ApiError;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// `INSERT … ON CONFLICT [(target)] DO NOTHING`, which MultiConnection cannot
/// build: spelled once per backend here. Yields the number of rows inserted.
macro_rules! insert_or_ignore {
    ($conn:expr, $table:expr, $values:expr) => {
        match $conn {
            $crate::db::AnyConnection::Sqlite(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict_do_nothing()
                .execute(c),
            $crate::db::AnyConnection::Postgresql(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict_do_nothing()
                .execute(c),
        }
    };
    ($conn:expr, $table:expr, $values:expr, $target:expr) => {
        match $conn {
            $crate::db::AnyConnection::Sqlite(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict($target)
                .do_nothing()
                .execute(c),
            $crate::db::AnyConnection::Postgresql(c) => diesel::insert_into($table)
                .values($values)
                .on_conflict($target)
                .do_nothing()
                .execute(c),
        }
    };
}
pub(crate) use insert_or_ignore;

/// Runs `$body` with `$c` bound to the backend's own connection, where each
/// backend's prepared-statement cache keeps the hot paths' queries compiled.
///
/// A note for every query here: unique lookups use `get_result`, not
/// `first`. `first` adds `LIMIT ?` with a bound 1, and SQLite (built with
/// STAT4) re-prepares a statement whenever a bound value could change its
/// plan — a LIMIT parameter does — so a cached statement was parsed again on
/// every call: 21% of the `status` path's time.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::AnyConnection::Sqlite($c) => $body,
            $crate::db::AnyConnection::Postgresql($c) => $body,
        }
    };
}
pub(crate) use on_backend;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which backend a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    /// A file path, `sqlite://relative/path`, `sqlite:///absolute/path`, or
    /// `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("database_url is empty".into());
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("database_url `sqlite://` names no file".into());
            }
            return Ok(DatabaseUrl::Sqlite(path.to_string()));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(format!(
                "database_url scheme `{scheme}` is not supported: use a file path, sqlite://… or postgres://…"
            ));
        }
        Ok(DatabaseUrl::Sqlite(url.to_string()))
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(_))
    }
}

/// Opens connections of the backend the URL names; SQLite ones get their pragmas.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    /// A query failed for want of a connection (PostgreSQL went away): until
    /// a connection answers again, each one coming back to the pool is
    /// checked and dropped if dead. Diesel's synchronous PostgreSQL
    /// connection cannot tell that its socket closed, and a check on every
    /// checkout would cost a round trip per request.
    suspect: Arc<AtomicBool>,
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

/// Applies the pending migrations of the connection's backend.
pub fn run_migrations(conn: &mut AnyConnection) -> Result<(), String> {
    let result = match conn {
        AnyConnection::Postgresql(c) => {
            // Instances started together on a fresh database would each
            // apply the migrations and all but one fail: one at a time, the
            // others then find nothing pending.
            c.batch_execute("SELECT pg_advisory_lock(7734823001)")
                .map_err(|e| format!("cannot lock the migrations: {e}"))?;
            let applied = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            let _ = c.batch_execute("SELECT pg_advisory_unlock(7734823001)");
            applied
        }
        AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| format!("migrations failed: {e}"))
}

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

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

/// The database, shared as Rocket state.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// The pool manager's flag: connections may be dead.
    suspect: Arc<AtomicBool>,
    /// One permit per pooled connection: work queues here, not as a blocking
    /// thread waiting for a connection (each such thread keeps a stack and an
    /// allocator heap; a burst of PostgreSQL refreshes made 64 of them and
    /// doubled the resident size).
    blocking: Arc<tokio::sync::Semaphore>,
    sqlite: Option<Arc<SqliteSide>>,
    /// PostgreSQL's asynchronous connections, for the token check.
    pg_async: Option<AsyncPgPool>,
    /// PostgreSQL's token checks, batched on those connections.
    pg_checks: Option<Arc<pg_session_checks::PgSessionChecks>>,
    /// Where the flows' events go: outbox rows written in their transactions.
    webhooks: crate::webhooks::Webhooks,
}

type AsyncPgPool = diesel_async::pooled_connection::deadpool::Pool<diesel_async::AsyncPgConnection>;

/// How long the token check waits for PostgreSQL before answering 503.
const ASYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// One of PostgreSQL's asynchronous connections; 503 when none can be had.
async fn async_conn(
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
async fn within_timeout<T>(
    work: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout(ASYNC_TIMEOUT, work)
        .await
        .map_err(|_| ApiError::Unavailable("the database did not answer in time".into()))?
}

/// What SQLite has besides the pool: connections for inline point reads, and
/// the single writer.
struct SqliteSide {
    manager: ConnectionManager,
    readers: Mutex<Vec<AnyConnection>>,
    lookups: live_session::SqliteLookups,
    writer: writer::Writer,
}

impl Db {
    pub fn connect(url: &str, pool_size: u32) -> Result<Self, String> {
        let url = DatabaseUrl::parse(url)?;
        let sqlite_path = match &url {
            DatabaseUrl::Sqlite(path) => Some(path.clone()),
            DatabaseUrl::Postgres(_) => None,
        };
        let manager = ConnectionManager::new(url);
        let suspect = manager.suspect.clone();
        // Open and migrate with one connection first, so a bad URL or a failed
        // migration is one clear error instead of a pool time-out.
        let mut first = manager
            .establish()
            .map_err(|e| format!("cannot open the database: {e}"))?;
        run_migrations(&mut first)?;
        let pg_async = match &manager.url {
            DatabaseUrl::Postgres(url) => {
                use diesel_async::pooled_connection::{
                    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
                };
                let mut config = ManagerConfig::default();
                // No test query per checkout: a broken connection fails its
                // query and is dropped.
                config.recycling_method = RecyclingMethod::Fast;
                let manager = AsyncDieselConnectionManager::new_with_config(url.clone(), config);
                let pool = AsyncPgPool::builder(manager)
                    .max_size(pool_size as usize)
                    .build()
                    .map_err(|e| format!("cannot open the database: {e}"))?;
                Some(pool)
            }
            DatabaseUrl::Sqlite(_) => None,
        };
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(pool_size.min(2)))
            .connection_timeout(Duration::from_secs(10))
            // A `SELECT 1` on every checkout costs a statement parse per
            // request; a broken connection fails its query and is replaced.
            .test_on_check_out(false)
            .build(manager.clone())
            .map_err(|e| format!("cannot open the database: {e}"))?;
        let sqlite = if let Some(path) = &sqlite_path {
            // The migrating connection becomes the writer. Statement journals
            // (a statement's undo pages; and a job's savepoint when a batch is
            // run again) stay in memory, not a temp file written per page. The WAL
            // may reach 32 MB (not SQLite's 4 MB) before the writer restarts
            // it; the checkpointer copies frames back meanwhile (see `writer`).
            first
                .batch_execute(
                    "PRAGMA cache_size = -8192;
                     PRAGMA temp_store = MEMORY;
                     PRAGMA wal_autocheckpoint = 8000;",
                )
                .map_err(|e| format!("cannot open the database: {e}"))?;
            let checkpoints = manager
                .establish()
                .map_err(|e| format!("cannot open the database: {e}"))?;
            Some(Arc::new(SqliteSide {
                lookups: live_session::SqliteLookups::new(path),
                manager,
                readers: Mutex::new(Vec::new()),
                writer: writer::Writer::start(first, checkpoints)?,
            }))
        } else {
            None
        };
        Ok(Db {
            suspect,
            pool,
            blocking: Arc::new(tokio::sync::Semaphore::new(pool_size as usize)),
            sqlite,
            pg_checks: pg_async
                .clone()
                .map(pg_session_checks::PgSessionChecks::new),
            pg_async,
            webhooks: crate::webhooks::Webhooks::default(),
        })
    }

    /// This database with the configured webhook endpoints (set once, when
    /// the server is built, before the handle is shared).
    pub fn with_webhooks(mut self, webhooks: crate::webhooks::Webhooks) -> Self {
        self.webhooks = webhooks;
        self
    }

    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.webhooks
    }

    /// The session `id` as the token check needs it, with its user's ban
    /// time: the read of every authenticated request.
    pub async fn live_session(
        &self,
        id: &str,
    ) -> Result<Option<(live_session::LiveSession, Option<i64>)>, ApiError> {
        if let Some(side) = &self.sqlite {
            return side.lookups.find(id);
        }
        match &self.pg_checks {
            Some(checks) => checks.find(id).await,
            None => Err(ApiError::internal("no database for the session check")),
        }
    }

    /// PostgreSQL's asynchronous connection for `work`, within the timeout
    /// that answers 503; None on SQLite.
    pub async fn on_pg<T>(
        &self,
        work: impl for<'c> FnOnce(
            &'c mut diesel_async::AsyncPgConnection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = diesel::QueryResult<T>> + Send + 'c>,
        >,
    ) -> Option<Result<T, ApiError>> {
        let pool = self.pg_async.as_ref()?;
        Some(
            within_timeout(async {
                let mut conn = async_conn(pool).await?;
                Ok(work(&mut conn).await?)
            })
            .await,
        )
    }

    /// PostgreSQL only: a new user's whole first login in one statement (see
    /// `first_login`). Ok(None) when (appid, openid) already has a user —
    /// nothing was written — and always on SQLite.
    pub async fn first_login(
        &self,
        login: &first_login::FirstLogin<'_>,
    ) -> Result<Option<i64>, ApiError> {
        let Some(pool) = &self.pg_async else {
            return Ok(None);
        };
        within_timeout(async {
            let mut conn = async_conn(pool).await?;
            Ok(first_login::insert(&mut conn, login).await?)
        })
        .await
    }

    /// PostgreSQL only: a refresh token's rotation in one statement (see
    /// `refresh_rotation`). Ok(None) when it did not apply — nothing was
    /// written — and always on SQLite.
    pub async fn quick_rotation(
        &self,
        rotation: &refresh_rotation::QuickRotation<'_>,
    ) -> Result<Option<(i64, String)>, ApiError> {
        let Some(pool) = &self.pg_async else {
            return Ok(None);
        };
        within_timeout(async {
            let mut conn = async_conn(pool).await?;
            Ok(refresh_rotation::rotate(&mut conn, rotation).await?)
        })
        .await
    }

    pub fn is_sqlite(&self) -> bool {
        self.sqlite.is_some()
    }

    /// (pool, state, connections) for the metrics: the blocking pool's
    /// connections in use and idle, and PostgreSQL's asynchronous ones.
    pub fn pool_state(&self) -> Vec<(&'static str, &'static str, u32)> {
        let state = self.pool.state();
        let mut out = vec![
            (
                "blocking",
                "in_use",
                state.connections - state.idle_connections,
            ),
            ("blocking", "idle", state.idle_connections),
        ];
        if let Some(pool) = &self.pg_async {
            let status = pool.status();
            let idle = status.available as u32;
            out.push(("async", "in_use", (status.size as u32).saturating_sub(idle)));
            out.push(("async", "idle", idle));
        }
        out
    }

    pub fn get(&self) -> Result<PooledConn, ApiError> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let suspect = self.suspect.clone();
        let permit = self
            .blocking
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("the database pool is closed"))?;
        let outcome = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            let result = f(&mut conn);
            // Failed for want of the database: the pool checks its
            // connections as they come back (see `ConnectionManager`).
            if matches!(result, Err(ApiError::Unavailable(_))) {
                suspect.store(true, Ordering::Relaxed);
            }
            result
        })
        .await;
        // Released once the thread is done, so that the next job finds it idle
        // rather than starting another.
        drop(permit);
        outcome.map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
    }

    /// A short read (one indexed lookup): inline on SQLite, on the blocking
    /// pool for PostgreSQL. Nothing slow belongs here: on SQLite it holds the
    /// calling worker thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let Some(side) = &self.sqlite else {
            return self.run(f).await;
        };
        let taken = side.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match taken {
            Some(conn) => conn,
            None => side.manager.establish().map_err(|e| {
                ApiError::Unavailable(format!("cannot open a database connection: {e}"))
            })?,
        };
        let result = f(&mut conn);
        side.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        result
    }

    /// A flow's writes, all or nothing, answered once committed. On SQLite,
    /// `f` runs on the writer thread in the next group commit and must not
    /// begin transactions of its own (savepoints are fine); it may run twice
    /// there, the first run rolled back (see `writer`).
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        match &self.sqlite {
            Some(side) => side.writer.write(f).await,
            None => self.run(move |conn| conn.transaction(f)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;

    #[test]
    fn backend_is_picked_from_the_url() {
        assert_eq!(
            DatabaseUrl::parse("wxauth.sqlite"),
            Ok(DatabaseUrl::Sqlite("wxauth.sqlite".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db"),
            Ok(DatabaseUrl::Sqlite("data/x.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/x.db"),
            Ok(DatabaseUrl::Sqlite("/var/lib/x.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://u@h/db").is_err());
        assert!(DatabaseUrl::parse("").is_err());
    }
}
