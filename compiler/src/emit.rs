//! Bytecode emission: an IR function -> the stack code of one artifact function.
//!
//! In: `ir::Function`. Out: `artifact::Function` (code bytes, max stack, locals, cost bound) and
//! constants added to the artifact's pool. Shape of the code:
//! - a rule with a `when` scope evaluates the scope once, skips its clauses with `JumpIfFalse` when the
//!   scope is definitely false, and evaluates each clause as `scope and cond` (`Dup`, cond, `And`);
//! - `and`/`or` short-circuit with `JumpIfFalse`/`JumpIfTrue` (their Kleene semantics make that
//!   unobservable), `??` with `LoadOr`;
//! - a node the DAG shares (a let used twice, a repeated subexpression) is computed once into a local
//!   and read back, but only where that local is certainly written on every path: a node first met
//!   inside code that may be skipped is simply computed again where it is needed later.

use std::collections::HashMap;

use fleetgate_lang::typed::{ArithOp, CmpKind, CmpOp, NumKind};
use fleetgate_runtime::artifact::{Function, MAX_LOCALS, MAX_STACK};
use fleetgate_runtime::op::Op;

use crate::ir::{self, Node, NodeId};

/// Why a function could not be emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// An expression needs a deeper operand stack than devices allow.
    StackTooDeep {
        clause: u16,
    },
    TooManyConstants,
    CodeTooLarge,
}

/// The constant pool shared by all functions of an artifact.
#[derive(Default)]
pub struct Consts {
    pub values: Vec<u64>,
    single: HashMap<u64, u16>,
    sets: HashMap<Vec<u64>, u16>,
}

impl Consts {
    fn add(&mut self, v: u64) -> Result<u16, EmitError> {
        if let Some(&k) = self.single.get(&v) {
            return Ok(k);
        }
        let k = u16::try_from(self.values.len()).map_err(|_| EmitError::TooManyConstants)?;
        self.values.push(v);
        self.single.insert(v, k);
        Ok(k)
    }

    fn add_set(&mut self, set: &[u64]) -> Result<(u16, u16), EmitError> {
        let n = u16::try_from(set.len()).map_err(|_| EmitError::TooManyConstants)?;
        if let Some(&k) = self.sets.get(set) {
            return Ok((k, n));
        }
        let k = u16::try_from(self.values.len()).map_err(|_| EmitError::TooManyConstants)?;
        if self.values.len() + set.len() > usize::from(u16::MAX) {
            return Err(EmitError::TooManyConstants);
        }
        self.values.extend_from_slice(set);
        self.sets.insert(set.to_vec(), k);
        Ok((k, n))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Label(usize);

enum Item {
    Op(Op),
    /// A jumping op whose target is a label.
    Jump(Op, Label),
    Bind(Label),
}

struct Emitter<'a> {
    graph: &'a ir::Graph,
    consts: &'a mut Consts,
    items: Vec<Item>,
    labels: usize,
    depth: usize,
    max_depth: usize,
    /// How many times each node is reached when the DAG is walked as a tree (a shared node's own
    /// children counted once), less the times the emitter has reached it so far: a local is worth
    /// writing where some are left (saturating: a node emitted again in full, because its earlier
    /// use was in skippable code, reaches its children again).
    left: Vec<u32>,
    /// Locals holding a node's value, per scope (the function, then each rule block); a local is
    /// entered only where it is written on every path.
    scopes: Vec<HashMap<NodeId, u8>>,
    n_locals: usize,
    /// Greater than zero inside code that may be skipped (short-circuited operands, `??` defaults).
    conditional: usize,
    clause: u16,
}

pub fn function(f: &ir::Function, consts: &mut Consts) -> Result<Function, EmitError> {
    let mut e = Emitter {
        graph: &f.graph,
        consts,
        items: Vec::new(),
        labels: 0,
        depth: 0,
        max_depth: 0,
        left: vec![0; f.graph.nodes.len()],
        scopes: vec![HashMap::new()],
        n_locals: 0,
        conditional: 0,
        clause: f.first_clause,
    };
    for block in &f.blocks {
        if let Some(s) = block.scope {
            e.count(s);
        }
        for &(_, c) in &block.clauses {
            e.count(c);
        }
    }
    for block in &f.blocks {
        e.block(block)?;
    }
    let (code, cost) = assemble(&e.items)?;
    Ok(Function {
        kind: f.kind,
        first_clause: f.first_clause,
        n_clauses: f.n_clauses,
        max_stack: e.max_depth as u8,
        n_locals: e.n_locals as u8,
        cost,
        code,
    })
}

impl Emitter<'_> {
    fn count(&mut self, n: NodeId) {
        self.left[n.index()] += 1;
        if self.left[n.index()] == 1 {
            for c in self.graph.node(n).children() {
                self.count(c);
            }
        }
    }

    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    fn op(&mut self, op: Op) -> Result<(), EmitError> {
        let effect = op.stack_effect();
        self.depth =
            self.depth + usize::from(effect.pushes) - usize::from(effect.pops).min(self.depth);
        self.bump()?;
        self.items.push(Item::Op(op));
        Ok(())
    }

