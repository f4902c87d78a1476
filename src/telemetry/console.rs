//! Server logs on stderr, in the format Python's logging uses in dspy-cli:
//! `YYYY-MM-DD HH:MM:SS - <logger> - LEVEL - message`.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::redact::redact;

struct PythonLoggingFormat;

impl<S, N> FormatEvent<S, N> for PythonLoggingFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let target = meta.target();
        // Our own modules log as "dspy_cli.<area>" like the Python side does.
        let logger = if target.starts_with("_native") {
            "dspy_cli.server"
        } else {
            target
        };
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S");
        let level = match *meta.level() {
            tracing::Level::WARN => "WARNING",
            level => level.as_str(),
        };
        // Format into a buffer first: every line is redacted before it reaches stderr.
        let mut message = String::new();
        ctx.field_format().format_fields(Writer::new(&mut message), event)?;
        writeln!(writer, "{now} - {logger} - {level} - {}", redact(&message))
    }
}

/// Install the stderr logger once; later calls are no-ops.
pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(crate::config::EnvVars::DSPY_CLI_LOG)
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(PythonLoggingFormat)
        .try_init()
        .ok();
}
