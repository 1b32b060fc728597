//! Steps several subcommands share: load and check a package, compile it, and describe compiled
//! things (clauses, decisions) for people.

use std::path::Path;

use fleetgate_compiler::Compiled;
use fleetgate_compiler::sidecar::Sidecar;
use fleetgate_lang::Sources;
use fleetgate_lang::typed::{Package, format_duration};
use fleetgate_runtime::decision::{GateDecision, HealthVerdict, RailVerdict};

use crate::diag::{self, Format};
use crate::error::CliError;
use crate::package;

/// A package that checked clean and compiled.
pub struct Ready {
    pub sources: Sources,
    pub package: Package,
    pub compiled: Compiled,
    /// The path the package was loaded from.
    pub path: std::path::PathBuf,
}

impl Ready {
    /// The package's name: its directory's (or file's) name.
    pub fn package_name(&self) -> String {
        self.path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("package")
            .to_string()
    }
}

/// Loads, checks and compiles a package; prints its diagnostics. `Err` with status 1 when the package
/// has errors (they have been printed), 2 when it cannot be read.
pub fn load_and_compile(path: &Path, format: Format) -> Result<Ready, CliError> {
    let mut loaded = package::load(path)?;
    if loaded.files.is_empty() {
        let id = loaded.sources.add(path.display().to_string(), "");
        let d = fleetgate_lang::diagnostics::empty_package(fleetgate_lang::Span::new(id, 0, 0));
        diag::emit(&[d], &loaded.sources, format);
        return Err(
            CliError::usage(format!("`{}` has no `.policy` files", path.display())).status(1),
        );
    }
    let checked = fleetgate_lang::check(&loaded.sources);
    let warnings: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| !d.is_error())
        .cloned()
        .collect();
    let Some(package) = checked.package else {
        diag::emit(&checked.diagnostics, &loaded.sources, format);
        return Err(CliError::usage(format!("`{}` has errors", path.display()))
            .help(format!(
                "run `fleetgate check {}` for the full report",
                path.display()
            ))
            .status(1));
    };
    diag::emit(&warnings, &loaded.sources, format);
    match fleetgate_compiler::compile(&package, &loaded.sources) {
        Ok(compiled) => Ok(Ready {
            sources: loaded.sources,
            package,
            compiled,
            path: path.to_path_buf(),
        }),
        Err(errors) => {
            diag::emit(&errors, &loaded.sources, format);
            Err(CliError::usage(format!("`{}` does not compile", path.display())).status(1))
        }
    }
}

/// `rail power: deny "battery low" (rails.policy:3)`.
pub fn clause_line(side: &Sidecar, c: u16) -> String {
    match side.clause(usize::from(c)) {
        Some(i) => format!(
            "{} {}: {} \"{}\" ({}:{})",
            kind_rule_word(&i.kind),
            i.rule,
            i.kind,
            i.reason,
            i.file,
            i.line
        ),
        None => format!("clause {c}"),
    }
}

fn kind_rule_word(kind: &str) -> &'static str {
    match kind {
        "deny" | "defer" => "rail",
        "rollback" => "health",
        "require" | "abort" => "gate",
        _ => "constraint",
    }
}

pub fn rail_verdict(v: &RailVerdict) -> String {
    match v {
        RailVerdict::Allow => "allow".into(),
        RailVerdict::Defer { secs } => format!("defer {}", format_duration(i64::from(*secs))),
        RailVerdict::Deny => "deny".into(),
    }
}

pub fn health_verdict(v: &HealthVerdict, side: &Sidecar) -> String {
    match v {
        HealthVerdict::Healthy => "healthy".into(),
        HealthVerdict::Inconclusive => "inconclusive".into(),
        HealthVerdict::Rollback { planes } => {
            let names: Vec<&str> = planes
                .iter()
                .filter_map(|p| side.planes.get(usize::from(p)).map(String::as_str))
                .collect();
            format!("rollback {}", names.join(", "))
        }
    }
}

pub fn gate_verdict(d: &GateDecision, side: &Sidecar) -> String {
    match d {
        GateDecision::Promote => "promote".into(),
        GateDecision::Hold { unmet, soak_met } => {
            let mut parts: Vec<String> = unmet
                .iter()
                .filter_map(|c| side.clause(c.index()))
                .map(|i| format!("require {}", i.reason))
                .collect();
            if !soak_met {
                parts.push("soak time not reached".into());
            }
            format!("hold ({})", parts.join("; "))
        }
        GateDecision::Abort { clauses } => {
            let reasons: Vec<String> = clauses
                .iter()
                .filter_map(|c| side.clause(c.index()))
                .map(|i| format!("\"{}\"", i.reason))
                .collect();
            format!("abort {}", reasons.join(", "))
        }
    }
}
