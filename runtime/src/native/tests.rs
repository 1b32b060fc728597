//! Native code = interpreter. Every op and error case through small hand-assembled functions (the
//! cases of `interp/tests.rs`, with their expected results), the checks made before running, batches,
//! threads, and property tests over random *verified* artifacts, including jumps no compiler emits.
//!
//! Every run goes through [`agree`], which runs the interpreter and native code, one record at a time
//! and in a batch, and asserts that all four give the same bits (and leave other clauses alone).

use super::*;
use crate::artifact::{Artifact, SlotType};
use crate::interp::{ClauseId, Cond};
use crate::op::Op;
use crate::testutil::{Asm, mini, sample, sample_policy, sample_record};
use crate::verify::{verify, verify_artifact};
use alloc::vec;
use std::vec::Vec;

/// A record: slots and missing-mask words.
type Rec = (Vec<u64>, Vec<u64>);

/// A scrambled start for output bits, so that a clause an engine forgets to write shows.
fn scrambled(policy: &Policy, seed: u64) -> ClauseBits {
    let mut bits = ClauseBits::for_policy(policy);
    let mut x = seed | 1;
    for c in 0..policy.n_clauses() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let cond = [Cond::False, Cond::True, Cond::Error][(x % 3) as usize];
        bits.set(ClauseId(c as u16), cond);
    }
    bits
}

/// Runs `f` on every record with the interpreter and native code, singly and batched; asserts that
/// they agree and returns the conditions per record (from a scrambled start).
fn agree(policy: &Policy, native: &NativePolicy, f: FnId, records: &[Rec]) -> Vec<ClauseBits> {
    let mut out = Vec::new();
    for (i, (slots, missing)) in records.iter().enumerate() {
        let rec = Record { slots, missing };
        let mut a = scrambled(policy, i as u64 + 7);
        let mut b = a.clone();
        let ra = interp::run(policy, f, &rec, &mut a);
        let rb = native.run_fn(f, &rec, &mut b);
        assert_eq!(ra, rb, "record {i}: results differ");
        assert_eq!(
            a, b,
            "record {i} ({slots:?}, {missing:?}): interpreter and native differ"
        );
        out.push(a);
    }
    // Batches, from the same scrambled starts.
    let words = ClauseBits::words_for(policy.n_clauses());
    let slots: Vec<u64> = records.iter().flat_map(|r| r.0.iter().copied()).collect();
    let missing: Vec<u64> = records.iter().flat_map(|r| r.1.iter().copied()).collect();
    let mut truth = Vec::new();
    let mut error = Vec::new();
    for i in 0..records.len() {
        let start = scrambled(policy, i as u64 + 7);
        truth.extend_from_slice(start.words().0);
        error.extend_from_slice(start.words().1);
    }
    let (mut t2, mut e2) = (truth.clone(), error.clone());
    let ra = interp::run_batch(policy, f, &slots, &missing, &mut truth, &mut error);
    let rb = native.run_batch_fn(f, &slots, &missing, &mut t2, &mut e2);
    assert_eq!(ra, rb);
    if ra.is_ok() {
        assert_eq!((&truth, &error), (&t2, &e2), "batches differ");
        let mut bits = ClauseBits::for_policy(policy);
        for (i, single) in out.iter().enumerate() {
            let row = i * words..(i + 1) * words;
            assert!(bits.load_words(&truth[row.clone()], &error[row]));
            assert_eq!(&bits, single, "batch row {i} differs from the single run");
        }
    }
    out
}

fn compile(policy: &Policy) -> NativePolicy {
    NativePolicy::new(policy).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs rails code `asm` (no record fields) over `n` clauses on both engines; the conditions.
fn run_code(asm: &Asm, consts: &[u64], n: u16) -> ClauseBits {
    let policy =
        verify(&mini(&[], consts.to_vec(), asm, n).encode()).unwrap_or_else(|e| panic!("{e}"));
    let native = compile(&policy);
    let mut bits = agree(&policy, &native, FnId(0), &[(vec![0, 0], vec![0])]);
    bits.remove(0)
}

/// An operand pushed before the op under test.
#[derive(Clone, Copy, Debug)]
enum In {
    V(u64),
    /// An erroneous entry (made by `1 / 0`).
    E,
}

use In::{E, V};

fn i(v: i64) -> In {
    V(v as u64)
}

fn f(v: f64) -> In {
    V(v.to_bits())
}

const T: In = V(1);
const F: In = V(0);

fn push_const(consts: &mut Vec<u64>, v: u64) -> u16 {
    consts.push(v);
    u16::try_from(consts.len() - 1).unwrap()
}

fn push_inputs(asm: &mut Asm, consts: &mut Vec<u64>, inputs: &[In]) {
    for input in inputs {
        match *input {
            V(v) => {
                let k = push_const(consts, v);
                asm.op(Op::Const(k));
            }
            // consts[0] = 1, consts[1] = 0
            E => {
                asm.ops(&[Op::Const(0), Op::Const(1), Op::DivI]);
            }
        }
    }
}

/// Checks `op` on `inputs` against `expect` (`Err(())`: erroneous): clause 0 is the result, clause
/// 1 whether its bits equal the expected value. Also checks the operands arriving from the record
/// (not constants), so that nothing is folded at compile time.
fn check(inputs: &[In], op: Op, expect: Result<u64, ()>) {
    let mut consts = vec![1, 0];
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut consts, inputs);
    asm.op(op);
    let want = push_const(&mut consts, expect.unwrap_or(0));
    asm.ops(&[Op::Dup, Op::Const(want), Op::Eq, Op::Emit(1), Op::Emit(0)]);
    let bits = run_code(&asm, &consts, 2);
    match expect {
        Err(()) => assert_eq!(
            bits.cond(ClauseId(0)),
            Some(Cond::Error),
            "{op:?} {inputs:?}"
        ),
        Ok(v) => assert_eq!(
            bits.cond(ClauseId(1)),
            Some(Cond::True),
            "{op:?} {inputs:?} should give {v:#x}"
        ),
    }
    check_from_record(inputs, op, expect);
}

