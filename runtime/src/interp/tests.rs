//! Every op's semantics, error cases included, through small hand-assembled functions run by `run`;
//! plus the record checks `run` makes before running.

use super::*;
use crate::artifact::SlotType;
use crate::op::Op;
use crate::testutil::{Asm, mini};
use crate::verify::verify;
use alloc::vec;

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

/// Evaluates `op` on `inputs`: `Ok(result)`, or `Err(())` when the result is erroneous. Clauses only
/// hold conditions, so the value is read back by binary search with `result >= probe` (`GeU`).
fn eval(inputs: &[In], op: Op) -> Result<u64, ()> {
    // `probe == None`: emit the result itself, which is erroneous exactly when the result is.
    let probe_run = |probe: Option<u64>| {
        let mut consts = vec![1, 0];
        let mut asm = Asm::new();
        push_inputs(&mut asm, &mut consts, inputs);
        asm.op(op);
        if let Some(p) = probe {
            let k = push_const(&mut consts, p);
            asm.ops(&[Op::Const(k), Op::GeU]);
        }
        asm.op(Op::Emit(0));
        run_code(&asm, &consts, 1).0
    };
    if probe_run(None) == Cond::Error {
        return Err(());
    }
    let (mut lo, mut hi) = (0u64, u64::MAX); // lo <= result <= hi
    while lo < hi {
        let mid = lo + (hi - lo) / 2 + 1;
        if probe_run(Some(mid)) == Cond::True {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

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

/// Runs `asm` as a rails function with no record fields over `n` clauses; returns clause 0's
/// condition and all the bits.
fn run_code(asm: &Asm, consts: &[u64], n: u16) -> (Cond, ClauseBits) {
    let artifact = mini(&[], consts.to_vec(), asm, n);
    let policy = verify(&artifact.encode()).unwrap_or_else(|e| panic!("{e}"));
    let mut bits = ClauseBits::for_policy(&policy);
    let slots = [0u64, 0];
    run(
        &policy,
        FnId(0),
        &Record {
            slots: &slots,
            missing: &[0],
        },
        &mut bits,
    )
    .unwrap();
    (bits.cond(ClauseId(0)).unwrap(), bits)
}

/// Evaluates a boolean-valued op and returns its condition.
fn cond(inputs: &[In], op: Op) -> Cond {
    let mut consts = vec![1, 0];
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut consts, inputs);
    asm.ops(&[op, Op::Emit(0)]);
    run_code(&asm, &consts, 1).0
}

fn ok(v: i64) -> Result<u64, ()> {
    Ok(v as u64)
}

fn okf(v: f64) -> Result<u64, ()> {
    Ok(v.to_bits())
}

#[test]
fn harness_reads_values_back() {
    for v in [0, 1, 12345, u64::MAX, 1 << 63] {
        assert_eq!(eval(&[V(v), V(99)], Op::Pop), Ok(v));
    }
    assert_eq!(eval(&[E, V(1)], Op::Pop), Err(()));
    assert_eq!(eval(&[V(1), E], Op::Pop), Ok(1));
}

#[test]
fn int_arithmetic() {
    use Op::*;
    assert_eq!(eval(&[i(2), i(3)], AddI), ok(5));
    assert_eq!(eval(&[i(i64::MAX), i(1)], AddI), Err(()));
    assert_eq!(eval(&[i(i64::MIN), i(-1)], AddI), Err(()));
    assert_eq!(eval(&[i(2), i(3)], SubI), ok(-1));
    assert_eq!(eval(&[i(i64::MIN), i(1)], SubI), Err(()));
    assert_eq!(eval(&[i(-4), i(3)], MulI), ok(-12));
    assert_eq!(eval(&[i(i64::MAX / 2 + 1), i(2)], MulI), Err(()));
    assert_eq!(eval(&[i(7), i(2)], DivI), ok(3));
    assert_eq!(
        eval(&[i(-7), i(2)], DivI),
        ok(-3),
        "division truncates toward zero"
    );
    assert_eq!(eval(&[i(7), i(0)], DivI), Err(()));
    assert_eq!(eval(&[i(i64::MIN), i(-1)], DivI), Err(()));
    assert_eq!(eval(&[i(i64::MIN), i(1)], DivI), ok(i64::MIN));
    assert_eq!(eval(&[i(5)], NegI), ok(-5));
    assert_eq!(eval(&[i(i64::MIN)], NegI), Err(()));
    assert_eq!(eval(&[i(-5)], AbsI), ok(5));
    assert_eq!(eval(&[i(i64::MIN)], AbsI), Err(()));
    assert_eq!(eval(&[i(-1), i(1)], MinI), ok(-1), "signed");
    assert_eq!(eval(&[i(-1), i(1)], MaxI), ok(1));
    assert_eq!(eval(&[i(i64::MAX)], I2F), okf(i64::MAX as f64));
    assert_eq!(eval(&[i(-3)], I2F), okf(-3.0));
}

#[test]
fn float_arithmetic() {
    use Op::*;
    assert_eq!(eval(&[f(1.5), f(2.25)], AddF), okf(3.75));
    assert_eq!(
        eval(&[f(f64::MAX), f(f64::MAX)], AddF),
        Err(()),
        "overflow to infinity"
    );
    assert_eq!(eval(&[f(1.0), f(f64::NAN)], AddF), Err(()), "NaN operand");
    assert_eq!(
        eval(&[f(f64::INFINITY), f(0.0)], AddF),
        Err(()),
        "infinite operand"
    );
    assert_eq!(eval(&[f(1.0), f(0.5)], SubF), okf(0.5));
    assert_eq!(eval(&[f(f64::INFINITY), f(f64::INFINITY)], SubF), Err(()));
    assert_eq!(eval(&[f(3.0), f(-2.0)], MulF), okf(-6.0));
    assert_eq!(eval(&[f(1e300), f(1e300)], MulF), Err(()));
    assert_eq!(eval(&[f(1.0), f(4.0)], DivF), okf(0.25));
    assert_eq!(eval(&[f(1.0), f(0.0)], DivF), Err(()), "division by zero");
    assert_eq!(eval(&[f(0.0), f(0.0)], DivF), Err(()), "0/0 is NaN");
    assert_eq!(eval(&[f(2.0)], NegF), okf(-2.0));
    assert_eq!(
        eval(&[f(f64::NAN)], NegF),
        Ok(f64::NAN.to_bits() ^ (1 << 63)),
        "never an error"
    );
    assert_eq!(eval(&[f(-0.0)], AbsF), okf(0.0));
    assert_eq!(
        eval(&[f(f64::NEG_INFINITY)], AbsF),
        okf(f64::INFINITY),
        "never an error"
    );
    assert_eq!(eval(&[f(1.0), f(2.0)], MinF), okf(1.0));
    assert_eq!(eval(&[f(1.0), f(2.0)], MaxF), okf(2.0));
    // `if a <= b { a } else { b }`: defined for NaN, not an error.
    assert_eq!(eval(&[f(f64::NAN), f(1.0)], MinF), okf(1.0));
    assert_eq!(eval(&[f(1.0), f(f64::NAN)], MinF), Ok(f64::NAN.to_bits()));
    assert_eq!(eval(&[f(f64::NAN), f(1.0)], MaxF), okf(1.0));
    assert_eq!(eval(&[f(-0.0), f(0.0)], MinF), okf(-0.0), "ties keep a");
    assert_eq!(eval(&[f(0.0), f(-0.0)], MaxF), okf(0.0));
}

#[test]
fn errors_propagate_through_every_numeric_op() {
    use Op::*;
    for op in [
        AddI, SubI, MulI, DivI, MinI, MaxI, AddF, SubF, MulF, DivF, MinF, MaxF,
    ] {
        assert_eq!(eval(&[E, i(1)], op), Err(()), "{op:?} a");
        assert_eq!(eval(&[i(1), E], op), Err(()), "{op:?} b");
    }
    for op in [NegI, AbsI, NegF, AbsF, I2F] {
        assert_eq!(eval(&[E], op), Err(()), "{op:?}");
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
        (Eq, f(f64::NAN), f(f64::NAN), true), // bits
        (Eq, f(0.0), f(-0.0), false),
        (Ne, i(3), i(4), true),
        (Ne, i(3), i(3), false),
        (EqF, f(0.0), f(-0.0), true),
        (EqF, f(f64::NAN), f(f64::NAN), false),
        (NeF, f(f64::NAN), f(f64::NAN), true),
        (NeF, f(1.0), f(1.0), false),
        (LtI, i(-1), i(1), true),
        (LtI, i(1), i(1), false),
        (LeI, i(1), i(1), true),
        (GtI, i(1), i(-1), true),
        (GeI, i(-2), i(-1), false),
        (LtU, i(-1), i(1), false), // u64::MAX < 1
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
    assert_eq!(
        cond(&[i(-2), i(-2), i(-2)], BetweenI),
        Cond::True,
        "inclusive"
    );
    assert_eq!(cond(&[i(1), i(-2), i(0)], BetweenI), Cond::False);
    assert_eq!(
        cond(&[i(-1), i(0), i(2)], BetweenU),
        Cond::False,
        "unsigned: u64::MAX"
    );
    assert_eq!(cond(&[i(2), i(1), i(2)], BetweenU), Cond::True);
    assert_eq!(cond(&[f(0.5), f(0.0), f(1.0)], BetweenF), Cond::True);
    assert_eq!(cond(&[f(f64::NAN), f(0.0), f(1.0)], BetweenF), Cond::False);
    assert_eq!(cond(&[f(0.5), f(f64::NAN), f(1.0)], BetweenF), Cond::False);
}

#[test]
fn in_sets() {
    // consts: [1, 0, 7, 9, -0.0, NaN, 2.5]
    let consts = vec![
        1,
        0,
        7,
        9,
        (-0.0f64).to_bits(),
        f64::NAN.to_bits(),
        2.5f64.to_bits(),
    ];
    let check = |x: u64, op: Op| {
        let mut c = consts.clone();
        let mut asm = Asm::new();
        push_inputs(&mut asm, &mut c, &[V(x)]);
        asm.ops(&[op, Op::Emit(0)]);
        run_code(&asm, &c, 1).0
    };
    assert_eq!(check(7, Op::InSetI(2, 2)), Cond::True);
    assert_eq!(check(9, Op::InSetI(2, 2)), Cond::True);
    assert_eq!(check(1, Op::InSetI(2, 2)), Cond::False);
    assert_eq!(check(7, Op::InSetI(2, 0)), Cond::False, "empty set");
    assert_eq!(
        check(0f64.to_bits(), Op::InSetI(4, 1)),
        Cond::False,
        "bits: 0.0 is not -0.0"
    );
    assert_eq!(
        check(0f64.to_bits(), Op::InSetF(4, 1)),
        Cond::True,
        "IEEE: 0.0 == -0.0"
    );
    assert_eq!(
        check(f64::NAN.to_bits(), Op::InSetF(4, 3)),
        Cond::False,
        "NaN equals nothing"
    );
    assert_eq!(
        check(f64::NAN.to_bits(), Op::InSetI(5, 1)),
        Cond::True,
        "same NaN bits"
    );
    assert_eq!(check(2.5f64.to_bits(), Op::InSetF(4, 3)), Cond::True);
    let mut c = consts.clone();
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut c, &[E]);
    asm.ops(&[Op::InSetI(2, 2), Op::Emit(0)]);
    assert_eq!(run_code(&asm, &c, 1).0, Cond::Error);
}

fn kleene_not(c: Cond) -> Cond {
    match c {
        Cond::True => Cond::False,
        Cond::False => Cond::True,
        Cond::Error => Cond::Error,
    }
}

fn kleene_and(a: Cond, b: Cond) -> Cond {
    match (a, b) {
        (Cond::False, _) | (_, Cond::False) => Cond::False,
        (Cond::True, Cond::True) => Cond::True,
        _ => Cond::Error,
    }
}

#[test]
fn kleene_logic() {
    use Cond::{Error as Er, False as Fa, True as Tr};
    let vals = [(T, Tr), (F, Fa), (E, Er)];
    for (a, ca) in vals {
        assert_eq!(cond(&[a], Op::Not), kleene_not(ca), "not {ca:?}");
        for (b, cb) in vals {
            let and = kleene_and(ca, cb);
            let or = match (ca, cb) {
                (Tr, _) | (_, Tr) => Tr,
                (Fa, Fa) => Fa,
                _ => Er,
            };
            assert_eq!(cond(&[a, b], Op::And), and, "{ca:?} and {cb:?}");
            assert_eq!(cond(&[a, b], Op::Or), or, "{ca:?} or {cb:?}");
        }
    }
    // Any non-zero value is true.
    assert_eq!(cond(&[V(5)], Op::Not), Cond::False);
    assert_eq!(cond(&[V(5), V(2)], Op::And), Cond::True);
    assert_eq!(cond(&[V(0), V(u64::MAX)], Op::Or), Cond::True);
}

#[test]
fn emit_records_true_false_error() {
    let mut consts = vec![1, 0];
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut consts, &[V(5), V(0), E]);
    asm.ops(&[Op::Emit(2), Op::Emit(1), Op::Emit(0)]);
    let (_, bits) = run_code(&asm, &consts, 4);
    assert_eq!(bits.cond(ClauseId(0)), Some(Cond::True));
    assert_eq!(bits.cond(ClauseId(1)), Some(Cond::False));
    assert_eq!(bits.cond(ClauseId(2)), Some(Cond::Error));
    assert_eq!(bits.cond(ClauseId(3)), Some(Cond::False), "never emitted");
    assert_eq!(bits.cond(ClauseId(4)), None);
}

/// `<input> JumpIf… L; Pop; Const 2; L: Emit 0`: clause 0 is the input if the jump is taken, else
/// true (the pushed 2).
fn jumped(input: In, jump: fn(u16) -> Op) -> Cond {
    let mut consts = vec![1, 0, 2];
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut consts, &[input]);
    let l = asm.label();
    asm.jump(jump, l)
        .ops(&[Op::Pop, Op::Const(2)])
        .bind(l)
        .op(Op::Emit(0));
    run_code(&asm, &consts, 1).0
}

