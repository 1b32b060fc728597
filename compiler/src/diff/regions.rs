//! Where two versions decide differently: cells of device-record space, enumerated and merged into
//! regions, and a random search where cells are not exact.
//!
//! In: both versions and the clauses whose structure changed. Out: one `Change` (`decisions`) holding
//! the regions whose rail (or health) decision differs, each with a witness record and both decisions.
//!
//! - **Cells.** For each field the changed clauses read (lets written out, scopes included), the
//!   constants that either version compares it with cut its domain: a cell per constant, one per open
//!   interval between constants (represented by `c + 1`, `c - 1`, or a short number inside), one per
//!   enum variant or bool, and `missing` for optional fields. Where every changed condition compares
//!   single fields with constants, each condition is constant on each cell, so trying one record per
//!   cell combination is exact.
//! - **Background.** The other fields come from a neutral record: a fixture of the package on which
//!   neither version denies, defers or rolls back, else a record made neutral from the first fixture
//!   (or from plain values) by moving one field at a time to a value of one of its cells. Random
//!   records from `sample::Sampler` are poor backgrounds: on most packages some clause fires on nearly
//!   all of them, and their extreme values make witnesses hard to read. A cell combination is tried on
//!   each background in turn (those already in more of its cells first) until one shows a difference.
//! - **Regions.** Differing combinations with the same outcome are merged into boxes, a field at a
//!   time, and each box is described per field (`battery in [25%, 30%)`).
//! - **Search.** Where a changed condition does arithmetic or compares two fields, a seeded search sets
//!   random parts of the fields read to values from both versions' samplers and to the constants of
//!   the changed conditions (halved, doubled, and their neighbours), and adds a witness for each
//!   outcome the cells did not show.
//!
//! Health decisions depend on how many checks a condition held: every outcome is compared after 1 check
//! and after each `for N checks` of the changed clauses (N identical checks of the same record).

use std::collections::{BTreeMap, BTreeSet};

use fleetgate_lang::typed::{ClauseId, DeviceValues, NowValues, Package, Value, Version};
use fleetgate_runtime::ClauseBits;
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::decision::{self, HealthVerdict, RailVerdict};
use fleetgate_runtime::interp::Cond;

use super::norm::{
    UField, UTy, UValue, all_constants, field_constants, fields_read, is_simple, record_fields,
};
use super::structure::{Kind, RuleDiff};
use super::{Change, Decision, Method, Options, Outcome, Region, Side, Witness};
use crate::layout::{DeviceRecord, Layout};
use crate::reference::{self, Env};
use crate::sample::{Rng, Sampler};

/// A record in names both versions understand; `None` values are missing.
type URec = BTreeMap<String, Option<UValue>>;

/// Regions reported per change, at most (two unrelated packages differ almost everywhere).
const MAX_REGIONS: usize = 24;
/// Regions found by search that are reported, at most.
const MAX_SEARCH_REGIONS: usize = 8;
/// Backgrounds a cell combination is tried on, at most.
const MAX_BACKGROUNDS: usize = 4;

struct Ctx<'a> {
    side: Side<'a>,
    fields: Vec<UField>,
    layout: Layout,
    bits: ClauseBits,
}

