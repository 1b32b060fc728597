//! Crash injection over every update path: the power goes at every storage operation of the path
//! (before it, and halfway through every journal write and slot write), and once more during the
//! recovery that follows; the device reboots, recovers, runs to the end, and must hold a consistent
//! version set with every plane at its old or a new version and nothing left unconfirmed.

use crate::common::*;
use fleetgate_agents::mem::Crash;
use fleetgate_agents::{Desired, MemStorage, Order, Phase, Profile};

struct Path {
    name: &'static str,
    profile: Profile,
    cmds: Vec<Cmd>,
    /// The release the planner offers last (what the drain offers).
    last: Desired,
    /// Every release offered.
    releases: Vec<Desired>,
    /// Where the path ends without a crash.
    clean: Phase,
}

/// Two in the morning: inside the RK3566 maintenance window.
const START: u32 = 2 * 3600;

fn r_fw() -> Desired {
    Desired::new(1).with(FIRMWARE, v(1, 5, 0))
}

fn r_fw_model() -> Desired {
    Desired::new(2)
        .with(FIRMWARE, v(1, 5, 0))
        .with(MODEL, v(2, 1, 0))
}

fn r_all() -> Desired {
    r_fw_model().with(CONFIG, v(7, 0, 0))
}

fn r_newer() -> Desired {
    Desired::new(9)
        .with(FIRMWARE, v(1, 5, 1))
        .with(MODEL, v(2, 1, 0))
        .with(CONFIG, v(7, 0, 0))
}

fn paths(profile: Profile) -> Vec<Path> {
    let verify = Cmd::Advance(11 * 60);
    let path = |name, cmds: Vec<Cmd>, releases: Vec<Desired>, clean| Path {
        name,
        profile,
        cmds,
        last: *releases.last().unwrap(),
        releases,
        clean,
    };
    let boot_failures = vec![Cmd::FailBoot; usize::from(profile.max_boot_attempts())];
    let bad_health = match profile {
        Profile::Rk3566 => Tele::SlowModel,
        Profile::Esp32c3 => Tele::LowHeap,
    };
    vec![
        path(
            "one plane",
            vec![Cmd::CheckIn(Some(r_fw())), verify],
            vec![r_fw()],
            Phase::Committed,
        ),
        path(
            "two planes",
            vec![Cmd::CheckIn(Some(r_fw_model())), verify],
            vec![r_fw_model()],
            Phase::Committed,
        ),
        path(
            "three planes",
            vec![Cmd::CheckIn(Some(r_all())), verify],
            vec![r_all()],
            Phase::Committed,
        ),
        path(
            "install failure then retry",
            vec![Cmd::FailInstall, Cmd::CheckIn(Some(r_fw_model())), verify],
            vec![r_fw_model()],
            Phase::Committed,
        ),
        path(
            "boot failure with fallback",
            [
                boot_failures,
                vec![Cmd::CheckIn(Some(r_fw_model())), verify],
            ]
            .concat(),
            vec![r_fw_model()],
            Phase::Committed,
        ),
        path(
            "health rollback with closure",
            vec![
                Cmd::CheckIn(Some(r_all())),
                Cmd::Advance(2 * 60),
                Cmd::Tele(bad_health),
                Cmd::Advance(10 * 60),
            ],
            vec![r_all()],
            Phase::RolledBack,
        ),
        path(
            "abort during verification",
            vec![
                Cmd::CheckIn(Some(r_fw_model())),
                Cmd::Advance(4 * 60),
                Cmd::Order(Order::Abort),
                Cmd::Advance(10 * 60),
            ],
            vec![r_fw_model()],
            Phase::Aborted,
        ),
        path(
            "cancellation by a newer release",
            vec![
                Cmd::CheckIn(Some(r_fw_model())),
                Cmd::Advance(3 * 60),
                Cmd::CheckIn(Some(r_newer())),
                verify,
            ],
            vec![r_fw_model(), r_newer()],
            Phase::Committed,
        ),
    ]
}

