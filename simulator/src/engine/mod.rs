//! The Monte Carlo engine: one trial of a staged rollout over the population, every device running the
//! real agent state machine (`fleetgate_agents::step`) on the compiled policy.
//!
//! In: a `Setup` (population, inputs, policy, evaluator; shared by all trials) and a scenario and trial
//! number. Out: a `TrialResult`.
//!
//! Time is continuous (whole seconds) and event-driven: each device has its own next event (a check-in,
//! a timer of its agent, the outcome of a download/install/boot, the delivery of a report that waited
//! out a partition). The planner acts at ticks every `gate_interval`. Between two ticks devices advance
//! independently, in parallel over chunks of the devices that have an event in the tick (devices are
//! filed in per-tick buckets, not a global heap), each on its own random stream. What couples devices is
//! handled at ticks, in a fixed order: offers (a device that checks in for its first offer waits for the
//! tick, where the planner grants offers in order of check-in time, within the rate and in-flight
//! limits), and the aggregates the gates read (integer deltas, summed). So results do not depend on
//! the number of threads.
//!
//! Decisions this model makes where SIMULATION.md is silent (docs/simulation.md lists them):
//! - an offer is granted at the tick after the check-in that asked for it (at most `gate_interval` later);
//! - the rate limit counts first offers only; retries after a deny or a deferral need none;
//! - a device has one pending event: while a download, install or boot is in flight it does not check
//!   in, and its next check-in is drawn when the step ends;
//! - the planner learns of a brick when a device that started an update has been silent for 24 hours;
//! - `offline` counts devices updating or verifying whose last report is older than two mean
//!   check-in intervals;
//! - install takes 20 s plus 1 s per 500 KB, a boot 45 s; a power loss strikes during install or boot
//!   with the class's probability, and bricks with `brick_given_power_loss`;
//! - a trial ends at the horizon (`timed_out` unless completed or aborted before), or once the last ring
//!   has started (or the rollout aborted) and no device has an update in progress or waiting.

mod device;
pub mod net;

use std::collections::BTreeMap;

use fleetgate_agents::{Ctx, Desired, Profile};
use fleetgate_runtime::Policy;
use fleetgate_runtime::decision::{GateAcc, GateDecision};
use fleetgate_runtime::ring::{GATE_SLOTS, RingCounts, fill_gate_record};
use fleetgate_runtime::{ClauseBits, Record, interp};

use crate::input::fleet::{Fleet, Profile as ClassProfile};
use crate::input::release::{Release, Scenario};
use crate::population::{Column, FieldStore, Population};
use crate::result::{Counts, Outcome, RingTimeline, TrialResult};
use crate::schema::Schema;

pub use device::{Dev, Status};
use device::{DeviceCtx, Effects, RngKey};
use net::Partitions;

/// Buckets up to this many devices run on the calling thread (offers: an eighth of it); larger ones
/// in parallel, in chunks that the threads claim as they go: each a `1 / (CHUNKS × threads)` share of
/// what is left, and at least `MIN_CHUNK` devices (devices' work varies a lot: an offer may carry a
/// whole update, a visit a day of check-ins, so the last chunks are small and the threads finish
/// together). Few devices are still much work: only the smallest buckets stay on one thread.
const SERIAL: usize = 8;
const MIN_CHUNK: usize = 4;
const CHUNKS: usize = 16;
/// Lists of ids longer than this are sorted by radix (8 bits a pass) rather than by comparisons, and
/// longer than `RADIX_SORT` 11 bits a pass.
const SMALL_SORT: usize = 64;
const RADIX_SORT: usize = 1 << 11;
/// Emptied lists of device ids kept to file in (each output keeps up to half as many), and the
/// longest kept.
const SPARE_LISTS: usize = 64;
const SPARE_LEN: usize = 1 << 12;
/// How many devices ahead a chunk prefetches.
const PREFETCH: usize = 4;
/// The planner's view counts a silent device as bricked after this long.
const BRICK_SILENCE: u32 = 24 * 3600;
/// A trial ends once nothing has progressed for this long (after the last ring started or an abort).
const SETTLE: u32 = 24 * 3600;

/// A static field an evaluation reads: its slot in a record, and where the population keeps its
/// value (and whether it is missing).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StaticField {
    pub slot: usize,
    pub column: Column,
    pub missing: Option<Column>,
}

/// A plane's slots in a record (the version a device runs, the release's target) and the release's
/// target for it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlaneSlots {
    pub slot: usize,
    pub release: usize,
    pub target: Option<u64>,
}

/// The evaluator every simulated device uses.
pub type Evaluator<'p> = fleetgate_agents::eval::Native<'p>;

/// Everything a trial reads and never changes: shared by all trials and threads.
pub struct Setup<'a> {
    pub schema: &'a Schema,
    pub fleet: &'a Fleet,
    pub release: &'a Release,
    pub policy: &'a Policy,
    pub pop: &'a Population,
    pub evaluator: &'a Evaluator<'a>,
    pub seed: u64,
    /// The reason of each clause (from the sidecar), to name what aborted a rollout.
    pub clause_reasons: Vec<String>,
    /// Seconds between two points of the timelines.
    pub timeline_step: u32,
    pub(crate) desired: Desired,
    pub(crate) horizon: u32,
    pub(crate) gate_interval: u32,
    /// Per class, the dynamic fields a check-in (rails, constraints) and a health check read.
    pub(crate) dynamic: Vec<[Dynamic; 2]>,
    /// Static fields those evaluations read (only these are copied into the record).
    pub(crate) checkin_static: Vec<StaticField>,
    pub(crate) health_static: Vec<StaticField>,
    /// Per plane: its slots in a record and the release's target, for a record's fixed part.
    pub(crate) plane_slots: Vec<PlaneSlots>,
    /// Whether a check-in's and a health check's evaluations read the local time (`now.*`).
    pub(crate) reads_now: [bool; 2],
    pub(crate) region_offset: Vec<i32>,
    pub(crate) per_fields: Vec<usize>,
    /// Per ring, per `per` field: (value, devices of the ring with that value), values present only.
    pub(crate) ring_value_sizes: Vec<Vec<Vec<(u64, u64)>>>,
    /// Per `per` field: how many values it can take.
    pub(crate) per_values: Vec<usize>,
    /// Tallies per (tick, ring) in reports: the ring's, then one per value of each `per` field.
    pub(crate) tally_stride: usize,
    /// Per device, `1 + per_fields.len()` entries: its ring, then for each `per` field the place of
    /// its value's tally among a (tick, ring)'s (`each_tally`; `u16::MAX` for a value that does not
    /// fit, which no tally counts). Every offer and report reads these: a few bytes per device stay
    /// in cache where the device's row would not.
    tags: Vec<u16>,
    /// Buckets up to this many devices run on the calling thread; larger ones in parallel chunks of
    /// at least `min_chunk` devices. Results never depend on these (tests lower them to force chunks).
    pub serial_limit: usize,
    pub min_chunk: usize,
    /// Whether a visit runs a device's events past its tick when they cannot depend on the planner
    /// (see `DeviceCtx::runs_ahead`). Results never depend on it (tests turn it off to compare).
    pub lookahead: bool,
    /// No event at or after this time runs: the end of the last tick before the horizon.
    pub(crate) limit: u32,
    /// Device arrays of finished trials, for the next ones (`Setup::devices`).
    spare: std::sync::Mutex<Vec<Vec<Dev>>>,
}

