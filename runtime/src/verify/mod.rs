//! The verifier: in go artifact bytes (or an in-memory [`Artifact`]), out comes a [`Policy`] that every
//! engine may run, or the first defect found as an [`ArtifactError`]. Never panics.
//!
//! Beyond decoding, it checks every cross-reference of the artifact and abstractly interprets each
//! function: instructions decode, jumps go forward onto instruction boundaries, the stack depth is the
//! same on every path into an instruction, never underflows, stays within `max_stack` and is empty at the
//! end, and locals are written on every path before they are read. The decoded code is kept, with
//! jumps resolved to instruction counts, so the interpreter never looks at bytes.

use crate::artifact::{
    Artifact, ArtifactError, Clause, ClauseKind, CodeError, Constraint, Function, FunctionKind,
    MAX_LOCALS, MAX_PLANES, MAX_STACK, NONE_U16, SlotType,
};
use crate::interp::ClauseId;
use crate::op::{Op, Rel};
use crate::ring::GATE_SLOTS;
use crate::value::PlaneSet;
use alloc::vec;
use alloc::vec::Vec;

#[cfg(test)]
mod tests;

/// Index of a function in `Artifact::functions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FnId(pub u8);

impl FnId {
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The two record layouts a function may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Device fields, plane versions, `now.hour`, `now.weekday`, release targets.
    Device,
    /// The fixed `ring::GateSlot` layout.
    Gate,
}

/// The number of `now.*` slots between the plane versions and the release targets.
const NOW_SLOTS: usize = 2;
/// `now.weekday` is an enum of `mon` … `sun`.
const WEEKDAYS: u16 = 7;

/// A verified artifact, ready to run.
#[derive(Clone, Debug)]
pub struct Policy {
    artifact: Artifact,
    /// Per function, what running it needs, gathered in one place.
    fns: Vec<Prepared>,
    by_kind: [Option<FnId>; 4],
    /// Per gate: its function.
    gates: Vec<FnId>,
    /// Per word of the device record's missing mask: the bits that must be clear (slots that may not be
    /// missing, and bits past the last slot).
    device_required: Vec<u64>,
    /// One bit per clause: is it a `deny` clause? (Lets `decision::rails` work a word at a time.)
    deny: Vec<u64>,
    /// The rails in one word of clause bits, when they fit: the whole decision in a few instructions.
    rails_word: Option<RailsWord>,
}

/// The rails' clauses when they lie in one 64-bit word of `ClauseBits`.
#[derive(Clone, Debug)]
pub(crate) struct RailsWord {
    /// Which word.
    pub word: usize,
    /// The rails' clause range.
    pub range: core::ops::Range<usize>,
    /// The rails' clauses, the deny clauses and the defer clauses among them, as bits of that word.
    pub all: u64,
    pub deny: u64,
    pub defer: u64,
    /// Per distinct deferral: the defer clauses that have it, as bits of the word (at most 64).
    pub levels: Vec<(u64, u32)>,
}

/// A function as the interpreter runs it.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    /// Decoded ops, jump operands counting instructions forward from the next one.
    pub code: Vec<Op>,
    /// The same code with common idioms fused, as the interpreter dispatches it.
    pub insts: Vec<crate::interp::Inst>,
    /// When `insts` are all slot tests, the same as independent tests (`interp::slot_tests`).
    pub tests: Option<Vec<crate::interp::SlotTest>>,
    pub layout: Layout,
    pub clauses: core::ops::Range<usize>,
    /// When the clauses lie in one word of clause bits: its index and their bits.
    pub word: Option<(usize, u64)>,
    pub max_stack: u8,
    pub n_locals: u8,
}

/// Every bit must be clear in the gate record's missing mask: no gate slot is optional.
const GATE_REQUIRED: [u64; 1] = [u64::MAX];
const _: () = assert!(GATE_SLOTS <= 64);

/// Decodes and verifies `bytes`.
pub fn verify(bytes: &[u8]) -> Result<Policy, ArtifactError> {
    verify_artifact(Artifact::decode(bytes)?)
}

