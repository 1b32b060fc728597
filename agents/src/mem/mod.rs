//! An in-memory model of a device's flash: A/B slots per plane with a boot loader, the journal's two
//! sectors, and injectable faults (failed installs and boots, power loss at any operation, torn
//! writes). The tests, the session runner and the simulator drive the agent over it.
//!
//! Slot states follow ESP-IDF's OTA data: an image is `New` once written, `Trial` once booted and not
//! yet confirmed, `Good` once confirmed (or the factory image); `Invalid` when discarded or cut off.
//! Every slot remembers the release that wrote it, which is what makes `boot`, `confirm` and `revert`
//! idempotent and harmless for planes a release never touched.

use crate::driver::{Fault, Image, Storage};
use crate::journal::RECORD_LEN;
use alloc::vec::Vec;

#[cfg(test)]
mod tests;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotState {
    Empty,
    /// Discarded, or a write that did not finish.
    Invalid,
    /// Written, never booted.
    New,
    /// Booted, not confirmed.
    Trial,
    /// Confirmed (or the factory image).
    Good,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    pub version: u64,
    /// The release that wrote it; 0 for the factory image.
    pub release: u32,
    pub state: SlotState,
}

const EMPTY: Slot = Slot {
    version: 0,
    release: 0,
    state: SlotState::Empty,
};

/// The two slots of one plane and which one boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PlaneSlots {
    pub slots: [Slot; 2],
    /// 0 or 1.
    pub active: u8,
}

impl PlaneSlots {
    fn factory(version: u64) -> PlaneSlots {
        PlaneSlots {
            slots: [
                Slot {
                    version,
                    release: 0,
                    state: SlotState::Good,
                },
                EMPTY,
            ],
            active: 0,
        }
    }

    pub fn active(&self) -> Slot {
        self.slots
            .get(usize::from(self.active & 1))
            .copied()
            .unwrap_or(EMPTY)
    }

    pub fn inactive(&self) -> Slot {
        self.slots
            .get(usize::from(!self.active & 1))
            .copied()
            .unwrap_or(EMPTY)
    }

    fn active_mut(&mut self) -> Option<&mut Slot> {
        self.slots.get_mut(usize::from(self.active & 1))
    }

    fn inactive_mut(&mut self) -> Option<&mut Slot> {
        self.slots.get_mut(usize::from(!self.active & 1))
    }

    fn switch(&mut self) {
        self.active = !self.active & 1;
    }
}

/// Kinds of storage operations, for crash injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Journal,
    Write,
    Boot,
    Confirm,
    Revert,
}

impl OpKind {
    /// A power loss may leave this operation half done.
    pub const fn can_tear(self) -> bool {
        matches!(self, OpKind::Journal | OpKind::Write)
    }

    pub const fn name(self) -> &'static str {
        match self {
            OpKind::Journal => "journal",
            OpKind::Write => "write",
            OpKind::Boot => "boot",
            OpKind::Confirm => "confirm",
            OpKind::Revert => "revert",
        }
    }
}

/// Where the power goes: at operation number `at_op` (counting from 0 over the storage's life), either
/// before it does anything or, with `torn` and an operation that can tear, halfway through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Crash {
    pub at_op: u64,
    pub torn: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemStorage {
    planes: Vec<PlaneSlots>,
    journal: [[u8; RECORD_LEN]; 2],
    /// The next this many slot writes fail (the slot is left invalid).
    pub fail_writes: u32,
    /// The next this many boot attempts fail (the device comes back on the old slot).
    pub fail_boots: u32,
    crashes: Vec<Crash>,
    crash_on: Option<OpKind>,
    ops: u64,
    trace: Option<Vec<OpKind>>,
}

impl MemStorage {
    /// A device fresh from the factory: every plane runs `versions[p]`, confirmed; no journal.
    pub fn new(versions: &[u64]) -> MemStorage {
        MemStorage {
            planes: versions.iter().map(|&v| PlaneSlots::factory(v)).collect(),
            journal: [[0; RECORD_LEN]; 2],
            fail_writes: 0,
            fail_boots: 0,
            crashes: Vec::new(),
            crash_on: None,
            ops: 0,
            trace: None,
        }
    }

    pub fn planes(&self) -> &[PlaneSlots] {
        &self.planes
    }

    /// The running version of every plane.
    pub fn versions(&self) -> Vec<u64> {
        self.planes.iter().map(|p| p.active().version).collect()
    }

    /// No plane runs an unconfirmed image and none has one waiting to boot.
    pub fn settled(&self) -> bool {
        self.planes
            .iter()
            .all(|p| p.active().state == SlotState::Good && p.inactive().state != SlotState::New)
    }

    /// Cuts the power at operation `crash.at_op` (several may be armed: a crash during recovery).
    pub fn arm_crash(&mut self, crash: Crash) {
        self.crashes.push(crash);
    }

    /// Cuts the power halfway through the next operation of `kind`.
    pub fn crash_on_next(&mut self, kind: OpKind) {
        self.crash_on = Some(kind);
    }

    pub fn disarm(&mut self) {
        self.crashes.clear();
        self.crash_on = None;
    }

