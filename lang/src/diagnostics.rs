//! Every diagnostic the front end can report, and the only place that builds them.
//!
//! In: what a pass found (spans, names). Out: `Diagnostic`s with a stable code
//! (`fleetgate::lang::…`), a lowercase message without a final period, user input in backticks, a label
//! at the offending source and, where it helps, a `help` that says what to do next. Rendering (miette,
//! JSON) lives in `render`; passes never format messages themselves.

use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code, e.g. `fleetgate::lang::unknown_field`.
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    pub label: String,
    pub related: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    fn error(
        code: &'static str,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            label: label.into(),
            related: Vec::new(),
            help: None,
        }
    }

    fn warning(
        code: &'static str,
        span: Span,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message, label)
        }
    }

    fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    fn maybe_help(mut self, help: Option<String>) -> Diagnostic {
        self.help = help;
        self
    }

    fn related(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.related.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file, position and code, and drops exact duplicates, so that output order never
/// depends on the order in which passes ran.
pub fn sort(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| {
        (a.span.file, a.span.start, a.span.end, a.code, &a.message).cmp(&(
            b.span.file,
            b.span.start,
            b.span.end,
            b.code,
            &b.message,
        ))
    });
    diagnostics.dedup();
}

/// The closest of `candidates` to `name`, if close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        // One edit per three characters (at least one): `Kind` is not a typo of `int`.
        .filter(|&(d, _)| d > 0 && d <= name.chars().count().max(3) / 3)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

fn did_you_mean(name: &str, candidates: &[&str]) -> Option<String> {
    suggest(name, candidates.iter().copied()).map(|s| format!("did you mean `{s}`?"))
}

fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    join_or(&quoted)
}

/// `a`, `a or b`, `a, b or c`: items that carry their own quoting.
fn join_or(quoted: &[String]) -> String {
    join(quoted, "or")
}

/// `` `a`, `b` and `c` ``: every one of them.
fn list_and(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{s}`")).collect();
    join(&quoted, "and")
}

fn join(quoted: &[String], last: &str) -> String {
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} {last} {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

// ---------------------------------------------------------------------------------------------
// Files and syntax

pub fn invalid_utf8(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::invalid_utf8",
        span,
        "file is not valid UTF-8",
        "invalid byte here",
    )
    .help("policy files are UTF-8 text; is this a binary file in the package directory?")
}

pub fn binary_file(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::binary_file",
        span,
        "file contains a NUL byte",
        "NUL byte here",
    )
    .help("policy files are UTF-8 text; is this a binary file in the package directory?")
}

pub fn source_too_large(span: Span, size: usize, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::source_too_large",
        span,
        format!("file is {size} bytes, more than the limit of {limit} bytes"),
        "file starts here",
    )
    .help("split the package into several smaller `.policy` files")
}

pub fn package_too_large(span: Span, size: usize, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::package_too_large",
        span,
        format!("package is {size} bytes of source, more than the limit of {limit} bytes"),
        "the limit is reached in this file",
    )
    .help(
        "a policy package this large is almost certainly generated by mistake; check the directory",
    )
}

pub fn nesting_too_deep(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::nesting_too_deep",
        span,
        format!("brackets nested deeper than {limit} levels"),
        "this bracket is too deep",
    )
    .help("name parts of the expression with `let` to flatten it")
}

pub fn expression_too_deep(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::expression_too_deep",
        span,
        format!("expression nested deeper than {limit} operators"),
        "this expression",
    )
    .help("name parts of the expression with `let` to flatten it")
}

pub fn too_many_items(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::too_many_items",
        span,
        format!("more than {limit} declarations in the package"),
        "the limit is reached here",
    )
    .help("split the policies into several packages")
}

pub fn too_many_clauses(span: Span, what: &str, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::too_many_clauses",
        span,
        format!("more than {limit} {what} in the package"),
        "the limit is reached here",
    )
    .help("split the policies into several packages")
}

pub fn stray_text(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::syntax",
        span,
        "expected a declaration",
        "this does not start a declaration",
    )
    .help(
        "a file holds declarations: `enum`, `plane`, `device`, `let`, `rail`, `health`, `depends`, \
         `incompatible`, `rollout`, `gate`, `fixture` and `test`",
    )
}

pub fn syntax(span: Span, found: &str, expected: &[&str]) -> Diagnostic {
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        // Token names carry their own backticks (`` `}` ``); descriptions have none (an expression).
        let names: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        format!("expected {}, found {found}", join_or(&names))
    };
    Diagnostic::error("fleetgate::lang::syntax", span, message, "unexpected here")
}

pub fn unterminated_string(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unterminated_string",
        span,
        "string is not closed before the end of the line",
        "string starts here",
    )
    .help("close the string with `\"`; strings cannot span lines")
}