/// Verifies an in-memory artifact (for instance one the compiler just built), including that the byte
/// layout can represent it.
pub fn verify_artifact(artifact: Artifact) -> Result<Policy, ArtifactError> {
    check_encodable(&artifact)?;
    check_layout(&artifact)?;
    check_clauses(&artifact)?;
    check_constraints(&artifact)?;
    check_rollout(&artifact)?;
    let (code, by_kind, gates) = check_functions(&artifact)?;
    let device_required = required_mask(&artifact.optional);
    let fns = artifact
        .functions
        .iter()
        .zip(code)
        .map(|(f, code)| {
            let insts = crate::interp::fuse(&code, &artifact.consts);
            let word = crate::interp::one_word(&f.clause_range());
            Prepared {
                tests: crate::interp::slot_tests(&insts, word),
                insts,
                code,
                layout: layout_of(f.kind),
                clauses: f.clause_range(),
                word,
                max_stack: f.max_stack,
                n_locals: f.n_locals,
            }
        })
        .collect();
    let mut deny = vec![0u64; artifact.clauses.len().div_ceil(64)];
    for (i, c) in artifact.clauses.iter().enumerate() {
        if let (ClauseKind::Deny, Some(w)) = (c.kind, deny.get_mut(i / 64)) {
            *w |= 1 << (i % 64);
        }
    }
    let rails_word = by_kind
        .get(kind_slot(FunctionKind::Rails).unwrap_or(usize::MAX))
        .copied()
        .flatten()
        .and_then(|f| artifact.functions.get(f.index()))
        .map(|def| def.clause_range())
        .filter(|r| !r.is_empty() && r.start / 64 == (r.end - 1) / 64)
        .map(|r| {
            let word = r.start / 64;
            let mut rw = RailsWord {
                word,
                range: r.clone(),
                all: 0,
                deny: 0,
                defer: 0,
                levels: Vec::new(),
            };
            for c in r {
                let bit = 1u64 << (c % 64);
                rw.all |= bit;
                match artifact.clauses.get(c).map(|x| (x.kind, x.arg)) {
                    Some((ClauseKind::Deny, _)) => rw.deny |= bit,
                    Some((ClauseKind::Defer, secs)) => {
                        rw.defer |= bit;
                        let secs = u32::try_from(secs).unwrap_or(u32::MAX);
                        match rw.levels.iter_mut().find(|(_, s)| *s == secs) {
                            Some((mask, _)) => *mask |= bit,
                            None => rw.levels.push((bit, secs)),
                        }
                    }
                    _ => {}
                }
            }
            rw
        });
    Ok(Policy {
        artifact,
        fns,
        by_kind,
        gates,
        device_required,
        deny,
        rails_word,
    })
}

impl Policy {
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    pub fn into_artifact(self) -> Artifact {
        self.artifact
    }

    /// The function of `kind`, if the package has one.
    pub fn function(&self, kind: FunctionKind) -> Option<FnId> {
        match kind {
            FunctionKind::Gate(g) => self.gate_function(g),
            other => *self.by_kind.get(kind_slot(other)?)?,
        }
    }

    pub fn gate_function(&self, gate: u8) -> Option<FnId> {
        self.gates.get(usize::from(gate)).copied()
    }

    /// The artifact's description of function `f`.
    pub fn function_def(&self, f: FnId) -> Option<&Function> {
        self.artifact.functions.get(f.index())
    }

    /// The decoded code of `f`. Unlike ops decoded from bytes, jump operands here count instructions
    /// forward from the instruction after the jump.
    pub fn code(&self, f: FnId) -> Option<&[Op]> {
        self.fns.get(f.index()).map(|p| p.code.as_slice())
    }

    /// The record layout `f` reads.
    pub fn layout(&self, f: FnId) -> Option<Layout> {
        self.fns.get(f.index()).map(|p| p.layout)
    }

