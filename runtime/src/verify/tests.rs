//! The verifier: the sample artifact verifies; each defect class, built by corrupting it, is rejected
//! with its own error; and property tests that nothing panics on arbitrary or mutated bytes, and that
//! whatever verifies runs on any record without a broken invariant.

use super::*;
use crate::artifact::{CodeError as C, Constraint, Signature, VersionSet};
use crate::interp::{ClauseBits, EvalError, Record, run};
use crate::op::DecodeError;
use crate::testutil::{Asm, sample, sample_policy, slot};
use alloc::vec;
use proptest::prelude::*;

/// The error `verify` gives for the sample artifact after `mutate`; `verify_artifact` must agree.
fn rejects(mutate: impl FnOnce(&mut Artifact)) -> ArtifactError {
    let mut a = sample();
    mutate(&mut a);
    let from_bytes = verify(&a.encode()).expect_err("corrupt artifact verified");
    let in_memory = verify_artifact(a).expect_err("corrupt artifact verified in memory");
    assert_eq!(from_bytes, in_memory);
    from_bytes
}

/// Replaces the code of function `f` (and its cost).
fn set_code(a: &mut Artifact, f: usize, asm: &Asm) {
    let (code, cost) = asm.finish();
    a.functions[f].code = code;
    a.functions[f].cost = cost;
}

/// The code error for rails code `asm`.
fn code_error(asm: &Asm) -> CodeError {
    match rejects(|a| set_code(a, 0, asm)) {
        ArtifactError::Code { function: 0, error } => error,
        e => panic!("not a code error: {e:?}"),
    }
}

fn asm(ops: &[Op]) -> Asm {
    let mut a = Asm::new();
    a.ops(ops);
    a
}

macro_rules! defect {
    ($name:ident, |$a:ident| $body:expr, $pat:pat) => {
        #[test]
        fn $name() {
            let e = rejects(|$a| {
                $body;
            });
            assert!(matches!(e, $pat), "{e:?}");
        }
    };
}

#[test]
fn the_sample_verifies() {
    let policy = sample_policy();
    assert_eq!(policy.artifact(), &sample());
    assert_eq!(policy.function(FunctionKind::Rails), Some(FnId(0)));
    assert_eq!(policy.function(FunctionKind::Rings), Some(FnId(3)));
    assert_eq!(policy.function(FunctionKind::Gate(2)), Some(FnId(6)));
    assert_eq!(policy.gate_function(3), None);
    assert_eq!(policy.layout(FnId(4)), Some(Layout::Gate));
    assert_eq!(policy.layout(FnId(1)), Some(Layout::Device));
    assert_eq!(policy.n_device_fields(), 11);
    assert_eq!(policy.plane_slot(2), Some(usize::from(slot::CONFIG)));
    assert_eq!(policy.plane_slot(3), None);
    assert_eq!(policy.now_hour_slot(), usize::from(slot::NOW_HOUR));
    assert_eq!(policy.now_weekday_slot(), usize::from(slot::NOW_WEEKDAY));
    assert_eq!(policy.release_slot(0), Some(16));
    assert_eq!(policy.missing_words(Layout::Device), 1);
    // Cost is the instruction count; jumps in the decoded code count instructions.
    let code = policy.code(FnId(0)).unwrap();
    assert_eq!(
        code.len(),
        policy.function_def(FnId(0)).unwrap().cost as usize
    );
    assert_eq!(
        code[3],
        Op::JumpIfFalse(3),
        "skips `Load charging; Not; And`, lands on `Emit`"
    );
    assert_eq!(code[7], Op::Emit(0));
    assert!(verify_artifact(sample()).is_ok());
}

#[test]
fn an_artifact_without_rollout_or_optional_functions_verifies() {
    let mut a = sample();
    a.rollout.rings.clear();
    a.rollout.gates.clear();
    a.functions.truncate(3); // rails, health, constraints
    a.clauses.truncate(10);
    let policy = verify(&a.encode()).unwrap();
    assert_eq!(policy.function(FunctionKind::Rings), None);
}

