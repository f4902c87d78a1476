//! Module types, gateway types and the name transforms of dspy-cli 0.1.13 (cli.md §4).

/// The DSPy module class a generated program wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Predictor {
    Predict,
    ChainOfThought,
    ProgramOfThought,
    ReAct,
    MultiChainComparison,
    Refine,
}

/// One key of upstream's `MODULE_TYPES` table (aliases are separate entries, as upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ModuleKind {
    /// The `-m` value, matched exactly and case-sensitively.
    pub(crate) key: &'static str,
    pub(crate) predictor: Predictor,
    /// File name suffix: `<program>_<suffix>.py`.
    pub(crate) file_suffix: &'static str,
    /// Class name suffix: `<Pascal><suffix>`.
    pub(crate) class_suffix: &'static str,
    pub(crate) display_name: &'static str,
    pub(crate) description: &'static str,
}

const fn kind(
    key: &'static str,
    predictor: Predictor,
    suffixes: (&'static str, &'static str),
    display_name: &'static str,
    description: &'static str,
) -> ModuleKind {
    ModuleKind {
        key,
        predictor,
        file_suffix: suffixes.0,
        class_suffix: suffixes.1,
        display_name,
        description,
    }
}

const COT: &str = "Step-by-step reasoning with chain of thought";
const POT: &str = "Generates and executes code for reasoning";

/// Upstream's key order: it is the order of every "Available: ..." list.
pub(crate) const MODULE_KINDS: [ModuleKind; 8] = [
    kind(
        "Predict",
        Predictor::Predict,
        ("predict", "Predict"),
        "Predict",
        "Basic prediction module",
    ),
    kind(
        "ChainOfThought",
        Predictor::ChainOfThought,
        ("cot", "CoT"),
        "ChainOfThought (CoT)",
        COT,
    ),
    kind(
        "CoT",
        Predictor::ChainOfThought,
        ("cot", "CoT"),
        "ChainOfThought (CoT)",
        COT,
    ),
    kind(
        "ProgramOfThought",
        Predictor::ProgramOfThought,
        ("pot", "PoT"),
        "ProgramOfThought (PoT)",
        POT,
    ),
    kind(
        "PoT",
        Predictor::ProgramOfThought,
        ("pot", "PoT"),
        "ProgramOfThought (PoT)",
        POT,
    ),
    kind(
        "ReAct",
        Predictor::ReAct,
        ("react", "ReAct"),
        "ReAct",
        "Reasoning and acting with tools",
    ),
    kind(
        "MultiChainComparison",
        Predictor::MultiChainComparison,
        ("mcc", "MCC"),
        "MultiChainComparison",
        "Compare multiple reasoning paths",
    ),
    kind(
        "Refine",
        Predictor::Refine,
        ("refine", "Refine"),
        "Refine",
        "Iterative refinement of outputs",
    ),
];

/// The default module type.
pub(crate) const PREDICT: &ModuleKind = &MODULE_KINDS[0];

/// The interactive menu: canonical keys only, numbered from 1.
pub(crate) const MENU_KEYS: [&str; 6] = [
    "Predict",
    "ChainOfThought",
    "ProgramOfThought",
    "ReAct",
    "MultiChainComparison",
    "Refine",
];

/// The kind for an exact `-m` key (`cot` is not `CoT`, as upstream).
pub(crate) fn module_kind(key: &str) -> Option<&'static ModuleKind> {
    MODULE_KINDS.iter().find(|k| k.key == key)
}

/// `Predict, ChainOfThought, CoT, ...` for error messages and help.
pub(crate) fn module_keys() -> String {
    MODULE_KINDS.map(|k| k.key).join(", ")
}

/// A menu answer: a number 1-6, or any key case-insensitively (aliases map to canonical keys).
pub(crate) fn menu_choice(answer: &str) -> Option<&'static ModuleKind> {
    if let Ok(number) = answer.trim().parse::<i64>() {
        // Upstream only falls back to names when the answer is not an integer.
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        return MENU_KEYS.get(index).and_then(|key| module_kind(key));
    }
    let lower = answer.to_lowercase();
    let found = MODULE_KINDS.iter().find(|k| k.key.to_lowercase() == lower)?;
    MENU_KEYS
        .iter()
        .filter_map(|key| module_kind(key))
        .find(|k| k.predictor == found.predictor)
}

/// Python's `"".join(w.capitalize() for w in s.split("_"))`: inner capitals are lowered
/// (`MyProg` -> `Myprog`), kept for compatibility with existing projects' class names.
pub(crate) fn to_class_name(name: &str) -> String {
    name.split('_').map(capitalize).collect()
}

/// Python's `str.capitalize()`: first character upper-cased, the rest lower-cased.
pub(crate) fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
    }
}

