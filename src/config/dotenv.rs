//! Minimal `.env` reader with python-dotenv's rules that matter here: `KEY=value` lines,
//! optional `export `, quotes, `#` comments, and never overriding variables already set.

use std::path::Path;

/// Set the variables of `path` that are not set yet; returns those it set.
pub(super) fn load_into_process(path: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut applied = Vec::new();
    for (key, value) in parse(&text) {
        if std::env::var_os(&key).is_none() {
            // SAFETY: called once at start-up from the main thread, before any other thread
            // (tokio, Python pools) is started.
            #[expect(unsafe_code, reason = "set_var is unsafe in edition 2024; single-threaded start-up")]
            unsafe {
                std::env::set_var(&key, &value);
            }
            applied.push((key, value));
        }
    }
    applied
}

pub(super) fn parse(text: &str) -> Vec<(String, String)> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    let value = value.trim();
    let value = if let Some(inner) = value.strip_prefix('"').and_then(|v| v.rsplit_once('"')).map(|(v, _)| v) {
        inner.replace("\\n", "\n").replace("\\\"", "\"")
    } else if let Some(inner) = value
        .strip_prefix('\'')
        .and_then(|v| v.rsplit_once('\''))
        .map(|(v, _)| v)
    {
        inner.to_owned()
    } else {
        // Unquoted: an inline comment starts at " #".
        value.split(" #").next().unwrap_or("").trim_end().to_owned()
    };
    Some((key.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_dotenv_forms() {
        let text = "# c\nA=1\nexport B = two \nC=\"q # not comment\"\nD='single'\nE=x # comment\n=bad\nnoeq\nF=\n";
        let pairs = parse(text);
        let expected = [
            ("A", "1"),
            ("B", "two"),
            ("C", "q # not comment"),
            ("D", "single"),
            ("E", "x"),
            ("F", ""),
        ];
        assert_eq!(pairs.len(), expected.len());
        for ((k, v), (ek, ev)) in pairs.iter().zip(expected) {
            assert_eq!((k.as_str(), v.as_str()), (ek, ev));
        }
    }
}
