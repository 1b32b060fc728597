//! Static analyses for `check`: clauses that can never fire, and clauses that fire for every device.
//!
//! In: the typed package. Out: warnings. The analysis asks "is there a record, within the types of the
//! schema, for which this condition is true (or false)?" and answers *no* only when it is sure:
//! - every field ranges over its type (`percent` in [0, 1], `now.hour` in 0..=23, an enum over its
//!   variants, ring counts and soak non-negative, rates in [0, 1]);
//! - a conjunction is narrowed field by field (`x > 5 and x < 3` is empty), a disjunction's falsity
//!   likewise through its negated parts (`x < 5 or x >= 5` is never false);
//! - arithmetic is bounded with interval arithmetic; anything it does not model counts as "could be
//!   either", so no warning.
//!
//! A clause whose condition may be erroneous is never reported as always firing.

use std::collections::BTreeMap;

use fleetgate_lang::diagnostics::Diagnostic;
use fleetgate_lang::typed::{
    ArithOp, ClauseId, CmpKind, CmpOp, Expr, ExprKind, FieldRef, NumKind, Package, RingField, Ty,
    Value,
};

use crate::diagnostics as diag;

/// A closed interval of f64 (integers are exact up to 2^53, which covers every real bound here).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Iv {
    lo: f64,
    hi: f64,
}

impl Iv {
    const ALL: Iv = Iv {
        lo: f64::NEG_INFINITY,
        hi: f64::INFINITY,
    };

    fn point(v: f64) -> Iv {
        Iv { lo: v, hi: v }
    }

    fn is_empty(self) -> bool {
        self.lo > self.hi
    }

    fn meet(self, o: Iv) -> Iv {
        Iv {
            lo: self.lo.max(o.lo),
            hi: self.hi.min(o.hi),
        }
    }

    fn hull(self, o: Iv) -> Iv {
        Iv {
            lo: self.lo.min(o.lo),
            hi: self.hi.max(o.hi),
        }
    }
}

/// Field intervals known to hold on the path being analysed.
type Env = BTreeMap<FieldRef, Iv>;

struct Analysis<'a> {
    pkg: &'a Package,
}

fn num(v: Value) -> Option<f64> {
    match v {
        Value::Int(i) | Value::Duration(i) => Some(i as f64),
        Value::Float(f) => Some(f),
        Value::Version(v) => Some(v.packed() as f64),
        Value::Enum(_, i) => Some(f64::from(i)),
        Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
    }
}

/// The next representable value above/below, in the domain of the comparison.
fn step_up(v: f64, float: bool) -> f64 {
    if float { v.next_up() } else { v + 1.0 }
}

fn step_down(v: f64, float: bool) -> f64 {
    if float { v.next_down() } else { v - 1.0 }
}

