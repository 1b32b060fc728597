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
use rayon::prelude::*;

use crate::input::fleet::{Fleet, Profile as ClassProfile};
use crate::input::release::{Release, Scenario};
use crate::population::{FieldStore, Population};
use crate::result::{Counts, Outcome, RingTimeline, TrialResult};
use crate::schema::Schema;

pub use device::{Dev, Status};
use device::{DeviceCtx, Effects};
use net::Partitions;

/// Devices processed per parallel chunk; small buckets run on the calling thread.
const CHUNK: usize = 4096;
/// The planner's view counts a silent device as bricked after this long.
const BRICK_SILENCE: u32 = 24 * 3600;

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
    /// Dynamic fields to draw for a check-in (rails, constraints) and for a health check.
    pub(crate) checkin_fields: Vec<usize>,
    pub(crate) health_fields: Vec<usize>,
    pub(crate) region_offset: Vec<i32>,
    pub(crate) per_fields: Vec<usize>,
}

/// Fields a function reads (the slot operands of its bytecode), among `fields`.
fn read_slots(policy: &Policy, kinds: &[fleetgate_runtime::artifact::FunctionKind]) -> Vec<usize> {
    use fleetgate_runtime::op::Op;
    let mut out = Vec::new();
    for &k in kinds {
        let Some(f) = policy.function(k) else { continue };
        let Some(f) = policy.function_def(f) else { continue };
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
        let dynamic = |slots: Vec<usize>| -> Vec<usize> {
            slots.into_iter().filter(|&s| s < schema.fields.len() && matches!(pop.fields[s], FieldStore::Dynamic)).collect()
        };
        let checkin_fields = dynamic(read_slots(policy, &[FunctionKind::Rails, FunctionKind::Constraints]));
        let health_fields = dynamic(read_slots(policy, &[FunctionKind::Health]));
        let n_regions = fleet.regions.iter().map(|r| usize::from(r.variant) + 1).max().unwrap_or(0);
        let mut region_offset = vec![0i32; n_regions];
        for r in &fleet.regions {
            region_offset[usize::from(r.variant)] = r.utc_offset_secs as i32;
        }
        let horizon = release.horizon.min(f64::from(u32::MAX / 2)) as u32;
        let gate_interval = (release.gate_interval as u32).max(1);
        // About 200 points over the horizon, on whole ticks.
        let timeline_step = ((horizon / 200).div_ceil(gate_interval) * gate_interval).max(gate_interval);
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
            checkin_fields,
            health_fields,
            region_offset,
            per_fields: schema.per_fields.clone(),
        }
    }
}

/// The planner's view of one ring: counts by reported status, overall and per value of each `per` field.
#[derive(Clone, Debug, Default)]
struct View {
    counts: [i64; Status::COUNT],
    offered: i64,
    exposed: i64,
    /// (field index in `per_fields`, value) -> counts.
    per: BTreeMap<(usize, u64), ([i64; Status::COUNT], i64, i64)>,
}

/// A change of the planner's view, to apply at a tick.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delta {
    pub tick: u32,
    pub device: u32,
    pub ring: u8,
    pub from: Option<Status>,
    pub to: Option<Status>,
    pub exposed: bool,
}

/// What a chunk of devices produced in one tick.
#[derive(Default)]
pub(crate) struct ChunkOut {
    pub deltas: Vec<Delta>,
    /// Devices asking for their first offer: (check-in time, device).
    pub requests: Vec<(u32, u32)>,
    /// (bucket tick, device) to file.
    pub next: Vec<(u32, u32)>,
    pub events: u64,
}

fn counts_of(v: &[i64; Status::COUNT], offered: i64, exposed: i64, size: u64, soak: i64) -> RingCounts {
    let g = |s: Status| v[s as usize].max(0) as u64;
    RingCounts {
        size,
        offered: offered.max(0) as u64,
        deferred: g(Status::Deferred),
        denied: g(Status::Denied),
        updating: g(Status::Updating),
        verifying: g(Status::Verifying),
        succeeded: g(Status::Succeeded),
        failed: g(Status::Failed),
        rolled_back: g(Status::RolledBack),
        bricked: g(Status::Bricked),
        offline: g(Status::Offline),
        exposed: exposed.max(0) as u64,
        soak_secs: soak,
    }
}

