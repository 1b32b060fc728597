//! The test rig: the edge-ai artifact checked in under `policies/edge-ai/agent/`, and a device (the
//! journaling `Agent` over the in-memory flash model) driven by plain commands, rebooting after every
//! power loss the way a real device would.

use std::path::PathBuf;
use std::sync::OnceLock;

use fleetgate_agents::Evaluator as _;
use fleetgate_agents::session::{self, Sidecar};
use fleetgate_agents::{
    Agent, Ctx, Desired, Interp, MemStorage, Order, Phase, Profile, ProfileEvaluator,
};
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::decision;
use fleetgate_runtime::interp::ClauseBits;
use fleetgate_runtime::value::pack_version;
use fleetgate_runtime::verify::Policy;

pub fn agent_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/edge-ai/agent")
}

pub fn artifact_path() -> PathBuf {
    agent_dir().join("edge-ai.fga")
}

/// The edge-ai policy and its sidecar, loaded once.
pub fn edge_ai() -> &'static (Policy, Sidecar) {
    static EDGE_AI: OnceLock<(Policy, Sidecar)> = OnceLock::new();
    EDGE_AI.get_or_init(|| session::load(&artifact_path()).expect("edge-ai artifact"))
}

pub fn policy() -> &'static Policy {
    &edge_ai().0
}

pub const FIRMWARE: u8 = 0;
pub const MODEL: u8 = 1;
pub const CONFIG: u8 = 2;

pub const fn v(a: u16, b: u16, c: u16) -> u64 {
    pack_version(a, b, c)
}

/// Factory versions of the test devices: firmware v1.3.0, model v1.9.0, config v6.0.0.
pub const FACTORY: [u64; 3] = [v(1, 3, 0), v(1, 9, 0), v(6, 0, 0)];

/// Telemetry the tests switch between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tele {
    Good,
    /// Rails deny: battery low, not charging.
    LowBattery,
    /// Rails defer 15m: mission in a critical phase.
    Critical,
    /// Health: RK3566 inference latency (rolls back the model after 3 checks).
    SlowModel,
    /// Health: heap critically low on an MCU (rolls back firmware after 2 checks).
    LowHeap,
    /// Rails deny, and on an MCU health rolls back firmware: 3 reboots in 24h.
    CrashLoop,
}

pub const TELES: [Tele; 6] = [
    Tele::Good,
    Tele::LowBattery,
    Tele::Critical,
    Tele::SlowModel,
    Tele::LowHeap,
    Tele::CrashLoop,
];

fn slot(name: &str) -> usize {
    let side = &edge_ai().1;
    side.slots
        .iter()
        .position(|s| s.name == format!("device.{name}"))
        .unwrap_or_else(|| panic!("no field {name}"))
}

fn variant(field: &str, name: &str) -> u64 {
    let side = &edge_ai().1;
    side.slots[slot(field)]
        .variants
        .iter()
        .position(|v| v == name)
        .unwrap() as u64
}

/// Writes telemetry `t` of a device of `profile` into `rec`.
pub fn set_telemetry(rec: &mut fleetgate_agents::RecordBuf, profile: Profile, t: Tele) {
    let f = |x: f64| x.to_bits();
    let hw = profile.name();
    rec.set(slot("hw"), variant("hw", hw));
    rec.set(slot("region"), variant("region", "eu_west"));
    rec.set(
        slot("battery"),
        f(if t == Tele::LowBattery { 0.2 } else { 0.9 }),
    );
    rec.set(slot("charging"), u64::from(t != Tele::LowBattery));
    rec.set(
        slot("free_heap_kb"),
        if t == Tele::LowHeap { 30 } else { 120 },
    );
    rec.set(slot("flash_free_kb"), 8192);
    rec.set(slot("rssi_dbm"), (-60i64) as u64);
    rec.set(slot("cpu_temp_c"), f(45.0));
    let phase = if t == Tele::Critical {
        "critical"
    } else {
        "idle"
    };
    rec.set(slot("mission_phase"), variant("mission_phase", phase));
    rec.set(
        slot("reboots_24h"),
        if t == Tele::CrashLoop { 3 } else { 0 },
    );
    if profile == Profile::Rk3566 {
        rec.set(
            slot("inference_ms"),
            f(if t == Tele::SlowModel { 400.0 } else { 100.0 }),
        );
        rec.set(slot("npu_ready"), 1);
    } else {
        rec.set_missing(slot("inference_ms"));
        rec.set_missing(slot("npu_ready"));
    }
}

/// The session runner's scripted clock and planner serve the tests too.
pub use session::{ScriptClock as TestClock, ScriptTransport as TestTransport};

/// What happens to a device.
#[derive(Clone, Copy, Debug)]
pub enum Cmd {
    Tele(Tele),
    CheckIn(Option<Desired>),
    /// Let this many seconds pass, firing every timer on the way.
    Advance(u32),
    Order(Order),
    FailDownload,
    FailInstall,
    FailBoot,
    /// The power goes now.
    PowerLoss,
    /// The power goes at the `n`-th storage operation from now, tearing it if it can tear.
    CrashIn(u8),
}

pub type TestAgent =
    Agent<'static, MemStorage, TestClock, TestTransport, ProfileEvaluator<'static>, ()>;

pub struct Rig {
    pub agent: TestAgent,
    pub profile: Profile,
    /// Power losses so far.
    pub halts: usize,
}

