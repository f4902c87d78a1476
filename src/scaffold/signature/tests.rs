//! Cases observed with dspy 3.4.1 + dspy-cli 0.1.13 (`dspy.Signature(s)` + `type_to_string`).

use super::*;

fn parsed(signature: &str) -> (Vec<String>, Vec<String>) {
    let fields = SignatureFields::parse(signature).unwrap_or_else(|e| panic!("{signature}: {e}"));
    let side = |fs: &[Field]| fs.iter().map(|f| format!("{}:{}", f.name, f.ty)).collect();
    (side(&fields.inputs), side(&fields.outputs))
}

fn error(signature: &str) -> String {
    SignatureFields::parse(signature).unwrap_err().to_string()
}

#[test]
fn accepted_signatures_render_like_upstream() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("question -> answer", &["question:str"], &["answer:str"]),
        ("post -> tags: list[str]", &["post:str"], &["tags:list[str]"]),
        (
            "a: int, b: float, c: bool -> d: dict[str, int]",
            &["a:int", "b:float", "c:bool"],
            &["d:dict[str, int]"],
        ),
        ("img: dspy.Image -> caption", &["img:dspy.Image"], &["caption:str"]),
        (
            "x: Optional[str] -> y: Union[int, str]",
            &["x:Optional[str]"],
            &["y:Union[int, str]"],
        ),
        (
            "x: str | None -> y: int | None",
            &["x:Optional[str]"],
            &["y:Optional[int]"],
        ),
        ("x -> y: Literal['a', 'b']", &["x:str"], &["y:Literal['a', 'b']"]),
        ("x -> y: Literal[\"a\", \"b\"]", &["x:str"], &["y:Literal['a', 'b']"]),
        (
            "x: List[str] -> y: Dict[str, Any]",
            &["x:List[str]"],
            &["y:Dict[str, Any]"],
        ),
        ("x: list -> y: dict", &["x:list"], &["y:dict"]),
        ("a,b->c", &["a:str", "b:str"], &["c:str"]),
        ("-> y", &[], &["y:str"]),
        ("x ->", &["x:str"], &[]),
        ("->", &[], &[]),
        ("a, a -> c", &["a:str"], &["c:str"]),
        ("a, b, -> c", &["a:str", "b:str"], &["c:str"]),
        ("x: None -> y", &["x:str"], &["y:str"]),
        ("x: None | int -> y", &["x:Optional[int]"], &["y:str"]),
        ("x: list[int | None] -> y", &["x:list[Optional[int]]"], &["y:str"]),
        ("x: tuple[int, ...] -> y", &["x:tuple[int, ...]"], &["y:str"]),
        ("x: dict[str, list[int]] -> y", &["x:dict[str, list[int]]"], &["y:str"]),
        ("x: typing.List[str] -> y", &["x:List[str]"], &["y:str"]),
        (
            "x: Literal[1, True, None] -> y",
            &["x:Literal[1, True, None]"],
            &["y:str"],
        ),
        ("x: Literal[\"it's\"] -> y", &["x:Literal[\"it's\"]"], &["y:str"]),
        (
            "x: set[str], z: frozenset[int] -> y: bytes",
            &["x:set[str]", "z:frozenset[int]"],
            &["y:bytes"],
        ),
        ("x: int = 3 -> y", &["x:int"], &["y:str"]),
        ("*args -> y", &[], &["y:str"]),
        (
            "x: Any -> y: Optional[dict[str, Any]]",
            &["x:Any"],
            &["y:Optional[dict[str, Any]]"],
        ),
        ("x: Union[int] -> y", &["x:int"], &["y:str"]),
        ("x: Tuple[int, str] -> y", &["x:Tuple[int, str]"], &["y:str"]),
        ("x: dspy.History -> y: dspy.Code", &["x:dspy.History"], &["y:dspy.Code"]),
        ("x: int -> y: float,", &["x:int"], &["y:float"]),
        ("x: Text -> y", &["x:str"], &["y:str"]),
        ("x: Literal['a'] | None -> y", &["x:Optional[Literal['a']]"], &["y:str"]),
        ("x: Annotated[int, 'meta'] -> y", &["x:int"], &["y:str"]),
        (
            "x: Literal[0x10, 1_000, 1e20, 1.0] -> y",
            &["x:Literal[16, 1000, 1e+20, 1.0]"],
            &["y:str"],
        ),
        ("x: list[int, str] -> y", &["x:list[int, str]"], &["y:str"]),
        ("a, /, b -> c", &["b:str"], &["c:str"]),
        ("ünïcode: str -> y", &["ünïcode:str"], &["y:str"]),
        // Upstream printed these as `Union[int, str, NoneType]` and
        // `Optional[dspy.adapters.types.image.Image]`; ours mean the same and import cleanly.
        (
            "x: Union[int, str, None] -> y",
            &["x:Union[int, str, None]"],
            &["y:str"],
        ),
        ("x: dspy.Image | None -> y", &["x:Optional[dspy.Image]"], &["y:str"]),
    ];
    for (signature, inputs, outputs) in cases {
        let (i, o) = parsed(signature);
        let owned = |s: &[&str]| s.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!((i, o), (owned(inputs), owned(outputs)), "for {signature:?}");
    }
}