impl<'a> Ctx<'a> {
    fn new(side: Side<'a>) -> Ctx<'a> {
        Ctx {
            side,
            fields: record_fields(side.package),
            layout: Layout::of(side.package),
            bits: ClauseBits::for_policy(&side.compiled.policy),
        }
    }

    fn field(&self, name: &str) -> Option<&UField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The record `u` describes, in this version's layout. Fields `u` does not give take a plain value
    /// (missing when optional); `None` when a field in `strict` cannot be represented.
    fn record(&self, u: &URec, strict: &[String]) -> Option<DeviceRecord> {
        let n = self.layout.device_slots();
        let mut rec = DeviceRecord {
            slots: vec![0; n],
            missing: vec![0; self.layout.missing_words()],
        };
        for f in &self.fields {
            let strict = strict.contains(&f.name);
            match u.get(&f.name) {
                Some(Some(v)) => match f.to_bits(v) {
                    Some(b) => rec.slots[f.slot] = b,
                    None if strict => return None,
                    None => plain(f, &mut rec),
                },
                Some(None) if f.optional => rec.set_missing(f.slot, true),
                Some(None) if strict => return None,
                _ => plain(f, &mut rec),
            }
        }
        Some(rec)
    }

    /// The record in names; `None` when a slot holds no value of its type (or an hour out of range).
    fn urec(&self, rec: &DeviceRecord) -> Option<URec> {
        let mut u = URec::new();
        for f in &self.fields {
            let v = if rec.is_missing(f.slot) && f.optional {
                None
            } else {
                Some(f.from_bits(rec.slots[f.slot])?)
            };
            if f.name == "now.hour" && !matches!(v, Some(UValue::Int(0..=23))) {
                return None;
            }
            u.insert(f.name.clone(), v);
        }
        Some(u)
    }

    fn fixture(&self, values: &DeviceValues) -> URec {
        let pkg = self.side.package;
        let rec = crate::layout::device_record(
            pkg,
            values,
            NowValues::default(),
            &vec![None; pkg.planes.len()],
        );
        // INVARIANT: a fixture's values are values of their types.
        self.urec(&rec).unwrap_or_default()
    }

    fn rails(&mut self, rec: &DeviceRecord) -> Decision {
        let Side { package, compiled } = self.side;
        let env = Env {
            layout: self.layout,
            slots: &rec.slots,
            missing: &rec.missing,
            gate: None,
        };
        reference::run(package, compiled, FunctionKind::Rails, &env, &mut self.bits);
        let d = decision::rails(&compiled.policy, &self.bits);
        let verdict = match d.verdict {
            RailVerdict::Allow => "allow".to_string(),
            RailVerdict::Defer { secs } => format!(
                "defer {}",
                fleetgate_lang::typed::format_duration(i64::from(secs))
            ),
            RailVerdict::Deny => "deny".to_string(),
        };
        let side = &compiled.sidecar;
        let mut reasons: Vec<String> = d
            .fired()
            .filter_map(|c| side.clause(c.index()))
            .map(|i| format!("{}: {}", i.rule, i.reason))
            .collect();
        reasons.extend(
            d.erroneous()
                .filter_map(|c| side.clause(c.index()))
                .map(|i| format!("evaluation error in rail {}", i.rule)),
        );
        reasons.sort();
        reasons.dedup();
        Decision { verdict, reasons }
    }

    /// The health decision after each number of identical checks in `ks` (sorted), planes ordered as
    /// `plane_order` lists them.
    fn health(&mut self, rec: &DeviceRecord, ks: &[u32], plane_order: &[String]) -> Vec<Decision> {
        let Side { package, compiled } = self.side;
        let env = Env {
            layout: self.layout,
            slots: &rec.slots,
            missing: &rec.missing,
            gate: None,
        };
        reference::run(
            package,
            compiled,
            FunctionKind::Health,
            &env,
            &mut self.bits,
        );
        let versions = crate::testing::plane_versions(compiled, rec);
        let mut counters = vec![0u8; usize::from(compiled.artifact.n_counters)];
        let side = &compiled.sidecar;
        let mut out = Vec::new();
        let last = ks.last().copied().unwrap_or(1);
        for k in 1..=last {
            let d = decision::health(&compiled.policy, &self.bits, &mut counters, &versions);
            if !ks.contains(&k) {
                continue;
            }
            let verdict = match d.verdict {
                HealthVerdict::Healthy => "healthy".to_string(),
                HealthVerdict::Inconclusive => "inconclusive".to_string(),
                HealthVerdict::Rollback { planes } => {
                    let mut names: Vec<String> = planes
                        .iter()
                        .filter_map(|p| side.planes.get(usize::from(p)).cloned())
                        .collect();
                    names.sort_by_key(|n| {
                        plane_order
                            .iter()
                            .position(|p| p == n)
                            .unwrap_or(usize::MAX)
                    });
                    format!("rollback {}", names.join(", "))
                }
            };
            let mut reasons: Vec<String> = d
                .fired()
                .filter_map(|c| side.clause(c.index()))
                .map(|i| format!("{}: {}", i.rule, i.reason))
                .collect();
            reasons.extend(
                d.erroneous()
                    .filter_map(|c| side.clause(c.index()))
                    .map(|i| format!("evaluation error in health rule {}", i.rule)),
            );
            reasons.sort();
            reasons.dedup();
            out.push(Decision { verdict, reasons });
        }
        out
    }
}

impl Ctx<'_> {
    /// How many clauses of `kind`'s function are true or erroneous on `rec`: what a neutral background
    /// keeps at zero.
    fn noise(&mut self, rec: &DeviceRecord, kind: Kind) -> usize {
        let Side { package, compiled } = self.side;
        let function = match kind {
            Kind::Rails => FunctionKind::Rails,
            Kind::Health => FunctionKind::Health,
        };
        let env = Env {
            layout: self.layout,
            slots: &rec.slots,
            missing: &rec.missing,
            gate: None,
        };
        reference::run(package, compiled, function, &env, &mut self.bits);
        let range = compiled
            .artifact
            .functions
            .iter()
            .find(|f| f.kind == function)
            .map_or(0..0, |f| f.clause_range());
        range
            .filter_map(|c| u16::try_from(c).ok())
            .filter(|&c| self.bits.cond(fleetgate_runtime::ClauseId(c)) != Some(Cond::False))
            .count()
    }
}

fn plain(f: &UField, rec: &mut DeviceRecord) {
    if f.optional {
        rec.set_missing(f.slot, true);
    } else {
        rec.slots[f.slot] = f.default_bits();
    }
}

/// Both versions, and what to compare.
struct Pair<'a> {
    old: Ctx<'a>,
    new: Ctx<'a>,
    kind: Kind,
    /// Health: the numbers of identical checks after which decisions are compared.
    ks: Vec<u32>,
    plane_order: Vec<String>,
}

