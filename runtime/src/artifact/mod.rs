//! The owned policy artifact and its byte layout (format version 1, `docs/bytecode.md`): in go bytes,
//! out comes an [`Artifact`] (structurally decoded, not yet verified), and back.
//!
//! Decoding checks only what the layout itself fixes (magic, version, lengths, kind codes, bytes that a
//! field's kind leaves unused); every cross-reference is checked by `verify`. Decoding is lossless:
//! `decode(b)` succeeding implies `encode(decode(b)) == b`.

use crate::value::PlaneSet;
use alloc::vec::Vec;

mod error;
#[cfg(test)]
mod tests;

pub use error::{ArtifactError, CodeError, Section};

/// The four bytes every artifact starts with.
pub const MAGIC: [u8; 4] = *b"FGPA";
/// The layout version this runtime reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// The deepest operand stack a function may declare.
pub const MAX_STACK: usize = 64;
/// The most locals a function may declare.
pub const MAX_LOCALS: usize = 64;
/// The most version planes a package may declare.
pub const MAX_PLANES: usize = crate::value::MAX_PLANES;
/// `reason`, `filter_clause` and `per_slot` hold this for *none*.
pub const NONE_U16: u16 = u16::MAX;
/// Bytes of the fixed header: magic, format, flags, total length, schema hash, serial.
pub const HEADER_LEN: usize = 4 + 2 + 2 + 4 + 8 + 8;
/// Bytes of the signature section when a signature is present (flag, key id, signature).
pub const SIGNATURE_LEN: usize = 1 + 8 + 64;
/// The largest artifact the decoder reads (1 MiB): far above any real package (the example packages
/// take 2 KiB), and what a device can hold in RAM next to its firmware. Checked before anything else,
/// so hostile input costs at most this much work (`docs/security.md`).
pub const MAX_ARTIFACT_LEN: usize = 1024 * 1024;

// The interpreter keeps the error flags of the stack and locals in one `u64` each.
const _: () = assert!(MAX_STACK <= 64 && MAX_LOCALS <= 64);

/// A compiled policy package, as laid out in the artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub flags: u16,
    pub schema_hash: u64,
    pub serial: u64,
    /// Slot types of the device record.
    pub slots: Vec<SlotType>,
    /// Per device slot: may it be missing? Same length as `slots`.
    pub optional: Vec<bool>,
    pub n_planes: u8,
    /// Health counters the caller keeps per device (one per `for N checks` clause).
    pub n_counters: u8,
    pub consts: Vec<u64>,
    pub clauses: Vec<Clause>,
    pub constraints: Vec<Constraint>,
    pub rollout: Rollout,
    pub functions: Vec<Function>,
    pub signature: Option<Signature>,
}

/// The type of one record slot (see "Values and records" in `docs/bytecode.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotType {
    Bool,
    Int,
    Float,
    Duration,
    Version,
    Enum { variants: u16 },
}

impl SlotType {
    /// The type's code in the layout section.
    pub const fn code(self) -> u8 {
        match self {
            SlotType::Bool => 0,
            SlotType::Int => 1,
            SlotType::Float => 2,
            SlotType::Duration => 3,
            SlotType::Version => 4,
            SlotType::Enum { .. } => 5,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            SlotType::Bool => "bool",
            SlotType::Int => "int",
            SlotType::Float => "float",
            SlotType::Duration => "duration",
            SlotType::Version => "version",
            SlotType::Enum { .. } => "enum",
        }
    }
}

/// One row of the clause table: a condition that some function emits, and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Clause {
    pub kind: ClauseKind,
    /// The rule (rail, health rule, gate, …) the clause belongs to; the sidecar names it.
    pub rule: u16,
    /// Index of the reason text in the sidecar.
    pub reason: Option<u16>,
    /// `Defer`: the defer duration in seconds (at most `u32::MAX`); zero for every other kind.
    pub arg: u64,
    /// `Rollback`: the planes rolled back (non-empty); empty for every other kind.
    pub planes: PlaneSet,
    /// `Rollback`: N of `for N checks`, 0 when the clause has no `for`; zero for every other kind.
    pub checks: u8,
    /// The health counter of a clause with `checks > 0`; zero otherwise.
    pub counter: u8,
    /// `Require`/`Abort` with `per device.F`: the device slot of `F` (an enum slot).
    pub per_slot: Option<u16>,
}

