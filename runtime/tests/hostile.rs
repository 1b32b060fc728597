//! Hostile artifacts, from the outside (public API only): whatever bytes come in, decoding, signature
//! checks and verification never panic; and a verified artifact never makes the interpreter read out of
//! bounds or run longer than its cost bound.
//!
//! The interpreter has no step counter (it must not pay for one), so each function also runs on a
//! small *model* interpreter (`model/mod.rs`) written from `docs/bytecode.md` over the verifier's
//! decoded ops. The model checks, at every step, what the verifier promises: at most `cost` steps
//! (jumps only go forward), stack depth within `max_stack`, slot, constant, local and clause indices in
//! range, locals written before they are read. Its clause conditions must equal the interpreter's, so
//! it is also a second, independent reading of the semantics. Random code almost never verifies, so
//! `CodeGen` writes code that verifies by construction (short circuits, `LoadOr` defaults, locals).
//!
//! Cases: `FLEETGATE_PROPTEST_CASES` (default 256 per property).

mod model;

use fleetgate_runtime::ArtifactError;
use fleetgate_runtime::artifact::{Artifact, MAX_ARTIFACT_LEN, SIGNATURE_LEN};
use fleetgate_runtime::op::Op;
use fleetgate_runtime::sign::{self, SecretKey, SignError};
use fleetgate_runtime::verify::{verify, verify_artifact};
use model::run_everything;
use proptest::prelude::*;

/// The edge-ai package as `fleetgate build` compiles it (`policies/edge-ai/agent/`).
const EDGE_AI: &[u8] = include_bytes!("../../policies/edge-ai/agent/edge-ai.fga");

fn cases() -> u32 {
    std::env::var("FLEETGATE_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

fn edge_ai() -> Artifact {
    Artifact::decode(EDGE_AI).unwrap()
}

/// Slot values that hit the interesting cases: zero, extremes, small ints, floats, NaN, infinities.
fn slot_value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1u64),
        Just(u64::MAX),
        Just(i64::MIN as u64),
        Just(i64::MAX as u64),
        Just(f64::NAN.to_bits()),
        Just(f64::INFINITY.to_bits()),
        Just((-0.0f64).to_bits()),
        (-300i64..300).prop_map(|v| v as u64),
        (-1e6f64..1e6).prop_map(f64::to_bits),
        (0u16..4, 0u16..30, 0u16..30)
            .prop_map(|(a, b, c)| fleetgate_runtime::value::pack_version(a, b, c)),
        any::<u64>(),
    ]
}

/// One random op with small operands (so that indices are often in range and jumps often land).
fn small_op(i: usize, a: u16, b: u16) -> Op {
    let opcode = Op::OPCODES[i % Op::COUNT];
    let [a0, a1] = a.to_le_bytes();
    let [b0, b1] = b.to_le_bytes();
    let (op, _) = Op::decode(&[opcode, a0, a1, b0, b1], 0).unwrap();
    op
}

/// Random code that verifies by construction: a few statements (`e Emit c`, `e LocalSet l`, `e Pop`)
/// over random expressions, with short circuits (`JumpIfFalse … And`, `JumpIfTrue … Or`) and `LoadOr`
/// defaults, reading only slots the function's record layout allows.
struct CodeGen<'a> {
    state: u64,
    /// Per slot of the record the function reads: may it be missing?
    optional: &'a [bool],
    n_consts: u16,
    clauses: core::ops::Range<u16>,
    /// Locals written by an earlier statement (on every path).
    set: Vec<u8>,
    items: Vec<Item>,
    depth: usize,
    max_depth: usize,
}

enum Item {
    Op(Op),
    /// A jumping op and the label it goes to.
    Jump(Op, usize),
    Label(usize),
}

