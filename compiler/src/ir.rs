//! The intermediate representation: per artifact function, a DAG of operations over record slots.
//!
//! In: the typed package (lowered here: lets inlined, fields turned into slots, every clause's
//! condition into a node). Out: `ir::Function`s whose graphs are hash-consed (one node per distinct
//! computation: a field read twice is loaded once, a let used by three clauses is computed once) and
//! constant-folded with the semantics of `semantics.rs` (a fold that would be erroneous is left to run
//! time, so errors stay visible). Nodes carry no types: the operation kinds say how to read the bits.

use std::collections::HashMap;

use fleetgate_lang::typed::{
    self, ArithOp, CmpKind, CmpOp, ExprKind, FieldRef, LetId, NumKind, Package, Value,
};

use crate::layout::Layout;
use crate::semantics::{self, Erroneous, Truth};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    Const(u64),
    Load(u16),
    /// The slot's value if present, else the default.
    LoadOr(u16, NodeId),
    Known(u16),
    I2F(NodeId),
    Neg(NumKind, NodeId),
    Abs(NumKind, NodeId),
    Arith(ArithOp, NumKind, NodeId, NodeId),
    Cmp(CmpOp, CmpKind, NodeId, NodeId),
    In(CmpKind, NodeId, Vec<u64>),
    Between(CmpKind, NodeId, NodeId, NodeId),
    Not(NodeId),
    And(Vec<NodeId>),
    Or(Vec<NodeId>),
}

impl Node {
    pub fn children(&self) -> Vec<NodeId> {
        match self {
            Node::Const(_) | Node::Load(_) | Node::Known(_) => vec![],
            Node::LoadOr(_, d) => vec![*d],
            Node::I2F(a) | Node::Neg(_, a) | Node::Abs(_, a) | Node::Not(a) | Node::In(_, a, _) => {
                vec![*a]
            }
            Node::Arith(_, _, a, b) | Node::Cmp(_, _, a, b) => vec![*a, *b],
            Node::Between(_, x, lo, hi) => vec![*x, *lo, *hi],
            Node::And(xs) | Node::Or(xs) => xs.clone(),
        }
    }
}

/// A hash-consed DAG. The map is only ever looked up, never iterated, so it cannot make output
/// depend on hashing order.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    index: HashMap<Node, NodeId>,
}

impl Graph {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn constant(&self, id: NodeId) -> Option<u64> {
        match self.node(id) {
            Node::Const(c) => Some(*c),
            _ => None,
        }
    }

    fn intern(&mut self, node: Node) -> NodeId {
        if let Some(&id) = self.index.get(&node) {
            return id;
        }
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(node.clone());
        self.index.insert(node, id);
        id
    }

    pub fn konst(&mut self, bits: u64) -> NodeId {
        self.intern(Node::Const(bits))
    }

    /// Adds a node, folding it when its operands are constants and the result is not an error.
    pub fn add(&mut self, node: Node) -> NodeId {
        match self.fold(node) {
            Ok(bits) => self.konst(bits),
            Err(node) => self.intern(node),
        }
    }

    fn fold(&mut self, node: Node) -> Result<u64, Node> {
        let c = |g: &Graph, id: NodeId| g.constant(id);
        let folded = match &node {
            Node::I2F(a) => c(self, *a).map(semantics::widen),
            Node::Neg(k, a) => c(self, *a).and_then(|a| semantics::neg(*k, a)),
            Node::Abs(k, a) => c(self, *a).and_then(|a| semantics::abs(*k, a)),
            Node::Arith(op, k, a, b) => match (c(self, *a), c(self, *b)) {
                (Some(a), Some(b)) => semantics::arith(*op, *k, a, b),
                _ => None,
            },
            Node::Cmp(op, k, a, b) => match (c(self, *a), c(self, *b)) {
                (Some(a), Some(b)) => Some(u64::from(semantics::cmp(*op, *k, a, b))),
                _ => None,
            },
            Node::In(k, x, set) => c(self, *x).map(|x| u64::from(semantics::in_set(*k, x, set))),
            Node::Between(k, x, lo, hi) => match (c(self, *x), c(self, *lo), c(self, *hi)) {
                (Some(x), Some(lo), Some(hi)) => Some(u64::from(semantics::between(*k, x, lo, hi))),
                _ => None,
            },
            Node::Not(a) => c(self, *a).map(|a| u64::from(a == 0)),
            Node::And(xs) | Node::Or(xs) => {
                let is_and = matches!(node, Node::And(_));
                // The value that decides (`false` for `and`), and the one that is dropped.
                let decisive = u64::from(!is_and);
                let mut rest = Vec::new();
                for &x in xs {
                    match c(self, x) {
                        Some(v) if (v != 0) == (decisive != 0) => return Ok(decisive),
                        Some(_) => {}
                        None if !rest.contains(&x) => rest.push(x),
                        None => {}
                    }
                }
                match rest.len() {
                    0 => Some(u64::from(is_and)),
                    1 => return Err(self.node(rest[0]).clone()),
                    _ => {
                        return Err(if is_and {
                            Node::And(rest)
                        } else {
                            Node::Or(rest)
                        });
                    }
                }
            }
            Node::Const(v) => Some(*v),
            Node::Load(_) | Node::LoadOr(..) | Node::Known(_) => None,
        };
        folded.ok_or(node)
    }
}

/// The clauses of one rule, under its scope.
#[derive(Clone, Debug)]
pub struct Block {
    pub scope: Option<NodeId>,
    /// Artifact clause index and condition (without the scope).
    pub clauses: Vec<(u16, NodeId)>,
}

