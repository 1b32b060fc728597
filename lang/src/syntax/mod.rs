//! Parsing: source text -> `ast::File`.
//!
//! In: one file's id and text. Out: its declarations, its comments and every syntax error found. The
//! scanner splits the file at top-level declarations and pest parses each one separately, so a syntax error
//! costs one declaration and the rest of the file is still checked. pest's types never leave this module.

mod scan;

pub use scan::Comment;

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use crate::ast::*;
use crate::diagnostics::{self as diag, Diagnostic};
use crate::limits::{MAX_ERRORS_PER_FILE, MAX_EXPR_DEPTH, MAX_NESTING};
use crate::source::{FileId, Span};

#[derive(pest_derive::Parser)]
#[grammar = "syntax/grammar.pest"]
struct PolicyParser;

/// What parsing one file gives.
#[derive(Debug)]
pub struct ParsedFile {
    pub file: File,
    pub comments: Vec<Comment>,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn parse_file(file_id: FileId, text: &str) -> ParsedFile {
    let scan = scan::scan(text);
    let mut diagnostics = Vec::new();
    let mut items = Vec::new();

    let first = scan.item_starts.first().copied().unwrap_or(text.len());
    if let Some(stray) = first_token_in(text, 0, first, &scan.comments) {
        diagnostics.push(diag::stray_text(Span::new(file_id, stray.0, stray.1)));
    }

    for (i, &start) in scan.item_starts.iter().enumerate() {
        if diagnostics.len() > MAX_ERRORS_PER_FILE {
            diagnostics.push(diag::too_many_errors(
                Span::new(file_id, start, start),
                MAX_ERRORS_PER_FILE,
            ));
            break;
        }
        let end = scan.item_starts.get(i + 1).copied().unwrap_or(text.len());
        if let Some(&deep) = scan.too_deep.iter().find(|&&p| p >= start && p < end) {
            diagnostics.push(diag::nesting_too_deep(
                Span::new(file_id, deep, deep + 1),
                MAX_NESTING,
            ));
            continue;
        }
        if let Some(&open) = scan
            .unterminated_strings
            .iter()
            .find(|&&p| p >= start && p < end)
        {
            let line_end = text[open..].find('\n').map_or(text.len(), |n| open + n);
            diagnostics.push(diag::unterminated_string(Span::new(
                file_id, open, line_end,
            )));
            continue;
        }
        let chunk = &text[start..end];
        match PolicyParser::parse(Rule::item_chunk, chunk) {
            Ok(mut pairs) => {
                let mut builder = Builder {
                    file: file_id,
                    offset: start,
                    text,
                    comments: &scan.comments,
                    diagnostics: &mut diagnostics,
                };
                if let Some(pair) = pairs.next().filter(|p| p.as_rule() != Rule::EOI)
                    && let Ok(item) = builder.item(pair)
                {
                    items.push(item);
                }
            }
            Err(error) => {
                let unclosed = scan
                    .unclosed_braces
                    .iter()
                    .copied()
                    .find(|&p| p >= start && p < end);
                diagnostics.push(syntax_error(file_id, text, start, end, unclosed, &error));
            }
        }
    }

    ParsedFile {
        file: File { items },
        comments: scan.comments,
        diagnostics,
    }
}

/// The span of the first token in `text[from..to]` that is not a comment, if any.
fn first_token_in(
    text: &str,
    from: usize,
    to: usize,
    comments: &[Comment],
) -> Option<(usize, usize)> {
    let mut i = from;
    let bytes = text.as_bytes();
    while i < to {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
        } else if let Ok(k) = comments.binary_search_by_key(&i, |c| c.start) {
            // Comments are in order: a search keeps a file of many comments linear, not quadratic.
            i = comments[k].end;
        } else {
            let end = text[i..to].find(char::is_whitespace).map_or(to, |n| i + n);
            return Some((i, end));
        }
    }
    None
}

