//! The update state machine, pure: in go a [`State`], the time, an [`Event`] and a [`Ctx`] (the
//! verified policy, the profile's limits and an evaluator); out come the next state and the
//! [`Actions`] to perform, in order. No IO, no allocation, no panic on any input.
//!
//! The same code runs on a device (driven by `driver::Agent`, which journals each new state before
//! performing its actions) and in the simulator (which holds a million states in an array). Every
//! storage action is idempotent and tagged with its release, so after a power loss [`recover`]
//! re-issues the actions of the journaled state and the device converges on a consistent version set.
//! The phase table and the recovery rules are in `agents/README.md`.

use crate::eval::Evaluator;
use crate::state::{FROZEN, PAUSED, Phase, STALLED, State};
use core::fmt;
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::decision::{self, HealthVerdict, InstallOrder, NotInstallable, RailVerdict};
use fleetgate_runtime::interp::{ClauseBits, EvalError, Record};
use fleetgate_runtime::value::{MAX_PLANES, PlaneSet};
use fleetgate_runtime::verify::Policy;

#[cfg(test)]
pub(crate) mod tests;

/// Device classes with their own boot loader and evaluator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// ESP32-C3 microcontroller: the `no_std` interpreter; the boot loader tries a new slot once.
    Esp32c3,
    /// RK3566 Linux gateway: native code (or the interpreter); the boot loader tries a new slot 3 times.
    Rk3566,
}

impl Profile {
    /// Boots of a freshly written slot before the boot loader falls back to the old one.
    pub const fn max_boot_attempts(self) -> u8 {
        match self {
            Profile::Esp32c3 => 1,
            Profile::Rk3566 => 3,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Profile::Esp32c3 => "esp32c3",
            Profile::Rk3566 => "rk3566",
        }
    }

    pub fn from_name(name: &str) -> Option<Profile> {
        match name {
            "esp32c3" => Some(Profile::Esp32c3),
            "rk3566" => Some(Profile::Rk3566),
            _ => None,
        }
    }
}

/// The most `for N checks` counters a [`State`] holds.
pub const MAX_COUNTERS: usize = MAX_PLANES;
/// The most health checks in a verification window (the state counts up to twice that).
pub const MAX_WINDOW_CHECKS: u16 = 0x7fff;

/// What the machine needs from the policy and the profile, checked once at configuration time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub profile: Profile,
    /// Seconds between health checks (at least 1).
    pub check_every: u32,
    pub verify_for: u32,
    /// Health checks in the verification window: `verify_for / check_every` rounded up, at least 1.
    pub window_checks: u16,
    /// Install attempts per release before it fails (`rollout.retries`, 1 when unset).
    pub retries: u16,
    pub max_boot_attempts: u8,
    pub n_planes: u8,
    pub n_counters: u8,
}

