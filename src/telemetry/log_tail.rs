//! Entries of a program's log for `/api/logs`, newest first, in bounded memory.
//!
//! The files are read backwards in fixed-size chunks, the current file first and then its
//! rotated backups (`P.log.1`, `P.log.2`, ...), so the cost depends on what is returned, never
//! on the size of the files. At most [`MAX_LOG_ENTRIES`] entries and [`MAX_LOG_TEXT_BYTES`] of
//! line text are held at once; a longer line is skipped. Unparsable lines (a line torn by a
//! crash, a hand edit) are skipped with a warning, as upstream skipped them silently.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::redact::redact;

/// Most entries one `/api/logs` answer holds, whatever `limit` asks for.
pub(crate) const MAX_LOG_ENTRIES: usize = 1000;
/// Most line text (bytes) one answer reads into memory.
pub(crate) const MAX_LOG_TEXT_BYTES: usize = 8 * 1024 * 1024;
const CHUNK: u64 = 64 * 1024;

/// How many entries a `limit` query asks for: upstream's `limit=0` (everything) and negative
/// limits (everything but the oldest) become the cap, as does anything above it.
pub(crate) fn capped_limit(limit: i64) -> usize {
    usize::try_from(limit)
        .ok()
        .filter(|n| *n > 0)
        .map_or(MAX_LOG_ENTRIES, |n| n.min(MAX_LOG_ENTRIES))
}

/// `base` and its rotated backups that exist, newest first.
pub(crate) fn log_and_backups(base: &Path) -> Vec<PathBuf> {
    let mut paths = vec![base.to_path_buf()];
    for n in 1.. {
        let backup = super::inference_log::backup_path(base, n);
        if !backup.exists() {
            break;
        }
        paths.push(backup);
    }
    paths
}

/// The newest `limit` entries that parse as JSON objects (redacted), newest first.
pub(crate) fn newest_entries(files: &[PathBuf], limit: usize) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut budget = MAX_LOG_TEXT_BYTES;
    let mut skipped = Skipped::default();
    'files: for path in files {
        // Only regular files: a log path pointing at a device must not be read.
        if !path.metadata().is_ok_and(|m| m.is_file()) {
            continue;
        }
        let Ok(mut lines) = ReverseLines::open(path) else {
            continue;
        };
        while entries.len() < limit {
            let Some(line) = lines.next_line() else { continue 'files };
            let Line::Text(text) = line else {
                skipped.too_long += 1;
                continue;
            };
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if text.len() > budget {
                break 'files;
            }
            budget -= text.len();
            match serde_json::from_str::<Value>(&redact(&String::from_utf8_lossy(&text))) {
                Ok(entry @ Value::Object(_)) => entries.push(entry),
                _ => skipped.unparsable += 1,
            }
        }
        break;
    }
    skipped.warn(files.first());
    entries
}

#[derive(Default)]
struct Skipped {
    unparsable: usize,
    too_long: usize,
}

impl Skipped {
    fn warn(&self, file: Option<&PathBuf>) {
        let file = file.map_or_else(String::new, |f| f.display().to_string());
        if self.unparsable > 0 {
            tracing::warn!(
                "/api/logs skipped {} unparsable line(s) of {file} (torn by a crash or edited by hand)",
                self.unparsable
            );
        }
        if self.too_long > 0 {
            tracing::warn!(
                "/api/logs skipped {} line(s) of {file} longer than {MAX_LOG_TEXT_BYTES} bytes",
                self.too_long
            );
        }
    }
}

enum Line {
    Text(Vec<u8>),
    /// A line longer than [`MAX_LOG_TEXT_BYTES`]: its bytes were not kept.
    TooLong,
}

/// Lines of a file from the last to the first, holding at most one chunk plus one line.
struct ReverseLines {
    file: File,
    /// Everything before this offset is still unread.
    position: u64,
    /// The start of the line that ends the read part (it may begin in an unread chunk).
    carry: Vec<u8>,
    carry_too_long: bool,
    /// Complete lines of the last chunk, oldest first (popped from the end).
    ready: Vec<Line>,
}