pub fn unclosed_brace(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unclosed_brace",
        span,
        "`{` is never closed",
        "opened here",
    )
    .help("add the missing `}`")
}

pub fn too_many_errors(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::too_many_errors",
        span,
        format!("more than {limit} errors in this file, stopping here"),
        "the rest of the file is not checked",
    )
    .help("fix the errors above and run the check again")
}

pub fn empty_package(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::empty_package",
        span,
        "package has no `.policy` files",
        "nothing to check",
    )
    .help("point at a directory that holds `.policy` files, or at one `.policy` file")
}

// ---------------------------------------------------------------------------------------------
// Literals

pub fn invalid_literal(span: Span, what: &str, text: &str, why: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::invalid_literal",
        span,
        format!("invalid {what} `{text}`: {why}"),
        format!("invalid {what}"),
    )
}

pub fn int_out_of_range(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::int_out_of_range",
        span,
        format!("integer `{text}` does not fit in 64 bits"),
        "too large",
    )
    .help("integers range from -9223372036854775808 to 9223372036854775807")
}

pub fn version_out_of_range(span: Span, text: &str, component: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::version_out_of_range",
        span,
        format!("version `{text}` has {component} component above 65535"),
        "component too large",
    )
    .help("each version component is at most 65535")
}

pub fn duration_out_of_range(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::duration_out_of_range",
        span,
        format!("duration `{text}` is too long"),
        "too long",
    )
    .help("durations are at most 68 years (2^31 seconds)")
}

pub fn duration_unit_order(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::invalid_literal",
        span,
        format!("invalid duration `{text}`: units must appear once each, largest first"),
        "units out of order",
    )
    .help("write durations like `1d12h`, `1h30m` or `90s`")
}

// ---------------------------------------------------------------------------------------------
// Names

pub fn duplicate_definition(span: Span, kind: &str, name: &str, previous: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::duplicate_definition",
        span,
        format!("{kind} `{name}` is defined twice"),
        "defined again here",
    )
    .related(previous, "first defined here")
    .help(format!(
        "rename one of them; every {kind} name must be unique in the package"
    ))
}

pub fn missing_device_block(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::missing_device_block",
        span,
        "package has no `device` block",
        "in this package",
    )
    .help("declare the device record once: `device { battery: percent, … }`")
}

pub fn duplicate_device_block(span: Span, previous: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::duplicate_device_block",
        span,
        "package has more than one `device` block",
        "second `device` block",
    )
    .related(previous, "first `device` block")
    .help("merge the fields into one `device` block")
}

pub fn unknown_type(span: Span, name: &str, candidates: &[&str]) -> Diagnostic {
    Diagnostic::error("fleetgate::lang::unknown_type", span, format!("unknown type `{name}`"), "not a type")
        .maybe_help(did_you_mean(name, candidates).or_else(|| {
            Some(
                "types are `bool`, `int`, `float`, `percent`, `duration`, `version` and the enums the package declares"
                    .to_string(),
            )
        }))
}

pub fn field_shadows_plane(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::field_shadows_plane",
        span,
        format!("device field `{name}` has the name of a plane"),
        "already defined by `plane`",
    )
    .help(format!(
        "each plane adds its own field `device.{name}`; rename this field"
    ))
}

pub fn reserved_field(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::reserved_name",
        span,
        format!("`{name}` is a reserved word"),
        "reserved",
    )
    .help("choose another name")
}

