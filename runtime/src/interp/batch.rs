//! The batched interpreter: in go a verified [`Policy`], a function and `n` records laid end to end
//! (slots, then missing masks); out come `n` rows of clause words in [`ClauseBits`] layout
//! (`ClauseBits::words_for(n_clauses)` truth words and as many error words per record).
//!
//! It dispatches each (fused) instruction once for a block of up to 64 records ("lanes") and runs the
//! instruction's work in a loop over the lanes, which the compiler unrolls and vectorises: the
//! dispatch cost of the scalar interpreter (a few ns per instruction) is paid once per block.
//!
//! Records take different paths through forward jumps, so every lane carries an *active* bit: a jump
//! parks the lanes that take it in a pending list under the target (with the target's stack depth),
//! and they become active again when the target is reached; an instruction writes stack entries,
//! locals and clause bits only in active lanes. Stack depths are the same on every path (the
//! verifier proved it), so one stack pointer serves all lanes. When no lane is active the
//! instructions up to the next pending target are skipped outright.
//!
//! Like the scalar interpreter: no heap allocation, no panic, stack and locals on the Rust stack
//! (sized by the same small/large split), at most one dispatch per instruction per block.
//!
//! INVARIANT (shared with every engine): the value of an erroneous stack entry is never observed —
//! every op that reads a value either propagates the error or, for `And`/`Or`/jumps/`Emit`, tests the
//! error flag first — so lanes do not mask values to zero on error as the scalar interpreter does.

use super::{
    ClauseBits, Cmp, EvalError, Inst, Num, Record, Row, SMALL, TestFlags, check_required, exec,
    finite, set_of, word_masks,
};
use crate::artifact::{MAX_LOCALS, MAX_STACK};
use crate::verify::{FnId, Policy, Prepared};

/// Lanes per block for functions whose stack and locals fit `SMALL`: lane masks are one `u64`.
const LANES: usize = 64;
/// Lanes per block for large functions, whose stacks and locals are four times as deep.
const LANES_LARGE: usize = 16;
/// Jump targets that may be pending at once before a block falls back to the scalar interpreter.
const PENDING: usize = 32;

/// Runs function `f` of `policy` on each of a batch of records, as [`super::run`] would one at a
/// time: `slots` holds `n` records of `policy.record_len(layout)` slots each, `missing` their missing
/// masks (`policy.missing_words(layout)` words each), and record `i`'s conditions go to words
/// `i * w .. (i + 1) * w` of `out_truth` and `out_error` (`w = ClauseBits::words_for(n_clauses)`),
/// where the function's clauses are written and every other bit is left as it is. Everything is
/// checked before anything runs; a record whose mask marks a slot that may not be missing is
/// reported with the slot's index in `slots`.
pub fn run_batch(
    policy: &Policy,
    f: FnId,
    slots: &[u64],
    missing: &[u64],
    out_truth: &mut [u64],
    out_error: &mut [u64],
) -> Result<(), EvalError> {
    let (prep, n) = check_batch(policy, f, slots, missing, out_truth, out_error)?;
    let rl = policy.record_len(prep.layout);
    let mw = policy.missing_words(prep.layout);
    let words = ClauseBits::words_for(policy.n_clauses());
    clear_rows(out_truth, out_error, words, prep.clauses.clone());
    let consts = &policy.artifact().consts;
    let small = usize::from(prep.max_stack) <= SMALL && usize::from(prep.n_locals) <= SMALL;
    let job = Job {
        prep,
        consts,
        slots,
        missing,
        rl,
        mw,
        words,
        n,
        small,
    };
    if small {
        job.run::<SMALL, SMALL, LANES>(out_truth, out_error)
    } else {
        job.run::<MAX_STACK, MAX_LOCALS, LANES_LARGE>(out_truth, out_error)
    }
}

/// One `run_batch` call: the records and where their rows go.
struct Job<'a> {
    prep: &'a Prepared,
    consts: &'a [u64],
    slots: &'a [u64],
    missing: &'a [u64],
    rl: usize,
    mw: usize,
    words: usize,
    n: usize,
    small: bool,
}

impl Job<'_> {
    /// Runs the records in blocks of `B`, with one lane state for every block.
    fn run<const S: usize, const L: usize, const B: usize>(
        &self,
        out_truth: &mut [u64],
        out_error: &mut [u64],
    ) -> Result<(), EvalError> {
        let (rl, mw, words) = (self.rl, self.mw, self.words);
        let mut lanes = State::<S, L, B>::new();
        let mut first = 0;
        while first < self.n {
            let m = (self.n - first).min(B);
            let end = first + m;
            let block = Block {
                slots: self.slots.get(first * rl..end * rl).unwrap_or_default(),
                missing: self.missing.get(first * mw..end * mw).unwrap_or_default(),
                rl,
                mw,
                n: m,
            };
            let (Some(truth), Some(error)) = (
                out_truth.get_mut(first * words..end * words),
                out_error.get_mut(first * words..end * words),
            ) else {
                return Err(EvalError::Corrupt { instruction: 0 });
            };
            let mut out = Out {
                truth,
                error,
                words,
            };
            let clauses = self.prep.clauses.clone();
            if !lanes.exec(&self.prep.insts, self.consts, &block, &mut out, clauses)? {
                scalar_block(self.prep, self.consts, &block, &mut out, self.small)?;
            }
            first = end;
        }
        Ok(())
    }
}

