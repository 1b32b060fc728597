//! Resolver unit tests: source snippets in, the typed package out, printed compactly.
//!
//! One `check(src, expect)` runs the whole front end on a snippet (after a fixed schema, `PRELUDE`,
//! unless the snippet has its own `device` block) and compares a compact rendering of what the
//! snippet declares (after the line `// check:` when it has one: what comes before is context) with
//! `expect`, line by line, indentation aside: diagnostics first (`error code` / `warning code`), then lets as
//! s-expressions with the operation's representation after a dot (`.s` signed, `.u` unsigned, `.f`
//! float, `.b` bits for comparisons; `.i` int, `.f` float, `.d` duration for arithmetic), rules,
//! dependencies as version sets, rings in parts per million, gates, and tests with their givens.

use std::fmt::Write as _;

use crate::Sources;
use crate::typed::*;

const PRELUDE: &str = "
enum Hw { esp32c3, esp32s3, rk3566 }
enum Phase { idle, active, critical }
enum Mode { idle, boost }
plane firmware
plane model
plane config
device {
  hw: Hw
  phase: Phase
  mode: Mode
  battery: percent
  charging: bool
  heap: int
  temp: float
  uptime: duration
  rssi: int?
  rssi2: int?
  latency: float?
}
";

#[track_caller]
fn check(src: &str, expect: &str) {
    let text = if src.lines().any(|l| l.trim_start().starts_with("device {")) {
        src.to_string()
    } else {
        format!("{PRELUDE}\n{src}")
    };
    let from = text.find("// check:").unwrap_or(text.len() - src.len());
    let mut sources = Sources::new();
    sources.add("test.policy", text);
    let checked = crate::check(&sources);
    let mut out = String::new();
    for d in &checked.diagnostics {
        let severity = if d.is_error() { "error" } else { "warning" };
        let _ = writeln!(
            out,
            "{severity} {}: {}",
            d.code.trim_start_matches("fleetgate::lang::"),
            d.message
        );
    }
    if let Some(p) = &checked.package {
        render(p, from as u32, &mut out);
    }
    let got: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let want: Vec<&str> = expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        got == want,
        "\nexpected:\n{}\n\ngot:\n{}\n",
        want.join("\n"),
        got.join("\n")
    );
}