pub fn empty_enum(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::empty_enum",
        span,
        format!("enum `{name}` has no variants"),
        "empty",
    )
    .help("list at least one variant: `enum Hw { esp32c3 }`")
}

pub fn too_many_planes(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::too_many_planes",
        span,
        format!("more than {limit} planes"),
        "one plane too many",
    )
    .help("merge planes that are always released together")
}

pub fn unknown_field(span: Span, record: &str, name: &str, candidates: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unknown_field",
        span,
        format!("`{record}` has no field `{name}`"),
        "unknown field",
    )
    .maybe_help(did_you_mean(name, candidates).or_else(|| {
        if candidates.is_empty() {
            None
        } else {
            Some(format!(
                "the fields of `{record}` are {}",
                list_and(candidates)
            ))
        }
    }))
}

pub fn unknown_record(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unknown_record",
        span,
        format!("unknown record `{name}`"),
        "not a record",
    )
    .help("records are `device`, `now`, `release`, `ring` and `rollout`")
}

pub fn record_not_available(
    span: Span,
    record: &str,
    context: &str,
    allowed: &[&str],
) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::record_not_available",
        span,
        format!("`{record}` is not available in {context}"),
        format!("`{record}` used here"),
    )
    .help(format!("{context} can use {}", list(allowed)))
}

pub fn let_record_not_available(
    span: Span,
    name: &str,
    record: &str,
    context: &str,
    let_span: Span,
) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::record_not_available",
        span,
        format!("`{name}` uses `{record}`, which is not available in {context}"),
        format!("`{name}` used here"),
    )
    .related(
        let_span,
        format!("`{name}` is defined here and reads `{record}.*`"),
    )
    .help(format!(
        "use `{name}` only where `{record}` is available, or split it into two lets"
    ))
}

pub fn unknown_name(span: Span, name: &str, candidates: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unknown_name",
        span,
        format!("unknown name `{name}`"),
        "not a let, enum variant or plane",
    )
    .maybe_help(did_you_mean(name, candidates).or_else(|| {
        Some("fields are read through their record, e.g. `device.battery`; names are lets or enum variants".into())
    }))
}

pub fn unknown_variant(span: Span, name: &str, enum_name: &str, candidates: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unknown_variant",
        span,
        format!("`{name}` is not a variant of `{enum_name}`"),
        format!("expected a `{enum_name}`"),
    )
    .maybe_help(
        did_you_mean(name, candidates)
            .or_else(|| Some(format!("`{enum_name}` has {}", list_and(candidates)))),
    )
}

pub fn ambiguous_variant(span: Span, name: &str, enums: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::ambiguous_variant",
        span,
        format!("`{name}` is a variant of {}", list(enums)),
        "which enum is meant?",
    )
    .help("compare it with a field of the enum's type, e.g. `device.hw == esp32c3`, so the context decides")
}

pub fn variant_without_context(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::type_mismatch",
        span,
        format!("variant `{name}` is used as a condition"),
        "an enum value, not a `bool`",
    )
    .help(format!(
        "compare it with a field, e.g. `device.phase == {name}`"
    ))
}

pub fn unknown_function(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unknown_function",
        span,
        format!("unknown function `{name}`"),
        "not a function",
    )
    .maybe_help(
        did_you_mean(name, &["min", "max", "abs", "known"]).or_else(|| {
            Some("the functions are `known(x)`, `min(a, b)`, `max(a, b)` and `abs(a)`".into())
        }),
    )
}

pub fn wrong_arity(span: Span, name: &str, expected: usize, found: usize) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::wrong_arity",
        span,
        format!(
            "`{name}` takes {expected} argument{}, found {found}",
            if expected == 1 { "" } else { "s" }
        ),
        "wrong number of arguments",
    )
}

pub fn let_cycle(span: Span, cycle: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::let_cycle",
        span,
        format!(
            "`let` definitions form a cycle: {}",
            cycle
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" -> ")
        ),
        "refers back to itself here",
    )
    .help("a let may use other lets, but not itself through them")
}

