//! One simulated device: its agent state, its random stream, what is pending, and how it advances.
//!
//! In: the device's next events (check-in, agent timer, outcome of the agent's last action) and the
//! trial's network. Out: agent steps on fresh records, the actions' simulated outcomes, reports as
//! deltas of the planner's view (delayed while the device's region is partitioned), and the time of the
//! device's next event. Every random number comes from the device's own stream, in event order.

use fleetgate_agents::{Action, Event, Order, State, step};
use fleetgate_runtime::Record;

use super::net::Partitions;
use super::{BRICK_SILENCE, ChunkOut, Delta, Setup, contexts, profile_index};
use crate::input::release::Scenario;
use crate::population::FieldStore;
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
        matches!(self, Status::Succeeded | Status::Failed | Status::RolledBack | Status::Bricked)
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
}

const NONE: u32 = u32::MAX;

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

const OFFERED: u8 = 1;
const EXPOSED: u8 = 2;
const BRICKED: u8 = 4;
const WAITING: u8 = 8;
const REPORTED_EXPOSED: u8 = 16;

/// One device in one trial (about 80 bytes; the agent's state is 48 of them).
#[derive(Clone, Copy, Debug)]
pub struct Dev {
    pub agent: State,
    rng: Stream,
    next_checkin: u32,
    outcome_at: u32,
    outcome: Outcome,
    outcome_plane: u8,
    /// When the planner last heard from the device.
    last_heard: u32,
    pub truth: Status,
    reported: Status,
    /// Planes running the release's version.
    on_new: u16,
    flags: u8,
    /// The scenario's effects that hit this device (bit per effect), decided at its first offer.
    hits: u8,
    pub abort_pending: bool,
    /// Index of the device's class in the fleet model.
    pub class: u8,
    /// The device's region (the `region` field's value), `u8::MAX` without regions.
    pub region: u8,
}

impl Dev {
    pub fn new(seed: u64, trial: u64, id: u32, class: u8, region: u8) -> Dev {
        Dev {
            agent: State::new(),
            rng: Stream::new(seed, trial, u64::from(id), Purpose::Device),
            next_checkin: NONE,
            outcome_at: NONE,
            outcome: Outcome::Downloaded,
            outcome_plane: 0,
            last_heard: 0,
            truth: Status::Idle,
            reported: Status::Idle,
            on_new: 0,
            flags: 0,
            hits: 0,
            abort_pending: false,
            class,
            region,
        }
    }

    pub fn next_time(&self) -> u32 {
        let deadline = if self.flags & BRICKED != 0 { NONE } else { self.agent.deadline().unwrap_or(NONE) };
        self.next_checkin.min(self.outcome_at).min(deadline)
    }

    pub fn exposed(&self) -> bool {
        self.flags & EXPOSED != 0
    }

    pub fn affected(&self) -> bool {
        self.exposed() && self.hits != 0
    }

    /// Whether an abort has something to undo or stop on this device.
    pub fn needs_abort(&self) -> bool {
        self.flags & (OFFERED | WAITING) != 0 && self.flags & BRICKED == 0
    }

    /// The next check-in after `t`: check-ins are a Poisson process with the class's mean interval,
    /// so the wait from any moment is exponential.
    pub fn schedule_checkin_after(&mut self, poll_mean: f64, t: u32) {
        let wait = self.rng.exp(poll_mean).min(f64::from(u32::MAX / 4));
        self.next_checkin = t.saturating_add(wait as u32 + 1);
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
    match &pop.fields[f] {
        FieldStore::Static { column, .. } => column.bits(i),
        FieldStore::Dynamic => 0,
    }
}

/// Per-thread scratch: agent contexts and a record buffer.
pub struct DeviceCtx<'s, 'p> {
    setup: &'s Setup<'p>,
    net: &'s Partitions,
    effects: &'s Effects<'s>,
    ctx: [fleetgate_agents::Ctx<'p, &'p super::Evaluator<'p>>; 2],
    slots: Vec<u64>,
    missing: Vec<u64>,
    tick: u32,
    aborted: bool,
}

impl<'s, 'p> DeviceCtx<'s, 'p> {
    pub fn new(setup: &'s Setup<'p>, net: &'s Partitions, effects: &'s Effects<'s>, tick: u32, aborted: bool) -> DeviceCtx<'s, 'p> {
        let len = setup.schema.record_len();
        DeviceCtx {
            setup,
            net,
            effects,
            ctx: contexts(setup),
            slots: vec![0; len],
            missing: vec![0; len.div_ceil(64)],
            tick,
            aborted,
        }
    }

    #[inline]
    fn blocked_until(&self, dev: &Dev, t: u32) -> Option<u32> {
        if dev.region == u8::MAX { None } else { self.net.blocked_until(usize::from(dev.region), t) }
    }