/// Why an artifact cannot drive this agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The health rules need more `for N checks` counters than a state holds.
    TooManyCounters {
        found: usize,
        max: usize,
    },
    /// The verification window has more checks than a state counts.
    WindowTooLong {
        checks: u64,
        max: u16,
    },
    TooManyPlanes {
        found: usize,
        max: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ConfigError::TooManyCounters { found, max } => write!(
                f,
                "the health rules need {found} `for N checks` counters, the agent holds at most {max}"
            ),
            ConfigError::WindowTooLong { checks, max } => write!(
                f,
                "the verification window needs {checks} health checks, the agent counts at most {max}"
            ),
            ConfigError::TooManyPlanes { found, max } => {
                write!(
                    f,
                    "the package has {found} planes, the agent handles at most {max}"
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConfigError {}

impl Config {
    pub fn new(policy: &Policy, profile: Profile) -> Result<Config, ConfigError> {
        let a = policy.artifact();
        let n_counters = usize::from(a.n_counters);
        if n_counters > MAX_COUNTERS {
            return Err(ConfigError::TooManyCounters {
                found: n_counters,
                max: MAX_COUNTERS,
            });
        }
        let n_planes = usize::from(a.n_planes);
        if n_planes > MAX_PLANES {
            return Err(ConfigError::TooManyPlanes {
                found: n_planes,
                max: MAX_PLANES,
            });
        }
        let check_every = a.rollout.check_every.max(1);
        let checks = u64::from(a.rollout.verify_for)
            .div_ceil(u64::from(check_every))
            .max(1);
        let window_checks = u16::try_from(checks)
            .ok()
            .filter(|&n| n <= MAX_WINDOW_CHECKS)
            .ok_or(ConfigError::WindowTooLong {
                checks,
                max: MAX_WINDOW_CHECKS,
            })?;
        Ok(Config {
            profile,
            check_every,
            verify_for: a.rollout.verify_for,
            window_checks,
            retries: a.rollout.retries.max(1),
            max_boot_attempts: profile.max_boot_attempts(),
            n_planes: a.n_planes,
            n_counters: a.n_counters,
        })
    }
}

/// Everything [`step`] reads besides the state and the event: the policy, the configuration, the
/// evaluator, the clause bits it evaluates into and a memo of install orders (allocated once, so a
/// step never allocates).
pub struct Ctx<'p, E> {
    policy: &'p Policy,
    config: Config,
    evaluator: E,
    bits: ClauseBits,
    orders: decision::OrderMemo,
}

impl<'p, E: Evaluator> Ctx<'p, E> {
    /// `evaluator` must run `policy`.
    pub fn new(policy: &'p Policy, profile: Profile, evaluator: E) -> Result<Self, ConfigError> {
        Ok(Ctx {
            policy,
            config: Config::new(policy, profile)?,
            evaluator,
            bits: ClauseBits::for_policy(policy),
            orders: decision::OrderMemo::new(policy),
        })
    }

    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn evaluator(&self) -> &E {
        &self.evaluator
    }

    /// The clause conditions of the last evaluation (for explaining a step's decision).
    pub fn bits(&self) -> &ClauseBits {
        &self.bits
    }

    fn eval(&mut self, kind: FunctionKind, record: &Record<'_>) -> Result<(), EvalError> {
        self.evaluator.eval(kind, record, &mut self.bits)
    }
}

/// What the planner wants a device to run: a release id (higher wins; ids start at 1) and a target
/// version per plane (none: the release leaves the plane alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Desired {
    pub release: u32,
    /// Planes with a target.
    planes: PlaneSet,
    versions: [u64; MAX_PLANES],
}

impl Desired {
    pub const fn new(release: u32) -> Desired {
        Desired {
            release,
            planes: PlaneSet::EMPTY,
            versions: [0; MAX_PLANES],
        }
    }

    /// Sets the target of `plane` (ignored past `MAX_PLANES`).
    pub fn with(mut self, plane: u8, version: u64) -> Desired {
        if let Some(v) = self.versions.get_mut(usize::from(plane)) {
            *v = version;
            self.planes.insert(plane);
        }
        self
    }

    pub fn target(&self, plane: u8) -> Option<u64> {
        if self.planes.contains(plane) {
            self.versions.get(usize::from(plane)).copied()
        } else {
            None
        }
    }

    /// The planes the release targets.
    pub fn planes(&self) -> PlaneSet {
        self.planes
    }

    fn targets(&self) -> [Option<u64>; MAX_PLANES] {
        let mut t = [None; MAX_PLANES];
        for (p, slot) in (0u8..).zip(t.iter_mut()) {
            *slot = self.target(p);
        }
        t
    }
}

/// A planner order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Order {
    /// Start nothing new; an update in progress continues.
    Pause,
    /// Lift `pause` and `freeze`.
    Resume,
    /// No progress at all, and no rollback, until resumed.
    Freeze,
    /// Stop, and roll back every plane the release installed, committed or not.
    Abort,
}

impl Order {
    pub const fn name(self) -> &'static str {
        match self {
            Order::Pause => "pause",
            Order::Resume => "resume",
            Order::Freeze => "freeze",
            Order::Abort => "abort",
        }
    }

    pub fn from_name(name: &str) -> Option<Order> {
        match name {
            "pause" => Some(Order::Pause),
            "resume" => Some(Order::Resume),
            "freeze" => Some(Order::Freeze),
            "abort" => Some(Order::Abort),
            _ => None,
        }
    }
}

/// What happened to the device. Outcome events answer the last action of their kind; a synchronous
/// driver delivers each before anything else, and an outcome that does not match the phase and the
/// current plane is ignored.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// The device checked in with the planner: the desired state (`None` when the device's ring is
    /// not active) and fresh telemetry. `record` is a device record whose plane versions are the
    /// running ones and whose `release.*` slots hold the desired targets.
    CheckIn {
        desired: Option<&'a Desired>,
        record: Record<'a>,
    },
    /// Time passed; a due timer fires. `record` is fresh telemetry, for a health check.
    Tick {
        record: Record<'a>,
    },
    Downloaded {
        plane: u8,
    },
    DownloadFailed {
        plane: u8,
    },
    Installed {
        plane: u8,
    },
    InstallFailed {
        plane: u8,
    },
    Booted {
        plane: u8,
    },
    /// One boot attempt of the new slot failed; the device came back up on the old slot.
    BootFailed {
        plane: u8,
    },
    Order(Order),
}