/// Fields a function reads (the slot operands of its bytecode), among `fields`.
fn read_slots(policy: &Policy, kinds: &[fleetgate_runtime::artifact::FunctionKind]) -> Vec<usize> {
    use fleetgate_runtime::op::Op;
    let mut out = Vec::new();
    for &k in kinds {
        let Some(f) = policy.function(k) else {
            continue;
        };
        let Some(f) = policy.function_def(f) else {
            continue;
        };
        let mut pc = 0;
        while let Ok((op, len)) = Op::decode(&f.code, pc) {
            if let Op::Load(s) | Op::LoadOr(s, _) | Op::Known(s) = op {
                out.push(usize::from(s));
            }
            pc += len;
            if pc >= f.code.len() {
                break;
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl<'a> Setup<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        schema: &'a Schema,
        fleet: &'a Fleet,
        release: &'a Release,
        policy: &'a Policy,
        pop: &'a Population,
        evaluator: &'a Evaluator<'a>,
        seed: u64,
        clause_reasons: Vec<String>,
    ) -> Setup<'a> {
        use fleetgate_runtime::artifact::FunctionKind;
        let mut desired = Desired::new(1);
        for (p, t) in release.targets.iter().enumerate() {
            if let Some(t) = t {
                desired = desired.with(p as u8, t.version);
            }
        }
        // The fields an evaluation reads: dynamic ones (drawn), and static ones with their columns.
        let split = |slots: Vec<usize>| -> (Vec<usize>, Vec<StaticField>) {
            let (mut dynamic, mut statics) = (Vec::new(), Vec::new());
            for slot in slots.into_iter().filter(|&s| s < schema.fields.len()) {
                match pop.fields[slot] {
                    FieldStore::Dynamic => dynamic.push(slot),
                    FieldStore::Static { column, missing } => statics.push(StaticField {
                        slot,
                        column,
                        missing,
                    }),
                }
            }
            (dynamic, statics)
        };
        let checkin_reads = read_slots(policy, &[FunctionKind::Rails, FunctionKind::Constraints]);
        let health_reads = read_slots(policy, &[FunctionKind::Health]);
        let now_slots = [schema.now_hour_slot(), schema.now_weekday_slot()];
        let reads_now = [&checkin_reads, &health_reads]
            .map(|reads| now_slots.iter().any(|s| reads.binary_search(s).is_ok()));
        let (checkin_fields, checkin_static) = split(checkin_reads);
        let (health_fields, health_static) = split(health_reads);
        let plane_slots = (0..schema.planes.len())
            .map(|p| PlaneSlots {
                slot: schema.plane_slot(p),
                release: schema.release_slot(p),
                target: desired.target(p as u8),
            })
            .collect();
        let dynamic = fleet
            .classes
            .iter()
            .map(|c| [&checkin_fields, &health_fields].map(|f| Dynamic::of(c, f)))
            .collect();
        let n_regions = fleet
            .regions
            .iter()
            .map(|r| usize::from(r.variant) + 1)
            .max()
            .unwrap_or(0);
        let mut region_offset = vec![0i32; n_regions];
        for r in &fleet.regions {
            region_offset[usize::from(r.variant)] = r.utc_offset_secs as i32;
        }
        let horizon = release.horizon.min(f64::from(u32::MAX / 2)) as u32;
        let gate_interval = (release.gate_interval as u32).max(1);
        // About 200 points over the horizon, on whole ticks.
        let timeline_step =
            ((horizon / 200).div_ceil(gate_interval) * gate_interval).max(gate_interval);
        let per_fields = schema.per_fields.clone();
        let ring_value_sizes = pop
            .ring_devices
            .iter()
            .map(|devices| {
                per_fields
                    .iter()
                    .map(|&f| {
                        let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
                        for &d in devices {
                            *sizes
                                .entry(device::column_value(pop, f, d as usize))
                                .or_default() += 1;
                        }
                        sizes.into_iter().collect()
                    })
                    .collect()
            })
            .collect();
        let per_values: Vec<usize> = per_fields
            .iter()
            .map(|&f| match &schema.fields[f].ty {
                crate::schema::FieldType::Enum(_, v) => v.len(),
                _ => 2,
            })
            .collect();
        let stride = 1 + per_fields.len();
        let mut tags = Vec::with_capacity(pop.n * stride);
        for d in 0..pop.n {
            tags.push(u16::from(pop.ring(d)));
            // The place of the value's tally: after the ring's and those of the fields before.
            let mut first = 1;
            for (&f, &n) in per_fields.iter().zip(&per_values) {
                let v = device::column_value(pop, f, d);
                let place = (v < n as u64).then(|| first + v as usize);
                tags.push(
                    place
                        .and_then(|p| u16::try_from(p).ok())
                        .unwrap_or(u16::MAX),
                );
                first += n;
            }
        }
        Setup {
            schema,
            fleet,
            release,
            policy,
            pop,
            evaluator,
            seed,
            clause_reasons,
            timeline_step,
            desired,
            horizon,
            gate_interval,
            dynamic,
            checkin_static,
            health_static,
            plane_slots,
            reads_now,
            region_offset,
            per_fields,
            ring_value_sizes,
            tally_stride: 1 + per_values.iter().sum::<usize>(),
            per_values,
            tags,
            serial_limit: SERIAL,
            min_chunk: MIN_CHUNK,
            lookahead: true,
            limit: horizon
                .div_ceil(gate_interval)
                .saturating_mul(gate_interval),
            spare: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// A trial's devices, all new: an array a finished trial gave back if there is one, reset in
    /// parallel. A fresh array is written in parallel too: at a million devices it is 64 MB, and
    /// the first write to each of its 16,000 pages is a page fault (a few microseconds each).
    fn devices(&self) -> Vec<Dev> {
        use rayon::prelude::*;
        let spare = self.spare.lock().map(|mut s| s.pop()).unwrap_or_default();
        let mut devs = spare.unwrap_or_default();
        devs.clear();
        devs.par_extend(rayon::iter::repeat_n(Dev::NEW, self.pop.n));
        devs
    }

    /// Gives a finished trial's devices back for the next trial (`devices`).
    fn give_back(&self, devs: Vec<Dev>) {
        if let Ok(mut spare) = self.spare.lock() {
            spare.push(devs);
        }
    }
}

/// The dynamic fields a record of one kind reads, for one class: those whose distribution draws, in
/// field order (each draw moves the device's stream on), and those it always gives one value, or
/// none, which are set with the record's fixed part (`DeviceCtx::record`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Dynamic {
    /// With their samplers (read without going through the class).
    pub draw: Vec<(usize, crate::input::dist::Sampler)>,
    pub fixed: Vec<(usize, Option<u64>)>,
}

impl Dynamic {
    pub(crate) fn of(class: &crate::input::fleet::Class, fields: &[usize]) -> Dynamic {
        let mut d = Dynamic::default();
        for &f in fields {
            let Some(dist) = class.fields.get(f) else {
                continue;
            };
            match dist.without_drawing() {
                Some(value) => d.fixed.push((f, value)),
                None => d.draw.push((f, dist.sampler())),
            }
        }
        d
    }
}

impl Setup<'_> {
    /// Hints the processor that device `d`'s tag is needed soon: its reports read it, and the tags
    /// of a million devices do not stay in cache.
    #[inline(always)]
    fn prefetch_tag(&self, d: u32) {
        if let Some(t) = self.tags.get(self.tag_range(d).start) {
            crate::prefetch(t);
        }
    }

    /// Where device `d`'s tag is in `tags`.
    #[inline]
    fn tag_range(&self, d: u32) -> std::ops::Range<usize> {
        let stride = 1 + self.per_fields.len();
        d as usize * stride..(d as usize + 1) * stride
    }

    /// Device `d`'s ring and its value of each `per` field (see `tags`).
    #[inline]
    fn tag(&self, d: u32) -> (usize, &[u16]) {
        match self.tags.get(self.tag_range(d)) {
            Some([ring, values @ ..]) => (usize::from(*ring), values),
            _ => (usize::MAX, &[]),
        }
    }
}

/// Counts by reported status, and of offered and exposed devices.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    counts: [i64; Status::COUNT],
    offered: i64,
    exposed: i64,
}

impl Tally {
    /// Adds a chunk's tally.
    fn add_chunk(&mut self, other: &ChunkTally) {
        for (c, o) in self.counts.iter_mut().zip(&other.counts) {
            *c += i64::from(*o);
        }
        self.offered += i64::from(other.offered);
        self.exposed += i64::from(other.exposed);
    }
}

/// A `Tally` of one output's reports of one (tick, ring), in one cache line: a report touches a few
/// of them, and an output holds those of hundreds of ticks (reports of events run a day ahead). The
/// reports due in one tick from one ring are at most a few per device of a fleet of at most
/// `fleet::MAX_DEVICES`: far below `i32::MAX`.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct ChunkTally {
    counts: [i32; Status::COUNT],
    offered: i32,
    exposed: i32,
}

impl ChunkTally {
    /// One device's report, counted `sign` times (-1 takes it back): it leaves `from` for `to`.
    #[inline]
    fn report(&mut self, d: &Delta, sign: i32) {
        if let Some(s) = d.from {
            self.counts[s as usize] -= sign;
        }
        if let Some(s) = d.to {
            self.counts[s as usize] += sign;
        }
        self.exposed += sign * i32::from(d.exposed);
    }
}

/// The planner's view of one ring: overall, and per value of each `per` field.
#[derive(Clone, Debug, Default)]
pub(crate) struct View {
    all: Tally,
    /// [per field][value].
    per: Vec<Vec<Tally>>,
}

impl View {
    fn new(per_values: &[usize]) -> View {
        View {
            all: Tally::default(),
            per: per_values
                .iter()
                .map(|&n| vec![Tally::default(); n])
                .collect(),
        }
    }

    /// Adds reports summed in `tallies` (laid out as `Sums::tallies`).
    fn add(&mut self, tallies: &[ChunkTally]) {
        let Some((all, per)) = tallies.split_first() else {
            return;
        };
        self.all.add_chunk(all);
        for (mine, theirs) in self.per.iter_mut().flatten().zip(per) {
            mine.add_chunk(theirs);
        }
    }
}

/// Applies `f` to the whole ring's tally and to those at `places` (a device's, `Setup::tag`) in
/// `tallies`: the whole ring's tally, then one per value of each `per` field, in field order
/// (`View::per` flattened: a report adds to fixed places, no search).
#[inline]
fn each_tally(tallies: &mut [ChunkTally], places: &[u16], mut f: impl FnMut(&mut ChunkTally)) {
    if let Some(all) = tallies.first_mut() {
        f(all);
    }
    for &at in places {
        if let Some(t) = tallies.get_mut(usize::from(at)) {
            f(t);
        }
    }
}

/// One device's report to the planner: its status changes from `from` to `to`, seen at tick `tick`;
/// made in tick `made` (that of the event that reports it: a report is on its way from then on).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delta {
    pub tick: u32,
    pub made: u32,
    pub ring: u8,
    pub from: Option<Status>,
    pub to: Option<Status>,
    pub exposed: bool,
}

/// A visit that ran events past its tick: what it takes to replay it (`World::replay_ahead`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ahead {
    pub id: u32,
    /// The time of an offer (`DeviceCtx::offer`), else `DeviceCtx::advance`.
    pub offer: Option<u32>,
    /// The visit's tick and the end of its window.
    pub tick: u32,
    pub until: u32,
    /// The time of the last event it ran.
    pub reach: u32,
    /// The parallel region it ran in (`World::regions`, set by `ChunkOut::ran_ahead`): of a device's
    /// visits, the latest ran in the latest region.
    pub region: u32,
    /// The device before the visit.
    pub before: Dev,
}

/// Run-ahead visits (`Ahead`) filed by the tick of their reach: an abort at the end of a tick can undo
/// only a visit that reached past it, so once a tick is over its visits go, all at once (no scan, no
/// copying of those that stay).
pub(crate) struct Expiry {
    by_tick: Vec<Vec<Ahead>>,
    ticks: Ticks,
    /// Ticks before this one hold nothing.
    first: usize,
}

impl Expiry {
    fn new(ticks: Ticks, last: u32) -> Expiry {
        Expiry {
            by_tick: vec![Vec::new(); last as usize + 1],
            ticks,
            first: 0,
        }
    }

    #[inline]
    fn push(&mut self, visit: Ahead) {
        let last = self.by_tick.len().saturating_sub(1);
        let k = (self.ticks.of(visit.reach) as usize).clamp(self.first, last);
        if let Some(b) = self.by_tick.get_mut(k) {
            b.push(visit);
        }
    }

    /// Drops the visits whose reach is before `until`, the end of tick `tick`: those of ticks up to it.
    fn prune(&mut self, tick: u32) {
        let end = (tick as usize + 1).min(self.by_tick.len());
        for b in self.by_tick.iter_mut().take(end).skip(self.first) {
            *b = Vec::new();
        }
        self.first = self.first.max(end);
    }