/// The same with every plain operand loaded from the record.
fn check_from_record(inputs: &[In], op: Op, expect: Result<u64, ()>) {
    let mut consts = vec![1, 0];
    let mut fields = Vec::new();
    let mut slots = Vec::new();
    let mut asm = Asm::new();
    for input in inputs {
        match *input {
            V(v) => {
                asm.op(Op::Load(u16::try_from(fields.len()).unwrap()));
                fields.push((SlotType::Int, false));
                slots.push(v);
            }
            E => {
                asm.ops(&[Op::Const(0), Op::Const(1), Op::DivI]);
            }
        }
    }
    asm.op(op);
    let want = push_const(&mut consts, expect.unwrap_or(0));
    asm.ops(&[Op::Dup, Op::Const(want), Op::Eq, Op::Emit(1), Op::Emit(0)]);
    let policy = verify(&mini(&fields, consts, &asm, 2).encode()).unwrap_or_else(|e| panic!("{e}"));
    let native = compile(&policy);
    slots.extend([0, 0]);
    let bits = agree(&policy, &native, FnId(0), &[(slots, vec![0])]).remove(0);
    match expect {
        Err(()) => assert_eq!(
            bits.cond(ClauseId(0)),
            Some(Cond::Error),
            "{op:?} {inputs:?}"
        ),
        Ok(_) => assert_eq!(
            bits.cond(ClauseId(1)),
            Some(Cond::True),
            "{op:?} {inputs:?}"
        ),
    }
}

/// A boolean-valued op's condition (from constants and from the record).
fn cond(inputs: &[In], op: Op) -> Cond {
    let mut consts = vec![1, 0];
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut consts, inputs);
    asm.ops(&[op, Op::Emit(0)]);
    let c = run_code(&asm, &consts, 1).cond(ClauseId(0)).unwrap();
    let expect = match c {
        Cond::Error => Err(()),
        Cond::True => Ok(1),
        Cond::False => Ok(0),
    };
    check_from_record(inputs, op, expect);
    c
}

fn ok(v: i64) -> Result<u64, ()> {
    Ok(v as u64)
}

fn okf(v: f64) -> Result<u64, ()> {
    Ok(v.to_bits())
}

#[test]
fn native_policy_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<NativePolicy>();
}

#[test]
fn int_arithmetic() {
    use Op::*;
    check(&[i(2), i(3)], AddI, ok(5));
    check(&[i(i64::MAX), i(1)], AddI, Err(()));
    check(&[i(i64::MIN), i(-1)], AddI, Err(()));
    check(&[i(2), i(3)], SubI, ok(-1));
    check(&[i(i64::MIN), i(1)], SubI, Err(()));
    check(&[i(-4), i(3)], MulI, ok(-12));
    check(&[i(i64::MAX / 2 + 1), i(2)], MulI, Err(()));
    check(&[i(i64::MIN), i(-1)], MulI, Err(()));
    check(&[i(7), i(2)], DivI, ok(3));
    check(&[i(-7), i(2)], DivI, ok(-3));
    check(&[i(7), i(0)], DivI, Err(()));
    check(&[i(i64::MIN), i(-1)], DivI, Err(()));
    check(&[i(i64::MIN), i(1)], DivI, ok(i64::MIN));
    check(&[i(7), i(-1)], DivI, ok(-7));
    check(&[i(5)], NegI, ok(-5));
    check(&[i(i64::MIN)], NegI, Err(()));
    check(&[i(-5)], AbsI, ok(5));
    check(&[i(i64::MIN)], AbsI, Err(()));
    check(&[i(-1), i(1)], MinI, ok(-1));
    check(&[i(-1), i(1)], MaxI, ok(1));
    check(&[i(i64::MAX)], I2F, okf(i64::MAX as f64));
    check(&[i(-3)], I2F, okf(-3.0));
}

#[test]
fn float_arithmetic() {
    use Op::*;
    check(&[f(1.5), f(2.25)], AddF, okf(3.75));
    check(&[f(f64::MAX), f(f64::MAX)], AddF, Err(()));
    check(&[f(1.0), f(f64::NAN)], AddF, Err(()));
    check(&[f(f64::INFINITY), f(0.0)], AddF, Err(()));
    check(&[f(1.0), f(0.5)], SubF, okf(0.5));
    check(&[f(f64::INFINITY), f(f64::INFINITY)], SubF, Err(()));
    check(&[f(3.0), f(-2.0)], MulF, okf(-6.0));
    check(&[f(1e300), f(1e300)], MulF, Err(()));
    check(&[f(1.0), f(4.0)], DivF, okf(0.25));
    check(&[f(1.0), f(0.0)], DivF, Err(()));
    check(&[f(0.0), f(0.0)], DivF, Err(()));
    check(&[f(2.0)], NegF, okf(-2.0));
    check(&[f(f64::NAN)], NegF, Ok(f64::NAN.to_bits() ^ (1 << 63)));
    check(&[V(0x7ff0_0000_0000_0001)], NegF, Ok(0xfff0_0000_0000_0001));
    check(&[f(-0.0)], AbsF, okf(0.0));
    check(&[f(f64::NEG_INFINITY)], AbsF, okf(f64::INFINITY));
    check(&[V(0xfff8_0000_0000_0123)], AbsF, Ok(0x7ff8_0000_0000_0123));
    check(&[f(1.0), f(2.0)], MinF, okf(1.0));
    check(&[f(1.0), f(2.0)], MaxF, okf(2.0));
    check(&[f(f64::NAN), f(1.0)], MinF, okf(1.0));
    check(&[f(1.0), f(f64::NAN)], MinF, Ok(f64::NAN.to_bits()));
    check(&[f(f64::NAN), f(1.0)], MaxF, okf(1.0));
    check(&[f(-0.0), f(0.0)], MinF, okf(-0.0));
    check(&[f(0.0), f(-0.0)], MaxF, okf(0.0));
    check(&[f(5e-324), f(0.5)], MulF, okf(0.0));
    check(&[f(1e-310), f(1.0)], AddF, okf(1e-310 + 1.0));
}

#[test]
fn errors_propagate_through_every_numeric_op() {
    use Op::*;
    for op in [
        AddI, SubI, MulI, DivI, MinI, MaxI, AddF, SubF, MulF, DivF, MinF, MaxF,
    ] {
        check(&[E, i(1)], op, Err(()));
        check(&[i(1), E], op, Err(()));
    }
    for op in [NegI, AbsI, NegF, AbsF, I2F] {
        check(&[E], op, Err(()));
    }
    for op in [
        Eq, Ne, EqF, NeF, LtI, LeI, GtI, GeI, LtU, LeU, GtU, GeU, LtF, LeF, GtF, GeF,
    ] {
        assert_eq!(cond(&[E, i(1)], op), Cond::Error, "{op:?} a");
        assert_eq!(cond(&[i(1), E], op), Cond::Error, "{op:?} b");
    }
    for op in [BetweenI, BetweenU, BetweenF] {
        assert_eq!(cond(&[E, i(0), i(2)], op), Cond::Error, "{op:?} x");
        assert_eq!(cond(&[i(1), E, i(2)], op), Cond::Error, "{op:?} lo");
        assert_eq!(cond(&[i(1), i(0), E], op), Cond::Error, "{op:?} hi");
    }
}

