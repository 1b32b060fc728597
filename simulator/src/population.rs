//! The synthetic fleet: every device's static fields, versions, bandwidth and ring, generated once per
//! run (static fields come from each device's own `Purpose::Static` stream, so the fleet is the same in
//! every trial).
//!
//! In: the checked fleet model, the schema and the verified policy (ring filters are evaluated on each
//! device's first record). Out: a `Population` stored column by column in the narrowest type that holds
//! the values (`u8` for enums and booleans, `i32` for integers that fit, `f32` for continuous floats),
//! plus per-ring device lists. Dynamic fields are not stored: they are drawn at each evaluation.

use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::ring::{assign_ring, ring_point};
use fleetgate_runtime::{ClauseBits, Policy, Record, interp};

use rayon::prelude::*;

use crate::input::dist::{Dist, FieldDist};
use crate::input::fleet::Fleet;
use crate::rng::{Purpose, Stream};
use crate::schema::{FieldType, Schema};

/// How a value is stored in a device's row (the narrowest type that holds the field's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    U8,
    U16,
    I32,
    I64,
    F32,
    F64,
}

impl Kind {
    pub fn bits(self) -> u32 {
        match self {
            Kind::U8 => 8,
            Kind::U16 => 16,
            Kind::I32 | Kind::F32 => 32,
            Kind::I64 | Kind::F64 => 64,
        }
    }

    /// The stored form of slot bits `v`.
    fn store(self, v: u64) -> u64 {
        match self {
            Kind::U8 => v & 0xff,
            Kind::U16 => v & 0xffff,
            Kind::I32 => u64::from(v as i64 as i32 as u32),
            Kind::F32 => u64::from((f64::from_bits(v) as f32).to_bits()),
            Kind::I64 | Kind::F64 => v,
        }
    }
}

/// Where a value sits in a device's row: word, bit shift, and type. Values never straddle words.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    word: u16,
    shift: u8,
    pub kind: Kind,
}

impl Column {
    /// Slot bits of this value in `row` (a device's row, from [`Population::row`]).
    #[inline(always)]
    pub fn bits(self, row: &[u64]) -> u64 {
        let raw = row.get(usize::from(self.word)).copied().unwrap_or(0) >> self.shift;
        match self.kind {
            Kind::U8 => raw & 0xff,
            Kind::U16 => raw & 0xffff,
            Kind::I32 => i64::from(raw as u32 as i32) as u64,
            Kind::F32 => f64::from(f32::from_bits(raw as u32)).to_bits(),
            Kind::I64 | Kind::F64 => raw,
        }
    }
}

/// A field's storage: a place in the rows for static fields (and a missing bit if the field is
/// optional); dynamic fields are drawn at each evaluation.
#[derive(Clone, Copy, Debug)]
pub enum FieldStore {
    Static {
        column: Column,
        missing: Option<Column>,
    },
    Dynamic,
}

/// The population, row by row: everything static about a device sits in one row of `stride` words,
/// aligned so that a row of up to 64 bytes lies in one cache line (a simulated event then costs one
/// memory access for the device's static data, not one per field).
#[derive(Clone, Debug)]
pub struct Population {
    pub n: usize,
    /// First device of each class, and `n` at the end.
    pub class_start: Vec<usize>,
    pub fields: Vec<FieldStore>,
    /// Per plane: the distinct versions, and where each device's index into them sits.
    pub versions: Vec<(Vec<u64>, Column)>,
    bandwidth: Column,
    ring: Column,
    class: Column,
    rows: Vec<u64>,
    /// Words skipped at the start of `rows` so that rows start on a 64-byte boundary.
    base: usize,
    stride: usize,
    /// Devices of each ring, in id order.
    pub ring_devices: Vec<Vec<u32>>,
}

impl Population {
    /// Device `i`'s row.
    #[inline(always)]
    pub fn row(&self, i: usize) -> &[u64] {
        let start = self.base + i * self.stride;
        self.rows.get(start..start + self.stride).unwrap_or(&[])
    }