// Device record layout.
defect!(
    empty_enum,
    |a| a.slots[0] = SlotType::Enum { variants: 0 },
    ArtifactError::EmptyEnum { slot: 0 }
);
defect!(
    too_many_planes,
    |a| a.n_planes = 17,
    ArtifactError::TooManyPlanes { n_planes: 17 }
);
defect!(
    record_too_short,
    |a| a.n_planes = 9,
    ArtifactError::RecordTooShort {
        n_slots: 19,
        needed: 20
    }
);
defect!(
    now_hour_shape,
    |a| a.slots[14] = SlotType::Float,
    ArtifactError::RecordShape { slot: 14, .. }
);
defect!(
    weekday_shape,
    |a| a.slots[15] = SlotType::Enum { variants: 6 },
    ArtifactError::RecordShape { slot: 15, .. }
);
defect!(
    plane_slot_optional,
    |a| a.optional[11] = true,
    ArtifactError::RecordShape { slot: 11, .. }
);
defect!(
    release_slot_required,
    |a| a.optional[18] = false,
    ArtifactError::RecordShape { slot: 18, .. }
);

// Clause table.
defect!(
    unused_arg,
    |a| a.clauses[0].arg = 5,
    ArtifactError::ClauseField {
        clause: 0,
        field: "arg"
    }
);
defect!(
    unused_planes,
    |a| a.clauses[9].planes = PlaneSet(1),
    ArtifactError::ClauseField {
        clause: 9,
        field: "planes"
    }
);
defect!(
    unused_checks,
    |a| a.clauses[0].checks = 2,
    ArtifactError::ClauseField {
        clause: 0,
        field: "checks"
    }
);
defect!(
    counter_without_checks,
    |a| a.clauses[6].counter = 1,
    ArtifactError::ClauseField {
        clause: 6,
        field: "counter"
    }
);
defect!(
    unused_per_slot,
    |a| a.clauses[0].per_slot = Some(0),
    ArtifactError::ClauseField {
        clause: 0,
        field: "per_slot"
    }
);
defect!(
    defer_too_long,
    |a| a.clauses[1].arg = 1 << 32,
    ArtifactError::DeferTooLong {
        clause: 1,
        secs: 0x1_0000_0000
    }
);
defect!(
    no_rollback_planes,
    |a| a.clauses[6].planes = PlaneSet::EMPTY,
    ArtifactError::NoRollbackPlanes { clause: 6 }
);
defect!(
    rollback_plane_out_of_range,
    |a| a.clauses[6].planes = PlaneSet(0b1000),
    ArtifactError::ClausePlane {
        clause: 6,
        planes: 8,
        n_planes: 3
    }
);
defect!(
    counter_out_of_range,
    |a| a.clauses[5].counter = 2,
    ArtifactError::Counter {
        clause: 5,
        counter: 2,
        n_counters: 2
    }
);
defect!(
    shared_counter,
    |a| a.clauses[7].counter = 0,
    ArtifactError::SharedCounter {
        counter: 0,
        first: 5,
        second: 7
    }
);
defect!(
    per_slot_not_enum,
    |a| a.clauses[14].per_slot = Some(slot::BATTERY),
    ArtifactError::PerSlot {
        clause: 14,
        slot: 2
    }
);
defect!(
    per_slot_not_a_device_field,
    |a| a.clauses[14].per_slot = Some(slot::NOW_WEEKDAY),
    ArtifactError::PerSlot {
        clause: 14,
        slot: 15
    }
);

// Constraints.
fn depends(a: &mut Artifact) -> (&mut u8, &mut VersionSet, &mut u8) {
    match &mut a.constraints[0] {
        Constraint::Depends {
            a_plane,
            a,
            b_plane,
            ..
        } => (a_plane, a, b_plane),
        Constraint::Incompatible { .. } => unreachable!(),
    }
}
defect!(
    constraint_plane,
    |a| *depends(a).0 = 3,
    ArtifactError::ConstraintPlane {
        constraint: 0,
        plane: 3,
        n_planes: 3
    }
);
defect!(
    same_plane,
    |a| *depends(a).2 = 1,
    ArtifactError::SamePlane { constraint: 0 }
);
defect!(
    unsorted_version_set,
    |a| *depends(a).1 = VersionSet(vec![(5, 9), (1, 2)]),
    ArtifactError::VersionSet { constraint: 0 }
);
defect!(
    overlapping_version_set,
    |a| *depends(a).1 = VersionSet(vec![(1, 5), (5, 9)]),
    ArtifactError::VersionSet { constraint: 0 }
);
defect!(
    incompatible_names_wrong_clause,
    |a| a.constraints[2] = Constraint::Incompatible {
        plane: 1,
        set: VersionSet(vec![]),
        clause: 0
    },
    ArtifactError::ConstraintClause {
        constraint: 2,
        clause: 0
    }
);
defect!(
    dependency_cycle,
    |a| a.constraints.push(Constraint::Depends {
        a_plane: 0,
        a: VersionSet(vec![]),
        b_plane: 2,
        b: VersionSet(vec![]),
    }),
    ArtifactError::DependencyCycle { plane: 0..=2 }
);

