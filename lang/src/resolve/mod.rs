//! Name resolution and type checking: syntax trees -> `typed::Package`.
//!
//! In: the parsed files of one package. Out: the typed package when there is no error, and every
//! diagnostic found either way. Passes never stop at the first error: a declaration that fails is left
//! out and checking goes on with the rest.
//!
//! Order: declarations that others refer to (enums, planes, the device block, names of lets, rings)
//! are collected first; lets are resolved on demand (which finds cycles); then rules, constraints, the
//! rollout, gates, fixtures and tests.

mod expr;
mod fixtures;
mod rollout;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::ast;
use crate::diagnostics::{self as diag, Diagnostic};
use crate::limits::{MAX_CLAUSES, MAX_PLANES};
use crate::source::Span;
use crate::typed::*;

/// Where an expression is: decides which records it may read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx {
    pub allowed: Records,
    pub what: &'static str,
}

impl Ctx {
    pub const RULE: Ctx = Ctx {
        allowed: Records(Records::DEVICE.0 | Records::NOW.0 | Records::RELEASE.0),
        what: "rails and health rules",
    };
    pub const DEVICE_ONLY_FILTER: Ctx = Ctx {
        allowed: Records::DEVICE,
        what: "a ring filter",
    };
    pub const INCOMPATIBLE: Ctx = Ctx {
        allowed: Records::DEVICE,
        what: "an `incompatible` condition",
    };
    pub const GATE: Ctx = Ctx {
        allowed: Records(Records::RING.0 | Records::ROLLOUT.0),
        what: "a gate",
    };
    pub const LET: Ctx = Ctx {
        allowed: Records(
            Records::DEVICE.0
                | Records::NOW.0
                | Records::RELEASE.0
                | Records::RING.0
                | Records::ROLLOUT.0,
        ),
        what: "a let",
    };
}

#[derive(Clone, Debug)]
enum LetState<'a> {
    Pending(&'a ast::LetDecl),
    InProgress(&'a ast::LetDecl),
    Done,
    Failed,
}

pub(crate) struct Resolver<'a> {
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) enums: Vec<Enum>,
    pub(crate) enum_by_name: BTreeMap<String, EnumId>,
    /// Variant name -> the enums that have it.
    pub(crate) variant_owners: BTreeMap<String, Vec<(EnumId, u16)>>,
    pub(crate) weekday: EnumId,
    pub(crate) planes: Vec<Plane>,
    pub(crate) fields: Vec<Field>,
    /// Field name -> index: a device block may have tens of thousands of fields, looked up by name at
    /// every use.
    pub(crate) field_index: BTreeMap<String, FieldId>,
    pub(crate) lets: Vec<Option<Let>>,
    let_states: Vec<LetState<'a>>,
    pub(crate) let_by_name: BTreeMap<String, LetId>,
    /// Lets being resolved, innermost last, to name the members of a cycle.
    let_stack: Vec<LetId>,
    pub(crate) clauses: Vec<Clause>,
    pub(crate) rails: Vec<Rule>,
    pub(crate) healths: Vec<Rule>,
    pub(crate) rollout: Option<Rollout>,
    pub(crate) gates: Vec<Gate>,
    /// What the source declares, resolved or not: a test that names a declaration which failed to
    /// resolve (its error already reported) fails quietly instead of calling it unknown.
    pub(crate) written: Written,
    /// (keyword, reason) of every resolved clause, filled before tests are checked: a package may have
    /// thousands of tests and clauses.
    pub(crate) reasons: std::collections::BTreeSet<(&'static str, String)>,
}