    /// Every visit kept, and none kept after.
    fn drain(&mut self) -> impl Iterator<Item = Ahead> + '_ {
        self.by_tick.iter_mut().flat_map(std::mem::take)
    }

    fn clear(&mut self) {
        self.by_tick.iter_mut().for_each(Vec::clear);
    }
}

/// The truth changes of one ring in one tick: devices done, exposed, in progress (updating or
/// verifying), how many changes of the done count there were (a device finishing is progress even
/// when another one leaves the done count in the same tick), and how many reports were made (on
/// their way to the planner from this tick on).
type Truth = [i64; 5];

/// What a chunk of devices produced in one tick. Aligned to two cache lines: the outputs sit side by
/// side in one `Vec`, and each thread writes its own at every event (counts, list lengths), which must
/// not share a line (nor a pair the processor fetches together) with the next thread's.
#[repr(align(128))]
pub(crate) struct ChunkOut {
    /// Reports and truth changes, summed per (tick, ring) for the whole trial.
    pub sums: Sums,
    /// The earliest tick whose reports the planner has yet to read, and the earliest whose truth
    /// changes: what comes for an earlier one counts in it (a replay's reports are due when it runs).
    reports_from: u32,
    truth_from: u32,
    /// Devices asking for their first offer: (check-in time, device).
    pub requests: Vec<(u32, u32)>,
    /// Devices filed by the tick of their next event (`file`), one list per tick, taken with the
    /// planner's own (`World::take_bucket`): each thread files the devices it ran, in parallel. No
    /// list for an output that files nothing (replays).
    buckets: Vec<Vec<u32>>,
    /// Emptied lists to file in (`World::recycle`): a tick's list does not start from nothing.
    spare: Vec<Vec<u32>>,
    /// The region's first tick to file in (`World::bucket_from`).
    first: u32,
    /// The ring whose reports count per value too (`World::gated`).
    gated: u8,
    pub events: i64,
    /// Visits that ran past their tick (`ran_ahead`), kept across regions until their reach's tick
    /// is over (`World::run`), and the region the output's visits run in.
    ahead: Expiry,
    region: u32,
    /// The time of the latest event any visit ran (`reached`).
    latest: u32,
    /// Replays count their units (a visit's events, and an offer): the outputs of the first `skip`
    /// are dropped, the others count `sign` times.
    pub seq: u32,
    skip: u32,
    sign: i64,
}

impl ChunkOut {
    /// An output whose sums cover ticks `0..=last` (later ones count in `last`) of `rings` rings.
    pub(crate) fn new(setup: &Setup<'_>, last: u32, rings: usize) -> ChunkOut {
        ChunkOut {
            buckets: vec![Vec::new(); last as usize + 1],
            ..ChunkOut::with(
                Sums::new(setup.tally_stride, last, rings),
                Expiry::new(Ticks::new(setup.gate_interval), last),
            )
        }
    }

    fn with(sums: Sums, ahead: Expiry) -> ChunkOut {
        ChunkOut {
            sums,
            reports_from: 0,
            truth_from: 0,
            requests: Vec::new(),
            buckets: Vec::new(),
            spare: Vec::new(),
            first: 0,
            gated: NO_RING,
            events: 0,
            ahead,
            region: 0,
            latest: 0,
            seq: 0,
            skip: 0,
            sign: 1,
        }
    }

    /// An output that counts units and keeps nothing (`World::replay_ahead`).
    pub(crate) fn dry() -> ChunkOut {
        ChunkOut {
            skip: u32::MAX,
            ..ChunkOut::with(Sums::new(0, 0, 0), Expiry::new(Ticks::new(1), 0))
        }
    }

    /// The output replays visits from now on: of each, the first `skip` units are dropped and the
    /// rest counted `sign` times (`skip` 0 and `sign` 1 for plain visits).
    pub(crate) fn replaying(&mut self, skip: u32, sign: i64) {
        (self.seq, self.skip, self.sign) = (0, skip, sign);
    }

    /// Empties the output for the next region, keeping its memory (its sums stay until the planner
    /// reads them, its run-ahead visits until their ticks are over).
    fn reset(&mut self) {
        self.requests.clear();
        self.events = 0;
        self.latest = 0;
        self.seq = 0;
    }

    /// Files `device` for its next event, at `when`: in the bucket of the event's tick (the last for
    /// one past the horizon), and in none before the region's `first`.
    #[inline]
    pub(crate) fn file(&mut self, when: u32, device: u32) {
        let last = u32::try_from(self.buckets.len().saturating_sub(1)).unwrap_or(u32::MAX);
        let k = self.ahead.ticks.bucket(when, last, self.first);
        if let Some(bucket) = self.buckets.get_mut(k) {
            if bucket.capacity() == 0
                && let Some(list) = self.spare.pop()
            {
                *bucket = list;
            }
            bucket.push(device);
        }
    }

    /// A visit ran events up to time `reach`.
    #[inline]
    pub(crate) fn reached(&mut self, reach: u32) {
        self.latest = self.latest.max(reach);
    }

    /// A visit ran past its tick (see `World::replay_ahead`).
    #[inline]
    pub(crate) fn ran_ahead(&mut self, visit: Ahead) {
        self.ahead.push(Ahead {
            region: self.region,
            ..visit
        });
    }

    /// A unit of a visit starts.
    #[inline]
    pub(crate) fn unit(&mut self) {
        self.seq += 1;
    }

    #[inline]
    fn live(&self) -> bool {
        self.seq > self.skip
    }

    #[inline]
    pub(crate) fn event(&mut self) {
        if self.live() {
            self.events += self.sign;
        }
    }

    /// A change of the true state of a device of `ring` in tick `tick`.
    pub(crate) fn truth(&mut self, tick: u32, ring: u8, done: i32, exposed: i32, progress: i32) {
        if !self.live() {
            return;
        }
        let slab = self.sums.slab(tick.max(self.truth_from), ring);
        let t = &mut self.sums.truth[slab];
        let sign = self.sign;
        t[0] += sign * i64::from(done);
        t[1] += sign * i64::from(exposed);
        t[2] += sign * i64::from(progress);
        t[3] += sign * i64::from(done != 0);
    }

    /// The tallies of `slab`, of ring `ring`, that a report or offer of a device adds to: the ring's,
    /// and while a gate may still read them (`World::gated`) those of the device's per-field values
    /// (`values`, read only then).
    #[inline]
    fn tallies<'a>(
        &'a mut self,
        slab: usize,
        ring: u8,
        values: impl FnOnce() -> &'a [u16],
    ) -> (&'a mut [ChunkTally], &'a [u16]) {
        if ring == self.gated {
            (self.sums.tallies_mut(slab), values())
        } else {
            (self.sums.ring_tally_mut(slab), &[])
        }
    }

    /// The planner offers the update to `device` in tick `tick`: its view counts it in that tick.
    pub(crate) fn offered(&mut self, tick: u32, setup: &Setup<'_>, device: u32) {
        let (ring, values) = setup.tag(device);
        if let Ok(ring) = u8::try_from(ring) {
            let slab = self.sums.slab(tick.max(self.reports_from), ring);
            let (tallies, places) = self.tallies(slab, ring, || values);
            each_tally(tallies, places, |t| t.offered += 1);
        }
    }

    /// Adds a report of `device` (the device being visited: its tag was prefetched with its row).
    pub(crate) fn report(&mut self, d: Delta, setup: &Setup<'_>, device: u32) {
        // A report that moves no count (a deferred device deferred again) and arrives in the tick
        // it is made in changes nothing the planner sees, not even for a while.
        if !self.live() || (d.from == d.to && !d.exposed && d.tick == d.made) {
            return;
        }
        let sign = self.sign;
        let made = self.sums.slab(d.made.max(self.truth_from), d.ring);
        self.sums.truth[made][4] += sign;
        let due = self.sums.slab(d.tick.max(self.reports_from), d.ring);
        self.sums.counts[due] += sign;
        let sign = sign as i32;
        let (tallies, places) = self.tallies(due, d.ring, || setup.tag(device).1);
        each_tally(tallies, places, |t| t.report(&d, sign));
    }
}

/// What one output's visits add up to, per (tick, ring): the reports due in the tick (their tallies
/// and how many they are) and the tick's truth changes. Kept for the whole trial and indexed by tick,
/// so a report adds at fixed places and nothing is copied per region: the planner reads a tick's
/// reports when it comes (`World::due`), then its truth changes (`World::apply_truth`), and the
/// tick's place is reused.
pub(crate) struct Sums {
    /// The slab of (tick, ring) at `tick × rings + ring`, 0 for none (slab 0 takes what has no
    /// place, and is never read).
    index: Vec<u32>,
    rings: usize,
    last: u32,
    stride: usize,
    /// `stride` tallies per slab.
    tallies: Vec<ChunkTally>,
    /// Per slab: how many reports (taken-back ones count -1), and the truth changes.
    counts: Vec<i64>,
    truth: Vec<Truth>,
    /// Per slab: whether its tallies per value were handed out (`tallies_mut`; else only its ring's,
    /// `ring_tally_mut`).
    per_value: Vec<bool>,
    /// Slabs read and emptied, to reuse.
    free: Vec<u32>,
}

impl Sums {
    fn new(stride: usize, last: u32, rings: usize) -> Sums {
        Sums {
            index: vec![0; (last as usize + 1) * rings],
            rings,
            last,
            stride,
            tallies: vec![ChunkTally::default(); stride],
            counts: vec![0],
            truth: vec![Truth::default()],
            per_value: vec![false],
            free: Vec::new(),
        }
    }

    fn place(&self, tick: u32, ring: u8) -> Option<usize> {
        let ring = usize::from(ring);
        (ring < self.rings).then(|| tick.min(self.last) as usize * self.rings + ring)
    }

    /// The slab of (`tick`, `ring`), made on first use.
    #[inline]
    fn slab(&mut self, tick: u32, ring: u8) -> usize {
        let Some(place) = self.place(tick, ring) else {
            return 0;
        };
        match self.index[place] {
            0 => {
                let slab = match self.free.pop() {
                    Some(slab) => slab as usize,
                    None => {
                        self.tallies
                            .resize(self.tallies.len() + self.stride, ChunkTally::default());
                        self.counts.push(0);
                        self.truth.push(Truth::default());
                        self.per_value.push(false);
                        self.counts.len() - 1
                    }
                };
                self.index[place] = slab as u32;
                slab
            }
            slab => slab as usize,
        }
    }

