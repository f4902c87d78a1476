//! The newest lines of a log file, read from its end (for `/api/logs`), never the whole file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

const CHUNK: u64 = 64 * 1024;

/// The last `limit` lines that parse as JSON, newest first. A missing file gives `[]`.
pub(crate) fn newest_entries(path: &Path, limit: usize) -> Vec<Value> {
    if limit == 0 || !path.metadata().is_ok_and(|m| m.is_file()) {
        return Vec::new();
    }
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let Ok(size) = file.seek(SeekFrom::End(0)) else {
        return Vec::new();
    };
    let mut tail: Vec<u8> = Vec::new();
    let mut position = size;
    // Read backwards until the tail holds more than `limit` newlines (or the file is exhausted).
    while position > 0 && tail.iter().filter(|b| **b == b'\n').count() <= limit {
        let step = CHUNK.min(position);
        position -= step;
        let mut chunk = vec![0u8; usize::try_from(step).unwrap_or(0)];
        if file.seek(SeekFrom::Start(position)).is_err() || file.read_exact(&mut chunk).is_err() {
            return Vec::new();
        }
        chunk.extend_from_slice(&tail);
        tail = chunk;
    }
    let text = String::from_utf8_lossy(&tail);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if position > 0 && !lines.is_empty() {
        lines.remove(0); // possibly cut in the middle
    }
    let start = lines.len().saturating_sub(limit);
    lines[start..]
        .iter()
        .rev()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_newest_first_and_skips_bad_lines() {
        let dir = std::env::temp_dir().join(format!("dspy-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("P.log");
        let mut text = String::new();
        for i in 0..5000 {
            text.push_str(&format!("{{\"i\": {i}, \"pad\": \"{}\"}}\n", "x".repeat(40)));
        }
        text.push_str("not json\n\n");
        std::fs::write(&path, text).unwrap();
        let newest = newest_entries(&path, 3);
        let ids: Vec<_> = newest.iter().map(|v| v["i"].as_u64().unwrap()).collect();
        assert_eq!(ids, [4999, 4998]); // the last 3 lines include "not json"
        assert_eq!(newest_entries(&path, 0).len(), 0);
        assert_eq!(newest_entries(&path, 100_000).len(), 5000);
        assert!(newest_entries(&dir.join("missing.log"), 5).is_empty());
        std::fs::remove_dir_all(dir).ok();
    }
}
