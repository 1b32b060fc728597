//! Superinstructions: in go a function's verified ops (jumps counted in instructions), out come the
//! instructions the interpreter dispatches on, with the commonest compiler idioms fused into one
//! dispatch each and jumps re-counted.
//!
//! Fusion is an optimisation only: every op of the table runs unfused as `Inst::Op`, so a new op needs
//! no change here. Ops are fused only when no jump lands inside the fused group.
//!
//! Forward jumps are if-converted where that is unobservable, because on random records a
//! data-dependent branch costs more than the ops it skips:
//! - a short circuit, `JumpIfFalse` over code that ends in the `And` it skips to (or `JumpIfTrue` …
//!   `Or`), whose skipped code has no effect but its value (no `Emit`, no jump out, never touching
//!   the stack below the tested value, no write of a local that is read after the target without
//!   being written again): `false and E` is `false` whatever `E` is, errors included;
//! - a rule scope, `JumpIfFalse` over the rule's clauses, when an abstract interpretation of the
//!   skipped code under "the tested value is false" shows that every `Emit` it reaches emits a
//!   definite false (`scope and cond`) for a clause emitted nowhere else — which is what the clause
//!   reads when it is not emitted at all — with no visible local write (as above), no jump out, and
//!   the tested value left in place.
//!
//! Once a rule scope's jump is gone, its last clause drops the scope's copy: `Dup; E; And; Emit c;
//! Pop` runs as `E; And; Emit c` (see [`drop_last_scope_copies`]).

use crate::op::{Op, Rel};
use alloc::vec;
use alloc::vec::Vec;

/// A comparison op, for fused instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    EqF,
    NeF,
    LtI,
    LeI,
    GtI,
    GeI,
    LtU,
    LeU,
    GtU,
    GeU,
    LtF,
    LeF,
    GtF,
    GeF,
}

impl Cmp {
    pub(crate) fn of(op: Op) -> Option<Cmp> {
        Some(match op {
            Op::Eq => Cmp::Eq,
            Op::Ne => Cmp::Ne,
            Op::EqF => Cmp::EqF,
            Op::NeF => Cmp::NeF,
            Op::LtI => Cmp::LtI,
            Op::LeI => Cmp::LeI,
            Op::GtI => Cmp::GtI,
            Op::GeI => Cmp::GeI,
            Op::LtU => Cmp::LtU,
            Op::LeU => Cmp::LeU,
            Op::GtU => Cmp::GtU,
            Op::GeU => Cmp::GeU,
            Op::LtF => Cmp::LtF,
            Op::LeF => Cmp::LeF,
            Op::GtF => Cmp::GtF,
            Op::GeF => Cmp::GeF,
            _ => return None,
        })
    }

    /// `a cmp b` with the semantics of the op it came from. (A branch-free form that computes every
    /// domain and selects was measured slower: this small dispatch predicts well.)
    #[inline(always)]
    pub(crate) fn eval(self, a: u64, b: u64) -> bool {
        let (i, f) = (|v: u64| v as i64, f64::from_bits);
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::EqF => f(a) == f(b),
            Cmp::NeF => f(a) != f(b),
            Cmp::LtI => i(a) < i(b),
            Cmp::LeI => i(a) <= i(b),
            Cmp::GtI => i(a) > i(b),
            Cmp::GeI => i(a) >= i(b),
            Cmp::LtU => a < b,
            Cmp::LeU => a <= b,
            Cmp::GtU => a > b,
            Cmp::GeU => a >= b,
            Cmp::LtF => f(a) < f(b),
            Cmp::LeF => f(a) <= f(b),
            Cmp::GtF => f(a) > f(b),
            Cmp::GeF => f(a) >= f(b),
        }
    }
}

/// The number kind of a `Between` op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Num {
    I,
    U,
    F,
}

