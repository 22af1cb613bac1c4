//! The in-flight journal: a trace, on local disk, of every request that reached an upstream
//! call, so that a killed instance's requests are not lost without a word.
//!
//! Before each upstream call the request path appends one line (`A {json}`: request, org,
//! key, model, endpoint, billing, hold); when the request's log row has been committed, the
//! log writer appends `E <id>` for it. Appends are one `write` each to a file opened with
//! `O_APPEND` — a few microseconds, no fsync: the page cache survives a killed process (not a
//! power cut). The live instance holds an exclusive lock on its `<instance>.lock` file; at
//! start, an instance that can take another instance's lock knows that one is dead, turns its
//! unfinished requests into `interrupted` log rows and returns its credit leases at once.
//! The file is rewritten with only the open requests when it passes [`ROTATE_BYTES`].

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use switchyard_store::{BillingMode, KeyId, LogRow, OrgId};
use time::OffsetDateTime;
use uuid::Uuid;

/// A journal file is compacted past this size.
const ROTATE_BYTES: u64 = 8 * 1024 * 1024;

/// What the journal records of a request before an upstream attempt: enough for its log row.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AttemptRecord {
    pub id: Uuid,
    pub org: OrgId,
    pub key: Option<KeyId>,
    pub model: String,
    pub stream: bool,
    /// Microseconds since the epoch.
    pub created_us: i64,
    pub user_id: Option<String>,
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
    pub endpoint: String,
    pub provider: String,
    pub billing: BillingMode,
    pub hold_nanos: i64,
    pub attempt: usize,
}