fn truth(b: bool) -> Cond {
    if b { Cond::True } else { Cond::False }
}

#[test]
fn comparisons() {
    use Op::*;
    let cases: &[(Op, In, In, bool)] = &[
        (Eq, i(3), i(3), true),
        (Eq, f(f64::NAN), f(f64::NAN), true),
        (Eq, f(0.0), f(-0.0), false),
        (Ne, i(3), i(4), true),
        (Ne, i(3), i(3), false),
        (EqF, f(0.0), f(-0.0), true),
        (EqF, f(f64::NAN), f(f64::NAN), false),
        (NeF, f(f64::NAN), f(f64::NAN), true),
        (NeF, f(f64::NAN), f(1.0), true),
        (NeF, f(1.0), f(1.0), false),
        (LtI, i(-1), i(1), true),
        (LtI, i(1), i(1), false),
        (LeI, i(1), i(1), true),
        (GtI, i(1), i(-1), true),
        (GeI, i(-2), i(-1), false),
        (LtU, i(-1), i(1), false),
        (LeU, i(1), i(1), true),
        (GtU, i(-1), i(1), true),
        (GeU, i(0), i(1), false),
        (LtF, f(-1.0), f(1.0), true),
        (LtF, f(f64::NAN), f(1.0), false),
        (LeF, f(1.0), f(1.0), true),
        (LeF, f(1.0), f(f64::NAN), false),
        (GtF, f(2.0), f(1.0), true),
        (GtF, f(f64::NAN), f(1.0), false),
        (GeF, f(f64::NAN), f(f64::NAN), false),
        (GeF, f(-0.0), f(0.0), true),
    ];
    for &(op, a, b, expect) in cases {
        assert_eq!(cond(&[a, b], op), truth(expect), "{op:?} {a:?} {b:?}");
    }
}

#[test]
fn between() {
    use Op::*;
    assert_eq!(cond(&[i(-1), i(-2), i(0)], BetweenI), Cond::True);
    assert_eq!(cond(&[i(-2), i(-2), i(-2)], BetweenI), Cond::True);
    assert_eq!(cond(&[i(1), i(-2), i(0)], BetweenI), Cond::False);
    assert_eq!(cond(&[i(-1), i(0), i(2)], BetweenU), Cond::False);
    assert_eq!(cond(&[i(2), i(1), i(2)], BetweenU), Cond::True);
    assert_eq!(cond(&[f(0.5), f(0.0), f(1.0)], BetweenF), Cond::True);
    assert_eq!(cond(&[f(f64::NAN), f(0.0), f(1.0)], BetweenF), Cond::False);
    assert_eq!(cond(&[f(0.5), f(f64::NAN), f(1.0)], BetweenF), Cond::False);
}

#[test]
fn in_sets() {
    let consts = vec![
        1,
        0,
        7,
        9,
        (-0.0f64).to_bits(),
        f64::NAN.to_bits(),
        2.5f64.to_bits(),
    ];
    let check = |x: In, op: Op| {
        let mut c = consts.clone();
        let mut asm = Asm::new();
        push_inputs(&mut asm, &mut c, &[x]);
        asm.ops(&[op, Op::Emit(0)]);
        let from_const = run_code(&asm, &c, 1).cond(ClauseId(0)).unwrap();
        // And from the record.
        if let V(v) = x {
            let mut asm = Asm::new();
            asm.ops(&[Op::Load(0), op, Op::Emit(0)]);
            let policy =
                verify(&mini(&[(SlotType::Int, false)], consts.clone(), &asm, 1).encode()).unwrap();
            let native = compile(&policy);
            let bits = agree(&policy, &native, FnId(0), &[(vec![v, 0, 0], vec![0])]);
            assert_eq!(bits[0].cond(ClauseId(0)), Some(from_const));
        }
        from_const
    };
    assert_eq!(check(V(7), Op::InSetI(2, 2)), Cond::True);
    assert_eq!(check(V(9), Op::InSetI(2, 2)), Cond::True);
    assert_eq!(check(V(1), Op::InSetI(2, 2)), Cond::False);
    assert_eq!(check(V(7), Op::InSetI(2, 0)), Cond::False, "empty set");
    assert_eq!(check(f(0.0), Op::InSetI(4, 1)), Cond::False, "bits");
    assert_eq!(check(f(0.0), Op::InSetF(4, 1)), Cond::True, "IEEE");
    assert_eq!(check(f(f64::NAN), Op::InSetF(4, 3)), Cond::False);
    assert_eq!(check(f(f64::NAN), Op::InSetI(5, 1)), Cond::True);
    assert_eq!(check(f(2.5), Op::InSetF(4, 3)), Cond::True);
    assert_eq!(check(E, Op::InSetI(2, 2)), Cond::Error);
    assert_eq!(check(E, Op::InSetF(4, 3)), Cond::Error);
}

#[test]
fn kleene_logic() {
    use Cond::{Error as Er, False as Fa, True as Tr};
    let vals = [(T, Tr), (F, Fa), (E, Er), (V(5), Tr)];
    for (a, ca) in vals {
        let not = match ca {
            Tr => Fa,
            Fa => Tr,
            Er => Er,
        };
        assert_eq!(cond(&[a], Op::Not), not, "not {ca:?}");
        for (b, cb) in vals {
            let and = match (ca, cb) {
                (Fa, _) | (_, Fa) => Fa,
                (Tr, Tr) => Tr,
                _ => Er,
            };
            let or = match (ca, cb) {
                (Tr, _) | (_, Tr) => Tr,
                (Fa, Fa) => Fa,
                _ => Er,
            };
            assert_eq!(cond(&[a, b], Op::And), and, "{ca:?} and {cb:?}");
            assert_eq!(cond(&[a, b], Op::Or), or, "{ca:?} or {cb:?}");
        }
    }
}

