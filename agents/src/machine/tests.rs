//! The machine's transitions on the edge-ai policy (planes 0 firmware, 1 model, 2 config).
//!
//! One `check(profile, events, expected)` feeds events to a fresh device and compares one line per
//! step, `event -> phase: actions`, with the expectation.

use super::*;
use crate::eval::Interp;
use crate::record::RecordBuf;
use Ev::*;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use fleetgate_runtime::value::pack_version;
use fleetgate_runtime::verify;

/// The edge-ai policy checked in next to its agent sessions (planes firmware, model, config).
pub(crate) fn edge_ai() -> &'static Policy {
    static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| {
        verify::verify(include_bytes!(
            "../../../policies/edge-ai/agent/edge-ai.fga"
        ))
        .unwrap()
    })
}

const V13: u64 = pack_version(1, 3, 0);
const V15: u64 = pack_version(1, 5, 0);
const V19: u64 = pack_version(1, 9, 0);
const V21: u64 = pack_version(2, 1, 0);
const V30: u64 = pack_version(3, 0, 0);
const V6: u64 = pack_version(6, 0, 0);
const V7: u64 = pack_version(7, 0, 0);

fn release(id: u32) -> Desired {
    let d = Desired::new(id);
    match id {
        1 => d.with(0, V15),
        2 => d.with(0, V15).with(1, V21),
        3 => d.with(0, V15).with(1, V21).with(2, V7),
        4 => d.with(0, V15).with(1, V30),
        // Already the factory versions: nothing to do.
        _ => d.with(0, V13),
    }
}

/// Telemetry: what a test changes in the device record.
#[derive(Clone, Copy)]
enum Tele {
    Good,
    LowBattery,
    Critical,
    LowHeap,
    /// A record that does not fit the policy.
    Broken,
}

/// One event of a test, in a compact form.
#[derive(Clone, Copy)]
enum Ev {
    /// Check in with release `id` offered (0: nothing offered).
    CheckIn(u32),
    /// Let `secs` pass, then tick.
    Tick(u32),
    Dl(u8),
    DlFail(u8),
    Inst(u8),
    InstFail(u8),
    Boot(u8),
    BootFail(u8),
    Ord(Order),
    Recover,
    Set(Tele),
    /// The running versions (as storage would report them after the step's actions).
    Run([u64; 3]),
}

struct Dev {
    ctx: Ctx<'static, Interp<'static>>,
    state: State,
    rec: RecordBuf,
    now: u32,
    broken: bool,
}

impl Dev {
    fn new(profile: Profile) -> Dev {
        let policy = edge_ai();
        let mut rec = RecordBuf::new(policy);
        set(&mut rec, Tele::Good, profile);
        rec.set_versions(policy, &[V13, V19, V6]);
        Dev {
            ctx: Ctx::new(policy, profile, Interp::new(policy)).unwrap(),
            state: State::new(),
            rec,
            now: 7200,
            broken: false,
        }
    }

    fn apply(&mut self, ev: Ev) -> Option<String> {
        if let Tick(secs) = ev {
            self.now += secs;
        }
        self.rec.set_now(edge_ai(), self.now);
        let wrong = [0u64; 2];
        let record = if self.broken {
            Record {
                slots: &wrong,
                missing: &[0],
            }
        } else {
            self.rec.record()
        };
        let desired;
        let event = match ev {
            CheckIn(0) => Event::CheckIn {
                desired: None,
                record,
            },
            CheckIn(id) => {
                desired = release(id);
                Event::CheckIn {
                    desired: Some(&desired),
                    record,
                }
            }
            Tick(_) => Event::Tick { record },
            Dl(plane) => Event::Downloaded { plane },
            DlFail(plane) => Event::DownloadFailed { plane },
            Inst(plane) => Event::Installed { plane },
            InstFail(plane) => Event::InstallFailed { plane },
            Boot(plane) => Event::Booted { plane },
            BootFail(plane) => Event::BootFailed { plane },
            Ord(o) => Event::Order(o),
            Recover => {
                let (s, a) = recover(&self.state, self.now, &self.ctx);
                let line = render("recover", &s, &a);
                self.state = s;
                return Some(line);
            }
            Set(t) => {
                self.broken = matches!(t, Tele::Broken);
                set(&mut self.rec, t, self.ctx.config.profile);
                return None;
            }
            Run(v) => {
                self.rec.set_versions(edge_ai(), &v);
                return None;
            }
        };
        let (s, a) = step(&self.state, self.now, &event, &mut self.ctx);
        let line = render(event.name(), &s, &a);
        self.state = s;
        Some(line)
    }
}

