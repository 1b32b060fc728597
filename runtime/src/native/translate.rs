//! Stack bytecode → Cranelift IR: in go one verified function's decoded ops (jumps counted in
//! instructions); out comes the body of a CLIF function that evaluates it on a run of records.
//!
//! The generated function is `fn(slots, missing, truth, error, n)`: it evaluates `n >= 0` records laid
//! end to end (slots and missing masks), and for each writes the function's clause range into that
//! record's row of clause words, leaving the row's other bits as they are. One record is a batch of
//! one: there is no separate single-record entry (one compile per function; the loop costs a compare
//! and a branch per record).
//!
//! The loop body is **free of branches**: one basic block, or for a long function a chain of blocks
//! joined by unconditional jumps that the backend lays out as fall-through. The translator interprets
//! the bytecode abstractly over an operand stack of `(value, error)` pairs of SSA values, folding what
//! is known at compile time (constants, "never erroneous", "always reached"):
//! - every instruction has a reachability flag; the jumps that `interp::droppable_jumps` proves
//!   unobservable (short circuits, rule scopes) are dropped, as the interpreter drops them;
//! - any other forward jump records its *taken* predicate (reachability and condition) with a
//!   snapshot of the stack and locals; at its target the snapshot is merged into the fall-through
//!   state with `select`s on that predicate (only where the two differ), and reachability becomes the
//!   `or` of the edges (which, for a jump whose skipped code is entered only from it, is again the
//!   reachability before the jump: code after it is not predicated). The skipped code is computed
//!   anyway: it is pure, never traps, and the merge discards its results;
//! - the only effect, `Emit`, is predicated on reachability: it sets its clause's bits in an SSA word
//!   of the record's row (a `select` on reachability where that is not known), and each word is
//!   stored once the code moves on to other words (loaded first only where another function's
//!   clauses share it, to keep their bits);
//! - integer overflow comes from `sadd_overflow`/`ssub_overflow`/`smul_overflow`, division uses a
//!   safe divisor (1 where the interpreter reports an error), float results are checked for
//!   finiteness, comparisons are IEEE (`fcmp`) or signed/unsigned (`icmp`), min/max select on a
//!   comparison, `And`/`Or`/`Not` are Kleene, a taken `JumpIfTrue` leaves `1`;
//! - booleans are `i8` flags with lazy negation (`not` is free; `and`/`or` use De Morgan and
//!   `band_not`); record slots are loaded where used, as integers or floats, once per block.
//!
//! Cranelift's register allocation slows down badly on values that live across thousands of
//! instructions, so long functions are cut into blocks of [`CHUNK`] instructions (after an `Emit`):
//! loads and tests are redone per block, and locals (where the compiler keeps shared subexpressions)
//! are spilled to stack slots at each boundary and reloaded on first use.
//!
//! INVARIANT (shared with every engine, see `interp::batch`): the value of an erroneous entry is
//! never observed, so values are not forced to 0 on error here; the flags decide.
//! INVARIANT: records are checked before the call (lengths, optional slots), and the verifier proved
//! every slot, constant, local and clause index in range, so loads and stores need no checks.

#![deny(unsafe_code)]

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::Ieee64;
use cranelift_codegen::ir::{
    InstBuilder, MemFlagsData, StackSlot, StackSlotData, StackSlotKind, Value, types,
};
use cranelift_frontend::FunctionBuilder;

use crate::op::Op;

/// Why a function could not be translated: only a broken verifier invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Broken {
    pub instruction: usize,
    pub what: &'static str,
}

/// What the translator needs to know of the function besides its code.
pub(super) struct Shape<'a> {
    pub code: &'a [Op],
    /// `droppable_jumps(code)`: jumps to ignore.
    pub drop: &'a [bool],
    pub consts: &'a [u64],
    pub clauses: Range<usize>,
    /// Slots and missing-mask words per record, clause words per row.
    pub record_len: usize,
    pub missing_words: usize,
    pub row_words: usize,
    /// Bytecode instructions per block (see `CHUNK`).
    pub chunk: usize,
}

/// A boolean known at compile time, an `i8` SSA value that is 0 or 1, or the negation of one (made
/// only when needed: `not` costs nothing, `and`/`or` of negations use De Morgan and `band_not`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flag {
    Known(bool),
    Ssa(Value),
    Neg(Value),
}

const TRUE: Flag = Flag::Known(true);
const FALSE: Flag = Flag::Known(false);

/// A stack value: 64 bits, in whichever representation the op that made it produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Num {
    Known(u64),
    /// An `i64` SSA value.
    Int(Value),
    /// A flag that is not known (what comparisons and logic produce): 0 or 1 as a 64-bit value.
    Bool(Flag),
    /// An `f64` SSA value (what float arithmetic produces): its bits.
    Float(Value),
    /// Record slot `s`, loaded where it is used (as an integer or a float, once per block).
    Slot(u16),
}

/// An operand stack entry or local.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    v: Num,
    e: Flag,
}

impl Entry {
    const fn ok(v: Num) -> Entry {
        Entry { v, e: FALSE }
    }
}

/// A local's value: in SSA values, or in a stack slot (see [`Translator::spill_locals`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Local {
    /// With the spill slot that already holds it, if any.
    Live(Entry, Option<Spill>),
    Spilled(Spill),
}

/// A stack slot holding a local's value (`i64` at 0) and, unless known, its error flag (`i8` at 8).
/// Every spill gets a fresh slot, so a snapshot that refers to one stays valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Spill {
    slot: StackSlot,
    e: Option<bool>,
}

/// The abstract state that flows along jumps.
#[derive(Clone, Debug)]
struct State {
    stack: Vec<Entry>,
    /// `None`: not written on every path here (the verifier rejects reading it).
    locals: Vec<Option<Local>>,
}