impl CodeGen<'_> {
    fn next(&mut self) -> u64 {
        // xorshift64*: the proptest seed picks the program.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn op(&mut self, op: Op) {
        let e = op.stack_effect();
        self.depth = self.depth + usize::from(e.pushes) - usize::from(e.pops);
        self.max_depth = self.max_depth.max(self.depth);
        self.items.push(Item::Op(op));
    }

    fn slot(&mut self, optional: bool) -> Option<u16> {
        let candidates: Vec<usize> = (0..self.optional.len())
            .filter(|&i| self.optional[i] == optional)
            .collect();
        let i = *candidates.get(self.below(candidates.len()))?;
        u16::try_from(i).ok()
    }

    fn leaf(&mut self) {
        for _ in 0..4 {
            match self.below(5) {
                0 if self.n_consts > 0 => {
                    let k = self.below(usize::from(self.n_consts)) as u16;
                    return self.op(Op::Const(k));
                }
                1 => {
                    if let Some(s) = self.slot(false) {
                        return self.op(Op::Load(s));
                    }
                }
                2 => {
                    if let Some(s) = self.slot(true) {
                        return self.op(Op::Known(s));
                    }
                }
                3 => {
                    if let Some(s) = self.slot(true) {
                        // Jump: +1 with the slot; fall through: the default pushes it.
                        let l = self.label();
                        self.items.push(Item::Jump(Op::LoadOr(s, 0), l));
                        self.leaf_plain();
                        self.items.push(Item::Label(l));
                        return;
                    }
                }
                _ if !self.set.is_empty() => {
                    let i = self.below(self.set.len());
                    let l = self.set[i];
                    return self.op(Op::LocalGet(l));
                }
                _ => {}
            }
        }
        self.leaf_plain();
    }

    /// A leaf without jumps: a constant, or a required slot, or `Known`.
    fn leaf_plain(&mut self) {
        if self.n_consts > 0 && self.below(2) == 0 {
            let k = self.below(usize::from(self.n_consts)) as u16;
            self.op(Op::Const(k));
        } else if let Some(s) = self.slot(false) {
            self.op(Op::Load(s));
        } else if let Some(s) = self.slot(true) {
            self.op(Op::Known(s));
        } else {
            // No slots at all: `Known` needs an optional one, so fall back to a constant.
            self.op(Op::Const(0));
        }
    }

    /// A fresh label: the index of the jump pushed right after (unique, as items only grow).
    fn label(&mut self) -> usize {
        self.items.len()
    }

    /// Pushes one value.
    fn expr(&mut self, fuel: usize) {
        if fuel == 0 {
            return self.leaf();
        }
        let unary = [Op::NegI, Op::AbsI, Op::NegF, Op::AbsF, Op::Not, Op::I2F];
        let binary = [
            Op::AddI,
            Op::SubI,
            Op::MulI,
            Op::DivI,
            Op::MinI,
            Op::MaxI,
            Op::AddF,
            Op::SubF,
            Op::MulF,
            Op::DivF,
            Op::MinF,
            Op::MaxF,
            Op::Eq,
            Op::Ne,
            Op::EqF,
            Op::NeF,
            Op::LtI,
            Op::LeI,
            Op::GtI,
            Op::GeI,
            Op::LtU,
            Op::LeU,
            Op::GtU,
            Op::GeU,
            Op::LtF,
            Op::LeF,
            Op::GtF,
            Op::GeF,
            Op::And,
            Op::Or,
        ];
        match self.below(9) {
            0 | 1 => self.leaf(),
            2 => {
                self.expr(fuel - 1);
                let op = unary[self.below(unary.len())];
                self.op(op);
            }
            3 | 4 => {
                self.expr(fuel - 1);
                self.expr(fuel - 1);
                let op = binary[self.below(binary.len())];
                self.op(op);
            }
            5 => {
                self.expr(fuel - 1);
                self.expr(fuel - 1);
                self.expr(fuel - 1);
                let op = [Op::BetweenI, Op::BetweenU, Op::BetweenF][self.below(3)];
                self.op(op);
            }
            6 if self.n_consts > 0 => {
                self.expr(fuel - 1);
                let k = self.below(usize::from(self.n_consts));
                let n = self.below(usize::from(self.n_consts) - k + 1).min(6);
                let op = if self.below(2) == 0 {
                    Op::InSetI(k as u16, n as u16)
                } else {
                    Op::InSetF(k as u16, n as u16)
                };
                self.op(op);
            }
            7 => {
                // `a JumpIfFalse L b And L:` / `a JumpIfTrue L b Or L:`, the compiler's short circuits.
                self.expr(fuel - 1);
                let l = self.label();
                let (jump, join) = if self.below(2) == 0 {
                    (Op::JumpIfFalse(0), Op::And)
                } else {
                    (Op::JumpIfTrue(0), Op::Or)
                };
                self.items.push(Item::Jump(jump, l));
                self.expr(fuel - 1);
                self.op(join);
                self.items.push(Item::Label(l));
            }
            _ => {
                self.expr(fuel - 1);
                self.op(Op::Dup);
                let op = binary[self.below(binary.len())];
                self.op(op);
            }
        }
    }

    /// The code bytes, instruction count and deepest stack of `statements` statements.
    fn function(mut self, statements: usize, fuel: usize) -> (Vec<u8>, u32, u8) {
        for _ in 0..statements {
            self.expr(fuel);
            match self.below(4) {
                0 | 1 if !self.clauses.is_empty() => {
                    let c = self.clauses.start + self.below(self.clauses.len()) as u16;
                    self.op(Op::Emit(c));
                }
                2 => {
                    let l = self.below(8) as u8;
                    self.op(Op::LocalSet(l));
                    if !self.set.contains(&l) {
                        self.set.push(l);
                    }
                }
                _ => self.op(Op::Pop),
            }
        }
        // Resolve labels to byte offsets from the end of each jump.
        let mut at = 0usize;
        let mut label_at = std::collections::HashMap::new();
        for item in &self.items {
            match item {
                Item::Op(op) | Item::Jump(op, _) => at += op.encoded_len(),
                Item::Label(l) => {
                    label_at.insert(*l, at);
                }
            }
        }
        let (mut code, mut count) = (Vec::new(), 0u32);
        for item in &self.items {
            match item {
                Item::Op(op) => op.encode(&mut code),
                Item::Jump(op, l) => {
                    let end = code.len() + op.encoded_len();
                    let rel = u16::try_from(label_at[l] - end).unwrap();
                    op.with_branch(rel).encode(&mut code);
                }
                Item::Label(_) => continue,
            }
            count += 1;
        }
        (code, count, u8::try_from(self.max_depth).unwrap())
    }
}