fn set(rec: &mut RecordBuf, t: Tele, profile: Profile) {
    let hw = match profile {
        Profile::Esp32c3 => 0,
        Profile::Rk3566 => 2,
    };
    let f = |x: f64| x.to_bits();
    for (slot, v) in [
        (0, hw),
        (
            2,
            f(if matches!(t, Tele::LowBattery) {
                0.2
            } else {
                0.9
            }),
        ),
        (3, u64::from(!matches!(t, Tele::LowBattery))),
        (4, if matches!(t, Tele::LowHeap) { 30 } else { 120 }),
        (5, 8192),
        (6, (-60i64) as u64),
        (7, f(45.0)),
        (8, if matches!(t, Tele::Critical) { 2 } else { 0 }),
        (9, f(100.0)),
        (10, 1),
        (11, 0),
    ] {
        rec.set(slot, v);
    }
}

fn render(event: &str, s: &State, a: &Actions) -> String {
    let actions: Vec<String> = a
        .iter()
        .map(|a| match *a {
            Action::Download { plane, .. } => format!("download {plane}"),
            Action::Install { plane, .. } => format!("install {plane}"),
            Action::Boot { plane, .. } => format!("boot {plane}"),
            Action::Confirm { plane, .. } => format!("confirm {plane}"),
            Action::Revert { plane, .. } => format!("revert {plane}"),
            Action::CheckIn => "check in".into(),
            Action::Report { status, .. } => format!("report {}", status.name()),
        })
        .collect();
    let mut line = format!("{event} -> {}", s.phase().name());
    if !actions.is_empty() {
        line += &format!(": {}", actions.join(", "));
    }
    line
}

/// Runs `events` on a fresh device of `profile` and compares the steps, one line each
/// (`event -> phase: actions`), with `expected`.
fn check(profile: Profile, events: &[Ev], expected: &str) -> State {
    let mut dev = Dev::new(profile);
    let lines: Vec<String> = events.iter().filter_map(|&e| dev.apply(e)).collect();
    let got = lines.join("\n");
    let expected: Vec<&str> = expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(got, expected.join("\n"), "\n--- got ---\n{got}\n");
    dev.state
}

const CLEAN_2: [Ev; 7] = [CheckIn(2), Dl(0), Inst(0), Boot(0), Dl(1), Inst(1), Boot(1)];

#[test]
fn config_comes_from_the_rollout_and_the_profile() {
    let c = Config::new(edge_ai(), Profile::Rk3566).unwrap();
    assert_eq!(
        (c.check_every, c.verify_for, c.window_checks),
        (60, 600, 10)
    );
    assert_eq!(
        (c.retries, c.max_boot_attempts, c.n_planes, c.n_counters),
        (3, 3, 3, 4)
    );
    assert_eq!(
        Config::new(edge_ai(), Profile::Esp32c3)
            .unwrap()
            .max_boot_attempts,
        1
    );
}

#[test]
fn too_many_counters_is_refused_at_configuration_time() {
    let mut a = edge_ai().clone().into_artifact();
    a.n_counters = 17;
    let policy = verify::verify_artifact(a).unwrap();
    assert_eq!(
        Config::new(&policy, Profile::Esp32c3),
        Err(ConfigError::TooManyCounters { found: 17, max: 16 })
    );
    let mut a = edge_ai().clone().into_artifact();
    a.rollout.check_every = 1;
    a.rollout.verify_for = 86_400;
    let policy = verify::verify_artifact(a).unwrap();
    assert!(matches!(
        Config::new(&policy, Profile::Esp32c3),
        Err(ConfigError::WindowTooLong { checks: 86_400, .. })
    ));
}

#[test]
fn a_clean_update_goes_plane_by_plane_then_commits_after_the_window() {
    let mut events = CLEAN_2.to_vec();
    events.push(Run([V15, V21, V6]));
    events.extend([Tick(60); 10]);
    let s = check(
        Profile::Esp32c3,
        &events,
        "
        checkin -> downloading: report updating, download 0
        downloaded -> installing: install 0
        installed -> booting: boot 0
        booted -> downloading: download 1
        downloaded -> installing: install 1
        installed -> booting: boot 1
        booted -> verifying: report verifying
        tick -> verifying
        tick -> verifying
        tick -> verifying
        tick -> verifying
        tick -> verifying
        tick -> verifying
        tick -> verifying
        tick -> verifying
        tick -> verifying
        tick -> committed: confirm 0, confirm 1, report succeeded
        ",
    );
    assert_eq!(s.committed(), PlaneSet(0b11));
}

