//! The bytecode interpreter: in go a verified [`Policy`], a function and a [`Record`]; out come the
//! conditions of the function's clauses in a [`ClauseBits`].
//!
//! It runs the ops the verifier decoded (never bytes), with common idioms fused into one dispatch,
//! comparisons with constants decided at load time as slot tests, and unobservable short circuits
//! if-converted (`fuse.rs`), on a fixed-size operand stack and locals array on the Rust stack: no
//! heap allocation, no panic, and at most as many steps as the function has instructions (jumps
//! only go forward). A function made only of slot tests (typically rails, health rules, ring
//! filters) runs as a loop of independent tests instead ([`run_tests`]); the conditions of a
//! function whose clauses lie in one word are gathered in registers and stored once. Record reads
//! that the verifier already proved in range are still checked, because safe Rust indexes with
//! bounds checks anyway; they return [`EvalError::Corrupt`] instead of panicking.

use crate::artifact::{MAX_LOCALS, MAX_STACK};
use crate::verify::{FnId, Policy, Prepared};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

mod batch;
mod fuse;
#[cfg(test)]
mod tests;

#[cfg(feature = "native")]
pub(crate) use batch::check_batch;
pub use batch::run_batch;
#[cfg(feature = "native")]
pub(crate) use fuse::droppable_jumps;
pub(crate) use fuse::{Cmp, Inst, Num, SlotTest, TestFlags, fuse, slot_tests};

/// Index of a clause in the artifact's clause table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClauseId(pub u16);

impl ClauseId {
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A record: one `u64` per slot, and a missing mask (bit `i % 64` of word `i / 64` set when slot `i`
/// is missing) of exactly `slots.len().div_ceil(64)` words.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub slots: &'a [u64],
    pub missing: &'a [u64],
}

/// The condition of one clause after evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    False,
    True,
    Error,
}

/// Conditions of every clause of a policy: two bits per clause (true, erroneous; never both).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClauseBits {
    truth: Vec<u64>,
    error: Vec<u64>,
    len: usize,
}

impl ClauseBits {
    /// All `n_clauses` clauses false.
    pub fn new(n_clauses: usize) -> ClauseBits {
        let words = n_clauses.div_ceil(64);
        ClauseBits {
            truth: vec![0; words],
            error: vec![0; words],
            len: n_clauses,
        }
    }

    /// Sized for `policy`'s clause table.
    pub fn for_policy(policy: &Policy) -> ClauseBits {
        ClauseBits::new(policy.n_clauses())
    }

    /// Number of clauses covered.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Words per bit vector for `n_clauses` clauses: the per-record stride of batch outputs
    /// ([`run_batch`], `NativePolicy::run_batch`).
    pub const fn words_for(n_clauses: usize) -> usize {
        n_clauses.div_ceil(64)
    }

    /// The raw words: `(truth, error)`, bit `c % 64` of word `c / 64` for clause `c`.
    pub fn words(&self) -> (&[u64], &[u64]) {
        (&self.truth, &self.error)
    }

    /// Both word vectors, for engines that write conditions a word at a time. The caller keeps the
    /// invariants: a clause is never both true and erroneous, and bits past `len` stay clear.
    #[cfg(feature = "native")]
    pub(crate) fn words_mut(&mut self) -> (&mut [u64], &mut [u64]) {
        (&mut self.truth, &mut self.error)
    }