/// The checks [`run_batch`] (and native code's batch entry) make before running; returns the
/// function and the number of records.
pub(crate) fn check_batch<'p>(
    policy: &'p Policy,
    f: FnId,
    slots: &[u64],
    missing: &[u64],
    out_truth: &[u64],
    out_error: &[u64],
) -> Result<(&'p Prepared, usize), EvalError> {
    let Some(prep) = policy.prepared(f) else {
        return Err(EvalError::NoFunction { function: f.0 });
    };
    let rl = policy.record_len(prep.layout);
    // Every record layout has slots (the device record at least `now.*`), so `rl > 0`.
    let n = slots.len().checked_div(rl).unwrap_or(0);
    if n * rl != slots.len() {
        return Err(EvalError::BatchRecords {
            record_len: rl,
            found: slots.len(),
        });
    }
    let required = policy.required_mask(prep.layout);
    let mw = required.len();
    if missing.len() != n * mw {
        return Err(EvalError::BatchLength {
            part: "missing masks",
            expected: n * mw,
            found: missing.len(),
        });
    }
    if mw > 0 {
        for (i, rec) in missing.chunks_exact(mw).enumerate() {
            check_required(rec, required, i * rl)?;
        }
    }
    let words = ClauseBits::words_for(policy.n_clauses());
    for (part, out) in [("truth output", out_truth), ("error output", out_error)] {
        if out.len() != n * words {
            return Err(EvalError::BatchLength {
                part,
                expected: n * words,
                found: out.len(),
            });
        }
    }
    Ok((prep, n))
}

/// Clears the bits of `range` in every row.
pub(crate) fn clear_rows(
    truth: &mut [u64],
    error: &mut [u64],
    words: usize,
    range: core::ops::Range<usize>,
) {
    if words == 0 {
        return;
    }
    for (w, mask) in word_masks(range) {
        // A word at a time over every row: one pass per word, no iterator per row.
        for row in truth
            .get_mut(w..)
            .unwrap_or_default()
            .iter_mut()
            .step_by(words)
        {
            *row &= !mask;
        }
        for row in error
            .get_mut(w..)
            .unwrap_or_default()
            .iter_mut()
            .step_by(words)
        {
            *row &= !mask;
        }
    }
}

/// A block of records: `n` records of `rl` slots and `mw` mask words.
struct Block<'a> {
    slots: &'a [u64],
    missing: &'a [u64],
    rl: usize,
    mw: usize,
    n: usize,
}

/// The block's output rows.
struct Out<'a> {
    truth: &'a mut [u64],
    error: &'a mut [u64],
    words: usize,
}

impl Out<'_> {
    /// Records clause `c` in the lanes of `active`: true in `t`, erroneous in `e` (subsets of it).
    #[inline(always)]
    fn emit(&mut self, c: u16, active: u64, t: u64, e: u64, n: usize) {
        if self.words == 0 {
            return;
        }
        let i = usize::from(c);
        let (w, shift) = (i / 64, i % 64);
        let m = 1u64 << shift;
        let rows = self
            .truth
            .chunks_exact_mut(self.words)
            .zip(self.error.chunks_exact_mut(self.words))
            .take(n);
        for (l, (tr, er)) in rows.enumerate() {
            let sel = active >> l & 1;
            let keep = !(m & 0u64.wrapping_sub(sel));
            if let (Some(tw), Some(ew)) = (tr.get_mut(w), er.get_mut(w)) {
                *tw = (*tw & keep) | ((t >> l & 1) << shift);
                *ew = (*ew & keep) | ((e >> l & 1) << shift);
            }
        }
    }
}

/// Runs a block one record at a time with the scalar interpreter (when its jumps outgrow the
/// pending list).
fn scalar_block(
    prep: &Prepared,
    consts: &[u64],
    block: &Block,
    out: &mut Out,
    small: bool,
) -> Result<(), EvalError> {
    clear_rows(out.truth, out.error, out.words, prep.clauses.clone());
    let records = block
        .slots
        .chunks_exact(block.rl)
        .zip(block.missing.chunks_exact(block.mw.max(1)));
    let rows = out
        .truth
        .chunks_exact_mut(out.words.max(1))
        .zip(out.error.chunks_exact_mut(out.words.max(1)));
    for ((slots, missing), (truth, error)) in records.zip(rows) {
        let record = Record { slots, missing };
        let mut row = Row { truth, error };
        if small {
            exec::<SMALL, SMALL>(&prep.insts, consts, &record, &mut row, prep.word)?;
        } else {
            exec::<MAX_STACK, MAX_LOCALS>(&prep.insts, consts, &record, &mut row, prep.word)?;
        }
    }
    Ok(())
}

/// Lane `l` of every lane array is record `l` of the block.
type Lanes<const B: usize> = [u64; B];

/// The mask of lanes where `f` holds.
#[inline(always)]
fn mask1<const B: usize>(a: &Lanes<B>, f: impl Fn(u64) -> bool) -> u64 {
    a.iter()
        .enumerate()
        .fold(0u64, |m, (l, &a)| m | u64::from(f(a)) << l)
}

/// The mask of lanes where `f(a, b(lane))` holds.
#[inline(always)]
fn mask2<const B: usize>(
    a: &Lanes<B>,
    b: impl Fn(usize) -> u64,
    f: impl Fn(u64, u64) -> bool,
) -> u64 {
    a.iter()
        .enumerate()
        .fold(0u64, |m, (l, &a)| m | u64::from(f(a, b(l))) << l)
}