impl Event<'_> {
    pub const fn name(&self) -> &'static str {
        match self {
            Event::CheckIn { .. } => "checkin",
            Event::Tick { .. } => "tick",
            Event::Downloaded { .. } => "downloaded",
            Event::DownloadFailed { .. } => "download_failed",
            Event::Installed { .. } => "installed",
            Event::InstallFailed { .. } => "install_failed",
            Event::Booted { .. } => "booted",
            Event::BootFailed { .. } => "boot_failed",
            Event::Order(_) => "order",
        }
    }

    /// The plane of an outcome event.
    pub const fn plane(&self) -> Option<u8> {
        match *self {
            Event::Downloaded { plane }
            | Event::DownloadFailed { plane }
            | Event::Installed { plane }
            | Event::InstallFailed { plane }
            | Event::Booted { plane }
            | Event::BootFailed { plane } => Some(plane),
            _ => None,
        }
    }

    const fn is_outcome(&self) -> bool {
        self.plane().is_some()
    }
}

/// What the device reports to the planner (the ring aggregates count these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    Denied,
    Deferred,
    /// Downloading or installing.
    Updating,
    /// Booted, in the verification window.
    Verifying,
    Succeeded,
    /// Install or boot failed on every attempt (or a crash loop): the device reverted.
    Failed,
    /// A health rule rolled it back.
    RolledBack,
    /// The planner's abort rolled it back.
    Aborted,
    /// A newer release superseded it.
    Cancelled,
    NotInstallable,
}

impl Status {
    pub const fn name(self) -> &'static str {
        match self {
            Status::Denied => "denied",
            Status::Deferred => "deferred",
            Status::Updating => "updating",
            Status::Verifying => "verifying",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::RolledBack => "rolled_back",
            Status::Aborted => "aborted",
            Status::Cancelled => "cancelled",
            Status::NotInstallable => "not_installable",
        }
    }
}

/// Something for the driver to do. Storage actions are idempotent and name the release whose image
/// they concern, so redoing them after a power loss is harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Fetch the image of `plane` for `release` (answered by `Downloaded` / `DownloadFailed`).
    Download {
        release: u32,
        plane: u8,
    },
    /// Write the downloaded image into the plane's inactive slot (`Installed` / `InstallFailed`).
    Install {
        release: u32,
        plane: u8,
    },
    /// Switch to the slot holding `release`'s image and boot it once (`Booted` / `BootFailed`); a
    /// no-op success when it already runs.
    Boot {
        release: u32,
        plane: u8,
    },
    /// Make `release`'s image of the plane permanent (no-op unless it runs on trial).
    Confirm {
        release: u32,
        plane: u8,
    },
    /// Undo `release`'s change of the plane: discard its unbooted image, or switch back to the slot
    /// it replaced (no-op when the plane holds nothing of `release`).
    Revert {
        release: u32,
        plane: u8,
    },
    /// Check in with the planner now (a deferral ended, or a superseded release was reverted).
    CheckIn,
    Report {
        release: u32,
        status: Status,
    },
}

impl Action {
    const fn is_report(&self) -> bool {
        matches!(self, Action::Report { .. })
    }
}

/// The decisions a step took, for explaining it (the fired clauses are in [`Ctx::bits`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub rails: Option<RailVerdict>,
    pub install: Option<Result<InstallOrder, NotInstallable>>,
    pub health: Option<HealthVerdict>,
    /// The record did not fit the policy; the step failed safe (rails deny, health inconclusive).
    pub eval_error: Option<EvalError>,
}

/// Room for reverting or confirming every plane, a report and a check-in.
pub const MAX_ACTIONS: usize = MAX_PLANES + 4;

/// The actions of one step, in order, in a fixed array; and the step's decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actions {
    items: [Action; MAX_ACTIONS],
    len: u8,
    pub decision: Decision,
}

impl Default for Actions {
    fn default() -> Actions {
        Actions::new()
    }
}

impl Actions {
    pub const fn new() -> Actions {
        Actions {
            items: [Action::CheckIn; MAX_ACTIONS],
            len: 0,
            decision: Decision {
                rails: None,
                install: None,
                health: None,
                eval_error: None,
            },
        }
    }