impl Num {
    /// `a <= b` for this kind.
    #[inline(always)]
    pub(crate) fn le(self, a: u64, b: u64) -> bool {
        match self {
            Num::I => (a as i64) <= (b as i64),
            Num::U => a <= b,
            Num::F => f64::from_bits(a) <= f64::from_bits(b),
        }
    }
}

/// Generates [`Inst`]: one variant per op of the table, plus the fused groups.
macro_rules! insts {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident $( ( $($arg:ident : $ty:ident),+ ) )? = $code:literal,
            [$pops:literal => $pushes:literal $(| $bpushes:literal)?];
    )*) => {
        /// An instruction as dispatched: an op of the table (flat, so dispatch is one jump table), or
        /// a fused group.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Inst {
            $( $(#[doc = $doc])* $name $( ( $($ty),+ ) )?, )*
            /// `Load s; Const k; <cmp>`: push `slot[s] cmp consts[k]`.
            CmpSK(Cmp, u16, u16),
            /// `Const k; <cmp>`: replace the top `x` with `x cmp consts[k]`.
            CmpK(Cmp, u16),
            /// `Load s; Const lo; Const hi; Between…`: push `lo <= slot[s] <= hi`.
            BetweenSKK(Num, u16, u16, u16),
            /// `Load s; InSet… k n`: push whether `slot[s]` is in `consts[k .. k + n]` (`true`: IEEE).
            InSetS(bool, u16, u16, u16),
            /// `LoadOr s +1; Const k`: push slot `s`, or `consts[k]` when it is missing.
            LoadOrK(u16, u16),
            /// `And; Emit c`: a rule's scope and a clause's condition, emitted.
            AndEmit(u16),
            /// `Load s; Const k; <cmp>; Emit c`: emit `slot[s] cmp consts[k]` as clause `c`.
            CmpSKEmit(Cmp, u16, u16, u16),
            /// `Dup; Load s; Const k; <cmp>; And; Emit c`: emit `top and slot[s] cmp consts[k]` as
            /// clause `c`, keeping the top (a rule scope).
            ScopedCmpEmit(Cmp, u16, u16, u16),
            /// `Load s; Not; And; Emit c`: emit `top and not slot[s]` as clause `c`, popping the top.
            AndNotSEmit(u16, u16),
            /// `Load s; Const k; <cmp>; And; Emit c`: emit `top and slot[s] cmp consts[k]` as clause
            /// `c`, popping the top (the second operand of an `and`).
            AndCmpSKEmit(Cmp, u16, u16, u16),
            /// `Not; And; Emit c`: emit `below and not top` as clause `c`, popping both.
            AndNotEmit(u16),
        }

        impl Inst {
            fn from_op(op: Op) -> Inst {
                match op {
                    $( Op::$name $( ( $($arg),+ ) )? => Inst::$name $( ( $($arg),+ ) )?, )*
                }
            }
        }
    };
}

crate::op::op_table!(insts);

