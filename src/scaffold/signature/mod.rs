//! Signature strings (`"context: list[str], question -> answer"`), parsed in Rust with the
//! rules and error texts of `dspy.Signature`, so `new` and `generate` never start Python.
//!
//! Upstream asked dspy itself; our parser accepts the same grammar (a Python parameter list
//! per side, `typing` names, builtins, `dspy.<Type>`) and rejects what dspy rejects with
//! dspy's message. Names dspy would import on the fly (`datetime.date`) are not known here
//! and are reported as unknown.
//!
//! Why not Python's `ast` (which dspy parses with): kept after a parity check.
//! tests/scaffold/test_signature_parity.py runs `dspy.Signature` itself on 46 strings and our
//! `generate signature` on the same ones: same field names and types, same messages. What
//! `ast` would still do better: `SyntaxError` texts follow the running interpreter, while ours
//! are the ones CPython 3.11 gives (later versions reworded some); the parity test shows it. Moving
//! to `ast` means a call into Python from `scaffold/`, which today only `engine/` makes.

mod lexer;
mod parser;
mod repr;
mod types;

pub(crate) use repr::repr_str;

use std::collections::BTreeSet;

/// Why a signature string was rejected (the text dspy would give).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SignatureError(String);

impl SignatureError {
    fn new(message: &str) -> Self {
        Self(message.to_owned())
    }

    /// A `SyntaxError` as Python prints it for `ast.parse("def f(<side>): pass")`.
    fn python_syntax(message: &str) -> Self {
        Self(format!("{message} (<unknown>, line 1)"))
    }

    fn syntax() -> Self {
        Self::python_syntax("invalid syntax")
    }
}

/// A named field and its annotation as written into generated code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) ty: String,
}

impl Field {
    pub(crate) fn new(name: &str, ty: &str) -> Self {
        Self {
            name: name.to_owned(),
            ty: ty.to_owned(),
        }
    }
}

/// The input and output fields of a signature, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignatureFields {
    pub(crate) inputs: Vec<Field>,
    pub(crate) outputs: Vec<Field>,
}

impl SignatureFields {
    /// `question: str -> answer: str`, used when no signature was given.
    pub(crate) fn question_answer() -> Self {
        Self {
            inputs: vec![Field::new("question", "str")],
            outputs: vec![Field::new("answer", "str")],
        }
    }

    /// Parse a signature string; untyped fields are `str`.
    pub(crate) fn parse(signature: &str) -> Result<Self, SignatureError> {
        if signature.matches("->").count() != 1 {
            return Err(SignatureError(format!(
                "Invalid signature format: '{signature}', must contain exactly one '->'."
            )));
        }
        let (inputs, outputs) = signature.split_once("->").unwrap_or((signature, ""));
        let inputs = parse_side(inputs)?;
        let outputs = parse_side(outputs)?;
        let duplicates: BTreeSet<&str> = inputs
            .iter()
            .filter(|(i, _)| outputs.iter().any(|(o, _)| o == i))
            .map(|(name, _)| name.as_str())
            .collect();
        if !duplicates.is_empty() {
            return Err(SignatureError(format!(
                "Input and output fields must have distinct names, but found duplicates: '{}'.",
                duplicates.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        // dspy checks that annotations are types, then pydantic builds the model.
        let all = || inputs.iter().chain(&outputs).map(|(_, ty)| ty);
        all().try_for_each(types::check_is_type)?;
        all().try_for_each(types::check_schema)?;
        let fields = |side: Vec<(String, types::Ty)>| {
            side.into_iter()
                .map(|(name, ty)| Field {
                    name,
                    ty: types::render(&ty),
                })
                .collect()
        };
        Ok(Self {
            inputs: fields(inputs),
            outputs: fields(outputs),
        })
    }

    /// The string guided mode prints: `name` for `str` fields, else `name:type`.
    pub(crate) fn to_compact_string(&self) -> String {
        let side = |fields: &[Field]| {
            fields
                .iter()
                .map(|f| {
                    if f.ty == "str" {
                        f.name.clone()
                    } else {
                        format!("{}:{}", f.name, f.ty)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!("{} -> {}", side(&self.inputs), side(&self.outputs))
    }
}

/// One side's fields; a repeated name keeps its first position and its last type, as in the
/// dict dspy builds.
fn parse_side(text: &str) -> Result<Vec<(String, types::Ty)>, SignatureError> {
    if text.trim_start().starts_with('(') {
        return Err(SignatureError::python_syntax(
            "Function parameters cannot be parenthesized",
        ));
    }
    let params = parser::parse_params(&lexer::tokenize(text)?)?;
    let mut fields: Vec<(String, types::Ty)> = Vec::new();
    for param in params {
        let ty = match &param.annotation {
            // An unannotated field, and one annotated `None`, default to str.
            None | Some(parser::Expr::Constant(parser::Const::None)) => types::Ty::Class("str".into()),
            Some(expr) => types::evaluate(expr)?,
        };
        match fields.iter_mut().find(|(name, _)| *name == param.name) {
            Some(existing) => existing.1 = ty,
            None => fields.push((param.name, ty)),
        }
    }
    Ok(fields)
}

/// The `typing` names used by these annotations, sorted, for a `from typing import` line.
/// Quoted text (inside `Literal[...]`) and attributes (`x.List`) are not names.
pub(crate) fn typing_imports<'a>(annotations: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut names = BTreeSet::new();
    for text in annotations {
        let mut chars = text.char_indices().peekable();
        let mut after_dot = false;
        while let Some((start, c)) = chars.next() {
            if c == '\'' || c == '"' {
                skip_quoted(&mut chars, c);
            } else if c.is_alphabetic() || c == '_' {
                let mut end = start + c.len_utf8();
                while let Some((i, ch)) = chars.next_if(|(_, ch)| ch.is_alphanumeric() || *ch == '_') {
                    end = i + ch.len_utf8();
                }
                if !after_dot && types::is_typing_name(&text[start..end]) {
                    names.insert(text[start..end].to_owned());
                }
            }
            after_dot = c == '.';
        }
    }
    names.into_iter().collect()
}

fn skip_quoted(chars: &mut impl Iterator<Item = (usize, char)>, quote: char) {
    let mut escaped = false;
    for (_, c) in chars {
        match c {
            '\\' if !escaped => escaped = true,
            _ if c == quote && !escaped => return,
            _ => escaped = false,
        }
    }
}

#[cfg(test)]
mod tests;