impl Clause {
    /// A clause of `kind` with every other field empty.
    pub const fn new(kind: ClauseKind, rule: u16) -> Clause {
        Clause {
            kind,
            rule,
            reason: None,
            arg: 0,
            planes: PlaneSet::EMPTY,
            checks: 0,
            counter: 0,
            per_slot: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClauseKind {
    Deny,
    Defer,
    Rollback,
    Require,
    Abort,
    Incompatible,
    RingFilter,
}

impl ClauseKind {
    pub const fn code(self) -> u8 {
        match self {
            ClauseKind::Deny => 0,
            ClauseKind::Defer => 1,
            ClauseKind::Rollback => 2,
            ClauseKind::Require => 3,
            ClauseKind::Abort => 4,
            ClauseKind::Incompatible => 5,
            ClauseKind::RingFilter => 6,
        }
    }

    pub const fn from_code(code: u8) -> Option<ClauseKind> {
        Some(match code {
            0 => ClauseKind::Deny,
            1 => ClauseKind::Defer,
            2 => ClauseKind::Rollback,
            3 => ClauseKind::Require,
            4 => ClauseKind::Abort,
            5 => ClauseKind::Incompatible,
            6 => ClauseKind::RingFilter,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            ClauseKind::Deny => "deny",
            ClauseKind::Defer => "defer",
            ClauseKind::Rollback => "rollback",
            ClauseKind::Require => "require",
            ClauseKind::Abort => "abort",
            ClauseKind::Incompatible => "incompatible",
            ClauseKind::RingFilter => "ring filter",
        }
    }
}

/// A dependency constraint between version planes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Constraint {
    /// Wherever plane `a_plane`'s version is in `a`, plane `b_plane`'s must be in `b`.
    Depends {
        a_plane: u8,
        a: VersionSet,
        b_plane: u8,
        b: VersionSet,
    },
    /// A device whose `Incompatible` clause `clause` holds may not have `plane` at a version in `set`.
    Incompatible {
        plane: u8,
        set: VersionSet,
        clause: u16,
    },
}

impl Constraint {
    pub const fn code(&self) -> u8 {
        match self {
            Constraint::Depends { .. } => 0,
            Constraint::Incompatible { .. } => 1,
        }
    }
}

/// A set of packed versions as sorted, disjoint, inclusive intervals `(lo, hi)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct VersionSet(pub Vec<(u64, u64)>);

impl VersionSet {
    /// Whether `v` lies in one of the intervals (any order of intervals is searched correctly).
    pub fn contains(&self, v: u64) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= v && v <= hi)
    }

    /// Sorted, disjoint, and every interval non-empty: what the verifier demands.
    pub fn is_canonical(&self) -> bool {
        let mut prev_hi: Option<u64> = None;
        for &(lo, hi) in &self.0 {
            if lo > hi || prev_hi.is_some_and(|p| lo <= p) {
                return false;
            }
            prev_hi = Some(hi);
        }
        true
    }
}

/// The rollout block: pacing, rings and the gates between them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rollout {
    pub check_every: u32,
    pub verify_for: u32,
    /// At most `count` new offers per `seconds`; `None` is unlimited.
    pub rate: Option<(u32, u32)>,
    pub in_flight: Option<u32>,
    pub retries: u16,
    pub rings: Vec<Ring>,
    pub gates: Vec<Gate>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ring {
    /// Cumulative share of the fleet in parts per million.
    pub share_ppm: u32,
    /// The `RingFilter` clause a device must pass to belong to the ring.
    pub filter: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Gate {
    pub from: u8,
    pub to: u8,
    /// Soak time in seconds.
    pub soak: u32,
    /// Index of the gate's function in `Artifact::functions`.
    pub function: u8,
}

/// One compiled function: code that reads one record layout and emits a contiguous clause range.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Function {
    pub kind: FunctionKind,
    pub first_clause: u16,
    pub n_clauses: u16,
    pub max_stack: u8,
    pub n_locals: u8,
    /// Instruction count, which bounds the instructions run (jumps only go forward).
    pub cost: u32,
    pub code: Vec<u8>,
}

impl Function {
    /// The clause indices the function emits.
    pub fn clause_range(&self) -> core::ops::Range<usize> {
        let first = usize::from(self.first_clause);
        first..first.saturating_add(usize::from(self.n_clauses))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    Rails,
    Health,
    Constraints,
    Rings,
    /// The function of gate `g`.
    Gate(u8),
}

impl FunctionKind {
    /// `(kind code, index)` as laid out in the code section.
    pub const fn code(self) -> (u8, u8) {
        match self {
            FunctionKind::Rails => (0, 0),
            FunctionKind::Health => (1, 0),
            FunctionKind::Constraints => (2, 0),
            FunctionKind::Rings => (3, 0),
            FunctionKind::Gate(g) => (4, g),
        }
    }