/// Jumps that may be dropped (see the module header): `drop[j]` for a `JumpIf…` at `j`. Native code
/// drops the same jumps (their selects would cost more than the code they skip).
pub(crate) fn droppable_jumps(code: &[Op]) -> Vec<bool> {
    let n = code.len();
    let depth = depths(code);
    // Locals written on every path to each instruction (as the verifier computes it). A local write
    // in skipped code is unobservable after the jump's target `t` when the local is not written on
    // some path to `t`: every read after `t` then needs a write after `t` on every path (the
    // verifier requires it), which overwrites what the skipped code wrote.
    let mut written = vec![u64::MAX; n + 1];
    if let Some(first) = written.first_mut() {
        *first = 0;
    }
    for (i, op) in code.iter().enumerate() {
        let w = written.get(i).copied().unwrap_or(0);
        let out = match *op {
            Op::LocalSet(l) | Op::LocalTee(l) => w | 1u64 << (l % 64),
            _ => w,
        };
        if let Some(next) = written.get_mut(i + 1) {
            *next &= out;
        }
        if let Some(target) = op
            .branch()
            .and_then(|d| written.get_mut(i + 1 + usize::from(d)))
        {
            *target &= out;
        }
    }
    // Whether `op`, in code skipped up to `t`, has an effect visible after `t`.
    let effect = |op: Op, t: usize| match op {
        Op::Emit(_) => true,
        Op::LocalSet(l) | Op::LocalTee(l) => {
            written.get(t).copied().unwrap_or(u64::MAX) >> (l % 64) & 1 != 0
        }
        _ => false,
    };
    let mut drop = vec![false; n];
    for (j, op) in code.iter().enumerate() {
        let (combine, d) = match *op {
            Op::JumpIfFalse(d) => (Op::And, d),
            Op::JumpIfTrue(d) => (Op::Or, d),
            _ => continue,
        };
        let t = j + 1 + usize::from(d);
        if t < j + 2 || code.get(t - 1) != Some(&combine) {
            continue;
        }
        // The tested value sits at depth `base - 1`; the skipped code may not pop it.
        let base = depth.get(j).copied().unwrap_or(0);
        let pure = (j + 1..t - 1).all(|i| {
            let Some(op) = code.get(i) else { return false };
            let below = depth
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(consumed(*op));
            let stays = op.branch().is_none_or(|d| i + 1 + usize::from(d) < t);
            below >= base && stays && !effect(*op, t)
        });
        if let Some(slot) = drop.get_mut(j) {
            *slot = pure;
        }
    }
    // Rule scopes, innermost first (an outer region's analysis relies on inner decisions).
    let mut emits: Vec<u8> = Vec::new();
    for op in code {
        if let Op::Emit(c) = *op {
            let c = usize::from(c);
            if emits.len() <= c {
                emits.resize(c + 1, 0);
            }
            if let Some(n) = emits.get_mut(c) {
                *n = n.saturating_add(1);
            }
        }
    }
    for j in (0..n).rev() {
        if let Some(Op::JumpIfFalse(d)) = code.get(j).copied()
            && !drop.get(j).copied().unwrap_or(true)
            && scope_is_unobservable(code, &drop, &emits, &effect, j, j + 1 + usize::from(d))
            && let Some(slot) = drop.get_mut(j)
        {
            *slot = true;
        }
    }
    drop
}

/// The stack depth before each instruction (and at the end). Every op falls through, so one pass
/// along the fall-through path gives every depth (the verifier proved the jump paths agree).
fn depths(code: &[Op]) -> Vec<usize> {
    let mut depth = vec![0usize; code.len() + 1];
    for (i, op) in code.iter().enumerate() {
        let e = op.stack_effect();
        let d = depth.get(i).copied().unwrap_or(0);
        if let Some(next) = depth.get_mut(i + 1) {
            *next = (d + usize::from(e.pushes)).saturating_sub(usize::from(e.pops));
        }
    }
    depth
}