/// Emits CLIF for one function into `b`, whose entry block has the five parameters.
pub(super) fn translate(b: &mut FunctionBuilder<'_>, shape: &Shape<'_>) -> Result<(), Broken> {
    let entry = b.create_block();
    let body = b.create_block();
    let exit = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let &[slots, missing, truth, error, n] = b.block_params(entry) else {
        return Err(Broken {
            instruction: 0,
            what: "the signature has five parameters",
        });
    };
    let params: Vec<Value> = [slots, missing, truth, error, n].into();
    let ptr = types::I64;
    for _ in 0..5 {
        b.append_block_param(body, ptr);
    }
    let args: Vec<_> = params.iter().map(|&v| v.into()).collect();
    b.ins().brif(n, body, &args, exit, &[]);

    b.switch_to_block(body);
    let &[slots, missing, truth, error, n] = b.block_params(body) else {
        return Err(Broken {
            instruction: 0,
            what: "the loop body has five parameters",
        });
    };
    let mut t = Translator {
        b,
        shape,
        slots,
        missing,
        loaded: BTreeMap::new(),
        missing_loaded: BTreeMap::new(),
        as_float: BTreeMap::new(),
        nonzero: BTreeMap::new(),
        rows: Rows {
            truth,
            error,
            open: Vec::new(),
            stored: BTreeSet::new(),
            emitted: vec![false; shape.clauses.len()],
        },
        negations: BTreeMap::new(),
        splits: BTreeMap::new(),
    };
    t.body()?;
    t.finish_rows();

    // Next record.
    let b = t.b;
    let step = |b: &mut FunctionBuilder<'_>, p: Value, words: usize| {
        let bytes = i64::try_from(words.saturating_mul(8)).unwrap_or(i64::MAX);
        b.ins().iadd_imm_s(p, bytes)
    };
    let more = b.ins().iadd_imm_s(n, -1);
    let next = [
        step(b, slots, shape.record_len),
        step(b, missing, shape.missing_words),
        step(b, truth, shape.row_words),
        step(b, error, shape.row_words),
        more,
    ];
    let args: Vec<_> = next.iter().map(|&v| v.into()).collect();
    b.ins().brif(more, body, &args, exit, &[]);

    b.switch_to_block(exit);
    b.ins().return_(&[]);
    b.seal_all_blocks();
    Ok(())
}

struct Translator<'a, 'b, 's> {
    b: &'a mut FunctionBuilder<'b>,
    shape: &'a Shape<'s>,
    slots: Value,
    missing: Value,
    /// Per block: each slot (as an integer or a float) and mask word loaded once, where first needed;
    /// an integer's float bits and its `!= 0`, computed once.
    loaded: BTreeMap<(u16, bool), Value>,
    missing_loaded: BTreeMap<usize, Value>,
    as_float: BTreeMap<Value, Value>,
    nonzero: BTreeMap<Value, Value>,
    rows: Rows,
    /// The value of `Neg(x)`, once made.
    negations: BTreeMap<Value, Value>,
    /// `(a, b) -> w`: disjoint flags whose `or` is `w` (a jump's taken and fall-through
    /// reachability split its own). Merging a jump back gives the reachability before it, so code
    /// after a structured jump is not predicated.
    splits: BTreeMap<(FlagKey, FlagKey), Flag>,
}

/// A flag as a map key.
type FlagKey = (u8, u32);

fn key(f: Flag) -> FlagKey {
    match f {
        Flag::Known(k) => (0, u32::from(k)),
        Flag::Ssa(v) => (1, v.as_u32()),
        Flag::Neg(v) => (2, v.as_u32()),
    }
}

fn pair(x: Flag, y: Flag) -> (FlagKey, FlagKey) {
    let (a, b) = (key(x), key(y));
    if a <= b { (a, b) } else { (b, a) }
}

/// A row word being built: known bits, or an `i64` SSA value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Word {
    Known(u64),
    Ssa(Value),
}

/// The clause words of the record's row as `Emit`s update them. A few words are *open* (held in SSA
/// values, the most recently used last); using another one stores the oldest, so that no value
/// lives across a large function (long live ranges are what makes register allocation slow on the
/// thousands of clauses of a big package). A word is stored once per stretch of code that uses it,
/// usually exactly once.
struct Rows {
    truth: Value,
    error: Value,
    /// `(word, truth bits, error bits)`.
    open: Vec<(usize, Word, Word)>,
    /// Words stored at least once: memory holds them with the function's range already settled.
    stored: BTreeSet<usize>,
    /// Per clause of the function: may an `Emit` already have set its bits?
    emitted: Vec<bool>,
}

/// Row words open at once.
const OPEN_WORDS: usize = 2;

/// Bytecode instructions per block of a long function (cut after an `Emit`).
pub(super) const CHUNK: usize = 48;