fn syntax_error(
    file: FileId,
    text: &str,
    chunk_start: usize,
    chunk_end: usize,
    unclosed: Option<usize>,
    error: &pest::error::Error<Rule>,
) -> Diagnostic {
    let pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((p, _)) => p,
    };
    let at = chunk_start + pos;
    // pest stops with a custom error when the thread's stack runs low (its own guard); within the
    // limits the scanner enforces that needs a very small stack, so say what is deep, not "unexpected".
    if matches!(&error.variant, ErrorVariant::CustomError { message } if message.contains("limit reached"))
    {
        return diag::nesting_too_deep(Span::new(file, at, at + 1), MAX_NESTING);
    }
    let (found, len) = describe_token(text, at, chunk_end);
    let mut expected: Vec<&str> = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| rule_name(*r)).collect()
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    expected.sort_unstable();
    expected.dedup();
    if expected.len() > 8 {
        expected.truncate(8);
    }
    // At the end of the file, point just after its last character rather than at an empty last line.
    let shown = if at >= text.len() {
        text.trim_end().len()
    } else {
        at
    };
    // The parser ran to the end of the declaration with a `{` still open: that brace is the problem.
    if let Some(open) = unclosed.filter(|_| at >= chunk_end) {
        return diag::unclosed_brace(Span::new(file, open, open + 1));
    }
    diag::syntax(Span::new(file, shown, shown + len), &found, &expected)
}

/// What the user sees at `at`: a description for the message and the token's length.
fn describe_token(text: &str, at: usize, chunk_end: usize) -> (String, usize) {
    let rest = text.get(at..).unwrap_or("");
    let Some(c) = rest.chars().next() else {
        return ("end of file".to_string(), 0);
    };
    if at >= chunk_end {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        return (format!("the next declaration `{word}`"), word.len().max(1));
    }
    if c.is_ascii_alphanumeric() || c == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '%'))
            .collect();
        let len = word.len();
        return (format!("`{word}`"), len);
    }
    if c == '"' {
        return ("a string".to_string(), 1);
    }
    if c.is_control() {
        return (
            format!("control character U+{:04X}", c as u32),
            c.len_utf8(),
        );
    }
    let two: String = rest.chars().take(2).collect();
    if ["==", "!=", "<=", ">=", "??", "->", "//"].contains(&two.as_str()) {
        return (format!("`{two}`"), 2);
    }
    (format!("`{c}`"), c.len_utf8())
}

/// How a grammar rule is named in "expected …" messages; `None` hides rules users never type.
fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::name | Rule::bare_name | Rule::fixture_ref => "a name",
        Rule::type_name => "a type name",
        Rule::type_ref => "a type",
        Rule::string => "a string",
        Rule::int => "an integer",
        Rule::float => "a number",
        Rule::percent => "a percentage",
        Rule::duration => "a duration",
        Rule::version => "a version",
        Rule::expr
        | Rule::or_expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::cmp_expr
        | Rule::coalesce
        | Rule::sum
        | Rule::product
        | Rule::unary
        | Rule::known_call
        | Rule::call
        | Rule::field_ref
        | Rule::paren => "an expression",
        Rule::cmp_op | Rule::cmp_tail => "a comparison",
        Rule::sum_op | Rule::prod_op => "an operator",
        Rule::list => "`[`",
        Rule::record => "`device`",
        Rule::bool_lit | Rule::kw_true | Rule::kw_false => "`true` or `false`",
        Rule::value => "a value",
        Rule::field_decl => "a field declaration",
        Rule::field_init => "a field",
        Rule::record_body => "`{`",
        Rule::record_source | Rule::device_literal => "a device record",
        Rule::clause
        | Rule::deny_head
        | Rule::defer_head
        | Rule::rollback_head
        | Rule::require_head
        | Rule::abort_head => "a clause",
        Rule::kw_deny => "`deny`",
        Rule::kw_defer => "`defer`",
        Rule::kw_rollback => "`rollback`",
        Rule::kw_require => "`require`",
        Rule::kw_abort => "`abort`",
        Rule::condition | Rule::scope | Rule::kw_when => "`when`",
        Rule::for_checks | Rule::kw_for => "`for`",
        Rule::kw_checks => "`checks`",
        Rule::per_field | Rule::kw_per => "`per`",
        Rule::kw_on => "`on`",
        Rule::kw_and => "`and`",
        Rule::kw_or => "`or`",
        Rule::kw_in => "`in`",
        Rule::kw_with | Rule::with_clause => "`with`",
        Rule::soak_stmt | Rule::kw_soak => "`soak`",
        Rule::check_every | Rule::kw_check => "`check every`",
        Rule::verify_for | Rule::kw_verify => "`verify for`",
        Rule::rate_stmt | Rule::kw_rate => "`rate`",
        Rule::in_flight => "`in flight at most`",
        Rule::retries_stmt | Rule::kw_retries => "`retries`",
        Rule::ring_decl | Rule::kw_ring => "`ring`",
        Rule::ring_filter | Rule::kw_where => "`where`",
        Rule::given_stmt | Rule::kw_given => "`given`",
        Rule::expect_stmt | Rule::kw_expect => "`expect`",
        Rule::optional_mark => "`?`",
        Rule::EOI => "end of declaration",
        Rule::enum_decl
        | Rule::plane_decl
        | Rule::device_decl
        | Rule::let_decl
        | Rule::rail_decl
        | Rule::health_decl
        | Rule::depends_decl
        | Rule::incompatible_decl
        | Rule::rollout_decl
        | Rule::gate_decl
        | Rule::fixture_decl
        | Rule::test_decl => "a declaration",
        Rule::given_now
        | Rule::given_release
        | Rule::given_rollout
        | Rule::given_ring
        | Rule::given_device
        | Rule::ring_by
        | Rule::by_entry => "what is given",
        Rule::expect_allow
        | Rule::expect_deny
        | Rule::expect_defer
        | Rule::expect_healthy
        | Rule::expect_inconclusive
        | Rule::expect_rollback
        | Rule::expect_promote
        | Rule::expect_hold
        | Rule::expect_abort
        | Rule::expect_install
        | Rule::expect_not_installable => "an expectation",
        Rule::gate_ref => "a gate `from -> to`",
        Rule::neg => "`-`",
        _ => return None,
    })
}