    /// Replaces every condition with one record's words from a batch output (`truth` and `error`
    /// each [`ClauseBits::words_for`]`(len)` words), so that `decision::*` can read batch results
    /// without allocating. Bits past the last clause are ignored. Returns `false`, changing nothing,
    /// when a slice has the wrong length.
    #[inline]
    pub fn load_words(&mut self, truth: &[u64], error: &[u64]) -> bool {
        if truth.len() != self.truth.len() || error.len() != self.error.len() {
            return false;
        }
        // Most rows are one word, where a `memcpy` call (what the loops become) costs more than
        // the copy.
        if let ([dt], [st], [de], [se]) = (&mut self.truth[..], truth, &mut self.error[..], error) {
            (*dt, *de) = (*st, *se);
        } else {
            for (d, s) in self.truth.iter_mut().zip(truth) {
                *d = *s;
            }
            for (d, s) in self.error.iter_mut().zip(error) {
                *d = *s;
            }
        }
        let tail = self.len % 64;
        if tail != 0 {
            let keep = (1u64 << tail) - 1;
            if let (Some(t), Some(e)) = (self.truth.last_mut(), self.error.last_mut()) {
                *t &= keep;
                *e &= keep;
            }
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True and not erroneous. A clause past the end is not true.
    pub fn is_true(&self, c: ClauseId) -> bool {
        bit(&self.truth, c.index())
    }

    /// Erroneous. A clause past the end is not erroneous (see [`ClauseBits::cond`]).
    pub fn is_error(&self, c: ClauseId) -> bool {
        bit(&self.error, c.index())
    }

    /// The condition of `c`, `None` past the end (callers treat that as an error: fail safe).
    pub fn cond(&self, c: ClauseId) -> Option<Cond> {
        if c.index() >= self.len {
            None
        } else if self.is_error(c) {
            Some(Cond::Error)
        } else if self.is_true(c) {
            Some(Cond::True)
        } else {
            Some(Cond::False)
        }
    }

    /// Records `c`'s condition (what `Emit` does; also for other evaluators that share the decision
    /// code). Ignored past the end.
    pub fn set(&mut self, c: ClauseId, cond: Cond) {
        let i = c.index();
        if i >= self.len {
            return;
        }
        let (w, m) = (i / 64, 1u64 << (i % 64));
        if let (Some(t), Some(e)) = (self.truth.get_mut(w), self.error.get_mut(w)) {
            *t = (*t & !m) | if cond == Cond::True { m } else { 0 };
            *e = (*e & !m) | if cond == Cond::Error { m } else { 0 };
        }
    }

    /// Makes the clauses `range` false (clipped to the clauses covered).
    pub fn clear_range(&mut self, range: Range<usize>) {
        for (w, mask) in word_masks(range.start..range.end.min(self.len)) {
            if let (Some(t), Some(e)) = (self.truth.get_mut(w), self.error.get_mut(w)) {
                *t &= !mask;
                *e &= !mask;
            }
        }
    }

    /// Whether a clause in `range` is true and has its bit set in `mask` (one bit per clause).
    #[inline]
    pub(crate) fn any_true_in(&self, range: Range<usize>, mask: &[u64]) -> bool {
        // One word (every rail set under 64 clauses): no iterator. This runs once per decision.
        if let Some((w, m)) = one_word(&range) {
            let t = self.truth.get(w).copied().unwrap_or(0);
            return t & m & mask.get(w).copied().unwrap_or(0) != 0;
        }
        word_masks(range).any(|(w, m)| {
            let t = self.truth.get(w).copied().unwrap_or(0);
            t & m & mask.get(w).copied().unwrap_or(0) != 0
        })
    }

    /// Whether a clause in `range` is erroneous.
    #[inline]
    pub(crate) fn any_error_in(&self, range: Range<usize>) -> bool {
        if let Some((w, m)) = one_word(&range) {
            return self.error.get(w).copied().unwrap_or(0) & m != 0;
        }
        word_masks(range).any(|(w, m)| self.error.get(w).copied().unwrap_or(0) & m != 0)
    }

    /// Makes every clause false.
    pub fn clear(&mut self) {
        self.truth.fill(0);
        self.error.fill(0);
    }

    /// True clauses in `range`, in order.
    pub fn true_in(&self, range: Range<usize>) -> BitIter<'_> {
        BitIter::new(&self.truth, range.start, range.end.min(self.len))
    }

    /// Erroneous clauses in `range`, in order.
    pub fn error_in(&self, range: Range<usize>) -> BitIter<'_> {
        BitIter::new(&self.error, range.start, range.end.min(self.len))
    }

    /// Every true clause, in order.
    pub fn iter_true(&self) -> BitIter<'_> {
        self.true_in(0..self.len)
    }

    /// Every erroneous clause, in order.
    pub fn iter_error(&self) -> BitIter<'_> {
        self.error_in(0..self.len)
    }
}

