//! The checks `new` and `generate` run on every name, model and key before writing anything.
//! Each returns the message to print: upstream's wording where upstream has a check, otherwise
//! one that says what is wrong and what to type instead.

use std::path::Path;

use crate::scaffold::model::ModelChoice;
use crate::scaffold::names::{is_python_keyword, is_valid_identifier, package_name};
use crate::scaffold::signature::SignatureError;

/// A name, model, key, path, type or signature `new`/`generate` refuses.
#[derive(Debug, thiserror::Error)]
pub(super) enum InputError {
    #[error("Error: Project name cannot be empty")]
    EmptyProjectName,
    #[error("Error: Directory '{0}' already exists")]
    DirectoryExists(String),
    #[error(
        "Error: Project name '{name}' gives the Python package name '{package}', which is not a valid \
         Python identifier. Use letters, digits, '-' and '_', starting with a letter (e.g. '{suggestion}')."
    )]
    NoPackageName {
        name: String,
        package: String,
        suggestion: String,
    },
    /// `noun` is `Program`, `Gateway` or `Field`.
    #[error("Error: {noun} name '{name}' is not a valid Python identifier")]
    NotAnIdentifier { noun: &'static str, name: String },
    #[error(
        "Error: {noun} name '{name}' is a Python keyword, so the generated files could not be imported. \
         Choose another name (e.g. '{name}_{}').", noun.to_lowercase()
    )]
    Keyword { noun: &'static str, name: String },
    #[error(
        "Error: '{0}' is not a LiteLLM model string. Write it as provider/model, e.g. \
         'openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-5' or 'ollama/llama3'."
    )]
    NotAModel(String),
    #[error("Error: The API key contains a line break or another control character. Pass the key alone.")]
    ControlCharacterInKey,
    #[error("Error: Gateway path '{path}' must start with '/' and contain no spaces (e.g. '/{suggestion}').")]
    GatewayPath { path: String, suggestion: String },
    #[error("Error: '{ty}' is not a type dspy knows ({error}). E.g. str, int, list[str], dspy.Image.")]
    FieldType { ty: String, error: SignatureError },
    #[error("Error parsing signature string: {0}")]
    Signature(SignatureError),
    #[error("Error parsing signature string: '{0}' has no output fields: name at least one after '->'.")]
    NoOutputs(String),
}

/// `PROJECT_NAME`: not empty, not an existing path, and a valid Python package once converted.
pub(super) fn project_name(name: &str, cwd: &Path) -> Result<(), InputError> {
    if name.trim().is_empty() {
        return Err(InputError::EmptyProjectName);
    }
    if cwd.join(name).exists() {
        return Err(InputError::DirectoryExists(name.to_owned()));
    }
    let package = package_name(name);
    if !is_valid_identifier(&package) || is_python_keyword(&package) {
        return Err(InputError::NoPackageName {
            name: name.to_owned(),
            package,
            suggestion: suggested_project_name(name),
        });
    }
    Ok(())
}

/// `bad name!` → `bad-name`: the characters a package name allows, runs of others as one `-`.
fn suggested_project_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    match out.chars().next() {
        None => "my-project".to_owned(),
        Some(first) if first.is_alphabetic() => out.to_owned(),
        Some(_) => format!("my-{out}"),
    }
}

/// A program, module or gateway name after the dash conversion. `noun` is `Program` or `Gateway`.
pub(super) fn identifier(name: &str, noun: &'static str) -> Result<(), InputError> {
    if !is_valid_identifier(name) {
        return Err(InputError::NotAnIdentifier {
            noun,
            name: name.to_owned(),
        });
    }
    if is_python_keyword(&name.to_lowercase()) {
        return Err(InputError::Keyword {
            noun,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Characters LiteLLM model strings use (`bedrock/anthropic.claude-3:0`, `ollama_chat/llama3.1:8b`).
fn is_model_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_./:@+".contains(c)
}

/// A LiteLLM model string, `provider/model` (a bare name means OpenAI, as upstream).
pub(super) fn model(text: &str) -> Result<ModelChoice, InputError> {
    let text = text.trim();
    let well_formed = text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && text.chars().all(is_model_char)
        && !text.ends_with('/');
    if !well_formed {
        return Err(InputError::NotAModel(text.to_owned()));
    }
    Ok(ModelChoice::parse(text))
}

/// An API key goes into `.env` as `VAR=<key>`: one line, no control characters.
pub(super) fn api_key(key: &str) -> Result<(), InputError> {
    if key.chars().any(char::is_control) {
        return Err(InputError::ControlCharacterInKey);
    }
    Ok(())
}

/// `g gateway --path`: a route path.
pub(super) fn gateway_path(path: &str) -> Result<(), InputError> {
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\') {
        return Err(InputError::GatewayPath {
            path: path.to_owned(),
            suggestion: path.trim().trim_start_matches('/').replace(char::is_whitespace, "-"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_must_give_a_package() {
        let cwd = std::env::temp_dir().join("dspy-cli-rs-no-such-dir");
        assert!(project_name("my-app", &cwd).is_ok());
        assert!(project_name("My-App", &cwd).is_ok());
        let bad = project_name("bad name!", &cwd).unwrap_err().to_string();
        assert!(
            bad.contains("'bad name!'") && bad.contains("(e.g. 'bad-name')"),
            "{bad}"
        );
        assert!(project_name("1st", &cwd).unwrap_err().to_string().contains("'my-1st'"));
        assert!(project_name("class", &cwd).is_err());
        assert_eq!(
            project_name("  ", &cwd).unwrap_err().to_string(),
            "Error: Project name cannot be empty"
        );
    }

    #[test]
    fn keywords_are_refused() {
        assert!(identifier("main", "Program").is_ok());
        assert!(
            identifier("class", "Program")
                .unwrap_err()
                .to_string()
                .contains("keyword")
        );
        assert!(
            identifier("1x", "Gateway")
                .unwrap_err()
                .to_string()
                .contains("not a valid Python identifier")
        );
    }

    #[test]
    fn model_strings() {
        for ok in [
            "openai/gpt-4o-mini",
            "gpt-4o",
            "bedrock/anthropic.claude-3-sonnet-20240229-v1:0",
            "ollama_chat/llama3.1:8b",
            "huggingface/meta-llama/Llama-2-7b",
        ] {
            assert!(model(ok).is_ok(), "{ok}");
        }
        for bad in ["?", "", "open ai/x", "openai/", "/x", "a'b", "x#y"] {
            assert!(model(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_and_paths() {
        assert!(api_key("sk-abc").is_ok() && api_key("").is_ok());
        assert!(api_key("sk\nX=1").is_err());
        assert!(gateway_path("/hooks/in").is_ok());
        assert!(gateway_path("hooks").unwrap_err().to_string().contains("'/hooks'"));
    }
}