#[test]
fn emit_records_true_false_error_and_the_last_emit_wins() {
    let mut consts = vec![1, 0];
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut consts, &[V(5), V(0), E]);
    asm.ops(&[Op::Emit(2), Op::Emit(1), Op::Emit(0)]);
    push_inputs(&mut asm, &mut consts, &[E, V(1)]);
    asm.ops(&[Op::Emit(4), Op::Emit(4)]);
    let bits = run_code(&asm, &consts, 6);
    assert_eq!(bits.cond(ClauseId(0)), Some(Cond::True));
    assert_eq!(bits.cond(ClauseId(1)), Some(Cond::False));
    assert_eq!(bits.cond(ClauseId(2)), Some(Cond::Error));
    assert_eq!(bits.cond(ClauseId(3)), Some(Cond::False), "never emitted");
    assert_eq!(
        bits.cond(ClauseId(4)),
        Some(Cond::Error),
        "emitted twice: the last wins"
    );
    assert_eq!(bits.cond(ClauseId(5)), Some(Cond::False));
}

/// `<input> JumpIf… L; Pop; Const 2; L: Emit 0`.
fn jumped(input: In, jump: fn(u16) -> Op) -> Cond {
    let mut consts = vec![1, 0, 2];
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut consts, &[input]);
    let l = asm.label();
    asm.jump(jump, l)
        .ops(&[Op::Pop, Op::Const(2)])
        .bind(l)
        .op(Op::Emit(0));
    run_code(&asm, &consts, 1).cond(ClauseId(0)).unwrap()
}

#[test]
fn conditional_jumps_only_on_definite_values() {
    assert_eq!(jumped(F, Op::JumpIfFalse), Cond::False);
    assert_eq!(jumped(T, Op::JumpIfFalse), Cond::True);
    assert_eq!(jumped(E, Op::JumpIfFalse), Cond::True);
    assert_eq!(jumped(V(7), Op::JumpIfTrue), Cond::True);
    assert_eq!(jumped(F, Op::JumpIfTrue), Cond::True);
    assert_eq!(jumped(E, Op::JumpIfTrue), Cond::True);
    // A taken `JumpIfTrue` leaves `1`, as `Or` would: `(7 or …) == 1`.
    let mut consts = vec![1, 0, 7];
    let mut asm = Asm::new();
    let l = asm.label();
    asm.op(Op::Const(2))
        .jump(Op::JumpIfTrue, l)
        .ops(&[Op::Const(1), Op::Or])
        .bind(l);
    asm.ops(&[Op::Const(0), Op::Eq, Op::Emit(0)]);
    assert_eq!(
        run_code(&asm, &consts, 1).cond(ClauseId(0)),
        Some(Cond::True)
    );
    consts[2] = 0;
    assert_eq!(
        run_code(&asm, &consts, 1).cond(ClauseId(0)),
        Some(Cond::False)
    );
    // The same with the tested value from the record (not a constant), and a jump that is not a
    // short circuit, so that it is neither folded nor dropped: `x JumpIfTrue L; Pop; 0; L: x Eq 1`.
    let mut asm = Asm::new();
    let l = asm.label();
    asm.op(Op::Load(0))
        .jump(Op::JumpIfTrue, l)
        .ops(&[Op::Pop, Op::Const(1)])
        .bind(l);
    asm.ops(&[Op::Const(0), Op::Eq, Op::Emit(0)]);
    let policy = verify(&mini(&[(SlotType::Bool, false)], vec![1, 0], &asm, 1).encode()).unwrap();
    let native = compile(&policy);
    let recs: Vec<Rec> = [7u64, 1, 0]
        .iter()
        .map(|&v| (vec![v, 0, 0], vec![0]))
        .collect();
    let bits = agree(&policy, &native, FnId(0), &recs);
    let conds: Vec<_> = bits.iter().map(|b| b.cond(ClauseId(0)).unwrap()).collect();
    assert_eq!(conds, [Cond::True, Cond::True, Cond::False]);
}

#[test]
fn skipped_emits_and_local_writes_do_not_happen() {
    // `x JumpIfFalse L; 1 Emit 1; 3 LocalTee 0; And; L: Emit 0; local0 == 2 Emit 2`.
    let mut a = Asm::new();
    let l = a.label();
    a.ops(&[Op::Const(2), Op::LocalSet(0), Op::Load(0)])
        .jump(Op::JumpIfFalse, l);
    a.ops(&[
        Op::Const(1),
        Op::Emit(1),
        Op::Const(3),
        Op::LocalTee(0),
        Op::And,
    ])
    .bind(l)
    .op(Op::Emit(0));
    a.ops(&[Op::LocalGet(0), Op::Const(2), Op::Eq, Op::Emit(2)]);
    let policy =
        verify(&mini(&[(SlotType::Bool, false)], vec![0, 1, 5, 9], &a, 3).encode()).unwrap();
    let native = compile(&policy);
    let bits = agree(
        &policy,
        &native,
        FnId(0),
        &[(vec![0, 0, 0], vec![0]), (vec![1, 0, 0], vec![0])],
    );
    let conds = |b: &ClauseBits| [0, 1, 2].map(|c| b.cond(ClauseId(c)).unwrap());
    assert_eq!(conds(&bits[0]), [Cond::False, Cond::False, Cond::True]);
    assert_eq!(conds(&bits[1]), [Cond::True, Cond::True, Cond::False]);
}

#[test]
fn a_local_written_only_in_a_skipped_scope_is_rewritten_before_it_is_read() {
    // `x JumpIfFalse L; Dup 7 LocalTee 1 Eq And Emit 0; L: Pop; 3 LocalSet 1; local1 == 3 Emit 1`:
    // the write in the scope is invisible after it, so the scope may be if-converted.
    let mut a = Asm::new();
    let l = a.label();
    a.op(Op::Load(0)).jump(Op::JumpIfFalse, l);
    a.ops(&[
        Op::Dup,
        Op::Const(0),
        Op::LocalTee(1),
        Op::Const(0),
        Op::Eq,
        Op::And,
        Op::Emit(0),
    ])
    .bind(l)
    .op(Op::Pop);
    a.ops(&[
        Op::Const(1),
        Op::LocalSet(1),
        Op::LocalGet(1),
        Op::Const(1),
        Op::Eq,
        Op::Emit(1),
    ]);
    let policy = verify(&mini(&[(SlotType::Bool, false)], vec![7, 3], &a, 2).encode()).unwrap();
    assert!(
        !policy
            .prepared(FnId(0))
            .unwrap()
            .insts
            .iter()
            .any(|i| matches!(i, crate::interp::Inst::JumpIfFalse(_))),
        "the scope is if-converted"
    );
    let native = compile(&policy);
    let bits = agree(
        &policy,
        &native,
        FnId(0),
        &[(vec![0, 0, 0], vec![0]), (vec![1, 0, 0], vec![0])],
    );
    assert_eq!(
        [0, 1].map(|c| bits[0].cond(ClauseId(c)).unwrap()),
        [Cond::False, Cond::True]
    );
    assert_eq!(
        [0, 1].map(|c| bits[1].cond(ClauseId(c)).unwrap()),
        [Cond::True, Cond::True]
    );
}

