//! The files `new` and `generate` write, rendered from templates embedded in the binary.
//!
//! Templates use Python's `str.format` syntax, as upstream's do: `{name}` is a placeholder and
//! `{{`/`}}` are literal braces.

use std::fmt::Write as _;

use super::model::ModelChoice;
use super::names::{GatewayKind, ModuleKind, Predictor};
use super::signature::{Field, SignatureFields, typing_imports};

macro_rules! template {
    ($path:literal) => {
        include_str!(concat!("templates/", $path))
    };
}

const PYPROJECT: &str = template!("pyproject.toml.template");
const CONFIG: &str = template!("dspy.config.yaml.template");
const README: &str = template!("README.md.template");
const ENV: &str = template!("env.template");
pub(crate) const DOCKERFILE: &str = template!("Dockerfile.template");
pub(crate) const DOCKERIGNORE: &str = template!("dockerignore.template");
pub(crate) const GITIGNORE: &str = template!("gitignore.template");
const SIGNATURE_DEFAULT: &str = template!("code/signature.py.template");
const SIGNATURE_FIELDS: &str = template!("code/signature_fields.py.template");
const TEST_MODULES: &str = template!("code/test_modules.py.template");
const GATEWAY_API: &str = template!("code/gateway_api.py.template");
const GATEWAY_CRON: &str = template!("code/gateway_cron.py.template");

fn module_template(predictor: Predictor) -> &'static str {
    match predictor {
        Predictor::Predict => template!("code/module_predict.py.template"),
        Predictor::ChainOfThought => template!("code/module_chain_of_thought.py.template"),
        Predictor::ProgramOfThought => template!("code/module_program_of_thought.py.template"),
        Predictor::ReAct => template!("code/module_react.py.template"),
        Predictor::MultiChainComparison => {
            template!("code/module_multi_chain_comparison.py.template")
        }
        Predictor::Refine => template!("code/module_refine.py.template"),
    }
}

/// Fill `{name}` placeholders; `{{` and `}}` become single braces.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let end = tail.find('}').filter(|_| tail.starts_with('{'));
        let value = end.and_then(|end| values.iter().find(|(k, _)| *k == &tail[1..end]));
        if let (Some(end), Some((_, value))) = (end, value) {
            out.push_str(value);
            rest = &tail[end + 1..];
        } else {
            debug_assert!(false, "template placeholder without a value near {tail:.30}");
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// `from typing import A, B` plus a blank line, or nothing when no typing name is used.
fn typing_import_block(fields: &[Field]) -> String {
    let names = typing_imports(fields.iter().map(|f| f.ty.as_str()));
    if names.is_empty() {
        String::new()
    } else {
        format!("from typing import {}\n\n", names.join(", "))
    }
}

/// `src/<pkg>/signatures/<program>.py`. Without fields this is upstream's default template.
pub(crate) fn signature_file(program_stem: &str, class_name: &str, fields: Option<&SignatureFields>) -> String {
    let Some(fields) = fields else {
        return render(SIGNATURE_DEFAULT, &[("class_name", class_name)]);
    };
    let lines: String = fields
        .inputs
        .iter()
        .map(|f| (f, "InputField"))
        .chain(fields.outputs.iter().map(|f| (f, "OutputField")))
        .fold(String::new(), |mut out, (f, kind)| {
            writeln!(out, "    {}: {} = dspy.{kind}(desc=\"\")", f.name, f.ty)
                .expect("writing to a String cannot fail");
            out
        });
    let all: Vec<Field> = fields.inputs.iter().chain(&fields.outputs).cloned().collect();
    render(
        SIGNATURE_FIELDS,
        &[
            ("program_name", program_stem),
            ("class_name", class_name),
            ("typing_import", &typing_import_block(&all)),
            ("fields", &lines),
        ],
    )
}

/// Where a module's signature comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SignatureSource<'a> {
    /// `from <package>.signatures.<module> import <class_name>` (new, g scaffold).
    Class {
        package: &'a str,
        module: &'a str,
        class_name: &'a str,
    },
    /// The inline string `"question: str -> answer: str"` (g module).
    Inline,
}