/// `0`/`1` values from a lane mask.
#[inline(always)]
fn bools<const B: usize>(m: u64) -> Lanes<B> {
    let mut r = [0u64; B];
    for (l, r) in r.iter_mut().enumerate() {
        *r = m >> l & 1;
    }
    r
}

/// Replaces each lane `l` of `dst` with `f(l, old)`: every lane when `all`, else the lanes of `act`.
#[inline(always)]
fn update<const B: usize>(
    dst: &mut Lanes<B>,
    act: u64,
    all: bool,
    mut f: impl FnMut(usize, u64) -> u64,
) {
    if all {
        for (l, d) in dst.iter_mut().enumerate() {
            *d = f(l, *d);
        }
    } else {
        for (l, d) in dst.iter_mut().enumerate() {
            let new = f(l, *d);
            let keep = (act >> l & 1).wrapping_sub(1);
            *d = (*d & keep) | (new & !keep);
        }
    }
}

/// Lanes where `a cmp b(lane)` holds.
#[inline(always)]
fn cmp_mask<const B: usize>(c: Cmp, a: &Lanes<B>, b: impl Fn(usize) -> u64) -> u64 {
    let (i, f) = (|v: u64| v as i64, f64::from_bits);
    // One loop per comparison, so that the comparison is not re-dispatched per lane.
    match c {
        Cmp::Eq => mask2(a, b, |a, b| a == b),
        Cmp::Ne => mask2(a, b, |a, b| a != b),
        Cmp::EqF => mask2(a, b, |a, b| f(a) == f(b)),
        Cmp::NeF => mask2(a, b, |a, b| f(a) != f(b)),
        Cmp::LtI => mask2(a, b, |a, b| i(a) < i(b)),
        Cmp::LeI => mask2(a, b, |a, b| i(a) <= i(b)),
        Cmp::GtI => mask2(a, b, |a, b| i(a) > i(b)),
        Cmp::GeI => mask2(a, b, |a, b| i(a) >= i(b)),
        Cmp::LtU => mask2(a, b, |a, b| a < b),
        Cmp::LeU => mask2(a, b, |a, b| a <= b),
        Cmp::GtU => mask2(a, b, |a, b| a > b),
        Cmp::GeU => mask2(a, b, |a, b| a >= b),
        Cmp::LtF => mask2(a, b, |a, b| f(a) < f(b)),
        Cmp::LeF => mask2(a, b, |a, b| f(a) <= f(b)),
        Cmp::GtF => mask2(a, b, |a, b| f(a) > f(b)),
        Cmp::GeF => mask2(a, b, |a, b| f(a) >= f(b)),
    }
}

/// `lo <= x` and `x <= hi` as comparisons of the number kind.
fn le_of(num: Num) -> Cmp {
    match num {
        Num::I => Cmp::LeI,
        Num::U => Cmp::LeU,
        Num::F => Cmp::LeF,
    }
}

/// Lanes where `x` is in `set` (bit equality, or IEEE when `float`).
#[inline(always)]
fn in_set_mask<const B: usize>(float: bool, x: &Lanes<B>, set: &[u64]) -> u64 {
    let mut m = 0u64;
    for &c in set {
        m |= if float {
            let c = f64::from_bits(c);
            mask1(x, |x| f64::from_bits(x) == c)
        } else {
            mask1(x, |x| x == c)
        };
    }
    m
}

/// Transposes a 64 × 64 bit matrix in place: bit `j` of `a[i]` becomes bit `i` of `a[j]` (block swaps,
/// Hacker's Delight 7-3, six rounds of 32 exchanges).
pub(crate) fn transpose64(a: &mut [u64; 64]) {
    let mut j = 32usize;
    let mut m: u64 = 0x0000_0000_ffff_ffff;
    while j != 0 {
        let mut k = 0usize;
        while k < 64 {
            // Exchange the high `j` bits of row `k` with the low `j` bits of row `k + j` (within the
            // blocks `m` selects).
            if let (Some(&x), Some(&y)) = (a.get(k), a.get(k + j)) {
                let t = ((x >> j) ^ y) & m;
                if let Some(r) = a.get_mut(k) {
                    *r = x ^ (t << j);
                }
                if let Some(r) = a.get_mut(k + j) {
                    *r = y ^ t;
                }
            }
            k = (k + j + 1) & !j;
        }
        j >>= 1;
        m ^= m << j;
    }
}

/// Parked lanes: `(target instruction, stack depth there, lanes)`, sorted by target, nearest last.
struct Pending {
    list: [(usize, usize, u64); PENDING],
    len: usize,
}

impl Pending {
    /// Parks `lanes` until `target`; `false` when the list is full.
    fn park(&mut self, target: usize, depth: usize, lanes: u64) -> bool {
        if lanes == 0 {
            return true;
        }
        let live = self.list.get_mut(..self.len).unwrap_or_default();
        // Nearest last: find the first entry whose target is nearer than this one.
        let at = live
            .iter()
            .position(|p| p.0 <= target)
            .unwrap_or(live.len());
        if let Some(p) = live.get_mut(at)
            && p.0 == target
        {
            p.2 |= lanes;
            return true;
        }
        if self.len >= PENDING {
            return false;
        }
        self.list.copy_within(at..self.len, at + 1);
        if let Some(p) = self.list.get_mut(at) {
            *p = (target, depth, lanes);
        }
        self.len += 1;
        true
    }

