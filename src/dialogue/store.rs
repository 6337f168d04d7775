//! The answer file: one JSON object per line, one file per session, appended and synced.
//!
//! Kiosks collect answers people gave out loud; losing them to a crash or a power cut means
//! asking again. Each record is written with a single `write` of the whole line and then
//! `sync_data`, before the dialogue moves on, so every answer the user finished is on disk even
//! if the process is killed the next moment. The file is opened append-only and created new for
//! each session (never overwriting another session's file). Every line carries the session id,
//! a sequence number and the wall-clock time (Unix milliseconds).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::DialogueError;

/// Distinguishes sessions started in the same millisecond by one process.
static SESSIONS: AtomicU64 = AtomicU64::new(0);

/// An open answer file.
pub struct AnswerStore {
    path: PathBuf,
    file: File,
    session: String,
    seq: u64,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl AnswerStore {
    /// Creates `<dir>/<label>-<unix ms>-<pid>-<n>.jsonl` (and `dir` if needed).
    pub fn create(dir: &Path, label: &str) -> Result<AnswerStore, DialogueError> {
        let error = |path: &Path, source| DialogueError::Store {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| error(dir, e))?;
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(48)
            .collect();
        let session = format!(
            "{label}-{}-{}-{}",
            unix_ms(),
            std::process::id(),
            SESSIONS.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(format!("{session}.jsonl"));
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| error(&path, e))?;
        // The new directory entry must survive a crash too.
        if let Ok(dir_handle) = File::open(dir) {
            let _ = dir_handle.sync_all();
        }
        tracing::info!(path = %path.display(), "answers are saved here");
        Ok(AnswerStore {
            path,
            file,
            session,
            seq: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn session(&self) -> &str {
        &self.session
    }

    /// Appends `record` (an object; session, sequence and time are added) and syncs it to disk.
    pub fn append(&mut self, mut record: Value) -> Result<(), DialogueError> {
        if let Value::Object(map) = &mut record {
            map.insert("session".into(), json!(self.session));
            map.insert("seq".into(), json!(self.seq));
            map.insert("unix_ms".into(), json!(unix_ms()));
        }
        let mut line = serde_json::to_string(&record).expect("a JSON value always serialises");
        line.push('\n');
        let error = |source| DialogueError::Store {
            path: self.path.clone(),
            source,
        };
        // One write of the whole line: an append-mode write is never interleaved, and a crash
        // leaves at worst a torn last line, never a torn earlier one.
        self.file.write_all(line.as_bytes()).map_err(error)?;
        self.file.sync_data().map_err(error)?;
        self.seq += 1;
        Ok(())
    }
}

/// Reads an answer file back (tests, tools): every complete line, skipping a torn last line.
pub fn read_answers(path: &Path) -> std::io::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter_map(|line| serde_json::from_str(line.trim_end()).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_appended_with_session_sequence_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = AnswerStore::create(&dir.path().join("answers"), "front desk/1").unwrap();
        assert!(store.path().starts_with(dir.path().join("answers")));
        assert!(store.session().starts_with("front_desk_1-"));
        store.append(json!({"field": "name", "value": "Ada"})).unwrap();
        store.append(json!({"field": "age", "value": 36})).unwrap();
        let lines = read_answers(store.path()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["seq"], 1);
        assert_eq!(lines[1]["value"], 36);
        assert_eq!(lines[0]["session"], store.session());
        assert!(lines[0]["unix_ms"].as_u64().unwrap() > 1_600_000_000_000);

        // Two sessions never share a file.
        let other = AnswerStore::create(&dir.path().join("answers"), "front desk/1").unwrap();
        assert_ne!(other.path(), store.path());
    }

    #[test]
    fn a_torn_last_line_is_skipped_on_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        assert_eq!(read_answers(&path).unwrap(), [json!({"a": 1})]);
    }

    #[test]
    fn an_unwritable_folder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let error = AnswerStore::create(&blocker.join("answers"), "x")
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("answers") && error.contains("answers_dir"),
            "{error}"
        );
    }
}