pub fn unknown_plane(span: Span, name: &str, candidates: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unknown_plane",
        span,
        format!("unknown plane `{name}`"),
        "not a plane",
    )
    .maybe_help(
        did_you_mean(name, candidates)
            .or_else(|| Some(format!("the planes are {}", list_and(candidates)))),
    )
}

pub fn unknown_ring(span: Span, name: &str, candidates: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unknown_ring",
        span,
        format!("unknown ring `{name}`"),
        "not a ring",
    )
    .maybe_help(did_you_mean(name, candidates).or_else(|| {
        if candidates.is_empty() {
            Some("declare rings in the `rollout` block: `ring canary = 1%`".into())
        } else {
            Some(format!("the rings are {}", list_and(candidates)))
        }
    }))
}

pub fn unknown_fixture(span: Span, name: &str, candidates: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unknown_fixture",
        span,
        format!("unknown fixture `{name}`"),
        "not a fixture",
    )
    .maybe_help(did_you_mean(name, candidates).or_else(|| {
        Some("declare it with `fixture NAME = device { … }`, or give `device { … }` inline".into())
    }))
}

pub fn fixture_cycle(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::fixture_cycle",
        span,
        format!("fixture `{name}` is built from itself"),
        "refers back to itself",
    )
    .help("build each fixture from `device { … }` or from a different fixture")
}

// ---------------------------------------------------------------------------------------------
// Types

pub fn type_mismatch(span: Span, expected: &str, found: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::type_mismatch",
        span,
        format!("expected `{expected}`, found `{found}`"),
        format!("this is `{found}`"),
    )
}

pub fn name_for_value(span: Span, expected: &str, name: &str, is_variant: bool) -> Diagnostic {
    let what = if is_variant {
        "the enum variant"
    } else {
        "the name"
    };
    Diagnostic::error(
        "fleetgate::lang::type_mismatch",
        span,
        format!("expected `{expected}`, found {what} `{name}`"),
        format!("not a `{expected}`"),
    )
    .help("a record gives each field a literal of the field's type; only enum fields take a variant name")
}

pub fn not_a_condition(span: Span, found: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::type_mismatch",
        span,
        format!("a condition must be `bool`, found `{found}`"),
        format!("this is `{found}`"),
    )
    .help("compare the value, e.g. `device.battery < 30%`")
}

pub fn incomparable(span: Span, left: &str, right: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::type_mismatch",
        span,
        format!("cannot compare `{left}` with `{right}`"),
        "operands of different types",
    )
    .help(match (left, right) {
        ("duration", _) | (_, "duration") => {
            "durations compare only with durations, e.g. `ring.soak >= 24h`".to_string()
        }
        ("version", _) | (_, "version") => {
            "versions compare only with versions, e.g. `device.firmware >= v1.4.0`".to_string()
        }
        _ => "both sides of a comparison must have the same type (an `int` widens to `float`)"
            .to_string(),
    })
}

pub fn unordered_type(span: Span, ty: &str, op: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::type_mismatch",
        span,
        format!("`{ty}` values have no order, so `{op}` does not apply"),
        "not ordered",
    )
    .help("compare with `==` or `!=`, or test membership with `in [ … ]`")
}

pub fn bad_arithmetic(span: Span, op: &str, left: &str, right: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::type_mismatch",
        span,
        format!("cannot apply `{op}` to `{left}` and `{right}`"),
        "unsupported operands",
    )
    .help(
        "arithmetic works on `int` and `float`; on durations: `duration + duration`, `duration - duration`, \
         `duration * int`, `int * duration` and `duration / int`",
    )
}

pub fn bad_unary(span: Span, op: &str, ty: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::type_mismatch",
        span,
        format!("cannot apply `{op}` to `{ty}`"),
        "unsupported operand",
    )
}

pub fn optional_used_directly(span: Span, field: &str, ty: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::optional_value",
        span,
        format!("`{field}` may be missing, so it cannot be used as `{ty}` directly"),
        format!("`{ty}?`: may be missing"),
    )
    .help(format!(
        "say what a missing value means: `{field} ?? DEFAULT`, or test `known({field})` first and use `{field} ?? DEFAULT` after it"
    ))
}