    fn nearest(&self) -> Option<(usize, usize, u64)> {
        self.len
            .checked_sub(1)
            .and_then(|i| self.list.get(i))
            .copied()
    }

    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }
}

/// Clauses whose conditions a block gathers as lane masks before writing them into the rows (a
/// function with more writes each `Emit` into the rows directly).
const EMITS: usize = 256;

/// The lanes' stack, locals and emitted conditions: `S` stack entries and `L` locals of `B` lanes.
/// Made once per batch and reused by every block: verified code writes every stack entry and local
/// on a path before reading it there, so what a previous block left is never read.
///
/// A stack entry holds either values or, for the booleans that comparisons and logic produce, just
/// a lane mask (`is_mask`): both mean the same numbers (a mask bit is the value 0 or 1), and a mask
/// entry becomes values, in place, when an op needs values. Either way it applies to every lane, so
/// lanes parked at a jump keep their entries' meaning.
struct State<const S: usize, const L: usize, const B: usize> {
    vals: [Lanes<B>; S],
    masks: [u64; S],
    is_mask: [bool; S],
    errs: [u64; S],
    locals: [Lanes<B>; L],
    lerrs: [u64; L],
    /// Per clause of the function (relative index): the lanes where it is true, erroneous.
    truth: [u64; EMITS],
    error: [u64; EMITS],
}

impl<const S: usize, const L: usize, const B: usize> State<S, L, B> {
    fn new() -> Self {
        State {
            vals: [[0; B]; S],
            masks: [0; S],
            is_mask: [false; S],
            errs: [0; S],
            locals: [[0; B]; L],
            lerrs: [0; L],
            truth: [0; EMITS],
            error: [0; EMITS],
        }
    }

    /// Entry `i` as values (turning a mask entry into values in place).
    #[inline(always)]
    fn materialize(&mut self, i: usize) {
        if let (Some(m), Some(flag), Some(v)) = (
            self.masks.get(i),
            self.is_mask.get_mut(i),
            self.vals.get_mut(i),
        ) && *flag
        {
            *v = bools(*m);
            *flag = false;
        }
    }

    /// Lanes where entry `i` is non-zero.
    #[inline(always)]
    fn truth_of(&self, i: usize) -> u64 {
        match (self.is_mask.get(i), self.masks.get(i), self.vals.get(i)) {
            (Some(true), Some(&m), _) => m,
            (_, _, Some(v)) => mask1(v, |v| v != 0),
            _ => 0,
        }
    }

    fn err(&self, i: usize) -> u64 {
        self.errs.get(i).copied().unwrap_or(0)
    }

    fn set_err(&mut self, i: usize, e: u64, act: u64) {
        if let Some(d) = self.errs.get_mut(i) {
            *d = (*d & !act) | (e & act);
        }
    }

    /// Writes boolean `m` (and errors `e`) to entry `i` in the lanes of `act` (`all`: every lane).
    #[inline(always)]
    fn put_mask(&mut self, i: usize, m: u64, e: u64, act: u64, all: bool) {
        self.set_err(i, e, act);
        if all {
            if let (Some(d), Some(flag)) = (self.masks.get_mut(i), self.is_mask.get_mut(i)) {
                *d = m;
                *flag = true;
            }
        } else if self.is_mask.get(i).copied().unwrap_or(false) {
            if let Some(d) = self.masks.get_mut(i) {
                *d = (*d & !act) | (m & act);
            }
        } else if let Some(v) = self.vals.get_mut(i) {
            update(v, act, false, |l, _| m >> l & 1);
        }
    }

    /// Entry `i` as values to be written in place (its lanes outside `act` kept by the caller).
    #[inline(always)]
    fn vals_mut(&mut self, i: usize) -> Option<&mut Lanes<B>> {
        self.materialize(i);
        self.vals.get_mut(i)
    }

    /// Writes values `f(lane)` (errors `e`) to entry `i` in the lanes of `act`.
    #[inline(always)]
    fn put_vals(&mut self, i: usize, e: u64, act: u64, all: bool, f: impl Fn(usize) -> u64) {
        self.set_err(i, e, act);
        if all {
            if let (Some(v), Some(flag)) = (self.vals.get_mut(i), self.is_mask.get_mut(i)) {
                *flag = false;
                for (l, v) in v.iter_mut().enumerate() {
                    *v = f(l);
                }
            }
        } else if let Some(v) = self.vals_mut(i) {
            update(v, act, false, |l, _| f(l));
        }
    }

    /// `dst op src` in place on entry `dst` (`dst < src`), lanes where it fails (`None`) erroneous.
    #[inline(always)]
    fn binary(
        &mut self,
        dst: usize,
        src: usize,
        act: u64,
        all: bool,
        f: impl Fn(u64, u64) -> Option<u64>,
    ) -> Option<()> {
        if dst >= src {
            return None;
        }
        self.materialize(dst);
        self.materialize(src);
        let e = self.err(dst) | self.err(src);
        let (lo, hi) = self.vals.split_at_mut(src);
        let (a, b) = (lo.get_mut(dst)?, hi.first()?);
        let mut bad = 0u64;
        update(a, act, all, |l, a| {
            let r = f(a, b.get(l).copied().unwrap_or(0));
            bad |= u64::from(r.is_none()) << l;
            r.unwrap_or(0)
        });
        self.set_err(dst, e | bad, act);
        Some(())
    }

