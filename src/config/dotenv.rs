//! `.env` files read the way upstream reads them: python-dotenv 1.2's `load_dotenv(path)`.
//! Same grammar (each pattern below is python-dotenv's), same escapes, same `${VAR}` and
//! `${VAR:-default}` expansion, and variables already set are never overridden.
//!
//! Why not a crate: dotenvy 0.15, run on the cases of tests/test_dotenv_parity.py, rejects
//! unquoted values with spaces (`KEY = a b`), the `\t` and `\'` escapes and lines without `=`,
//! has no `${VAR:-default}`, and expands a bare `$name` (so `pa$word` became `pa`). Files that
//! load under upstream would load differently here, so the grammar is ported instead, and the
//! parity test runs python-dotenv itself on the same file.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

/// Set the variables of `path` that are not set yet; returns those it set.
pub(super) fn load_into_process(path: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let values = resolve(parse(&text), |name| std::env::var(name).ok());
    let mut applied = Vec::new();
    for (key, value) in values {
        let Some(value) = value else { continue };
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

/// python-dotenv's patterns (`dotenv/parser.py`), anchored at the reader's position.
fn pattern(source: &str) -> Regex {
    Regex::new(&format!(r"\A(?:{source})")).expect("a fixed pattern")
}
static MULTILINE_WHITESPACE: LazyLock<Regex> = LazyLock::new(|| pattern(r"\s*"));
static WHITESPACE: LazyLock<Regex> = LazyLock::new(|| pattern(r"[^\S\r\n]*"));
static EXPORT: LazyLock<Regex> = LazyLock::new(|| pattern(r"(?:export[^\S\r\n]+)?"));
static SINGLE_QUOTED_KEY: LazyLock<Regex> = LazyLock::new(|| pattern(r"'([^']+)'"));
static UNQUOTED_KEY: LazyLock<Regex> = LazyLock::new(|| pattern(r"([^=\#\s]+)"));
static EQUAL_SIGN: LazyLock<Regex> = LazyLock::new(|| pattern(r"(=[^\S\r\n]*)"));
static SINGLE_QUOTED_VALUE: LazyLock<Regex> = LazyLock::new(|| pattern(r"(?s)'((?:\\.|[^'\\])*)'"));
static DOUBLE_QUOTED_VALUE: LazyLock<Regex> = LazyLock::new(|| pattern(r#"(?s)"((?:\\.|[^"\\])*)""#));
static UNQUOTED_VALUE: LazyLock<Regex> = LazyLock::new(|| pattern(r"([^\r\n]*)"));
static COMMENT: LazyLock<Regex> = LazyLock::new(|| pattern(r"(?:[^\S\r\n]*#[^\r\n]*)?"));
static END_OF_LINE: LazyLock<Regex> = LazyLock::new(|| pattern(r"[^\S\r\n]*(?:\r\n|\n|\r|$)"));
static REST_OF_LINE: LazyLock<Regex> = LazyLock::new(|| pattern(r"[^\r\n]*(?:\r|\n|\r\n)?"));
static INLINE_COMMENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+#.*").expect("a fixed pattern"));
static DOUBLE_QUOTE_ESCAPES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\\[\\'"abfnrtv]"#).expect("a fixed pattern"));
static SINGLE_QUOTE_ESCAPES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\\[\\']").expect("a fixed pattern"));
static VARIABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\{(?P<name>[^\}:]*)(?::-(?P<default>[^\}]*))?\}").expect("a fixed pattern"));

/// A cursor over the file; `read` matches a pattern at the cursor or fails the binding.
struct Reader<'a> {
    text: &'a str,
    position: usize,
}

/// The current line is not a valid binding (python-dotenv warns and skips it).
struct InvalidLine;

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.position..]
    }

    /// Match at the cursor and move past it; the first group, if the pattern has one.
    fn read(&mut self, regex: &Regex) -> Result<&'a str, InvalidLine> {
        let rest = self.rest();
        let captures = regex.captures(rest).ok_or(InvalidLine)?;
        self.position += captures.get(0).map_or(0, |m| m.end());
        Ok(captures.get(1).map_or("", |m| m.as_str()))
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
}

/// Every `KEY[=value]` binding in file order; a key without `=` has no value.
fn parse(text: &str) -> Vec<(String, Option<String>)> {
    let mut reader = Reader { text, position: 0 };
    let mut bindings = Vec::new();
    while reader.position < text.len() {
        let start = reader.position;
        match parse_binding(&mut reader) {
            Ok(Some(binding)) => bindings.push(binding),
            Ok(None) => {}
            Err(InvalidLine) => {
                reader.position = start;
                reader.read(&REST_OF_LINE).ok();
                let line = text[..start].matches('\n').count() + 1;
                tracing::warn!(
                    ".env: could not parse the statement starting at line {line}; it is ignored (check its quotes)"
                );
            }
        }
        if reader.position == start {
            break; // nothing consumed: the end of the text
        }
    }
    bindings
}

