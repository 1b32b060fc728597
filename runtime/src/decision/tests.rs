//! Decisions over hand-set clause conditions of the sample policy (rails: clauses 0..5, health: 5..9,
//! incompatible: 9, gate 0: 11..16), and plans over its three planes (firmware, model, config).

use super::*;
use crate::artifact::{Constraint, VersionSet};
use crate::interp::{Record, run};
use crate::ring::{GATE_SLOTS, RingCounts, fill_gate_record};
use crate::testutil::{
    CANARY_SOAK, CONFIG, FIRMWARE, MODEL, sample, sample_policy, sample_record, slot,
};
use crate::value::pack_version;
use crate::verify::{Policy, verify_artifact};
use alloc::vec;

fn bits(policy: &Policy, set: &[(u16, Cond)]) -> ClauseBits {
    let mut b = ClauseBits::for_policy(policy);
    for &(c, cond) in set {
        b.set(ClauseId(c), cond);
    }
    b
}

fn ids(it: impl Iterator<Item = ClauseId>) -> Vec<u16> {
    it.map(|c| c.0).collect()
}

use Cond::{Error as E, False as F, True as T};

// Rails: 0 deny, 1 defer 900 s, 2 deny, 3 defer 3600 s, 4 defer 3600 s.
#[test]
fn rails_deny_over_defer_over_allow() {
    let p = sample_policy();
    assert_eq!(rails(&p, &bits(&p, &[])).verdict, RailVerdict::Allow);
    assert_eq!(
        rails(&p, &bits(&p, &[(1, T)])).verdict,
        RailVerdict::Defer { secs: 900 }
    );
    let d = bits(&p, &[(1, T), (3, T)]);
    let both = rails(&p, &d);
    assert_eq!(
        both.verdict,
        RailVerdict::Defer { secs: 3600 },
        "the longest defer"
    );
    assert_eq!(ids(both.fired()), [1, 3]);
    let d = bits(&p, &[(1, T), (2, T)]);
    let deny = rails(&p, &d);
    assert_eq!(deny.verdict, RailVerdict::Deny);
    assert_eq!(ids(deny.fired()), [1, 2], "every fired clause is listed");
    let d = bits(&p, &[(4, E)]);
    let err = rails(&p, &d);
    assert_eq!(
        err.verdict,
        RailVerdict::Deny,
        "an erroneous defer clause denies"
    );
    assert_eq!((ids(err.fired()), ids(err.erroneous())), (vec![], vec![4]));
    // Clauses of other functions do not matter.
    assert_eq!(
        rails(&p, &bits(&p, &[(5, T), (13, E)])).verdict,
        RailVerdict::Allow
    );
    // Bits that do not cover the rails read as errors: deny.
    assert_eq!(rails(&p, &ClauseBits::new(2)).verdict, RailVerdict::Deny);
}

/// The one-word path (where the sample's rails are) decides as the general one on every assignment of
/// the five rail clauses, the two 3600 s defers sharing a level.
#[test]
fn rails_one_word_path_equals_the_general_path() {
    let p = sample_policy();
    assert!(p.rails_word().is_some(), "the sample's rails fit a word");
    for n in 0..3u32.pow(5) {
        let set: Vec<(u16, Cond)> = (0..5u16)
            .map(|c| (c, [F, T, E][(n / 3u32.pow(u32::from(c)) % 3) as usize]))
            .collect();
        let b = bits(&p, &set);
        let (fast, general) = (rails(&p, &b), rails_in_words(&p, &b));
        assert_eq!(fast.verdict, general.verdict, "{set:?}");
        assert_eq!(ids(fast.fired()), ids(general.fired()), "{set:?}");
        assert_eq!(ids(fast.erroneous()), ids(general.erroneous()), "{set:?}");
    }
}