    /// `op x` in place on entry `i`.
    #[inline(always)]
    fn unary(
        &mut self,
        i: usize,
        act: u64,
        all: bool,
        f: impl Fn(u64) -> Option<u64>,
    ) -> Option<()> {
        let e = self.err(i);
        let v = self.vals_mut(i)?;
        let mut bad = 0u64;
        update(v, act, all, |l, a| {
            let r = f(a);
            bad |= u64::from(r.is_none()) << l;
            r.unwrap_or(0)
        });
        self.set_err(i, e | bad, act);
        Some(())
    }

    /// Lanes where `a cmp b` for entries `a` and `b`.
    #[inline(always)]
    fn compare(&mut self, c: Cmp, a: usize, b: usize) -> Option<u64> {
        self.materialize(a);
        self.materialize(b);
        let (x, y) = (self.vals.get(a)?, self.vals.get(b)?);
        Some(cmp_mask(c, x, |l| y.get(l).copied().unwrap_or(0)))
    }

    /// Records clause `rel` (relative to the function's first) in the lanes of `act`.
    #[inline(always)]
    fn emit(&mut self, rel: usize, act: u64, t: u64, e: u64) {
        if let (Some(dt), Some(de)) = (self.truth.get_mut(rel), self.error.get_mut(rel)) {
            *dt = (*dt & !act) | (t & act);
            *de = (*de & !act) | (e & act);
        }
    }