    /// The clause kinds a function of this kind may emit.
    pub const fn accepts(self, clause: ClauseKind) -> bool {
        matches!(
            (self, clause),
            (FunctionKind::Rails, ClauseKind::Deny | ClauseKind::Defer)
                | (FunctionKind::Health, ClauseKind::Rollback)
                | (FunctionKind::Constraints, ClauseKind::Incompatible)
                | (FunctionKind::Rings, ClauseKind::RingFilter)
                | (
                    FunctionKind::Gate(_),
                    ClauseKind::Require | ClauseKind::Abort
                )
        )
    }

    pub const fn name(self) -> &'static str {
        match self {
            FunctionKind::Rails => "rails",
            FunctionKind::Health => "health",
            FunctionKind::Constraints => "constraints",
            FunctionKind::Rings => "rings",
            FunctionKind::Gate(_) => "gate",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signature {
    pub key_id: u64,
    /// Ed25519 signature over the bytes before the signature section.
    pub bytes: [u8; 64],
}

/// Writes little-endian integers, saturating counts that do not fit their field (such an artifact
/// fails verification anyway).
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn count8(&mut self, n: usize) {
        self.u8(u8::try_from(n).unwrap_or(u8::MAX));
    }
    fn count16(&mut self, n: usize) {
        self.u16(u16::try_from(n).unwrap_or(u16::MAX));
    }
    fn opt16(&mut self, v: Option<u16>) {
        self.u16(v.unwrap_or(NONE_U16));
    }
    fn set(&mut self, set: &VersionSet) {
        self.count8(set.0.len());
        for &(lo, hi) in &set.0 {
            self.u64(lo);
            self.u64(hi);
        }
    }
}

impl Artifact {
    /// The bytes of the artifact. For an artifact that verification would reject because a count does
    /// not fit its field, counts are saturated and the bytes will not decode back to `self`.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(self.encoded_len_estimate()));
        w.0.extend_from_slice(&MAGIC);
        w.u16(FORMAT_VERSION);
        w.u16(self.flags);
        w.u32(0); // total length, patched below
        w.u64(self.schema_hash);
        w.u64(self.serial);

        w.count16(self.slots.len());
        for slot in &self.slots {
            w.u8(slot.code());
        }
        for slot in &self.slots {
            if let SlotType::Enum { variants } = *slot {
                w.u16(variants);
            }
        }
        let mut mask = alloc::vec![0u8; self.slots.len().div_ceil(8)];
        for (i, _) in self.optional.iter().enumerate().filter(|(_, o)| **o) {
            if let Some(byte) = mask.get_mut(i / 8) {
                *byte |= 1 << (i % 8);
            }
        }
        w.0.extend_from_slice(&mask);
        w.u8(self.n_planes);
        w.u8(self.n_counters);

        w.count16(self.consts.len());
        for &k in &self.consts {
            w.u64(k);
        }

        w.count16(self.clauses.len());
        for c in &self.clauses {
            w.u8(c.kind.code());
            w.u16(c.rule);
            w.opt16(c.reason);
            w.u64(c.arg);
            w.u16(c.planes.0);
            w.u8(c.checks);
            w.u8(c.counter);
            w.opt16(c.per_slot);
        }

