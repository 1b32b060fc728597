//! Printing diagnostics about a package: graphical on a terminal, the same layout without colour when
//! output is not a terminal or `NO_COLOR` is set, or one JSON object per line with `--format json`.
//!
//! In: diagnostics and their sources. Out: text on stderr (human) or stdout (JSON).

use std::io::{IsTerminal, Write};

use fleetgate_lang::render::{JsonDiagnostic, Report};
use fleetgate_lang::{Diagnostic, Severity, Sources};
use miette::{GraphicalReportHandler, GraphicalTheme};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Whether stderr gets colour.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

pub fn handler(colour: bool, width: usize) -> GraphicalReportHandler {
    let theme = if colour {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_links(false)
}

/// Renders one diagnostic as text.
pub fn render(d: &Diagnostic, sources: &Sources, handler: &GraphicalReportHandler) -> String {
    let mut out = String::new();
    let report = Report::new(d, sources);
    if handler.render_report(&mut out, &report).is_err() {
        out = format!("{}: {}\n", d.code, d.message);
    }
    out
}

/// The width messages wrap at: `COLUMNS`, else 100.
pub fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

/// Prints every diagnostic; returns (errors, warnings).
pub fn emit(diagnostics: &[Diagnostic], sources: &Sources, format: Format) -> (usize, usize) {
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    match format {
        Format::Json => {
            let mut out = std::io::stdout().lock();
            for d in diagnostics {
                let json =
                    serde_json::to_string(&JsonDiagnostic::new(d, sources)).unwrap_or_default();
                let _ = writeln!(out, "{json}");
            }
        }
        Format::Human => {
            let handler = handler(colour(), terminal_width());
            let mut err = std::io::stderr().lock();
            for d in diagnostics {
                let _ = write!(err, "{}", render(d, sources, &handler));
            }
        }
    }
    (errors, warnings)
}

pub fn summary(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}
