//! Presenting diagnostics: as miette reports (graphical or plain, chosen by the caller's handler) and
//! as flat records for `--format json`.
//!
//! In: a `Diagnostic` and the `Sources` it points into. Out: a `Report` implementing
//! `miette::Diagnostic`, or a serialisable `JsonDiagnostic`. Labels that point into another file than
//! the primary span cannot be drawn by miette; they are turned into a line of help with their location.

use std::fmt;

use miette::{LabeledSpan, MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};
use serde::Serialize;

use crate::diagnostics::{Diagnostic, Severity};
use crate::source::{SourceFile, Sources, Span};

/// One diagnostic ready for a miette handler.
pub struct Report<'a> {
    diag: &'a Diagnostic,
    file: NamedText<'a>,
    help: Option<String>,
    related: Vec<&'a crate::diagnostics::Label>,
}

impl<'a> Report<'a> {
    pub fn new(diag: &'a Diagnostic, sources: &'a Sources) -> Report<'a> {
        let file = sources.get(diag.span.file);
        let mut help = diag.help.clone();
        let mut related = Vec::new();
        for label in &diag.related {
            if label.span.file == diag.span.file {
                related.push(label);
            } else {
                let note = format!("{}: {}", label.message, sources.location(label.span));
                help = Some(match help {
                    Some(h) => format!("{note}\n{h}"),
                    None => note,
                });
            }
        }
        Report {
            diag,
            file: NamedText(file),
            help,
            related,
        }
    }
}

fn source_span(span: Span) -> SourceSpan {
    SourceSpan::new((span.start as usize).into(), span.len())
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diag, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.file)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = LabeledSpan::new_primary_with_span(
            Some(self.diag.label.clone()),
            source_span(self.diag.span),
        );
        let related = self
            .related
            .iter()
            .map(|l| LabeledSpan::new_with_span(Some(l.message.clone()), source_span(l.span)));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// A file's text under its name, for miette.
struct NamedText<'a>(&'a SourceFile);

impl SourceCode for NamedText<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let inner =
            self.0
                .text
                .as_str()
                .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.0.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// A diagnostic as one flat JSON object (`--format json`).
#[derive(Clone, Debug, Serialize)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub label: String,
    pub help: Option<String>,
}

impl JsonDiagnostic {
    pub fn new(diag: &Diagnostic, sources: &Sources) -> JsonDiagnostic {
        let start = sources.location(diag.span);
        let end = sources.location(Span {
            start: diag.span.end,
            ..diag.span
        });
        let help = Report::new(diag, sources).help;
        JsonDiagnostic {
            code: diag.code,
            severity: diag.severity,
            message: diag.message.clone(),
            file: start.file,
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
            label: diag.label.clone(),
            help,
        }
    }
}