    /// The tallies of `slab`: its ring's, then per value (see `each_tally`).
    #[inline]
    fn tallies_mut(&mut self, slab: usize) -> &mut [ChunkTally] {
        if let Some(per_value) = self.per_value.get_mut(slab) {
            *per_value = true;
        }
        self.slab_tallies(slab, self.stride)
    }

    /// Its ring's tally alone, of `slab`: the planner then reads one cache line of it, not one per
    /// value.
    #[inline]
    fn ring_tally_mut(&mut self, slab: usize) -> &mut [ChunkTally] {
        self.slab_tallies(slab, self.stride.min(1))
    }

    #[inline]
    fn slab_tallies(&mut self, slab: usize, n: usize) -> &mut [ChunkTally] {
        let at = slab * self.stride;
        self.tallies.get_mut(at..at + n).unwrap_or_default()
    }

    /// Hands the reports due in `tick` from `ring` to `f` (their tallies, without those per value
    /// if none were handed out, and their count), and empties them.
    fn take_reports(&mut self, tick: u32, ring: u8, f: impl FnOnce(&[ChunkTally], i64)) {
        let Some(place) = self.place(tick, ring) else {
            return;
        };
        let slab = self.index[place] as usize;
        if slab != 0 {
            let count = std::mem::take(&mut self.counts[slab]);
            let per_value = self.per_value.get_mut(slab).map(std::mem::take);
            let n = if per_value == Some(true) {
                self.stride
            } else {
                self.stride.min(1)
            };
            let tallies = self.slab_tallies(slab, n);
            f(tallies, count);
            tallies.fill(ChunkTally::default());
        }
    }

    /// The truth changes of `ring` in `tick`; the tick's place is emptied (its reports were read).
    fn take_truth(&mut self, tick: u32, ring: u8) -> Truth {
        let Some(place) = self.place(tick, ring) else {
            return Truth::default();
        };
        let slab = std::mem::take(&mut self.index[place]) as usize;
        if slab == 0 {
            return Truth::default();
        }
        self.free.push(slab as u32);
        std::mem::take(&mut self.truth[slab])
    }
}

fn counts_of(t: &Tally, size: u64, soak: i64) -> RingCounts {
    let g = |s: Status| t.counts[s as usize].max(0) as u64;
    RingCounts {
        size,
        offered: t.offered.max(0) as u64,
        deferred: g(Status::Deferred),
        denied: g(Status::Denied),
        updating: g(Status::Updating),
        verifying: g(Status::Verifying),
        succeeded: g(Status::Succeeded),
        failed: g(Status::Failed),
        rolled_back: g(Status::RolledBack),
        bricked: g(Status::Bricked),
        offline: g(Status::Offline),
        exposed: t.exposed.max(0) as u64,
        soak_secs: soak,
    }
}

/// Requests for a first offer: (check-in time, device), sorted.
type Requests = Vec<(u32, u32)>;

/// Devices waiting for their first offer, in order of check-in time (then id). A region's requests come
/// after every queued one (their check-ins are later); they stay in the lists its outputs sorted, and
/// are merged only as the planner takes them (when a ring starts, most of its devices ask within an
/// hour: the planner does not merge or copy those lists as they come).
#[derive(Default)]
struct Queue {
    /// Per region, its outputs' lists (none empty) and how much of each was taken.
    regions: std::collections::VecDeque<Vec<(Requests, usize)>>,
    /// How many requests of the first region are left.
    left: usize,
    /// Lists taken in full, kept to hand back to the outputs.
    spare: Vec<Requests>,
}

impl Queue {
    /// Queues the requests of a region's outputs, and gives each output an empty list.
    fn push_region(&mut self, outs: &mut [ChunkOut]) {
        let mut lists = Vec::new();
        for out in outs {
            if !out.requests.is_empty() {
                let empty = self.spare.pop().unwrap_or_default();
                lists.push((std::mem::replace(&mut out.requests, empty), 0));
            }
        }
        if !lists.is_empty() {
            if self.regions.is_empty() {
                self.left = lists.iter().map(|(list, _)| list.len()).sum();
            }
            self.regions.push_back(lists);
        }
    }

    /// Takes the next request: the least of the first region's lists' next ones.
    fn pop_front(&mut self) -> Option<(u32, u32)> {
        let lists = self.regions.front_mut()?;
        let mut first: Option<(&mut usize, (u32, u32))> = None;
        for (list, at) in lists.iter_mut() {
            if let Some(&r) = list.get(*at)
                && first.as_ref().is_none_or(|(_, f)| r < *f)
            {
                first = Some((at, r));
            }
        }
        let (at, request) = first?;
        *at += 1;
        self.left = self.left.saturating_sub(1);
        if self.left == 0 {
            self.pop_region();
        }
        Some(request)
    }

    /// Drops the first region's lists, keeping some to reuse (`keep_list`).
    fn pop_region(&mut self) {
        if let Some(lists) = self.regions.pop_front() {
            for (list, _) in lists {
                keep_list(&mut self.spare, list);
            }
        }
        self.left = self.regions.front().map_or(0, |lists| {
            lists.iter().map(|(list, at)| list.len() - at).sum()
        });
    }

    fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }

    fn clear(&mut self) {
        while !self.regions.is_empty() {
            self.pop_region();
        }
    }
}

/// The trial's mutable world.
struct World<'s, 'a> {
    setup: &'s Setup<'a>,
    key: RngKey,
    partitions: &'s Partitions,
    effects: &'s Effects<'s>,
    devs: Vec<Dev>,
    buckets: Vec<Vec<u32>>,
    /// Emptied lists of ids, handed to the outputs to file in (`recycle`).
    spare: Vec<Vec<u32>>,
    n_ticks: u32,
    /// The tick's length, and the tick of a time.
    ticks: Ticks,
    n_rings: usize,
    /// How many reports are on their way: made by the current tick (`Truth`) and not yet due. The
    /// reports themselves are summed in the outputs' `Sums` until their tick.
    outstanding: i64,
    /// The time of the latest event run so far: a device whose visit ran ahead has events after the
    /// current tick without being filed for one.
    latest: u32,
    /// Parallel regions run so far (the visits that ran past their tick, while an abort may still
    /// come, stay in the outputs: `ChunkOut::ran_ahead`).
    regions: u32,
    /// Devices waiting for their first offer.
    queue: Queue,
    /// The ring a gate may still read per value (`NO_RING` for none): the last ring started, unless
    /// it is the last ring or the rollout aborted. Reports of other rings count only in their ring's
    /// tally: no gate reads their values again (and most reports are of the last ring).
    gated: u8,
    true_done: Vec<i64>,
    true_exposed: Vec<i64>,
    /// Devices updating or verifying, in truth.
    in_progress: i64,
    /// The last tick at which a device finished or was in progress.
    last_progress: u32,
    events: i64,
    warm: Warm,
    /// One output per pool thread, emptied after each region and used again (its sums stay until
    /// their ticks); and the output of replays (`replay_ahead`).
    outs: Vec<ChunkOut>,
    undo: ChunkOut,
    /// Each pool thread's scratch for its visits, kept from region to region (as `outs`).
    ctxs: Vec<DeviceCtx<'s, 'a>>,
    /// A tick's truth changes per ring, summed (`apply_truth`).
    changes: Vec<Truth>,
}

/// The tick of a time: a division by the tick's length, as a multiplication (Lemire, Kaser and Kurz,
/// "Faster remainder by direct computation", 2019: exact for every 32-bit time and length). A
/// device's events and reports each take one; a division instruction costs ten times as much.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticks {
    pub(crate) secs: u32,
    /// `2^64 / secs` rounded up (0 for a one-second tick).
    inverse: u64,
}

impl Ticks {
    pub(crate) fn new(secs: u32) -> Ticks {
        let secs = secs.max(1);
        Ticks {
            secs,
            inverse: (u64::MAX / u64::from(secs)).wrapping_add(1),
        }
    }

    /// `t / secs`.
    #[inline]
    pub(crate) fn of(&self, t: u32) -> u32 {
        if self.secs == 1 {
            t
        } else {
            ((u128::from(self.inverse) * u128::from(t)) >> 64) as u32
        }
    }

    /// The bucket an event at `when` is filed in, of buckets `0..=last`: its tick (the last for one
    /// past the horizon), and none before `first`.
    #[inline]
    pub(crate) fn bucket(&self, when: u32, last: u32, first: u32) -> usize {
        self.of(when).min(last).max(first) as usize
    }
}

/// No ring (`World::gated`).
const NO_RING: u8 = u8::MAX;

/// Marks a device id in a region's list as a first offer (ids are below `fleet::MAX_DEVICES`).
const OFFER: u32 = 1 << 31;

/// The device id in an entry of a region's list.
#[inline]
fn id_of(entry: u32) -> u32 {
    entry & !OFFER
}

/// Keeps `list`, emptied, in `spare` (up to `SPARE_LISTS` lists, none longer than `SPARE_LEN`: the
/// few long ones of a ring's start are not kept).
fn keep_list<T>(spare: &mut Vec<Vec<T>>, mut list: Vec<T>) {
    if (1..=SPARE_LEN).contains(&list.capacity()) && spare.len() < SPARE_LISTS {
        list.clear();
        spare.push(list);
    }
}

/// `events` and `offers` (sorted, distinct, no device in both) as one sorted list, the offers marked.
fn with_offers(events: &[u32], offers: &[u32], merged: &mut Vec<u32>) {
    merge(events, offers, merged, |d| d | OFFER);
    // A device waiting for its offer has no event of its own: it is in no bucket.
    debug_assert!(
        merged.windows(2).all(|w| id_of(w[0]) < id_of(w[1])),
        "a device both offered and due"
    );
}

