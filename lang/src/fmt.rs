//! The formatter: one canonical layout for policy files.
//!
//! In: one file's text. Out: the same declarations in the canonical layout, or the file's syntax errors
//! (a file that does not parse is never rewritten). The layout: two-space indentation, one clause,
//! field or setting per line, single spaces around operators, literals and strings exactly as written,
//! at most one blank line where the source had one or more, records and enums on one line when they fit
//! in `WIDTH` columns and hold no comment. Comments are kept: a comment on its own line stays on its own
//! line before the next construct; a comment after code stays after that line's code; a comment inside a
//! construct that becomes one line moves to its own line before it.

use crate::ast::*;
use crate::diagnostics::Diagnostic;
use crate::source::{FileId, Span};
use crate::syntax::{self, Comment};

/// Lines longer than this are split where the layout allows (records, enums).
pub const WIDTH: usize = 100;

/// The canonical layout of one file, or its syntax errors.
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = syntax::parse_file(FileId(0), text);
    if parsed.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(parsed.diagnostics);
    }
    let mut p = Printer {
        text,
        comments: parsed.comments,
        next_comment: 0,
        out: String::new(),
        indent: 0,
        last_end: 0,
    };
    for item in &parsed.file.items {
        p.item(item);
    }
    p.comments_before(text.len());
    let mut out = p.out;
    while out.ends_with("\n\n") {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

struct Printer<'a> {
    text: &'a str,
    comments: Vec<Comment>,
    next_comment: usize,
    out: String,
    indent: usize,
    /// Source offset of the end of the last construct or comment printed.
    last_end: usize,
}

