//! `fleetgate check PATH`: parse, resolve and type-check a package and report every problem.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::diag::{self, Format};
use crate::error::CliError;
use crate::package;

/// Type-check a policy package and report every error and warning.
///
/// Exit status: 0 when the package has no error (warnings are allowed), 1 when it has errors, 2 when
/// the path cannot be read.
#[derive(clap::Args)]
pub struct Args {
    /// A package directory (every `.policy` file below it) or one `.policy` file.
    pub path: PathBuf,
    /// `human` (graphical on a terminal) or `json` (one object per diagnostic per line, on stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut loaded = package::load(&args.path)?;
    let mut diagnostics = Vec::new();
    if loaded.files.is_empty() {
        let id = loaded.sources.add(args.path.display().to_string(), "");
        diagnostics.push(fleetgate_lang::diagnostics::empty_package(fleetgate_lang::Span::new(id, 0, 0)));
    } else {
        let checked = fleetgate_lang::check(&loaded.sources);
        diagnostics = checked.diagnostics;
    }
    let (errors, warnings) = diag::emit(&diagnostics, &loaded.sources, args.format);
    if args.format == Format::Human {
        let verdict = if errors == 0 { "ok" } else { "failed" };
        eprintln!("check {verdict}: {} in {} file{}", diag::summary(errors, warnings), loaded.files.len(), if loaded.files.len() == 1 { "" } else { "s" });
    }
    Ok(if errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