#[test]
fn rails_end_to_end() {
    let p = sample_policy();
    let rails_fn = p.function(FunctionKind::Rails).unwrap();
    let mut b = ClauseBits::for_policy(&p);
    let mut rec = sample_record(); // rk3566, 02:00, battery 80%
    run(
        &p,
        rails_fn,
        &Record {
            slots: &rec,
            missing: &[0],
        },
        &mut b,
    )
    .unwrap();
    assert_eq!(rails(&p, &b).verdict, RailVerdict::Allow);
    rec[usize::from(slot::NOW_HOUR)] = 12;
    run(
        &p,
        rails_fn,
        &Record {
            slots: &rec,
            missing: &[0],
        },
        &mut b,
    )
    .unwrap();
    assert_eq!(
        rails(&p, &b).verdict,
        RailVerdict::Defer { secs: 3600 },
        "outside the window"
    );
    rec[usize::from(slot::BATTERY)] = 0.2f64.to_bits();
    run(
        &p,
        rails_fn,
        &Record {
            slots: &rec,
            missing: &[0],
        },
        &mut b,
    )
    .unwrap();
    assert_eq!(rails(&p, &b).verdict, RailVerdict::Deny);
    // An MCU with a weak signal, and with the signal missing (`?? -127`).
    let mut mcu = sample_record();
    mcu[usize::from(slot::HW)] = 0;
    mcu[usize::from(slot::RSSI_DBM)] = -90i64 as u64;
    run(
        &p,
        rails_fn,
        &Record {
            slots: &mcu,
            missing: &[0],
        },
        &mut b,
    )
    .unwrap();
    assert_eq!(ids(rails(&p, &b).fired()), [3]);
    mcu[usize::from(slot::RSSI_DBM)] = -50i64 as u64;
    run(
        &p,
        rails_fn,
        &Record {
            slots: &mcu,
            missing: &[1 << slot::RSSI_DBM],
        },
        &mut b,
    )
    .unwrap();
    assert_eq!(
        ids(rails(&p, &b).fired()),
        [3],
        "missing signal counts as -127"
    );
}

/// Firmware 1.3, model 1.9, config 6.0: the versions the health tests' devices run.
const FLEET_VERSIONS: [u64; 3] = [
    pack_version(1, 3, 0),
    pack_version(1, 9, 0),
    pack_version(6, 0, 0),
];

// Health: 5 rollback model for 3 checks (counter 0), 6 rollback firmware, 7 rollback firmware for 2
// checks (counter 1), 8 rollback firmware.
#[test]
fn health_counters() {
    let p = sample_policy();
    let v = FLEET_VERSIONS;
    let mut counters = [0u8; 2];
    let (t5, e5, none) = (bits(&p, &[(5, T)]), bits(&p, &[(5, E)]), bits(&p, &[]));
    for expected in [1, 2] {
        let d = health(&p, &t5, &mut counters, &v);
        assert_eq!(
            (d.verdict, d.counters()[0]),
            (HealthVerdict::Healthy, expected)
        );
    }
    let d = health(&p, &t5, &mut counters, &v);
    assert_eq!(
        d.verdict,
        HealthVerdict::Rollback {
            planes: PlaneSet::single(MODEL)
        }
    );
    assert_eq!((ids(d.fired()), d.counters()[0]), (vec![5], 3));
    let d = health(&p, &t5, &mut counters, &v);
    assert!(matches!(d.verdict, HealthVerdict::Rollback { .. }));
    assert_eq!(d.counters()[0], 3, "saturates at N");
    // An error leaves the counter unchanged (still at N: still fires) and is otherwise inconclusive.
    let d = health(&p, &e5, &mut counters, &v);
    assert!(matches!(d.verdict, HealthVerdict::Rollback { .. }));
    assert_eq!((d.counters()[0], ids(d.erroneous())), (3, vec![5]));
    // False resets.
    let d = health(&p, &none, &mut counters, &v);
    assert_eq!((d.verdict, d.counters()[0]), (HealthVerdict::Healthy, 0));
    health(&p, &t5, &mut counters, &v);
    let d = health(&p, &e5, &mut counters, &v);
    assert_eq!(
        (d.verdict, d.counters()[0]),
        (HealthVerdict::Inconclusive, 1)
    );
    assert_eq!(ids(d.fired()), Vec::<u16>::new());
    // A clause without `for` fires at once; planes of fired clauses are united.
    let mut counters = [0u8, 1];
    let b = bits(&p, &[(6, T), (7, T)]);
    let d = health(&p, &b, &mut counters, &v);
    assert_eq!(
        d.verdict,
        HealthVerdict::Rollback {
            planes: PlaneSet::single(FIRMWARE)
        }
    );
    assert_eq!(ids(d.fired()), [6, 7]);
    assert_eq!(d.counters(), [0, 2]);
    // Too few counters: the counted clauses cannot fire and count as errors.
    let mut short = [0u8; 1];
    let b = bits(&p, &[(7, T)]);
    assert_eq!(
        health(&p, &b, &mut short, &v).verdict,
        HealthVerdict::Inconclusive
    );
}

