//! A model interpreter written from `docs/bytecode.md`, for tests and fuzzing (shared by
//! `runtime/tests/hostile.rs` and `fuzz/fuzz_targets/interp.rs`): in go a verified policy, a function
//! and a record; out come the function's clause conditions and the steps it took, and a panic wherever
//! a promise of the verifier does not hold: more steps than the cost bound, a stack deeper than
//! `max_stack`, an out-of-range slot, constant, local or clause, a local read before it is written.
//! [`run_everything`] runs every function of a policy on both the model and the interpreter, demands
//! identical conditions, and feeds the result through every decision.

use fleetgate_runtime::decision;
use fleetgate_runtime::interp::{ClauseBits, ClauseId, Cond, Record, run};
use fleetgate_runtime::op::Op;
use fleetgate_runtime::verify::{FnId, Layout, Policy};

/// A stack entry: value and error flag (an erroneous entry has value 0).
type E = (u64, bool);

const ERR: E = (0, true);

fn ok(v: u64) -> E {
    (v, false)
}

fn bool_e(b: bool) -> E {
    ok(u64::from(b))
}

fn int2(a: E, b: E, f: impl Fn(i64, i64) -> Option<i64>) -> E {
    if a.1 || b.1 {
        return ERR;
    }
    f(a.0 as i64, b.0 as i64).map_or(ERR, |v| ok(v as u64))
}

fn float2(a: E, b: E, f: impl Fn(f64, f64) -> f64) -> E {
    if a.1 || b.1 {
        return ERR;
    }
    let v = f(f64::from_bits(a.0), f64::from_bits(b.0));
    if v.is_finite() { ok(v.to_bits()) } else { ERR }
}

fn cmp(a: E, b: E, f: impl Fn(u64, u64) -> bool) -> E {
    if a.1 || b.1 { ERR } else { bool_e(f(a.0, b.0)) }
}

fn fl(v: u64) -> f64 {
    f64::from_bits(v)
}