/// `src/<pkg>/modules/<program>_<suffix>.py`; `inputs` become `forward()`'s parameters.
pub(crate) fn module_file(
    kind: &ModuleKind,
    class_name: &str,
    source: SignatureSource<'_>,
    inputs: &[Field],
) -> String {
    let (imports, signature) = match source {
        SignatureSource::Class {
            package,
            module,
            class_name: signature_class,
        } => (
            format!(
                "{}import dspy\nfrom {package}.signatures.{module} import {signature_class}",
                typing_import_block(inputs)
            ),
            signature_class.to_owned(),
        ),
        SignatureSource::Inline => ("import dspy".to_owned(), "\"question: str -> answer: str\"".to_owned()),
    };
    render(
        module_template(kind.predictor),
        &[
            ("imports", &imports),
            ("class_name", class_name),
            ("signature", &signature),
            ("forward_params", &forward_params(inputs)),
            ("forward_kwargs", &forward_kwargs(inputs)),
        ],
    )
}

fn forward_params(inputs: &[Field]) -> String {
    inputs
        .iter()
        .map(|f| format!("{}: {}", f.name, f.ty))
        .collect::<Vec<_>>()
        .join(", ")
}

fn forward_kwargs(inputs: &[Field]) -> String {
    inputs
        .iter()
        .map(|f| format!("{0}={0}", f.name))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn test_modules(package: &str, module_file: &str, module_class: &str) -> String {
    render(
        TEST_MODULES,
        &[
            ("package_name", package),
            ("module_file", module_file),
            ("module_class", module_class),
        ],
    )
}

/// A gateway file; `path` and `requires_auth` matter for API gateways, `schedule` for cron.
pub(crate) fn gateway_file(kind: GatewayKind, pascal: &str, path: &str, schedule: &str, requires_auth: bool) -> String {
    let template = match kind {
        GatewayKind::Api => GATEWAY_API,
        GatewayKind::Cron => GATEWAY_CRON,
    };
    let class_name = format!("{pascal}Gateway");
    let auth = if requires_auth { "True" } else { "False" };
    render(
        template,
        &[
            ("module_name", pascal),
            ("class_name", &class_name),
            ("path", path),
            ("schedule", schedule),
            ("requires_auth", auth),
        ],
    )
}

pub(crate) fn pyproject(project_name: &str) -> String {
    render(PYPROJECT, &[("project_name", project_name)])
}

/// `text` as a YAML scalar that reads back as that same string: plain when it can be
/// (`openai:gpt-4o-mini`), quoted otherwise (`'null'`, `'a: b'`). Also quoted: what YAML 1.1
/// readers such as PyYAML take for booleans or numbers (`on`, `no`, `1:20`).
pub(crate) fn yaml_scalar(text: &str) -> String {
    const YAML11_BOOLEANS: [&str; 6] = ["y", "n", "yes", "no", "on", "off"];
    let looks_like_number = text.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c));
    if YAML11_BOOLEANS.contains(&text.to_lowercase().as_str()) || looks_like_number {
        return format!("'{}'", text.replace('\'', "''"));
    }
    serde_yaml_ng::to_string(text).map_or_else(
        |_| serde_json::Value::from(text).to_string(),
        |yaml| yaml.trim_end().to_owned(),
    )
}

pub(crate) fn config_yaml(app_id: &str, model: &ModelChoice) -> String {
    let alias = yaml_scalar(&model.alias());
    render(
        CONFIG,
        &[
            ("app_id", &yaml_scalar(app_id)),
            ("default_model_alias", &alias),
            ("model_alias", &alias),
            ("model_config", &model.registry_entry()),
        ],
    )
}

pub(crate) fn env_file(model: &ModelChoice, api_key: Option<&str>) -> String {
    render(ENV, &[("api_key_config", &model.env_file_block(api_key))])
}

/// The README; its examples use the module's real endpoint and inputs.
pub(crate) fn readme(project_name: &str, package_name: &str, module_class: &str, inputs: &[Field]) -> String {
    render(
        README,
        &[
            ("project_name", project_name),
            ("package_name", package_name),
            ("module_class", module_class),
            ("example_body", &example_body(inputs)),
            ("forward_params", &forward_params(inputs)),
            ("forward_kwargs", &forward_kwargs(inputs)),
        ],
    )
}

/// A JSON request body with a placeholder of the right shape for each input.
fn example_body(inputs: &[Field]) -> String {
    let value = |f: &Field| match f.ty.split('[').next().unwrap_or_default() {
        "int" => "1".to_owned(),
        "float" => "0.5".to_owned(),
        "bool" => "true".to_owned(),
        "list" | "List" | "tuple" | "Tuple" | "set" | "Set" => "[]".to_owned(),
        "dict" | "Dict" => "{}".to_owned(),
        _ => format!("\"your {} here\"", f.name),
    };
    let pairs: Vec<String> = inputs.iter().map(|f| format!("\"{}\": {}", f.name, value(f))).collect();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests;
