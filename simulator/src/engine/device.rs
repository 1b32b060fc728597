//! One simulated device: its agent state, its random stream, what is pending, and how it advances.
//!
//! In: the device's next events (check-in, agent timer, outcome of the agent's last action) and the
//! trial's network. Out: agent steps on fresh records, the actions' simulated outcomes, reports as
//! deltas of the planner's view (delayed while the device's region is partitioned), and the time of the
//! device's next event. Every random number comes from the device's own stream, in event order.

use fleetgate_agents::{Action, Actions, Desired, Event, Order, Phase, State, step_into};
use fleetgate_runtime::Record;

use super::net::Partitions;
use super::{
    Ahead, BRICK_SILENCE, ChunkOut, Delta, Setup, StaticField, Ticks, contexts, profile_index,
};
use crate::input::release::Scenario;
use crate::rng::{Purpose, Stream};

/// A device's status, as the planner counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Status {
    Idle = 0,
    Denied,
    Deferred,
    Updating,
    Verifying,
    Succeeded,
    Failed,
    RolledBack,
    Aborted,
    Cancelled,
    NotInstallable,
    Bricked,
    Offline,
}

impl Status {
    pub const COUNT: usize = 13;

    pub fn is_done(self) -> bool {
        matches!(
            self,
            Status::Succeeded | Status::Failed | Status::RolledBack | Status::Bricked
        )
    }

    fn of(s: fleetgate_agents::Status) -> Status {
        use fleetgate_agents::Status as A;
        match s {
            A::Denied => Status::Denied,
            A::Deferred => Status::Deferred,
            A::Updating => Status::Updating,
            A::Verifying => Status::Verifying,
            A::Succeeded => Status::Succeeded,
            A::Failed => Status::Failed,
            A::RolledBack => Status::RolledBack,
            A::Aborted => Status::Aborted,
            A::Cancelled => Status::Cancelled,
            A::NotInstallable => Status::NotInstallable,
        }
    }

    fn from_code(code: u32) -> Status {
        const ALL: [Status; Status::COUNT] = [
            Status::Idle,
            Status::Denied,
            Status::Deferred,
            Status::Updating,
            Status::Verifying,
            Status::Succeeded,
            Status::Failed,
            Status::RolledBack,
            Status::Aborted,
            Status::Cancelled,
            Status::NotInstallable,
            Status::Bricked,
            Status::Offline,
        ];
        ALL.get(code as usize).copied().unwrap_or(Status::Idle)
    }
}

pub(crate) const NONE: u32 = u32::MAX;

/// How far past its tick a visit runs an offered device's check-ins (and the deferrals that end in
/// them): a day, so that a deferral loop (a device outside its maintenance window checks in every
/// hour) takes one visit, not one per check-in, while a device its rails keep out for good still
/// comes back to be visited once a day (each visit's run-ahead part is kept for an abort).
const CHECKIN_AHEAD: u32 = 24 * 3600;

/// The record of a step that does not read one (`fleetgate_agents::check_in_reads_record`).
const EMPTY: Record<'static> = Record {
    slots: &[],
    missing: &[],
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Outcome {
    Downloaded,
    DownloadFailed,
    Installed,
    InstallFailed,
    Booted,
    BootFailed,
    PowerLoss,
}

impl Outcome {
    fn from_code(code: u32) -> Outcome {
        const ALL: [Outcome; 7] = [
            Outcome::Downloaded,
            Outcome::DownloadFailed,
            Outcome::Installed,
            Outcome::InstallFailed,
            Outcome::Booted,
            Outcome::BootFailed,
            Outcome::PowerLoss,
        ];
        ALL.get(code as usize)
            .copied()
            .unwrap_or(Outcome::Downloaded)
    }
}

// The fields packed in `Dev::bits`.
const OUTCOME_SHIFT: u32 = 0; // 3 bits
const PLANE_SHIFT: u32 = 3; // 4 bits
const TRUTH_SHIFT: u32 = 7; // 4 bits
const REPORTED_SHIFT: u32 = 11; // 4 bits
const FLAGS_SHIFT: u32 = 15; // 8 bits
const HITS_SHIFT: u32 = 23; // 8 bits

const OFFERED: u32 = 1 << FLAGS_SHIFT;
const EXPOSED: u32 = 2 << FLAGS_SHIFT;
const BRICKED: u32 = 4 << FLAGS_SHIFT;
const WAITING: u32 = 8 << FLAGS_SHIFT;
const REPORTED_EXPOSED: u32 = 16 << FLAGS_SHIFT;
const ABORT_PENDING: u32 = 32 << FLAGS_SHIFT;
/// `wake` is the outcome of the agent's last action (else a check-in).
const OUTCOME_DUE: u32 = 64 << FLAGS_SHIFT;

