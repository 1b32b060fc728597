//! The structural half of a diff: what changed, declaration by declaration, in words.
//!
//! In: both versions. Out: `Change`s for the schema, rules, constraints, the rollout and gates, and for
//! rails and health rules the clauses whose behaviour may differ (the regions are found in `regions`).
//! Every comparison is of meaning as the typed package states it: conditions as `Norm`s, version
//! predicates as version sets, ring shares in parts per million; never of source text.

use fleetgate_lang::typed::{
    ClauseId, ClauseKind, Expr, FieldId, Package, Rule, Ty, VersionSet, format_duration,
};

use super::norm::{Norm, norm, norm_opt};
use super::{Area, Change, Side};
use crate::layout;
use crate::review::words::{Syntax, duration_words, version_set_words};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Rails,
    Health,
}

impl Kind {
    fn rules(self, pkg: &Package) -> &[Rule] {
        match self {
            Kind::Rails => &pkg.rails,
            Kind::Health => &pkg.healths,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Rails => "rail",
            Kind::Health => "health",
        }
    }

    pub fn area(self) -> Area {
        match self {
            Kind::Rails => Area::Rails,
            Kind::Health => Area::Health,
        }
    }
}

/// The structural changes of rails (or health rules), and the clauses they touch: `(old, new)` pairs,
/// either side `None` for a clause that exists in one version only.
pub struct RuleDiff {
    pub changes: Vec<Change>,
    pub changed: Vec<(Option<ClauseId>, Option<ClauseId>)>,
}

fn syntax(pkg: &Package, e: &Expr) -> String {
    Syntax {
        pkg,
        expand_lets: true,
    }
    .expr(e)
}

fn type_text(pkg: &Package, f: FieldId) -> String {
    let field = pkg.field(f);
    let ty = match field.ty {
        Ty::Float if field.percent => "percent".to_string(),
        other => pkg.type_name(other),
    };
    format!("{ty}{}", if field.optional { "?" } else { "" })
}

/// `deny "reason" when COND`, `rollback model "reason" when COND for 3 checks`.
pub fn clause_text(pkg: &Package, id: ClauseId) -> String {
    let c = pkg.clause(id);
    let head = match &c.kind {
        ClauseKind::Defer { secs } => format!("defer {}", format_duration(*secs)),
        ClauseKind::Rollback { planes } => {
            let names: Vec<&str> = planes.iter().map(|p| pkg.plane(*p).name.as_str()).collect();
            format!("rollback {}", names.join(", "))
        }
        other => other.keyword().to_string(),
    };
    let mut s = if c.kind == ClauseKind::Require {
        head
    } else {
        format!("{head} \"{}\"", c.reason)
    };
    if let Some(cond) = &c.cond {
        if c.kind == ClauseKind::Require {
            s.push_str(&format!(" {}", syntax(pkg, cond)));
        } else {
            s.push_str(&format!(" when {}", syntax(pkg, cond)));
        }
    }
    if let Some(n) = c.checks.filter(|&n| n > 1) {
        s.push_str(&format!(" for {n} checks"));
    }
    if let Some(f) = c.per {
        s.push_str(&format!(" per device.{}", pkg.field(f).name));
    }
    s
}

/// The label of a clause in a change: `deny "battery low"`, `require ring.done >= 300`.
fn clause_label(pkg: &Package, id: ClauseId) -> String {
    let c = pkg.clause(id);
    match c.kind {
        ClauseKind::Require => format!("require {}", c.reason),
        _ => format!("{} \"{}\"", c.kind.keyword(), c.reason),
    }
}

/// Names in `new`'s order, then the names only `old` has, in `old`'s order.
fn union_names<'a>(
    old: impl Iterator<Item = &'a str>,
    new: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let old: Vec<&str> = old.collect();
    let mut out: Vec<String> = new.map(str::to_string).collect();
    for n in old {
        if !out.iter().any(|x| x == n) {
            out.push(n.to_string());
        }
    }
    out
}

/// Pairs items by key, each old item used once, in `new`'s order; unmatched on either side get `None`.
fn pair_by<K: PartialEq>(old: &[K], new: &[K]) -> Vec<(Option<usize>, Option<usize>)> {
    let mut used = vec![false; old.len()];
    let mut out = Vec::new();
    for (j, k) in new.iter().enumerate() {
        let i = (0..old.len()).find(|&i| !used[i] && old[i] == *k);
        if let Some(i) = i {
            used[i] = true;
        }
        out.push((i, Some(j)));
    }
    for (i, u) in used.iter().enumerate() {
        if !u {
            out.push((Some(i), None));
        }
    }
    out
}