#[derive(Default)]
pub(crate) struct Written {
    /// (clause keyword, reason) of every clause of every rail, health rule and gate.
    pub reasons: std::collections::BTreeSet<(&'static str, String)>,
    /// (from, to) of every gate.
    pub gates: std::collections::BTreeSet<(String, String)>,
    pub fixtures: std::collections::BTreeSet<String>,
}

impl Written {
    fn of(items: &[&ast::Item]) -> Written {
        let mut w = Written::default();
        let mut clause = |c: &ast::Clause| {
            if let Some(r) = &c.reason {
                w.reasons.insert((c.head.keyword(), r.value.clone()));
            }
        };
        for item in items {
            match item {
                ast::Item::Rail(d) | ast::Item::Health(d) => d.clauses.iter().for_each(&mut clause),
                ast::Item::Gate(d) => {
                    for stmt in &d.stmts {
                        if let ast::GateStmt::Clause(c) = stmt {
                            clause(c);
                        }
                    }
                }
                _ => {}
            }
        }
        for item in items {
            match item {
                ast::Item::Gate(d) => {
                    w.gates.insert((d.from.name.clone(), d.to.name.clone()));
                }
                ast::Item::Fixture(d) => {
                    w.fixtures.insert(d.name.name.clone());
                }
                _ => {}
            }
        }
        w
    }
}

/// Resolves and type-checks a package. The package is returned only when there is no error.
pub fn resolve_package(files: &[&ast::File]) -> (Option<Package>, Vec<Diagnostic>) {
    let mut r = Resolver {
        diags: Vec::new(),
        enums: Vec::new(),
        enum_by_name: BTreeMap::new(),
        variant_owners: BTreeMap::new(),
        weekday: EnumId(0),
        planes: Vec::new(),
        fields: Vec::new(),
        field_index: BTreeMap::new(),
        lets: Vec::new(),
        let_states: Vec::new(),
        let_by_name: BTreeMap::new(),
        let_stack: Vec::new(),
        clauses: Vec::new(),
        rails: Vec::new(),
        healths: Vec::new(),
        rollout: None,
        gates: Vec::new(),
        written: Written::default(),
        reasons: std::collections::BTreeSet::new(),
    };
    let items: Vec<&ast::Item> = files.iter().flat_map(|f| f.items.iter()).collect();
    r.written = Written::of(&items);
    let package_span = items.first().map(|i| i.span()).unwrap_or_default();

    r.declare_enums(&items);
    r.declare_planes(&items);
    r.declare_device(&items, package_span);
    r.declare_lets(&items);
    for i in 0..r.let_states.len() {
        r.resolve_let(LetId(i as u32));
    }
    r.rules(&items);
    let (depends, incompatibles) = r.constraints(&items);
    r.rollout_and_gates(&items);
    let fixtures = r.fixtures(&items);
    let tests = r.tests(&items, &fixtures);

    let Resolver {
        diags,
        enums,
        planes,
        fields,
        lets,
        clauses,
        rails,
        healths,
        rollout,
        gates,
        weekday,
        ..
    } = r;
    let mut diags = diags;
    diag::sort(&mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        return (None, diags);
    }
    let lets = lets.into_iter().flatten().collect::<Vec<_>>();
    let package = Package {
        enums,
        planes,
        fields,
        lets,
        rails,
        healths,
        clauses,
        depends,
        incompatibles,
        rollout,
        gates,
        fixtures: fixtures.into_iter().flatten().collect(),
        tests,
        weekday,
    };
    (Some(package), diags)
}

impl<'a> Resolver<'a> {
    pub(crate) fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// An expression as the formatter writes it: how `require` conditions and plane predicates are
    /// named in decisions and reviews, the same whatever the layout and comments of the source.
    pub(crate) fn text(&self, e: &ast::Expr) -> String {
        crate::fmt::expr_text(e)
    }

    fn declare_enums(&mut self, items: &[&ast::Item]) {
        let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        self.weekday = self.add_enum(
            "Weekday",
            weekday.iter().map(|s| s.to_string()).collect(),
            None,
        );
        for item in items {
            let ast::Item::Enum(decl) = item else {
                continue;
            };
            if let Some(&prev) = self.enum_by_name.get(&decl.name.name) {
                let d = match self.enums[prev.index()].span {
                    Some(prev_span) => diag::duplicate_definition(
                        decl.name.span,
                        "enum",
                        &decl.name.name,
                        prev_span,
                    ),
                    None => diag::reserved_field(decl.name.span, &decl.name.name),
                };
                self.error(d);
                continue;
            }
            if decl.variants.is_empty() {
                self.error(diag::empty_enum(decl.span, &decl.name.name));
                continue;
            }
            let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
            let mut variants = Vec::new();
            for v in &decl.variants {
                if let Some(&prev) = seen.get(v.name.as_str()) {
                    self.error(diag::duplicate_definition(v.span, "variant", &v.name, prev));
                    continue;
                }
                seen.insert(&v.name, v.span);
                variants.push(v.name.clone());
            }
            if variants.len() > usize::from(u16::MAX) {
                self.error(diag::too_many_clauses(
                    decl.span,
                    "variants in one enum",
                    usize::from(u16::MAX),
                ));
                continue;
            }
            self.add_enum(&decl.name.name, variants, Some(decl.name.span));
        }
    }