/// One device in one trial: 64 bytes, one cache line, of which the agent's state is 48. What never
/// changes (class, region, ring, static fields) is in the population's row.
///
/// A device has one event of its own pending at a time, `wake`: the outcome of the action in flight
/// (download, install, boot) or else its next check-in. A device busy with an action does not check in;
/// once the outcome is in and nothing else is in flight it checks in again after an exponential wait
/// (check-ins are a Poisson process, so the wait from any moment has the same law).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Dev {
    pub agent: State,
    /// Draws taken from the device's random stream in this trial (the stream's base is recomputed from
    /// the seed, trial and device at each visit).
    draws: u32,
    wake: u32,
    /// When the planner last heard from the device.
    last_heard: u32,
    /// Outcome and its plane, true and reported status, flags, and the scenario's effects that hit
    /// this device (bit per effect, decided at its first offer): see the `*_SHIFT` constants.
    bits: u32,
}

const _: () = assert!(core::mem::size_of::<Dev>() == 64);

impl Dev {
    pub const NEW: Dev = Dev {
        agent: State::new(),
        draws: 0,
        wake: NONE,
        last_heard: 0,
        bits: 0,
    };

    #[inline]
    fn has(&self, flag: u32) -> bool {
        self.bits & flag != 0
    }

    #[inline]
    fn field(&self, shift: u32, width: u32) -> u32 {
        self.bits >> shift & ((1 << width) - 1)
    }

    #[inline]
    fn set_field(&mut self, shift: u32, width: u32, v: u32) {
        let mask = ((1 << width) - 1) << shift;
        self.bits = (self.bits & !mask) | (v << shift & mask);
    }

    pub fn truth(&self) -> Status {
        Status::from_code(self.field(TRUTH_SHIFT, 4))
    }

    fn reported(&self) -> Status {
        Status::from_code(self.field(REPORTED_SHIFT, 4))
    }

    fn set_reported(&mut self, s: Status) {
        self.set_field(REPORTED_SHIFT, 4, s as u32);
    }

    fn hits(&self) -> u32 {
        self.field(HITS_SHIFT, 8)
    }

    /// Planes running the release's version: booted into, and not reverted.
    fn on_new(&self) -> u16 {
        self.agent.installed().0 & !self.agent.reverted().0
    }

    fn set_outcome(&mut self, when: u32, outcome: Outcome, plane: u8) {
        self.wake = when;
        self.bits |= OUTCOME_DUE;
        self.set_field(OUTCOME_SHIFT, 3, outcome as u32);
        self.set_field(PLANE_SHIFT, 4, u32::from(plane));
    }

    /// The device's next event: its time (`NONE` for none) and what it is.
    #[inline]
    fn next_event(&self) -> (u32, Due) {
        let deadline = self.agent.deadline().unwrap_or(NONE);
        let t = self
            .wake
            .min(if self.has(BRICKED) { NONE } else { deadline });
        let due = if self.wake == t && self.has(OUTCOME_DUE) {
            Due::Outcome
        } else if deadline == t {
            Due::Timer
        } else {
            Due::CheckIn
        };
        (t, due)
    }

    pub fn next_time(&self) -> u32 {
        self.next_event().0
    }

    pub fn exposed(&self) -> bool {
        self.has(EXPOSED)
    }

    pub fn affected(&self) -> bool {
        self.exposed() && self.hits() != 0
    }

    /// Whether an abort has something to undo or stop on this device.
    pub fn needs_abort(&self) -> bool {
        self.bits & (OFFERED | WAITING) != 0 && !self.has(BRICKED)
    }

    /// The device hears the planner's abort at its next check-in; schedules one (from `t`, with the
    /// class's mean interval `poll`) unless one or an outcome is pending (a deferred or verifying
    /// device draws no check-in: see `DeviceCtx::keep_polling`). Returns whether that moved its next
    /// event earlier: it must be filed again (its filing at the later event stays: a visit with
    /// nothing due does nothing).
    pub fn mark_abort(&mut self, key: &RngKey, id: u32, poll: f64, t: u32) -> bool {
        self.bits |= ABORT_PENDING;
        let next = self.next_time();
        if self.wake == NONE {
            self.schedule_checkin(key, id, poll, t);
        }
        self.next_time() < next
    }

    /// Schedules the next check-in after `t`, drawing from the device's stream.
    pub fn schedule_checkin(&mut self, key: &RngKey, id: u32, poll: f64, t: u32) {
        let base = key.base(id);
        let mut rng = Stream::at(base, self.draws);
        self.wake = checkin_after(&mut rng, poll, t);
        self.bits &= !OUTCOME_DUE;
        self.draws = rng.draws_since(base);
    }
}

/// The next check-in after `t`: check-ins are a Poisson process with the class's mean interval, so
/// the wait from any moment is exponential.
fn checkin_after(rng: &mut Stream, poll_mean: f64, t: u32) -> u32 {
    let wait = rng.exp(poll_mean).min(f64::from(u32::MAX / 4));
    t.saturating_add(wait as u32 + 1)
}

/// A device's next event: the outcome of its action in flight, a timer of its agent (a health check
/// or the end of a deferral), or a check-in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Due {
    Outcome,
    Timer,
    CheckIn,
}

