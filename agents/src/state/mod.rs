//! The per-device state: in go nothing but the machine's own transitions, out comes a `Copy` value of
//! 48 bytes (47 encoded) that holds everything needed to resume an update after a reboot, and its fixed byte
//! encoding for the journal.
//!
//! The simulator keeps a million of these in an array, so the state carries no target versions: those
//! come with check-ins (the desired state) and downloads (the image names its version), and the
//! versions a device runs live in its A/B slots.

use fleetgate_runtime::value::{MAX_PLANES, PlaneSet};

#[cfg(test)]
mod tests;

/// Where a device is in one release. See `agents/README.md` for the transition table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// No update in progress: never offered one, or the rails denied it (retried at the next check-in).
    Idle = 0,
    /// The rails deferred the update until `timer`.
    Deferred = 1,
    /// Downloading the image of the current plane.
    Downloading = 2,
    /// The download of the current plane failed: retried at the next check-in.
    DownloadWait = 3,
    /// Writing the image of the current plane into its inactive A/B slot.
    Installing = 4,
    /// Booting the freshly written slot of the current plane.
    Booting = 5,
    /// Every plane booted: a health check is due at `timer`.
    Verifying = 6,
    /// Terminal: healthy through the verification window, every installed plane confirmed.
    Committed = 7,
    /// Terminal: a health check (or an inconclusive window) rolled back the `reverted` planes; the
    /// other installed planes are confirmed.
    RolledBack = 8,
    /// Terminal: install or boot failed on every attempt, or the device crash-looped while
    /// verifying; everything the release installed is reverted.
    Failed = 9,
    /// Terminal: the planner aborted the release; everything it installed is reverted.
    Aborted = 10,
    /// Terminal for this release: a newer release superseded it; its uncommitted planes are reverted.
    Cancelled = 11,
    /// Terminal: the device cannot take the release (no consistent install order).
    NotInstallable = 12,
}

impl Phase {
    pub const ALL: [Phase; 13] = [
        Phase::Idle,
        Phase::Deferred,
        Phase::Downloading,
        Phase::DownloadWait,
        Phase::Installing,
        Phase::Booting,
        Phase::Verifying,
        Phase::Committed,
        Phase::RolledBack,
        Phase::Failed,
        Phase::Aborted,
        Phase::Cancelled,
        Phase::NotInstallable,
    ];

    pub const fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Phase> {
        Phase::ALL.get(usize::from(code)).copied()
    }

    /// The name used in transcripts and reports (`download_wait`, `rolled_back`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Deferred => "deferred",
            Phase::Downloading => "downloading",
            Phase::DownloadWait => "download_wait",
            Phase::Installing => "installing",
            Phase::Booting => "booting",
            Phase::Verifying => "verifying",
            Phase::Committed => "committed",
            Phase::RolledBack => "rolled_back",
            Phase::Failed => "failed",
            Phase::Aborted => "aborted",
            Phase::Cancelled => "cancelled",
            Phase::NotInstallable => "not_installable",
        }
    }

    /// The release is over for this device (nothing more happens until a newer release).
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Committed
                | Phase::RolledBack
                | Phase::Failed
                | Phase::Aborted
                | Phase::Cancelled
                | Phase::NotInstallable
        )
    }

    /// An action of this phase is in flight; a synchronous driver never delivers anything but its
    /// outcome in such a phase.
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            Phase::Downloading | Phase::Installing | Phase::Booting
        )
    }
}

/// Planner order `pause` is in force: start nothing new.
pub(crate) const PAUSED: u8 = 1;
/// Planner order `freeze` is in force: no progress at all.
pub(crate) const FROZEN: u8 = 2;
/// Actions were held back while frozen: re-issue the phase's actions on `resume`.
pub(crate) const STALLED: u8 = 4;
const FLAGS: u8 = PAUSED | FROZEN | STALLED;

/// Bytes of [`State::to_bytes`].
pub const STATE_BYTES: usize = 47;