impl Pair<'_> {
    /// The outcomes that differ on `u` (empty: same decisions); `None` when a version cannot hold the
    /// record.
    fn compare(&mut self, u: &URec, strict: &[String]) -> Option<Vec<Outcome>> {
        let a = self.old.record(u, strict)?;
        let b = self.new.record(u, strict)?;
        Some(match self.kind {
            Kind::Rails => {
                let (x, y) = (self.old.rails(&a), self.new.rails(&b));
                if x == y {
                    Vec::new()
                } else {
                    vec![Outcome {
                        checks: None,
                        old: x,
                        new: y,
                    }]
                }
            }
            Kind::Health => {
                let xs = self.old.health(&a, &self.ks, &self.plane_order);
                let ys = self.new.health(&b, &self.ks, &self.plane_order);
                self.ks
                    .iter()
                    .zip(xs.into_iter().zip(ys))
                    .filter(|(_, (x, y))| x != y)
                    .map(|(&k, (old, new))| Outcome {
                        checks: Some(k),
                        old,
                        new,
                    })
                    .collect()
            }
        })
    }

    /// The cells of field `name`, cut by `constants`; `None` when the versions disagree on its kind of
    /// type (an `int` that became a `float`): such a field is left as the background has it.
    fn cells(&self, name: &str, constants: &BTreeMap<String, Vec<UValue>>) -> Option<FieldCells> {
        let (x, y) = (self.old.field(name), self.new.field(name));
        let base = |u: &UTy| std::mem::discriminant(u);
        let uty = match (x, y) {
            (Some(x), Some(y)) if base(&x.uty) != base(&y.uty) => return None,
            (Some(x), Some(y)) => match (&x.uty, &y.uty) {
                (UTy::Enum(p), UTy::Enum(q)) => {
                    let mut all = q.clone();
                    all.extend(p.iter().filter(|v| !q.contains(v)).cloned());
                    UTy::Enum(all)
                }
                _ => y.uty.clone(),
            },
            (Some(f), None) | (None, Some(f)) => f.uty.clone(),
            (None, None) => return None,
        };
        let optional = x.is_some_and(|f| f.optional) || y.is_some_and(|f| f.optional);
        let percent = x.is_some_and(|f| f.percent) || y.is_some_and(|f| f.percent);
        let consts = constants.get(name).cloned().unwrap_or_default();
        Some(cells_for(name, &uty, optional, percent, &consts))
    }

    /// `u` with every field of either version: those it lacks take plain values (missing when
    /// optional), so that a witness is a whole record.
    fn complete(&self, mut u: URec) -> URec {
        for f in self.new.fields.iter().chain(&self.old.fields) {
            if !u.contains_key(&f.name) {
                let v = if f.optional {
                    None
                } else {
                    f.from_bits(f.default_bits())
                };
                u.insert(f.name.clone(), v);
            }
        }
        u
    }

    /// Clauses true or erroneous on `u`, in both versions together (`usize::MAX` when a version cannot
    /// hold `u`).
    fn noise(&mut self, u: &URec) -> usize {
        let (Some(a), Some(b)) = (self.old.record(u, &[]), self.new.record(u, &[])) else {
            return usize::MAX;
        };
        self.old.noise(&a, self.kind) + self.new.noise(&b, self.kind)
    }

    /// A record near `start` on which no clause fires in either version, found a field at a time
    /// (each field tries the values of its cells and keeps the one that silences the most clauses);
    /// `None` when some clause still fires.
    fn neutralize(
        &mut self,
        start: URec,
        candidates: &[(String, Vec<Option<UValue>>)],
    ) -> Option<URec> {
        let mut u = start;
        let mut best = self.noise(&u);
        for _ in 0..3 {
            if best == 0 {
                break;
            }
            for (name, values) in candidates {
                for v in values {
                    let mut next = u.clone();
                    next.insert(name.clone(), v.clone());
                    let n = self.noise(&next);
                    if n < best {
                        best = n;
                        u = next;
                    }
                }
            }
        }
        (best == 0).then_some(u)
    }

    /// Whether nothing fires for `u` in either version.
    fn neutral(&mut self, u: &URec) -> bool {
        let (Some(a), Some(b)) = (self.old.record(u, &[]), self.new.record(u, &[])) else {
            return false;
        };
        match self.kind {
            Kind::Rails => {
                let quiet = |d: &Decision| d.verdict == "allow" && d.reasons.is_empty();
                quiet(&self.old.rails(&a)) && quiet(&self.new.rails(&b))
            }
            Kind::Health => {
                let ks = [self.ks.last().copied().unwrap_or(1)];
                let quiet = |d: &[Decision]| {
                    d.iter()
                        .all(|d| d.verdict == "healthy" && d.reasons.is_empty())
                };
                let (x, y) = (
                    self.old.health(&a, &ks, &self.plane_order),
                    self.new.health(&b, &ks, &self.plane_order),
                );
                quiet(&x) && quiet(&y)
            }
        }
    }
}

/// How a cell appears in a region's description.
#[derive(Clone, Debug)]
pub(super) enum Desc {
    Missing,
    Is(UValue),
    /// An open interval between two constants (`None`: unbounded).
    Open(Option<UValue>, Option<UValue>),
}

#[derive(Clone, Debug)]
pub(super) struct Cell {
    /// The value tried (`None`: missing).
    pub(super) value: Option<UValue>,
    desc: Desc,
}

impl Cell {
    /// Whether `v` lies in this cell.
    fn contains(&self, v: &Option<UValue>) -> bool {
        match (&self.desc, v) {
            (Desc::Missing, None) => true,
            (Desc::Is(x), Some(y)) => x == y,
            (Desc::Open(lo, hi), Some(y)) => {
                lo.as_ref().is_none_or(|l| less(l, y) == Some(true))
                    && hi.as_ref().is_none_or(|h| less(y, h) == Some(true))
            }
            _ => false,
        }
    }
}

/// `a < b` for numbers, versions and durations; `None` for values that do not compare.
fn less(a: &UValue, b: &UValue) -> Option<bool> {
    match (a, b) {
        (UValue::Float(x), UValue::Float(y)) => Some(x < y),
        (UValue::Float(x), UValue::Int(y)) => Some(*x < *y as f64),
        (UValue::Int(x), UValue::Float(y)) => Some((*x as f64) < *y),
        _ => Some(to_point(a)? < to_point(b)?),
    }
}

/// The record tried for a combination of cells on a background: the background's own value where it
/// lies in the cell (fewer changes to read in a witness), else the cell's value.
fn build(fields: &[FieldCells], combo: &[usize], bg: &URec) -> URec {
    let mut u = bg.clone();
    for (f, &c) in fields.iter().zip(combo) {
        let cell = &f.cells[c];
        if !bg.get(&f.name).is_some_and(|v| cell.contains(v)) {
            u.insert(f.name.clone(), cell.value.clone());
        }
    }
    u
}

/// How many of the combination's cells the background already lies in.
fn fit(fields: &[FieldCells], combo: &[usize], bg: &URec) -> usize {
    fields
        .iter()
        .zip(combo)
        .filter(|(f, c)| bg.get(&f.name).is_some_and(|v| f.cells[**c].contains(v)))
        .count()
}

pub(super) struct FieldCells {
    pub(super) name: String,
    percent: bool,
    /// Whether values are integers (int, duration, version): intervals are shown closed.
    discrete: bool,
    pub(super) cells: Vec<Cell>,
}

/// A point of a discrete domain: ints and durations as themselves, versions packed.
fn to_point(v: &UValue) -> Option<i128> {
    match v {
        UValue::Int(i) | UValue::Duration(i) => Some(i128::from(*i)),
        UValue::Version(v) => Some(i128::from(v.packed())),
        _ => None,
    }
}