        w.count16(self.constraints.len());
        let empty = VersionSet::default();
        for c in &self.constraints {
            w.u8(c.code());
            match c {
                Constraint::Depends {
                    a_plane,
                    a,
                    b_plane,
                    b,
                } => {
                    w.u8(*a_plane);
                    w.set(a);
                    w.u8(*b_plane);
                    w.set(b);
                    w.u16(NONE_U16);
                }
                Constraint::Incompatible { plane, set, clause } => {
                    w.u8(*plane);
                    w.set(set);
                    w.u8(0);
                    w.set(&empty);
                    w.u16(*clause);
                }
            }
        }

        let r = &self.rollout;
        w.u32(r.check_every);
        w.u32(r.verify_for);
        let (rate_count, rate_per) = r.rate.unwrap_or((0, 0));
        w.u32(rate_count);
        w.u32(rate_per);
        w.u32(r.in_flight.unwrap_or(0));
        w.u16(r.retries);
        w.count8(r.rings.len());
        for ring in &r.rings {
            w.u32(ring.share_ppm);
            w.opt16(ring.filter);
        }
        w.count8(r.gates.len());
        for g in &r.gates {
            w.u8(g.from);
            w.u8(g.to);
            w.u32(g.soak);
            w.u8(g.function);
        }

        w.count8(self.functions.len());
        for f in &self.functions {
            let (kind, index) = f.kind.code();
            w.u8(kind);
            w.u8(index);
            w.u16(f.first_clause);
            w.u16(f.n_clauses);
            w.u8(f.max_stack);
            w.u8(f.n_locals);
            w.u32(f.cost);
            w.u32(u32::try_from(f.code.len()).unwrap_or(u32::MAX));
            w.0.extend_from_slice(&f.code);
        }

        match &self.signature {
            None => w.u8(0),
            Some(sig) => {
                w.u8(1);
                w.u64(sig.key_id);
                w.0.extend_from_slice(&sig.bytes);
            }
        }

        let total = u32::try_from(w.0.len()).unwrap_or(u32::MAX).to_le_bytes();
        if let Some(field) = w.0.get_mut(8..12) {
            field.copy_from_slice(&total);
        }
        w.0
    }

    /// How many leading bytes of the encoding a signature covers: everything before the signature
    /// section. The header's total length counts the signature section, so sign an encoding made with
    /// the signature present (any key id and bytes: they lie outside the signed region).
    pub fn signed_bytes_len(&self) -> usize {
        let sig_len = if self.signature.is_some() {
            SIGNATURE_LEN
        } else {
            1
        };
        self.encode().len().saturating_sub(sig_len)
    }

    /// The bytes a signer signs: the encoding with a signature present, cut before the signature
    /// section. A verifier checks the signature against `&bytes[..artifact.signed_bytes_len()]`.
    pub fn signed_payload(&self) -> Vec<u8> {
        let mut with_sig = self.clone();
        if with_sig.signature.is_none() {
            with_sig.signature = Some(Signature {
                key_id: 0,
                bytes: [0; 64],
            });
        }
        let mut bytes = with_sig.encode();
        bytes.truncate(bytes.len().saturating_sub(SIGNATURE_LEN));
        bytes
    }

    fn encoded_len_estimate(&self) -> usize {
        let code: usize = self.functions.iter().map(|f| f.code.len() + 20).sum();
        HEADER_LEN
            + 64
            + self.slots.len() * 3
            + self.consts.len() * 8
            + self.clauses.len() * 19
            + code
    }