#[test]
fn loads_from_the_record() {
    let fields = [(SlotType::Int, false), (SlotType::Int, true)];
    let mut asm = Asm::new();
    let l = asm.label();
    asm.jump(|off| Op::LoadOr(1, off), l)
        .op(Op::Const(0))
        .bind(l);
    asm.ops(&[Op::Const(1), Op::Eq, Op::Emit(0)]);
    asm.ops(&[
        Op::Known(1),
        Op::Load(0),
        Op::Const(1),
        Op::Eq,
        Op::And,
        Op::Emit(1),
    ]);
    let policy = verify(&mini(&fields, vec![5, 9], &asm, 2).encode()).unwrap();
    let native = compile(&policy);
    let recs = [
        (vec![9, 9, 0, 0], vec![0]),
        (vec![9, 9, 0, 0], vec![0b10]),
        (vec![9, 5, 0, 0], vec![0]),
        (vec![5, 5, 0, 0], vec![0b10]),
    ];
    let bits = agree(&policy, &native, FnId(0), &recs);
    assert!(bits[0].is_true(ClauseId(0)) && bits[0].is_true(ClauseId(1)));
    assert!(!bits[1].is_true(ClauseId(0)));
    assert_eq!(bits[1].cond(ClauseId(1)), Some(Cond::False));
    assert!(!bits[2].is_true(ClauseId(0)));
    assert_eq!(
        bits[3].cond(ClauseId(0)),
        Some(Cond::False),
        "the default 5 is not 9"
    );
}

#[test]
fn stack_and_locals() {
    let mut consts = vec![1, 0];
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut consts, &[E]);
    asm.ops(&[Op::LocalSet(3), Op::Const(0), Op::LocalTee(2), Op::Emit(1)]);
    asm.ops(&[Op::LocalGet(3), Op::Emit(0), Op::LocalGet(2), Op::Emit(2)]);
    asm.ops(&[Op::Const(0), Op::LocalSet(3), Op::LocalGet(3), Op::Emit(3)]);
    let bits = run_code(&asm, &consts, 4);
    assert_eq!(bits.cond(ClauseId(0)), Some(Cond::Error));
    assert!(bits.is_true(ClauseId(1)) && bits.is_true(ClauseId(2)) && bits.is_true(ClauseId(3)));
}

#[test]
fn the_same_checks_and_errors_as_the_interpreter() {
    let mut asm = Asm::new();
    asm.ops(&[Op::Load(0), Op::Emit(0)]);
    let fields = [(SlotType::Bool, false), (SlotType::Bool, true)];
    let policy = verify(&mini(&fields, vec![], &asm, 2).encode()).unwrap();
    let native = compile(&policy);
    let slots = [1, 1, 0, 0];
    let cases: [(&[u64], &[u64]); 5] = [
        (&slots[..3], &[0]),
        (&slots, &[]),
        (&slots, &[0b1]),
        (&slots, &[1 << 40]),
        (&slots, &[0b10]),
    ];
    for (s, m) in cases {
        let rec = Record {
            slots: s,
            missing: m,
        };
        let mut a = ClauseBits::for_policy(&policy);
        let mut b = a.clone();
        assert_eq!(
            interp::run(&policy, FnId(0), &rec, &mut a),
            native.run_fn(FnId(0), &rec, &mut b)
        );
        assert_eq!(a, b);
    }
    let rec = Record {
        slots: &slots,
        missing: &[0],
    };
    let mut bits = ClauseBits::for_policy(&policy);
    assert_eq!(
        native.run_fn(FnId(1), &rec, &mut bits),
        Err(EvalError::NoFunction { function: 1 })
    );
    assert_eq!(
        native.run(FunctionKind::Health, &rec, &mut bits),
        Err(EvalError::NoFunction { function: u8::MAX })
    );
    let mut short = ClauseBits::new(1);
    assert_eq!(
        native.run_fn(FnId(0), &rec, &mut short),
        Err(EvalError::ClauseBitsLength {
            expected: 2,
            found: 1
        })
    );
    // Batches: a partial record, a short mask, a bad mask bit (reported by its index in the
    // batch), short outputs; and an empty batch is fine.
    let two = [1, 1, 0, 0, 1, 1, 0, 0];
    let batch = |s: &[u64], m: &[u64], t: usize, e: usize| {
        let (mut t1, mut e1) = (vec![0; t], vec![0; e]);
        let (mut t2, mut e2) = (t1.clone(), e1.clone());
        let a = interp::run_batch(&policy, FnId(0), s, m, &mut t1, &mut e1);
        let b = native.run_batch_fn(FnId(0), s, m, &mut t2, &mut e2);
        assert_eq!(a, b);
        assert_eq!((t1, e1), (t2, e2));
        a
    };
    assert_eq!(
        batch(&two[..7], &[0, 0], 2, 2),
        Err(EvalError::BatchRecords {
            record_len: 4,
            found: 7
        })
    );
    assert!(matches!(
        batch(&two, &[0], 2, 2),
        Err(EvalError::BatchLength {
            expected: 2,
            found: 1,
            ..
        })
    ));
    assert_eq!(
        batch(&two, &[0, 1], 2, 2),
        Err(EvalError::MissingRequired { slot: 4 })
    );
    assert!(matches!(
        batch(&two, &[0, 0], 2, 1),
        Err(EvalError::BatchLength {
            expected: 2,
            found: 1,
            ..
        })
    ));
    assert_eq!(batch(&[], &[], 0, 0), Ok(()));
    assert_eq!(batch(&two, &[0, 0b10], 2, 2), Ok(()));
}

