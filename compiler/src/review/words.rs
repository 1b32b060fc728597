//! Typed expressions as text for people: in plain words for reviews (`battery is below 30% and the
//! device is not charging`), and in the policy language's own syntax for diffs (`device.battery < 30%`).
//!
//! In: a typed package and an expression of it. Out: a string. Lets are shown by name in words (a review
//! defines each once) and, in syntax, either by name or expanded (a diff compares what lets mean, so it
//! expands them). Constants compared with a `percent` field or a ring rate are shown as percentages.

use fleetgate_lang::typed::{
    ArithOp, CmpOp, Expr, ExprKind, FieldRef, Package, RingField, Ty, Value, VersionSet,
    format_duration,
};

/// How tightly a piece of words binds, to parenthesise `(a and b) or c`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Atom,
    And,
    Or,
}

/// A number with a typographic minus, as prose shows it (`−127`).
fn prose_minus(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) => format!("\u{2212}{rest}"),
        None => s,
    }
}

/// A fraction as a percentage: `0.3` is `30%`, `0.005` is `0.5%`.
pub fn percent(f: f64) -> String {
    let v = f * 100.0;
    let mut s = format!("{v:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    format!("{s}%")
}

/// Whether an expression's value is a fraction that the package writes as a percentage.
pub fn is_percent(pkg: &Package, e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Field(f) | ExprKind::Coalesce(f, _) => field_is_percent(pkg, *f),
        ExprKind::Widen(x) | ExprKind::Neg(_, x) | ExprKind::Abs(_, x) => is_percent(pkg, x),
        ExprKind::Arith(ArithOp::Add | ArithOp::Sub | ArithOp::Min | ArithOp::Max, _, a, b) => {
            is_percent(pkg, a) || is_percent(pkg, b)
        }
        _ => false,
    }
}

pub fn field_is_percent(pkg: &Package, f: FieldRef) -> bool {
    match f {
        FieldRef::Device(id) => pkg.field(id).percent,
        FieldRef::Ring(r) | FieldRef::Rollout(r) => {
            matches!(
                r,
                RingField::SuccessRate | RingField::FailureRate | RingField::FailureUpper
            )
        }
        _ => false,
    }
}

/// A constant as the policy language writes it (`30%` with `percent`).
pub fn value_syntax(pkg: &Package, v: Value, percent_hint: bool) -> String {
    match v {
        Value::Float(f) if percent_hint => percent(f),
        other => pkg.show_value(other),
    }
}

/// A constant in prose.
pub fn value_words(pkg: &Package, v: Value, percent_hint: bool) -> String {
    prose_minus(value_syntax(pkg, v, percent_hint))
}

/// The name of a field in prose: device fields and planes by their name, the rest by record.
pub fn field_words(pkg: &Package, f: FieldRef) -> String {
    match f {
        FieldRef::Device(id) => pkg.field(id).name.clone(),
        FieldRef::Plane(p) => pkg.plane(p).name.clone(),
        FieldRef::NowHour => "the local hour".into(),
        FieldRef::NowWeekday => "the weekday".into(),
        FieldRef::Release(p) => format!("the release's {} version", pkg.plane(p).name),
        FieldRef::Ring(r) => format!("ring.{}", r.name()),
        FieldRef::Rollout(r) => format!("rollout.{}", r.name()),
    }
}

/// The name of a field in the language's syntax (`device.battery`, `now.hour`, `ring.done`).
pub fn field_syntax(pkg: &Package, f: FieldRef) -> String {
    crate::layout::field_name(pkg, f)
}

/// A bool field as a condition: `the device is charging` where the name reads as a state (`-ing`,
/// `-ed`), else `tamper is true`.
fn bool_field(name: &str, neg: bool) -> String {
    if name.ends_with("ing") || name.ends_with("ed") {
        format!("the device is {}{name}", if neg { "not " } else { "" })
    } else {
        format!("{name} is {}", if neg { "false" } else { "true" })
    }
}

/// Plain words for conditions and values of one package.
pub struct Words<'a> {
    pub pkg: &'a Package,
}