    pub fn as_slice(&self) -> &[Action] {
        self.items.get(..usize::from(self.len)).unwrap_or_default()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Action> {
        self.as_slice().iter()
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ignored when full: no step needs more than `MAX_ACTIONS`.
    fn push(&mut self, a: Action) {
        if let Some(slot) = self.items.get_mut(usize::from(self.len)) {
            *slot = a;
            self.len += 1;
        }
    }

    /// No actions and no decisions, as `new`, without rewriting the array.
    fn clear(&mut self) {
        self.len = 0;
        self.decision = Decision::default();
    }

    fn retain(&mut self, keep: impl Fn(&Action) -> bool) {
        let mut out = Actions {
            decision: self.decision,
            ..Actions::new()
        };
        for a in self.iter().filter(|a| keep(a)) {
            out.push(*a);
        }
        *self = out;
    }
}

/// One transition: the next state and what to do, in order.
pub fn step<E: Evaluator>(
    state: &State,
    now: u32,
    event: &Event<'_>,
    ctx: &mut Ctx<'_, E>,
) -> (State, Actions) {
    let (mut s, mut out) = (*state, Actions::new());
    step_into(&mut s, &mut out, now, event, ctx);
    (s, out)
}

/// `step` in place: `state` becomes the next state and `out` holds the actions (a driver that
/// keeps both saves copying them at every step).
pub fn step_into<E: Evaluator>(
    state: &mut State,
    out: &mut Actions,
    now: u32,
    event: &Event<'_>,
    ctx: &mut Ctx<'_, E>,
) {
    out.clear();
    let mut m = Machine { s: state, out, now };
    match *event {
        Event::CheckIn { desired, record } => m.check_in(desired, &record, ctx),
        Event::Tick { record } => m.tick(&record, ctx),
        Event::Downloaded { plane } => m.downloaded(plane),
        Event::DownloadFailed { plane } => m.download_failed(plane),
        Event::Installed { plane } => m.installed(plane),
        Event::InstallFailed { plane } => m.install_failed(plane, &ctx.config),
        Event::Booted { plane } => m.booted(plane, &ctx.config),
        Event::BootFailed { plane } => m.boot_failed(plane, &ctx.config),
        Event::Order(order) => m.order(order, &ctx.config),
    }
    // An operation that was in flight when the freeze came still finishes (that is a fact the state
    // must record), but nothing new starts until `resume`.
    if event.is_outcome() && m.s.frozen() {
        m.stall();
    }
}

/// Whether a `CheckIn` with `desired` at `now` reads its record (evaluates the rails): a driver that
/// pays for telemetry (a simulator drawing it) may pass an empty record when it does not, and the step
/// is the same. It is what `step` itself decides first (`CheckInPlan`); `machine::tests` checks it
/// against `step` on every phase.
#[inline]
pub fn check_in_reads_record(state: &State, now: u32, desired: Option<&Desired>) -> bool {
    matches!(
        CheckInPlan::of(state, now, desired),
        CheckInPlan::Start(..) | CheckInPlan::StartNewer(_)
    )
}

/// Whether a `CheckIn` with `desired` at `now` does nothing at all: the state stays as it is and no
/// action comes out. Only a deferral's end changes that as time passes, and it is a `Tick` that checks
/// in by itself; so until the agent's next event, a driver that pays for check-ins (a simulator) need
/// not make them. `machine::tests` checks it against `step` on every phase.
#[inline]
pub fn check_in_idles(state: &State, now: u32, desired: Option<&Desired>) -> bool {
    matches!(CheckInPlan::of(state, now, desired), CheckInPlan::Nothing)
}

/// Whether a `Tick` at `now` reads its record (a health check is due); see `check_in_reads_record`.
#[inline]
pub fn tick_reads_record(state: &State, now: u32) -> bool {
    TickPlan::of(state, now) == TickPlan::HealthCheck
}

/// What a check-in does, decided from the state alone (the record only matters once it starts).
enum CheckInPlan<'d> {
    Nothing,
    /// The failed download of the current plane is retried.
    RetryDownload,
    /// A newer release is offered: the planes the old one changed are reverted first, and the
    /// follow-up check-in starts the new one from the reverted versions.
    Cancel(PlaneSet),
    /// A newer release is offered and nothing of the old one is left to revert: it starts now.
    StartNewer(&'d Desired),
    /// The offered release starts (or starts again after a deny or a deferral).
    Start(&'d Desired),
}

impl<'d> CheckInPlan<'d> {
    #[inline]
    fn of(state: &State, now: u32, desired: Option<&'d Desired>) -> CheckInPlan<'d> {
        use CheckInPlan::*;
        if state.frozen() {
            return Nothing;
        }
        let Some(d) = desired else {
            // Nothing offered (the ring is not active): an update in progress still continues.
            return if state.phase == Phase::DownloadWait {
                RetryDownload
            } else {
                Nothing
            };
        };
        if d.release == 0 || d.release < state.release {
            return Nothing;
        }
        if d.release > state.release {
            if state.paused() {
                return Nothing;
            }
            let undo = changed(state);
            return if !state.phase.is_terminal() && !undo.is_empty() {
                Cancel(undo)
            } else {
                StartNewer(d)
            };
        }
        match state.phase {
            Phase::Idle if !state.paused() => Start(d),
            Phase::Deferred if !state.paused() && now >= state.timer => Start(d),
            Phase::DownloadWait => RetryDownload,
            _ => Nothing,
        }
    }
}

/// What a tick does, decided from the state alone.
#[derive(PartialEq, Eq)]
enum TickPlan {
    Nothing,
    /// The deferral is over: retry at a check-in, now.
    EndDeferral,
    HealthCheck,
}

impl TickPlan {
    #[inline]
    fn of(state: &State, now: u32) -> TickPlan {
        if state.frozen() || now < state.timer {
            return TickPlan::Nothing;
        }
        match state.phase {
            Phase::Deferred if !state.paused() => TickPlan::EndDeferral,
            Phase::Verifying => TickPlan::HealthCheck,
            _ => TickPlan::Nothing,
        }
    }
}

/// After a reboot: the state to continue from and the actions to (re)issue, given the journaled
/// state. Storage actions are idempotent, so redoing those of the journaled state is safe whether or
/// not they ran before the power went; what lived in RAM (a downloaded image) is fetched again, and a
/// reboot while a new slot runs on trial counts as one of its boot attempts.
pub fn recover<E: Evaluator>(state: &State, now: u32, ctx: &Ctx<'_, E>) -> (State, Actions) {
    let cfg = &ctx.config;
    let (mut s, mut out) = (*state, Actions::new());
    let mut m = Machine {
        s: &mut s,
        out: &mut out,
        now,
    };
    m.s.flags &= !STALLED;
    match m.s.phase {
        Phase::Installing => {
            // The image was in RAM: discard what reached the slot and fetch it again.
            if let Some(p) = m.s.current_plane() {
                m.push(Action::Revert {
                    release: m.s.release,
                    plane: p,
                });
                m.s.phase = Phase::Downloading;
                m.download(p);
            }
        }
        Phase::Booting => {
            if let Some(p) = m.s.current_plane() {
                m.s.boot_attempts = m.s.boot_attempts.saturating_add(1);
                if m.s.boot_attempts >= cfg.max_boot_attempts {
                    m.fall_back(p, cfg);
                } else {
                    m.push(Action::Boot {
                        release: m.s.release,
                        plane: p,
                    });
                }
            }
        }
        Phase::Verifying => {
            // The new slots booted again: the boot loader counts that against them.
            m.s.boot_attempts = m.s.boot_attempts.saturating_add(1);
            if m.s.boot_attempts >= cfg.max_boot_attempts {
                let undo = changed(m.s);
                m.finish(Phase::Failed, undo, Status::Failed);
            } else {
                m.s.timer = now.saturating_add(cfg.check_every);
            }
        }
        _ => m.push_pending(),
    }
    if m.s.frozen() {
        m.stall();
    }
    (s, out)
}

/// The actions a state still owes (what `resume` re-issues after a freeze, and what recovery redoes):
/// the in-flight action of a transient phase, or the reverts and confirms of an ending.
pub fn pending_actions(state: &State) -> Actions {
    let (mut s, mut out) = (*state, Actions::new());
    Machine {
        s: &mut s,
        out: &mut out,
        now: 0,
    }
    .push_pending();
    out
}

/// Planes the state's release may have changed and not reverted: the booted ones and the one in
/// flight.
fn changed(s: &State) -> PlaneSet {
    let mut set = s.installed;
    if matches!(s.phase, Phase::Installing | Phase::Booting)
        && let Some(p) = s.current_plane()
    {
        set.insert(p);
    }
    minus(set, s.reverted)
}

/// A step in progress: the state it changes and the actions it issues.
struct Machine<'m> {
    s: &'m mut State,
    out: &'m mut Actions,
    now: u32,
}

fn minus(a: PlaneSet, b: PlaneSet) -> PlaneSet {
    PlaneSet(a.0 & !b.0)
}

fn intersect(a: PlaneSet, b: PlaneSet) -> PlaneSet {
    PlaneSet(a.0 & b.0)
}

/// The running version of every plane: the record's `device.<plane>` slots, which follow the device
/// fields in plane order (`Policy::plane_slot`).
#[inline]
fn plane_versions<'r>(policy: &Policy, record: &Record<'r>) -> Option<&'r [u64]> {
    let n = usize::from(policy.n_planes()).min(MAX_PLANES);
    let first = policy.n_device_fields();
    record.slots.get(first..first.checked_add(n)?)
}

impl Machine<'_> {
    fn push(&mut self, a: Action) {
        self.out.push(a);
    }

