//! Click-style prompts on stdin/stdout: `Text [default]: `, `[Y/n]` confirmations and hidden
//! input for API keys. End of input (or Ctrl+C) aborts the command like click's `Abort`.

use std::io::{IsTerminal, Write};

use super::ExitStatus;
use super::checks::InputError;
use super::style::{Color, paint};
use crate::scaffold::signature::SignatureFields;

/// The command was aborted; what went wrong has already been printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Aborted {
    /// A prompt found stdin closed (a non-interactive run), rather than an error or Ctrl+C.
    end_of_input: bool,
}

impl Aborted {
    /// Click's ending for an aborted command: `Aborted!` on stderr, exit 1.
    #[expect(
        clippy::unused_self,
        reason = "taking the value ends it: nothing runs on after the report"
    )]
    pub(super) fn report(self) -> ExitStatus {
        eprintln!("Aborted!");
        ExitStatus::Failure
    }

    /// When a prompt found no input, say which flag answers it (upstream only said `Aborted!`).
    pub(super) fn unless_flag(self, flag: &str) -> Self {
        if self.end_of_input {
            println!();
            let message = format!(
                "Error: no answer to this question (standard input is closed). Pass {flag} to answer it without a prompt."
            );
            println!("{}", paint(&message, Color::Red));
        }
        Self { end_of_input: false }
    }
}

/// Print `message` in red on stdout and abort (click's `echo(style(..., fg="red"))` + `Abort`).
pub(super) fn fail(message: impl std::fmt::Display) -> Aborted {
    println!("{}", paint(&message.to_string(), Color::Red));
    Aborted { end_of_input: false }
}

/// What to type instead, printed under every signature error.
pub(super) const SIGNATURE_HINT: &str = "Write it as \"inputs -> outputs\", e.g. \"question -> answer\" or \"text, context: list[str] -> summary, tags: list[str]\".";

/// Check a signature string for a program: dspy's grammar (upstream's `parse_signature_string`
/// asked dspy itself, with its messages) plus at least one output field, since a program
/// without outputs answers every request with `{}`.
pub(super) fn check_signature(text: &str) -> Result<SignatureFields, InputError> {
    let fields = SignatureFields::parse(text).map_err(InputError::Signature)?;
    if fields.outputs.is_empty() {
        return Err(InputError::NoOutputs(text.to_owned()));
    }
    Ok(fields)
}

/// [`check_signature`] for a flag's value: the error and how to fix it are printed in red.
pub(super) fn parse_signature(text: &str) -> Result<SignatureFields, Aborted> {
    check_signature(text).map_err(|refused| {
        println!("{}", paint(&refused.to_string(), Color::Red));
        fail(SIGNATURE_HINT)
    })
}

/// Ask for a value; an empty answer takes `default`. `show_default` adds ` [default]`.
pub(super) fn prompt(text: &str, default: &str, show_default: bool) -> Result<String, Aborted> {
    let suffix = if show_default {
        format!(" [{default}]")
    } else {
        String::new()
    };
    print!("{text}{suffix}: ");
    let answer = read_line()?;
    Ok(if answer.is_empty() { default.to_owned() } else { answer })
}

/// A yes/no question, re-asked until the answer is y, yes, n, no or empty (the default).
pub(super) fn confirm(text: &str, default: bool) -> Result<bool, Aborted> {
    let choices = if default { "Y/n" } else { "y/N" };
    loop {
        print!("{text} [{choices}]: ");
        match read_line()?.trim().to_lowercase().as_str() {
            "y" | "yes" => return Ok(true),
            "n" | "no" => return Ok(false),
            "" => return Ok(default),
            _ => println!("Error: invalid input"),
        }
    }
}

/// Read a secret without echoing it when stdin is a terminal. Like Python's `getpass`, the
/// prompt goes to stderr (so it is not captured with the output) and, when echo cannot be
/// turned off, a warning says so.
pub(super) fn hidden(text: &str) -> Result<String, Aborted> {
    std::io::stdout().flush().ok();
    let stdin = std::io::stdin();
    let answer = if stdin.is_terminal() {
        // Echo goes off before the prompt shows, so nothing typed after it is ever echoed.
        let _echo_off = EchoOff::new(&stdin);
        eprint!("{text}: ");
        read_line()
    } else {
        eprint!("Warning: Password input may be echoed.\n{text}: ");
        read_line()
    };
    match answer {
        Ok(_) => eprintln!(),
        // Click prints the newline a terminal would have shown before aborting.
        Err(_) => println!(),
    }
    answer
}

/// Read one line from stdin (without its newline). EOF before any character, and an
/// interrupted read (Ctrl+C), abort.
fn read_line() -> Result<String, Aborted> {
    std::io::stdout().flush().ok();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match read_byte(&mut byte)? {
            Ok(0) if line.is_empty() => return Err(Aborted { end_of_input: true }),
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(_) => return Err(Aborted { end_of_input: false }),
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// One byte from stdin, unbuffered (so nothing typed ahead is held in a buffer that polling
/// cannot see). `Err(Aborted)` when Ctrl+C was pressed while waiting.
///
/// The wait is a poll in short steps, not one blocking read: a Ctrl+C that lands just before
/// the read starts only sets Python's signal flag and would leave the read waiting for ever,
/// so between steps the flag is checked (Python's handler raises KeyboardInterrupt).
#[cfg(unix)]
fn read_byte(byte: &mut [u8; 1]) -> Result<std::io::Result<usize>, Aborted> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let stdin = std::io::stdin();
    let step = Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    loop {
        if pyo3::Python::attach(|py| py.check_signals().is_err()) {
            return Err(Aborted { end_of_input: false });
        }
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        match poll(&mut fds, Some(&step)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => {}
            // Readable, at end of input, or not pollable: the read tells which.
            Ok(_) | Err(_) => {
                return Ok(match rustix::io::read(&stdin, byte) {
                    // No stdin at all (fd 0 closed) reads as end of input, as Rust's Stdin does.
                    Err(rustix::io::Errno::BADF) => Ok(0),
                    other => other.map_err(std::io::Error::from),
                });
            }
        }
    }
}

#[cfg(not(unix))]
fn read_byte(byte: &mut [u8; 1]) -> Result<std::io::Result<usize>, Aborted> {
    Ok(std::io::Read::read(&mut std::io::stdin().lock(), byte))
}

/// Turns terminal echo off until dropped.
#[cfg(unix)]
struct EchoOff<'a> {
    stdin: &'a std::io::Stdin,
    saved: Option<rustix::termios::Termios>,
}

#[cfg(unix)]
impl<'a> EchoOff<'a> {
    fn new(stdin: &'a std::io::Stdin) -> Self {
        use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
        let saved = tcgetattr(stdin).ok();
        if let Some(mut quiet) = saved.clone() {
            quiet.local_modes.remove(LocalModes::ECHO);
            // `Now`, not `Flush`: input typed ahead of the prompt must not be thrown away.
            tcsetattr(stdin, OptionalActions::Now, &quiet).ok();
        }
        Self { stdin, saved }
    }
}

#[cfg(unix)]
impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            rustix::termios::tcsetattr(self.stdin, rustix::termios::OptionalActions::Now, saved).ok();
        }
    }
}

/// Without termios the answer is read with echo on (still never printed by us).
#[cfg(not(unix))]
struct EchoOff;

#[cfg(not(unix))]
impl EchoOff {
    fn new(_stdin: &std::io::Stdin) -> Self {
        Self
    }
}
