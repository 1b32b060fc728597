//! The driver: in go the device's storage, clock and transport (traits), telemetry and events from the
//! outside world (check-ins, timers, planner orders); out come the effects of the state machine's
//! actions on storage and transport, crash-safely.
//!
//! Write-ahead: for every step the [`Agent`] first journals the new state (two alternating records,
//! `journal`), then performs the step's actions in order, feeding each outcome back as the next
//! event. A power loss anywhere (an operation returns [`Fault::PowerLoss`]) stops the agent; after
//! the reboot, [`Agent::boot`] reads the newest whole journal record and continues with
//! `machine::recover`, which re-issues that state's idempotent actions.
//!
//! Policy updates: [`Agent::admit`] checks an offered artifact against the trusted key and the
//! journaled highest serial (`trust`), [`Agent::accept`] journals it, and [`Agent::park`] /
//! [`Parked::resume`] hand the running update over to a `Ctx` on the new policy.

use crate::eval::Evaluator;
use crate::journal::{self, RECORD_LEN};
use crate::machine::{self, Action, Actions, Ctx, Desired, Event, Order, Status};
use crate::record::RecordBuf;
use crate::state::State;
use crate::trust::{self, Accepted, Admitted, Refusal, Trust};
use fleetgate_runtime::sign::PublicKey;
use fleetgate_runtime::value::MAX_PLANES;

#[cfg(test)]
mod tests;

/// Why an operation did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The operation failed (a download error, a flash write error, a boot that did not come up).
    Failed,
    /// The power went while it ran: the device is about to reboot.
    PowerLoss,
}

/// The agent stopped because the power went; [`Agent::boot`] starts it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PowerLoss;

/// A downloaded image: what it is for and the version it installs. (A real image also has bytes;
/// the model only needs to know which release and version a slot holds.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Image {
    pub release: u32,
    pub plane: u8,
    pub version: u64,
}

/// A/B slots per plane, and the journal's two sectors. Every operation but the journal write and
/// `write_inactive` is atomic; those two may be cut off by a power loss.
pub trait Storage {
    /// The version the plane runs.
    fn active_version(&self, plane: u8) -> u64;
    /// Writes `image` into the plane's inactive slot. Refused while the active slot runs on trial
    /// (the inactive one is then its fallback).
    fn write_inactive(&mut self, image: &Image) -> Result<(), Fault>;
    /// Switches to the slot holding `release`'s image and boots it once, on trial; `Ok` at once when
    /// it already runs. `Err(Failed)`: it did not come up, the device runs the old slot.
    fn boot(&mut self, release: u32, plane: u8) -> Result<(), Fault>;
    /// Makes `release`'s image permanent if it runs on trial; otherwise does nothing.
    fn confirm(&mut self, release: u32, plane: u8) -> Result<(), Fault>;
    /// Undoes `release`'s change of the plane: discards its unbooted image, or switches back to the
    /// slot it replaced; does nothing when the plane holds nothing of `release`.
    fn revert(&mut self, release: u32, plane: u8) -> Result<(), Fault>;
    /// The bytes of journal sector `sector` (0 or 1), as last written (zeros if never).
    fn read_journal(&self, sector: u8) -> [u8; RECORD_LEN];
    fn write_journal(&mut self, sector: u8, record: &[u8; RECORD_LEN]) -> Result<(), Fault>;
}

/// Seconds since 1970-01-01 00:00, device-local.
pub trait Clock {
    fn now(&self) -> u32;
}

/// The link to the planner.
pub trait Transport {
    /// Checks in: the desired state for this device, `None` when its ring is not active.
    fn check_in(&mut self) -> Option<Desired>;
    fn download(&mut self, release: u32, plane: u8) -> Result<Image, Fault>;
    fn report(&mut self, release: u32, status: Status);
}

/// What caused a step.
#[derive(Clone, Copy, Debug)]
pub enum Cause<'a> {
    Event(&'a Event<'a>),
    /// The agent booted and recovered from the journaled state.
    Recover,
}

