//! Tokens of one side of a signature, read the way Python reads `def f(<side>): pass`.

use super::SignatureError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Name(String),
    /// A string literal's value (escapes resolved).
    Str(String),
    /// A number's source text.
    Number(String),
    /// One of `, : [ ] ( ) | . = * ** / + - ~ ...`.
    Op(&'static str),
}

const OPS: [&str; 16] = [
    "...", "**", ",", ":", "[", "]", "(", ")", "|", ".", "=", "*", "/", "+", "-", "~",
];

pub(super) fn tokenize(text: &str) -> Result<Vec<Token>, SignatureError> {
    check_brackets(text)?;
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if c == '\'' || c == '"' {
            let (value, len) = string_literal(rest, c)?;
            tokens.push(Token::Str(value));
            rest = &rest[len..];
        } else if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            let len = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
                .unwrap_or(rest.len());
            tokens.push(Token::Number(rest[..len].to_owned()));
            rest = &rest[len..];
        } else if c.is_alphabetic() || c == '_' {
            let len = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            // A name glued to a quote is a string prefix (r'', b'', f''): not supported here.
            if rest[len..].starts_with(['\'', '"']) {
                return Err(SignatureError::syntax());
            }
            tokens.push(Token::Name(rest[..len].to_owned()));
            rest = &rest[len..];
        } else if let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) {
            tokens.push(Token::Op(op));
            rest = &rest[op.len()..];
        } else {
            return Err(SignatureError::syntax());
        }
    }
    Ok(tokens)
}

/// Reads a quoted literal at the start of `text`; returns its value and source length.
fn string_literal(text: &str, quote: char) -> Result<(String, usize), SignatureError> {
    let mut value = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            _ if c == quote => return Ok((value, i + 1)),
            '\n' => break,
            '\\' => {
                let (_, escaped) = chars.next().ok_or_else(unterminated)?;
                match escaped {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    'r' => value.push('\r'),
                    '0' => value.push('\0'),
                    '\\' | '\'' | '"' => value.push(escaped),
                    other => {
                        value.push('\\');
                        value.push(other);
                    }
                }
            }
            _ => value.push(c),
        }
    }
    Err(unterminated())
}

fn unterminated() -> SignatureError {
    SignatureError::python_syntax("unterminated string literal (detected at line 1)")
}

/// Bracket errors in Python's words. The side sits inside `def f(` ... `)`, so an unclosed
/// `[` meets that final `)`.
fn check_brackets(text: &str) -> Result<(), SignatureError> {
    let mut stack = vec!['('];
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars().chain([')']) {
        if let Some(q) = quote {
            match c {
                '\\' if !escaped => escaped = true,
                _ if c == q && !escaped => quote = None,
                _ => escaped = false,
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let Some(open) = stack.pop() else {
                    return Err(SignatureError::python_syntax(&format!("unmatched '{c}'")));
                };
                if closer(open) != c {
                    return Err(SignatureError::python_syntax(&format!(
                        "closing parenthesis '{c}' does not match opening parenthesis '{open}'"
                    )));
                }
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err(unterminated());
    }
    match stack.last() {
        Some(open) => Err(SignatureError::python_syntax(&format!("'{open}' was never closed"))),
        None => Ok(()),
    }
}

fn closer(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        tokenize(text).unwrap_err().to_string()
    }

    #[test]
    fn tokens_of_a_typed_side() {
        let tokens = tokenize(" x: Literal['a', \"b\"], n: tuple[int, ...] ").unwrap();
        assert_eq!(tokens[0], Token::Name("x".into()));
        assert_eq!(tokens[4], Token::Str("a".into()));
        assert_eq!(tokens[6], Token::Str("b".into()));
        assert!(tokens.contains(&Token::Op("...")));
        assert_eq!(tokenize("ünï: str").unwrap()[0], Token::Name("ünï".into()));
        assert_eq!(tokenize("x: Literal['it\\'s']").unwrap()[4], Token::Str("it's".into()));
    }

    #[test]
    fn bracket_errors_use_python_messages() {
        assert_eq!(
            err("x: int["),
            "closing parenthesis ')' does not match opening parenthesis '[' (<unknown>, line 1)"
        );
        assert_eq!(
            err("x: int]"),
            "closing parenthesis ']' does not match opening parenthesis '(' (<unknown>, line 1)"
        );
        assert_eq!(err("x)"), "unmatched ')' (<unknown>, line 1)");
        assert_eq!(
            err("x: Literal['abc]"),
            "unterminated string literal (detected at line 1) (<unknown>, line 1)"
        );
    }
}