/// A rule scope's last clause, `Dup; E; And; Emit c; Pop` with the scope's jump dropped, is
/// `E; And; Emit c`: the copy the `Dup` makes is what the `Pop` removes. Marks such `Dup`/`Pop`
/// pairs in `drop` (which holds the dropped jumps), where `E` pushes one value without reaching
/// below it and no jump that stays lands in the pair's span or leaves `E`.
fn drop_last_scope_copies(code: &[Op], drop: &mut [bool]) {
    let n = code.len();
    let depth = depths(code);
    let kept_jump = |i: usize| {
        let op = code.get(i).copied()?;
        let d = op.branch()?;
        (!drop.get(i).copied().unwrap_or(true)).then_some(i + 1 + usize::from(d))
    };
    // `landing_before[x]`: kept jumps that land before `x`, so that a span's landings cost one
    // subtraction (a function may have thousands of clauses).
    let mut landing_before = vec![0usize; n + 2];
    for t in (0..n).filter_map(kept_jump) {
        if let Some(c) = landing_before.get_mut(t + 1) {
            *c += 1;
        }
    }
    for x in 1..landing_before.len() {
        let prev = landing_before.get(x - 1).copied().unwrap_or(0);
        if let Some(c) = landing_before.get_mut(x) {
            *c += prev;
        }
    }
    let landings = |lo: usize, hi: usize| {
        let at = |x: usize| landing_before.get(x).copied().unwrap_or(0);
        at(hi + 1) - at(lo)
    };
    let mut pairs = Vec::new();
    for p in 3..n {
        let (Some(Op::Pop), Some(Op::Emit(_)), Some(Op::And)) = (
            code.get(p).copied(),
            code.get(p - 1).copied(),
            code.get(p - 2).copied(),
        ) else {
            continue;
        };
        // Walking back over `E` (deeper than the `Pop`), the `Dup` is where the depth first equals
        // the depth at the `Pop`.
        let at_pop = depth.get(p).copied().unwrap_or(0);
        let Some(j) = (0..p - 2)
            .rev()
            .find(|&i| depth.get(i).copied().unwrap_or(0) <= at_pop)
        else {
            continue;
        };
        let e = j + 1..p - 2;
        let balanced = depth.get(j) == Some(&at_pop)
            && code.get(j) == Some(&Op::Dup)
            && e.clone().all(|i| {
                let low = depth.get(i).copied().unwrap_or(0);
                let pops = code.get(i).map_or(0, |op| consumed(*op));
                low >= at_pop + 1 + pops
            });
        // Jumps out of `E` stay inside it (up to the `And`), and no other jump lands in `j ..= p`.
        let mut inside = 0;
        let undisturbed = e.clone().all(|i| match kept_jump(i) {
            None => true,
            Some(t) => {
                inside += 1;
                t <= p - 2
            }
        }) && landings(j, p) == inside;
        if balanced && undisturbed {
            pairs.push((j, p));
        }
    }
    for (j, p) in pairs {
        for i in [j, p] {
            if let Some(slot) = drop.get_mut(i) {
                *slot = true;
            }
        }
    }
}

/// Stack entries an op consumes: its pops, except that `Dup` and the conditional jumps put back what
/// they pop (a jump may normalise a true value, which a region never relies on).
fn consumed(op: Op) -> usize {
    match op {
        Op::Dup | Op::JumpIfFalse(_) | Op::JumpIfTrue(_) => 0,
        op => usize::from(op.stack_effect().pops),
    }
}

/// What the region analysis knows of a stack entry when the scope's tested value is false.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Definitely false: value 0, no error.
    False,
    Unknown,
}

