//! `dspy-cli new`: decide everything (flags first, then prompts), validate, and only then
//! write the project. A failure while writing removes the half-written directory.

use std::path::Path;

use super::ExitStatus;
use super::args::NewArgs;
use super::checks::{self, InputError};
use super::new_prompts::{self as ask, DEFAULT_SIGNATURE, ask_until, strip_quotes};
use super::prompt::{Aborted, fail, parse_signature};
use super::style::{Color, paint, style};
use crate::scaffold::names::{ModuleKind, PREDICT, module_keys, module_kind, package_name};
use crate::scaffold::project::{GitInit, NewProject, init_git};
use crate::scaffold::signature::SignatureFields;

pub(super) fn new(args: &NewArgs) -> ExitStatus {
    match run(args) {
        Ok(()) => ExitStatus::Success,
        Err(aborted) => aborted.report(),
    }
}

fn run(args: &NewArgs) -> Result<(), Aborted> {
    let cwd = std::env::current_dir().map_err(|e| fail(format!("Error: {e}")))?;
    let project_name = match args.project_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => checks::project_name(name, &cwd)
            .map(|()| name.to_owned())
            .map_err(fail)?,
        None => ask_until(ask::project_name, |name| {
            checks::project_name(name, &cwd).map(|()| name.to_owned())
        })
        .map_err(|a| a.unless_flag("the project name (dspy-cli new NAME)"))?,
    };
    let root = cwd.join(&project_name);
    // Only a bare `new` (no -p, -m, -s) offers to skip the program questions.
    let customize = if args.program_name.is_none() && args.module_type.is_none() && args.signature.is_none() {
        ask::setup_first_program().map_err(|a| a.unless_flag("--program-name, --module-type or --signature"))?
    } else {
        true
    };
    let program_name = program_name(args, customize)?;
    let module = module(args, customize)?;
    let (signature_text, signature) = signature(args, customize)?;
    let model = match &args.model {
        Some(model) => checks::model(model).map_err(fail)?,
        None => ask::model().map_err(|a| a.unless_flag("--model MODEL"))?,
    };
    let api_key = if model.is_local() {
        let message = format!("Detected local model provider: {}", model.provider_display());
        println!("{}", paint(&message, Color::Green));
        None
    } else if let Some(key) = &args.api_key {
        checks::api_key(key).map_err(fail)?;
        Some(key.clone())
    } else {
        ask::api_key(&model).map_err(|a| a.unless_flag("--api-key KEY (--api-key \"\" to add it to .env later)"))?
    };
    let project = NewProject {
        package_name: package_name(&project_name),
        project_name,
        program_name,
        module,
        signature,
        model,
        api_key,
    };
    print_summary(&project, &signature_text);
    create(&project, &root)
}

/// Upstream's conversion (`-` and spaces become `_`) with its note, then the identifier check.
fn converted_program_name(original: &str) -> Result<String, InputError> {
    let name = original.replace(['-', ' '], "_");
    if name != original {
        println!("Note: Converted program name '{original}' to '{name}' for Python compatibility");
    }
    checks::identifier(&name, "Program").map(|()| name)
}

fn program_name(args: &NewArgs, customize: bool) -> Result<String, Aborted> {
    match &args.program_name {
        Some(name) => converted_program_name(name).map_err(fail),
        None if customize => {
            ask_until(ask::program_name, converted_program_name).map_err(|a| a.unless_flag("--program-name NAME"))
        }
        None => Ok("my_program".to_owned()),
    }
}

fn module(args: &NewArgs, customize: bool) -> Result<&'static ModuleKind, Aborted> {
    match &args.module_type {
        None if customize => ask::module_type().map_err(|a| a.unless_flag("--module-type TYPE")),
        None => Ok(PREDICT),
        Some(key) => module_kind(key).ok_or_else(|| {
            let aborted = fail(format!("Error: Unknown module type '{key}'"));
            println!("Available: {}", module_keys());
            aborted
        }),
    }
}

fn signature(args: &NewArgs, customize: bool) -> Result<(String, Option<SignatureFields>), Aborted> {
    let Some(given) = &args.signature else {
        return if customize {
            let (text, fields) = ask::signature().map_err(|a| a.unless_flag("--signature \"inputs -> outputs\""))?;
            Ok((text, Some(fields)))
        } else {
            Ok((DEFAULT_SIGNATURE.to_owned(), None))
        };
    };
    let text = strip_quotes(given);
    let fields = parse_signature(&text)?;
    Ok((text, Some(fields)))
}

fn print_summary(project: &NewProject, signature_text: &str) {
    println!();
    let name = style(&project.project_name, Color::Green, true);
    println!("Creating new DSPy project: {name}");
    println!("  Package name: {}", project.package_name);
    println!("  Initial program: {}", project.program_name);
    println!("  Module type: {}", project.module.display_name);
    println!("  Signature: {signature_text}");
    println!("  Model: {}", project.model.full);
    println!();
}

fn create(project: &NewProject, root: &Path) -> Result<(), Aborted> {
    if let Err(err) = project.write(root, &mut |label| println!("  Created: {label}")) {
        let aborted = fail(format!("Error creating project: {err}"));
        std::fs::remove_dir_all(root).ok();
        return Err(aborted);
    }
    match init_git(root) {
        GitInit::Initialized => println!("  Initialized git repository"),
        GitInit::Failed(err) => {
            println!(
                "{}",
                paint(&format!("  Warning: Could not initialize git: {err}"), Color::Yellow)
            );
        }
        GitInit::NotFound => {
            let warning = "  Warning: git not found, skipping repository initialization";
            println!("{}", paint(warning, Color::Yellow));
        }
    }
    println!("{}", paint("✓ Project created successfully!", Color::Green));
    println!("\nNext steps:");
    println!("  cd {}", project.project_name);
    if project.api_key.as_deref().is_none_or(str::is_empty) && !project.model.is_local() {
        println!("  # Add your {} to .env", project.model.env_var());
    }
    // Upstream said `uv sync`, which cannot find dspy-cli-rs until it is on the package index.
    println!("  mkdir -p wheels && cp /path/to/dspy-cli-rs/dist/dspy_cli_rs-*.whl wheels/");
    println!("  python -m venv .venv && .venv/bin/pip install --find-links wheels -e .   # or: uv sync");
    println!("  dspy-cli serve");
    Ok(())
}