fn from_point(uty: &UTy, p: i128) -> UValue {
    match uty {
        UTy::Duration => UValue::Duration(p as i64),
        UTy::Version => UValue::Version(Version::from_packed(p as u64)),
        _ => UValue::Int(p as i64),
    }
}

/// A short decimal strictly between `lo` and `hi`, preferring round numbers near the middle.
pub(super) fn nice_between(lo: f64, hi: f64) -> Option<f64> {
    if lo.is_nan() || hi.is_nan() || lo >= hi || lo.next_up() >= hi {
        return None;
    }
    let mid = lo / 2.0 + hi / 2.0;
    let inside = |c: f64| lo < c && c < hi;
    for k in (1..=15).rev() {
        let step = 10f64.powi(k);
        let c = (mid / step).round() * step;
        if inside(c) {
            return Some(if c == 0.0 { 0.0 } else { c });
        }
    }
    for d in 0..=17 {
        if let Ok(c) = format!("{mid:.d$}").parse::<f64>()
            && inside(c)
        {
            return Some(if c == 0.0 { 0.0 } else { c });
        }
    }
    inside(mid).then_some(mid)
}

/// A version below `c`, no lower than `floor`: `v1.3.0` below `v1.4.0`.
fn version_below(c: u64, floor: u64) -> u64 {
    let v = Version::from_packed(c);
    let candidate = if v.patch > 0 || v.minor == 0 && v.major == 0 {
        c.saturating_sub(1)
    } else if v.minor > 0 {
        Version {
            major: v.major,
            minor: v.minor - 1,
            patch: 0,
        }
        .packed()
    } else {
        Version {
            major: v.major - 1,
            minor: 0,
            patch: 0,
        }
        .packed()
    };
    candidate.max(floor)
}

/// The cells of one field.
pub(super) fn cells_for(
    name: &str,
    uty: &UTy,
    optional: bool,
    percent: bool,
    constants: &[UValue],
) -> FieldCells {
    let mut cells = Vec::new();
    if optional {
        cells.push(Cell {
            value: None,
            desc: Desc::Missing,
        });
    }
    let mut discrete = false;
    match uty {
        UTy::Bool => {
            for b in [false, true] {
                cells.push(Cell {
                    value: Some(UValue::Bool(b)),
                    desc: Desc::Is(UValue::Bool(b)),
                });
            }
        }
        UTy::Enum(variants) => {
            for v in variants {
                let u = UValue::Enum(v.clone());
                cells.push(Cell {
                    value: Some(u.clone()),
                    desc: Desc::Is(u),
                });
            }
        }
        UTy::Int | UTy::Duration | UTy::Version => {
            discrete = true;
            let (dmin, dmax): (i128, i128) = match (uty, name) {
                (UTy::Version, _) => (0, (1 << 48) - 1),
                (_, "now.hour") => (0, 23),
                _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
            };
            let mut points: Vec<i128> = Vec::new();
            for c in constants {
                match c {
                    UValue::Float(f) if f.is_finite() => {
                        points.push(f.floor() as i128);
                        points.push(f.ceil() as i128);
                    }
                    other => points.extend(to_point(other)),
                }
            }
            points.retain(|p| (dmin..=dmax).contains(p));
            points.sort_unstable();
            points.dedup();
            let mut prev: Option<i128> = None;
            for &c in &points {
                let lo = prev.map_or(dmin, |p| p + 1);
                if lo < c {
                    let rep = match (prev, uty) {
                        (Some(p), _) => p + 1,
                        (None, UTy::Version) => i128::from(version_below(c as u64, lo as u64)),
                        (None, _) => c - 1,
                    };
                    let desc =
                        Desc::Open(prev.map(|p| from_point(uty, p)), Some(from_point(uty, c)));
                    cells.push(Cell {
                        value: Some(from_point(uty, rep)),
                        desc,
                    });
                }
                cells.push(Cell {
                    value: Some(from_point(uty, c)),
                    desc: Desc::Is(from_point(uty, c)),
                });
                prev = Some(c);
            }
            let lo = prev.map_or(dmin, |p| p + 1);
            if prev.is_none_or(|p| p < dmax) {
                let rep = match prev {
                    Some(p) => p + 1,
                    None if matches!(uty, UTy::Version) => i128::from(
                        Version {
                            major: 1,
                            minor: 0,
                            patch: 0,
                        }
                        .packed(),
                    ),
                    None => 0i128.clamp(lo, dmax),
                };
                let desc = Desc::Open(prev.map(|p| from_point(uty, p)), None);
                cells.push(Cell {
                    value: Some(from_point(uty, rep)),
                    desc,
                });
            }
        }
        UTy::Float => {
            let mut points: Vec<f64> = constants
                .iter()
                .filter_map(|c| match c {
                    UValue::Float(f) => Some(*f),
                    UValue::Int(i) => Some(*i as f64),
                    _ => None,
                })
                .filter(|f| f.is_finite())
                .collect();
            points.sort_by(f64::total_cmp);
            points.dedup();
            let mut prev: Option<f64> = None;
            for &c in &points {
                let lo = prev.unwrap_or(c - c.abs().max(1.0));
                if let Some(rep) = nice_between(lo, c) {
                    cells.push(Cell {
                        value: Some(UValue::Float(rep)),
                        desc: Desc::Open(prev.map(UValue::Float), Some(UValue::Float(c))),
                    });
                }
                cells.push(Cell {
                    value: Some(UValue::Float(c)),
                    desc: Desc::Is(UValue::Float(c)),
                });
                prev = Some(c);
            }
            let rep = match prev {
                Some(p) => nice_between(p, p + p.abs().max(1.0)).unwrap_or(p.next_up()),
                None => 0.0,
            };
            cells.push(Cell {
                value: Some(UValue::Float(rep)),
                desc: Desc::Open(prev.map(UValue::Float), None),
            });
        }
    }
    FieldCells {
        name: name.to_string(),
        percent,
        discrete,
        cells,
    }
}