#[test]
fn the_sample_runs_on_every_function_and_leaves_other_clauses_alone() {
    let policy = sample_policy();
    let native = compile(&policy);
    let base = sample_record();
    let mut recs = Vec::new();
    for k in 0..40u64 {
        let mut r = base.clone();
        r[2] = [0.1f64, 0.29, 0.3, 0.8][(k % 4) as usize].to_bits();
        r[3] = k % 2;
        r[0] = k % 3;
        r[4] = [10, 39, 40, 41][(k % 4) as usize];
        r[14] = k % 6;
        recs.push((
            r,
            vec![(k * 0x9e37_79b9) & ((1 << 5) | (1 << 8) | (1 << 9) | (1 << 16))],
        ));
    }
    for f in 0..policy.artifact().functions.len() {
        let f = FnId(f as u8);
        let layout = policy.layout(f).unwrap();
        let n = policy.record_len(layout);
        let recs: Vec<Rec> = recs
            .iter()
            .map(|(s, m)| {
                let mut s = s.clone();
                s.resize(n, 3);
                let m = if n == 19 { m.clone() } else { vec![0] };
                (s, m)
            })
            .collect();
        agree(&policy, &native, f, &recs);
    }
}

#[test]
fn many_threads_call_one_policy() {
    let policy = sample_policy();
    let native = compile(&policy);
    let rails = policy.function(FunctionKind::Rails).unwrap();
    let recs: Vec<Vec<u64>> = (0..64u64)
        .map(|k| {
            let mut r = sample_record();
            r[4] = k;
            r[2] = (k as f64 / 64.0).to_bits();
            r
        })
        .collect();
    let expect: Vec<ClauseBits> = recs
        .iter()
        .map(|s| {
            let mut b = ClauseBits::for_policy(&policy);
            interp::run(
                &policy,
                rails,
                &Record {
                    slots: s,
                    missing: &[0],
                },
                &mut b,
            )
            .unwrap();
            b
        })
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..200 {
                    for (s, want) in recs.iter().zip(&expect) {
                        let mut b = ClauseBits::for_policy(&policy);
                        native
                            .run(
                                FunctionKind::Rails,
                                &Record {
                                    slots: s,
                                    missing: &[0],
                                },
                                &mut b,
                            )
                            .unwrap();
                        assert_eq!(&b, want);
                    }
                }
            });
        }
    });
}

#[test]
fn compiling_and_dropping_many_times_frees_the_code() {
    // Each module's code pages are freed on drop; without that this would leak some 4 KiB each.
    let policy = sample_policy();
    for _ in 0..200 {
        let native = compile(&policy);
        let mut bits = ClauseBits::for_policy(&policy);
        native
            .run(
                FunctionKind::Rails,
                &Record {
                    slots: &sample_record(),
                    missing: &[0],
                },
                &mut bits,
            )
            .unwrap();
    }
}

#[test]
fn large_functions_and_many_clauses() {
    // 300 clauses over five words, deep stacks and many locals: the large interpreter paths.
    let mut asm = Asm::new();
    let mut consts = vec![0u64, 1, 2];
    for l in 0..40u8 {
        asm.ops(&[Op::Load(u16::from(l % 3)), Op::LocalSet(l)]);
    }
    for c in 0..300u16 {
        let k = push_const(&mut consts, u64::from(c) % 7);
        asm.ops(&[
            Op::LocalGet((c % 40) as u8),
            Op::Const(k),
            Op::GeI,
            Op::Emit(c),
        ]);
    }
    // Then a deep stack.
    for _ in 0..40 {
        asm.op(Op::Const(1));
    }
    for _ in 0..39 {
        asm.op(Op::AddI);
    }
    asm.ops(&[Op::Const(2), Op::GtI, Op::Emit(299)]);
    let fields = [(SlotType::Int, false); 3];
    let policy = verify(&mini(&fields, consts, &asm, 300).encode()).unwrap();
    let native = compile(&policy);
    let recs: Vec<Rec> = (0..100u64)
        .map(|k| (vec![k % 9, k % 5, k % 3, 0, 0], vec![0]))
        .collect();
    agree(&policy, &native, FnId(0), &recs);
}

#[test]
fn locals_keep_values_and_errors_across_blocks() {
    // Locals written early (a value, a known error with an unknown value, a record-dependent error)
    // and read after many blocks, compiled with blocks of 2 instructions so that each is spilled
    // and reloaded.
    let mut asm = Asm::new();
    asm.ops(&[Op::Load(0), Op::Const(1), Op::AddI, Op::LocalSet(0)]);
    asm.ops(&[
        Op::Load(0),
        Op::Const(0),
        Op::DivI,
        Op::Load(1),
        Op::AddI,
        Op::LocalSet(1),
    ]);
    asm.ops(&[Op::Const(1), Op::Load(1), Op::DivI, Op::LocalSet(2)]);
    for c in 3..9u16 {
        asm.ops(&[Op::Load(0), Op::Const(1), Op::GtI, Op::Emit(c)]);
    }
    for l in 0..3u8 {
        asm.ops(&[
            Op::LocalGet(l),
            Op::Const(1),
            Op::GeI,
            Op::Emit(u16::from(l)),
        ]);
    }
    let fields = [(SlotType::Int, false); 2];
    let policy = verify(&mini(&fields, vec![0, 1], &asm, 9).encode()).unwrap();
    let recs: Vec<Rec> = [(5u64, 0u64), (0, 3), (7, 1)]
        .iter()
        .map(|&(a, b)| (vec![a, b, 0, 0], vec![0]))
        .collect();
    for chunk in [1, 2, 3, 48] {
        let native = NativePolicy::compile(&policy, chunk).unwrap();
        let bits = agree(&policy, &native, FnId(0), &recs);
        assert_eq!(bits[0].cond(ClauseId(1)), Some(Cond::Error));
        assert_eq!(bits[0].cond(ClauseId(2)), Some(Cond::Error), "1 / 0");
        assert_eq!(bits[1].cond(ClauseId(2)), Some(Cond::False), "1 / 3 = 0");
        assert_eq!(bits[2].cond(ClauseId(0)), Some(Cond::True));
    }
}

