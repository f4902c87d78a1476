//! `click.style` for our output: ANSI colours only when stdout is a terminal, as `click.echo`
//! strips them otherwise (so captured output is plain text).

use std::io::IsTerminal;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy)]
pub(super) enum Color {
    Red,
    Green,
    Yellow,
    Cyan,
    BrightBlack,
}

fn colors_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::io::stdout().is_terminal())
}

pub(super) fn paint(text: &str, color: Color) -> String {
    style(text, color, false)
}

/// Click's escape sequence order: colour, then bold, then the text and one reset.
pub(super) fn style(text: &str, color: Color, bold: bool) -> String {
    if !colors_enabled() {
        return text.to_owned();
    }
    let code = match color {
        Color::Red => 31,
        Color::Green => 32,
        Color::Yellow => 33,
        Color::Cyan => 36,
        Color::BrightBlack => 90,
    };
    let bold = if bold { "\x1b[1m" } else { "" };
    format!("\x1b[{code}m{bold}{text}\x1b[0m")
}