#[test]
fn booting_is_not_success_and_an_early_tick_does_nothing() {
    let mut dev = Dev::new(Profile::Esp32c3);
    for e in CLEAN_2 {
        dev.apply(e);
    }
    assert_eq!(dev.state.phase(), Phase::Verifying);
    assert_eq!(dev.state.deadline(), Some(7200 + 60));
    assert_eq!(dev.apply(Tick(59)).unwrap(), "tick -> verifying");
    assert_eq!(dev.state.checks(), 0);
    assert_eq!(dev.apply(CheckIn(2)).unwrap(), "checkin -> verifying");
    assert_eq!(dev.apply(Tick(1)).unwrap(), "tick -> verifying");
    assert_eq!(dev.state.checks(), 1);
}

#[test]
fn rails_deny_and_defer() {
    check(
        Profile::Esp32c3,
        &[
            Set(Tele::LowBattery),
            CheckIn(1),
            CheckIn(1),
            Set(Tele::Critical),
            CheckIn(1),
            Tick(600),
            CheckIn(1),
            Tick(300),
            Set(Tele::Good),
            CheckIn(1),
        ],
        "
        checkin -> idle: report denied
        checkin -> idle: report denied
        checkin -> deferred: report deferred
        tick -> deferred
        checkin -> deferred
        tick -> idle: check in
        checkin -> downloading: report updating, download 0
        ",
    );
}

#[test]
fn a_record_that_does_not_fit_fails_safe() {
    check(
        Profile::Esp32c3,
        &[Set(Tele::Broken), CheckIn(1)],
        "checkin -> idle: report denied",
    );
    let mut events = vec![CheckIn(1), Dl(0), Inst(0), Boot(0), Set(Tele::Broken)];
    events.extend([Tick(60); 20]);
    let mut dev = Dev::new(Profile::Esp32c3);
    let lines: Vec<String> = events.iter().filter_map(|&e| dev.apply(e)).collect();
    // Inconclusive checks: ten in the window, ten extra, then everything rolls back.
    assert_eq!(lines[12], "tick -> verifying");
    assert_eq!(
        lines.last().unwrap(),
        "tick -> rolled_back: revert 0, report rolled_back"
    );
    assert_eq!(dev.state.checks(), 20);
}

#[test]
fn not_installable_is_terminal_and_a_no_op_release_commits() {
    check(
        Profile::Esp32c3,
        &[CheckIn(4), CheckIn(4), CheckIn(5)],
        "
        checkin -> not_installable: report not_installable
        checkin -> not_installable
        checkin -> committed: report succeeded
        ",
    );
    // The RK3566 can take model 3.x.
    check(
        Profile::Rk3566,
        &[CheckIn(4)],
        "checkin -> downloading: report updating, download 0",
    );
}

#[test]
fn outcomes_that_do_not_match_are_ignored() {
    check(
        Profile::Esp32c3,
        &[
            Boot(0),
            CheckIn(2),
            Dl(1),
            Inst(0),
            BootFail(0),
            Dl(0),
            Dl(0),
            Boot(0),
        ],
        "
        booted -> idle
        checkin -> downloading: report updating, download 0
        downloaded -> downloading
        installed -> downloading
        boot_failed -> downloading
        downloaded -> installing: install 0
        downloaded -> installing
        booted -> installing
        ",
    );
}

#[test]
fn download_failures_wait_for_the_next_check_in_and_cost_no_attempt() {
    let s = check(
        Profile::Esp32c3,
        &[
            CheckIn(1),
            DlFail(0),
            Tick(60),
            CheckIn(0),
            DlFail(0),
            CheckIn(1),
            Dl(0),
        ],
        "
        checkin -> downloading: report updating, download 0
        download_failed -> download_wait
        tick -> download_wait
        checkin -> downloading: download 0
        download_failed -> download_wait
        checkin -> downloading: download 0
        downloaded -> installing: install 0
        ",
    );
    assert_eq!(s.install_attempts(), 0);
}