/// A field's name as regions and witnesses show it: device fields without `device.`.
fn short(name: &str) -> &str {
    name.strip_prefix("device.").unwrap_or(name)
}

impl FieldCells {
    fn show(&self, v: &UValue) -> String {
        v.show(self.percent)
    }

    /// The constraint a set of cells (sorted indices) puts on the field; `None` when it is every cell.
    pub(super) fn describe(&self, set: &[usize]) -> Option<String> {
        if set.len() == self.cells.len() {
            return None;
        }
        let name = short(&self.name);
        let mut parts: Vec<String> = Vec::new();
        let missing = set
            .iter()
            .any(|&i| matches!(self.cells[i].desc, Desc::Missing));
        let values: Vec<usize> = set
            .iter()
            .copied()
            .filter(|&i| !matches!(self.cells[i].desc, Desc::Missing))
            .collect();
        let all_values = values.len()
            == self
                .cells
                .iter()
                .filter(|c| !matches!(c.desc, Desc::Missing))
                .count();
        if all_values && !values.is_empty() {
            parts.push("reported".into());
        } else if self.cells.iter().all(|c| {
            matches!(
                c.desc,
                Desc::Missing | Desc::Is(UValue::Bool(_) | UValue::Enum(_))
            )
        }) {
            let shown: Vec<String> = values
                .iter()
                .filter_map(|&i| match &self.cells[i].desc {
                    Desc::Is(v) => Some(self.show(v)),
                    _ => None,
                })
                .collect();
            match shown.as_slice() {
                [] => {}
                [one] => parts.push(format!("= {one}")),
                many => parts.push(format!("in {{{}}}", many.join(", "))),
            }
        } else {
            // Runs of adjacent cells are intervals.
            let mut runs: Vec<(usize, usize)> = Vec::new();
            for &i in &values {
                match runs.last_mut() {
                    Some((_, end)) if *end + 1 == i => *end = i,
                    _ => runs.push((i, i)),
                }
            }
            for (s, e) in runs {
                parts.push(self.interval(&self.cells[s].desc, &self.cells[e].desc));
            }
        }
        if missing {
            parts.push("missing".into());
        }
        if parts.is_empty() {
            return None;
        }
        Some(format!("{name} {}", parts.join(" or ")))
    }

    /// From the lower end of cell `from` to the upper end of cell `to`.
    fn interval(&self, from: &Desc, to: &Desc) -> String {
        // (bound, inclusive); `None`: unbounded.
        let lower = match from {
            Desc::Is(v) => Some((v.clone(), true)),
            Desc::Open(lo, _) => lo.clone().map(|v| (v, false)),
            Desc::Missing => None,
        };
        let upper = match to {
            Desc::Is(v) => Some((v.clone(), true)),
            Desc::Open(_, hi) => hi.clone().map(|v| (v, false)),
            Desc::Missing => None,
        };
        // Integers: `(3, 7)` is `[4, 6]`.
        let close = |b: Option<(UValue, bool)>, up: bool| -> Option<(UValue, bool)> {
            match b {
                Some((v, false)) if self.discrete => {
                    let p = to_point(&v)?;
                    let uty = match v {
                        UValue::Duration(_) => UTy::Duration,
                        UValue::Version(_) => UTy::Version,
                        _ => UTy::Int,
                    };
                    Some((from_point(&uty, if up { p - 1 } else { p + 1 }), true))
                }
                other => other,
            }
        };
        let (lower, upper) = (close(lower, false), close(upper, true));
        match (lower, upper) {
            (Some((l, true)), Some((u, true))) if l == u => format!("= {}", self.show(&l)),
            (None, None) => "any value".into(),
            (None, Some((u, inc))) => format!("{} {}", if inc { "<=" } else { "<" }, self.show(&u)),
            (Some((l, inc)), None) => format!("{} {}", if inc { ">=" } else { ">" }, self.show(&l)),
            (Some((l, li)), Some((u, ui))) => {
                format!(
                    "in {}{}, {}{}",
                    if li { "[" } else { "(" },
                    self.show(&l),
                    self.show(&u),
                    if ui { "]" } else { ")" }
                )
            }
        }
    }
}

/// A record made of a background and the values of some cells.
struct Background {
    name: String,
    record: URec,
    /// A fixture of the package: witnesses name it and list only what they change.
    fixture: bool,
}

/// Every `(old, new)` pair of changed clauses as clause ids per version.
fn split(changed: &[(Option<ClauseId>, Option<ClauseId>)]) -> (Vec<ClauseId>, Vec<ClauseId>) {
    (
        changed.iter().filter_map(|c| c.0).collect(),
        changed.iter().filter_map(|c| c.1).collect(),
    )
}

/// The scope and condition of a clause.
fn parts(pkg: &Package, id: ClauseId) -> Vec<&fleetgate_lang::typed::Expr> {
    pkg.scope_of(id)
        .into_iter()
        .chain(pkg.clause(id).cond.as_ref())
        .collect()
}