/// One artifact function.
#[derive(Clone, Debug)]
pub struct Function {
    pub kind: fleetgate_runtime::artifact::FunctionKind,
    pub graph: Graph,
    pub blocks: Vec<Block>,
    pub first_clause: u16,
    pub n_clauses: u16,
}

/// Lowers typed expressions into one function's graph.
pub struct Lowerer<'a> {
    pub pkg: &'a Package,
    pub layout: Layout,
    pub graph: Graph,
    lets: HashMap<LetId, NodeId>,
}

impl<'a> Lowerer<'a> {
    pub fn new(pkg: &'a Package) -> Lowerer<'a> {
        Lowerer {
            pkg,
            layout: Layout::of(pkg),
            graph: Graph::default(),
            lets: HashMap::new(),
        }
    }

    fn slot(&self, f: FieldRef) -> u16 {
        // INVARIANT: records have at most a few hundred slots (fields are bounded by the source size
        // limits long before 65536).
        self.layout.slot(f) as u16
    }

    pub fn condition(&mut self, e: Option<&typed::Expr>) -> NodeId {
        match e {
            Some(e) => self.expr(e),
            None => self.graph.konst(1),
        }
    }

    pub fn expr(&mut self, e: &typed::Expr) -> NodeId {
        let node = match &e.kind {
            ExprKind::Const(v) => return self.graph.konst(v.bits()),
            ExprKind::Field(f) => Node::Load(self.slot(*f)),
            ExprKind::Coalesce(f, d) => {
                let d = self.expr(d);
                Node::LoadOr(self.slot(*f), d)
            }
            ExprKind::Known(f) => Node::Known(self.slot(*f)),
            ExprKind::Let(id) => {
                if let Some(&n) = self.lets.get(id) {
                    return n;
                }
                let n = self.expr(&self.pkg.let_(*id).expr);
                self.lets.insert(*id, n);
                return n;
            }
            ExprKind::Widen(x) => Node::I2F(self.expr(x)),
            ExprKind::Neg(k, x) => Node::Neg(*k, self.expr(x)),
            ExprKind::Abs(k, x) => Node::Abs(*k, self.expr(x)),
            ExprKind::Arith(op, k, a, b) => {
                let a = self.expr(a);
                Node::Arith(*op, *k, a, self.expr(b))
            }
            ExprKind::Cmp(op, k, a, b) => {
                let a = self.expr(a);
                Node::Cmp(*op, *k, a, self.expr(b))
            }
            ExprKind::In(k, x, values) => {
                let x = self.expr(x);
                let mut set: Vec<u64> = values.iter().map(|v: &Value| v.bits()).collect();
                set.dedup();
                Node::In(*k, x, set)
            }
            ExprKind::Between(k, x, lo, hi) => {
                let x = self.expr(x);
                let lo = self.expr(lo);
                Node::Between(*k, x, lo, self.expr(hi))
            }
            ExprKind::Not(x) => Node::Not(self.expr(x)),
            ExprKind::And(xs) => Node::And(xs.iter().map(|x| self.expr(x)).collect()),
            ExprKind::Or(xs) => Node::Or(xs.iter().map(|x| self.expr(x)).collect()),
        };
        self.graph.add(node)
    }
}

/// Evaluates a node on a record with the reference semantics (used to test that folding and lowering
/// keep meaning: the IR must agree with the reference evaluator on the typed package).
pub fn eval(
    graph: &Graph,
    id: NodeId,
    slots: &[u64],
    missing: &dyn Fn(usize) -> bool,
) -> Result<u64, Erroneous> {
    let truth = |r: Result<u64, Erroneous>| match r {
        Ok(0) => Truth::False,
        Ok(_) => Truth::True,
        Err(Erroneous) => Truth::Error,
    };
    let back = |t: Truth| match t {
        Truth::False => Ok(0),
        Truth::True => Ok(1),
        Truth::Error => Err(Erroneous),
    };
    let ev = |n: NodeId| eval(graph, n, slots, missing);
    match graph.node(id) {
        Node::Const(c) => Ok(*c),
        Node::Load(s) => Ok(slots[usize::from(*s)]),
        Node::LoadOr(s, d) => {
            if missing(usize::from(*s)) {
                ev(*d)
            } else {
                Ok(slots[usize::from(*s)])
            }
        }
        Node::Known(s) => Ok(u64::from(!missing(usize::from(*s)))),
        Node::I2F(a) => Ok(semantics::widen(ev(*a)?)),
        Node::Neg(k, a) => semantics::neg(*k, ev(*a)?).ok_or(Erroneous),
        Node::Abs(k, a) => semantics::abs(*k, ev(*a)?).ok_or(Erroneous),
        Node::Arith(op, k, a, b) => {
            let (a, b) = (ev(*a), ev(*b));
            semantics::arith(*op, *k, a?, b?).ok_or(Erroneous)
        }
        Node::Cmp(op, k, a, b) => {
            let (a, b) = (ev(*a), ev(*b));
            Ok(u64::from(semantics::cmp(*op, *k, a?, b?)))
        }
        Node::In(k, x, set) => Ok(u64::from(semantics::in_set(*k, ev(*x)?, set))),
        Node::Between(k, x, lo, hi) => {
            let (x, lo, hi) = (ev(*x), ev(*lo), ev(*hi));
            Ok(u64::from(semantics::between(*k, x?, lo?, hi?)))
        }
        Node::Not(a) => back(truth(ev(*a)).negate()),
        Node::And(xs) => back(Truth::and(xs.iter().map(|x| truth(ev(*x))))),
        Node::Or(xs) => back(Truth::or(xs.iter().map(|x| truth(ev(*x))))),
    }
}