    /// Hints the processor that device `i`'s row is needed soon.
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        if let Some(w) = self.rows.get(self.base + i * self.stride) {
            crate::prefetch(w);
        }
    }

    #[inline]
    pub fn class_of(&self, device: usize) -> usize {
        self.class.bits(self.row(device)) as usize
    }

    /// Ring of each device (`u8::MAX`: in no ring, which a valid policy never produces).
    #[inline]
    pub fn ring(&self, device: usize) -> u8 {
        self.ring.bits(self.row(device)) as u8
    }

    #[inline]
    pub fn bandwidth_kbps(&self, device: usize) -> f64 {
        f64::from_bits(self.bandwidth.bits(self.row(device)))
    }

    #[inline]
    pub fn class_in(&self, row: &[u64]) -> usize {
        self.class.bits(row) as usize
    }

    /// Whether static field `f` is missing in `row`.
    #[inline(always)]
    pub fn is_missing(&self, f: usize, row: &[u64]) -> bool {
        match self.fields[f] {
            FieldStore::Static {
                missing: Some(m), ..
            } => m.bits(row) & 1 == 1,
            _ => false,
        }
    }

    /// Slot bits of static field `f` of device `i` (0 for a dynamic field).
    #[inline]
    pub fn value(&self, f: usize, i: usize) -> u64 {
        match self.fields[f] {
            FieldStore::Static { column, .. } => column.bits(self.row(i)),
            FieldStore::Dynamic => 0,
        }
    }

    /// The version plane `plane` of the device with `row` runs before any update.
    #[inline]
    pub fn version_in(&self, plane: usize, row: &[u64]) -> u64 {
        let (table, column) = &self.versions[plane];
        table.get(column.bits(row) as usize).copied().unwrap_or(0)
    }

    /// Bytes of storage per device (its row).
    pub fn bytes_per_device(&self) -> usize {
        self.stride * 8
    }
}

/// Places values of the given widths (bits) in words, widest first, so that none straddles a word.
/// Returns each value's (word, shift) and the number of words.
fn pack(widths: &[u32]) -> (Vec<(u16, u8)>, usize) {
    let mut order: Vec<usize> = (0..widths.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(widths[k]));
    let mut used: Vec<u32> = Vec::new();
    let mut place = vec![(0u16, 0u8); widths.len()];
    for k in order {
        let w = widths[k];
        let word = match used.iter().position(|&u| u + w <= 64) {
            Some(word) => word,
            None => {
                used.push(0);
                used.len() - 1
            }
        };
        place[k] = (word as u16, used[word] as u8);
        used[word] += w;
    }
    (place, used.len().max(1))
}

/// A row of `words` words takes the next power of two up to 8 (so it stays in one cache line),
/// else whole cache lines.
fn stride_of(words: usize) -> usize {
    if words <= 8 {
        words.next_power_of_two()
    } else {
        words.div_ceil(8) * 8
    }
}

/// Whether every class draws the field from a discrete set (a constant or a choice).
fn discrete(dists: &[&FieldDist]) -> bool {
    dists
        .iter()
        .all(|d| matches!(d.dist, Dist::Const(_) | Dist::Choice(..)))
}