type Res<T> = Result<T, ()>;

struct Builder<'d> {
    file: FileId,
    offset: usize,
    /// The whole file, and its comments, to trim spans.
    text: &'d str,
    comments: &'d [Comment],
    diagnostics: &'d mut Vec<Diagnostic>,
}

/// The children of a pair, without keyword tokens.
fn parts(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !is_keyword(p.as_rule()))
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_and
            | Rule::kw_or
            | Rule::kw_not
            | Rule::kw_in
            | Rule::kw_between
            | Rule::kw_known
            | Rule::kw_when
            | Rule::kw_for
            | Rule::kw_per
            | Rule::kw_with
            | Rule::kw_enum
            | Rule::kw_plane
            | Rule::kw_device
            | Rule::kw_let
            | Rule::kw_rail
            | Rule::kw_health
            | Rule::kw_deny
            | Rule::kw_defer
            | Rule::kw_rollback
            | Rule::kw_require
            | Rule::kw_abort
            | Rule::kw_soak
            | Rule::kw_checks
            | Rule::kw_depends
            | Rule::kw_on
            | Rule::kw_incompatible
            | Rule::kw_rollout
            | Rule::kw_check
            | Rule::kw_every
            | Rule::kw_verify
            | Rule::kw_rate
            | Rule::kw_flight
            | Rule::kw_at
            | Rule::kw_most
            | Rule::kw_retries
            | Rule::kw_ring
            | Rule::kw_where
            | Rule::kw_gate
            | Rule::kw_fixture
            | Rule::kw_test
            | Rule::kw_given
            | Rule::kw_expect
            | Rule::kw_now
            | Rule::kw_release
            | Rule::kw_by
            | Rule::kw_allow
            | Rule::kw_healthy
            | Rule::kw_inconclusive
            | Rule::kw_promote
            | Rule::kw_hold
            | Rule::kw_install
            | Rule::kw_order
            | Rule::kw_installable
            | Rule::EOI
    )
}

/// The first child of a pair. The grammar guarantees the children this module asks for; a missing one
/// would be a bug in this file, so it is reported as a syntax error rather than a panic.
macro_rules! next {
    ($self:ident, $iter:expr, $span:expr) => {
        match $iter.next() {
            Some(p) => p,
            None => return $self.internal($span),
        }
    };
}

