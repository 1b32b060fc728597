//! `fleetgate diff OLD NEW [--format human|json]`: what behaves differently between two versions of a
//! package (computed by `fleetgate_compiler::diff`).

use std::path::PathBuf;
use std::process::ExitCode;

use fleetgate_compiler::diff::{self, Options, Side};

use crate::cmd::common;
use crate::diag::Format;
use crate::error::CliError;

/// Show the semantic difference between two versions of a package.
///
/// Layout, comments and the names of lets are not behaviour: conditions are compared with lets written
/// out. For rails and health rules, `diff` reports the regions of device records whose decision changed
/// (`battery in [25%, 30%), charging = false`), each with a witness record and its old and new decision:
/// exact where conditions compare single fields with constants, else with witnesses found by a seeded
/// random search. Schema, constraints, rollout settings, rings and gates are compared in words.
///
/// Exit status: 0 no behaviour changed, 1 something did, 2 a path cannot be read or a package has
/// errors (its diagnostics are printed).
#[derive(clap::Args)]
pub struct Args {
    /// The old version: a package directory or one `.policy` file.
    pub old: PathBuf,
    /// The new version.
    pub new: PathBuf,
    /// `human`, or `json` (a versioned document: `{"version": 1, "changed": …, "changes": […]}`).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    // A package with errors cannot be compared: that is a usage problem here, not a difference.
    let old = common::load_and_compile(&args.old, Format::Human).map_err(|e| e.status(2))?;
    let new = common::load_and_compile(&args.new, Format::Human).map_err(|e| e.status(2))?;
    let d = diff::diff(
        Side {
            package: &old.package,
            compiled: &old.compiled,
        },
        Side {
            package: &new.package,
            compiled: &new.compiled,
        },
        &Options::default(),
    );
    match args.format {
        Format::Human => crate::out!("{}", diff::human(&d)),
        Format::Json => crate::outln!("{}", diff::json(&d)),
    }
    Ok(if d.changed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
