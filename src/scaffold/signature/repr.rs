//! Python's text for values and syntax trees: `repr()` of literals (as `Literal[...]` prints
//! them) and `ast.dump()` (as dspy quotes a node it cannot handle).

use std::fmt::Write as _;

use super::parser::{Const, Expr};

/// Python's `repr()` of a literal.
pub(super) fn python_repr(c: &Const) -> String {
    match c {
        Const::Str(s) => repr_str(s),
        Const::Int(text) => repr_int(text),
        Const::Float(text) => repr_float(text),
        Const::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        Const::None => "None".to_owned(),
        Const::Ellipsis => "...".to_owned(),
    }
}

/// Python's `repr()` of a string (also how click quotes names and values in its errors).
pub(crate) fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ if c == quote => {
                out.push('\\');
                out.push(c);
            }
            _ if c.is_control() => {
                write!(out, "\\x{:02x}", u32::from(c)).expect("writing to a String cannot fail");
            }
            _ => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn repr_int(text: &str) -> String {
    let digits = text.replace('_', "");
    let lower = digits.to_ascii_lowercase();
    let parsed = match lower.get(..2) {
        Some("0x") => i128::from_str_radix(&lower[2..], 16),
        Some("0o") => i128::from_str_radix(&lower[2..], 8),
        Some("0b") => i128::from_str_radix(&lower[2..], 2),
        _ => lower.parse(),
    };
    parsed.map_or(digits, |n| n.to_string())
}

/// Python's float repr: shortest digits, scientific below 1e-4 and from 1e16.
fn repr_float(text: &str) -> String {
    let Ok(value) = text.replace('_', "").parse::<f64>() else {
        return text.to_owned();
    };
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if value == 0.0 || (-4..16).contains(&exponent) {
        let plain = value.to_string();
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// Python's `ast.dump()` of a node, for the "unhandled AST node" message.
pub(super) fn dump(expr: &Expr) -> String {
    let list = |items: &[Expr]| items.iter().map(dump).collect::<Vec<_>>().join(", ");
    match expr {
        Expr::Name(id) => format!("Name(id='{id}', ctx=Load())"),
        Expr::Attribute(value, attr) => format!("Attribute(value={}, attr='{attr}', ctx=Load())", dump(value)),
        Expr::Subscript(value, slice) => format!("Subscript(value={}, slice={}, ctx=Load())", dump(value), dump(slice)),
        Expr::BinOp(left, op, right) => format!(
            "BinOp(left={}, op={}(), right={})",
            dump(left),
            op_name(op),
            dump(right)
        ),
        Expr::UnaryOp(op, operand) => format!("UnaryOp(op={}(), operand={})", unary_name(op), dump(operand)),
        Expr::Tuple(items) => format!("Tuple(elts=[{}], ctx=Load())", list(items)),
        Expr::List(items) => format!("List(elts=[{}], ctx=Load())", list(items)),
        Expr::Call(func, args) => format!("Call(func={}, args=[{}], keywords=[])", dump(func), list(args)),
        Expr::Constant(Const::Ellipsis) => "Constant(value=Ellipsis)".to_owned(),
        Expr::Constant(c) => format!("Constant(value={})", python_repr(c)),
    }
}

fn op_name(op: &str) -> &'static str {
    match op {
        "|" => "BitOr",
        "+" => "Add",
        "-" => "Sub",
        "*" => "Mult",
        "/" => "Div",
        _ => "Pow",
    }
}

fn unary_name(op: &str) -> &'static str {
    match op {
        "-" => "USub",
        "+" => "UAdd",
        _ => "Invert",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_reprs() {
        assert_eq!(repr_str("a"), "'a'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a\"b'c"), "'a\"b\\'c'");
        assert_eq!(repr_str("a\\b\nc"), "'a\\\\b\\nc'");
        assert_eq!(repr_int("0x10"), "16");
        assert_eq!(repr_int("1_000"), "1000");
        assert_eq!(repr_float("1e20"), "1e+20");
        assert_eq!(repr_float("1.0"), "1.0");
        assert_eq!(repr_float("1.50"), "1.5");
        assert_eq!(repr_float("0.00001"), "1e-05");
    }
}