    /// Decodes the layout of `bytes`; every cross-reference is left to `verify`.
    pub fn decode(bytes: &[u8]) -> Result<Artifact, ArtifactError> {
        if bytes.len() > MAX_ARTIFACT_LEN {
            return Err(ArtifactError::TooLarge {
                len: bytes.len(),
                max: MAX_ARTIFACT_LEN,
            });
        }
        let mut r = Reader {
            bytes,
            pos: 0,
            section: Section::Header,
        };
        let magic: [u8; 4] = r.array()?;
        if magic != MAGIC {
            return Err(ArtifactError::BadMagic { found: magic });
        }
        let format = r.u16()?;
        if format != FORMAT_VERSION {
            return Err(ArtifactError::UnsupportedFormat { found: format });
        }
        let flags = r.u16()?;
        let total = r.u32()?;
        if usize::try_from(total).ok() != Some(bytes.len()) {
            return Err(ArtifactError::LengthMismatch {
                declared: total,
                actual: bytes.len(),
            });
        }
        let schema_hash = r.u64()?;
        let serial = r.u64()?;

        r.section = Section::Layout;
        let n_slots = usize::from(r.u16()?);
        let codes = r.take(n_slots)?;
        let mut slots = Vec::with_capacity(n_slots);
        for (i, &code) in codes.iter().enumerate() {
            slots.push(match code {
                0 => SlotType::Bool,
                1 => SlotType::Int,
                2 => SlotType::Float,
                3 => SlotType::Duration,
                4 => SlotType::Version,
                5 => SlotType::Enum { variants: 0 },
                code => return Err(ArtifactError::UnknownSlotType { slot: i, code }),
            });
        }
        for slot in &mut slots {
            if let SlotType::Enum { variants } = slot {
                *variants = r.u16()?;
            }
        }
        let mask = r.take(n_slots.div_ceil(8))?;
        let optional: Vec<bool> = (0..n_slots)
            .map(|i| mask.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 != 0))
            .collect();
        // Bits past the last slot must be clear, or two byte strings would decode alike.
        if let Some(&last) = mask.last() {
            let used = n_slots % 8;
            if used != 0 && last >> used != 0 {
                return Err(ArtifactError::OptionalPadding);
            }
        }
        let n_planes = r.u8()?;
        let n_counters = r.u8()?;

        r.section = Section::Consts;
        let n = usize::from(r.u16()?);
        r.need(n, 8)?;
        let mut consts = Vec::with_capacity(n);
        for _ in 0..n {
            consts.push(r.u64()?);
        }

        r.section = Section::Clauses;
        let n = usize::from(r.u16()?);
        r.need(n, CLAUSE_LEN)?;
        let mut clauses = Vec::with_capacity(n);
        for index in 0..n {
            let code = r.u8()?;
            let kind = ClauseKind::from_code(code).ok_or(ArtifactError::UnknownClauseKind {
                clause: index,
                code,
            })?;
            clauses.push(Clause {
                kind,
                rule: r.u16()?,
                reason: r.opt16()?,
                arg: r.u64()?,
                planes: PlaneSet(r.u16()?),
                checks: r.u8()?,
                counter: r.u8()?,
                per_slot: r.opt16()?,
            });
        }

        r.section = Section::Deps;
        let n = usize::from(r.u16()?);
        // The smallest constraint: kind, two planes, two empty sets, clause.
        r.need(n, 7)?;
        let mut constraints = Vec::with_capacity(n);
        for index in 0..n {
            let code = r.u8()?;
            let a_plane = r.u8()?;
            let a = r.set()?;
            let b_plane = r.u8()?;
            let b = r.set()?;
            let clause = r.u16()?;
            constraints.push(match code {
                0 => {
                    if clause != NONE_U16 {
                        return Err(ArtifactError::ConstraintField {
                            constraint: index,
                            field: "clause",
                        });
                    }
                    Constraint::Depends {
                        a_plane,
                        a,
                        b_plane,
                        b,
                    }
                }
                1 => {
                    if b_plane != 0 {
                        return Err(ArtifactError::ConstraintField {
                            constraint: index,
                            field: "plane_b",
                        });
                    }
                    if !b.0.is_empty() {
                        return Err(ArtifactError::ConstraintField {
                            constraint: index,
                            field: "set_b",
                        });
                    }
                    Constraint::Incompatible {
                        plane: a_plane,
                        set: a,
                        clause,
                    }
                }
                code => {
                    return Err(ArtifactError::UnknownConstraintKind {
                        constraint: index,
                        code,
                    });
                }
            });
        }

        r.section = Section::Rollout;
        let check_every = r.u32()?;
        let verify_for = r.u32()?;
        let rate = match (r.u32()?, r.u32()?) {
            (0, 0) => None,
            pair => Some(pair),
        };
        let in_flight = match r.u32()? {
            0 => None,
            n => Some(n),
        };
        let retries = r.u16()?;
        let n = usize::from(r.u8()?);
        r.need(n, 6)?;
        let mut rings = Vec::with_capacity(n);
        for _ in 0..n {
            rings.push(Ring {
                share_ppm: r.u32()?,
                filter: r.opt16()?,
            });
        }
        let n = usize::from(r.u8()?);
        r.need(n, 7)?;
        let mut gates = Vec::with_capacity(n);
        for _ in 0..n {
            gates.push(Gate {
                from: r.u8()?,
                to: r.u8()?,
                soak: r.u32()?,
                function: r.u8()?,
            });
        }
        let rollout = Rollout {
            check_every,
            verify_for,
            rate,
            in_flight,
            retries,
            rings,
            gates,
        };