/// The `decisions` change of rails or health rules.
pub fn decisions(
    old: Side<'_>,
    new: Side<'_>,
    kind: Kind,
    diff: &RuleDiff,
    options: &Options,
) -> Change {
    let (old_ids, new_ids) = split(&diff.changed);
    let (a, b) = (old.package, new.package);

    // Fields the changed clauses read, and whether cells are exact for them.
    let mut read: Vec<String> = Vec::new();
    let mut simple = true;
    for (pkg, ids) in [(b, &new_ids), (a, &old_ids)] {
        for &id in ids {
            for e in parts(pkg, id) {
                fields_read(pkg, e, &mut read);
                simple &= is_simple(pkg, e);
            }
        }
    }
    // Constants every clause of this kind compares each field with, in either version.
    let mut constants: BTreeMap<String, Vec<UValue>> = BTreeMap::new();
    for pkg in [a, b] {
        for (i, c) in pkg.clauses.iter().enumerate() {
            let of_kind = matches!(
                (c.rule, kind),
                (fleetgate_lang::typed::RuleRef::Rail(_), Kind::Rails)
                    | (fleetgate_lang::typed::RuleRef::Health(_), Kind::Health)
            );
            if !of_kind {
                continue;
            }
            let mut found: Vec<(String, Value)> = Vec::new();
            for e in parts(pkg, ClauseId(i as u32)) {
                field_constants(pkg, e, &mut found);
            }
            for (name, v) in found {
                constants.entry(name).or_default().push(UValue::of(pkg, v));
            }
        }
    }

    let mut pair = Pair {
        old: Ctx::new(old),
        new: Ctx::new(new),
        kind,
        ks: vec![1],
        plane_order: b.planes.iter().map(|p| p.name.clone()).collect(),
    };
    if kind == Kind::Health {
        let mut ks: BTreeSet<u32> = BTreeSet::from([1]);
        for &id in &old_ids {
            ks.insert(u32::from(a.clause(id).checks.unwrap_or(1)));
        }
        for &id in &new_ids {
            ks.insert(u32::from(b.clause(id).checks.unwrap_or(1)));
        }
        pair.ks = ks.into_iter().collect();
    }

    // The cells of each field read (a field whose type differs between the versions stays background).
    let fields: Vec<FieldCells> = read
        .iter()
        .filter_map(|name| pair.cells(name, &constants))
        .collect();
    let strict: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();

    // Values a neutral background may take: every field's cells, and a few plain numbers for fields
    // only arithmetic reads (a divisor of 0 is an error).
    let mut names: Vec<String> = pair.new.fields.iter().map(|f| f.name.clone()).collect();
    names.extend(
        pair.old
            .fields
            .iter()
            .map(|f| f.name.clone())
            .filter(|n| !pair.new.fields.iter().any(|f| f.name == *n)),
    );
    let neutral_values: Vec<(String, Vec<Option<UValue>>)> = names
        .iter()
        .filter_map(|name| {
            let cells = pair.cells(name, &constants)?;
            let mut values: Vec<Option<UValue>> =
                cells.cells.iter().map(|c| c.value.clone()).collect();
            for c in &cells.cells {
                if let Desc::Open(None, None) = c.desc {
                    match c.value {
                        Some(UValue::Int(_)) => {
                            values.extend([1, 100, 10_000].map(|i| Some(UValue::Int(i))))
                        }
                        Some(UValue::Float(_)) => {
                            values.extend([1.0, 100.0].map(|f| Some(UValue::Float(f))))
                        }
                        Some(UValue::Duration(_)) => {
                            values.extend([60, 3_600].map(|d| Some(UValue::Duration(d))))
                        }
                        _ => {}
                    }
                }
            }
            Some((name.clone(), values))
        })
        .collect();

    let backgrounds = backgrounds(&mut pair, &neutral_values);

    // Enumerate cell combinations (or a seeded sample of them when there are too many).
    let sizes: Vec<usize> = fields.iter().map(|f| f.cells.len()).collect();
    let total = sizes
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .unwrap_or(usize::MAX);
    let complete = total <= options.max_cells;
    let mut combos: Vec<Vec<usize>> = Vec::new();
    if complete {
        for mut k in 0..total {
            let mut t = vec![0; sizes.len()];
            for (i, &n) in sizes.iter().enumerate().rev() {
                t[i] = k % n;
                k /= n;
            }
            combos.push(t);
        }
    } else {
        let mut rng = Rng::new(options.seed ^ 0xce11);
        let mut seen = BTreeSet::new();
        for _ in 0..options.max_cells {
            let t: Vec<usize> = sizes
                .iter()
                .map(|&n| rng.below(n as u64) as usize)
                .collect();
            if seen.insert(t.clone()) {
                combos.push(t);
            }
        }
    }
    let mut tried = 0usize;
    let mut one_sided = 0usize;
    // Differing combinations by outcome, and the background each was tried on. Every background is
    // neutral, so one region may span several: a region is about the fields read.
    let mut found: BTreeMap<Vec<Outcome>, Vec<Vec<usize>>> = BTreeMap::new();
    let mut background_of: BTreeMap<Vec<usize>, usize> = BTreeMap::new();
    for t in &combos {
        // Backgrounds that already lie in more of the cells first: their witnesses change less.
        let mut order: Vec<usize> = (0..backgrounds.len()).collect();
        order.sort_by_key(|&bi| (usize::MAX - fit(&fields, t, &backgrounds[bi].record), bi));
        for bi in order {
            let u = build(&fields, t, &backgrounds[bi].record);
            tried += 1;
            let Some(outcomes) = pair.compare(&u, &strict) else {
                one_sided += 1;
                break;
            };
            if !outcomes.is_empty() {
                found.entry(outcomes).or_default().push(t.clone());
                background_of.insert(t.clone(), bi);
                break;
            }
        }
    }

    let method = if simple && complete {
        Method::Exact
    } else {
        Method::Cells
    };
    let mut regions: Vec<(Vec<usize>, Region)> = Vec::new();
    for (outcomes, combos) in &found {
        for boxed in merge(combos, fields.len()) {
            let first: Vec<usize> = boxed.iter().map(|s| s[0]).collect();
            let constraints: Vec<String> = fields
                .iter()
                .zip(&boxed)
                .filter_map(|(f, s)| f.describe(s))
                .collect();
            // INVARIANT: a box only holds combinations that were found, so its first one was.
            let bg = &backgrounds[background_of.get(&first).copied().unwrap_or(0)];
            let record = build(&fields, &first, &bg.record);
            let witness = witness(&pair, bg, &record);
            regions.push((
                first,
                Region {
                    method,
                    constraints,
                    witness,
                    outcomes: outcomes.clone(),
                },
            ));
        }
    }
    regions.sort_by(|x, y| x.0.cmp(&y.0));
    let mut regions: Vec<Region> = regions.into_iter().map(|(_, r)| r).collect();

    // Random search where cells are not exact.
    let mut searched = 0usize;
    if !simple {
        searched = options.search_records;
        let known: BTreeSet<Vec<Outcome>> = found.keys().cloned().collect();
        let mut numbers: Vec<Value> = Vec::new();
        for (pkg, ids) in [(b, &new_ids), (a, &old_ids)] {
            for &id in ids {
                for e in parts(pkg, id) {
                    all_constants(pkg, e, &mut numbers);
                }
            }
        }
        let numbers: Vec<UValue> = numbers.into_iter().map(|v| UValue::of(b, v)).collect();
        for r in search(&mut pair, &strict, &numbers, &backgrounds, &known, options) {
            regions.push(r);
        }
    }

    let total_regions = regions.len();
    regions.truncate(MAX_REGIONS);

    let area = kind.area();
    let what = match kind {
        Kind::Rails => "device records",
        Kind::Health => "device records (health checks)",
    };
    let mut change = Change::new(
        area,
        "decisions",
        if regions.is_empty() {
            format!("no {what} found whose decision differs")
        } else {
            let n = total_regions;
            format!(
                "{} in {n} region{} of {what}",
                if n == 1 {
                    "the decision differs"
                } else {
                    "decisions differ"
                },
                if n == 1 { "" } else { "s" }
            )
        },
    );
    let field_names: Vec<&str> = fields.iter().map(|f| short(&f.name)).collect();
    let mut note = format!(
        "{} cell combination{} of {} tried on {} background{} ({} records)",
        combos.len(),
        if combos.len() == 1 { "" } else { "s" },
        if field_names.is_empty() {
            "no field".to_string()
        } else {
            field_names.join(", ")
        },
        backgrounds.len(),
        if backgrounds.len() == 1 { "" } else { "s" },
        tried
    );
    if !complete {
        note.push_str(&format!(
            "; {total} combinations exist, so only a sample was tried"
        ));
    }
    if one_sided > 0 {
        note.push_str(&format!(
            "; {one_sided} combination{} cannot be given to one of the versions (a value its schema does not have)",
            if one_sided == 1 { "" } else { "s" }
        ));
    }
    if !simple {
        note.push_str(&format!(
            "; a changed condition is not a comparison of single fields with constants, so {searched} random records were searched too"
        ));
    }
    if total_regions > MAX_REGIONS {
        note.push_str(&format!(
            "; the first {MAX_REGIONS} of {total_regions} regions are shown"
        ));
    }
    change.note = Some(note);
    change.regions = regions;
    change
}