/// Everything the package declares at or after offset `from`.
fn render(p: &Package, from: u32, out: &mut String) {
    let shown = |span: crate::Span| span.start >= from;
    for l in p.lets.iter().filter(|l| shown(l.span)) {
        let _ = writeln!(out, "let {} = {}", l.name, expr(p, &l.expr));
    }
    for (kind, rules) in [("rail", &p.rails), ("health", &p.healths)] {
        for r in rules.iter().filter(|r| shown(r.span)) {
            let scope = r
                .scope
                .as_ref()
                .map(|s| format!(" when {}", expr(p, s)))
                .unwrap_or_default();
            let _ = writeln!(out, "{kind} {}{scope}", r.name);
            for &c in &r.clauses {
                let _ = writeln!(out, "  {}", clause(p, p.clause(c)));
            }
        }
    }
    for d in p.depends.iter().filter(|d| shown(d.span)) {
        let _ = writeln!(
            out,
            "depends {} on {}",
            predicate(p, &d.dependent),
            predicate(p, &d.dependency)
        );
    }
    for i in p.incompatibles.iter().filter(|i| shown(i.span)) {
        let _ = writeln!(
            out,
            "incompatible {} when {} {:?}",
            predicate(p, &i.versions),
            expr(p, &i.cond),
            i.reason
        );
    }
    if let Some(r) = p.rollout.as_ref().filter(|r| shown(r.span)) {
        let rate = r
            .rate
            .map(|(n, per)| format!(" rate={n}/{}", format_duration(per)))
            .unwrap_or_default();
        let in_flight = r
            .in_flight
            .map(|n| format!(" in_flight={n}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "rollout check={} verify={}{rate}{in_flight} attempts={}",
            format_duration(r.check_every),
            format_duration(r.verify_for),
            r.attempts
        );
        for ring in &r.rings {
            let filter = ring
                .filter
                .as_ref()
                .map(|f| format!(" where {}", expr(p, f)))
                .unwrap_or_default();
            let _ = writeln!(out, "  ring {} {}ppm{filter}", ring.name, ring.share_ppm);
        }
    }
    for (g, gate) in p.gates.iter().enumerate().filter(|(_, g)| shown(g.span)) {
        let _ = writeln!(
            out,
            "gate {} soak={}",
            p.gate_name(GateId(g as u32)),
            format_duration(gate.soak)
        );
        for &c in &gate.clauses {
            let _ = writeln!(out, "  {}", clause(p, p.clause(c)));
        }
    }
    for f in p.fixtures.iter().filter(|f| shown(f.span)) {
        let _ = writeln!(out, "fixture {} = {}", f.name, device(p, &f.values));
    }
    for t in p.tests.iter().filter(|t| shown(t.span)) {
        let _ = writeln!(out, "test {:?}", t.name);
        if let Some(d) = &t.device {
            let _ = writeln!(out, "  device {} checks={}", device(p, d), t.checks);
        }
        let weekday = &p.enum_(p.weekday).variants[usize::from(t.now.weekday)];
        let _ = writeln!(out, "  now hour={} weekday={weekday}", t.now.hour);
        let release: Vec<String> = t
            .release
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| format!("{}={v}", p.planes[i].name)))
            .collect();
        let _ = writeln!(out, "  release [{}]", release.join(", "));
        if let Some(ring) = &t.ring {
            let _ = writeln!(out, "  ring {}", counts(&ring.total));
            if let Some((field, by)) = &ring.by {
                let f = p.field(*field);
                for (v, c) in by {
                    let Ty::Enum(e) = f.ty else {
                        unreachable!("`by` fields are enums")
                    };
                    let _ = writeln!(
                        out,
                        "    {}={} {}",
                        f.name,
                        p.enum_(e).variants[usize::from(*v)],
                        counts(c)
                    );
                }
            }
        }
        if let Some(r) = &t.rollout {
            let _ = writeln!(out, "  rollout {}", counts(r));
        }
        for e in &t.expects {
            let _ = writeln!(out, "  expect {}", expectation(p, &e.expectation));
        }
    }
}

fn clause(p: &Package, c: &Clause) -> String {
    let head = match &c.kind {
        ClauseKind::Deny => "deny".to_string(),
        ClauseKind::Defer { secs } => format!("defer {}", format_duration(*secs)),
        ClauseKind::Rollback { planes } => format!("rollback {}", plane_names(p, planes)),
        ClauseKind::Require => "require".to_string(),
        ClauseKind::Abort => "abort".to_string(),
    };
    let cond = c
        .cond
        .as_ref()
        .map(|e| format!(" when {}", expr(p, e)))
        .unwrap_or_default();
    let checks = c.checks.map(|n| format!(" for {n}")).unwrap_or_default();
    let per = c
        .per
        .map(|f| format!(" per {}", p.field(f).name))
        .unwrap_or_default();
    format!("{head} {:?}{cond}{checks}{per}", c.reason)
}