/// One step as it happened, for transcripts and tests.
#[derive(Clone, Copy, Debug)]
pub struct StepLog<'a> {
    pub now: u32,
    pub cause: Cause<'a>,
    pub before: State,
    pub after: State,
    pub actions: &'a Actions,
    /// How many of the actions ran before a power loss (all of them when `halted` is false).
    pub performed: usize,
    /// The power went during this step (journal write or an action).
    pub halted: bool,
    /// Every plane's running version after the step.
    pub versions: &'a [u64],
}

/// Watches steps (the session runner prints them).
pub trait Observer {
    fn on_step<E: Evaluator>(&mut self, log: &StepLog<'_>, ctx: &Ctx<'_, E>);
}

impl Observer for () {
    fn on_step<E: Evaluator>(&mut self, _: &StepLog<'_>, _: &Ctx<'_, E>) {}
}

/// Steps in one chain (an event and the outcomes it leads to) before the driver stops following:
/// far above any real chain (a few per plane), so it only guards against a driver bug.
const MAX_CHAIN: usize = 64 * MAX_PLANES;

/// What to feed the machine next.
#[derive(Clone, Copy, Debug)]
enum Next {
    CheckIn,
    Tick,
    Outcome(Outcome),
    Order(Order),
    Recover,
}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Downloaded(u8),
    DownloadFailed(u8),
    Installed(u8),
    InstallFailed(u8),
    Booted(u8),
    BootFailed(u8),
}

impl Outcome {
    fn event(self) -> Event<'static> {
        match self {
            Outcome::Downloaded(plane) => Event::Downloaded { plane },
            Outcome::DownloadFailed(plane) => Event::DownloadFailed { plane },
            Outcome::Installed(plane) => Event::Installed { plane },
            Outcome::InstallFailed(plane) => Event::InstallFailed { plane },
            Outcome::Booted(plane) => Event::Booted { plane },
            Outcome::BootFailed(plane) => Event::BootFailed { plane },
        }
    }
}

/// A device agent: the state machine over real (or modelled) storage, clock and transport.
pub struct Agent<'p, S, C, T, E, O = ()> {
    ctx: Ctx<'p, E>,
    state: State,
    /// Sequence number of the newest journal record.
    seq: u32,
    /// The newest policy artifact accepted, as journaled with every state.
    accepted: Option<Accepted>,
    storage: S,
    clock: C,
    transport: T,
    observer: O,
    /// The device's own fields, as its sensors last reported them.
    telemetry: RecordBuf,
    /// Scratch: telemetry + running versions + clock + desired targets.
    record: RecordBuf,
    /// The newest desired state the planner sent (RAM only).
    desired: Option<Desired>,
    /// The downloaded image waiting to be installed (RAM only).
    staged: Option<Image>,
    halted: bool,
}