#[test]
fn a_quiet_health_check_decides_as_clause_by_clause() {
    // Every condition of the four health clauses (5..=8), every pair of counters up to past N, and
    // too few counters: the word-at-a-time shortcut and the clause loop agree on the verdict and on
    // the counters they leave. The shortcut is taken once: nothing true or erroneous, counters at 0.
    let p = sample_policy();
    let v = FLEET_VERSIONS;
    let (mut quiet, mut cases) = (0, 0);
    for conds in 0..3u32.pow(4) {
        let set: Vec<(u16, Cond)> = (0..4)
            .map(|i| (5 + i as u16, [F, T, E][(conds / 3u32.pow(i) % 3) as usize]))
            .collect();
        let b = bits(&p, &set);
        for start in [[0u8, 0], [1, 0], [0, 2], [3, 3]] {
            for len in [1, 2] {
                let range = clauses_of(&p, FunctionKind::Health);
                quiet += usize::from(super::quiet(&p, &b, &start[..len], &range));
                let (mut fast, mut slow) = (start, start);
                let d = health(&p, &b, &mut fast[..len], &v).verdict;
                let e = health_by_clause(&p, &b, &mut slow[..len], &v).verdict;
                assert_eq!((d, fast), (e, slow), "{set:?} counters {start:?} of {len}");
                cases += 1;
            }
        }
    }
    assert_eq!((cases, quiet), (81 * 8, 1));
}

#[test]
fn health_rollback_is_closed_under_dependencies() {
    let p = sample_policy();
    // model 2.1 depends on firmware >= 1.4; config 7.0 depends on model 2.x.
    let v = [
        pack_version(1, 4, 0),
        pack_version(2, 1, 0),
        pack_version(7, 0, 0),
    ];
    let mut counters = [0u8; 2];
    let b = bits(&p, &[(8, T)]);
    let d = health(&p, &b, &mut counters, &v);
    assert_eq!(
        d.verdict,
        HealthVerdict::Rollback {
            planes: PlaneSet::all(3)
        }
    );
}

#[test]
fn rollback_closure_follows_current_versions() {
    let p = sample_policy();
    let fw = PlaneSet::single(FIRMWARE);
    let v = |f, m, c| {
        [
            pack_version(f, 0, 0),
            pack_version(m, 0, 0),
            pack_version(c, 0, 0),
        ]
    };
    assert_eq!(rollback_closure(&p, fw, &v(1, 2, 7)), PlaneSet::all(3));
    assert_eq!(
        rollback_closure(&p, fw, &v(1, 2, 6)),
        PlaneSet(0b011),
        "config 6 depends on nothing"
    );
    assert_eq!(
        rollback_closure(&p, fw, &v(1, 1, 7)),
        fw,
        "model 1 depends on nothing"
    );
    assert_eq!(
        rollback_closure(&p, PlaneSet::single(CONFIG), &v(1, 2, 7)),
        PlaneSet::single(CONFIG)
    );
    assert_eq!(
        rollback_closure(&p, fw, &[]),
        PlaneSet::all(3),
        "unknown versions: roll back more"
    );
}

#[test]
fn consistency() {
    let p = sample_policy();
    let ok = bits(&p, &[]);
    let v = |f, m, c| {
        [
            pack_version(f, 4, 0),
            pack_version(m, 0, 0),
            pack_version(c, 0, 0),
        ]
    };
    assert_eq!(consistent(&p, &v(1, 2, 7), &ok), Ok(()));
    assert_eq!(
        consistent(&p, &v(0, 2, 6), &ok),
        Err(0),
        "model 2 needs firmware 1.4"
    );
    assert_eq!(
        consistent(&p, &v(1, 3, 7), &ok),
        Err(1),
        "config 7 needs model 2.x"
    );
    assert_eq!(
        consistent(&p, &v(1, 2, 6), &bits(&p, &[(9, T)])),
        Err(2),
        "incompatible"
    );
    assert_eq!(
        consistent(&p, &v(1, 2, 6), &bits(&p, &[(9, E)])),
        Err(2),
        "erroneous: fail safe"
    );
    assert_eq!(
        consistent(&p, &v(1, 1, 6), &bits(&p, &[(9, T)])),
        Ok(()),
        "set does not hold"
    );
    assert_eq!(
        consistent(&p, &v(1, 2, 6)[..2], &ok),
        Err(1),
        "missing version"
    );
}

