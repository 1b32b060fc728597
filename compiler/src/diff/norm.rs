//! What two versions of a package can be compared by: values and fields by name, and expressions with
//! lets expanded, spans dropped and nested `and`/`or` flattened.
//!
//! In: typed packages. Out: `UValue`s (a value named the same way in either version: enum variants by
//! name), `Norm` expressions (equal exactly when two conditions are written the same way up to layout,
//! comments, parentheses and the names of lets) and the record fields of each version by name.

use fleetgate_lang::typed::{
    ArithOp, CmpKind, CmpOp, Expr, ExprKind, FieldRef, NumKind, Package, Ty, Value, Version,
    format_duration,
};
use serde::Serialize;

use crate::layout::{self, Layout};
use crate::review::words::percent;

/// A value in terms both versions understand: an enum value is its variant's name.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum UValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Whole seconds.
    Duration(i64),
    Version(Version),
    Enum(String),
}

impl UValue {
    pub fn of(pkg: &Package, v: Value) -> UValue {
        match v {
            Value::Bool(b) => UValue::Bool(b),
            Value::Int(i) => UValue::Int(i),
            Value::Float(f) => UValue::Float(f),
            Value::Duration(d) => UValue::Duration(d),
            Value::Version(v) => UValue::Version(v),
            Value::Enum(_, _) => UValue::Enum(pkg.show_value(v)),
        }
    }

    /// As the policy language writes it (`30%` for a percent field).
    pub fn show(&self, percent_field: bool) -> String {
        match self {
            UValue::Bool(b) => b.to_string(),
            UValue::Int(i) => i.to_string(),
            // Only where the percentage reads back as the same float (`28%` is 28.0 / 100.0).
            UValue::Float(f)
                if percent_field
                    && f.is_finite()
                    && percent(*f)
                        .trim_end_matches('%')
                        .parse::<f64>()
                        .is_ok_and(|p| p / 100.0 == *f) =>
            {
                percent(*f)
            }
            UValue::Float(f) => fleetgate_lang::typed::format_float(*f),
            UValue::Duration(d) => format_duration(*d),
            UValue::Version(v) => v.to_string(),
            UValue::Enum(name) => name.clone(),
        }
    }

    /// The JSON form: numbers and booleans as such, the rest (and floats that are not finite) as text.
    pub fn json(&self) -> serde_json::Value {
        match self {
            UValue::Bool(b) => serde_json::Value::Bool(*b),
            UValue::Int(i) => serde_json::Value::from(*i),
            UValue::Float(f) if f.is_finite() => serde_json::Value::from(*f),
            other => serde_json::Value::String(other.show(false)),
        }
    }
}

impl Serialize for UValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(s)
    }
}

/// The type of a record field, with enums by their variants' names.
#[derive(Clone, Debug, PartialEq)]
pub enum UTy {
    Bool,
    Int,
    Float,
    Duration,
    Version,
    Enum(Vec<String>),
}

/// One field of a version's device record (device fields, planes, `now.*`, `release.*`).
#[derive(Clone, Debug)]
pub struct UField {
    /// `device.battery`, `device.firmware`, `now.hour`, `release.model`.
    pub name: String,
    pub field: FieldRef,
    pub ty: Ty,
    pub uty: UTy,
    pub optional: bool,
    pub percent: bool,
    pub slot: usize,
}

/// Every slot of a version's device record, by name.
pub fn record_fields(pkg: &Package) -> Vec<UField> {
    let layout = Layout::of(pkg);
    (0..layout.device_slots())
        .filter_map(|slot| {
            let f = layout.device_field(slot)?;
            let (ty, optional) = layout::field_type(pkg, f);
            let uty = match ty {
                Ty::Bool => UTy::Bool,
                Ty::Int => UTy::Int,
                Ty::Float => UTy::Float,
                Ty::Duration => UTy::Duration,
                Ty::Version => UTy::Version,
                Ty::Enum(e) => UTy::Enum(pkg.enum_(e).variants.clone()),
            };
            let percent = matches!(f, FieldRef::Device(id) if pkg.field(id).percent);
            Some(UField {
                name: layout::field_name(pkg, f),
                field: f,
                ty,
                uty,
                optional,
                percent,
                slot,
            })
        })
        .collect()
}