fn plane_names(p: &Package, planes: &[PlaneId]) -> String {
    planes
        .iter()
        .map(|&id| p.plane(id).name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn field(p: &Package, f: FieldRef) -> String {
    match f {
        FieldRef::Device(id) => format!("device.{}", p.field(id).name),
        FieldRef::Plane(id) => format!("device.{}", p.plane(id).name),
        FieldRef::NowHour => "now.hour".into(),
        FieldRef::NowWeekday => "now.weekday".into(),
        FieldRef::Release(id) => format!("release.{}", p.plane(id).name),
        FieldRef::Ring(rf) => format!("ring.{}", rf.name()),
        FieldRef::Rollout(rf) => format!("rollout.{}", rf.name()),
    }
}

fn value(p: &Package, v: Value) -> String {
    match v {
        Value::Enum(e, i) => format!(
            "{}::{}",
            p.enum_(e).name,
            p.enum_(e).variants[usize::from(i)]
        ),
        other => p.show_value(other),
    }
}

fn cmp_suffix(k: CmpKind) -> &'static str {
    match k {
        CmpKind::Bits => "b",
        CmpKind::Signed => "s",
        CmpKind::Unsigned => "u",
        CmpKind::Float => "f",
    }
}

fn expr(p: &Package, e: &Expr) -> String {
    let list = |xs: &[Expr]| xs.iter().map(|x| expr(p, x)).collect::<Vec<_>>().join(" ");
    match &e.kind {
        ExprKind::Const(v) => value(p, *v),
        ExprKind::Field(f) => field(p, *f),
        ExprKind::Coalesce(f, d) => format!("(?? {} {})", field(p, *f), expr(p, d)),
        ExprKind::Known(f) => format!("(known {})", field(p, *f)),
        ExprKind::Let(id) => p.let_(*id).name.clone(),
        ExprKind::Widen(x) => format!("(float {})", expr(p, x)),
        ExprKind::Neg(_, x) => format!("(neg.{} {})", ty_suffix(e.ty), expr(p, x)),
        ExprKind::Abs(_, x) => format!("(abs.{} {})", ty_suffix(e.ty), expr(p, x)),
        ExprKind::Arith(op, _, a, b) => {
            let op = match op {
                ArithOp::Add => "+",
                ArithOp::Sub => "-",
                ArithOp::Mul => "*",
                ArithOp::Div => "/",
                ArithOp::Min => "min",
                ArithOp::Max => "max",
            };
            format!("({op}.{} {} {})", ty_suffix(e.ty), expr(p, a), expr(p, b))
        }
        ExprKind::Cmp(op, k, a, b) => {
            let op = match op {
                CmpOp::Eq => "==",
                CmpOp::Ne => "!=",
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                CmpOp::Ge => ">=",
            };
            format!("({op}.{} {} {})", cmp_suffix(*k), expr(p, a), expr(p, b))
        }
        ExprKind::In(k, x, values) => {
            let values: Vec<String> = values.iter().map(|v| value(p, *v)).collect();
            format!(
                "(in.{} {} [{}])",
                cmp_suffix(*k),
                expr(p, x),
                values.join(" ")
            )
        }
        ExprKind::Between(k, x, lo, hi) => {
            format!(
                "(between.{} {} {} {})",
                cmp_suffix(*k),
                expr(p, x),
                expr(p, lo),
                expr(p, hi)
            )
        }
        ExprKind::Not(x) => format!("(not {})", expr(p, x)),
        ExprKind::And(xs) => format!("(and {})", list(xs)),
        ExprKind::Or(xs) => format!("(or {})", list(xs)),
    }
}

fn ty_suffix(ty: Ty) -> &'static str {
    match ty {
        Ty::Int => "i",
        Ty::Float => "f",
        Ty::Duration => "d",
        _ => "?",
    }
}

fn predicate(p: &Package, pred: &PlanePredicate) -> String {
    let ranges: Vec<String> = pred
        .set
        .0
        .iter()
        .map(|&(lo, hi)| {
            let hi = if hi == u64::MAX {
                "max".to_string()
            } else {
                Version::from_packed(hi).to_string()
            };
            format!("{}..={hi}", Version::from_packed(lo))
        })
        .collect();
    format!("{}{{{}}}", p.plane(pred.plane).name, ranges.join(", "))
}

fn device(p: &Package, d: &DeviceValues) -> String {
    let mut parts: Vec<String> = d
        .fields
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{}={}",
                p.fields[i].name,
                v.map_or("missing".to_string(), |v| value(p, v))
            )
        })
        .collect();
    parts.extend(
        d.planes
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{}={v}", p.planes[i].name)),
    );
    format!("{{{}}}", parts.join(" "))
}

fn counts(c: &RingCounts) -> String {
    let mut parts: Vec<String> = RingField::ALL
        .iter()
        .filter_map(|&f| {
            c.get(f)
                .filter(|&n| n != 0)
                .map(|n| format!("{}={n}", f.name()))
        })
        .collect();
    parts.push(format!("soak={}", format_duration(c.soak_secs)));
    parts.join(" ")
}

fn expectation(p: &Package, e: &Expectation) -> String {
    let gate = |g: &GateId| p.gate_name(*g);
    match e {
        Expectation::Allow => "allow".into(),
        Expectation::Deny(r) => format!("deny {r:?}"),
        Expectation::Defer(d, r) => format!("defer {:?} {r:?}", d.map(format_duration)),
        Expectation::Healthy => "healthy".into(),
        Expectation::Inconclusive => "inconclusive".into(),
        Expectation::Rollback(planes) => format!("rollback {}", plane_names(p, planes)),
        Expectation::Promote(g) => format!("promote {}", gate(g)),
        Expectation::Hold(g) => format!("hold {}", gate(g)),
        Expectation::Abort(g, r) => format!("abort {} {r:?}", gate(g)),
        Expectation::InstallOrder(planes) => format!("install order {}", plane_names(p, planes)),
        Expectation::NotInstallable => "not installable".into(),
    }
}

