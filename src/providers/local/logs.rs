//! Log records of local invocations: `logs/{function}.jsonl`, one JSON record a line.
//!
//! Each line a handler writes (stdout or stderr), and the platform's own START / END / REPORT
//! lines, is appended as it arrives, so `stratus logs --tail` in another terminal sees it
//! within its polling interval. When a file reaches [`ROTATE_BYTES`] it is renamed to
//! `{function}.jsonl.1` (replacing the previous one) and a new file is started: at most about
//! twice that size is kept per function. Appends are single `write` calls on a file opened in
//! append mode, so concurrent invocations do not interleave inside a line.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::providers::{LogQuery, LogRecord};

/// Size at which a log file is rotated (1 MiB).
pub const ROTATE_BYTES: u64 = 1024 * 1024;

/// Serializes rotation within this process (two invocations of one function under `serve`).
static ROTATION: Mutex<()> = Mutex::new(());

/// One record as stored on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRecord {
    /// Milliseconds since the Unix epoch.
    ts: i64,
    /// The invocation.
    request_id: String,
    /// `stdout`, `stderr` or `platform`.
    stream: String,
    /// Position of the line within its invocation (makes the id unique).
    seq: u64,
    /// The line, without its newline.
    message: String,
}

/// The log files of one service and stage.
#[derive(Debug, Clone)]
pub struct LogStore {
    dir: PathBuf,
    rotate_bytes: u64,
}

impl LogStore {
    /// The store in `dir` (`{state}/{service}/{stage}/logs`), rotating at [`ROTATE_BYTES`].
    pub fn new(dir: PathBuf) -> LogStore {
        LogStore {
            dir,
            rotate_bytes: ROTATE_BYTES,
        }
    }

    /// The same store rotating at `bytes` (for tests).
    pub fn with_rotation(mut self, bytes: u64) -> LogStore {
        self.rotate_bytes = bytes;
        self
    }

    fn file(&self, function: &str) -> PathBuf {
        self.dir.join(format!("{function}.jsonl"))
    }

    fn rotated(&self, function: &str) -> PathBuf {
        self.dir.join(format!("{function}.jsonl.1"))
    }

    /// Appends one line of `function`'s invocation `request_id`.
    pub fn append(
        &self,
        function: &str,
        request_id: &str,
        stream: &str,
        seq: u64,
        message: &str,
    ) -> anyhow::Result<()> {
        let record = StoredRecord {
            ts: now_ms(),
            request_id: request_id.to_string(),
            stream: stream.to_string(),
            seq,
            message: message.to_string(),
        };
        let mut line = serde_json::to_vec(&record).context("encoding a log record")?;
        line.push(b'\n');
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating the log dir {}", self.dir.display()))?;
        let path = self.file(function);
        {
            let _guard = ROTATION
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if fs::metadata(&path).is_ok_and(|m| m.len() >= self.rotate_bytes) {
                fs::rename(&path, self.rotated(function))
                    .with_context(|| format!("rotating {}", path.display()))?;
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        file.write_all(&line)
            .with_context(|| format!("appending to {}", path.display()))
    }

    /// Records of `query.function` matching `query`, oldest first.
    pub fn read(&self, query: &LogQuery) -> anyhow::Result<Vec<LogRecord>> {
        let since_ms = query.since.map(|since| {
            since
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        });
        let mut records = Vec::new();
        for path in [self.rotated(&query.function), self.file(&query.function)] {
            read_file(&path, &mut |stored| {
                if since_ms.is_some_and(|since| stored.ts < since) {
                    return;
                }
                if query
                    .filter
                    .as_deref()
                    .is_some_and(|text| !stored.message.contains(text))
                {
                    return;
                }
                records.push(LogRecord {
                    id: format!("{}:{}", stored.request_id, stored.seq),
                    timestamp_ms: stored.ts,
                    function: query.function.clone(),
                    request_id: Some(stored.request_id),
                    stream: stored.stream,
                    message: stored.message,
                });
            })?;
        }
        // Files are in append order already; a stable sort only fixes interleaved writers.
        records.sort_by_key(|r| r.timestamp_ms);
        Ok(records)
    }
}

fn read_file(path: &Path, each: &mut dyn FnMut(StoredRecord)) -> anyhow::Result<()> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("opening {}", path.display())),
    };
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        // A line being written right now may be incomplete: skip what does not parse.
        if let Ok(record) = serde_json::from_str::<StoredRecord>(&line) {
            each(record);
        }
    }
    Ok(())
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn query(filter: Option<&str>, since: Option<SystemTime>) -> LogQuery {
        LogQuery {
            function: "hello".into(),
            since,
            filter: filter.map(str::to_string),
        }
    }

    #[test]
    fn records_come_back_in_order_with_stable_ids_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path().join("logs"));
        store.append("hello", "r1", "stdout", 0, "first").unwrap();
        store.append("hello", "r1", "stderr", 1, "second").unwrap();
        store
            .append("other", "r2", "stdout", 0, "elsewhere")
            .unwrap();
        let all = store.read(&query(None, None)).unwrap();
        let messages: Vec<_> = all.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(messages, ["first", "second"]);
        assert_eq!(all[1].id, "r1:1");
        assert_eq!(all[1].stream, "stderr");
        assert_eq!(all[0].request_id.as_deref(), Some("r1"));
        let filtered = store.read(&query(Some("sec"), None)).unwrap();
        assert_eq!(filtered.len(), 1);
        let future = SystemTime::now() + Duration::from_secs(60);
        assert!(store.read(&query(None, Some(future))).unwrap().is_empty());
        let past = SystemTime::now() - Duration::from_secs(60);
        assert_eq!(store.read(&query(None, Some(past))).unwrap().len(), 2);
    }

    #[test]
    fn rotation_keeps_one_old_file_and_bounds_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path().to_path_buf()).with_rotation(400);
        for seq in 0..40 {
            store
                .append("hello", "req", "stdout", seq, &format!("line {seq:02}"))
                .unwrap();
        }
        let current = fs::metadata(dir.path().join("hello.jsonl")).unwrap().len();
        let old = fs::metadata(dir.path().join("hello.jsonl.1"))
            .unwrap()
            .len();
        assert!(current < 500 && old < 500, "{current} {old}");
        assert!(!dir.path().join("hello.jsonl.2").exists());
        let records = store.read(&query(None, None)).unwrap();
        assert!(records.len() < 40, "old records were dropped");
        assert_eq!(records.last().unwrap().message, "line 39");
        let seqs: Vec<_> = records.iter().map(|r| r.id.clone()).collect();
        let mut sorted = seqs.clone();
        sorted.sort_by_key(|id| id[4..].parse::<u32>().unwrap());
        assert_eq!(seqs, sorted, "oldest first across the rotated file");
    }
}