/// `a` and `b` (both sorted) as one sorted list in `out` (on a tie, `a`'s first), `b`'s elements
/// passed through `mark`.
fn merge<T: Copy + Ord>(a: &[T], b: &[T], out: &mut Vec<T>, mark: impl Fn(T) -> T) {
    out.clear();
    out.reserve(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if b[j] < a[i] {
            out.push(mark(b[j]));
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend(b[j..].iter().map(|&x| mark(x)));
}

impl World<'_, '_> {
    /// Files device `d` for its event at `when`, filed in tick `tick` (see `bucket_of`).
    fn file(&mut self, when: u32, d: u32, tick: u32) {
        let k = self.bucket_of(when, tick);
        self.buckets[k].push(d);
    }

    /// The outputs of a parallel region, one per pool thread (give them back to `outs`, emptied).
    /// Each is made by its own thread (see `par_chunks`).
    fn outputs(&mut self) -> Vec<ChunkOut> {
        let mut outs = std::mem::take(&mut self.outs);
        if outs.is_empty() {
            let (setup, last, rings) = (self.setup, self.n_ticks, self.n_rings);
            outs = rayon::broadcast(|_| ChunkOut::new(setup, last, rings));
        }
        outs
    }

    /// The devices filed in tick `tick`'s bucket, by the planner and by the outputs, sorted, each
    /// once (`scratch` is a buffer).
    fn take_bucket(&mut self, tick: u32, scratch: &mut Vec<u32>) -> Vec<u32> {
        let k = tick as usize;
        let mut bucket = std::mem::take(&mut self.buckets[k]);
        for out in &mut self.outs {
            if let Some(filed) = out.buckets.get_mut(k) {
                if bucket.is_empty() {
                    std::mem::swap(&mut bucket, filed);
                } else {
                    bucket.extend_from_slice(filed);
                }
                keep_list(&mut self.spare, std::mem::take(filed));
            }
        }
        sort_ids(&mut bucket, scratch);
        bucket.dedup();
        bucket
    }

    /// Keeps an emptied list (a bucket taken) for the outputs to file in.
    fn recycle(&mut self, list: Vec<u32>) {
        keep_list(&mut self.spare, list);
    }

    /// Whether no device is filed after tick `tick`.
    fn nothing_after(&self, tick: u32) -> bool {
        let after = |buckets: &[Vec<u32>]| {
            buckets
                .get(tick as usize + 1..)
                .is_none_or(|b| b.iter().all(Vec::is_empty))
        };
        after(&self.buckets) && self.outs.iter().all(|out| after(&out.buckets))
    }

    /// The bucket of an event at `when` filed in tick `tick`: the event's tick, and never this one.
    fn bucket_of(&self, when: u32, tick: u32) -> usize {
        self.bucket_from(when, tick + 1)
    }

    /// The bucket of an event at `when`, in none before `first` (`Ticks::bucket`).
    fn bucket_from(&self, when: u32, first: u32) -> usize {
        self.ticks.bucket(when, self.n_ticks, first)
    }

    /// Runs the devices of `ids` (sorted by device, distinct) in tick `tick`: their events of the
    /// tick, or for an entry marked `OFFER` the planner's first offer, made at the end of tick
    /// `offer_tick` (this tick, or the one before: see `run_trial`) and counted in this tick's view.
    /// In parallel chunks when there are more than `serial`; then takes in what they produced.
    fn run(&mut self, ids: &[u32], tick: u32, offer_tick: u32, aborted: bool, serial: usize) {
        if ids.is_empty() {
            return;
        }
        let until = (tick + 1) * self.ticks.secs;
        let offer_at = (offer_tick + 1) * self.ticks.secs;
        // What the visits produce belongs to their ticks: this one's reports are still to be read,
        // and the truth changes of the offers' tick.
        let earliest = offer_tick.min(tick);
        let mut outs = self.outputs();
        self.regions += 1;
        for out in &mut outs {
            while out.spare.len() < SPARE_LISTS / 2
                && let Some(list) = self.spare.pop()
            {
                out.spare.push(list);
            }
            (out.reports_from, out.truth_from) = (tick, earliest);
            out.region = self.regions;
            out.gated = self.gated;
            // Never in this tick's bucket (see `file`).
            out.first = earliest + 1;
        }
        {
            let setup = self.setup;
            let mut ctxs = std::mem::take(&mut self.ctxs);
            if ctxs.len() != outs.len() {
                // Each made by its own thread, as the outputs.
                let (partitions, effects, ticks, key) =
                    (self.partitions, self.effects, self.ticks, self.key);
                ctxs = rayon::broadcast(|_| DeviceCtx::new(setup, partitions, effects, ticks, key));
            }
            for ctx in &mut ctxs {
                ctx.set_aborted(aborted);
            }
            let process = |ctx: &mut DeviceCtx<'_, '_>,
                           ids: &[u32],
                           devs: &mut [Dev],
                           base: usize,
                           out: &mut ChunkOut| {
                // Devices far apart in memory: ask for the ones a few visits ahead now (and for the
                // first few at the start of the chunk).
                let fetch = |devs: &[Dev], k: usize| {
                    if let Some(&ahead) = ids.get(k) {
                        let ahead = id_of(ahead);
                        crate::prefetch(&devs[ahead as usize - base]);
                        setup.pop.prefetch(ahead as usize);
                        setup.prefetch_tag(ahead);
                    }
                };
                (1..PREFETCH).for_each(|k| fetch(devs, k));
                for (k, &entry) in ids.iter().enumerate() {
                    fetch(devs, k + PREFETCH);
                    let id = id_of(entry);
                    let dev = &mut devs[id as usize - base];
                    if entry & OFFER != 0 {
                        ctx.window(offer_tick, offer_at, setup.lookahead);
                        out.offered(tick, setup, id);
                        ctx.offer(id, dev, offer_at, out);
                    } else {
                        ctx.window(tick, until, setup.lookahead);
                        ctx.advance(id, dev, out);
                    }
                }
            };
            if ids.len() <= serial {
                let mine = rayon::current_thread_index()
                    .unwrap_or(0)
                    .min(outs.len().saturating_sub(1));
                if let (Some(ctx), Some(out)) = (ctxs.get_mut(mine), outs.get_mut(mine)) {
                    process(ctx, ids, &mut self.devs, 0, out);
                    out.requests.sort_unstable();
                }
            } else {
                self.warm.release();
                par_chunks(
                    ids,
                    setup.min_chunk,
                    &mut self.devs,
                    &mut ctxs,
                    &process,
                    &mut outs,
                );
                self.warm.keep();
            }
            self.ctxs = ctxs;
        }
        self.queue.push_region(&mut outs);
        for out in &mut outs {
            self.latest = self.latest.max(out.latest);
            self.take(out);
        }
        self.outs = outs;
        // Only visits that ran past the end of this tick can be undone by an abort.
        for out in &mut self.outs {
            out.ahead.prune(tick);
        }
    }

    /// Takes in the event count of `out` (its sums and run-ahead visits stay where they are).
    fn take(&mut self, out: &mut ChunkOut) {
        self.events += out.events;
        out.reset();
    }

    /// Adds the reports due in `tick` to the planner's view (`views`, per ring).
    fn due(&mut self, tick: u32, views: &mut [View]) {
        for out in self.outs.iter_mut().chain([&mut self.undo]) {
            for (ring, view) in views.iter_mut().enumerate() {
                let ring = u8::try_from(ring).unwrap_or(u8::MAX);
                out.sums.take_reports(tick, ring, |tallies, count| {
                    self.outstanding -= count;
                    view.add(tallies);
                });
            }
        }
    }

    /// Applies the truth changes of tick `tick` (its reports were read).
    fn apply_truth(&mut self, tick: u32) {
        // Summed over the outputs first: a replay's output takes back what another's counted.
        let mut changes = std::mem::take(&mut self.changes);
        changes.clear();
        changes.resize(self.n_rings, Truth::default());
        for out in self.outs.iter_mut().chain([&mut self.undo]) {
            for (ring, sum) in changes.iter_mut().enumerate() {
                let t = out
                    .sums
                    .take_truth(tick, u8::try_from(ring).unwrap_or(u8::MAX));
                for (s, v) in sum.iter_mut().zip(t) {
                    *s += v;
                }
            }
        }
        for (ring, &[done, exposed, progress, finishes, made]) in changes.iter().enumerate() {
            // Reports made by events run ahead count as on their way only from their tick on, as
            // they would without running ahead.
            self.outstanding += made;
            self.true_done[ring] += done;
            self.true_exposed[ring] += exposed;
            self.in_progress += progress;
            if finishes != 0 {
                self.last_progress = tick;
            }
        }
        self.changes = changes;
    }

    /// The planner aborts in tick `tick`: every visit that ran events at or after the end of the
    /// tick (`cut`) assumed it would not. Each is replayed from the device as it was before the
    /// visit: once up to `cut`, which gives the device as it is now, and once in full, taking back
    /// what the visit's events from `cut` on reported and changed. The device then goes on from
    /// `cut`, hearing of the abort as any other.
    fn replay_ahead(&mut self, tick: u32, cut: u32) {
        // Each device's latest visit: the device as it is now.
        let mut latest: BTreeMap<u32, Ahead> = BTreeMap::new();
        for a in self.outs.iter_mut().flat_map(|out| out.ahead.drain()) {
            let entry = latest.entry(a.id).or_insert(a);
            if a.region > entry.region {
                *entry = a;
            }
        }
        let mut replayed = Vec::new();
        let mut ctx = DeviceCtx::new(
            self.setup,
            self.partitions,
            self.effects,
            self.ticks,
            self.key,
        );
        let visit = |ctx: &mut DeviceCtx<'_, '_>, a: &Ahead, dev: &mut Dev, out: &mut ChunkOut| {
            if let Some(t) = a.offer {
                ctx.offer(a.id, dev, t, out);
            } else {
                ctx.advance(a.id, dev, out);
            }
        };
        // What the replays take back counts in this tick.
        let mut undo = std::mem::replace(&mut self.undo, ChunkOut::dry());
        (undo.reports_from, undo.truth_from) = (tick, tick);
        undo.gated = self.gated;
        for a in latest.into_values().filter(|a| a.reach >= cut) {
            let mut now = a.before;
            let mut upto = ChunkOut::dry();
            ctx.window(a.tick, cut, false);
            visit(&mut ctx, &a, &mut now, &mut upto);
            undo.replaying(upto.seq, -1);
            let mut again = a.before;
            ctx.window(a.tick, a.until, true);
            visit(&mut ctx, &a, &mut again, &mut undo);
            debug_assert_eq!(again, self.devs[a.id as usize], "a replay differs");
            replayed.push((a.id, now, a.tick));
        }
        undo.ahead.clear();
        undo.requests.clear();
        self.take(&mut undo);
        self.undo = undo;
        // The visits filed each device at the event they stopped at; the replayed devices are filed
        // anew, at their next event after `cut`.
        let mut stale: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for (id, now, visit_tick) in replayed {
            let was = self.devs[id as usize].next_time();
            if was != device::NONE {
                stale
                    .entry(self.bucket_of(was, visit_tick))
                    .or_default()
                    .push(id);
            }
            self.devs[id as usize] = now;
            let next = now.next_time();
            if next != device::NONE {
                self.file(next, id, tick);
            }
        }
        for (k, mut ids) in stale {
            ids.sort_unstable();
            // One filing less of each: the one just made for a device whose next event is in the
            // same bucket stays (a bucket is taken as a set, so which list loses it does not matter).
            let mut seen = vec![false; ids.len()];
            let lists = self.outs.iter_mut().map(|out| &mut out.buckets);
            for buckets in lists.chain([&mut self.buckets]) {
                if let Some(bucket) = buckets.get_mut(k) {
                    bucket.retain(|d| match ids.binary_search(d) {
                        Ok(i) if !seen[i] => {
                            seen[i] = true;
                            false
                        }
                        _ => true,
                    });
                }
            }
        }
        // Every visit that ran to `cut` or later now ends before it.
        self.latest = self.latest.min(cut.saturating_sub(1));
    }
}

/// Runs one trial of one scenario.
pub fn run_trial(setup: &Setup<'_>, scenario: &Scenario, trial: u64) -> TrialResult {
    let pop = setup.pop;
    let horizon = setup.horizon;
    let step = setup.gate_interval;
    let n_ticks = horizon.div_ceil(step) + 1;
    let n_rings = pop.ring_devices.len();
    let key = RngKey::new(setup.seed, trial);
    let partitions = Partitions::generate(setup.fleet, setup.seed, trial, horizon);
    let effects = Effects::new(setup, scenario);
    let mut w = World {
        setup,
        key,
        partitions: &partitions,
        effects: &effects,
        devs: setup.devices(),
        buckets: vec![Vec::new(); n_ticks as usize + 1],
        spare: Vec::new(),
        n_ticks,
        ticks: Ticks::new(step),
        n_rings,
        outstanding: 0,
        latest: 0,
        regions: 0,
        queue: Queue::default(),
        gated: NO_RING,
        true_done: vec![0; n_rings],
        true_exposed: vec![0; n_rings],
        in_progress: 0,
        last_progress: 0,
        events: 0,
        warm: Warm::default(),
        outs: Vec::new(),
        ctxs: Vec::new(),
        // Replays file nothing: their devices are filed anew (`replay_ahead`).
        undo: ChunkOut {
            buckets: Vec::new(),
            ..ChunkOut::new(setup, n_ticks, n_rings)
        },
        changes: Vec::new(),
    };
    let mut views: Vec<View> = vec![View::new(&setup.per_values); n_rings];
    let mut started: Vec<Option<u32>> = vec![None; n_rings];
    // The times of the offers in the rate's window, as (time, how many), oldest first, and how many.
    let mut offer_times: std::collections::VecDeque<(u32, u32)> = std::collections::VecDeque::new();
    let mut in_window: u32 = 0;
    let mut aborted: Option<(usize, u32, String)> = None;
    let mut time_to_full: Option<u32> = None;
    let mut timeline: Vec<RingTimeline> = vec![RingTimeline::default(); n_rings];
    let rollout = &setup.policy.artifact().rollout;
    let (rate, rate_per) = rollout.rate.map_or((u32::MAX, 1), |(c, p)| (c, p.max(1)));
    let in_flight_limit = rollout.in_flight.map_or(i64::MAX, i64::from);
    let mut gate_rec = [0u64; GATE_SLOTS];
    let mut bits = ClauseBits::for_policy(setup.policy);
    let mut end = horizon;
    let mut scratch = Vec::new();

    let start_ring = |w: &mut World<'_, '_>, r: usize, t: u32, tick: u32| {
        // A ring starting is progress: its devices are about to check in.
        w.last_progress = tick;
        w.gated = match u8::try_from(r) {
            Ok(ring) if r + 1 < n_rings => ring,
            _ => NO_RING,
        };
        // Each device draws its first check-in from its own stream: in parallel, filed in order.
        let schedule =
            |_: &mut (), ids: &[u32], devs: &mut [Dev], base: usize, out: &mut ChunkOut| {
                for &d in ids {
                    let poll = setup.fleet.classes[setup.pop.class_of(d as usize)].poll_every;
                    let dev = &mut devs[d as usize - base];
                    dev.schedule_checkin(&key, d, poll, t);
                    out.file(dev.next_time(), d);
                }
            };
        let ids = &setup.pop.ring_devices[r];
        let mut outs = w.outputs();
        for out in &mut outs {
            // The first ring starts at tick 0 and files its devices from tick 0 on.
            out.first = if t == 0 { 0 } else { tick + 1 };
        }
        w.warm.release();
        par_chunks(
            ids,
            setup.min_chunk,
            &mut w.devs,
            &mut vec![(); outs.len()],
            &schedule,
            &mut outs,
        );
        w.warm.keep();
        for out in &mut outs {
            out.reset();
        }
        w.outs = outs;
    };
    if n_rings > 0 {
        started[0] = Some(0);
        start_ring(&mut w, 0, 0, 0);
    }
    // The true state at the end of a tick, and its timeline point.
    let end_of_tick =
        |w: &mut World<'_, '_>, views: &[View], timeline: &mut [RingTimeline], tick: u32| {
            w.apply_truth(tick);
            if ((tick + 1) * step).is_multiple_of(setup.timeline_step) {
                for r in 0..n_rings {
                    let done = [
                        Status::Succeeded,
                        Status::Failed,
                        Status::RolledBack,
                        Status::Bricked,
                    ]
                    .iter()
                    .map(|&s| views[r].all.counts[s as usize])
                    .sum::<i64>();
                    timeline[r].reported_done.push(done.max(0) as u32);
                    timeline[r].true_done.push(w.true_done[r].max(0) as u32);
                    timeline[r].exposed.push(w.true_exposed[r].max(0) as u32);
                }
            }
        };
    // Offers left for the next tick's parallel region (step 2), and that region's list.
    let mut carried: Vec<u32> = Vec::new();
    let mut merged: Vec<u32> = Vec::new();
    // A tick's offers, and marked for their own region (buffers).
    let mut granted: Vec<u32> = Vec::new();
    let mut offers: Vec<u32> = Vec::new();

    for tick in 0..n_ticks {
        let t0 = tick * step;
        let t1 = t0 + step;
        if t0 >= end {
            break;
        }
        // 1. Devices with events in [t0, t1): advance them, with the offers of the tick before when
        //    they were left for this one (step 2), then that tick's end (step 5).
        let bucket = w.take_bucket(tick, &mut scratch);
        if carried.is_empty() {
            w.run(&bucket, tick, tick, aborted.is_some(), setup.serial_limit);
            w.recycle(bucket);
        } else {
            with_offers(&bucket, &carried, &mut merged);
            carried.clear();
            w.run(&merged, tick, tick - 1, false, setup.serial_limit / 8);
            w.recycle(bucket);
            // An offer's events in this tick that did not run ahead (none, mostly).
            loop {
                let late = w.take_bucket(tick, &mut scratch);
                if late.is_empty() {
                    break;
                }
                w.run(&late, tick, tick, false, setup.serial_limit);
                w.recycle(late);
            }
            end_of_tick(&mut w, &views, &mut timeline, tick - 1);
        }

        // 2. Offers, in order of check-in time, within the rate and in-flight limits.
        if aborted.is_none() && !w.queue.is_empty() {
            let in_flight: i64 = views
                .iter()
                .map(|v| {
                    v.all.counts[Status::Updating as usize]
                        + v.all.counts[Status::Verifying as usize]
                })
                .sum();
            while let Some(&(o, n)) = offer_times.front()
                && o.saturating_add(rate_per) <= t1
            {
                offer_times.pop_front();
                in_window -= n;
            }
            // Each offer takes one place in the rate's window and one in flight.
            let room = u64::from(rate.saturating_sub(in_window))
                .min(u64::try_from(in_flight_limit.saturating_sub(in_flight)).unwrap_or(0));
            granted.clear();
            for _ in 0..room {
                let Some((t, d)) = w.queue.pop_front() else {
                    break;
                };
                let at = t1.max(t);
                match offer_times.back_mut() {
                    Some((o, n)) if *o == at => *n += 1,
                    _ => offer_times.push_back((at, 1)),
                }
                in_window += 1;
                granted.push(d);
            }
            sort_ids(&mut granted, &mut scratch);
            if !granted.is_empty() {
                w.last_progress = tick;
            }
            // An offer runs the device's update as far as it can: much more work per device. The
            // planner's view counts the offers in this tick (step 3). Once every ring has started,
            // no gate reads the view again: the offers then run with the next tick's devices, in one
            // parallel region (the trial cannot end in this tick: an offer is progress), are counted
            // in the next tick's view, and this tick ends (step 5) when they have run. That is the
            // same as running them now: the devices differ, the visits of each go on in order, and
            // what they report is due in the next tick at the earliest.
            let last_tick = t1 >= end || tick + 1 >= n_ticks;
            if time_to_full.is_some() && setup.lookahead && !last_tick && !granted.is_empty() {
                // (`carried` is empty: its buffer is the next tick's `granted`.)
                std::mem::swap(&mut carried, &mut granted);
            } else {
                offers.clear();
                offers.extend(granted.iter().map(|&d| d | OFFER));
                w.run(&offers, tick, tick, false, setup.serial_limit / 8);
            }
        }

        // 3. The planner's view: apply the reports due by this tick (those made by it count as on
        //    their way with its truth changes, step 5).
        w.due(tick, &mut views);

        // 4. Gates: the gate out of the last ring started.
        if aborted.is_none() {
            let last = started.iter().rposition(Option::is_some).unwrap_or(0);
            if let (true, Some(f), Some(since)) = (
                last + 1 < n_rings,
                setup.policy.gate_function(last as u8),
                started[last],
            ) {
                let gate = last as u8;
                let soak = i64::from(t1.saturating_sub(since));
                let whole = counts_of(&views[last].all, pop.ring_devices[last].len() as u64, soak);
                let mut total = Tally::default();
                let mut size = 0u64;
                for (r, v) in views.iter().enumerate().take(last + 1) {
                    for s in 0..Status::COUNT {
                        total.counts[s] += v.all.counts[s];
                    }
                    total.offered += v.all.offered;
                    total.exposed += v.all.exposed;
                    size += pop.ring_devices[r].len() as u64;
                }
                let rollout_counts = counts_of(&total, size, i64::from(t1));
                if let Some(mut acc) = GateAcc::new(setup.policy, gate) {
                    fill_gate_record(&whole, &rollout_counts, &mut gate_rec);
                    run_gate(setup.policy, f, &gate_rec, &mut bits);
                    acc.add_whole(&bits);
                    for (i, &field) in setup.per_fields.iter().enumerate() {
                        for &(value, vsize) in &setup.ring_value_sizes[last][i] {
                            let tally = views[last].per[i]
                                .get(value as usize)
                                .copied()
                                .unwrap_or_default();
                            fill_gate_record(
                                &counts_of(&tally, vsize, soak),
                                &rollout_counts,
                                &mut gate_rec,
                            );
                            run_gate(setup.policy, f, &gate_rec, &mut bits);
                            acc.add_value(field as u16, &bits);
                        }
                    }
                    match acc.finish(soak) {
                        GateDecision::Promote => {
                            started[last + 1] = Some(t1);
                            start_ring(&mut w, last + 1, t1, tick);
                            if last + 2 == n_rings {
                                time_to_full = Some(t1);
                            }
                        }
                        GateDecision::Abort { clauses } => {
                            let reason = clauses
                                .first()
                                .and_then(|c| setup.clause_reasons.get(c.index()))
                                .cloned()
                                .unwrap_or_else(|| "abort".to_string());
                            aborted = Some((last, t1, reason));
                            w.gated = NO_RING;
                            w.queue.clear();
                            w.replay_ahead(tick, t1);
                            // Every device of a started ring hears the abort at its next check-in.
                            for (r, s) in started.iter().enumerate() {
                                if s.is_none() {
                                    continue;
                                }
                                for &d in &pop.ring_devices[r] {
                                    let poll =
                                        setup.fleet.classes[pop.class_of(d as usize)].poll_every;
                                    let dev = &mut w.devs[d as usize];
                                    if dev.needs_abort() && dev.mark_abort(&key, d, poll, t1) {
                                        let when = dev.next_time();
                                        w.file(when, d, tick);
                                    }
                                }
                            }
                        }
                        GateDecision::Hold { .. } => {}
                    }
                }
            }
        }

        if !carried.is_empty() {
            // Steps 5 and 6 wait for this tick's offers (step 1 of the next).
            continue;
        }
        // 5. The true state, and timeline points.
        end_of_tick(&mut w, &views, &mut timeline, tick);

        // 6. Done? The last ring started (or an abort), no offer waiting, no report on its way, no
        //    device updating or verifying, and no device finished for a day: what is left are devices
        //    whose rails keep them where they are.
        if w.in_progress > 0 {
            w.last_progress = tick;
        }
        let quiet_for = (tick - w.last_progress) * step;
        let settled = (time_to_full.is_some() || aborted.is_some() || n_rings <= 1)
            && w.queue.is_empty()
            && w.outstanding == 0
            && w.in_progress == 0
            && (quiet_for >= SETTLE || (w.latest < t1 && w.nothing_after(tick)));
        if settled {
            end = t1;
            // Devices whose visits ran past the end go back to where they were at it.
            w.replay_ahead(tick, t1);
            break;
        }
    }

    // Final counts, true state: sums of integers, in parallel.
    let counts = {
        use rayon::prelude::*;
        w.devs
            .par_chunks(1 << 14)
            .map(count)
            .reduce(Counts::default, add_counts)
    };
    let outcome = match &aborted {
        Some((ring, at, by)) => Outcome::Aborted {
            ring: setup.schema.rings.get(*ring).cloned().unwrap_or_default(),
            at_s: f64::from(*at),
            by: by.clone(),
        },
        None if time_to_full.is_some() || n_rings <= 1 => Outcome::Completed,
        None => Outcome::TimedOut,
    };
    setup.give_back(std::mem::take(&mut w.devs));
    TrialResult {
        trial,
        outcome,
        time_to_full_s: time_to_full.map(f64::from),
        time_to_abort_s: aborted.as_ref().map(|a| f64::from(a.1)),
        duration_s: f64::from(end),
        counts,
        timeline,
        events: w.events.max(0) as u64,
    }
}

/// Sorts device ids: by comparisons when there are very few, else by radix (in linear time), 8 bits
/// a pass, or 11 for long lists (`scratch` is the second buffer). The planner sorts a tick's offers
/// (a few hundred) and its bucket at every tick.
fn sort_ids(ids: &mut Vec<u32>, scratch: &mut Vec<u32>) {
    if ids.len() <= SMALL_SORT {
        ids.sort_unstable();
    } else if ids.len() <= RADIX_SORT {
        radix_sort::<8, 256>(ids, scratch);
    } else {
        radix_sort::<11, 2048>(ids, scratch);
    }
}

/// Least significant digit first, `BITS` bits a pass (`DIGITS` is `2^BITS`), over the bits the ids
/// use.
fn radix_sort<const BITS: u32, const DIGITS: usize>(ids: &mut Vec<u32>, scratch: &mut Vec<u32>) {
    const { assert!(DIGITS == 1 << BITS) };
    let top = ids.iter().fold(0, |a, &b| a | b);
    let digit = |id: u32, shift: u32| (id >> shift) as usize & (DIGITS - 1);
    let mut shift = 0;
    while shift < u32::BITS && top >> shift != 0 {
        let mut counts = [0usize; DIGITS];
        for &id in ids.iter() {
            counts[digit(id, shift)] += 1;
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            (*c, sum) = (sum, sum + *c);
        }
        scratch.clear();
        scratch.resize(ids.len(), 0);
        for &id in ids.iter() {
            let slot = &mut counts[digit(id, shift)];
            scratch[*slot] = id;
            *slot += 1;
        }
        std::mem::swap(ids, scratch);
        shift += BITS;
    }
}

/// What a chunk runs: its device ids, their `Dev`s (indexed from the offset) and the offset.
type ChunkFn<'a, C> = dyn Fn(&mut C, &[u32], &mut [Dev], usize, &mut ChunkOut) + Sync + 'a;

/// The true state of `devs`, counted.
fn count(devs: &[Dev]) -> Counts {
    let mut counts = Counts::default();
    for dev in devs {
        counts.exposed += u64::from(dev.exposed());
        counts.affected += u64::from(dev.affected());
        match dev.truth() {
            Status::Bricked => counts.bricked += 1,
            Status::RolledBack => counts.rolled_back += 1,
            Status::Failed => counts.failed += 1,
            Status::Succeeded => counts.succeeded += 1,
            Status::Denied => counts.denied += 1,
            Status::Offline => counts.offline += 1,
            _ => {}
        }
    }
    counts
}

fn add_counts(a: Counts, b: Counts) -> Counts {
    Counts {
        exposed: a.exposed + b.exposed,
        affected: a.affected + b.affected,
        bricked: a.bricked + b.bricked,
        rolled_back: a.rolled_back + b.rolled_back,
        failed: a.failed + b.failed,
        succeeded: a.succeeded + b.succeeded,
        denied: a.denied + b.denied,
        offline: a.offline + b.offline,
    }
}

/// Processes sorted device ids in parallel: each of the pool's threads claims chunks of what is left
/// (each chunk owning a disjoint slice of `devs`) until nothing is, with its own scratch and output
/// (`scratch` and `outs`, one each per thread, by the pool's thread index). Thread `i` always works with
/// the `i`th, whose buffers it made itself (`World::outputs`, `World::run`), and both are aligned to
/// 128 bytes: what one thread writes at every event is then not on a cache line the other thread writes
/// too (two small buffers made one after the other by one thread lie side by side, and a line that two
/// threads both write costs more than the work). The callers release the pool's spinning threads first
/// (`Warm::release`): a spinning thread takes its job only once it stops. A claim takes a share of what
/// is left, at least `min_chunk` ids: large chunks first, small ones at the end, so that the threads
/// finish together. Which thread ran which device shows in
/// nothing: what the outputs hold is summed, or sorted, before it is used.
fn par_chunks<C: Send>(
    ids: &[u32],
    min_chunk: usize,
    devs: &mut [Dev],
    scratch: &mut [C],
    process: &ChunkFn<'_, C>,
    outs: &mut [ChunkOut],
) {
    /// The ids not yet claimed, their `Dev`s, and the index of the first of those.
    struct Rest<'d> {
        ids: &'d [u32],
        devs: &'d mut [Dev],
        base: usize,
    }
    let threads = outs.len().max(1);
    let rest = std::sync::Mutex::new(Rest { ids, devs, base: 0 });
    let claim = || {
        let mut r = rest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = (r.ids.len() / (CHUNKS * threads)).max(min_chunk.max(1));
        let (head, tail) = r.ids.split_at(n.min(r.ids.len()));
        let &last = head.last()?;
        let end = id_of(last) as usize + 1;
        let devs = std::mem::take(&mut r.devs);
        let (mine, others) = devs.split_at_mut(end - r.base);
        let base = r.base;
        *r = Rest {
            ids: tail,
            devs: others,
            base: end,
        };
        Some((head, mine, base))
    };
    let work = |(out, scratch): (&mut ChunkOut, &mut C)| {
        while let Some((ids, devs, base)) = claim() {
            process(scratch, ids, devs, base, out);
        }
        // Each thread sorts its own requests for offers: the planner merges sorted lists.
        out.requests.sort_unstable();
    };
    let each: Vec<_> = outs
        .iter_mut()
        .zip(scratch)
        .map(std::sync::Mutex::new)
        .collect();
    rayon::broadcast(|thread| {
        if let Some(mine) = each.get(thread.index()) {
            let mut mine = mine
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (out, scratch) = &mut *mine;
            work((out, scratch));
        }
    });
}

/// Keeps the pool's other threads awake between two parallel regions of a trial. The planner's part of
/// a tick is short (tens of microseconds); a thread that went to sleep in it takes longer than that to
/// wake (a futex round trip, slower still in a VM) and the next region starts without it. So after a
/// region, each other thread is handed a job that spins until the next region starts, or for at most
/// `SPIN`. Results do not depend on it.
#[derive(Default)]
struct Warm {
    region: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Drop for Warm {
    /// The trial is over: threads still spinning stop now, not after `SPIN`.
    fn drop(&mut self) {
        self.release();
    }
}

impl Warm {
    const SPIN: std::time::Duration = std::time::Duration::from_millis(2);

    /// A region starts: the spinning threads stop and take part.
    fn release(&self) {
        self.region
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// A region ended: the other threads spin until the next one.
    fn keep(&self) {
        use std::sync::atomic::Ordering::Acquire;
        let now = self.region.load(Acquire);
        for _ in 1..rayon::current_num_threads() {
            let region = std::sync::Arc::clone(&self.region);
            rayon::spawn(move || {
                let start = std::time::Instant::now();
                let mut spins = 0u32;
                while region.load(Acquire) == now {
                    std::hint::spin_loop();
                    spins = spins.wrapping_add(1);
                    if spins.is_multiple_of(1024) && start.elapsed() > Warm::SPIN {
                        break;
                    }
                }
            });
        }
    }
}

/// A per-thread agent context for each profile.
pub(crate) fn contexts<'p>(setup: &Setup<'p>) -> [Ctx<'p, &'p Evaluator<'p>>; 2] {
    let make = |p: Profile| {
        // INVARIANT: `Setup` is built only for policies the agent accepts (checked by `simulate`).
        Ctx::new(setup.policy, p, setup.evaluator).unwrap_or_else(|_| unreachable_ctx(setup))
    };
    [make(Profile::Esp32c3), make(Profile::Rk3566)]
}

fn unreachable_ctx<'p>(setup: &Setup<'p>) -> Ctx<'p, &'p Evaluator<'p>> {
    // A policy the agent refuses is rejected before any trial; this keeps the types total.
    match Ctx::new(setup.policy, Profile::Esp32c3, setup.evaluator) {
        Ok(c) => c,
        Err(e) => panic!("the agent refuses this policy: {e}"),
    }
}

