//! The questions `dspy-cli new` asks when flags are missing (upstream's `utils/interactive.py`).

use super::prompt::{Aborted, confirm, hidden, parse_signature, prompt};
use super::style::{Color, paint, style};
use crate::scaffold::model::{ModelChoice, mask_key};
use crate::scaffold::names::{MENU_KEYS, ModuleKind, menu_choice, module_kind};
use crate::scaffold::signature::{Field, SignatureFields};

pub(super) const DEFAULT_SIGNATURE: &str = "question:str -> answer:str";

pub(super) fn project_name() -> Result<String, Aborted> {
    Ok(
        prompt(&paint("What is your project name?", Color::Cyan), "my-project", true)?
            .trim()
            .to_owned(),
    )
}

pub(super) fn setup_first_program() -> Result<bool, Aborted> {
    confirm(
        &paint("Would you like to specify your first program?", Color::Cyan),
        true,
    )
}

pub(super) fn program_name() -> Result<String, Aborted> {
    let text = paint("What is the name of your first DSPy program?", Color::Cyan);
    Ok(prompt(&text, "my_program", true)?.trim().to_owned())
}

/// The numbered menu; re-asks until the answer names a module type.
pub(super) fn module_type() -> Result<&'static ModuleKind, Aborted> {
    println!("{}", paint("Choose a module type:", Color::Cyan));
    for (i, key) in MENU_KEYS.iter().enumerate() {
        let Some(kind) = module_kind(key) else {
            continue;
        };
        if i == 0 {
            let name = style(kind.display_name, Color::Green, true);
            println!("  {}. {name} - {} (default)", i + 1, kind.description);
        } else {
            println!("  {}. {} - {}", i + 1, kind.display_name, kind.description);
        }
    }
    loop {
        let answer = prompt("Enter number or name", "1", true)?;
        if let Some(kind) = menu_choice(&answer) {
            return Ok(kind);
        }
        println!(
            "{}",
            paint(
                "Invalid choice. Please enter a number (1-6) or module name.",
                Color::Red
            )
        );
    }
}

/// The signature as typed (or built in guided mode) and its fields; `None` fields mean the
/// default template, used when the typed string does not parse.
pub(super) fn signature() -> Result<(String, Option<SignatureFields>), Aborted> {
    println!(
        "{}",
        paint("Enter your signature or type '?' for guided input:", Color::Cyan)
    );
    let examples = "  Examples: 'question -> answer', 'post:str -> tags:list[str], category:str'";
    println!("{}", paint(examples, Color::BrightBlack));
    let answer = prompt("Signature", DEFAULT_SIGNATURE, true)?;
    let answer = strip_quotes(&answer);
    if ["?", "help", "guide", "guided"].contains(&answer.to_lowercase().as_str()) {
        let fields = guided_signature()?;
        let text = fields.to_compact_string();
        println!("{}", paint(&format!("Generated signature: {text}"), Color::Green));
        return Ok((text, Some(fields)));
    }
    match parse_signature(&answer) {
        Ok(fields) => Ok((answer, Some(fields))),
        Err(Aborted) => {
            // The warning quotes the parser's Abort, whose message is empty (as upstream).
            println!("{}", paint("Warning: Could not parse signature: ", Color::Yellow));
            println!("{}", paint("Using default signature instead.", Color::Yellow));
            Ok((DEFAULT_SIGNATURE.to_owned(), None))
        }
    }
}

/// Python's `s.strip().strip('"').strip("'")`.
pub(super) fn strip_quotes(text: &str) -> String {
    text.trim().trim_matches('"').trim_matches('\'').to_owned()
}

/// Field-by-field entry. Names and types are taken as typed, as upstream does.
fn guided_signature() -> Result<SignatureFields, Aborted> {
    println!("{}", paint("Let's build your signature step by step.", Color::Cyan));
    let inputs = guided_fields("inputs", "Input fields:", ("question", "input"))?;
    let outputs = guided_fields("outputs", "Output fields:", ("answer", "output"))?;
    Ok(SignatureFields { inputs, outputs })
}

fn guided_fields(side: &str, heading: &str, default: (&str, &str)) -> Result<Vec<Field>, Aborted> {
    println!("{}", paint(heading, Color::Yellow));
    let mut fields = Vec::new();
    loop {
        let name = prompt(&format!("  Field name (or press Enter to finish {side})"), "", false)?;
        if name.is_empty() {
            break;
        }
        let ty = prompt("  Field type", "str", true)?;
        fields.push(Field::new(name.trim(), ty.trim()));
    }
    if fields.is_empty() {
        let (name, which) = default;
        fields.push(Field::new(name, "str"));
        println!(
            "{}",
            paint(&format!("  Using default {which}: {name}:str"), Color::Yellow)
        );
    }
    Ok(fields)
}

pub(super) fn model() -> Result<String, Aborted> {
    println!("{}", paint("Enter your model (LiteLLM format):", Color::Cyan));
    let examples = "  Examples: 'anthropic/claude-sonnet-4-5', 'openai/gpt-4o', 'ollama/llama2'";
    println!("{}", paint(examples, Color::BrightBlack));
    Ok(prompt("Model", "openai/gpt-5-mini", true)?.trim().to_owned())
}

/// Offer a key found in the environment, else ask for one (hidden). `None`: set it later.
pub(super) fn api_key(model: &ModelChoice) -> Result<Option<String>, Aborted> {
    let var = model.env_var();
    if let Some(found) = std::env::var(&var).ok().filter(|k| !k.is_empty()) {
        let message = format!("Found {var} in environment: {}", mask_key(&found));
        println!("{}", paint(&message, Color::Green));
        if confirm("Proceed with this API key?", true)? {
            return Ok(Some(found));
        }
    }
    let heading = format!("Enter your {} API key:", model.provider_display());
    println!("{}", paint(&heading, Color::Cyan));
    let stored = format!("  (This will be stored in .env as {var})");
    println!("{}", paint(&stored, Color::BrightBlack));
    println!(
        "{}",
        paint("  Press Enter to skip and set it manually later", Color::BrightBlack)
    );
    let key = hidden(&var)?;
    Ok(Some(key.trim().to_owned()).filter(|k| !k.is_empty()))
}
