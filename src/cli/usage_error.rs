//! Usage errors printed the way click prints them, so scripts that grep them keep working:
//!
//! ```text
//! Usage: dspy-cli serve [OPTIONS]
//! Try 'dspy-cli serve --help' for help.
//!
//! Error: Invalid value for '--port': 0 is not in the range 1<=x<=65535.
//! ```

use clap::error::{ContextKind, ContextValue, ErrorKind};

use super::ExitStatus;

fn context(err: &clap::Error, kind: ContextKind) -> Option<String> {
    match err.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        other => Some(other.to_string()),
    }
}

/// The flag name without its value placeholder: `--port <PORT>` → `--port`.
fn flag_name(arg: &str) -> String {
    arg.split([' ', '=']).next().unwrap_or(arg).to_owned()
}

fn message(err: &clap::Error) -> String {
    let arg = context(err, ContextKind::InvalidArg)
        .map(|a| flag_name(&a))
        .unwrap_or_default();
    match err.kind() {
        ErrorKind::ValueValidation => {
            let source = std::error::Error::source(err)
                .map(ToString::to_string)
                .unwrap_or_default();
            format!("Invalid value for '{arg}': {source}")
        }
        ErrorKind::InvalidSubcommand => {
            format!(
                "No such command '{}'.",
                context(err, ContextKind::InvalidSubcommand).unwrap_or_default()
            )
        }
        ErrorKind::UnknownArgument => format!("No such option: {arg}"),
        ErrorKind::MissingRequiredArgument => {
            format!("Missing argument '{}'.", arg.trim_matches(['<', '>']))
        }
        ErrorKind::InvalidValue => {
            let value = context(err, ContextKind::InvalidValue).unwrap_or_default();
            if value.is_empty() {
                format!("Option '{arg}' requires an argument.")
            } else {
                format!("Invalid value for '{arg}': {value}")
            }
        }
        _ => err.kind().as_str().map_or_else(|| err.to_string(), ToOwned::to_owned),
    }
}

/// Print `err` (help and version go to stdout with exit 0) and return the exit status.
pub(super) fn report(err: &clap::Error) -> ExitStatus {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            print!("{}", err.render());
            return if err.kind() == ErrorKind::DisplayHelp {
                ExitStatus::Success
            } else {
                ExitStatus::Usage
            };
        }
        ErrorKind::DisplayVersion => {
            println!("dspy-cli, version {}", env!("CARGO_PKG_VERSION"));
            return ExitStatus::Success;
        }
        _ => {}
    }
    let rendered = err.render().to_string();
    let usage = rendered
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or("Usage: dspy-cli [OPTIONS] COMMAND [ARGS]...");
    let command = usage
        .trim_start_matches("Usage: ")
        .split(" [")
        .next()
        .unwrap_or("dspy-cli")
        .split(" <")
        .next()
        .unwrap_or("dspy-cli");
    eprintln!("{usage}\nTry '{command} --help' for help.\n\nError: {}", message(err));
    ExitStatus::Usage
}
