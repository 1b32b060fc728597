//! Snapshots of what users read: the rendered diagnostics of every invalid corpus package, and the
//! formatter's output for every valid corpus file.
//!
//! In: `lang/test_data/invalid/*` (a `.policy` file or a directory, each one package) and
//! `lang/test_data/valid/**/*.policy`. Out: insta snapshots under `lang/tests/snapshots/`, reviewed
//! before they are accepted (`cargo insta review`, or `INSTA_UPDATE=always` and read the diff).
//!
//! These are `insta::glob!` tests, so they live in a test binary of their own: a failure elsewhere in
//! the same binary would be blamed on them.

use std::path::{Path, PathBuf};

use fleetgate_lang::render::Report;
use fleetgate_lang::{Severity, Sources};
use miette::{GraphicalReportHandler, GraphicalTheme};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

/// The name a file gets in diagnostics: its path below `test_data/`, with `/` separators, so that
/// snapshots do not depend on where the checkout lives.
fn display_name(path: &Path) -> String {
    let rel = path.strip_prefix(data_dir()).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

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

/// Every diagnostic of a package as the CLI shows it without colour, at 80 columns.
fn rendered_diagnostics(package: &Path) -> String {
    let mut sources = Sources::new();
    for file in package_files(package) {
        sources.add_bytes(
            display_name(&file),
            &std::fs::read(&file).expect("readable file"),
        );
    }
    let checked = fleetgate_lang::check(&sources);
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(80);
    let mut out = String::new();
    for d in &checked.diagnostics {
        handler
            .render_report(&mut out, &Report::new(d, &sources))
            .expect("rendering into a string");
        out.push('\n');
    }
    let errors = checked
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    out.push_str(&format!(
        "errors: {errors}, warnings: {}\n",
        checked.diagnostics.len() - errors
    ));
    visible_controls(&out)
}

/// Control characters that the corpus puts in source lines (NUL, U+0001) shown as their Unicode
/// control pictures (`␀`), so that snapshot files stay text.
fn visible_controls(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\0'..='\x1f' => char::from_u32(0x2400 + c as u32).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Both globs in one test: insta keeps one stack of glob runs per process, so two glob tests running
/// in parallel threads could blame each other's failures.
#[test]
fn corpus() {
    insta::glob!("../test_data", "invalid/*", |path| {
        insta::assert_snapshot!("invalid_diagnostics", rendered_diagnostics(path));
    });
    insta::glob!("../test_data", "valid/**/*.policy", |path| {
        let text = std::fs::read_to_string(path).expect("valid corpus files are UTF-8");
        let formatted =
            fleetgate_lang::fmt::format_source(&text).expect("valid corpus files parse");
        insta::assert_snapshot!("valid_formatted", formatted);
    });
}
