//! The record layouts of a package: where each field lives in a device or gate record, the slot types
//! the artifact declares, and the schema hash that ties an artifact to the schema it was compiled for.
//!
//! In: a typed package. Out: slot numbers for `FieldRef`s, `SlotType`s, records built from the typed
//! values that tests and tools give, and a stable 64-bit schema hash (FNV-1a over a canonical text).
//! The order is fixed by docs/bytecode.md: device fields, plane versions, `now.hour`, `now.weekday`,
//! release targets.

use fleetgate_lang::typed::{DeviceValues, FieldRef, NowValues, Package, RingCounts, Ty, Version};
use fleetgate_runtime::artifact::SlotType;
use fleetgate_runtime::ring::{self, GATE_SLOTS};

/// Slot numbering of one package's device record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub n_fields: usize,
    pub n_planes: usize,
}

impl Layout {
    pub fn of(pkg: &Package) -> Layout {
        Layout {
            n_fields: pkg.fields.len(),
            n_planes: pkg.planes.len(),
        }
    }

    /// Number of slots of the device record.
    pub fn device_slots(self) -> usize {
        self.n_fields + 2 * self.n_planes + 2
    }

    pub fn missing_words(self) -> usize {
        self.device_slots().div_ceil(64)
    }

    /// The slot of a field: in the device record, or (for `ring.*`/`rollout.*`) in the gate record.
    pub fn slot(self, field: FieldRef) -> usize {
        match field {
            FieldRef::Device(f) => f.index(),
            FieldRef::Plane(p) => self.n_fields + p.index(),
            FieldRef::NowHour => self.n_fields + self.n_planes,
            FieldRef::NowWeekday => self.n_fields + self.n_planes + 1,
            FieldRef::Release(p) => self.n_fields + self.n_planes + 2 + p.index(),
            FieldRef::Ring(r) => r.slot(),
            FieldRef::Rollout(r) => GATE_SLOTS / 2 + r.slot(),
        }
    }

    /// The field at a device-record slot.
    pub fn device_field(self, slot: usize) -> Option<FieldRef> {
        use fleetgate_lang::typed::{FieldId, PlaneId};
        let (f, p) = (self.n_fields, self.n_planes);
        Some(match slot {
            s if s < f => FieldRef::Device(FieldId(s as u32)),
            s if s < f + p => FieldRef::Plane(PlaneId((s - f) as u32)),
            s if s == f + p => FieldRef::NowHour,
            s if s == f + p + 1 => FieldRef::NowWeekday,
            s if s < f + 2 * p + 2 => FieldRef::Release(PlaneId((s - f - p - 2) as u32)),
            _ => return None,
        })
    }
}

/// The type of a device-record field, and whether it may be missing.
pub fn field_type(pkg: &Package, field: FieldRef) -> (Ty, bool) {
    match field {
        FieldRef::Device(f) => (pkg.field(f).ty, pkg.field(f).optional),
        FieldRef::Plane(_) => (Ty::Version, false),
        FieldRef::NowHour => (Ty::Int, false),
        FieldRef::NowWeekday => (Ty::Enum(pkg.weekday), false),
        FieldRef::Release(_) => (Ty::Version, true),
        FieldRef::Ring(r) | FieldRef::Rollout(r) => (r.ty(), false),
    }
}

pub fn slot_type(pkg: &Package, ty: Ty) -> SlotType {
    match ty {
        Ty::Bool => SlotType::Bool,
        Ty::Int => SlotType::Int,
        Ty::Float => SlotType::Float,
        Ty::Duration => SlotType::Duration,
        Ty::Version => SlotType::Version,
        Ty::Enum(e) => SlotType::Enum {
            variants: pkg.enum_(e).variants.len() as u16,
        },
    }
}

/// Slot types and optional flags of the device record.
pub fn device_slot_types(pkg: &Package) -> (Vec<SlotType>, Vec<bool>) {
    let layout = Layout::of(pkg);
    (0..layout.device_slots())
        .filter_map(|s| layout.device_field(s))
        .map(|f| {
            let (ty, optional) = field_type(pkg, f);
            (slot_type(pkg, ty), optional)
        })
        .unzip()
}