#[test]
fn huge_functions_compile_with_the_single_pass_allocator() {
    // 1,100 clauses over 18 words, 4,400 instructions: past `LARGE_FUNCTION`.
    let mut asm = Asm::new();
    let mut consts = vec![0u64, 1];
    for l in 0..8u8 {
        asm.ops(&[
            Op::Load(u16::from(l % 3)),
            Op::Const(1),
            Op::AddI,
            Op::LocalSet(l),
        ]);
    }
    for c in 0..1_100u16 {
        let k = push_const(&mut consts, u64::from(c) % 11);
        asm.ops(&[
            Op::LocalGet((c % 8) as u8),
            Op::Const(k),
            Op::GeI,
            Op::Emit(c),
        ]);
    }
    let fields = [(SlotType::Int, false); 3];
    let policy = verify(&mini(&fields, consts, &asm, 1_100).encode()).unwrap();
    assert!(policy.code(FnId(0)).unwrap().len() >= LARGE_FUNCTION);
    let native = compile(&policy);
    let recs: Vec<Rec> = (0..40u64)
        .map(|k| (vec![k % 13, k % 7, (k * 5) % 12, 0, 0], vec![0]))
        .collect();
    agree(&policy, &native, FnId(0), &recs);
}

// Property tests over random verified artifacts.

mod random {
    use super::*;
    use proptest::prelude::*;

    /// Required and optional slots of the sample's device record.
    const REQUIRED: [u16; 13] = [0, 1, 2, 3, 4, 6, 7, 10, 11, 12, 13, 14, 15];
    const OPTIONAL: [u16; 6] = [5, 8, 9, 16, 17, 18];
    const LOCALS: u8 = 4;