// Rollout.
defect!(
    half_a_rate,
    |a| a.rollout.rate = Some((0, 60)),
    ArtifactError::Rate {
        count: 0,
        seconds: 60
    }
);
defect!(
    ring_share_not_increasing,
    |a| a.rollout.rings[1].share_ppm = 5_000,
    ArtifactError::RingShare { ring: 1, .. }
);
defect!(
    ring_share_zero,
    |a| a.rollout.rings[0].share_ppm = 0,
    ArtifactError::RingShare { ring: 0, .. }
);
defect!(
    last_ring_short,
    |a| a.rollout.rings[3].share_ppm = 900_000,
    ArtifactError::LastRing
);
defect!(
    last_ring_filtered,
    |a| a.rollout.rings[3].filter = Some(10),
    ArtifactError::LastRing
);
defect!(
    ring_filter_wrong_clause,
    |a| a.rollout.rings[0].filter = Some(0),
    ArtifactError::RingFilter { ring: 0, clause: 0 }
);
defect!(
    ring_filter_out_of_range,
    |a| a.rollout.rings[0].filter = Some(500),
    ArtifactError::RingFilter {
        ring: 0,
        clause: 500
    }
);
defect!(
    gate_missing,
    |a| a.rollout.gates.pop(),
    ArtifactError::GateCount { gates: 2, rings: 4 }
);
defect!(
    gate_skips_a_ring,
    |a| a.rollout.gates[1].to = 3,
    ArtifactError::GateRings {
        gate: 1,
        from: 1,
        to: 3
    }
);
defect!(
    gate_names_wrong_function,
    |a| a.rollout.gates[0].function = 5,
    ArtifactError::GateFunction {
        gate: 0,
        function: 5
    }
);

#[test]
fn zero_in_flight_cannot_be_encoded() {
    let mut a = sample();
    a.rollout.in_flight = Some(0);
    assert_eq!(verify_artifact(a).unwrap_err(), ArtifactError::ZeroInFlight);
}

#[test]
fn unencodable_artifacts() {
    let mut a = sample();
    a.optional.pop();
    assert!(matches!(
        verify_artifact(a).unwrap_err(),
        ArtifactError::Unencodable { .. }
    ));
    let mut a = sample();
    a.clauses[0].reason = Some(u16::MAX);
    assert!(matches!(
        verify_artifact(a).unwrap_err(),
        ArtifactError::Unencodable { .. }
    ));
}

// Functions.
defect!(
    duplicate_function,
    |a| a.functions[2].kind = FunctionKind::Rails,
    ArtifactError::DuplicateFunction {
        function: 2,
        kind: "rails"
    }
);
defect!(
    gate_function_without_gate,
    |a| a.functions[6].kind = FunctionKind::Gate(7),
    ArtifactError::GateIndex {
        function: 6,
        gate: 7
    }
);
defect!(
    clause_range_past_table,
    |a| a.functions[6].n_clauses = 2,
    ArtifactError::ClauseRange { function: 6 }
);
defect!(
    clause_ranges_overlap,
    |a| a.functions[5].n_clauses = 2,
    ArtifactError::ClauseOverlap { clause: 17 }
);
defect!(
    clause_without_function,
    |a| a
        .clauses
        .push(crate::artifact::Clause::new(ClauseKind::Require, 9)),
    ArtifactError::ClauseOrphan { clause: 18 }
);
defect!(
    clause_of_wrong_kind,
    |a| a.clauses[0].kind = ClauseKind::Abort,
    ArtifactError::ClauseKind {
        function: 0,
        clause: 0,
        kind: "abort"
    }
);
defect!(
    max_stack_too_large,
    |a| a.functions[0].max_stack = 65,
    ArtifactError::MaxStack {
        function: 0,
        max_stack: 65
    }
);
defect!(
    too_many_locals,
    |a| a.functions[0].n_locals = 65,
    ArtifactError::TooManyLocals {
        function: 0,
        n_locals: 65
    }
);
defect!(
    wrong_cost,
    |a| a.functions[0].cost += 1,
    ArtifactError::Cost { function: 0, .. }
);