    fn report(&mut self, status: Status) {
        self.push(Action::Report {
            release: self.s.release,
            status,
        });
    }

    fn download(&mut self, plane: u8) {
        self.push(Action::Download {
            release: self.s.release,
            plane,
        });
    }

    /// The phase is `phase` and the current plane is `plane`.
    fn expect(&self, phase: Phase, plane: u8) -> bool {
        self.s.phase == phase && self.s.current_plane() == Some(plane)
    }

    fn stall(&mut self) {
        let before = self.out.len();
        self.out.retain(Action::is_report);
        if self.out.len() < before {
            self.s.flags |= STALLED;
        }
    }

    fn push_reverts(&mut self, planes: PlaneSet) {
        for i in (0..self.s.len).rev() {
            let p = self.s.plane_at(i);
            if planes.contains(p) {
                self.push(Action::Revert {
                    release: self.s.release,
                    plane: p,
                });
            }
        }
    }

    fn push_confirms(&mut self, planes: PlaneSet) {
        for i in 0..self.s.len {
            let p = self.s.plane_at(i);
            if planes.contains(p) {
                self.push(Action::Confirm {
                    release: self.s.release,
                    plane: p,
                });
            }
        }
    }

    /// Ends the release in `phase`, reverting `undo` now (in reverse install order) and, for the
    /// phases that keep planes, confirming the installed planes that are not reverted.
    fn finish(&mut self, phase: Phase, undo: PlaneSet, status: Status) {
        let undo = intersect(undo, self.s.order_set());
        self.s.phase = phase;
        self.s.reverted = self.s.reverted.union(undo);
        self.s.committed = minus(self.s.committed, self.s.reverted);
        self.push_reverts(undo);
        if matches!(phase, Phase::Committed | Phase::RolledBack) {
            let keep = minus(self.s.installed, self.s.reverted);
            self.push_confirms(minus(keep, self.s.committed));
            self.s.committed = keep;
        }
        self.report(status);
        if phase == Phase::Cancelled {
            self.push(Action::CheckIn);
        }
    }