/// Whether dropping the `JumpIfFalse` at `j` (to `t`) is unobservable (see the module header).
/// Abstract interpretation of `j + 1 .. t` assuming the tested value is definitely false; the
/// abstract stack holds the tested value and what the region pushes above it.
fn scope_is_unobservable(
    code: &[Op],
    drop: &[bool],
    emits: &[u8],
    effect: &dyn Fn(Op, usize) -> bool,
    j: usize,
    t: usize,
) -> bool {
    use Known::{False, Unknown};
    if t > code.len() || t <= j + 1 {
        return false;
    }
    let len = t - j;
    // `states[r]`: the abstract stack before instruction `j + r` (`r == len` is `t`).
    let mut states: Vec<Option<Vec<Known>>> = vec![None; len + 1];
    if let Some(first) = states.get_mut(1) {
        *first = Some(vec![False]);
    }
    let merge =
        |states: &mut Vec<Option<Vec<Known>>>, r: usize, st: &[Known]| match states.get_mut(r) {
            Some(slot @ None) => *slot = Some(st.to_vec()),
            Some(Some(old)) if old.len() == st.len() => {
                for (o, n) in old.iter_mut().zip(st) {
                    if *n != False {
                        *o = Unknown;
                    }
                }
            }
            _ => {}
        };
    for r in 1..len {
        let i = j + r;
        let Some(mut st) = states.get(r).cloned().flatten() else {
            continue; // not reached while the scope is false
        };
        let Some(&op) = code.get(i) else { return false };
        if drop.get(i).copied().unwrap_or(false) {
            merge(&mut states, r + 1, &st);
            continue;
        }
        let e = op.stack_effect();
        // The tested value (the bottom entry) is never consumed.
        if st.len() <= consumed(op) {
            return false;
        }
        let top = st.last().copied().unwrap_or(Unknown);
        let within = |d: u16| {
            let tr = r + 1 + usize::from(d);
            (tr <= len).then_some(tr)
        };
        match op {
            Op::Emit(c) => {
                if top != False || emits.get(usize::from(c)).copied() != Some(1) {
                    return false;
                }
                st.pop();
            }
            Op::LocalSet(_) | Op::LocalTee(_) if effect(op, t) => return false,
            Op::Dup => st.push(top),
            Op::And | Op::Or => {
                let b = st.pop().unwrap_or(Unknown);
                let a = st.pop().unwrap_or(Unknown);
                let f = if op == Op::And {
                    a == False || b == False
                } else {
                    a == False && b == False
                };
                st.push(if f { False } else { Unknown });
            }
            Op::JumpIfFalse(d) => {
                let Some(tr) = within(d) else { return false };
                merge(&mut states, tr, &st);
                if top == False {
                    continue; // definitely taken
                }
            }
            Op::JumpIfTrue(d) => {
                let Some(tr) = within(d) else { return false };
                if top != False {
                    let mut taken = st.clone();
                    taken.pop();
                    taken.push(Unknown);
                    merge(&mut states, tr, &taken);
                }
            }
            Op::LoadOr(_, d) => {
                let Some(tr) = within(d) else { return false };
                let mut taken = st.clone();
                taken.push(Unknown);
                merge(&mut states, tr, &taken);
            }
            _ => {
                for _ in 0..e.pops {
                    st.pop();
                }
                for _ in 0..e.pushes {
                    st.push(Unknown);
                }
            }
        }
        merge(&mut states, r + 1, &st);
    }
    // Back at the target, the tested value must be all that is left of the region.
    states
        .get(len)
        .cloned()
        .flatten()
        .is_none_or(|st| st.len() == 1)
}

/// Fuses `code` (verified, jumps counted in instructions) into instructions, re-counting jumps.
pub(crate) fn fuse(code: &[Op]) -> Vec<Inst> {
    let n = code.len();
    let mut drop = droppable_jumps(code);
    drop_last_scope_copies(code, &mut drop);
    // The ops that stay, with their original index; `kept_at[i]` is where original op `i` lands
    // among them (a dropped jump lands on the next op that stays; `n` is the end).
    let mut kept: Vec<(usize, Op)> = Vec::with_capacity(n);
    let mut kept_at = vec![0usize; n + 1];
    for (i, &op) in code.iter().enumerate() {
        if let Some(slot) = kept_at.get_mut(i) {
            *slot = kept.len();
        }
        if !drop.get(i).copied().unwrap_or(false) {
            kept.push((i, op));
        }
    }
    let m = kept.len();
    if let Some(end) = kept_at.get_mut(n) {
        *end = m;
    }
    let target_of =
        |orig: usize, d: u16| kept_at.get(orig + 1 + usize::from(d)).copied().unwrap_or(m);
    // Kept ops that a jump lands on (`m` is the end): a fused group may start there, not continue.
    let mut target = vec![false; m + 1];
    for &(orig, op) in &kept {
        if let Some(slot) = op.branch().and_then(|d| target.get_mut(target_of(orig, d))) {
            *slot = true;
        }
    }
    let ops: Vec<Op> = kept.iter().map(|&(_, op)| op).collect();

    // Fused instructions; a jump stays an op until its offset is re-counted.
    let mut out: Vec<Result<Inst, (usize, Op)>> = Vec::with_capacity(m);
    // `new_index[k]`: the instruction that kept op `k` starts or belongs to; `m` is the end.
    let mut new_index = vec![0usize; m + 1];
    let mut k = 0;
    while let Some(window) = ops.get(k..) {
        let Some(&op) = window.first() else { break };
        let free = |len: usize| (k + 1..k + len).all(|j| !target.get(j).copied().unwrap_or(true));
        // `LoadOr s 1` counts original ops: the `Const` must follow it there too.
        let contiguous = |inst: &Inst| {
            !matches!(inst, Inst::LoadOrK(..))
                || kept.get(k).map(|p| p.0 + 1) == kept.get(k + 1).map(|p| p.0)
        };
        let fused = group(window).filter(|(inst, len)| free(*len) && contiguous(inst));
        let (inst, len) = match fused {
            Some(fused) => (Ok(fused.0), fused.1),
            None if op.branch().is_some() => (Err((kept.get(k).map_or(0, |p| p.0), op)), 1),
            None => (Ok(Inst::from_op(op)), 1),
        };
        for slot in new_index.iter_mut().skip(k).take(len) {
            *slot = out.len();
        }
        out.push(inst);
        k += len;
    }
    if let Some(end) = new_index.get_mut(m) {
        *end = out.len();
    }
    out.iter()
        .enumerate()
        .map(|(at, inst)| match *inst {
            Ok(inst) => inst,
            Err((orig, op)) => {
                let d = op.branch().unwrap_or(0);
                let t = new_index.get(target_of(orig, d)).copied().unwrap_or(at + 1);
                let rel = u16::try_from(t.saturating_sub(at + 1)).unwrap_or(u16::MAX);
                Inst::from_op(op.with_branch(rel))
            }
        })
        .collect()
}