#[test]
fn conditional_jumps_only_on_definite_values() {
    assert_eq!(
        jumped(F, Op::JumpIfFalse),
        Cond::False,
        "jumps on false, keeping it"
    );
    assert_eq!(jumped(T, Op::JumpIfFalse), Cond::True, "falls through");
    assert_eq!(
        jumped(E, Op::JumpIfFalse),
        Cond::True,
        "an error is not definitely false"
    );
    assert_eq!(jumped(V(7), Op::JumpIfTrue), Cond::True, "jumps on true");
    assert_eq!(
        jumped(F, Op::JumpIfTrue),
        Cond::True,
        "falls through, then pushes 2"
    );
    assert_eq!(
        jumped(E, Op::JumpIfTrue),
        Cond::True,
        "an error is not definitely true"
    );
    // Distinguish "jumped with the input" from "fell through" for true input: emit `not top`.
    let mut consts = vec![1, 0, 0];
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut consts, &[T]);
    let l = asm.label();
    asm.jump(Op::JumpIfTrue, l)
        .ops(&[Op::Pop, Op::Const(2)])
        .bind(l)
        .ops(&[Op::Not, Op::Emit(0)]);
    assert_eq!(
        run_code(&asm, &consts, 1).0,
        Cond::False,
        "kept the true input"
    );
    // A taken `JumpIfTrue` leaves `1`, as `Or` would: `(7 or …) == 1`.
    let mut consts = vec![1, 0, 7];
    let mut asm = Asm::new();
    let l = asm.label();
    asm.op(Op::Const(2))
        .jump(Op::JumpIfTrue, l)
        .ops(&[Op::Const(1), Op::Or])
        .bind(l);
    asm.ops(&[Op::Const(0), Op::Eq, Op::Emit(0)]);
    assert_eq!(run_code(&asm, &consts, 1).0, Cond::True);
    consts[2] = 0;
    assert_eq!(
        run_code(&asm, &consts, 1).0,
        Cond::False,
        "fell through: `0 or 0`"
    );
}

fn record_run(asm: &Asm, fields: &[(SlotType, bool)], slots: &[u64], missing: u64) -> ClauseBits {
    let artifact = mini(fields, vec![5, 9], asm, 2);
    let policy = verify(&artifact.encode()).unwrap_or_else(|e| panic!("{e}"));
    let mut bits = ClauseBits::for_policy(&policy);
    let mut all = slots.to_vec();
    all.extend([0, 0]);
    run(
        &policy,
        FnId(0),
        &Record {
            slots: &all,
            missing: &[missing],
        },
        &mut bits,
    )
    .unwrap();
    bits
}