/// Merges combinations (all with one outcome) into boxes: per field a sorted set of cells.
pub(super) fn merge(combos: &[Vec<usize>], n: usize) -> Vec<Vec<Vec<usize>>> {
    let mut boxes: Vec<Vec<Vec<usize>>> = combos
        .iter()
        .map(|t| t.iter().map(|&c| vec![c]).collect())
        .collect();
    loop {
        let before = boxes.len();
        for f in 0..n {
            let mut buckets: BTreeMap<Vec<Vec<usize>>, BTreeSet<usize>> = BTreeMap::new();
            for b in &boxes {
                let mut key = b.clone();
                key[f] = Vec::new();
                buckets.entry(key).or_default().extend(b[f].iter().copied());
            }
            boxes = buckets
                .into_iter()
                .map(|(mut key, set)| {
                    key[f] = set.into_iter().collect();
                    key
                })
                .collect();
        }
        if boxes.len() == before {
            break;
        }
    }
    boxes.sort();
    boxes
}

/// A witness: the record in both versions' field order, and what differs from its background.
fn witness(pair: &Pair<'_>, background: &Background, record: &URec) -> Witness {
    let bg = &background.record;
    let mut names: Vec<String> = pair.new.fields.iter().map(|f| f.name.clone()).collect();
    for f in &pair.old.fields {
        if !names.contains(&f.name) {
            names.push(f.name.clone());
        }
    }
    let record: Vec<(String, Option<UValue>)> = names
        .iter()
        .filter_map(|n| record.get(n).map(|v| (n.clone(), v.clone())))
        .collect();
    let overrides = record
        .iter()
        .filter(|(n, v)| bg.get(n) != Some(v))
        .map(|(n, _)| n.clone())
        .collect();
    let mut percent: Vec<String> = pair
        .new
        .fields
        .iter()
        .chain(&pair.old.fields)
        .filter(|f| f.percent)
        .map(|f| f.name.clone())
        .collect();
    percent.sort();
    percent.dedup();
    Witness {
        whole: !background.fixture,
        background: background.name.clone(),
        overrides,
        percent,
        record,
    }
}

/// Neutral records to set cells on: the fixtures on which nothing fires (new version's, then the old
/// one's), else a record made neutral from the first fixture.
fn backgrounds(
    pair: &mut Pair<'_>,
    neutral_values: &[(String, Vec<Option<UValue>>)],
) -> Vec<Background> {
    let mut candidates: Vec<Background> = Vec::new();
    for ctx in [&pair.new, &pair.old] {
        for fx in &ctx.side.package.fixtures {
            if !candidates.iter().any(|c| c.name == fx.name) {
                candidates.push(Background {
                    name: fx.name.clone(),
                    record: pair.complete(ctx.fixture(&fx.values)),
                    fixture: true,
                });
            }
        }
    }
    let mut out: Vec<Background> = Vec::new();
    for c in &candidates {
        if out.len() < MAX_BACKGROUNDS && pair.neutral(&c.record) {
            out.push(Background {
                name: c.name.clone(),
                record: c.record.clone(),
                fixture: true,
            });
        }
    }
    if out.is_empty() {
        // No fixture is neutral: silence the clauses of the first fixture (or of a plain record) by
        // moving one field at a time to a value of one of its cells.
        let start = candidates
            .first()
            .map_or_else(|| pair.complete(URec::new()), |c| c.record.clone());
        if let Some(u) = pair.neutralize(start, neutral_values) {
            out.push(Background {
                name: "neutral record".into(),
                record: u,
                fixture: false,
            });
        }
    }
    if out.is_empty() {
        // Nothing is neutral: the first fixture, or an empty record (plain values everywhere).
        let plain = Background {
            name: "plain record".into(),
            record: pair.complete(URec::new()),
            fixture: false,
        };
        out.push(candidates.into_iter().next().unwrap_or(plain));
    }
    out
}