    /// The lane loop over pre-decoded, fused instructions for one block. `Ok(false)`: too many
    /// jumps pending at once; the block must be run by the scalar interpreter.
    #[inline(never)]
    fn exec(
        &mut self,
        code: &[Inst],
        consts: &[u64],
        block: &Block,
        out: &mut Out,
        clauses: core::ops::Range<usize>,
    ) -> Result<bool, EvalError> {
        let stack_mask = S - 1;
        let n = block.n.min(B);
        // The lanes that hold records; lanes past `n` compute on whatever is there and are never
        // written out.
        let live: u64 = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
        let gather = clauses.len() <= EMITS;
        if gather {
            for (t, e) in self
                .truth
                .iter_mut()
                .zip(self.error.iter_mut())
                .take(clauses.len())
            {
                *t = 0;
                *e = 0;
            }
        }
        let mut sp = 0usize;
        let mut pc = 0usize;
        let mut act = live;
        let mut pending = Pending {
            list: [(0, 0, 0); PENDING],
            len: 0,
        };

        // Slot `s` of every record of the block, record by record (the index is checked against the
        // record length, which the compiler hoists out of the loop).
        let slot_lanes = |s: u16| -> Lanes<B> {
            let mut r = [0u64; B];
            for (r, rec) in r.iter_mut().zip(block.slots.chunks_exact(block.rl.max(1))) {
                *r = rec.get(usize::from(s)).copied().unwrap_or(0);
            }
            r
        };
        let missing_mask = |s: u16| -> u64 {
            let s = usize::from(s);
            let (w, b) = (s / 64, s % 64);
            block
                .missing
                .chunks_exact(block.mw.max(1))
                .take(n)
                .enumerate()
                .fold(0u64, |m, (l, rec)| {
                    m | (rec.get(w).copied().unwrap_or(0) >> b & 1) << l
                })
        };
        let slot_cmp = |c: Cmp, s: u16, k: u64| -> u64 {
            // The slot as the first operand, gathered lane by lane; one loop per comparison.
            let (i, f) = (|v: u64| v as i64, f64::from_bits);
            let s = usize::from(s);
            // Record by record: the index is checked against the record length, which the compiler
            // hoists out of the loop.
            macro_rules! lanes {
                (|$a:ident| $p:expr) => {
                    block
                        .slots
                        .chunks_exact(block.rl.max(1))
                        .take(n)
                        .enumerate()
                        .fold(0u64, |m, (l, rec)| {
                            let $a = rec.get(s).copied().unwrap_or(0);
                            m | u64::from($p) << l
                        })
                };
            }
            match c {
                Cmp::Eq => lanes!(|a| a == k),
                Cmp::Ne => lanes!(|a| a != k),
                Cmp::EqF => lanes!(|a| f(a) == f(k)),
                Cmp::NeF => lanes!(|a| f(a) != f(k)),
                Cmp::LtI => lanes!(|a| i(a) < i(k)),
                Cmp::LeI => lanes!(|a| i(a) <= i(k)),
                Cmp::GtI => lanes!(|a| i(a) > i(k)),
                Cmp::GeI => lanes!(|a| i(a) >= i(k)),
                Cmp::LtU => lanes!(|a| a < k),
                Cmp::LeU => lanes!(|a| a <= k),
                Cmp::GtU => lanes!(|a| a > k),
                Cmp::GeU => lanes!(|a| a >= k),
                Cmp::LtF => lanes!(|a| f(a) < f(k)),
                Cmp::LeF => lanes!(|a| f(a) <= f(k)),
                Cmp::GtF => lanes!(|a| f(a) > f(k)),
                Cmp::GeF => lanes!(|a| f(a) >= f(k)),
            }
        };

        // Lanes whose slot `s` passes the test (see `fuse::Test`).
        let test_mask = |f: TestFlags, s: u16, lo: u64, span: u64| -> u64 {
            let s_ = usize::from(s);
            let hit = block
                .slots
                .chunks_exact(block.rl.max(1))
                .take(n)
                .enumerate()
                .fold(0u64, |m, (l, rec)| {
                    let x = rec.get(s_).copied().unwrap_or(0);
                    m | u64::from(f.holds(x, lo, span)) << l
                });
            if f.optional() {
                let gone = missing_mask(s);
                (hit & !gone) | (gone & u64::from(f.if_missing()).wrapping_neg())
            } else {
                hit
            }
        };

        // Stack entry `i` from the top (1 = the top).
        macro_rules! at {
            ($i:expr) => {
                sp.wrapping_sub($i) & stack_mask
            };
        }
        macro_rules! park {
            ($target:expr, $depth:expr, $lanes:expr) => {{
                let (target, lanes): (usize, u64) = ($target, $lanes);
                // Lanes that jump to the end are done.
                if target < code.len() && !pending.park(target, $depth, lanes) {
                    return Ok(false);
                }
                act &= !lanes;
            }};
        }

        loop {
            while let Some((target, depth, lanes)) = pending.nearest()
                && target == pc
            {
                act |= lanes;
                sp = depth;
                pending.pop();
            }
            if act == 0 {
                // Every lane is parked: skip to the nearest target.
                match pending.nearest() {
                    Some((target, _, _)) => {
                        pc = target;
                        continue;
                    }
                    None => break,
                }
            }
            let Some(&inst) = code.get(pc) else { break };
            let corrupt = EvalError::Corrupt { instruction: pc };
            pc += 1;
            let all = act & live == live;
            let konst = |k: u16| consts.get(usize::from(k)).copied().ok_or(corrupt);
            let rel = |c: u16| usize::from(c).wrapping_sub(clauses.start);
            // Records clause `c`: true in lanes `t`, erroneous in `e` (both within `act`).
            macro_rules! emit {
                ($c:expr, $t:expr, $e:expr) => {{
                    let (c, t, e): (u16, u64, u64) = ($c, $t, $e);
                    if gather {
                        self.emit(rel(c), act, t, e);
                    } else {
                        out.emit(c, act, t, e, n);
                    }
                }};
            }
            macro_rules! binary {
                (|$a:ident, $b:ident| $body:expr) => {{
                    let (ia, ib) = (at!(2), at!(1));
                    self.binary(ia, ib, act, all, |$a, $b| $body)
                        .ok_or(corrupt)?;
                    sp = sp.wrapping_sub(1);
                }};
            }
            macro_rules! unary {
                (|$a:ident| $body:expr) => {{
                    self.unary(at!(1), act, all, |$a| $body).ok_or(corrupt)?;
                }};
            }
            macro_rules! compare {
                ($c:expr) => {{
                    let (ia, ib) = (at!(2), at!(1));
                    let m = self.compare($c, ia, ib).ok_or(corrupt)?;
                    let e = self.err(ia) | self.err(ib);
                    self.put_mask(ia, m, e, act, all);
                    sp = sp.wrapping_sub(1);
                }};
            }
            match inst {
                Inst::Test(f, s, lo, span) => {
                    let m = test_mask(f, s, lo, span);
                    self.put_mask(at!(0), m, 0, act, all);
                    sp = sp.wrapping_add(1);
                }
                Inst::TestTop(f, lo, span) => {
                    let i = at!(1);
                    self.materialize(i);
                    let x = self.vals.get(i).ok_or(corrupt)?;
                    let m = mask1(x, |x| f.holds(x, lo, span));
                    let e = self.err(i);
                    self.put_mask(i, m, e, act, all);
                }
                Inst::TestEmit(f, s, clause, lo, span) => {
                    let m = test_mask(f, s, lo, span);
                    emit!(clause, m & act, 0);
                }
                Inst::ScopedTestEmit(f, s, clause, lo, span)
                | Inst::AndTestEmit(f, s, clause, lo, span) => {
                    let i = at!(1);
                    let cond = test_mask(f, s, lo, span);
                    let (te, top) = (self.err(i), self.truth_of(i));
                    emit!(clause, cond & !te & top & act, cond & te & act);
                    // A scope stays for its next clause; the first operand of an `and` is used up.
                    if let Inst::AndTestEmit(..) = inst {
                        sp = sp.wrapping_sub(1);
                    }
                }
                Inst::LoadOrK(s, k) => {
                    let (gone, default) = (missing_mask(s), konst(k)?);
                    let v = slot_lanes(s);
                    self.put_vals(at!(0), 0, act, all, |l| {
                        if gone >> l & 1 != 0 {
                            default
                        } else {
                            v.get(l).copied().unwrap_or(0)
                        }
                    });
                    sp = sp.wrapping_add(1);
                }
                Inst::InSetS(float, s, k, len) => {
                    let set = set_of(consts, k, len).ok_or(corrupt)?;
                    let mut m = 0u64;
                    for &c in set {
                        m |= slot_cmp(if float { Cmp::EqF } else { Cmp::Eq }, s, c);
                    }
                    self.put_mask(at!(0), m, 0, act, all);
                    sp = sp.wrapping_add(1);
                }
                Inst::Const(k) => {
                    let k = konst(k)?;
                    self.put_vals(at!(0), 0, act, all, |_| k);
                    sp = sp.wrapping_add(1);
                }
                Inst::Load(s) => {
                    let v = slot_lanes(s);
                    self.put_vals(at!(0), 0, act, all, |l| v.get(l).copied().unwrap_or(0));
                    sp = sp.wrapping_add(1);
                }
                Inst::LoadOr(s, skip) => {
                    // Present lanes push the slot and jump; the others fall through to the default.
                    let taken = act & live & !missing_mask(s);
                    let v = slot_lanes(s);
                    self.put_vals(at!(0), 0, taken, false, |l| v.get(l).copied().unwrap_or(0));
                    park!(pc + usize::from(skip), sp.wrapping_add(1), taken);
                }
                Inst::Known(s) => {
                    self.put_mask(at!(0), !missing_mask(s), 0, act, all);
                    sp = sp.wrapping_add(1);
                }
                Inst::Dup => {
                    let (i, j) = (at!(1), at!(0));
                    let e = self.err(i);
                    if self.is_mask.get(i).copied().unwrap_or(false) {
                        let m = self.masks.get(i).copied().unwrap_or(0);
                        self.put_mask(j, m, e, act, all);
                    } else {
                        let v = *self.vals.get(i).ok_or(corrupt)?;
                        self.put_vals(j, e, act, all, |l| v.get(l).copied().unwrap_or(0));
                    }
                    sp = sp.wrapping_add(1);
                }
                Inst::Pop => sp = sp.wrapping_sub(1),
                Inst::LocalSet(l) | Inst::LocalTee(l) => {
                    let i = at!(1);
                    self.materialize(i);
                    let e = self.err(i);
                    let v = self.vals.get(i).ok_or(corrupt)?;
                    let dst = self.locals.get_mut(usize::from(l)).ok_or(corrupt)?;
                    update(dst, act, all, |lane, _| v.get(lane).copied().unwrap_or(0));
                    let de = self.lerrs.get_mut(usize::from(l)).ok_or(corrupt)?;
                    *de = (*de & !act) | (e & act);
                    if matches!(inst, Inst::LocalSet(_)) {
                        sp = sp.wrapping_sub(1);
                    }
                }
                Inst::LocalGet(l) => {
                    let e = self.lerrs.get(usize::from(l)).copied().ok_or(corrupt)?;
                    let j = at!(0);
                    let (Some(v), Some(dst), Some(flag)) = (
                        self.locals.get(usize::from(l)),
                        self.vals.get_mut(j),
                        self.is_mask.get_mut(j),
                    ) else {
                        return Err(corrupt);
                    };
                    if *flag && !all {
                        *dst = bools(self.masks.get(j).copied().unwrap_or(0));
                    }
                    *flag = false;
                    update(dst, act, all, |lane, _| v.get(lane).copied().unwrap_or(0));
                    self.set_err(j, e, act);
                    sp = sp.wrapping_add(1);
                }
                Inst::I2F => unary!(|a| Some((a as i64 as f64).to_bits())),

                Inst::AddI => binary!(|a, b| (a as i64).checked_add(b as i64).map(|v| v as u64)),
                Inst::SubI => binary!(|a, b| (a as i64).checked_sub(b as i64).map(|v| v as u64)),
                Inst::MulI => binary!(|a, b| (a as i64).checked_mul(b as i64).map(|v| v as u64)),
                Inst::DivI => binary!(|a, b| (a as i64).checked_div(b as i64).map(|v| v as u64)),
                Inst::NegI => unary!(|a| (a as i64).checked_neg().map(|v| v as u64)),
                Inst::AbsI => unary!(|a| (a as i64).checked_abs().map(|v| v as u64)),
                Inst::MinI => binary!(|a, b| Some(if (a as i64) <= (b as i64) { a } else { b })),
                Inst::MaxI => binary!(|a, b| Some(if (a as i64) >= (b as i64) { a } else { b })),
                Inst::AddF => binary!(|a, b| finite(f64::from_bits(a) + f64::from_bits(b))),
                Inst::SubF => binary!(|a, b| finite(f64::from_bits(a) - f64::from_bits(b))),
                Inst::MulF => binary!(|a, b| finite(f64::from_bits(a) * f64::from_bits(b))),
                Inst::DivF => binary!(|a, b| finite(f64::from_bits(a) / f64::from_bits(b))),
                Inst::NegF => unary!(|a| Some(a ^ (1 << 63))),
                Inst::AbsF => unary!(|a| Some(a & !(1 << 63))),
                Inst::MinF => binary!(|a, b| Some(if f64::from_bits(a) <= f64::from_bits(b) {
                    a
                } else {
                    b
                })),
                Inst::MaxF => binary!(|a, b| Some(if f64::from_bits(a) >= f64::from_bits(b) {
                    a
                } else {
                    b
                })),

                Inst::Eq => compare!(Cmp::Eq),
                Inst::Ne => compare!(Cmp::Ne),
                Inst::EqF => compare!(Cmp::EqF),
                Inst::NeF => compare!(Cmp::NeF),
                Inst::LtI => compare!(Cmp::LtI),
                Inst::LeI => compare!(Cmp::LeI),
                Inst::GtI => compare!(Cmp::GtI),
                Inst::GeI => compare!(Cmp::GeI),
                Inst::LtU => compare!(Cmp::LtU),
                Inst::LeU => compare!(Cmp::LeU),
                Inst::GtU => compare!(Cmp::GtU),
                Inst::GeU => compare!(Cmp::GeU),
                Inst::LtF => compare!(Cmp::LtF),
                Inst::LeF => compare!(Cmp::LeF),
                Inst::GtF => compare!(Cmp::GtF),
                Inst::GeF => compare!(Cmp::GeF),
                Inst::BetweenI | Inst::BetweenU | Inst::BetweenF => {
                    let num = match inst {
                        Inst::BetweenI => Num::I,
                        Inst::BetweenU => Num::U,
                        _ => Num::F,
                    };
                    let (ix, ilo, ihi) = (at!(3), at!(2), at!(1));
                    let le = le_of(num);
                    let m = self.compare(le, ilo, ix).ok_or(corrupt)?
                        & self.compare(le, ix, ihi).ok_or(corrupt)?;
                    let e = self.err(ix) | self.err(ilo) | self.err(ihi);
                    self.put_mask(ix, m, e, act, all);
                    sp = sp.wrapping_sub(2);
                }
                Inst::InSetI(k, len) | Inst::InSetF(k, len) => {
                    let set = set_of(consts, k, len).ok_or(corrupt)?;
                    let i = at!(1);
                    self.materialize(i);
                    let x = self.vals.get(i).ok_or(corrupt)?;
                    let m = in_set_mask(matches!(inst, Inst::InSetF(..)), x, set);
                    let e = self.err(i);
                    self.put_mask(i, m, e, act, all);
                }

                Inst::Not => {
                    let i = at!(1);
                    let (m, e) = (!self.truth_of(i), self.err(i));
                    self.put_mask(i, m, e, act, all);
                }
                Inst::And | Inst::AndEmit(_) | Inst::AndNotEmit(_) => {
                    let (ia, ib) = (at!(2), at!(1));
                    let (ea, eb) = (self.err(ia), self.err(ib));
                    // `AndNotEmit` negates the top first.
                    let b = self.truth_of(ib)
                        ^ if let Inst::AndNotEmit(_) = inst {
                            !0
                        } else {
                            0
                        };
                    // Kleene: a definite false wins over an error.
                    let definitely_false = (!ea & !self.truth_of(ia)) | (!eb & !b);
                    let e = !definitely_false & (ea | eb);
                    if let Inst::AndEmit(c) | Inst::AndNotEmit(c) = inst {
                        emit!(c, !definitely_false & !e & act, e & act);
                        sp = sp.wrapping_sub(2);
                    } else {
                        self.put_mask(ia, !definitely_false, e, act, all);
                        sp = sp.wrapping_sub(1);
                    }
                }
                Inst::Or => {
                    let (ia, ib) = (at!(2), at!(1));
                    let (ea, eb) = (self.err(ia), self.err(ib));
                    // Kleene: a definite true wins over an error.
                    let definitely_true = (!ea & self.truth_of(ia)) | (!eb & self.truth_of(ib));
                    self.put_mask(ia, definitely_true, !definitely_true & (ea | eb), act, all);
                    sp = sp.wrapping_sub(1);
                }

                Inst::JumpIfFalse(skip) => {
                    let i = at!(1);
                    let taken = act & !self.err(i) & !self.truth_of(i);
                    park!(pc + usize::from(skip), sp, taken);
                }
                Inst::JumpIfTrue(skip) => {
                    let i = at!(1);
                    let taken = act & !self.err(i) & self.truth_of(i);
                    // Leave exactly what `Or` would push (see `exec`).
                    self.put_mask(i, u64::MAX, 0, taken, false);
                    park!(pc + usize::from(skip), sp, taken);
                }

                Inst::Emit(c) => {
                    let i = at!(1);
                    let e = self.err(i) & act;
                    let t = self.truth_of(i) & !e & act;
                    emit!(c, t, e);
                    sp = sp.wrapping_sub(1);
                }
            }
        }
        if gather {
            self.write_rows(out, clauses, n);
        }
        Ok(true)
    }