/// The display name of a device-record field, e.g. `device.battery`, `now.hour`, `release.model`.
pub fn field_name(pkg: &Package, field: FieldRef) -> String {
    match field {
        FieldRef::Device(f) => format!("device.{}", pkg.field(f).name),
        FieldRef::Plane(p) => format!("device.{}", pkg.plane(p).name),
        FieldRef::NowHour => "now.hour".into(),
        FieldRef::NowWeekday => "now.weekday".into(),
        FieldRef::Release(p) => format!("release.{}", pkg.plane(p).name),
        FieldRef::Ring(r) => format!("ring.{}", r.name()),
        FieldRef::Rollout(r) => format!("rollout.{}", r.name()),
    }
}

/// FNV-1a, 64 bits: tiny, stable across platforms and releases, good enough to tell schemas apart.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The canonical text of the schema: what a device must agree on to read records for an artifact.
pub fn schema_text(pkg: &Package) -> String {
    let layout = Layout::of(pkg);
    let mut text = String::from("fleetgate-schema-1\n");
    for s in 0..layout.device_slots() {
        let Some(f) = layout.device_field(s) else {
            continue;
        };
        let (ty, optional) = field_type(pkg, f);
        let ty_text = match ty {
            Ty::Enum(e) => format!(
                "{}{{{}}}",
                pkg.enum_(e).name,
                pkg.enum_(e).variants.join(",")
            ),
            other => pkg.type_name(other),
        };
        text.push_str(&format!(
            "{} {}{}\n",
            field_name(pkg, f),
            ty_text,
            if optional { "?" } else { "" }
        ));
    }
    text
}

pub fn schema_hash(pkg: &Package) -> u64 {
    fnv1a64(schema_text(pkg).as_bytes())
}

/// A device record: slots and missing mask, as the engines read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    pub slots: Vec<u64>,
    pub missing: Vec<u64>,
}

impl DeviceRecord {
    pub fn as_record(&self) -> fleetgate_runtime::Record<'_> {
        fleetgate_runtime::Record {
            slots: &self.slots,
            missing: &self.missing,
        }
    }

    pub fn is_missing(&self, slot: usize) -> bool {
        self.missing
            .get(slot / 64)
            .is_some_and(|w| w >> (slot % 64) & 1 == 1)
    }

    pub fn set_missing(&mut self, slot: usize, missing: bool) {
        if let Some(w) = self.missing.get_mut(slot / 64) {
            if missing {
                *w |= 1 << (slot % 64);
            } else {
                *w &= !(1 << (slot % 64));
            }
        }
    }
}

/// Builds the device record a test (or tool) describes.
pub fn device_record(
    pkg: &Package,
    values: &DeviceValues,
    now: NowValues,
    release: &[Option<Version>],
) -> DeviceRecord {
    let layout = Layout::of(pkg);
    let mut rec = DeviceRecord {
        slots: vec![0; layout.device_slots()],
        missing: vec![0; layout.missing_words()],
    };
    for (i, v) in values.fields.iter().enumerate() {
        let slot = layout.slot(FieldRef::Device(fleetgate_lang::typed::FieldId(i as u32)));
        match v {
            Some(v) => rec.slots[slot] = v.bits(),
            None => rec.set_missing(slot, true),
        }
    }
    for (p, v) in values.planes.iter().enumerate() {
        rec.slots[layout.n_fields + p] = v.packed();
    }
    rec.slots[layout.slot(FieldRef::NowHour)] = now.hour as u64;
    rec.slots[layout.slot(FieldRef::NowWeekday)] = u64::from(now.weekday);
    for p in 0..layout.n_planes {
        let slot = layout.n_fields + layout.n_planes + 2 + p;
        match release.get(p).copied().flatten() {
            Some(v) => rec.slots[slot] = v.packed(),
            None => rec.set_missing(slot, true),
        }
    }
    rec
}

pub fn runtime_counts(c: &RingCounts) -> ring::RingCounts {
    ring::RingCounts {
        size: c.size,
        offered: c.offered,
        deferred: c.deferred,
        denied: c.denied,
        updating: c.updating,
        verifying: c.verifying,
        succeeded: c.succeeded,
        failed: c.failed,
        rolled_back: c.rolled_back,
        bricked: c.bricked,
        offline: c.offline,
        exposed: c.exposed,
        soak_secs: c.soak_secs,
    }
}

/// The gate record for a ring and the whole rollout.
pub fn gate_record(ring_counts: &RingCounts, rollout: &RingCounts) -> [u64; GATE_SLOTS] {
    let mut out = [0u64; GATE_SLOTS];
    ring::fill_gate_record(
        &runtime_counts(ring_counts),
        &runtime_counts(rollout),
        &mut out,
    );
    out
}