/// The word and mask of a non-empty bit range within one word.
#[inline(always)]
pub(crate) fn one_word(range: &Range<usize>) -> Option<(usize, u64)> {
    let (start, end) = (range.start, range.end);
    if start >= end || start / 64 != (end - 1) / 64 {
        return None;
    }
    let span = end - start;
    let m = if span == 64 {
        u64::MAX
    } else {
        ((1u64 << span) - 1) << (start % 64)
    };
    Some((start / 64, m))
}

/// Where `Emit` records a condition: a [`ClauseBits`], or one record's row of a batch output.
pub(crate) trait Sink {
    /// Truth and error word `w`.
    fn word(&mut self, w: usize) -> Option<(&mut u64, &mut u64)>;

    /// `Emit`'s store, without branches on the condition: `truth` and `error` are never both set.
    #[inline(always)]
    fn set_bits(&mut self, c: u16, truth: bool, error: bool) {
        let i = usize::from(c);
        let shift = i % 64;
        self.put_word(
            i / 64,
            1 << shift,
            u64::from(truth) << shift,
            u64::from(error) << shift,
        );
    }

    /// Replaces the bits `mask` of word `w` with those of `truth` and `error`.
    #[inline(always)]
    fn put_word(&mut self, w: usize, mask: u64, truth: u64, error: u64) {
        if let Some((t, e)) = self.word(w) {
            *t = (*t & !mask) | (truth & mask);
            *e = (*e & !mask) | (error & mask);
        }
    }
}

impl Sink for ClauseBits {
    #[inline(always)]
    fn word(&mut self, w: usize) -> Option<(&mut u64, &mut u64)> {
        self.truth.get_mut(w).zip(self.error.get_mut(w))
    }
}

/// One record's words of a batch output.
pub(crate) struct Row<'a> {
    pub truth: &'a mut [u64],
    pub error: &'a mut [u64],
}

impl Sink for Row<'_> {
    #[inline(always)]
    fn word(&mut self, w: usize) -> Option<(&mut u64, &mut u64)> {
        self.truth.get_mut(w).zip(self.error.get_mut(w))
    }
}

/// The words a bit range touches, each with the mask of its bits inside the range.
pub(crate) fn word_masks(range: Range<usize>) -> impl Iterator<Item = (usize, u64)> {
    let end = range.end;
    let mut i = range.start;
    core::iter::from_fn(move || {
        if i >= end {
            return None;
        }
        let w = i / 64;
        let lo = i % 64;
        let hi = (end - w * 64).min(64);
        let span = hi - lo;
        let mask = if span == 64 {
            u64::MAX
        } else {
            ((1u64 << span) - 1) << lo
        };
        i = w * 64 + hi;
        Some((w, mask))
    })
}

fn bit(words: &[u64], i: usize) -> bool {
    words.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 != 0)
}

/// Iterator over set bits of a bit vector within a range, as clause ids.
#[derive(Clone, Debug)]
pub struct BitIter<'a> {
    words: &'a [u64],
    next: usize,
    end: usize,
}

impl<'a> BitIter<'a> {
    fn new(words: &'a [u64], start: usize, end: usize) -> BitIter<'a> {
        BitIter {
            words,
            next: start,
            end,
        }
    }
}

impl Iterator for BitIter<'_> {
    type Item = ClauseId;
    fn next(&mut self) -> Option<ClauseId> {
        while self.next < self.end {
            let w = self.next / 64;
            let word = self.words.get(w).copied().unwrap_or(0) >> (self.next % 64);
            if word == 0 {
                self.next = (w + 1) * 64;
                continue;
            }
            let i = self.next + word.trailing_zeros() as usize;
            if i >= self.end {
                break;
            }
            self.next = i + 1;
            return u16::try_from(i).ok().map(ClauseId);
        }
        self.next = self.end;
        None
    }
}

