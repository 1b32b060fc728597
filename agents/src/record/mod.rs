//! Device records for the agent: in go telemetry (the device's own fields), the running plane
//! versions, the clock and the desired state; out comes the flat [`Record`] the policy reads
//! (`docs/bytecode.md`: device fields, `device.<plane>`, `now.hour`, `now.weekday`, `release.<plane>`).
//!
//! Device-local time is the agent clock's seconds since 1970-01-01 00:00 (a Thursday), so `now.hour`
//! is `now / 3600 % 24` and `now.weekday` (`mon` = 0) is `(now / 86400 + 3) % 7`.

use crate::machine::Desired;
use alloc::vec;
use alloc::vec::Vec;
use fleetgate_runtime::interp::Record;
use fleetgate_runtime::verify::{Layout, Policy};

#[cfg(test)]
mod tests;

/// A device record of a policy, owned: slots and missing mask, sized once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBuf {
    slots: Vec<u64>,
    missing: Vec<u64>,
    optional: Vec<bool>,
}

pub fn hour_of(now: u32) -> u64 {
    u64::from(now / 3600 % 24)
}

pub fn weekday_of(now: u32) -> u64 {
    u64::from((now / 86_400 + 3) % 7)
}

impl RecordBuf {
    /// Every slot 0, every optional slot missing.
    pub fn new(policy: &Policy) -> RecordBuf {
        let n = policy.record_len(Layout::Device);
        let optional = policy.artifact().optional.clone();
        let mut missing = vec![0u64; policy.missing_words(Layout::Device)];
        for (i, _) in optional.iter().enumerate().filter(|(_, o)| **o) {
            if let Some(w) = missing.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
        RecordBuf {
            slots: vec![0; n],
            missing,
            optional,
        }
    }

    pub fn record(&self) -> Record<'_> {
        Record {
            slots: &self.slots,
            missing: &self.missing,
        }
    }

    pub fn slots(&self) -> &[u64] {
        &self.slots
    }

    /// The slot's value, `None` when it is missing or out of range.
    pub fn get(&self, slot: usize) -> Option<u64> {
        let missing = self
            .missing
            .get(slot / 64)
            .is_some_and(|w| w >> (slot % 64) & 1 != 0);
        if missing {
            None
        } else {
            self.slots.get(slot).copied()
        }
    }

    /// Sets a slot (present); `false` when out of range.
    pub fn set(&mut self, slot: usize, value: u64) -> bool {
        let Some(v) = self.slots.get_mut(slot) else {
            return false;
        };
        *v = value;
        if let Some(w) = self.missing.get_mut(slot / 64) {
            *w &= !(1 << (slot % 64));
        }
        true
    }

    /// Marks an optional slot missing; `false` (and no change) for a slot that may not be missing.
    pub fn set_missing(&mut self, slot: usize) -> bool {
        if !self.optional.get(slot).copied().unwrap_or(false) {
            return false;
        }
        if let Some(v) = self.slots.get_mut(slot) {
            *v = 0;
        }
        if let Some(w) = self.missing.get_mut(slot / 64) {
            *w |= 1 << (slot % 64);
        }
        true
    }

    pub fn is_optional(&self, slot: usize) -> bool {
        self.optional.get(slot).copied().unwrap_or(false)
    }

    /// `device.<plane>` for every plane of `versions`.
    pub fn set_versions(&mut self, policy: &Policy, versions: &[u64]) {
        for (p, &v) in (0u8..).zip(versions) {
            if let Some(slot) = policy.plane_slot(p) {
                self.set(slot, v);
            }
        }
    }

    /// `now.hour` and `now.weekday`.
    pub fn set_now(&mut self, policy: &Policy, now: u32) {
        self.set(policy.now_hour_slot(), hour_of(now));
        self.set(policy.now_weekday_slot(), weekday_of(now));
    }

    /// `release.<plane>`: the desired targets, missing where the release leaves a plane alone.
    pub fn set_release(&mut self, policy: &Policy, desired: Option<&Desired>) {
        for p in 0..policy.n_planes() {
            let Some(slot) = policy.release_slot(p) else {
                continue;
            };
            match desired.and_then(|d| d.target(p)) {
                Some(v) => self.set(slot, v),
                None => self.set_missing(slot),
            };
        }
    }

    /// Copies the device's own fields (the slots before `device.<plane>`) from `other`.
    pub fn copy_fields(&mut self, policy: &Policy, other: &RecordBuf) {
        for slot in 0..policy.n_device_fields() {
            match other.get(slot) {
                Some(v) => self.set(slot, v),
                None => self.set_missing(slot),
            };
        }
    }
}