    pub(crate) fn prepared(&self, f: FnId) -> Option<&Prepared> {
        self.fns.get(f.index())
    }

    /// One bit per clause, set for `deny` clauses.
    pub(crate) fn deny_mask(&self) -> &[u64] {
        &self.deny
    }

    pub(crate) fn rails_word(&self) -> Option<&RailsWord> {
        self.rails_word.as_ref()
    }

    /// Slots in a record of `layout`.
    pub fn record_len(&self, layout: Layout) -> usize {
        match layout {
            Layout::Device => self.artifact.slots.len(),
            Layout::Gate => GATE_SLOTS,
        }
    }

    /// Words in the missing mask of a record of `layout`.
    pub fn missing_words(&self, layout: Layout) -> usize {
        self.record_len(layout).div_ceil(64)
    }

    /// Per missing-mask word, the bits that must be clear.
    pub(crate) fn required_mask(&self, layout: Layout) -> &[u64] {
        match layout {
            Layout::Device => &self.device_required,
            Layout::Gate => &GATE_REQUIRED,
        }
    }

    pub fn n_clauses(&self) -> usize {
        self.artifact.clauses.len()
    }

    pub fn clause(&self, c: ClauseId) -> Option<&Clause> {
        self.artifact.clauses.get(c.index())
    }

    pub fn n_planes(&self) -> u8 {
        self.artifact.n_planes
    }

    /// Slots holding the package's own device fields (the first slots of the device record).
    pub fn n_device_fields(&self) -> usize {
        let p = usize::from(self.artifact.n_planes);
        self.artifact.slots.len().saturating_sub(2 * p + NOW_SLOTS)
    }

    /// The device record slot of `device.<plane>`.
    pub fn plane_slot(&self, plane: u8) -> Option<usize> {
        (plane < self.artifact.n_planes).then(|| self.n_device_fields() + usize::from(plane))
    }

    pub fn now_hour_slot(&self) -> usize {
        self.n_device_fields() + usize::from(self.artifact.n_planes)
    }

    pub fn now_weekday_slot(&self) -> usize {
        self.now_hour_slot() + 1
    }

    /// The device record slot of `release.<plane>` (optional).
    pub fn release_slot(&self, plane: u8) -> Option<usize> {
        (plane < self.artifact.n_planes)
            .then(|| self.now_hour_slot() + NOW_SLOTS + usize::from(plane))
    }
}

/// Where a function of a kind that occurs at most once is kept in `Policy::by_kind`.
fn kind_slot(kind: FunctionKind) -> Option<usize> {
    match kind {
        FunctionKind::Rails => Some(0),
        FunctionKind::Health => Some(1),
        FunctionKind::Constraints => Some(2),
        FunctionKind::Rings => Some(3),
        FunctionKind::Gate(_) => None,
    }
}

fn layout_of(kind: FunctionKind) -> Layout {
    match kind {
        FunctionKind::Gate(_) => Layout::Gate,
        _ => Layout::Device,
    }
}

fn required_mask(optional: &[bool]) -> Vec<u64> {
    let mut mask = vec![u64::MAX; optional.len().div_ceil(64)];
    for (i, _) in optional.iter().enumerate().filter(|(_, o)| **o) {
        if let Some(word) = mask.get_mut(i / 64) {
            *word &= !(1u64 << (i % 64));
        }
    }
    mask
}