#[test]
fn loads_from_the_record() {
    let fields = [(SlotType::Int, false), (SlotType::Int, true)];
    // Clause 0: `(slot1 ?? 5) == 9`; clause 1: `known(slot1) and slot0 == 9`.
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
    let present = record_run(&asm, &fields, &[9, 9], 0);
    assert!(present.is_true(ClauseId(0)) && present.is_true(ClauseId(1)));
    let missing = record_run(&asm, &fields, &[9, 9], 0b10);
    assert!(!missing.is_true(ClauseId(0)), "the default 5 was used");
    assert_eq!(missing.cond(ClauseId(1)), Some(Cond::False));
    let other = record_run(&asm, &fields, &[9, 5], 0);
    assert!(!other.is_true(ClauseId(0)));
}

#[test]
fn stack_and_locals() {
    // Locals carry the error flag.
    let mut consts = vec![1, 0];
    let mut asm = Asm::new();
    push_inputs(&mut asm, &mut consts, &[E]);
    asm.ops(&[Op::LocalSet(3), Op::Const(0), Op::LocalTee(2), Op::Emit(1)]);
    asm.ops(&[Op::LocalGet(3), Op::Emit(0), Op::LocalGet(2), Op::Emit(2)]);
    // Overwriting an erroneous local clears its error.
    asm.ops(&[Op::Const(0), Op::LocalSet(3), Op::LocalGet(3), Op::Emit(3)]);
    let (c0, bits) = run_code(&asm, &consts, 4);
    assert_eq!(c0, Cond::Error);
    assert!(bits.is_true(ClauseId(1)) && bits.is_true(ClauseId(2)) && bits.is_true(ClauseId(3)));
    // Dup keeps errors.
    let mut asm = Asm::new();
    let mut consts = vec![1, 0];
    push_inputs(&mut asm, &mut consts, &[E]);
    asm.ops(&[Op::Dup, Op::Emit(1), Op::Emit(0)]);
    let (c0, bits) = run_code(&asm, &consts, 2);
    assert_eq!(
        (c0, bits.cond(ClauseId(1))),
        (Cond::Error, Some(Cond::Error))
    );
}

#[test]
fn run_checks_the_record_once() {
    let mut asm = Asm::new();
    asm.ops(&[Op::Load(0), Op::Emit(0)]);
    let fields = [(SlotType::Bool, false), (SlotType::Bool, true)];
    let policy = verify(&mini(&fields, vec![], &asm, 2).encode()).unwrap();
    let mut bits = ClauseBits::for_policy(&policy);
    let slots = [1, 1, 0, 0];
    let rec = |slots, missing| Record { slots, missing };
    assert_eq!(
        run(&policy, FnId(0), &rec(&slots[..3], &[0]), &mut bits),
        Err(EvalError::RecordLength {
            expected: 4,
            found: 3
        })
    );
    assert_eq!(
        run(&policy, FnId(0), &rec(&slots, &[]), &mut bits),
        Err(EvalError::MissingLength {
            expected: 1,
            found: 0
        })
    );
    assert_eq!(
        run(&policy, FnId(0), &rec(&slots, &[0b1]), &mut bits),
        Err(EvalError::MissingRequired { slot: 0 })
    );
    assert_eq!(
        run(&policy, FnId(0), &rec(&slots, &[1 << 40]), &mut bits),
        Err(EvalError::MissingRequired { slot: 40 }),
        "bits past the last slot"
    );
    assert_eq!(
        run(&policy, FnId(1), &rec(&slots, &[0]), &mut bits),
        Err(EvalError::NoFunction { function: 1 })
    );
    let mut short = ClauseBits::new(1);
    assert_eq!(
        run(&policy, FnId(0), &rec(&slots, &[0]), &mut short),
        Err(EvalError::ClauseBitsLength {
            expected: 2,
            found: 1
        })
    );
    // A missing optional slot is fine; the function's clauses are cleared first.
    bits.set(ClauseId(1), Cond::Error);
    run(&policy, FnId(0), &rec(&slots, &[0b10]), &mut bits).unwrap();
    assert!(bits.is_true(ClauseId(0)));
    assert_eq!(
        bits.cond(ClauseId(1)),
        Some(Cond::False),
        "cleared, then never emitted"
    );
}

#[test]
fn run_leaves_other_functions_clauses_alone() {
    let policy = crate::testutil::sample_policy();
    let mut bits = ClauseBits::for_policy(&policy);
    for c in 0..policy.n_clauses() {
        bits.set(ClauseId(c as u16), Cond::Error);
    }
    let slots = crate::testutil::sample_record();
    let rails = policy
        .function(crate::artifact::FunctionKind::Rails)
        .unwrap();
    run(
        &policy,
        rails,
        &Record {
            slots: &slots,
            missing: &[0],
        },
        &mut bits,
    )
    .unwrap();
    assert_eq!(bits.error_in(0..5).count(), 0);
    assert_eq!(
        bits.error_in(5..policy.n_clauses()).count(),
        policy.n_clauses() - 5
    );
}

#[test]
fn clause_bits_ranges_and_iterators() {
    let mut b = ClauseBits::new(200);
    for c in [0u16, 63, 64, 65, 127, 128, 199] {
        b.set(ClauseId(c), Cond::True);
    }
    b.set(ClauseId(5), Cond::Error);
    b.set(ClauseId(300), Cond::True); // ignored
    let ids = |it: BitIter| it.map(|c| c.0).collect::<Vec<_>>();
    assert_eq!(ids(b.iter_true()), [0, 63, 64, 65, 127, 128, 199]);
    assert_eq!(ids(b.iter_error()), [5]);
    assert_eq!(ids(b.true_in(63..128)), [63, 64, 65, 127]);
    assert_eq!(ids(b.true_in(150..1000)), [199]);
    b.clear_range(63..128);
    assert_eq!(ids(b.iter_true()), [0, 128, 199]);
    b.clear_range(0..64);
    assert_eq!(ids(b.iter_true()), [128, 199]);
    assert_eq!(ids(b.iter_error()), Vec::<u16>::new());
    b.set(ClauseId(128), Cond::Error);
    assert_eq!(
        (b.is_true(ClauseId(128)), b.is_error(ClauseId(128))),
        (false, true)
    );
    b.clear();
    assert_eq!(b.iter_true().count() + b.iter_error().count(), 0);
    assert_eq!(b.len(), 200);
}

#[test]
fn errors_display_lowercase_without_period() {
    let errors = [
        EvalError::NoFunction { function: 3 },
        EvalError::RecordLength {
            expected: 4,
            found: 3,
        },
        EvalError::MissingLength {
            expected: 1,
            found: 0,
        },
        EvalError::MissingRequired { slot: 2 },
        EvalError::ClauseBitsLength {
            expected: 2,
            found: 1,
        },
        EvalError::Corrupt { instruction: 9 },
    ];
    for e in errors {
        let s = alloc::format!("{e}");
        assert!(
            s.chars().next().unwrap().is_lowercase() && !s.ends_with('.'),
            "{s}"
        );
    }
}

// Fusion and if-conversion (`fuse.rs`): fused code must behave exactly like the ops it replaces.

#[test]
fn short_circuits_are_dropped_only_when_unobservable() {
    use crate::interp::fuse::{Inst, fuse};
    // `a and b` over pure code: the jump goes, `And; Emit` fuse.
    let code = [
        Op::Load(0),
        Op::JumpIfFalse(2),
        Op::Load(1),
        Op::And,
        Op::Emit(0),
    ];
    assert_eq!(
        fuse(&code, &[]),
        [Inst::Load(0), Inst::Load(1), Inst::AndEmit(0)]
    );
    // `Load; Const; cmp` and `x ?? k` fuse; a jump over them is re-counted.
    let code = [
        Op::Load(0),
        Op::JumpIfTrue(6),
        Op::LoadOr(1, 1),
        Op::Const(0),
        Op::Const(1),
        Op::LtI,
        Op::Emit(1),
        Op::Or,
        Op::Emit(0),
    ];
    let fused = fuse(&code, &[5, 10]);
    assert!(
        matches!(
            fused.as_slice(),
            [
                Inst::Load(0),
                Inst::JumpIfTrue(2),
                Inst::TestEmit(_, 1, 1, ..),
                Inst::Or,
                Inst::Emit(0),
            ]
        ),
        "an `Emit` in the skipped code keeps the jump: {fused:?}"
    );
    // Without the constants there is no test: `x ?? k` still fuses.
    assert_eq!(
        fuse(&code, &[]),
        [
            Inst::Load(0),
            Inst::JumpIfTrue(5),
            Inst::LoadOrK(1, 0),
            Inst::Const(1),
            Inst::LtI,
            Inst::Emit(1),
            Inst::Or,
            Inst::Emit(0),
        ]
    );
}