/// Everything a device must remember about its update, `Copy`, 48 bytes in memory and 47 encoded.
///
/// INVARIANT: `idx <= len <= MAX_PLANES`, every packed plane is below `MAX_PLANES`, `committed` and
/// `reverted` are subsets of the planes of the order; [`State::from_bytes`] rejects anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// Install order, plane `i` in bits `4i .. 4i + 4`.
    pub(crate) order: u64,
    /// The release this state is about; 0 before any.
    pub(crate) release: u32,
    /// Deferred: when to retry; Verifying: when the next health check is due (seconds).
    pub(crate) timer: u32,
    /// Health checks done in the verification window.
    pub(crate) checks: u16,
    /// Planes this release switched to its version (booted).
    pub(crate) installed: PlaneSet,
    /// Planes this release confirmed (and did not revert since).
    pub(crate) committed: PlaneSet,
    /// Planes the release's ending reverts (redone, idempotently, on recovery).
    pub(crate) reverted: PlaneSet,
    /// Install attempts used (install failures and boot fallbacks), counted per release.
    pub(crate) install_attempts: u16,
    pub(crate) phase: Phase,
    pub(crate) len: u8,
    /// Index of the current plane in the order.
    pub(crate) idx: u8,
    /// Boot attempts used on the current plane (Booting), or reboots while verifying.
    pub(crate) boot_attempts: u8,
    pub(crate) flags: u8,
    /// The counters of the `for N checks` health clauses.
    pub(crate) counters: [u8; MAX_PLANES],
}

const _: () = assert!(core::mem::size_of::<State>() <= 64);

impl Default for State {
    fn default() -> State {
        State::new()
    }
}

impl State {
    /// A device that has never been offered a release.
    pub const fn new() -> State {
        State {
            order: 0,
            release: 0,
            timer: 0,
            checks: 0,
            installed: PlaneSet::EMPTY,
            committed: PlaneSet::EMPTY,
            reverted: PlaneSet::EMPTY,
            install_attempts: 0,
            phase: Phase::Idle,
            len: 0,
            idx: 0,
            boot_attempts: 0,
            flags: 0,
            counters: [0; MAX_PLANES],
        }
    }

