//! The `rollout` block, its rings, and the gates between them.
//!
//! In: `rollout` and `gate` declarations. Out: `typed::Rollout` (settings and rings with cumulative
//! shares in parts per million) and `typed::Gate`s, checked: one rollout block, `check every` and
//! `verify for` set, shares increasing to a last unfiltered `100%`, one gate out of every ring but the
//! last and only into the next ring.

use std::collections::BTreeMap;

use super::{Ctx, Resolver};
use crate::ast::{self, LitKind};
use crate::diagnostics as diag;
use crate::source::Span;
use crate::typed::*;

impl Resolver<'_> {
    pub(crate) fn rollout_and_gates(&mut self, items: &[&ast::Item]) {
        let mut first: Option<&ast::RolloutDecl> = None;
        for item in items {
            let ast::Item::Rollout(decl) = item else {
                continue;
            };
            match first {
                Some(prev) => self.error(diag::duplicate_rollout(decl.span, prev.span)),
                None => first = Some(decl),
            }
        }
        if let Some(decl) = first {
            self.rollout = self.rollout_block(decl);
        }
        self.gates(items);
    }

    fn rollout_block(&mut self, decl: &ast::RolloutDecl) -> Option<Rollout> {
        let mut seen: BTreeMap<&'static str, Span> = BTreeMap::new();
        let mut check_every = None;
        let mut verify_for = None;
        let mut rate = None;
        let mut in_flight = None;
        let mut attempts = 1u16;
        let mut retries_set = false;
        let mut rings: Vec<Ring> = Vec::new();
        let mut ring_names: BTreeMap<String, Span> = BTreeMap::new();
        let mut ok = true;
        for stmt in &decl.stmts {
            let key = match &stmt.kind {
                ast::RolloutStmtKind::CheckEvery(_) => Some("check every"),
                ast::RolloutStmtKind::VerifyFor(_) => Some("verify for"),
                ast::RolloutStmtKind::Rate(..) => Some("rate"),
                ast::RolloutStmtKind::InFlight(_) => Some("in flight at most"),
                ast::RolloutStmtKind::Retries(_) => Some("retries"),
                ast::RolloutStmtKind::Ring { .. } => None,
            };
            if let Some(key) = key {
                if let Some(&prev) = seen.get(key) {
                    self.error(diag::duplicate_setting(stmt.span, key, prev));
                    ok = false;
                    continue;
                }
                seen.insert(key, stmt.span);
            }
            match &stmt.kind {
                ast::RolloutStmtKind::CheckEvery(lit) => {
                    check_every = self.positive_duration(lit, "check every")
                }
                ast::RolloutStmtKind::VerifyFor(lit) => {
                    verify_for = self.positive_duration(lit, "verify for")
                }
                ast::RolloutStmtKind::Rate(count, per) => {
                    let count = self.count_literal(count, "rate", 1, u64::from(u32::MAX));
                    let per = self.positive_duration(per, "rate … per");
                    match (count, per) {
                        (Some(c), Some(p)) => rate = Some((c as u32, p)),
                        _ => ok = false,
                    }
                }
                ast::RolloutStmtKind::InFlight(lit) => {
                    match self.count_literal(lit, "in flight at most", 1, u64::from(u32::MAX)) {
                        Some(n) => in_flight = Some(n as u32),
                        None => ok = false,
                    }
                }
                ast::RolloutStmtKind::Retries(lit) => {
                    match self.count_literal(lit, "retries", 1, 1000) {
                        Some(n) => {
                            attempts = n as u16;
                            retries_set = true;
                        }
                        None => ok = false,
                    }
                }
                ast::RolloutStmtKind::Ring {
                    name,
                    share,
                    filter,
                } => {
                    if let Some(&prev) = ring_names.get(&name.name) {
                        self.error(diag::duplicate_definition(
                            name.span, "ring", &name.name, prev,
                        ));
                        ok = false;
                        continue;
                    }
                    ring_names.insert(name.name.clone(), name.span);
                    let share_ppm = self.share(share);
                    let mut recs = Records::default();
                    let filter = match filter {
                        Some(f) => match self.condition(f, Ctx::DEVICE_ONLY_FILTER, &mut recs) {
                            Some(f) => Some(f),
                            None => {
                                ok = false;
                                continue;
                            }
                        },
                        None => None,
                    };
                    let Some(share_ppm) = share_ppm else {
                        ok = false;
                        continue;
                    };
                    if let Some(prev) = rings.last()
                        && share_ppm <= prev.share_ppm
                    {
                        self.error(diag::share_not_increasing(
                            share.span,
                            &share.text,
                            &prev.share_text,
                            prev.span,
                        ));
                        ok = false;
                    }
                    rings.push(Ring {
                        name: name.name.clone(),
                        share_ppm,
                        share_text: share.text.clone(),
                        filter,
                        span: stmt.span,
                    });
                }
            }
        }
        if check_every.is_none() && !seen.contains_key("check every") {
            self.error(diag::missing_setting(
                decl.span,
                "check every",
                "check every 1m",
            ));
        }
        if verify_for.is_none() && !seen.contains_key("verify for") {
            self.error(diag::missing_setting(
                decl.span,
                "verify for",
                "verify for 10m",
            ));
        }
        match rings.last() {
            None => {
                self.error(diag::no_rings(decl.span));
                ok = false;
            }
            Some(last) => {
                if last.share_ppm != 1_000_000 {
                    self.error(diag::last_ring_not_full(last.span, &last.share_text));
                    ok = false;
                }
                if let Some(f) = &last.filter {
                    self.error(diag::last_ring_filtered(f.span));
                    ok = false;
                }
            }
        }
        let (check_every, verify_for) = (check_every?, verify_for?);
        ok.then_some(Rollout {
            check_every,
            verify_for,
            rate,
            in_flight,
            attempts,
            retries_set,
            rings,
            span: decl.span,
        })
    }

    fn positive_duration(&mut self, lit: &ast::Literal, what: &str) -> Option<i64> {
        let secs = self.duration_literal(lit)?;
        if secs <= 0 {
            self.error(diag::setting_out_of_range(
                lit.span,
                what,
                "must be longer than 0s",
            ));
            return None;
        }
        Some(secs)
    }

    fn count_literal(&mut self, lit: &ast::Literal, what: &str, min: u64, max: u64) -> Option<u64> {
        if lit.kind != LitKind::Int {
            self.error(diag::type_mismatch(lit.span, "int", "float"));
            return None;
        }
        match lit.text.replace('_', "").parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(diag::setting_out_of_range(
                    lit.span,
                    what,
                    &format!("must be between {min} and {max}"),
                ));
                None
            }
        }
    }

    /// A ring's cumulative share in parts per million.
    fn share(&mut self, lit: &ast::Literal) -> Option<u32> {
        if lit.kind != LitKind::Percent {
            self.error(diag::share_not_percent(lit.span, &lit.text));
            return None;
        }
        let value: f64 = lit
            .text
            .trim_end_matches('%')
            .replace('_', "")
            .parse()
            .ok()?;
        let ppm = (value * 10_000.0).round();
        if !(1.0..=1_000_000.0).contains(&ppm) {
            self.error(diag::share_out_of_range(lit.span, &lit.text));
            return None;
        }
        Some(ppm as u32)
    }

    fn gates(&mut self, items: &[&ast::Item]) {
        let ring_names: Vec<String> = self
            .rollout
            .as_ref()
            .map(|r| r.rings.iter().map(|x| x.name.clone()).collect())
            .unwrap_or_default();
        let has_rollout = items.iter().any(|i| matches!(i, ast::Item::Rollout(_)));
        let mut outgoing: BTreeMap<usize, Span> = BTreeMap::new();
        for item in items {
            let ast::Item::Gate(decl) = item else {
                continue;
            };
            if !has_rollout {
                self.error(diag::gate_without_rollout(decl.span));
                continue;
            }
            if self.rollout.is_none() {
                // The rollout block has errors of its own; do not pile more on.
                continue;
            }
            let refs: Vec<&str> = ring_names.iter().map(String::as_str).collect();
            let from = ring_names.iter().position(|n| *n == decl.from.name);
            let to = ring_names.iter().position(|n| *n == decl.to.name);
            if from.is_none() {
                self.error(diag::unknown_ring(decl.from.span, &decl.from.name, &refs));
            }
            if to.is_none() {
                self.error(diag::unknown_ring(decl.to.span, &decl.to.name, &refs));
            }
            let (Some(from), Some(to)) = (from, to) else {
                continue;
            };
            if to != from + 1 {
                let expected = ring_names.get(from + 1).map(String::as_str);
                self.error(diag::gate_not_consecutive(
                    decl.from.span.to(decl.to.span),
                    &decl.from.name,
                    &decl.to.name,
                    expected,
                ));
                continue;
            }
            if let Some(&prev) = outgoing.get(&from) {
                self.error(diag::duplicate_gate(decl.span, &decl.from.name, prev));
                continue;
            }
            outgoing.insert(from, decl.span);
            let gate_id = GateId(self.gates.len() as u32);
            let mut soak: Option<(i64, Span)> = None;
            let mut clauses = Vec::new();
            for stmt in &decl.stmts {
                match stmt {
                    ast::GateStmt::Soak(lit, span) => {
                        if let Some((_, prev)) = soak {
                            self.error(diag::duplicate_soak(*span, prev));
                            continue;
                        }
                        if let Some(secs) = self.duration_literal(lit) {
                            soak = Some((secs, *span));
                        }
                    }
                    ast::GateStmt::Clause(c) => {
                        if let Some(c) = self.gate_clause(c, gate_id) {
                            clauses.push(self.push_clause(c));
                        }
                    }
                }
            }
            self.gates.push(Gate {
                from: RingId(from as u32),
                to: RingId(to as u32),
                soak: soak.map_or(0, |(s, _)| s),
                clauses,
                span: decl.span,
            });
        }
        if let Some(rollout) = &self.rollout {
            let missing: Vec<(Span, String, String)> = (0..rollout.rings.len().saturating_sub(1))
                .filter(|i| !outgoing.contains_key(i))
                .map(|i| {
                    (
                        rollout.rings[i].span,
                        rollout.rings[i].name.clone(),
                        rollout.rings[i + 1].name.clone(),
                    )
                })
                .collect();
            for (span, from, to) in missing {
                self.error(diag::missing_gate(span, &from, &to));
            }
        }
    }

    fn gate_clause(&mut self, c: &ast::Clause, gate: GateId) -> Option<Clause> {
        let mut ok = true;
        if let Some(lit) = &c.for_checks {
            self.error(diag::for_outside_health(lit.span));
            ok = false;
        }
        let per = match &c.per {
            Some(p) => {
                let per = self.per_field(p);
                ok &= per.is_some();
                per
            }
            None => None,
        };
        let mut recs = Records::default();
        let (kind, reason, cond) = match &c.head {
            ast::ClauseHead::Require(cond) => {
                if let Some(r) = &c.reason {
                    self.error(diag::unexpected_reason(r.span));
                    ok = false;
                }
                if let Some(extra) = &c.cond {
                    self.error(diag::unexpected_condition(extra.span));
                    ok = false;
                }
                let text = self.text(cond);
                (
                    ClauseKind::Require,
                    text,
                    Some(self.condition(cond, Ctx::GATE, &mut recs)?),
                )
            }
            ast::ClauseHead::Abort => {
                let Some(reason) = &c.reason else {
                    self.error(diag::missing_reason(c.head_span, "abort"));
                    return None;
                };
                let cond = match &c.cond {
                    Some(e) => Some(self.condition(e, Ctx::GATE, &mut recs)?),
                    None => None,
                };
                (ClauseKind::Abort, reason.value.clone(), cond)
            }
            head => {
                self.error(diag::clause_not_allowed(
                    c.head_span,
                    head.keyword(),
                    "gate",
                    &["require", "abort"],
                ));
                return None;
            }
        };
        ok.then_some(Clause {
            rule: RuleRef::Gate(gate),
            kind,
            reason,
            cond,
            checks: None,
            per,
            span: c.span,
        })
    }

    /// `per device.F`: F must be a non-optional enum field of the device.
    pub(crate) fn per_field(&mut self, p: &ast::FieldRef) -> Option<FieldId> {
        if p.record.name != "device" {
            self.error(diag::per_record(p.span));
            return None;
        }
        let Some(&id) = self.field_index.get(&p.field.name) else {
            if self.planes.iter().any(|pl| pl.name == p.field.name) {
                self.error(diag::per_not_static_enum(
                    p.field.span,
                    &p.field.name,
                    "is a version plane",
                ));
            } else {
                let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
                let d = diag::unknown_field(p.field.span, "device", &p.field.name, &names);
                self.error(d);
            }
            return None;
        };
        let field = &self.fields[id.index()];
        let why = if !matches!(field.ty, Ty::Enum(_)) {
            Some(format!("is `{}`", self.ty_name(field.ty)))
        } else if field.optional {
            Some("is optional".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            self.error(diag::per_not_static_enum(p.field.span, &p.field.name, &why));
            return None;
        }
        Some(id)
    }
}