impl<'p, S, C, T, E, O> Agent<'p, S, C, T, E, O>
where
    S: Storage,
    C: Clock,
    T: Transport,
    E: Evaluator,
    O: Observer,
{
    /// An agent that has not booted yet: call [`Agent::boot`] before anything else.
    pub fn new(ctx: Ctx<'p, E>, storage: S, clock: C, transport: T, observer: O) -> Self {
        let telemetry = RecordBuf::new(ctx.policy());
        Agent {
            record: telemetry.clone(),
            telemetry,
            ctx,
            state: State::new(),
            seq: 0,
            accepted: None,
            storage,
            clock,
            transport,
            observer,
            desired: None,
            staged: None,
            halted: true,
        }
    }

    /// Boots (or reboots after a power loss): forgets everything in RAM, reads the newest whole
    /// journal record and recovers from it. A device without a journal starts idle.
    pub fn boot(&mut self) -> Result<(), PowerLoss> {
        self.halted = false;
        self.desired = None;
        self.staged = None;
        let sectors = [self.storage.read_journal(0), self.storage.read_journal(1)];
        match journal::latest([&sectors[0], &sectors[1]]) {
            Some(entry) => {
                self.seq = entry.seq;
                self.state = entry.state;
                self.accepted = entry.accepted;
                self.drive(Next::Recover)
            }
            None => {
                // Nothing journaled yet. A torn first record could leave an older sequence number in
                // the other sector's garbage; starting from 0 is safe because `latest` found none.
                self.seq = 0;
                self.state = State::new();
                self.accepted = None;
                Ok(())
            }
        }
    }

    /// The newest policy artifact this device accepted (journaled; `None` before the first).
    pub fn accepted(&self) -> Option<Accepted> {
        self.accepted
    }

    /// Checks `bytes` as the device's next policy: signed by `key`, a serial above the accepted one
    /// (or the same artifact again), the running policy's schema, runnable with this profile. Changes
    /// nothing; a refused artifact leaves the device on its current policy.
    pub fn admit(&self, key: &PublicKey, bytes: &[u8]) -> Result<Admitted, Refusal> {
        let trust = Trust {
            key: *key,
            profile: self.ctx.config().profile,
        };
        let schema = self.ctx.policy().artifact().schema_hash;
        trust::admit(&trust, bytes, self.accepted, Some(schema))
    }

    /// Journals `admitted` as the newest accepted artifact, before the device switches to it (and
    /// after it stored the artifact's bytes, if it keeps them): from then on, lower serials are
    /// refused across reboots. Never lowers the accepted serial; writes nothing when `admitted` is
    /// what the journal already holds.
    pub fn accept(&mut self, admitted: &Admitted) -> Result<(), PowerLoss> {
        if self.halted {
            return Err(PowerLoss);
        }
        let new = admitted.accepted();
        if self
            .accepted
            .is_some_and(|a| a == new || a.serial > new.serial)
        {
            return Ok(());
        }
        let seq = self.seq.wrapping_add(1);
        let rec = journal::encode(seq, &self.state, Some(new));
        match self.storage.write_journal(journal::sector(seq), &rec) {
            Ok(()) => {
                self.seq = seq;
                self.accepted = Some(new);
                Ok(())
            }
            Err(_) => {
                self.halted = true;
                Err(PowerLoss)
            }
        }
    }

    /// Stops the agent between two calls so that it can continue on another policy
    /// ([`Parked::resume`]): the state, journal position and RAM-only facts are kept.
    pub fn park(self) -> Parked<S, C, T, O> {
        Parked {
            state: self.state,
            seq: self.seq,
            accepted: self.accepted,
            schema_hash: self.ctx.policy().artifact().schema_hash,
            storage: self.storage,
            clock: self.clock,
            transport: self.transport,
            observer: self.observer,
            telemetry: self.telemetry,
            desired: self.desired,
            staged: self.staged,
            halted: self.halted,
        }
    }

    /// Checks in with the planner and acts on the answer (with the current telemetry).
    pub fn check_in(&mut self) -> Result<(), PowerLoss> {
        self.drive(Next::CheckIn)
    }

    /// Delivers a `Tick` if a timer is due at the clock's time; returns whether one was.
    pub fn tick(&mut self) -> Result<bool, PowerLoss> {
        if self.halted {
            return Err(PowerLoss);
        }
        match self.state.deadline() {
            Some(d) if d <= self.clock.now() => self.drive(Next::Tick).map(|()| true),
            _ => Ok(false),
        }
    }

    pub fn order(&mut self, order: Order) -> Result<(), PowerLoss> {
        self.drive(Next::Order(order))
    }

    /// The device's own fields: set them as its sensors report.
    pub fn telemetry_mut(&mut self) -> &mut RecordBuf {
        &mut self.telemetry
    }

    pub fn telemetry(&self) -> &RecordBuf {
        &self.telemetry
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn halted(&self) -> bool {
        self.halted
    }

    pub fn ctx(&self) -> &Ctx<'p, E> {
        &self.ctx
    }

    pub fn storage(&self) -> &S {
        &self.storage
    }

    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    pub fn clock_mut(&mut self) -> &mut C {
        &mut self.clock
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }

    pub fn into_parts(self) -> (S, C, T, O) {
        (self.storage, self.clock, self.transport, self.observer)
    }

    /// The running version of every plane (the first `n_planes` entries).
    pub fn versions(&self) -> [u64; MAX_PLANES] {
        let mut v = [0u64; MAX_PLANES];
        for (p, slot) in (0u8..self.ctx.policy().n_planes()).zip(v.iter_mut()) {
            *slot = self.storage.active_version(p);
        }
        v
    }

    fn drive(&mut self, first: Next) -> Result<(), PowerLoss> {
        if self.halted {
            return Err(PowerLoss);
        }
        let mut next = Some(first);
        let mut steps = 0;
        while let Some(n) = next.take() {
            steps += 1;
            if steps > MAX_CHAIN {
                break;
            }
            next = self.one(n)?;
        }
        Ok(())
    }

    /// Fills the scratch record: telemetry, running versions, clock, and the targets of `desired`.
    fn fill_record(&mut self, now: u32, desired: Option<&Desired>) {
        let policy = self.ctx.policy();
        let n = usize::from(policy.n_planes());
        let versions = self.versions();
        self.record.copy_fields(policy, &self.telemetry);
        self.record
            .set_versions(policy, versions.get(..n).unwrap_or_default());
        self.record.set_now(policy, now);
        self.record.set_release(policy, desired);
    }

    fn one(&mut self, next: Next) -> Result<Option<Next>, PowerLoss> {
        let now = self.clock.now();
        let before = self.state;
        let mut offered = None;
        let (after, actions) = match next {
            Next::Recover => machine::recover(&before, now, &self.ctx),
            Next::CheckIn => {
                offered = self.transport.check_in();
                if let Some(d) = offered
                    && self.desired.is_none_or(|old| d.release >= old.release)
                {
                    self.desired = Some(d);
                }
                let targets = offered.or(self.desired);
                self.fill_record(now, targets.as_ref());
                let event = Event::CheckIn {
                    desired: offered.as_ref(),
                    record: self.record.record(),
                };
                machine::step(&before, now, &event, &mut self.ctx)
            }
            Next::Tick => {
                let release = before.release();
                let desired = self.desired.filter(|d| d.release == release);
                self.fill_record(now, desired.as_ref());
                let event = Event::Tick {
                    record: self.record.record(),
                };
                machine::step(&before, now, &event, &mut self.ctx)
            }
            Next::Outcome(o) => machine::step(&before, now, &o.event(), &mut self.ctx),
            Next::Order(o) => machine::step(&before, now, &Event::Order(o), &mut self.ctx),
        };

        // Write-ahead: the new state is on flash before any of its actions runs.
        let mut halted = false;
        if after != before {
            let seq = self.seq.wrapping_add(1);
            let rec = journal::encode(seq, &after, self.accepted);
            match self.storage.write_journal(journal::sector(seq), &rec) {
                Ok(()) => self.seq = seq,
                Err(_) => halted = true,
            }
        }
        let mut follow = None;
        let mut performed = 0;
        if !halted {
            self.state = after;
            for a in actions.iter() {
                match self.perform(a) {
                    Ok(f) => follow = f.or(follow),
                    Err(PowerLoss) => {
                        halted = true;
                        break;
                    }
                }
                performed += 1;
            }
        }

        let versions = self.versions();
        let n = usize::from(self.ctx.policy().n_planes());
        let record = self.record.record();
        let outcome;
        let order;
        let check_in;
        let tick;
        let cause = match next {
            Next::Recover => Cause::Recover,
            Next::CheckIn => {
                check_in = Event::CheckIn {
                    desired: offered.as_ref(),
                    record,
                };
                Cause::Event(&check_in)
            }
            Next::Tick => {
                tick = Event::Tick { record };
                Cause::Event(&tick)
            }
            Next::Outcome(o) => {
                outcome = o.event();
                Cause::Event(&outcome)
            }
            Next::Order(o) => {
                order = Event::Order(o);
                Cause::Event(&order)
            }
        };
        let log = StepLog {
            now,
            cause,
            before,
            after,
            actions: &actions,
            performed,
            halted,
            versions: versions.get(..n).unwrap_or_default(),
        };
        self.observer.on_step(&log, &self.ctx);
        if halted {
            self.halted = true;
            return Err(PowerLoss);
        }
        Ok(follow)
    }

    /// Performs one action; the outcome event it leads to, if any.
    fn perform(&mut self, action: &Action) -> Result<Option<Next>, PowerLoss> {
        let outcome = match *action {
            Action::Download { release, plane } => match self.transport.download(release, plane) {
                Ok(image) => {
                    self.staged = Some(image);
                    Outcome::Downloaded(plane)
                }
                Err(Fault::Failed) => Outcome::DownloadFailed(plane),
                Err(Fault::PowerLoss) => return Err(PowerLoss),
            },
            Action::Install { release, plane } => {
                let image = self
                    .staged
                    .filter(|i| i.release == release && i.plane == plane);
                match image.map(|i| self.storage.write_inactive(&i)) {
                    Some(Ok(())) => {
                        self.staged = None;
                        Outcome::Installed(plane)
                    }
                    Some(Err(Fault::PowerLoss)) => return Err(PowerLoss),
                    // No image in RAM counts as a failed install: fail safe.
                    Some(Err(Fault::Failed)) | None => Outcome::InstallFailed(plane),
                }
            }
            Action::Boot { release, plane } => match self.storage.boot(release, plane) {
                Ok(()) => Outcome::Booted(plane),
                Err(Fault::Failed) => Outcome::BootFailed(plane),
                Err(Fault::PowerLoss) => return Err(PowerLoss),
            },
            Action::Confirm { release, plane } => {
                // A failed confirm leaves the plane on trial; nothing better to do than go on.
                if self.storage.confirm(release, plane) == Err(Fault::PowerLoss) {
                    return Err(PowerLoss);
                }
                return Ok(None);
            }
            Action::Revert { release, plane } => {
                if self.storage.revert(release, plane) == Err(Fault::PowerLoss) {
                    return Err(PowerLoss);
                }
                return Ok(None);
            }
            Action::CheckIn => return Ok(Some(Next::CheckIn)),
            Action::Report { release, status } => {
                self.transport.report(release, status);
                return Ok(None);
            }
        };
        Ok(Some(Next::Outcome(outcome)))
    }
}

