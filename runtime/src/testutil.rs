//! Test support: in go hand-written ops with labels, out come function bytes; plus a full, valid
//! sample artifact shaped like the `edge-ai` package (three planes, four rings, three gates).

use crate::artifact::{
    Artifact, Clause, ClauseKind, Constraint, Function, FunctionKind, Gate, Ring, Rollout,
    Signature, SlotType, VersionSet,
};
use crate::op::{Op, Rel};
use crate::ring::GateSlot;
use crate::value::{PlaneSet, pack_version};
use crate::verify::{Policy, verify};
use alloc::vec;
use alloc::vec::Vec;

/// A forward jump target in an [`Asm`].
#[derive(Clone, Copy, Debug)]
pub struct Label(usize);

/// A tiny assembler: ops in order, forward jumps to labels bound later.
#[derive(Default)]
pub struct Asm {
    pub code: Vec<u8>,
    pub count: u32,
    labels: Vec<Option<usize>>,
    /// (offset of the jump operand, end of the jumping instruction, label)
    fixups: Vec<(usize, usize, Label)>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }

    pub fn op(&mut self, op: Op) -> &mut Asm {
        op.encode(&mut self.code);
        self.count += 1;
        self
    }

    pub fn ops(&mut self, ops: &[Op]) -> &mut Asm {
        for &op in ops {
            self.op(op);
        }
        self
    }

    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Emits a jumping op (its jump operand is the last one) to `to`.
    pub fn jump(&mut self, make: impl FnOnce(Rel) -> Op, to: Label) -> &mut Asm {
        self.op(make(0));
        let end = self.code.len();
        self.fixups.push((end - 2, end, to));
        self
    }

    pub fn bind(&mut self, l: Label) -> &mut Asm {
        self.labels[l.0] = Some(self.code.len());
        self
    }

    /// The code bytes and instruction count.
    pub fn finish(&self) -> (Vec<u8>, u32) {
        let mut code = self.code.clone();
        for &(at, end, l) in &self.fixups {
            let target = self.labels[l.0].expect("label bound");
            let rel = u16::try_from(target - end).unwrap();
            code[at..at + 2].copy_from_slice(&rel.to_le_bytes());
        }
        (code, self.count)
    }

    /// A function of `kind` over clauses `first .. first + n` with this code.
    pub fn function(&self, kind: FunctionKind, first: u16, n: u16) -> Function {
        let (code, cost) = self.finish();
        Function {
            kind,
            first_clause: first,
            n_clauses: n,
            max_stack: 8,
            n_locals: 4,
            cost,
            code,
        }
    }
}

/// The device record slots of the sample package.
pub mod slot {
    pub const HW: u16 = 0; // enum Hw { esp32c3, esp32s3, rk3566 }
    pub const REGION: u16 = 1; // enum Region { eu_west, eu_north, us_east, us_west, apac }
    pub const BATTERY: u16 = 2;
    pub const CHARGING: u16 = 3;
    pub const FREE_HEAP_KB: u16 = 4;
    pub const RSSI_DBM: u16 = 5; // optional
    pub const CPU_TEMP_C: u16 = 6;
    pub const MISSION_PHASE: u16 = 7; // enum Phase { idle, active, critical }
    pub const INFERENCE_MS: u16 = 8; // optional
    pub const NPU_READY: u16 = 9; // optional
    pub const REBOOTS_24H: u16 = 10;
    pub const FIRMWARE: u16 = 11;
    pub const MODEL: u16 = 12;
    pub const CONFIG: u16 = 13;
    pub const NOW_HOUR: u16 = 14;
    pub const NOW_WEEKDAY: u16 = 15;
    pub const N: usize = 19;
}

pub const ESP32C3: u64 = 0;
pub const RK3566: u64 = 2;
pub const FIRMWARE: u8 = 0;
pub const MODEL: u8 = 1;
pub const CONFIG: u8 = 2;

/// Slot types and optional flags of the sample device record.
pub fn sample_slots() -> (Vec<SlotType>, Vec<bool>) {
    use SlotType::*;
    let v = Version;
    let slots = vec![
        Enum { variants: 3 },
        Enum { variants: 5 },
        Float,
        Bool,
        Int,
        Int,
        Float,
        Enum { variants: 3 },
        Float,
        Bool,
        Int,
        v,
        v,
        v,
        Int,
        Enum { variants: 7 },
        v,
        v,
        v,
    ];
    let mut optional = vec![false; slots.len()];
    for s in [5, 8, 9, 16, 17, 18] {
        optional[s] = true;
    }
    (slots, optional)
}