// ---------------------------------------------------------------------------------------------

#[test]
fn precedence_of_boolean_operators() {
    check(
        "let a = device.charging or device.heap > 10 and device.temp < 80.0
         let b = not device.charging and device.heap > 1 or device.temp < 2.0
         let c = not device.heap > 10
         let d = not not device.charging",
        "let a = (or device.charging (and (>.s device.heap 10) (<.f device.temp 80.0)))
         let b = (or (and (not device.charging) (>.s device.heap 1)) (<.f device.temp 2.0))
         let c = (not (>.s device.heap 10))
         let d = (not (not device.charging))",
    );
}

#[test]
fn precedence_of_arithmetic() {
    check(
        "let a = device.heap + 2 * 3 - 4 / 2 > -device.heap * 2
         let b = (device.heap + 1) * 2 > 4
         let c = device.heap - 1 - 2 > 0
         let d = -5 < --device.heap",
        "let a = (>.s (-.i (+.i device.heap (*.i 2 3)) (/.i 4 2)) (*.i (neg.i device.heap) 2))
         let b = (>.s (*.i (+.i device.heap 1) 2) 4)
         let c = (>.s (-.i (-.i device.heap 1) 2) 0)
         let d = (<.s -5 (neg.i (neg.i device.heap)))",
    );
}

#[test]
fn coalesce_is_looser_than_arithmetic_and_tighter_than_comparison() {
    check(
        "let a = device.rssi ?? -127 + 1 < -80",
        "let a = (<.s (?? device.rssi (+.i -127 1)) -80)",
    );
}

#[test]
fn coalesce_groups_to_the_right() {
    check(
        "let a = device.rssi ?? device.rssi2 ?? -127 < -80
         let b = (device.latency ?? 0) > 250",
        "let a = (<.s (?? device.rssi (?? device.rssi2 -127)) -80)
         let b = (>.f (?? device.latency 0.0) 250.0)",
    );
}

#[test]
fn coalesce_on_a_value_that_is_never_missing() {
    check(
        "let a = device.heap ?? 0 > 1
         let b = known(device.heap)",
        "warning needless_default: `device.heap` is never missing, so `??` has no effect
         warning needless_known: `device.heap` is never missing, so `known(…)` is always true
         let a = (>.s device.heap 1)
         let b = true",
    );
}

#[test]
fn ints_widen_to_floats() {
    check(
        "let a = device.temp > 3
         let b = 3 < device.temp
         let c = device.heap * 1.5 > 2.0
         let d = device.temp in [1, 2.5]
         let e = device.temp between 10 and 20.5
         let f = device.heap between 1 and 2.5
         let g = min(device.heap, 2.5) > 0
         let h = device.battery < 30",
        "let a = (>.f device.temp 3.0)
         let b = (<.f 3.0 device.temp)
         let c = (>.f (*.f (float device.heap) 1.5) 2.0)
         let d = (in.f device.temp [1.0 2.5])
         let e = (between.f device.temp 10.0 20.5)
         let f = (between.f (float device.heap) 1.0 2.5)
         let g = (>.f (min.f (float device.heap) 2.5) 0.0)
         let h = (<.f device.battery 30.0)",
    );
}

#[test]
fn floats_never_narrow_to_ints() {
    check(
        "let a = device.heap in [1, 2.5]",
        "error type_mismatch: expected `int`, found `float`",
    );
}

#[test]
fn durations() {
    check(
        "let a = device.uptime + 30m > 1d
         let b = 2 * device.uptime <= 7d and device.uptime / 3 != 0s
         let c = max(device.uptime, 1h30m) > abs(-1h)
         let d = -device.uptime < 0s",
        "let a = (>.s (+.d device.uptime 30m) 1d)
         let b = (and (<=.s (*.d 2 device.uptime) 7d) (!=.s (/.d device.uptime 3) 0s))
         let c = (>.s (max.d device.uptime 1h30m) (abs.d -1h))
         let d = (<.s (neg.d device.uptime) 0s)",
    );
}

