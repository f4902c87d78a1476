//! A parser for the part of Python's grammar a signature side uses: a parameter list whose
//! annotations are type expressions. It builds a small AST; `types.rs` gives it meaning.

use super::SignatureError;
use super::lexer::Token;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Const {
    Str(String),
    Int(String),
    Float(String),
    Bool(bool),
    None,
    Ellipsis,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Name(String),
    Attribute(Box<Expr>, String),
    /// `value[slice]`; a comma-separated slice is a `Tuple`.
    Subscript(Box<Expr>, Box<Expr>),
    BinOp(Box<Expr>, &'static str, Box<Expr>),
    UnaryOp(&'static str, Box<Expr>),
    Tuple(Vec<Expr>),
    List(Vec<Expr>),
    Call(Box<Expr>, Vec<Expr>),
    Constant(Const),
}

/// A positional parameter (what Python's `ast` lists in `args.args`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Param {
    pub(super) name: String,
    pub(super) annotation: Option<Expr>,
}

const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
}

/// Parse one side: the parameters Python would put in `args.args`, in order. Parameters
/// after `*` are keyword-only and those before `/` positional-only: Python keeps them
/// elsewhere, so dspy (and we) drop them.
pub(super) fn parse_params(tokens: &[Token]) -> Result<Vec<Param>, SignatureError> {
    let mut parser = Parser { tokens, pos: 0 };
    let mut params = Vec::new();
    let (mut keyword_only, mut seen_default) = (false, false);
    while !parser.at_end() {
        match parser.peek() {
            Some(Token::Op("/")) => {
                parser.pos += 1;
                params.clear();
            }
            Some(Token::Op("*" | "**")) => {
                parser.pos += 1;
                keyword_only = true;
                if matches!(parser.peek(), Some(Token::Name(_))) {
                    parser.param()?;
                }
            }
            Some(Token::Op("(")) => {
                return Err(SignatureError::python_syntax(
                    "Function parameters cannot be parenthesized",
                ));
            }
            _ => {
                let (param, has_default) = parser.param()?;
                if !keyword_only {
                    if seen_default && !has_default {
                        return Err(SignatureError::python_syntax(
                            "non-default argument follows default argument",
                        ));
                    }
                    seen_default |= has_default;
                    params.push(param);
                }
            }
        }
        parser.separator()?;
    }
    Ok(params)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn eat(&mut self, op: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Op(o)) if *o == op);
        self.pos += usize::from(found);
        found
    }

    fn expect(&mut self, op: &str) -> Result<(), SignatureError> {
        if self.eat(op) { Ok(()) } else { Err(self.unexpected()) }
    }

    /// Python suggests a missing comma when two expressions stand side by side.
    fn unexpected(&self) -> SignatureError {
        match self.peek() {
            Some(Token::Name(_) | Token::Str(_) | Token::Number(_)) if self.pos > 0 => {
                SignatureError::python_syntax("invalid syntax. Perhaps you forgot a comma?")
            }
            _ => SignatureError::syntax(),
        }
    }

    /// After a parameter: a comma (a trailing one is fine) or the end of the side.
    fn separator(&mut self) -> Result<(), SignatureError> {
        if self.at_end() || self.eat(",") {
            return Ok(());
        }
        Err(self.unexpected())
    }

    fn param(&mut self) -> Result<(Param, bool), SignatureError> {
        let name = self.identifier().ok_or_else(SignatureError::syntax)?;
        let annotation = if self.eat(":") { Some(self.expr()?) } else { None };
        let has_default = self.eat("=");
        if has_default {
            self.expr()?;
        }
        if !(self.at_end() || matches!(self.peek(), Some(Token::Op(",")))) {
            return Err(if annotation.is_some() || has_default {
                self.unexpected()
            } else {
                SignatureError::syntax()
            });
        }
        Ok((Param { name, annotation }, has_default))
    }

    fn identifier(&mut self) -> Option<String> {
        match self.peek() {
            Some(Token::Name(n)) if !KEYWORDS.contains(&n.as_str()) => {
                let name = n.clone();
                self.pos += 1;
                Some(name)
            }
            _ => None,
        }
    }

    fn expr(&mut self) -> Result<Expr, SignatureError> {
        self.binary(&["|"], Self::arith)
    }

    fn arith(&mut self) -> Result<Expr, SignatureError> {
        self.binary(&["+", "-"], Self::term)
    }

    fn term(&mut self) -> Result<Expr, SignatureError> {
        self.binary(&["*", "/"], Self::unary)
    }

    fn binary(
        &mut self,
        ops: &[&'static str],
        operand: fn(&mut Self) -> Result<Expr, SignatureError>,
    ) -> Result<Expr, SignatureError> {
        let mut left = operand(self)?;
        while let Some(Token::Op(op)) = self.peek() {
            let Some(op) = ops.iter().find(|o| *o == op).copied() else {
                break;
            };
            self.pos += 1;
            left = Expr::BinOp(Box::new(left), op, Box::new(operand(self)?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, SignatureError> {
        for op in ["-", "+", "~"] {
            if self.eat(op) {
                return Ok(Expr::UnaryOp(op, Box::new(self.unary()?)));
            }
        }
        let base = self.primary()?;
        if self.eat("**") {
            return Ok(Expr::BinOp(Box::new(base), "**", Box::new(self.unary()?)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr, SignatureError> {
        let mut expr = self.atom()?;
        loop {
            if self.eat(".") {
                let attr = self.identifier().ok_or_else(SignatureError::syntax)?;
                expr = Expr::Attribute(Box::new(expr), attr);
            } else if self.eat("[") {
                let slice = self.sequence("]", true)?;
                expr = Expr::Subscript(Box::new(expr), Box::new(slice));
            } else if self.eat("(") {
                let args = match self.sequence(")", false)? {
                    Expr::Tuple(items) => items,
                    single => vec![single],
                };
                expr = Expr::Call(Box::new(expr), args);
            } else {
                return Ok(expr);
            }
        }
    }

    /// Comma-separated expressions up to `close`: a `Tuple` if there is a comma (or, outside
    /// a subscript, nothing at all), else the single expression.
    fn sequence(&mut self, close: &str, subscript: bool) -> Result<Expr, SignatureError> {
        let mut items = Vec::new();
        let mut comma = false;
        while !self.eat(close) {
            if !items.is_empty() {
                self.expect(",").map_err(|_| self.unexpected())?;
                comma = true;
                if self.eat(close) {
                    break;
                }
            }
            items.push(self.expr()?);
        }
        if items.is_empty() && subscript {
            // Python's own (odd) wording for `list[]`.
            return Err(SignatureError::python_syntax(
                "invalid syntax. Perhaps you forgot a comma?",
            ));
        }
        Ok(if comma || items.len() != 1 {
            Expr::Tuple(items)
        } else {
            items.remove(0)
        })
    }

    fn atom(&mut self) -> Result<Expr, SignatureError> {
        let token = self.peek().cloned().ok_or_else(SignatureError::syntax)?;
        self.pos += 1;
        let constant = |c| Ok(Expr::Constant(c));
        match token {
            Token::Name(n) if n == "None" => constant(Const::None),
            Token::Name(n) if n == "True" || n == "False" => constant(Const::Bool(n == "True")),
            Token::Name(n) if KEYWORDS.contains(&n.as_str()) => Err(SignatureError::syntax()),
            Token::Name(n) => Ok(Expr::Name(n)),
            Token::Str(mut s) => {
                // Adjacent literals concatenate, as in Python.
                while let Some(Token::Str(next)) = self.peek() {
                    s.push_str(next);
                    self.pos += 1;
                }
                constant(Const::Str(s))
            }
            Token::Number(n) if n.contains(['.', 'e', 'E']) && !n.starts_with("0x") => constant(Const::Float(n)),
            Token::Number(n) => constant(Const::Int(n)),
            Token::Op("...") => constant(Const::Ellipsis),
            Token::Op("(") => self.sequence(")", false),
            Token::Op("[") => match self.sequence("]", false)? {
                Expr::Tuple(items) => Ok(Expr::List(items)),
                single => Ok(Expr::List(vec![single])),
            },
            Token::Op(_) => Err(SignatureError::syntax()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn params(text: &str) -> Result<Vec<Param>, String> {
        parse_params(&tokenize(text).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
    }

    fn names(text: &str) -> Vec<String> {
        params(text).unwrap().into_iter().map(|p| p.name).collect()
    }

    #[test]
    fn parameter_lists() {
        assert_eq!(names("a, b, c"), ["a", "b", "c"]);
        assert_eq!(names("a, b,"), ["a", "b"]);
        assert_eq!(names(""), Vec::<String>::new());
        assert_eq!(names("x: int = 3"), ["x"]);
        assert_eq!(names("*args"), Vec::<String>::new());
        assert_eq!(names("*, a"), Vec::<String>::new());
        assert_eq!(names("a, /, b"), ["b"]);
        assert_eq!(names("x: int, **kw"), ["x"]);
    }

    #[test]
    fn annotations_become_expressions() {
        let p = params("x: dict[str, list[int]] | None").unwrap();
        let Some(Expr::BinOp(left, "|", right)) = &p[0].annotation else {
            panic!("{p:?}")
        };
        assert_eq!(**right, Expr::Constant(Const::None));
        let Expr::Subscript(base, slice) = &**left else {
            panic!()
        };
        assert_eq!(**base, Expr::Name("dict".into()));
        assert!(matches!(&**slice, Expr::Tuple(items) if items.len() == 2));
        let p = params("x: dspy.Image").unwrap();
        assert!(matches!(&p[0].annotation, Some(Expr::Attribute(_, a)) if a == "Image"));
    }

    #[test]
    fn syntax_errors_use_python_messages() {
        let plain = "invalid syntax (<unknown>, line 1)";
        let comma = "invalid syntax. Perhaps you forgot a comma? (<unknown>, line 1)";
        assert_eq!(params("a b").unwrap_err(), plain);
        assert_eq!(params(", a").unwrap_err(), plain);
        assert_eq!(params("class").unwrap_err(), plain);
        assert_eq!(params("x: : int").unwrap_err(), plain);
        assert_eq!(params("x:").unwrap_err(), plain);
        assert_eq!(params("x: int y").unwrap_err(), comma);
        assert_eq!(params("x: list[]").unwrap_err(), comma);
        assert_eq!(
            params("(x)").unwrap_err(),
            "Function parameters cannot be parenthesized (<unknown>, line 1)"
        );
        assert_eq!(
            params("x: int = 1, y").unwrap_err(),
            "non-default argument follows default argument (<unknown>, line 1)"
        );
    }
}
