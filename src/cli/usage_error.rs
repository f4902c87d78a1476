//! Usage errors printed the way click 8 prints them, so scripts that grep them keep working:
//!
//! ```text
//! Usage: dspy-cli serve [OPTIONS]
//! Try 'dspy-cli serve --help' for help.
//!
//! Error: No such option '--prot'. (Did you mean one of: '--host', '--port'?)
//! ```
//!
//! The usage line names the command path as typed (`dspy-cli g scaffold`, `dspy-cli s`), and
//! "Did you mean" hints come from Python's `difflib.get_close_matches`, as click's do.
//!
//! Why not a clap `ErrorFormatter`: a formatter sees only the `clap::Error`, so it cannot know
//! the path as typed (aliases `g`, `s`), the command's option list for difflib's hints, or the
//! extra words after an unexpected argument; clap's own usage text (`<PROGRAM_NAME>`, canonical
//! names) would have to be scraped instead. So the message is built here from clap's typed
//! parts: the `ErrorKind`, the `ContextKind` values, and the `clap::Command` tree. Only
//! `flag_name` trims clap's rendering of an argument (`--port <PORT>`).

use clap::error::{ContextKind, ContextValue, ErrorKind};

use super::ExitStatus;
use crate::scaffold::signature::repr_str as py_repr;

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

/// Click's hint: `Did you mean 'x'?` or `(Did you mean one of: 'x', 'y'?)`; empty if none is close.
fn did_you_mean(word: &str, candidates: Vec<&str>) -> String {
    // difflib.get_close_matches(word, candidates): n=3, cutoff=0.6.
    let mut close = difflib::get_close_matches(word, candidates, 3, 0.6);
    close.sort_unstable();
    let quoted: Vec<String> = close.iter().map(|c| py_repr(c)).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => format!(" Did you mean {one}?"),
        many => format!(" (Did you mean one of: {}?)", many.join(", ")),
    }
}

/// The command the error belongs to, and the path to it as the user typed it.
struct Invoked {
    command: clap::Command,
    path: Vec<String>,
}

/// Walk `argv` down the command tree: every group takes its first non-option word as a
/// subcommand name (groups here have no options that take values).
fn invoked(argv: &[String]) -> Invoked {
    let mut command = <super::Args as clap::CommandFactory>::command();
    command.build();
    let mut path = vec!["dspy-cli".to_owned()];
    let mut words = argv.iter().skip(1);
    while command.has_subcommands() {
        let Some(word) = words.find(|w| !w.starts_with('-')) else {
            break;
        };
        let Some(sub) = command.find_subcommand(word).cloned() else {
            break;
        };
        path.push(word.clone());
        command = sub;
    }
    Invoked { command, path }
}

impl Invoked {
    fn command_path(&self) -> String {
        self.path.join(" ")
    }

    /// `Usage: dspy-cli g scaffold [OPTIONS] PROGRAM_NAME`, click's `format_usage`.
    fn usage(&self) -> String {
        let mut usage = format!("Usage: {} [OPTIONS]", self.command_path());
        if self.command.has_subcommands() {
            usage.push_str(" COMMAND [ARGS]...");
        }
        for arg in self.command.get_positionals() {
            let name = arg
                .get_value_names()
                .and_then(|names| names.first())
                .map_or_else(|| arg.get_id().to_string().to_uppercase(), ToString::to_string);
            let name = if arg.is_required_set() {
                name
            } else {
                format!("[{name}]")
            };
            usage.push(' ');
            usage.push_str(&name);
        }
        usage
    }