/// Runs `f` on the model; panics (fails the test) where the verifier's promises do not hold.
/// Returns the condition of every clause of the function, and the steps taken.
pub fn model(policy: &Policy, f: FnId, record: &Record) -> (Vec<Cond>, usize) {
    let def = policy.function_def(f).unwrap();
    let code = policy.code(f).unwrap();
    let cost = def.cost as usize;
    assert_eq!(code.len(), cost, "the cost bound is the instruction count");
    let range = def.clause_range();
    let consts = &policy.artifact().consts;
    let mut conds = vec![Cond::False; range.len()];
    let mut stack: Vec<E> = Vec::with_capacity(64);
    let mut locals: Vec<Option<E>> = vec![None; usize::from(def.n_locals)];
    let max_stack = usize::from(def.max_stack);
    let present = |s: u16| {
        let s = usize::from(s);
        assert!(s < record.slots.len(), "slot {s} out of range");
        record
            .missing
            .get(s / 64)
            .is_none_or(|w| w >> (s % 64) & 1 == 0)
    };
    let slot = |s: u16| *record.slots.get(usize::from(s)).expect("slot in range");
    let mut pc = 0usize;
    let mut steps = 0usize;
    while pc < code.len() {
        steps += 1;
        assert!(steps <= cost, "more steps than the cost bound {cost}");
        let op = code[pc];
        let mut next = pc + 1;
        macro_rules! pop {
            () => {
                stack.pop().expect("no underflow")
            };
        }
        let push = |stack: &mut Vec<E>, e: E| {
            stack.push(if e.1 { ERR } else { e });
            assert!(stack.len() <= max_stack, "stack deeper than {max_stack}");
        };
        match op {
            Op::Const(k) => push(
                &mut stack,
                ok(*consts.get(usize::from(k)).expect("const in range")),
            ),
            Op::Load(s) => {
                assert!(present(s), "`Load` of a missing slot");
                push(&mut stack, ok(slot(s)));
            }
            Op::LoadOr(s, off) => {
                if present(s) {
                    push(&mut stack, ok(slot(s)));
                    next += usize::from(off);
                }
            }
            Op::Known(s) => push(&mut stack, bool_e(present(s))),
            Op::Dup => {
                let t = *stack.last().expect("no underflow");
                push(&mut stack, t);
            }
            Op::Pop => {
                pop!();
            }
            Op::LocalSet(l) => {
                let v = pop!();
                *locals.get_mut(usize::from(l)).expect("local in range") = Some(v);
            }
            Op::LocalGet(l) => {
                let v = locals
                    .get(usize::from(l))
                    .expect("local in range")
                    .expect("local written");
                push(&mut stack, v);
            }
            Op::LocalTee(l) => {
                let v = *stack.last().expect("no underflow");
                *locals.get_mut(usize::from(l)).expect("local in range") = Some(v);
            }
            Op::I2F => {
                let a = pop!();
                push(
                    &mut stack,
                    if a.1 {
                        ERR
                    } else {
                        ok(((a.0 as i64) as f64).to_bits())
                    },
                );
            }
            Op::NegI | Op::AbsI | Op::NegF | Op::AbsF | Op::Not => {
                let a = pop!();
                let r = if a.1 {
                    ERR
                } else {
                    match op {
                        Op::NegI => (a.0 as i64).checked_neg().map_or(ERR, |v| ok(v as u64)),
                        Op::AbsI => (a.0 as i64).checked_abs().map_or(ERR, |v| ok(v as u64)),
                        Op::NegF => ok(a.0 ^ (1 << 63)),
                        Op::AbsF => ok(a.0 & !(1 << 63)),
                        _ => bool_e(a.0 == 0),
                    }
                };
                push(&mut stack, r);
            }
            Op::BetweenI | Op::BetweenU | Op::BetweenF => {
                let hi = pop!();
                let lo = pop!();
                let x = pop!();
                let r = if x.1 || lo.1 || hi.1 {
                    ERR
                } else {
                    bool_e(match op {
                        Op::BetweenI => {
                            (lo.0 as i64) <= (x.0 as i64) && (x.0 as i64) <= (hi.0 as i64)
                        }
                        Op::BetweenU => lo.0 <= x.0 && x.0 <= hi.0,
                        _ => fl(lo.0) <= fl(x.0) && fl(x.0) <= fl(hi.0),
                    })
                };
                push(&mut stack, r);
            }
            Op::InSetI(k, n) | Op::InSetF(k, n) => {
                let x = pop!();
                let (k, n) = (usize::from(k), usize::from(n));
                let set = consts.get(k..k + n).expect("set in range");
                let r = if x.1 {
                    ERR
                } else if matches!(op, Op::InSetI(..)) {
                    bool_e(set.contains(&x.0))
                } else {
                    bool_e(set.iter().any(|&c| fl(c) == fl(x.0)))
                };
                push(&mut stack, r);
            }
            Op::JumpIfFalse(off) => {
                if *stack.last().expect("no underflow") == (0, false) {
                    next += usize::from(off);
                }
            }
            Op::JumpIfTrue(off) => {
                let top = stack.last_mut().expect("no underflow");
                if !top.1 && top.0 != 0 {
                    *top = ok(1);
                    next += usize::from(off);
                }
            }
            Op::Emit(c) => {
                let v = pop!();
                let c = usize::from(c);
                assert!(range.contains(&c), "`Emit` of clause {c} outside {range:?}");
                conds[c - range.start] = if v.1 {
                    Cond::Error
                } else if v.0 != 0 {
                    Cond::True
                } else {
                    Cond::False
                };
            }
            _ => {
                // Every other op is binary: pops b, then a.
                let b = pop!();
                let a = pop!();
                let r = match op {
                    Op::AddI => int2(a, b, i64::checked_add),
                    Op::SubI => int2(a, b, i64::checked_sub),
                    Op::MulI => int2(a, b, i64::checked_mul),
                    Op::DivI => int2(a, b, i64::checked_div),
                    Op::MinI => int2(a, b, |x, y| Some(if x <= y { x } else { y })),
                    Op::MaxI => int2(a, b, |x, y| Some(if x >= y { x } else { y })),
                    Op::AddF => float2(a, b, |x, y| x + y),
                    Op::SubF => float2(a, b, |x, y| x - y),
                    Op::MulF => float2(a, b, |x, y| x * y),
                    Op::DivF => float2(a, b, |x, y| x / y),
                    // Min/max of any bits, finite or not, is one of the operands.
                    Op::MinF if !(a.1 || b.1) => ok(if fl(a.0) <= fl(b.0) { a.0 } else { b.0 }),
                    Op::MaxF if !(a.1 || b.1) => ok(if fl(a.0) >= fl(b.0) { a.0 } else { b.0 }),
                    Op::MinF | Op::MaxF => ERR,
                    Op::Eq => cmp(a, b, |x, y| x == y),
                    Op::Ne => cmp(a, b, |x, y| x != y),
                    Op::EqF => cmp(a, b, |x, y| fl(x) == fl(y)),
                    Op::NeF => cmp(a, b, |x, y| fl(x) != fl(y)),
                    Op::LtI => cmp(a, b, |x, y| (x as i64) < (y as i64)),
                    Op::LeI => cmp(a, b, |x, y| (x as i64) <= (y as i64)),
                    Op::GtI => cmp(a, b, |x, y| (x as i64) > (y as i64)),
                    Op::GeI => cmp(a, b, |x, y| (x as i64) >= (y as i64)),
                    Op::LtU => cmp(a, b, |x, y| x < y),
                    Op::LeU => cmp(a, b, |x, y| x <= y),
                    Op::GtU => cmp(a, b, |x, y| x > y),
                    Op::GeU => cmp(a, b, |x, y| x >= y),
                    Op::LtF => cmp(a, b, |x, y| fl(x) < fl(y)),
                    Op::LeF => cmp(a, b, |x, y| fl(x) <= fl(y)),
                    Op::GtF => cmp(a, b, |x, y| fl(x) > fl(y)),
                    Op::GeF => cmp(a, b, |x, y| fl(x) >= fl(y)),
                    // Kleene: a definite false decides `and`, a definite true decides `or`.
                    Op::And if a == (0, false) || b == (0, false) => ok(0),
                    Op::Or if (!a.1 && a.0 != 0) || (!b.1 && b.0 != 0) => ok(1),
                    Op::And | Op::Or if a.1 || b.1 => ERR,
                    Op::And => ok(1),
                    Op::Or => ok(0),
                    other => panic!("the model does not know `{}`", other.mnemonic()),
                };
                push(&mut stack, r);
            }
        }
        pc = next;
        assert!(pc <= code.len(), "jump past the end");
    }
    assert!(stack.is_empty(), "stack not empty at the end");
    (conds, steps)
}