impl Words<'_> {
    /// A condition in words.
    pub fn cond(&self, e: &Expr) -> String {
        self.cond_level(e, false).0
    }

    /// The negation of a condition in words.
    pub fn cond_not(&self, e: &Expr) -> String {
        self.cond_level(e, true).0
    }

    fn join(&self, xs: &[Expr], neg: bool, and: bool) -> (String, Level) {
        let (level, word, other) = if and {
            (Level::And, " and ", Level::Or)
        } else {
            (Level::Or, " or ", Level::And)
        };
        let parts: Vec<String> = xs
            .iter()
            .map(|x| {
                let (s, l) = self.cond_level(x, neg);
                if l == other { format!("({s})") } else { s }
            })
            .collect();
        (
            parts.join(word),
            if parts.len() > 1 { level } else { Level::Atom },
        )
    }

    fn cond_level(&self, e: &Expr, neg: bool) -> (String, Level) {
        let pkg = self.pkg;
        let is = if neg { "is not" } else { "is" };
        match &e.kind {
            ExprKind::Not(x) => self.cond_level(x, !neg),
            // De Morgan: `not (a and b)` reads as `a' or b'`.
            ExprKind::And(xs) => self.join(xs, neg, !neg),
            ExprKind::Or(xs) => self.join(xs, neg, neg),
            ExprKind::Let(id) => {
                let name = &pkg.let_(*id).name;
                (
                    if neg {
                        format!("not `{name}`")
                    } else {
                        format!("`{name}`")
                    },
                    Level::Atom,
                )
            }
            ExprKind::Const(Value::Bool(b)) => (
                (if *b != neg { "always" } else { "never" }).into(),
                Level::Atom,
            ),
            ExprKind::Field(f) if e.ty == Ty::Bool => {
                (bool_field(&field_words(pkg, *f), neg), Level::Atom)
            }
            ExprKind::Coalesce(f, d) if e.ty == Ty::Bool => {
                let name = field_words(pkg, *f);
                let s = match (&d.kind, neg) {
                    (ExprKind::Const(Value::Bool(false)), false) => {
                        format!("{name} is reported and true")
                    }
                    (ExprKind::Const(Value::Bool(false)), true) => {
                        format!("{name} is false or not reported")
                    }
                    (ExprKind::Const(Value::Bool(true)), false) => {
                        format!("{name} is true or not reported")
                    }
                    (ExprKind::Const(Value::Bool(true)), true) => {
                        format!("{name} is reported and false")
                    }
                    _ => format!("{name} ({} when missing) {is} true", self.value(d, false)),
                };
                (s, Level::Atom)
            }
            ExprKind::Known(f) => {
                let s = match f {
                    FieldRef::Release(p) => {
                        let plane = &pkg.plane(*p).name;
                        if neg {
                            format!("the release does not update {plane}")
                        } else {
                            format!("the release updates {plane}")
                        }
                    }
                    _ => format!("{} {is} reported", field_words(pkg, *f)),
                };
                (s, Level::Atom)
            }
            ExprKind::Cmp(op, _, a, b) => {
                let hint = is_percent(pkg, a) || is_percent(pkg, b);
                // `not (x < c)` is `x >= c` except for NaN floats, so floats keep the `not`.
                let float = a.ty == Ty::Float || b.ty == Ty::Float;
                let verb = match (op, neg) {
                    (CmpOp::Eq, false) | (CmpOp::Ne, true) => "is",
                    (CmpOp::Ne, false) | (CmpOp::Eq, true) => "is not",
                    (CmpOp::Lt, false) => "is below",
                    (CmpOp::Le, false) => "is at most",
                    (CmpOp::Gt, false) => "is above",
                    (CmpOp::Ge, false) => "is at least",
                    (CmpOp::Lt, true) if float => "is not below",
                    (CmpOp::Le, true) if float => "is not at most",
                    (CmpOp::Gt, true) if float => "is not above",
                    (CmpOp::Ge, true) if float => "is not at least",
                    (CmpOp::Lt, true) => "is at least",
                    (CmpOp::Le, true) => "is above",
                    (CmpOp::Gt, true) => "is at most",
                    (CmpOp::Ge, true) => "is below",
                };
                (
                    format!("{} {verb} {}", self.value(a, hint), self.value(b, hint)),
                    Level::Atom,
                )
            }
            ExprKind::In(_, x, values) => {
                let hint = is_percent(pkg, x);
                let s = match values.as_slice() {
                    [] => (if neg { "always" } else { "never" }).to_string(),
                    [v] => format!(
                        "{} {is} {}",
                        self.value(x, hint),
                        value_words(pkg, *v, hint)
                    ),
                    vs => {
                        let items: Vec<String> =
                            vs.iter().map(|v| value_words(pkg, *v, hint)).collect();
                        format!("{} {is} one of {}", self.value(x, hint), items.join(", "))
                    }
                };
                (s, Level::Atom)
            }
            ExprKind::Between(_, x, lo, hi) => {
                let hint = is_percent(pkg, x) || is_percent(pkg, lo) || is_percent(pkg, hi);
                let s = format!(
                    "{} {is} between {} and {} (inclusive)",
                    self.value(x, hint),
                    self.value(lo, hint),
                    self.value(hi, hint)
                );
                (s, Level::Atom)
            }
            // Anything else of type bool read as a value (not produced by the resolver today).
            _ => (format!("{} {is} true", self.value(e, false)), Level::Atom),
        }
    }

    /// A value (non-condition) expression in words.
    pub fn value(&self, e: &Expr, hint: bool) -> String {
        self.value_prec(e, hint).0
    }

    /// The text and its precedence: 9 atom, 7 `×` `/`, 6 `+` `−`.
    fn value_prec(&self, e: &Expr, hint: bool) -> (String, u8) {
        let pkg = self.pkg;
        match &e.kind {
            ExprKind::Const(v) => (value_words(pkg, *v, hint), 9),
            ExprKind::Field(f) => (field_words(pkg, *f), 9),
            ExprKind::Coalesce(f, d) => {
                let hint = hint || field_is_percent(pkg, *f);
                (
                    format!(
                        "{} ({} when missing)",
                        field_words(pkg, *f),
                        self.value(d, hint)
                    ),
                    9,
                )
            }
            ExprKind::Widen(x) => self.value_prec(x, hint),
            ExprKind::Neg(_, x) => {
                let (s, p) = self.value_prec(x, hint);
                (
                    if p < 9 {
                        format!("\u{2212}({s})")
                    } else {
                        format!("\u{2212}{s}")
                    },
                    9,
                )
            }
            ExprKind::Abs(_, x) => (format!("the absolute value of {}", self.value(x, hint)), 9),
            ExprKind::Arith(op, _, a, b) => {
                let hint = hint || is_percent(pkg, e);
                match op {
                    ArithOp::Min => (
                        format!(
                            "the smaller of {} and {}",
                            self.value(a, hint),
                            self.value(b, hint)
                        ),
                        9,
                    ),
                    ArithOp::Max => (
                        format!(
                            "the larger of {} and {}",
                            self.value(a, hint),
                            self.value(b, hint)
                        ),
                        9,
                    ),
                    _ => {
                        let (sym, prec) = match op {
                            ArithOp::Add => ("+", 6),
                            ArithOp::Sub => ("\u{2212}", 6),
                            ArithOp::Mul => ("×", 7),
                            _ => ("/", 7),
                        };
                        let (l, lp) = self.value_prec(a, hint);
                        let (r, rp) = self.value_prec(b, hint);
                        let l = if lp < prec { format!("({l})") } else { l };
                        let r = if rp <= prec && rp < 9 {
                            format!("({r})")
                        } else {
                            r
                        };
                        (format!("{l} {sym} {r}"), prec)
                    }
                }
            }
            ExprKind::Let(id) => (format!("`{}`", pkg.let_(*id).name), 9),
            _ => (format!("({})", self.cond(e)), 9),
        }
    }
}