pub(crate) fn profile_index(p: ClassProfile) -> usize {
    match p {
        ClassProfile::Esp32c3 => 0,
        ClassProfile::Rk3566 => 1,
    }
}

/// Evaluates a gate on a gate record. The record is built to the gate layout, so the interpreter cannot
/// reject it; were it to, the clauses keep their cleared (not firing) conditions and the gate holds.
fn run_gate(
    policy: &Policy,
    f: fleetgate_runtime::FnId,
    rec: &[u64; GATE_SLOTS],
    bits: &mut ClauseBits,
) {
    let _ = interp::run(
        policy,
        f,
        &Record {
            slots: rec,
            missing: &[0],
        },
        bits,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_the_same_by_radix_as_by_comparisons() {
        let mut rng = crate::rng::Stream(7);
        for (n, top) in [
            (10u64, 100u64),
            // By 8 bits a pass: a tick's offers, ids of up to 32 bits, few distinct values.
            (200, 1 << 20),
            (65, 1 << 32),
            (2048, 300),
            (5000, 1 << 20),
            (70_000, 1 << 21),
            (3000, 1 << 32),
        ] {
            let mut ids: Vec<u32> = (0..n).map(|_| (rng.next_u64() % top) as u32).collect();
            let mut expected = ids.clone();
            expected.sort_unstable();
            sort_ids(&mut ids, &mut Vec::new());
            assert_eq!(ids, expected, "{n} ids below {top}");
        }
    }

    #[test]
    fn sums_add_up_per_tick_and_ring_and_reuse_their_places() {
        let mut rng = crate::rng::Stream(11);
        let (stride, last, rings) = (3, 40, 4);
        let mut sums = Sums::new(stride, last, rings);
        let mut model: BTreeMap<(u32, u8), ([i32; 3], i64, i64)> = BTreeMap::new();
        let check = |sums: &mut Sums, model: &mut BTreeMap<(u32, u8), ([i32; 3], i64, i64)>| {
            for tick in 0..=last {
                for ring in 0..rings as u8 {
                    let want = model.remove(&(tick, ring)).unwrap_or_default();
                    let mut got = ([0; 3], 0);
                    sums.take_reports(tick, ring, |tallies, count| {
                        for (g, t) in got.0.iter_mut().zip(tallies) {
                            *g = t.counts[0];
                        }
                        got.1 = count;
                    });
                    assert_eq!(
                        (got.0, got.1),
                        (want.0, want.1),
                        "reports of {tick}, {ring}"
                    );
                    assert_eq!(
                        sums.take_truth(tick, ring)[4],
                        want.2,
                        "truth of {tick}, {ring}"
                    );
                }
            }
        };
        for round in 0..3 {
            // Ticks past the last count in it; a ring out of range counts nowhere.
            for k in 0..20_000i64 {
                let tick = (rng.next_u64() % 50) as u32;
                let ring = (rng.next_u64() % 5) as u8;
                let slab = sums.slab(tick, ring);
                let at = (rng.next_u64() % stride as u64) as usize;
                sums.tallies_mut(slab)[at].counts[0] += 1;
                sums.counts[slab] += k;
                sums.truth[slab][4] -= k;
                if usize::from(ring) < rings {
                    let m = model.entry((tick.min(last), ring)).or_default();
                    m.0[at] += 1;
                    m.1 += k;
                    m.2 -= k;
                }
            }
            check(&mut sums, &mut model);
            // Every place was read and freed: the next round reuses the same slabs.
            assert_eq!(
                sums.free.len(),
                (last as usize + 1) * rings,
                "round {round}"
            );
        }
    }

    #[test]
    fn ticks_divide_exactly() {
        let mut rng = crate::rng::Stream(3);
        for secs in [1, 2, 3, 7, 60, 300, 86_400, 1 << 31, u32::MAX - 1, u32::MAX] {
            let ticks = Ticks::new(secs);
            let edges = [
                0,
                1,
                secs - 1,
                secs,
                secs.wrapping_add(1),
                u32::MAX - 1,
                u32::MAX,
            ];
            let random = (0..10_000).map(|_| rng.next_u64() as u32);
            for t in edges.into_iter().chain(random) {
                assert_eq!(ticks.of(t), t / secs, "{t} / {secs}");
            }
        }
    }

    #[test]
    fn the_queue_gives_the_regions_in_turn_each_merged() {
        let mut rng = crate::rng::Stream(5);
        let mut queue = Queue::default();
        let (mut expected, mut got) = (Vec::new(), Vec::new());
        let take = |queue: &mut Queue, n: usize, got: &mut Vec<(u32, u32)>| {
            for _ in 0..n {
                let Some(r) = queue.pop_front() else { break };
                got.push(r);
            }
        };
        for n in [0, 1, 7, 300, 0, 2, 40] {
            let mut outs = [ChunkOut::dry(), ChunkOut::dry(), ChunkOut::dry()];
            let mut region = Vec::new();
            for (k, out) in outs.iter_mut().enumerate() {
                // Outputs with nothing to ask, and lists of different lengths.
                out.requests = (0..n * k)
                    .map(|_| ((rng.next_u64() % 50) as u32, (rng.next_u64() % 1000) as u32))
                    .collect();
                out.requests.sort_unstable();
                region.extend_from_slice(&out.requests);
            }
            region.sort_unstable();
            expected.extend(region);
            queue.push_region(&mut outs);
            assert!(outs.iter().all(|out| out.requests.is_empty()));
            // Some taken between regions, and lists reused.
            take(&mut queue, 5, &mut got);
        }
        take(&mut queue, usize::MAX, &mut got);
        assert_eq!(got, expected);
        assert!(queue.is_empty() && queue.pop_front().is_none());
        let mut outs = [ChunkOut::dry()];
        outs[0].requests = vec![(1, 2), (3, 4)];
        queue.push_region(&mut outs);
        assert!(!queue.is_empty());
        queue.clear();
        assert!(queue.is_empty() && queue.pop_front().is_none());
    }

    #[test]
    fn offers_are_marked_in_one_sorted_list() {
        let mut merged = Vec::new();
        with_offers(&[1, 4, 9], &[0, 5, 6, 12], &mut merged);
        assert_eq!(
            merged.iter().map(|&e| id_of(e)).collect::<Vec<_>>(),
            [0, 1, 4, 5, 6, 9, 12]
        );
        let offers: Vec<u32> = merged
            .iter()
            .filter(|&&e| e & OFFER != 0)
            .map(|&e| id_of(e))
            .collect();
        assert_eq!(offers, [0, 5, 6, 12]);
    }

    #[test]
    fn run_ahead_visits_stay_until_their_reach_is_over() {
        let ticks = Ticks::new(300);
        let mut kept = Expiry::new(ticks, 20);
        let visit = |id: u32, reach: u32| Ahead {
            id,
            offer: None,
            tick: 0,
            until: 300,
            reach,
            region: id,
            before: Dev::NEW,
        };
        // Reaches in ticks 1, 2 (both ends), 5, and past the last tick (kept in it).
        for (id, reach) in [(1, 300), (2, 600), (3, 899), (4, 1500), (5, 100_000)] {
            kept.push(visit(id, reach));
        }
        // The end of tick 1: what reached into it can no longer be undone.
        kept.prune(1);
        let mut left: Vec<(u32, u32)> = kept.drain().map(|a| (a.id, a.reach)).collect();
        left.sort_unstable();
        assert_eq!(left, [(2, 600), (3, 899), (4, 1500), (5, 100_000)]);
        assert_eq!(kept.drain().count(), 0, "a drain keeps nothing");
        // After a prune, a visit can no longer be filed in a tick that is over.
        kept.push(visit(6, 350));
        kept.prune(1);
        assert_eq!(kept.drain().map(|a| a.id).collect::<Vec<_>>(), [6]);
        kept.push(visit(7, 2000));
        kept.prune(20);
        assert_eq!(kept.drain().count(), 0, "every tick is over");
    }
}
