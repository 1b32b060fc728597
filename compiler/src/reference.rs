//! The reference evaluator: the oracle the interpreter and native code are tested against.
//!
//! In: the typed package, a record (slots and missing mask, laid out as `layout.rs` says) and which
//! function to evaluate. Out: the condition of every clause of that function, in the artifact's
//! numbering, ready for the shared decision code of the runtime. It walks the typed expressions
//! directly — lets by reference, scopes as written — with the operation semantics of `semantics.rs`:
//! simple rather than fast.

use fleetgate_lang::typed::{Expr, ExprKind, FieldRef, Package, RuleRef};
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::interp::Cond;
use fleetgate_runtime::{ClauseBits, ClauseId};

use crate::compile::Compiled;
use crate::layout::Layout;
use crate::semantics::{self, Erroneous, Truth};

/// What an evaluation reads: a device record and, for gates, a gate record.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub layout: Layout,
    pub slots: &'a [u64],
    pub missing: &'a [u64],
    pub gate: Option<&'a [u64]>,
}

impl Env<'_> {
    fn is_missing(&self, field: FieldRef) -> bool {
        match field {
            FieldRef::Ring(_) | FieldRef::Rollout(_) => false,
            f => {
                let slot = self.layout.slot(f);
                self.missing
                    .get(slot / 64)
                    .is_some_and(|w| w >> (slot % 64) & 1 == 1)
            }
        }
    }

    fn read(&self, field: FieldRef) -> u64 {
        let slot = self.layout.slot(field);
        let record = match field {
            FieldRef::Ring(_) | FieldRef::Rollout(_) => self.gate.unwrap_or(&[]),
            _ => self.slots,
        };
        record.get(slot).copied().unwrap_or(0)
    }
}

fn truth(r: Result<u64, Erroneous>) -> Truth {
    match r {
        Ok(0) => Truth::False,
        Ok(_) => Truth::True,
        Err(Erroneous) => Truth::Error,
    }
}

fn from_truth(t: Truth) -> Result<u64, Erroneous> {
    match t {
        Truth::False => Ok(0),
        Truth::True => Ok(1),
        Truth::Error => Err(Erroneous),
    }
}

/// The value of an expression: its slot bits, or `Err` when erroneous.
pub fn eval(pkg: &Package, env: &Env<'_>, e: &Expr) -> Result<u64, Erroneous> {
    let ev = |x: &Expr| eval(pkg, env, x);
    match &e.kind {
        ExprKind::Const(v) => Ok(v.bits()),
        ExprKind::Field(f) => Ok(env.read(*f)),
        ExprKind::Coalesce(f, d) => {
            if env.is_missing(*f) {
                ev(d)
            } else {
                Ok(env.read(*f))
            }
        }
        ExprKind::Known(f) => Ok(u64::from(!env.is_missing(*f))),
        ExprKind::Let(id) => ev(&pkg.let_(*id).expr),
        ExprKind::Widen(x) => Ok(semantics::widen(ev(x)?)),
        ExprKind::Neg(k, x) => semantics::neg(*k, ev(x)?).ok_or(Erroneous),
        ExprKind::Abs(k, x) => semantics::abs(*k, ev(x)?).ok_or(Erroneous),
        ExprKind::Arith(op, k, a, b) => {
            let (a, b) = (ev(a), ev(b));
            semantics::arith(*op, *k, a?, b?).ok_or(Erroneous)
        }
        ExprKind::Cmp(op, k, a, b) => {
            let (a, b) = (ev(a), ev(b));
            Ok(u64::from(semantics::cmp(*op, *k, a?, b?)))
        }
        ExprKind::In(k, x, values) => {
            let set: Vec<u64> = values.iter().map(|v| v.bits()).collect();
            Ok(u64::from(semantics::in_set(*k, ev(x)?, &set)))
        }
        ExprKind::Between(k, x, lo, hi) => {
            let (x, lo, hi) = (ev(x), ev(lo), ev(hi));
            Ok(u64::from(semantics::between(*k, x?, lo?, hi?)))
        }
        ExprKind::Not(x) => from_truth(truth(ev(x)).negate()),
        ExprKind::And(xs) => from_truth(Truth::and(xs.iter().map(|x| truth(ev(x))))),
        ExprKind::Or(xs) => from_truth(Truth::or(xs.iter().map(|x| truth(ev(x))))),
    }
}

/// A clause's condition: its rule's scope and its own condition.
pub fn condition(pkg: &Package, env: &Env<'_>, scope: Option<&Expr>, cond: Option<&Expr>) -> Cond {
    let parts = [scope, cond]
        .into_iter()
        .flatten()
        .map(|e| truth(eval(pkg, env, e)));
    match Truth::and(parts) {
        Truth::False => Cond::False,
        Truth::True => Cond::True,
        Truth::Error => Cond::Error,
    }
}

/// Evaluates every clause of one function into `bits` (the function's range is cleared first).
pub fn run(
    pkg: &Package,
    compiled: &Compiled,
    kind: FunctionKind,
    env: &Env<'_>,
    bits: &mut ClauseBits,
) {
    if let Some(f) = compiled.artifact.functions.iter().find(|f| f.kind == kind) {
        bits.clear_range(f.clause_range());
    }
    match kind {
        FunctionKind::Rails | FunctionKind::Health | FunctionKind::Gate(_) => {
            for (i, clause) in pkg.clauses.iter().enumerate() {
                let in_kind = match (clause.rule, kind) {
                    (RuleRef::Rail(_), FunctionKind::Rails)
                    | (RuleRef::Health(_), FunctionKind::Health) => true,
                    (RuleRef::Gate(g), FunctionKind::Gate(a)) => compiled.map.gates[g.index()] == a,
                    _ => false,
                };
                if !in_kind {
                    continue;
                }
                let id = fleetgate_lang::typed::ClauseId(i as u32);
                let c = condition(pkg, env, pkg.scope_of(id), clause.cond.as_ref());
                bits.set(ClauseId(compiled.map.clauses[i]), c);
            }
        }
        FunctionKind::Constraints => {
            for (inc, &index) in pkg.incompatibles.iter().zip(&compiled.map.incompatible) {
                bits.set(ClauseId(index), condition(pkg, env, None, Some(&inc.cond)));
            }
        }
        FunctionKind::Rings => {
            if let Some(rollout) = &pkg.rollout {
                for (ring, index) in rollout.rings.iter().zip(&compiled.map.ring_filters) {
                    if let (Some(f), Some(index)) = (&ring.filter, index) {
                        bits.set(ClauseId(*index), condition(pkg, env, None, Some(f)));
                    }
                }
            }
        }
    }
}