fn check_encodable(a: &Artifact) -> Result<(), ArtifactError> {
    let too_many = |len: usize, max: usize, what| {
        if len > max {
            Err(ArtifactError::Unencodable { what })
        } else {
            Ok(())
        }
    };
    let u16_max = usize::from(u16::MAX);
    let u8_max = usize::from(u8::MAX);
    if a.optional.len() != a.slots.len() {
        return Err(ArtifactError::Unencodable {
            what: "optional flags for a different number of slots",
        });
    }
    too_many(a.slots.len(), u16_max, "more than 65535 slots")?;
    too_many(a.consts.len(), u16_max, "more than 65535 constants")?;
    // Clause index 65535 would read as *none* in a ring filter.
    too_many(a.clauses.len(), u16_max, "more than 65535 clauses")?;
    too_many(a.constraints.len(), u16_max, "more than 65535 constraints")?;
    too_many(a.rollout.rings.len(), u8_max, "more than 255 rings")?;
    too_many(a.rollout.gates.len(), u8_max, "more than 255 gates")?;
    too_many(a.functions.len(), u8_max, "more than 255 functions")?;
    for f in &a.functions {
        if u32::try_from(f.code.len()).is_err() {
            return Err(ArtifactError::Unencodable {
                what: "code longer than 4 GiB",
            });
        }
    }
    for c in &a.constraints {
        let (x, y) = match c {
            Constraint::Depends { a, b, .. } => (a, b),
            Constraint::Incompatible { set, .. } => (set, set),
        };
        too_many(
            x.0.len().max(y.0.len()),
            u8_max,
            "a version set of more than 255 intervals",
        )?;
    }
    if a.clauses.iter().any(|c| c.reason == Some(NONE_U16)) {
        return Err(ArtifactError::Unencodable {
            what: "reason index 65535 (it means none)",
        });
    }
    Ok(())
}

fn check_layout(a: &Artifact) -> Result<(), ArtifactError> {
    for (slot, t) in a.slots.iter().enumerate() {
        if *t == (SlotType::Enum { variants: 0 }) {
            return Err(ArtifactError::EmptyEnum { slot });
        }
    }
    if usize::from(a.n_planes) > MAX_PLANES {
        return Err(ArtifactError::TooManyPlanes {
            n_planes: a.n_planes,
        });
    }
    let p = usize::from(a.n_planes);
    let needed = 2 * p + NOW_SLOTS;
    let n = a.slots.len();
    if n < needed {
        return Err(ArtifactError::RecordTooShort { n_slots: n, needed });
    }
    let fields = n - needed;
    let expect = |slot: usize, t: SlotType, optional: bool, expected| {
        if a.slots.get(slot) == Some(&t) && a.optional.get(slot) == Some(&optional) {
            Ok(())
        } else {
            Err(ArtifactError::RecordShape { slot, expected })
        }
    };
    for i in 0..p {
        expect(
            fields + i,
            SlotType::Version,
            false,
            "a non-optional `version` (a plane's version)",
        )?;
        expect(
            fields + p + NOW_SLOTS + i,
            SlotType::Version,
            true,
            "an optional `version` (a release target)",
        )?;
    }
    expect(
        fields + p,
        SlotType::Int,
        false,
        "a non-optional `int` (`now.hour`)",
    )?;
    let weekday = SlotType::Enum { variants: WEEKDAYS };
    expect(
        fields + p + 1,
        weekday,
        false,
        "a non-optional enum of 7 variants (`now.weekday`)",
    )?;
    Ok(())
}