// Code.
#[test]
fn unknown_opcode() {
    let mut a = Asm::new();
    a.code = vec![0x01, 0, 0, 0x00];
    assert_eq!(
        code_error(&a),
        C::Decode(DecodeError::UnknownOpcode {
            offset: 3,
            opcode: 0
        })
    );
}

#[test]
fn operand_cut_short() {
    let mut a = Asm::new();
    a.code = vec![0x48, 0];
    assert_eq!(
        code_error(&a),
        C::Decode(DecodeError::CutShort {
            offset: 0,
            mnemonic: "Emit"
        })
    );
}

#[test]
fn jump_leaves_the_function() {
    let a = asm(&[Op::Const(0), Op::JumpIfFalse(4), Op::Emit(0)]);
    assert_eq!(
        code_error(&a),
        C::JumpOutside {
            at: 3,
            target: 10,
            len: 9
        }
    );
}

#[test]
fn jump_to_the_end_is_a_boundary() {
    // The end of the function is a valid target; a jump keeps its operand on the stack, so arriving
    // there leaves the stack non-empty.
    let mut a = Asm::new();
    let end = a.label();
    a.op(Op::Const(0))
        .jump(Op::JumpIfFalse, end)
        .op(Op::Emit(0))
        .op(Op::Const(0))
        .bind(end);
    assert_eq!(code_error(&a), C::NotEmpty { depth: 1 });
}

#[test]
fn jump_into_an_instruction() {
    let a = asm(&[
        Op::Const(0),
        Op::JumpIfFalse(1),
        Op::Const(0),
        Op::Pop,
        Op::Emit(0),
    ]);
    assert_eq!(code_error(&a), C::JumpInside { at: 3, target: 7 });
}

#[test]
fn stack_underflow() {
    assert_eq!(
        code_error(&asm(&[Op::Const(0), Op::AddI])),
        C::Underflow {
            at: 3,
            mnemonic: "AddI",
            depth: 1
        }
    );
    assert_eq!(
        code_error(&asm(&[Op::JumpIfTrue(0)])),
        C::Underflow {
            at: 0,
            mnemonic: "JumpIfTrue",
            depth: 0
        }
    );
}

#[test]
fn stack_overflow() {
    let a = asm(&[Op::Const(0); 9]);
    assert_eq!(
        code_error(&a),
        C::Overflow {
            at: 24,
            depth: 9,
            max_stack: 8
        }
    );
}

#[test]
fn stack_not_empty_at_the_end() {
    assert_eq!(code_error(&asm(&[Op::Const(0)])), C::NotEmpty { depth: 1 });
}

#[test]
fn depths_differ_at_a_join() {
    let mut a = Asm::new();
    let l = a.label();
    a.op(Op::Const(0))
        .jump(Op::JumpIfFalse, l)
        .op(Op::Const(0))
        .bind(l)
        .ops(&[Op::Emit(0), Op::Emit(1)]);
    assert_eq!(
        code_error(&a),
        C::DepthMismatch {
            at: 9,
            first: 1,
            second: 2
        }
    );
}

#[test]
fn local_unset_on_one_path() {
    let mut a = Asm::new();
    let l = a.label();
    a.op(Op::Const(0))
        .jump(Op::JumpIfFalse, l)
        .ops(&[Op::Const(0), Op::LocalSet(1)])
        .bind(l);
    a.ops(&[Op::LocalGet(1), Op::Pop, Op::Emit(0)]);
    assert_eq!(code_error(&a), C::UnsetLocal { at: 11, local: 1 });
    // Written on both paths: fine.
    let mut s = sample();
    let mut a = Asm::new();
    let l = a.label();
    a.ops(&[Op::Const(0), Op::LocalTee(1)])
        .jump(Op::JumpIfFalse, l)
        .ops(&[Op::Const(0), Op::LocalSet(1)])
        .bind(l);
    a.ops(&[Op::LocalGet(1), Op::Pop, Op::Emit(0)]);
    set_code(&mut s, 0, &a);
    assert!(verify_artifact(s).is_ok());
    assert_eq!(
        code_error(&asm(&[Op::LocalGet(0), Op::Emit(0)])),
        C::UnsetLocal { at: 0, local: 0 }
    );
}

