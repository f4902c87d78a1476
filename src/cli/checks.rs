//! The checks `new` and `generate` run on every name, model and key before writing anything.
//! Each returns the message to print: upstream's wording where upstream has a check, otherwise
//! one that says what is wrong and what to type instead.

use std::path::Path;

use crate::scaffold::model::ModelChoice;
use crate::scaffold::names::{is_python_keyword, is_valid_identifier, package_name};

/// `PROJECT_NAME`: not empty, not an existing path, and a valid Python package once converted.
pub(super) fn project_name(name: &str, cwd: &Path) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("Error: Project name cannot be empty".to_owned());
    }
    if cwd.join(name).exists() {
        return Err(format!("Error: Directory '{name}' already exists"));
    }
    let package = package_name(name);
    if !is_valid_identifier(&package) || is_python_keyword(&package) {
        return Err(format!(
            "Error: Project name '{name}' gives the Python package name '{package}', which is not a valid \
             Python identifier. Use letters, digits, '-' and '_', starting with a letter (e.g. '{}').",
            suggested_project_name(name)
        ));
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
pub(super) fn identifier(name: &str, noun: &str) -> Result<(), String> {
    if !is_valid_identifier(name) {
        return Err(format!("Error: {noun} name '{name}' is not a valid Python identifier"));
    }
    if is_python_keyword(&name.to_lowercase()) {
        return Err(format!(
            "Error: {noun} name '{name}' is a Python keyword, so the generated files could not be imported. \
             Choose another name (e.g. '{name}_{}').",
            noun.to_lowercase()
        ));
    }
    Ok(())
}

/// Characters LiteLLM model strings use (`bedrock/anthropic.claude-3:0`, `ollama_chat/llama3.1:8b`).
fn is_model_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_./:@+".contains(c)
}

/// A LiteLLM model string, `provider/model` (a bare name means OpenAI, as upstream).
pub(super) fn model(text: &str) -> Result<ModelChoice, String> {
    let text = text.trim();
    let well_formed = text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && text.chars().all(is_model_char)
        && !text.ends_with('/');
    if !well_formed {
        return Err(format!(
            "Error: '{text}' is not a LiteLLM model string. Write it as provider/model, e.g. \
             'openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-5' or 'ollama/llama3'."
        ));
    }
    Ok(ModelChoice::parse(text))
}

/// An API key goes into `.env` as `VAR=<key>`: one line, no control characters.
pub(super) fn api_key(key: &str) -> Result<(), String> {
    if key.chars().any(char::is_control) {
        return Err(
            "Error: The API key contains a line break or another control character. Pass the key alone.".to_owned(),
        );
    }
    Ok(())
}

/// `g gateway --path`: a route path.
pub(super) fn gateway_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\') {
        return Err(format!(
            "Error: Gateway path '{path}' must start with '/' and contain no spaces (e.g. '/{}').",
            path.trim().trim_start_matches('/').replace(char::is_whitespace, "-")
        ));
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
        let bad = project_name("bad name!", &cwd).unwrap_err();
        assert!(
            bad.contains("'bad name!'") && bad.contains("(e.g. 'bad-name')"),
            "{bad}"
        );
        assert!(project_name("1st", &cwd).unwrap_err().contains("'my-1st'"));
        assert!(project_name("class", &cwd).is_err());
        assert_eq!(
            project_name("  ", &cwd).unwrap_err(),
            "Error: Project name cannot be empty"
        );
    }

    #[test]
    fn keywords_are_refused() {
        assert!(identifier("main", "Program").is_ok());
        assert!(identifier("class", "Program").unwrap_err().contains("keyword"));
        assert!(
            identifier("1x", "Gateway")
                .unwrap_err()
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
        assert!(gateway_path("hooks").unwrap_err().contains("'/hooks'"));
    }
}