pub fn needless_default(span: Span, what: &str) -> Diagnostic {
    Diagnostic::warning(
        "fleetgate::lang::needless_default",
        span,
        format!("{what} is never missing, so `??` has no effect"),
        "never missing",
    )
    .help("remove `?? …`")
}

pub fn needless_known(span: Span, what: &str) -> Diagnostic {
    Diagnostic::warning(
        "fleetgate::lang::needless_known",
        span,
        format!("{what} is never missing, so `known(…)` is always true"),
        "never missing",
    )
    .help("remove `known(…)`")
}

pub fn chained_comparison(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::chained_comparison",
        span,
        "comparisons do not chain",
        "second comparison",
    )
    .help("write `a < b and b < c`, or `b between a and c`")
}

pub fn list_item_not_constant(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::not_constant",
        span,
        "an `in` list holds literal values only",
        "not a literal",
    )
    .help("compare with `==` for a computed value, or list the values it can take")
}

pub fn empty_in_list(span: Span) -> Diagnostic {
    Diagnostic::warning(
        "fleetgate::lang::empty_list",
        span,
        "`in []` is always false",
        "empty list",
    )
    .help("list at least one value")
}

pub fn nan_literal(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::invalid_literal",
        span,
        "float literal is not finite",
        "overflows to infinity",
    )
}

// ---------------------------------------------------------------------------------------------
// Rules and clauses

pub fn clause_not_allowed(
    span: Span,
    clause: &str,
    rule_kind: &str,
    allowed: &[&str],
) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::clause_not_allowed",
        span,
        format!("`{clause}` clauses do not belong in a `{rule_kind}`"),
        format!("not a `{rule_kind}` clause"),
    )
    .help(format!("a `{rule_kind}` holds {} clauses", list(allowed)))
}

pub fn missing_reason(span: Span, clause: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::missing_reason",
        span,
        format!("`{clause}` clause has no reason"),
        "reason expected after this",
    )
    .help(format!(
        "give the reason that will be reported, e.g. `{}`",
        match clause {
            "defer" => "defer 1h \"battery low\" when …",
            "rollback" => "rollback firmware \"crash loop\" when …",
            "abort" => "abort \"failure rate above 2%\" when …",
            _ => "deny \"battery low\" when …",
        }
    ))
}

pub fn unexpected_reason(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unexpected_reason",
        span,
        "`require` takes no reason",
        "remove this",
    )
    .help("a gate that holds lists the unmet `require` conditions themselves")
}

pub fn unexpected_condition(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unexpected_condition",
        span,
        "`require` takes its condition directly, not after `when`",
        "remove `when`",
    )
    .help("write `require ring.done >= 300`")
}

pub fn for_outside_health(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::for_outside_health",
        span,
        "`for N checks` is only allowed in health rules",
        "not in a health rule",
    )
    .help("counters of consecutive checks exist only during a device's verification window")
}

pub fn checks_out_of_range(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::checks_out_of_range",
        span,
        format!("`for {text} checks` is out of range"),
        "must be between 1 and 255",
    )
    .help("the counter of consecutive checks is one byte per device: use 1 to 255 checks")
}

pub fn per_outside_gate(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::per_outside_gate",
        span,
        "`per device.F` is only allowed in gates",
        "not in a gate",
    )
    .help("rails and health rules already see one device at a time")
}

pub fn per_not_static_enum(span: Span, field: &str, why: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::per_not_static_enum",
        span,
        format!("`per device.{field}` needs a non-optional enum field of the device, but `{field}` {why}"),
        "cannot split the ring by this",
    )
    .help("split a ring by a fixed property of the devices, e.g. `per device.hw` or `per device.region`")
}

pub fn per_record(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::per_not_static_enum",
        span,
        "`per` splits a ring by a device field",
        "not a device field",
    )
    .help("write `per device.hw`")
}