/// The device schema: enums, planes, fields, and the schema hash devices must agree on.
pub fn schema(old: Side<'_>, new: Side<'_>) -> Vec<Change> {
    let (a, b) = (old.package, new.package);
    let mut out = Vec::new();
    // Enums (not the built-in `Weekday`).
    let user = |p: &Package| {
        p.enums
            .iter()
            .filter(|e| e.span.is_some())
            .cloned()
            .collect::<Vec<_>>()
    };
    let (ea, eb) = (user(a), user(b));
    for name in union_names(
        ea.iter().map(|e| e.name.as_str()),
        eb.iter().map(|e| e.name.as_str()),
    ) {
        let x = ea.iter().find(|e| e.name == name);
        let y = eb.iter().find(|e| e.name == name);
        match (x, y) {
            (Some(_), None) => {
                out.push(Change::new(Area::Schema, format!("enum {name}"), "removed"))
            }
            (None, Some(y)) => out.push(Change::new(
                Area::Schema,
                format!("enum {name}"),
                format!("added: {}", y.variants.join(", ")),
            )),
            (Some(x), Some(y)) if x.variants != y.variants => {
                let added: Vec<&String> = y
                    .variants
                    .iter()
                    .filter(|v| !x.variants.contains(v))
                    .collect();
                let removed: Vec<&String> = x
                    .variants
                    .iter()
                    .filter(|v| !y.variants.contains(v))
                    .collect();
                let mut parts = Vec::new();
                if !added.is_empty() {
                    parts.push(format!(
                        "variants added: {}",
                        added
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                if !removed.is_empty() {
                    parts.push(format!(
                        "variants removed: {}",
                        removed
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                if parts.is_empty() {
                    parts.push("variants reordered (their encoding changes)".into());
                }
                out.push(
                    Change::new(Area::Schema, format!("enum {name}"), parts.join("; "))
                        .texts(Some(x.variants.join(", ")), Some(y.variants.join(", "))),
                );
            }
            _ => {}
        }
    }
    // Planes.
    let pa: Vec<&str> = a.planes.iter().map(|p| p.name.as_str()).collect();
    let pb: Vec<&str> = b.planes.iter().map(|p| p.name.as_str()).collect();
    for p in &pb {
        if !pa.contains(p) {
            out.push(Change::new(Area::Schema, format!("plane {p}"), "added"));
        }
    }
    for p in &pa {
        if !pb.contains(p) {
            out.push(Change::new(Area::Schema, format!("plane {p}"), "removed"));
        }
    }
    let common_a: Vec<&&str> = pa.iter().filter(|p| pb.contains(p)).collect();
    let common_b: Vec<&&str> = pb.iter().filter(|p| pa.contains(p)).collect();
    if common_a != common_b {
        out.push(Change::new(
            Area::Schema,
            "planes",
            format!("reordered: {} -> {}", pa.join(", "), pb.join(", ")),
        ));
    }
    // Fields.
    let names = union_names(
        a.fields.iter().map(|f| f.name.as_str()),
        b.fields.iter().map(|f| f.name.as_str()),
    );
    for name in &names {
        let x = a.field_by_name(name);
        let y = b.field_by_name(name);
        match (x, y) {
            (Some(x), None) => out.push(Change::new(
                Area::Schema,
                format!("field {name}"),
                format!("{} removed", type_text(a, x)),
            )),
            (None, Some(y)) => out.push(Change::new(
                Area::Schema,
                format!("field {name}"),
                format!("{} added", type_text(b, y)),
            )),
            (Some(x), Some(y)) => {
                let (tx, ty) = (type_text(a, x), type_text(b, y));
                if tx != ty {
                    out.push(Change::new(
                        Area::Schema,
                        format!("field {name}"),
                        format!("{tx} -> {ty}"),
                    ));
                }
            }
            (None, None) => {}
        }
    }
    let fa: Vec<&str> = a
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| b.field_by_name(n).is_some())
        .collect();
    let fb: Vec<&str> = b
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| a.field_by_name(n).is_some())
        .collect();
    if fa != fb {
        out.push(
            Change::new(Area::Schema, "device record", "fields reordered")
                .texts(Some(fa.join(", ")), Some(fb.join(", "))),
        );
    }
    let (ha, hb) = (layout::schema_hash(a), layout::schema_hash(b));
    if ha != hb {
        let mut c = Change::new(
            Area::Schema,
            "schema hash",
            format!("{ha:016x} -> {hb:016x}"),
        );
        c.note = Some("devices must send records of the new schema to run the new artifact".into());
        out.push(c);
    }
    out
}

/// Rails or health rules, clause by clause.
pub fn rules(old: Side<'_>, new: Side<'_>, kind: Kind) -> RuleDiff {
    let (a, b) = (old.package, new.package);
    let (ra, rb) = (kind.rules(a), kind.rules(b));
    let mut out = RuleDiff {
        changes: Vec::new(),
        changed: Vec::new(),
    };
    let word = kind.word();
    let area = kind.area();
    for name in union_names(
        ra.iter().map(|r| r.name.as_str()),
        rb.iter().map(|r| r.name.as_str()),
    ) {
        let subject = format!("{word} {name}");
        let x = ra.iter().find(|r| r.name == name);
        let y = rb.iter().find(|r| r.name == name);
        let listing = |pkg: &Package, rule: &Rule| {
            let mut lines = Vec::new();
            if let Some(s) = &rule.scope {
                lines.push(format!("when {}", syntax(pkg, s)));
            }
            lines.extend(rule.clauses.iter().map(|&c| clause_text(pkg, c)));
            lines.join("\n")
        };
        let (x, y) = match (x, y) {
            (Some(x), None) => {
                out.changes
                    .push(Change::new(area, subject, "removed").texts(Some(listing(a, x)), None));
                out.changed
                    .extend(x.clauses.iter().map(|&c| (Some(c), None)));
                continue;
            }
            (None, Some(y)) => {
                out.changes
                    .push(Change::new(area, subject, "added").texts(None, Some(listing(b, y))));
                out.changed
                    .extend(y.clauses.iter().map(|&c| (None, Some(c))));
                continue;
            }
            (Some(x), Some(y)) => (x, y),
            (None, None) => continue,
        };
        let scope_changed = norm_opt(a, x.scope.as_ref()) != norm_opt(b, y.scope.as_ref());
        if scope_changed {
            let show = |pkg: &Package, s: Option<&Expr>| {
                Some(s.map_or_else(|| "every device".to_string(), |e| syntax(pkg, e)))
            };
            out.changes.push(
                Change::new(area, subject.clone(), "scope changed")
                    .texts(show(a, x.scope.as_ref()), show(b, y.scope.as_ref())),
            );
        }
        let key = |pkg: &Package, c: ClauseId| {
            let cl = pkg.clause(c);
            (cl.kind.keyword(), cl.reason.clone())
        };
        let ka: Vec<_> = x.clauses.iter().map(|&c| key(a, c)).collect();
        let kb: Vec<_> = y.clauses.iter().map(|&c| key(b, c)).collect();
        for (i, j) in pair_by(&ka, &kb) {
            let ci = i.map(|i| x.clauses[i]);
            let cj = j.map(|j| y.clauses[j]);
            match (ci, cj) {
                (Some(ci), None) => {
                    out.changes.push(
                        Change::new(
                            area,
                            subject.clone(),
                            format!("{} removed", clause_label(a, ci)),
                        )
                        .texts(Some(clause_text(a, ci)), None),
                    );
                    out.changed.push((Some(ci), None));
                }
                (None, Some(cj)) => {
                    out.changes.push(
                        Change::new(
                            area,
                            subject.clone(),
                            format!("{} added", clause_label(b, cj)),
                        )
                        .texts(None, Some(clause_text(b, cj))),
                    );
                    out.changed.push((None, Some(cj)));
                }
                (Some(ci), Some(cj)) => {
                    let differences = clause_differences(a, ci, b, cj);
                    let label = clause_label(b, cj);
                    for (what, old_text, new_text) in &differences {
                        out.changes.push(
                            Change::new(area, subject.clone(), format!("{label}: {what}"))
                                .texts(old_text.clone(), new_text.clone()),
                        );
                    }
                    if scope_changed || !differences.is_empty() {
                        out.changed.push((Some(ci), Some(cj)));
                    }
                }
                (None, None) => {}
            }
        }
    }
    out
}

/// How two matched clauses differ: `(what, old text, new text)` per difference.
fn clause_differences(
    a: &Package,
    ci: ClauseId,
    b: &Package,
    cj: ClauseId,
) -> Vec<(String, Option<String>, Option<String>)> {
    let (x, y) = (a.clause(ci), b.clause(cj));
    let mut out = Vec::new();
    if let (ClauseKind::Defer { secs: s }, ClauseKind::Defer { secs: t }) = (&x.kind, &y.kind)
        && s != t
    {
        out.push((
            format!("{} -> {}", duration_words(*s), duration_words(*t)),
            None,
            None,
        ));
    }
    if let (ClauseKind::Rollback { planes: p }, ClauseKind::Rollback { planes: q }) =
        (&x.kind, &y.kind)
    {
        let mut pn: Vec<&str> = p.iter().map(|p| a.plane(*p).name.as_str()).collect();
        let mut qn: Vec<&str> = q.iter().map(|q| b.plane(*q).name.as_str()).collect();
        pn.sort_unstable();
        qn.sort_unstable();
        if pn != qn {
            out.push((
                format!("planes {} -> {}", pn.join(", "), qn.join(", ")),
                None,
                None,
            ));
        }
    }
    let (n, m) = (x.checks.unwrap_or(1), y.checks.unwrap_or(1));
    if n != m {
        out.push((format!("for {n} checks -> for {m} checks"), None, None));
    }
    let per = |pkg: &Package, f: Option<FieldId>| f.map(|f| pkg.field(f).name.clone());
    if per(a, x.per) != per(b, y.per) {
        let show = |p: Option<String>| {
            p.map_or_else(|| "whole ring".to_string(), |f| format!("per device.{f}"))
        };
        out.push((
            format!("{} -> {}", show(per(a, x.per)), show(per(b, y.per))),
            None,
            None,
        ));
    }
    if norm_opt(a, x.cond.as_ref()) != norm_opt(b, y.cond.as_ref()) {
        let show = |pkg: &Package, e: Option<&Expr>| {
            Some(e.map_or_else(|| "always".to_string(), |e| syntax(pkg, e)))
        };
        out.push((
            "condition changed".into(),
            show(a, x.cond.as_ref()),
            show(b, y.cond.as_ref()),
        ));
    }
    out
}

/// How one side of a `depends` changed: `firmware bound v1.4.0 -> v1.5.0`, or both texts.
fn predicate_change(
    plane: &str,
    old: (&VersionSet, &str),
    new: (&VersionSet, &str),
) -> Option<String> {
    use fleetgate_lang::typed::Version;
    if old.0 == new.0 {
        return None;
    }
    let show = |v: u64| Version::from_packed(v).to_string();
    const TOP: u64 = (1 << 48) - 1;
    if let ([(a_lo, a_hi)], [(b_lo, b_hi)]) = (old.0.0.as_slice(), new.0.0.as_slice()) {
        let top = |h: u64| h >= TOP;
        if a_hi == b_hi || (top(*a_hi) && top(*b_hi)) {
            return Some(format!("{plane} bound {} -> {}", show(*a_lo), show(*b_lo)));
        }
        if a_lo == b_lo && !top(*a_hi) && !top(*b_hi) {
            return Some(format!(
                "{plane} upper bound below {} -> below {}",
                show(a_hi + 1),
                show(b_hi + 1)
            ));
        }
    }
    Some(format!(
        "{plane}: `{}` -> `{}` ({} -> {})",
        old.1,
        new.1,
        version_set_words(old.0),
        version_set_words(new.0)
    ))
}

/// `depends` and `incompatible`.
pub fn constraints(old: Side<'_>, new: Side<'_>) -> Vec<Change> {
    let (a, b) = (old.package, new.package);
    let mut out = Vec::new();
    let dep_key = |pkg: &Package, i: usize| {
        let d = &pkg.depends[i];
        (
            pkg.plane(d.dependent.plane).name.clone(),
            pkg.plane(d.dependency.plane).name.clone(),
        )
    };
    let ka: Vec<_> = (0..a.depends.len()).map(|i| dep_key(a, i)).collect();
    let kb: Vec<_> = (0..b.depends.len()).map(|i| dep_key(b, i)).collect();
    let text = |pkg: &Package, i: usize| {
        let d = &pkg.depends[i];
        format!("depends {} on {}", d.dependent.text, d.dependency.text)
    };
    for (i, j) in pair_by(&ka, &kb) {
        match (i, j) {
            (Some(i), None) => out.push(Change::new(Area::Constraints, text(a, i), "removed")),
            (None, Some(j)) => out.push(Change::new(Area::Constraints, text(b, j), "added")),
            (Some(i), Some(j)) => {
                let (x, y) = (&a.depends[i], &b.depends[j]);
                let (dependent, dependency) = &ka[i];
                let parts: Vec<String> = [
                    predicate_change(
                        dependent,
                        (&x.dependent.set, &x.dependent.text),
                        (&y.dependent.set, &y.dependent.text),
                    ),
                    predicate_change(
                        dependency,
                        (&x.dependency.set, &x.dependency.text),
                        (&y.dependency.set, &y.dependency.text),
                    ),
                ]
                .into_iter()
                .flatten()
                .collect();
                if !parts.is_empty() {
                    out.push(
                        Change::new(Area::Constraints, text(a, i), parts.join("; "))
                            .texts(Some(text(a, i)), Some(text(b, j))),
                    );
                }
            }
            (None, None) => {}
        }
    }
    let inc_key = |pkg: &Package, i: usize| {
        let inc = &pkg.incompatibles[i];
        (
            pkg.plane(inc.versions.plane).name.clone(),
            inc.reason.clone(),
        )
    };
    let ka: Vec<_> = (0..a.incompatibles.len()).map(|i| inc_key(a, i)).collect();
    let kb: Vec<_> = (0..b.incompatibles.len()).map(|i| inc_key(b, i)).collect();
    let text = |pkg: &Package, i: usize| {
        let inc = &pkg.incompatibles[i];
        format!(
            "incompatible {} when {} \"{}\"",
            inc.versions.text,
            syntax(pkg, &inc.cond),
            inc.reason
        )
    };
    for (i, j) in pair_by(&ka, &kb) {
        match (i, j) {
            (Some(i), None) => out.push(Change::new(Area::Constraints, text(a, i), "removed")),
            (None, Some(j)) => out.push(Change::new(Area::Constraints, text(b, j), "added")),
            (Some(i), Some(j)) => {
                let (x, y) = (&a.incompatibles[i], &b.incompatibles[j]);
                let subject = format!("incompatible {} \"{}\"", x.versions.text, x.reason);
                if let Some(p) = predicate_change(
                    &ka[i].0,
                    (&x.versions.set, &x.versions.text),
                    (&y.versions.set, &y.versions.text),
                ) {
                    out.push(Change::new(Area::Constraints, subject.clone(), p));
                }
                if norm(a, &x.cond) != norm(b, &y.cond) {
                    out.push(
                        Change::new(Area::Constraints, subject, "condition changed")
                            .texts(Some(syntax(a, &x.cond)), Some(syntax(b, &y.cond))),
                    );
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// Rollout settings and rings.
pub fn rollout(old: Side<'_>, new: Side<'_>) -> Vec<Change> {
    let (a, b) = (old.package, new.package);
    let mut out = Vec::new();
    let (x, y) = match (&a.rollout, &b.rollout) {
        (None, None) => return out,
        (Some(_), None) => return vec![Change::new(Area::Rollout, "rollout", "removed")],
        (None, Some(_)) => return vec![Change::new(Area::Rollout, "rollout", "added")],
        (Some(x), Some(y)) => (x, y),
    };
    let mut setting = |name: &str, o: String, n: String| {
        if o != n {
            out.push(Change::new(
                Area::Rollout,
                "rollout",
                format!("{name} {o} -> {n}"),
            ));
        }
    };
    setting(
        "check every",
        duration_words(x.check_every),
        duration_words(y.check_every),
    );
    setting(
        "verify for",
        duration_words(x.verify_for),
        duration_words(y.verify_for),
    );
    let rate = |r: Option<(u32, i64)>| {
        r.map_or_else(
            || "unlimited".to_string(),
            |(n, per)| format!("{n} per {}", duration_words(per)),
        )
    };
    setting("rate", rate(x.rate), rate(y.rate));
    let flight = |f: Option<u32>| f.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    setting(
        "in flight at most",
        flight(x.in_flight),
        flight(y.in_flight),
    );
    setting(
        "install attempts",
        x.attempts.to_string(),
        y.attempts.to_string(),
    );

    let na: Vec<&str> = x.rings.iter().map(|r| r.name.as_str()).collect();
    let nb: Vec<&str> = y.rings.iter().map(|r| r.name.as_str()).collect();
    if na != nb {
        out.push(Change::new(
            Area::Rollout,
            "rings",
            format!("{} -> {}", na.join(", "), nb.join(", ")),
        ));
    }
    let syntax_opt =
        |pkg: &Package, e: Option<&Expr>| e.map_or_else(|| "none".to_string(), |e| syntax(pkg, e));
    for name in union_names(na.iter().copied(), nb.iter().copied()) {
        let r = x.rings.iter().find(|r| r.name == name);
        let s = y.rings.iter().find(|r| r.name == name);
        let subject = format!("ring {name}");
        match (r, s) {
            (Some(r), None) => out.push(Change::new(
                Area::Rollout,
                subject,
                format!("removed (was {})", r.share_text),
            )),
            (None, Some(s)) => out.push(Change::new(
                Area::Rollout,
                subject,
                format!(
                    "added: {}{}",
                    s.share_text,
                    s.filter
                        .as_ref()
                        .map_or(String::new(), |f| format!(" where {}", syntax(b, f)))
                ),
            )),
            (Some(r), Some(s)) => {
                if r.share_ppm != s.share_ppm {
                    out.push(Change::new(
                        Area::Rollout,
                        subject.clone(),
                        format!("{} -> {}", r.share_text, s.share_text),
                    ));
                }
                if norm_opt(a, r.filter.as_ref()) != norm_opt(b, s.filter.as_ref()) {
                    out.push(Change::new(Area::Rollout, subject, "filter changed").texts(
                        Some(syntax_opt(a, r.filter.as_ref())),
                        Some(syntax_opt(b, s.filter.as_ref())),
                    ));
                }
            }
            (None, None) => {}
        }
    }
    out
}

/// Gates, matched by the rings they join.
pub fn gates(old: Side<'_>, new: Side<'_>) -> Vec<Change> {
    let (a, b) = (old.package, new.package);
    let mut out = Vec::new();
    let names = |pkg: &Package| {
        (0..pkg.gates.len())
            .map(|g| pkg.gate_name(fleetgate_lang::typed::GateId(g as u32)))
            .collect::<Vec<_>>()
    };
    let (ga, gb) = (names(a), names(b));
    for (i, j) in pair_by(&ga, &gb) {
        match (i, j) {
            (Some(i), None) => out.push(Change::new(
                Area::Gates,
                format!("gate {}", ga[i]),
                "removed",
            )),
            (None, Some(j)) => {
                out.push(Change::new(Area::Gates, format!("gate {}", gb[j]), "added"))
            }
            (Some(i), Some(j)) => {
                let (x, y) = (&a.gates[i], &b.gates[j]);
                let subject = format!("gate {}", ga[i]);
                if x.soak != y.soak {
                    out.push(Change::new(
                        Area::Gates,
                        subject.clone(),
                        format!(
                            "soak {} -> {}",
                            duration_words(x.soak),
                            duration_words(y.soak)
                        ),
                    ));
                }
                // Requires by what they require; aborts by reason.
                let key =
                    |pkg: &Package, c: ClauseId| -> (bool, Option<Norm>, String, Option<String>) {
                        let cl = pkg.clause(c);
                        let per = cl.per.map(|f| pkg.field(f).name.clone());
                        if cl.kind == ClauseKind::Require {
                            (true, norm_opt(pkg, cl.cond.as_ref()), String::new(), per)
                        } else {
                            (false, None, cl.reason.clone(), None)
                        }
                    };
                let ka: Vec<_> = x.clauses.iter().map(|&c| key(a, c)).collect();
                let kb: Vec<_> = y.clauses.iter().map(|&c| key(b, c)).collect();
                for (p, q) in pair_by(&ka, &kb) {
                    match (p.map(|p| x.clauses[p]), q.map(|q| y.clauses[q])) {
                        (Some(c), None) => out.push(
                            Change::new(
                                Area::Gates,
                                subject.clone(),
                                format!("{} removed", clause_label(a, c)),
                            )
                            .texts(Some(clause_text(a, c)), None),
                        ),
                        (None, Some(c)) => out.push(
                            Change::new(
                                Area::Gates,
                                subject.clone(),
                                format!("{} added", clause_label(b, c)),
                            )
                            .texts(None, Some(clause_text(b, c))),
                        ),
                        (Some(c), Some(d)) => {
                            for (what, o, n) in clause_differences(a, c, b, d) {
                                out.push(
                                    Change::new(
                                        Area::Gates,
                                        subject.clone(),
                                        format!("{}: {what}", clause_label(b, d)),
                                    )
                                    .texts(o, n),
                                );
                            }
                        }
                        (None, None) => {}
                    }
                }
            }
            (None, None) => {}
        }
    }
    out
}