impl AttemptRecord {
    /// The log row of a request its instance did not live to finish.
    pub fn interrupted_row(&self) -> LogRow {
        LogRow {
            id: self.id,
            org_id: self.org,
            key_id: self.key,
            model: self.model.clone(),
            endpoint: Some(self.endpoint.clone()),
            provider: Some(self.provider.clone()),
            billing: Some(self.billing),
            // No status reached the log: the instance died first.
            status: 0,
            error_type: Some("interrupted".into()),
            attempts: serde_json::json!([{
                "provider": self.provider,
                "endpoint": self.endpoint,
                "billing": self.billing.as_str(),
                "error_type": "interrupted",
                "message": "the gateway instance stopped before this request finished; not charged",
            }]),
            prompt_tokens: None,
            completion_tokens: None,
            cached_tokens: None,
            cache_write_tokens: None,
            reasoning_tokens: None,
            cost_nanos: None,
            latency_ms: 0,
            ttft_ms: None,
            overhead_us: None,
            stream: self.stream,
            user_id: self.user_id.clone(),
            properties: self.properties.clone(),
            request_body: None,
            response_body: None,
            created_at: OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(self.created_us) * 1000,
            )
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            route: None,
            target_url: None,
            ttfb_ms: None,
            session_id: None,
            session_path: None,
            session_name: None,
            cache_status: None,
            cache_saved_nanos: None,
            client_request_id: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

struct Open {
    file: File,
    path: PathBuf,
    bytes: u64,
    /// Requests with an `A` line and no `E` line yet: the line to copy on rotation.
    open: HashMap<Uuid, Vec<u8>>,
}

/// One instance's journal.
pub struct Journal {
    dir: PathBuf,
    instance: String,
    inner: Mutex<Open>,
    /// Held for the instance's life; dropping it (or the process dying) frees it.
    _lock: File,
}

/// What a dead instance left: its id and the requests it had not finished.
#[derive(Debug)]
pub struct Orphans {
    pub instance: String,
    pub requests: Vec<AttemptRecord>,
    files: Vec<PathBuf>,
}

impl Orphans {
    /// Removes the dead instance's files (after its rows are safely queued).
    pub fn forget(self) {
        for f in self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Journal {
    /// Opens this instance's journal in `dir` and collects what dead instances left there.
    pub fn open(dir: &Path, instance: &str) -> Result<(Journal, Vec<Orphans>), JournalError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let orphans = Self::dead_instances(dir)?;
        // Locked under a temporary name, then renamed: another instance starting at the same
        // time never sees this lock file unlocked and takes it for a dead one's.
        let tmp = dir.join(format!("{instance}.lock.tmp"));
        let lock = File::create(&tmp).map_err(io(&tmp))?;
        lock.try_lock().map_err(|e| JournalError::Io {
            path: tmp.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let lock_path = dir.join(format!("{instance}.lock"));
        std::fs::rename(&tmp, &lock_path).map_err(io(&lock_path))?;
        let path = dir.join(format!("{instance}.wal"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        Ok((
            Journal {
                dir: dir.to_owned(),
                instance: instance.to_owned(),
                inner: Mutex::new(Open {
                    file,
                    path,
                    bytes: 0,
                    open: HashMap::new(),
                }),
                _lock: lock,
            },
            orphans,
        ))
    }

    fn dead_instances(dir: &Path) -> Result<Vec<Orphans>, JournalError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            let Some(instance) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".lock"))
                .map(str::to_owned)
            else {
                continue;
            };
            let Ok(lock) = File::options().write(true).open(&path) else {
                continue;
            };
            // Locked: that instance is alive.
            if lock.try_lock().is_err() {
                continue;
            }
            let wal = dir.join(format!("{instance}.wal"));
            let requests = read_open(&wal)?;
            out.push(Orphans {
                instance,
                requests,
                files: vec![wal, path],
            });
        }
        Ok(out)
    }

    /// Records an upstream attempt about to be made. Never fails the request: a journal that
    /// cannot be written only costs the crash trace, and says so.
    pub fn attempt(&self, record: &AttemptRecord) {
        let mut line = b"A ".to_vec();
        if serde_json::to_writer(&mut line, record).is_err() {
            return;
        }
        line.push(b'\n');
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = inner.file.write_all(&line) {
            tracing::warn!(error = %e, path = %inner.path.display(), "in-flight journal write failed");
            return;
        }
        inner.bytes += line.len() as u64;
        inner.open.insert(record.id, line);
    }

    /// Marks requests whose log rows are committed.
    pub fn finished(&self, ids: &[Uuid]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines = Vec::new();
        for id in ids {
            if inner.open.remove(id).is_some() {
                lines.extend_from_slice(format!("E {id}\n").as_bytes());
            }
        }
        if lines.is_empty() {
            return;
        }
        if let Err(e) = inner.file.write_all(&lines) {
            tracing::warn!(error = %e, "in-flight journal write failed");
        }
        inner.bytes += lines.len() as u64;
        if inner.bytes > ROTATE_BYTES {
            self.rotate(&mut inner);
        }
    }

    /// Rewrites the journal with only the open requests.
    fn rotate(&self, inner: &mut Open) {
        let tmp = self.dir.join(format!("{}.wal.new", self.instance));
        let written = (|| -> std::io::Result<File> {
            let mut f = File::create(&tmp)?;
            for line in inner.open.values() {
                f.write_all(line)?;
            }
            std::fs::rename(&tmp, &inner.path)?;
            OpenOptions::new().append(true).open(&inner.path)
        })();
        match written {
            Ok(f) => {
                inner.file = f;
                inner.bytes = inner.open.values().map(|l| l.len() as u64).sum();
            }
            Err(e) => tracing::warn!(error = %e, "in-flight journal rotation failed"),
        }
    }

    /// Requests recorded and not yet finished (tests, shutdown checks).
    pub fn open_requests(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .open
            .len()
    }

    /// A clean stop: when nothing is in flight the files go (else they stay for the next
    /// start to report).
    pub fn close(&self) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.open.is_empty() {
            let _ = std::fs::remove_file(&inner.path);
            let _ = std::fs::remove_file(self.dir.join(format!("{}.lock", self.instance)));
        }
    }
}

/// The unfinished requests of a journal file (the last attempt of each).
fn read_open(path: &Path) -> Result<Vec<AttemptRecord>, JournalError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let mut open: HashMap<Uuid, AttemptRecord> = HashMap::new();
    let mut order = Vec::new();
    for line in std::io::BufReader::new(file).split(b'\n') {
        let Ok(line) = line else { break };
        if let Some(json) = line.strip_prefix(b"A ") {
            // A torn last line (killed mid-write) is skipped.
            if let Ok(r) = serde_json::from_slice::<AttemptRecord>(json) {
                if !open.contains_key(&r.id) {
                    order.push(r.id);
                }
                open.insert(r.id, r);
            }
        } else if let Some(id) = line.strip_prefix(b"E ") {
            if let Some(id) = std::str::from_utf8(id).ok().and_then(|s| s.parse().ok()) {
                open.remove(&id);
            }
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|id| open.remove(&id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(attempt: usize) -> AttemptRecord {
        AttemptRecord {
            id: Uuid::now_v7(),
            org: OrgId::generate(),
            key: Some(KeyId::generate()),
            model: "gpt-4o-mini".into(),
            stream: true,
            created_us: 1_700_000_000_000_000,
            user_id: Some("u".into()),
            properties: Default::default(),
            endpoint: "gpt-4o-mini:openai:*".into(),
            provider: "openai".into(),
            billing: BillingMode::Ptb,
            hold_nanos: 123,
            attempt,
        }
    }

    #[test]
    fn a_dead_instance_leaves_its_open_requests() {
        let dir = tempfile::tempdir().unwrap();
        let (a, none) = Journal::open(dir.path(), "a").unwrap();
        assert!(none.is_empty());
        let (r1, r2, r3) = (record(0), record(0), record(0));
        a.attempt(&r1);
        a.attempt(&r2);
        let mut r2b = r2.clone();
        r2b.attempt = 1;
        r2b.provider = "azure".into();
        a.attempt(&r2b);
        a.attempt(&r3);
        a.finished(&[r1.id, Uuid::now_v7()]);
        // A live instance is not taken for dead.
        let (b, orphans) = Journal::open(dir.path(), "b").unwrap();
        assert!(orphans.is_empty());
        // "a" dies (its lock goes with it); a torn line at the end is ignored.
        drop(a);
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("a.wal"))
            .unwrap()
            .write_all(b"A {\"id\": \"tor")
            .unwrap();
        let (_c, orphans) = Journal::open(dir.path(), "c").unwrap();
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].instance, "a");
        let ids: Vec<_> = orphans[0].requests.iter().map(|r| r.id).collect();
        assert_eq!(ids, vec![r2.id, r3.id]);
        assert_eq!(orphans[0].requests[0], r2b, "the last attempt wins");
        let row = orphans[0].requests[0].interrupted_row();
        assert_eq!(row.error_type.as_deref(), Some("interrupted"));
        assert_eq!(row.provider.as_deref(), Some("azure"));
        for o in orphans {
            o.forget();
        }
        assert!(!dir.path().join("a.wal").exists());
        b.close();
        assert!(!dir.path().join("b.wal").exists());
    }

    #[test]
    fn rotation_keeps_only_open_requests() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = Journal::open(dir.path(), "r").unwrap();
        let keep = record(0);
        j.attempt(&keep);
        // Enough finished requests to pass the rotation size.
        let line = serde_json::to_vec(&record(0)).unwrap().len() as u64;
        for _ in 0..(ROTATE_BYTES / line + 10) {
            let r = record(0);
            j.attempt(&r);
            j.finished(&[r.id]);
        }
        let size = std::fs::metadata(dir.path().join("r.wal")).unwrap().len();
        assert!(size < ROTATE_BYTES / 2, "rotated: {size} bytes");
        assert_eq!(j.open_requests(), 1);
        assert_eq!(read_open(&dir.path().join("r.wal")).unwrap(), vec![keep]);
    }
}