#[test]
fn install_failures_retry_then_fail_reverting_everything() {
    check(
        Profile::Esp32c3,
        &[
            CheckIn(2),
            Dl(0),
            Inst(0),
            Boot(0),
            Dl(1),
            InstFail(1),
            Dl(1),
            InstFail(1),
            Dl(1),
            InstFail(1),
        ],
        "
        checkin -> downloading: report updating, download 0
        downloaded -> installing: install 0
        installed -> booting: boot 0
        booted -> downloading: download 1
        downloaded -> installing: install 1
        install_failed -> downloading: revert 1, download 1
        downloaded -> installing: install 1
        install_failed -> downloading: revert 1, download 1
        downloaded -> installing: install 1
        install_failed -> failed: revert 1, revert 0, report failed
        ",
    );
}

#[test]
fn boot_attempts_depend_on_the_profile() {
    let events = [
        CheckIn(1),
        Dl(0),
        Inst(0),
        BootFail(0),
        BootFail(0),
        BootFail(0),
    ];
    check(
        Profile::Esp32c3,
        &events,
        "
        checkin -> downloading: report updating, download 0
        downloaded -> installing: install 0
        installed -> booting: boot 0
        boot_failed -> downloading: revert 0, download 0
        boot_failed -> downloading
        boot_failed -> downloading
        ",
    );
    let s = check(
        Profile::Rk3566,
        &events,
        "
        checkin -> downloading: report updating, download 0
        downloaded -> installing: install 0
        installed -> booting: boot 0
        boot_failed -> booting: boot 0
        boot_failed -> booting: boot 0
        boot_failed -> downloading: revert 0, download 0
        ",
    );
    assert_eq!((s.install_attempts(), s.boot_attempts()), (1, 0));
}

#[test]
fn a_health_rollback_reverts_the_closure_in_reverse_order_and_keeps_the_rest() {
    // LowHeap rolls back firmware on an MCU after 2 checks; model 2.1 depends on firmware 1.4+, and
    // config 7 on model 2.x, so everything goes, config first.
    let events = [
        CheckIn(3),
        Dl(0),
        Inst(0),
        Boot(0),
        Dl(1),
        Inst(1),
        Boot(1),
        Dl(2),
        Inst(2),
        Boot(2),
        Run([V15, V21, V7]),
        Tick(60),
        Set(Tele::LowHeap),
        Tick(60),
        Tick(60),
    ];
    let mut dev = Dev::new(Profile::Esp32c3);
    let lines: Vec<String> = events.iter().filter_map(|&e| dev.apply(e)).collect();
    assert_eq!(
        lines.last().unwrap(),
        "tick -> rolled_back: revert 2, revert 1, revert 0, report rolled_back"
    );
    assert_eq!(dev.state.reverted(), PlaneSet(0b111));
    // Only the model blamed (a release without config): model reverts, firmware is confirmed.
    let mut dev = Dev::new(Profile::Rk3566);
    for e in CLEAN_2 {
        dev.apply(e);
    }
    dev.apply(Run([V15, V21, V6]));
    dev.rec.set(9, 400f64.to_bits());
    let lines: Vec<String> = [Tick(60), Tick(60), Tick(60)]
        .iter()
        .filter_map(|&e| dev.apply(e))
        .collect();
    assert_eq!(
        lines[2],
        "tick -> rolled_back: revert 1, confirm 0, report rolled_back"
    );
    assert_eq!(dev.state.committed(), PlaneSet(0b1));
}

#[test]
fn a_rollback_of_planes_the_release_did_not_change_is_not_health() {
    // The firmware is blamed, but the release changed the model only.
    let mut dev = Dev::new(Profile::Rk3566);
    let release_model = [CheckIn(2), Dl(0), Inst(0), Boot(0), Dl(1), Inst(1), Boot(1)];
    for e in release_model {
        dev.apply(e);
    }
    dev.state.installed = PlaneSet(0b10);
    dev.rec.set(10, 0); // npu_ready false: firmware rollback after 2 checks
    let lines: Vec<String> = [Tick(60); 20]
        .iter()
        .filter_map(|&e| dev.apply(e))
        .collect();
    assert_eq!(
        lines[9], "tick -> verifying",
        "never healthy: no commit at the end of the window"
    );
    assert_eq!(
        lines[19],
        "tick -> rolled_back: revert 1, report rolled_back"
    );
}

