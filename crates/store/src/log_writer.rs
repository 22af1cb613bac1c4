//! Group commit off the hot path: a bounded queue of request-log rows (each with the request's
//! debit, if it was paid from credits) and a background task that writes them in batches, one
//! transaction per batch, so a request's charge and its log row commit together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::logs::Batch;
use crate::{BatchOutcome, Debit, LogRow, Store, StoreError};

/// The default [`LogWriterConfig::max_batch_size`].
pub(crate) const DEFAULT_MAX_BATCH_SIZE: usize = 4096;

#[derive(Debug, Clone)]
pub struct LogWriterConfig {
    /// Entries the queue holds; beyond it `submit` waits and `log` drops.
    pub capacity: usize,
    /// A batch is written when it reaches this many rows …
    pub batch_size: usize,
    /// … but a backlog (rows that queued while the last batch was written) is taken whole, up
    /// to this many rows: under load a batch's round trips to the database, not its rows, are
    /// what limits the writer, so batches must grow for it to keep up.
    pub max_batch_size: usize,
    /// … or when this long has passed since its first row.
    pub flush_interval: Duration,
    /// Attempts of one batch before it is split to find a row the database refuses.
    pub max_attempts: u32,
}

impl Default for LogWriterConfig {
    fn default() -> Self {
        Self {
            capacity: 65_536,
            batch_size: 256,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            flush_interval: Duration::from_millis(50),
            max_attempts: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogWriterStats {
    /// Rows committed to the store.
    pub written: u64,
    /// Rows refused because the queue was full (`log` only) or the writer had shut down.
    pub dropped: u64,
    /// Rows the database refused on their own (after the batch was split down to them).
    pub failed: u64,
    /// Batches written.
    pub batches: u64,
    /// Debits whose lease was gone: logged, not charged.
    pub uncharged: u64,
}

/// Told what each batch did, after its transaction (the credit accounts and the journal).
pub trait CommitListener: Send + Sync + 'static {
    /// The batch committed: its row ids, its debits and what became of them.
    fn committed(&self, ids: &[Uuid], debits: &[Debit], outcome: &BatchOutcome);
    /// These entries could not be written (refused by the database on their own).
    fn failed(&self, ids: &[Uuid], debits: &[Debit]);
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    batches: AtomicU64,
    uncharged: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> LogWriterStats {
        LogWriterStats {
            written: self.written.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            uncharged: self.uncharged.load(Ordering::Relaxed),
        }
    }
}

struct Entry {
    row: LogRow,
    debit: Option<Debit>,
}

struct Inner {
    counters: Arc<Counters>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Cheap to clone; every clone feeds the same queue.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::Sender<Entry>,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("queued", &self.queued())
            .finish()
    }
}

impl LogWriter {
    /// Starts the background task on the current tokio runtime.
    pub fn spawn(
        store: Arc<dyn Store>,
        config: LogWriterConfig,
        listener: Option<Arc<dyn CommitListener>>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            store,
            config,
            counters: counters.clone(),
            listener,
        };
        let task = tokio::spawn(writer.run(rx, shutdown_rx));
        Self {
            tx,
            inner: Arc::new(Inner {
                counters,
                shutdown,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// Queues a row without waiting. Returns false (and counts a drop) when the queue is full
    /// or the writer has shut down. For rows that carry no charge and whose caller cannot wait.
    pub fn log(&self, row: LogRow) -> bool {
        match self.tx.try_send(Entry { row, debit: None }) {
            Ok(()) => true,
            Err(_) => {
                self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues a row and its debit, waiting for room: nothing is dropped while the writer runs.
    /// Returns false only when the writer has shut down.
    pub async fn submit(&self, row: LogRow, debit: Option<Debit>) -> bool {
        if self.tx.send(Entry { row, debit }).await.is_ok() {
            true
        } else {
            self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    pub fn stats(&self) -> LogWriterStats {
        self.inner.counters.snapshot()
    }

    /// Entries waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Stops accepting entries, writes everything already queued, and waits for the background
    /// task. Safe to call more than once.
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

struct Writer {
    store: Arc<dyn Store>,
    config: LogWriterConfig,
    counters: Arc<Counters>,
    listener: Option<Arc<dyn CommitListener>>,
}

/// Failures that say nothing about the rows (the database is away or busy): retried without
/// end, because giving up would lose rows and charges. Anything else may be a row the
/// database refuses, found by splitting the batch.
fn is_transient(e: &StoreError) -> bool {
    match e {
        StoreError::Db(db) => {
            matches!(
                db,
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
                    | sqlx::Error::Protocol(_)
            ) || db
                .as_database_error()
                .is_some_and(|d| d.message().contains("locked") || d.message().contains("busy"))
        }
        StoreError::Task(_) => true,
        _ => false,
    }
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Entry>, mut shutdown: watch::Receiver<bool>) {
        let batch_size = self.config.batch_size.max(1);
        let max_batch = self.config.max_batch_size.max(batch_size);
        let mut buf: Vec<Entry> = Vec::with_capacity(batch_size);
        'main: loop {
            tokio::select! {
                n = rx.recv_many(&mut buf, max_batch) => {
                    if n == 0 {
                        break 'main; // every sender dropped
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => break 'main,
            }
            // Fill the batch until it is full or the interval has passed.
            let deadline = Instant::now() + self.config.flush_interval;
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
            self.flush(std::mem::take(&mut buf), &shutdown).await;
            if stopping {
                break;
            }
        }
        // Refuse new entries, then write every entry that made it into the queue.
        rx.close();
        while rx.recv_many(&mut buf, max_batch).await > 0 {
            self.flush(std::mem::take(&mut buf), &shutdown).await;
        }
    }

    async fn flush(&self, entries: Vec<Entry>, shutdown: &watch::Receiver<bool>) {
        if entries.is_empty() {
            return;
        }
        let mut batch = Batch::default();
        for e in entries {
            batch.rows.push(e.row);
            batch.debits.extend(e.debit);
        }
        let mut pending = vec![Arc::new(batch)];
        while let Some(batch) = pending.pop() {
            let ids = || batch.rows.iter().map(|r| r.id).collect::<Vec<Uuid>>();
            match self.commit(&batch, shutdown).await {
                Ok(outcome) => {
                    self.counters
                        .written
                        .fetch_add(batch.rows.len() as u64, Ordering::Relaxed);
                    self.counters.batches.fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .uncharged
                        .fetch_add(outcome.uncharged.len() as u64, Ordering::Relaxed);
                    if let Some(l) = &self.listener {
                        l.committed(&ids(), &batch.debits, &outcome);
                    }
                }
                Err(e) if batch.rows.len() > 1 => {
                    tracing::warn!(error = %e, rows = batch.rows.len(), "request log batch refused; splitting it");
                    let (a, b) = split(&batch);
                    pending.push(b);
                    pending.push(a);
                }
                Err(e) => {
                    tracing::error!(error = %e, request_id = %batch.rows[0].id, "request log row refused by the database; lost");
                    self.counters
                        .failed
                        .fetch_add(batch.rows.len() as u64, Ordering::Relaxed);
                    if let Some(l) = &self.listener {
                        l.failed(&ids(), &batch.debits);
                    }
                }
            }
        }
    }

    /// Commits one batch: transient failures are retried until they pass (or, once shutting
    /// down, a bounded number of times); other failures `max_attempts` times.
    async fn commit(
        &self,
        batch: &Arc<Batch>,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<BatchOutcome, StoreError> {
        let mut delay = Duration::from_millis(20);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.store.commit_batch(batch.clone()).await {
                Ok(outcome) => return Ok(outcome),
                Err(e) => {
                    let transient = is_transient(&e);
                    let stopping = *shutdown.borrow();
                    let give_up = if transient && !stopping {
                        false
                    } else {
                        attempt >= self.config.max_attempts.max(1) * if transient { 10 } else { 1 }
                    };
                    if give_up {
                        return Err(e);
                    }
                    if attempt == 1 || attempt.is_multiple_of(20) {
                        tracing::warn!(error = %e, attempt, rows = batch.rows.len(), "request log write failed, retrying");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// Halves of a batch, each with the debits of its own rows.
fn split(batch: &Batch) -> (Arc<Batch>, Arc<Batch>) {
    let mid = batch.rows.len() / 2;
    let half = |range: std::ops::Range<usize>| {
        let rows = batch.rows[range].to_vec();
        let mine: std::collections::HashSet<Uuid> = rows.iter().map(|r| r.id).collect();
        let debits = batch
            .debits
            .iter()
            .filter(|d| mine.contains(&d.request_id))
            .cloned()
            .collect();
        Arc::new(Batch { rows, debits })
    };
    (half(0..mid), half(mid..batch.rows.len()))
}