/// Runs `path` with `crashes` armed, then to the end; checks the end state and returns the rig.
fn run(path: &Path, crashes: &[Crash]) -> Rig {
    let mut storage = MemStorage::new(&FACTORY);
    storage.record_trace();
    for &c in crashes {
        storage.arm_crash(c);
    }
    let mut rig = Rig::with_storage(path.profile, Tele::Good, START, storage);
    for &cmd in &path.cmds {
        rig.run(cmd);
        assert!(
            rig.consistent(),
            "{} {:?} crashes {crashes:?}: inconsistent versions {:?} after {cmd:?}",
            path.name,
            path.profile,
            rig.versions()
        );
    }
    rig.drain(Some(path.last));
    check_end(path, crashes, &rig);
    rig
}

fn check_end(path: &Path, crashes: &[Crash], rig: &Rig) {
    let what = format!(
        "{} on {:?} with crashes {crashes:?}",
        path.name, path.profile
    );
    let state = *rig.agent.state();
    let versions = rig.versions();
    assert!(state.phase().is_terminal(), "{what}: ended in {:?}", state);
    assert!(
        rig.agent.storage().settled(),
        "{what}: unsettled {:?}",
        rig.agent.storage().planes()
    );
    assert!(
        rig.consistent(),
        "{what}: inconsistent versions {versions:?}"
    );
    for (p, &ver) in versions.iter().enumerate() {
        let ok = ver == FACTORY[p] || path.releases.iter().any(|d| d.target(p as u8) == Some(ver));
        assert!(ok, "{what}: plane {p} runs {ver:#x}, neither old nor new");
    }
    let last = path.last;
    match state.phase() {
        Phase::Committed if state.release() == last.release => {
            for (p, &ver) in versions.iter().enumerate() {
                if let Some(t) = last.target(p as u8) {
                    assert_eq!(
                        ver, t,
                        "{what}: committed but plane {p} is not at its target"
                    );
                }
            }
        }
        Phase::Failed | Phase::Aborted if path.releases.len() == 1 => {
            assert_eq!(
                versions, FACTORY,
                "{what}: reverted but not at the old versions"
            );
        }
        _ => {}
    }
}

#[test]
fn power_loss_at_every_step_of_every_path() {
    let mut points = 0usize;
    let mut recovery_points = 0usize;
    let mut by_outcome = std::collections::BTreeMap::<&str, usize>::new();
    for profile in [Profile::Esp32c3, Profile::Rk3566] {
        for path in paths(profile) {
            // The clean run: where it ends, and the operations it performs.
            let clean = run(&path, &[]);
            assert_eq!(clean.halts, 0);
            assert_eq!(
                clean.agent.state().phase(),
                path.clean,
                "{} on {profile:?} without a crash",
                path.name
            );
            let trace = clean.agent.storage().trace().to_vec();
            assert!(
                trace.len() > 5,
                "{}: only {} operations",
                path.name,
                trace.len()
            );
            for (k, kind) in trace.iter().enumerate() {
                let k = k as u64;
                let tears: &[bool] = if kind.can_tear() {
                    &[false, true]
                } else {
                    &[false]
                };
                for &torn in tears {
                    let first = Crash { at_op: k, torn };
                    let rig = run(&path, &[first]);
                    assert!(
                        rig.halts >= 1,
                        "{}: crash at op {k} ({kind:?}) never fired",
                        path.name
                    );
                    points += 1;
                    *by_outcome
                        .entry(rig.agent.state().phase().name())
                        .or_default() += 1;
                    // And the power goes again while the device recovers.
                    for j in 1..=2 {
                        run(
                            &path,
                            &[
                                first,
                                Crash {
                                    at_op: k + j,
                                    torn: true,
                                },
                            ],
                        );
                        recovery_points += 1;
                    }
                }
            }
        }
    }
    println!(
        "crash points: {points} (+ {recovery_points} with a second power loss during recovery); outcomes {by_outcome:?}"
    );
    assert!(points >= 300, "only {points} crash points");
}

#[test]
fn a_torn_first_journal_write_leaves_the_device_as_it_was() {
    let path = &paths(Profile::Esp32c3)[0];
    let rig = run(
        path,
        &[Crash {
            at_op: 0,
            torn: true,
        }],
    );
    assert_eq!(rig.halts, 1);
}