#[test]
fn rule_scopes_are_if_converted_only_when_unobservable() {
    use crate::interp::fuse::{Inst, fuse};
    // `scope JumpIfFalse L; Dup c And Emit 0; Dup c And Emit 1; L: Pop`: the clauses read false when
    // not emitted, and emit `false and c` = false when the scope is false: the jump goes.
    let scoped = |body: &[Op]| {
        let mut code = vec![
            Op::Load(0),
            Op::JumpIfFalse(u16::try_from(body.len()).unwrap()),
        ];
        code.extend_from_slice(body);
        code.push(Op::Pop);
        fuse(&code, &[])
    };
    let clause = |c| [Op::Dup, Op::Load(1), Op::And, Op::Emit(c)];
    let body: Vec<Op> = clause(0).into_iter().chain(clause(1)).collect();
    assert!(
        !scoped(&body)
            .iter()
            .any(|i| matches!(i, Inst::JumpIfFalse(_))),
        "{:?}",
        scoped(&body)
    );
    // An emitted value that is not false under a false scope keeps the jump.
    let body = [Op::Dup, Op::Not, Op::Emit(0)];
    assert!(matches!(scoped(&body)[1], Inst::JumpIfFalse(3)));
    // So does a clause emitted elsewhere too, and a local write.
    let body: Vec<Op> = clause(0).into_iter().chain(clause(0)).collect();
    assert!(matches!(scoped(&body)[1], Inst::JumpIfFalse(_)));
    // A local write that is visible after the scope (the local was written before it) keeps it.
    let body = [Op::Dup, Op::LocalSet(0), Op::Dup, Op::Emit(0)];
    let mut code = vec![
        Op::Const(0),
        Op::LocalSet(0),
        Op::Load(0),
        Op::JumpIfFalse(4),
    ];
    code.extend_from_slice(&body);
    code.push(Op::Pop);
    assert!(
        matches!(fuse(&code, &[])[3], Inst::JumpIfFalse(4)),
        "{:?}",
        fuse(&code, &[])
    );
    // Without the earlier write, nothing after the scope can read it without writing it first.
    assert!(
        !scoped(&body)
            .iter()
            .any(|i| matches!(i, Inst::JumpIfFalse(_))),
        "{:?}",
        scoped(&body)
    );
}

/// Runs rails `asm` on no record fields with consts `[0, 1, 5, 9]`; the conditions of clauses 0..3.
fn conds(asm: &Asm) -> [Cond; 3] {
    let (_, bits) = run_code(asm, &[0, 1, 5, 9], 3);
    [0, 1, 2].map(|c| bits.cond(ClauseId(c)).unwrap())
}

#[test]
fn a_skipped_emit_does_not_happen() {
    // `0 JumpIfFalse L; 1 Emit 1; 1 And; L: Emit 0`: the jump is taken, clause 1 is never emitted.
    let mut a = Asm::new();
    let l = a.label();
    a.op(Op::Const(0)).jump(Op::JumpIfFalse, l);
    a.ops(&[Op::Const(1), Op::Emit(1), Op::Const(1), Op::And])
        .bind(l)
        .op(Op::Emit(0));
    assert_eq!(conds(&a), [Cond::False, Cond::False, Cond::False]);
}

#[test]
fn a_skipped_local_write_does_not_happen() {
    let mut a = Asm::new();
    let l = a.label();
    a.ops(&[Op::Const(2), Op::LocalSet(0), Op::Const(0)])
        .jump(Op::JumpIfFalse, l);
    a.ops(&[Op::Const(3), Op::LocalTee(0), Op::And])
        .bind(l)
        .op(Op::Emit(0));
    a.ops(&[Op::LocalGet(0), Op::Const(2), Op::Eq, Op::Emit(1)]);
    assert_eq!(
        conds(&a),
        [Cond::False, Cond::True, Cond::False],
        "local 0 is still 5"
    );
}

#[test]
fn skipped_code_that_pops_the_tested_value_keeps_the_jump() {
    // `0 JumpIfFalse L; Pop 1 1 And; L: Emit 0`: taken, so clause 0 is the tested `0`.
    let mut a = Asm::new();
    let l = a.label();
    a.op(Op::Const(0)).jump(Op::JumpIfFalse, l);
    a.ops(&[Op::Pop, Op::Const(1), Op::Const(1), Op::And])
        .bind(l)
        .op(Op::Emit(0));
    assert_eq!(conds(&a), [Cond::False, Cond::False, Cond::False]);
    // The same with `JumpIfTrue … Or`.
    let mut a = Asm::new();
    let l = a.label();
    a.op(Op::Const(1)).jump(Op::JumpIfTrue, l);
    a.ops(&[Op::Pop, Op::Const(0), Op::Const(0), Op::Or])
        .bind(l)
        .op(Op::Emit(0));
    assert_eq!(conds(&a), [Cond::True, Cond::False, Cond::False]);
}

#[test]
fn dropped_short_circuits_keep_kleene_results() {
    // `E and …` and `E or …` still evaluate the other side; `false and E` is false.
    for (first, jump, combine, second, expect) in [
        (E, Op::JumpIfFalse as fn(u16) -> Op, Op::And, F, Cond::False),
        (E, Op::JumpIfFalse, Op::And, T, Cond::Error),
        (F, Op::JumpIfFalse, Op::And, E, Cond::False),
        (E, Op::JumpIfTrue, Op::Or, T, Cond::True),
        (T, Op::JumpIfTrue, Op::Or, E, Cond::True),
        (F, Op::JumpIfTrue, Op::Or, E, Cond::Error),
    ] {
        let mut consts = vec![1, 0];
        let mut a = Asm::new();
        let l = a.label();
        push_inputs(&mut a, &mut consts, &[first]);
        a.jump(jump, l);
        push_inputs(&mut a, &mut consts, &[second]);
        a.op(combine).bind(l).op(Op::Emit(0));
        assert_eq!(
            run_code(&a, &consts, 1).0,
            expect,
            "{first:?} {combine:?} {second:?}"
        );
    }
}

#[test]
fn a_dropped_scope_hands_its_value_to_its_last_clause() {
    use crate::interp::fuse::{Inst, fuse};
    // `Load 0; JumpIfFalse L; Dup Load 1 And Emit 0; Dup Load 2 And Emit 1; L: Pop`: the jump goes,
    // and so do the last clause's `Dup` and the `Pop`.
    let clause = |c: u16| [Op::Dup, Op::Load(c + 1), Op::And, Op::Emit(c)];
    let mut code = vec![Op::Load(0), Op::JumpIfFalse(8)];
    code.extend(clause(0).into_iter().chain(clause(1)));
    code.push(Op::Pop);
    assert_eq!(
        fuse(&code, &[]),
        [
            Inst::Load(0),
            Inst::Dup,
            Inst::Load(1),
            Inst::AndEmit(0),
            Inst::Load(2),
            Inst::AndEmit(1),
        ]
    );
    // The scope's value and both clauses, on every truth assignment, as the ops say.
    let fields = [(SlotType::Bool, false); 3];
    for bits in 0..8u64 {
        let slots: Vec<u64> = (0..3).map(|i| bits >> i & 1).collect();
        let mut asm = Asm::new();
        asm.ops(&code);
        let got = record_run(&asm, &fields, &slots, 0);
        let scope = slots[0] != 0;
        for c in 0..2u16 {
            let want = scope && slots[usize::from(c) + 1] != 0;
            assert_eq!(got.is_true(ClauseId(c)), want, "{slots:?} clause {c}");
        }
    }
    // A jump that stays (its clause reads `not scope`, which a false scope makes true) keeps them.
    let mut code = vec![Op::Load(0), Op::JumpIfFalse(7)];
    code.extend([Op::Dup, Op::Not, Op::Emit(0)]);
    code.extend(clause(1));
    code.push(Op::Pop);
    let fused = fuse(&code, &[]);
    assert!(
        matches!(
            fused.as_slice(),
            [.., Inst::Dup, Inst::Load(2), Inst::AndEmit(1), Inst::Pop]
        ),
        "{fused:?}"
    );
}

