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

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(python_float_repr(value).as_bytes())
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

/// `repr(float)` in Python: the shortest round-trip digits, positional when the decimal exponent
/// is in -4..16, otherwise `d.ddde+XX` with at least two exponent digits (`1e-05`, `1e+16`).
fn python_float_repr(value: f64) -> String {
    if !value.is_finite() {
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    // Rust's `{:e}` gives the same shortest round-trip digits as Python's repr.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exponent + 1; // digits before the decimal point
    if -4 < point && point <= 16 {
        let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point >= len {
            format!("{digits}{}.0", "0".repeat((point - len).unsigned_abs() as usize))
        } else {
            let (whole, fraction) = digits.split_at(point.unsigned_abs() as usize);
            format!("{whole}.{fraction}")
        };
        return format!("{sign}{text}");
    }
    let (first, rest) = digits.split_at(1);
    let fraction = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    let exponent_sign = if exponent < 0 { '-' } else { '+' };
    format!("{sign}{first}{fraction}e{exponent_sign}{:02}", exponent.unsigned_abs())
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
    fn floats_match_python_repr() {
        let cases = [
            (16.0, "16.0"),
            (16.49, "16.49"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.94e-5, "2.94e-05"),
            (1.5e-7, "1.5e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (123_456_789_012_345_680.0, "1.2345678901234568e+17"),
            (-0.5, "-0.5"),
            (0.0, "0.0"),
            (1e100, "1e+100"),
        ];
        for (value, expected) in cases {
            assert_eq!(python_float_repr(value), expected, "{value}");
        }
    }

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