fn check_clauses(a: &Artifact) -> Result<(), ArtifactError> {
    let all_planes = PlaneSet::all(a.n_planes);
    let n_fields = a
        .slots
        .len()
        .saturating_sub(2 * usize::from(a.n_planes) + NOW_SLOTS);
    let mut counter_owner: [Option<usize>; 256] = [None; 256];
    for (i, c) in a.clauses.iter().enumerate() {
        let field = |field| Err(ArtifactError::ClauseField { clause: i, field });
        if c.kind == ClauseKind::Defer {
            if c.arg > u64::from(u32::MAX) {
                return Err(ArtifactError::DeferTooLong {
                    clause: i,
                    secs: c.arg,
                });
            }
        } else if c.arg != 0 {
            return field("arg");
        }
        if c.kind == ClauseKind::Rollback {
            if c.planes.is_empty() {
                return Err(ArtifactError::NoRollbackPlanes { clause: i });
            }
            if !c.planes.is_subset(all_planes) {
                return Err(ArtifactError::ClausePlane {
                    clause: i,
                    planes: c.planes.0,
                    n_planes: a.n_planes,
                });
            }
            if c.checks == 0 {
                if c.counter != 0 {
                    return field("counter");
                }
            } else {
                if c.counter >= a.n_counters {
                    return Err(ArtifactError::Counter {
                        clause: i,
                        counter: c.counter,
                        n_counters: a.n_counters,
                    });
                }
                let owner = counter_owner.get_mut(usize::from(c.counter));
                if let Some(owner) = owner {
                    if let Some(first) = *owner {
                        return Err(ArtifactError::SharedCounter {
                            counter: c.counter,
                            first,
                            second: i,
                        });
                    }
                    *owner = Some(i);
                }
            }
        } else {
            if !c.planes.is_empty() {
                return field("planes");
            }
            if c.checks != 0 {
                return field("checks");
            }
            if c.counter != 0 {
                return field("counter");
            }
        }
        if let Some(slot) = c.per_slot {
            if !matches!(c.kind, ClauseKind::Require | ClauseKind::Abort) {
                return field("per_slot");
            }
            let is_enum = matches!(a.slots.get(usize::from(slot)), Some(SlotType::Enum { .. }));
            if usize::from(slot) >= n_fields || !is_enum {
                return Err(ArtifactError::PerSlot { clause: i, slot });
            }
        }
    }
    Ok(())
}

fn check_constraints(a: &Artifact) -> Result<(), ArtifactError> {
    let plane_ok = |constraint: usize, plane: u8| {
        if plane < a.n_planes {
            Ok(())
        } else {
            Err(ArtifactError::ConstraintPlane {
                constraint,
                plane,
                n_planes: a.n_planes,
            })
        }
    };
    // Edges b -> a: `a` depends on `b`; bit `b` of `depends_on[a]`.
    let mut depends_on = [0u16; MAX_PLANES];
    for (i, c) in a.constraints.iter().enumerate() {
        match c {
            Constraint::Depends {
                a_plane,
                a: set_a,
                b_plane,
                b: set_b,
            } => {
                plane_ok(i, *a_plane)?;
                plane_ok(i, *b_plane)?;
                if a_plane == b_plane {
                    return Err(ArtifactError::SamePlane { constraint: i });
                }
                if !set_a.is_canonical() || !set_b.is_canonical() {
                    return Err(ArtifactError::VersionSet { constraint: i });
                }
                if let Some(d) = depends_on.get_mut(usize::from(*a_plane)) {
                    *d |= PlaneSet::single(*b_plane).0;
                }
            }
            Constraint::Incompatible { plane, set, clause } => {
                plane_ok(i, *plane)?;
                if !set.is_canonical() {
                    return Err(ArtifactError::VersionSet { constraint: i });
                }
                let kind = a.clauses.get(usize::from(*clause)).map(|c| c.kind);
                if kind != Some(ClauseKind::Incompatible) {
                    return Err(ArtifactError::ConstraintClause {
                        constraint: i,
                        clause: *clause,
                    });
                }
            }
        }
    }
    if let Some(plane) = find_cycle(&depends_on) {
        return Err(ArtifactError::DependencyCycle { plane });
    }
    Ok(())
}

/// A plane on a cycle of the dependency graph, if there is one (`depends_on[a]` has bit `b` when `a`
/// depends on `b`).
pub(crate) fn find_cycle(depends_on: &[u16; MAX_PLANES]) -> Option<u8> {
    // Peel off planes with no remaining dependency until none is left (Kahn's algorithm).
    let mut remaining: u16 = u16::MAX;
    loop {
        let ready = PlaneSet(remaining).iter().find(|&p| {
            depends_on
                .get(usize::from(p))
                .is_some_and(|d| d & remaining == 0)
        });
        match ready {
            Some(p) => remaining &= !(1 << p),
            None => break,
        }
    }
    // Every plane left depends on another plane left: follow dependencies until one repeats.
    let mut plane = PlaneSet(remaining).iter().next()?;
    for _ in 0..MAX_PLANES {
        let deps = depends_on.get(usize::from(plane)).copied().unwrap_or(0) & remaining;
        plane = PlaneSet(deps).iter().next()?;
    }
    Some(plane)
}

