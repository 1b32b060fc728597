//! Properties over random event sequences: the agent never panics, never leaves an inconsistent
//! version set, and once the events stop (orders lifted, time driven forward, the last release offered
//! again) always ends committed, rolled back, reverted, failed or not installable. And the pure
//! machine, fed arbitrary events on arbitrary states, never panics and keeps its invariants.

use crate::common::*;
use fleetgate_agents::machine::{self, Event};
use fleetgate_agents::{
    Ctx, Desired, Interp, Order, Phase, Profile, ProfileEvaluator, RecordBuf, State,
};
use fleetgate_runtime::interp::Record;
use proptest::prelude::*;

/// Releases the planner may offer, by id (ids 1..=6; one the ESP32-C3 cannot take).
fn release(id: u32) -> Desired {
    let d = Desired::new(id);
    match id {
        1 => d.with(FIRMWARE, v(1, 5, 0)),
        2 => d.with(FIRMWARE, v(1, 5, 0)).with(MODEL, v(2, 1, 0)),
        3 => d.with(MODEL, v(2, 1, 0)),
        4 => d
            .with(FIRMWARE, v(1, 6, 0))
            .with(MODEL, v(2, 2, 0))
            .with(CONFIG, v(7, 0, 0)),
        5 => d.with(FIRMWARE, v(1, 6, 0)).with(MODEL, v(3, 0, 0)),
        _ => d.with(CONFIG, v(6, 1, 0)),
    }
}

fn order() -> impl Strategy<Value = Order> {
    prop_oneof![
        Just(Order::Pause),
        Just(Order::Resume),
        Just(Order::Freeze),
        Just(Order::Abort),
    ]
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        3 => (0usize..TELES.len()).prop_map(|i| Cmd::Tele(TELES[i])),
        5 => proptest::option::weighted(0.9, 1u32..=6).prop_map(|r| Cmd::CheckIn(r.map(release))),
        5 => prop_oneof![1u32..120, 60u32..900, 900u32..7200].prop_map(Cmd::Advance),
        2 => order().prop_map(Cmd::Order),
        1 => Just(Cmd::FailDownload),
        1 => Just(Cmd::FailInstall),
        1 => Just(Cmd::FailBoot),
        1 => Just(Cmd::PowerLoss),
        1 => (0u8..6).prop_map(Cmd::CrashIn),
    ]
}

fn profile() -> impl Strategy<Value = Profile> {
    prop_oneof![Just(Profile::Esp32c3), Just(Profile::Rk3566)]
}

fn cases() -> u32 {
    std::env::var("FLEETGATE_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_sessions_stay_consistent_and_end(
        profile in profile(),
        start in 0u32..86_400,
        cmds in proptest::collection::vec(cmd(), 0..60),
    ) {
        let mut rig = Rig::new(profile, Tele::Good, start);
        let mut last = None;
        for &c in &cmds {
            if let Cmd::CheckIn(Some(d)) = c {
                last = Some(last.map_or(d, |l: Desired| if d.release > l.release { d } else { l }));
            }
            rig.run(c);
            prop_assert!(rig.consistent(), "inconsistent {:?} after {:?}", rig.versions(), c);
            let state = *rig.agent.state();
            prop_assert_eq!(State::from_bytes(&state.to_bytes()), Some(state));
        }
        rig.run(Cmd::Tele(Tele::Good));
        rig.drain(last);
        let state = *rig.agent.state();
        prop_assert!(rig.consistent());
        prop_assert!(rig.agent.storage().settled());
        match last {
            Some(d) => {
                prop_assert!(state.phase().is_terminal(), "ended in {:?}", state);
                prop_assert_eq!(state.release(), d.release);
                prop_assert!(matches!(
                    state.phase(),
                    Phase::Committed | Phase::RolledBack | Phase::Aborted | Phase::Failed | Phase::NotInstallable
                ));
            }
            None => prop_assert_eq!(rig.versions(), FACTORY.to_vec()),
        }
    }

    #[test]
    fn the_pure_machine_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), fleetgate_agents::state::STATE_BYTES),
        events in proptest::collection::vec((any::<u8>(), any::<u32>(), any::<u64>(), any::<u16>()), 0..40),
        slots in proptest::collection::vec(any::<u64>(), 0..40),
        profile in profile(),
    ) {
        let policy = policy();
        let mut ctx = Ctx::new(policy, profile, Interp::new(policy)).unwrap();
        let mut state = State::from_bytes(&bytes).unwrap_or_default();
        let mut rec = RecordBuf::new(policy);
        for (i, &s) in slots.iter().enumerate() {
            rec.set(i % (rec.slots().len() + 2), s);
        }
        let wrong = [0u64; 3];
        for &(kind, now, x, plane) in &events {
            let plane = (plane % 20) as u8;
            let record = if x % 7 == 0 {
                Record { slots: &wrong, missing: &[] }
            } else {
                rec.record()
            };
            let desired = release((x % 7) as u32);
            let event = match kind % 11 {
                0 => Event::CheckIn { desired: Some(&desired), record },
                1 => Event::CheckIn { desired: None, record },
                2 => Event::Tick { record },
                3 => Event::Downloaded { plane },
                4 => Event::DownloadFailed { plane },
                5 => Event::Installed { plane },
                6 => Event::InstallFailed { plane },
                7 => Event::Booted { plane },
                8 => Event::BootFailed { plane },
                9 => Event::Order([Order::Pause, Order::Resume, Order::Freeze, Order::Abort][(x % 4) as usize]),
                _ => {
                    let (s, _) = machine::recover(&state, now, &ctx);
                    state = s;
                    continue;
                }
            };
            let (next, actions) = machine::step(&state, now, &event, &mut ctx);
            prop_assert!(actions.len() <= machine::MAX_ACTIONS);
            prop_assert_eq!(State::from_bytes(&next.to_bytes()), Some(next));
            state = next;
        }
    }
}

#[test]
fn the_profile_evaluator_matches_the_interpreter() {
    // Whatever engine the rk3566 profile picks, its decisions are the interpreter's.
    let policy = policy();
    let a = ProfileEvaluator::new(policy, Profile::Rk3566);
    let b = ProfileEvaluator::new(policy, Profile::Esp32c3);
    println!("rk3566 engine: {}", a.engine());
    for t in TELES {
        let mut rec = RecordBuf::new(policy);
        set_telemetry(&mut rec, Profile::Rk3566, t);
        rec.set_versions(policy, &FACTORY);
        for kind in [
            fleetgate_runtime::artifact::FunctionKind::Rails,
            fleetgate_runtime::artifact::FunctionKind::Health,
            fleetgate_runtime::artifact::FunctionKind::Constraints,
        ] {
            use fleetgate_agents::Evaluator as _;
            let mut x = fleetgate_runtime::interp::ClauseBits::for_policy(policy);
            let mut y = x.clone();
            a.eval(kind, &rec.record(), &mut x).unwrap();
            b.eval(kind, &rec.record(), &mut y).unwrap();
            assert_eq!(x, y, "{t:?} {kind:?}");
        }
    }
}