pub fn plane_repeated(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::duplicate_definition",
        span,
        format!("plane `{name}` is listed twice"),
        "listed again",
    )
    .help("list each plane once")
}

// ---------------------------------------------------------------------------------------------
// Dependencies

pub fn not_a_version_predicate(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::not_a_version_predicate",
        span,
        "expected a condition on one plane's version",
        "not a version condition",
    )
    .help("write comparisons of a plane with versions, e.g. `model >= v2.0.0 and model < v3.0.0`")
}

pub fn mixed_planes(span: Span, first: &str, second: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::mixed_planes",
        span,
        format!("this condition speaks of `{first}` and `{second}`"),
        format!("`{second}` here"),
    )
    .help("each side of `depends` and the versions of `incompatible` speak of exactly one plane")
}

pub fn depends_on_itself(span: Span, plane: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::depends_on_itself",
        span,
        format!("`depends` relates `{plane}` to itself"),
        "same plane on both sides",
    )
    .help("a dependency is between two different planes; restrict the versions of one plane with `incompatible`")
}

// ---------------------------------------------------------------------------------------------
// Rollout, rings and gates

pub fn duplicate_rollout(span: Span, previous: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::duplicate_rollout",
        span,
        "package has more than one `rollout` block",
        "second `rollout` block",
    )
    .related(previous, "first `rollout` block")
    .help("merge them into one")
}

pub fn duplicate_setting(span: Span, what: &str, previous: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::duplicate_setting",
        span,
        format!("`{what}` is set twice"),
        "set again here",
    )
    .related(previous, "first set here")
    .help("keep one")
}

pub fn missing_setting(span: Span, what: &str, example: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::missing_setting",
        span,
        format!("`rollout` does not set `{what}`"),
        "in this block",
    )
    .help(format!("add `{example}`"))
}

pub fn setting_out_of_range(span: Span, what: &str, why: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::setting_out_of_range",
        span,
        format!("`{what}` {why}"),
        "out of range",
    )
}

pub fn share_not_percent(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::type_mismatch",
        span,
        format!("a ring's share is a percentage, found `{text}`"),
        "not a percentage",
    )
    .help("write the cumulative share of the fleet, e.g. `ring early = 2%`")
}

pub fn share_out_of_range(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::share_out_of_range",
        span,
        format!("ring share `{text}` is not above 0% and at most 100%"),
        "out of range",
    )
}

pub fn share_not_increasing(span: Span, text: &str, previous: &str, prev_span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::ring_order",
        span,
        format!("ring share `{text}` is not larger than the previous ring's `{previous}`"),
        "not larger",
    )
    .related(prev_span, "previous ring")
    .help("shares are cumulative: each ring covers more of the fleet than the one before")
}

pub fn last_ring_not_full(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::last_ring_not_full",
        span,
        format!("the last ring covers `{text}` of the fleet, not `100%`"),
        "last ring",
    )
    .help("end the rollout with a ring of `100%`, e.g. `ring full = 100%`")
}

pub fn last_ring_filtered(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::last_ring_filtered",
        span,
        "the last ring has a `where` filter",
        "filter here",
    )
    .help("the last ring must take every device that no earlier ring took; remove the filter")
}

pub fn no_rings(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::no_rings",
        span,
        "`rollout` declares no rings",
        "in this block",
    )
    .help("declare the rings in order, ending with `ring full = 100%`")
}

pub fn gate_without_rollout(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::gate_without_rollout",
        span,
        "gate without a `rollout` block",
        "no rings to gate",
    )
    .help("declare the rings in a `rollout { … }` block")
}

pub fn gate_not_consecutive(
    span: Span,
    from: &str,
    to: &str,
    expected: Option<&str>,
) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::gate_not_consecutive",
        span,
        format!("gate `{from} -> {to}` does not join consecutive rings"),
        "not consecutive",
    )
    .maybe_help(match expected {
        Some(next) => Some(format!(
            "the ring after `{from}` is `{next}`: write `gate {from} -> {next}`"
        )),
        None => Some(format!(
            "`{from}` is the last ring; it has no outgoing gate"
        )),
    })
}

