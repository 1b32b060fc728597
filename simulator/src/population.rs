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

/// One static field of every device.
#[derive(Clone, Debug)]
pub enum Column {
    U8(Vec<u8>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Column {
    /// Slot bits of device `i`.
    #[inline(always)]
    pub fn bits(&self, i: usize) -> u64 {
        match self {
            Column::U8(v) => u64::from(v[i]),
            Column::U16(v) => u64::from(v[i]),
            Column::I32(v) => i64::from(v[i]) as u64,
            Column::I64(v) => v[i] as u64,
            Column::F32(v) => f64::from(v[i]).to_bits(),
            Column::F64(v) => v[i].to_bits(),
        }
    }

    pub fn bytes_per_device(&self) -> usize {
        match self {
            Column::U8(_) => 1,
            Column::U16(_) => 2,
            Column::I32(_) | Column::F32(_) => 4,
            Column::I64(_) | Column::F64(_) => 8,
        }
    }
}

/// A field's storage: a column for static fields; dynamic fields are drawn at each evaluation.
#[derive(Clone, Debug)]
pub enum FieldStore {
    Static {
        column: Column,
        missing: Option<Vec<u64>>,
    },
    Dynamic,
}

#[derive(Clone, Debug)]
pub struct Population {
    pub n: usize,
    /// First device of each class, and `n` at the end.
    pub class_start: Vec<usize>,
    pub fields: Vec<FieldStore>,
    /// Per plane: the distinct versions, and each device's index into them.
    pub versions: Vec<(Vec<u64>, Column)>,
    pub bandwidth_kbps: Vec<f32>,
    /// Ring of each device (`u8::MAX`: in no ring, which a valid policy never produces).
    pub ring: Vec<u8>,
    /// Devices of each ring, in id order.
    pub ring_devices: Vec<Vec<u32>>,
}

impl Population {
    #[inline]
    pub fn class_of(&self, device: usize) -> usize {
        self.class_start.partition_point(|&s| s <= device) - 1
    }

    /// Whether static field `f` is missing for device `i`.
    #[inline(always)]
    pub fn is_missing(&self, f: usize, i: usize) -> bool {
        match &self.fields[f] {
            FieldStore::Static {
                missing: Some(m), ..
            } => m[i / 64] >> (i % 64) & 1 == 1,
            _ => false,
        }
    }

    #[inline]
    pub fn version(&self, plane: usize, i: usize) -> u64 {
        let (table, column) = &self.versions[plane];
        table[column.bits(i) as usize]
    }

    /// Bytes of storage per device (columns, versions, bandwidth, ring).
    pub fn bytes_per_device(&self) -> usize {
        let fields: usize = self
            .fields
            .iter()
            .map(|f| match f {
                FieldStore::Static { column, missing } => {
                    column.bytes_per_device() + usize::from(missing.is_some())
                }
                FieldStore::Dynamic => 0,
            })
            .sum();
        fields
            + self
                .versions
                .iter()
                .map(|(_, c)| c.bytes_per_device())
                .sum::<usize>()
            + 4
            + 1
            + 4
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
    let is_static: Vec<bool> = (0..n_fields).map(|f| fleet.classes.iter().all(|c| !c.fields[f].dynamic)).collect();
    let mut raw: Vec<Vec<u64>> = (0..n_fields).map(|f| if is_static[f] { vec![0; n] } else { Vec::new() }).collect();
    let mut raw_missing: Vec<Vec<u64>> =
        (0..n_fields).map(|f| if is_static[f] && schema.fields[f].optional { vec![0; n.div_ceil(64)] } else { Vec::new() }).collect();
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
                let _ = interp::run(policy, f, &Record { slots: &slots, missing: &missing }, &mut bits);
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
        let pieces: Vec<(usize, Vec<u64>)> =
            (block..end).step_by(PIECE).collect::<Vec<_>>().into_par_iter().map(|start| (start, draw(start..(start + PIECE).min(end)))).collect();
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

    // Narrow the columns.
    let mut fields = Vec::with_capacity(n_fields);
    for f in 0..n_fields {
        if !is_static[f] {
            fields.push(FieldStore::Dynamic);
            continue;
        }
        let values = std::mem::take(&mut raw[f]);
        let dists: Vec<&FieldDist> = fleet.classes.iter().map(|c| &c.fields[f]).collect();
        let column = match &schema.fields[f].ty {
            FieldType::Bool => Column::U8(values.iter().map(|&v| u8::from(v != 0)).collect()),
            FieldType::Enum(_, variants) if variants.len() <= 256 => {
                Column::U8(values.iter().map(|&v| v as u8).collect())
            }
            FieldType::Enum(..) => Column::U16(values.iter().map(|&v| v as u16).collect()),
            FieldType::Int | FieldType::Duration | FieldType::Version => {
                if values.iter().all(|&v| i32::try_from(v as i64).is_ok()) {
                    Column::I32(values.iter().map(|&v| v as i64 as i32).collect())
                } else {
                    Column::I64(values.iter().map(|&v| v as i64).collect())
                }
            }
            FieldType::Float | FieldType::Percent => {
                // Continuous draws are stored as f32 (they are the fleet's values from then on);
                // constants and choices keep their exact value.
                if discrete(&dists) {
                    Column::F64(values.iter().map(|&v| f64::from_bits(v)).collect())
                } else {
                    Column::F32(values.iter().map(|&v| f64::from_bits(v) as f32).collect())
                }
            }
        };
        let m = std::mem::take(&mut raw_missing[f]);
        fields.push(FieldStore::Static {
            column,
            missing: (!m.is_empty()).then_some(m),
        });
    }
    let versions = version_raw
        .into_iter()
        .map(|values| {
            let mut table: Vec<u64> = values.clone();
            table.sort_unstable();
            table.dedup();
            let index = |v: &u64| table.binary_search(v).unwrap_or(0);
            let column = if table.len() <= 256 {
                Column::U8(values.iter().map(|v| index(v) as u8).collect())
            } else {
                Column::U16(values.iter().map(|v| index(v) as u16).collect())
            };
            (table, column)
        })
        .collect();
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
        bandwidth_kbps,
        ring,
        ring_devices,
    }
}
