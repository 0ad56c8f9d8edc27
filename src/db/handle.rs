//! The database handle and its ways in. Diesel is synchronous; pick by what
//! the work is:
//! - [`Db::read`]: a point read on the hot path. On SQLite it runs right on the
//!   calling task with a connection of its own (microseconds: cheaper than a
//!   hop to the blocking pool); on PostgreSQL, which answers over the network,
//!   it goes to the blocking pool.
//! - [`Db::live_session`]: the hottest read of all, the session behind a
//!   token. Asynchronous on PostgreSQL (diesel-async): no thread hop, and
//!   concurrent checks share one query (`live_session::pg_batch`); on SQLite an
//!   inline read of its own (`live_session`).
//! - [`Db::write`]: a flow's transaction. On SQLite it goes to the one writer
//!   thread, which commits whatever is queued together ([`super::writer`]); on
//!   PostgreSQL it is a pooled transaction.
//! - [`Db::run`]: anything else (console pages, purges, work that opens its
//!   own transaction with [`super::write_transaction`]) on the blocking pool.
//! - [`Db::on_pg`], [`Db::first_login`], [`Db::quick_rotation`]: PostgreSQL's
//!   asynchronous connections, for work that is one statement there; None (or
//!   Ok(None)) on SQLite, where the caller takes one of the ways above.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::Connection;

use super::pool::{async_conn, within_timeout, AsyncPgPool};
use super::{
    first_login, live_session, refresh_rotation, run_migrations, writer, AnyConnection,
    ConnectionManager, DatabaseUrl, Pool, PooledConn,
};
use crate::error::ApiError;

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
    pg_checks: Option<Arc<live_session::pg_batch::PgSessionChecks>>,
    /// Where the flows' events go: outbox rows written in their transactions.
    webhooks: crate::webhooks::Webhooks,
}

/// What SQLite has besides the pool: connections for inline point reads, and
/// the single writer.
struct SqliteSide {
    manager: ConnectionManager,
    readers: Mutex<Vec<AnyConnection>>,
    lookups: live_session::sqlite::SqliteLookups,
    writer: writer::Writer,
}

impl Db {
    /// Opens and migrates the database the URL names, with `pool_size`
    /// connections per pool.
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
                lookups: live_session::sqlite::SqliteLookups::new(path),
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
                .map(live_session::pg_batch::PgSessionChecks::new),
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
    pub async fn live_session(&self, id: &str) -> Result<live_session::Found, ApiError> {
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

    /// A pooled connection on the calling thread: for code already off the
    /// async runtime (the CLI, start-up); async code uses the ways above.
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