    /// Writes the gathered conditions into the block's rows (already cleared in the range): per row
    /// word, the clause-by-lane bit matrix is transposed into lane-by-clause words.
    fn write_rows(&self, out: &mut Out, clauses: core::ops::Range<usize>, n: usize) {
        if out.words == 0 {
            return;
        }
        let first = clauses.start;
        for (w, _) in word_masks(clauses.clone()) {
            let lo = (w * 64).max(clauses.start);
            let hi = (w * 64 + 64).min(clauses.end);
            let (Some(ts), Some(es)) = (
                self.truth.get(lo - first..hi - first),
                self.error.get(lo - first..hi - first),
            ) else {
                continue;
            };
            for (masks, rows) in [(ts, &mut *out.truth), (es, &mut *out.error)] {
                // Row `b` of the matrix: the lanes where the clause at bit `b` of the word holds.
                let mut m = [0u64; 64];
                let mut any = 0u64;
                for (k, &lanes) in masks.iter().enumerate() {
                    if let Some(slot) = m.get_mut((lo + k) % 64) {
                        *slot = lanes;
                    }
                    any |= lanes;
                }
                if any == 0 {
                    continue; // nothing true (or erroneous) here: the rows are already clear
                }
                transpose64(&mut m);
                for (row, bits) in rows.chunks_exact_mut(out.words).zip(m).take(n) {
                    if let Some(word) = row.get_mut(w) {
                        *word |= bits;
                    }
                }
            }
        }
    }
}
