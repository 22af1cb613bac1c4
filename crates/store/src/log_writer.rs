//! Off-the-hot-path request logging: a bounded queue and a background task
//! that writes rows in batches.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{LogRow, Store};

#[derive(Debug, Clone)]
pub struct LogWriterConfig {
    /// Rows the queue holds before `log` starts dropping.
    pub capacity: usize,
    /// A batch is written when it reaches this many rows …
    pub batch_size: usize,
    /// … or when this long has passed since its first row.
    pub flush_interval: Duration,
    /// Attempts per batch before its rows are counted as failed.
    pub max_attempts: u32,
}

impl Default for LogWriterConfig {
    fn default() -> Self {
        Self {
            capacity: 65_536,
            batch_size: 256,
            flush_interval: Duration::from_millis(50),
            max_attempts: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogWriterStats {
    /// Rows committed to the store.
    pub written: u64,
    /// Rows refused because the queue was full or the writer shut down.
    pub dropped: u64,
    /// Rows lost because the store kept failing.
    pub failed: u64,
    /// Batches written.
    pub batches: u64,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    batches: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> LogWriterStats {
        LogWriterStats {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
struct Inner {
    counters: Arc<Counters>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Cheap to clone; every clone feeds the same queue.
#[derive(Debug, Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<LogRow>,
    inner: Arc<Inner>,
}

impl LogWriter {
    /// Starts the background task on the current tokio runtime.
    pub fn spawn(store: Arc<dyn Store>, config: LogWriterConfig) -> Self {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run(store, rx, shutdown_rx, config, counters.clone()));
        Self {
            tx,
            inner: Arc::new(Inner {
                counters,
                shutdown,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// Queues a row without waiting. Returns false (and counts a drop) when
    /// the queue is full or the writer has shut down: the request path must
    /// never block on logging.
    pub fn log(&self, row: LogRow) -> bool {
        match self.tx.try_send(row) {
            Ok(()) => true,
            Err(_) => {
                self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues a row, waiting for room (for callers off the hot path).
    /// Returns false when the writer has shut down.
    pub async fn log_wait(&self, row: LogRow) -> bool {
        if self.tx.send(row).await.is_ok() {
            true
        } else {
            self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    pub fn stats(&self) -> LogWriterStats {
        self.inner.counters.snapshot()
    }

    /// Rows waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Stops accepting rows, writes everything already queued, and waits for
    /// the background task. Safe to call more than once.
    pub async fn shutdown(&self) -> LogWriterStats {
        self.inner.shutdown.send_replace(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "log writer task failed");
            }
        }
        self.stats()
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<LogRow>,
    mut shutdown: watch::Receiver<bool>,
    config: LogWriterConfig,
    counters: Arc<Counters>,
) {
    let batch_size = config.batch_size.max(1);
    let mut buf: Vec<LogRow> = Vec::with_capacity(batch_size);
    'main: loop {
        // Wait for the first row of a batch.
        tokio::select! {
            n = rx.recv_many(&mut buf, batch_size) => {
                if n == 0 {
                    break 'main; // every sender dropped
                }
            }
            _ = shutdown.wait_for(|stop| *stop) => break 'main,
        }
        // Fill the batch until it is full or the interval has passed.
        let deadline = Instant::now() + config.flush_interval;
        let mut stopping = false;
        while buf.len() < batch_size {
            let room = batch_size - buf.len();
            tokio::select! {
                n = rx.recv_many(&mut buf, room) => {
                    if n == 0 {
                        stopping = true;
                        break;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => break,
                _ = shutdown.wait_for(|stop| *stop) => {
                    stopping = true;
                    break;
                }
            }
        }
        flush(&*store, &mut buf, &config, &counters).await;
        if stopping {
            break;
        }
    }
    // Refuse new rows, then write every row that made it into the queue.
    rx.close();
    while let Some(row) = rx.recv().await {
        buf.push(row);
        if buf.len() >= batch_size {
            flush(&*store, &mut buf, &config, &counters).await;
        }
    }
    flush(&*store, &mut buf, &config, &counters).await;
}

async fn flush(
    store: &dyn Store,
    buf: &mut Vec<LogRow>,
    config: &LogWriterConfig,
    counters: &Counters,
) {
    if buf.is_empty() {
        return;
    }
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=config.max_attempts.max(1) {
        match store.insert_logs(buf).await {
            Ok(()) => {
                counters
                    .written
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                buf.clear();
                return;
            }
            Err(e) if attempt < config.max_attempts => {
                tracing::warn!(error = %e, attempt, rows = buf.len(), "request log write failed, retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(e) => {
                tracing::error!(error = %e, rows = buf.len(), "request log rows lost after retries");
            }
        }
    }
    counters
        .failed
        .fetch_add(buf.len() as u64, Ordering::Relaxed);
    buf.clear();
}
