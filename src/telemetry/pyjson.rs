//! JSON text the way Python's `json.dumps` writes it by default: `", "` and `": "` separators and
//! `ensure_ascii=True`, so log lines stay byte-compatible with dspy-cli's.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if ch.is_ascii() && ch != '\x7f' {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// Append `value` to `out` in Python's default `json.dumps` style.
pub(crate) fn write_python_json(out: &mut Vec<u8>, value: &impl Serialize) {
    let mut ser = serde_json::Serializer::with_formatter(out, PythonFormatter);
    // Serialising a serde_json::Value into a Vec cannot fail.
    value.serialize(&mut ser).ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_json_dumps() {
        let v = serde_json::json!({"a": [1, 2.5, "é😀\u{7f}"], "b": {"c": null, "d": true}, "e": 16.0});
        let mut out = Vec::new();
        write_python_json(&mut out, &v);
        // json.dumps({"a": [1, 2.5, "é😀\x7f"], "b": {"c": None, "d": True}, "e": 16.0})
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a": [1, 2.5, "\u00e9\ud83d\ude00\u007f"], "b": {"c": null, "d": true}, "e": 16.0}"#
        );
    }
}
