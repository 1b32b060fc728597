//! What each operation means on 8-byte slot values, written once for the compiler: the reference
//! evaluator and constant folding both use it. The interpreter and native code implement the same
//! definitions independently (docs/bytecode.md, "Evaluation semantics"); differential tests compare them.
//!
//! In: operands as slot bits. Out: a result, or `None` when the operation is erroneous (integer overflow,
//! integer division by zero or `i64::MIN / -1`, a float result that is not finite).

use fleetgate_lang::typed::{ArithOp, CmpKind, CmpOp, NumKind};

fn f(bits: u64) -> f64 {
    f64::from_bits(bits)
}

fn finite(x: f64) -> Option<u64> {
    x.is_finite().then(|| x.to_bits())
}

pub fn arith(op: ArithOp, kind: NumKind, a: u64, b: u64) -> Option<u64> {
    match kind {
        NumKind::Int => {
            let (a, b) = (a as i64, b as i64);
            let r = match op {
                ArithOp::Add => a.checked_add(b)?,
                ArithOp::Sub => a.checked_sub(b)?,
                ArithOp::Mul => a.checked_mul(b)?,
                ArithOp::Div => a.checked_div(b)?,
                ArithOp::Min => {
                    if a <= b {
                        a
                    } else {
                        b
                    }
                }
                ArithOp::Max => {
                    if a >= b {
                        a
                    } else {
                        b
                    }
                }
            };
            Some(r as u64)
        }
        NumKind::Float => {
            let (x, y) = (f(a), f(b));
            match op {
                ArithOp::Add => finite(x + y),
                ArithOp::Sub => finite(x - y),
                ArithOp::Mul => finite(x * y),
                ArithOp::Div => finite(x / y),
                // Defined by comparison so that every bit pattern (NaN, -0.0) has one answer.
                ArithOp::Min => Some(if x <= y { a } else { b }),
                ArithOp::Max => Some(if x >= y { a } else { b }),
            }
        }
    }
}

pub fn neg(kind: NumKind, a: u64) -> Option<u64> {
    match kind {
        NumKind::Int => (a as i64).checked_neg().map(|r| r as u64),
        NumKind::Float => Some(a ^ (1 << 63)),
    }
}

pub fn abs(kind: NumKind, a: u64) -> Option<u64> {
    match kind {
        NumKind::Int => (a as i64).checked_abs().map(|r| r as u64),
        NumKind::Float => Some(a & !(1 << 63)),
    }
}

pub fn widen(a: u64) -> u64 {
    (a as i64 as f64).to_bits()
}

pub fn cmp(op: CmpOp, kind: CmpKind, a: u64, b: u64) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match kind {
        CmpKind::Bits => {
            return match op {
                CmpOp::Eq => a == b,
                CmpOp::Ne => a != b,
                // INVARIANT: the type checker allows only == and != on bools and enums; on bits the
                // unsigned order is the only sensible reading if an artifact asks anyway.
                _ => cmp(op, CmpKind::Unsigned, a, b),
            };
        }
        CmpKind::Signed => Some((a as i64).cmp(&(b as i64))),
        CmpKind::Unsigned => Some(a.cmp(&b)),
        CmpKind::Float => {
            let (x, y) = (f(a), f(b));
            return match op {
                CmpOp::Eq => x == y,
                CmpOp::Ne => x != y,
                CmpOp::Lt => x < y,
                CmpOp::Le => x <= y,
                CmpOp::Gt => x > y,
                CmpOp::Ge => x >= y,
            };
        }
    };
    let ord = ord.unwrap_or(Ordering::Equal);
    match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
    }
}

pub fn in_set(kind: CmpKind, x: u64, set: &[u64]) -> bool {
    set.iter().any(|&v| cmp(CmpOp::Eq, kind, x, v))
}

pub fn between(kind: CmpKind, x: u64, lo: u64, hi: u64) -> bool {
    cmp(CmpOp::Le, kind, lo, x) && cmp(CmpOp::Le, kind, x, hi)
}

/// An erroneous evaluation: overflow, division by zero, a non-finite float.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Erroneous;

/// A boolean under Kleene's three-valued logic, with an erroneous value as *unknown*.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    False,
    True,
    Error,
}

impl Truth {
    pub fn of(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }

    pub fn negate(self) -> Truth {
        match self {
            Truth::False => Truth::True,
            Truth::True => Truth::False,
            Truth::Error => Truth::Error,
        }
    }

    /// `false` wins over an error, an error over `true`.
    pub fn and(items: impl IntoIterator<Item = Truth>) -> Truth {
        let mut out = Truth::True;
        for t in items {
            match t {
                Truth::False => return Truth::False,
                Truth::Error => out = Truth::Error,
                Truth::True => {}
            }
        }
        out
    }

    /// `true` wins over an error, an error over `false`.
    pub fn or(items: impl IntoIterator<Item = Truth>) -> Truth {
        let mut out = Truth::False;
        for t in items {
            match t {
                Truth::True => return Truth::True,
                Truth::Error => out = Truth::Error,
                Truth::False => {}
            }
        }
        out
    }
}
