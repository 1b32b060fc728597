//! `fleetgate check PATH`: parse, resolve and type-check a package, compile it, and report every
//! problem, the static cost bound per kind of rule, and clauses that can never or always fire.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cmd::build::cost_table;
use crate::diag::{self, Format};
use crate::error::CliError;
use crate::package;

/// Type-check a policy package and report every error and warning.
///
/// On a package without errors, also compiles it, reports the static cost bound of each kind of rule
/// (the most bytecode instructions one evaluation can run) and warns about clauses that an interval
/// analysis over the schema's types shows can never fire or fire for every device.
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
    let mut costs = None;
    if loaded.files.is_empty() {
        let id = loaded.sources.add(args.path.display().to_string(), "");
        diagnostics.push(fleetgate_lang::diagnostics::empty_package(
            fleetgate_lang::Span::new(id, 0, 0),
        ));
    } else {
        let checked = fleetgate_lang::check(&loaded.sources);
        diagnostics = checked.diagnostics;
        if let Some(pkg) = &checked.package {
            match fleetgate_compiler::compile(pkg, &loaded.sources) {
                Ok(compiled) => costs = Some(cost_table(&compiled)),
                Err(errors) => diagnostics.extend(errors),
            }
            diagnostics.extend(fleetgate_compiler::analysis::clause_warnings(pkg));
            fleetgate_lang::diagnostics::sort(&mut diagnostics);
        }
    }
    let (errors, warnings) = diag::emit(&diagnostics, &loaded.sources, args.format);
    if args.format == Format::Human {
        if let Some(costs) = costs {
            crate::outln!("cost bounds (bytecode instructions per evaluation):");
            crate::out!("{costs}");
        }
        let verdict = if errors == 0 { "ok" } else { "failed" };
        let files = loaded.files.len();
        eprintln!(
            "check {verdict}: {} in {files} file{}",
            diag::summary(errors, warnings),
            if files == 1 { "" } else { "s" }
        );
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