/// An agent stopped between two calls, holding everything but its policy ([`Agent::park`]).
pub struct Parked<S, C, T, O = ()> {
    state: State,
    seq: u32,
    accepted: Option<Accepted>,
    schema_hash: u64,
    storage: S,
    clock: C,
    transport: T,
    observer: O,
    telemetry: RecordBuf,
    desired: Option<Desired>,
    staged: Option<Image>,
    halted: bool,
}

impl<S, C, T, O> Parked<S, C, T, O> {
    /// Continues where the agent stopped, on `ctx`'s policy, without a recovery (nothing rebooted).
    /// The update in progress goes on under the new policy from the next step; telemetry is kept
    /// when the schema is the same (`Agent::admit` demands it) and starts empty otherwise.
    pub fn resume<'q, E: Evaluator>(self, ctx: Ctx<'q, E>) -> Agent<'q, S, C, T, E, O> {
        let policy = ctx.policy();
        let same_schema = policy.artifact().schema_hash == self.schema_hash
            && self.telemetry.slots().len() == policy.artifact().slots.len();
        let telemetry = if same_schema {
            self.telemetry
        } else {
            RecordBuf::new(policy)
        };
        Agent {
            record: telemetry.clone(),
            telemetry,
            ctx,
            state: self.state,
            seq: self.seq,
            accepted: self.accepted,
            storage: self.storage,
            clock: self.clock,
            transport: self.transport,
            observer: self.observer,
            desired: self.desired,
            staged: self.staged,
            halted: self.halted,
        }
    }

    pub fn accepted(&self) -> Option<Accepted> {
        self.accepted
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn storage(&self) -> &S {
        &self.storage
    }

    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }
}
