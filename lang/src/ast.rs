//! The untyped syntax tree: what the parser produces from one file, before names are resolved.
//!
//! In: nothing (built by `syntax::parse_file`). Out: `ast::File`, read by the resolver (`resolve`) and the
//! formatter (`fmt`). Every node keeps its span; literals keep their source text so that the formatter
//! prints them exactly as written.

use crate::source::Span;

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal: its unescaped value and its span (quotes included).
#[derive(Clone, Debug, PartialEq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Enum(EnumDecl),
    Plane(Ident, Span),
    Device(DeviceDecl),
    Let(LetDecl),
    Rail(RuleDecl),
    Health(RuleDecl),
    Depends(DependsDecl),
    Incompatible(IncompatibleDecl),
    Rollout(RolloutDecl),
    Gate(GateDecl),
    Fixture(FixtureDecl),
    Test(TestDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Enum(d) => d.span,
            Item::Plane(_, span) => *span,
            Item::Device(d) => d.span,
            Item::Let(d) => d.span,
            Item::Rail(d) | Item::Health(d) => d.span,
            Item::Depends(d) => d.span,
            Item::Incompatible(d) => d.span,
            Item::Rollout(d) => d.span,
            Item::Gate(d) => d.span,
            Item::Fixture(d) => d.span,
            Item::Test(d) => d.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnumDecl {
    pub name: Ident,
    pub variants: Vec<Ident>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DeviceDecl {
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    /// `bool`, `int`, … or an enum type name.
    pub ty: Ident,
    pub optional: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LetDecl {
    pub name: Ident,
    pub expr: Expr,
    pub span: Span,
}

/// A `rail` or `health` rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleDecl {
    pub name: Ident,
    pub scope: Option<Expr>,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ClauseHead {
    Deny,
    Defer(Literal),
    Rollback(Vec<Ident>),
    Require(Expr),
    Abort,
}

impl ClauseHead {
    pub fn keyword(&self) -> &'static str {
        match self {
            ClauseHead::Deny => "deny",
            ClauseHead::Defer(_) => "defer",
            ClauseHead::Rollback(_) => "rollback",
            ClauseHead::Require(_) => "require",
            ClauseHead::Abort => "abort",
        }
    }
}

/// One clause of a rail, health rule or gate. The parser accepts every part on every clause; the
/// resolver says which parts belong to which rule kind, which gives better errors than a grammar would.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub head: ClauseHead,
    /// Span of the head keyword (and its operands).
    pub head_span: Span,
    pub reason: Option<StrLit>,
    pub cond: Option<Expr>,
    pub for_checks: Option<Literal>,
    pub per: Option<FieldRef>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DependsDecl {
    pub dependent: Expr,
    pub dependency: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IncompatibleDecl {
    pub versions: Expr,
    pub cond: Expr,
    pub reason: StrLit,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RolloutDecl {
    pub stmts: Vec<RolloutStmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RolloutStmtKind {
    CheckEvery(Literal),
    VerifyFor(Literal),
    Rate(Literal, Literal),
    InFlight(Literal),
    Retries(Literal),
    Ring {
        name: Ident,
        share: Literal,
        filter: Option<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct RolloutStmt {
    pub kind: RolloutStmtKind,
    pub span: Span,
}

// A gate holds few statements and `Soak` is the rarer one: boxing clauses would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum GateStmt {
    Soak(Literal, Span),
    Clause(Clause),
}

impl GateStmt {
    pub fn span(&self) -> Span {
        match self {
            GateStmt::Soak(_, span) => *span,
            GateStmt::Clause(c) => c.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GateDecl {
    pub from: Ident,
    pub to: Ident,
    pub stmts: Vec<GateStmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FixtureDecl {
    pub name: Ident,
    pub source: RecordSource,
    pub span: Span,
}

/// `device { … }` or a fixture name, optionally followed by `with { … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordSource {
    pub base: RecordBase,
    pub with: Option<RecordBody>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RecordBase {
    Literal(RecordBody),
    Fixture(Ident),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordBody {
    pub fields: Vec<FieldInit>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldInit {
    pub name: Ident,
    pub value: ValueLit,
    pub span: Span,
}

/// A value in a record literal or an `in` list element as written: a literal (possibly negated), a bare
/// name (an enum variant) or `missing`.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueLit {
    Missing(Span),
    Literal {
        negated: bool,
        lit: Literal,
        span: Span,
    },
    Name(Ident),
}

impl ValueLit {
    pub fn span(&self) -> Span {
        match self {
            ValueLit::Missing(span) => *span,
            ValueLit::Literal { span, .. } => *span,
            ValueLit::Name(ident) => ident.span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TestDecl {
    pub name: StrLit,
    pub stmts: Vec<TestStmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TestStmt {
    Given(Given, Span),
    Expect(Expect, Span),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Given {
    Device {
        source: RecordSource,
        checks: Option<Literal>,
    },
    Now(RecordBody),
    Release(RecordBody),
    Rollout(RecordBody),
    Ring {
        body: Option<RecordBody>,
        by: Option<RingBy>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct RingBy {
    pub field: Ident,
    pub entries: Vec<(Ident, RecordBody)>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GateRef {
    pub from: Ident,
    pub to: Ident,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    Allow,
    Deny(Option<StrLit>),
    Defer(Option<Literal>, Option<StrLit>),
    Healthy,
    Inconclusive,
    Rollback(Vec<Ident>),
    Promote(GateRef),
    Hold(GateRef),
    Abort(GateRef, Option<StrLit>),
    InstallOrder(Vec<Ident>),
    NotInstallable,
}

/// A literal token, kept as written; the resolver parses its text.
#[derive(Clone, Debug, PartialEq)]
pub struct Literal {
    pub kind: LitKind,
    pub text: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LitKind {
    Int,
    Float,
    Percent,
    Duration,
    Version,
    Bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldRef {
    pub record: Ident,
    pub field: Ident,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// One comparison after the first operand of a comparison expression. More than one is a chained
/// comparison, which the resolver reports (`a < b < c` is an error).
#[derive(Clone, Debug, PartialEq)]
pub enum CmpTail {
    Cmp(CmpOp, Expr),
    In(Vec<Expr>, Span),
    Between(Expr, Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Lit(Literal),
    Name(Ident),
    Field(FieldRef),
    Known(Box<Expr>),
    Call(Ident, Vec<Expr>),
    Paren(Box<Expr>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a ?? b ?? c`, kept flat; it associates to the right (the first known value wins).
    Coalesce(Vec<Expr>),
    Compare(Box<Expr>, Vec<CmpTail>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}
