//! Checking vectors: in go a verified policy, a vector and an [`Evaluator`] (the interpreter, or any
//! engine that fills [`ClauseBits`]); out comes `Ok` or the first [`Mismatch`].
//!
//! The work is split so a caller can measure exactly the evaluation: [`Checker::load`] copies the
//! vector's record into buffers sized once per policy and zeroes the health counters;
//! [`Checker::evaluate`] runs the evaluator and the runtime's decision code and nothing else;
//! [`Checker::compare`] compares conditions and decision with the expected ones.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::interp::{self, Cond};
use fleetgate_runtime::ring::GATE_SLOTS;
use fleetgate_runtime::verify::Layout;
use fleetgate_runtime::{ClauseBits, EvalError, FnId, Policy, Record};

use crate::vector::{Decision, Inputs, Vector, decide, per_slots};

/// Something that evaluates one function of a policy on a record into clause conditions.
pub trait Evaluator {
    fn run(
        &mut self,
        policy: &Policy,
        f: FnId,
        record: &Record<'_>,
        out: &mut ClauseBits,
    ) -> Result<(), EvalError>;
}

/// The runtime's bytecode interpreter, `fleetgate_runtime::interp::run`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Interpreter;

impl Evaluator for Interpreter {
    #[inline(never)]
    fn run(
        &mut self,
        policy: &Policy,
        f: FnId,
        record: &Record<'_>,
        out: &mut ClauseBits,
    ) -> Result<(), EvalError> {
        interp::run(policy, f, record, out)
    }
}

/// Why a vector failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The policy has no function of the vector's kind.
    NoFunction {
        kind: FunctionKind,
    },
    /// The vector's record is larger than any record of the policy.
    RecordSize {
        slots: usize,
        missing: usize,
    },
    /// The vector's clause range is not the function's.
    ClauseRange {
        vector: Range<usize>,
        policy: Range<usize>,
    },
    /// The evaluator refused the record.
    Eval(EvalError),
    Cond {
        clause: u16,
        expected: Cond,
        found: Cond,
    },
    Decision {
        found: Decision,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::NoFunction { kind } => write!(f, "the policy has no function {kind:?}"),
            Mismatch::RecordSize { slots, missing } => {
                write!(
                    f,
                    "a record of {slots} slots and {missing} mask words is larger than the policy's"
                )
            }
            Mismatch::ClauseRange { vector, policy } => {
                write!(
                    f,
                    "the vector has clauses {vector:?}, the function {policy:?}"
                )
            }
            Mismatch::Eval(e) => write!(f, "evaluation failed: {e}"),
            Mismatch::Cond {
                clause,
                expected,
                found,
            } => {
                write!(f, "clause {clause} is {found:?}, expected {expected:?}")
            }
            Mismatch::Decision { found } => write!(f, "the decision is {found:?}"),
        }
    }
}

/// A vector loaded into a [`Checker`], ready to evaluate.
#[derive(Clone, Copy, Debug)]
pub struct Loaded {
    pub kind: FunctionKind,
    pub function: FnId,
    n_slots: usize,
    n_missing: usize,
    point_ppm: u32,
}

/// Buffers for checking vectors against one policy, allocated once.
#[derive(Debug)]
pub struct Checker<'p> {
    policy: &'p Policy,
    bits: ClauseBits,
    slots: Vec<u64>,
    missing: Vec<u64>,
    versions: Vec<u64>,
    counters: Vec<u8>,
    /// The loaded gate's `per` slots (at most one per clause, so never reallocated).
    per_slots: Vec<u16>,
}

impl<'p> Checker<'p> {
    pub fn new(policy: &'p Policy) -> Checker<'p> {
        let slots = policy.record_len(Layout::Device).max(GATE_SLOTS);
        let missing = policy
            .missing_words(Layout::Device)
            .max(policy.missing_words(Layout::Gate));
        Checker {
            policy,
            bits: ClauseBits::for_policy(policy),
            slots: vec![0; slots],
            missing: vec![0; missing],
            versions: vec![0; usize::from(policy.n_planes())],
            counters: vec![0; usize::from(policy.artifact().n_counters)],
            per_slots: Vec::with_capacity(policy.n_clauses()),
        }
    }

    pub fn policy(&self) -> &'p Policy {
        self.policy
    }

