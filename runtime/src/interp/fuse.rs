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
//!
//! Comparisons of a record slot with constants are decided here, once, as *slot tests* (see
//! [`Test`]): an interval of keys with the constants inlined in the instruction, so that running
//! one is a load, a subtraction and an unsigned comparison for every kind of number. A test and
//! what consumes it (`Emit`, `And; Emit`, a rule scope's `Dup … And; Emit`) is one instruction. A
//! function whose code is then only slot tests is also laid out as independent tests
//! ([`slot_tests`]), which the interpreter runs without a stack and without a branch.

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

/// The flags of a slot test: whether keys are float keys, whether the slot is optional, and the
/// test's result when that slot is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TestFlags(u8);

impl TestFlags {
    const FLOAT: u8 = 1;
    const OPTIONAL: u8 = 2;
    const IF_MISSING: u8 = 4;

    #[inline(always)]
    pub(crate) fn float(self) -> bool {
        self.0 & TestFlags::FLOAT != 0
    }

    #[inline(always)]
    pub(crate) fn optional(self) -> bool {
        self.0 & TestFlags::OPTIONAL != 0
    }

    #[inline(always)]
    pub(crate) fn if_missing(self) -> bool {
        self.0 & TestFlags::IF_MISSING != 0
    }

    /// Whether value `x` passes the test `(float, lo, span)` (see [`Test`]).
    #[inline(always)]
    pub(crate) fn holds(self, x: u64, lo: u64, span: u64) -> bool {
        // Float keys flip a negative value's magnitude bits (a shift of the sign, no branch).
        let flip = (((x as i64) >> 63) as u64 >> 1) & u64::from(self.float()).wrapping_neg();
        (x ^ flip).wrapping_sub(lo) <= span
    }
}

/// A slot test, decided at load time from a comparison with constants: slot `s` passes when its
/// *key* lies in the wrapping interval `lo ..= lo + span` (`key - lo <= span`, unsigned and
/// wrapping), and gets a fixed result when it is an optional slot that is missing (`LoadOr s; Const
/// d …` tests the default `d`, `Known s` is a test that every present value passes).
///
/// A key is the slot's bits, except for floats: a negative float has its 63 magnitude bits flipped,
/// so that the keys of non-NaN floats, read as signed integers, are in IEEE order (`-0.0` just below
/// `+0.0`, NaNs beyond the infinities). Every comparison with a constant (`<`, `<=`, `>`, `>=`,
/// `==`, `!=` of ints, versions and floats, bit equality), `between` two constants, membership of a
/// run of consecutive integers, `not x` and `not` of any of these is then an interval of keys (an
/// interval of signed integers is a wrapping interval of unsigned ones): one subtraction and one
/// unsigned comparison, with no constant-pool load, no per-comparison dispatch and no branch. A test
/// that no value passes (`x < -inf`, a NaN constant, `between 5 and 1`) is not an interval: those
/// ops stay unfused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Test {
    flags: TestFlags,
    lo: u64,
    span: u64,
}

impl Test {
    /// The keys from `lo` to `hi` in `num`'s order; `None` when there are none.
    fn keys(num: Num, lo: u64, hi: u64) -> Option<Test> {
        let ordered = match num {
            Num::U => lo <= hi,
            Num::I | Num::F => lo as i64 <= hi as i64,
        };
        ordered.then(|| Test {
            flags: TestFlags(if num == Num::F { TestFlags::FLOAT } else { 0 }),
            lo,
            span: hi.wrapping_sub(lo),
        })
    }

    /// The values a test rejects; `None` when it accepts every value.
    fn not(self) -> Option<Test> {
        (self.span != u64::MAX).then(|| Test {
            flags: self.flags,
            lo: self.lo.wrapping_add(self.span).wrapping_add(1),
            span: u64::MAX - self.span - 1,
        })
    }

    /// `x cmp k`.
    fn cmp(c: Cmp, k: u64) -> Option<Test> {
        use Cmp::*;
        let num = match c {
            Eq | Ne | LtU | LeU | GtU | GeU => Num::U,
            LtI | LeI | GtI | GeI => Num::I,
            EqF | NeF | LtF | LeF | GtF | GeF => Num::F,
        };
        let (kl, kh) = num.keys_of(k)?;
        let (min, max) = num.bounds();
        match c {
            LtI | LtU | LtF if kl == min => None,
            GtI | GtU | GtF if kh == max => None,
            LtI | LtU | LtF => Test::keys(num, min, kl.wrapping_sub(1)),
            LeI | LeU | LeF => Test::keys(num, min, kh),
            GtI | GtU | GtF => Test::keys(num, kh.wrapping_add(1), max),
            GeI | GeU | GeF => Test::keys(num, kl, max),
            Eq | EqF => Test::keys(num, kl, kh),
            Ne | NeF => Test::keys(num, kl, kh)?.not(),
        }
    }