/// The fused group that starts `window`, longest first, with its length in ops.
fn group(window: &[Op]) -> Option<(Inst, usize)> {
    use Op::*;
    let cmp = |i: usize| window.get(i).copied().and_then(Cmp::of);
    Some(match *window {
        [Dup, Load(s), Const(k), _, And, Emit(c), ..] if cmp(3).is_some() => {
            (Inst::ScopedCmpEmit(cmp(3)?, s, k, c), 6)
        }
        [Load(s), Const(k), _, And, Emit(c), ..] if cmp(2).is_some() => {
            (Inst::AndCmpSKEmit(cmp(2)?, s, k, c), 5)
        }
        [Load(s), Const(k), _, Emit(c), ..] if cmp(2).is_some() => {
            (Inst::CmpSKEmit(cmp(2)?, s, k, c), 4)
        }
        [Load(s), Const(lo), Const(hi), BetweenI, ..] => (Inst::BetweenSKK(Num::I, s, lo, hi), 4),
        [Load(s), Const(lo), Const(hi), BetweenU, ..] => (Inst::BetweenSKK(Num::U, s, lo, hi), 4),
        [Load(s), Const(lo), Const(hi), BetweenF, ..] => (Inst::BetweenSKK(Num::F, s, lo, hi), 4),
        [Load(s), Not, And, Emit(c), ..] => (Inst::AndNotSEmit(s, c), 4),
        [Load(s), Const(k), _, ..] if cmp(2).is_some() => (Inst::CmpSK(cmp(2)?, s, k), 3),
        [Load(s), InSetI(k, n), ..] => (Inst::InSetS(false, s, k, n), 2),
        [Load(s), InSetF(k, n), ..] => (Inst::InSetS(true, s, k, n), 2),
        // `x ?? k`: the jump skips exactly the `Const`.
        [LoadOr(s, 1), Const(k), ..] => (Inst::LoadOrK(s, k), 2),
        [Const(k), _, ..] if cmp(1).is_some() => (Inst::CmpK(cmp(1)?, k), 2),
        [Not, And, Emit(c), ..] => (Inst::AndNotEmit(c), 3),
        [And, Emit(c), ..] => (Inst::AndEmit(c), 2),
        _ => return None,
    })
}