    /// Every long option of the command, `--help` included (click's `_long_opt`).
    fn long_options(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .command
            .get_arguments()
            .filter_map(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .collect();
        if !names.iter().any(|n| n == "--help") {
            names.push("--help".to_owned());
        }
        names
    }

    /// Subcommand names and aliases (click lists both), without clap's `help`.
    fn command_names(&self) -> Vec<String> {
        self.command
            .get_subcommands()
            .flat_map(|s| std::iter::once(s.get_name()).chain(s.get_all_aliases()))
            .filter(|n| *n != "help")
            .map(str::to_owned)
            .collect()
    }
}

/// Some click errors come without the usage lines (a missing or unexpected option value).
enum Shape {
    WithUsage(String),
    Bare(String),
}

fn message(err: &clap::Error, invoked: &Invoked, argv: &[String]) -> Shape {
    let arg = context(err, ContextKind::InvalidArg)
        .map(|a| flag_name(&a))
        .unwrap_or_default();
    match err.kind() {
        ErrorKind::ValueValidation => {
            let source = std::error::Error::source(err)
                .map(ToString::to_string)
                .unwrap_or_default();
            Shape::WithUsage(format!("Invalid value for {}: {source}", py_repr(&arg)))
        }
        ErrorKind::InvalidSubcommand => {
            let name = context(err, ContextKind::InvalidSubcommand).unwrap_or_default();
            let names = invoked.command_names();
            let hint = did_you_mean(&name, names.iter().map(String::as_str).collect());
            Shape::WithUsage(format!("No such command {}.{hint}", py_repr(&name)))
        }
        ErrorKind::UnknownArgument if arg.starts_with("--") => {
            let options = invoked.long_options();
            let hint = did_you_mean(&arg, options.iter().map(String::as_str).collect());
            Shape::WithUsage(format!("No such option {}.{hint}", py_repr(&arg)))
        }
        ErrorKind::UnknownArgument if arg.starts_with('-') && arg.len() > 1 => {
            Shape::WithUsage(format!("No such option {}.", py_repr(&arg)))
        }
        ErrorKind::UnknownArgument => Shape::WithUsage(unexpected_arguments(&arg, argv)),
        ErrorKind::MissingRequiredArgument => {
            Shape::WithUsage(format!("Missing argument '{}'.", arg.trim_matches(['<', '>'])))
        }
        ErrorKind::InvalidValue if context(err, ContextKind::InvalidValue).unwrap_or_default().is_empty() => {
            Shape::Bare(format!("Option {} requires an argument.", py_repr(&arg)))
        }
        ErrorKind::InvalidValue => {
            let value = context(err, ContextKind::InvalidValue).unwrap_or_default();
            Shape::WithUsage(format!("Invalid value for {}: {}", py_repr(&arg), py_repr(&value)))
        }
        ErrorKind::TooManyValues if !arg.is_empty() => {
            Shape::Bare(format!("Option {} does not take a value.", py_repr(&arg)))
        }
        _ => Shape::WithUsage(
            err.kind()
                .as_str()
                .map_or_else(|| err.to_string(), capitalized_sentence),
        ),
    }
}

fn capitalized_sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str().trim_end_matches('.'))
    })
}

/// `Got unexpected extra argument (x)`, or `arguments (x y)` when more words follow.
fn unexpected_arguments(first: &str, argv: &[String]) -> String {
    let position = argv.iter().rposition(|a| a == first).unwrap_or(argv.len());
    let extras: Vec<&str> = argv[position..]
        .iter()
        .take_while(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let extras = if extras.is_empty() { vec![first] } else { extras };
    let noun = if extras.len() == 1 { "argument" } else { "arguments" };
    format!("Got unexpected extra {noun} ({})", extras.join(" "))
}

/// Print `err` as click would and return the exit status (help and version exit 0).
pub(super) fn report(err: &clap::Error, argv: &[String]) -> ExitStatus {
    match err.kind() {
        ErrorKind::DisplayHelp => {
            print!("{}", err.render());
            return ExitStatus::Success;
        }
        // A group called without its subcommand: click prints its help on stderr, exit 2.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("{}", err.render());
            return ExitStatus::Usage;
        }
        ErrorKind::DisplayVersion => {
            println!("dspy-cli, version {}", env!("CARGO_PKG_VERSION"));
            return ExitStatus::Success;
        }
        _ => {}
    }
    let invoked = invoked(argv);
    match message(err, &invoked, argv) {
        Shape::Bare(message) => eprintln!("Error: {message}"),
        Shape::WithUsage(message) => eprintln!(
            "{}\nTry '{} --help' for help.\n\nError: {message}",
            invoked.usage(),
            invoked.command_path()
        ),
    }
    ExitStatus::Usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_click() {
        assert_eq!(
            did_you_mean("serv", vec!["new", "generate", "g", "serve", "s"]),
            " Did you mean 'serve'?"
        );
        assert_eq!(
            did_you_mean("--prot", vec!["--port", "--host", "--logs-dir", "--help"]),
            " (Did you mean one of: '--host', '--port'?)"
        );
        assert_eq!(did_you_mean("--sav", vec!["--save-openapi", "--help"]), "");
    }

    #[test]
    fn usage_names_the_path_as_typed() {
        let argv: Vec<String> = ["dspy-cli", "g", "scaffold", "--modul"].map(String::from).to_vec();
        let found = invoked(&argv);
        assert_eq!(found.usage(), "Usage: dspy-cli g scaffold [OPTIONS] PROGRAM_NAME");
        let argv: Vec<String> = ["dspy-cli", "new", "x"].map(String::from).to_vec();
        assert_eq!(invoked(&argv).usage(), "Usage: dspy-cli new [OPTIONS] [PROJECT_NAME]");
        let argv: Vec<String> = ["dspy-cli", "serv"].map(String::from).to_vec();
        assert_eq!(invoked(&argv).usage(), "Usage: dspy-cli [OPTIONS] COMMAND [ARGS]...");
    }
}
