//! Helpers shared by the integration tests of `fleetgate-lang`: finding policy files, and what
//! "the same meaning" is when a source is reformatted.
//!
//! Each test binary includes this module and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use fleetgate_lang::{Checked, Severity, Sources};

/// The workspace root (the parent of `lang/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("lang/ has a parent")
        .to_path_buf()
}

/// Every `.policy` file below `dir`, sorted, skipping `target/` and hidden directories.
pub fn policy_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    dirs.push(p);
                }
            } else if p.extension().is_some_and(|e| e == "policy") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// What checking a package means, layout aside: the (severity, code) of every diagnostic, and the
/// typed package's `Debug` form with every span removed.
#[derive(Debug, PartialEq, Eq)]
pub struct Meaning {
    pub diagnostics: Vec<(Severity, &'static str)>,
    pub package: Option<String>,
}

pub fn meaning(checked: &Checked) -> Meaning {
    let mut diagnostics: Vec<(Severity, &'static str)> = checked
        .diagnostics
        .iter()
        .map(|d| (d.severity, d.code))
        .collect();
    diagnostics.sort();
    Meaning {
        diagnostics,
        package: checked
            .package
            .as_ref()
            .map(|p| strip_spans(&format!("{p:?}"))),
    }
}

/// Checks `(name, text)` files as one package.
pub fn check_texts(files: &[(String, String)]) -> Checked {
    let mut sources = Sources::new();
    for (name, text) in files {
        sources.add(name.clone(), text.clone());
    }
    fleetgate_lang::check(&sources)
}

/// `Debug` output without its spans (`Span { file: FileId(0), start: 1, end: 2 }` becomes `Span`),
/// the only data of a typed package that depends on where things are in the source.
pub fn strip_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find("Span {") {
        out.push_str(&rest[..at]);
        out.push_str("Span");
        let after = &rest[at..];
        let close = after.find('}').expect("a span's debug form closes");
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Formats `text` twice; the second pass must change nothing. `None` when the text does not parse.
pub fn format_idempotent(name: &str, text: &str) -> Result<Option<String>, String> {
    let Ok(once) = fleetgate_lang::fmt::format_source(text) else {
        return Ok(None);
    };
    match fleetgate_lang::fmt::format_source(&once) {
        Ok(twice) if twice == once => Ok(Some(once)),
        Ok(twice) => Err(format!(
            "{name}: formatting is not idempotent\n--- once\n{once}\n--- twice\n{twice}"
        )),
        Err(errors) => Err(format!(
            "{name}: the formatted text does not parse: {:?}\n--- formatted\n{once}",
            errors.iter().map(|e| &e.message).collect::<Vec<_>>()
        )),
    }
}
