//! Rings and gates: in go ring counts (or a device id), out come the gate record that gate functions
//! read and the ring a device belongs to.

use crate::interp::{ClauseBits, ClauseId};
use crate::verify::Policy;

#[cfg(test)]
mod tests;

/// Fields per aggregate (`ring.*` or `rollout.*`) in the gate record.
pub const GATE_FIELDS: usize = 17;
/// Slots in the gate record: `ring.*` then `rollout.*`.
pub const GATE_SLOTS: usize = 2 * GATE_FIELDS;
/// One-sided 95% normal quantile used by the Wilson upper bound.
pub const WILSON_Z: f64 = 1.644_853_626_951_472_2;
/// Cumulative ring shares are in parts per million.
pub const PPM: u32 = 1_000_000;

/// The fields of one aggregate, in gate record order; `ring.*` is at the field's index and
/// `rollout.*` at index + [`GATE_FIELDS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum GateSlot {
    Size,
    Offered,
    Deferred,
    Denied,
    Updating,
    Verifying,
    Succeeded,
    Failed,
    RolledBack,
    Bricked,
    Offline,
    Exposed,
    Done,
    SuccessRate,
    FailureRate,
    FailureUpper,
    Soak,
}

impl GateSlot {
    /// Every field, in record order.
    pub const ALL: [GateSlot; GATE_FIELDS] = [
        GateSlot::Size,
        GateSlot::Offered,
        GateSlot::Deferred,
        GateSlot::Denied,
        GateSlot::Updating,
        GateSlot::Verifying,
        GateSlot::Succeeded,
        GateSlot::Failed,
        GateSlot::RolledBack,
        GateSlot::Bricked,
        GateSlot::Offline,
        GateSlot::Exposed,
        GateSlot::Done,
        GateSlot::SuccessRate,
        GateSlot::FailureRate,
        GateSlot::FailureUpper,
        GateSlot::Soak,
    ];

    /// The slot of `ring.<field>`.
    pub const fn ring(self) -> usize {
        self as usize
    }

    /// The slot of `rollout.<field>`.
    pub const fn rollout(self) -> usize {
        self as usize + GATE_FIELDS
    }

    /// The field name as written in policies (`rolled_back`, `failure_upper`, …).
    pub const fn name(self) -> &'static str {
        match self {
            GateSlot::Size => "size",
            GateSlot::Offered => "offered",
            GateSlot::Deferred => "deferred",
            GateSlot::Denied => "denied",
            GateSlot::Updating => "updating",
            GateSlot::Verifying => "verifying",
            GateSlot::Succeeded => "succeeded",
            GateSlot::Failed => "failed",
            GateSlot::RolledBack => "rolled_back",
            GateSlot::Bricked => "bricked",
            GateSlot::Offline => "offline",
            GateSlot::Exposed => "exposed",
            GateSlot::Done => "done",
            GateSlot::SuccessRate => "success_rate",
            GateSlot::FailureRate => "failure_rate",
            GateSlot::FailureUpper => "failure_upper",
            GateSlot::Soak => "soak",
        }
    }

    pub fn from_name(name: &str) -> Option<GateSlot> {
        GateSlot::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Counts are `int`, rates `float`, soak a `duration`.
    pub const fn slot_type(self) -> crate::artifact::SlotType {
        use crate::artifact::SlotType;
        match self {
            GateSlot::SuccessRate | GateSlot::FailureRate | GateSlot::FailureUpper => {
                SlotType::Float
            }
            GateSlot::Soak => SlotType::Duration,
            _ => SlotType::Int,
        }
    }
}

/// Counts of one aggregate as the planner sees them; the derived fields are computed by
/// [`fill_gate_record`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RingCounts {
    pub size: u64,
    pub offered: u64,
    pub deferred: u64,
    pub denied: u64,
    pub updating: u64,
    pub verifying: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rolled_back: u64,
    pub bricked: u64,
    pub offline: u64,
    pub exposed: u64,
    /// Seconds since the ring (or rollout) started.
    pub soak_secs: i64,
}

