//! SQLite's single writer. SQLite lets one connection write at a time; instead
//! of many pooled connections taking turns through the busy handler, one
//! thread owns a connection that does the hot paths' writes (logins, refreshes,
//! logouts, last-seen touches). Whatever is queued when it comes round is
//! committed in one transaction (group commit): the pages that a batch of
//! logins shares — the tail of every index — are written to the WAL once, not
//! once per login.
//!
//! Jobs run one after the other in the transaction, without savepoints: a
//! savepoint per job costs two statements and makes SQLite flush the nickname
//! search index (FTS5) per job instead of per commit. When a job fails or
//! panics, the whole batch is rolled back and run again with a savepoint per
//! job, so that the failing one is undone alone — jobs are therefore `FnMut`,
//! run once or twice, and only the last run's result counts. Callers hear
//! their result only after the COMMIT, so an answered write is a committed
//! one.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use tokio::sync::oneshot;

use super::AnyConnection;
use crate::error::ApiError;

/// Jobs committed together at most; bounds how long one commit holds the lock.
const MAX_BATCH: usize = 256;

/// A queued write: runs (once or twice, see the module comment), then hears
/// how its batch ended.
trait Job: Send {
    /// Runs the write on `conn`; false when it failed.
    fn run(&mut self, conn: &mut AnyConnection) -> bool;
    /// The batch's COMMIT outcome: hands the last run's result to the caller.
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Pending<T, F> {
    f: F,
    result: Option<Result<T, ApiError>>,
    reply: oneshot::Sender<Result<T, ApiError>>,
}

impl<T, F> Job for Pending<T, F>
where
    F: FnMut(&mut AnyConnection) -> Result<T, ApiError> + Send,
    T: Send,
{
    fn run(&mut self, conn: &mut AnyConnection) -> bool {
        let result = (self.f)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let result = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(ApiError::internal("a database write never ran")),
            (Err(e), _) => Err(ApiError::database(format!("commit failed: {e}"))),
        };
        let _ = self.reply.send(result);
    }
}

pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
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
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("wxauth-sqlite-writer".into())
            .spawn(move || {
                schedule_as_batch_work();
                run(&mut conn, queue)
            })
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
    /// `f`'s writes are undone when it returns an error. `f` may run twice
    /// (when another job of its batch fails); only the second run counts.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(Pending {
                f,
                result: None,
                reply,
            }))
            .map_err(|_| ApiError::internal("the database writer has stopped"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("a database write was abandoned"))?
    }
}

/// Puts this thread under Linux's SCHED_BATCH policy (same nice value, the
/// same share of the CPU when busy). A job queued for the writer then no
/// longer preempts the request threads the moment it arrives: under load the
/// writer runs once they have queued several, and commits them together. The
/// pages every login touches (each table's and index's tail) are written
/// once per commit, so bigger batches cost less per login (the benchmark's
/// `authorize`, before and after, is in docs/performance.md).
fn schedule_as_batch_work() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadPriority, ThreadPriorityOsValue, ThreadSchedulePolicy,
        };
        // Nice value 0 (`ThreadPriorityOsValue::default()`), as for any thread.
        if let Err(e) = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Os(ThreadPriorityOsValue::default()),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
        ) {
            tracing::debug!("the database writer keeps the default scheduling: {e:?}");
        }
    }
}