    fn bump(&mut self) -> Result<(), EmitError> {
        self.max_depth = self.max_depth.max(self.depth);
        if self.max_depth > MAX_STACK {
            return Err(EmitError::StackTooDeep {
                clause: self.clause,
            });
        }
        Ok(())
    }

    fn jump(&mut self, op: Op, to: Label) {
        self.items.push(Item::Jump(op, to));
    }

    fn bind(&mut self, l: Label) {
        self.items.push(Item::Bind(l));
    }

    fn block(&mut self, block: &ir::Block) -> Result<(), EmitError> {
        let scope = block
            .scope
            .filter(|s| self.graph.constant(*s).is_none_or(|v| v == 0));
        if block.scope.and_then(|s| self.graph.constant(s)) == Some(0) {
            // The scope is never true: every clause is false, which is what an unemitted clause is.
            return Ok(());
        }
        match scope {
            None => {
                for &(clause, cond) in &block.clauses {
                    self.clause = clause;
                    if self.graph.constant(cond) == Some(0) {
                        continue;
                    }
                    self.expr(cond)?;
                    self.op(Op::Emit(clause))?;
                }
            }
            Some(scope) => {
                self.expr(scope)?;
                let skip = self.label();
                self.jump(Op::JumpIfFalse(0), skip);
                self.scopes.push(HashMap::new());
                for &(clause, cond) in &block.clauses {
                    self.clause = clause;
                    match self.graph.constant(cond) {
                        Some(0) => continue,
                        Some(_) => {
                            self.op(Op::Dup)?;
                        }
                        None => {
                            self.op(Op::Dup)?;
                            self.expr(cond)?;
                            self.op(Op::And)?;
                        }
                    }
                    self.op(Op::Emit(clause))?;
                }
                self.scopes.pop();
                self.bind(skip);
                self.op(Op::Pop)?;
            }
        }
        Ok(())
    }

    fn local_of(&self, n: NodeId) -> Option<u8> {
        self.scopes.iter().rev().find_map(|s| s.get(&n).copied())
    }

    fn expr(&mut self, n: NodeId) -> Result<(), EmitError> {
        // Whether the node is reached again after this (a local for it would be read).
        let later = self.left.get_mut(n.index()).is_some_and(|left| {
            *left = left.saturating_sub(1);
            *left > 0
        });
        if let Some(l) = self.local_of(n) {
            return self.op(Op::LocalGet(l));
        }
        let node = self.graph.node(n).clone();
        let shareable = !matches!(node, Node::Const(_) | Node::Load(_) | Node::Known(_));
        self.node(&node)?;
        if shareable && later && self.conditional == 0 && self.n_locals < MAX_LOCALS {
            let l = self.n_locals as u8;
            self.n_locals += 1;
            self.op(Op::LocalTee(l))?;
            if let Some(scope) = self.scopes.last_mut() {
                scope.insert(n, l);
            }
        }
        Ok(())
    }

