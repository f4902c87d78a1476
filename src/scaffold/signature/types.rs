//! What a type annotation means, checked the way `dspy.Signature` checks it, and printed the
//! way dspy-cli's `type_to_string` prints it (`Optional[int]`, `Literal['a', 'b']`, `dspy.Image`).

use super::SignatureError;
use super::parser::{Const, Expr};
use super::repr::{dump, python_repr};

/// Special forms that only make sense with arguments (pydantic rejects them bare).
const FORMS: [&str; 11] = [
    "Optional",
    "Union",
    "Literal",
    "Annotated",
    "ClassVar",
    "Final",
    "Required",
    "NotRequired",
    "TypeGuard",
    "Unpack",
    "Concatenate",
];

/// `typing` generic aliases with their parameter count (0: any count).
const ALIASES: [(&str, usize); 21] = [
    ("List", 1),
    ("Dict", 2),
    ("Set", 1),
    ("FrozenSet", 1),
    ("Tuple", 0),
    ("Type", 1),
    ("Sequence", 1),
    ("Mapping", 2),
    ("MutableMapping", 2),
    ("MutableSequence", 1),
    ("MutableSet", 1),
    ("AbstractSet", 1),
    ("Iterable", 1),
    ("Iterator", 1),
    ("Collection", 1),
    ("Deque", 1),
    ("DefaultDict", 2),
    ("OrderedDict", 2),
    ("Counter", 1),
    ("ChainMap", 2),
    ("Callable", 0),
];

const BUILTIN_GENERICS: [&str; 6] = ["list", "dict", "tuple", "set", "frozenset", "type"];
const BUILTIN_CLASSES: [&str; 7] = ["int", "str", "float", "bool", "complex", "bytes", "bytearray"];

/// The field types dspy itself exports (`dspy.Image`, ...).
const DSPY_TYPES: [&str; 9] = [
    "Image",
    "Audio",
    "History",
    "Code",
    "File",
    "Reasoning",
    "Tool",
    "ToolCalls",
    "Type",
];

/// Every `typing` name a rendered type may use, for the generated `from typing import ...`.
pub(super) fn is_typing_name(name: &str) -> bool {
    name == "Any" || FORMS.contains(&name) || ALIASES.iter().any(|(n, _)| *n == name)
}