fn run(conn: &mut AnyConnection, queue: mpsc::Receiver<Box<dyn Job>>) {
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

/// Runs `job`: Ok(false) when it failed, Err when it panicked.
fn run_caught(conn: &mut AnyConnection, job: &mut Box<dyn Job>) -> Result<bool, ()> {
    std::panic::catch_unwind(AssertUnwindSafe(|| job.run(conn))).map_err(|_| {
        tracing::error!("a database write panicked");
    })
}

fn commit_batch(conn: &mut AnyConnection, mut batch: Vec<Box<dyn Job>>) {
    if let Err(e) = conn.batch_execute("BEGIN IMMEDIATE") {
        finish_all(batch, Err(e.to_string()));
        return;
    }
    // The usual case: every job succeeds, no savepoints.
    let mut failed = None;
    for (i, job) in batch.iter_mut().enumerate() {
        if run_caught(conn, job) != Ok(true) {
            failed = Some(i);
            break;
        }
    }
    if failed.is_some() {
        // Start over with a savepoint per job; a job that panicked is left
        // out (it would panic again).
        let restart = conn
            .batch_execute("ROLLBACK")
            .and_then(|()| conn.batch_execute("BEGIN IMMEDIATE"));
        if let Err(e) = restart {
            finish_all(batch, Err(e.to_string()));
            return;
        }
        let mut kept = Vec::with_capacity(batch.len());
        for mut job in batch {
            if let Err(e) = conn.batch_execute("SAVEPOINT job") {
                // Dropped unrun: its caller gets an internal error.
                tracing::error!("cannot begin a write's savepoint: {e}");
                continue;
            }
            let outcome = run_caught(conn, &mut job);
            let end = if outcome == Ok(true) {
                "RELEASE job"
            } else {
                "ROLLBACK TO job; RELEASE job"
            };
            if let Err(e) = conn.batch_execute(end) {
                tracing::error!("cannot end a write's savepoint: {e}");
            }
            // A job that panicked is dropped: its caller gets an internal
            // error.
            if outcome.is_ok() {
                kept.push(job);
            }
        }
        batch = kept;
    }
    let outcome = conn.batch_execute("COMMIT").map_err(|e| {
        let _ = conn.batch_execute("ROLLBACK");
        tracing::error!("group commit failed: {e}");
        e.to_string()
    });
    finish_all(batch, outcome);
}

fn finish_all(batch: Vec<Box<dyn Job>>, outcome: Result<(), String>) {
    for job in batch {
        job.finish(outcome.clone());
    }
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_run_again_after_a_failure_keeps_each_write_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite").display().to_string();
        let mut setup = open(&path);
        setup
            .batch_execute("CREATE TABLE t (v INTEGER UNIQUE)")
            .unwrap();
        let writer = std::sync::Arc::new(Writer::start(open(&path), open(&path)).unwrap());
        // Jobs that write then read back what they wrote: a first run rolled
        // back must leave no trace in the second. The duplicate value fails
        // (UNIQUE) after the first of the two has written it.
        // A first job holds the writer until the five are queued behind it,
        // so that they share the next batch.
        let (started, mut busy_started) = tokio::sync::mpsc::unbounded_channel();
        let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
        let busy = {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |_| {
                        let _ = started.send(());
                        let _ = wait_for_go.recv();
                        Ok(0)
                    })
                    .await
            })
        };
        busy_started.recv().await.expect("the holding job ran");
        let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut jobs: Vec<_> = [1, 2, 3, 3, 4]
            .map(|v| {
                let runs = runs.clone();
                Box::pin(writer.write(move |conn| {
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    conn.batch_execute(&format!("INSERT INTO t VALUES ({v})"))?;
                    Ok(v)
                }))
            })
            .into();
        // A write is queued at its first poll, in this order.
        for job in &mut jobs {
            assert!(futures::poll!(job.as_mut()).is_pending());
        }
        go.send(()).unwrap();
        let results = futures::future::join_all(jobs).await;
        busy.await.unwrap().unwrap();
        // Four runs until the duplicate failed, then all five again.
        let runs = runs.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(runs, 9, "one batch, run again once");
        let ok: Vec<i64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        assert_eq!(ok.len(), 4, "all but one of the two 3s: {results:?}");
        assert_eq!(count(&path), 4, "each answered write is there once");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_writer_thread_runs_as_batch_work() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite").display().to_string();
        let writer = Writer::start(open(&path), open(&path)).unwrap();
        // The writer sets its policy before it takes its first job: once one
        // is answered, its policy is set.
        futures::executor::block_on(writer.write(|_| Ok(()))).unwrap();
        let read_policies = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|task| {
                    let task = task.unwrap().path();
                    let name = std::fs::read_to_string(task.join("comm")).ok()?;
                    if name.trim() != "wxauth-sqlite-w" {
                        return None;
                    }
                    // Field 41 of /proc/…/stat is the policy; the name in
                    // parentheses (field 2) has no spaces here.
                    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
                    stat.split_whitespace().nth(40).map(str::to_string)
                })
                .collect()
        };
        // Other tests' writers may be starting: each sets its policy first
        // thing, so wait (guarded against hangs) until they have.
        let guard = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut policies = read_policies();
        while policies.iter().any(|p| p != "3") && std::time::Instant::now() < guard {
            std::thread::sleep(std::time::Duration::from_millis(10));
            policies = read_policies();
        }
        // SCHED_BATCH is 3. (Several writers may run in this test binary.)
        assert!(!policies.is_empty(), "no writer thread found");
        assert!(policies.iter().all(|p| p == "3"), "policies: {policies:?}");
    }
}
