//! Where log lines go: stdout, in batches.
//!
//! Every request logs a line. Writing each line to stdout from the request's
//! thread costs a system call per request; handing each line to a logging
//! thread through a channel costs a wake-up and a context switch per request
//! — either way a large share of `status`'s work. Here a line is appended to a shared buffer under a mutex — no system
//! call, nobody woken — and a flusher thread writes whatever has gathered
//! every few milliseconds in one write. It is woken early only when the
//! buffer grows large, and a logger waits only when stdout cannot keep up
//! (nothing is dropped). [`Flush`], dropped when `main` ends, writes the rest.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// A buffer this large wakes the flusher at once.
const WAKE_AT: usize = 256 * 1024;
/// A buffer this large makes loggers wait for the flusher (stdout is slow).
const WAIT_AT: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    buffer: Mutex<Buffer>,
    /// The flusher waits here for a full buffer or closing.
    flush_now: Condvar,
    /// Loggers wait here for the flusher to drain a buffer at `WAIT_AT`.
    drained: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A thread that panicked while holding the lock left the buffer whole
        // (appending and swapping do not panic half way); go on with it.
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `MakeWriter` handed to the tracing subscriber.
#[derive(Clone)]
pub struct BatchedStdout {
    shared: Arc<Shared>,
}

/// Writes what is left and stops the flusher when dropped.
pub struct Flush {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

/// Starts the flusher thread writing to `out`.
pub fn batched<W: Write + Send + 'static>(out: W) -> io::Result<(BatchedStdout, Flush)> {
    let shared = Arc::new(Shared::default());
    let flusher = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("wxauth-log".into())
            .spawn(move || flush_loop(&shared, out))?
    };
    Ok((
        BatchedStdout {
            shared: shared.clone(),
        },
        Flush {
            shared,
            flusher: Some(flusher),
        },
    ))
}

fn flush_loop<W: Write>(shared: &Shared, mut out: W) {
    let mut spare = Vec::new();
    loop {
        let closing = {
            let mut buffer = shared.lock();
            if buffer.bytes.len() < WAKE_AT && !buffer.closing {
                buffer = shared
                    .flush_now
                    .wait_timeout(buffer, FLUSH_EVERY)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            std::mem::swap(&mut buffer.bytes, &mut spare);
            buffer.closing
        };
        shared.drained.notify_all();
        if !spare.is_empty() {
            // Nowhere to report a failing stdout; the lines are lost, the
            // server goes on.
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            spare.clear();
        }
        if closing {
            return;
        }
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.flush_now.notify_one();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }
}

impl<'a> MakeWriter<'a> for BatchedStdout {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            shared: &self.shared,
        }
    }
}

/// One event's writer: the subscriber formats the whole line first and
/// writes it in one call, so lines never interleave.
pub struct Line<'a> {
    shared: &'a Shared,
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut buffer = self.shared.lock();
        while buffer.bytes.len() >= WAIT_AT && !buffer.closing {
            self.shared.flush_now.notify_one();
            buffer = self
                .shared
                .drained
                .wait(buffer)
                .unwrap_or_else(|e| e.into_inner());
        }
        buffer.bytes.extend_from_slice(bytes);
        if buffer.bytes.len() >= WAKE_AT {
            self.shared.flush_now.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    /// A `Write` whose bytes the test can read.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_per_thread() {
        let sink = Sink::default();
        let (writer, flush) = super::batched(sink.clone()).unwrap();
        // Enough bytes to pass WAIT_AT several times over.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        let line = format!("thread {t} line {i} {}\n", "x".repeat(100));
                        writer.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(flush);
        let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let mut next = [0usize; 4];
        let mut lines = 0;
        for line in out.lines() {
            let mut words = line.split(' ');
            assert_eq!(words.next(), Some("thread"));
            let t: usize = words.next().unwrap().parse().unwrap();
            assert_eq!(words.next(), Some("line"));
            let i: usize = words.next().unwrap().parse().unwrap();
            assert_eq!(i, next[t], "thread {t}'s lines in order");
            assert_eq!(words.next().unwrap().len(), 100, "line whole");
            next[t] += 1;
            lines += 1;
        }
        assert_eq!(lines, 80_000);
    }

    #[test]
    fn a_line_is_written_soon_without_more_logging() {
        let sink = Sink::default();
        let (writer, _flush) = super::batched(sink.clone()).unwrap();
        writer.make_writer().write_all(b"alone\n").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while sink.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"alone\n");
    }
}
