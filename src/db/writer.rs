//! SQLite's single writer. SQLite lets one connection write at a time; instead
//! of many pooled connections taking turns through the busy handler, one
//! thread owns a connection that does the hot paths' writes (logins, refreshes,
//! logouts, last-seen touches). Whatever is queued when it comes round is
//! committed in one transaction (group commit): the pages that a batch of
//! logins shares — the tail of every index — are written to the WAL once, not
//! once per login.
//!
//! Each job runs inside its own savepoint, so a job that fails is rolled back
//! alone; its caller hears the result only after the COMMIT, so an answered
//! write is a committed one.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use tokio::sync::oneshot;

use super::AnyConnection;
use crate::error::ApiError;

/// Jobs committed together at most; bounds how long one commit holds the lock.
const MAX_BATCH: usize = 256;

/// What a job hands back: called with the batch's COMMIT outcome.
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Given the connection, or why there is none this round (BEGIN failed).
type Job = Box<dyn FnOnce(Result<&mut AnyConnection, &str>) -> Finish + Send>;

pub struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Dropped with the writer: tells the checkpointer to stop.
    _checkpoints: mpsc::Sender<()>,
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

impl Writer {
    /// Starts the writer thread on `conn` and a checkpointer on
    /// `checkpoint_conn`; both end when the `Writer` is dropped.
    ///
    /// The checkpointer copies committed WAL frames into the database beside
    /// the writer (a PASSIVE checkpoint waits for nobody). Only the writer can
    /// let the WAL start over, by checkpointing itself after a commit (SQLite's
    /// autocheckpoint, configured on `conn`); by then most frames are copied,
    /// so that pause is short.
    pub fn start(
        mut conn: AnyConnection,
        mut checkpoint_conn: AnyConnection,
    ) -> Result<Writer, String> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("wxauth-sqlite-writer".into())
            .spawn(move || run(&mut conn, queue))
            .map_err(|e| format!("cannot start the database writer: {e}"))?;
        let (checkpoints, stop) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("wxauth-sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY)
                {
                    if let Err(e) = checkpoint_conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")
                    {
                        tracing::warn!("WAL checkpoint failed: {e}");
                    }
                }
            })
            .map_err(|e| format!("cannot start the database checkpointer: {e}"))?;
        Ok(Writer {
            jobs,
            _checkpoints: checkpoints,
        })
    }

    /// Runs `f` in the next group commit and answers once it is committed.
    /// `f`'s writes are undone when it returns an error.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => in_savepoint(conn, f),
                Err(why) => Err(ApiError::internal(format!("cannot begin a write: {why}"))),
            };
            Box::new(move |committed| {
                let _ = tx.send(match committed {
                    Ok(()) => result,
                    Err(e) => Err(ApiError::internal(format!("commit failed: {e}"))),
                });
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| ApiError::internal("the database writer has stopped"))?;
        rx.await
            .map_err(|_| ApiError::internal("a database write was abandoned"))?
    }
}

fn run(conn: &mut AnyConnection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(conn, batch);
    }
}

fn commit_batch(conn: &mut AnyConnection, batch: Vec<Job>) {
    if let Err(e) = conn.batch_execute("BEGIN IMMEDIATE") {
        let why = e.to_string();
        for job in batch {
            job(Err(&why))(Err(why.clone()));
        }
        return;
    }
    let mut finishers = Vec::with_capacity(batch.len());
    for job in batch {
        // A panicking job drops its reply channel (its caller gets an
        // internal error); the others go on.
        if let Ok(finish) = std::panic::catch_unwind(AssertUnwindSafe(|| job(Ok(&mut *conn)))) {
            finishers.push(finish);
        } else {
            tracing::error!("a database write panicked");
            let _ = conn.batch_execute("ROLLBACK TO job; RELEASE job");
        }
    }
    let outcome = conn.batch_execute("COMMIT").map_err(|e| {
        let _ = conn.batch_execute("ROLLBACK");
        tracing::error!("group commit failed: {e}");
        e.to_string()
    });
    for finish in finishers {
        finish(outcome.clone());
    }
}

fn in_savepoint<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    conn.batch_execute("SAVEPOINT job")?;
    let result = f(conn);
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.batch_execute(end)?;
    result
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::Writer;
    use crate::db::{ConnectionManager, DatabaseUrl};
    use crate::error::ApiError;

    fn open(path: &str) -> crate::db::AnyConnection {
        ConnectionManager::new(DatabaseUrl::Sqlite(path.into()))
            .establish()
            .unwrap()
    }

    fn count(path: &str) -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        match open(path) {
            crate::db::AnyConnection::Sqlite(mut c) => {
                diesel::sql_query("SELECT COUNT(*) AS n FROM t")
                    .get_result::<N>(&mut c)
                    .unwrap()
                    .n
            }
            _ => unreachable!(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_or_panicking_job_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite").display().to_string();
        let mut setup = open(&path);
        setup.batch_execute("CREATE TABLE t (v INTEGER)").unwrap();
        let writer = std::sync::Arc::new(Writer::start(open(&path), open(&path)).unwrap());
        // Many jobs at once, so that they share commits; every third fails
        // after writing, one panics.
        let jobs = (0..60).map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |conn| {
                        conn.batch_execute(&format!("INSERT INTO t VALUES ({i})"))?;
                        if i == 7 {
                            panic!("a job that panics");
                        }
                        if i % 3 == 0 {
                            return Err(ApiError::bad_request("refused after writing"));
                        }
                        Ok(i)
                    })
                    .await
            })
        });
        let results = futures::future::join_all(jobs).await;
        let ok = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
        assert_eq!(ok, 60 - 20 - 1);
        assert_eq!(
            count(&path),
            ok as i64,
            "exactly the answered writes are there"
        );
        assert!(matches!(results[7], Ok(Err(ApiError::Internal(_)))));
        // The writer goes on after all that.
        assert_eq!(writer.write(|_| Ok(1)).await.unwrap(), 1);
    }
}