    /// `lo <= x && x <= hi`.
    fn between(num: Num, lo: u64, hi: u64) -> Option<Test> {
        Test::keys(num, num.keys_of(lo)?.0, num.keys_of(hi)?.1)
    }

    /// `x` is bit-equal to one of `set`: a run of consecutive integers.
    fn in_set(set: &[u64]) -> Option<Test> {
        let (lo, hi) = (set.iter().min()?, set.iter().max()?);
        let mut sorted = set.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let run = u128::from(hi - lo) + 1 == sorted.len() as u128;
        run.then(|| Test::keys(Num::U, *lo, *hi)).flatten()
    }

    fn with(self, flags: u8) -> Test {
        Test {
            flags: TestFlags(self.flags.0 | flags),
            ..self
        }
    }
}

impl Num {
    /// The least and greatest key of a non-NaN value.
    fn bounds(self) -> (u64, u64) {
        match self {
            Num::I => (i64::MIN as u64, i64::MAX as u64),
            Num::U => (0, u64::MAX),
            Num::F => (
                float_key(f64::NEG_INFINITY.to_bits()),
                float_key(f64::INFINITY.to_bits()),
            ),
        }
    }

    /// The least and greatest key of the values equal to `k` (two for a float zero); `None` for a
    /// NaN, which equals nothing.
    fn keys_of(self, k: u64) -> Option<(u64, u64)> {
        match self {
            Num::F if f64::from_bits(k).is_nan() => None,
            Num::F if k << 1 == 0 => Some((float_key(SIGN), float_key(0))),
            Num::F => Some((float_key(k), float_key(k))),
            Num::I | Num::U => Some((k, k)),
        }
    }
}

const SIGN: u64 = 1 << 63;

/// The key of float bits (see [`Test`]).
fn float_key(x: u64) -> u64 {
    x ^ (((x as i64) >> 63) as u64 >> 1)
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
            /// `<test>` (see [`Test`]): push whether slot `s` passes the test.
            Test(TestFlags, u16, u64, u64),
            /// `<test>; Emit c`: emit whether slot `s` passes the test as clause `c`.
            TestEmit(TestFlags, u16, u16, u64, u64),
            /// `Dup; <test>; And; Emit c`: emit `top and <test>` as clause `c`, keeping the top (a
            /// rule scope).
            ScopedTestEmit(TestFlags, u16, u16, u64, u64),
            /// `<test>; And; Emit c`: emit `top and <test>` as clause `c`, popping the top (the first
            /// operand of an `and`).
            AndTestEmit(TestFlags, u16, u16, u64, u64),
            /// `Const k; <cmp>`: replace the top `x` with whether it passes the test (`x cmp k`; an
            /// error stays an error). The flags' slot bits are unused.
            TestTop(TestFlags, u64, u64),
            /// `Load s; InSet… k n`: push whether `slot[s]` is in `consts[k .. k + n]` (`true`: IEEE).
            InSetS(bool, u16, u16, u16),
            /// `LoadOr s +1; Const k`: push slot `s`, or `consts[k]` when it is missing.
            LoadOrK(u16, u16),
            /// `And; Emit c`: a rule's scope and a clause's condition, emitted.
            AndEmit(u16),
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

/// A slot test of code made only of slot tests, as [`slot_tests`] lays it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotTest {
    pub flags: TestFlags,
    pub slot: u16,
    /// What a value's sign, spread over its bits, flips to make its key: the magnitude bits for
    /// floats, nothing otherwise (`TestFlags::holds` without a per-value flag test).
    pub flip: u64,
    pub lo: u64,
    pub span: u64,
    /// The clause it emits (one bit of the function's word), or 0.
    pub set: u64,
    /// Every clause but those that `and` it with their own test (it was on top of the stack when
    /// they were emitted), which are false when it fails.
    pub keep: u64,
}

impl SlotTest {
    /// Whether value `x` passes (`TestFlags::holds`).
    #[inline(always)]
    pub(crate) fn holds(&self, x: u64) -> bool {
        (x ^ (((x as i64) >> 63) as u64 & self.flip)).wrapping_sub(self.lo) <= self.span
    }
}