    fn add_enum(&mut self, name: &str, variants: Vec<String>, span: Option<Span>) -> EnumId {
        let id = EnumId(self.enums.len() as u32);
        for (i, v) in variants.iter().enumerate() {
            self.variant_owners
                .entry(v.clone())
                .or_default()
                .push((id, i as u16));
        }
        self.enum_by_name.insert(name.to_string(), id);
        self.enums.push(Enum {
            name: name.to_string(),
            variants,
            span,
        });
        id
    }

    fn declare_planes(&mut self, items: &[&ast::Item]) {
        for item in items {
            let ast::Item::Plane(name, _) = item else {
                continue;
            };
            if let Some(prev) = self.planes.iter().find(|p| p.name == name.name) {
                let prev_span = prev.span.unwrap_or_default();
                self.error(diag::duplicate_definition(
                    name.span, "plane", &name.name, prev_span,
                ));
                continue;
            }
            if self.planes.len() == MAX_PLANES {
                self.error(diag::too_many_planes(name.span, MAX_PLANES));
                continue;
            }
            self.planes.push(Plane {
                name: name.name.clone(),
                span: Some(name.span),
            });
        }
        if self.planes.is_empty() && !items.iter().any(|i| matches!(i, ast::Item::Plane(..))) {
            for name in ["firmware", "model", "config"] {
                self.planes.push(Plane {
                    name: name.to_string(),
                    span: None,
                });
            }
        }
    }

    fn declare_device(&mut self, items: &[&ast::Item], package_span: Span) {
        let mut first: Option<Span> = None;
        for item in items {
            let ast::Item::Device(decl) = item else {
                continue;
            };
            if let Some(prev) = first {
                self.error(diag::duplicate_device_block(decl.span, prev));
                continue;
            }
            first = Some(decl.span);
            let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
            for f in &decl.fields {
                if let Some(&prev) = seen.get(f.name.name.as_str()) {
                    self.error(diag::duplicate_definition(
                        f.name.span,
                        "device field",
                        &f.name.name,
                        prev,
                    ));
                    continue;
                }
                seen.insert(&f.name.name, f.name.span);
                if self.planes.iter().any(|p| p.name == f.name.name) {
                    self.error(diag::field_shadows_plane(f.name.span, &f.name.name));
                    continue;
                }
                let Some((ty, percent)) = self.type_ref(&f.ty) else {
                    continue;
                };
                self.field_index
                    .insert(f.name.name.clone(), FieldId(self.fields.len() as u32));
                self.fields.push(Field {
                    name: f.name.name.clone(),
                    ty,
                    optional: f.optional,
                    span: f.span,
                    percent,
                });
            }
        }
        if first.is_none() {
            self.error(diag::missing_device_block(Span {
                end: package_span.start,
                ..package_span
            }));
        }
    }

    fn type_ref(&mut self, ty: &ast::Ident) -> Option<(Ty, bool)> {
        let t = match ty.name.as_str() {
            "bool" => Ty::Bool,
            "int" => Ty::Int,
            "float" => Ty::Float,
            "percent" => return Some((Ty::Float, true)),
            "duration" => Ty::Duration,
            "version" => Ty::Version,
            name => match self.enum_by_name.get(name) {
                Some(&id) => Ty::Enum(id),
                None => {
                    let mut candidates: Vec<&str> =
                        vec!["bool", "int", "float", "percent", "duration", "version"];
                    candidates.extend(self.enums.iter().map(|e| e.name.as_str()));
                    let d = diag::unknown_type(ty.span, name, &candidates);
                    self.error(d);
                    return None;
                }
            },
        };
        Some((t, false))
    }

