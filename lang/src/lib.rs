//! The Fleetgate policy language: source text -> typed package, with compiler-grade diagnostics, and
//! the formatter.
//!
//! In: `Sources` (file names and texts; this crate does no IO). Out: `Checked` — the typed package when
//! there is no error, and every diagnostic found. `fmt::format_source` gives a file's canonical layout.
//! See `docs/language.md` for the language and the decisions this crate makes where LANGUAGE.md is silent.

pub mod ast;
pub mod diagnostics;
pub mod fmt;
pub mod limits;
pub mod render;
pub mod resolve;
pub mod source;
pub mod syntax;
pub mod typed;

pub use diagnostics::{Diagnostic, Severity};
pub use source::{FileId, Sources, Span};

/// The result of checking a package.
#[derive(Debug)]
pub struct Checked {
    /// The typed package; `None` when there is an error.
    pub package: Option<typed::Package>,
    /// Errors and warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses, resolves and type-checks every file of `sources` as one package.
///
/// With no file at all the result is one `empty_package` error whose span names file 0: a caller that
/// renders it adds a file standing for the package first (the CLI adds one named after the path).
pub fn check(sources: &Sources) -> Checked {
    if sources.is_empty() {
        return Checked {
            package: None,
            diagnostics: vec![diagnostics::empty_package(Span::default())],
        };
    }
    let mut diagnostics = Vec::new();
    let mut files = Vec::new();
    let mut items = 0usize;
    for (id, file) in sources.iter() {
        if let Some(d) = sources.rejection(id) {
            diagnostics.push(d.clone());
            continue;
        }
        let parsed = syntax::parse_file(id, &file.text);
        items += parsed.file.items.len();
        if items > limits::MAX_ITEMS {
            diagnostics.push(diagnostics::too_many_items(
                Span::new(id, 0, 0),
                limits::MAX_ITEMS,
            ));
            break;
        }
        diagnostics.extend(parsed.diagnostics);
        files.push(parsed.file);
    }
    let refs: Vec<&ast::File> = files.iter().collect();
    let (package, more) = resolve::resolve_package(&refs);
    // A declaration with a syntax error is left out, so names it defines look undefined: after a
    // syntax error, errors about unknown names would mostly be echoes of it and are not reported.
    let syntax_failed = diagnostics.iter().any(Diagnostic::is_error);
    diagnostics.extend(
        more.into_iter()
            .filter(|d| !(syntax_failed && is_lookup_error(d.code))),
    );
    diagnostics::sort(&mut diagnostics);
    let package = if diagnostics.iter().any(Diagnostic::is_error) {
        None
    } else {
        package
    };
    Checked {
        package,
        diagnostics,
    }
}

fn is_lookup_error(code: &str) -> bool {
    matches!(
        code.strip_prefix("fleetgate::lang::").unwrap_or(code),
        "unknown_field"
            | "unknown_name"
            | "unknown_type"
            | "unknown_variant"
            | "unknown_plane"
            | "unknown_ring"
            | "unknown_fixture"
            | "unknown_reason"
            | "unknown_gate"
            | "missing_device_block"
            | "missing_gate"
            | "missing_field"
            | "gate_without_rollout"
            | "no_rings"
    )
}
