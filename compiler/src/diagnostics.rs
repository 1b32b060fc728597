//! The diagnostics of the compiler's passes (code generation, dependency graph, static analyses), and
//! the only place that builds them. Same rules as the front end's: stable codes
//! (`fleetgate::compile::…`), lowercase messages without a final period, a `help` that says what to do.

use fleetgate_lang::Span;
use fleetgate_lang::diagnostics::{Diagnostic, Label, Severity};

fn error(code: &'static str, span: Span, message: String, label: &str) -> Diagnostic {
    Diagnostic {
        code,
        severity: Severity::Error,
        message,
        span,
        label: label.to_string(),
        related: Vec::new(),
        help: None,
    }
}

fn warning(code: &'static str, span: Span, message: String, label: &str) -> Diagnostic {
    Diagnostic {
        severity: Severity::Warning,
        ..error(code, span, message, label)
    }
}

fn help(mut d: Diagnostic, help: impl Into<String>) -> Diagnostic {
    d.help = Some(help.into());
    d
}

pub fn internal(span: Span, what: &str) -> Diagnostic {
    help(
        error(
            "fleetgate::compile::internal",
            span,
            format!("the compiler produced an artifact the runtime rejects: {what}"),
            "while compiling this package",
        ),
        "this is a bug in fleetgate; please report it with the package",
    )
}

pub fn stack_too_deep(span: Span, limit: usize) -> Diagnostic {
    help(
        error(
            "fleetgate::compile::stack_too_deep",
            span,
            format!("this clause needs more than {limit} values on the evaluation stack"),
            "too deeply nested",
        ),
        "name parts of the condition with `let`, or write nested operations left to right",
    )
}

pub fn too_many_constants(span: Span) -> Diagnostic {
    help(
        error(
            "fleetgate::compile::too_many_constants",
            span,
            "package has more than 65535 distinct constants".into(),
            "in this package",
        ),
        "split the policies into several packages",
    )
}

pub fn code_too_large(span: Span) -> Diagnostic {
    help(
        error(
            "fleetgate::compile::code_too_large",
            span,
            "compiled code of one function is too large".into(),
            "in this package",
        ),
        "split the policies into several packages",
    )
}

pub fn artifact_too_large(span: Span, len: usize, max: usize) -> Diagnostic {
    help(
        error(
            "fleetgate::compile::artifact_too_large",
            span,
            format!(
                "the compiled artifact is {len} bytes, more than the {max} bytes a device accepts"
            ),
            "in this package",
        ),
        "split the policies into several packages",
    )
}

pub fn never_fires(span: Span, why: &str) -> Diagnostic {
    help(
        warning(
            "fleetgate::compile::never_fires",
            span,
            format!("this clause can never fire: {why}"),
            "never true",
        ),
        "remove the clause, or fix the condition if it was meant to fire",
    )
}

pub fn always_fires(span: Span, why: &str) -> Diagnostic {
    help(
        warning(
            "fleetgate::compile::always_fires",
            span,
            format!("this clause fires for every device: {why}"),
            "always true",
        ),
        "if this is meant, drop the condition; otherwise fix it",
    )
}

pub fn dependency_cycle(
    span: Span,
    planes: &[String],
    constraints: &[(Span, String)],
) -> Diagnostic {
    let mut d = error(
        "fleetgate::compile::dependency_cycle",
        span,
        format!(
            "dependencies between planes form a cycle: {}",
            planes
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(" -> ")
        ),
        "part of the cycle",
    );
    for (s, text) in constraints.iter().skip(1) {
        d.related.push(Label {
            span: *s,
            message: format!("also on the cycle: `{text}`"),
        });
    }
    help(
        d,
        "planes must be installable in some order: remove or reverse one of these `depends`",
    )
}