fn check_rollout(a: &Artifact) -> Result<(), ArtifactError> {
    let r = &a.rollout;
    if let Some((count, seconds)) = r.rate
        && (count == 0 || seconds == 0)
    {
        return Err(ArtifactError::Rate { count, seconds });
    }
    if r.in_flight == Some(0) {
        return Err(ArtifactError::ZeroInFlight);
    }
    let mut prev = 0u32;
    for (i, ring) in r.rings.iter().enumerate() {
        if ring.share_ppm <= prev || ring.share_ppm > 1_000_000 {
            return Err(ArtifactError::RingShare {
                ring: i,
                share_ppm: ring.share_ppm,
            });
        }
        prev = ring.share_ppm;
        if let Some(clause) = ring.filter {
            let kind = a.clauses.get(usize::from(clause)).map(|c| c.kind);
            if kind != Some(ClauseKind::RingFilter) {
                return Err(ArtifactError::RingFilter { ring: i, clause });
            }
        }
    }
    if let Some(last) = r.rings.last()
        && (last.share_ppm != 1_000_000 || last.filter.is_some())
    {
        return Err(ArtifactError::LastRing);
    }
    if r.gates.len() != r.rings.len().saturating_sub(1) {
        return Err(ArtifactError::GateCount {
            gates: r.gates.len(),
            rings: r.rings.len(),
        });
    }
    for (i, g) in r.gates.iter().enumerate() {
        if usize::from(g.from) != i || usize::from(g.to) != i + 1 {
            return Err(ArtifactError::GateRings {
                gate: i,
                from: g.from,
                to: g.to,
            });
        }
    }
    Ok(())
}

type Functions = (Vec<Vec<Op>>, [Option<FnId>; 4], Vec<FnId>);

fn check_functions(a: &Artifact) -> Result<Functions, ArtifactError> {
    let n_gates = a.rollout.gates.len();
    let mut by_kind: [Option<FnId>; 4] = [None; 4];
    let mut gates: Vec<Option<FnId>> = vec![None; n_gates];
    let mut owner: Vec<Option<usize>> = vec![None; a.clauses.len()];
    let mut code = Vec::with_capacity(a.functions.len());
    for (i, f) in a.functions.iter().enumerate() {
        let id = FnId(u8::try_from(i).unwrap_or(u8::MAX));
        let seat = match f.kind {
            FunctionKind::Gate(g) => {
                gates
                    .get_mut(usize::from(g))
                    .ok_or(ArtifactError::GateIndex {
                        function: i,
                        gate: g,
                    })?
            }
            kind => match kind_slot(kind).and_then(|k| by_kind.get_mut(k)) {
                Some(seat) => seat,
                None => continue, // unreachable: every other kind has a seat
            },
        };
        if seat.is_some() {
            return Err(ArtifactError::DuplicateFunction {
                function: i,
                kind: f.kind.name(),
            });
        }
        *seat = Some(id);

        let range = f.clause_range();
        let owners = owner
            .get_mut(range.clone())
            .ok_or(ArtifactError::ClauseRange { function: i })?;
        for (clause, o) in range.clone().zip(owners) {
            if o.is_some() {
                return Err(ArtifactError::ClauseOverlap { clause });
            }
            *o = Some(i);
            let kind = a
                .clauses
                .get(clause)
                .map(|c| c.kind)
                .ok_or(ArtifactError::ClauseRange { function: i })?;
            if !f.kind.accepts(kind) {
                return Err(ArtifactError::ClauseKind {
                    function: i,
                    clause,
                    kind: kind.name(),
                });
            }
        }

        if usize::from(f.max_stack) > MAX_STACK {
            return Err(ArtifactError::MaxStack {
                function: i,
                max_stack: f.max_stack,
            });
        }
        if usize::from(f.n_locals) > MAX_LOCALS {
            return Err(ArtifactError::TooManyLocals {
                function: i,
                n_locals: f.n_locals,
            });
        }
        let ops = check_code(a, f).map_err(|error| ArtifactError::Code { function: i, error })?;
        if usize::try_from(f.cost).ok() != Some(ops.len()) {
            return Err(ArtifactError::Cost {
                function: i,
                declared: f.cost,
                actual: ops.len(),
            });
        }
        code.push(ops);
    }
    if let Some(clause) = owner.iter().position(Option::is_none) {
        return Err(ArtifactError::ClauseOrphan { clause });
    }
    let mut gate_fns = Vec::with_capacity(n_gates);
    for (g, (gate, seat)) in a.rollout.gates.iter().zip(&gates).enumerate() {
        match seat {
            Some(id) if id.0 == gate.function => gate_fns.push(*id),
            _ => {
                return Err(ArtifactError::GateFunction {
                    gate: g,
                    function: gate.function,
                });
            }
        }
    }
    Ok((code, by_kind, gate_fns))
}