    /// A fresh state for `release`, keeping the planner's standing orders (pause, freeze).
    pub(crate) fn fresh(release: u32, flags: u8) -> State {
        State {
            release,
            flags: flags & (PAUSED | FROZEN),
            ..State::new()
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn release(&self) -> u32 {
        self.release
    }

    /// The raw timer (meaningful in `Deferred` and `Verifying`).
    pub fn timer(&self) -> u32 {
        self.timer
    }

    /// When the driver should deliver the next `Tick`: the deferral's end or the next health check,
    /// `None` when no timer runs (also while paused in `Deferred`, and while frozen).
    pub fn deadline(&self) -> Option<u32> {
        match self.phase {
            _ if self.frozen() => None,
            Phase::Deferred if !self.paused() => Some(self.timer),
            Phase::Verifying => Some(self.timer),
            _ => None,
        }
    }

    pub fn checks(&self) -> u16 {
        self.checks
    }

    pub fn installed(&self) -> PlaneSet {
        self.installed
    }

    pub fn committed(&self) -> PlaneSet {
        self.committed
    }

    pub fn reverted(&self) -> PlaneSet {
        self.reverted
    }

    pub fn install_attempts(&self) -> u16 {
        self.install_attempts
    }

    pub fn boot_attempts(&self) -> u8 {
        self.boot_attempts
    }

    pub fn counters(&self) -> &[u8; MAX_PLANES] {
        &self.counters
    }

    pub fn paused(&self) -> bool {
        self.flags & PAUSED != 0
    }

    pub fn frozen(&self) -> bool {
        self.flags & FROZEN != 0
    }

    /// Actions were held back by a freeze and will be re-issued on `resume`.
    pub fn stalled(&self) -> bool {
        self.flags & STALLED != 0
    }

    /// Planes in install order.
    pub fn order(&self) -> impl DoubleEndedIterator<Item = u8> + '_ {
        (0..self.len).map(|i| self.plane_at(i))
    }

    /// Index of the current plane in the install order.
    pub fn index(&self) -> u8 {
        self.idx
    }

    /// The plane being downloaded, installed or booted.
    pub fn current_plane(&self) -> Option<u8> {
        (self.idx < self.len).then(|| self.plane_at(self.idx))
    }

    pub(crate) fn plane_at(&self, i: u8) -> u8 {
        // `i < 16`, so the shift stays below 64.
        ((self.order >> (u32::from(i & 15) * 4)) & 0xf) as u8
    }

    /// Packs `planes` (at most `MAX_PLANES`, each below `MAX_PLANES`) as the install order.
    pub(crate) fn set_order(&mut self, planes: impl IntoIterator<Item = u8>) {
        let mut order = 0u64;
        let mut len = 0u8;
        for p in planes.into_iter().take(MAX_PLANES) {
            order |= u64::from(p & 15) << (u32::from(len) * 4);
            len += 1;
        }
        self.order = order;
        self.len = len;
        self.idx = 0;
    }

    /// The planes of the order, as a set.
    pub(crate) fn order_set(&self) -> PlaneSet {
        self.order().collect()
    }

    /// The fixed little-endian encoding the journal stores.
    pub fn to_bytes(&self) -> [u8; STATE_BYTES] {
        let mut b = [0u8; STATE_BYTES];
        let mut w = Writer { buf: &mut b, at: 0 };
        w.put(&self.order.to_le_bytes());
        w.put(&self.release.to_le_bytes());
        w.put(&self.timer.to_le_bytes());
        w.put(&self.checks.to_le_bytes());
        w.put(&self.installed.0.to_le_bytes());
        w.put(&self.committed.0.to_le_bytes());
        w.put(&self.reverted.0.to_le_bytes());
        w.put(&self.install_attempts.to_le_bytes());
        w.put(&[
            self.phase.code(),
            self.len,
            self.idx,
            self.boot_attempts,
            self.flags,
        ]);
        w.put(&self.counters);
        b
    }

    /// Decodes [`State::to_bytes`]; `None` for anything that breaks the state's invariants.
    pub fn from_bytes(bytes: &[u8]) -> Option<State> {
        let mut r = Reader { buf: bytes, at: 0 };
        let order = u64::from_le_bytes(r.take()?);
        let release = u32::from_le_bytes(r.take()?);
        let timer = u32::from_le_bytes(r.take()?);
        let checks = u16::from_le_bytes(r.take()?);
        let installed = PlaneSet(u16::from_le_bytes(r.take()?));
        let committed = PlaneSet(u16::from_le_bytes(r.take()?));
        let reverted = PlaneSet(u16::from_le_bytes(r.take()?));
        let install_attempts = u16::from_le_bytes(r.take()?);
        let [phase, len, idx, boot_attempts, flags] = r.take::<5>()?;
        let counters = r.take::<MAX_PLANES>()?;
        if r.at != STATE_BYTES || bytes.len() != STATE_BYTES {
            return None;
        }
        let state = State {
            order,
            release,
            timer,
            checks,
            installed,
            committed,
            reverted,
            install_attempts,
            phase: Phase::from_code(phase)?,
            len,
            idx,
            boot_attempts,
            flags,
            counters,
        };
        let planes = state.order_set();
        let unused_order_bits = len < 16 && order >> (u32::from(len) * 4) != 0;
        let ok = usize::from(len) <= MAX_PLANES
            && idx <= len
            && !unused_order_bits
            && planes.len() == usize::from(len)
            && (!state.phase.is_transient() || idx < len)
            && installed.is_subset(planes)
            && committed.is_subset(planes)
            && reverted.is_subset(planes)
            && flags & !FLAGS == 0;
        ok.then_some(state)
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.buf.get_mut(self.at..self.at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.buf.get(self.at..self.at + N)?;
        self.at += N;
        bytes.try_into().ok()
    }
}