impl Rig {
    pub fn new(profile: Profile, tele: Tele, at: u32) -> Rig {
        Rig::with_storage(profile, tele, at, MemStorage::new(&FACTORY))
    }

    pub fn with_storage(profile: Profile, tele: Tele, at: u32, storage: MemStorage) -> Rig {
        let policy = policy();
        let ctx = Ctx::new(policy, profile, ProfileEvaluator::new(policy, profile)).unwrap();
        let mut agent = Agent::new(
            ctx,
            storage,
            TestClock { now: at },
            TestTransport::default(),
            (),
        );
        set_telemetry(agent.telemetry_mut(), profile, tele);
        let mut rig = Rig {
            agent,
            profile,
            halts: 0,
        };
        let r = rig.agent.boot();
        rig.settle(r);
        rig
    }

    /// After a power loss, reboot until the agent stays up (an armed crash may hit the recovery).
    fn settle(&mut self, mut result: Result<(), fleetgate_agents::PowerLoss>) {
        for _ in 0..100 {
            if result.is_ok() {
                return;
            }
            // What the device boots with after the power loss is already a consistent set.
            assert!(
                self.consistent(),
                "inconsistent versions {:?} at a power loss in {:?}",
                self.versions(),
                self.agent.state()
            );
            self.halts += 1;
            result = self.agent.boot();
        }
        panic!("the device never came back up");
    }

    pub fn now(&self) -> u32 {
        self.agent.clock().now
    }

    pub fn run(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Tele(t) => set_telemetry(self.agent.telemetry_mut(), self.profile, t),
            Cmd::CheckIn(d) => {
                let t = self.agent.transport_mut();
                t.offered = d;
                if let Some(d) = d
                    && !t.releases.iter().any(|r| r.release == d.release)
                {
                    t.releases.push(d);
                }
                let r = self.agent.check_in();
                self.settle(r);
            }
            Cmd::Advance(secs) => {
                let to = self.now().saturating_add(secs);
                self.advance_to(to);
            }
            Cmd::Order(o) => {
                let r = self.agent.order(o);
                self.settle(r);
            }
            Cmd::FailDownload => self.agent.transport_mut().fail_downloads += 1,
            Cmd::FailInstall => self.agent.storage_mut().fail_writes += 1,
            Cmd::FailBoot => self.agent.storage_mut().fail_boots += 1,
            Cmd::PowerLoss => {
                self.halts += 1;
                let r = self.agent.boot();
                self.settle(r);
            }
            Cmd::CrashIn(n) => {
                let at = self.agent.storage().ops() + u64::from(n);
                self.agent
                    .storage_mut()
                    .arm_crash(fleetgate_agents::mem::Crash {
                        at_op: at,
                        torn: true,
                    });
            }
        }
    }

    pub fn advance_to(&mut self, to: u32) {
        for _ in 0..100_000 {
            match self.agent.state().deadline() {
                Some(d) if d <= to => {
                    let before = *self.agent.state();
                    self.agent.clock_mut().now = d.max(self.now());
                    let r = self.agent.tick().map(|_| ());
                    self.settle(r);
                    if *self.agent.state() == before && self.agent.state().deadline() == Some(d) {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.agent.clock_mut().now = to.max(self.now());
    }

    pub fn versions(&self) -> Vec<u64> {
        self.agent.storage().versions()
    }

    /// The running versions satisfy every dependency constraint of the package for this device.
    pub fn consistent(&self) -> bool {
        consistent(self.profile, &self.versions())
    }

    /// Lifts every order and checks in with `desired` (good telemetry, no faults) until the device
    /// settles on a terminal phase for that release, letting time pass; returns the steps taken.
    pub fn drain(&mut self, desired: Option<Desired>) -> usize {
        self.agent.storage_mut().disarm();
        self.agent.storage_mut().fail_writes = 0;
        self.agent.storage_mut().fail_boots = 0;
        self.agent.transport_mut().fail_downloads = 0;
        self.run(Cmd::Order(Order::Resume));
        self.run(Cmd::Tele(Tele::Good));
        for round in 0..2000 {
            let s = *self.agent.state();
            let target = desired.map_or(0, |d| d.release);
            let done = match desired {
                None => s.phase().is_terminal() || s.phase() == Phase::Idle,
                Some(_) => s.phase().is_terminal() && s.release() >= target,
            };
            if done && self.agent.storage().settled() {
                return round;
            }
            let next = s.deadline().unwrap_or(u32::MAX).min(self.now() + 600);
            self.advance_to(next);
            self.run(Cmd::CheckIn(desired));
        }
        panic!(
            "the device did not settle: {:?}, storage {:?}",
            self.agent.state(),
            self.agent.storage().planes()
        );
    }
}

/// Consistency of `versions` (one per plane) for a device of `profile`, by the package's constraints.
pub fn consistent(profile: Profile, versions: &[u64]) -> bool {
    let policy = policy();
    let mut rec = fleetgate_agents::RecordBuf::new(policy);
    set_telemetry(&mut rec, profile, Tele::Good);
    rec.set_versions(policy, versions);
    let mut bits = ClauseBits::for_policy(policy);
    Interp::new(policy)
        .eval(FunctionKind::Constraints, &rec.record(), &mut bits)
        .unwrap();
    decision::consistent(policy, versions, &bits).is_ok()
}
