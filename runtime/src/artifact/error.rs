//! Why a byte string is not a valid artifact: in go the facts the decoder and verifier found, out come
//! lowercase messages without a final period (`Display`).

use crate::op::DecodeError;
use core::fmt;

/// The section of the byte layout being read when the bytes ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Header,
    Layout,
    Consts,
    Clauses,
    Deps,
    Rollout,
    Code,
    Signature,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Header => "header",
            Section::Layout => "layout",
            Section::Consts => "consts",
            Section::Clauses => "clauses",
            Section::Deps => "deps",
            Section::Rollout => "rollout",
            Section::Code => "code",
            Section::Signature => "signature",
        })
    }
}

/// A byte string that is not exactly an artifact this runtime may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArtifactError {
    // Layout (decode).
    /// More than `MAX_ARTIFACT_LEN` bytes: refused before reading any of them.
    TooLarge {
        len: usize,
        max: usize,
    },
    Truncated {
        section: Section,
        offset: usize,
    },
    BadMagic {
        found: [u8; 4],
    },
    UnsupportedFormat {
        found: u16,
    },
    LengthMismatch {
        declared: u32,
        actual: usize,
    },
    TrailingBytes {
        offset: usize,
        count: usize,
    },
    UnknownSlotType {
        slot: usize,
        code: u8,
    },
    OptionalPadding,
    UnknownClauseKind {
        clause: usize,
        code: u8,
    },
    UnknownConstraintKind {
        constraint: usize,
        code: u8,
    },
    /// A constraint field that its kind does not use is not zero (or *none*).
    ConstraintField {
        constraint: usize,
        field: &'static str,
    },
    UnknownFunctionKind {
        function: usize,
        code: u8,
    },
    /// A non-gate function with a non-zero gate index.
    FunctionIndex {
        function: usize,
        index: u8,
    },
    SignatureFlag {
        found: u8,
    },

    // An in-memory artifact that the layout cannot represent.
    Unencodable {
        what: &'static str,
    },

    // Device record layout.
    EmptyEnum {
        slot: usize,
    },
    TooManyPlanes {
        n_planes: u8,
    },
    /// Fewer slots than the planes and `now` fields need.
    RecordTooShort {
        n_slots: usize,
        needed: usize,
    },
    /// The device record does not end with plane versions, `now.hour`, `now.weekday`, release targets.
    RecordShape {
        slot: usize,
        expected: &'static str,
    },

    // Clause table.
    ClauseField {
        clause: usize,
        field: &'static str,
    },
    DeferTooLong {
        clause: usize,
        secs: u64,
    },
    NoRollbackPlanes {
        clause: usize,
    },
    ClausePlane {
        clause: usize,
        planes: u16,
        n_planes: u8,
    },
    Counter {
        clause: usize,
        counter: u8,
        n_counters: u8,
    },
    SharedCounter {
        counter: u8,
        first: usize,
        second: usize,
    },
    PerSlot {
        clause: usize,
        slot: u16,
    },

    // Constraints.
    ConstraintPlane {
        constraint: usize,
        plane: u8,
        n_planes: u8,
    },
    SamePlane {
        constraint: usize,
    },
    VersionSet {
        constraint: usize,
    },
    ConstraintClause {
        constraint: usize,
        clause: u16,
    },
    DependencyCycle {
        plane: u8,
    },

    // Rollout.
    Rate {
        count: u32,
        seconds: u32,
    },
    ZeroInFlight,
    RingShare {
        ring: usize,
        share_ppm: u32,
    },
    LastRing,
    RingFilter {
        ring: usize,
        clause: u16,
    },
    GateCount {
        gates: usize,
        rings: usize,
    },
    GateRings {
        gate: usize,
        from: u8,
        to: u8,
    },
    GateFunction {
        gate: usize,
        function: u8,
    },

    // Functions.
    DuplicateFunction {
        function: usize,
        kind: &'static str,
    },
    GateIndex {
        function: usize,
        gate: u8,
    },
    ClauseRange {
        function: usize,
    },
    ClauseOverlap {
        clause: usize,
    },
    ClauseOrphan {
        clause: usize,
    },
    ClauseKind {
        function: usize,
        clause: usize,
        kind: &'static str,
    },
    MaxStack {
        function: usize,
        max_stack: u8,
    },
    TooManyLocals {
        function: usize,
        n_locals: u8,
    },
    Cost {
        function: usize,
        declared: u32,
        actual: usize,
    },
    Code {
        function: usize,
        error: CodeError,
    },
}