        r.section = Section::Code;
        let n = usize::from(r.u8()?);
        r.need(n, FUNCTION_HEADER_LEN)?;
        let mut functions = Vec::with_capacity(n);
        for index in 0..n {
            let code = r.u8()?;
            let gate = r.u8()?;
            let kind = match code {
                0 => FunctionKind::Rails,
                1 => FunctionKind::Health,
                2 => FunctionKind::Constraints,
                3 => FunctionKind::Rings,
                4 => FunctionKind::Gate(gate),
                code => {
                    return Err(ArtifactError::UnknownFunctionKind {
                        function: index,
                        code,
                    });
                }
            };
            if code != 4 && gate != 0 {
                return Err(ArtifactError::FunctionIndex {
                    function: index,
                    index: gate,
                });
            }
            let first_clause = r.u16()?;
            let n_clauses = r.u16()?;
            let max_stack = r.u8()?;
            let n_locals = r.u8()?;
            let cost = r.u32()?;
            let len = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
            let code = r.take(len)?.to_vec();
            functions.push(Function {
                kind,
                first_clause,
                n_clauses,
                max_stack,
                n_locals,
                cost,
                code,
            });
        }

        r.section = Section::Signature;
        let signature = match r.u8()? {
            0 => None,
            1 => Some(Signature {
                key_id: r.u64()?,
                bytes: r.array()?,
            }),
            found => return Err(ArtifactError::SignatureFlag { found }),
        };

        if r.pos != bytes.len() {
            return Err(ArtifactError::TrailingBytes {
                offset: r.pos,
                count: bytes.len().saturating_sub(r.pos),
            });
        }
        Ok(Artifact {
            flags,
            schema_hash,
            serial,
            slots,
            optional,
            n_planes,
            n_counters,
            consts,
            clauses,
            constraints,
            rollout,
            functions,
            signature,
        })
    }
}

/// Bytes of one clause-table entry.
pub const CLAUSE_LEN: usize = 1 + 2 + 2 + 8 + 2 + 1 + 1 + 2;
/// Bytes of a function entry before its code.
pub const FUNCTION_HEADER_LEN: usize = 1 + 1 + 2 + 2 + 1 + 1 + 4 + 4;

/// Reads little-endian fields, checking each length against what remains.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    section: Section,
}

impl<'a> Reader<'a> {
    fn cut(&self) -> ArtifactError {
        ArtifactError::Truncated {
            section: self.section,
            offset: self.pos,
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// Fails unless `n` items of at least `size` bytes fit in what remains (checked before
    /// allocating for them).
    fn need(&self, n: usize, size: usize) -> Result<(), ArtifactError> {
        match n.checked_mul(size) {
            Some(total) if total <= self.remaining() => Ok(()),
            _ => Err(self.cut()),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ArtifactError> {
        if n > self.remaining() {
            return Err(self.cut());
        }
        let end = self.pos.checked_add(n).ok_or_else(|| self.cut())?;
        let slice = self.bytes.get(self.pos..end).ok_or_else(|| self.cut())?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ArtifactError> {
        let slice = self.take(N)?;
        slice.try_into().map_err(|_| self.cut())
    }

    fn u8(&mut self) -> Result<u8, ArtifactError> {
        Ok(u8::from_le_bytes(self.array()?))
    }
    fn u16(&mut self) -> Result<u16, ArtifactError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, ArtifactError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, ArtifactError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn opt16(&mut self) -> Result<Option<u16>, ArtifactError> {
        Ok(Some(self.u16()?).filter(|&v| v != NONE_U16))
    }
    fn set(&mut self) -> Result<VersionSet, ArtifactError> {
        let n = usize::from(self.u8()?);
        self.need(n, 16)?;
        let mut set = Vec::with_capacity(n);
        for _ in 0..n {
            set.push((self.u64()?, self.u64()?));
        }
        Ok(VersionSet(set))
    }
}