    fn node(&mut self, node: &Node) -> Result<(), EmitError> {
        match node {
            Node::Const(v) => {
                let k = self.consts.add(*v)?;
                self.op(Op::Const(k))
            }
            Node::Load(s) => self.op(Op::Load(*s)),
            Node::Known(s) => self.op(Op::Known(*s)),
            Node::LoadOr(s, d) => {
                let done = self.label();
                self.jump(Op::LoadOr(*s, 0), done);
                self.conditional += 1;
                self.expr(*d)?;
                self.conditional -= 1;
                self.bind(done);
                Ok(())
            }
            Node::I2F(a) => {
                self.expr(*a)?;
                self.op(Op::I2F)
            }
            Node::Neg(k, a) => {
                self.expr(*a)?;
                self.op(if *k == NumKind::Int {
                    Op::NegI
                } else {
                    Op::NegF
                })
            }
            Node::Abs(k, a) => {
                self.expr(*a)?;
                self.op(if *k == NumKind::Int {
                    Op::AbsI
                } else {
                    Op::AbsF
                })
            }
            Node::Arith(op, k, a, b) => {
                self.expr(*a)?;
                self.expr(*b)?;
                let int = *k == NumKind::Int;
                self.op(match op {
                    ArithOp::Add => {
                        if int {
                            Op::AddI
                        } else {
                            Op::AddF
                        }
                    }
                    ArithOp::Sub => {
                        if int {
                            Op::SubI
                        } else {
                            Op::SubF
                        }
                    }
                    ArithOp::Mul => {
                        if int {
                            Op::MulI
                        } else {
                            Op::MulF
                        }
                    }
                    ArithOp::Div => {
                        if int {
                            Op::DivI
                        } else {
                            Op::DivF
                        }
                    }
                    ArithOp::Min => {
                        if int {
                            Op::MinI
                        } else {
                            Op::MinF
                        }
                    }
                    ArithOp::Max => {
                        if int {
                            Op::MaxI
                        } else {
                            Op::MaxF
                        }
                    }
                })
            }
            Node::Cmp(op, k, a, b) => {
                self.expr(*a)?;
                self.expr(*b)?;
                self.op(cmp_op(*op, *k))
            }
            Node::In(k, x, set) => {
                self.expr(*x)?;
                let (start, n) = self.consts.add_set(set)?;
                self.op(if *k == CmpKind::Float {
                    Op::InSetF(start, n)
                } else {
                    Op::InSetI(start, n)
                })
            }
            Node::Between(k, x, lo, hi) => {
                self.expr(*x)?;
                self.expr(*lo)?;
                self.expr(*hi)?;
                self.op(match k {
                    CmpKind::Float => Op::BetweenF,
                    CmpKind::Unsigned | CmpKind::Bits => Op::BetweenU,
                    CmpKind::Signed => Op::BetweenI,
                })
            }
            Node::Not(a) => {
                self.expr(*a)?;
                self.op(Op::Not)
            }
            Node::And(xs) | Node::Or(xs) => {
                let is_and = matches!(node, Node::And(_));
                let done = self.label();
                let mut first = true;
                for &x in xs {
                    if first {
                        self.expr(x)?;
                        first = false;
                        continue;
                    }
                    self.jump(
                        if is_and {
                            Op::JumpIfFalse(0)
                        } else {
                            Op::JumpIfTrue(0)
                        },
                        done,
                    );
                    self.conditional += 1;
                    self.expr(x)?;
                    self.conditional -= 1;
                    self.op(if is_and { Op::And } else { Op::Or })?;
                }
                self.bind(done);
                Ok(())
            }
        }
    }
}

fn cmp_op(op: CmpOp, kind: CmpKind) -> Op {
    match (kind, op) {
        (CmpKind::Float, CmpOp::Eq) => Op::EqF,
        (CmpKind::Float, CmpOp::Ne) => Op::NeF,
        (CmpKind::Float, CmpOp::Lt) => Op::LtF,
        (CmpKind::Float, CmpOp::Le) => Op::LeF,
        (CmpKind::Float, CmpOp::Gt) => Op::GtF,
        (CmpKind::Float, CmpOp::Ge) => Op::GeF,
        (_, CmpOp::Eq) => Op::Eq,
        (_, CmpOp::Ne) => Op::Ne,
        (CmpKind::Signed, CmpOp::Lt) => Op::LtI,
        (CmpKind::Signed, CmpOp::Le) => Op::LeI,
        (CmpKind::Signed, CmpOp::Gt) => Op::GtI,
        (CmpKind::Signed, CmpOp::Ge) => Op::GeI,
        (_, CmpOp::Lt) => Op::LtU,
        (_, CmpOp::Le) => Op::LeU,
        (_, CmpOp::Gt) => Op::GtU,
        (_, CmpOp::Ge) => Op::GeU,
    }
}

/// Lays out the items: jump operands become byte distances from the end of the jumping instruction.
/// Returns the code and its instruction count (the cost bound: jumps only go forward).
fn assemble(items: &[Item]) -> Result<(Vec<u8>, u32), EmitError> {
    let len_of = |op: &Op| {
        let mut buf = Vec::new();
        op.encode(&mut buf);
        buf.len()
    };
    let mut label_at = HashMap::new();
    let mut offset = 0usize;
    let mut ends = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Op(op) | Item::Jump(op, _) => offset += len_of(op),
            Item::Bind(l) => {
                label_at.insert(l.0, offset);
            }
        }
        ends.push(offset);
    }
    let mut code = Vec::with_capacity(offset);
    let mut cost = 0u32;
    for (item, end) in items.iter().zip(ends) {
        match item {
            Item::Op(op) => {
                op.encode(&mut code);
                cost += 1;
            }
            Item::Jump(op, l) => {
                let target = label_at.get(&l.0).copied().unwrap_or(end);
                let rel = u16::try_from(target - end).map_err(|_| EmitError::CodeTooLarge)?;
                op.with_branch(rel).encode(&mut code);
                cost += 1;
            }
            Item::Bind(_) => {}
        }
    }
    if code.len() > u32::MAX as usize / 2 {
        return Err(EmitError::CodeTooLarge);
    }
    Ok((code, cost))
}
