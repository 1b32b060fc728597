//! Reading the simulator's inputs (fleet model, release) for `plan` and `simulate`: the package's
//! `Schema` for the simulator, the default file locations, and turning input errors into diagnostics.

use std::path::{Path, PathBuf};

use fleetgate_lang::Sources;
use fleetgate_lang::diagnostics::{Diagnostic, Severity};
use fleetgate_lang::typed::{Package, Ty};
use fleetgate_simulator::input::{FileKind, InputError};
use fleetgate_simulator::schema::{FieldSchema, FieldType, Schema};

use crate::diag::{self, Format};
use crate::error::CliError;

/// The simulator's view of a typed package.
pub fn schema(pkg: &Package) -> Schema {
    let fields = pkg
        .fields
        .iter()
        .map(|f| FieldSchema {
            name: f.name.clone(),
            optional: f.optional,
            ty: match f.ty {
                Ty::Bool => FieldType::Bool,
                Ty::Int => FieldType::Int,
                Ty::Float if f.percent => FieldType::Percent,
                Ty::Float => FieldType::Float,
                Ty::Duration => FieldType::Duration,
                Ty::Version => FieldType::Version,
                Ty::Enum(e) => {
                    FieldType::Enum(pkg.enum_(e).name.clone(), pkg.enum_(e).variants.clone())
                }
            },
        })
        .collect();
    let mut per_fields: Vec<usize> = pkg
        .clauses
        .iter()
        .filter_map(|c| c.per.map(|f| f.index()))
        .collect();
    per_fields.sort_unstable();
    per_fields.dedup();
    let rings: Vec<String> = pkg
        .rollout
        .as_ref()
        .map(|r| r.rings.iter().map(|x| x.name.clone()).collect())
        .unwrap_or_default();
    let mut gates: Vec<(usize, String)> = pkg
        .gates
        .iter()
        .enumerate()
        .map(|(i, g)| {
            (
                g.from.index(),
                pkg.gate_name(fleetgate_lang::typed::GateId(i as u32)),
            )
        })
        .collect();
    gates.sort();
    Schema {
        fields,
        planes: pkg.planes.iter().map(|p| p.name.clone()).collect(),
        rings,
        gates: gates.into_iter().map(|(_, g)| g).collect(),
        per_fields,
    }
}

/// `given` if set, else `PACKAGE/default_name` if the package is a directory holding it.
pub fn default_input(
    given: Option<&Path>,
    package: &Path,
    default_name: &str,
    what: &str,
) -> Result<PathBuf, CliError> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let p = package.join(default_name);
    if p.is_file() {
        return Ok(p);
    }
    Err(CliError::usage(format!(
        "no {what} given and `{}` does not exist",
        p.display()
    ))
    .help(format!(
        "pass `--{what} FILE.toml`, or put a `{default_name}` in the package directory"
    )))
}

pub fn read(path: &Path) -> Result<String, CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::io(path, &e))?;
    String::from_utf8(bytes)
        .map_err(|_| CliError::usage(format!("`{}` is not UTF-8 text", path.display())))
}

/// Input files, registered for diagnostics.
#[derive(Default)]
pub struct InputFiles {
    pub sources: Sources,
    pub fleet: Option<(fleetgate_lang::FileId, String)>,
    pub release: Option<(fleetgate_lang::FileId, String)>,
}

impl InputFiles {
    pub fn new() -> InputFiles {
        InputFiles {
            sources: Sources::new(),
            fleet: None,
            release: None,
        }
    }

    pub fn add(&mut self, kind: FileKind, path: &Path) -> Result<String, CliError> {
        let text = read(path)?;
        let id = self.sources.add(path.display().to_string(), text.clone());
        match kind {
            FileKind::Fleet => self.fleet = Some((id, text.clone())),
            FileKind::Release => self.release = Some((id, text.clone())),
        }
        Ok(text)
    }

    /// Prints input errors as diagnostics and returns the error that exits with status 2.
    pub fn fail(&self, errors: &[InputError], format: Format) -> CliError {
        let diags: Vec<Diagnostic> = errors
            .iter()
            .filter_map(|e| {
                let (id, _) = match e.file {
                    FileKind::Fleet => self.fleet.as_ref()?,
                    FileKind::Release => self.release.as_ref()?,
                };
                Some(Diagnostic {
                    code: e.code,
                    severity: Severity::Error,
                    message: e.message.clone(),
                    span: fleetgate_lang::Span::new(*id, e.span.start, e.span.end),
                    label: e.label.clone(),
                    related: Vec::new(),
                    help: e.help.clone(),
                })
            })
            .collect();
        diag::emit(&diags, &self.sources, format);
        CliError::usage(format!(
            "{} problem{} in the input files; nothing was run",
            diags.len(),
            if diags.len() == 1 { "" } else { "s" }
        ))
        .help("fix the inputs above and run again")
    }
}