    fn push_pending(&mut self) {
        let release = self.s.release;
        match (self.s.phase, self.s.current_plane()) {
            (Phase::Downloading, Some(plane)) => self.push(Action::Download { release, plane }),
            (Phase::Installing, Some(plane)) => self.push(Action::Install { release, plane }),
            (Phase::Booting, Some(plane)) => self.push(Action::Boot { release, plane }),
            (Phase::Committed | Phase::RolledBack, _) => {
                self.push_reverts(self.s.reverted);
                self.push_confirms(minus(self.s.installed, self.s.reverted));
            }
            (Phase::Failed | Phase::Aborted, _) => self.push_reverts(self.s.reverted),
            (Phase::Cancelled, _) => {
                self.push_reverts(self.s.reverted);
                self.push(Action::CheckIn);
            }
            _ => {}
        }
    }

    fn check_in<E: Evaluator>(
        &mut self,
        desired: Option<&Desired>,
        record: &Record<'_>,
        ctx: &mut Ctx<'_, E>,
    ) {
        match CheckInPlan::of(self.s, self.now, desired) {
            CheckInPlan::Nothing => {}
            CheckInPlan::RetryDownload => self.retry_download(),
            CheckInPlan::Cancel(undo) => self.finish(Phase::Cancelled, undo, Status::Cancelled),
            CheckInPlan::StartNewer(d) => {
                *self.s = State::fresh(d.release, self.s.flags);
                self.try_start(d, record, ctx);
            }
            CheckInPlan::Start(d) => self.try_start(d, record, ctx),
        }
    }

    fn retry_download(&mut self) {
        if let Some(p) = self.s.current_plane() {
            self.s.phase = Phase::Downloading;
            self.download(p);
        }
    }