#[test]
fn percent_literals_are_floats() {
    check(
        "let a = device.battery < 30% and device.battery >= 99.5% and device.temp < 1_000%",
        "let a = (and (<.f device.battery 0.3) (>=.f device.battery 0.995) (<.f device.temp 10.0))",
    );
}

#[test]
fn versions_compare_unsigned() {
    check(
        "let a = device.firmware >= v1.4 and device.model < v2 and device.config == v1.4.0
         let b = (release.firmware ?? device.firmware) > device.firmware",
        "let a = (and (>=.u device.firmware v1.4.0) (<.u device.model v2.0.0) (==.u device.config v1.4.0))
         let b = (>.u (?? release.firmware device.firmware) device.firmware)",
    );
}

#[test]
fn bare_variants_resolve_by_context() {
    check(
        "let a = device.phase == idle
         let b = idle == device.mode
         let c = device.mode in [idle, boost]
         let d = device.hw != rk3566
         let e = now.weekday in [sat, sun]
         let f = (critical) == device.phase",
        "let a = (==.b device.phase Phase::idle)
         let b = (==.b Mode::idle device.mode)
         let c = (in.b device.mode [Mode::idle Mode::boost])
         let d = (!=.b device.hw Hw::rk3566)
         let e = (in.b now.weekday [Weekday::sat Weekday::sun])
         let f = (==.b Phase::critical device.phase)",
    );
}

#[test]
fn bare_variants_without_context() {
    check(
        "let a = idle == idle
         let b = critical == critical",
        "error ambiguous_variant: `idle` is a variant of `Phase` or `Mode`
         error ambiguous_variant: `idle` is a variant of `Phase` or `Mode`",
    );
    check(
        "let b = critical == active",
        "let b = (==.b Phase::critical Phase::active)",
    );
}

#[test]
fn bare_names_prefer_the_expected_enum_then_lets() {
    // `boost` is a let and a variant of `Mode`: next to a `Mode` it is the variant, elsewhere the let.
    check(
        "let boost = device.charging
         let a = device.mode == boost
         let b = boost and true",
        "let boost = device.charging
         let a = (==.b device.mode Mode::boost)
         let b = (and boost true)",
    );
}

#[test]
fn a_default_takes_the_type_of_its_field() {
    check(
        "enum Phase { idle, active }
         enum Mode { idle, boost }
         device {
           mode: Mode?
           phase: Phase
         }
         let a = (device.mode ?? idle) == boost
         let b = idle == (device.mode ?? idle)",
        "let a = (==.b (?? device.mode Mode::idle) Mode::boost)
         let b = (==.b Mode::idle (?? device.mode Mode::idle))",
    );
}

#[test]
fn known_and_optional_fields() {
    check(
        "let a = known(device.rssi) and not known((device.latency)) and known(release.model)",
        "let a = (and (known device.rssi) (not (known device.latency)) (known release.model))",
    );
    check(
        "let a = device.rssi < 3",
        "error optional_value: `device.rssi` may be missing, so it cannot be used as `int` directly",
    );
}

#[test]
fn lets_record_what_they_read() {
    check(
        "let a = ring.done > 10
         let b = device.heap > 1 and now.hour < 3
         rail r {
           deny \"x\" when b
         }
         rail s when a {
           deny \"y\"
         }",
        "error record_not_available: `a` uses `ring`, which is not available in rails and health rules",
    );
}

#[test]
fn rules_keep_scope_and_clauses_apart() {
    check(
        "rail r when device.hw == rk3566 {
           deny \"hot\" when device.temp > 80.0
           defer 1h30m \"warm\"
         }
         health h {
           rollback model, firmware \"slow\" when (device.latency ?? 0.0) > 250.0 for 3 checks
         }",
        "rail r when (==.b device.hw Hw::rk3566)
           deny \"hot\" when (>.f device.temp 80.0)
           defer 1h30m \"warm\"
         health h
           rollback model,firmware \"slow\" when (>.f (?? device.latency 0.0) 250.0) for 3",
    );
}