fn parse_binding(reader: &mut Reader<'_>) -> Result<Option<(String, Option<String>)>, InvalidLine> {
    reader.read(&MULTILINE_WHITESPACE)?;
    if reader.peek().is_none() {
        return Ok(None);
    }
    reader.read(&EXPORT)?;
    let key = match reader.peek() {
        Some('#') => None,
        Some('\'') => Some(reader.read(&SINGLE_QUOTED_KEY)?.to_owned()),
        _ => Some(reader.read(&UNQUOTED_KEY)?.to_owned()),
    };
    reader.read(&WHITESPACE)?;
    let value = if reader.peek() == Some('=') {
        let equal_sign = reader.read(&EQUAL_SIGN)?;
        // `KEY= # comment` is empty; `KEY=#value` keeps the `#`.
        if equal_sign.len() > 1 && reader.peek() == Some('#') {
            Some(String::new())
        } else {
            Some(parse_value(reader)?)
        }
    } else {
        None
    };
    reader.read(&COMMENT)?;
    reader.read(&END_OF_LINE)?;
    Ok(key.map(|key| (key, value)))
}

fn parse_value(reader: &mut Reader<'_>) -> Result<String, InvalidLine> {
    match reader.peek() {
        Some('\'') => Ok(decode_escapes(
            &SINGLE_QUOTE_ESCAPES,
            reader.read(&SINGLE_QUOTED_VALUE)?,
        )),
        Some('"') => Ok(decode_escapes(
            &DOUBLE_QUOTE_ESCAPES,
            reader.read(&DOUBLE_QUOTED_VALUE)?,
        )),
        None | Some('\n' | '\r') => Ok(String::new()),
        Some(_) => {
            let part = reader.read(&UNQUOTED_VALUE)?;
            Ok(INLINE_COMMENT.replace_all(part, "").trim_end().to_owned())
        }
    }
}

/// Python's `unicode-escape` decoding of the escapes python-dotenv decodes.
fn decode_escapes(escapes: &Regex, text: &str) -> String {
    escapes
        .replace_all(text, |caps: &regex::Captures<'_>| match &caps[0][1..] {
            "a" => "\x07".to_owned(),
            "b" => "\x08".to_owned(),
            "f" => "\x0c".to_owned(),
            "n" => "\n".to_owned(),
            "r" => "\r".to_owned(),
            "t" => "\t".to_owned(),
            "v" => "\x0b".to_owned(),
            other => other.to_owned(), // \\ \' \"
        })
        .into_owned()
}

/// python-dotenv's `resolve_variables(values, override=False)`: `${NAME}` / `${NAME:-default}`
/// in every value, looked up in the environment first, then in the file's earlier bindings.
/// Later bindings of a key replace earlier ones (kept at the first one's place, like a dict).
fn resolve(
    bindings: Vec<(String, Option<String>)>,
    environment: impl Fn(&str) -> Option<String>,
) -> Vec<(String, Option<String>)> {
    let mut resolved: Vec<(String, Option<String>)> = Vec::new();
    for (key, value) in bindings {
        let value = value.map(|value| {
            VARIABLE
                .replace_all(&value, |caps: &regex::Captures<'_>| {
                    let name = &caps["name"];
                    let found = environment(name)
                        .map(Some)
                        .or_else(|| resolved.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()));
                    match found {
                        Some(value) => value.unwrap_or_default(),
                        None => caps.name("default").map_or("", |m| m.as_str()).to_owned(),
                    }
                })
                .into_owned()
        });
        match resolved.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => resolved.push((key, value)),
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::{parse, resolve};

    fn values(text: &str, environment: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
        resolve(parse(text), |name| {
            environment
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn pairs(expected: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
            .collect()
    }

    #[test]
    fn parses_dotenv_forms() {
        let text = "# c\nA=1\nexport B = two \nC=\"q # not comment\"\nD='single'\nE=x # comment\n=bad\nnoeq\nF=\nG= # empty\nH=#kept\n";
        let expected = [
            ("A", Some("1")),
            ("B", Some("two")),
            ("C", Some("q # not comment")),
            ("D", Some("single")),
            ("E", Some("x")),
            ("noeq", None),
            ("F", Some("")),
            ("G", Some("")),
            ("H", Some("#kept")),
        ];
        assert_eq!(values(text, &[]), pairs(&expected));
    }

    #[test]
    fn quotes_escapes_and_multiline_values() {
        let text = "DQ=\"a\\tb\\n\\\"c\\\"\"\nSQ='it\\'s \\n'\nM=\"one\ntwo\"\nJUNK=\"x\" y\nAFTER=ok\n";
        let expected = [
            ("DQ", Some("a\tb\n\"c\"")),
            ("SQ", Some("it's \\n")),
            ("M", Some("one\ntwo")),
            ("AFTER", Some("ok")),
        ];
        assert_eq!(values(text, &[]), pairs(&expected));
    }

    #[test]
    fn expands_braced_variables_environment_first() {
        let text = "A=file\nB=${A}/x\nC=${SHELL_ONLY}-${NOPE:-dflt}-${NOPE}\nD=pa$word\nE='${A}'\nA=again\n";
        let expected = [
            ("A", Some("again")),
            ("B", Some("file/x")),
            ("C", Some("shell-dflt-")),
            ("D", Some("pa$word")),
            ("E", Some("file")),
        ];
        assert_eq!(values(text, &[("SHELL_ONLY", "shell")]), pairs(&expected));
        // The environment wins over the file's own bindings.
        assert_eq!(values("A=file\nB=${A}\n", &[("A", "env")])[1].1.as_deref(), Some("env"));
    }
}