pub fn duplicate_gate(span: Span, from: &str, previous: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::duplicate_gate",
        span,
        format!("ring `{from}` has more than one outgoing gate"),
        "second gate",
    )
    .related(previous, "first gate")
    .help("merge the clauses into one gate")
}

pub fn missing_gate(span: Span, from: &str, to: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::missing_gate",
        span,
        format!("ring `{from}` has no gate to `{to}`"),
        "ring declared here",
    )
    .help(format!("add `gate {from} -> {to} {{ soak 24h … }}`"))
}

pub fn duplicate_soak(span: Span, previous: Span) -> Diagnostic {
    duplicate_setting(span, "soak", previous)
}

pub fn soak_outside_gate(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::syntax",
        span,
        "`soak` belongs in a gate",
        "not in a gate",
    )
}

// ---------------------------------------------------------------------------------------------
// Fixtures and tests

pub fn missing_fields(span: Span, names: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::missing_field",
        span,
        format!(
            "device record does not give {} {}",
            if names.len() == 1 { "field" } else { "fields" },
            list_and(names)
        ),
        "incomplete record",
    )
    .help("a device record gives every field that is not optional (`T?`); optional fields left out are missing")
}

pub fn duplicate_field(span: Span, name: &str, previous: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::duplicate_field",
        span,
        format!("field `{name}` is given twice"),
        "given again",
    )
    .related(previous, "first given here")
}

pub fn not_optional(span: Span, field: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::not_optional",
        span,
        format!("`{field}` is not optional, so it cannot be `missing`"),
        "always present",
    )
    .help(format!(
        "declare it as optional (`{field}: T?`) if devices may not report it"
    ))
}

pub fn derived_ring_field(span: Span, name: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::derived_field",
        span,
        format!("`{name}` is computed from the counts and cannot be given"),
        "derived",
    )
    .help("give the counts (`succeeded`, `failed`, `rolled_back`, `bricked`, …) and `soak`")
}

pub fn value_out_of_range(span: Span, field: &str, why: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::value_out_of_range",
        span,
        format!("`{field}` {why}"),
        "out of range",
    )
}

pub fn duplicate_given(span: Span, what: &str, previous: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::duplicate_given",
        span,
        format!("the test gives `{what}` twice"),
        "given again",
    )
    .related(previous, "first given here")
    .help("merge the two into one `given`")
}

pub fn missing_given(span: Span, what: &str, expectation: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::missing_given",
        span,
        format!("`expect {expectation}` needs `given {what}`"),
        "nothing to evaluate",
    )
    .help(format!("add `given {what} …` to the test"))
}

pub fn test_without_expect(span: Span) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::missing_expect",
        span,
        "test has no `expect`",
        "expects nothing",
    )
    .help("add what the policy must decide, e.g. `expect allow`")
}

pub fn unused_given(span: Span, what: &str) -> Diagnostic {
    Diagnostic::warning(
        "fleetgate::lang::unused_given",
        span,
        format!("`given {what}` is not used by any expectation of this test"),
        "unused",
    )
}

pub fn unknown_reason(span: Span, reason: &str, kind: &str, candidates: &[&str]) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unknown_reason",
        span,
        format!("no {kind} clause has the reason \"{reason}\""),
        "unknown reason",
    )
    .maybe_help(
        suggest(reason, candidates.iter().copied())
            .map(|s| format!("did you mean \"{s}\"?"))
            .or_else(|| {
                Some(format!(
                    "reasons are matched exactly against the `{kind}` clauses of the package"
                ))
            }),
    )
}

pub fn unknown_gate(span: Span, from: &str, to: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::unknown_gate",
        span,
        format!("there is no gate `{from} -> {to}`"),
        "not a gate",
    )
    .help("name a gate the package declares")
}

pub fn per_value_unknown(span: Span, field: &str) -> Diagnostic {
    Diagnostic::error(
        "fleetgate::lang::per_not_static_enum",
        span,
        format!("`given ring by {field}` needs a non-optional enum field of the device"),
        "cannot split by this",
    )
}