    /// Operations so far.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Starts recording the kind of every operation.
    pub fn record_trace(&mut self) {
        self.trace = Some(Vec::new());
    }

    pub fn trace(&self) -> &[OpKind] {
        self.trace.as_deref().unwrap_or_default()
    }

    /// Counts an operation; `Some(torn)` when the power goes during it.
    fn enter(&mut self, kind: OpKind) -> Option<bool> {
        let op = self.ops;
        self.ops += 1;
        if let Some(t) = self.trace.as_mut() {
            t.push(kind);
        }
        if let Some(i) = self.crashes.iter().position(|c| c.at_op == op) {
            let c = self.crashes.swap_remove(i);
            return Some(c.torn && kind.can_tear());
        }
        if self.crash_on == Some(kind) {
            self.crash_on = None;
            return Some(kind.can_tear());
        }
        None
    }

    fn plane(&mut self, plane: u8) -> Result<&mut PlaneSlots, Fault> {
        self.planes.get_mut(usize::from(plane)).ok_or(Fault::Failed)
    }
}

impl Storage for MemStorage {
    fn active_version(&self, plane: u8) -> u64 {
        self.planes
            .get(usize::from(plane))
            .map_or(0, |p| p.active().version)
    }

    fn write_inactive(&mut self, image: &Image) -> Result<(), Fault> {
        let cut = self.enter(OpKind::Write);
        if cut == Some(false) {
            return Err(Fault::PowerLoss);
        }
        if self.plane(image.plane)?.active().state == SlotState::Trial {
            return Err(Fault::Failed);
        }
        let fail = cut.is_none() && self.fail_writes > 0;
        if fail {
            self.fail_writes -= 1;
        }
        let slot = self
            .plane(image.plane)?
            .inactive_mut()
            .ok_or(Fault::Failed)?;
        // The slot is invalid from the first byte written until the last.
        *slot = Slot {
            version: image.version,
            release: image.release,
            state: SlotState::Invalid,
        };
        if cut.is_some() {
            return Err(Fault::PowerLoss);
        }
        if fail {
            return Err(Fault::Failed);
        }
        slot.state = SlotState::New;
        Ok(())
    }

    fn boot(&mut self, release: u32, plane: u8) -> Result<(), Fault> {
        if self.enter(OpKind::Boot).is_some() {
            return Err(Fault::PowerLoss);
        }
        let fail = self.fail_boots > 0;
        let ps = self.plane(plane)?;
        let (active, inactive) = (ps.active(), ps.inactive());
        let running = matches!(active.state, SlotState::Trial | SlotState::Good);
        if release != 0 && active.release == release && running {
            return Ok(());
        }
        if release == 0 || inactive.release != release || inactive.state != SlotState::New {
            return Err(Fault::Failed);
        }
        if fail {
            self.fail_boots -= 1;
            return Err(Fault::Failed);
        }
        ps.switch();
        if let Some(s) = ps.active_mut() {
            s.state = SlotState::Trial;
        }
        Ok(())
    }

    fn confirm(&mut self, release: u32, plane: u8) -> Result<(), Fault> {
        if self.enter(OpKind::Confirm).is_some() {
            return Err(Fault::PowerLoss);
        }
        let ps = self.plane(plane)?;
        if let Some(s) = ps.active_mut()
            && release != 0
            && s.release == release
            && s.state == SlotState::Trial
        {
            s.state = SlotState::Good;
        }
        Ok(())
    }

    fn revert(&mut self, release: u32, plane: u8) -> Result<(), Fault> {
        if self.enter(OpKind::Revert).is_some() {
            return Err(Fault::PowerLoss);
        }
        if release == 0 {
            return Ok(());
        }
        let ps = self.plane(plane)?;
        let (active, inactive) = (ps.active(), ps.inactive());
        if active.release == release
            && matches!(active.state, SlotState::Trial | SlotState::Good)
            && inactive.state == SlotState::Good
        {
            // Back to the slot the release replaced.
            if let Some(s) = ps.active_mut() {
                s.state = SlotState::Invalid;
            }
            ps.switch();
        } else if inactive.release == release
            && matches!(inactive.state, SlotState::New | SlotState::Invalid)
            && let Some(s) = ps.inactive_mut()
        {
            s.state = SlotState::Invalid;
        }
        Ok(())
    }

    fn read_journal(&self, sector: u8) -> [u8; RECORD_LEN] {
        self.journal
            .get(usize::from(sector))
            .copied()
            .unwrap_or([0; RECORD_LEN])
    }

    fn write_journal(&mut self, sector: u8, record: &[u8; RECORD_LEN]) -> Result<(), Fault> {
        let cut = self.enter(OpKind::Journal);
        let dst = self
            .journal
            .get_mut(usize::from(sector))
            .ok_or(Fault::Failed)?;
        match cut {
            None => {
                *dst = *record;
                Ok(())
            }
            Some(torn) => {
                if torn {
                    // The first half reached the flash, the rest is the old sector.
                    let half = RECORD_LEN / 2;
                    if let (Some(d), Some(s)) = (dst.get_mut(..half), record.get(..half)) {
                        d.copy_from_slice(s);
                    }
                }
                Err(Fault::PowerLoss)
            }
        }
    }
}