impl ReverseLines {
    fn open(path: &Path) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        let position = file.seek(SeekFrom::End(0))?;
        Ok(Self {
            file,
            position,
            carry: Vec::new(),
            carry_too_long: false,
            ready: Vec::new(),
        })
    }

    fn next_line(&mut self) -> Option<Line> {
        loop {
            if let Some(line) = self.ready.pop() {
                return Some(line);
            }
            if self.position == 0 {
                // What is left is the file's first line.
                return (!self.carry.is_empty() || self.carry_too_long).then(|| self.take_carry());
            }
            if self.read_chunk().is_err() {
                return None;
            }
        }
    }

    fn take_carry(&mut self) -> Line {
        let line = if self.carry_too_long {
            Line::TooLong
        } else {
            Line::Text(std::mem::take(&mut self.carry))
        };
        self.carry.clear();
        self.carry_too_long = false;
        line
    }

    fn read_chunk(&mut self) -> std::io::Result<()> {
        let step = CHUNK.min(self.position);
        self.position -= step;
        let mut chunk = vec![0u8; usize::try_from(step).unwrap_or(0)];
        self.file.seek(SeekFrom::Start(self.position))?;
        self.file.read_exact(&mut chunk)?;
        let mut pieces = chunk.split(|b| *b == b'\n');
        let first = pieces.next().unwrap_or_default();
        let rest: Vec<&[u8]> = pieces.collect();
        let Some((last, middle)) = rest.split_last() else {
            // No newline in this chunk: the whole chunk belongs to the carried line.
            self.prepend_to_carry(first);
            return Ok(());
        };
        // `last` + carry is complete: it ends where the carried line ended.
        self.prepend_to_carry(last);
        let newest = self.take_carry();
        self.ready.extend(middle.iter().map(|piece| Line::Text(piece.to_vec())));
        self.ready.push(newest);
        self.prepend_to_carry(first);
        Ok(())
    }

    fn prepend_to_carry(&mut self, bytes: &[u8]) {
        if self.carry_too_long || self.carry.len() + bytes.len() > MAX_LOG_TEXT_BYTES {
            self.carry_too_long = true;
            self.carry = Vec::new();
        } else {
            self.carry.splice(0..0, bytes.iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dspy-tail-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn ids(entries: &[Value]) -> Vec<u64> {
        entries.iter().map(|v| v["i"].as_u64().unwrap()).collect()
    }

    fn lines(range: std::ops::Range<u32>, pad: usize) -> String {
        let pad = "x".repeat(pad);
        range.fold(String::new(), |mut out, i| {
            writeln!(out, "{{\"i\": {i}, \"pad\": \"{pad}\"}}").expect("writing to a String cannot fail");
            out
        })
    }

    #[test]
    fn limits_are_capped_and_bad_lines_are_skipped() {
        let dir = temp_dir("limits");
        let path = dir.join("P.log");
        std::fs::write(&path, lines(0..5000, 40) + "not json\n\n{\"i\": 5000, \"torn\": ").unwrap();
        let files = [path];
        assert_eq!(ids(&newest_entries(&files, 3)), [4999, 4998, 4997]);
        assert_eq!(newest_entries(&files, capped_limit(0)).len(), MAX_LOG_ENTRIES);
        assert_eq!(newest_entries(&files, capped_limit(-3)).len(), MAX_LOG_ENTRIES);
        assert_eq!(capped_limit(7), 7);
        assert_eq!(capped_limit(1_000_000), MAX_LOG_ENTRIES);
        assert!(newest_entries(&[dir.join("missing.log")], 5).is_empty());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn reads_across_rotated_files_and_lines_longer_than_a_chunk() {
        let dir = temp_dir("rotated");
        let base = dir.join("P.log");
        std::fs::write(
            super::super::inference_log::backup_path(&base, 2),
            lines(0..10, 200_000),
        )
        .unwrap();
        std::fs::write(super::super::inference_log::backup_path(&base, 1), lines(10..20, 10)).unwrap();
        std::fs::write(&base, lines(20..23, 10)).unwrap();
        let files = log_and_backups(&base);
        assert_eq!(files.len(), 3);
        let entries = newest_entries(&files, 15);
        assert_eq!(ids(&entries), (8..23).rev().collect::<Vec<_>>());
        assert_eq!(entries[14]["pad"].as_str().unwrap().len(), 200_000);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn text_budget_bounds_what_is_read() {
        let dir = temp_dir("budget");
        let path = dir.join("P.log");
        // 3 lines of 3 MiB: only two fit in the 8 MiB budget. A 9 MiB line is skipped.
        let mut text = lines(0..3, 3 * 1024 * 1024);
        text.push_str(&lines(3..4, 9 * 1024 * 1024));
        std::fs::write(&path, text).unwrap();
        assert_eq!(ids(&newest_entries(&[path], 10)), [2, 1]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn credentials_are_redacted() {
        let dir = temp_dir("redact");
        let path = dir.join("P.log");
        std::fs::write(
            &path,
            "{\"i\": 1, \"error\": \"at http://u:secret@h:1/v1?api_key=k2\"}\n",
        )
        .unwrap();
        let entries = newest_entries(&[path], 1);
        let error = entries[0]["error"].as_str().unwrap();
        assert!(!error.contains("secret") && !error.contains("k2"), "{error}");
        std::fs::remove_dir_all(dir).ok();
    }
}