/// Interns constants.
#[derive(Default)]
pub struct Consts(pub Vec<u64>);

impl Consts {
    pub fn k(&mut self, v: u64) -> u16 {
        let i = self.0.iter().position(|&c| c == v).unwrap_or_else(|| {
            self.0.push(v);
            self.0.len() - 1
        });
        u16::try_from(i).unwrap()
    }
    pub fn i(&mut self, v: i64) -> u16 {
        self.k(v as u64)
    }
    pub fn f(&mut self, v: f64) -> u16 {
        self.k(v.to_bits())
    }
}

/// Emits `<a> JumpIfFalse L <b> And L:` with `a` and `b` written by the closures.
pub fn and(asm: &mut Asm, a: impl FnOnce(&mut Asm), b: impl FnOnce(&mut Asm)) {
    let l = asm.label();
    a(asm);
    asm.jump(Op::JumpIfFalse, l);
    b(asm);
    asm.op(Op::And).bind(l);
}

pub const CANARY_SOAK: u32 = 86_400;

/// The full sample artifact: every function kind, counters, `per` clauses, both constraint kinds,
/// a signature.
pub fn sample() -> Artifact {
    let mut k = Consts::default();
    let (slots, optional) = sample_slots();
    let v = |a, b, c| pack_version(a, b, c);
    // The on-MCU set [esp32c3, esp32s3] occupies consts 0..2, for `InSetI`.
    k.k(0);
    k.k(1);

    // Rails: clauses 0..5.
    let mut rails = Asm::new();
    and(
        &mut rails,
        |a| {
            let c = k.f(0.30);
            a.ops(&[Op::Load(slot::BATTERY), Op::Const(c), Op::LtF]);
        },
        |a| {
            a.ops(&[Op::Load(slot::CHARGING), Op::Not]);
        },
    );
    rails.op(Op::Emit(0));
    let critical = k.k(2);
    rails.ops(&[
        Op::Load(slot::MISSION_PHASE),
        Op::Const(critical),
        Op::Eq,
        Op::Emit(1),
    ]);
    let c40 = k.i(40);
    and(
        &mut rails,
        |a| {
            a.ops(&[Op::Load(slot::HW), Op::InSetI(0, 2), Op::LocalTee(0)]);
        },
        |a| {
            a.ops(&[Op::Load(slot::FREE_HEAP_KB), Op::Const(c40), Op::LtI]);
        },
    );
    rails.op(Op::Emit(2));
    let (m127, m80) = (k.i(-127), k.i(-80));
    and(
        &mut rails,
        |a| {
            a.op(Op::LocalGet(0));
        },
        |a| {
            let l = a.label();
            a.jump(|off| Op::LoadOr(slot::RSSI_DBM, off), l);
            a.op(Op::Const(m127)).bind(l);
            a.ops(&[Op::Const(m80), Op::LtI]);
        },
    );
    rails.op(Op::Emit(3));
    let (rk, one, four) = (k.k(RK3566), k.i(1), k.i(4));
    and(
        &mut rails,
        |a| {
            a.ops(&[Op::Load(slot::HW), Op::Const(rk), Op::Eq]);
        },
        |a| {
            a.ops(&[
                Op::Load(slot::NOW_HOUR),
                Op::Const(one),
                Op::Const(four),
                Op::BetweenI,
                Op::Not,
            ]);
        },
    );
    rails.op(Op::Emit(4));

    // Health: clauses 5..9.
    let mut health = Asm::new();
    let (f250, f0) = (k.f(250.0), k.f(0.0));
    and(
        &mut health,
        |a| {
            a.ops(&[Op::Load(slot::HW), Op::Const(rk), Op::Eq, Op::LocalTee(1)]);
        },
        |a| {
            let l = a.label();
            a.jump(|off| Op::LoadOr(slot::INFERENCE_MS, off), l);
            a.op(Op::Const(f0)).bind(l);
            a.ops(&[Op::Const(f250), Op::GtF]);
        },
    );
    health.op(Op::Emit(5));
    and(
        &mut health,
        |a| {
            a.op(Op::LocalGet(1));
        },
        |a| {
            let l = a.label();
            let f = k.k(0);
            a.jump(|off| Op::LoadOr(slot::NPU_READY, off), l);
            a.op(Op::Const(f)).bind(l);
            a.op(Op::Not);
        },
    );
    health.op(Op::Emit(6));
    health.ops(&[Op::Load(slot::HW), Op::InSetI(0, 2), Op::LocalSet(2)]);
    and(
        &mut health,
        |a| {
            a.op(Op::LocalGet(2));
        },
        |a| {
            a.ops(&[Op::Load(slot::FREE_HEAP_KB), Op::Const(c40), Op::LtI]);
        },
    );
    health.op(Op::Emit(7));
    let three = k.i(3);
    and(
        &mut health,
        |a| {
            a.op(Op::LocalGet(2));
        },
        |a| {
            a.ops(&[Op::Load(slot::REBOOTS_24H), Op::Const(three), Op::GeI]);
        },
    );
    health.op(Op::Emit(8));

    // Constraints: clause 9. Rings: clause 10.
    let mut constraints = Asm::new();
    let esp = k.k(ESP32C3);
    constraints.ops(&[Op::Load(slot::HW), Op::Const(esp), Op::Eq, Op::Emit(9)]);
    let mut rings = Asm::new();
    let eu_west = k.k(0);
    rings.ops(&[
        Op::Load(slot::REGION),
        Op::Const(eu_west),
        Op::Eq,
        Op::Emit(10),
    ]);

    // Gate 0: clauses 11..16.
    let ring = |s: GateSlot| u16::try_from(s.ring()).unwrap();
    let mut gate0 = Asm::new();
    let (c300, c50, c20, zero) = (k.i(300), k.i(50), k.i(20), k.i(0));
    let (p1, p2, p8) = (k.f(0.01), k.f(0.02), k.f(0.08));
    gate0.ops(&[
        Op::Load(ring(GateSlot::Done)),
        Op::Const(c300),
        Op::GeI,
        Op::Emit(11),
    ]);
    gate0.ops(&[
        Op::Load(ring(GateSlot::FailureUpper)),
        Op::Const(p1),
        Op::LtF,
        Op::Emit(12),
    ]);
    for (clause, rate, done) in [(13, p2, c50), (14, p8, c20)] {
        and(
            &mut gate0,
            |a| {
                a.ops(&[
                    Op::Load(ring(GateSlot::FailureRate)),
                    Op::Const(rate),
                    Op::GtF,
                ]);
            },
            |a| {
                a.ops(&[Op::Load(ring(GateSlot::Done)), Op::Const(done), Op::GeI]);
            },
        );
        gate0.op(Op::Emit(clause));
    }
    gate0.ops(&[
        Op::Load(ring(GateSlot::Bricked)),
        Op::Const(zero),
        Op::GtI,
        Op::Emit(15),
    ]);
    let mut gate1 = Asm::new();
    let c1000 = k.i(1000);
    gate1.ops(&[
        Op::Load(ring(GateSlot::Done)),
        Op::Const(c1000),
        Op::GeI,
        Op::Emit(16),
    ]);
    let mut gate2 = Asm::new();
    gate2.ops(&[
        Op::Load(ring(GateSlot::FailureUpper)),
        Op::Const(p1),
        Op::LtF,
        Op::Emit(17),
    ]);

    let deny = |rule| Clause {
        reason: Some(rule),
        ..Clause::new(ClauseKind::Deny, rule)
    };
    let defer = |rule, secs| Clause {
        arg: secs,
        ..Clause::new(ClauseKind::Defer, rule)
    };
    let rollback = |rule, planes: &[u8], checks, counter| Clause {
        planes: planes.iter().copied().collect::<PlaneSet>(),
        checks,
        counter,
        ..Clause::new(ClauseKind::Rollback, rule)
    };
    let require = |rule| Clause::new(ClauseKind::Require, rule);
    let abort = |rule| Clause::new(ClauseKind::Abort, rule);
    let clauses = vec![
        deny(0),
        defer(1, 900),
        deny(2),
        defer(2, 3600),
        defer(3, 3600),
        rollback(0, &[MODEL], 3, 0),
        rollback(0, &[FIRMWARE], 0, 0),
        rollback(1, &[FIRMWARE], 2, 1),
        rollback(1, &[FIRMWARE], 0, 0),
        Clause::new(ClauseKind::Incompatible, 0),
        Clause::new(ClauseKind::RingFilter, 0),
        require(0),
        require(0),
        abort(0),
        Clause {
            per_slot: Some(slot::HW),
            ..abort(0)
        },
        abort(0),
        require(1),
        require(2),
    ];

    let max = u64::MAX;
    let constraints_list = vec![
        Constraint::Depends {
            a_plane: MODEL,
            a: VersionSet(vec![(v(2, 0, 0), max)]),
            b_plane: FIRMWARE,
            b: VersionSet(vec![(v(1, 4, 0), max)]),
        },
        Constraint::Depends {
            a_plane: CONFIG,
            a: VersionSet(vec![(v(7, 0, 0), max)]),
            b_plane: MODEL,
            b: VersionSet(vec![(v(2, 0, 0), v(2, 65535, 65535))]),
        },
        Constraint::Incompatible {
            plane: MODEL,
            set: VersionSet(vec![(v(2, 0, 0), max)]),
            clause: 9,
        },
    ];

    let gate_kind = FunctionKind::Gate;
    Artifact {
        flags: 0,
        schema_hash: 0x1234_5678_9abc_def0,
        serial: 7,
        slots,
        optional,
        n_planes: 3,
        n_counters: 2,
        consts: k.0,
        clauses,
        constraints: constraints_list,
        rollout: Rollout {
            check_every: 60,
            verify_for: 600,
            rate: Some((200, 60)),
            in_flight: Some(2000),
            retries: 3,
            rings: vec![
                Ring {
                    share_ppm: 5_000,
                    filter: Some(10),
                },
                Ring {
                    share_ppm: 20_000,
                    filter: None,
                },
                Ring {
                    share_ppm: 200_000,
                    filter: None,
                },
                Ring {
                    share_ppm: 1_000_000,
                    filter: None,
                },
            ],
            gates: vec![
                Gate {
                    from: 0,
                    to: 1,
                    soak: CANARY_SOAK,
                    function: 4,
                },
                Gate {
                    from: 1,
                    to: 2,
                    soak: 86_400,
                    function: 5,
                },
                Gate {
                    from: 2,
                    to: 3,
                    soak: 172_800,
                    function: 6,
                },
            ],
        },
        functions: vec![
            rails.function(FunctionKind::Rails, 0, 5),
            health.function(FunctionKind::Health, 5, 4),
            constraints.function(FunctionKind::Constraints, 9, 1),
            rings.function(FunctionKind::Rings, 10, 1),
            gate0.function(gate_kind(0), 11, 5),
            gate1.function(gate_kind(1), 16, 1),
            gate2.function(gate_kind(2), 17, 1),
        ],
        signature: Some(Signature {
            key_id: 42,
            bytes: [7; 64],
        }),
    }
}

