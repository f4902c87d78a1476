//! Metrics read from the log files, for supervised workers that share them.
//!
//! Several worker processes append to the same `logs/<Program>.log`. Each worker's metrics
//! are then built from the files, not from its own writes: before answering a metrics route a
//! worker reads the complete lines appended since its last read (by any worker), following
//! rotations through the backups. So every worker answers with the same numbers, and they are
//! exactly those of the log files.

use std::collections::HashMap;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use serde_json::Value;

use super::log_tail::log_and_backups;
use super::metrics::MetricsStore;

/// Where the reading of one program's log stopped: the file (device, inode) and the offset
/// just past the last complete line read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor {
    identity: (u64, u64),
    offset: u64,
}

/// Read up to this much per file and call (the rest is read by the next call).
const MAX_READ_BYTES: u64 = 256 * 1024 * 1024;

/// The cursor of a program whose log did not exist yet: everything that appears later is new.
const BEFORE_ANY_FILE: Cursor = Cursor {
    identity: (0, 0),
    offset: 0,
};

fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// Count the complete lines of `path` from `offset`; the new offset (past the last newline).
fn read_lines_from(path: &Path, offset: u64, program: &str, store: &MetricsStore) -> u64 {
    let Ok(mut file) = std::fs::File::open(path) else {
        return offset;
    };
    let len = file.metadata().map_or(0, |m| m.len());
    // Truncated under us (or replaced): start over.
    let offset = if len < offset { 0 } else { offset };
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return offset;
    }
    let mut buf = Vec::new();
    if file.take(MAX_READ_BYTES).read_to_end(&mut buf).is_err() {
        return offset;
    }
    // A line still being written (no newline yet) is read next time.
    let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
        return offset;
    };
    for line in buf[..end].split(|b| *b == b'\n') {
        if let Ok(Value::Object(mut entry)) = serde_json::from_slice::<Value>(line) {
            entry.insert("program".into(), Value::from(program));
            store.record(&entry);
        }
    }
    offset + end as u64 + 1
}

/// Bring `program`'s counts up to the end of its log file.
pub(crate) fn catch_up(store: &MetricsStore, cursors: &mut HashMap<String, Cursor>, logs_dir: &Path, program: &str) {
    let base = logs_dir.join(format!("{program}.log"));
    let meta = std::fs::metadata(&base).ok().filter(std::fs::Metadata::is_file);
    let Some(meta) = meta else {
        // Nothing written yet: lines that appear later, even if rotated before the next read,
        // are all new.
        cursors.entry(program.to_owned()).or_insert(BEFORE_ANY_FILE);
        return;
    };
    let current = identity(&meta);
    let start = match cursors.get(program).copied() {
        Some(cursor) if cursor.identity == current => cursor.offset,
        Some(cursor) => {
            // Rotated since the last read: finish the file we were reading (now a backup),
            // then every newer backup, then the new file from its start. When that file is
            // gone (rotated out, or there was none yet), every backup is newer than it.
            let backups = log_and_backups(&base).split_off(1);
            let position = backups
                .iter()
                .position(|p| std::fs::metadata(p).is_ok_and(|m| identity(&m) == cursor.identity));
            let newer = match position {
                Some(k) => {
                    read_lines_from(&backups[k], cursor.offset, program, store);
                    &backups[..k]
                }
                None => &backups[..],
            };
            for path in newer.iter().rev() {
                read_lines_from(path, 0, program, store);
            }
            0
        }
        None => 0,
    };
    let offset = read_lines_from(&base, start, program, store);
    cursors.insert(
        program.to_owned(),
        Cursor {
            identity: current,
            offset,
        },
    );
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write as _;

    use super::catch_up;
    use crate::telemetry::inference_log::backup_path;
    use crate::telemetry::metrics::MetricsStore;

    fn append(path: &std::path::Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    const LINE: &str =
        "{\"timestamp\":\"2026-01-01T00:00:00\",\"program\":\"P\",\"duration_ms\":1.0,\"success\":true}\n";

    /// A fresh logs directory named after the test, and the path of program P's log in it.
    fn logs_dir(test: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("dspy-shared-logs-{test}-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join("P.log");
        (dir, base)
    }

    #[test]
    fn counts_every_complete_line_once_across_rotations() {
        let (dir, base) = logs_dir("rotations");
        let store = MetricsStore::default();
        let mut cursors = HashMap::new();
        append(&base, LINE);
        append(&base, &LINE[..20]); // a line still being written
        catch_up(&store, &mut cursors, &dir, "P");
        assert_eq!(store.program_json("P")["call_count"], 1);
        append(&base, &LINE[20..]);
        // Rotate twice before the next read.
        std::fs::rename(&base, backup_path(&base, 1)).unwrap();
        append(&base, LINE);
        std::fs::rename(backup_path(&base, 1), backup_path(&base, 2)).unwrap();
        std::fs::rename(&base, backup_path(&base, 1)).unwrap();
        append(&base, LINE);
        catch_up(&store, &mut cursors, &dir, "P");
        assert_eq!(store.program_json("P")["call_count"], 4);
        catch_up(&store, &mut cursors, &dir, "P");
        assert_eq!(store.program_json("P")["call_count"], 4);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn lines_rotated_before_the_first_read_are_counted() {
        let (dir, base) = logs_dir("first-read");
        let store = MetricsStore::default();
        let mut cursors = HashMap::new();
        catch_up(&store, &mut cursors, &dir, "P"); // at start-up: no log yet
        for _ in 0..3 {
            append(&base, LINE);
            append(&base, LINE);
            for n in (1..3).rev() {
                std::fs::rename(backup_path(&base, n), backup_path(&base, n + 1)).ok();
            }
            std::fs::rename(&base, backup_path(&base, 1)).unwrap();
        }
        append(&base, LINE);
        catch_up(&store, &mut cursors, &dir, "P");
        assert_eq!(store.program_json("P")["call_count"], 7);
        std::fs::remove_dir_all(&dir).ok();
    }
}