/// What names the devices' random streams in a trial: the seed and trial's part of their bases.
#[derive(Clone, Copy, Debug)]
pub struct RngKey(u64);

impl RngKey {
    pub fn new(seed: u64, trial: u64) -> RngKey {
        RngKey(crate::rng::trial_part(seed, trial))
    }

    #[inline]
    fn base(&self, id: u32) -> u64 {
        crate::rng::base_in(self.0, u64::from(id), Purpose::Device)
    }
}

/// The scenario's effects, per effect: class filter and probability.
pub struct Effects<'a> {
    scenario: &'a Scenario,
}

impl<'a> Effects<'a> {
    pub fn new(_setup: &Setup<'_>, scenario: &'a Scenario) -> Effects<'a> {
        Effects { scenario }
    }
}

/// Slot bits of static field `f` of device `i` (0 for a dynamic field).
pub fn column_value(pop: &crate::population::Population, f: usize, i: usize) -> u64 {
    pop.value(f, i)
}

/// `dst = src` for bitsets of a record's missing slots: one word but for records of over 64 slots,
/// and a call to `memcpy` per record costs more than the copy.
#[inline]
fn copy_words(dst: &mut [u64], src: &[u64]) {
    match (dst, src) {
        ([d], [s]) => *d = *s,
        (dst, src) => dst.copy_from_slice(src),
    }
}

/// What the agent steps on: an event that carries its own record (or none), or a check-in or a
/// health check on the record just built in `DeviceCtx::slots`/`missing`.
enum On<'d> {
    Event(Event<'d>),
    CheckIn(Option<&'d Desired>),
    HealthCheck,
}

/// Which evaluation a record is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
enum Kind {
    /// Rails and constraints, at a check-in.
    CheckIn,
    /// Health rules, at a health check.
    Health,
}

/// What the fixed part of a record depends on (see `DeviceCtx::record`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fixed {
    id: u32,
    kind: Kind,
    on_new: u16,
    offered: bool,
}

/// Per-thread scratch: agent contexts, a record buffer, and what is known of the device being visited
/// (its random stream, class, region and ring). Aligned to two cache lines: the threads' scratches sit
/// side by side in one `Vec` (`World::ctxs`), and each is written at every event.
#[repr(align(128))]
pub struct DeviceCtx<'s, 'p> {
    setup: &'s Setup<'p>,
    net: &'s Partitions,
    effects: &'s Effects<'s>,
    ctx: [fleetgate_agents::Ctx<'p, &'p super::Evaluator<'p>>; 2],
    slots: Vec<u64>,
    missing: Vec<u64>,
    /// What the fixed part of the record in `slots` was built for, and its missing bits (see
    /// `record`).
    fixed: Option<Fixed>,
    fixed_missing: Vec<u64>,
    /// The actions of the agent's last step.
    actions: Actions,
    /// The tick's length, and the tick of a time.
    ticks: Ticks,
    aborted: bool,
    key: RngKey,
    // The visit's window (see `window`).
    visit_tick: u32,
    until: u32,
    ahead: bool,
    // The device being visited: the tick its current event belongs to, and the time of the last
    // event it ran.
    cur_tick: u32,
    reach: u32,
    rng: Stream,
    base: u64,
    class: usize,
    /// Which of `ctx` the device being visited runs on (its class's profile).
    profile: usize,
    region: u8,
    ring: u8,
    id: u32,
}

impl<'s, 'p> DeviceCtx<'s, 'p> {
    pub fn new(
        setup: &'s Setup<'p>,
        net: &'s Partitions,
        effects: &'s Effects<'s>,
        ticks: Ticks,
        key: RngKey,
    ) -> DeviceCtx<'s, 'p> {
        let len = setup.schema.record_len();
        DeviceCtx {
            setup,
            net,
            effects,
            ctx: contexts(setup),
            slots: vec![0; len],
            missing: vec![0; len.div_ceil(64)],
            fixed: None,
            fixed_missing: vec![0; len.div_ceil(64)],
            actions: Actions::new(),
            ticks,
            aborted: false,
            key,
            visit_tick: 0,
            until: 0,
            ahead: false,
            cur_tick: 0,
            reach: 0,
            rng: Stream(0),
            base: 0,
            class: 0,
            profile: 0,
            region: u8::MAX,
            ring: 0,
            id: 0,
        }
    }

    /// Whether the rollout was aborted (before the visits from now on).
    pub(crate) fn set_aborted(&mut self, aborted: bool) {
        self.aborted = aborted;
    }

    /// Visits from now on belong to tick `tick`, which ends at `until`: they run every event before
    /// `until`, and with `ahead` also the later events that do not depend on the planner (see
    /// `runs_ahead`).
    pub(crate) fn window(&mut self, tick: u32, until: u32, ahead: bool) {
        self.visit_tick = tick;
        self.until = until;
        self.ahead = ahead;
    }

