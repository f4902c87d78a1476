//! What `serve` prints on stdout at start-up (upstream's wording).

use crate::engine::{LoadFailure, LoadedProject, RouteKind};

/// The program listing: under each program the routes actually served, its cron jobs, and
/// what is not served with the reason.
pub(super) fn print_programs(loaded: &LoadedProject, package: &str, no_cron: bool) {
    println!("\nDiscovered Programs:\n");
    let routes = &loaded.engine.routes;
    let names: Vec<&str> = loaded.project.catalog.program_names().collect();
    if names.is_empty() {
        println!(
            "  No programs discovered\n\nMake sure your DSPy modules:\n  1. Are in src/{package}/modules/\n  2. Subclass dspy.Module\n  3. Are not named with a leading underscore\n  4. If you are using external dependencies:\n     - Ensure your venv is activated (source .venv/bin/activate)\n     - Make sure you have dspy-cli-rs as a local dependency\n     - Install them using pip install -e .\n"
        );
        return;
    }
    for name in names {
        println!("  • {name}");
        for route in routes.iter().filter(|r| &*r.program == name) {
            let kind = if route.is_async { "aforward" } else { "forward" };
            match route.kind {
                RouteKind::Http => println!("    {} {}  ({kind})", route.method, route.path),
                RouteKind::GatewayApp => {
                    for app_route in &route.app_routes {
                        println!("    {app_route}  ({kind}, FastAPI route of its gateway)");
                    }
                }
                RouteKind::Cron => {}
            }
        }
        for job in loaded.engine.cron_jobs.iter().filter(|j| j.program == name) {
            let state = if no_cron { "  (not scheduled: --no-cron)" } else { "" };
            println!("    CRON {} schedule={}{state}", job.gateway, job.schedule);
        }
        for note in loaded.project.notes.get(name).into_iter().flatten() {
            println!("    {note}");
        }
        println!();
    }
    println!("Additional Endpoints:\n");
    println!("  GET /programs - List all programs");
    println!("  GET /openapi.json - OpenAPI specification");
    println!("  GET /health/live, /health/ready - Liveness and readiness probes\n");
}

/// Every module file that failed to load, with the line and the error, so nothing is dropped
/// silently (the same list is in `/health/ready`). Returns how many there are.
pub(super) fn print_load_errors(errors: &[LoadFailure]) -> usize {
    if errors.is_empty() {
        return 0;
    }
    println!("Failed to load:\n");
    for error in errors {
        let file = &error.file;
        let place = match error.line {
            Some(line) => format!("{file}:{line}"),
            None => file.clone(),
        };
        let program = error
            .program
            .as_ref()
            .map(|p| format!(" (class {p}: requests answer 500 until it can be created)"))
            .unwrap_or_default();
        println!("  ✗ {place}: {}{program}", error.error);
    }
    println!();
    errors.len()
}

/// `extra` (the `--auth` lines) goes between the banner and the Ctrl+C hint, as upstream.
pub(super) fn print_banner(host: &str, port: u16, extra: &str) {
    let shown = if host == "0.0.0.0" { "localhost" } else { host };
    let rule = "=".repeat(60);
    println!("{rule}\nServer starting on http://{shown}:{port}\n{rule}\n");
    print!("{extra}");
    println!("Press Ctrl+C to stop the server\n");
}