    fn declare_lets(&mut self, items: &[&'a ast::Item]) {
        for item in items {
            let ast::Item::Let(decl) = item else { continue };
            if let Some(&prev) = self.let_by_name.get(&decl.name.name) {
                let prev_span = match self.let_states[prev.index()] {
                    LetState::Pending(d) | LetState::InProgress(d) => d.name.span,
                    _ => Span::default(),
                };
                self.error(diag::duplicate_definition(
                    decl.name.span,
                    "let",
                    &decl.name.name,
                    prev_span,
                ));
                continue;
            }
            let id = LetId(self.let_states.len() as u32);
            self.let_by_name.insert(decl.name.name.clone(), id);
            self.let_states.push(LetState::Pending(decl));
            self.lets.push(None);
        }
    }

    /// Resolves a let if not done yet; `false` if it cannot be used (an error, reported once).
    pub(crate) fn resolve_let(&mut self, id: LetId) -> bool {
        match self.let_states[id.index()].clone() {
            LetState::Done => true,
            LetState::Failed => false,
            LetState::InProgress(decl) => {
                let start = self.let_stack.iter().position(|&l| l == id).unwrap_or(0);
                let mut names: Vec<String> = self.let_stack[start..]
                    .iter()
                    .map(|l| self.let_name(*l))
                    .collect();
                names.push(decl.name.name.clone());
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                self.error(diag::let_cycle(decl.name.span, &refs));
                for &l in &self.let_stack[start..] {
                    self.let_states[l.index()] = LetState::Failed;
                }
                false
            }
            LetState::Pending(decl) => {
                self.let_states[id.index()] = LetState::InProgress(decl);
                self.let_stack.push(id);
                let mut records = Records::default();
                let expr = self.condition(&decl.expr, Ctx::LET, &mut records);
                self.let_stack.pop();
                if matches!(self.let_states[id.index()], LetState::Failed) {
                    return false;
                }
                match expr {
                    Some(expr) => {
                        self.lets[id.index()] = Some(Let {
                            name: decl.name.name.clone(),
                            expr,
                            records,
                            span: decl.span,
                        });
                        self.let_states[id.index()] = LetState::Done;
                        true
                    }
                    None => {
                        self.let_states[id.index()] = LetState::Failed;
                        false
                    }
                }
            }
        }
    }

    fn let_name(&self, id: LetId) -> String {
        match &self.let_states[id.index()] {
            LetState::Pending(d) | LetState::InProgress(d) => d.name.name.clone(),
            _ => self.lets[id.index()]
                .as_ref()
                .map(|l| l.name.clone())
                .unwrap_or_default(),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Rails and health rules

    fn rules(&mut self, items: &[&ast::Item]) {
        let mut rail_names: BTreeMap<String, Span> = BTreeMap::new();
        let mut health_names: BTreeMap<String, Span> = BTreeMap::new();
        for item in items {
            let (decl, is_rail) = match item {
                ast::Item::Rail(d) => (d, true),
                ast::Item::Health(d) => (d, false),
                _ => continue,
            };
            let (names, kind) = if is_rail {
                (&mut rail_names, "rail")
            } else {
                (&mut health_names, "health rule")
            };
            if let Some(&prev) = names.get(&decl.name.name) {
                self.error(diag::duplicate_definition(
                    decl.name.span,
                    kind,
                    &decl.name.name,
                    prev,
                ));
                continue;
            }
            names.insert(decl.name.name.clone(), decl.name.span);
            let mut records = Records::default();
            let scope = match &decl.scope {
                Some(s) => match self.condition(s, Ctx::RULE, &mut records) {
                    Some(e) => Some(e),
                    None => continue,
                },
                None => None,
            };
            let rule_ref = if is_rail {
                RuleRef::Rail(RailId(self.rails.len() as u32))
            } else {
                RuleRef::Health(HealthId(self.healths.len() as u32))
            };
            let mut ids = Vec::new();
            for clause in &decl.clauses {
                if let Some(c) = self.rule_clause(clause, rule_ref) {
                    ids.push(self.push_clause(c));
                }
            }
            let rule = Rule {
                name: decl.name.name.clone(),
                scope,
                clauses: ids,
                span: decl.span,
            };
            if is_rail {
                self.rails.push(rule)
            } else {
                self.healths.push(rule)
            }
        }
    }

    pub(crate) fn push_clause(&mut self, clause: Clause) -> ClauseId {
        let id = ClauseId(self.clauses.len() as u32);
        if self.clauses.len() == MAX_CLAUSES {
            self.error(diag::too_many_clauses(clause.span, "clauses", MAX_CLAUSES));
        }
        self.clauses.push(clause);
        id
    }

    fn rule_clause(&mut self, c: &ast::Clause, rule: RuleRef) -> Option<Clause> {
        let is_rail = matches!(rule, RuleRef::Rail(_));
        let (rule_kind, allowed): (&str, &[&str]) = if is_rail {
            ("rail", &["deny", "defer"])
        } else {
            ("health", &["rollback"])
        };
        let kind = match (&c.head, is_rail) {
            (ast::ClauseHead::Deny, true) => ClauseKind::Deny,
            (ast::ClauseHead::Defer(lit), true) => ClauseKind::Defer {
                secs: self.duration_literal(lit)?,
            },
            (ast::ClauseHead::Rollback(planes), false) => {
                let mut ids = Vec::new();
                for p in planes {
                    let id = self.plane_name(p)?;
                    if ids.contains(&id) {
                        self.error(diag::plane_repeated(p.span, &p.name));
                        return None;
                    }
                    ids.push(id);
                }
                ClauseKind::Rollback { planes: ids }
            }
            (head, _) => {
                self.error(diag::clause_not_allowed(
                    c.head_span,
                    head.keyword(),
                    rule_kind,
                    allowed,
                ));
                return None;
            }
        };
        let Some(reason) = &c.reason else {
            self.error(diag::missing_reason(c.head_span, kind.keyword()));
            return None;
        };
        let mut ok = true;
        if let Some(per) = &c.per {
            self.error(diag::per_outside_gate(per.span));
            ok = false;
        }
        let checks = match (&c.for_checks, is_rail) {
            (Some(lit), true) => {
                self.error(diag::for_outside_health(lit.span));
                ok = false;
                None
            }
            (Some(lit), false) => self.checks_literal(lit),
            (None, _) => None,
        };
        if c.for_checks.is_some() && checks.is_none() {
            ok = false;
        }
        let mut records = Records::default();
        let cond = match &c.cond {
            Some(e) => Some(self.condition(e, Ctx::RULE, &mut records)?),
            None => None,
        };
        ok.then(|| Clause {
            rule,
            kind,
            reason: reason.value.clone(),
            cond,
            checks,
            per: None,
            span: c.span,
        })
    }

    fn checks_literal(&mut self, lit: &ast::Literal) -> Option<u8> {
        match lit.text.replace('_', "").parse::<u64>() {
            Ok(n) if (1..=255).contains(&n) => Some(n as u8),
            _ => {
                self.error(diag::checks_out_of_range(lit.span, &lit.text));
                None
            }
        }
    }

    pub(crate) fn plane_name(&mut self, name: &ast::Ident) -> Option<PlaneId> {
        match self.planes.iter().position(|p| p.name == name.name) {
            Some(i) => Some(PlaneId(i as u32)),
            None => {
                let names: Vec<&str> = self.planes.iter().map(|p| p.name.as_str()).collect();
                let d = diag::unknown_plane(name.span, &name.name, &names);
                self.error(d);
                None
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Dependency constraints

    fn constraints(&mut self, items: &[&ast::Item]) -> (Vec<Depends>, Vec<Incompatible>) {
        let mut depends = Vec::new();
        let mut incompatibles = Vec::new();
        for item in items {
            match item {
                ast::Item::Depends(d) => {
                    let a = self.plane_predicate(&d.dependent);
                    let b = self.plane_predicate(&d.dependency);
                    if let (Some(a), Some(b)) = (a, b) {
                        if a.plane == b.plane {
                            let name = self.planes[a.plane.index()].name.clone();
                            self.error(diag::depends_on_itself(d.span, &name));
                            continue;
                        }
                        depends.push(Depends {
                            dependent: a,
                            dependency: b,
                            span: d.span,
                        });
                    }
                }
                ast::Item::Incompatible(d) => {
                    let versions = self.plane_predicate(&d.versions);
                    let mut records = Records::default();
                    let cond = self.condition(&d.cond, Ctx::INCOMPATIBLE, &mut records);
                    if let (Some(versions), Some(cond)) = (versions, cond) {
                        incompatibles.push(Incompatible {
                            versions,
                            cond,
                            reason: d.reason.value.clone(),
                            span: d.span,
                        });
                    }
                }
                _ => {}
            }
        }
        (depends, incompatibles)
    }
}