impl RingCounts {
    /// `succeeded + failed + rolled_back + bricked`, saturating.
    pub fn done(&self) -> u64 {
        self.succeeded.saturating_add(self.failures())
    }

    /// `failed + rolled_back + bricked`, saturating.
    pub fn failures(&self) -> u64 {
        self.failed
            .saturating_add(self.rolled_back)
            .saturating_add(self.bricked)
    }

    /// `succeeded / done`, `0.0` while nothing is done.
    pub fn success_rate(&self) -> f64 {
        ratio(self.succeeded, self.done())
    }

    /// `(failed + rolled_back + bricked) / done`, `0.0` while nothing is done.
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failures(), self.done())
    }

    /// The one-sided 95% Wilson upper bound of the failure rate, `1.0` while nothing is done.
    pub fn failure_upper(&self) -> f64 {
        wilson_upper(self.failures(), self.done())
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The one-sided Wilson score upper bound for `k` failures out of `n` at [`WILSON_Z`], clamped to
/// `[0, 1]`; `1.0` when `n == 0` (nothing is known).
pub fn wilson_upper(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let n = n as f64;
    let p = (k as f64 / n).clamp(0.0, 1.0);
    let z2 = WILSON_Z * WILSON_Z;
    let centre = p + z2 / (2.0 * n);
    let spread = WILSON_Z * libm::sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n));
    let upper = (centre + spread) / (1.0 + z2 / n);
    if upper.is_nan() {
        1.0
    } else {
        upper.clamp(0.0, 1.0)
    }
}

/// Counts saturate at `i64::MAX` (a count that large is already absurd).
fn count(v: u64) -> u64 {
    i64::try_from(v).unwrap_or(i64::MAX) as u64
}

fn fill_half(c: &RingCounts, out: &mut [u64; GATE_SLOTS], offset: usize) {
    let values: [u64; GATE_FIELDS] = [
        count(c.size),
        count(c.offered),
        count(c.deferred),
        count(c.denied),
        count(c.updating),
        count(c.verifying),
        count(c.succeeded),
        count(c.failed),
        count(c.rolled_back),
        count(c.bricked),
        count(c.offline),
        count(c.exposed),
        count(c.done()),
        c.success_rate().to_bits(),
        c.failure_rate().to_bits(),
        c.failure_upper().to_bits(),
        c.soak_secs as u64,
    ];
    if let Some(dst) = out.get_mut(offset..offset + GATE_FIELDS) {
        dst.copy_from_slice(&values);
    }
}

/// Fills a gate record (`ring.*` from `ring`, `rollout.*` from `rollout`), computing `done`, the rates
/// and the Wilson bound: counts as `i64`, rates as `f64` bits, soak as `i64` seconds.
pub fn fill_gate_record(ring: &RingCounts, rollout: &RingCounts, out: &mut [u64; GATE_SLOTS]) {
    fill_half(ring, out, 0);
    fill_half(rollout, out, GATE_FIELDS);
}

/// A device's point in `[0, 1_000_000)`: FNV-1a 64 of its id, scaled from the top 32 bits. Fixed by
/// the project: changing it moves devices between rings.
pub fn ring_point(device_id: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in device_id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (((h >> 32) * u64::from(PPM)) >> 32) as u32
}

/// The ring of a device at `point_ppm` whose ring filter conditions are in `filter_bits` (from the
/// `Rings` function): the first ring whose filter is true (a false or erroneous filter does not match)
/// and whose cumulative share exceeds the point. `None` only for a point at or past 1_000_000 or a
/// policy without rings.
pub fn assign_ring(policy: &Policy, point_ppm: u32, filter_bits: &ClauseBits) -> Option<u8> {
    let rings = &policy.artifact().rollout.rings;
    rings
        .iter()
        .position(|r| {
            r.share_ppm > point_ppm && r.filter.is_none_or(|c| filter_bits.is_true(ClauseId(c)))
        })
        .and_then(|i| u8::try_from(i).ok())
}