pub fn sample_policy() -> Policy {
    verify(&sample().encode()).unwrap()
}

/// A device record for the sample package with every optional field present.
pub fn sample_record() -> Vec<u64> {
    let mut r = vec![0u64; slot::N];
    r[slot::HW as usize] = RK3566;
    r[slot::REGION as usize] = 1;
    r[slot::BATTERY as usize] = 0.8f64.to_bits();
    r[slot::CHARGING as usize] = 0;
    r[slot::FREE_HEAP_KB as usize] = 120;
    r[slot::RSSI_DBM as usize] = -60i64 as u64;
    r[slot::CPU_TEMP_C as usize] = 40.0f64.to_bits();
    r[slot::MISSION_PHASE as usize] = 0;
    r[slot::INFERENCE_MS as usize] = 100.0f64.to_bits();
    r[slot::NPU_READY as usize] = 1;
    r[slot::REBOOTS_24H as usize] = 0;
    r[slot::FIRMWARE as usize] = pack_version(1, 3, 0);
    r[slot::MODEL as usize] = pack_version(1, 9, 0);
    r[slot::CONFIG as usize] = pack_version(6, 0, 0);
    r[slot::NOW_HOUR as usize] = 2;
    r[slot::NOW_WEEKDAY as usize] = 0;
    r
}

/// A minimal artifact: a device record of `fields` (type, optional) with no planes, the given
/// constants, and one `Rails` function over `n_clauses` deny clauses.
pub fn mini(fields: &[(SlotType, bool)], consts: Vec<u64>, code: &Asm, n_clauses: u16) -> Artifact {
    let mut slots: Vec<SlotType> = fields.iter().map(|f| f.0).collect();
    let mut optional: Vec<bool> = fields.iter().map(|f| f.1).collect();
    slots.extend([SlotType::Int, SlotType::Enum { variants: 7 }]);
    optional.extend([false, false]);
    let mut f = code.function(FunctionKind::Rails, 0, n_clauses);
    f.max_stack = 64;
    f.n_locals = 64;
    Artifact {
        flags: 0,
        schema_hash: 0,
        serial: 0,
        slots,
        optional,
        n_planes: 0,
        n_counters: 0,
        consts,
        clauses: (0..n_clauses)
            .map(|r| Clause::new(ClauseKind::Deny, r))
            .collect(),
        constraints: vec![],
        rollout: Rollout::default(),
        functions: vec![f],
        signature: None,
    }
}