#[test]
fn version_sets_of_dependencies() {
    check(
        "depends model >= v2 and model < v3 on firmware >= v1.4
         depends config in [v8.0.1, v8.0.2, v8.0.3] on not (firmware < v1.5) or firmware == v1.4.9
         depends config between v4 and v5 on firmware != v2
         depends config > v9 on v2 <= firmware
         depends device.config < v0 on firmware <= v0.0.0
         depends config >= v1 and config < v5 and config != v3 and (config < v2 or config >= v2.1) on firmware == v1 or firmware == v0 or firmware in [v1, v7]
         incompatible model >= v3 when device.hw == esp32c3 \"too big\"",
        "depends model{v2.0.0..=v2.65535.65535} on firmware{v1.4.0..=max}
         depends config{v8.0.1..=v8.0.3} on firmware{v1.4.9..=v1.4.9, v1.5.0..=max}
         depends config{v4.0.0..=v5.0.0} on firmware{v0.0.0..=v1.65535.65535, v2.0.1..=max}
         depends config{v9.0.1..=max} on firmware{v2.0.0..=max}
         depends config{} on firmware{v0.0.0..=v0.0.0}
         depends config{v1.0.0..=v1.65535.65535, v2.1.0..=v2.65535.65535, v3.0.1..=v4.65535.65535} on firmware{v0.0.0..=v0.0.0, v1.0.0..=v1.0.0, v7.0.0..=v7.0.0}
         incompatible model{v3.0.0..=max} when (==.b device.hw Hw::esp32c3) \"too big\"",
    );
}

#[test]
fn ring_shares_in_parts_per_million() {
    check(
        "rollout {
           check every 1m
           verify for 10m
           rate 200 per 1m
           in flight at most 2_000
           retries 3
           ring canary = 0.5% where device.hw == rk3566
           ring tiny = 0.5001%
           ring early = 2%
           ring broad = 33.3333%
           ring full = 100%
         }
         gate canary -> tiny {
           require ring.done >= 300 per device.hw
         }
         gate tiny -> early {
           soak 1d12h
           abort \"bricked\" when ring.bricked > 0
         }
         gate early -> broad {
           abort \"always\"
         }
         gate broad -> full {
           require rollout.failure_upper < 1%
         }",
        "rollout check=1m verify=10m rate=200/1m in_flight=2000 attempts=3
           ring canary 5000ppm where (==.b device.hw Hw::rk3566)
           ring tiny 5001ppm
           ring early 20000ppm
           ring broad 333333ppm
           ring full 1000000ppm
         gate canary -> tiny soak=0s
           require \"ring.done >= 300\" when (>=.s ring.done 300) per hw
         gate tiny -> early soak=1d12h
           abort \"bricked\" when (>.s ring.bricked 0)
         gate early -> broad soak=0s
           abort \"always\"
         gate broad -> full soak=0s
           require \"rollout.failure_upper < 1%\" when (<.f rollout.failure_upper 0.01)",
    );
}

#[test]
fn one_install_attempt_without_retries() {
    check(
        "rollout {
           verify for 10m
           check every 30s
           ring full = 100%
         }",
        "rollout check=30s verify=10m attempts=1
           ring full 1000000ppm",
    );
}

const GATED: &str = "
rollout {
  check every 1m
  verify for 10m
  ring a = 10%
  ring b = 100%
}
gate a -> b {
  require ring.done > 10
  abort \"bricked\" when ring.bricked > 0
}
rail r {
  deny \"hot\" when device.temp > 80.0
  defer 1h \"warm\" when device.temp > 60.0
}
fixture f = device {
  hw = esp32c3, phase = idle, mode = boost, battery = 50%, charging = false, heap = 1, temp = 20,
  uptime = 1h, rssi = -60, firmware = v1, model = v1.2, config = v1.2.3
}
";