impl UField {
    /// The value of this field in slot bits; `None` when the bits are no value of the type (an enum
    /// index past its variants, a bool other than 0 or 1).
    pub fn from_bits(&self, bits: u64) -> Option<UValue> {
        Some(match &self.uty {
            UTy::Bool if bits > 1 => return None,
            UTy::Bool => UValue::Bool(bits == 1),
            UTy::Int => UValue::Int(bits as i64),
            UTy::Float => UValue::Float(f64::from_bits(bits)),
            UTy::Duration => UValue::Duration(bits as i64),
            UTy::Version => {
                if bits >= 1 << 48 {
                    return None;
                }
                UValue::Version(Version::from_packed(bits))
            }
            UTy::Enum(variants) => UValue::Enum(variants.get(usize::try_from(bits).ok()?)?.clone()),
        })
    }

    /// Slot bits of a value for this field, converting between `int` and `float` where exact; `None`
    /// when this version cannot hold the value.
    pub fn to_bits(&self, v: &UValue) -> Option<u64> {
        Some(match (&self.uty, v) {
            (UTy::Bool, UValue::Bool(b)) => u64::from(*b),
            (UTy::Int, UValue::Int(i)) => *i as u64,
            (UTy::Int, UValue::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e18 => {
                (*f as i64) as u64
            }
            (UTy::Float, UValue::Float(f)) => f.to_bits(),
            (UTy::Float, UValue::Int(i)) => (*i as f64).to_bits(),
            (UTy::Duration, UValue::Duration(d)) => *d as u64,
            (UTy::Version, UValue::Version(v)) => v.packed(),
            (UTy::Enum(variants), UValue::Enum(name)) => {
                variants.iter().position(|x| x == name)? as u64
            }
            _ => return None,
        })
    }

    /// A value of the type that reads as "nothing special": 0, false, the first variant, v0.0.0.
    pub fn default_bits(&self) -> u64 {
        match self.uty {
            UTy::Float => 0f64.to_bits(),
            _ => 0,
        }
    }
}

/// The name a field has in records and diffs.
pub fn field_name(pkg: &Package, f: FieldRef) -> String {
    layout::field_name(pkg, f)
}

/// An expression with names instead of indices and lets written out.
#[derive(Clone, Debug, PartialEq)]
pub enum Norm {
    Const(UValue),
    Field(String),
    Coalesce(String, Box<Norm>),
    Known(String),
    Widen(Box<Norm>),
    Neg(NumKind, Box<Norm>),
    Abs(NumKind, Box<Norm>),
    Arith(ArithOp, NumKind, Box<Norm>, Box<Norm>),
    Cmp(CmpOp, CmpKind, Box<Norm>, Box<Norm>),
    In(CmpKind, Box<Norm>, Vec<UValue>),
    Between(CmpKind, Box<Norm>, Box<Norm>, Box<Norm>),
    Not(Box<Norm>),
    And(Vec<Norm>),
    Or(Vec<Norm>),
}

pub fn norm(pkg: &Package, e: &Expr) -> Norm {
    let b = |x: &Expr| Box::new(norm(pkg, x));
    match &e.kind {
        ExprKind::Const(v) => Norm::Const(UValue::of(pkg, *v)),
        ExprKind::Field(f) => Norm::Field(field_name(pkg, *f)),
        ExprKind::Coalesce(f, d) => Norm::Coalesce(field_name(pkg, *f), b(d)),
        ExprKind::Known(f) => Norm::Known(field_name(pkg, *f)),
        ExprKind::Let(id) => norm(pkg, &pkg.let_(*id).expr),
        ExprKind::Widen(x) => Norm::Widen(b(x)),
        ExprKind::Neg(k, x) => Norm::Neg(*k, b(x)),
        ExprKind::Abs(k, x) => Norm::Abs(*k, b(x)),
        ExprKind::Arith(op, k, x, y) => Norm::Arith(*op, *k, b(x), b(y)),
        ExprKind::Cmp(op, k, x, y) => {
            let (x, y) = (norm(pkg, x), norm(pkg, y));
            // `c > x` is `x < c`: constants on the right.
            if matches!(x, Norm::Const(_)) && !matches!(y, Norm::Const(_)) {
                Norm::Cmp(flip(*op), *k, Box::new(y), Box::new(x))
            } else {
                Norm::Cmp(*op, *k, Box::new(x), Box::new(y))
            }
        }
        ExprKind::In(k, x, vs) => {
            // A list is a set: order and repetition do not matter.
            let mut items: Vec<UValue> = vs.iter().map(|v| UValue::of(pkg, *v)).collect();
            items.sort_by_key(|v| format!("{v:?}"));
            items.dedup();
            Norm::In(*k, b(x), items)
        }
        ExprKind::Between(k, x, lo, hi) => Norm::Between(*k, b(x), b(lo), b(hi)),
        ExprKind::Not(x) => Norm::Not(b(x)),
        ExprKind::And(xs) | ExprKind::Or(xs) => {
            let and = matches!(e.kind, ExprKind::And(_));
            let mut flat = Vec::new();
            for x in xs {
                match (norm(pkg, x), and) {
                    (Norm::And(inner), true) | (Norm::Or(inner), false) => flat.extend(inner),
                    (other, _) => flat.push(other),
                }
            }
            // `and` and `or` are commutative (also with errors, in Kleene's logic): operands as a set.
            flat.sort_by_key(|n| format!("{n:?}"));
            flat.dedup();
            if flat.len() == 1 {
                flat.pop().unwrap_or(Norm::And(Vec::new()))
            } else if and {
                Norm::And(flat)
            } else {
                Norm::Or(flat)
            }
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

pub fn norm_opt(pkg: &Package, e: Option<&Expr>) -> Option<Norm> {
    e.map(|e| norm(pkg, e))
}

/// Every field an expression reads (lets written out), by name, in first-read order.
pub fn fields_read(pkg: &Package, e: &Expr, out: &mut Vec<String>) {
    let add = |f: FieldRef, out: &mut Vec<String>| {
        let n = field_name(pkg, f);
        if !out.contains(&n) {
            out.push(n);
        }
    };
    match &e.kind {
        ExprKind::Const(_) => {}
        ExprKind::Field(f) | ExprKind::Known(f) => add(*f, out),
        ExprKind::Coalesce(f, d) => {
            add(*f, out);
            fields_read(pkg, d, out);
        }
        ExprKind::Let(id) => fields_read(pkg, &pkg.let_(*id).expr, out),
        ExprKind::Widen(x)
        | ExprKind::Neg(_, x)
        | ExprKind::Abs(_, x)
        | ExprKind::Not(x)
        | ExprKind::In(_, x, _) => fields_read(pkg, x, out),
        ExprKind::Arith(_, _, a, b) | ExprKind::Cmp(_, _, a, b) => {
            fields_read(pkg, a, out);
            fields_read(pkg, b, out);
        }
        ExprKind::Between(_, x, lo, hi) => {
            fields_read(pkg, x, out);
            fields_read(pkg, lo, out);
            fields_read(pkg, hi, out);
        }
        ExprKind::And(xs) | ExprKind::Or(xs) => xs.iter().for_each(|x| fields_read(pkg, x, out)),
    }
}

/// The field a comparison operand reads directly: `device.f`, widened, or `device.f ?? CONSTANT`.
fn direct_field(e: &Expr) -> Option<FieldRef> {
    match &e.kind {
        ExprKind::Field(f) => Some(*f),
        ExprKind::Coalesce(f, d) if const_of(d).is_some() => Some(*f),
        ExprKind::Widen(x) => direct_field(x),
        _ => None,
    }
}

fn const_of(e: &Expr) -> Option<Value> {
    match &e.kind {
        ExprKind::Const(v) => Some(*v),
        ExprKind::Widen(x) => match const_of(x)? {
            Value::Int(i) => Some(Value::Float(i as f64)),
            other => Some(other),
        },
        _ => None,
    }
}

/// Whether a condition only compares single fields with constants (through `and`, `or`, `not`, lets,
/// `known`, `in`, `between` and `field ?? constant`): then the constants it mentions cut each field's
/// domain into cells on which the condition is constant, and enumerating cells is exact.
pub fn is_simple(pkg: &Package, e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Const(Value::Bool(_)) | ExprKind::Known(_) => true,
        ExprKind::Field(_) => e.ty == Ty::Bool,
        ExprKind::Coalesce(_, d) => e.ty == Ty::Bool && const_of(d).is_some(),
        ExprKind::Let(id) => is_simple(pkg, &pkg.let_(*id).expr),
        ExprKind::Not(x) => is_simple(pkg, x),
        ExprKind::And(xs) | ExprKind::Or(xs) => xs.iter().all(|x| is_simple(pkg, x)),
        ExprKind::Cmp(_, _, a, b) => {
            (direct_field(a).is_some() && const_of(b).is_some())
                || (direct_field(b).is_some() && const_of(a).is_some())
        }
        ExprKind::In(_, x, _) => direct_field(x).is_some(),
        ExprKind::Between(_, x, lo, hi) => {
            direct_field(x).is_some() && const_of(lo).is_some() && const_of(hi).is_some()
        }
        _ => false,
    }
}

/// The constants each field is compared with in `e` (lets written out), as `(field name, value)`.
pub fn field_constants(pkg: &Package, e: &Expr, out: &mut Vec<(String, Value)>) {
    let add =
        |f: FieldRef, v: Value, out: &mut Vec<(String, Value)>| out.push((field_name(pkg, f), v));
    match &e.kind {
        ExprKind::Cmp(_, _, a, b) => {
            if let (Some(f), Some(v)) = (direct_field(a), const_of(b)) {
                add(f, v, out);
            }
            if let (Some(f), Some(v)) = (direct_field(b), const_of(a)) {
                add(f, v, out);
            }
        }
        ExprKind::In(_, x, values) => {
            if let Some(f) = direct_field(x) {
                values.iter().for_each(|v| add(f, *v, out));
            }
        }
        ExprKind::Between(_, x, lo, hi) => {
            if let Some(f) = direct_field(x) {
                for b in [lo, hi] {
                    if let Some(v) = const_of(b) {
                        add(f, v, out);
                    }
                }
            }
        }
        _ => {}
    }
    match &e.kind {
        ExprKind::Let(id) => field_constants(pkg, &pkg.let_(*id).expr, out),
        ExprKind::Coalesce(_, x)
        | ExprKind::Widen(x)
        | ExprKind::Neg(_, x)
        | ExprKind::Abs(_, x)
        | ExprKind::Not(x) => field_constants(pkg, x, out),
        ExprKind::In(_, x, _) => field_constants(pkg, x, out),
        ExprKind::Arith(_, _, a, b) | ExprKind::Cmp(_, _, a, b) => {
            field_constants(pkg, a, out);
            field_constants(pkg, b, out);
        }
        ExprKind::Between(_, x, lo, hi) => {
            field_constants(pkg, x, out);
            field_constants(pkg, lo, out);
            field_constants(pkg, hi, out);
        }
        ExprKind::And(xs) | ExprKind::Or(xs) => {
            xs.iter().for_each(|x| field_constants(pkg, x, out))
        }
        _ => {}
    }
}

/// Every constant an expression mentions (lets written out), wherever it stands: what a search for
/// records that tell two versions apart draws numbers from when arithmetic hides the boundaries.
pub fn all_constants(pkg: &Package, e: &Expr, out: &mut Vec<Value>) {
    match &e.kind {
        ExprKind::Const(v) => out.push(*v),
        ExprKind::Field(_) | ExprKind::Known(_) => {}
        ExprKind::In(_, x, values) => {
            out.extend(values.iter().copied());
            all_constants(pkg, x, out);
        }
        ExprKind::Let(id) => all_constants(pkg, &pkg.let_(*id).expr, out),
        ExprKind::Coalesce(_, x)
        | ExprKind::Widen(x)
        | ExprKind::Neg(_, x)
        | ExprKind::Abs(_, x)
        | ExprKind::Not(x) => all_constants(pkg, x, out),
        ExprKind::Arith(_, _, a, b) | ExprKind::Cmp(_, _, a, b) => {
            all_constants(pkg, a, out);
            all_constants(pkg, b, out);
        }
        ExprKind::Between(_, x, lo, hi) => {
            all_constants(pkg, x, out);
            all_constants(pkg, lo, out);
            all_constants(pkg, hi, out);
        }
        ExprKind::And(xs) | ExprKind::Or(xs) => xs.iter().for_each(|x| all_constants(pkg, x, out)),
    }
}
