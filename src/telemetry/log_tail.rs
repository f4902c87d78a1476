//! Entries of a log file for `/api/logs`, newest first. A positive limit reads only the end of
//! the file; 0 means all lines and a negative limit skips that many of the oldest, as upstream.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

const CHUNK: u64 = 64 * 1024;

/// Lines that parse as JSON, newest first. A missing or unreadable file gives `[]`.
pub(crate) fn newest_entries(path: &Path, limit: i64) -> Vec<Value> {
    if !path.metadata().is_ok_and(|m| m.is_file()) {
        return Vec::new();
    }
    let lines = match usize::try_from(limit) {
        Ok(0) | Err(_) => whole_file_lines(path, limit.unsigned_abs()),
        Ok(limit) => last_lines(path, limit),
    };
    lines
        .iter()
        .rev()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn whole_file_lines(path: &Path, skip: u64) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let skip = usize::try_from(skip).unwrap_or(usize::MAX);
    String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .skip(skip)
        .map(str::to_owned)
        .collect()
}

/// The last `limit` non-blank lines, reading backwards in chunks (linear in what is read).
fn last_lines(path: &Path, limit: usize) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let Ok(mut position) = file.seek(SeekFrom::End(0)) else {
        return Vec::new();
    };
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut newlines = 0;
    while position > 0 && newlines <= limit {
        let step = CHUNK.min(position);
        position -= step;
        let mut chunk = vec![0u8; usize::try_from(step).unwrap_or(0)];
        if file.seek(SeekFrom::Start(position)).is_err() || file.read_exact(&mut chunk).is_err() {
            return Vec::new();
        }
        newlines += chunk.iter().filter(|b| **b == b'\n').count();
        chunks.push(chunk);
    }
    let tail: Vec<u8> = chunks.into_iter().rev().flatten().collect();
    let text = String::from_utf8_lossy(&tail);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if position > 0 && !lines.is_empty() {
        lines.remove(0); // it may start in the middle of a line
    }
    let start = lines.len().saturating_sub(limit);
    lines[start..].iter().map(|l| (*l).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_upstream_and_bad_lines_are_skipped() {
        let dir = std::env::temp_dir().join(format!("dspy-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("P.log");
        let mut text = String::new();
        for i in 0..5000 {
            text.push_str(&format!("{{\"i\": {i}, \"pad\": \"{}\"}}\n", "x".repeat(40)));
        }
        text.push_str("not json\n\n");
        std::fs::write(&path, text).unwrap();
        let ids = |entries: Vec<Value>| entries.iter().map(|v| v["i"].as_u64().unwrap()).collect::<Vec<_>>();
        assert_eq!(ids(newest_entries(&path, 3)), [4999, 4998]); // the last 3 lines include "not json"
        assert_eq!(newest_entries(&path, 100_000).len(), 5000);
        assert_eq!(newest_entries(&path, 0).len(), 5000);
        assert_eq!(ids(newest_entries(&path, -4998)), [4999, 4998]);
        assert!(newest_entries(&dir.join("missing.log"), 5).is_empty());
        std::fs::remove_dir_all(dir).ok();
    }
}