/// Precedence levels of the language (docs/language.md): 1 `or` … 9 atoms.
fn syntax_prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Or(xs) if xs.len() > 1 => 1,
        ExprKind::And(xs) if xs.len() > 1 => 2,
        ExprKind::Not(_) => 3,
        ExprKind::Cmp(..) | ExprKind::In(..) | ExprKind::Between(..) => 4,
        ExprKind::Coalesce(..) => 5,
        ExprKind::Arith(ArithOp::Add | ArithOp::Sub, ..) => 6,
        ExprKind::Arith(ArithOp::Mul | ArithOp::Div, ..) => 7,
        ExprKind::Neg(..) => 8,
        ExprKind::Widen(x) => syntax_prec(x),
        _ => 9,
    }
}

/// Expressions in the policy language's syntax, with the fewest parentheses that keep the meaning.
pub struct Syntax<'a> {
    pub pkg: &'a Package,
    /// Write lets out instead of naming them.
    pub expand_lets: bool,
}

impl Syntax<'_> {
    pub fn expr(&self, e: &Expr) -> String {
        self.hinted(e, false)
    }

    fn sub(&self, e: &Expr, min_prec: u8, hint: bool) -> String {
        let s = self.hinted(e, hint);
        let p = if self.expand_lets {
            self.prec_expanded(e)
        } else {
            syntax_prec(e)
        };
        if p < min_prec { format!("({s})") } else { s }
    }

    fn prec_expanded(&self, e: &Expr) -> u8 {
        match &e.kind {
            ExprKind::Let(id) => self.prec_expanded(&self.pkg.let_(*id).expr),
            ExprKind::Widen(x) => self.prec_expanded(x),
            _ => syntax_prec(e),
        }
    }

    fn hinted(&self, e: &Expr, hint: bool) -> String {
        let pkg = self.pkg;
        match &e.kind {
            ExprKind::Const(v) => value_syntax(pkg, *v, hint),
            ExprKind::Field(f) => field_syntax(pkg, *f),
            ExprKind::Coalesce(f, d) => {
                let hint = hint || field_is_percent(pkg, *f);
                // `??` groups to the right: a `??` default needs no parentheses.
                format!("{} ?? {}", field_syntax(pkg, *f), self.sub(d, 5, hint))
            }
            ExprKind::Known(f) => format!("known({})", field_syntax(pkg, *f)),
            ExprKind::Let(id) => {
                if self.expand_lets {
                    self.hinted(&pkg.let_(*id).expr, hint)
                } else {
                    pkg.let_(*id).name.clone()
                }
            }
            ExprKind::Widen(x) => self.hinted(x, hint),
            ExprKind::Neg(_, x) => format!("-{}", self.sub(x, 9, hint)),
            ExprKind::Abs(_, x) => format!("abs({})", self.hinted(x, hint)),
            ExprKind::Arith(op, _, a, b) => {
                let hint = hint || is_percent(pkg, e);
                match op {
                    ArithOp::Min => {
                        format!("min({}, {})", self.hinted(a, hint), self.hinted(b, hint))
                    }
                    ArithOp::Max => {
                        format!("max({}, {})", self.hinted(a, hint), self.hinted(b, hint))
                    }
                    _ => {
                        let (sym, prec) = match op {
                            ArithOp::Add => ("+", 6),
                            ArithOp::Sub => ("-", 6),
                            ArithOp::Mul => ("*", 7),
                            _ => ("/", 7),
                        };
                        format!(
                            "{} {sym} {}",
                            self.sub(a, prec, hint),
                            self.sub(b, prec + 1, hint)
                        )
                    }
                }
            }
            ExprKind::Cmp(op, _, a, b) => {
                let hint = is_percent(pkg, a) || is_percent(pkg, b);
                let sym = match op {
                    CmpOp::Eq => "==",
                    CmpOp::Ne => "!=",
                    CmpOp::Lt => "<",
                    CmpOp::Le => "<=",
                    CmpOp::Gt => ">",
                    CmpOp::Ge => ">=",
                };
                format!("{} {sym} {}", self.sub(a, 6, hint), self.sub(b, 6, hint))
            }
            ExprKind::In(_, x, values) => {
                let hint = is_percent(pkg, x);
                let items: Vec<String> =
                    values.iter().map(|v| value_syntax(pkg, *v, hint)).collect();
                format!("{} in [{}]", self.sub(x, 5, hint), items.join(", "))
            }
            ExprKind::Between(_, x, lo, hi) => {
                let hint = is_percent(pkg, x) || is_percent(pkg, lo) || is_percent(pkg, hi);
                format!(
                    "{} between {} and {}",
                    self.sub(x, 5, hint),
                    self.sub(lo, 5, hint),
                    self.sub(hi, 5, hint)
                )
            }
            ExprKind::Not(x) => format!("not {}", self.sub(x, 9, false)),
            ExprKind::And(xs) => xs
                .iter()
                .map(|x| self.sub(x, 3, false))
                .collect::<Vec<_>>()
                .join(" and "),
            ExprKind::Or(xs) => xs
                .iter()
                .map(|x| self.sub(x, 2, false))
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }
}