/// Why a function could not be run on a record. Evaluation errors inside the code are values
/// (erroneous clauses), never this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalError {
    NoFunction {
        function: u8,
    },
    RecordLength {
        expected: usize,
        found: usize,
    },
    MissingLength {
        expected: usize,
        found: usize,
    },
    /// The missing mask marks a slot that may not be missing (or a bit past the last slot).
    MissingRequired {
        slot: usize,
    },
    ClauseBitsLength {
        expected: usize,
        found: usize,
    },
    /// A batch's slots are not a whole number of records.
    BatchRecords {
        record_len: usize,
        found: usize,
    },
    /// A batch's missing masks or outputs (`part`) do not have the words its records need.
    BatchLength {
        part: &'static str,
        expected: usize,
        found: usize,
    },
    /// The code broke an invariant the verifier proved: unreachable for a `Policy` from `verify`.
    Corrupt {
        instruction: usize,
    },
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EvalError::NoFunction { function } => {
                write!(f, "the policy has no function {function}")
            }
            EvalError::RecordLength { expected, found } => {
                write!(f, "record has {found} slots, the function reads {expected}")
            }
            EvalError::MissingLength { expected, found } => {
                write!(f, "missing mask has {found} words, expected {expected}")
            }
            EvalError::MissingRequired { slot } => {
                write!(
                    f,
                    "missing mask marks slot {slot}, which may not be missing"
                )
            }
            EvalError::ClauseBitsLength { expected, found } => {
                write!(
                    f,
                    "clause bits cover {found} clauses, the policy has {expected}"
                )
            }
            EvalError::BatchRecords { record_len, found } => {
                write!(
                    f,
                    "batch has {found} slots, not a whole number of {record_len}-slot records"
                )
            }
            EvalError::BatchLength {
                part,
                expected,
                found,
            } => {
                write!(f, "batch {part} has {found} words, expected {expected}")
            }
            EvalError::Corrupt { instruction } => {
                write!(
                    f,
                    "instruction {instruction} breaks an invariant the verifier proved"
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EvalError {}

const SIGN: u64 = 1 << 63;

/// Runs function `f` of `policy` on `record`, writing the conditions of the function's clauses into
/// `out` (its other clauses are left as they are). Record, missing mask and `out` are checked once
/// against the policy; after that nothing can fail for a verified policy.
pub fn run(
    policy: &Policy,
    f: FnId,
    record: &Record,
    out: &mut ClauseBits,
) -> Result<(), EvalError> {
    let prep = check_record(policy, f, record, out)?;
    // Clauses in one word are gathered in registers and stored at the end, over the old bits.
    if prep.word.is_none() {
        out.clear_range(prep.clauses.clone());
    }
    if let (Some(tests), Some(word)) = (&prep.tests, prep.word) {
        return run_tests(tests, record, out, word);
    }
    let consts = &policy.artifact().consts;
    let done = if usize::from(prep.max_stack) <= SMALL && usize::from(prep.n_locals) <= SMALL {
        exec::<SMALL, SMALL>(&prep.insts, consts, record, out, prep.word)
    } else {
        exec::<MAX_STACK, MAX_LOCALS>(&prep.insts, consts, record, out, prep.word)
    };
    if done.is_err() {
        out.clear_range(prep.clauses.clone());
    }
    done
}

/// Runs code made only of slot tests, laid out by [`slot_tests`], whose clauses lie in word `w`
/// (bits `mask`): each test that fails clears the clauses that read it, each that passes sets the
/// clause it emits; no condition is erroneous. The word is stored at the end over the old bits.
#[inline]
fn run_tests(
    tests: &[SlotTest],
    record: &Record,
    out: &mut impl Sink,
    (w, mask): (usize, u64),
) -> Result<(), EvalError> {
    let (mut truth, mut keep) = (0u64, u64::MAX);
    for (pc, t) in tests.iter().enumerate() {
        let x = record.slots.get(usize::from(t.slot));
        let hit = t.holds(*x.ok_or(EvalError::Corrupt { instruction: pc })?);
        let hit = or_missing(record, t.flags, t.slot, hit);
        // All ones when the test passes.
        let pass = u64::from(hit).wrapping_neg();
        truth |= t.set & pass;
        keep &= t.keep | pass;
    }
    out.put_word(w, mask, truth & keep, 0);
    Ok(())
}

/// Whether slot `s` of `record` passes the test (see `fuse::Test`); an optional slot that is missing
/// gets the flags' fixed result. `None` for a slot past the record.
#[inline(always)]
fn slot_test(record: &Record, f: TestFlags, s: u16, lo: u64, span: u64) -> Option<bool> {
    let hit = f.holds(*record.slots.get(usize::from(s))?, lo, span);
    Some(or_missing(record, f, s, hit))
}

/// `hit`, the test's result on slot `s`, unless `s` is an optional slot that is missing: then the
/// flags' fixed result.
#[inline(always)]
fn or_missing(record: &Record, f: TestFlags, s: u16, hit: bool) -> bool {
    if f.optional() {
        let gone = is_missing(record.missing, s);
        (hit & !gone) | (f.if_missing() & gone)
    } else {
        hit
    }
}

/// Whether the missing mask marks slot `s`.
#[inline(always)]
fn is_missing(missing: &[u64], s: u16) -> bool {
    let s = usize::from(s);
    missing.get(s / 64).is_some_and(|w| w >> (s % 64) & 1 != 0)
}

/// The checks `run` makes before running (shared with native code, so that every engine rejects the
/// same inputs with the same error): the function exists, the record and its missing mask have the
/// layout's lengths, the mask marks only optional slots, and `out` covers the policy's clauses.
pub(crate) fn check_record<'p>(
    policy: &'p Policy,
    f: FnId,
    record: &Record,
    out: &ClauseBits,
) -> Result<&'p Prepared, EvalError> {
    let Some(prep) = policy.prepared(f) else {
        return Err(EvalError::NoFunction { function: f.0 });
    };
    let expected = policy.record_len(prep.layout);
    if record.slots.len() != expected {
        return Err(EvalError::RecordLength {
            expected,
            found: record.slots.len(),
        });
    }
    let required = policy.required_mask(prep.layout);
    if record.missing.len() != required.len() {
        return Err(EvalError::MissingLength {
            expected: required.len(),
            found: record.missing.len(),
        });
    }
    check_required(record.missing, required, 0)?;
    if out.len() != policy.n_clauses() {
        return Err(EvalError::ClauseBitsLength {
            expected: policy.n_clauses(),
            found: out.len(),
        });
    }
    Ok(prep)
}