    /// Starts a visit of device `id`.
    #[inline]
    fn begin(&mut self, id: u32, dev: &Dev) {
        self.reach = 0;
        let pop = self.setup.pop;
        let row = pop.row(id as usize);
        self.class = pop.class_in(row);
        self.profile = self
            .setup
            .fleet
            .classes
            .get(self.class)
            .map_or(0, |c| profile_index(c.profile));
        self.ring = pop.ring(id as usize);
        self.region = self
            .setup
            .fleet
            .region_field
            .map_or(u8::MAX, |f| pop.value(f, id as usize) as u8);
        self.id = id;
        self.base = self.key.base(id);
        self.rng = Stream::at(self.base, dev.draws);
    }

    /// Ends a visit: the device keeps its place in its stream.
    #[inline]
    fn end(&self, dev: &mut Dev) {
        dev.draws = self.rng.draws_since(self.base);
    }

    fn poll(&self) -> f64 {
        self.setup.fleet.classes[self.class].poll_every
    }

    #[inline]
    fn blocked_until(&self, t: u32) -> Option<u32> {
        if self.region == u8::MAX {
            None
        } else {
            self.net.blocked_until(usize::from(self.region), t)
        }
    }

    /// Builds the device's record of `kind` at `t`: static fields from its row, fresh draws of the
    /// dynamic fields, versions it runs, local time (when the evaluation reads it), the release's
    /// targets, and the scenario's effects if it runs the release. A check-in's record has the fields
    /// its rails and constraints read, and the release's targets (only an offered device checks in
    /// with a record); a health check's, the fields its health rules read, and the targets if the
    /// device was offered.
    ///
    /// The part that does not change between two records of the same kind for the same device in the
    /// same state (static fields, versions, release) is kept from the last record when it was built
    /// for the same `Fixed`: a verification window's health checks draw only their dynamic fields.
    fn record(&mut self, id: u32, dev: &Dev, t: u32, kind: Kind) {
        let setup = self.setup;
        let (statics, offered) = match kind {
            Kind::CheckIn => (&setup.checkin_static, true),
            Kind::Health => (&setup.health_static, dev.has(OFFERED)),
        };
        let dynamic = &setup.dynamic[self.class][kind as usize];
        let on_new = dev.on_new();
        let hits = dev.hits();
        // The scenario's effects change fields (`add` is not idempotent): such records are built whole.
        let effects = on_new != 0 && hits != 0;
        let fixed = Fixed {
            id,
            kind,
            on_new,
            offered,
        };
        if effects || self.fixed != Some(fixed) {
            self.build_fixed(fixed, statics, &dynamic.fixed);
            self.fixed = (!effects).then_some(fixed);
        } else {
            copy_words(&mut self.missing, &self.fixed_missing);
        }
        self.draw(t, kind);
        if effects {
            self.apply_effects(hits);
        }
    }

    /// The record's dynamic part, on its fixed part: fresh draws of the dynamic fields, and the local
    /// time (when the evaluation reads it).
    #[inline]
    fn draw(&mut self, t: u32, kind: Kind) {
        let setup = self.setup;
        let dynamic = &setup.dynamic[self.class][kind as usize];
        for (f, dist) in &dynamic.draw {
            let f = *f;
            match dist.sample(&mut self.rng) {
                Some(b) => self.slots[f] = b,
                None => self.missing[f / 64] |= 1 << (f % 64),
            }
        }
        if setup.reads_now[kind as usize] {
            let local = i64::from(t)
                + i64::from(
                    setup
                        .region_offset
                        .get(usize::from(self.region))
                        .copied()
                        .unwrap_or(0),
                );
            let local = local.rem_euclid(7 * 86_400);
            self.slots[setup.schema.now_hour_slot()] = ((local / 3600) % 24) as u64;
            self.slots[setup.schema.now_weekday_slot()] = (local / 86_400) as u64;
        }
    }

    /// The scenario's effects that hit the device (`hits`, one bit per effect), on the record.
    #[cold]
    fn apply_effects(&mut self, hits: u32) {
        let setup = self.setup;
        for (e, effect) in self.effects.scenario.effects.iter().enumerate() {
            if hits >> e & 1 == 0 {
                continue;
            }
            for &(f, bits) in &effect.set {
                self.slots[f] = bits;
                self.missing[f / 64] &= !(1 << (f % 64));
            }
            for &(f, amount) in &effect.add {
                let ty = &setup.schema.fields[f].ty;
                let v = self.slots[f];
                self.slots[f] = match ty {
                    crate::schema::FieldType::Int | crate::schema::FieldType::Duration => {
                        (v as i64).saturating_add(amount.round() as i64) as u64
                    }
                    _ => (f64::from_bits(v) + amount).to_bits(),
                };
            }
        }
    }