impl Translator<'_, '_, '_> {
    // Flags.

    /// The `i8` value of a flag (a `Neg` costs one `bxor`, made once per value).
    fn flag_value(&mut self, f: Flag) -> Value {
        match f {
            Flag::Known(k) => self.b.ins().iconst(types::I8, i64::from(k)),
            Flag::Ssa(v) => v,
            Flag::Neg(v) => {
                if let Some(&n) = self.negations.get(&v) {
                    return n;
                }
                let n = self.b.ins().bxor_imm_s(v, 1);
                self.negations.insert(v, n);
                n
            }
        }
    }

    fn not(&mut self, f: Flag) -> Flag {
        match f {
            Flag::Known(k) => Flag::Known(!k),
            Flag::Ssa(v) => Flag::Neg(v),
            Flag::Neg(v) => Flag::Ssa(v),
        }
    }

    fn and(&mut self, x: Flag, y: Flag) -> Flag {
        use Flag::{Neg, Ssa};
        match (x, y) {
            (FALSE, _) | (_, FALSE) => FALSE,
            (TRUE, o) | (o, TRUE) => o,
            _ if x == y => x,
            (Ssa(a), Neg(b)) | (Neg(b), Ssa(a)) if a == b => FALSE,
            (Ssa(a), Ssa(b)) => Ssa(self.b.ins().band(a, b)),
            // `a and not b`: one instruction; `a` is 0 or 1, so `!b`'s high bits do not matter.
            (Ssa(a), Neg(b)) | (Neg(b), Ssa(a)) => Ssa(self.b.ins().band_not(a, b)),
            // `not a and not b = not (a or b)`.
            (Neg(a), Neg(b)) => Neg(self.b.ins().bor(a, b)),
        }
    }

    fn or(&mut self, x: Flag, y: Flag) -> Flag {
        use Flag::{Neg, Ssa};
        match (x, y) {
            (TRUE, _) | (_, TRUE) => TRUE,
            (FALSE, o) | (o, FALSE) => o,
            _ if x == y => x,
            (Ssa(a), Neg(b)) | (Neg(b), Ssa(a)) if a == b => TRUE,
            _ if self.splits.contains_key(&pair(x, y)) => {
                self.splits.get(&pair(x, y)).copied().unwrap_or(TRUE)
            }
            (Ssa(a), Ssa(b)) => Ssa(self.b.ins().bor(a, b)),
            // `a or not b = not (b and not a)`.
            (Ssa(a), Neg(b)) | (Neg(b), Ssa(a)) => Neg(self.b.ins().band_not(b, a)),
            // `not a or not b = not (a and b)`.
            (Neg(a), Neg(b)) => Neg(self.b.ins().band(a, b)),
        }
    }

    /// Records that `a` and `b` are disjoint and `a or b` is `whole`.
    fn split(&mut self, whole: Flag, a: Flag, b: Flag) {
        if !matches!(a, Flag::Known(_)) && !matches!(b, Flag::Known(_)) {
            self.splits.insert(pair(a, b), whole);
        }
    }

    /// `if p { x } else { y }`.
    fn pick_flag(&mut self, p: Flag, x: Flag, y: Flag) -> Flag {
        match (p, x, y) {
            _ if x == y => x,
            (Flag::Known(k), _, _) => {
                if k {
                    x
                } else {
                    y
                }
            }
            (_, TRUE, FALSE) => p,
            (_, FALSE, TRUE) => self.not(p),
            (_, FALSE, _) => {
                let np = self.not(p);
                self.and(np, y)
            }
            (_, TRUE, _) => self.or(p, y),
            (_, _, FALSE) => self.and(p, x),
            (_, _, TRUE) => {
                let np = self.not(p);
                self.or(np, x)
            }
            (Flag::Neg(c), _, _) => self.pick_flag(Flag::Ssa(c), y, x),
            (Flag::Ssa(c), Flag::Neg(a), Flag::Neg(b)) => Flag::Neg(self.b.ins().select(c, a, b)),
            (Flag::Ssa(c), _, _) => {
                let (a, b) = (self.flag_value(x), self.flag_value(y));
                Flag::Ssa(self.b.ins().select(c, a, b))
            }
        }
    }

    // Values.

    fn int(&mut self, v: Num) -> Value {
        match v {
            Num::Known(k) => self.b.ins().iconst(types::I64, k as i64),
            Num::Int(x) => x,
            Num::Slot(s) => self.load(s, types::I64),
            Num::Bool(f) => {
                let x = self.flag_value(f);
                self.b.ins().uextend(types::I64, x)
            }
            Num::Float(x) => self.b.ins().bitcast(types::I64, MemFlagsData::new(), x),
        }
    }

    fn float(&mut self, v: Num) -> Value {
        match v {
            Num::Known(k) => self.b.ins().f64const(Ieee64::with_bits(k)),
            Num::Float(x) => x,
            Num::Slot(s) => self.load(s, types::F64),
            other => {
                let i = self.int(other);
                if let Some(&f) = self.as_float.get(&i) {
                    return f;
                }
                let f = self.b.ins().bitcast(types::F64, MemFlagsData::new(), i);
                self.as_float.insert(i, f);
                f
            }
        }
    }

    /// `v != 0`.
    fn truthy(&mut self, v: Num) -> Flag {
        match v {
            Num::Known(k) => Flag::Known(k != 0),
            Num::Bool(f) => f,
            other => {
                let i = self.int(other);
                if let Some(&t) = self.nonzero.get(&i) {
                    return Flag::Ssa(t);
                }
                let t = self.b.ins().icmp_imm_s(IntCC::NotEqual, i, 0);
                self.nonzero.insert(i, t);
                Flag::Ssa(t)
            }
        }
    }

    /// `v == 0`.
    fn falsy(&mut self, v: Num) -> Flag {
        let t = self.truthy(v);
        self.not(t)
    }

    fn num_of(&mut self, f: Flag) -> Num {
        match f {
            Flag::Known(k) => Num::Known(u64::from(k)),
            other => Num::Bool(other),
        }
    }

    /// `if p { x } else { y }` on values; integer selects (`cmov`), never a branch.
    fn pick_num(&mut self, p: Flag, x: Num, y: Num) -> Num {
        if x == y {
            return x;
        }
        match (p, x, y) {
            (Flag::Known(k), _, _) => {
                if k {
                    x
                } else {
                    y
                }
            }
            (_, Num::Bool(a), Num::Bool(b)) => Num::Bool(self.pick_flag(p, a, b)),
            (Flag::Neg(c), _, _) => self.pick_num(Flag::Ssa(c), y, x),
            (Flag::Ssa(c), _, _) => {
                let (a, b) = (self.int(x), self.int(y));
                Num::Int(self.b.ins().select(c, a, b))
            }
        }
    }

    fn pick(&mut self, p: Flag, x: Entry, y: Entry) -> Entry {
        Entry {
            v: self.pick_num(p, x.v, y.v),
            e: self.pick_flag(p, x.e, y.e),
        }
    }

    // Record access.

    /// Slot `s` as `ty` (`I64` or `F64`), loaded once per block.
    fn load(&mut self, s: u16, ty: types::Type) -> Value {
        let float = ty == types::F64;
        if let Some(&v) = self.loaded.get(&(s, float)) {
            return v;
        }
        let flags = MemFlagsData::trusted();
        let off = i32::from(s) * 8;
        let v = self.b.ins().load(ty, flags, self.slots, off);
        self.loaded.insert((s, float), v);
        v
    }

    /// Whether slot `s` is missing.
    fn is_missing(&mut self, s: u16) -> Flag {
        let w = usize::from(s) / 64;
        let word = match self.missing_loaded.get(&w) {
            Some(&v) => v,
            None => {
                let flags = MemFlagsData::trusted();
                let off = i32::try_from(w * 8).unwrap_or(i32::MAX);
                let v = self.b.ins().load(types::I64, flags, self.missing, off);
                self.missing_loaded.insert(w, v);
                v
            }
        };
        let bit = self.b.ins().band_imm_s(word, 1i64 << (s % 64));
        Flag::Ssa(self.b.ins().icmp_imm_s(IntCC::NotEqual, bit, 0))
    }

    fn konst(&self, k: u16, at: usize) -> Result<u64, Broken> {
        self.shape
            .consts
            .get(usize::from(k))
            .copied()
            .ok_or(Broken {
                instruction: at,
                what: "a constant index out of range",
            })
    }

    // Operations.

    fn icmp(&mut self, cc: IntCC, a: Num, b: Num) -> Num {
        if let (Num::Known(x), Num::Known(y)) = (a, b) {
            return Num::Known(u64::from(int_cc(cc, x, y)));
        }
        let (x, y) = (self.int(a), self.int(b));
        Num::Bool(Flag::Ssa(self.b.ins().icmp(cc, x, y)))
    }

    fn fcmp(&mut self, cc: FloatCC, a: Num, b: Num) -> Num {
        let (x, y) = (self.float(a), self.float(b));
        Num::Bool(Flag::Ssa(self.b.ins().fcmp(cc, x, y)))
    }

    /// `AddI`/`SubI`/`MulI`: the wrapped result and an overflow flag.
    fn checked(&mut self, op: Op, a: Num, b: Num) -> (Num, Flag) {
        let (x, y) = (self.int(a), self.int(b));
        let (r, of) = match op {
            Op::AddI => self.b.ins().sadd_overflow(x, y),
            Op::SubI => self.b.ins().ssub_overflow(x, y),
            _ => self.b.ins().smul_overflow(x, y),
        };
        (Num::Int(r), Flag::Ssa(of))
    }

    /// `a / b` truncating; erroneous for `b == 0` and `i64::MIN / -1`, where the division runs on a
    /// divisor of 1 instead so that it never traps.
    fn div(&mut self, a: Num, b: Num) -> (Num, Flag) {
        let x = self.int(a);
        if let Num::Known(k) = b {
            let k = k as i64;
            if k == 0 {
                return (Num::Known(0), TRUE);
            }
            if k != -1 {
                let r = self.b.ins().sdiv_imm_s(x, k);
                return (Num::Int(r), FALSE);
            }
        }
        let y = self.int(b);
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
        let minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
        let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
        let overflow = self.b.ins().band(minus_one, min);
        let bad = self.b.ins().bor(zero, overflow);
        let one = self.b.ins().iconst(types::I64, 1);
        let safe = self.b.ins().select(bad, one, y);
        let r = self.b.ins().sdiv(x, safe);
        (Num::Int(r), Flag::Ssa(bad))
    }

    /// A float result and whether it is not finite (NaN or infinite).
    fn float_result(&mut self, r: Value) -> (Num, Flag) {
        let abs = self.b.ins().fabs(r);
        let inf = self.b.ins().f64const(f64::INFINITY);
        // `|r| < inf` is false exactly for NaN and the infinities.
        let finite = self.b.ins().fcmp(FloatCC::LessThan, abs, inf);
        let bad = self.b.ins().bxor_imm_s(finite, 1);
        (Num::Float(r), Flag::Ssa(bad))
    }

    /// `x` in `set`, by bits or IEEE.
    fn in_set(&mut self, x: Num, set: &[u64], float: bool) -> Num {
        let mut hit = FALSE;
        for &c in set {
            let eq = if float {
                if f64::from_bits(c).is_nan() {
                    continue; // equal to nothing
                }
                self.fcmp(FloatCC::Equal, x, Num::Known(c))
            } else {
                self.icmp(IntCC::Equal, x, Num::Known(c))
            };
            let eq = self.truthy(eq);
            hit = self.or(hit, eq);
        }
        self.num_of(hit)
    }

    /// Kleene `and`: a definite false wins over an error. The result is true unless an operand is
    /// definitely false, `(ea or a) and (eb or b)`, and erroneous when it is not false and an operand
    /// is erroneous.
    fn kleene_and(&mut self, a: Entry, b: Entry) -> Entry {
        let (ta, tb) = (self.truthy(a.v), self.truthy(b.v));
        let (pa, pb) = (self.or(a.e, ta), self.or(b.e, tb));
        let not_false = self.and(pa, pb);
        let any_err = self.or(a.e, b.e);
        let e = self.and(not_false, any_err);
        Entry {
            v: self.num_of(not_false),
            e,
        }
    }

    /// Kleene `or`: a definite true wins over an error.
    fn kleene_or(&mut self, a: Entry, b: Entry) -> Entry {
        let (ta, tb) = (self.truthy(a.v), self.truthy(b.v));
        let (na, nb) = (self.not(a.e), self.not(b.e));
        let (da, db) = (self.and(na, ta), self.and(nb, tb));
        let definitely_true = self.or(da, db);
        let not_true = self.not(definitely_true);
        let any_err = self.or(a.e, b.e);
        let e = self.and(not_true, any_err);
        Entry {
            v: self.num_of(definitely_true),
            e,
        }
    }

    /// A local's value, loaded from its spill slot if it is there.
    fn local_entry(&mut self, local: Local) -> Entry {
        match local {
            Local::Live(entry, _) => entry,
            Local::Spilled(Spill { slot, e }) => {
                let v = self.b.ins().stack_load(types::I64, types::I64, slot, 0);
                let e = match e {
                    Some(k) => Flag::Known(k),
                    None => Flag::Ssa(self.b.ins().stack_load(types::I64, types::I8, slot, 8)),
                };
                Entry { v: Num::Int(v), e }
            }
        }
    }

    /// At a block boundary: moves every local held in SSA values to a stack slot, so that a local
    /// read far from where it was written (the compiler keeps shared subexpressions in locals) does
    /// not keep a value live across the function; the next block reloads it on first use.
    fn spill_locals(&mut self, locals: &mut [Option<Local>]) {
        for local in locals.iter_mut() {
            *local = match *local {
                Some(Local::Live(_, Some(spill))) => Some(Local::Spilled(spill)),
                Some(Local::Live(entry, None))
                    if !matches!(
                        (entry.v, entry.e),
                        (Num::Known(_) | Num::Slot(_), Flag::Known(_))
                    ) =>
                {
                    let slot = self.b.create_sized_stack_slot(StackSlotData::new(
                        StackSlotKind::ExplicitSlot,
                        16,
                        3,
                    ));
                    let v = self.int(entry.v);
                    self.b.ins().stack_store(types::I64, v, slot, 0);
                    let e = match entry.e {
                        Flag::Known(k) => Some(k),
                        other => {
                            let f = self.flag_value(other);
                            self.b.ins().stack_store(types::I64, f, slot, 8);
                            None
                        }
                    };
                    Some(Local::Spilled(Spill { slot, e }))
                }
                other => other,
            };
        }
    }

    /// Merges a jump's snapshot into the fall-through state: `taken` selects the snapshot.
    fn merge(
        &mut self,
        state: &mut State,
        reach: &mut Flag,
        taken: Flag,
        snap: State,
        at: usize,
    ) -> Result<(), Broken> {
        if snap.stack.len() != state.stack.len() || snap.locals.len() != state.locals.len() {
            return Err(Broken {
                instruction: at,
                what: "stack depths differ at a jump target",
            });
        }
        if *reach == FALSE {
            *state = snap;
            *reach = taken;
            return Ok(());
        }
        for (cur, s) in state.stack.iter_mut().zip(snap.stack) {
            *cur = self.pick(taken, s, *cur);
        }
        for (cur, s) in state.locals.iter_mut().zip(snap.locals) {
            *cur = match (*cur, s) {
                (Some(c), Some(s)) if c == s => Some(c),
                (Some(c), Some(s)) => {
                    let (c, s) = (self.local_entry(c), self.local_entry(s));
                    Some(Local::Live(self.pick(taken, s, c), None))
                }
                _ => None,
            };
        }
        *reach = self.or(*reach, taken);
        Ok(())
    }

    /// Translates the code.
    fn body(&mut self) -> Result<(), Broken> {
        let shape = self.shape;
        let code = shape.code;
        let n_locals = code
            .iter()
            .filter_map(|op| match op {
                Op::LocalSet(l) | Op::LocalGet(l) | Op::LocalTee(l) => Some(usize::from(*l) + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let mut state = State {
            stack: Vec::new(),
            locals: vec![None; n_locals],
        };
        let mut reach = TRUE;
        let mut pending: BTreeMap<usize, Vec<(Flag, State)>> = BTreeMap::new();

        let mut since_cut = 0usize;
        for (at, &op) in code.iter().enumerate() {
            // Long functions are cut into a chain of blocks joined by unconditional jumps (which the
            // backend lays out as fall-through: no branch is left in the code). Cranelift keeps a
            // constant in one register per block, and slot loads are issued again per block, so
            // values stay live for a stretch of code instead of the whole function: register
            // allocation is much slower on thousands of long-lived values.
            since_cut += 1;
            if since_cut >= shape.chunk && matches!(code.get(at.wrapping_sub(1)), Some(Op::Emit(_)))
            {
                since_cut = 0;
                let next = self.b.create_block();
                self.b.ins().jump(next, &[]);
                self.b.switch_to_block(next);
                self.loaded.clear();
                self.missing_loaded.clear();
                self.as_float.clear();
                self.nonzero.clear();
                self.spill_locals(&mut state.locals);
            }
            if let Some(arrivals) = pending.remove(&at) {
                // Latest jump first: nested jumps merge back into the reachability they split.
                for (taken, snap) in arrivals.into_iter().rev() {
                    self.merge(&mut state, &mut reach, taken, snap, at)?;
                }
            }
            let broken = |what| Broken {
                instruction: at,
                what,
            };
            let underflow = broken("stack underflow");
            let dropped = shape.drop.get(at).copied().unwrap_or(false);
            let stack = &mut state.stack;
            macro_rules! pop {
                () => {
                    stack.pop().ok_or(underflow.clone())?
                };
            }
            // `a op b`: pops `b`, then `a`.
            macro_rules! pop2 {
                () => {{
                    let b = pop!();
                    let a = pop!();
                    (a, b)
                }};
            }
            match op {
                Op::Const(k) => {
                    let k = self.konst(k, at)?;
                    stack.push(Entry::ok(Num::Known(k)));
                }
                Op::Load(s) => {
                    state.stack.push(Entry::ok(Num::Slot(s)));
                }
                Op::LoadOr(s, d) => {
                    let absent = self.is_missing(s);
                    let present = self.not(absent);
                    let taken = self.and(reach, present);
                    let mut snap = state.clone();
                    snap.stack.push(Entry::ok(Num::Slot(s)));
                    let target = at + 1 + usize::from(d);
                    if target < code.len() {
                        pending.entry(target).or_default().push((taken, snap));
                    }
                    let before = reach;
                    reach = self.and(reach, absent);
                    self.split(before, taken, reach);
                }
                Op::Known(s) => {
                    let gone = self.is_missing(s);
                    let known = self.not(gone);
                    let v = self.num_of(known);
                    state.stack.push(Entry::ok(v));
                }
                Op::Dup => {
                    let top = *stack.last().ok_or(underflow)?;
                    stack.push(top);
                }
                Op::Pop => {
                    pop!();
                }
                Op::LocalSet(l) | Op::LocalTee(l) => {
                    let top = if op == Op::LocalTee(l) {
                        *stack.last().ok_or(underflow)?
                    } else {
                        pop!()
                    };
                    let slot = state
                        .locals
                        .get_mut(usize::from(l))
                        .ok_or(broken("a local index out of range"))?;
                    *slot = Some(Local::Live(top, None));
                }
                Op::LocalGet(l) => {
                    let slot = state
                        .locals
                        .get_mut(usize::from(l))
                        .ok_or(broken("a local index out of range"))?;
                    let local = slot.ok_or(broken("a local read before it is written"))?;
                    let v = self.local_entry(local);
                    // Reloaded once per block.
                    if let Local::Spilled(spill) = local {
                        *slot = Some(Local::Live(v, Some(spill)));
                    }
                    state.stack.push(v);
                }
                Op::I2F => {
                    let a = pop!();
                    let x = self.int(a.v);
                    let r = self.b.ins().fcvt_from_sint(types::F64, x);
                    state.stack.push(Entry {
                        v: Num::Float(r),
                        e: a.e,
                    });
                }
                Op::AddI | Op::SubI | Op::MulI => {
                    let (a, b) = pop2!();
                    let (r, bad) = self.checked(op, a.v, b.v);
                    let e = self.or(a.e, b.e);
                    let e = self.or(e, bad);
                    state.stack.push(Entry { v: r, e });
                }
                Op::DivI => {
                    let (a, b) = pop2!();
                    let (r, bad) = self.div(a.v, b.v);
                    let e = self.or(a.e, b.e);
                    let e = self.or(e, bad);
                    state.stack.push(Entry { v: r, e });
                }
                Op::NegI | Op::AbsI => {
                    let a = pop!();
                    let x = self.int(a.v);
                    let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                    let r = if op == Op::NegI {
                        self.b.ins().ineg(x)
                    } else {
                        self.b.ins().iabs(x)
                    };
                    let e = self.or(a.e, Flag::Ssa(min));
                    state.stack.push(Entry { v: Num::Int(r), e });
                }
                Op::MinI | Op::MaxI | Op::MinF | Op::MaxF => {
                    let (a, b) = pop2!();
                    // `if a <= b { a } else { b }` / `if a >= b { a } else { b }`.
                    let keep_a = match op {
                        Op::MinI => self.icmp(IntCC::SignedLessThanOrEqual, a.v, b.v),
                        Op::MaxI => self.icmp(IntCC::SignedGreaterThanOrEqual, a.v, b.v),
                        Op::MinF => self.fcmp(FloatCC::LessThanOrEqual, a.v, b.v),
                        _ => self.fcmp(FloatCC::GreaterThanOrEqual, a.v, b.v),
                    };
                    let keep_a = self.truthy(keep_a);
                    let v = self.pick_num(keep_a, a.v, b.v);
                    let e = self.or(a.e, b.e);
                    state.stack.push(Entry { v, e });
                }
                Op::AddF | Op::SubF | Op::MulF | Op::DivF => {
                    let (a, b) = pop2!();
                    let (x, y) = (self.float(a.v), self.float(b.v));
                    let r = match op {
                        Op::AddF => self.b.ins().fadd(x, y),
                        Op::SubF => self.b.ins().fsub(x, y),
                        Op::MulF => self.b.ins().fmul(x, y),
                        _ => self.b.ins().fdiv(x, y),
                    };
                    let (v, bad) = self.float_result(r);
                    let e = self.or(a.e, b.e);
                    let e = self.or(e, bad);
                    state.stack.push(Entry { v, e });
                }
                Op::NegF | Op::AbsF => {
                    // On the bits, so that NaN payloads pass through exactly.
                    let a = pop!();
                    let x = self.int(a.v);
                    let r = if op == Op::NegF {
                        self.b.ins().bxor_imm_s(x, i64::MIN)
                    } else {
                        self.b.ins().band_imm_s(x, i64::MAX)
                    };
                    state.stack.push(Entry {
                        v: Num::Int(r),
                        e: a.e,
                    });
                }
                Op::Eq
                | Op::Ne
                | Op::LtI
                | Op::LeI
                | Op::GtI
                | Op::GeI
                | Op::LtU
                | Op::LeU
                | Op::GtU
                | Op::GeU => {
                    let (a, b) = pop2!();
                    let cc = match op {
                        Op::Eq => IntCC::Equal,
                        Op::Ne => IntCC::NotEqual,
                        Op::LtI => IntCC::SignedLessThan,
                        Op::LeI => IntCC::SignedLessThanOrEqual,
                        Op::GtI => IntCC::SignedGreaterThan,
                        Op::GeI => IntCC::SignedGreaterThanOrEqual,
                        Op::LtU => IntCC::UnsignedLessThan,
                        Op::LeU => IntCC::UnsignedLessThanOrEqual,
                        Op::GtU => IntCC::UnsignedGreaterThan,
                        _ => IntCC::UnsignedGreaterThanOrEqual,
                    };
                    let v = self.icmp(cc, a.v, b.v);
                    let e = self.or(a.e, b.e);
                    state.stack.push(Entry { v, e });
                }
                Op::EqF | Op::NeF | Op::LtF | Op::LeF | Op::GtF | Op::GeF => {
                    let (a, b) = pop2!();
                    let cc = match op {
                        Op::EqF => FloatCC::Equal,
                        // Unordered or not equal: true when either is NaN, as Rust's `!=`.
                        Op::NeF => FloatCC::NotEqual,
                        Op::LtF => FloatCC::LessThan,
                        Op::LeF => FloatCC::LessThanOrEqual,
                        Op::GtF => FloatCC::GreaterThan,
                        _ => FloatCC::GreaterThanOrEqual,
                    };
                    let v = self.fcmp(cc, a.v, b.v);
                    let e = self.or(a.e, b.e);
                    state.stack.push(Entry { v, e });
                }
                Op::BetweenI | Op::BetweenU | Op::BetweenF => {
                    let hi = pop!();
                    let lo = pop!();
                    let x = pop!();
                    let (lo_x, x_hi) = match op {
                        Op::BetweenI => (
                            self.icmp(IntCC::SignedLessThanOrEqual, lo.v, x.v),
                            self.icmp(IntCC::SignedLessThanOrEqual, x.v, hi.v),
                        ),
                        Op::BetweenU => (
                            self.icmp(IntCC::UnsignedLessThanOrEqual, lo.v, x.v),
                            self.icmp(IntCC::UnsignedLessThanOrEqual, x.v, hi.v),
                        ),
                        _ => (
                            self.fcmp(FloatCC::LessThanOrEqual, lo.v, x.v),
                            self.fcmp(FloatCC::LessThanOrEqual, x.v, hi.v),
                        ),
                    };
                    let (p, q) = (self.truthy(lo_x), self.truthy(x_hi));
                    let inside = self.and(p, q);
                    let v = self.num_of(inside);
                    let e = self.or(x.e, lo.e);
                    let e = self.or(e, hi.e);
                    state.stack.push(Entry { v, e });
                }
                Op::InSetI(k, len) | Op::InSetF(k, len) => {
                    let x = pop!();
                    let start = usize::from(k);
                    let set = shape
                        .consts
                        .get(start..start + usize::from(len))
                        .ok_or(broken("a constant set out of range"))?;
                    let v = self.in_set(x.v, set, matches!(op, Op::InSetF(..)));
                    state.stack.push(Entry { v, e: x.e });
                }
                Op::Not => {
                    let a = pop!();
                    let z = self.falsy(a.v);
                    let v = self.num_of(z);
                    state.stack.push(Entry { v, e: a.e });
                }
                Op::And | Op::Or => {
                    let (a, b) = pop2!();
                    let r = if op == Op::And {
                        self.kleene_and(a, b)
                    } else {
                        self.kleene_or(a, b)
                    };
                    state.stack.push(r);
                }
                Op::JumpIfFalse(d) | Op::JumpIfTrue(d) => {
                    if dropped {
                        continue;
                    }
                    let top = *stack.last().ok_or(underflow)?;
                    let ok = self.not(top.e);
                    let cond = if matches!(op, Op::JumpIfFalse(_)) {
                        self.falsy(top.v)
                    } else {
                        self.truthy(top.v)
                    };
                    let jumps = self.and(ok, cond);
                    let taken = self.and(reach, jumps);
                    let target = at + 1 + usize::from(d);
                    if target < code.len() && taken != FALSE {
                        let mut snap = state.clone();
                        if matches!(op, Op::JumpIfTrue(_))
                            && let Some(top) = snap.stack.last_mut()
                        {
                            // A taken `JumpIfTrue` leaves exactly what `Or` would push.
                            *top = Entry::ok(Num::Known(1));
                        }
                        pending.entry(target).or_default().push((taken, snap));
                    }
                    let stays = self.not(jumps);
                    let before = reach;
                    reach = self.and(reach, stays);
                    self.split(before, taken, reach);
                }
                Op::Emit(c) => {
                    let top = pop!();
                    let rel = usize::from(c)
                        .checked_sub(shape.clauses.start)
                        .filter(|&r| r < shape.clauses.len())
                        .ok_or(broken("a clause outside the function's range"))?;
                    let ok = self.not(top.e);
                    let t = self.truthy(top.v);
                    let t = self.and(ok, t);
                    self.emit(usize::from(c), rel, reach, t, top.e);
                }
            }
        }
        Ok(())
    }

    /// The word `w` as it starts: memory if it was stored already; else the function's range cleared
    /// (and, in a word shared with another function, the other bits as they are).
    fn open_word(&mut self, w: usize) -> (Word, Word) {
        let off = i32::try_from(w * 8).unwrap_or(i32::MAX);
        let flags = MemFlagsData::trusted();
        let (truth, error) = (self.rows.truth, self.rows.error);
        if self.rows.stored.contains(&w) {
            let t = self.b.ins().load(types::I64, flags, truth, off);
            let e = self.b.ins().load(types::I64, flags, error, off);
            return (Word::Ssa(t), Word::Ssa(e));
        }
        let mask = word_mask(&self.shape.clauses, w);
        if mask == u64::MAX {
            return (Word::Known(0), Word::Known(0));
        }
        // Another function's clauses share this word: keep their bits.
        let mut keep = |p: Value| {
            let old = self.b.ins().load(types::I64, flags, p, off);
            Word::Ssa(self.b.ins().band_imm_s(old, !mask as i64))
        };
        (keep(truth), keep(error))
    }

    fn word_value(&mut self, w: Word) -> Value {
        match w {
            Word::Known(k) => self.b.ins().iconst(types::I64, k as i64),
            Word::Ssa(v) => v,
        }
    }

    fn store_word(&mut self, w: usize, t: Word, e: Word) {
        let off = i32::try_from(w * 8).unwrap_or(i32::MAX);
        let flags = MemFlagsData::trusted();
        let (tv, ev) = (self.word_value(t), self.word_value(e));
        self.b.ins().store(flags, tv, self.rows.truth, off);
        self.b.ins().store(flags, ev, self.rows.error, off);
        self.rows.stored.insert(w);
    }

    /// Word `w`'s bits with bit `shift` replaced by `f` (`clear`: the bit may be set now).
    fn set_bit(&mut self, w: Word, shift: usize, f: Flag, clear: bool) -> Word {
        let m = 1u64 << shift;
        match (w, f) {
            (Word::Known(k), Flag::Known(b)) => Word::Known((k & !m) | (u64::from(b) << shift)),
            _ => {
                let mut base = self.word_value(w);
                if clear {
                    base = self.b.ins().band_imm_s(base, !m as i64);
                }
                Word::Ssa(match f {
                    Flag::Known(false) => base,
                    Flag::Known(true) => self.b.ins().bor_imm_s(base, m as i64),
                    f => {
                        let x = self.flag_value(f);
                        let wide = self.b.ins().uextend(types::I64, x);
                        let bit = if shift == 0 {
                            wide
                        } else {
                            self.b.ins().ishl_imm_u(wide, shift as i64)
                        };
                        self.b.ins().bor(base, bit)
                    }
                })
            }
        }
    }

    fn pick_word(&mut self, p: Flag, x: Word, y: Word) -> Word {
        match p {
            _ if x == y => x,
            Flag::Known(k) => {
                if k {
                    x
                } else {
                    y
                }
            }
            Flag::Neg(c) => self.pick_word(Flag::Ssa(c), y, x),
            Flag::Ssa(c) => {
                let (a, b) = (self.word_value(x), self.word_value(y));
                Word::Ssa(self.b.ins().select(c, a, b))
            }
        }
    }

    /// `Emit c` (relative index `rel`) where `reach` holds: the clause is true when `t`, erroneous when
    /// `e`.
    fn emit(&mut self, c: usize, rel: usize, reach: Flag, t: Flag, e: Flag) {
        if reach == FALSE {
            return;
        }
        let (w, shift) = (c / 64, c % 64);
        let at = match self.rows.open.iter().position(|o| o.0 == w) {
            Some(at) => at,
            None => {
                if self.rows.open.len() >= OPEN_WORDS {
                    let (old, ot, oe) = self.rows.open.remove(0);
                    self.store_word(old, ot, oe);
                }
                let (ot, oe) = self.open_word(w);
                self.rows.open.push((w, ot, oe));
                self.rows.open.len() - 1
            }
        };
        let Some(&(_, old_t, old_e)) = self.rows.open.get(at) else {
            return;
        };
        let clear = self.rows.emitted.get(rel).copied().unwrap_or(true);
        let (new_t, new_e) = (
            self.set_bit(old_t, shift, t, clear),
            self.set_bit(old_e, shift, e, clear),
        );
        let (new_t, new_e) = (
            self.pick_word(reach, new_t, old_t),
            self.pick_word(reach, new_e, old_e),
        );
        // Most recently used last.
        self.rows.open.remove(at);
        self.rows.open.push((w, new_t, new_e));
        if let Some(flag) = self.rows.emitted.get_mut(rel) {
            *flag = true;
        }
    }

    /// Stores the open words, and every word of the function's range that no `Emit` reached (its
    /// clauses are false).
    fn finish_rows(&mut self) {
        for (w, t, e) in core::mem::take(&mut self.rows.open) {
            self.store_word(w, t, e);
        }
        let clauses = self.shape.clauses.clone();
        for (w, _) in crate::interp::word_masks(clauses) {
            if !self.rows.stored.contains(&w) {
                let (t, e) = self.open_word(w);
                self.store_word(w, t, e);
            }
        }
    }
}

/// The bits of word `w` that belong to clauses in `range`.
fn word_mask(range: &Range<usize>, w: usize) -> u64 {
    crate::interp::word_masks(range.clone())
        .find(|&(x, _)| x == w)
        .map_or(0, |(_, m)| m)
}

/// `x cc y` on constants, as the interpreter computes it.
fn int_cc(cc: IntCC, x: u64, y: u64) -> bool {
    let (a, b) = (x as i64, y as i64);
    match cc {
        IntCC::Equal => x == y,
        IntCC::NotEqual => x != y,
        IntCC::SignedLessThan => a < b,
        IntCC::SignedLessThanOrEqual => a <= b,
        IntCC::SignedGreaterThan => a > b,
        IntCC::SignedGreaterThanOrEqual => a >= b,
        IntCC::UnsignedLessThan => x < y,
        IntCC::UnsignedLessThanOrEqual => x <= y,
        IntCC::UnsignedGreaterThan => x > y,
        IntCC::UnsignedGreaterThanOrEqual => x >= y,
    }
}
