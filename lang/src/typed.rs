//! The resolved, type-checked package: what the compiler, the reference evaluator, `review` and `diff`
//! work on.
//!
//! In: built by `resolve` from the syntax trees of every file of a package. Out: plain data with typed
//! indices (`FieldId`, `LetId`, `ClauseId`, …) instead of names; every name has been resolved, every
//! expression has a type, optional values appear only under `??` or `known`, and lets are acyclic.

use crate::source::Span;

macro_rules! index_type {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);
        impl $name {
            pub fn index(self) -> usize { self.0 as usize }
        }
    )*};
}

index_type! {
    /// An enum type of the package (`Weekday` is built in and always present).
    EnumId;
    /// A field of the `device` block.
    FieldId;
    /// A version plane.
    PlaneId;
    /// A `let`.
    LetId;
    /// A clause of a rail, health rule or gate, numbered across the package.
    ClauseId;
    /// A rail.
    RailId;
    /// A health rule.
    HealthId;
    /// A ring of the rollout, in order.
    RingId;
    /// A gate.
    GateId;
    /// A fixture.
    FixtureId;
}

/// The type of a value. `percent` is `Float`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    Bool,
    Int,
    Float,
    Duration,
    Version,
    Enum(EnumId),
}

impl Ty {
    pub fn is_numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }

    pub fn is_ordered(self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Duration | Ty::Version)
    }
}