    fn slot_value() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(1u64),
            Just(u64::MAX),
            Just(i64::MIN as u64),
            Just(i64::MAX as u64),
            Just(f64::NAN.to_bits()),
            Just(f64::INFINITY.to_bits()),
            Just((-0.0f64).to_bits()),
            Just(f64::MAX.to_bits()),
            (-5i64..5).prop_map(|v| v as u64),
            (-1e3f64..1e3).prop_map(f64::to_bits),
            any::<u64>(),
        ]
    }

    /// Records for function `f` of `policy`: random slots, random missing bits on optional slots.
    fn records(policy: &Policy, f: FnId, values: &[u64], masks: &[u64], n: usize) -> Vec<Rec> {
        let layout = policy.layout(f).unwrap();
        let len = policy.record_len(layout);
        let req = policy.required_mask(layout);
        (0..n)
            .map(|r| {
                let slots = (0..len)
                    .map(|i| {
                        values[(r * 7 + i * 3) % values.len()]
                            ^ if (r + i) % 5 == 0 { i as u64 } else { 0 }
                    })
                    .collect();
                let missing = req.iter().map(|w| masks[r % masks.len()] & !w).collect();
                (slots, missing)
            })
            .collect()
    }

    /// Replaces function `f` of the sample artifact with `code` (jumps in bytes).
    fn with_code(consts: &[u64], f: usize, ops: &[Op], max_stack: u8) -> Artifact {
        let mut a = sample();
        a.consts = consts.to_vec();
        let code = crate::op::encode_all(ops);
        a.functions[f].code = code;
        a.functions[f].cost = ops.len() as u32;
        a.functions[f].max_stack = max_stack;
        a.functions[f].n_locals = LOCALS;
        a
    }

    /// One step of a random program, before it is made consistent.
    #[derive(Clone, Debug)]
    struct Step {
        pick: u8,
        a: u16,
        b: u16,
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        proptest::collection::vec(
            (any::<u8>(), any::<u16>(), any::<u16>()).prop_map(|(pick, a, b)| Step { pick, a, b }),
            0..60,
        )
    }

    /// A random function that verifies: ops chosen by `steps` with the stack depth tracked so that
    /// nothing underflows, every local written first (a prologue), and each jump aimed at a random
    /// later instruction with the depth the jump arrives with — so jumps skip emits, local writes,
    /// pops of the tested value, other jumps' targets, and overlap and nest in any way.
    /// Returns ops with jumps in instructions.
    fn program(
        steps: &[Step],
        gate: bool,
        first_clause: u16,
        n_clauses: u16,
        n_consts: u16,
    ) -> Vec<Op> {
        use Op::*;
        let load = |a: u16| {
            if gate {
                Load(a % 34)
            } else {
                Load(REQUIRED[usize::from(a) % REQUIRED.len()])
            }
        };
        let optional = |a: u16| OPTIONAL[usize::from(a) % OPTIONAL.len()];
        let mut ops: Vec<Op> = Vec::new();
        let mut depth: Vec<usize> = Vec::new(); // before each op
        let mut d = 0usize;
        let push = |ops: &mut Vec<Op>, depth: &mut Vec<usize>, d: &mut usize, op: Op| {
            depth.push(*d);
            let e = op.stack_effect();
            *d = *d + usize::from(e.pushes) - usize::from(e.pops);
            ops.push(op);
        };
        // Locals 0 and 1 are written first; 2 and 3 only where the steps write them (so their
        // writes in skipped code may or may not be visible later).
        for l in 0..2 {
            push(&mut ops, &mut depth, &mut d, Const(l as u16 % n_consts));
            push(&mut ops, &mut depth, &mut d, LocalSet(l));
        }
        let unary = [I2F, NegI, AbsI, NegF, AbsF, Not];
        let binary = [
            AddI, SubI, MulI, DivI, MinI, MaxI, AddF, SubF, MulF, DivF, MinF, MaxF, Eq, Ne, EqF,
            NeF, LtI, LeI, GtI, GeI, LtU, LeU, GtU, GeU, LtF, LeF, GtF, GeF, And, Or,
        ];
        for s in steps {
            let (a, b) = (s.a, s.b);
            let kind = s.pick % 16;
            // Keep the stack between 0 and 10 deep.
            let kind = if d >= 10 && kind < 5 { 9 } else { kind };
            let op = match kind {
                0 => Const(a % n_consts),
                1 => load(a),
                2 if !gate => Known(optional(a)),
                2 => LocalGet((a % u16::from(LOCALS)) as u8),
                3 => LocalGet((a % u16::from(LOCALS)) as u8),
                4 if !gate => {
                    // `LoadOr s L; Const k; … L:` — the default is always pushed right after.
                    push(&mut ops, &mut depth, &mut d, LoadOr(optional(a), 0));
                    Const(b % n_consts)
                }
                4 => Const(b % n_consts),
                _ if d == 0 => Const(a % n_consts),
                5 => unary[usize::from(a) % unary.len()],
                6 if d >= 2 => binary[usize::from(a) % binary.len()],
                7 if d >= 3 => [BetweenI, BetweenU, BetweenF][usize::from(a) % 3],
                8 => {
                    let k = a % n_consts;
                    let n = (b % 4).min(n_consts - k);
                    if b & 1 == 0 {
                        InSetI(k, n)
                    } else {
                        InSetF(k, n)
                    }
                }
                9 | 10 => Emit(first_clause + a % n_clauses),
                11 => [JumpIfFalse(0), JumpIfTrue(0)][usize::from(a) % 2],
                12 => Dup,
                13 => Pop,
                14 => [LocalSet, LocalTee][usize::from(b) % 2]((a % u16::from(LOCALS)) as u8),
                _ => [JumpIfFalse(0), JumpIfTrue(0)][usize::from(b) % 2],
            };
            push(&mut ops, &mut depth, &mut d, op);
        }
        while d > 0 {
            let c = first_clause + (d as u16) % n_clauses;
            push(&mut ops, &mut depth, &mut d, Emit(c));
        }
        depth.push(0);
        // Aim every jump: at a later instruction (or the end) that is entered with the same depth.
        let n = ops.len();
        let mut seed: u64 = steps.iter().fold(0x5eed, |h, s| {
            h.rotate_left(7) ^ u64::from(s.b) ^ u64::from(s.pick) << 20
        });
        for i in 0..n {
            let arrive = match ops[i] {
                JumpIfFalse(_) | JumpIfTrue(_) => depth[i],
                LoadOr(..) => depth[i] + 1,
                _ => continue,
            };
            let candidates: Vec<usize> = (i + 1..n).filter(|&t| depth[t] == arrive).collect();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // `LoadOr`'s default is pushed right after it, so `i + 2` always qualifies.
            let t = candidates[(seed % candidates.len() as u64) as usize];
            ops[i] = ops[i].with_branch((t - i - 1) as u16);
        }
        // A read of a local that some path to it does not write becomes a constant (same stack
        // effect, so depths and jumps stay as they are).
        let mut written = vec![u64::MAX; n + 1];
        written[0] = 0;
        for i in 0..n {
            let w = written[i];
            if let LocalGet(l) = ops[i]
                && w >> l & 1 == 0
            {
                ops[i] = Const(u16::from(l) % n_consts);
            }
            let out = match ops[i] {
                LocalSet(l) | LocalTee(l) => w | 1 << l,
                _ => w,
            };
            written[i + 1] &= out;
            if let Some(dd) = ops[i].branch() {
                written[i + 1 + usize::from(dd)] &= out;
            }
        }
        ops
    }

    /// Jump operands counted in instructions → in bytes.
    fn to_bytes(ops: &[Op]) -> Vec<Op> {
        let mut offsets = vec![0usize; ops.len() + 1];
        for (i, op) in ops.iter().enumerate() {
            offsets[i + 1] = offsets[i] + op.encoded_len();
        }
        ops.iter()
            .enumerate()
            .map(|(i, op)| match op.branch() {
                Some(d) => {
                    let t = i + 1 + usize::from(d);
                    op.with_branch((offsets[t] - offsets[i + 1]) as u16)
                }
                None => *op,
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Random stack-consistent programs with arbitrary forward jumps.
        #[test]
        fn native_equals_interpreter_on_random_programs(
            steps in steps(),
            gate in any::<bool>(),
            consts in proptest::collection::vec(slot_value(), 24),
            values in proptest::collection::vec(slot_value(), 40),
            masks in proptest::collection::vec(any::<u64>(), 8),
        ) {
            let (f, first, n) = if gate { (4usize, 11u16, 5u16) } else { (0, 0, 5) };
            let ops = program(&steps, gate, first, n, consts.len() as u16);
            let a = with_code(&consts, f, &to_bytes(&ops), 64);
            let policy = verify_artifact(a).unwrap_or_else(|e| panic!("the generator made code that does not verify: {e}\n{ops:?}"));
            let native = compile(&policy);
            let fid = FnId(f as u8);
            let recs = records(&policy, fid, &values, &masks, 70);
            agree(&policy, &native, fid, &recs);
            // Blocks of two instructions: jumps, locals (spilled at every block boundary) and row
            // words cross block boundaries everywhere.
            let tiny = NativePolicy::compile(&policy, 2).unwrap_or_else(|e| panic!("{e}"));
            agree(&policy, &tiny, fid, &recs);
        }

        /// The verifier's own strategy (`verify/tests.rs`): random op sequences with small
        /// operands; those that verify must run the same on both engines.
        #[test]
        fn native_equals_interpreter_on_random_op_sequences(
            ops in proptest::collection::vec((0usize..Op::COUNT, 0u16..24, 0u16..24), 0..40),
            max_stack in 0u8..10,
            consts in proptest::collection::vec(slot_value(), 24),
            values in proptest::collection::vec(slot_value(), 40),
            masks in proptest::collection::vec(any::<u64>(), 4),
            gate in any::<bool>(),
        ) {
            let samples = Op::samples();
            let mut code = Vec::new();
            let mut count = 0u32;
            for (i, a, b) in ops {
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
                count += 1;
            }
            let mut a = sample();
            a.consts = consts;
            let f = if gate { 4 } else { 0 };
            a.functions[f].code = code;
            a.functions[f].cost = count;
            a.functions[f].max_stack = max_stack;
            if let Ok(policy) = verify_artifact(a) {
                let native = compile(&policy);
                for g in 0..policy.artifact().functions.len() {
                    let g = FnId(g as u8);
                    agree(&policy, &native, g, &records(&policy, g, &values, &masks, 8));
                }
            }
        }
    }

    #[test]
    fn the_generator_makes_programs_with_taken_and_untaken_jumps() {
        // A fixed program from the generator: checks it verifies and has jumps.
        let steps: Vec<Step> = (0..60u16)
            .map(|k| Step {
                pick: (k * 37 % 251) as u8,
                a: k.wrapping_mul(101),
                b: k.wrapping_mul(7919),
            })
            .collect();
        let ops = program(&steps, false, 0, 5, 24);
        assert!(
            ops.iter().filter(|op| op.branch().is_some()).count() >= 3,
            "{ops:?}"
        );
        let consts: Vec<u64> = (0..24).collect();
        verify_artifact(with_code(&consts, 0, &to_bytes(&ops), 64)).unwrap();
    }
}
