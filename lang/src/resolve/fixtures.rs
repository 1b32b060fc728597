//! Fixtures and tests: record literals and expectations.
//!
//! In: `fixture` and `test` declarations. Out: `typed::Fixture`s (complete device records) and
//! `typed::Test`s whose givens are concrete records and whose expectations name resolved planes, gates
//! and reasons. A device record must give every field that is not optional; `missing` is accepted only
//! for optional fields; `now`, `release`, `ring` and `rollout` take only their own fields.

use std::collections::BTreeMap;

use super::Resolver;
use crate::ast;
use crate::diagnostics as diag;
use crate::source::Span;
use crate::typed::*;

/// What a record literal's field names refer to.
#[derive(Clone, Copy)]
enum DeviceKey {
    Field(FieldId),
    Plane(PlaneId),
}

impl Resolver<'_> {
    pub(crate) fn fixtures(&mut self, items: &[&ast::Item]) -> Vec<Option<Fixture>> {
        let decls: Vec<&ast::FixtureDecl> = items
            .iter()
            .filter_map(|i| {
                if let ast::Item::Fixture(f) = i {
                    Some(f)
                } else {
                    None
                }
            })
            .collect();
        let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, d) in decls.iter().enumerate() {
            if let Some(&prev) = by_name.get(d.name.name.as_str()) {
                self.error(diag::duplicate_definition(
                    d.name.span,
                    "fixture",
                    &d.name.name,
                    decls[prev].name.span,
                ));
                continue;
            }
            by_name.insert(&d.name.name, i);
        }
        // Each fixture resolved once, on demand; `None` in `state` while in progress finds cycles.
        let mut done: Vec<Option<Option<Fixture>>> = vec![None; decls.len()];
        let mut in_progress = vec![false; decls.len()];
        for i in 0..decls.len() {
            self.fixture(i, &decls, &by_name, &mut done, &mut in_progress);
        }
        let mut out: Vec<Option<Fixture>> = done.into_iter().map(Option::flatten).collect();
        // Duplicates are left out so fixture ids match `by_name`.
        for (i, d) in decls.iter().enumerate() {
            if by_name.get(d.name.name.as_str()) != Some(&i) {
                out[i] = None;
            }
        }
        out
    }

    fn fixture(
        &mut self,
        i: usize,
        decls: &[&ast::FixtureDecl],
        by_name: &BTreeMap<&str, usize>,
        done: &mut Vec<Option<Option<Fixture>>>,
        in_progress: &mut Vec<bool>,
    ) -> Option<DeviceValues> {
        if let Some(result) = &done[i] {
            return result.as_ref().map(|f| f.values.clone());
        }
        let decl = decls[i];
        if in_progress[i] {
            self.error(diag::fixture_cycle(decl.name.span, &decl.name.name));
            done[i] = Some(None);
            return None;
        }
        in_progress[i] = true;
        let values = match &decl.source.base {
            ast::RecordBase::Literal(body) => self.device_literal(body, None),
            ast::RecordBase::Fixture(name) => match by_name.get(name.name.as_str()) {
                Some(&j) => self.fixture(j, decls, by_name, done, in_progress),
                None => {
                    let names: Vec<&str> = by_name.keys().copied().collect();
                    self.error(diag::unknown_fixture(name.span, &name.name, &names));
                    None
                }
            },
        };
        let values = match (values, &decl.source.with) {
            (Some(v), Some(with)) => self.device_literal(with, Some(v)),
            (v, _) => v,
        };
        in_progress[i] = false;
        if done[i].is_none() {
            done[i] = Some(values.clone().map(|values| Fixture {
                name: decl.name.name.clone(),
                values,
                span: decl.span,
            }));
        }
        values
    }

    /// A device record from a literal body, on top of `base` (a fixture) when given. Without a base the
    /// record must give every non-optional field and every plane.
    fn device_literal(
        &mut self,
        body: &ast::RecordBody,
        base: Option<DeviceValues>,
    ) -> Option<DeviceValues> {
        let complete = base.is_some();
        let mut values = base.unwrap_or_else(|| DeviceValues {
            fields: vec![None; self.fields.len()],
            planes: vec![
                Version {
                    major: 0,
                    minor: 0,
                    patch: 0
                };
                self.planes.len()
            ],
        });
        let mut given_fields = vec![false; self.fields.len()];
        let mut given_planes = vec![false; self.planes.len()];
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut ok = true;
        for init in &body.fields {
            if let Some(&prev) = seen.get(init.name.name.as_str()) {
                self.error(diag::duplicate_field(init.name.span, &init.name.name, prev));
                ok = false;
                continue;
            }
            seen.insert(&init.name.name, init.name.span);
            let key = match self.field_index.get(&init.name.name) {
                Some(&id) => DeviceKey::Field(id),
                None => match self.planes.iter().position(|p| p.name == init.name.name) {
                    Some(p) => DeviceKey::Plane(PlaneId(p as u32)),
                    None => {
                        let names: Vec<String> = self
                            .fields
                            .iter()
                            .map(|f| f.name.clone())
                            .chain(self.planes.iter().map(|p| p.name.clone()))
                            .collect();
                        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                        self.error(diag::unknown_field(
                            init.name.span,
                            "device",
                            &init.name.name,
                            &refs,
                        ));
                        ok = false;
                        continue;
                    }
                },
            };
            match key {
                DeviceKey::Field(id) => {
                    let field = &self.fields[id.index()];
                    let (ty, optional, name, percent) =
                        (field.ty, field.optional, field.name.clone(), field.percent);
                    given_fields[id.index()] = true;
                    if let ast::ValueLit::Missing(span) = init.value {
                        if optional {
                            values.fields[id.index()] = None;
                        } else {
                            self.error(diag::not_optional(span, &name));
                            ok = false;
                        }
                        continue;
                    }
                    match self.record_value(&init.value, ty) {
                        // `battery = 80` would be 8000%: a percent field holds 0% to 100%.
                        Some(Value::Float(f)) if percent && !(0.0..=1.0).contains(&f) => {
                            let mut d = diag::value_out_of_range(
                                init.value.span(),
                                &name,
                                "is a percentage and must be between 0% and 100%",
                            );
                            d.help = Some(format!(
                                "write a percentage like `{name} = 80%`, or a fraction like `0.8`"
                            ));
                            self.error(d);
                            ok = false;
                        }
                        Some(v) => values.fields[id.index()] = Some(v),
                        None => ok = false,
                    }
                }
                DeviceKey::Plane(p) => {
                    given_planes[p.index()] = true;
                    match self.record_value(&init.value, Ty::Version) {
                        Some(Value::Version(v)) => values.planes[p.index()] = v,
                        _ => ok = false,
                    }
                }
            }
        }
        if !complete {
            let mut missing: Vec<&str> = Vec::new();
            for (i, f) in self.fields.iter().enumerate() {
                if !f.optional && !given_fields[i] {
                    missing.push(&f.name);
                }
            }
            for (i, p) in self.planes.iter().enumerate() {
                if !given_planes[i] {
                    missing.push(&p.name);
                }
            }
            if !missing.is_empty() {
                let d = diag::missing_fields(body.span, &missing);
                self.error(d);
                ok = false;
            }
        }
        ok.then_some(values)
    }

    /// A value of a record literal, of type `ty`.
    fn record_value(&mut self, v: &ast::ValueLit, ty: Ty) -> Option<Value> {
        match v {
            ast::ValueLit::Missing(span) => {
                self.error(diag::not_optional(*span, "this field"));
                None
            }
            ast::ValueLit::Literal { negated, lit, span } => {
                let value = self.literal_value(lit, *negated, *span)?;
                self.coerce_value(value, ty, *span)
            }
            ast::ValueLit::Name(id) => match ty {
                Ty::Enum(en) => self.variant_of(en, id),
                _ => {
                    let variant = self.variant_owners.contains_key(&id.name);
                    let d = diag::name_for_value(id.span, &self.ty_name(ty), &id.name, variant);
                    self.error(d);
                    None
                }
            },
        }
    }

    pub(crate) fn tests(
        &mut self,
        items: &[&ast::Item],
        fixtures: &[Option<Fixture>],
    ) -> Vec<Test> {
        self.reasons = self
            .clauses
            .iter()
            .map(|c| (c.kind.keyword(), c.reason.clone()))
            .collect();
        let by_name: BTreeMap<&str, &Fixture> = fixtures
            .iter()
            .flatten()
            .map(|f| (f.name.as_str(), f))
            .collect();
        let mut names: BTreeMap<String, Span> = BTreeMap::new();
        let mut out = Vec::new();
        for item in items {
            let ast::Item::Test(decl) = item else {
                continue;
            };
            if let Some(&prev) = names.get(&decl.name.value) {
                self.error(diag::duplicate_definition(
                    decl.name.span,
                    "test",
                    &decl.name.value,
                    prev,
                ));
                continue;
            }
            names.insert(decl.name.value.clone(), decl.name.span);
            if let Some(t) = self.test(decl, &by_name) {
                out.push(t);
            }
        }
        out
    }

    fn test(&mut self, decl: &ast::TestDecl, fixtures: &BTreeMap<&str, &Fixture>) -> Option<Test> {
        let mut ok = true;
        let mut test = Test {
            name: decl.name.value.clone(),
            device: None,
            checks: 1,
            now: NowValues::default(),
            release: vec![None; self.planes.len()],
            ring: None,
            rollout: None,
            expects: Vec::new(),
            span: decl.span,
        };
        let mut given_at: BTreeMap<&'static str, Span> = BTreeMap::new();
        let mut given_spans: Vec<(&'static str, Span)> = Vec::new();
        for stmt in &decl.stmts {
            let ast::TestStmt::Given(given, span) = stmt else {
                continue;
            };
            let what = match given {
                ast::Given::Device { .. } => "device",
                ast::Given::Now(_) => "now",
                ast::Given::Release(_) => "release",
                ast::Given::Ring { .. } => "ring",
                ast::Given::Rollout(_) => "rollout",
            };
            if let Some(&prev) = given_at.get(what) {
                self.error(diag::duplicate_given(*span, what, prev));
                ok = false;
                continue;
            }
            given_at.insert(what, *span);
            given_spans.push((what, *span));
            match given {
                ast::Given::Device { source, checks } => {
                    let values = match &source.base {
                        ast::RecordBase::Literal(body) => self.device_literal(body, None),
                        ast::RecordBase::Fixture(name) => {
                            match fixtures.get(name.name.as_str()) {
                                Some(f) => Some(f.values.clone()),
                                // Declared, but with an error of its own.
                                None if self.written.fixtures.contains(&name.name) => None,
                                None => {
                                    let names: Vec<&str> = fixtures.keys().copied().collect();
                                    self.error(diag::unknown_fixture(
                                        name.span, &name.name, &names,
                                    ));
                                    None
                                }
                            }
                        }
                    };
                    let values = match (values, &source.with) {
                        (Some(v), Some(with)) => self.device_literal(with, Some(v)),
                        (v, _) => v,
                    };
                    ok &= values.is_some();
                    test.device = values;
                    if let Some(lit) = checks {
                        match lit.text.replace('_', "").parse::<u32>() {
                            Ok(n) if (1..=10_000).contains(&n) => test.checks = n,
                            _ => {
                                self.error(diag::value_out_of_range(
                                    lit.span,
                                    "for N checks",
                                    "must be between 1 and 10000",
                                ));
                                ok = false;
                            }
                        }
                    }
                }
                ast::Given::Now(body) => match self.now_literal(body) {
                    Some(now) => test.now = now,
                    None => ok = false,
                },
                ast::Given::Release(body) => match self.release_literal(body) {
                    Some(r) => test.release = r,
                    None => ok = false,
                },
                ast::Given::Ring { body, by } => {
                    match self.ring_given(body.as_ref(), by.as_ref()) {
                        Some(r) => test.ring = Some(r),
                        None => ok = false,
                    }
                }
                ast::Given::Rollout(body) => match self.ring_counts(body) {
                    Some(r) => test.rollout = Some(r),
                    None => ok = false,
                },
            }
        }
        let mut used: Vec<&'static str> = Vec::new();
        for stmt in &decl.stmts {
            let ast::TestStmt::Expect(expect, span) = stmt else {
                continue;
            };
            let needs: &[&'static str] = match expect {
                ast::Expect::Allow | ast::Expect::Deny(_) | ast::Expect::Defer(..) => {
                    &["device", "now", "release"]
                }
                ast::Expect::Healthy | ast::Expect::Inconclusive | ast::Expect::Rollback(_) => {
                    &["device", "now", "release"]
                }
                ast::Expect::Promote(_) | ast::Expect::Hold(_) | ast::Expect::Abort(..) => {
                    &["ring", "rollout"]
                }
                ast::Expect::InstallOrder(_) | ast::Expect::NotInstallable => {
                    &["device", "release"]
                }
            };
            used.extend_from_slice(needs);
            let required = needs[0];
            let keyword = expect_keyword(expect);
            if !given_at.contains_key(required) {
                self.error(diag::missing_given(*span, required, keyword));
                ok = false;
                continue;
            }
            if matches!(
                expect,
                ast::Expect::InstallOrder(_) | ast::Expect::NotInstallable
            ) && !given_at.contains_key("release")
            {
                self.error(diag::missing_given(*span, "release", keyword));
                ok = false;
                continue;
            }
            match self.expectation(expect) {
                Some(expectation) => test.expects.push(Expect {
                    expectation,
                    span: *span,
                }),
                None => ok = false,
            }
        }
        if test.expects.is_empty() && ok {
            self.error(diag::test_without_expect(decl.name.span));
            ok = false;
        }
        for (what, span) in given_spans {
            if ok && !used.contains(&what) {
                self.error(diag::unused_given(span, what));
            }
        }
        ok.then_some(test)
    }

    fn now_literal(&mut self, body: &ast::RecordBody) -> Option<NowValues> {
        let mut now = NowValues::default();
        let mut ok = true;
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for init in &body.fields {
            if let Some(&prev) = seen.get(init.name.name.as_str()) {
                self.error(diag::duplicate_field(init.name.span, &init.name.name, prev));
                ok = false;
                continue;
            }
            seen.insert(&init.name.name, init.name.span);
            match init.name.name.as_str() {
                "hour" => match self.record_value(&init.value, Ty::Int) {
                    Some(Value::Int(h)) if (0..=23).contains(&h) => now.hour = h,
                    Some(_) => {
                        self.error(diag::value_out_of_range(
                            init.value.span(),
                            "now.hour",
                            "must be between 0 and 23",
                        ));
                        ok = false;
                    }
                    None => ok = false,
                },
                "weekday" => match self.record_value(&init.value, Ty::Enum(self.weekday)) {
                    Some(Value::Enum(_, d)) => now.weekday = d,
                    _ => ok = false,
                },
                other => {
                    self.error(diag::unknown_field(
                        init.name.span,
                        "now",
                        other,
                        &["hour", "weekday"],
                    ));
                    ok = false;
                }
            }
        }
        ok.then_some(now)
    }

    fn release_literal(&mut self, body: &ast::RecordBody) -> Option<Vec<Option<Version>>> {
        let mut release = vec![None; self.planes.len()];
        let mut ok = true;
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for init in &body.fields {
            if let Some(&prev) = seen.get(init.name.name.as_str()) {
                self.error(diag::duplicate_field(init.name.span, &init.name.name, prev));
                ok = false;
                continue;
            }
            seen.insert(&init.name.name, init.name.span);
            let Some(p) = self.planes.iter().position(|p| p.name == init.name.name) else {
                let names: Vec<String> = self.planes.iter().map(|p| p.name.clone()).collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                self.error(diag::unknown_field(
                    init.name.span,
                    "release",
                    &init.name.name,
                    &refs,
                ));
                ok = false;
                continue;
            };
            if matches!(init.value, ast::ValueLit::Missing(_)) {
                continue;
            }
            match self.record_value(&init.value, Ty::Version) {
                Some(Value::Version(v)) => release[p] = Some(v),
                _ => ok = false,
            }
        }
        ok.then_some(release)
    }

    fn ring_counts(&mut self, body: &ast::RecordBody) -> Option<RingCounts> {
        let mut counts = RingCounts::default();
        let mut ok = true;
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for init in &body.fields {
            if let Some(&prev) = seen.get(init.name.name.as_str()) {
                self.error(diag::duplicate_field(init.name.span, &init.name.name, prev));
                ok = false;
                continue;
            }
            seen.insert(&init.name.name, init.name.span);
            let Some(field) = RingField::from_name(&init.name.name) else {
                let names: Vec<&str> = RingField::ALL
                    .iter()
                    .filter(|f| !f.is_derived())
                    .map(|f| f.name())
                    .collect();
                self.error(diag::unknown_field(
                    init.name.span,
                    "ring",
                    &init.name.name,
                    &names,
                ));
                ok = false;
                continue;
            };
            if field.is_derived() {
                self.error(diag::derived_ring_field(init.name.span, field.name()));
                ok = false;
                continue;
            }
            if field == RingField::Soak {
                match self.record_value(&init.value, Ty::Duration) {
                    Some(Value::Duration(s)) if s >= 0 => counts.soak_secs = s,
                    Some(_) => {
                        self.error(diag::value_out_of_range(
                            init.value.span(),
                            "soak",
                            "cannot be negative",
                        ));
                        ok = false;
                    }
                    None => ok = false,
                }
                continue;
            }
            match self.record_value(&init.value, Ty::Int) {
                Some(Value::Int(n)) if n >= 0 => {
                    if let Some(slot) = counts.get_mut(field) {
                        *slot = n as u64;
                    }
                }
                Some(_) => {
                    self.error(diag::value_out_of_range(
                        init.value.span(),
                        field.name(),
                        "cannot be negative",
                    ));
                    ok = false;
                }
                None => ok = false,
            }
        }
        ok.then_some(counts)
    }

    fn ring_given(
        &mut self,
        body: Option<&ast::RecordBody>,
        by: Option<&ast::RingBy>,
    ) -> Option<RingGiven> {
        let mut total = match body {
            Some(b) => self.ring_counts(b)?,
            None => RingCounts::default(),
        };
        let Some(by) = by else {
            return Some(RingGiven { total, by: None });
        };
        let fake = ast::FieldRef {
            record: ast::Ident {
                name: "device".into(),
                span: by.field.span,
            },
            field: by.field.clone(),
            span: by.field.span,
        };
        let field = self.per_field(&fake)?;
        let Ty::Enum(en) = self.fields[field.index()].ty else {
            return None;
        };
        let mut entries = Vec::new();
        let mut ok = true;
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for (value, counts) in &by.entries {
            if let Some(&prev) = seen.get(value.name.as_str()) {
                self.error(diag::duplicate_field(value.span, &value.name, prev));
                ok = false;
                continue;
            }
            seen.insert(&value.name, value.span);
            let v = self.variant_of(en, value);
            let c = self.ring_counts(counts);
            match (v, c) {
                (Some(Value::Enum(_, v)), Some(c)) => entries.push((v, c)),
                _ => ok = false,
            }
        }
        if !ok {
            return None;
        }
        // The whole ring is the sum of its parts, plus whatever the top-level block gives.
        let mut sum = RingCounts {
            soak_secs: total.soak_secs,
            ..RingCounts::default()
        };
        for (_, c) in &entries {
            sum.add(c);
        }
        sum.add(&total);
        total = sum;
        Some(RingGiven {
            total,
            by: Some((field, entries)),
        })
    }

    fn expectation(&mut self, e: &ast::Expect) -> Option<Expectation> {
        Some(match e {
            ast::Expect::Allow => Expectation::Allow,
            ast::Expect::Deny(reason) => {
                // An erroneous clause denies with the reason `evaluation error in rail NAME`.
                let is_error_reason = |r: &ast::StrLit| {
                    r.value
                        .strip_prefix("evaluation error in rail ")
                        .is_some_and(|n| self.rails.iter().any(|x| x.name == n))
                };
                if let Some(r) = reason.as_ref().filter(|r| !is_error_reason(r)) {
                    self.known_reason(r, |k| matches!(k, ClauseKind::Deny), "deny")?;
                }
                Expectation::Deny(reason.as_ref().map(|r| r.value.clone()))
            }
            ast::Expect::Defer(duration, reason) => {
                let secs = match duration {
                    Some(lit) => Some(self.duration_literal(lit)?),
                    None => None,
                };
                if let Some(r) = reason {
                    self.known_reason(r, |k| matches!(k, ClauseKind::Defer { .. }), "defer")?;
                }
                Expectation::Defer(secs, reason.as_ref().map(|r| r.value.clone()))
            }
            ast::Expect::Healthy => Expectation::Healthy,
            ast::Expect::Inconclusive => Expectation::Inconclusive,
            ast::Expect::Rollback(planes) => Expectation::Rollback(self.plane_list(planes)?),
            ast::Expect::Promote(g) => Expectation::Promote(self.gate_ref(g)?),
            ast::Expect::Hold(g) => Expectation::Hold(self.gate_ref(g)?),
            ast::Expect::Abort(g, reason) => {
                let gate = self.gate_ref(g)?;
                if let Some(r) = reason {
                    self.known_reason(r, |k| matches!(k, ClauseKind::Abort), "abort")?;
                }
                Expectation::Abort(gate, reason.as_ref().map(|r| r.value.clone()))
            }
            ast::Expect::InstallOrder(planes) => {
                Expectation::InstallOrder(self.plane_list(planes)?)
            }
            ast::Expect::NotInstallable => Expectation::NotInstallable,
        })
    }

    fn plane_list(&mut self, planes: &[ast::Ident]) -> Option<Vec<PlaneId>> {
        let mut out = Vec::new();
        for p in planes {
            let id = self.plane_name(p)?;
            if out.contains(&id) {
                self.error(diag::plane_repeated(p.span, &p.name));
                return None;
            }
            out.push(id);
        }
        Some(out)
    }

    fn gate_ref(&mut self, g: &ast::GateRef) -> Option<GateId> {
        let rollout = self.rollout.as_ref()?;
        let from = rollout.rings.iter().position(|r| r.name == g.from.name);
        let to = rollout.rings.iter().position(|r| r.name == g.to.name);
        let found = self
            .gates
            .iter()
            .position(|gate| Some(gate.from.index()) == from && Some(gate.to.index()) == to)
            .map(|i| GateId(i as u32));
        if found.is_none()
            && !self
                .written
                .gates
                .contains(&(g.from.name.clone(), g.to.name.clone()))
        {
            self.error(diag::unknown_gate(g.span, &g.from.name, &g.to.name));
        }
        found
    }

    fn known_reason(
        &mut self,
        r: &ast::StrLit,
        kind: impl Fn(&ClauseKind) -> bool,
        keyword: &'static str,
    ) -> Option<()> {
        if self.reasons.contains(&(keyword, r.value.clone())) {
            return Some(());
        }
        if self.written.reasons.contains(&(keyword, r.value.clone())) {
            // The clause exists but has an error of its own, already reported.
            return None;
        }
        let reasons: Vec<String> = self
            .clauses
            .iter()
            .filter(|c| kind(&c.kind))
            .map(|c| c.reason.clone())
            .collect();
        let refs: Vec<&str> = reasons.iter().map(String::as_str).collect();
        self.error(diag::unknown_reason(r.span, &r.value, keyword, &refs));
        None
    }
}

fn expect_keyword(e: &ast::Expect) -> &'static str {
    match e {
        ast::Expect::Allow => "allow",
        ast::Expect::Deny(_) => "deny",
        ast::Expect::Defer(..) => "defer",
        ast::Expect::Healthy => "healthy",
        ast::Expect::Inconclusive => "inconclusive",
        ast::Expect::Rollback(_) => "rollback",
        ast::Expect::Promote(_) => "promote",
        ast::Expect::Hold(_) => "hold",
        ast::Expect::Abort(..) => "abort",
        ast::Expect::InstallOrder(_) => "install order",
        ast::Expect::NotInstallable => "not installable",
    }
}