    fn try_start<E: Evaluator>(&mut self, d: &Desired, record: &Record<'_>, ctx: &mut Ctx<'_, E>) {
        let verdict = match ctx.eval(FunctionKind::Rails, record) {
            Ok(()) => decision::rails(ctx.policy, &ctx.bits).verdict,
            Err(e) => {
                self.out.decision.eval_error = Some(e);
                RailVerdict::Deny
            }
        };
        self.out.decision.rails = Some(verdict);
        match verdict {
            RailVerdict::Deny => self.deny(),
            RailVerdict::Defer { secs } => {
                self.s.phase = Phase::Deferred;
                self.s.timer = self.now.saturating_add(secs);
                self.report(Status::Deferred);
            }
            RailVerdict::Allow => self.plan(d, record, ctx),
        }
    }

    fn deny(&mut self) {
        self.s.phase = Phase::Idle;
        self.report(Status::Denied);
    }

    /// Rails allow: order the planes to change and start the first.
    fn plan<E: Evaluator>(&mut self, d: &Desired, record: &Record<'_>, ctx: &mut Ctx<'_, E>) {
        let versions = plane_versions(ctx.policy, record);
        let eval = ctx.eval(FunctionKind::Constraints, record);
        let (Some(current), Ok(())) = (versions, eval) else {
            // The record does not fit the policy: fail safe, as the rails would.
            self.out.decision.eval_error = eval.err();
            self.out.decision.rails = Some(RailVerdict::Deny);
            return self.deny();
        };
        let n = current.len();
        let targets = d.targets();
        let targets = targets.get(..n).unwrap_or_default();
        let order = ctx
            .orders
            .install_order(ctx.policy, current, targets, &ctx.bits);
        self.out.decision.install = Some(order);
        match order {
            Err(_) => {
                self.s.phase = Phase::NotInstallable;
                self.report(Status::NotInstallable);
            }
            Ok(order) => {
                self.s.set_order(order.iter());
                match self.s.current_plane() {
                    Some(p) => {
                        self.s.phase = Phase::Downloading;
                        self.report(Status::Updating);
                        self.download(p);
                    }
                    // The device already runs the release.
                    None => self.finish(Phase::Committed, PlaneSet::EMPTY, Status::Succeeded),
                }
            }
        }
    }

    fn tick<E: Evaluator>(&mut self, record: &Record<'_>, ctx: &mut Ctx<'_, E>) {
        match TickPlan::of(self.s, self.now) {
            TickPlan::Nothing => {}
            TickPlan::EndDeferral => {
                self.s.phase = Phase::Idle;
                self.push(Action::CheckIn);
            }
            TickPlan::HealthCheck => self.health_check(record, ctx),
        }
    }

    fn health_check<E: Evaluator>(&mut self, record: &Record<'_>, ctx: &mut Ctx<'_, E>) {
        let cfg = ctx.config;
        self.s.checks = self.s.checks.saturating_add(1);
        let verdict = match ctx.eval(FunctionKind::Health, record) {
            Ok(()) => {
                // Without versions the closure takes every dependent plane: the safe side.
                let versions = plane_versions(ctx.policy, record).unwrap_or_default();
                let n = usize::from(cfg.n_counters);
                let counters = self.s.counters.get_mut(..n).unwrap_or_default();
                decision::health(ctx.policy, &ctx.bits, counters, versions).verdict
            }
            Err(e) => {
                self.out.decision.eval_error = Some(e);
                HealthVerdict::Inconclusive
            }
        };
        self.out.decision.health = Some(verdict);
        let healthy = match verdict {
            HealthVerdict::Rollback { planes } => {
                // Planes this release did not change are not its to roll back; a check that only
                // blames those proves nothing either way.
                let undo = intersect(planes, self.s.installed);
                if !undo.is_empty() {
                    return self.finish(Phase::RolledBack, undo, Status::RolledBack);
                }
                false
            }
            HealthVerdict::Healthy => true,
            HealthVerdict::Inconclusive => false,
        };
        let n = cfg.window_checks;
        if self.s.checks >= n && healthy {
            self.finish(Phase::Committed, PlaneSet::EMPTY, Status::Succeeded);
        } else if self.s.checks >= n.saturating_mul(2) {
            // Never healthy at the end of the window or of the extra checks: fail safe.
            let undo = self.s.installed;
            self.finish(Phase::RolledBack, undo, Status::RolledBack);
        } else {
            self.s.timer = self.now.saturating_add(cfg.check_every);
        }
    }