/// Runs one trial of one scenario.
pub fn run_trial(setup: &Setup<'_>, scenario: &Scenario, trial: u64) -> TrialResult {
    let pop = setup.pop;
    let n = pop.n;
    let horizon = setup.horizon;
    let step = setup.gate_interval;
    let n_ticks = horizon.div_ceil(step) + 1;
    let n_rings = pop.ring_devices.len();
    let partitions = Partitions::generate(setup.fleet, setup.seed, trial, horizon);
    let effects = Effects::new(setup, scenario);
    let mut devs: Vec<Dev> = (0..n).map(|i| Dev::new(setup.seed, trial, i as u32)).collect();
    let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); n_ticks as usize + 1];
    let mut pending_deltas: BTreeMap<u32, Vec<Delta>> = BTreeMap::new();
    let mut views: Vec<View> = vec![View::default(); n_rings];
    let mut started: Vec<Option<u32>> = vec![None; n_rings];
    let mut offer_times: std::collections::VecDeque<u32> = std::collections::VecDeque::new();
    let mut queue: std::collections::VecDeque<(u32, u32)> = std::collections::VecDeque::new();
    let mut aborted: Option<(usize, u32, String)> = None;
    let mut time_to_full: Option<u32> = None;
    let mut timeline: Vec<RingTimeline> = vec![RingTimeline::default(); n_rings];
    let mut true_done: Vec<i64> = vec![0; n_rings];
    let mut true_exposed: Vec<i64> = vec![0; n_rings];
    let mut events = 0u64;
    let rollout = &setup.policy.artifact().rollout;
    let (rate, rate_per) = rollout.rate.map_or((u32::MAX, 1), |(c, p)| (c, p.max(1)));
    let in_flight_limit = rollout.in_flight.unwrap_or(u32::MAX) as i64;
    let mut gate_rec = [0u64; GATE_SLOTS];
    let mut bits = ClauseBits::for_policy(setup.policy);
    let mut end = horizon;

    let start_ring = |r: usize, t: u32, devs: &mut [Dev], buckets: &mut [Vec<u32>]| {
        for &d in &setup.pop.ring_devices[r] {
            let dev = &mut devs[d as usize];
            dev.schedule_checkin_after(setup.fleet.classes[setup.pop.class_of(d as usize)].poll_every, t);
            let tick = (dev.next_time() / step).min(n_ticks);
            buckets[tick as usize].push(d);
        }
    };
    if n_rings > 0 {
        started[0] = Some(0);
        start_ring(0, 0, &mut devs, &mut buckets);
    }

    for tick in 0..n_ticks {
        let t0 = tick * step;
        let t1 = t0 + step;
        if t0 >= end {
            break;
        }
        // 1. Devices with events in [t0, t1): advance them, in parallel over chunks.
        let mut bucket = std::mem::take(&mut buckets[tick as usize]);
        bucket.sort_unstable();
        bucket.dedup();
        let outs: Vec<ChunkOut> = {
            let process = |ids: &[u32], devs: &mut [Dev], base: usize| -> ChunkOut {
                let mut ctx = DeviceCtx::new(setup, &partitions, &effects, step, aborted.is_some());
                let mut out = ChunkOut::default();
                for &id in ids {
                    let dev = &mut devs[id as usize - base];
                    ctx.advance(id, dev, t1, &mut out);
                }
                out
            };
            if bucket.len() <= CHUNK {
                vec![process(&bucket, &mut devs, 0)]
            } else {
                // Split the devices array so each chunk has exclusive access to its devices.
                par_chunks(&bucket, &mut devs, &process)
            }
        };
        for out in outs {
            events += out.events;
            for (when, d) in out.next {
                let k = (when / step).min(n_ticks).max(tick + 1);
                buckets[k as usize].push(d);
            }
            for delta in out.deltas {
                pending_deltas.entry(delta.tick.max(tick)).or_default().push(delta);
            }
            queue.extend(out.requests.iter().copied());
        }

        // 2. Offers, in order of check-in time (then device), within the rate and in-flight limits.
        let mut granted = Vec::new();
        if aborted.is_none() && !queue.is_empty() {
            let mut requests: Vec<(u32, u32)> = queue.drain(..).collect();
            requests.sort_unstable();
            let in_flight: i64 = views.iter().map(|v| v.counts[Status::Updating as usize] + v.counts[Status::Verifying as usize]).sum::<i64>()
                + granted.len() as i64;
            let mut in_flight = in_flight;
            for (t, d) in requests {
                while offer_times.front().is_some_and(|&o| o + rate_per <= t1) {
                    offer_times.pop_front();
                }
                if (offer_times.len() as u32) < rate && in_flight < in_flight_limit {
                    offer_times.push_back(t1.max(t));
                    in_flight += 1;
                    granted.push(d);
                } else {
                    queue.push_back((t, d));
                }
            }
        }
        if !granted.is_empty() {
            let mut ctx = DeviceCtx::new(setup, &partitions, &effects, step, false);
            let mut out = ChunkOut::default();
            for &d in &granted {
                let ring = pop.ring[d as usize];
                views[usize::from(ring)].offered += 1;
                for (i, &f) in setup.per_fields.iter().enumerate() {
                    let v = device::static_value(setup, f, d as usize);
                    views[usize::from(ring)].per.entry((i, v)).or_default().1 += 1;
                }
                ctx.offer(d, &mut devs[d as usize], t1, &mut out);
            }
            events += out.events;
            for (when, d) in out.next {
                let k = (when / step).min(n_ticks).max(tick + 1);
                buckets[k as usize].push(d);
            }
            for delta in out.deltas {
                pending_deltas.entry(delta.tick.max(tick)).or_default().push(delta);
            }
            queue.extend(out.requests.iter().copied());
        }

        // 3. The planner's view: apply the deltas due by this tick.
        let due: Vec<u32> = pending_deltas.range(..=tick).map(|(k, _)| *k).collect();
        for k in due {
            for d in pending_deltas.remove(&k).unwrap_or_default() {
                let view = &mut views[usize::from(d.ring)];
                let per_keys: Vec<(usize, u64)> =
                    setup.per_fields.iter().enumerate().map(|(i, &f)| (i, device::static_value(setup, f, d.device as usize))).collect();
                if let Some(s) = d.from {
                    view.counts[s as usize] -= 1;
                    for key in &per_keys {
                        view.per.entry(*key).or_default().0[s as usize] -= 1;
                    }
                }
                if let Some(s) = d.to {
                    view.counts[s as usize] += 1;
                    for key in &per_keys {
                        view.per.entry(*key).or_default().0[s as usize] += 1;
                    }
                }
                if d.exposed {
                    view.exposed += 1;
                    for key in &per_keys {
                        view.per.entry(*key).or_default().2 += 1;
                    }
                }
            }
        }

        // 5. Gates: the frontier ring's gate.
        if aborted.is_none() {
            let last = started.iter().rposition(Option::is_some).unwrap_or(0);
            if last + 1 < n_rings {
                let gate = last as u8;
                if let (Some(f), Some(since)) = (setup.policy.gate_function(gate), started[last]) {
                    let soak = i64::from(t1.saturating_sub(since));
                    let size = pop.ring_devices[last].len() as u64;
                    let whole = counts_of(&views[last].counts, views[last].offered, views[last].exposed, size, soak);
                    let mut total = [0i64; Status::COUNT];
                    let (mut off, mut exp, mut rsize) = (0i64, 0i64, 0u64);
                    for (r, v) in views.iter().enumerate().take(last + 1) {
                        for s in 0..Status::COUNT {
                            total[s] += v.counts[s];
                        }
                        off += v.offered;
                        exp += v.exposed;
                        rsize += pop.ring_devices[r].len() as u64;
                    }
                    let rollout_counts = counts_of(&total, off, exp, rsize, i64::from(t1));
                    if let Some(mut acc) = GateAcc::new(setup.policy, gate) {
                        fill_gate_record(&whole, &rollout_counts, &mut gate_rec);
                        let rec = Record { slots: &gate_rec, missing: &[0] };
                        let _ = interp::run(setup.policy, f, &rec, &mut bits);
                        acc.add_whole(&bits);
                        for (i, &field) in setup.per_fields.iter().enumerate() {
                            let sizes = ring_value_sizes(setup, last, field);
                            for (value, vsize) in sizes {
                                let (c, o, e) = views[last].per.get(&(i, value)).cloned().unwrap_or_default();
                                let counts = counts_of(&c, o, e, vsize, soak);
                                fill_gate_record(&counts, &rollout_counts, &mut gate_rec);
                                let rec = Record { slots: &gate_rec, missing: &[0] };
                                let _ = interp::run(setup.policy, f, &rec, &mut bits);
                                acc.add_value(field as u16, &bits);
                            }
                        }
                        match acc.finish(soak) {
                            GateDecision::Promote => {
                                started[last + 1] = Some(t1);
                                start_ring(last + 1, t1, &mut devs, &mut buckets);
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
                                queue.clear();
                                // Every device of a started ring hears the abort at its next check-in.
                                for (r, s) in started.iter().enumerate() {
                                    if s.is_some() {
                                        for &d in &pop.ring_devices[r] {
                                            let dev = &mut devs[d as usize];
                                            if dev.needs_abort() {
                                                dev.abort_pending = true;
                                                if dev.next_time() == u32::MAX {
                                                    dev.schedule_checkin_after(setup.fleet.classes[pop.class_of(d as usize)].poll_every, t1);
                                                    let k = (dev.next_time() / step).min(n_ticks).max(tick + 1);
                                                    buckets[k as usize].push(d);
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                            GateDecision::Hold { .. } => {}
                        }
                    }
                }
            }
        }

        // 6. Timeline points.
        if t1 % setup.timeline_step == 0 || tick + 1 == n_ticks {
            for r in 0..n_rings {
                let done = [Status::Succeeded, Status::Failed, Status::RolledBack, Status::Bricked]
                    .iter()
                    .map(|&s| views[r].counts[s as usize])
                    .sum::<i64>();
                timeline[r].reported_done.push(done.max(0) as u32);
                timeline[r].true_done.push(true_done[r].max(0) as u32);
                timeline[r].exposed.push(true_exposed[r].max(0) as u32);
            }
        }

        // 7. Done? The full ring started (or an abort), and nothing in progress or waiting.
        let settled = (time_to_full.is_some() || aborted.is_some() || started.iter().all(Option::is_some))
            && queue.is_empty()
            && pending_deltas.is_empty()
            && buckets[tick as usize + 1..].iter().all(Vec::is_empty);
        if settled {
            end = t1;
            break;
        }
        // Truth counts are refreshed from device states at timeline points only (cheap enough).
        if (t1 + step) % setup.timeline_step == 0 {
            for r in 0..n_rings {
                true_done[r] = 0;
                true_exposed[r] = 0;
                for &d in &pop.ring_devices[r] {
                    let dev = &devs[d as usize];
                    true_done[r] += i64::from(dev.truth.is_done());
                    true_exposed[r] += i64::from(dev.exposed());
                }
            }
        }
    }

    // Final counts, true state.
    let mut counts = Counts::default();
    for dev in &devs {
        counts.exposed += u64::from(dev.exposed());
        counts.affected += u64::from(dev.affected());
        match dev.truth {
            Status::Bricked => counts.bricked += 1,
            Status::RolledBack => counts.rolled_back += 1,
            Status::Failed => counts.failed += 1,
            Status::Succeeded => counts.succeeded += 1,
            Status::Denied => counts.denied += 1,
            _ => {}
        }
        if dev.truth == Status::Offline {
            counts.offline += 1;
        }
    }
    let outcome = match &aborted {
        Some((ring, at, by)) => Outcome::Aborted { ring: setup.schema.rings.get(*ring).cloned().unwrap_or_default(), at_s: f64::from(*at), by: by.clone() },
        None if time_to_full.is_some() || n_rings <= 1 => Outcome::Completed,
        None => Outcome::TimedOut,
    };
    TrialResult {
        trial,
        outcome,
        time_to_full_s: time_to_full.map(f64::from),
        time_to_abort_s: aborted.as_ref().map(|a| f64::from(a.1)),
        duration_s: f64::from(end),
        counts,
        timeline,
        events,
    }
}

/// Sizes of a ring per value of a static enum field (for `per` gates): values present only.
fn ring_value_sizes(setup: &Setup<'_>, ring: usize, field: usize) -> Vec<(u64, u64)> {
    let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
    for &d in &setup.pop.ring_devices[ring] {
        *sizes.entry(device::static_value(setup, field, d as usize)).or_default() += 1;
    }
    sizes.into_iter().collect()
}

/// Processes sorted device ids in parallel chunks, each chunk owning a disjoint slice of `devs`.
fn par_chunks(ids: &[u32], devs: &mut [Dev], process: &(dyn Fn(&[u32], &mut [Dev], usize) -> ChunkOut + Sync)) -> Vec<ChunkOut> {
    // Split `devs` at the chunk boundaries of `ids` (ids are sorted, so slices are disjoint).
    let mut pieces: Vec<(&[u32], &mut [Dev], usize)> = Vec::new();
    let mut rest: &mut [Dev] = devs;
    let mut offset = 0usize;
    for chunk in ids.chunks(CHUNK) {
        let last = *chunk.last().unwrap_or(&0) as usize + 1;
        let (head, tail) = rest.split_at_mut(last - offset);
        pieces.push((chunk, head, offset));
        rest = tail;
        offset = last;
    }
    pieces.into_par_iter().map(|(ids, devs, base)| process(ids, devs, base)).collect()
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
