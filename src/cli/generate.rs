//! `dspy-cli generate` (`g`): add a scaffold, signature, module or gateway to the project in
//! the current directory. Checks run in upstream's order, each with upstream's message.

use std::path::{Path, PathBuf};

use super::ExitStatus;
use super::args::{GatewayArgs, GenerateArgs, GenerateCommand, ModuleArgs, ScaffoldArgs, SignatureArgs};
use super::checks;
use super::prompt::{Aborted, confirm, fail, parse_signature};
use super::style::{Color, paint};
use crate::config::{is_project_dir, locate_package};
use crate::scaffold::names::{GatewayKind, ModuleKind, module_keys, module_kind, signature_class_name, to_class_name};
use crate::scaffold::project::{create_dir, module_class_name, module_file_stem, write_file};
use crate::scaffold::signature::SignatureFields;
use crate::scaffold::templates::{self, SignatureSource};

pub(super) fn generate(args: &GenerateArgs) -> ExitStatus {
    let result = match &args.command {
        GenerateCommand::Scaffold(a) => scaffold(a),
        GenerateCommand::Signature(a) => signature(a),
        GenerateCommand::Module(a) => module(a),
        GenerateCommand::Gateway(a) => gateway(a),
    };
    match result {
        Ok(()) => ExitStatus::Success,
        Err(aborted) => aborted.report(),
    }
}

/// The package to write into, and the name converted for Python.
struct Target {
    package_dir: PathBuf,
    package_name: String,
    name: String,
}

impl Target {
    /// File stem of the program's files (`signatures/<stem>.py`).
    fn stem(&self) -> String {
        self.name.to_lowercase()
    }
}

/// The checks every subcommand starts with; `check_type` runs between the project check and
/// the package lookup, as upstream orders them, and its value is returned with the target.
/// `noun` names the thing in the identifier error.
fn locate<T>(
    heading: &str,
    raw_name: &str,
    noun: &'static str,
    check_type: impl FnOnce() -> Result<T, Aborted>,
) -> Result<(Target, T), Aborted> {
    println!("{heading}: {raw_name}\n");
    let cwd = std::env::current_dir().map_err(|e| fail(format!("Error: {e}")))?;
    if !is_project_dir(&cwd) {
        let aborted = fail("Error: Not in a valid DSPy project directory");
        println!("\nMake sure you're in a directory created with 'dspy-cli new'");
        println!("Required files: dspy.config.yaml, src/");
        return Err(aborted);
    }
    let checked = check_type()?;
    let (package_dir, package_name) = locate_package(&cwd).map_err(fail)?;
    // Unlike `new`, only dashes are converted here.
    let name = raw_name.replace('-', "_");
    if name != raw_name {
        println!("  Note: Converted '{raw_name}' to '{name}' for Python compatibility");
    }
    checks::identifier(&name, noun).map_err(fail)?;
    let target = Target {
        package_dir,
        package_name,
        name,
    };
    Ok((target, checked))
}

fn check_module_type(key: &str) -> Result<&'static ModuleKind, Aborted> {
    module_kind(key).ok_or_else(|| {
        let aborted = fail(format!("Error: Unknown module type '{key}'"));
        println!("\nAvailable module types: {}", module_keys());
        aborted
    })
}

fn check_gateway_type(key: &str) -> Result<GatewayKind, Aborted> {
    GatewayKind::from_key(key).ok_or_else(|| {
        let aborted = fail(format!("Error: Unknown gateway type '{key}'"));
        println!("\nAvailable gateway types: {}", GatewayKind::KEYS);
        aborted
    })
}

/// Parse `-s`; an empty value counts as absent, as upstream's `if signature:`.
fn parse_optional_signature(given: Option<&str>) -> Result<Option<SignatureFields>, Aborted> {
    given.filter(|s| !s.is_empty()).map(parse_signature).transpose()
}

/// Write `content` to `path`, asking first if it exists. `kind` is the warning's word,
/// `thing` the name in upstream's "Error creating <thing>: " (empty message when declined).
fn write_checked(path: &Path, content: &str, kind: &str, thing: &str) -> Result<(), Aborted> {
    if path.exists() {
        let warning = format!("Warning: {kind} file already exists: {}", path.display());
        println!("{}", paint(&warning, Color::Yellow));
        if !confirm("Overwrite?", false).unwrap_or(false) {
            // Upstream's message ended after the colon (its Abort had no text).
            return Err(fail(format!(
                "Error creating {thing}: the existing file was kept (answer 'y' to overwrite it)"
            )));
        }
    }
    write_file(path, content).map_err(|err| fail(format!("Error creating {thing}: {err}")))
}

fn write_signature(target: &Target, fields: Option<&SignatureFields>, thing: &str) -> Result<String, Aborted> {
    let stem = target.stem();
    let content = templates::signature_file(&stem, &signature_class_name(&target.name), fields);
    let path = target.package_dir.join("signatures").join(format!("{stem}.py"));
    write_checked(&path, &content, "Signature", thing)?;
    let label = format!("signatures/{stem}.py");
    println!("  Created: {label}");
    Ok(label)
}

