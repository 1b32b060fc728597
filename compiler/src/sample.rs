//! Random records aimed at the edges of a package's conditions, for differential tests and benchmarks.
//!
//! In: a typed package and a seed. Out: device records and gate records. Each field draws from a pool
//! made of the constants the package compares it with (and their neighbours: `c - 1`, `c`, `c + 1`, the
//! next floats), values that break arithmetic (0, ±1, `i64::MIN`, `i64::MAX`, huge floats, and
//! occasionally NaN and infinities) and plain random values; optional fields are missing often. So
//! boundaries, missing telemetry, overflow and division by zero all come up many times in a few
//! thousand records. The generator is a self-contained SplitMix64: the same seed gives the same records
//! on every platform and with every version of `rand`.

use std::collections::BTreeMap;

use fleetgate_lang::typed::{Expr, ExprKind, FieldRef, Package, RingCounts, Ty, Value};
use fleetgate_runtime::ring::GATE_SLOTS;

use crate::layout::{self, DeviceRecord, Layout};

/// SplitMix64: tiny, fast, and good enough to pick test values.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// True with probability `p` (in percent).
    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        Some(items[self.below(items.len() as u64) as usize])
    }
}

/// Per device-record slot: the values worth trying.
pub struct Sampler {
    layout: Layout,
    types: Vec<(Ty, bool)>,
    pools: Vec<Vec<u64>>,
    variants: Vec<u16>,
}

