//! The command line: clap definitions, click-compatible error output, and dispatch.

mod args;
mod banner;
mod checks;
mod cron;
mod data_settings;
mod generate;
mod interpreter;
mod mock_lm;
mod new;
mod new_prompts;
mod prompt;
mod serve;
mod serve_limits;
mod serve_security;
mod serve_settings;
mod style;
mod usage_error;

use pyo3::prelude::*;

pub(crate) use args::{Args, Command, ServeArgs};

/// Process exit codes, as click uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    Success = 0,
    /// A user-facing failure (bad config, project error, aborted prompt).
    Failure = 1,
    /// A usage error (bad flag or argument).
    Usage = 2,
}

/// Parse `argv` (including the program name) and run the command.
pub(crate) fn run(py: Python<'_>, mut argv: Vec<String>) -> ExitStatus {
    // Usage lines say `dspy-cli` whether we run as the console script or `python -m dspy_cli`.
    if let Some(program) = argv.first_mut() {
        "dspy-cli".clone_into(program);
    }
    // `cron` runs user code too.
    let is_serve = argv.get(1).is_some_and(|c| c == "serve" || c == "s" || c == "cron");
    if !is_serve {
        // Python ignores SIGPIPE, so `dspy-cli --help | head` would make println! panic. Short
        // commands die quietly instead, like any CLI. `serve` keeps Python's setting: there a
        // write to a closed LM socket from Python code must raise, not kill the server.
        restore_default_sigpipe(py);
    }
    let args = match <Args as clap::Parser>::try_parse_from(&argv) {
        Ok(args) => args,
        Err(err) => {
            // Help and usage errors run no user code: `serve --help | head` must not panic.
            if is_serve {
                restore_default_sigpipe(py);
            }
            return usage_error::report(&err, &argv);
        }
    };
    match args.command {
        None => {
            // As click: a group without its command prints its help on stderr.
            let mut command = <Args as clap::CommandFactory>::command();
            eprintln!("{}", command.render_help());
            ExitStatus::Usage
        }
        Some(Command::New(new_args)) => new::new(&new_args),
        Some(Command::Generate(generate_args)) => generate::generate(&generate_args),
        Some(Command::Serve(serve_args)) => serve::serve(py, &serve_args, &argv),
        Some(Command::MockLm(mock_args)) => mock_lm::mock_lm(py, &mock_args),
        Some(Command::Cron(cron_args)) => cron::cron(py, &cron_args, &argv),
    }
}

fn restore_default_sigpipe(py: Python<'_>) {
    let restored = py.import("signal").and_then(|signal| {
        let (sigpipe, default) = (signal.getattr("SIGPIPE")?, signal.getattr("SIG_DFL")?);
        signal.call_method1("signal", (sigpipe, default))
    });
    if let Err(err) = restored {
        tracing::debug!("could not restore SIGPIPE: {err}");
    }
}