#[test]
fn pause_starts_nothing_new_but_lets_an_update_continue() {
    check(
        Profile::Esp32c3,
        &[
            Ord(Order::Pause),
            CheckIn(1),
            Ord(Order::Resume),
            CheckIn(1),
            Ord(Order::Pause),
            Dl(0),
            Inst(0),
            CheckIn(2),
        ],
        "
        order -> idle
        checkin -> idle
        order -> idle
        checkin -> downloading: report updating, download 0
        order -> downloading
        downloaded -> installing: install 0
        installed -> booting: boot 0
        checkin -> booting
        ",
    );
}

#[test]
fn freeze_holds_everything_until_resumed() {
    let s = check(
        Profile::Rk3566,
        &[
            CheckIn(1),
            Ord(Order::Freeze),
            Dl(0),
            CheckIn(2),
            Ord(Order::Resume),
            Inst(0),
            Boot(0),
            Ord(Order::Freeze),
            Tick(600),
            Ord(Order::Resume),
            Tick(59),
            Tick(1),
        ],
        "
        checkin -> downloading: report updating, download 0
        order -> downloading
        downloaded -> installing
        checkin -> installing
        order -> installing: install 0
        installed -> booting: boot 0
        booted -> verifying: report verifying
        order -> verifying
        tick -> verifying
        order -> verifying
        tick -> verifying
        tick -> verifying
        ",
    );
    assert_eq!(s.checks(), 1, "frozen ticks run no health check");
}

#[test]
fn abort_reverts_everything_installed_even_when_committed() {
    let mut events = CLEAN_2.to_vec();
    events.push(Ord(Order::Abort));
    let s = check(
        Profile::Esp32c3,
        &events[6..],
        "booted -> idle\norder -> idle",
    );
    assert_eq!(s.phase(), Phase::Idle, "nothing to abort before a release");
    let mut dev = Dev::new(Profile::Esp32c3);
    for e in CLEAN_2 {
        dev.apply(e);
    }
    assert_eq!(
        dev.apply(Ord(Order::Abort)).unwrap(),
        "order -> aborted: revert 1, revert 0, report aborted"
    );
    assert_eq!(dev.apply(Ord(Order::Abort)).unwrap(), "order -> aborted");
    // After a commit.
    let mut dev = Dev::new(Profile::Esp32c3);
    for e in CLEAN_2 {
        dev.apply(e);
    }
    for _ in 0..10 {
        dev.apply(Tick(60));
    }
    assert_eq!(dev.state.phase(), Phase::Committed);
    assert_eq!(
        dev.apply(Ord(Order::Abort)).unwrap(),
        "order -> aborted: revert 1, revert 0, report aborted"
    );
    assert_eq!(dev.state.committed(), PlaneSet::EMPTY);
    // Mid-install: the plane in flight is reverted too.
    check(
        Profile::Esp32c3,
        &[
            CheckIn(2),
            Dl(0),
            Inst(0),
            Boot(0),
            Dl(1),
            Ord(Order::Abort),
            Inst(1),
        ],
        "
        checkin -> downloading: report updating, download 0
        downloaded -> installing: install 0
        installed -> booting: boot 0
        booted -> downloading: download 1
        downloaded -> installing: install 1
        order -> aborted: revert 1, revert 0, report aborted
        installed -> aborted
        ",
    );
}

#[test]
fn a_newer_release_reverts_the_uncommitted_planes_first() {
    let mut events = CLEAN_2.to_vec();
    events.extend([CheckIn(1), CheckIn(3), Run([V13, V19, V6]), CheckIn(3)]);
    let mut dev = Dev::new(Profile::Esp32c3);
    let lines: Vec<String> = events.iter().filter_map(|&e| dev.apply(e)).collect();
    assert_eq!(
        &lines[7], "checkin -> verifying",
        "an older release is ignored"
    );
    assert_eq!(
        &lines[8],
        "checkin -> cancelled: revert 1, revert 0, report cancelled, check in"
    );
    assert_eq!(
        &lines[9],
        "checkin -> downloading: report updating, download 0"
    );
    assert_eq!(dev.state.release(), 3);
}