impl Sampler {
    pub fn new(pkg: &Package) -> Sampler {
        let layout = Layout::of(pkg);
        let mut constants: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
        let mut visit = |e: &Expr| collect(e, &layout, &mut constants);
        for l in &pkg.lets {
            walk(&l.expr, &mut visit);
        }
        for r in pkg.rails.iter().chain(&pkg.healths) {
            if let Some(s) = &r.scope {
                walk(s, &mut visit);
            }
        }
        for c in &pkg.clauses {
            if let Some(e) = &c.cond {
                walk(e, &mut visit);
            }
        }
        for inc in &pkg.incompatibles {
            walk(&inc.cond, &mut visit);
        }
        if let Some(r) = &pkg.rollout {
            for ring in &r.rings {
                if let Some(f) = &ring.filter {
                    walk(f, &mut visit);
                }
            }
        }
        for d in &pkg.depends {
            for p in [&d.dependent, &d.dependency] {
                let slot = layout.slot(FieldRef::Plane(p.plane));
                for &(lo, hi) in &p.set.0 {
                    for v in [lo, hi] {
                        constants.entry(slot).or_default().push(Value::Version(
                            fleetgate_lang::typed::Version::from_packed(v),
                        ));
                    }
                }
            }
        }
        let mut types = Vec::new();
        let mut pools = Vec::new();
        let mut variants = Vec::new();
        for slot in 0..layout.device_slots() {
            let Some(field) = layout.device_field(slot) else {
                continue;
            };
            let (ty, optional) = layout::field_type(pkg, field);
            types.push((ty, optional));
            variants.push(match ty {
                Ty::Enum(e) => pkg.enum_(e).variants.len() as u16,
                _ => 0,
            });
            let mut pool: Vec<u64> = Vec::new();
            for v in constants.get(&slot).into_iter().flatten() {
                pool.extend(neighbours(*v));
            }
            pool.extend(specials(ty));
            pool.sort_unstable();
            pool.dedup();
            pools.push(pool);
        }
        Sampler {
            layout,
            types,
            pools,
            variants,
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// One random device record.
    pub fn device(&self, rng: &mut Rng) -> DeviceRecord {
        let n = self.layout.device_slots();
        let mut rec = DeviceRecord {
            slots: vec![0; n],
            missing: vec![0; self.layout.missing_words()],
        };
        for slot in 0..n {
            let (ty, optional) = self.types[slot];
            if optional && rng.percent(25) {
                rec.set_missing(slot, true);
                // A missing slot's bits are garbage: engines must not look at them.
                rec.slots[slot] = rng.next_u64();
                continue;
            }
            rec.slots[slot] = match rng.pick(&self.pools[slot]) {
                Some(v) if rng.percent(75) => v,
                _ => random_of(ty, self.variants[slot], rng),
            };
        }
        rec
    }

    /// One random gate record (ring and rollout counts with their derived fields).
    pub fn gate(&self, rng: &mut Rng) -> [u64; GATE_SLOTS] {
        let counts = |rng: &mut Rng| {
            // Huge counts make gate arithmetic overflow now and then.
            let scale = [0u64, 1, 10, 100, 1000, 100_000, 1 << 62][rng.below(7) as usize];
            let mut c = RingCounts::default();
            for f in fleetgate_lang::typed::RingField::ALL {
                if let Some(v) = c.get_mut(f) {
                    *v = if scale == 0 { 0 } else { rng.below(scale + 1) };
                }
            }
            c.soak_secs = [0i64, 3600, 86_400, 90_000, 172_800, 1_000_000][rng.below(6) as usize];
            c
        };
        let ring = counts(rng);
        let rollout = counts(rng);
        layout::gate_record(&ring, &rollout)
    }
}

fn walk(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    match &e.kind {
        ExprKind::Const(_) | ExprKind::Field(_) | ExprKind::Known(_) | ExprKind::Let(_) => {}
        ExprKind::Coalesce(_, d) => walk(d, f),
        ExprKind::Widen(x)
        | ExprKind::Neg(_, x)
        | ExprKind::Abs(_, x)
        | ExprKind::Not(x)
        | ExprKind::In(_, x, _) => walk(x, f),
        ExprKind::Arith(_, _, a, b) | ExprKind::Cmp(_, _, a, b) => {
            walk(a, f);
            walk(b, f);
        }
        ExprKind::Between(_, x, lo, hi) => {
            walk(x, f);
            walk(lo, f);
            walk(hi, f);
        }
        ExprKind::And(xs) | ExprKind::Or(xs) => xs.iter().for_each(|x| walk(x, f)),
    }
}

/// The field an expression reads directly (through widening and `??`), if any.
fn field_of(e: &Expr) -> Option<FieldRef> {
    match &e.kind {
        ExprKind::Field(f) | ExprKind::Coalesce(f, _) => Some(*f),
        ExprKind::Widen(x) => field_of(x),
        _ => None,
    }
}

fn const_of(e: &Expr) -> Option<Value> {
    match &e.kind {
        ExprKind::Const(v) => Some(*v),
        ExprKind::Widen(x) => const_of(x),
        _ => None,
    }
}

fn collect(e: &Expr, layout: &Layout, out: &mut BTreeMap<usize, Vec<Value>>) {
    let mut add = |f: FieldRef, v: Value| {
        if !matches!(f, FieldRef::Ring(_) | FieldRef::Rollout(_)) {
            out.entry(layout.slot(f)).or_default().push(v);
        }
    };
    match &e.kind {
        ExprKind::Cmp(_, _, a, b) => {
            if let (Some(f), Some(v)) = (field_of(a), const_of(b)) {
                add(f, v);
            }
            if let (Some(f), Some(v)) = (field_of(b), const_of(a)) {
                add(f, v);
            }
        }
        ExprKind::In(_, x, values) => {
            if let Some(f) = field_of(x) {
                values.iter().for_each(|v| add(f, *v));
            }
        }
        ExprKind::Between(_, x, lo, hi) => {
            if let Some(f) = field_of(x) {
                for b in [lo, hi] {
                    if let Some(v) = const_of(b) {
                        add(f, v);
                    }
                }
            }
        }
        _ => {}
    }
}

fn neighbours(v: Value) -> Vec<u64> {
    match v {
        Value::Int(i) | Value::Duration(i) => [i.wrapping_sub(1), i, i.wrapping_add(1)]
            .iter()
            .map(|&x| x as u64)
            .collect(),
        Value::Float(f) => vec![
            f.next_down().to_bits(),
            f.to_bits(),
            f.next_up().to_bits(),
            (f as i64 as f64).to_bits(),
        ],
        Value::Version(ver) => {
            let p = ver.packed();
            vec![p.wrapping_sub(1), p, p + 1]
        }
        Value::Bool(_) => vec![0, 1],
        Value::Enum(_, i) => vec![u64::from(i)],
    }
}

fn specials(ty: Ty) -> Vec<u64> {
    match ty {
        Ty::Int | Ty::Duration => [
            0i64,
            1,
            -1,
            2,
            i64::MIN,
            i64::MAX,
            i64::MIN + 1,
            i64::MAX - 1,
            1 << 32,
        ]
        .iter()
        .map(|&x| x as u64)
        .collect(),
        Ty::Float => [
            0.0f64,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e300,
            -1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NAN,
        ]
        .iter()
        .map(|x| x.to_bits())
        .collect(),
        Ty::Version => vec![0, 1, (1u64 << 48) - 1, u64::MAX],
        Ty::Bool => vec![0, 1, 2],
        Ty::Enum(_) => vec![0, u64::from(u16::MAX)],
    }
}

fn random_of(ty: Ty, variants: u16, rng: &mut Rng) -> u64 {
    match ty {
        Ty::Bool => rng.below(2),
        Ty::Int | Ty::Duration => {
            let magnitude = [10u64, 1000, 1 << 20, 1 << 40, u64::MAX][rng.below(5) as usize];
            let v = rng.below(magnitude) as i64;
            (if rng.percent(50) { v.wrapping_neg() } else { v }) as u64
        }
        Ty::Float => {
            let scale = [1.0f64, 100.0, 1e6, 1e200][rng.below(4) as usize];
            let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let v = (unit * 2.0 - 1.0) * scale;
            v.to_bits()
        }
        Ty::Version => {
            let part = |rng: &mut Rng| {
                if rng.percent(80) {
                    rng.below(12)
                } else {
                    rng.below(65_536)
                }
            };
            (part(rng) << 32) | (part(rng) << 16) | part(rng)
        }
        Ty::Enum(_) => rng.below(u64::from(variants.max(1))),
    }
}