/// Bit patterns at the edges of every number kind: zeros, ones, extremes, infinities, NaNs (both
/// signs, with payloads), subnormals, and values next to them.
fn edge_values() -> Vec<u64> {
    let mut v: Vec<u64> = vec![
        0,
        1,
        2,
        3,
        4,
        5,
        40,
        2048,
        u64::MAX,
        u64::MAX - 1,
        SIGN,
        SIGN + 1,
    ];
    for i in [
        i64::MIN,
        i64::MIN + 1,
        i64::MAX,
        i64::MAX - 1,
        -1,
        -2,
        -3,
        -80,
        -127,
    ] {
        v.push(i as u64);
    }
    for f in [
        0.0,
        -0.0,
        0.3,
        0.5,
        -0.5,
        1.0,
        -1.0,
        70.0,
        85.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::from_bits(1),
        -f64::from_bits(1),
    ] {
        v.push(f64::to_bits(f));
    }
    let nan = f64::NAN.to_bits();
    v.extend([
        nan,
        nan | SIGN,
        nan | 1,
        nan | 1 | SIGN,
        u64::MAX >> 1,
        0x7ff0_0000_0000_0001,
    ]);
    v
}

/// Runs the fused `code` (ending in `Emit 0`) on slot value `x` (missing when `None`), if it fused
/// into one slot test; `None` when it did not.
fn fused_test(code: &[Op], consts: &[u64], x: Option<u64>) -> Option<bool> {
    use crate::interp::fuse::{Inst, fuse};
    let fused = fuse(code, consts);
    let [Inst::TestEmit(f, 0, 0, lo, span)] = fused[..] else {
        return None;
    };
    Some(match x {
        Some(x) => f.holds(x, lo, span),
        None => f.if_missing(),
    })
}

#[test]
fn slot_tests_decide_as_the_ops_they_replace() {
    use crate::interp::fuse::Cmp;
    use Op::*;
    let values = edge_values();
    let cmps = [
        Eq, Ne, EqF, NeF, LtI, LeI, GtI, GeI, LtU, LeU, GtU, GeU, LtF, LeF, GtF, GeF,
    ];
    let mut fused = 0;
    for op in cmps {
        let c = Cmp::of(op).unwrap();
        for &k in &values {
            for not in [false, true] {
                let mut code = vec![Load(0), Const(0), op];
                code.extend(not.then_some(Not));
                code.push(Emit(0));
                for &x in &values {
                    if let Some(got) = fused_test(&code, &[k], Some(x)) {
                        fused += 1;
                        assert_eq!(got, c.eval(x, k) != not, "{x:#x} {op:?} {k:#x} not {not}");
                    }
                }
                // `(slot ?? d) cmp k`: a missing slot tests the default.
                let mut code = vec![LoadOr(0, 1), Const(1), Const(0), op];
                code.extend(not.then_some(Not));
                code.push(Emit(0));
                for &d in &values {
                    if let Some(got) = fused_test(&code, &[k, d], None) {
                        assert_eq!(got, c.eval(d, k) != not, "{d:#x} {op:?} {k:#x} not {not}");
                    }
                }
            }
        }
    }
    assert!(fused > 30_000, "most comparisons fuse: {fused}");
    // Only a test that no value passes stays unfused.
    assert_eq!(
        fused_test(
            &[Load(0), Const(0), LtI, Emit(0)],
            &[i64::MIN as u64],
            Some(0)
        ),
        None
    );
    let nan = [f64::NAN.to_bits()];
    assert_eq!(
        fused_test(&[Load(0), Const(0), LeF, Emit(0)], &nan, Some(0)),
        None
    );
    assert_eq!(
        fused_test(&[Load(0), Const(0), NeF, Emit(0)], &nan, Some(0)),
        None
    );
    for (op, num) in [(BetweenI, Num::I), (BetweenU, Num::U), (BetweenF, Num::F)] {
        for &lo in &values {
            for &hi in &values {
                let code = [Load(0), Const(0), Const(1), op, Not, Emit(0)];
                for &x in &values {
                    let want = num.le(lo, x) && num.le(x, hi);
                    if let Some(got) = fused_test(
                        &code[..4]
                            .iter()
                            .chain(&code[5..])
                            .copied()
                            .collect::<Vec<_>>(),
                        &[lo, hi],
                        Some(x),
                    ) {
                        assert_eq!(got, want, "{lo:#x} <= {x:#x} <= {hi:#x} ({op:?})");
                    }
                    if let Some(got) = fused_test(&code, &[lo, hi], Some(x)) {
                        assert_eq!(got, !want, "not {lo:#x} <= {x:#x} <= {hi:#x} ({op:?})");
                    }
                }
            }
        }
    }
    // Sets: a run of consecutive integers is a test, any other set is not.
    for (set, run) in [
        (vec![3], true),
        (vec![4, 2, 3], true),
        (vec![2, 3, 3], true),
        (vec![u64::MAX, u64::MAX - 1], true),
        (vec![0, 2], false),
        (vec![0, u64::MAX], false),
    ] {
        let n = set.len() as u16;
        let code = [Load(0), InSetI(0, n), Emit(0)];
        for &x in values.iter().chain(&set) {
            let got = fused_test(&code, &set, Some(x));
            assert_eq!(got.is_some(), run, "{set:?}");
            if let Some(got) = got {
                assert_eq!(got, set.contains(&x), "{x:#x} in {set:?}");
            }
        }
    }
    // `Known s`, `not s`, `not (s ?? d)`.
    let code = [Known(0), Emit(0)];
    assert_eq!(fused_test(&code, &[], Some(0)), Some(true));
    assert_eq!(fused_test(&code, &[], Some(u64::MAX)), Some(true));
    assert_eq!(fused_test(&code, &[], None), Some(false));
    for &x in &values {
        assert_eq!(
            fused_test(&[Load(0), Not, Emit(0)], &[], Some(x)),
            Some(x == 0)
        );
        let code = [LoadOr(0, 1), Const(0), Not, Emit(0)];
        assert_eq!(fused_test(&code, &[x], None), Some(x == 0));
        assert_eq!(fused_test(&code, &[7], Some(x)), Some(x == 0));
    }
}

#[test]
fn code_of_slot_tests_runs_as_independent_tests() {
    use Op::*;
    let fields = [
        (SlotType::Int, false),
        (SlotType::Float, false),
        (SlotType::Int, true),
        (SlotType::Bool, false),
    ];
    let consts = vec![
        5,
        0.5f64.to_bits(),
        7,
        9,
        0.0f64.to_bits(),
        1.0f64.to_bits(),
    ];
    let mut a = Asm::new();
    // 0: `s0 < 5`; 1: `s1 > 0.5 and not s3`.
    a.ops(&[Load(0), Const(0), LtI, Emit(0)]);
    a.ops(&[Load(1), Const(1), GtF, Load(3), Not, And, Emit(1)]);
    // A rule scope `(s2 ?? 7) >= 5` over 2: `s0 == 9` and 3: `s1 between 0.0 and 1.0`.
    let l = a.label();
    a.ops(&[LoadOr(2, 3), Const(2), Const(0), GeI])
        .jump(JumpIfFalse, l);
    a.ops(&[Dup, Load(0), Const(3), Eq, And, Emit(2)]);
    a.ops(&[Dup, Load(1), Const(4), Const(5), BetweenF, And, Emit(3)]);
    a.bind(l).op(Pop);
    // 4: `known(s2) and s3 != 0`; 5 is never emitted.
    a.ops(&[Known(2), Load(3), Not, Not, And, Emit(4)]);
    let policy = verify(&mini(&fields, consts.clone(), &a, 6).encode()).unwrap();
    let prep = policy.prepared(FnId(0)).unwrap();
    assert!(prep.tests.is_some(), "{:?}", prep.insts);
    let nan = f64::NAN.to_bits();
    let mut records = Vec::new();
    for s0 in [0, 5, 9, -1i64 as u64, i64::MIN as u64] {
        for s1 in [0.0, 0.5, 0.7, -0.0, 1.0, 2.0]
            .map(f64::to_bits)
            .into_iter()
            .chain([nan])
        {
            for s2 in [None, Some(4), Some(5), Some(9)] {
                for s3 in [0, 1, 2] {
                    let slots = vec![s0, s1, s2.unwrap_or(0), s3, 0, 0];
                    records.push((slots, vec![u64::from(s2.is_none()) << 2]));
                }
            }
        }
    }
    for (slots, missing) in &records {
        let record = Record { slots, missing };
        // Stale bits everywhere: both paths replace the function's clauses.
        let (mut fast, mut general) = (ClauseBits::new(6), ClauseBits::new(6));
        for c in 0..6 {
            fast.set(ClauseId(c), Cond::Error);
            general.set(ClauseId(c), Cond::True);
        }
        run(&policy, FnId(0), &record, &mut fast).unwrap();
        general.clear();
        exec::<MAX_STACK, MAX_LOCALS>(&prep.insts, &consts, &record, &mut general, None).unwrap();
        assert_eq!(fast, general, "{slots:?} {missing:?}");
    }
    batch_agrees(&policy, FnId(0), &records, 0);
    // A clause emitted twice, or a test of a computed value, runs on the stack machine.
    let mut a = Asm::new();
    a.ops(&[
        Load(0),
        Const(0),
        LtI,
        Emit(0),
        Load(0),
        Const(0),
        GtI,
        Emit(0),
    ]);
    let policy = verify(&mini(&fields, consts.clone(), &a, 1).encode()).unwrap();
    assert!(policy.prepared(FnId(0)).unwrap().tests.is_none());
    let mut a = Asm::new();
    a.ops(&[Load(0), Load(0), AddI, Const(0), LtI, Emit(0)]);
    let policy = verify(&mini(&fields, consts, &a, 1).encode()).unwrap();
    assert!(policy.prepared(FnId(0)).unwrap().tests.is_none());
}