/// A record for function `f` from `seed`: slots cycle through it, and optional slots are missing
/// where a seed word says so (never a slot that may not be missing).
pub fn record_for(policy: &Policy, f: FnId, seed: &[u64]) -> (Vec<u64>, Vec<u64>) {
    let layout = policy.layout(f).unwrap();
    let n = policy.record_len(layout);
    let slots: Vec<u64> = (0..n)
        .map(|i| {
            seed.get(i % seed.len().max(1))
                .copied()
                .unwrap_or(0)
                .rotate_left(i as u32)
        })
        .collect();
    let mut missing = vec![0u64; policy.missing_words(layout)];
    if layout == Layout::Device {
        let mask = seed.first().copied().unwrap_or(0) ^ seed.last().copied().unwrap_or(0);
        for (i, _) in policy
            .artifact()
            .optional
            .iter()
            .enumerate()
            .filter(|(_, o)| **o)
        {
            if mask >> (i % 64) & 1 != 0 {
                missing[i / 64] |= 1 << (i % 64);
            }
        }
    }
    (slots, missing)
}

/// Every function of `policy` on records from `seed`: the interpreter succeeds, the model agrees with
/// it clause by clause and stays within the cost bound; the decisions built on the result never panic.
pub fn run_everything(policy: &Policy, seed: &[u64]) {
    let mut bits = ClauseBits::for_policy(policy);
    for i in 0..policy.artifact().functions.len() {
        let f = FnId(u8::try_from(i).unwrap());
        let (slots, missing) = record_for(policy, f, seed);
        let record = Record {
            slots: &slots,
            missing: &missing,
        };
        run(policy, f, &record, &mut bits).expect("a verified policy runs on a well-formed record");
        let (conds, steps) = model(policy, f, &record);
        assert!(steps <= policy.function_def(f).unwrap().cost as usize);
        let range = policy.function_def(f).unwrap().clause_range();
        for (c, want) in range.zip(conds) {
            let c = ClauseId(u16::try_from(c).unwrap());
            assert_eq!(bits.cond(c), Some(want), "function {i}, clause {}", c.0);
        }
    }
    let n = usize::from(policy.n_planes());
    let versions: Vec<u64> = (0..n)
        .map(|p| seed.get(p % seed.len()).copied().unwrap_or(0))
        .collect();
    let targets: Vec<Option<u64>> = versions.iter().map(|v| Some(v.wrapping_add(1))).collect();
    let _ = decision::rails(policy, &bits);
    let mut counters = vec![1u8; usize::from(policy.artifact().n_counters)];
    let _ = decision::health(policy, &bits, &mut counters, &versions);
    let _ = decision::install_order(policy, &versions, &targets, &bits);
    let _ = decision::consistent(policy, &versions, &bits);
    let planes = fleetgate_runtime::value::PlaneSet(u16::MAX >> (16 - n.min(16)));
    let _ = decision::rollback_closure(policy, planes, &versions);
    let _ = decision::rollback_order(policy, planes, &versions);
    for g in 0..policy.artifact().rollout.gates.len() {
        if let Some(mut acc) = decision::GateAcc::new(policy, u8::try_from(g).unwrap()) {
            acc.add_whole(&bits);
            let _ = acc.finish(seed.first().copied().unwrap_or(0) as i64);
        }
    }
}