    /// The fixed part of a record (see `record`): static fields, the fixed values of dynamic fields,
    /// versions and the release's targets, and their missing bits (kept in `fixed_missing`). Out of
    /// line: a verification window's health checks build it once.
    #[inline(never)]
    fn build_fixed(
        &mut self,
        fixed: Fixed,
        statics: &[StaticField],
        dynamic_fixed: &[(usize, Option<u64>)],
    ) {
        let Fixed {
            id,
            on_new,
            offered,
            ..
        } = fixed;
        let setup = self.setup;
        let pop = setup.pop;
        let row = pop.row(id as usize);
        match &mut self.missing[..] {
            [w] => *w = 0,
            words => words.fill(0),
        }
        for s in statics {
            self.slots[s.slot] = s.column.bits(row);
            if s.missing.is_some_and(|m| m.bits(row) & 1 == 1) {
                self.missing[s.slot / 64] |= 1 << (s.slot % 64);
            }
        }
        for &(f, bits) in dynamic_fixed {
            match bits {
                Some(b) => self.slots[f] = b,
                None => self.missing[f / 64] |= 1 << (f % 64),
            }
        }
        for (p, plane) in setup.plane_slots.iter().enumerate() {
            let new = on_new >> p & 1 == 1;
            self.slots[plane.slot] = match plane.target {
                Some(v) if new => v,
                _ => pop.version_in(p, row),
            };
            match plane.target {
                Some(v) if offered => self.slots[plane.release] = v,
                _ => self.missing[plane.release / 64] |= 1 << (plane.release % 64),
            }
        }
        copy_words(&mut self.fixed_missing, &self.missing);
    }

    /// Failure probabilities for this device, with the scenario's overrides if it is hit.
    fn failure(&self, dev: &Dev) -> crate::input::fleet::Failure {
        let mut f = self.setup.fleet.classes[self.class].failure;
        let hits = dev.hits();
        for (e, effect) in self.effects.scenario.effects.iter().enumerate() {
            if hits >> e & 1 == 1 {
                let o = effect.fail;
                f.download = o.download.unwrap_or(f.download);
                f.install = o.install.unwrap_or(f.install);
                f.boot = o.boot.unwrap_or(f.boot);
                f.power_loss = o.power_loss.unwrap_or(f.power_loss);
                f.brick_given_power_loss =
                    o.brick_given_power_loss.unwrap_or(f.brick_given_power_loss);
            }
        }
        f
    }

    /// Sets the device's true status, noting changes of the ring's done count and of the devices in
    /// progress.
    fn set_truth(&self, dev: &mut Dev, status: Status, out: &mut ChunkOut) {
        let busy = |s: Status| i32::from(matches!(s, Status::Updating | Status::Verifying));
        let old = dev.truth();
        let done = i32::from(status.is_done()) - i32::from(old.is_done());
        let progress = busy(status) - busy(old);
        if done != 0 || progress != 0 {
            out.truth(self.cur_tick, self.ring, done, 0, progress);
        }
        dev.set_field(TRUTH_SHIFT, 4, status as u32);
    }

    /// The planner hears, at time `at`, that the device went from `from` to `to`.
    fn tell(
        &self,
        out: &mut ChunkOut,
        at: u32,
        from: Option<Status>,
        to: Option<Status>,
        exposed: bool,
    ) {
        let delta = Delta {
            // Never before the tick of the event that reports it.
            tick: self.ticks.of(at).max(self.cur_tick),
            made: self.cur_tick,
            ring: self.ring,
            from,
            to,
            exposed,
        };
        out.report(delta, self.setup, self.id);
    }

    fn report(&mut self, dev: &mut Dev, status: Status, t: u32, out: &mut ChunkOut) {
        self.set_truth(dev, status, out);
        let poll = self.poll() as u32;
        let deliver = self.blocked_until(t).unwrap_or(t);
        let reported = dev.reported();
        let in_update = matches!(reported, Status::Updating | Status::Verifying);
        let silent_from = dev.last_heard.saturating_add(2 * poll.max(1));
        let mut from = Some(reported).filter(|s| *s != Status::Idle);
        if in_update && deliver > silent_from {
            self.tell(out, silent_from, from, Some(Status::Offline), false);
            from = Some(Status::Offline);
        }
        let exposed = status == Status::Verifying && !dev.has(REPORTED_EXPOSED);
        if exposed {
            dev.bits |= REPORTED_EXPOSED;
        }
        self.tell(out, deliver, from, Some(status), exposed);
        dev.set_reported(status);
        dev.last_heard = deliver;
    }

    fn brick(&mut self, dev: &mut Dev, t: u32, out: &mut ChunkOut) {
        dev.bits = (dev.bits | BRICKED) & !OUTCOME_DUE;
        self.set_truth(dev, Status::Bricked, out);
        dev.wake = NONE;
        // Silent from now on: the planner first sees it offline, then counts it bricked.
        let poll = self.poll() as u32;
        let from = Some(dev.reported()).filter(|s| *s != Status::Idle);
        let offline_at = dev.last_heard.max(t).saturating_add(2 * poll.max(1));
        let bricked_at = dev
            .last_heard
            .max(t)
            .saturating_add(BRICK_SILENCE)
            .max(offline_at);
        self.tell(out, offline_at, from, Some(Status::Offline), false);
        self.tell(
            out,
            bricked_at,
            Some(Status::Offline),
            Some(Status::Bricked),
            false,
        );
        dev.set_reported(Status::Bricked);
    }

