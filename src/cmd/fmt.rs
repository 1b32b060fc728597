//! `fleetgate fmt [--check] PATH`: rewrite policy files in the canonical layout.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::diag::{self, Format};
use crate::error::CliError;
use crate::package;

/// Rewrite `.policy` files in place in the canonical layout (comments are kept).
///
/// With `--check`, change nothing: list the files that would change and exit 1 if there are any.
/// A file with a syntax error is never rewritten: its errors are reported and the exit status is 1.
#[derive(clap::Args)]
pub struct Args {
    /// Package directories or `.policy` files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Only report the files that are not formatted; exit 1 if there are any.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut changed = Vec::new();
    let mut failed = false;
    for path in &args.paths {
        for file in package::policy_files(path)? {
            let bytes = package::read_bounded(&file)?;
            let mut sources = fleetgate_lang::Sources::new();
            let id = sources.add_bytes(file.display().to_string(), &bytes);
            if let Some(d) = sources.rejection(id) {
                diag::emit(std::slice::from_ref(d), &sources, Format::Human);
                failed = true;
                continue;
            }
            let text = &sources.get(id).text;
            match fleetgate_lang::fmt::format_source(text) {
                Ok(formatted) if formatted == *text => {}
                Ok(formatted) => {
                    if !args.check {
                        std::fs::write(&file, formatted).map_err(|e| CliError::write(&file, &e))?;
                    }
                    changed.push(file);
                }
                Err(mut errors) => {
                    for e in &mut errors {
                        e.span.file = id;
                    }
                    diag::emit(&errors, &sources, Format::Human);
                    failed = true;
                }
            }
        }
    }
    for file in &changed {
        if args.check {
            crate::outln!("would reformat {}", file.display());
        } else {
            crate::outln!("reformatted {}", file.display());
        }
    }
    if args.check && !changed.is_empty() {
        eprintln!(
            "{} file{} not formatted; run `fleetgate fmt` on {} to fix",
            changed.len(),
            if changed.len() == 1 { " is" } else { "s are" },
            if changed.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(if failed || (args.check && !changed.is_empty()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