/// Code made only of slot tests that push or emit (`Test`, `TestEmit`, `ScopedTestEmit`,
/// `AndTestEmit`; not `TestTop`, which tests a computed value that may be erroneous), with its
/// clauses in one word (`word`, see `Prepared::word`), each emitted at most once, as independent
/// tests; `None` for any other code.
///
/// No slot test is erroneous, so neither is any stack entry or condition, and since the stack only
/// ever holds single pushed tests, every emitted condition is one test or the `and` of two: clause
/// `c` is true when its own test passes and the test on top of the stack at its `Emit` (if it
/// reads one) does too. So each test gets the clause it emits (`set`) and the clauses that read it
/// (`keep` clears them), the stack goes away, and the tests can run in any order without a branch.
pub(crate) fn slot_tests(insts: &[Inst], word: Option<(usize, u64)>) -> Option<Vec<SlotTest>> {
    let (_, clauses) = word?;
    let mut tests: Vec<SlotTest> = Vec::with_capacity(insts.len());
    // Indices (in `tests`) of the pushed tests on the stack.
    let mut stack: Vec<usize> = Vec::new();
    let mut emitted = 0u64;
    for inst in insts {
        let (flags, slot, emit, lo, span) = match *inst {
            Inst::Test(f, s, lo, span) => (f, s, None, lo, span),
            Inst::TestEmit(f, s, c, lo, span) => (f, s, Some((c, false, false)), lo, span),
            Inst::ScopedTestEmit(f, s, c, lo, span) => (f, s, Some((c, true, false)), lo, span),
            Inst::AndTestEmit(f, s, c, lo, span) => (f, s, Some((c, true, true)), lo, span),
            _ => return None,
        };
        let mut set = 0;
        match emit {
            None => stack.push(tests.len()),
            Some((c, and, pop)) => {
                set = 1u64 << (c % 64);
                if set & (emitted | !clauses) != 0 {
                    return None;
                }
                emitted |= set;
                if and {
                    let top = *stack.last()?;
                    tests.get_mut(top)?.keep &= !set;
                }
                if pop {
                    stack.pop();
                }
            }
        }
        tests.push(SlotTest {
            flags,
            slot,
            flip: if flags.float() { u64::MAX >> 1 } else { 0 },
            lo,
            span,
            set,
            keep: u64::MAX,
        });
    }
    Some(tests)
}

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