    /// Carries out the agent's actions at `t` (those of its last step, in `self.actions`). Each kind
    /// of action out of line: a step issues one or two, and the loop stays light.
    fn apply(&mut self, id: u32, dev: &mut Dev, t: u32, out: &mut ChunkOut) {
        for i in 0..self.actions.len() {
            let Some(&a) = self.actions.as_slice().get(i) else {
                break;
            };
            match a {
                Action::Download { plane, .. } => self.download(id, dev, t, plane),
                Action::Install { plane, .. } => self.install(dev, t, plane),
                Action::Boot { plane, .. } => self.boot(dev, t, plane),
                // The agent's own bookkeeping: `on_new` follows its installed and reverted planes.
                Action::Confirm { .. } | Action::Revert { .. } => {}
                Action::CheckIn => {
                    if !dev.has(OUTCOME_DUE) {
                        dev.wake = t;
                    }
                }
                Action::Report { status, .. } => self.report(dev, Status::of(status), t, out),
            }
        }
    }

    /// The size of the release's image for `plane`, in KB.
    fn size_kb(&self, plane: u8) -> f64 {
        self.setup
            .release
            .targets
            .get(usize::from(plane))
            .copied()
            .flatten()
            .map_or(0.0, |x| x.size_kb)
    }

    #[inline(never)]
    fn download(&mut self, id: u32, dev: &mut Dev, t: u32, plane: u8) {
        let size = self.size_kb(plane);
        let bw = self.setup.pop.bandwidth_kbps(id as usize).max(1e-3);
        let dt = ((size * 8.0 / bw) as u32).max(1);
        let f = self.failure(dev);
        let (when, ok) = if let Some(end) = self.blocked_until(t) {
            (end.min(t.saturating_add(60)), false)
        } else if self.rng.chance(f.download) {
            (
                t.saturating_add((self.rng.unit() * f64::from(dt)) as u32 + 1),
                false,
            )
        } else {
            let cut = if self.region == u8::MAX {
                None
            } else {
                self.net
                    .starts_within(usize::from(self.region), t, t.saturating_add(dt))
            };
            match cut {
                Some(cut) => (cut.max(t + 1), false),
                None => (t.saturating_add(dt), true),
            }
        };
        let outcome = if ok {
            Outcome::Downloaded
        } else {
            Outcome::DownloadFailed
        };
        dev.set_outcome(when, outcome, plane);
    }

    #[inline(never)]
    fn install(&mut self, dev: &mut Dev, t: u32, plane: u8) {
        let dt = 20 + (self.size_kb(plane) / 500.0) as u32;
        let f = self.failure(dev);
        let ends = [Outcome::Installed, Outcome::InstallFailed];
        self.at_power_risk(dev, t, plane, dt, (f.power_loss, f.install), ends);
    }

    #[inline(never)]
    fn boot(&mut self, dev: &mut Dev, t: u32, plane: u8) {
        let f = self.failure(dev);
        let ends = [Outcome::Booted, Outcome::BootFailed];
        self.at_power_risk(dev, t, plane, 45, (f.power_loss, f.boot), ends);
    }

    /// An install or a boot of `plane` from `t`, taking `dt` seconds: the power goes during it with
    /// probability `power_loss` (at a uniform time), else it ends at `t + dt`, failing with probability
    /// `fail`. `[done, failed]` are its outcomes.
    fn at_power_risk(
        &mut self,
        dev: &mut Dev,
        t: u32,
        plane: u8,
        dt: u32,
        (power_loss, fail): (f64, f64),
        [done, failed]: [Outcome; 2],
    ) {
        if self.rng.chance(power_loss) {
            let when = t.saturating_add((self.rng.unit() * f64::from(dt)) as u32 + 1);
            dev.set_outcome(when, Outcome::PowerLoss, plane);
        } else {
            let outcome = if self.rng.chance(fail) { failed } else { done };
            dev.set_outcome(t.saturating_add(dt), outcome, plane);
        }
    }

    fn desired(&self, dev: &Dev) -> Option<&'s fleetgate_agents::Desired> {
        (dev.has(OFFERED) && !self.aborted).then_some(&self.setup.desired)
    }

    /// One step of the agent on `on`, then its actions carried out.
    #[inline]
    fn step(&mut self, id: u32, dev: &mut Dev, t: u32, on: On<'_>, out: &mut ChunkOut) {
        let ctx = self.profile;
        // The record borrows the buffers; the agent's context and actions are other fields.
        let record = Record {
            slots: &self.slots,
            missing: &self.missing,
        };
        let event = match on {
            On::Event(event) => event,
            On::CheckIn(desired) => Event::CheckIn { desired, record },
            On::HealthCheck => Event::Tick { record },
        };
        step_into(
            &mut dev.agent,
            &mut self.actions,
            t,
            &event,
            &mut self.ctx[ctx],
        );
        if !self.actions.is_empty() {
            self.apply(id, dev, t, out);
        }
    }