/// `<Pascal>Signature`, the class a program's signature file defines.
pub(crate) fn signature_class_name(program: &str) -> String {
    format!("{}Signature", to_class_name(program))
}

/// Upstream's check: `name.replace("_", "").isalnum() and not name[0].isdigit()`.
/// Python keywords pass and `_`-only names fail, as upstream.
pub(crate) fn is_valid_identifier(name: &str) -> bool {
    let stripped: String = name.chars().filter(|c| *c != '_').collect();
    let alnum = !stripped.is_empty() && stripped.chars().all(char::is_alphanumeric);
    let starts_with_digit = name.chars().next().is_some_and(is_python_digit);
    alnum && !starts_with_digit
}

/// Python's reserved words (`keyword.kwlist`): valid identifiers that cannot name a module.
const PYTHON_KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

pub(crate) fn is_python_keyword(name: &str) -> bool {
    PYTHON_KEYWORDS.contains(&name)
}

/// Python's `str.isdigit()`: decimal and other digits (`²`), but not letter numbers (`Ⅻ`).
fn is_python_digit(c: char) -> bool {
    c.is_numeric() && !c.is_alphabetic()
}

/// Package name of a project: `-` becomes `_`, then lower-cased (spaces and dots are kept).
pub(crate) fn package_name(project_name: &str) -> String {
    project_name.replace('-', "_").to_lowercase()
}

/// A `g gateway --type` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GatewayKind {
    Api,
    Cron,
}

impl GatewayKind {
    pub(crate) const KEYS: &'static str = "api, cron";

    pub(crate) fn from_key(key: &str) -> Option<Self> {
        match key {
            "api" => Some(Self::Api),
            "cron" => Some(Self::Cron),
            _ => None,
        }
    }

    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::Api => "HTTP request/response transformation",
            Self::Cron => "Scheduled background execution",
        }
    }

    /// `<name>_gateway.py` / `<name>_cron_gateway.py`.
    pub(crate) fn file_name(self, name: &str) -> String {
        let suffix = match self {
            Self::Api => "gateway",
            Self::Cron => "cron_gateway",
        };
        format!("{}_{suffix}.py", name.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_follow_python_capitalize() {
        let cases = [
            ("MyProg", "Myprog"),
            ("foo_bar", "FooBar"),
            ("Foo_Bar", "FooBar"),
            ("qa_bot", "QaBot"),
            ("a__b", "AB"),
            ("main", "Main"),
            ("ünï", "Ünï"),
        ];
        for (name, class) in cases {
            assert_eq!(to_class_name(name), class, "for {name}");
        }
    }

    #[test]
    fn identifier_rule_matches_upstream() {
        for ok in ["main", "my_program", "_x", "class", "MyProg", "ünï", "a1"] {
            assert!(is_valid_identifier(ok), "{ok} should pass");
        }
        for bad in ["", "_", "__", "1abc", "9lives", "a b", "a.b", "a-b", "²x"] {
            assert!(!is_valid_identifier(bad), "{bad} should fail");
        }
    }

    #[test]
    fn module_keys_are_exact_and_listed_in_upstream_order() {
        assert_eq!(
            module_keys(),
            "Predict, ChainOfThought, CoT, ProgramOfThought, PoT, ReAct, MultiChainComparison, Refine"
        );
        assert_eq!(module_kind("CoT").map(|k| k.class_suffix), Some("CoT"));
        assert_eq!(module_kind("MultiChainComparison").map(|k| k.file_suffix), Some("mcc"));
        assert!(module_kind("cot").is_none());
        assert!(module_kind("Foo").is_none());
    }

    #[test]
    fn menu_accepts_numbers_and_names_case_insensitively() {
        let key = |answer: &str| menu_choice(answer).map(|k| k.key);
        assert_eq!(key("1"), Some("Predict"));
        assert_eq!(key("6"), Some("Refine"));
        assert_eq!(key("cot"), Some("ChainOfThought"));
        assert_eq!(key("POT"), Some("ProgramOfThought"));
        assert_eq!(key("react"), Some("ReAct"));
        assert_eq!(key("7"), None);
        assert_eq!(key("0"), None);
        assert_eq!(key("-1"), None);
        assert_eq!(key("nope"), None);
    }

    #[test]
    fn package_and_gateway_names() {
        assert_eq!(package_name("My-App"), "my_app");
        assert_eq!(package_name("a b.c"), "a b.c");
        assert_eq!(GatewayKind::Api.file_name("Slack"), "slack_gateway.py");
        assert_eq!(GatewayKind::Cron.file_name("mod"), "mod_cron_gateway.py");
        assert_eq!(GatewayKind::from_key("webhook"), None);
    }
}