#[test]
#[expect(clippy::too_many_lines, reason = "one table of dspy's messages, a row per case")]
fn rejected_signatures_give_dspy_messages() {
    let cases = [
        (
            "foo bar",
            "Invalid signature format: 'foo bar', must contain exactly one '->'.",
        ),
        (
            "nope",
            "Invalid signature format: 'nope', must contain exactly one '->'.",
        ),
        (
            "x: int -> y: str -> z",
            "Invalid signature format: 'x: int -> y: str -> z', must contain exactly one '->'.",
        ),
        ("x -> y: Foo", "Unknown name: Foo"),
        ("x: 'a' -> y: Foo", "Unknown name: Foo"),
        ("a b -> c", "invalid syntax (<unknown>, line 1)"),
        (", a -> b", "invalid syntax (<unknown>, line 1)"),
        ("class -> y", "invalid syntax (<unknown>, line 1)"),
        ("x: -> y", "invalid syntax (<unknown>, line 1)"),
        (
            "x: int y -> z",
            "invalid syntax. Perhaps you forgot a comma? (<unknown>, line 1)",
        ),
        (
            "x: Optional[] -> y",
            "invalid syntax. Perhaps you forgot a comma? (<unknown>, line 1)",
        ),
        (
            "a -> a",
            "Input and output fields must have distinct names, but found duplicates: 'a'.",
        ),
        (
            "(x -> y",
            "Function parameters cannot be parenthesized (<unknown>, line 1)",
        ),
        ("x) -> y", "unmatched ')' (<unknown>, line 1)"),
        (
            "x: int[ -> y",
            "closing parenthesis ')' does not match opening parenthesis '[' (<unknown>, line 1)",
        ),
        (
            "x: int = 1, y -> z",
            "non-default argument follows default argument (<unknown>, line 1)",
        ),
        (
            "x: Optional[int, str] -> y",
            "Optional must have exactly one type argument",
        ),
        ("x: int[str] -> y", "type 'int' is not subscriptable"),
        ("x: list[int][str] -> y", "list[int] is not a generic class"),
        (
            "x: Dict[str] -> y",
            "Too few arguments for typing.Dict; actual 1, expected 2",
        ),
        (
            "x: List[int, str] -> y",
            "Too many arguments for typing.List; actual 2, expected 1",
        ),
        (
            "x: dict[str] -> y",
            "Expected two type arguments for <class 'dict'>, got 1",
        ),
        (
            "x: 'str' -> y",
            "Field types must be types, but received: str of type <class 'str'>.",
        ),
        (
            "x: 3 -> y",
            "Field types must be types, but received: 3 of type <class 'int'>.",
        ),
        (
            "x: 0x10 -> y",
            "Field types must be types, but received: 16 of type <class 'int'>.",
        ),
        (
            "x: Optional -> y: 'b'",
            "Field types must be types, but received: b of type <class 'str'>.",
        ),
        (
            "x: Callable -> y",
            "Field types must be types, but received: typing.Callable of type <class 'typing._CallableType'>.",
        ),
        (
            "x: Literal[-1] -> y",
            "Failed to parse string-base Signature due to unhandled AST node type in annotation: \
             UnaryOp(op=USub(), operand=Constant(value=1)). Please consider using class-based DSPy \
             Signatures instead.",
        ),
        (
            "x: Callable[[int], str] -> y",
            "Failed to parse string-base Signature due to unhandled AST node type in annotation: \
             List(elts=[Name(id='int', ctx=Load())], ctx=Load()). Please consider using class-based \
             DSPy Signatures instead.",
        ),
        (
            "x: str() -> y",
            "Failed to parse string-base Signature due to unhandled AST node type in annotation: \
             Call(func=Name(id='str', ctx=Load()), args=[], keywords=[]). Please consider using \
             class-based DSPy Signatures instead.",
        ),
    ];
    for (signature, message) in cases {
        assert_eq!(error(signature), message, "for {signature:?}");
    }
    assert!(error("x: Optional -> y").starts_with("Unable to generate pydantic-core schema for typing.Optional."));
    assert!(error("x: list[Union] -> y").starts_with("Unable to generate pydantic-core schema for typing.Union."));
    assert!(error("x: dspy.Foo -> y").starts_with("Unknown attribute: Foo on <module 'dspy'"));
}

#[test]
fn compact_string_of_guided_fields() {
    let fields = SignatureFields {
        inputs: vec![Field::new("post", "str"), Field::new("count", "int")],
        outputs: vec![Field::new("tags", "list[str]")],
    };
    assert_eq!(fields.to_compact_string(), "post, count:int -> tags:list[str]");
}

#[test]
fn typing_imports_cover_every_typing_name() {
    let imports = typing_imports([
        "Optional[int]",
        "dict[str, Any]",
        "Literal['Union', \"it's List\"]",
        "dspy.Image",
        "list[str]",
        "x.Dict",
    ]);
    assert_eq!(imports, ["Any", "Literal", "Optional"]);
    assert!(typing_imports(["str", "list[str]", "dspy.Image"]).is_empty());
}