/// Fuses `code` (verified, jumps counted in instructions, constants `consts`) into instructions,
/// re-counting jumps.
pub(crate) fn fuse(code: &[Op], consts: &[u64]) -> Vec<Inst> {
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
    // How many jumps land on each kept op (`m` is the end): a fused group may start there, and
    // contain only the landing of its own `LoadOr`.
    let mut landings = vec![0usize; m + 1];
    for &(orig, op) in &kept {
        if let Some(slot) = op
            .branch()
            .and_then(|d| landings.get_mut(target_of(orig, d)))
        {
            *slot += 1;
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
        // No jump lands inside the group but its own `LoadOr`'s, after the op that `LoadOr`
        // skips; and that op followed the `LoadOr` in the original code too (`LoadOr s 1` counts
        // original ops).
        let fits = |len: usize, own: Option<usize>| {
            let alone = (k + 1..k + len).all(|j| {
                let mine = usize::from(own == Some(j - k));
                landings.get(j).copied().unwrap_or(usize::MAX) == mine
            });
            let orig = |j: usize| kept.get(j).map(|p| p.0);
            let contiguous =
                own.is_none_or(|o| o >= 2 && orig(k + o - 2).map(|i| i + 1) == orig(k + o - 1));
            alone && contiguous
        };
        let fused = group(window, consts).filter(|&(_, len, own)| fits(len, own));
        let (inst, len) = match fused {
            Some((inst, len, _)) => (Ok(inst), len),
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

/// The slot test that starts `window`: the slot, the test and its length in ops, and the offset
/// of its `LoadOr`'s landing (an optional slot's default is the op that `LoadOr` skips).
fn test_at(window: &[Op], consts: &[u64]) -> Option<(u16, Test, usize, Option<usize>)> {
    use Op::*;
    let konst = |k: u16| consts.get(usize::from(k)).copied();
    let (s, default, at) = match *window {
        // Present: every value passes; a missing slot does not.
        [Known(s), ..] => (s, Some(None), 1),
        [Load(s), ..] => (s, None, 1),
        [LoadOr(s, 1), Const(d), ..] => (s, Some(Some(konst(d)?)), 2),
        _ => return None,
    };
    let rest = window.get(at..)?;
    let cmp = rest.get(1).copied().and_then(Cmp::of);
    // The test, its ops after the source, and its result on the default (`None` for `Known`).
    let (test, mut len, on_default) = match (rest, cmp) {
        _ if matches!(window.first(), Some(Known(_))) => {
            (Test::keys(Num::U, 0, u64::MAX)?, 0, None)
        }
        ([Const(k), ..], Some(c)) => {
            let k = konst(*k)?;
            (Test::cmp(c, k)?, 2, default.flatten().map(|d| c.eval(d, k)))
        }
        (
            [
                Const(lo),
                Const(hi),
                op @ (BetweenI | BetweenU | BetweenF),
                ..,
            ],
            _,
        ) => {
            let num = match op {
                BetweenI => Num::I,
                BetweenU => Num::U,
                _ => Num::F,
            };
            let (lo, hi) = (konst(*lo)?, konst(*hi)?);
            let on = default.flatten().map(|d| num.le(lo, d) && num.le(d, hi));
            (Test::between(num, lo, hi)?, 3, on)
        }
        ([InSetI(k, n), ..], _) => {
            let set = crate::interp::set_of(consts, *k, *n)?;
            (
                Test::in_set(set)?,
                1,
                default.flatten().map(|d| set.contains(&d)),
            )
        }
        ([Not, ..], _) => (
            Test::keys(Num::U, 0, 0)?,
            1,
            default.flatten().map(|d| d == 0),
        ),
        _ => return None,
    };
    // `not` of a test (never erroneous) is the other keys.
    let (mut test, mut on_default) = (test, on_default.unwrap_or(false));
    while rest.get(len) == Some(&Not) {
        let Some(not) = test.not() else { break };
        (test, on_default, len) = (not, !on_default, len + 1);
    }
    if default.is_some() {
        let missing = if on_default { TestFlags::IF_MISSING } else { 0 };
        test = test.with(TestFlags::OPTIONAL | missing);
    }
    let own = matches!(window.first(), Some(LoadOr(..))).then_some(2);
    Some((s, test, at + len, own))
}

/// The fused group that starts `window`, longest first: the instruction, its length in ops and the
/// offset of its own `LoadOr`'s landing.
fn group(window: &[Op], consts: &[u64]) -> Option<(Inst, usize, Option<usize>)> {
    use Op::*;
    let scoped = usize::from(window.first() == Some(&Dup));
    if let Some((s, t, n, own)) = window.get(scoped..).and_then(|w| test_at(w, consts)) {
        let (f, lo, span) = (t.flags, t.lo, t.span);
        let own = own.map(|o| o + scoped);
        let after = window.get(scoped + n..).unwrap_or_default();
        match (after, scoped == 1) {
            ([And, Emit(c), ..], true) => {
                return Some((Inst::ScopedTestEmit(f, s, *c, lo, span), n + 3, own));
            }
            ([And, Emit(c), ..], false) => {
                return Some((Inst::AndTestEmit(f, s, *c, lo, span), n + 2, own));
            }
            ([Emit(c), ..], false) => {
                return Some((Inst::TestEmit(f, s, *c, lo, span), n + 1, own));
            }
            (_, false) => return Some((Inst::Test(f, s, lo, span), n, own)),
            (_, true) => {}
        }
    }
    let cmp = |i: usize| window.get(i).copied().and_then(Cmp::of);
    Some(match *window {
        [Load(s), InSetI(k, n), ..] => (Inst::InSetS(false, s, k, n), 2, None),
        [Load(s), InSetF(k, n), ..] => (Inst::InSetS(true, s, k, n), 2, None),
        // `x ?? k`: the jump skips exactly the `Const`.
        [LoadOr(s, 1), Const(k), ..] => (Inst::LoadOrK(s, k), 2, Some(2)),
        [Const(k), _, ..] if cmp(1).is_some() => {
            let t = Test::cmp(cmp(1)?, *consts.get(usize::from(k))?)?;
            (Inst::TestTop(t.flags, t.lo, t.span), 2, None)
        }
        [Not, And, Emit(c), ..] => (Inst::AndNotEmit(c), 3, None),
        [And, Emit(c), ..] => (Inst::AndEmit(c), 2, None),
        _ => return None,
    })
}