/// Rejects a missing mask that marks a slot that may not be missing; `first_slot` is added to the
/// slot reported (batches report the slot's index in the whole batch).
pub(crate) fn check_required(
    missing: &[u64],
    required: &[u64],
    first_slot: usize,
) -> Result<(), EvalError> {
    for (w, (&missing, &req)) in missing.iter().zip(required).enumerate() {
        let bad = missing & req;
        if bad != 0 {
            return Err(EvalError::MissingRequired {
                slot: first_slot + w * 64 + bad.trailing_zeros() as usize,
            });
        }
    }
    Ok(())
}

const _: () = assert!(MAX_STACK.is_power_of_two() && MAX_LOCALS <= 64);

/// Stack and locals of a small function fit these; such functions run with smaller arrays, because
/// zeroing the full-size ones costs more than running a typical rail set.
pub(crate) const SMALL: usize = 16;

/// `v` for a good entry, `0` for an erroneous one (the invariant of every stack entry).
#[inline(always)]
fn val(v: u64, e: bool) -> u64 {
    v & u64::from(e).wrapping_sub(1)
}

/// A float result, or `None` (an error) when it is not finite.
#[inline(always)]
pub(crate) fn finite(v: f64) -> Option<u64> {
    v.is_finite().then(|| v.to_bits())
}

pub(crate) fn set_of(consts: &[u64], k: u16, n: u16) -> Option<&[u64]> {
    let start = usize::from(k);
    consts.get(start..start + usize::from(n))
}