/// A version set in words: `at least v2.0.0`, `at least v2.0.0 and below v3.0.0`, `exactly v1.2.3`.
pub fn version_set_words(set: &VersionSet) -> String {
    use fleetgate_lang::typed::Version;
    // Packed versions past 65535.65535.65535 do not exist: a range reaching them is unbounded above.
    const TOP: u64 = (1 << 48) - 1;
    if set.is_empty() {
        return "no version".into();
    }
    let show = |v: u64| Version::from_packed(v).to_string();
    let parts: Vec<String> = set
        .0
        .iter()
        .map(|&(lo, hi)| {
            let below = if hi >= TOP { None } else { Some(hi + 1) };
            match (lo, below) {
                (0, None) => "any version".to_string(),
                (0, Some(b)) => format!("below {}", show(b)),
                (l, None) => format!("at least {}", show(l)),
                (l, Some(_)) if l == hi => format!("exactly {}", show(l)),
                (l, Some(b)) => format!("at least {} and below {}", show(l), show(b)),
            }
        })
        .collect();
    parts.join(", or ")
}

/// A duration in prose: whole days from three days up (`7d`), hours below (`24h`, `48h`, `1h30m`), as
/// people write soak times and deferrals.
pub fn duration_words(secs: i64) -> String {
    let abs = secs.unsigned_abs();
    let whole_days = abs.is_multiple_of(86_400) && abs >= 3 * 86_400;
    let text = if abs >= 86_400 && !whole_days {
        let rest = abs % 3_600;
        let rest = if rest == 0 {
            String::new()
        } else {
            format_duration(rest as i64)
        };
        format!("{}{}h{rest}", if secs < 0 { "-" } else { "" }, abs / 3_600)
    } else {
        format_duration(secs)
    };
    prose_minus(text)
}