/// A version `major.minor.patch`; orders component-wise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl Version {
    /// `major << 32 | minor << 16 | patch`: the artifact's encoding, whose unsigned order is version order.
    pub fn packed(self) -> u64 {
        (u64::from(self.major) << 32) | (u64::from(self.minor) << 16) | u64::from(self.patch)
    }

    pub fn from_packed(bits: u64) -> Version {
        Version {
            major: (bits >> 32) as u16,
            minor: (bits >> 16) as u16,
            patch: bits as u16,
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A constant value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Whole seconds.
    Duration(i64),
    Version(Version),
    /// Variant index of an enum.
    Enum(EnumId, u16),
}

impl Value {
    pub fn ty(self) -> Ty {
        match self {
            Value::Bool(_) => Ty::Bool,
            Value::Int(_) => Ty::Int,
            Value::Float(_) => Ty::Float,
            Value::Duration(_) => Ty::Duration,
            Value::Version(_) => Ty::Version,
            Value::Enum(e, _) => Ty::Enum(e),
        }
    }

    /// The value's 8-byte slot encoding (docs/bytecode.md).
    pub fn bits(self) -> u64 {
        match self {
            Value::Bool(b) => u64::from(b),
            Value::Int(i) | Value::Duration(i) => i as u64,
            Value::Float(f) => f.to_bits(),
            Value::Version(v) => v.packed(),
            Value::Enum(_, v) => u64::from(v),
        }
    }

    /// The value of a slot of type `ty`.
    pub fn from_bits(ty: Ty, bits: u64) -> Value {
        match ty {
            Ty::Bool => Value::Bool(bits != 0),
            Ty::Int => Value::Int(bits as i64),
            Ty::Float => Value::Float(f64::from_bits(bits)),
            Ty::Duration => Value::Duration(bits as i64),
            Ty::Version => Value::Version(Version::from_packed(bits)),
            Ty::Enum(e) => Value::Enum(e, bits as u16),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Enum {
    pub name: String,
    pub variants: Vec<String>,
    /// `None` for the built-in `Weekday`.
    pub span: Option<Span>,
}

#[derive(Clone, Debug)]
pub struct Plane {
    pub name: String,
    /// `None` for the default planes of a package that declares none.
    pub span: Option<Span>,
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub optional: bool,
    pub span: Span,
    /// Whether the type was written `percent` (the type is `Float`; reviews print percentages).
    pub percent: bool,
}

/// The fields of the `ring` and `rollout` records in gates, in the order of the gate record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RingField {
    Size,
    Offered,
    Deferred,
    Denied,
    Updating,
    Verifying,
    Succeeded,
    Failed,
    RolledBack,
    Bricked,
    Offline,
    Exposed,
    Done,
    SuccessRate,
    FailureRate,
    FailureUpper,
    Soak,
}

impl RingField {
    pub const ALL: [RingField; 17] = [
        RingField::Size,
        RingField::Offered,
        RingField::Deferred,
        RingField::Denied,
        RingField::Updating,
        RingField::Verifying,
        RingField::Succeeded,
        RingField::Failed,
        RingField::RolledBack,
        RingField::Bricked,
        RingField::Offline,
        RingField::Exposed,
        RingField::Done,
        RingField::SuccessRate,
        RingField::FailureRate,
        RingField::FailureUpper,
        RingField::Soak,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RingField::Size => "size",
            RingField::Offered => "offered",
            RingField::Deferred => "deferred",
            RingField::Denied => "denied",
            RingField::Updating => "updating",
            RingField::Verifying => "verifying",
            RingField::Succeeded => "succeeded",
            RingField::Failed => "failed",
            RingField::RolledBack => "rolled_back",
            RingField::Bricked => "bricked",
            RingField::Offline => "offline",
            RingField::Exposed => "exposed",
            RingField::Done => "done",
            RingField::SuccessRate => "success_rate",
            RingField::FailureRate => "failure_rate",
            RingField::FailureUpper => "failure_upper",
            RingField::Soak => "soak",
        }
    }

    pub fn from_name(name: &str) -> Option<RingField> {
        RingField::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn ty(self) -> Ty {
        match self {
            RingField::SuccessRate | RingField::FailureRate | RingField::FailureUpper => Ty::Float,
            RingField::Soak => Ty::Duration,
            _ => Ty::Int,
        }
    }

    /// Computed from the counts; a test cannot give it.
    pub fn is_derived(self) -> bool {
        matches!(
            self,
            RingField::Done
                | RingField::SuccessRate
                | RingField::FailureRate
                | RingField::FailureUpper
        )
    }

    /// Position in the gate record (`ring.*` first, `rollout.*` after).
    pub fn slot(self) -> usize {
        self as usize
    }
}

/// A field read in an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldRef {
    Device(FieldId),
    /// `device.<plane>`: the version the device runs.
    Plane(PlaneId),
    NowHour,
    NowWeekday,
    /// `release.<plane>`: optional target version.
    Release(PlaneId),
    Ring(RingField),
    Rollout(RingField),
}

/// The records an expression reads, as a bit set, to check where a let may be used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Records(pub u8);

impl Records {
    pub const DEVICE: Records = Records(1);
    pub const NOW: Records = Records(2);
    pub const RELEASE: Records = Records(4);
    pub const RING: Records = Records(8);
    pub const ROLLOUT: Records = Records(16);

    pub fn of(field: FieldRef) -> Records {
        match field {
            FieldRef::Device(_) | FieldRef::Plane(_) => Records::DEVICE,
            FieldRef::NowHour | FieldRef::NowWeekday => Records::NOW,
            FieldRef::Release(_) => Records::RELEASE,
            FieldRef::Ring(_) => Records::RING,
            FieldRef::Rollout(_) => Records::ROLLOUT,
        }
    }

    pub fn union(self, other: Records) -> Records {
        Records(self.0 | other.0)
    }

    pub fn contains(self, other: Records) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn minus(self, other: Records) -> Records {
        Records(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn names(self) -> Vec<&'static str> {
        [
            (Records::DEVICE, "device"),
            (Records::NOW, "now"),
            (Records::RELEASE, "release"),
            (Records::RING, "ring"),
            (Records::ROLLOUT, "rollout"),
        ]
        .into_iter()
        .filter(|(r, _)| self.contains(*r))
        .map(|(_, n)| n)
        .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
}

/// The representation an operation works on: durations are integers of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NumKind {
    Int,
    Float,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// How values of a type compare: bit equality (bool, enum), signed (int, duration), unsigned (version),
/// IEEE (float).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpKind {
    Bits,
    Signed,
    Unsigned,
    Float,
}

impl CmpKind {
    pub fn of(ty: Ty) -> CmpKind {
        match ty {
            Ty::Bool | Ty::Enum(_) => CmpKind::Bits,
            Ty::Int | Ty::Duration => CmpKind::Signed,
            Ty::Version => CmpKind::Unsigned,
            Ty::Float => CmpKind::Float,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Const(Value),
    /// A field that is never missing.
    Field(FieldRef),
    /// `field ?? default`: the default is evaluated only when the field is missing.
    Coalesce(FieldRef, Box<Expr>),
    /// `known(field)`.
    Known(FieldRef),
    Let(LetId),
    /// `int` to `float`.
    Widen(Box<Expr>),
    Neg(NumKind, Box<Expr>),
    Abs(NumKind, Box<Expr>),
    Arith(ArithOp, NumKind, Box<Expr>, Box<Expr>),
    Cmp(CmpOp, CmpKind, Box<Expr>, Box<Expr>),
    /// Membership in a list of constants.
    In(CmpKind, Box<Expr>, Vec<Value>),
    /// `lo <= x and x <= hi`.
    Between(CmpKind, Box<Expr>, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Clone, Debug)]
pub struct Let {
    pub name: String,
    pub expr: Expr,
    pub records: Records,
    pub span: Span,
}

/// Which rule a clause belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleRef {
    Rail(RailId),
    Health(HealthId),
    Gate(GateId),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ClauseKind {
    Deny,
    Defer {
        secs: i64,
    },
    /// The planes named by the clause (before the dependency closure), in the order written.
    Rollback {
        planes: Vec<PlaneId>,
    },
    Require,
    Abort,
}

impl ClauseKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            ClauseKind::Deny => "deny",
            ClauseKind::Defer { .. } => "defer",
            ClauseKind::Rollback { .. } => "rollback",
            ClauseKind::Require => "require",
            ClauseKind::Abort => "abort",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Clause {
    pub rule: RuleRef,
    pub kind: ClauseKind,
    /// The reason as written (for `require`: the condition's source text).
    pub reason: String,
    /// `None`: fires whenever its rule is in scope.
    pub cond: Option<Expr>,
    /// `for N checks`.
    pub checks: Option<u8>,
    /// `per device.F`.
    pub per: Option<FieldId>,
    pub span: Span,
}

/// A rail or health rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    pub scope: Option<Expr>,
    pub clauses: Vec<ClauseId>,
    pub span: Span,
}

/// A set of versions of one plane: sorted, disjoint, inclusive ranges of packed versions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VersionSet(pub Vec<(u64, u64)>);

impl VersionSet {
    pub fn all() -> VersionSet {
        VersionSet(vec![(0, u64::MAX)])
    }

    pub fn none() -> VersionSet {
        VersionSet(Vec::new())
    }

    pub fn contains(&self, v: u64) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= v && v <= hi)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn complement(&self) -> VersionSet {
        let mut out = Vec::new();
        // The first version not yet covered; `None` once the sets reach u64::MAX.
        let mut next = Some(0u64);
        for &(lo, hi) in &self.0 {
            if let Some(n) = next
                && lo > n
            {
                out.push((n, lo - 1));
            }
            next = hi.checked_add(1);
        }
        if let Some(n) = next {
            out.push((n, u64::MAX));
        }
        VersionSet(out)
    }

    pub fn intersect(&self, other: &VersionSet) -> VersionSet {
        // Both are sorted and disjoint: one merge pass, linear in their sizes.
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while let (Some(&(a, b)), Some(&(c, d))) = (self.0.get(i), other.0.get(j)) {
            let lo = a.max(c);
            let hi = b.min(d);
            if lo <= hi {
                out.push((lo, hi));
            }
            // Move past whichever range ends first.
            if b < d {
                i += 1;
            } else {
                j += 1;
            }
        }
        VersionSet(out)
    }

    pub fn union(&self, other: &VersionSet) -> VersionSet {
        let mut all: Vec<(u64, u64)> = self.0.iter().chain(&other.0).copied().collect();
        all.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (lo, hi) in all {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        VersionSet(out)
    }
}

/// A condition on one plane's version, as written (kept for reviews and diffs) and as a set.
#[derive(Clone, Debug)]
pub struct PlanePredicate {
    pub plane: PlaneId,
    pub set: VersionSet,
    /// Source text, e.g. `model >= v2.0.0 and model < v3.0.0`.
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Depends {
    pub dependent: PlanePredicate,
    pub dependency: PlanePredicate,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Incompatible {
    pub versions: PlanePredicate,
    pub cond: Expr,
    pub reason: String,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Ring {
    pub name: String,
    /// Cumulative share of the fleet, in parts per million.
    pub share_ppm: u32,
    /// The share as written, e.g. `0.5%`.
    pub share_text: String,
    pub filter: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Rollout {
    pub check_every: i64,
    pub verify_for: i64,
    /// At most `count` new offers per `per` seconds.
    pub rate: Option<(u32, i64)>,
    pub in_flight: Option<u32>,
    /// Install attempts before a device counts as failed (1 when not set).
    pub attempts: u16,
    pub retries_set: bool,
    pub rings: Vec<Ring>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Gate {
    pub from: RingId,
    pub to: RingId,
    pub soak: i64,
    pub clauses: Vec<ClauseId>,
    pub span: Span,
}

/// One device record as a test or fixture gives it: a value per device field (`None`: missing), a
/// version per plane.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceValues {
    pub fields: Vec<Option<Value>>,
    pub planes: Vec<Version>,
}

#[derive(Clone, Debug)]
pub struct Fixture {
    pub name: String,
    pub values: DeviceValues,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NowValues {
    pub hour: i64,
    /// Index in `Weekday` (`mon` = 0).
    pub weekday: u16,
}

impl Default for NowValues {
    /// What a test that gives no `now` sees: Monday, 12:00.
    fn default() -> NowValues {
        NowValues {
            hour: 12,
            weekday: 0,
        }
    }
}

/// Counts of a ring (or of one value of a `per` field), as a test gives them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingCounts {
    pub size: u64,
    pub offered: u64,
    pub deferred: u64,
    pub denied: u64,
    pub updating: u64,
    pub verifying: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rolled_back: u64,
    pub bricked: u64,
    pub offline: u64,
    pub exposed: u64,
    pub soak_secs: i64,
}

impl RingCounts {
    pub fn get_mut(&mut self, field: RingField) -> Option<&mut u64> {
        Some(match field {
            RingField::Size => &mut self.size,
            RingField::Offered => &mut self.offered,
            RingField::Deferred => &mut self.deferred,
            RingField::Denied => &mut self.denied,
            RingField::Updating => &mut self.updating,
            RingField::Verifying => &mut self.verifying,
            RingField::Succeeded => &mut self.succeeded,
            RingField::Failed => &mut self.failed,
            RingField::RolledBack => &mut self.rolled_back,
            RingField::Bricked => &mut self.bricked,
            RingField::Offline => &mut self.offline,
            RingField::Exposed => &mut self.exposed,
            _ => return None,
        })
    }

    pub fn get(&self, field: RingField) -> Option<u64> {
        let mut copy = *self;
        copy.get_mut(field).map(|v| *v)
    }

    pub fn add(&mut self, other: &RingCounts) {
        for f in RingField::ALL {
            if let (Some(b), Some(a)) = (other.get(f), self.get_mut(f)) {
                *a = a.saturating_add(b);
            }
        }
        self.soak_secs = self.soak_secs.max(other.soak_secs);
    }
}

/// A ring as a test gives it: whole-ring counts and, with `by F`, counts per value of F.
#[derive(Clone, Debug, PartialEq)]
pub struct RingGiven {
    pub total: RingCounts,
    /// The field and, per value present, its counts (in the order given).
    pub by: Option<(FieldId, Vec<(u16, RingCounts)>)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expectation {
    Allow,
    Deny(Option<String>),
    Defer(Option<i64>, Option<String>),
    Healthy,
    Inconclusive,
    Rollback(Vec<PlaneId>),
    Promote(GateId),
    Hold(GateId),
    Abort(GateId, Option<String>),
    InstallOrder(Vec<PlaneId>),
    NotInstallable,
}

#[derive(Clone, Debug)]
pub struct Expect {
    pub expectation: Expectation,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Test {
    pub name: String,
    pub device: Option<DeviceValues>,
    /// Number of consecutive health checks (`for N checks`; 1 when not given).
    pub checks: u32,
    pub now: NowValues,
    /// Target version per plane (`None`: the release does not touch it).
    pub release: Vec<Option<Version>>,
    pub ring: Option<RingGiven>,
    /// `rollout.*`; the ring's counts when not given.
    pub rollout: Option<RingCounts>,
    pub expects: Vec<Expect>,
    pub span: Span,
}

/// A resolved, type-checked package.
#[derive(Clone, Debug)]
pub struct Package {
    pub enums: Vec<Enum>,
    pub planes: Vec<Plane>,
    pub fields: Vec<Field>,
    pub lets: Vec<Let>,
    pub rails: Vec<Rule>,
    pub healths: Vec<Rule>,
    pub clauses: Vec<Clause>,
    pub depends: Vec<Depends>,
    pub incompatibles: Vec<Incompatible>,
    pub rollout: Option<Rollout>,
    pub gates: Vec<Gate>,
    pub fixtures: Vec<Fixture>,
    pub tests: Vec<Test>,
    /// The built-in `Weekday` enum.
    pub weekday: EnumId,
}

impl Package {
    pub fn clause(&self, id: ClauseId) -> &Clause {
        &self.clauses[id.index()]
    }

    pub fn field(&self, id: FieldId) -> &Field {
        &self.fields[id.index()]
    }

    pub fn plane(&self, id: PlaneId) -> &Plane {
        &self.planes[id.index()]
    }

    pub fn enum_(&self, id: EnumId) -> &Enum {
        &self.enums[id.index()]
    }

    pub fn let_(&self, id: LetId) -> &Let {
        &self.lets[id.index()]
    }

    pub fn rule_name(&self, rule: RuleRef) -> String {
        match rule {
            RuleRef::Rail(r) => self.rails[r.index()].name.clone(),
            RuleRef::Health(h) => self.healths[h.index()].name.clone(),
            RuleRef::Gate(g) => self.gate_name(g),
        }
    }

    pub fn gate_name(&self, g: GateId) -> String {
        let gate = &self.gates[g.index()];
        match &self.rollout {
            Some(r) => format!(
                "{} -> {}",
                r.rings[gate.from.index()].name,
                r.rings[gate.to.index()].name
            ),
            None => String::new(),
        }
    }

    /// The rule scope of a clause (rails and health rules; gates have none).
    pub fn scope_of(&self, clause: ClauseId) -> Option<&Expr> {
        match self.clause(clause).rule {
            RuleRef::Rail(r) => self.rails[r.index()].scope.as_ref(),
            RuleRef::Health(h) => self.healths[h.index()].scope.as_ref(),
            RuleRef::Gate(_) => None,
        }
    }

    pub fn plane_by_name(&self, name: &str) -> Option<PlaneId> {
        self.planes
            .iter()
            .position(|p| p.name == name)
            .map(|i| PlaneId(i as u32))
    }

    pub fn field_by_name(&self, name: &str) -> Option<FieldId> {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .map(|i| FieldId(i as u32))
    }

    /// A value as the user writes it.
    pub fn show_value(&self, value: Value) -> String {
        match value {
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(f),
            Value::Duration(s) => format_duration(s),
            Value::Version(v) => v.to_string(),
            Value::Enum(e, v) => self
                .enums
                .get(e.index())
                .and_then(|en| en.variants.get(usize::from(v)))
                .cloned()
                .unwrap_or_else(|| format!("#{v}")),
        }
    }

    pub fn type_name(&self, ty: Ty) -> String {
        match ty {
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Float => "float".into(),
            Ty::Duration => "duration".into(),
            Ty::Version => "version".into(),
            Ty::Enum(e) => self.enum_(e).name.clone(),
        }
    }
}

/// A float as a short literal that reads back to the same value (`0.3`, `1e-9`, `2.0`).
pub fn format_float(f: f64) -> String {
    let s = format!("{f:?}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") {
        s
    } else {
        format!("{s}.0")
    }
}

/// A duration in the largest units that divide it: `1h30m`, `7d`, `45s`, `0s`.
pub fn format_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs.unsigned_abs();
    if secs < 0 {
        out.push('-');
    }
    for (unit, size) in [("d", 86_400u64), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}