#[test]
fn the_edge_ai_artifact_agrees_with_the_model() {
    let policy = verify(EDGE_AI).unwrap();
    for seed in [
        vec![0u64],
        vec![u64::MAX],
        vec![1, 2, 3],
        vec![f64::NAN.to_bits(), 7],
    ] {
        run_everything(&policy, &seed);
    }
}

#[test]
fn the_size_limit_comes_first() {
    let mut big = EDGE_AI.to_vec();
    big.resize(MAX_ARTIFACT_LEN + 1, 0);
    let n = u32::try_from(big.len()).unwrap().to_le_bytes();
    big[8..12].copy_from_slice(&n);
    assert_eq!(
        verify(&big).unwrap_err(),
        ArtifactError::TooLarge {
            len: MAX_ARTIFACT_LEN + 1,
            max: MAX_ARTIFACT_LEN
        }
    );
    // At the limit, the decoder reads on (and finds the padding).
    big.truncate(MAX_ARTIFACT_LEN);
    big[8..12].copy_from_slice(&u32::try_from(MAX_ARTIFACT_LEN).unwrap().to_le_bytes());
    assert!(matches!(
        verify(&big),
        Err(ArtifactError::TrailingBytes { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn real_artifacts_on_random_records(seed in proptest::collection::vec(slot_value(), 1..48)) {
        run_everything(&verify(EDGE_AI).unwrap(), &seed);
    }

    #[test]
    fn mutated_artifacts_never_panic_and_run_within_bounds(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..5), 1..8),
        fix_len in any::<bool>(),
        seed in proptest::collection::vec(slot_value(), 1..32),
    ) {
        let mut b = EDGE_AI.to_vec();
        for (at, byte, how) in edits {
            if b.is_empty() {
                break;
            }
            let i = at.index(b.len());
            match how {
                0 | 1 => b[i] = byte,
                2 => b[i] ^= 1 << (byte % 8),
                3 => b.insert(i, byte),
                _ => { b.remove(i); }
            }
        }
        if fix_len && b.len() >= 12 {
            let n = u32::try_from(b.len()).unwrap().to_le_bytes();
            b[8..12].copy_from_slice(&n);
        }
        if let Ok(policy) = verify(&b) {
            prop_assert_eq!(policy.artifact().encode(), b);
            run_everything(&policy, &seed);
        }
    }

    #[test]
    fn random_code_never_panics_the_verifier(
        ops in proptest::collection::vec((0usize..Op::COUNT, 0u16..40, 0u16..12), 0..48),
        which in 0usize..8,
        max_stack in 0u8..12,
        n_locals in 0u8..6,
        seed in proptest::collection::vec(slot_value(), 1..32),
    ) {
        let mut a = edge_ai();
        let f = which % a.functions.len();
        let first = a.functions[f].first_clause;
        let n = a.functions[f].n_clauses.max(1);
        let mut code = Vec::new();
        for &(i, x, y) in &ops {
            let op = match small_op(i, x, y) {
                Op::Emit(c) => Op::Emit(first + c % n),
                Op::LocalSet(l) => Op::LocalSet(l % 6),
                Op::LocalGet(l) => Op::LocalGet(l % 6),
                Op::LocalTee(l) => Op::LocalTee(l % 6),
                op => op,
            };
            op.encode(&mut code);
        }
        a.functions[f].cost = u32::try_from(ops.len()).unwrap();
        a.functions[f].code = code;
        a.functions[f].max_stack = max_stack;
        a.functions[f].n_locals = n_locals;
        if let Ok(policy) = verify_artifact(a) {
            run_everything(&policy, &seed);
        }
    }

    #[test]
    fn generated_code_agrees_with_the_model(
        program in any::<u64>(),
        which in 0usize..8,
        statements in 1usize..12,
        fuel in 0usize..6,
        extra_consts in proptest::collection::vec(slot_value(), 0..12),
        seed in proptest::collection::vec(slot_value(), 1..32),
    ) {
        let mut a = edge_ai();
        a.consts.extend(extra_consts);
        let f = which % a.functions.len();
        let gate = matches!(a.functions[f].kind, fleetgate_runtime::artifact::FunctionKind::Gate(_));
        let gate_optional = [false; fleetgate_runtime::ring::GATE_SLOTS];
        let optional = if gate { &gate_optional[..] } else { &a.optional[..] };
        let first = a.functions[f].first_clause;
        let generator = CodeGen {
            state: program | 1,
            optional,
            n_consts: u16::try_from(a.consts.len()).unwrap(),
            clauses: first..first + a.functions[f].n_clauses,
            set: Vec::new(),
            items: Vec::new(),
            depth: 0,
            max_depth: 0,
        };
        let (code, cost, max_stack) = generator.function(statements, fuel);
        a.functions[f].code = code;
        a.functions[f].cost = cost;
        a.functions[f].max_stack = max_stack.max(1);
        a.functions[f].n_locals = 8;
        let policy = verify_artifact(a).map_err(|e| TestCaseError::fail(format!("generated code does not verify: {e}")))?;
        run_everything(&policy, &seed);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let key = SecretKey::from_seed(&[9; 32]).public();
        let _ = verify(&bytes);
        let _ = sign::verify_signed(&bytes, &key);
        // Behind a valid header, the decoder gets further.
        let mut b = EDGE_AI[..28].to_vec();
        b.extend_from_slice(&bytes);
        let n = u32::try_from(b.len()).unwrap().to_le_bytes();
        b[8..12].copy_from_slice(&n);
        let _ = verify(&b);
        let _ = sign::verify_signed(&b, &key);
    }

    #[test]
    fn a_changed_signed_artifact_is_never_accepted(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        fix_len in any::<bool>(),
    ) {
        let secret = SecretKey::from_seed(&[3; 32]);
        let signed = secret.sign(&edge_ai());
        let mut b = signed.clone();
        for (at, x) in edits {
            let i = at.index(b.len());
            b[i] ^= x;
        }
        if fix_len {
            let n = u32::try_from(b.len()).unwrap().to_le_bytes();
            b[8..12].copy_from_slice(&n);
        }
        let result = sign::verify_signed(&b, &secret.public());
        if b == signed {
            prop_assert!(result.is_ok());
        } else {
            // The signature section is flag · key id · signature: a changed flag reads as unsigned (or
            // malformed), a changed key id as another key; anything else fails the signature.
            let err = result.unwrap_err();
            let at = signed.len() - SIGNATURE_LEN;
            let flag_changed = b.len() != signed.len() || b[at] != signed[at];
            let id_changed = b.len() != signed.len() || b[at + 1..at + 9] != signed[at + 1..at + 9];
            match err {
                SignError::BadSignature { .. } | SignError::Malformed(_) => {}
                SignError::Unsigned => prop_assert!(flag_changed, "{:?}", err),
                SignError::OtherKey { .. } => prop_assert!(id_changed, "{:?}", err),
            }
        }
    }
}