    /// An offered device with nothing in flight keeps checking in while a check-in would do
    /// something: start or retry its update, or hear an abort. While its agent is deferred, verifying
    /// or done, a check-in does nothing (`fleetgate_agents::check_in_idles`) and none is drawn: the
    /// agent's timer is its next event, and the end of a deferral checks in by itself. Check-ins are a
    /// Poisson process, so the first one after any moment (an abort's) has the same law as in the
    /// process with every check-in drawn.
    #[inline(always)]
    fn keep_polling(&mut self, dev: &mut Dev, t: u32) {
        if dev.wake == NONE
            && dev.has(OFFERED)
            && !dev.has(BRICKED)
            && (dev.has(ABORT_PENDING)
                || !fleetgate_agents::check_in_idles(&dev.agent, t, self.desired(dev)))
        {
            let poll = self.poll();
            dev.wake = checkin_after(&mut self.rng, poll, t);
        }
    }

    /// Runs `dev`'s events of the window (see `window`); files it for its next event (`ChunkOut::file`; or a
    /// request for an offer).
    pub fn advance(&mut self, id: u32, dev: &mut Dev, out: &mut ChunkOut) {
        let before = *dev;
        self.begin(id, dev);
        self.run_events(id, dev, out);
        self.end(dev);
        self.note_ahead(id, None, before, out);
    }

    /// A visit ends: the time of its last event counts in `out`, and a visit that ran events past its
    /// tick keeps the device as it was before, in case the planner aborts before those events' time
    /// (`World::replay_ahead`).
    fn note_ahead(&self, id: u32, offer: Option<u32>, before: Dev, out: &mut ChunkOut) {
        out.reached(self.reach);
        if self.ahead && !self.aborted && self.reach >= self.until {
            out.ran_ahead(Ahead {
                id,
                offer,
                tick: self.visit_tick,
                until: self.until,
                reach: self.reach,
                region: 0,
                before,
            });
        }
    }

    /// Whether the event at `t`, after the window, may run now. An outcome (download, install, boot)
    /// or a health check depends on the device alone. A check-in of an offered device (and the end
    /// of a deferral, which checks in) depends on the planner only through an abort, which replays
    /// the visit (`World::replay_ahead`): until the planner has aborted, it runs ahead too, up to
    /// `CHECKIN_AHEAD` past the window. A device not yet offered waits for the planner's offer. No
    /// event at or after `limit` ever runs.
    #[inline]
    fn runs_ahead(&self, dev: &Dev, due: Due, t: u32) -> bool {
        self.ahead
            && t < self.setup.limit
            && match due {
                Due::Outcome => true,
                Due::Timer => match dev.agent.phase() {
                    Phase::Verifying => true,
                    Phase::Deferred => self.checks_in_ahead(t),
                    _ => false,
                },
                Due::CheckIn => dev.has(OFFERED) && self.checks_in_ahead(t),
            }
    }

    #[inline]
    fn checks_in_ahead(&self, t: u32) -> bool {
        !self.aborted && t < self.until.saturating_add(CHECKIN_AHEAD)
    }

    /// The visit runs an event at `t`: one unit of it, counted, in the tick the event belongs to (that
    /// of its time when it is after the window).
    #[inline(always)]
    fn start_event(&mut self, t: u32, out: &mut ChunkOut) {
        out.unit();
        self.reach = t;
        self.cur_tick = if t < self.until {
            self.visit_tick
        } else {
            self.ticks.of(t)
        };
        out.event();
    }