impl Analysis<'_> {
    fn domain(&self, f: FieldRef) -> Iv {
        match f {
            FieldRef::Device(id) => {
                let field = self.pkg.field(id);
                match field.ty {
                    Ty::Float if field.percent => Iv { lo: 0.0, hi: 1.0 },
                    Ty::Bool => Iv { lo: 0.0, hi: 1.0 },
                    Ty::Enum(e) => Iv {
                        lo: 0.0,
                        hi: (self.pkg.enum_(e).variants.len() - 1) as f64,
                    },
                    Ty::Version => Iv {
                        lo: 0.0,
                        hi: ((1u64 << 48) - 1) as f64,
                    },
                    _ => Iv::ALL,
                }
            }
            FieldRef::Plane(_) | FieldRef::Release(_) => Iv {
                lo: 0.0,
                hi: ((1u64 << 48) - 1) as f64,
            },
            FieldRef::NowHour => Iv { lo: 0.0, hi: 23.0 },
            FieldRef::NowWeekday => Iv { lo: 0.0, hi: 6.0 },
            FieldRef::Ring(r) | FieldRef::Rollout(r) => match r {
                RingField::SuccessRate | RingField::FailureRate | RingField::FailureUpper => {
                    Iv { lo: 0.0, hi: 1.0 }
                }
                _ => Iv {
                    lo: 0.0,
                    hi: i64::MAX as f64,
                },
            },
        }
    }

    fn field_iv(&self, f: FieldRef, env: &Env) -> Iv {
        env.get(&f).copied().unwrap_or_else(|| self.domain(f))
    }

    /// The range of a numeric expression.
    fn range(&self, e: &Expr, env: &Env) -> Iv {
        match &e.kind {
            ExprKind::Const(v) => num(*v).map_or(Iv::ALL, Iv::point),
            ExprKind::Field(f) => self.field_iv(*f, env),
            ExprKind::Coalesce(f, d) => self.field_iv(*f, env).hull(self.range(d, env)),
            ExprKind::Widen(x) => self.range(x, env),
            ExprKind::Neg(_, x) => {
                let r = self.range(x, env);
                Iv {
                    lo: -r.hi,
                    hi: -r.lo,
                }
            }
            ExprKind::Abs(_, x) => {
                let r = self.range(x, env);
                let lo = if r.lo <= 0.0 && r.hi >= 0.0 {
                    0.0
                } else {
                    r.lo.abs().min(r.hi.abs())
                };
                Iv {
                    lo,
                    hi: r.lo.abs().max(r.hi.abs()),
                }
            }
            ExprKind::Arith(op, _, a, b) => {
                let (a, b) = (self.range(a, env), self.range(b, env));
                match op {
                    ArithOp::Add => Iv {
                        lo: a.lo + b.lo,
                        hi: a.hi + b.hi,
                    },
                    ArithOp::Sub => Iv {
                        lo: a.lo - b.hi,
                        hi: a.hi - b.lo,
                    },
                    ArithOp::Min => Iv {
                        lo: a.lo.min(b.lo),
                        hi: a.hi.min(b.hi),
                    },
                    ArithOp::Max => Iv {
                        lo: a.lo.max(b.lo),
                        hi: a.hi.max(b.hi),
                    },
                    ArithOp::Mul => {
                        let c = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi];
                        if c.iter().any(|x| x.is_nan()) {
                            Iv::ALL
                        } else {
                            Iv {
                                lo: c.iter().copied().fold(f64::INFINITY, f64::min),
                                hi: c.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                            }
                        }
                    }
                    ArithOp::Div => Iv::ALL,
                }
            }
            _ => Iv::ALL,
        }
    }

    /// Whether an expression can error (overflow, division by zero, a non-finite float).
    fn may_error(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Const(_) | ExprKind::Field(_) | ExprKind::Known(_) => false,
            ExprKind::Coalesce(_, d) => self.may_error(d),
            ExprKind::Let(id) => self.may_error(&self.pkg.let_(*id).expr),
            ExprKind::Neg(NumKind::Float, x)
            | ExprKind::Abs(NumKind::Float, x)
            | ExprKind::Widen(x)
            | ExprKind::Not(x) => self.may_error(x),
            ExprKind::Neg(..) | ExprKind::Abs(..) | ExprKind::Arith(..) => true,
            ExprKind::Cmp(_, _, a, b) => self.may_error(a) || self.may_error(b),
            ExprKind::In(_, x, _) => self.may_error(x),
            ExprKind::Between(_, x, lo, hi) => {
                self.may_error(x) || self.may_error(lo) || self.may_error(hi)
            }
            ExprKind::And(xs) | ExprKind::Or(xs) => xs.iter().any(|x| self.may_error(x)),
        }
    }

    /// The field a comparison operand reads directly, if it is a plain (non-optional) field read.
    fn plain_field(e: &Expr) -> Option<(FieldRef, bool)> {
        match &e.kind {
            ExprKind::Field(f) => Some((*f, false)),
            ExprKind::Widen(x) => Self::plain_field(x).map(|(f, _)| (f, true)),
            _ => None,
        }
    }

    /// Narrows `env` so that `field OP c` holds (`want`) or fails (`!want`); `false` if impossible.
    fn refine(&self, e: &Expr, want: bool, env: &mut Env) -> bool {
        let ExprKind::Cmp(op, kind, a, b) = &e.kind else {
            return true;
        };
        let float = *kind == CmpKind::Float;
        let (field, c, op) = match (Self::plain_field(a), &b.kind, Self::plain_field(b), &a.kind) {
            (Some((f, _)), ExprKind::Const(v), _, _) => (f, num(*v), *op),
            (_, _, Some((f, _)), ExprKind::Const(v)) => (f, num(*v), flip(*op)),
            _ => return true,
        };
        let Some(c) = c else { return true };
        let op = if want { op } else { negate(op) };
        let cur = self.field_iv(field, env);
        let next = match op {
            CmpOp::Lt => cur.meet(Iv {
                lo: f64::NEG_INFINITY,
                hi: step_down(c, float),
            }),
            CmpOp::Le => cur.meet(Iv {
                lo: f64::NEG_INFINITY,
                hi: c,
            }),
            CmpOp::Gt => cur.meet(Iv {
                lo: step_up(c, float),
                hi: f64::INFINITY,
            }),
            CmpOp::Ge => cur.meet(Iv {
                lo: c,
                hi: f64::INFINITY,
            }),
            CmpOp::Eq => cur.meet(Iv::point(c)),
            // `!=` only narrows at an end point.
            CmpOp::Ne if cur.lo == c && cur.hi == c => Iv { lo: 1.0, hi: 0.0 },
            CmpOp::Ne if cur.lo == c => Iv {
                lo: step_up(c, float),
                hi: cur.hi,
            },
            CmpOp::Ne if cur.hi == c => Iv {
                lo: cur.lo,
                hi: step_down(c, float),
            },
            CmpOp::Ne => cur,
        };
        env.insert(field, next);
        !next.is_empty()
    }

    /// Could `e` evaluate to `want` for some record within `env`? `false` only when certainly not.
    fn sat(&self, e: &Expr, want: bool, env: &Env) -> bool {
        match &e.kind {
            ExprKind::Const(Value::Bool(b)) => *b == want,
            ExprKind::Let(id) => self.sat(&self.pkg.let_(*id).expr, want, env),
            ExprKind::Not(x) => self.sat(x, !want, env),
            ExprKind::And(xs) | ExprKind::Or(xs) => {
                let conj = matches!(e.kind, ExprKind::And(_)) == want;
                if conj {
                    // Every part must come out `want` at once: narrow as we go.
                    let mut env = env.clone();
                    for x in xs {
                        if !self.refine_all(x, want, &mut env) || !self.sat(x, want, &env) {
                            return false;
                        }
                    }
                    true
                } else {
                    xs.iter().any(|x| self.sat(x, want, env))
                }
            }
            ExprKind::Cmp(op, _, a, b) => {
                let mut env = env.clone();
                if !self.refine(e, want, &mut env) {
                    return false;
                }
                let (a, b) = (self.range(a, &env), self.range(b, &env));
                if a.is_empty() || b.is_empty() {
                    return false;
                }
                let op = if want { *op } else { negate(*op) };
                match op {
                    CmpOp::Lt => a.lo < b.hi,
                    CmpOp::Le => a.lo <= b.hi,
                    CmpOp::Gt => a.hi > b.lo,
                    CmpOp::Ge => a.hi >= b.lo,
                    CmpOp::Eq => a.lo <= b.hi && b.lo <= a.hi,
                    CmpOp::Ne => !(a.lo == a.hi && b.lo == b.hi && a.lo == b.lo),
                }
            }
            ExprKind::Between(_, x, lo, hi) => {
                let (x, lo, hi) = (self.range(x, env), self.range(lo, env), self.range(hi, env));
                if want {
                    x.hi >= lo.lo && x.lo <= hi.hi && lo.lo <= hi.hi
                } else {
                    x.lo < lo.hi || x.hi > hi.lo
                }
            }
            ExprKind::In(_, x, values) => {
                let r = self.range(x, env);
                let points: Vec<f64> = values
                    .iter()
                    .filter_map(|v| num(*v))
                    .filter(|p| *p >= r.lo && *p <= r.hi)
                    .collect();
                if want {
                    !points.is_empty()
                } else {
                    // False is possible unless the values cover every integer of the range (enums).
                    let whole = matches!(x.ty, Ty::Enum(_) | Ty::Bool | Ty::Int)
                        && r.lo.is_finite()
                        && r.hi.is_finite()
                        && (r.hi - r.lo) < 1e6
                        && {
                            let mut v = r.lo;
                            let mut all = true;
                            while v <= r.hi {
                                all &= points.contains(&v);
                                v += 1.0;
                            }
                            all
                        };
                    !whole
                }
            }
            _ => true,
        }
    }

    /// Narrows `env` with every field comparison that must come out `want` for `e` to be `want`.
    fn refine_all(&self, e: &Expr, want: bool, env: &mut Env) -> bool {
        match &e.kind {
            ExprKind::Cmp(..) => self.refine(e, want, env),
            ExprKind::Not(x) => self.refine_all(x, !want, env),
            ExprKind::Let(id) => self.refine_all(&self.pkg.let_(*id).expr, want, env),
            ExprKind::And(xs) if want => xs.iter().all(|x| self.refine_all(x, true, env)),
            ExprKind::Or(xs) if !want => xs.iter().all(|x| self.refine_all(x, false, env)),
            _ => true,
        }
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

fn negate(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
    }
}

/// Warnings for clauses that can never fire or fire for every device.
pub fn clause_warnings(pkg: &Package) -> Vec<Diagnostic> {
    let a = Analysis { pkg };
    let mut out = Vec::new();
    for (i, clause) in pkg.clauses.iter().enumerate() {
        let id = ClauseId(i as u32);
        let parts: Vec<Expr> = pkg
            .scope_of(id)
            .into_iter()
            .chain(clause.cond.as_ref())
            .cloned()
            .collect();
        let Some(first) = parts.first() else { continue };
        let cond = if parts.len() == 1 {
            first.clone()
        } else {
            Expr {
                kind: ExprKind::And(parts.clone()),
                ty: Ty::Bool,
                span: first.span,
            }
        };
        let env = Env::new();
        if !a.sat(&cond, true, &env) {
            out.push(diag::never_fires(
                clause.span,
                "no value of the fields it reads makes its condition true",
            ));
        } else if !a.sat(&cond, false, &env) && !a.may_error(&cond) {
            out.push(diag::always_fires(
                clause.span,
                "every value of the fields it reads makes its condition true",
            ));
        }
    }
    out
}