#[test]
fn recovery_redoes_or_reverts_by_phase() {
    // Downloading: fetch again. Installing: the image was in RAM, discard the slot and fetch again.
    check(
        Profile::Rk3566,
        &[
            CheckIn(2),
            Recover,
            Dl(0),
            Recover,
            Dl(0),
            Inst(0),
            Recover,
            Recover,
            Recover,
        ],
        "
        checkin -> downloading: report updating, download 0
        recover -> downloading: download 0
        downloaded -> installing: install 0
        recover -> downloading: revert 0, download 0
        downloaded -> installing: install 0
        installed -> booting: boot 0
        recover -> booting: boot 0
        recover -> booting: boot 0
        recover -> downloading: revert 0, download 0
        ",
    );
    // Verifying on an ESP32-C3: a reboot of the unconfirmed slots is its one boot attempt.
    let mut events = CLEAN_2.to_vec();
    events.push(Recover);
    let mut dev = Dev::new(Profile::Esp32c3);
    let lines: Vec<String> = events.iter().filter_map(|&e| dev.apply(e)).collect();
    assert_eq!(
        lines.last().unwrap(),
        "recover -> failed: revert 1, revert 0, report failed"
    );
    // Terminal phases redo their (idempotent) reverts and confirms.
    assert_eq!(
        dev.apply(Recover).unwrap(),
        "recover -> failed: revert 1, revert 0"
    );
    let mut dev = Dev::new(Profile::Rk3566);
    for e in CLEAN_2 {
        dev.apply(e);
    }
    assert_eq!(dev.apply(Recover).unwrap(), "recover -> verifying");
    for _ in 0..10 {
        dev.apply(Tick(60));
    }
    assert_eq!(
        dev.apply(Recover).unwrap(),
        "recover -> committed: confirm 0, confirm 1"
    );
    assert_eq!(
        render("", &dev.state, &pending_actions(&dev.state)),
        " -> committed: confirm 0, confirm 1"
    );
}

#[test]
fn an_abort_lifts_a_freeze_and_reverts_what_was_held_back() {
    check(
        Profile::Rk3566,
        &[
            CheckIn(2),
            Dl(0),
            Inst(0),
            Ord(Order::Freeze),
            Boot(0),
            Ord(Order::Abort),
            CheckIn(2),
        ],
        "
        checkin -> downloading: report updating, download 0
        downloaded -> installing: install 0
        installed -> booting: boot 0
        order -> booting
        booted -> downloading
        order -> aborted: revert 0, report aborted
        checkin -> aborted
        ",
    );
    // Held back while frozen: a failure's reverts; the abort still owes them.
    check(
        Profile::Esp32c3,
        &[
            CheckIn(1),
            Dl(0),
            Ord(Order::Freeze),
            InstFail(0),
            Ord(Order::Resume),
            Dl(0),
            InstFail(0),
            Dl(0),
            Ord(Order::Freeze),
            InstFail(0),
            Ord(Order::Abort),
        ],
        "
        checkin -> downloading: report updating, download 0
        downloaded -> installing: install 0
        order -> installing
        install_failed -> downloading
        order -> downloading: download 0
        downloaded -> installing: install 0
        install_failed -> downloading: revert 0, download 0
        downloaded -> installing: install 0
        order -> installing
        install_failed -> failed: report failed
        order -> failed: revert 0
        ",
    );
}

#[test]
fn recovery_while_frozen_stalls_until_resumed() {
    check(
        Profile::Esp32c3,
        &[CheckIn(1), Ord(Order::Freeze), Recover, Ord(Order::Resume)],
        "
        checkin -> downloading: report updating, download 0
        order -> downloading
        recover -> downloading
        order -> downloading: download 0
        ",
    );
}

#[test]
fn a_step_never_allocates_more_actions_than_fit() {
    // The largest step: reverting or confirming every plane of a 16-plane order, a report and a
    // check-in.
    let mut s = State::fresh(1, 0);
    s.set_order(0..16);
    s.idx = 16;
    s.installed = PlaneSet(u16::MAX);
    s.phase = Phase::Verifying;
    let mut out = Actions::new();
    let mut m = Machine {
        s: &mut s,
        out: &mut out,
        now: 0,
    };
    m.finish(Phase::Cancelled, PlaneSet(u16::MAX), Status::Cancelled);
    assert_eq!(out.len(), 18);
    assert!(out.len() <= MAX_ACTIONS);
}