    fn downloaded(&mut self, plane: u8) {
        if self.expect(Phase::Downloading, plane) {
            self.s.phase = Phase::Installing;
            self.push(Action::Install {
                release: self.s.release,
                plane,
            });
        }
    }

    fn download_failed(&mut self, plane: u8) {
        if self.expect(Phase::Downloading, plane) {
            self.s.phase = Phase::DownloadWait;
        }
    }

    fn installed(&mut self, plane: u8) {
        if self.expect(Phase::Installing, plane) {
            self.s.phase = Phase::Booting;
            self.s.boot_attempts = 0;
            self.push(Action::Boot {
                release: self.s.release,
                plane,
            });
        }
    }

    fn install_failed(&mut self, plane: u8, cfg: &Config) {
        if self.expect(Phase::Installing, plane) {
            self.s.install_attempts = self.s.install_attempts.saturating_add(1);
            self.retry_or_fail(plane, cfg);
        }
    }

    fn booted(&mut self, plane: u8, cfg: &Config) {
        if !self.expect(Phase::Booting, plane) {
            return;
        }
        self.s.installed.insert(plane);
        self.s.boot_attempts = 0;
        self.s.idx = self.s.idx.saturating_add(1);
        match self.s.current_plane() {
            Some(next) => {
                self.s.phase = Phase::Downloading;
                self.download(next);
            }
            None => {
                self.s.phase = Phase::Verifying;
                self.s.timer = self.now.saturating_add(cfg.check_every);
                self.s.checks = 0;
                self.s.counters = [0; MAX_PLANES];
                self.report(Status::Verifying);
            }
        }
    }

    fn boot_failed(&mut self, plane: u8, cfg: &Config) {
        if !self.expect(Phase::Booting, plane) {
            return;
        }
        self.s.boot_attempts = self.s.boot_attempts.saturating_add(1);
        if self.s.boot_attempts < cfg.max_boot_attempts {
            self.push(Action::Boot {
                release: self.s.release,
                plane,
            });
        } else {
            self.fall_back(plane, cfg);
        }
    }

    /// Every boot attempt of the new slot failed: the boot loader goes back to the old slot, which
    /// costs an install attempt.
    fn fall_back(&mut self, plane: u8, cfg: &Config) {
        self.s.boot_attempts = 0;
        self.s.install_attempts = self.s.install_attempts.saturating_add(1);
        self.retry_or_fail(plane, cfg);
    }

    fn retry_or_fail(&mut self, plane: u8, cfg: &Config) {
        if self.s.install_attempts >= cfg.retries {
            let mut undo = self.s.installed;
            undo.insert(plane);
            self.finish(Phase::Failed, undo, Status::Failed);
        } else {
            self.push(Action::Revert {
                release: self.s.release,
                plane,
            });
            self.s.phase = Phase::Downloading;
            self.download(plane);
        }
    }

    fn order(&mut self, order: Order, cfg: &Config) {
        match order {
            Order::Pause => self.s.flags |= PAUSED,
            Order::Freeze => self.s.flags |= FROZEN,
            Order::Resume => {
                let was_frozen = self.s.frozen();
                self.s.flags &= !(PAUSED | FROZEN);
                self.unstall();
                if was_frozen && self.s.phase == Phase::Verifying {
                    self.s.timer = self.now.saturating_add(cfg.check_every);
                }
            }
            Order::Abort => {
                // An abort is the planner's latest word: it lifts a freeze. Of what the freeze held
                // back, only an ending's reverts and confirms are still owed; anything in flight is
                // reverted by the abort itself.
                self.s.flags &= !FROZEN;
                if self.s.stalled() {
                    self.s.flags &= !STALLED;
                    if self.s.phase.is_terminal() {
                        self.push_pending();
                    }
                }
                self.abort();
            }
        }
    }

    fn unstall(&mut self) {
        if self.s.stalled() {
            self.s.flags &= !STALLED;
            self.push_pending();
        }
    }

    fn abort(&mut self) {
        if self.s.release == 0 {
            return;
        }
        match self.s.phase {
            Phase::Failed | Phase::Aborted | Phase::Cancelled | Phase::NotInstallable => {}
            Phase::Committed | Phase::RolledBack => {
                let undo = minus(self.s.installed, self.s.reverted);
                if !undo.is_empty() {
                    self.finish(Phase::Aborted, undo, Status::Aborted);
                }
            }
            _ => {
                let undo = changed(self.s);
                self.finish(Phase::Aborted, undo, Status::Aborted);
            }
        }
    }
}