#[test]
fn operand_indices_out_of_range() {
    let n_consts = sample().consts.len();
    let k = u16::try_from(n_consts).unwrap();
    assert_eq!(
        code_error(&asm(&[Op::Load(19), Op::Emit(0)])),
        C::Slot {
            at: 0,
            slot: 19,
            n_slots: 19
        }
    );
    assert_eq!(
        code_error(&asm(&[Op::Const(k), Op::Emit(0)])),
        C::Const {
            at: 0,
            index: n_consts,
            n_consts
        }
    );
    assert_eq!(
        code_error(&asm(&[Op::Const(0), Op::InSetI(k - 1, 2), Op::Emit(0)])),
        C::Const {
            at: 3,
            index: n_consts,
            n_consts
        }
    );
    assert_eq!(
        code_error(&asm(&[Op::Const(0), Op::LocalSet(4)])),
        C::Local {
            at: 3,
            local: 4,
            n_locals: 4
        }
    );
    assert_eq!(
        code_error(&asm(&[Op::Const(0), Op::Emit(5)])),
        C::Clause {
            at: 3,
            clause: 5,
            first: 0,
            n_clauses: 5
        }
    );
}

#[test]
fn slot_optionality() {
    assert_eq!(
        code_error(&asm(&[Op::Load(slot::RSSI_DBM), Op::Emit(0)])),
        C::OptionalSlot { at: 0, slot: 5 }
    );
    assert_eq!(
        code_error(&asm(&[Op::Known(slot::HW), Op::Emit(0)])),
        C::RequiredSlot { at: 0, slot: 0 }
    );
    let mut a = Asm::new();
    let l = a.label();
    a.jump(|o| Op::LoadOr(slot::FIRMWARE, o), l)
        .op(Op::Const(0))
        .bind(l)
        .op(Op::Emit(0));
    assert_eq!(
        code_error(&a),
        C::RequiredSlot {
            at: 0,
            slot: slot::FIRMWARE
        }
    );
}

#[test]
fn gate_functions_read_the_gate_record() {
    let e = rejects(|a| set_code(a, 5, &asm(&[Op::Load(34), Op::Emit(16)])));
    assert_eq!(
        e,
        ArtifactError::Code {
            function: 5,
            error: C::Slot {
                at: 0,
                slot: 34,
                n_slots: 34
            }
        }
    );
    let e = rejects(|a| set_code(a, 5, &asm(&[Op::Known(3), Op::Emit(16)])));
    assert_eq!(
        e,
        ArtifactError::Code {
            function: 5,
            error: C::RequiredSlot { at: 0, slot: 3 }
        }
    );
    // Slot 33 (rollout.soak) exists in the gate record.
    let mut a = sample();
    set_code(&mut a, 5, &asm(&[Op::Load(33), Op::Emit(16)]));
    assert!(verify_artifact(a).is_ok());
}

#[test]
fn find_cycle_reports_a_plane_on_the_cycle() {
    let mut d = [0u16; MAX_PLANES];
    assert_eq!(find_cycle(&d), None);
    // 0 <- 1 <- 2 (acyclic), 3 -> 4 -> 5 -> 4 (5 depends on 4, 4 on 5), 6 depends on 5.
    d[1] = 1 << 0;
    d[2] = 1 << 1;
    assert_eq!(find_cycle(&d), None);
    d[4] = 1 << 5;
    d[5] = 1 << 4;
    d[6] = 1 << 5;
    d[3] = 1 << 6;
    let p = find_cycle(&d).unwrap();
    assert!(p == 4 || p == 5, "{p}");
}

// Property tests.

/// A record for `policy`'s function `f`: random slots, random missing bits on optional slots only.
fn records(policy: &Policy, f: FnId, seed: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let layout = policy.layout(f).unwrap();
    let n = policy.record_len(layout);
    let slots: Vec<u64> = (0..n)
        .map(|i| seed.get(i % seed.len().max(1)).copied().unwrap_or(0) ^ i as u64)
        .collect();
    let req = policy.required_mask(layout);
    let missing: Vec<u64> = req
        .iter()
        .zip(seed.iter().cycle())
        .map(|(r, s)| s & !r)
        .collect();
    (slots, missing)
}