/// How far from everyday values a record is: huge or non-finite numbers make poor witnesses.
fn nastiness(u: &URec) -> usize {
    u.values()
        .filter(|v| match v {
            Some(UValue::Float(f)) => !f.is_finite() || f.abs() > 1e9,
            Some(UValue::Int(i)) | Some(UValue::Duration(i)) => i.unsigned_abs() > 1_000_000_000,
            _ => false,
        })
        .count()
}

/// Values worth trying for each field in a search: the constants of the changed conditions (wherever
/// they stand, so also inside arithmetic), their neighbours, and half and twice each, in the field's
/// type.
fn search_pool(pair: &Pair<'_>, strict: &[String], constants: &[UValue]) -> Vec<Vec<UValue>> {
    strict
        .iter()
        .map(|name| {
            let Some(f) = pair.new.field(name).or_else(|| pair.old.field(name)) else {
                return Vec::new();
            };
            let mut out = Vec::new();
            for c in constants {
                let x = match c {
                    UValue::Int(i) | UValue::Duration(i) => *i as f64,
                    UValue::Float(x) => *x,
                    _ => continue,
                };
                for y in [x, x / 2.0, x * 2.0] {
                    match (&f.uty, c) {
                        (UTy::Int, UValue::Int(_) | UValue::Float(_))
                            if y.is_finite() && y.abs() < 9.0e18 =>
                        {
                            let y = y.round() as i64;
                            out.extend(
                                [y.saturating_sub(1), y, y.saturating_add(1)].map(UValue::Int),
                            );
                        }
                        (UTy::Float, UValue::Int(_) | UValue::Float(_)) => {
                            out.extend([y.next_down(), y, y.next_up()].map(UValue::Float));
                        }
                        (UTy::Duration, UValue::Duration(_)) if y.abs() < 9.0e18 => {
                            let y = y.round() as i64;
                            out.extend(
                                [y.saturating_sub(1), y, y.saturating_add(1)].map(UValue::Duration),
                            );
                        }
                        _ => {}
                    }
                }
            }
            out.sort_by_key(|v| format!("{v:?}"));
            out.dedup();
            out
        })
        .collect()
}

/// Random values of the fields read (`strict`) on the backgrounds, on which the versions decide
/// differently: one witness per outcome not in `known`, the most everyday-looking one found.
fn search(
    pair: &mut Pair<'_>,
    strict: &[String],
    constants: &[UValue],
    backgrounds: &[Background],
    known: &BTreeSet<Vec<Outcome>>,
    options: &Options,
) -> Vec<Region> {
    let pool = search_pool(pair, strict, constants);
    let samplers = [
        Sampler::new(pair.new.side.package),
        Sampler::new(pair.old.side.package),
    ];
    let mut rng = Rng::new(options.seed);
    let mut best: BTreeMap<Vec<Outcome>, Found> = BTreeMap::new();
    for i in 0..options.search_records {
        let which = i % 2;
        let bi = (i / 2) % backgrounds.len().max(1);
        let Some(bg) = backgrounds.get(bi) else { break };
        let rec = samplers[which].device(&mut rng);
        let ctx = if which == 0 { &pair.new } else { &pair.old };
        let Some(drawn) = ctx.urec(&rec) else {
            continue;
        };
        // Change a random part of the fields (at least one), so that one change's witness is not
        // blurred by another's.
        let mut pick: Vec<bool> = strict.iter().map(|_| rng.percent(50)).collect();
        if !pick.is_empty() && !pick.iter().any(|p| *p) {
            let k = rng.below(pick.len() as u64) as usize;
            pick[k] = true;
        }
        let mut u = bg.record.clone();
        let mut changed = URec::new();
        for (k, name) in strict.iter().enumerate() {
            if !pick[k] {
                continue;
            }
            let v = if !pool[k].is_empty() && rng.percent(50) {
                Some(pool[k][rng.below(pool[k].len() as u64) as usize].clone())
            } else {
                match drawn.get(name) {
                    Some(v) => v.clone(),
                    None => continue,
                }
            };
            u.insert(name.clone(), v.clone());
            changed.insert(name.clone(), v);
        }
        let Some(outcomes) = pair.compare(&u, strict) else {
            continue;
        };
        if outcomes.is_empty() || known.contains(&outcomes) {
            continue;
        }
        let moved = changed
            .iter()
            .filter(|(n, v)| bg.record.get(*n) != Some(v))
            .count();
        let score = (moved, nastiness(&changed));
        if best.get(&outcomes).is_none_or(|f| score < f.score) {
            best.insert(
                outcomes,
                Found {
                    score,
                    draw: i,
                    background: bi,
                    record: u,
                },
            );
        }
    }
    let mut found: Vec<(Vec<Outcome>, Found)> = best.into_iter().collect();
    found.sort_by_key(|(_, f)| f.draw);
    found
        .into_iter()
        .take(MAX_SEARCH_REGIONS)
        .map(|(outcomes, f)| Region {
            method: Method::Search,
            constraints: Vec::new(),
            witness: witness(pair, &backgrounds[f.background], &f.record),
            outcomes,
        })
        .collect()
}

/// The best witness a search found for one outcome so far.
struct Found {
    /// Fields changed from the background, then how unusual their values are: smaller reads better.
    score: (usize, usize),
    /// Which draw found it (witnesses are listed in the order found).
    draw: usize,
    background: usize,
    record: URec,
}
