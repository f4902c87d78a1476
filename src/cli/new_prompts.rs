//! The questions `dspy-cli new` asks when flags are missing (upstream's `utils/interactive.py`).

use super::checks::{self, InputError};
use super::prompt::{Aborted, SIGNATURE_HINT, check_signature, confirm, hidden, prompt};
use super::style::{Color, paint, style};
use crate::scaffold::model::{ModelChoice, mask_key};
use crate::scaffold::names::{MENU_KEYS, ModuleKind, menu_choice, module_kind};
use crate::scaffold::signature::{Field, SignatureFields};

pub(super) const DEFAULT_SIGNATURE: &str = "question:str -> answer:str";

/// Ask until `check` accepts the answer, printing each refusal in red, as a click prompt with
/// a `type=` re-asks. End of input still aborts.
pub(super) fn ask_until<T>(
    mut ask: impl FnMut() -> Result<String, Aborted>,
    mut check: impl FnMut(&str) -> Result<T, InputError>,
) -> Result<T, Aborted> {
    loop {
        let answer = ask()?;
        match check(&answer) {
            Ok(value) => return Ok(value),
            Err(refused) => println!("{}", paint(&refused.to_string(), Color::Red)),
        }
    }
}

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

/// The signature as typed (or built in guided mode) and its fields, asked again until it
/// parses (upstream fell back to the default signature).
pub(super) fn signature() -> Result<(String, SignatureFields), Aborted> {
    println!(
        "{}",
        paint("Enter your signature or type '?' for guided input:", Color::Cyan)
    );
    let examples = "  Examples: 'question -> answer', 'post:str -> tags:list[str], category:str'";
    println!("{}", paint(examples, Color::BrightBlack));
    loop {
        let answer = strip_quotes(&prompt("Signature", DEFAULT_SIGNATURE, true)?);
        let text = if ["?", "help", "guide", "guided"].contains(&answer.to_lowercase().as_str()) {
            let text = guided_signature()?.to_compact_string();
            println!("{}", paint(&format!("Generated signature: {text}"), Color::Green));
            text
        } else {
            answer
        };
        match check_signature(&text) {
            Ok(fields) => return Ok((text, fields)),
            Err(message) => {
                println!("{}", paint(&message.to_string(), Color::Red));
                println!("{}", paint(SIGNATURE_HINT, Color::Yellow));
            }
        }
    }
}

/// Python's `s.strip().strip('"').strip("'")`.
pub(super) fn strip_quotes(text: &str) -> String {
    text.trim().trim_matches('"').trim_matches('\'').to_owned()
}

/// Field-by-field entry; a name that is not an identifier or a type dspy does not know is
/// asked again (upstream wrote them into the file unchecked).
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
        let question = format!("  Field name (or press Enter to finish {side})");
        let name = ask_until(|| prompt(&question, "", false), field_name)?;
        if name.is_empty() {
            break;
        }
        let ty = ask_until(|| prompt("  Field type", "str", true), field_type)?;
        fields.push(Field::new(&name, &ty));
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

fn field_name(answer: &str) -> Result<String, InputError> {
    let name = answer.trim();
    if !name.is_empty() {
        checks::identifier(name, "Field")?;
    }
    Ok(name.to_owned())
}

fn field_type(answer: &str) -> Result<String, InputError> {
    let ty = answer.trim();
    SignatureFields::parse(&format!("x: {ty} -> y"))
        .map(|_| ty.to_owned())
        .map_err(|error| InputError::FieldType {
            ty: ty.to_owned(),
            error,
        })
}

pub(super) fn model() -> Result<ModelChoice, Aborted> {
    println!("{}", paint("Enter your model (LiteLLM format):", Color::Cyan));
    let examples = "  Examples: 'anthropic/claude-sonnet-4-5', 'openai/gpt-4o', 'ollama/llama2'";
    println!("{}", paint(examples, Color::BrightBlack));
    ask_until(|| prompt("Model", "openai/gpt-5-mini", true), checks::model)
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
    let key = ask_until(
        || hidden(&var),
        |key| checks::api_key(key.trim()).map(|()| key.trim().to_owned()),
    )?;
    Ok(Some(key).filter(|k| !k.is_empty()))
}