impl Printer<'_> {
    fn src(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }

    /// Whether the source has an empty line between the last printed thing and `start`.
    fn blank_before(&self, start: usize) -> bool {
        if self.out.is_empty() || self.out.ends_with("{\n") {
            return false;
        }
        let between = self.text.get(self.last_end..start).unwrap_or("");
        let mut lines = between.split('\n');
        lines.next();
        let rest: Vec<&str> = lines.collect();
        // The last piece is the indentation before `start`; any whitespace-only line before it is blank.
        rest.len() > 1 && rest[..rest.len() - 1].iter().any(|l| l.trim().is_empty())
    }

    fn newline_if_blank(&mut self, start: usize) {
        if self.blank_before(start) && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn pad(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
    }

    /// Prints, each on its own line, every comment that starts before `offset`.
    fn comments_before(&mut self, offset: usize) {
        while let Some(c) = self.comments.get(self.next_comment).cloned() {
            if c.start >= offset {
                break;
            }
            self.newline_if_blank(c.start);
            self.pad();
            self.out.push_str(self.text[c.start..c.end].trim_end());
            self.out.push('\n');
            self.last_end = c.end;
            self.next_comment += 1;
        }
    }

    /// Appends a comment that follows `end` on the same source line, if any, to the line just printed.
    fn trailing_comment(&mut self, end: usize) {
        let Some(c) = self.comments.get(self.next_comment).cloned() else {
            return;
        };
        let between = self.text.get(end..c.start).unwrap_or("\n");
        // Only punctuation may stand between the construct and its comment: a comment after another
        // construct on the same line (`a = 1, b = 2 // …`) belongs to that one.
        if c.own_line
            || between.contains('\n')
            || !between
                .chars()
                .all(|ch| ch.is_whitespace() || ",{}()[]".contains(ch))
        {
            return;
        }
        debug_assert!(self.out.ends_with('\n'));
        self.out.pop();
        self.out.push_str("  ");
        self.out.push_str(self.text[c.start..c.end].trim_end());
        self.out.push('\n');
        self.last_end = c.end;
        self.next_comment += 1;
    }

    /// Prints one line of code for a construct spanning `span`: comments inside it go before it.
    fn line(&mut self, span: Span, code: &str) {
        self.comments_before(span.end as usize);
        self.newline_if_blank(span.start as usize);
        self.pad();
        self.out.push_str(code);
        self.out.push('\n');
        self.last_end = span.end as usize;
        self.trailing_comment(span.end as usize);
    }

    /// Opens a block whose header spans `header`.
    fn open(&mut self, header: Span, code: &str) {
        self.line(header, &format!("{code} {{"));
        self.indent += 1;
    }

    /// Closes a block that ends at `end` (the offset just after its `}`).
    fn close(&mut self, end: usize) {
        self.comments_before(end);
        self.indent -= 1;
        self.pad();
        self.out.push_str("}\n");
        self.last_end = end;
        self.trailing_comment(end);
    }

    fn has_comment_in(&self, span: Span) -> bool {
        // Comments are in order: find the first one at or after the start instead of scanning them all.
        let rest = &self.comments[self.next_comment..];
        let first = rest.partition_point(|c| c.start < span.start as usize);
        rest.get(first).is_some_and(|c| c.start < span.end as usize)
    }

    fn fits(&self, code: &str) -> bool {
        self.indent * 2 + code.len() <= WIDTH && !code.contains('\n')
    }

    fn item(&mut self, item: &Item) {
        let span = item.span();
        let end = span.end as usize;
        self.comments_before(span.start as usize);
        match item {
            Item::Enum(d) => {
                let names: Vec<&str> = d.variants.iter().map(|v| v.name.as_str()).collect();
                let one = format!("enum {} {{ {} }}", d.name.name, names.join(", "));
                if self.fits(&one)
                    && !self.has_comment_in(Span {
                        end: end as u32,
                        ..span
                    })
                {
                    self.line(
                        Span {
                            end: end as u32,
                            ..span
                        },
                        &one,
                    );
                } else {
                    self.open(
                        Span {
                            end: d.name.span.end,
                            ..span
                        },
                        &format!("enum {}", d.name.name),
                    );
                    for v in &d.variants {
                        self.line(v.span, &format!("{},", v.name));
                    }
                    self.close(end);
                }
            }
            Item::Plane(name, _) => self.line(
                Span {
                    end: end as u32,
                    ..span
                },
                &format!("plane {}", name.name),
            ),
            Item::Device(d) => {
                self.open(
                    Span {
                        end: span.start + 6,
                        ..span
                    },
                    "device",
                );
                for f in &d.fields {
                    let code = format!(
                        "{}: {}{}",
                        f.name.name,
                        f.ty.name,
                        if f.optional { "?" } else { "" }
                    );
                    self.line(f.span, &code);
                }
                self.close(end);
            }
            Item::Let(d) => {
                let code = format!("let {} = {}", d.name.name, self.expr(&d.expr));
                self.line(
                    Span {
                        end: end as u32,
                        ..span
                    },
                    &code,
                );
            }
            Item::Rail(d) | Item::Health(d) => {
                let keyword = if matches!(item, Item::Rail(_)) {
                    "rail"
                } else {
                    "health"
                };
                let mut header = format!("{keyword} {}", d.name.name);
                let mut header_span = Span {
                    end: d.name.span.end,
                    ..span
                };
                if let Some(scope) = &d.scope {
                    header.push_str(&format!(" when {}", self.expr(scope)));
                    header_span.end = scope.span.end;
                }
                self.open(header_span, &header);
                for c in &d.clauses {
                    let code = self.clause(c);
                    self.line(c.span, &code);
                }
                self.close(end);
            }
            Item::Depends(d) => {
                let code = format!(
                    "depends {} on {}",
                    self.expr(&d.dependent),
                    self.expr(&d.dependency)
                );
                self.line(
                    Span {
                        end: end as u32,
                        ..span
                    },
                    &code,
                );
            }
            Item::Incompatible(d) => {
                let code = format!(
                    "incompatible {} when {} {}",
                    self.expr(&d.versions),
                    self.expr(&d.cond),
                    self.src(d.reason.span)
                );
                self.line(
                    Span {
                        end: end as u32,
                        ..span
                    },
                    &code,
                );
            }
            Item::Rollout(d) => {
                self.open(
                    Span {
                        end: span.start + 7,
                        ..span
                    },
                    "rollout",
                );
                for stmt in &d.stmts {
                    let code = match &stmt.kind {
                        RolloutStmtKind::CheckEvery(l) => format!("check every {}", l.text),
                        RolloutStmtKind::VerifyFor(l) => format!("verify for {}", l.text),
                        RolloutStmtKind::Rate(n, per) => {
                            format!("rate {} per {}", n.text, per.text)
                        }
                        RolloutStmtKind::InFlight(n) => format!("in flight at most {}", n.text),
                        RolloutStmtKind::Retries(n) => format!("retries {}", n.text),
                        RolloutStmtKind::Ring {
                            name,
                            share,
                            filter,
                        } => match filter {
                            Some(f) => format!(
                                "ring {} = {} where {}",
                                name.name,
                                share.text,
                                self.expr(f)
                            ),
                            None => format!("ring {} = {}", name.name, share.text),
                        },
                    };
                    self.line(stmt.span, &code);
                }
                self.close(end);
            }
            Item::Gate(d) => {
                self.open(
                    Span {
                        end: d.to.span.end,
                        ..span
                    },
                    &format!("gate {} -> {}", d.from.name, d.to.name),
                );
                for stmt in &d.stmts {
                    match stmt {
                        GateStmt::Soak(l, s) => self.line(*s, &format!("soak {}", l.text)),
                        GateStmt::Clause(c) => {
                            let code = self.clause(c);
                            self.line(c.span, &code);
                        }
                    }
                }
                self.close(end);
            }
            Item::Fixture(d) => {
                let prefix = format!("fixture {} = ", d.name.name);
                self.record_source_line(
                    Span {
                        end: end as u32,
                        ..span
                    },
                    &prefix,
                    &d.source,
                    "",
                );
            }
            Item::Test(d) => {
                self.open(
                    Span {
                        end: d.name.span.end,
                        ..span
                    },
                    &format!("test {}", self.src(d.name.span)),
                );
                for stmt in &d.stmts {
                    match stmt {
                        TestStmt::Given(g, s) => self.given(g, *s),
                        TestStmt::Expect(e, s) => {
                            let code = format!("expect {}", self.expect(e));
                            self.line(*s, &code);
                        }
                    }
                }
                self.close(end);
            }
        }
    }

    fn clause(&self, c: &Clause) -> String {
        let mut out = match &c.head {
            ClauseHead::Deny => "deny".to_string(),
            ClauseHead::Defer(l) => format!("defer {}", l.text),
            ClauseHead::Rollback(planes) => {
                format!(
                    "rollback {}",
                    planes
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            ClauseHead::Require(e) => format!("require {}", self.expr(e)),
            ClauseHead::Abort => "abort".to_string(),
        };
        if let Some(r) = &c.reason {
            out.push(' ');
            out.push_str(self.src(r.span));
        }
        if let Some(e) = &c.cond {
            out.push_str(&format!(" when {}", self.expr(e)));
        }
        if let Some(n) = &c.for_checks {
            out.push_str(&format!(" for {} checks", n.text));
        }
        if let Some(p) = &c.per {
            out.push_str(&format!(" per {}.{}", p.record.name, p.field.name));
        }
        out
    }

    fn value(&self, v: &ValueLit) -> String {
        match v {
            ValueLit::Missing(_) => "missing".into(),
            ValueLit::Literal { negated, lit, .. } => {
                format!("{}{}", if *negated { "-" } else { "" }, lit.text)
            }
            ValueLit::Name(id) => id.name.clone(),
        }
    }

    fn body_inline(&self, body: &RecordBody) -> String {
        if body.fields.is_empty() {
            return "{}".into();
        }
        let fields: Vec<String> = body
            .fields
            .iter()
            .map(|f| format!("{} = {}", f.name.name, self.value(&f.value)))
            .collect();
        format!("{{ {} }}", fields.join(", "))
    }

    /// Prints `prefix BODY suffix` where BODY is a record body, inline when it fits and has no comment,
    /// else one field per line.
    fn body_lines(&mut self, span: Span, prefix: &str, body: &RecordBody, suffix: &str) {
        let inline = format!("{prefix}{}{suffix}", self.body_inline(body));
        if self.fits(&inline) && !self.has_comment_in(body.span) {
            self.line(span, &inline);
            return;
        }
        self.open(
            Span {
                end: body.span.start + 1,
                ..span
            },
            prefix.trim_end(),
        );
        if self.has_comment_in(body.span) {
            // Comments inside: one field per line, so each comment keeps its place.
            for f in &body.fields {
                let code = format!("{} = {},", f.name.name, self.value(&f.value));
                self.line(f.span, &code);
            }
        } else {
            // Fill lines up to the width, as a paragraph.
            let items: Vec<String> = body
                .fields
                .iter()
                .map(|f| format!("{} = {}", f.name.name, self.value(&f.value)))
                .collect();
            let room = WIDTH.saturating_sub(self.indent * 2);
            let mut lines: Vec<String> = Vec::new();
            for item in items {
                match lines.last_mut() {
                    Some(line) if line.len() + 2 + item.len() < room => {
                        line.push_str(", ");
                        line.push_str(&item);
                    }
                    Some(line) => {
                        line.push(',');
                        lines.push(item);
                    }
                    None => lines.push(item),
                }
            }
            for line in lines {
                self.pad();
                self.out.push_str(&line);
                self.out.push('\n');
            }
        }
        self.comments_before(body.span.end as usize);
        self.indent -= 1;
        self.pad();
        self.out.push_str(&format!("}}{suffix}\n"));
        self.last_end = span.end as usize;
        self.trailing_comment(span.end as usize);
    }

    fn record_source_line(
        &mut self,
        span: Span,
        prefix: &str,
        source: &RecordSource,
        suffix: &str,
    ) {
        match (&source.base, &source.with) {
            (RecordBase::Literal(body), None) => {
                self.body_lines(span, &format!("{prefix}device "), body, suffix)
            }
            (RecordBase::Fixture(name), None) => {
                self.line(span, &format!("{prefix}{}{suffix}", name.name))
            }
            (RecordBase::Fixture(name), Some(with)) => {
                self.body_lines(span, &format!("{prefix}{} with ", name.name), with, suffix)
            }
            (RecordBase::Literal(body), Some(with)) => {
                let with_text = format!(" with {}{suffix}", self.body_inline(with));
                self.body_lines(span, &format!("{prefix}device "), body, &with_text)
            }
        }
    }

    fn given(&mut self, g: &Given, span: Span) {
        match g {
            Given::Device { source, checks } => {
                let suffix = checks
                    .as_ref()
                    .map(|n| format!(" for {} checks", n.text))
                    .unwrap_or_default();
                self.record_source_line(span, "given ", source, &suffix);
            }
            Given::Now(body) => self.body_lines(span, "given now ", body, ""),
            Given::Release(body) => self.body_lines(span, "given release ", body, ""),
            Given::Rollout(body) => self.body_lines(span, "given rollout ", body, ""),
            Given::Ring { body, by } => {
                let mut head = "given ring".to_string();
                if let Some(b) = body {
                    head.push(' ');
                    head.push_str(&self.body_inline(b));
                }
                let Some(by) = by else {
                    match body {
                        Some(b) => self.body_lines(span, "given ring ", b, ""),
                        None => self.line(span, "given ring {}"),
                    }
                    return;
                };
                let entries: Vec<String> = by
                    .entries
                    .iter()
                    .map(|(v, b)| format!("{} {}", v.name, self.body_inline(b)))
                    .collect();
                let inline = format!("{head} by {} {{ {} }}", by.field.name, entries.join(", "));
                if self.fits(&inline) && !self.has_comment_in(span) {
                    self.line(span, &inline);
                    return;
                }
                self.open(
                    Span {
                        end: by.field.span.end,
                        ..span
                    },
                    &format!("{head} by {}", by.field.name),
                );
                for (v, b) in &by.entries {
                    let code = format!("{} {},", v.name, self.body_inline(b));
                    self.line(v.span.to(b.span), &code);
                }
                self.close(span.end as usize);
            }
        }
    }

    fn expect(&self, e: &Expect) -> String {
        let gate = |g: &GateRef| format!("{} -> {}", g.from.name, g.to.name);
        let names = |ids: &[Ident]| {
            ids.iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match e {
            Expect::Allow => "allow".into(),
            Expect::Deny(r) => match r {
                Some(r) => format!("deny {}", self.src(r.span)),
                None => "deny".into(),
            },
            Expect::Defer(d, r) => {
                let mut out = "defer".to_string();
                if let Some(d) = d {
                    out.push_str(&format!(" {}", d.text));
                }
                if let Some(r) = r {
                    out.push_str(&format!(" {}", self.src(r.span)));
                }
                out
            }
            Expect::Healthy => "healthy".into(),
            Expect::Inconclusive => "inconclusive".into(),
            Expect::Rollback(p) => format!("rollback {}", names(p)),
            Expect::Promote(g) => format!("promote {}", gate(g)),
            Expect::Hold(g) => format!("hold {}", gate(g)),
            Expect::Abort(g, r) => match r {
                Some(r) => format!("abort {} {}", gate(g), self.src(r.span)),
                None => format!("abort {}", gate(g)),
            },
            Expect::InstallOrder(p) => format!("install order {}", names(p)),
            Expect::NotInstallable => "not installable".into(),
        }
    }

    /// An expression on one line, structure as parsed (parentheses are in the tree).
    fn expr(&self, e: &Expr) -> String {
        expr_text(e)
    }
}

/// An expression in the canonical layout, on one line.
pub fn expr_text(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(e, &mut out);
    out
}

/// Appends an expression to `out`. It recurses once per operator (at most `limits::MAX_EXPR_DEPTH`
/// deep) and keeps a small frame: every piece is pushed onto one string.
fn write_expr(e: &Expr, out: &mut String) {
    match &e.kind {
        ExprKind::Lit(l) => out.push_str(&l.text),
        ExprKind::Name(id) => out.push_str(&id.name),
        ExprKind::Field(f) => {
            out.push_str(&f.record.name);
            out.push('.');
            out.push_str(&f.field.name);
        }
        ExprKind::Known(x) => {
            out.push_str("known(");
            write_expr(x, out);
            out.push(')');
        }
        ExprKind::Call(name, args) => {
            out.push_str(&name.name);
            out.push('(');
            write_joined(args, ", ", out);
            out.push(')');
        }
        ExprKind::Paren(x) => {
            out.push('(');
            write_expr(x, out);
            out.push(')');
        }
        ExprKind::Neg(x) => {
            out.push('-');
            write_expr(x, out);
        }
        ExprKind::Not(x) => {
            out.push_str("not ");
            write_expr(x, out);
        }
        ExprKind::Binary(op, a, b) => {
            write_expr(a, out);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            write_expr(b, out);
        }
        ExprKind::Coalesce(xs) => write_joined(xs, " ?? ", out),
        ExprKind::Compare(first, tails) => {
            write_expr(first, out);
            for t in tails {
                match t {
                    CmpTail::Cmp(op, rhs) => {
                        out.push(' ');
                        out.push_str(op.symbol());
                        out.push(' ');
                        write_expr(rhs, out);
                    }
                    CmpTail::In(items, _) => {
                        out.push_str(" in [");
                        write_joined(items, ", ", out);
                        out.push(']');
                    }
                    CmpTail::Between(lo, hi) => {
                        out.push_str(" between ");
                        write_expr(lo, out);
                        out.push_str(" and ");
                        write_expr(hi, out);
                    }
                }
            }
        }
        ExprKind::And(xs) => write_joined(xs, " and ", out),
        ExprKind::Or(xs) => write_joined(xs, " or ", out),
    }
}

fn write_joined(xs: &[Expr], separator: &str, out: &mut String) {
    for (i, x) in xs.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        write_expr(x, out);
    }
}