/// The dispatch loop over pre-decoded ops, with a stack of `S` entries (a power of two, at least the
/// function's `max_stack`) and `L` locals (at least its `n_locals`). Terminates: `pc` only grows.
///
/// The top of the stack lives in two locals (`tv`, `te`); `vals`/`errs` hold the entries below it,
/// `sp` counting them (it wraps below zero only while the stack is empty, when the top is dead).
/// Stack slots are indexed modulo `S`: the verifier bounds the depth, so the index never wraps for
/// verified code, and the mask lets the compiler drop bounds checks without `unsafe`.
#[inline]
pub(crate) fn exec<const S: usize, const L: usize>(
    code: &[Inst],
    consts: &[u64],
    record: &Record,
    out: &mut impl Sink,
    word: Option<(usize, u64)>,
) -> Result<(), EvalError> {
    let stack_mask = S - 1;
    // The emitted conditions, when the clauses lie in one word (`word`: its index and their mask).
    let (mut acc_t, mut acc_e) = (0u64, 0u64);
    let slots = record.slots;
    let missing = record.missing;
    let mut vals = [0u64; S];
    let mut errs = 0u64;
    let mut sp = usize::MAX;
    let (mut tv, mut te) = (0u64, false);
    let mut locals = [0u64; L];
    let mut lerrs = 0u64;
    let mut pc = 0usize;

    // Pushes a new top, spilling the old one below.
    macro_rules! push {
        ($v:expr, $e:expr) => {{
            let (v, e): (u64, bool) = ($v, $e);
            sp = sp.wrapping_add(1);
            let i = sp & stack_mask;
            if let Some(slot) = vals.get_mut(i) {
                *slot = tv;
            }
            errs = (errs & !(1u64 << i)) | (u64::from(te) << i);
            tv = val(v, e);
            te = e;
        }};
    }
    // Removes and returns the entry below the top.
    macro_rules! pop_below {
        () => {{
            let i = sp & stack_mask;
            sp = sp.wrapping_sub(1);
            (vals.get(i).copied().unwrap_or(0), errs >> i & 1 != 0)
        }};
    }
    // Records clause `c`'s condition: true, erroneous (never both), else false.
    macro_rules! emit {
        ($c:expr, $t:expr, $e:expr) => {{
            let (c, t, e): (u16, bool, bool) = ($c, $t, $e);
            if word.is_some() {
                let shift = c % 64;
                acc_t = (acc_t & !(1 << shift)) | (u64::from(t) << shift);
                acc_e = (acc_e & !(1 << shift)) | (u64::from(e) << shift);
            } else {
                out.set_bits(c, t, e);
            }
        }};
    }
    macro_rules! set_top {
        ($v:expr, $e:expr) => {{
            let (v, e): (u64, bool) = ($v, $e);
            tv = val(v, e);
            te = e;
        }};
    }
    // `a op b` with `b` the top: `$body` gives `Option<u64>`, `None` being an error.
    macro_rules! binary {
        (|$a:ident, $b:ident| $body:expr) => {{
            let (a, ea) = pop_below!();
            let r: Option<u64> = {
                let ($a, $b) = (a, tv);
                $body
            };
            set_top!(r.unwrap_or(0), ea | te | r.is_none());
        }};
    }
    // A comparison: `$body` gives `bool`; erroneous only through an operand.
    macro_rules! compare {
        (|$a:ident, $b:ident| $body:expr) => {{
            let (a, ea) = pop_below!();
            let r: bool = {
                let ($a, $b) = (a, tv);
                $body
            };
            set_top!(u64::from(r), ea | te);
        }};
    }
    macro_rules! unary {
        (|$a:ident| $body:expr) => {{
            let r: Option<u64> = {
                let $a = tv;
                $body
            };
            set_top!(r.unwrap_or(0), te | r.is_none());
        }};
    }
    // Pops `x lo hi` (hi is the top) and pushes `lo <= x && x <= hi` under `$le`.
    macro_rules! between {
        (|$a:ident, $b:ident| $le:expr) => {{
            let hi = tv;
            let (lo, el) = pop_below!();
            let (x, ex) = pop_below!();
            let le = |$a: u64, $b: u64| -> bool { $le };
            set_top!(u64::from(le(lo, x) && le(x, hi)), te | el | ex);
        }};
    }
    let fl = f64::from_bits;
    let int = |v: u64| v as i64;

    while let Some(&inst) = code.get(pc) {
        let corrupt = EvalError::Corrupt { instruction: pc };
        pc += 1;
        // Whether slot `s` passes the test.
        macro_rules! test {
            ($f:expr, $s:expr, $lo:expr, $span:expr) => {
                slot_test(record, $f, $s, $lo, $span).ok_or(corrupt)?
            };
        }
        match inst {
            Inst::Test(f, s, lo, span) => push!(u64::from(test!(f, s, lo, span)), false),
            Inst::TestEmit(f, s, clause, lo, span) => {
                emit!(clause, test!(f, s, lo, span), false);
            }
            Inst::ScopedTestEmit(f, s, clause, lo, span)
            | Inst::AndTestEmit(f, s, clause, lo, span) => {
                // `top and cond` with `cond` never erroneous: false wins, else the top decides.
                let cond = test!(f, s, lo, span);
                emit!(clause, cond & !te & (tv != 0), cond & te);
                // A scope stays for its next clause; the first operand of an `and` is used up.
                if let Inst::AndTestEmit(..) = inst {
                    (tv, te) = pop_below!();
                }
            }
            Inst::TestTop(f, lo, span) => set_top!(u64::from(f.holds(tv, lo, span)), te),
            Inst::LoadOrK(s, k) => {
                let present = *slots.get(usize::from(s)).ok_or(corrupt)?;
                let default = *consts.get(usize::from(k)).ok_or(corrupt)?;
                push!(
                    if is_missing(missing, s) {
                        default
                    } else {
                        present
                    },
                    false
                );
            }
            Inst::InSetS(float, s, k, n) => {
                let x = *slots.get(usize::from(s)).ok_or(corrupt)?;
                let set = set_of(consts, k, n).ok_or(corrupt)?;
                let hit = if float {
                    set.iter().any(|&c| fl(c) == fl(x))
                } else {
                    set.contains(&x)
                };
                push!(u64::from(hit), false);
            }
            Inst::Const(k) => push!(*consts.get(usize::from(k)).ok_or(corrupt)?, false),
            Inst::Load(s) => push!(*slots.get(usize::from(s)).ok_or(corrupt)?, false),
            Inst::LoadOr(s, skip) => {
                if !is_missing(missing, s) {
                    push!(*slots.get(usize::from(s)).ok_or(corrupt)?, false);
                    pc += usize::from(skip);
                }
            }
            Inst::Known(s) => push!(u64::from(!is_missing(missing, s)), false),
            Inst::Dup => push!(tv, te),
            Inst::Pop => (tv, te) = pop_below!(),
            Inst::LocalSet(l) | Inst::LocalTee(l) => {
                *locals.get_mut(usize::from(l)).ok_or(corrupt)? = tv;
                // `l < MAX_LOCALS <= 64` once the store above succeeded.
                lerrs = (lerrs & !(1u64 << l)) | (u64::from(te) << l);
                if matches!(inst, Inst::LocalSet(_)) {
                    (tv, te) = pop_below!();
                }
            }
            Inst::LocalGet(l) => {
                let v = *locals.get(usize::from(l)).ok_or(corrupt)?;
                push!(v, lerrs >> (l % 64) & 1 != 0);
            }
            Inst::I2F => unary!(|a| Some((int(a) as f64).to_bits())),

            Inst::AddI => binary!(|a, b| int(a).checked_add(int(b)).map(|v| v as u64)),
            Inst::SubI => binary!(|a, b| int(a).checked_sub(int(b)).map(|v| v as u64)),
            Inst::MulI => binary!(|a, b| int(a).checked_mul(int(b)).map(|v| v as u64)),
            // `checked_div` is `None` for a zero divisor and for `i64::MIN / -1`.
            Inst::DivI => binary!(|a, b| int(a).checked_div(int(b)).map(|v| v as u64)),
            Inst::NegI => unary!(|a| int(a).checked_neg().map(|v| v as u64)),
            Inst::AbsI => unary!(|a| int(a).checked_abs().map(|v| v as u64)),
            Inst::MinI => binary!(|a, b| Some(if int(a) <= int(b) { a } else { b })),
            Inst::MaxI => binary!(|a, b| Some(if int(a) >= int(b) { a } else { b })),
            Inst::AddF => binary!(|a, b| finite(fl(a) + fl(b))),
            Inst::SubF => binary!(|a, b| finite(fl(a) - fl(b))),
            Inst::MulF => binary!(|a, b| finite(fl(a) * fl(b))),
            Inst::DivF => binary!(|a, b| finite(fl(a) / fl(b))),
            Inst::NegF => unary!(|a| Some(a ^ SIGN)),
            Inst::AbsF => unary!(|a| Some(a & !SIGN)),
            Inst::MinF => binary!(|a, b| Some(if fl(a) <= fl(b) { a } else { b })),
            Inst::MaxF => binary!(|a, b| Some(if fl(a) >= fl(b) { a } else { b })),

            Inst::Eq => compare!(|a, b| a == b),
            Inst::Ne => compare!(|a, b| a != b),
            Inst::EqF => compare!(|a, b| fl(a) == fl(b)),
            Inst::NeF => compare!(|a, b| fl(a) != fl(b)),
            Inst::LtI => compare!(|a, b| int(a) < int(b)),
            Inst::LeI => compare!(|a, b| int(a) <= int(b)),
            Inst::GtI => compare!(|a, b| int(a) > int(b)),
            Inst::GeI => compare!(|a, b| int(a) >= int(b)),
            Inst::LtU => compare!(|a, b| a < b),
            Inst::LeU => compare!(|a, b| a <= b),
            Inst::GtU => compare!(|a, b| a > b),
            Inst::GeU => compare!(|a, b| a >= b),
            Inst::LtF => compare!(|a, b| fl(a) < fl(b)),
            Inst::LeF => compare!(|a, b| fl(a) <= fl(b)),
            Inst::GtF => compare!(|a, b| fl(a) > fl(b)),
            Inst::GeF => compare!(|a, b| fl(a) >= fl(b)),
            Inst::BetweenI => between!(|a, b| Num::I.le(a, b)),
            Inst::BetweenU => between!(|a, b| Num::U.le(a, b)),
            Inst::BetweenF => between!(|a, b| Num::F.le(a, b)),
            Inst::InSetI(k, n) => {
                let set = set_of(consts, k, n).ok_or(corrupt)?;
                set_top!(u64::from(set.contains(&tv)), te);
            }
            Inst::InSetF(k, n) => {
                let set = set_of(consts, k, n).ok_or(corrupt)?;
                let x = fl(tv);
                set_top!(u64::from(set.iter().any(|&c| fl(c) == x)), te);
            }

            Inst::Not => set_top!(u64::from(tv == 0), te),
            Inst::And | Inst::AndEmit(_) | Inst::AndNotEmit(_) => {
                if let Inst::AndNotEmit(_) = inst {
                    set_top!(u64::from(tv == 0), te);
                }
                let (a, ea) = pop_below!();
                // Kleene: a definite false wins over an error.
                let definitely_false = (!ea && a == 0) || (!te && tv == 0);
                set_top!(
                    u64::from(!definitely_false),
                    !definitely_false && (ea || te)
                );
                if let Inst::AndEmit(c) | Inst::AndNotEmit(c) = inst {
                    emit!(c, tv != 0, te);
                    (tv, te) = pop_below!();
                }
            }
            Inst::Or => {
                let (a, ea) = pop_below!();
                // Kleene: a definite true wins over an error.
                let definitely_true = (!ea && a != 0) || (!te && tv != 0);
                set_top!(u64::from(definitely_true), !definitely_true && (ea || te));
            }

            Inst::JumpIfFalse(skip) => {
                if !te && tv == 0 {
                    pc += usize::from(skip);
                }
            }
            Inst::JumpIfTrue(skip) => {
                if !te && tv != 0 {
                    pc += usize::from(skip);
                    // Leave exactly what `Or` would push, so a short circuit is unobservable even
                    // when the tested value is a record bool other than 1.
                    tv = 1;
                }
            }

            Inst::Emit(c) => {
                emit!(c, !te && tv != 0, te);
                (tv, te) = pop_below!();
            }
        }
    }
    if let Some((w, mask)) = word {
        out.put_word(w, mask, acc_t, acc_e);
    }
    Ok(())
}