/// Abstract state before an instruction: stack depth and the locals written on every path so far.
#[derive(Clone, Copy)]
struct State {
    depth: usize,
    written: u64,
}

/// Decodes and checks one function; returns its ops with jumps resolved to instruction counts.
fn check_code(a: &Artifact, f: &Function) -> Result<Vec<Op>, CodeError> {
    let code = f.code.as_slice();
    let layout = layout_of(f.kind);
    let mut ops = Vec::new();
    let mut offsets = Vec::new();
    let mut pc = 0usize;
    while pc < code.len() {
        let (op, len) = Op::decode(code, pc).map_err(CodeError::Decode)?;
        ops.push(op);
        offsets.push(pc);
        pc = pc.saturating_add(len);
    }
    let n = ops.len();
    let end_of = |i: usize| offsets.get(i + 1).copied().unwrap_or(code.len());

    // Operands that index tables, and jumps resolved to instruction indices.
    let mut targets: Vec<Option<usize>> = vec![None; n];
    for (i, (op, t)) in ops.iter_mut().zip(&mut targets).enumerate() {
        let at = offsets.get(i).copied().unwrap_or(0);
        check_operands(a, f, layout, *op, at)?;
        if let Some(rel) = op.branch() {
            let target = end_of(i).saturating_add(usize::from(rel));
            let index = if target == code.len() {
                n
            } else if target > code.len() {
                return Err(CodeError::JumpOutside {
                    at,
                    target,
                    len: code.len(),
                });
            } else {
                offsets
                    .binary_search(&target)
                    .map_err(|_| CodeError::JumpInside { at, target })?
            };
            // Forward by at least one byte, so `index > i`; instructions are at least one byte, so the
            // count fits in the byte offset's type.
            let count = index.saturating_sub(i + 1);
            *op = op.with_branch(Rel::try_from(count).unwrap_or(Rel::MAX));
            *t = Some(index);
        }
    }

    // Forward dataflow: jumps only go forward, so every predecessor of an instruction is visited first.
    let max_stack = usize::from(f.max_stack);
    let mut states: Vec<Option<State>> = vec![None; n + 1];
    if let Some(first) = states.first_mut() {
        *first = Some(State {
            depth: 0,
            written: 0,
        });
    }
    for i in 0..n {
        let (Some(Some(state)), Some(&op), Some(&at)) =
            (states.get(i).copied(), ops.get(i), offsets.get(i))
        else {
            // Every op falls through, so every instruction is reached; nothing to do otherwise.
            continue;
        };
        let effect = op.stack_effect();
        let base =
            state
                .depth
                .checked_sub(usize::from(effect.pops))
                .ok_or(CodeError::Underflow {
                    at,
                    mnemonic: op.mnemonic(),
                    depth: state.depth,
                })?;
        let mut written = state.written;
        match op {
            Op::LocalGet(l) if written & (1u64 << (l % 64)) == 0 => {
                return Err(CodeError::UnsetLocal { at, local: l });
            }
            Op::LocalSet(l) | Op::LocalTee(l) => written |= 1u64 << (l % 64),
            _ => {}
        }
        let fall = base + usize::from(effect.pushes);
        let taken = base + usize::from(effect.branch_pushes);
        let deepest = fall.max(taken);
        if deepest > max_stack {
            return Err(CodeError::Overflow {
                at,
                depth: deepest,
                max_stack: f.max_stack,
            });
        }
        merge(
            &mut states,
            &offsets,
            code.len(),
            i + 1,
            State {
                depth: fall,
                written,
            },
        )?;
        if let Some(Some(t)) = targets.get(i) {
            merge(
                &mut states,
                &offsets,
                code.len(),
                *t,
                State {
                    depth: taken,
                    written,
                },
            )?;
        }
    }
    match states.get(n).copied().flatten() {
        Some(State { depth: 0, .. }) | None => Ok(ops),
        Some(State { depth, .. }) => Err(CodeError::NotEmpty { depth }),
    }
}