/// Runs every function of `policy` on records made from `seed`: never a panic, never a broken
/// verifier invariant.
fn run_all(policy: &Policy, seed: &[u64]) {
    let mut bits = ClauseBits::for_policy(policy);
    for f in 0..policy.artifact().functions.len() {
        let f = FnId(u8::try_from(f).unwrap());
        let (slots, missing) = records(policy, f, seed);
        let r = run(
            policy,
            f,
            &Record {
                slots: &slots,
                missing: &missing,
            },
            &mut bits,
        );
        assert!(r.is_ok(), "{r:?}");
        assert!(!matches!(r, Err(EvalError::Corrupt { .. })));
    }
}

/// Instructions that decode from the start of `code`.
fn count_ops(code: &[u8]) -> u32 {
    let (mut pc, mut n) = (0, 0);
    while let Ok((_, len)) = Op::decode(code, pc) {
        pc += len;
        n += 1;
    }
    n
}

/// Slot values that hit the interesting cases: zero, extremes, small ints, floats, NaN.
fn slot_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1u64),
        Just(u64::MAX),
        Just(i64::MIN as u64),
        Just(i64::MAX as u64),
        Just(f64::NAN.to_bits()),
        Just(f64::INFINITY.to_bits()),
        (-300i64..300).prop_map(|v| v as u64),
        (-1e6f64..1e6).prop_map(f64::to_bits),
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = verify(&bytes);
        // With a valid header prefix, decoding goes further.
        let mut b = sample().encode()[..28].to_vec();
        b.extend_from_slice(&bytes);
        let n = u32::try_from(b.len()).unwrap().to_le_bytes();
        b[8..12].copy_from_slice(&n);
        let _ = verify(&b);
    }

    #[test]
    fn mutated_artifacts_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
        fix_len in any::<bool>(),
        seed in proptest::collection::vec(slot_value(), 1..40),
    ) {
        let mut b = sample().encode();
        for (at, byte, how) in edits {
            let i = at.index(b.len());
            match how {
                0 | 1 => b[i] = byte,
                2 => b.insert(i, byte),
                _ => b.truncate(i),
            }
            if b.is_empty() { break; }
        }
        if fix_len && b.len() >= 12 {
            let n = u32::try_from(b.len()).unwrap().to_le_bytes();
            b[8..12].copy_from_slice(&n);
        }
        if let Ok(policy) = verify(&b) {
            // Decoding is lossless.
            prop_assert_eq!(policy.artifact().encode(), b);
            run_all(&policy, &seed);
        }
    }

    #[test]
    fn random_code_never_panics_and_verified_code_runs(
        ops in proptest::collection::vec((0usize..Op::COUNT, 0u16..24, 0u16..24), 0..40),
        max_stack in 0u8..10,
        seed in proptest::collection::vec(slot_value(), 1..40),
        gate in any::<bool>(),
    ) {
        let samples = Op::samples();
        let mut code = Vec::new();
        for (i, a, b) in ops {
            // Small operands so that indices are often in range and jumps often land.
            let op = match samples[i] {
                Op::Const(_) => Op::Const(a),
                Op::Load(_) => Op::Load(a % 20),
                Op::LoadOr(_, _) => Op::LoadOr(a % 20, b % 8),
                Op::Known(_) => Op::Known(a % 20),
                Op::LocalSet(_) => Op::LocalSet((a % 5) as u8),
                Op::LocalGet(_) => Op::LocalGet((a % 5) as u8),
                Op::LocalTee(_) => Op::LocalTee((a % 5) as u8),
                Op::InSetI(_, _) => Op::InSetI(a, b % 4),
                Op::InSetF(_, _) => Op::InSetF(a, b % 4),
                Op::JumpIfFalse(_) => Op::JumpIfFalse(b % 12),
                Op::JumpIfTrue(_) => Op::JumpIfTrue(b % 12),
                Op::Emit(_) => Op::Emit(a % 7),
                op => op,
            };
            op.encode(&mut code);
        }
        let mut a = sample();
        let f = if gate { 4 } else { 0 };
        let cost = count_ops(&code);
        a.functions[f].code = code;
        a.functions[f].cost = cost;
        a.functions[f].max_stack = max_stack;
        if let Ok(policy) = verify_artifact(a) {
            run_all(&policy, &seed);
        }
    }
}

#[test]
fn signature_does_not_affect_verification() {
    let mut a = sample();
    a.signature = Some(Signature {
        key_id: 0,
        bytes: [0; 64],
    });
    assert!(verify(&a.encode()).is_ok());
}