fn write_module(
    target: &Target,
    kind: &ModuleKind,
    source: SignatureSource<'_>,
    fields: &SignatureFields,
    thing: &str,
) -> Result<String, Aborted> {
    let class_name = module_class_name(&target.name, kind);
    let content = templates::module_file(kind, &class_name, source, &fields.inputs);
    let stem = module_file_stem(&target.name, kind);
    let path = target.package_dir.join("modules").join(format!("{stem}.py"));
    write_checked(&path, &content, "Module", thing)?;
    let label = format!("modules/{stem}.py");
    println!("  Created: {label}");
    Ok(label)
}

fn scaffold(args: &ScaffoldArgs) -> Result<(), Aborted> {
    let (target, kind) = locate("Generating scaffold for program", &args.program_name, "Program", || {
        check_module_type(&args.module)
    })?;
    let fields = parse_optional_signature(args.signature.as_deref())?;
    if let Some(text) = args.signature.as_deref().filter(|_| fields.is_some()) {
        println!("  Signature: {text}");
    }
    println!("  Module type: {}\n  Package: {}\n", args.module, target.package_name);
    let signature_label = write_signature(&target, fields.as_ref(), "scaffold")?;
    let stem = target.stem();
    let signature_class = signature_class_name(&target.name);
    let source = SignatureSource::Class {
        package: &target.package_name,
        module: &stem,
        class_name: &signature_class,
    };
    let fields = fields.unwrap_or_else(SignatureFields::question_answer);
    let module_label = write_module(&target, kind, source, &fields, "scaffold")?;
    println!("{}", paint("✓ Scaffold created successfully!", Color::Green));
    println!("\nFiles created:\n  • {signature_label}\n  • {module_label}");
    Ok(())
}

fn signature(args: &SignatureArgs) -> Result<(), Aborted> {
    let (target, ()) = locate("Generating signature", &args.program_name, "Program", || Ok(()))?;
    let fields = parse_optional_signature(args.signature.as_deref())?;
    match args.signature.as_deref().filter(|_| fields.is_some()) {
        Some(text) => println!("  Signature: {text}"),
        None => println!("  Using default signature (question: str -> answer: str)"),
    }
    println!("  Package: {}\n", target.package_name);
    let label = write_signature(&target, fields.as_ref(), "signature")?;
    println!("{}", paint("✓ Signature created successfully!", Color::Green));
    println!("\nFile created: {label}");
    Ok(())
}

fn module(args: &ModuleArgs) -> Result<(), Aborted> {
    let (target, kind) = locate("Generating module", &args.program_name, "Program", || {
        check_module_type(&args.module)
    })?;
    println!("  Module type: {}\n  Package: {}", args.module, target.package_name);
    println!("  Using inline signature: \"question: str -> answer: str\"\n");
    let fields = SignatureFields::question_answer();
    let label = write_module(&target, kind, SignatureSource::Inline, &fields, "module")?;
    println!("{}", paint("✓ Module created successfully!", Color::Green));
    println!("\nFile created: {label}");
    Ok(())
}

fn gateway(args: &GatewayArgs) -> Result<(), Aborted> {
    let (target, kind) = locate("Generating gateway", &args.name, "Gateway", || {
        check_gateway_type(&args.gateway_type)
    })?;
    let pascal = to_class_name(&target.name);
    let path = args
        .path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("/{pascal}"));
    if kind == GatewayKind::Api {
        checks::gateway_path(&path).map_err(fail)?;
    }
    let requires_auth = !args.public;
    println!(
        "  Type: {} ({})\n  Package: {}",
        args.gateway_type,
        kind.description(),
        target.package_name
    );
    match kind {
        GatewayKind::Api => println!(
            "  Path: {path}\n  Auth required: {}",
            if requires_auth { "True" } else { "False" }
        ),
        GatewayKind::Cron => println!("  Schedule: {}", args.schedule),
    }
    println!();
    let file_name = kind.file_name(&target.name);
    write_gateway(
        &target.package_dir,
        &file_name,
        &templates::gateway_file(kind, &pascal, &path, &args.schedule, requires_auth),
    )?;
    println!("{}", paint("✓ Gateway created successfully!", Color::Green));
    println!("\nFile created: gateways/{file_name}\n\nNext steps:");
    println!("  1. Edit the gateway file to implement your transformation logic");
    println!("  2. Add 'gateway = YourGateway' to your module class");
    Ok(())
}

/// `gateways/` and its `__init__.py` are created first (kept even if overwriting is declined).
fn write_gateway(package_dir: &Path, file_name: &str, content: &str) -> Result<(), Aborted> {
    let failed = |err: &dyn std::fmt::Display| fail(format!("Error creating gateway: {err}"));
    let dir = package_dir.join("gateways");
    create_dir(&dir).map_err(|e| failed(&e))?;
    let init = dir.join("__init__.py");
    if !init.exists() {
        write_file(&init, "\"\"\"Gateway definitions.\"\"\"\n").map_err(|e| failed(&e))?;
    }
    write_checked(&dir.join(file_name), content, "Gateway", "gateway")?;
    println!("  Created: gateways/{file_name}");
    Ok(())
}
