//! The annotated corpus: every package under `lang/test_data/valid/` and `lang/test_data/invalid/`
//! checked against the diagnostics its comments announce.
//!
//! In: packages (a `.policy` file is a one-file package, a directory a package of every `.policy` file
//! below it). Out: a failure listing, per package, each diagnostic that was announced but not produced
//! and each one produced but not announced.
//!
//! Annotations are trailing comments on the line a diagnostic points at (the line of its span's start):
//! `//~ ERROR code` or `//~ WARNING code`, with the code without its `fleetgate::lang::` prefix. A line
//! may carry several (`//~ ERROR a //~ WARNING b`); `//~^ ERROR code` (one `^` per line) points at the
//! line above, for lines that cannot carry a comment. Annotations count: two identical diagnostics on
//! one line need two annotations.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use fleetgate_lang::{Severity, Sources};

const PREFIX: &str = "fleetgate::lang::";

/// One expected or produced diagnostic: file, line, severity, code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Mark {
    file: String,
    line: usize,
    severity: &'static str,
    code: String,
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

/// The packages directly under `dir`, sorted: `.policy` files and directories.
fn packages(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "policy"))
        .collect();
    out.sort();
    out
}

/// Every `.policy` file of a package, sorted by path.
fn package_files(package: &Path) -> Vec<PathBuf> {
    if package.is_file() {
        return vec![package.to_path_buf()];
    }
    let mut files = Vec::new();
    let mut dirs = vec![package.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable directory") {
            let p = entry.expect("directory entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "policy") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The name a file gets in diagnostics: its path below `test_data/`, with `/` separators.
fn display_name(path: &Path) -> String {
    let rel = path.strip_prefix(data_dir()).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The annotations of one file's text.
fn annotations(file: &str, text: &str) -> Result<Vec<Mark>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("//~") {
            rest = &rest[at + 3..];
            let carets = rest.chars().take_while(|&c| c == '^').count();
            let body = &rest[carets..];
            let body = body.split("//~").next().unwrap_or("");
            let mut words = body.split_whitespace();
            let severity = match words.next() {
                Some("ERROR") => "error",
                Some("WARNING") => "warning",
                other => {
                    return Err(format!(
                        "{file}:{}: bad annotation severity {other:?}",
                        i + 1
                    ));
                }
            };
            let Some(code) = words.next() else {
                return Err(format!("{file}:{}: annotation without a code", i + 1));
            };
            if let Some(extra) = words.next() {
                return Err(format!(
                    "{file}:{}: unexpected `{extra}` after the annotation's code",
                    i + 1
                ));
            }
            let line = (i + 1).checked_sub(carets).filter(|&l| l > 0);
            let Some(line) = line else {
                return Err(format!("{file}:{}: `^` points above the first line", i + 1));
            };
            out.push(Mark {
                file: file.to_string(),
                line,
                severity,
                code: code.to_string(),
            });
        }
    }
    Ok(out)
}

/// Checks one package against its annotations; `Err` holds a readable report of the differences.
fn check(package: &Path, valid: bool) -> Result<(), String> {
    let mut sources = Sources::new();
    let mut expected = Vec::new();
    for file in package_files(package) {
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let name = display_name(&file);
        expected.extend(annotations(&name, &String::from_utf8_lossy(&bytes))?);
        sources.add_bytes(name, &bytes);
    }
    if sources.is_empty() {
        return Err(format!(
            "{}: package has no `.policy` file",
            package.display()
        ));
    }
    let checked = fleetgate_lang::check(&sources);

    let mut produced = Vec::new();
    let mut described = Vec::new();
    for d in &checked.diagnostics {
        let loc = sources.location(d.span);
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let code = d.code.strip_prefix(PREFIX).unwrap_or(d.code).to_string();
        let mark = Mark {
            file: loc.file.clone(),
            line: loc.line,
            severity,
            code,
        };
        described.push((
            mark.clone(),
            format!("{loc}: {severity} {}: {}", mark.code, d.message),
        ));
        produced.push(mark);
    }

    let mut report = String::new();
    if valid && expected.iter().any(|m| m.severity == "error") {
        let _ = writeln!(
            report,
            "  a valid package announces an error; move it to invalid/"
        );
    }
    if valid && checked.package.is_none() {
        let _ = writeln!(report, "  a valid package produced no typed package");
    }
    if !valid && !expected.iter().any(|m| m.severity == "error") {
        let _ = writeln!(
            report,
            "  an invalid package announces no error; move it to valid/"
        );
    }
    // Multiset difference, both ways.
    let mut unmatched_produced: Vec<(Mark, String)> = described;
    let mut missing = Vec::new();
    for m in &expected {
        match unmatched_produced.iter().position(|(p, _)| p == m) {
            Some(i) => {
                unmatched_produced.remove(i);
            }
            None => missing.push(m),
        }
    }
    for m in missing {
        let _ = writeln!(
            report,
            "  - announced, not produced: {}:{}: {} {}",
            m.file, m.line, m.severity, m.code
        );
    }
    for (_, text) in &unmatched_produced {
        let _ = writeln!(report, "  + produced, not announced: {text}");
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(format!("{}:\n{report}", display_name(package)))
    }
}

/// Runs `check` on every package of `test_data/<kind>`; fails listing every package that differs.
fn run(kind: &str) -> BTreeSet<String> {
    let dir = data_dir().join(kind);
    let all = packages(&dir);
    assert!(!all.is_empty(), "no packages under {}", dir.display());
    let mut failures = Vec::new();
    for package in &all {
        if let Err(report) = check(package, kind == "valid") {
            failures.push(report);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} packages under test_data/{kind} differ from their annotations \
         (- announced but not produced, + produced but not announced):\n\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    let mut codes = BTreeSet::new();
    for package in &all {
        for file in package_files(package) {
            let text =
                String::from_utf8_lossy(&std::fs::read(&file).expect("readable")).into_owned();
            for m in annotations(&display_name(&file), &text).expect("checked above") {
                codes.insert(m.code);
            }
        }
    }
    codes
}

#[test]
fn valid_corpus() {
    run("valid");
}

#[test]
fn invalid_corpus() {
    run("invalid");
}

/// Codes that no package can produce, with why. Everything else in `diagnostics.rs` must be announced
/// somewhere in the invalid corpus.
const NOT_IN_CORPUS: &[(&str, &str)] = &[
    (
        "empty_package",
        "a package without files: an empty directory cannot be committed (tests/hostile.rs)",
    ),
    (
        "source_too_large",
        "needs a file above 4 MiB (tests/hostile.rs)",
    ),
    (
        "package_too_large",
        "needs 16 MiB of source (tests/hostile.rs)",
    ),
    (
        "too_many_items",
        "needs 100,000 declarations (tests/hostile.rs)",
    ),
    ("too_many_clauses", "needs 8,192 clauses (tests/hostile.rs)"),
    (
        "unknown_record",
        "the grammar accepts only `device`, `now`, `release`, `ring` and `rollout` as records",
    ),
];

#[test]
fn corpus_covers_every_reachable_code() {
    let factory = include_str!("../src/diagnostics.rs");
    let all: BTreeSet<&str> = factory
        .match_indices(&format!("\"{PREFIX}"))
        .map(|(i, m)| {
            let rest = &factory[i + m.len()..];
            &rest[..rest.find('"').expect("code literal ends")]
        })
        .collect();
    let mut announced = run("invalid");
    announced.extend(run("valid"));
    let excused: BTreeSet<&str> = NOT_IN_CORPUS.iter().map(|(c, _)| *c).collect();
    let uncovered: Vec<&&str> = all
        .iter()
        .filter(|c| !announced.contains(**c) && !excused.contains(**c))
        .collect();
    assert!(
        uncovered.is_empty(),
        "codes no corpus file announces: {uncovered:?}"
    );
    let stale: Vec<&&str> = excused
        .iter()
        .filter(|c| !all.contains(**c) || announced.contains(**c))
        .collect();
    assert!(
        stale.is_empty(),
        "NOT_IN_CORPUS lists codes that are announced or no longer exist: {stale:?}"
    );
    let unknown: Vec<&String> = announced
        .iter()
        .filter(|c| !all.contains(c.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "annotations name codes that do not exist: {unknown:?}"
    );
}