    fn run_events(&mut self, id: u32, dev: &mut Dev, out: &mut ChunkOut) {
        loop {
            let (t, due) = dev.next_event();
            if t == NONE {
                return;
            }
            if t >= self.until && !self.runs_ahead(dev, due, t) {
                out.file(t, id);
                return;
            }
            self.start_event(t, out);
            if due == Due::Outcome {
                dev.wake = NONE;
                dev.bits &= !OUTCOME_DUE;
                let plane = dev.field(PLANE_SHIFT, 4) as u8;
                let event = match Outcome::from_code(dev.field(OUTCOME_SHIFT, 3)) {
                    Outcome::Downloaded => Event::Downloaded { plane },
                    Outcome::DownloadFailed => Event::DownloadFailed { plane },
                    Outcome::Installed => Event::Installed { plane },
                    Outcome::InstallFailed => Event::InstallFailed { plane },
                    Outcome::Booted => {
                        if !dev.has(EXPOSED) {
                            dev.bits |= EXPOSED;
                            out.truth(self.cur_tick, self.ring, 0, 1, 0);
                        }
                        Event::Booted { plane }
                    }
                    Outcome::BootFailed => Event::BootFailed { plane },
                    Outcome::PowerLoss => {
                        let f = self.failure(dev);
                        if self.rng.chance(f.brick_given_power_loss) {
                            self.brick(dev, t, out);
                            return;
                        }
                        let ctx = &self.ctx[self.profile];
                        let (state, actions) = fleetgate_agents::recover(&dev.agent, t, ctx);
                        dev.agent = state;
                        self.actions = actions;
                        self.apply(id, dev, t, out);
                        self.keep_polling(dev, t);
                        continue;
                    }
                };
                self.step(id, dev, t, On::Event(event), out);
            } else if due == Due::Timer {
                if fleetgate_agents::tick_reads_record(&dev.agent, t) {
                    self.health_checks(id, dev, t, out);
                    continue;
                } else {
                    // A deferral ends: no telemetry is drawn for a step that does not read it.
                    self.step(id, dev, t, On::Event(Event::Tick { record: EMPTY }), out);
                }
            } else {
                // A check-in.
                dev.wake = NONE;
                if let Some(end) = self.blocked_until(t) {
                    dev.wake = end;
                    continue;
                }
                if dev.has(ABORT_PENDING) {
                    dev.bits &= !ABORT_PENDING;
                    self.step(id, dev, t, On::Event(Event::Order(Order::Abort)), out);
                }
                if !dev.has(OFFERED) {
                    if !self.aborted && !dev.has(BRICKED) {
                        // The first offer comes from the planner, at the next tick.
                        dev.bits |= WAITING;
                        out.requests.push((t, id));
                    }
                    return;
                }
                self.check_in(id, dev, t, out);
            }
            self.keep_polling(dev, t);
        }
    }

    /// The health checks of a verification window, from the one due at `t`: each as `run_events`
    /// runs a timer event, but one after another without its dispatch while the next event is again a
    /// health check it would run now (most of a device's events are these). Between two checks that
    /// change nothing but the agent's counters and timer, the record keeps its fixed part: each
    /// draws only its dynamic fields. The loop in `run_events` takes over at any other event.
    fn health_checks(&mut self, id: u32, dev: &mut Dev, mut t: u32, out: &mut ChunkOut) {
        self.record(id, dev, t, Kind::Health);
        loop {
            self.step(id, dev, t, On::HealthCheck, out);
            let changed = !self.actions.is_empty();
            self.keep_polling(dev, t);
            let (next, due) = dev.next_event();
            if changed
                || due != Due::Timer
                || (next >= self.until && !self.runs_ahead(dev, due, next))
                || !fleetgate_agents::tick_reads_record(&dev.agent, next)
            {
                return;
            }
            t = next;
            self.start_event(t, out);
            if self.fixed.is_some() {
                // Still the record's fixed part (see `record`): a check that issued no action changed
                // none of what it depends on.
                debug_assert_eq!(
                    self.fixed,
                    Some(Fixed {
                        id,
                        kind: Kind::Health,
                        on_new: dev.on_new(),
                        offered: dev.has(OFFERED),
                    })
                );
                copy_words(&mut self.missing, &self.fixed_missing);
                self.draw(t, Kind::Health);
            } else {
                self.record(id, dev, t, Kind::Health);
            }
        }
    }

    fn check_in(&mut self, id: u32, dev: &mut Dev, t: u32, out: &mut ChunkOut) {
        let desired = self.desired(dev);
        if !fleetgate_agents::check_in_reads_record(&dev.agent, t, desired) {
            // Nothing to start (deferred, busy or done): no telemetry is drawn for it.
            let event = Event::CheckIn {
                desired,
                record: EMPTY,
            };
            return self.step(id, dev, t, On::Event(event), out);
        }
        self.record(id, dev, t, Kind::CheckIn);
        let desired = self.desired(dev);
        self.step(id, dev, t, On::CheckIn(desired), out);
    }

    /// The planner's first offer reaches the device at `t`, the end of its tick; then it runs on as
    /// `advance` does.
    pub fn offer(&mut self, id: u32, dev: &mut Dev, t: u32, out: &mut ChunkOut) {
        let before = *dev;
        self.begin(id, dev);
        out.unit();
        self.reach = t;
        self.cur_tick = self.visit_tick;
        dev.bits = (dev.bits | OFFERED) & !WAITING;
        // Which of the scenario's defects hit this device: decided once, at its first offer.
        let class = self.class;
        let mut hits = 0;
        for (e, effect) in self.effects.scenario.effects.iter().enumerate().take(8) {
            if effect.class.is_none_or(|c| c == class) && self.rng.chance(effect.probability) {
                hits |= 1 << e;
            }
        }
        dev.set_field(HITS_SHIFT, 8, hits);
        self.check_in(id, dev, t, out);
        self.keep_polling(dev, t);
        self.run_events(id, dev, out);
        self.end(dev);
        self.note_ahead(id, Some(t), before, out);
    }
}