#[test]
fn fixtures_and_device_givens() {
    check(
        &format!(
            "{GATED}
             // check:
             fixture g = f with {{ rssi = missing, temp = 1e2 }}
             test \"t\" {{
               given g with {{ hw = rk3566, latency = 3 }} for 5 checks
               expect deny \"hot\"
               expect deny
               expect deny \"evaluation error in rail r\"
               expect defer
               expect defer 1h \"warm\"
             }}"
        ),
        "fixture g = {hw=Hw::esp32c3 phase=Phase::idle mode=Mode::boost battery=0.5 charging=false heap=1 temp=100.0 uptime=1h rssi=missing rssi2=missing latency=missing firmware=v1.0.0 model=v1.2.0 config=v1.2.3}
         test \"t\"
           device {hw=Hw::rk3566 phase=Phase::idle mode=Mode::boost battery=0.5 charging=false heap=1 temp=100.0 uptime=1h rssi=missing rssi2=missing latency=3.0 firmware=v1.0.0 model=v1.2.0 config=v1.2.3} checks=5
           now hour=12 weekday=mon
           release []
           expect deny Some(\"hot\")
           expect deny None
           expect deny Some(\"evaluation error in rail r\")
           expect defer None None
           expect defer Some(\"1h\") Some(\"warm\")",
    );
}

#[test]
fn now_and_release_givens() {
    check(
        &format!(
            "{GATED}
             // check:
             test \"t\" {{
               given f
               given now {{ weekday = sat }}
               given release {{ model = v2, config = missing }}
               expect allow
               expect install order model
             }}"
        ),
        "test \"t\"
           device {hw=Hw::esp32c3 phase=Phase::idle mode=Mode::boost battery=0.5 charging=false heap=1 temp=20.0 uptime=1h rssi=-60 rssi2=missing latency=missing firmware=v1.0.0 model=v1.2.0 config=v1.2.3} checks=1
           now hour=12 weekday=sat
           release [model=v2.0.0]
           expect allow
           expect install order model",
    );
}

#[test]
fn ring_givens() {
    // Left-out counts are 0; `rollout` is given separately or left to the evaluator (the ring's counts).
    check(
        &format!(
            "{GATED}
             // check:
             test \"t\" {{
               given ring {{ size = 2500, succeeded = 400, soak = 25h }}
               given rollout {{ size = 10000, failed = 3 }}
               expect promote a -> b
               expect abort a -> b \"bricked\"
               expect hold a -> b
             }}"
        ),
        "test \"t\"
               now hour=12 weekday=mon
               release []
               ring size=2500 succeeded=400 soak=1d1h
               rollout size=10000 failed=3 soak=0s
               expect promote a -> b
               expect abort a -> b Some(\"bricked\")
               expect hold a -> b",
    );
    // With `by`, the ring is the sum of its parts plus the top-level block; soak is the largest given.
    check(
        &format!(
            "{GATED}
             // check:
             test \"t\" {{
               given ring {{ size = 1, soak = 3h }} by hw {{
                 esp32c3 {{ size = 1500, succeeded = 280 }},
                 rk3566 {{ size = 300, succeeded = 60, soak = 5h }}
               }}
               expect hold a -> b
             }}"
        ),
        "test \"t\"
               now hour=12 weekday=mon
               release []
               ring size=1801 succeeded=340 soak=5h
                 hw=esp32c3 size=1500 succeeded=280 soak=0s
                 hw=rk3566 size=300 succeeded=60 soak=5h
               expect hold a -> b",
    );
}

#[test]
fn givens_no_expectation_uses() {
    check(
        &format!(
            "{GATED}
             // check:
             test \"t\" {{
               given f
               given ring {{ size = 1 }}
               expect allow
             }}"
        ),
        "warning unused_given: `given ring` is not used by any expectation of this test
         test \"t\"
           device {hw=Hw::esp32c3 phase=Phase::idle mode=Mode::boost battery=0.5 charging=false heap=1 temp=20.0 uptime=1h rssi=-60 rssi2=missing latency=missing firmware=v1.0.0 model=v1.2.0 config=v1.2.3} checks=1
           now hour=12 weekday=mon
           release []
           ring size=1 soak=0s
           expect allow",
    );
}

#[test]
fn default_planes() {
    check(
        "device {
           n: int
         }
         depends config >= v2 on model >= v1",
        "depends config{v2.0.0..=max} on model{v1.0.0..=max}",
    );
}

#[test]
fn negative_literals_fold() {
    check(
        "let a = device.heap > -9223372036854775808 and device.temp > -1.5 and device.uptime > -1h",
        "let a = (and (>.s device.heap -9223372036854775808) (>.f device.temp -1.5) (>.s device.uptime -1h))",
    );
}
