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
    #[inline]
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
    #[inline]
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
    let mut raw: Vec<Vec<u64>> = vec![Vec::new(); n_fields];
    let mut raw_missing: Vec<Vec<u64>> = vec![Vec::new(); n_fields];
    let is_static: Vec<bool> = (0..n_fields)
        .map(|f| fleet.classes.iter().all(|c| !c.fields[f].dynamic))
        .collect();
    for f in 0..n_fields {
        if is_static[f] {
            raw[f] = vec![0; n];
            if schema.fields[f].optional {
                raw_missing[f] = vec![0; n.div_ceil(64)];
            }
        }
    }
    let mut version_raw: Vec<Vec<u64>> = vec![vec![0; n]; n_planes];
    let mut bandwidth_kbps = vec![0f32; n];
    // The first record of each device (for ring filters), built in the same pass.
    let record_len = schema.record_len();
    let words = record_len.div_ceil(64);
    let mut ring = vec![u8::MAX; n];
    let rings_fn = policy.function(FunctionKind::Rings);
    let mut bits = ClauseBits::for_policy(policy);
    let mut slots = vec![0u64; record_len];
    let mut missing = vec![0u64; words];
    for (ci, class) in fleet.classes.iter().enumerate() {
        for i in class_start[ci]..class_start[ci + 1] {
            let mut s = Stream::new(seed, 0, i as u64, Purpose::Static);
            missing.iter_mut().for_each(|w| *w = 0);
            for (f, d) in class.fields.iter().enumerate() {
                let v = d.sample(&mut s);
                match v {
                    Some(b) => slots[f] = b,
                    None => {
                        slots[f] = 0;
                        missing[f / 64] |= 1 << (f % 64);
                    }
                }
                if is_static[f] {
                    raw[f][i] = v.unwrap_or(0);
                    if v.is_none() {
                        raw_missing[f][i / 64] |= 1 << (i % 64);
                    }
                }
            }
            for (p, d) in class.planes.iter().enumerate() {
                let v = d.sample(&mut s).unwrap_or(0);
                version_raw[p][i] = v;
                slots[schema.plane_slot(p)] = v;
            }
            bandwidth_kbps[i] = class.bandwidth_kbps.sample_f64(&mut s).max(1e-3) as f32;
            slots[schema.now_hour_slot()] = 0;
            slots[schema.now_weekday_slot()] = 0;
            for p in 0..n_planes {
                let r = schema.release_slot(p);
                missing[r / 64] |= 1 << (r % 64);
            }
            if let Some(f) = rings_fn {
                let record = Record {
                    slots: &slots,
                    missing: &missing,
                };
                // INVARIANT: the record has the policy's layout, so evaluation cannot fail; an error
                // would leave the filters false and the device in the last ring.
                let _ = interp::run(policy, f, &record, &mut bits);
            }
            let point = ring_point(&(i as u64).to_le_bytes());
            ring[i] = assign_ring(policy, point, &bits).unwrap_or(u8::MAX);
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