/// What is wrong with the code of one function; every variant names the instruction's byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeError {
    Decode(DecodeError),
    JumpOutside {
        at: usize,
        target: usize,
        len: usize,
    },
    JumpInside {
        at: usize,
        target: usize,
    },
    Underflow {
        at: usize,
        mnemonic: &'static str,
        depth: usize,
    },
    Overflow {
        at: usize,
        depth: usize,
        max_stack: u8,
    },
    NotEmpty {
        depth: usize,
    },
    DepthMismatch {
        at: usize,
        first: usize,
        second: usize,
    },
    UnsetLocal {
        at: usize,
        local: u8,
    },
    Slot {
        at: usize,
        slot: u16,
        n_slots: usize,
    },
    /// `Load` of an optional slot: it must go through `LoadOr` or `Known`.
    OptionalSlot {
        at: usize,
        slot: u16,
    },
    /// `LoadOr`/`Known` of a slot that is never missing.
    RequiredSlot {
        at: usize,
        slot: u16,
    },
    Const {
        at: usize,
        index: usize,
        n_consts: usize,
    },
    Local {
        at: usize,
        local: u8,
        n_locals: u8,
    },
    Clause {
        at: usize,
        clause: u16,
        first: u16,
        n_clauses: u16,
    },
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ArtifactError as E;
        match self {
            E::TooLarge { len, max } => write!(
                f,
                "artifact is {len} bytes, more than the {max} bytes a device accepts"
            ),
            E::Truncated { section, offset } => {
                write!(
                    f,
                    "artifact cut short in the {section} section at offset {offset}"
                )
            }
            E::BadMagic { found } => write!(f, "bad magic {found:02x?}, expected `FGPA`"),
            E::UnsupportedFormat { found } => write!(
                f,
                "unsupported format version {found} (this runtime reads version {})",
                super::FORMAT_VERSION
            ),
            E::LengthMismatch { declared, actual } => {
                write!(
                    f,
                    "header declares {declared} bytes but the artifact has {actual}"
                )
            }
            E::TrailingBytes { offset, count } => {
                write!(
                    f,
                    "{count} trailing bytes after the signature section at offset {offset}"
                )
            }
            E::UnknownSlotType { slot, code } => {
                write!(f, "slot {slot} has unknown type code {code}")
            }
            E::OptionalPadding => f.write_str("optional bitmask sets bits past the last slot"),
            E::UnknownClauseKind { clause, code } => {
                write!(f, "clause {clause} has unknown kind code {code}")
            }
            E::UnknownConstraintKind { constraint, code } => {
                write!(f, "constraint {constraint} has unknown kind code {code}")
            }
            E::ConstraintField { constraint, field } => {
                write!(
                    f,
                    "constraint {constraint} sets `{field}`, which its kind does not use"
                )
            }
            E::UnknownFunctionKind { function, code } => {
                write!(f, "function {function} has unknown kind code {code}")
            }
            E::FunctionIndex { function, index } => {
                write!(
                    f,
                    "function {function} is not a gate function but has gate index {index}"
                )
            }
            E::SignatureFlag { found } => {
                write!(
                    f,
                    "signature flag is {found}, expected 0 (absent) or 1 (present)"
                )
            }
            E::Unencodable { what } => write!(f, "the byte layout cannot represent {what}"),
            E::EmptyEnum { slot } => write!(f, "enum slot {slot} has no variants"),
            E::TooManyPlanes { n_planes } => write!(
                f,
                "{n_planes} planes declared, at most {} are supported",
                super::MAX_PLANES
            ),
            E::RecordTooShort { n_slots, needed } => write!(
                f,
                "device record has {n_slots} slots, fewer than the {needed} its planes and `now` fields need"
            ),
            E::RecordShape { slot, expected } => {
                write!(f, "device record slot {slot} must be {expected}")
            }
            E::ClauseField { clause, field } => {
                write!(
                    f,
                    "clause {clause} sets `{field}`, which its kind does not use"
                )
            }
            E::DeferTooLong { clause, secs } => {
                write!(
                    f,
                    "defer clause {clause} defers {secs} s, more than `u32::MAX` seconds"
                )
            }
            E::NoRollbackPlanes { clause } => {
                write!(f, "rollback clause {clause} names no plane")
            }
            E::ClausePlane {
                clause,
                planes,
                n_planes,
            } => write!(
                f,
                "clause {clause} rolls back planes {planes:#06x} but the package has {n_planes} planes"
            ),
            E::Counter {
                clause,
                counter,
                n_counters,
            } => write!(
                f,
                "clause {clause} uses counter {counter} but the artifact declares {n_counters} counters"
            ),
            E::SharedCounter {
                counter,
                first,
                second,
            } => {
                write!(
                    f,
                    "clauses {first} and {second} share health counter {counter}"
                )
            }
            E::PerSlot { clause, slot } => write!(
                f,
                "clause {clause} is evaluated per slot {slot}, which is not an enum slot of the device record"
            ),
            E::ConstraintPlane {
                constraint,
                plane,
                n_planes,
            } => write!(
                f,
                "constraint {constraint} names plane {plane} but the package has {n_planes} planes"
            ),
            E::SamePlane { constraint } => {
                write!(
                    f,
                    "dependency constraint {constraint} makes a plane depend on itself"
                )
            }
            E::VersionSet { constraint } => write!(
                f,
                "a version set of constraint {constraint} is not sorted, disjoint, non-empty intervals"
            ),
            E::ConstraintClause { constraint, clause } => write!(
                f,
                "constraint {constraint} names clause {clause}, which is not an `incompatible` clause"
            ),
            E::DependencyCycle { plane } => {
                write!(
                    f,
                    "the dependency constraints form a cycle through plane {plane}"
                )
            }
            E::Rate { count, seconds } => write!(
                f,
                "rate {count} per {seconds} s: give both a count and a period, or neither"
            ),
            E::ZeroInFlight => {
                f.write_str("in-flight limit of 0 cannot be encoded (0 means unlimited)")
            }
            E::RingShare { ring, share_ppm } => write!(
                f,
                "ring {ring} has share {share_ppm} ppm: shares must increase strictly within 1..=1000000"
            ),
            E::LastRing => f.write_str("the last ring must cover 1000000 ppm and have no filter"),
            E::RingFilter { ring, clause } => {
                write!(
                    f,
                    "ring {ring} is filtered by clause {clause}, which is not a ring filter clause"
                )
            }
            E::GateCount { gates, rings } => write!(
                f,
                "{gates} gates for {rings} rings: every ring but the last needs exactly one gate"
            ),
            E::GateRings { gate, from, to } => {
                write!(
                    f,
                    "gate {gate} goes from ring {from} to ring {to}, expected {gate} -> {}",
                    gate + 1
                )
            }
            E::GateFunction { gate, function } => {
                write!(
                    f,
                    "gate {gate} names function {function}, which is not that gate's function"
                )
            }
            E::DuplicateFunction { function, kind } => {
                write!(f, "function {function} repeats function kind `{kind}`")
            }
            E::GateIndex { function, gate } => {
                write!(
                    f,
                    "function {function} belongs to gate {gate}, which does not exist"
                )
            }
            E::ClauseRange { function } => {
                write!(
                    f,
                    "the clause range of function {function} runs past the clause table"
                )
            }
            E::ClauseOverlap { clause } => write!(f, "clause {clause} belongs to two functions"),
            E::ClauseOrphan { clause } => write!(f, "clause {clause} belongs to no function"),
            E::ClauseKind {
                function,
                clause,
                kind,
            } => write!(
                f,
                "function {function} covers clause {clause}, whose kind `{kind}` it cannot emit"
            ),
            E::MaxStack {
                function,
                max_stack,
            } => write!(
                f,
                "function {function} declares a stack of {max_stack}, more than {}",
                super::MAX_STACK
            ),
            E::TooManyLocals { function, n_locals } => write!(
                f,
                "function {function} declares {n_locals} locals, more than {}",
                super::MAX_LOCALS
            ),
            E::Cost {
                function,
                declared,
                actual,
            } => write!(
                f,
                "function {function} declares cost {declared} but has {actual} instructions"
            ),
            E::Code { function, error } => write!(f, "in function {function}: {error}"),
        }
    }
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CodeError as E;
        match self {
            E::Decode(e) => write!(f, "{e}"),
            E::JumpOutside { at, target, len } => {
                write!(
                    f,
                    "jump at offset {at} to offset {target} leaves the function ({len} bytes)"
                )
            }
            E::JumpInside { at, target } => {
                write!(
                    f,
                    "jump at offset {at} lands inside an instruction (offset {target})"
                )
            }
            E::Underflow {
                at,
                mnemonic,
                depth,
            } => {
                write!(
                    f,
                    "`{mnemonic}` at offset {at} underflows a stack of depth {depth}"
                )
            }
            E::Overflow {
                at,
                depth,
                max_stack,
            } => write!(
                f,
                "stack reaches depth {depth} at offset {at}, more than the declared {max_stack}"
            ),
            E::NotEmpty { depth } => write!(f, "stack holds {depth} entries at the end"),
            E::DepthMismatch { at, first, second } => {
                write!(
                    f,
                    "paths reach offset {at} with stack depths {first} and {second}"
                )
            }
            E::UnsetLocal { at, local } => {
                write!(
                    f,
                    "local {local} is read at offset {at} before it is written on some path"
                )
            }
            E::Slot { at, slot, n_slots } => {
                write!(
                    f,
                    "slot {slot} at offset {at} is out of range ({n_slots} slots)"
                )
            }
            E::OptionalSlot { at, slot } => write!(
                f,
                "`Load` at offset {at} reads optional slot {slot}, which needs `LoadOr` or `Known`"
            ),
            E::RequiredSlot { at, slot } => {
                write!(
                    f,
                    "offset {at} tests slot {slot} for presence, but it is never missing"
                )
            }
            E::Const {
                at,
                index,
                n_consts,
            } => {
                write!(
                    f,
                    "constant {index} at offset {at} is out of range ({n_consts} constants)"
                )
            }
            E::Local {
                at,
                local,
                n_locals,
            } => {
                write!(
                    f,
                    "local {local} at offset {at} is out of range ({n_locals} locals)"
                )
            }
            E::Clause {
                at,
                clause,
                first,
                n_clauses,
            } => write!(
                f,
                "`Emit` at offset {at} names clause {clause}, outside the function's clauses {first}..{}",
                u32::from(*first) + u32::from(*n_clauses)
            ),
        }
    }
}

// The inner `CodeError` is part of the message, so it is not also reported as a `source`.
#[cfg(feature = "std")]
impl std::error::Error for ArtifactError {}

#[cfg(feature = "std")]
impl std::error::Error for CodeError {}