/// Every phase, with and without pause and freeze, a timer before, at and after `now`, planes
/// installed or not: the states the predicate tests run, each with a description.
fn state_grid(now: u32) -> Vec<(State, String)> {
    let mut out = Vec::new();
    for &phase in &Phase::ALL {
        for flags in [0, PAUSED, FROZEN] {
            for timer in [now - 1, now, now + 1] {
                for installed in [0u16, 1] {
                    let mut s = State::fresh(2, flags);
                    s.set_order(0..2);
                    s.phase = phase;
                    s.timer = timer;
                    s.installed = PlaneSet(installed);
                    let what =
                        format!("{phase:?} flags {flags} timer {timer} installed {installed}");
                    out.push((s, what));
                }
            }
        }
    }
    out
}

/// What a check-in may offer: nothing, no release, an older, the same and a newer one.
fn offers() -> [Option<Desired>; 5] {
    [None, Some(0), Some(1), Some(2), Some(3)].map(|r| {
        r.map(|id| {
            if id == 0 {
                Desired::new(0)
            } else {
                release(id)
            }
        })
    })
}

#[test]
fn a_step_reads_its_record_exactly_when_the_predicates_say() {
    // Over `state_grid` and `offers`: a step that the predicates say ignores its record comes out the
    // same on a record that does not fit the policy; one that reads it does not.
    let policy = edge_ai();
    let mut ctx = Ctx::new(policy, Profile::Esp32c3, Interp::new(policy)).unwrap();
    let mut rec = RecordBuf::new(policy);
    set(&mut rec, Tele::Good, Profile::Esp32c3);
    rec.set_versions(policy, &[V13, V19, V6]);
    let now = 10_000;
    rec.set_now(policy, now);
    let wrong = [0u64; 2];
    let broken = Record {
        slots: &wrong,
        missing: &[0],
    };
    let (mut reads, mut ignores) = (0, 0);
    for (s, what) in state_grid(now) {
        // Each offer as a check-in, then a tick.
        let mut cases: Vec<(Option<Desired>, bool)> = offers()
            .into_iter()
            .map(|d| {
                let expect = check_in_reads_record(&s, now, d.as_ref());
                (d, expect)
            })
            .collect();
        cases.push((None, tick_reads_record(&s, now)));
        for (i, (desired, expect)) in cases.iter().enumerate() {
            let event = |record| {
                if i + 1 == cases.len() {
                    Event::Tick { record }
                } else {
                    Event::CheckIn {
                        desired: desired.as_ref(),
                        record,
                    }
                }
            };
            let good = step(&s, now, &event(rec.record()), &mut ctx);
            let bad = step(&s, now, &event(broken), &mut ctx);
            if *expect {
                reads += 1;
                assert_ne!(
                    good, bad,
                    "{what} case {i}: the step should read its record"
                );
            } else {
                ignores += 1;
                assert_eq!(
                    good, bad,
                    "{what} case {i}: the step should ignore its record"
                );
            }
        }
    }
    assert!(
        reads > 20 && ignores > 200,
        "{reads} read, {ignores} ignored"
    );
}

#[test]
fn a_check_in_does_nothing_exactly_when_the_predicate_says() {
    // Over `state_grid` and `offers`, with a record that starts an update and one that denies it: a
    // check-in the predicate calls idle leaves the state as it is and acts not; any other changes the
    // state or acts.
    let policy = edge_ai();
    let mut ctx = Ctx::new(policy, Profile::Esp32c3, Interp::new(policy)).unwrap();
    let now = 10_000;
    let records: Vec<RecordBuf> = [Tele::Good, Tele::LowBattery]
        .into_iter()
        .map(|t| {
            let mut rec = RecordBuf::new(policy);
            set(&mut rec, t, Profile::Esp32c3);
            rec.set_versions(policy, &[V13, V19, V6]);
            rec.set_now(policy, now);
            rec
        })
        .collect();
    let (mut idle, mut acts) = (0, 0);
    for (s, what) in state_grid(now) {
        for (i, desired) in offers().iter().enumerate() {
            let expect = check_in_idles(&s, now, desired.as_ref());
            for rec in &records {
                let event = Event::CheckIn {
                    desired: desired.as_ref(),
                    record: rec.record(),
                };
                let (after, actions) = step(&s, now, &event, &mut ctx);
                if expect {
                    idle += 1;
                    assert_eq!(
                        (after, actions.len()),
                        (s, 0),
                        "{what} offer {i}: should idle"
                    );
                } else {
                    acts += 1;
                    assert!(
                        after != s || !actions.is_empty(),
                        "{what} offer {i}: should change or act"
                    );
                }
            }
        }
    }
    assert!(idle > 200 && acts > 40, "{idle} idle, {acts} acting");
}