/// Joins `incoming` into the state before instruction `index`: depths must agree, and a local counts
/// as written only if it is written on both paths.
fn merge(
    states: &mut [Option<State>],
    offsets: &[usize],
    code_len: usize,
    index: usize,
    incoming: State,
) -> Result<(), CodeError> {
    let Some(slot) = states.get_mut(index) else {
        return Ok(());
    };
    match slot {
        None => *slot = Some(incoming),
        Some(existing) => {
            if existing.depth != incoming.depth {
                let at = offsets.get(index).copied().unwrap_or(code_len);
                return Err(CodeError::DepthMismatch {
                    at,
                    first: existing.depth,
                    second: incoming.depth,
                });
            }
            existing.written &= incoming.written;
        }
    }
    Ok(())
}

fn check_operands(
    a: &Artifact,
    f: &Function,
    layout: Layout,
    op: Op,
    at: usize,
) -> Result<(), CodeError> {
    let n_slots = match layout {
        Layout::Device => a.slots.len(),
        Layout::Gate => GATE_SLOTS,
    };
    let slot = |slot: u16, optional: bool| {
        let s = usize::from(slot);
        if s >= n_slots {
            return Err(CodeError::Slot { at, slot, n_slots });
        }
        let is_optional = match layout {
            Layout::Device => a.optional.get(s).copied().unwrap_or(false),
            Layout::Gate => false,
        };
        match (optional, is_optional) {
            (false, true) => Err(CodeError::OptionalSlot { at, slot }),
            (true, false) => Err(CodeError::RequiredSlot { at, slot }),
            _ => Ok(()),
        }
    };
    let n_consts = a.consts.len();
    let local = |local: u8| {
        if local < f.n_locals {
            Ok(())
        } else {
            Err(CodeError::Local {
                at,
                local,
                n_locals: f.n_locals,
            })
        }
    };
    match op {
        Op::Const(k) if usize::from(k) >= n_consts => Err(CodeError::Const {
            at,
            index: usize::from(k),
            n_consts,
        }),
        Op::InSetI(k, n) | Op::InSetF(k, n) => {
            let end = usize::from(k) + usize::from(n);
            if end > n_consts {
                let index = if n == 0 { usize::from(k) } else { end - 1 };
                Err(CodeError::Const {
                    at,
                    index,
                    n_consts,
                })
            } else {
                Ok(())
            }
        }
        Op::Load(s) => slot(s, false),
        Op::LoadOr(s, _) | Op::Known(s) => slot(s, true),
        Op::LocalSet(l) | Op::LocalGet(l) | Op::LocalTee(l) => local(l),
        Op::Emit(c) if !f.clause_range().contains(&usize::from(c)) => Err(CodeError::Clause {
            at,
            clause: c,
            first: f.first_clause,
            n_clauses: f.n_clauses,
        }),
        _ => Ok(()),
    }
}