#[test]
fn fused_ands_keep_kleene_results() {
    use crate::interp::fuse::Inst;
    use Cond::{Error as Er, False as Fa, True as Tr};
    let vals = [(T, Tr), (F, Fa), (E, Er)];
    let (and, not) = (kleene_and, kleene_not);
    let fields = [(SlotType::Int, false)];
    for (a, ca) in vals {
        for (b, cb) in vals {
            // `a and not b`: `Not; And; Emit` is one instruction.
            let mut consts = vec![1, 0];
            let mut asm = Asm::new();
            push_inputs(&mut asm, &mut consts, &[a, b]);
            asm.ops(&[Op::Not, Op::And, Op::Emit(0)]);
            let policy = verify(&mini(&[], consts, &asm, 1).encode()).unwrap();
            let prep = policy.prepared(FnId(0)).unwrap();
            assert!(
                prep.insts.contains(&Inst::AndNotEmit(0)),
                "{:?}",
                prep.insts
            );
            assert_eq!(
                run_code(&asm, &policy.artifact().consts, 1).0,
                and(ca, not(cb)),
                "{ca:?} and not {cb:?}"
            );
            batch_agrees(&policy, FnId(0), &[(vec![0, 0], vec![0])], 0);
        }
        // `a and slot0 == 9`: `Load; Const; Eq; And; Emit` is one instruction.
        for slot0 in [9, 5] {
            let mut consts = vec![1, 0, 9];
            let mut asm = Asm::new();
            push_inputs(&mut asm, &mut consts, &[a]);
            asm.ops(&[Op::Load(0), Op::Const(2), Op::Eq, Op::And, Op::Emit(0)]);
            let policy = verify(&mini(&fields, consts, &asm, 1).encode()).unwrap();
            let prep = policy.prepared(FnId(0)).unwrap();
            assert!(
                matches!(prep.insts.last(), Some(Inst::AndTestEmit(_, 0, 0, ..))),
                "{:?}",
                prep.insts
            );
            let record = (vec![slot0, 0, 0], vec![0]);
            let mut bits = ClauseBits::for_policy(&policy);
            run(
                &policy,
                FnId(0),
                &Record {
                    slots: &record.0,
                    missing: &record.1,
                },
                &mut bits,
            )
            .unwrap();
            let cmp = if slot0 == 9 { Tr } else { Fa };
            assert_eq!(
                bits.cond(ClauseId(0)),
                Some(and(ca, cmp)),
                "{ca:?} and {cmp:?}"
            );
            batch_agrees(&policy, FnId(0), &[record], 0);
        }
    }
}

// The batched interpreter: the same conditions as one `run` per record.

/// Runs `f` on `records` singly and in one batch (rows starting from `fill`); asserts they agree.
fn batch_agrees(policy: &Policy, f: FnId, records: &[(Vec<u64>, Vec<u64>)], fill: u64) {
    let words = ClauseBits::words_for(policy.n_clauses());
    let slots: Vec<u64> = records.iter().flat_map(|r| r.0.clone()).collect();
    let missing: Vec<u64> = records.iter().flat_map(|r| r.1.clone()).collect();
    let (mut t, mut e) = (
        vec![fill; records.len() * words],
        vec![!fill; records.len() * words],
    );
    run_batch(policy, f, &slots, &missing, &mut t, &mut e).unwrap();
    let mut row = ClauseBits::for_policy(policy);
    for (i, (s, m)) in records.iter().enumerate() {
        let (ti, ei) = (
            &t[i * words..(i + 1) * words],
            &e[i * words..(i + 1) * words],
        );
        let mut single = ClauseBits::for_policy(policy);
        assert!(single.load_words(ti, ei));
        run(
            policy,
            f,
            &Record {
                slots: s,
                missing: m,
            },
            &mut single,
        )
        .unwrap();
        assert!(row.load_words(ti, ei));
        assert_eq!(row, single, "record {i}");
        // Bits of other functions' clauses are left as they were.
        let range = policy.prepared(f).unwrap().clauses.clone();
        for c in (0..policy.n_clauses()).filter(|c| !range.contains(c)) {
            assert_eq!(ti[c / 64] >> (c % 64) & 1, fill >> (c % 64) & 1);
        }
    }
}

#[test]
fn bit_matrices_transpose() {
    let mut a = [0u64; 64];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for row in a.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *row = x;
    }
    let before = a;
    super::batch::transpose64(&mut a);
    for (i, row) in before.iter().enumerate() {
        for (j, col) in a.iter().enumerate() {
            assert_eq!(row >> j & 1, col >> i & 1, "bit ({i}, {j})");
        }
    }
}

#[test]
fn batches_equal_single_runs_on_the_sample() {
    let policy = crate::testutil::sample_policy();
    let base = crate::testutil::sample_record();
    for f in 0..policy.artifact().functions.len() {
        let f = FnId(f as u8);
        let n = policy.record_len(policy.layout(f).unwrap());
        let records: Vec<(Vec<u64>, Vec<u64>)> = (0..150u64)
            .map(|k| {
                let mut s = base.clone();
                s.resize(n, 0);
                s[k as usize % n] = [0, 1, 39, 40, u64::MAX, 0.25f64.to_bits()][(k % 6) as usize];
                s[(k as usize * 7) % n] ^= k;
                let m = if n == 19 {
                    (k * 0x2f) & ((1 << 5) | (1 << 8) | (1 << 9) | (1 << 17))
                } else {
                    0
                };
                (s, vec![m])
            })
            .collect();
        batch_agrees(&policy, f, &records, 0xa5a5_a5a5_a5a5_a5a5);
        batch_agrees(&policy, f, &records[..1], 0);
        batch_agrees(&policy, f, &[], 0);
    }
}

#[test]
fn batches_with_many_pending_jumps_fall_back_to_single_runs() {
    // `(x_j JumpIfFalse L_j; Pop) for j in 0..40; Const 1; L_39: Not; L_38: Not; …; L_0: Emit 0`:
    // record k has every x true but x_(k % 40), so the lanes of a block park at 40 different
    // targets, more than the pending list holds.
    let mut asm = Asm::new();
    let labels: Vec<_> = (0..40).map(|_| asm.label()).collect();
    for (j, l) in labels.iter().enumerate() {
        asm.op(Op::Load(j as u16));
        asm.jump(Op::JumpIfFalse, *l).op(Op::Pop);
    }
    asm.op(Op::Const(0));
    for l in labels.iter().skip(1).rev() {
        asm.bind(*l).op(Op::Not);
    }
    asm.bind(labels[0]).op(Op::Emit(0));
    let fields = [(SlotType::Bool, false); 40];
    let mut a = mini(&fields, vec![1], &asm, 1);
    a.functions[0].max_stack = 2;
    a.functions[0].n_locals = 0;
    let policy = verify(&a.encode()).unwrap();
    let records: Vec<(Vec<u64>, Vec<u64>)> = (0..150u64)
        .map(|k| {
            let mut s = vec![1u64; 42];
            s[(k % 40) as usize] = 0;
            s[40] = 0;
            s[41] = 0;
            (s, vec![0])
        })
        .collect();
    batch_agrees(&policy, FnId(0), &records, 0);
}

// Differential property test: random well-formed expression trees, compiled to bytecode the way a
// compiler would (short circuits, `LoadOr` defaults, locals), must give the same clause conditions in
// the interpreter as a direct evaluation of the tree by the rules of `docs/bytecode.md`.