fn state(f: (u16, u16), m: u16, c: u16) -> [u64; 3] {
    [
        pack_version(f.0, f.1, 0),
        pack_version(m, 0, 0),
        pack_version(c, 0, 0),
    ]
}

#[test]
fn install_order_follows_the_dependency_chain() {
    let p = sample_policy();
    let ok = bits(&p, &[]);
    let current = state((1, 3), 1, 6);
    let target = state((1, 4), 2, 7).map(Some);
    let order = install_order(&p, &current, &target, &ok).unwrap();
    assert_eq!(order.as_slice(), [FIRMWARE, MODEL, CONFIG]);
    // Planes already at their target, or without one, are not installed.
    let order = install_order(
        &p,
        &state((1, 4), 1, 6),
        &[None, Some(pack_version(2, 0, 0)), None],
        &ok,
    );
    assert_eq!(order.unwrap().as_slice(), [MODEL]);
    assert!(
        install_order(&p, &current, &current.map(Some), &ok)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn install_order_is_not_index_order_when_dependencies_say_otherwise() {
    // firmware >= 2 depends on config >= 7; config >= 7 depends on model >= 2.
    let mut a = sample();
    let ge = |v| VersionSet(vec![(pack_version(v, 0, 0), u64::MAX)]);
    a.constraints[0] = Constraint::Depends {
        a_plane: FIRMWARE,
        a: ge(2),
        b_plane: CONFIG,
        b: ge(7),
    };
    a.constraints[1] = Constraint::Depends {
        a_plane: CONFIG,
        a: ge(7),
        b_plane: MODEL,
        b: ge(2),
    };
    let p = verify_artifact(a).unwrap();
    let ok = ClauseBits::for_policy(&p);
    let order = install_order(
        &p,
        &state((1, 0), 1, 6),
        &state((2, 0), 2, 7).map(Some),
        &ok,
    )
    .unwrap();
    assert_eq!(order.as_slice(), [MODEL, CONFIG, FIRMWARE]);
    // Rolling back runs dependents first.
    let back = rollback_order(&p, PlaneSet::all(3), &state((2, 0), 2, 7));
    assert_eq!(back.as_slice(), [FIRMWARE, CONFIG, MODEL]);
}

#[test]
fn target_that_violates_a_constraint() {
    let p = sample_policy();
    let ok = bits(&p, &[]);
    let current = state((1, 3), 1, 6);
    let only_model = [None, Some(pack_version(2, 0, 0)), None];
    assert_eq!(
        install_order(&p, &current, &only_model, &ok),
        Err(NotInstallable::TargetInconsistent { constraint: 0 })
    );
    // An ESP32-C3 (incompatible clause true, or erroneous) cannot take model 2.x at all.
    let target = state((1, 4), 2, 6).map(Some);
    for cond in [T, E] {
        let incompat = bits(&p, &[(9, cond)]);
        assert_eq!(
            install_order(&p, &current, &target, &incompat),
            Err(NotInstallable::TargetInconsistent { constraint: 2 })
        );
    }
    assert_eq!(
        install_order(&p, &current, &target, &ok)
            .unwrap()
            .as_slice(),
        [FIRMWARE, MODEL]
    );
    assert_eq!(
        install_order(&p, &current[..2], &target, &ok),
        Err(NotInstallable::PlaneCount {
            expected: 3,
            found: 2
        })
    );
}

#[test]
fn the_order_memo_answers_as_install_order() {
    let p = sample_policy();
    let mut memo = OrderMemo::new(&p);
    // More distinct inputs than the memo keeps, each asked several times in a scrambled order: every
    // answer (orders and refusals, for each condition of the incompatible clause) is the search's.
    let mut cases = Vec::new();
    for f in [(1, 3), (1, 4), (2, 0)] {
        for m in [1, 2, 3] {
            for c in [6, 7] {
                for cond in [F, T, E] {
                    cases.push((state(f, m, c), cond));
                }
            }
        }
    }
    let targets = [
        state((1, 4), 2, 7).map(Some),
        [None, Some(pack_version(2, 0, 0)), None],
        state((2, 0), 3, 6).map(Some),
    ];
    let mut k = 7usize;
    for _ in 0..4 * cases.len() {
        k = (k * 31 + 17) % cases.len();
        let (current, cond) = cases[k];
        let incompat = bits(&p, &[(9, cond)]);
        let target = &targets[k % targets.len()];
        assert_eq!(
            memo.install_order(&p, &current, target, &incompat),
            install_order(&p, &current, target, &incompat),
            "{current:?} to {target:?} with {cond:?}"
        );
    }
    // Inputs of the wrong length go to the search, which refuses them.
    let ok = bits(&p, &[]);
    let current = state((1, 3), 1, 6);
    assert_eq!(
        memo.install_order(&p, &current[..2], &targets[0], &ok),
        install_order(&p, &current[..2], &targets[0], &ok)
    );
}

#[test]
fn no_order_when_planes_must_change_together() {
    // model 2 needs firmware 2, model 1 needs firmware 1: neither single step from (1, 1) works.
    let mut a = sample();
    let at = |v| VersionSet(vec![(pack_version(v, 0, 0), pack_version(v, 65535, 65535))]);
    a.constraints[0] = Constraint::Depends {
        a_plane: MODEL,
        a: at(2),
        b_plane: FIRMWARE,
        b: at(2),
    };
    a.constraints[1] = Constraint::Depends {
        a_plane: MODEL,
        a: at(1),
        b_plane: FIRMWARE,
        b: at(1),
    };
    let p = verify_artifact(a).unwrap();
    let ok = ClauseBits::for_policy(&p);
    let current = state((1, 0), 1, 6);
    let target = [
        Some(pack_version(2, 0, 0)),
        Some(pack_version(2, 0, 0)),
        None,
    ];
    // Firmware first breaks constraint 1 (model 1 needs firmware 1).
    assert_eq!(
        install_order(&p, &current, &target, &ok),
        Err(NotInstallable::NoOrder { constraint: 1 })
    );
}

#[test]
fn dead_plane_masks_past_the_inline_word() {
    // Up to 6 planes the masks fit the inline word; with 16, they reach 65,535.
    for goal in [PlaneSet(0b111), PlaneSet(0b11_1111), PlaneSet::all(16)] {
        let mut dead = plan::Dead::for_goal(goal);
        let masks: Vec<PlaneSet> = [0u16, 1, 63, 64, 65, 4095, 65_535]
            .into_iter()
            .map(PlaneSet)
            .filter(|m| m.0 & !goal.0 == 0)
            .collect();
        for (k, &m) in masks.iter().enumerate() {
            assert!(!dead.contains(m), "{m:?} of {goal:?} starts alive");
            dead.insert(m);
            for (j, &other) in masks.iter().enumerate() {
                assert_eq!(
                    dead.contains(other),
                    j <= k,
                    "{other:?} after {m:?} of {goal:?}"
                );
            }
        }
    }
    // A mask past the goal's highest plane is never dead, and killing it changes nothing.
    let mut small = plan::Dead::for_goal(PlaneSet(0b11));
    small.insert(PlaneSet(0x8000));
    assert!(!small.contains(PlaneSet(0x8000)));
}

#[test]
fn rollback_order_puts_dependents_first() {
    let p = sample_policy();
    let all = PlaneSet::all(3);
    assert_eq!(
        rollback_order(&p, all, &state((1, 4), 2, 7)).as_slice(),
        [CONFIG, MODEL, FIRMWARE]
    );
    // model 1.x depends on nothing: firmware is free first (ties by index).
    assert_eq!(
        rollback_order(&p, all, &state((1, 4), 1, 7)).as_slice(),
        [FIRMWARE, CONFIG, MODEL]
    );
    assert_eq!(
        rollback_order(&p, PlaneSet(0b101), &state((1, 4), 2, 7)).as_slice(),
        [FIRMWARE, CONFIG]
    );
    assert!(rollback_order(&p, PlaneSet::EMPTY, &[]).is_empty());
}

// Gate 0: 11 require done >= 300, 12 require failure_upper < 1%, 13 abort, 14 abort per hw,
// 15 abort bricked > 0. Soak 24 h.
#[test]
fn gate_accumulator() {
    let p = sample_policy();
    let met = bits(&p, &[(11, T), (12, T)]);
    let mut acc = GateAcc::new(&p, 0).unwrap();
    assert_eq!(
        acc.finish(i64::from(CANARY_SOAK)),
        GateDecision::Hold {
            unmet: vec![ClauseId(11), ClauseId(12)],
            soak_met: true
        },
        "nothing judged yet"
    );
    acc.add_whole(&met);
    assert_eq!(acc.finish(i64::from(CANARY_SOAK)), GateDecision::Promote);
    assert_eq!(
        acc.finish(3600),
        GateDecision::Hold {
            unmet: vec![],
            soak_met: false
        }
    );
    // `per` clauses: an abort for any value aborts; the whole-ring conditions of `per` clauses are
    // not judged by `add_whole`.
    let mut acc = GateAcc::new(&p, 0).unwrap();
    acc.add_whole(&bits(&p, &[(11, T), (12, T), (14, T)]));
    acc.add_value(slot::HW, &bits(&p, &[(14, F)]));
    assert_eq!(acc.finish(i64::from(CANARY_SOAK)), GateDecision::Promote);
    acc.add_value(slot::HW, &bits(&p, &[(14, T), (13, T)]));
    assert_eq!(
        acc.finish(0),
        GateDecision::Abort {
            clauses: vec![ClauseId(14)]
        }
    );
    // Errors abort (fail safe) and hold.
    let mut acc = GateAcc::new(&p, 0).unwrap();
    acc.add_whole(&bits(&p, &[(11, E), (12, T), (15, E)]));
    assert_eq!(
        acc.finish(0),
        GateDecision::Abort {
            clauses: vec![ClauseId(15)]
        }
    );
    let mut acc = GateAcc::new(&p, 0).unwrap();
    acc.add_whole(&bits(&p, &[(11, E), (12, T)]));
    assert_eq!(
        acc.finish(i64::MAX),
        GateDecision::Hold {
            unmet: vec![ClauseId(11)],
            soak_met: true
        }
    );
    assert!(GateAcc::new(&p, 3).is_none());
}

#[test]
fn per_requires_hold_only_for_every_value() {
    // Make clause 12 a `require … per device.hw`.
    let mut a = sample();
    a.clauses[12].per_slot = Some(slot::HW);
    let p = verify_artifact(a).unwrap();
    let mut acc = GateAcc::new(&p, 0).unwrap();
    acc.add_whole(&bits(&p, &[(11, T)]));
    assert_eq!(
        acc.finish(i64::MAX),
        GateDecision::Promote,
        "no value present: holds"
    );
    acc.add_value(slot::HW, &bits(&p, &[(12, T)]));
    acc.add_value(slot::REGION, &bits(&p, &[]));
    assert_eq!(
        acc.finish(i64::MAX),
        GateDecision::Promote,
        "other per fields are ignored"
    );
    acc.add_value(slot::HW, &bits(&p, &[(12, F)]));
    acc.add_value(slot::HW, &bits(&p, &[(12, T)]));
    assert_eq!(
        acc.finish(i64::MAX),
        GateDecision::Hold {
            unmet: vec![ClauseId(12)],
            soak_met: true
        }
    );
}

#[test]
fn gate_end_to_end() {
    let p = sample_policy();
    let gate = p.gate_function(0).unwrap();
    let eval = |ring: &RingCounts| {
        let mut rec = [0u64; GATE_SLOTS];
        fill_gate_record(ring, &RingCounts::default(), &mut rec);
        let mut b = ClauseBits::for_policy(&p);
        run(
            &p,
            gate,
            &Record {
                slots: &rec,
                missing: &[0],
            },
            &mut b,
        )
        .unwrap();
        b
    };
    let clean = RingCounts {
        size: 2500,
        succeeded: 400,
        soak_secs: 90_000,
        ..RingCounts::default()
    };
    let mut acc = GateAcc::new(&p, 0).unwrap();
    acc.add_whole(&eval(&clean));
    acc.add_value(
        slot::HW,
        &eval(&RingCounts {
            succeeded: 200,
            ..clean
        }),
    );
    acc.add_value(
        slot::HW,
        &eval(&RingCounts {
            succeeded: 190,
            failed: 10,
            ..clean
        }),
    );
    assert_eq!(acc.finish(clean.soak_secs), GateDecision::Promote);
    // One hardware class failing at 12% of 25 aborts through the `per` clause.
    acc.add_value(
        slot::HW,
        &eval(&RingCounts {
            succeeded: 22,
            failed: 3,
            ..clean
        }),
    );
    assert_eq!(
        acc.finish(clean.soak_secs),
        GateDecision::Abort {
            clauses: vec![ClauseId(14)]
        }
    );
    let bricked = RingCounts {
        bricked: 1,
        ..clean
    };
    let mut acc = GateAcc::new(&p, 0).unwrap();
    acc.add_whole(&eval(&bricked));
    assert_eq!(
        acc.finish(clean.soak_secs),
        GateDecision::Abort {
            clauses: vec![ClauseId(15)]
        }
    );
}