    /// The conditions of the last evaluation.
    pub fn bits(&self) -> &ClauseBits {
        &self.bits
    }

    /// Copies `v`'s record into the buffers, zeroes the health counters, reads the plane versions and
    /// the gate's `per` slots.
    pub fn load(&mut self, v: &Vector<'_>) -> Result<Loaded, Mismatch> {
        let (n_slots, n_missing) = (v.n_slots(), v.n_missing());
        if n_slots > self.slots.len() || n_missing > self.missing.len() {
            return Err(Mismatch::RecordSize {
                slots: n_slots,
                missing: n_missing,
            });
        }
        let function = self
            .policy
            .function(v.kind)
            .ok_or(Mismatch::NoFunction { kind: v.kind })?;
        let range = self
            .policy
            .function_def(function)
            .map_or(0..0, |d| d.clause_range());
        if range != v.clause_range() {
            return Err(Mismatch::ClauseRange {
                vector: v.clause_range(),
                policy: range,
            });
        }
        for (dst, s) in self.slots.iter_mut().zip(v.slots()) {
            *dst = s;
        }
        for (dst, m) in self.missing.iter_mut().zip(v.missing()) {
            *dst = m;
        }
        self.counters.fill(0);
        self.versions.fill(0);
        self.per_slots.clear();
        if let FunctionKind::Gate(g) = v.kind {
            self.per_slots.extend(per_slots(self.policy, g));
        } else {
            for (p, dst) in self.versions.iter_mut().enumerate() {
                let slot = u8::try_from(p).ok().and_then(|p| self.policy.plane_slot(p));
                *dst = slot.and_then(|s| self.slots.get(s)).copied().unwrap_or(0);
            }
        }
        Ok(Loaded {
            kind: v.kind,
            function,
            n_slots,
            n_missing,
            point_ppm: v.expected.point_ppm(),
        })
    }

    /// Runs `eval` on the loaded record and the runtime's decision code on its conditions: the part of
    /// a check that runs on a device, and the part worth measuring.
    #[inline(never)]
    pub fn evaluate<E: Evaluator>(
        &mut self,
        job: &Loaded,
        eval: &mut E,
    ) -> Result<Decision, EvalError> {
        let slots = self.slots.get(..job.n_slots).unwrap_or(&[]);
        let missing = self.missing.get(..job.n_missing).unwrap_or(&[]);
        eval.run(
            self.policy,
            job.function,
            &Record { slots, missing },
            &mut self.bits,
        )?;
        let mut inputs = Inputs {
            record: slots,
            versions: &self.versions,
            counters: &mut self.counters,
            point_ppm: job.point_ppm,
            per_slots: &self.per_slots,
        };
        Ok(decide(self.policy, job.kind, &self.bits, &mut inputs))
    }

    /// Compares the last evaluation's conditions and `decision` with what `v` expects.
    pub fn compare(&self, v: &Vector<'_>, decision: &Decision) -> Result<(), Mismatch> {
        for (clause, expected) in v.conds() {
            let found = self.bits.cond(clause).unwrap_or(Cond::Error);
            if found != expected {
                return Err(Mismatch::Cond {
                    clause: clause.0,
                    expected,
                    found,
                });
            }
        }
        if !v.expected.matches(decision) {
            return Err(Mismatch::Decision {
                found: decision.clone(),
            });
        }
        Ok(())
    }

    /// Load, evaluate, compare.
    pub fn check<E: Evaluator>(&mut self, v: &Vector<'_>, eval: &mut E) -> Result<(), Mismatch> {
        let job = self.load(v)?;
        let decision = self.evaluate(&job, eval).map_err(Mismatch::Eval)?;
        self.compare(v, &decision)
    }
}