mod differential {
    use super::*;
    use crate::artifact::FunctionKind;
    use crate::testutil::sample;
    use alloc::boxed::Box;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Expr {
        Const(u16),
        Load(u16),
        LoadOr(u16, Box<Expr>),
        Known(u16),
        Local(u8),
        Un(Op, Box<Expr>),
        Bin(Op, Box<Expr>, Box<Expr>),
        Between(Op, Box<Expr>, Box<Expr>, Box<Expr>),
        InSet(Op, u16, u16, Box<Expr>),
        /// `a and b` compiled with a `JumpIfFalse` short circuit.
        AndSc(Box<Expr>, Box<Expr>),
        /// `a or b` compiled with a `JumpIfTrue` short circuit.
        OrSc(Box<Expr>, Box<Expr>),
    }

    const REQUIRED: [u16; 13] = [0, 1, 2, 3, 4, 6, 7, 10, 11, 12, 13, 14, 15];
    const OPTIONAL: [u16; 6] = [5, 8, 9, 16, 17, 18];
    const LOCALS: u8 = 3;

    /// Leaves for the gate record, or the device record (with locals when `locals`).
    fn leaf(gate: bool, locals: bool, n_consts: u16) -> BoxedStrategy<Expr> {
        if gate {
            prop_oneof![
                (0..n_consts).prop_map(Expr::Const),
                (0u16..34).prop_map(Expr::Load)
            ]
            .boxed()
        } else if locals {
            prop_oneof![
                (0..n_consts).prop_map(Expr::Const),
                proptest::sample::select(&REQUIRED[..]).prop_map(Expr::Load),
                proptest::sample::select(&OPTIONAL[..]).prop_map(Expr::Known),
                (0..LOCALS).prop_map(Expr::Local),
            ]
            .boxed()
        } else {
            prop_oneof![
                (0..n_consts).prop_map(Expr::Const),
                proptest::sample::select(&REQUIRED[..]).prop_map(Expr::Load),
                proptest::sample::select(&OPTIONAL[..]).prop_map(Expr::Known),
            ]
            .boxed()
        }
    }

    fn expr(gate: bool, locals: bool, n_consts: u16) -> impl Strategy<Value = Expr> {
        use Op::*;
        let un = [NegI, AbsI, NegF, AbsF, I2F, Not];
        let bin = [
            AddI, SubI, MulI, DivI, MinI, MaxI, AddF, SubF, MulF, DivF, MinF, MaxF, Eq, Ne, EqF,
            NeF, LtI, LeI, GtI, GeI, LtU, LeU, GtU, GeU, LtF, LeF, GtF, GeF, And, Or,
        ];
        leaf(gate, locals, n_consts).prop_recursive(5, 40, 3, move |inner| {
            let b = || inner.clone().prop_map(Box::new);
            let load_or: BoxedStrategy<Expr> = if gate {
                inner.clone()
            } else {
                (proptest::sample::select(&OPTIONAL[..]), b())
                    .prop_map(|(s, d)| Expr::LoadOr(s, d))
                    .boxed()
            };
            prop_oneof![
                (proptest::sample::select(un.to_vec()), b()).prop_map(|(op, a)| Expr::Un(op, a)),
                (proptest::sample::select(bin.to_vec()), b(), b())
                    .prop_map(|(op, x, y)| Expr::Bin(op, x, y)),
                (
                    proptest::sample::select(vec![BetweenI, BetweenU, BetweenF]),
                    b(),
                    b(),
                    b()
                )
                    .prop_map(|(op, x, lo, hi)| Expr::Between(op, x, lo, hi)),
                (
                    proptest::sample::select(vec![InSetI(0, 0), InSetF(0, 0)]),
                    0..n_consts - 3,
                    0u16..4,
                    b()
                )
                    .prop_map(|(op, k, n, x)| Expr::InSet(op, k, n, x)),
                (b(), b()).prop_map(|(x, y)| Expr::AndSc(x, y)),
                (b(), b()).prop_map(|(x, y)| Expr::OrSc(x, y)),
                load_or,
            ]
        })
    }

    fn compile(e: &Expr, asm: &mut Asm) {
        match e {
            Expr::Const(k) => {
                asm.op(Op::Const(*k));
            }
            Expr::Load(s) => {
                asm.op(Op::Load(*s));
            }
            Expr::Known(s) => {
                asm.op(Op::Known(*s));
            }
            Expr::Local(l) => {
                asm.op(Op::LocalGet(*l));
            }
            Expr::LoadOr(s, d) => {
                let l = asm.label();
                let s = *s;
                asm.jump(move |off| Op::LoadOr(s, off), l);
                compile(d, asm);
                asm.bind(l);
            }
            Expr::Un(op, a) => {
                compile(a, asm);
                asm.op(*op);
            }
            Expr::Bin(op, a, b) => {
                compile(a, asm);
                compile(b, asm);
                asm.op(*op);
            }
            Expr::Between(op, x, lo, hi) => {
                compile(x, asm);
                compile(lo, asm);
                compile(hi, asm);
                asm.op(*op);
            }
            Expr::InSet(op, k, n, x) => {
                compile(x, asm);
                asm.op(match op {
                    Op::InSetI(..) => Op::InSetI(*k, *n),
                    _ => Op::InSetF(*k, *n),
                });
            }
            Expr::AndSc(a, b) | Expr::OrSc(a, b) => {
                let l = asm.label();
                compile(a, asm);
                let (jump, combine): (fn(u16) -> Op, Op) = if matches!(e, Expr::AndSc(..)) {
                    (Op::JumpIfFalse, Op::And)
                } else {
                    (Op::JumpIfTrue, Op::Or)
                };
                asm.jump(jump, l);
                compile(b, asm);
                asm.op(combine).bind(l);
            }
        }
    }

    type V = (u64, bool);
    const ERR: V = (0, true);

    /// The reference semantics, written from the spec independently of the interpreter.
    fn apply(op: Op, args: &[V]) -> V {
        use Op::*;
        let i = |v: u64| v as i64;
        let f = f64::from_bits;
        let b = |x: bool| (u64::from(x), false);
        let fin = |x: f64| {
            if x.is_finite() {
                (x.to_bits(), false)
            } else {
                ERR
            }
        };
        let int = |x: Option<i64>| x.map_or(ERR, |v| (v as u64, false));
        match (op, args) {
            (Not, [(v, e)]) => {
                if *e {
                    ERR
                } else {
                    b(*v == 0)
                }
            }
            (And, [(a, ea), (c, ec)]) => {
                if (!ea && *a == 0) || (!ec && *c == 0) {
                    b(false)
                } else if *ea || *ec {
                    ERR
                } else {
                    b(true)
                }
            }
            (Or, [(a, ea), (c, ec)]) => {
                if (!ea && *a != 0) || (!ec && *c != 0) {
                    b(true)
                } else if *ea || *ec {
                    ERR
                } else {
                    b(false)
                }
            }
            (_, args) if args.iter().any(|a| a.1) => ERR,
            (NegI, [(a, _)]) => int(i(*a).checked_neg()),
            (AbsI, [(a, _)]) => int(i(*a).checked_abs()),
            (NegF, [(a, _)]) => ((-f(*a)).to_bits(), false),
            (AbsF, [(a, _)]) => (a & !(1 << 63), false),
            (I2F, [(a, _)]) => ((i(*a) as f64).to_bits(), false),
            (AddI, [(a, _), (c, _)]) => int(i(*a).checked_add(i(*c))),
            (SubI, [(a, _), (c, _)]) => int(i(*a).checked_sub(i(*c))),
            (MulI, [(a, _), (c, _)]) => int(i(*a).checked_mul(i(*c))),
            (DivI, [(a, _), (c, _)]) => {
                if *c == 0 || (i(*a) == i64::MIN && i(*c) == -1) {
                    ERR
                } else {
                    (i(*a).wrapping_div(i(*c)) as u64, false)
                }
            }
            (MinI, [(a, _), (c, _)]) => (if i(*a) <= i(*c) { *a } else { *c }, false),
            (MaxI, [(a, _), (c, _)]) => (if i(*a) >= i(*c) { *a } else { *c }, false),
            (AddF, [(a, _), (c, _)]) => fin(f(*a) + f(*c)),
            (SubF, [(a, _), (c, _)]) => fin(f(*a) - f(*c)),
            (MulF, [(a, _), (c, _)]) => fin(f(*a) * f(*c)),
            (DivF, [(a, _), (c, _)]) => fin(f(*a) / f(*c)),
            (MinF, [(a, _), (c, _)]) => (if f(*a) <= f(*c) { *a } else { *c }, false),
            (MaxF, [(a, _), (c, _)]) => (if f(*a) >= f(*c) { *a } else { *c }, false),
            (Eq, [(a, _), (c, _)]) => b(a == c),
            (Ne, [(a, _), (c, _)]) => b(a != c),
            (EqF, [(a, _), (c, _)]) => b(f(*a) == f(*c)),
            (NeF, [(a, _), (c, _)]) => b(f(*a) != f(*c)),
            (LtI, [(a, _), (c, _)]) => b(i(*a) < i(*c)),
            (LeI, [(a, _), (c, _)]) => b(i(*a) <= i(*c)),
            (GtI, [(a, _), (c, _)]) => b(i(*a) > i(*c)),
            (GeI, [(a, _), (c, _)]) => b(i(*a) >= i(*c)),
            (LtU, [(a, _), (c, _)]) => b(a < c),
            (LeU, [(a, _), (c, _)]) => b(a <= c),
            (GtU, [(a, _), (c, _)]) => b(a > c),
            (GeU, [(a, _), (c, _)]) => b(a >= c),
            (LtF, [(a, _), (c, _)]) => b(f(*a) < f(*c)),
            (LeF, [(a, _), (c, _)]) => b(f(*a) <= f(*c)),
            (GtF, [(a, _), (c, _)]) => b(f(*a) > f(*c)),
            (GeF, [(a, _), (c, _)]) => b(f(*a) >= f(*c)),
            (BetweenI, [(x, _), (lo, _), (hi, _)]) => b(i(*lo) <= i(*x) && i(*x) <= i(*hi)),
            (BetweenU, [(x, _), (lo, _), (hi, _)]) => b(lo <= x && x <= hi),
            (BetweenF, [(x, _), (lo, _), (hi, _)]) => b(f(*lo) <= f(*x) && f(*x) <= f(*hi)),
            _ => panic!("no reference semantics for {op:?} on {args:?}"),
        }
    }