    /// Builds the device's record at `t`: static columns, fresh draws of the dynamic `fields`, versions
    /// it runs, local time, the release's targets, and the scenario's effects if it runs the release.
    fn record(&mut self, id: u32, dev: &mut Dev, t: u32, statics: &[usize], fields: &[usize], offered: bool) {
        let setup = self.setup;
        let pop = setup.pop;
        let i = id as usize;
        let class = &setup.fleet.classes[usize::from(dev.class)];
        self.missing.iter_mut().for_each(|w| *w = 0);
        for &f in statics {
            if let FieldStore::Static { column, .. } = &pop.fields[f] {
                self.slots[f] = column.bits(i);
                if pop.is_missing(f, i) {
                    self.missing[f / 64] |= 1 << (f % 64);
                }
            }
        }
        for &f in fields {
            match class.fields[f].sample(&mut dev.rng) {
                Some(b) => self.slots[f] = b,
                None => self.missing[f / 64] |= 1 << (f % 64),
            }
        }
        for p in 0..setup.schema.planes.len() {
            let new = dev.on_new >> p & 1 == 1;
            self.slots[setup.schema.plane_slot(p)] = match setup.desired.target(p as u8) {
                Some(v) if new => v,
                _ => pop.version(p, i),
            };
            let rs = setup.schema.release_slot(p);
            match setup.desired.target(p as u8) {
                Some(v) if offered => self.slots[rs] = v,
                _ => self.missing[rs / 64] |= 1 << (rs % 64),
            }
        }
        let local = i64::from(t) + i64::from(setup.region_offset.get(usize::from(dev.region)).copied().unwrap_or(0));
        let local = local.rem_euclid(7 * 86_400);
        self.slots[setup.schema.now_hour_slot()] = ((local / 3600) % 24) as u64;
        self.slots[setup.schema.now_weekday_slot()] = (local / 86_400) as u64;
        if dev.on_new != 0 && dev.hits != 0 {
            for (e, effect) in self.effects.scenario.effects.iter().enumerate() {
                if dev.hits >> e & 1 == 0 {
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
    }

    /// Failure probabilities for this device, with the scenario's overrides if it is hit.
    fn failure(&self, dev: &Dev) -> crate::input::fleet::Failure {
        let mut f = self.setup.fleet.classes[usize::from(dev.class)].failure;
        for (e, effect) in self.effects.scenario.effects.iter().enumerate() {
            if dev.hits >> e & 1 == 1 {
                let o = effect.fail;
                f.download = o.download.unwrap_or(f.download);
                f.install = o.install.unwrap_or(f.install);
                f.boot = o.boot.unwrap_or(f.boot);
                f.power_loss = o.power_loss.unwrap_or(f.power_loss);
                f.brick_given_power_loss = o.brick_given_power_loss.unwrap_or(f.brick_given_power_loss);
            }
        }
        f
    }

    /// Sets the device's true status, noting changes of the ring's done count and of the devices in
    /// progress.
    fn set_truth(&self, id: u32, dev: &mut Dev, status: Status, out: &mut ChunkOut) {
        let busy = |s: Status| i32::from(matches!(s, Status::Updating | Status::Verifying));
        let done = i32::from(status.is_done()) - i32::from(dev.truth.is_done());
        let progress = busy(status) - busy(dev.truth);
        if done != 0 || progress != 0 {
            out.truth.push((self.setup.pop.ring[id as usize], done, 0, progress));
        }
        dev.truth = status;
    }

    fn report(&mut self, id: u32, dev: &mut Dev, status: Status, t: u32, out: &mut ChunkOut) {
        self.set_truth(id, dev, status, out);
        let poll = self.setup.fleet.classes[usize::from(dev.class)].poll_every as u32;
        let deliver = self.blocked_until(dev, t).unwrap_or(t);
        let ring = self.setup.pop.ring[id as usize];
        let step = self.tick;
        let in_update = matches!(dev.reported, Status::Updating | Status::Verifying);
        let silent_from = dev.last_heard.saturating_add(2 * poll.max(1));
        let mut from = Some(dev.reported).filter(|s| *s != Status::Idle);
        if in_update && deliver > silent_from {
            out.deltas.push(Delta { tick: silent_from / step, device: id, ring, from, to: Some(Status::Offline), exposed: false });
            from = Some(Status::Offline);
        }
        let exposed = status == Status::Verifying && dev.flags & REPORTED_EXPOSED == 0;
        if exposed {
            dev.flags |= REPORTED_EXPOSED;
        }
        out.deltas.push(Delta { tick: deliver / step, device: id, ring, from, to: Some(status), exposed });
        dev.reported = status;
        dev.last_heard = deliver;
    }

    fn brick(&mut self, id: u32, dev: &mut Dev, t: u32, out: &mut ChunkOut) {
        dev.flags |= BRICKED;
        self.set_truth(id, dev, Status::Bricked, out);
        dev.next_checkin = NONE;
        dev.outcome_at = NONE;
        // Silent from now on: the planner first sees it offline, then counts it bricked.
        let poll = self.setup.fleet.classes[usize::from(dev.class)].poll_every as u32;
        let ring = self.setup.pop.ring[id as usize];
        let step = self.tick;
        let from = Some(dev.reported).filter(|s| *s != Status::Idle);
        let offline_at = dev.last_heard.max(t).saturating_add(2 * poll.max(1));
        let bricked_at = dev.last_heard.max(t).saturating_add(BRICK_SILENCE).max(offline_at);
        out.deltas.push(Delta { tick: offline_at / step, device: id, ring, from, to: Some(Status::Offline), exposed: false });
        out.deltas.push(Delta { tick: bricked_at / step, device: id, ring, from: Some(Status::Offline), to: Some(Status::Bricked), exposed: false });
        dev.reported = Status::Bricked;
    }

    /// Carries out the agent's actions at `t`.
    fn apply(&mut self, id: u32, dev: &mut Dev, actions: &fleetgate_agents::Actions, t: u32, out: &mut ChunkOut) {
        for a in actions.iter() {
            match *a {
                Action::Download { plane, .. } => {
                    let size = self.setup.release.targets.get(usize::from(plane)).copied().flatten().map_or(0.0, |x| x.size_kb);
                    let bw = f64::from(self.setup.pop.bandwidth_kbps[id as usize]).max(1e-3);
                    let dt = ((size * 8.0 / bw) as u32).max(1);
                    let f = self.failure(dev);
                    let (when, ok) = if let Some(end) = self.blocked_until(dev, t) {
                        (end.min(t.saturating_add(60)), false)
                    } else if dev.rng.chance(f.download) {
                        (t.saturating_add((dev.rng.unit() * f64::from(dt)) as u32 + 1), false)
                    } else {
                        let cut = if dev.region == u8::MAX { None } else { self.net.starts_within(usize::from(dev.region), t, t.saturating_add(dt)) };
                        match cut {
                            Some(cut) => (cut.max(t + 1), false),
                            None => (t.saturating_add(dt), true),
                        }
                    };
                    dev.outcome_at = when;
                    dev.outcome = if ok { Outcome::Downloaded } else { Outcome::DownloadFailed };
                    dev.outcome_plane = plane;
                }
                Action::Install { plane, .. } => {
                    let size = self.setup.release.targets.get(usize::from(plane)).copied().flatten().map_or(0.0, |x| x.size_kb);
                    let dt = 20 + (size / 500.0) as u32;
                    let f = self.failure(dev);
                    dev.outcome_plane = plane;
                    if dev.rng.chance(f.power_loss) {
                        dev.outcome_at = t.saturating_add((dev.rng.unit() * f64::from(dt)) as u32 + 1);
                        dev.outcome = Outcome::PowerLoss;
                    } else {
                        dev.outcome_at = t.saturating_add(dt);
                        dev.outcome = if dev.rng.chance(f.install) { Outcome::InstallFailed } else { Outcome::Installed };
                    }
                }
                Action::Boot { plane, .. } => {
                    let f = self.failure(dev);
                    dev.outcome_plane = plane;
                    if dev.rng.chance(f.power_loss) {
                        dev.outcome_at = t.saturating_add((dev.rng.unit() * 45.0) as u32 + 1);
                        dev.outcome = Outcome::PowerLoss;
                    } else {
                        dev.outcome_at = t.saturating_add(45);
                        dev.outcome = if dev.rng.chance(f.boot) { Outcome::BootFailed } else { Outcome::Booted };
                    }
                }
                Action::Confirm { .. } => {}
                Action::Revert { plane, .. } => dev.on_new &= !(1 << plane),
                Action::CheckIn => dev.next_checkin = t,
                Action::Report { status, .. } => self.report(id, dev, Status::of(status), t, out),
            }
        }
    }

    fn desired(&self, dev: &Dev) -> Option<&'s fleetgate_agents::Desired> {
        (dev.flags & OFFERED != 0 && !self.aborted).then_some(&self.setup.desired)
    }

    fn step(&mut self, id: u32, dev: &mut Dev, t: u32, event: Event<'_>, out: &mut ChunkOut) {
        let class = self.setup.fleet.classes[usize::from(dev.class)].profile;
        let ctx = &mut self.ctx[profile_index(class)];
        let (state, actions) = step(&dev.agent, t, &event, ctx);
        dev.agent = state;
        self.apply(id, dev, &actions, t, out);
    }

    /// Runs `dev`'s events before `until`; files its next event in `out.next` (or a request for an offer).
    pub fn advance(&mut self, id: u32, dev: &mut Dev, until: u32, out: &mut ChunkOut) {
        loop {
            let t = dev.next_time();
            if t == NONE {
                return;
            }
            if t >= until {
                out.next.push((t, id));
                return;
            }
            out.events += 1;
            if dev.outcome_at == t {
                dev.outcome_at = NONE;
                let plane = dev.outcome_plane;
                let event = match dev.outcome {
                    Outcome::Downloaded => Event::Downloaded { plane },
                    Outcome::DownloadFailed => Event::DownloadFailed { plane },
                    Outcome::Installed => Event::Installed { plane },
                    Outcome::InstallFailed => Event::InstallFailed { plane },
                    Outcome::Booted => {
                        dev.on_new |= 1 << plane;
                        if dev.flags & EXPOSED == 0 {
                            dev.flags |= EXPOSED;
                            out.truth.push((self.setup.pop.ring[id as usize], 0, 1, 0));
                        }
                        Event::Booted { plane }
                    }
                    Outcome::BootFailed => Event::BootFailed { plane },
                    Outcome::PowerLoss => {
                        let f = self.failure(dev);
                        if dev.rng.chance(f.brick_given_power_loss) {
                            self.brick(id, dev, t, out);
                            return;
                        }
                        let class = self.setup.fleet.classes[usize::from(dev.class)].profile;
                        let ctx = &self.ctx[profile_index(class)];
                        let (state, actions) = fleetgate_agents::recover(&dev.agent, t, ctx);
                        dev.agent = state;
                        self.apply(id, dev, &actions, t, out);
                        continue;
                    }
                };
                self.step(id, dev, t, event, out);
            } else if dev.agent.deadline() == Some(t) {
                let offered = dev.flags & OFFERED != 0;
                let setup = self.setup;
                self.record(id, dev, t, &setup.health_static, &setup.health_fields, offered);
                let (slots, missing) = (std::mem::take(&mut self.slots), std::mem::take(&mut self.missing));
                self.step(id, dev, t, Event::Tick { record: Record { slots: &slots, missing: &missing } }, out);
                self.slots = slots;
                self.missing = missing;
            } else {
                // A check-in.
                dev.next_checkin = NONE;
                if let Some(end) = self.blocked_until(dev, t) {
                    dev.next_checkin = end;
                    continue;
                }
                if dev.abort_pending {
                    dev.abort_pending = false;
                    self.step(id, dev, t, Event::Order(Order::Abort), out);
                }
                if dev.flags & OFFERED == 0 {
                    if !self.aborted && dev.flags & BRICKED == 0 {
                        // The first offer comes from the planner, at the next tick.
                        dev.flags |= WAITING;
                        out.requests.push((t, id));
                    }
                    return;
                }
                self.check_in(id, dev, t, out);
            }
        }
    }

    fn check_in(&mut self, id: u32, dev: &mut Dev, t: u32, out: &mut ChunkOut) {
        let setup = self.setup;
        self.record(id, dev, t, &setup.checkin_static, &setup.checkin_fields, true);
        let desired = self.desired(dev);
        let (slots, missing) = (std::mem::take(&mut self.slots), std::mem::take(&mut self.missing));
        self.step(id, dev, t, Event::CheckIn { desired, record: Record { slots: &slots, missing: &missing } }, out);
        self.slots = slots;
        self.missing = missing;
        // Keep checking in while there is something left to do (a retry, a download to resume).
        if dev.next_checkin == NONE && !dev.agent.phase().is_terminal() && dev.flags & BRICKED == 0 {
            let poll = self.setup.fleet.classes[usize::from(dev.class)].poll_every;
            dev.schedule_checkin_after(poll, t);
        }
    }

    /// The planner's first offer reaches the device at `t`.
    pub fn offer(&mut self, id: u32, dev: &mut Dev, t: u32, out: &mut ChunkOut) {
        dev.flags = (dev.flags | OFFERED) & !WAITING;
        // Which of the scenario's defects hit this device: decided once, at its first offer.
        let class = usize::from(dev.class);
        for (e, effect) in self.effects.scenario.effects.iter().enumerate().take(8) {
            if effect.class.is_none_or(|c| c == class) && dev.rng.chance(effect.probability) {
                dev.hits |= 1 << e;
            }
        }
        self.check_in(id, dev, t, out);
        let next = dev.next_time();
        if next != NONE {
            out.next.push((next, id));
        }
    }
}