impl Builder<'_> {
    /// The span of a pair without the whitespace and comments pest leaves at its end (a rule ending in
    /// an optional part, `a ~ b?`, consumes the whitespace before the `b` it did not find).
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let start = self.offset + s.start();
        let mut end = self.offset + s.end();
        loop {
            let trimmed = self.text[start..end].trim_end().len() + start;
            // Comments are in order and do not overlap, so their ends are sorted too.
            match self
                .comments
                .binary_search_by_key(&trimmed, |c| c.end)
                .ok()
                .map(|k| &self.comments[k])
                .filter(|c| c.start >= start)
            {
                Some(c) => end = c.start,
                None => {
                    end = trimmed;
                    break;
                }
            }
        }
        Span::new(self.file, start, end)
    }

    /// A construct this file does not expect (a bug here, not in the source): reported, never a panic.
    fn internal<T>(&mut self, span: Span) -> Res<T> {
        self.diagnostics
            .push(diag::syntax(span, "an unexpected construct", &[]));
        Err(())
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn string(&self, pair: Pair<'_, Rule>) -> StrLit {
        let span = self.span(&pair);
        let raw = pair.as_str();
        let body = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
        let mut value = String::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some(other) => value.push(other),
                    None => {}
                }
            } else {
                value.push(c);
            }
        }
        StrLit { value, span }
    }

    fn literal(&self, pair: Pair<'_, Rule>) -> Literal {
        let kind = match pair.as_rule() {
            Rule::int => LitKind::Int,
            Rule::float => LitKind::Float,
            Rule::percent => LitKind::Percent,
            Rule::duration => LitKind::Duration,
            Rule::version => LitKind::Version,
            _ => LitKind::Bool,
        };
        Literal {
            kind,
            text: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Res<Item> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut it = parts(pair);
        Ok(match rule {
            Rule::enum_decl => {
                let name = self.ident(next!(self, it, span));
                let variants = it.map(|p| self.ident(p)).collect();
                Item::Enum(EnumDecl {
                    name,
                    variants,
                    span,
                })
            }
            Rule::plane_decl => Item::Plane(self.ident(next!(self, it, span)), span),
            Rule::device_decl => {
                let fields = it
                    .map(|f| {
                        let fspan = self.span(&f);
                        let mut fi = f.into_inner();
                        let name = fi.next().map(|p| self.ident(p));
                        let ty = fi
                            .next()
                            .and_then(|p| p.into_inner().next())
                            .map(|p| self.ident(p));
                        let optional = fi.next().is_some();
                        (name, ty, optional, fspan)
                    })
                    .collect::<Vec<_>>();
                let mut out = Vec::new();
                for (name, ty, optional, fspan) in fields {
                    match (name, ty) {
                        (Some(name), Some(ty)) => out.push(FieldDecl {
                            name,
                            ty,
                            optional,
                            span: fspan,
                        }),
                        _ => return self.internal(fspan),
                    }
                }
                Item::Device(DeviceDecl { fields: out, span })
            }
            Rule::let_decl => {
                let name = self.ident(next!(self, it, span));
                let expr = self.expr(next!(self, it, span))?;
                Item::Let(LetDecl { name, expr, span })
            }
            Rule::rail_decl | Rule::health_decl => {
                let name = self.ident(next!(self, it, span));
                let mut scope = None;
                let mut clauses = Vec::new();
                for p in it {
                    match p.as_rule() {
                        Rule::scope => scope = Some(self.expr(next!(self, parts(p), span))?),
                        _ => clauses.push(self.clause(p)?),
                    }
                }
                let decl = RuleDecl {
                    name,
                    scope,
                    clauses,
                    span,
                };
                if rule == Rule::rail_decl {
                    Item::Rail(decl)
                } else {
                    Item::Health(decl)
                }
            }
            Rule::gate_decl => {
                let from = self.ident(next!(self, it, span));
                let to = self.ident(next!(self, it, span));
                let mut stmts = Vec::new();
                for p in it {
                    match p.as_rule() {
                        Rule::soak_stmt => {
                            let sspan = self.span(&p);
                            let lit = self.literal(next!(self, parts(p), sspan));
                            stmts.push(GateStmt::Soak(lit, sspan));
                        }
                        _ => stmts.push(GateStmt::Clause(self.clause(p)?)),
                    }
                }
                Item::Gate(GateDecl {
                    from,
                    to,
                    stmts,
                    span,
                })
            }
            Rule::depends_decl => {
                let dependent = self.expr(next!(self, it, span))?;
                let dependency = self.expr(next!(self, it, span))?;
                Item::Depends(DependsDecl {
                    dependent,
                    dependency,
                    span,
                })
            }
            Rule::incompatible_decl => {
                let versions = self.expr(next!(self, it, span))?;
                let cond = self.expr(next!(self, it, span))?;
                let reason = self.string(next!(self, it, span));
                Item::Incompatible(IncompatibleDecl {
                    versions,
                    cond,
                    reason,
                    span,
                })
            }
            Rule::rollout_decl => {
                let mut stmts = Vec::new();
                for p in it {
                    stmts.push(self.rollout_stmt(p)?);
                }
                Item::Rollout(RolloutDecl { stmts, span })
            }
            Rule::fixture_decl => {
                let name = self.ident(next!(self, it, span));
                let source = self.record_source(next!(self, it, span))?;
                Item::Fixture(FixtureDecl { name, source, span })
            }
            Rule::test_decl => {
                let name = self.string(next!(self, it, span));
                let mut stmts = Vec::new();
                for p in it {
                    stmts.push(self.test_stmt(p)?);
                }
                Item::Test(TestDecl { name, stmts, span })
            }
            _ => return self.internal(span),
        })
    }

    fn clause(&mut self, pair: Pair<'_, Rule>) -> Res<Clause> {
        let span = self.span(&pair);
        let mut it = parts(pair);
        let head_pair = next!(self, it, span);
        let head_span = self.span(&head_pair);
        let head_rule = head_pair.as_rule();
        let mut head_parts = parts(head_pair);
        let head = match head_rule {
            Rule::deny_head => ClauseHead::Deny,
            Rule::defer_head => ClauseHead::Defer(self.literal(next!(self, head_parts, head_span))),
            Rule::rollback_head => {
                ClauseHead::Rollback(head_parts.map(|p| self.ident(p)).collect())
            }
            Rule::require_head => {
                ClauseHead::Require(self.expr(next!(self, head_parts, head_span))?)
            }
            Rule::abort_head => ClauseHead::Abort,
            _ => return self.internal(head_span),
        };
        let mut clause = Clause {
            head,
            head_span,
            reason: None,
            cond: None,
            for_checks: None,
            per: None,
            span,
        };
        for p in it {
            match p.as_rule() {
                Rule::string => clause.reason = Some(self.string(p)),
                Rule::condition => clause.cond = Some(self.expr(next!(self, parts(p), span))?),
                Rule::for_checks => {
                    clause.for_checks = Some(self.literal(next!(self, parts(p), span)))
                }
                Rule::per_field => {
                    clause.per = Some(self.field_ref(next!(self, parts(p), span))?)
                }
                _ => return self.internal(self.span(&p)),
            }
        }
        Ok(clause)
    }

    fn rollout_stmt(&mut self, pair: Pair<'_, Rule>) -> Res<RolloutStmt> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut it = parts(pair);
        let kind = match rule {
            Rule::check_every => RolloutStmtKind::CheckEvery(self.literal(next!(self, it, span))),
            Rule::verify_for => RolloutStmtKind::VerifyFor(self.literal(next!(self, it, span))),
            Rule::rate_stmt => {
                let count = self.literal(next!(self, it, span));
                let per = self.literal(next!(self, it, span));
                RolloutStmtKind::Rate(count, per)
            }
            Rule::in_flight => RolloutStmtKind::InFlight(self.literal(next!(self, it, span))),
            Rule::retries_stmt => RolloutStmtKind::Retries(self.literal(next!(self, it, span))),
            Rule::ring_decl => {
                let name = self.ident(next!(self, it, span));
                let share = self.literal(next!(self, it, span));
                let filter = match it.next() {
                    Some(f) => Some(self.expr(next!(self, parts(f), span))?),
                    None => None,
                };
                RolloutStmtKind::Ring {
                    name,
                    share,
                    filter,
                }
            }
            _ => return self.internal(span),
        };
        Ok(RolloutStmt { kind, span })
    }

    fn record_source(&mut self, pair: Pair<'_, Rule>) -> Res<RecordSource> {
        let span = self.span(&pair);
        let mut it = parts(pair);
        let base_pair = next!(self, it, span);
        let base = match base_pair.as_rule() {
            Rule::device_literal => {
                RecordBase::Literal(self.record_body(next!(self, parts(base_pair), span))?)
            }
            _ => RecordBase::Fixture(self.ident(next!(self, base_pair.into_inner(), span))),
        };
        let with = match it.next() {
            Some(w) => Some(self.record_body(next!(self, parts(w), span))?),
            None => None,
        };
        Ok(RecordSource { base, with, span })
    }

    fn record_body(&mut self, pair: Pair<'_, Rule>) -> Res<RecordBody> {
        let span = self.span(&pair);
        let mut fields = Vec::new();
        for f in parts(pair) {
            let fspan = self.span(&f);
            let mut fi = f.into_inner();
            let name = self.ident(next!(self, fi, fspan));
            let value = self.value(next!(self, fi, fspan))?;
            fields.push(FieldInit {
                name,
                value,
                span: fspan,
            });
        }
        Ok(RecordBody { fields, span })
    }

    fn value(&mut self, pair: Pair<'_, Rule>) -> Res<ValueLit> {
        let span = self.span(&pair);
        let mut negated = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_missing => return Ok(ValueLit::Missing(span)),
                Rule::neg => negated = true,
                Rule::name => return Ok(ValueLit::Name(self.ident(p))),
                Rule::bool_lit => {
                    let inner = next!(self, p.into_inner(), span);
                    return Ok(ValueLit::Literal {
                        negated,
                        lit: self.literal(inner),
                        span,
                    });
                }
                _ => {
                    return Ok(ValueLit::Literal {
                        negated,
                        lit: self.literal(p),
                        span,
                    });
                }
            }
        }
        self.internal(span)
    }

    fn test_stmt(&mut self, pair: Pair<'_, Rule>) -> Res<TestStmt> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let inner = next!(self, parts(pair), span);
        if rule == Rule::given_stmt {
            let given_rule = inner.as_rule();
            let mut it = parts(inner);
            let given = match given_rule {
                Rule::given_now => Given::Now(self.record_body(next!(self, it, span))?),
                Rule::given_release => Given::Release(self.record_body(next!(self, it, span))?),
                Rule::given_rollout => Given::Rollout(self.record_body(next!(self, it, span))?),
                Rule::given_ring => {
                    let mut body = None;
                    let mut by = None;
                    for p in it {
                        match p.as_rule() {
                            Rule::record_body => body = Some(self.record_body(p)?),
                            _ => {
                                let bspan = self.span(&p);
                                let mut bi = parts(p);
                                let field = self.ident(next!(self, bi, bspan));
                                let mut entries = Vec::new();
                                for e in bi {
                                    let espan = self.span(&e);
                                    let mut ei = e.into_inner();
                                    let value = self.ident(next!(self, ei, espan));
                                    entries
                                        .push((value, self.record_body(next!(self, ei, espan))?));
                                }
                                by = Some(RingBy {
                                    field,
                                    entries,
                                    span: bspan,
                                });
                            }
                        }
                    }
                    Given::Ring { body, by }
                }
                _ => {
                    let source = self.record_source(next!(self, it, span))?;
                    let checks = match it.next() {
                        Some(p) => Some(self.literal(next!(self, parts(p), span))),
                        None => None,
                    };
                    Given::Device { source, checks }
                }
            };
            return Ok(TestStmt::Given(given, span));
        }
        let exp_rule = inner.as_rule();
        let mut it = parts(inner);
        let expect = match exp_rule {
            Rule::expect_allow => Expect::Allow,
            Rule::expect_deny => Expect::Deny(it.next().map(|p| self.string(p))),
            Rule::expect_defer => {
                let mut duration = None;
                let mut reason = None;
                for p in it {
                    match p.as_rule() {
                        Rule::duration => duration = Some(self.literal(p)),
                        _ => reason = Some(self.string(p)),
                    }
                }
                Expect::Defer(duration, reason)
            }
            Rule::expect_healthy => Expect::Healthy,
            Rule::expect_inconclusive => Expect::Inconclusive,
            Rule::expect_rollback => Expect::Rollback(it.map(|p| self.ident(p)).collect()),
            Rule::expect_promote => Expect::Promote(self.gate_ref(next!(self, it, span))?),
            Rule::expect_hold => Expect::Hold(self.gate_ref(next!(self, it, span))?),
            Rule::expect_abort => {
                let gate = self.gate_ref(next!(self, it, span))?;
                Expect::Abort(gate, it.next().map(|p| self.string(p)))
            }
            Rule::expect_install => Expect::InstallOrder(it.map(|p| self.ident(p)).collect()),
            Rule::expect_not_installable => Expect::NotInstallable,
            _ => return self.internal(span),
        };
        Ok(TestStmt::Expect(expect, span))
    }

    fn gate_ref(&mut self, pair: Pair<'_, Rule>) -> Res<GateRef> {
        let span = self.span(&pair);
        let mut it = pair.into_inner();
        let from = self.ident(next!(self, it, span));
        let to = self.ident(next!(self, it, span));
        Ok(GateRef { from, to, span })
    }

    fn field_ref(&mut self, pair: Pair<'_, Rule>) -> Res<FieldRef> {
        let span = self.span(&pair);
        let mut it = pair.into_inner();
        let record = self.ident(next!(self, it, span));
        let field = self.ident(next!(self, it, span));
        Ok(FieldRef {
            record,
            field,
            span,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Expressions. Each builder returns the expression and its depth; a tree deeper than
    // MAX_EXPR_DEPTH is reported and dropped, which bounds the recursion of every later pass.

    fn expr(&mut self, pair: Pair<'_, Rule>) -> Res<Expr> {
        let (e, depth) = self.expr_d(pair)?;
        if depth > MAX_EXPR_DEPTH {
            self.diagnostics
                .push(diag::expression_too_deep(e.span, MAX_EXPR_DEPTH));
            return Err(());
        }
        Ok(e)
    }

    // The builders below recurse once per nesting level of the source, so each keeps a small stack
    // frame: `expr_d` only dispatches (stepping through precedence levels that hold a single operand
    // without recursing), and each form has its own function. In a debug build one function holding
    // every form used about 24 KiB of stack per call, ten calls per pair of parentheses.

    fn expr_d(&mut self, pair: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let mut pair = pair;
        // `expr`, and any precedence level with a single child (no operator), is its child.
        while matches!(
            pair.as_rule(),
            Rule::expr
                | Rule::or_expr
                | Rule::and_expr
                | Rule::not_expr
                | Rule::cmp_expr
                | Rule::coalesce
                | Rule::sum
                | Rule::product
                | Rule::unary
        ) {
            let mut children = pair.clone().into_inner();
            match (children.next(), children.next()) {
                (Some(only), None) => pair = only,
                _ => break,
            }
        }
        match pair.as_rule() {
            Rule::or_expr | Rule::and_expr => self.logic_expr(pair),
            Rule::not_expr => self.prefix_expr(pair, Rule::kw_not),
            Rule::unary => self.prefix_expr(pair, Rule::neg),
            Rule::cmp_expr => self.cmp_expr(pair),
            Rule::coalesce => self.coalesce_expr(pair),
            Rule::sum | Rule::product => self.arith_expr(pair),
            Rule::known_call | Rule::paren => self.wrapped_expr(pair),
            Rule::call => self.call_expr(pair),
            _ => self.atom_expr(pair),
        }
    }

    #[inline(never)]
    fn logic_expr(&mut self, pair: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let span = self.span(&pair);
        let is_or = pair.as_rule() == Rule::or_expr;
        let mut operands = Vec::new();
        let mut depth = 0;
        for p in parts(pair) {
            let (e, d) = self.expr_d(p)?;
            depth = depth.max(d);
            operands.push(e);
        }
        if operands.len() == 1 {
            return Ok((operands.pop().ok_or(())?, depth));
        }
        let kind = if is_or {
            ExprKind::Or(operands)
        } else {
            ExprKind::And(operands)
        };
        Ok((Expr { kind, span }, depth + 1))
    }

    /// `not … x` or `- … x`: prefix operators, innermost last.
    #[inline(never)]
    fn prefix_expr(&mut self, pair: Pair<'_, Rule>, op: Rule) -> Res<(Expr, usize)> {
        let span = self.span(&pair);
        let mut ops = Vec::new();
        let mut operand = None;
        for p in pair.into_inner() {
            if p.as_rule() == op {
                ops.push(self.span(&p));
            } else {
                operand = Some(p);
            }
        }
        let (mut e, mut depth) = self.expr_d(next!(self, operand.into_iter(), span))?;
        if depth + ops.len() > MAX_EXPR_DEPTH {
            // Too deep: reported by `expr` over the whole prefixed expression.
            e.span = span;
            return Ok((e, depth + ops.len()));
        }
        for op_span in ops.into_iter().rev() {
            let s = op_span.to(e.span);
            let inner = Box::new(e);
            let kind = if op == Rule::kw_not {
                ExprKind::Not(inner)
            } else {
                ExprKind::Neg(inner)
            };
            e = Expr { kind, span: s };
            depth += 1;
        }
        Ok((e, depth))
    }

    #[inline(never)]
    fn cmp_expr(&mut self, pair: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let span = self.span(&pair);
        let mut it = pair.into_inner();
        let (first, mut depth) = self.expr_d(next!(self, it, span))?;
        let mut tails = Vec::new();
        for tail in it {
            let tspan = self.span(&tail);
            let mut ti = tail.into_inner();
            let head = next!(self, ti, tspan);
            match head.as_rule() {
                Rule::cmp_op => {
                    let op = match head.as_str() {
                        "==" => CmpOp::Eq,
                        "!=" => CmpOp::Ne,
                        "<" => CmpOp::Lt,
                        "<=" => CmpOp::Le,
                        ">" => CmpOp::Gt,
                        _ => CmpOp::Ge,
                    };
                    let (rhs, d) = self.expr_d(next!(self, ti, tspan))?;
                    depth = depth.max(d);
                    tails.push(CmpTail::Cmp(op, rhs));
                }
                Rule::kw_in => {
                    let list = next!(self, ti, tspan);
                    let lspan = self.span(&list);
                    let mut items = Vec::new();
                    for item in list.into_inner() {
                        let (e, d) = self.expr_d(item)?;
                        depth = depth.max(d);
                        items.push(e);
                    }
                    tails.push(CmpTail::In(items, lspan));
                }
                _ => {
                    let (lo, d1) = self.expr_d(next!(self, ti, tspan))?;
                    let _and = next!(self, ti, tspan);
                    let (hi, d2) = self.expr_d(next!(self, ti, tspan))?;
                    depth = depth.max(d1).max(d2);
                    tails.push(CmpTail::Between(lo, hi));
                }
            }
        }
        if tails.is_empty() {
            return Ok((first, depth));
        }
        Ok((
            Expr {
                kind: ExprKind::Compare(Box::new(first), tails),
                span,
            },
            depth + 1,
        ))
    }

    #[inline(never)]
    fn coalesce_expr(&mut self, pair: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let span = self.span(&pair);
        let mut operands = Vec::new();
        let mut depth = 0;
        for p in pair.into_inner() {
            let (e, d) = self.expr_d(p)?;
            depth = depth.max(d);
            operands.push(e);
        }
        if operands.len() == 1 {
            return Ok((operands.pop().ok_or(())?, depth));
        }
        Ok((
            Expr {
                kind: ExprKind::Coalesce(operands),
                span,
            },
            depth + 1,
        ))
    }

    /// `a + b - c` or `a * b / c`, grouped to the left.
    #[inline(never)]
    fn arith_expr(&mut self, pair: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let span = self.span(&pair);
        let mut it = pair.into_inner();
        let (mut acc, mut depth) = self.expr_d(next!(self, it, span))?;
        while let Some(op) = it.next() {
            let op = match op.as_str() {
                "+" => BinOp::Add,
                "-" => BinOp::Sub,
                "*" => BinOp::Mul,
                _ => BinOp::Div,
            };
            let (rhs, d) = self.expr_d(next!(self, it, span))?;
            depth = depth.max(d) + 1;
            if depth > MAX_EXPR_DEPTH {
                return Ok((acc, depth));
            }
            let s = acc.span.to(rhs.span);
            acc = Expr {
                kind: ExprKind::Binary(op, Box::new(acc), Box::new(rhs)),
                span: s,
            };
        }
        Ok((acc, depth))
    }

    /// `known(x)` and `(x)`.
    #[inline(never)]
    fn wrapped_expr(&mut self, pair: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let span = self.span(&pair);
        let is_known = pair.as_rule() == Rule::known_call;
        let (inner, d) = self.expr_d(next!(self, parts(pair), span))?;
        let kind = if is_known {
            ExprKind::Known(Box::new(inner))
        } else {
            ExprKind::Paren(Box::new(inner))
        };
        Ok((Expr { kind, span }, d + 1))
    }

    #[inline(never)]
    fn call_expr(&mut self, pair: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let span = self.span(&pair);
        let mut it = pair.into_inner();
        let name = self.ident(next!(self, it, span));
        let mut args = Vec::new();
        let mut depth = 0;
        for p in it {
            let (e, d) = self.expr_d(p)?;
            depth = depth.max(d);
            args.push(e);
        }
        Ok((
            Expr {
                kind: ExprKind::Call(name, args),
                span,
            },
            depth + 1,
        ))
    }

    #[inline(never)]
    fn atom_expr(&mut self, pair: Pair<'_, Rule>) -> Res<(Expr, usize)> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::field_ref => Ok((
                Expr {
                    kind: ExprKind::Field(self.field_ref(pair)?),
                    span,
                },
                1,
            )),
            Rule::bare_name => Ok((
                Expr {
                    kind: ExprKind::Name(self.ident(next!(self, pair.into_inner(), span))),
                    span,
                },
                1,
            )),
            Rule::bool_lit => {
                let inner = next!(self, pair.into_inner(), span);
                Ok((
                    Expr {
                        kind: ExprKind::Lit(self.literal(inner)),
                        span,
                    },
                    1,
                ))
            }
            Rule::int | Rule::float | Rule::percent | Rule::duration | Rule::version => Ok((
                Expr {
                    kind: ExprKind::Lit(self.literal(pair)),
                    span,
                },
                1,
            )),
            _ => self.internal(span),
        }
    }
}