/// A resolved annotation.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ty {
    /// `int`, `Any`, `dspy.Image`, a bare `List`.
    Class(String),
    /// A special form not (yet) given arguments: `Optional`, `Literal`...
    Form(&'static str),
    /// `list[str]`, `Dict[str, Any]`, `Literal['a']`.
    Generic(String, Vec<Ty>),
    /// Flattened members, `NoneType` included.
    Union(Vec<Ty>),
    NoneType,
    /// A literal value (inside `Literal[...]`, or `...` in `tuple[int, ...]`).
    Value(Const),
    Tuple(Vec<Ty>),
    Module(&'static str),
}

pub(super) fn evaluate(expr: &Expr) -> Result<Ty, SignatureError> {
    match expr {
        Expr::Name(name) => resolve_name(name),
        Expr::Attribute(base, attr) => attribute(&evaluate(base)?, attr),
        Expr::Subscript(base, slice) => {
            let args = match &**slice {
                Expr::Tuple(items) => items.iter().map(evaluate).collect::<Result<Vec<_>, _>>()?,
                single => vec![evaluate(single)?],
            };
            subscript(evaluate(base)?, args)
        }
        Expr::BinOp(left, "|", right) => Ok(union(vec![evaluate(left)?, evaluate(right)?])),
        Expr::Tuple(items) => Ok(Ty::Tuple(items.iter().map(evaluate).collect::<Result<_, _>>()?)),
        Expr::Constant(Const::None) => Ok(Ty::NoneType),
        Expr::Constant(c) => Ok(Ty::Value(c.clone())),
        other => Err(SignatureError::new(&format!(
            "Failed to parse string-base Signature due to unhandled AST node type in annotation: {}. \
             Please consider using class-based DSPy Signatures instead.",
            dump(other)
        ))),
    }
}

fn resolve_name(name: &str) -> Result<Ty, SignatureError> {
    if let Some(form) = FORMS.iter().find(|f| **f == name) {
        return Ok(Ty::Form(form));
    }
    match name {
        "Text" => Ok(Ty::Class("str".into())),
        "NoneType" => Ok(Ty::NoneType),
        "dspy" => Ok(Ty::Module("dspy")),
        "typing" => Ok(Ty::Module("typing")),
        _ if is_typing_name(name) || BUILTIN_GENERICS.contains(&name) || BUILTIN_CLASSES.contains(&name) => {
            Ok(Ty::Class(name.to_owned()))
        }
        _ => Err(SignatureError::new(&format!("Unknown name: {name}"))),
    }
}

fn attribute(base: &Ty, attr: &str) -> Result<Ty, SignatureError> {
    match base {
        Ty::Module("dspy") if DSPY_TYPES.contains(&attr) => Ok(Ty::Class(format!("dspy.{attr}"))),
        Ty::Module("typing") => resolve_name(attr).map_err(|_| unknown_attribute(attr, base)),
        _ => Err(unknown_attribute(attr, base)),
    }
}

fn unknown_attribute(attr: &str, base: &Ty) -> SignatureError {
    SignatureError::new(&format!("Unknown attribute: {attr} on {}", python_str(base)))
}

fn subscript(base: Ty, args: Vec<Ty>) -> Result<Ty, SignatureError> {
    match base {
        Ty::Form("Optional") if args.len() != 1 => {
            Err(SignatureError::new("Optional must have exactly one type argument"))
        }
        Ty::Form("Optional") => Ok(union(args.into_iter().chain([Ty::NoneType]).collect())),
        Ty::Form("Union") => Ok(union(args)),
        // pydantic keeps Annotated's metadata out of the annotation.
        Ty::Form("Annotated") => Ok(args.into_iter().next().unwrap_or(Ty::NoneType)),
        Ty::Form(form) => Ok(Ty::Generic(form.to_owned(), args)),
        Ty::Class(name) if BUILTIN_CLASSES.contains(&name.as_str()) => {
            Err(SignatureError::new(&format!("type '{name}' is not subscriptable")))
        }
        Ty::Class(name) if name.starts_with("dspy.") => Err(SignatureError::new(&format!(
            "<class '{name}'> cannot be parametrized because it does not inherit from typing.Generic"
        ))),
        Ty::Class(name) => {
            check_alias_arity(&name, args.len())?;
            Ok(Ty::Generic(name, args))
        }
        generic @ Ty::Generic(..) => Err(SignatureError::new(&format!(
            "{} is not a generic class",
            render(&generic)
        ))),
        other => Err(SignatureError::new(&format!(
            "'{}' object is not subscriptable",
            python_type(&other)
        ))),
    }
}

fn check_alias_arity(name: &str, actual: usize) -> Result<(), SignatureError> {
    let Some((_, expected)) = ALIASES.iter().find(|(n, _)| *n == name) else {
        return Ok(());
    };
    let relation = match actual.cmp(expected) {
        _ if *expected == 0 => return Ok(()),
        std::cmp::Ordering::Less => "few",
        std::cmp::Ordering::Greater => "many",
        std::cmp::Ordering::Equal => return Ok(()),
    };
    Err(SignatureError::new(&format!(
        "Too {relation} arguments for typing.{name}; actual {actual}, expected {expected}"
    )))
}

/// `Union` semantics: nested unions flatten, duplicates go, a single member stands alone.
fn union(members: Vec<Ty>) -> Ty {
    let mut flat: Vec<Ty> = Vec::new();
    for member in members {
        let parts = match member {
            Ty::Union(inner) => inner,
            other => vec![other],
        };
        for part in parts {
            if !flat.contains(&part) {
                flat.push(part);
            }
        }
    }
    if flat.len() == 1 {
        flat.remove(0)
    } else {
        Ty::Union(flat)
    }
}

/// `make_signature`'s check: a field's annotation must be a type.
pub(super) fn check_is_type(ty: &Ty) -> Result<(), SignatureError> {
    let type_name = match ty {
        Ty::Value(_) | Ty::Tuple(_) | Ty::Module(_) => python_type(ty),
        Ty::Class(name) if name == "Callable" => "typing._CallableType".to_owned(),
        _ => return Ok(()),
    };
    Err(SignatureError::new(&format!(
        "Field types must be types, but received: {} of type <class '{type_name}'>.",
        python_str(ty)
    )))
}

/// pydantic's schema checks, anywhere in the type.
pub(super) fn check_schema(ty: &Ty) -> Result<(), SignatureError> {
    match ty {
        Ty::Form(form) => Err(SignatureError::new(&format!(
            "Unable to generate pydantic-core schema for typing.{form}. Set `arbitrary_types_allowed=True` \
             in the model_config to ignore this error or implement `__get_pydantic_core_schema__` on \
             your type to fully support it."
        ))),
        Ty::Class(name) if name == "bytearray" || name == "complex" => Err(SignatureError::new(&format!(
            "Unable to generate pydantic-core schema for <class '{name}'>. Set `arbitrary_types_allowed=True` \
             in the model_config to ignore this error or implement `__get_pydantic_core_schema__` on \
             your type to fully support it."
        ))),
        Ty::Generic(name, args) if name == "dict" && args.len() < 2 => Err(SignatureError::new(&format!(
            "Expected two type arguments for <class 'dict'>, got {}",
            args.len()
        ))),
        Ty::Generic(name, _) if name == "Literal" => Ok(()),
        Ty::Generic(_, members) | Ty::Union(members) => members.iter().try_for_each(check_schema),
        _ => Ok(()),
    }
}

/// The annotation as dspy-cli writes it into generated files. Where upstream printed a name
/// the file could not resolve (`NoneType`, `dspy.adapters.types.image.Image`) we print
/// `None` and `dspy.Image`, which mean the same and import cleanly.
pub(super) fn render(ty: &Ty) -> String {
    match ty {
        Ty::Class(name) => name.clone(),
        Ty::Form(form) => (*form).to_owned(),
        Ty::Module(module) => (*module).to_owned(),
        Ty::NoneType => "None".to_owned(),
        Ty::Value(c) => python_repr(c),
        Ty::Generic(base, args) => format!("{base}[{}]", join(args)),
        Ty::Tuple(items) if items.len() == 1 => format!("({},)", render(&items[0])),
        Ty::Tuple(items) => format!("({})", join(items)),
        Ty::Union(members) => match members.iter().position(|m| *m == Ty::NoneType) {
            Some(none) if members.len() == 2 => format!("Optional[{}]", render(&members[1 - none])),
            _ => format!("Union[{}]", join(members)),
        },
    }
}

fn join(types: &[Ty]) -> String {
    types.iter().map(render).collect::<Vec<_>>().join(", ")
}

/// Python's `str()` of a value, for error messages.
fn python_str(ty: &Ty) -> String {
    match ty {
        Ty::Value(Const::Str(s)) => s.clone(),
        Ty::Module(m) => format!("<module '{m}'>"),
        Ty::Class(name) if name == "Callable" => "typing.Callable".to_owned(),
        other => render(other),
    }
}

fn python_type(ty: &Ty) -> String {
    let name = match ty {
        Ty::Value(Const::Str(_)) => "str",
        Ty::Value(Const::Int(_)) => "int",
        Ty::Value(Const::Float(_)) => "float",
        Ty::Value(Const::Bool(_)) => "bool",
        Ty::Value(Const::Ellipsis) => "ellipsis",
        Ty::Value(Const::None) | Ty::NoneType => "NoneType",
        Ty::Tuple(_) => "tuple",
        Ty::Module(_) => "module",
        _ => "type",
    };
    name.to_owned()
}