/// Generates the population of a run.
pub fn generate(fleet: &Fleet, schema: &Schema, policy: &Policy, seed: u64) -> Population {
    let n = fleet.devices as usize;
    let mut class_start = Vec::with_capacity(fleet.classes.len() + 1);
    let mut acc = 0usize;
    for c in &fleet.classes {
        class_start.push(acc);
        acc += c.count as usize;
    }
    class_start.push(acc);
    let n_fields = schema.fields.len();
    let n_planes = schema.planes.len();

    // Draw static values per device, field by field in a fixed order from the device's static stream.
    // Devices are independent: blocks of devices are drawn in parallel, each into a flat buffer of
    // rows, then scattered into columns (so the temporary rows stay small).
    let is_static: Vec<bool> = (0..n_fields)
        .map(|f| fleet.classes.iter().all(|c| !c.fields[f].dynamic))
        .collect();
    let mut raw: Vec<Vec<u64>> = (0..n_fields)
        .map(|f| if is_static[f] { vec![0; n] } else { Vec::new() })
        .collect();
    let mut raw_missing: Vec<Vec<u64>> = (0..n_fields)
        .map(|f| {
            if is_static[f] && schema.fields[f].optional {
                vec![0; n.div_ceil(64)]
            } else {
                Vec::new()
            }
        })
        .collect();
    let mut version_raw: Vec<Vec<u64>> = vec![vec![0; n]; n_planes];
    let mut bandwidth_kbps = vec![0f32; n];
    let mut ring = vec![u8::MAX; n];
    let record_len = schema.record_len();
    let words = record_len.div_ceil(64);
    let rings_fn = policy.function(FunctionKind::Rings);
    // One row: the fields' bits, a missing mask, the planes' versions, bandwidth bits, ring.
    let width = n_fields + words + n_planes + 2;
    let draw = |range: std::ops::Range<usize>| -> Vec<u64> {
        let mut rows = vec![0u64; range.len() * width];
        let mut bits = ClauseBits::for_policy(policy);
        let mut slots = vec![0u64; record_len];
        let mut missing = vec![0u64; words];
        for (k, i) in range.enumerate() {
            let class = &fleet.classes[class_start.partition_point(|&s| s <= i) - 1];
            let mut s = Stream::new(seed, 0, i as u64, Purpose::Static);
            missing.iter_mut().for_each(|w| *w = 0);
            for (f, d) in class.fields.iter().enumerate() {
                match d.sample(&mut s) {
                    Some(b) => slots[f] = b,
                    None => {
                        slots[f] = 0;
                        missing[f / 64] |= 1 << (f % 64);
                    }
                }
            }
            for (p, d) in class.planes.iter().enumerate() {
                slots[schema.plane_slot(p)] = d.sample(&mut s).unwrap_or(0);
            }
            let bandwidth = class.bandwidth_kbps.sample_f64(&mut s).max(1e-3) as f32;
            slots[schema.now_hour_slot()] = 0;
            slots[schema.now_weekday_slot()] = 0;
            for p in 0..n_planes {
                let r = schema.release_slot(p);
                missing[r / 64] |= 1 << (r % 64);
            }
            if let Some(f) = rings_fn {
                // INVARIANT: the record has the policy's layout, so evaluation cannot fail; an error
                // would leave the filters false and the device in the last ring.
                let _ = interp::run(
                    policy,
                    f,
                    &Record {
                        slots: &slots,
                        missing: &missing,
                    },
                    &mut bits,
                );
            }
            let point = ring_point(&(i as u64).to_le_bytes());
            let row = &mut rows[k * width..(k + 1) * width];
            row[..n_fields].copy_from_slice(&slots[..n_fields]);
            row[n_fields..n_fields + words].copy_from_slice(&missing);
            for p in 0..n_planes {
                row[n_fields + words + p] = slots[schema.plane_slot(p)];
            }
            row[width - 2] = u64::from(bandwidth.to_bits());
            row[width - 1] = u64::from(assign_ring(policy, point, &bits).unwrap_or(u8::MAX));
        }
        rows
    };
    const BLOCK: usize = 1 << 16;
    const PIECE: usize = 1 << 12;
    for block in (0..n).step_by(BLOCK) {
        let end = (block + BLOCK).min(n);
        let pieces: Vec<(usize, Vec<u64>)> = (block..end)
            .step_by(PIECE)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|start| (start, draw(start..(start + PIECE).min(end))))
            .collect();
        for (start, rows) in pieces {
            for (k, row) in rows.chunks_exact(width).enumerate() {
                let i = start + k;
                for f in 0..n_fields {
                    if !is_static[f] {
                        continue;
                    }
                    raw[f][i] = row[f];
                    if !raw_missing[f].is_empty() && row[n_fields + f / 64] >> (f % 64) & 1 == 1 {
                        raw_missing[f][i / 64] |= 1 << (i % 64);
                    }
                }
                for p in 0..n_planes {
                    version_raw[p][i] = row[n_fields + words + p];
                }
                bandwidth_kbps[i] = f32::from_bits(row[width - 2] as u32);
                ring[i] = row[width - 1] as u8;
            }
        }
    }

    // Choose each static field's type, then place every value in the rows.
    let kinds: Vec<Option<Kind>> = (0..n_fields)
        .map(|f| {
            if !is_static[f] {
                return None;
            }
            let values = &raw[f];
            let dists: Vec<&FieldDist> = fleet.classes.iter().map(|c| &c.fields[f]).collect();
            Some(match &schema.fields[f].ty {
                FieldType::Bool => Kind::U8,
                FieldType::Enum(_, variants) if variants.len() <= 256 => Kind::U8,
                FieldType::Enum(..) => Kind::U16,
                FieldType::Int | FieldType::Duration | FieldType::Version => {
                    if values.iter().all(|&v| i32::try_from(v as i64).is_ok()) {
                        Kind::I32
                    } else {
                        Kind::I64
                    }
                }
                // Continuous draws are stored as f32 (they are the fleet's values from then on);
                // constants and choices keep their exact value.
                FieldType::Float | FieldType::Percent => {
                    if discrete(&dists) {
                        Kind::F64
                    } else {
                        Kind::F32
                    }
                }
            })
        })
        .collect();
    let tables: Vec<Vec<u64>> = version_raw
        .iter()
        .map(|values| {
            let mut table = values.clone();
            table.sort_unstable();
            table.dedup();
            table
        })
        .collect();
    let version_kind = |t: &Vec<u64>| if t.len() <= 256 { Kind::U8 } else { Kind::U16 };
    let class_kind = if fleet.classes.len() <= 256 {
        Kind::U8
    } else {
        Kind::U16
    };
    // The values of a row: fields, missing bits, version indexes, bandwidth, ring, class.
    let mut widths: Vec<u32> = Vec::new();
    let field_at: Vec<Option<usize>> = kinds
        .iter()
        .map(|k| {
            k.map(|k| {
                widths.push(k.bits());
                widths.len() - 1
            })
        })
        .collect();
    let missing_at: Vec<Option<usize>> = (0..n_fields)
        .map(|f| {
            (!raw_missing[f].is_empty()).then(|| {
                widths.push(1);
                widths.len() - 1
            })
        })
        .collect();
    let version_at: Vec<usize> = tables
        .iter()
        .map(|t| {
            widths.push(version_kind(t).bits());
            widths.len() - 1
        })
        .collect();
    widths.extend([32, 8, class_kind.bits()]);
    let (place, words) = pack(&widths);
    let column = |k: usize, kind: Kind| Column {
        word: place[k].0,
        shift: place[k].1,
        kind,
    };
    let bandwidth = column(widths.len() - 3, Kind::F32);
    let ring_col = column(widths.len() - 2, Kind::U8);
    let class_col = column(widths.len() - 1, class_kind);
    let fields: Vec<FieldStore> = (0..n_fields)
        .map(|f| match (kinds[f], field_at[f]) {
            (Some(kind), Some(k)) => FieldStore::Static {
                column: column(k, kind),
                missing: missing_at[f].map(|m| column(m, Kind::U8)),
            },
            _ => FieldStore::Dynamic,
        })
        .collect();
    let versions: Vec<(Vec<u64>, Column)> = tables
        .into_iter()
        .zip(&version_at)
        .map(|(t, &k)| {
            let kind = version_kind(&t);
            (t, column(k, kind))
        })
        .collect();

    let stride = stride_of(words);
    // Room for a 64-byte aligned start (8 words at most).
    let mut rows = vec![0u64; n * stride + 8];
    let base = (rows.as_ptr() as usize).wrapping_neg() % 64 / 8;
    let mut class = 0usize;
    for i in 0..n {
        while class + 1 < class_start.len() && class_start[class + 1] <= i {
            class += 1;
        }
        let row = &mut rows[base + i * stride..base + (i + 1) * stride];
        let mut put = |c: Column, v: u64| row[usize::from(c.word)] |= c.kind.store(v) << c.shift;
        for f in 0..n_fields {
            if let FieldStore::Static { column, missing } = fields[f] {
                put(column, raw[f][i]);
                if let Some(m) = missing {
                    put(m, raw_missing[f][i / 64] >> (i % 64) & 1);
                }
            }
        }
        for (p, (table, c)) in versions.iter().enumerate() {
            let index = table.binary_search(&version_raw[p][i]).unwrap_or(0);
            put(*c, index as u64);
        }
        put(bandwidth, f64::from(bandwidth_kbps[i]).to_bits());
        put(ring_col, u64::from(ring[i]));
        put(class_col, class as u64);
    }
    drop((raw, raw_missing, version_raw, bandwidth_kbps));

    let n_rings = policy.artifact().rollout.rings.len();
    let mut ring_devices = vec![Vec::new(); n_rings];
    for (i, &r) in ring.iter().enumerate() {
        if let Some(list) = ring_devices.get_mut(usize::from(r)) {
            list.push(i as u32);
        }
    }
    Population {
        n,
        class_start,
        fields,
        versions,
        bandwidth,
        ring: ring_col,
        class: class_col,
        rows,
        base,
        stride,
        ring_devices,
    }
}