    struct Env<'a> {
        consts: &'a [u64],
        slots: &'a [u64],
        missing: u64,
        locals: [V; LOCALS as usize],
    }

    fn eval(e: &Expr, env: &Env) -> V {
        match e {
            Expr::Const(k) => (env.consts[usize::from(*k)], false),
            Expr::Load(s) => (env.slots[usize::from(*s)], false),
            Expr::Known(s) => ((env.missing >> s & 1 == 0).into(), false),
            Expr::Local(l) => env.locals[usize::from(*l)],
            Expr::LoadOr(s, d) => {
                if env.missing >> s & 1 == 1 {
                    eval(d, env)
                } else {
                    (env.slots[usize::from(*s)], false)
                }
            }
            Expr::Un(op, a) => apply(*op, &[eval(a, env)]),
            Expr::Bin(op, a, b) => apply(*op, &[eval(a, env), eval(b, env)]),
            Expr::AndSc(a, b) => apply(Op::And, &[eval(a, env), eval(b, env)]),
            Expr::OrSc(a, b) => apply(Op::Or, &[eval(a, env), eval(b, env)]),
            Expr::Between(op, x, lo, hi) => {
                apply(*op, &[eval(x, env), eval(lo, env), eval(hi, env)])
            }
            Expr::InSet(op, k, n, x) => {
                let (v, e) = eval(x, env);
                if e {
                    return ERR;
                }
                let set = &env.consts[usize::from(*k)..usize::from(*k + *n)];
                let hit = match op {
                    Op::InSetI(..) => set.contains(&v),
                    _ => set.iter().any(|c| f64::from_bits(*c) == f64::from_bits(v)),
                };
                (hit.into(), false)
            }
        }
    }

    fn cond_of((v, e): V) -> Cond {
        if e {
            Cond::Error
        } else if v != 0 {
            Cond::True
        } else {
            Cond::False
        }
    }

    fn value() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(1u64),
            Just(u64::MAX),
            Just(i64::MIN as u64),
            Just(i64::MAX as u64),
            Just(f64::NAN.to_bits()),
            Just(f64::INFINITY.to_bits()),
            Just((-0.0f64).to_bits()),
            (-5i64..5).prop_map(|v| v as u64),
            (-1e3f64..1e3).prop_map(f64::to_bits),
            any::<u64>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn interpreter_agrees_with_the_reference(
            gate in any::<bool>(),
            prologue in proptest::collection::vec(expr(false, false, 20), LOCALS as usize),
            clauses in proptest::collection::vec(expr(false, true, 20), 1..=5),
            gate_clauses in proptest::collection::vec(expr(true, false, 20), 1..=5),
            // A rule scope around the rails clauses, compiled as `scope JumpIfFalse L (Dup e And
            // Emit)* L: Pop`; the interpreter if-converts it when that is unobservable.
            scope in proptest::option::of(expr(false, true, 20)),
            extra_consts in proptest::collection::vec(value(), 20),
            slots in proptest::collection::vec(value(), 34),
            missing in any::<u64>(),
        ) {
            // Arbitrary constants; the sample's other functions index fewer than 20, so they still verify.
            let mut a = sample();
            a.consts = extra_consts;
            // Rails (function 0, clauses 0..5) or gate 0 (function 4, clauses 11..16).
            let (f, first, exprs) = if gate { (4, 11u16, &gate_clauses) } else { (0, 0u16, &clauses) };
            let mut asm = Asm::new();
            if !gate {
                for (l, e) in prologue.iter().enumerate() {
                    compile(e, &mut asm);
                    asm.op(Op::LocalSet(l as u8));
                }
            }
            let scope = scope.filter(|_| !gate);
            let end = asm.label();
            if let Some(sc) = &scope {
                compile(sc, &mut asm);
                asm.jump(Op::JumpIfFalse, end);
            }
            for (i, e) in exprs.iter().enumerate() {
                if scope.is_some() {
                    asm.op(Op::Dup);
                }
                compile(e, &mut asm);
                if scope.is_some() {
                    asm.op(Op::And);
                }
                asm.op(Op::Emit(first + i as u16));
            }
            if scope.is_some() {
                asm.bind(end).op(Op::Pop);
            }
            let (code, cost) = asm.finish();
            a.functions[f].code = code;
            a.functions[f].cost = cost;
            a.functions[f].max_stack = 64;
            let policy = crate::verify::verify_artifact(a)
                .unwrap_or_else(|e| panic!("generated code failed to verify: {e}"));
            let kind = if gate { FunctionKind::Gate(0) } else { FunctionKind::Rails };
            let fid = policy.function(kind).unwrap();
            let n = policy.record_len(policy.layout(fid).unwrap());
            let record_slots = &slots[..n];
            let req = policy.required_mask(policy.layout(fid).unwrap())[0];
            let missing = missing & !req;
            let mut bits = ClauseBits::for_policy(&policy);
            run(&policy, fid, &Record { slots: record_slots, missing: &[missing] }, &mut bits).unwrap();
            // The batched interpreter on the same record, twice over (a block of two lanes).
            let words = ClauseBits::words_for(policy.n_clauses());
            let two: Vec<u64> = record_slots.iter().chain(record_slots).copied().collect();
            let (mut t, mut e) = (vec![0u64; 2 * words], vec![0u64; 2 * words]);
            run_batch(&policy, fid, &two, &[missing, missing], &mut t, &mut e).unwrap();
            let mut row = ClauseBits::for_policy(&policy);
            for r in 0..2 {
                prop_assert!(row.load_words(&t[r * words..(r + 1) * words], &e[r * words..(r + 1) * words]));
                prop_assert_eq!(&row, &bits, "batch row {}", r);
            }

            let mut env = Env { consts: &policy.artifact().consts, slots: record_slots, missing, locals: [(0, false); 3] };
            if !gate {
                for (l, e) in prologue.iter().enumerate() {
                    env.locals[l] = eval(e, &env);
                }
            }
            let sv = scope.as_ref().map(|sc| eval(sc, &env));
            for (i, e) in exprs.iter().enumerate() {
                let c = ClauseId(first + i as u16);
                let expect = match sv {
                    None => cond_of(eval(e, &env)),
                    // A definitely false scope skips its clauses: never emitted, so false.
                    Some((0, false)) => Cond::False,
                    Some(sv) => cond_of(apply(Op::And, &[sv, eval(e, &env)])),
                };
                prop_assert_eq!(bits.cond(c), Some(expect), "clause {:?} = {:?} in {:?}", c, e, scope);
            }
        }
    }
}
