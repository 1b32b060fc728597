//! The golden-vector file (`.fgv`): its byte layout, a parser that borrows from the bytes and never
//! allocates, a writer, and the one decision procedure both sides use.
//!
//! In: the bytes of a golden file. Out: the package name, the artifact bytes (for `verify`) and an
//! iterator over vectors, each a record, the function it is for, the expected condition of each of the
//! function's clauses and the expected decision.
//!
//! ## Format, version 1
//! All integers little-endian, no padding, no alignment (every value is read with `from_le_bytes`, so
//! the bytes may sit anywhere, `include_bytes!` included). Every count is checked against the bytes
//! left before anything is read; the file must end exactly after the last vector.
//!
//! ```text
//! file      magic "FGGV" · format u16 (= 1) · flags u16 (= 0) · total length u32 (the whole file)
//!           · name_len u8 · package name (UTF-8, name_len bytes)
//!           · artifact_len u32 · artifact bytes (docs/bytecode.md)
//!           · n_vectors u32 · vector × n_vectors
//! vector    function u8 (0 Rails, 1 Health, 2 Constraints, 3 Rings, 4 Gate) · gate u8 (the gate's
//!           index for Gate, else 0) · origin u8 (0 sampled, 1 from a package test)
//!           · n_slots u16 · n_missing u8 · slot u64 × n_slots · missing-mask word u64 × n_missing
//!           · first_clause u16 · n_clauses u16 · condition u8 × n_clauses (0 false, 1 true, 2 error)
//!           · decision (by function, below)
//! decision  Rails        verdict u8 (0 allow, 1 defer, 2 deny) · defer seconds u32 (0 unless defer)
//!           Health       verdict u8 (0 healthy, 1 inconclusive, 2 rollback)
//!                        · planes u16 (bit p = plane p, closed under depends; 0 unless rollback)
//!           Constraints  first violated constraint u16 at the record's plane versions
//!                        (`decision::consistent`; 0xffff when consistent)
//!           Rings        point_ppm u32 (an input: the device's ring point) · ring u8 (what
//!                        `ring::assign_ring` gives at that point; 0xff for none)
//!           Gate         verdict u8 (0 promote, 1 hold, 2 abort) · soak_met u8 (hold: whether
//!                        `ring.soak` reached the gate's soak; promote: 1; abort: 0)
//!                        · n u8 · clause u16 × n (hold: unmet requires; abort: the aborting
//!                        clauses; promote: none)
//! ```
//!
//! What each decision means (see [`decide`]): rails and constraints as the runtime decides them on
//! one record; health after one check starting from all-zero `for N checks` counters; a gate judged on
//! one evaluation of the whole ring, that evaluation also standing for the only value of every `per`
//! field (the ring is not split), with `ring.soak` of the record as the ring's soak time.
//!
//! This file is also compiled into `compiler/tests/golden.rs` (by `#[path]`), which writes the files:
//! encoder, decoder and decision procedure are defined once. So it names nothing of its own crate
//! (`crate::…`) and uses only `core`, `alloc` and `fleetgate_runtime`.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::decision::{self, GateAcc, GateDecision, HealthVerdict, RailVerdict};
use fleetgate_runtime::interp::Cond;
use fleetgate_runtime::ring::{self, GateSlot};
use fleetgate_runtime::value::PlaneSet;
use fleetgate_runtime::{ClauseBits, ClauseId, Policy};

pub const MAGIC: [u8; 4] = *b"FGGV";
pub const FORMAT_VERSION: u16 = 1;
/// magic, format, flags, total length.
const HEADER_LEN: usize = 4 + 2 + 2 + 4;
const NONE_U16: u16 = u16::MAX;
const NONE_U8: u8 = u8::MAX;

/// Where a vector's record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// `fleetgate_compiler::sample` with a fixed seed.
    Sampled,
    /// A device or ring that one of the package's own tests describes.
    PackageTest,
}

impl Origin {
    const fn code(self) -> u8 {
        match self {
            Origin::Sampled => 0,
            Origin::PackageTest => 1,
        }
    }
}

/// A decision as a golden vector records it: what the runtime's decision code gives for one function
/// evaluation (see the module header for the exact procedure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Rails(RailVerdict),
    Health(HealthVerdict),
    /// The first violated constraint, `None` when the plane versions are consistent.
    Constraints(Option<usize>),
    Rings {
        point_ppm: u32,
        ring: Option<u8>,
    },
    Gate(GateDecision),
}

/// What a decision reads besides the clause conditions.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The record the function read (a gate reads `ring.soak` from it).
    pub record: &'a [u64],
    /// The device's plane versions (health, constraints).
    pub versions: &'a [u64],
    /// The health counters, zeroed by the caller before the check.
    pub counters: &'a mut [u8],
    /// The device's ring point (rings).
    pub point_ppm: u32,
    /// The gate's `per` slots, from [`per_slots`] (gates).
    pub per_slots: &'a [u16],
}

/// Turns the conditions of one function's clauses into its decision, with the runtime's decision code
/// and nothing else (anything that can be prepared is in [`Inputs`]). Allocates only where the
/// runtime's gate decision code does.
pub fn decide(
    policy: &Policy,
    kind: FunctionKind,
    bits: &ClauseBits,
    inputs: &mut Inputs<'_>,
) -> Decision {
    match kind {
        FunctionKind::Rails => Decision::Rails(decision::rails(policy, bits).verdict),
        FunctionKind::Health => Decision::Health(
            decision::health(policy, bits, inputs.counters, inputs.versions).verdict,
        ),
        FunctionKind::Constraints => {
            Decision::Constraints(decision::consistent(policy, inputs.versions, bits).err())
        }
        FunctionKind::Rings => Decision::Rings {
            point_ppm: inputs.point_ppm,
            ring: ring::assign_ring(policy, inputs.point_ppm, bits),
        },
        FunctionKind::Gate(g) => {
            let Some(mut acc) = GateAcc::new(policy, g) else {
                // No such gate: what the runtime does with an unknown gate is to never promote.
                return Decision::Gate(GateDecision::Hold {
                    unmet: Vec::new(),
                    soak_met: false,
                });
            };
            acc.add_whole(bits);
            // The whole ring is the one value of every `per` field.
            for &slot in inputs.per_slots {
                acc.add_value(slot, bits);
            }
            let soak = inputs
                .record
                .get(GateSlot::Soak.ring())
                .map_or(0, |&s| s as i64);
            Decision::Gate(acc.finish(soak))
        }
    }
}

/// The distinct `per` slots of gate `g`'s clauses, in clause order (what [`Inputs::per_slots`] holds).
pub fn per_slots(policy: &Policy, g: u8) -> impl Iterator<Item = u16> + '_ {
    let range = gate_clauses(policy, g);
    range.clone().filter_map(move |c| {
        let per = clause_per_slot(policy, c)?;
        let first = range
            .clone()
            .take_while(|&d| d < c)
            .all(|d| clause_per_slot(policy, d) != Some(per));
        first.then_some(per)
    })
}

fn clause_per_slot(policy: &Policy, c: usize) -> Option<u16> {
    u16::try_from(c)
        .ok()
        .and_then(|c| policy.clause(ClauseId(c)))
        .and_then(|cl| cl.per_slot)
}

fn gate_clauses(policy: &Policy, g: u8) -> Range<usize> {
    policy
        .gate_function(g)
        .and_then(|f| policy.function_def(f))
        .map_or(0..0, |def| def.clause_range())
}

/// Why bytes are not a golden file (or a vector does not fit the format when writing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    Magic,
    Version {
        found: u16,
    },
    Flags {
        found: u16,
    },
    /// The header's total length is not the number of bytes.
    Length {
        header: u32,
        actual: usize,
    },
    /// A field runs past the end.
    Truncated {
        offset: usize,
    },
    /// A code (function, origin, condition, verdict) that the format does not define.
    Code {
        offset: usize,
        what: &'static str,
        found: u32,
    },
    /// The package name is not UTF-8.
    Name,
    /// Bytes after the last vector.
    Trailing {
        offset: usize,
    },
    /// Writing: a count does not fit its field.
    TooLarge {
        what: &'static str,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FormatError::Magic => f.write_str("not a golden-vector file (bad magic)"),
            FormatError::Version { found } => {
                write!(
                    f,
                    "golden format {found}, this parser reads {FORMAT_VERSION}"
                )
            }
            FormatError::Flags { found } => write!(f, "unknown flags {found:#x}"),
            FormatError::Length { header, actual } => {
                write!(f, "header says {header} bytes, the file has {actual}")
            }
            FormatError::Truncated { offset } => {
                write!(f, "file ends inside a field at byte {offset}")
            }
            FormatError::Code {
                offset,
                what,
                found,
            } => {
                write!(f, "unknown {what} code {found} at byte {offset}")
            }
            FormatError::Name => f.write_str("package name is not UTF-8"),
            FormatError::Trailing { offset } => write!(f, "trailing bytes from byte {offset}"),
            FormatError::TooLarge { what } => write!(f, "{what} does not fit the format"),
        }
    }
}

/// A cursor over the bytes; every read is bounds-checked and reports where it failed.
#[derive(Clone, Debug)]
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(FormatError::Truncated { offset: self.pos })?;
        let s = self
            .bytes
            .get(self.pos..end)
            .ok_or(FormatError::Truncated { offset: self.pos })?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let offset = self.pos;
        self.take(N)?
            .try_into()
            .map_err(|_| FormatError::Truncated { offset })
    }

    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// `n` items of `size` bytes each.
    fn items(&mut self, n: usize, size: usize) -> Result<&'a [u8], FormatError> {
        let len = n
            .checked_mul(size)
            .ok_or(FormatError::Truncated { offset: self.pos })?;
        self.take(len)
    }

    fn code(&self, what: &'static str, found: impl Into<u32>) -> FormatError {
        FormatError::Code {
            offset: self.pos,
            what,
            found: found.into(),
        }
    }
}

/// `n`-th little-endian `u64` of `bytes`; 0 past the end (never reached for a parsed vector).
fn le_u64(bytes: &[u8], i: usize) -> u64 {
    bytes
        .get(i * 8..i * 8 + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

/// A parsed golden file: borrows the bytes.
#[derive(Clone, Debug)]
pub struct GoldenFile<'a> {
    pub package: &'a str,
    /// The artifact, to hand to `fleetgate_runtime::verify`.
    pub artifact: &'a [u8],
    n_vectors: u32,
    /// The bytes of every vector, back to back.
    vectors: &'a [u8],
}

/// Parses and checks the whole file (every vector), without allocating.
pub fn parse(bytes: &[u8]) -> Result<GoldenFile<'_>, FormatError> {
    let mut r = Reader { bytes, pos: 0 };
    if r.array::<4>().ok() != Some(MAGIC) {
        return Err(FormatError::Magic);
    }
    let version = r.u16()?;
    if version != FORMAT_VERSION {
        return Err(FormatError::Version { found: version });
    }
    let flags = r.u16()?;
    if flags != 0 {
        return Err(FormatError::Flags { found: flags });
    }
    let total = r.u32()?;
    if usize::try_from(total).ok() != Some(bytes.len()) {
        return Err(FormatError::Length {
            header: total,
            actual: bytes.len(),
        });
    }
    debug_assert_eq!(r.pos, HEADER_LEN);
    let name_len = r.u8()?;
    let package =
        core::str::from_utf8(r.take(usize::from(name_len))?).map_err(|_| FormatError::Name)?;
    let artifact_len = r.u32()?;
    let artifact = r.take(artifact_len as usize)?;
    let n_vectors = r.u32()?;
    let start = r.pos;
    for _ in 0..n_vectors {
        read_vector(&mut r)?;
    }
    if r.pos != bytes.len() {
        return Err(FormatError::Trailing { offset: r.pos });
    }
    let vectors = bytes
        .get(start..)
        .ok_or(FormatError::Truncated { offset: start })?;
    Ok(GoldenFile {
        package,
        artifact,
        n_vectors,
        vectors,
    })
}

impl<'a> GoldenFile<'a> {
    pub fn len(&self) -> usize {
        self.n_vectors as usize
    }

    pub fn is_empty(&self) -> bool {
        self.n_vectors == 0
    }

    /// The vectors in file order.
    pub fn vectors(&self) -> Vectors<'a> {
        Vectors {
            r: Reader {
                bytes: self.vectors,
                pos: 0,
            },
            left: self.n_vectors,
        }
    }
}

/// Iterator over the vectors of a parsed file.
#[derive(Clone, Debug)]
pub struct Vectors<'a> {
    r: Reader<'a>,
    left: u32,
}

impl<'a> Iterator for Vectors<'a> {
    type Item = Vector<'a>;

    fn next(&mut self) -> Option<Vector<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // `parse` read every vector once already, so this cannot fail; stop if it somehow does.
        let v = read_vector(&mut self.r).ok();
        if v.is_none() {
            self.left = 0;
        }
        v
    }
}

/// One golden vector: borrows the file's bytes.
#[derive(Clone, Debug)]
pub struct Vector<'a> {
    pub kind: FunctionKind,
    pub origin: Origin,
    slots: &'a [u8],
    missing: &'a [u8],
    pub first_clause: u16,
    conds: &'a [u8],
    pub expected: Expected<'a>,
}

impl<'a> Vector<'a> {
    pub fn n_slots(&self) -> usize {
        self.slots.len() / 8
    }

    pub fn n_missing(&self) -> usize {
        self.missing.len() / 8
    }

    /// The record's slots, decoded.
    pub fn slots(&self) -> impl Iterator<Item = u64> + 'a {
        let bytes = self.slots;
        (0..bytes.len() / 8).map(move |i| le_u64(bytes, i))
    }

    /// The record's missing-mask words, decoded.
    pub fn missing(&self) -> impl Iterator<Item = u64> + 'a {
        let bytes = self.missing;
        (0..bytes.len() / 8).map(move |i| le_u64(bytes, i))
    }

    /// The clauses of the function, as the artifact numbers them.
    pub fn clause_range(&self) -> Range<usize> {
        let first = usize::from(self.first_clause);
        first..first + self.conds.len()
    }

    /// The expected condition of each of the function's clauses.
    pub fn conds(&self) -> impl Iterator<Item = (ClauseId, Cond)> + 'a {
        let first = self.first_clause;
        self.conds.iter().enumerate().map(move |(i, &c)| {
            let cond = match c {
                0 => Cond::False,
                1 => Cond::True,
                _ => Cond::Error,
            };
            (ClauseId(first.wrapping_add(i as u16)), cond)
        })
    }
}

/// A gate verdict without its clauses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GateVerdict {
    Promote,
    Hold,
    Abort,
}

/// Clause ids as stored (`u16` little-endian each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClauseList<'a>(&'a [u8]);

impl<'a> ClauseList<'a> {
    pub fn iter(&self) -> impl Iterator<Item = ClauseId> + 'a {
        self.0
            .chunks_exact(2)
            .filter_map(|b| <[u8; 2]>::try_from(b).ok())
            .map(|b| ClauseId(u16::from_le_bytes(b)))
    }

    pub fn len(&self) -> usize {
        self.0.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The decision a vector expects, borrowing the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected<'a> {
    Rails(RailVerdict),
    Health(HealthVerdict),
    Constraints(Option<u16>),
    Rings {
        point_ppm: u32,
        ring: Option<u8>,
    },
    Gate {
        verdict: GateVerdict,
        soak_met: bool,
        clauses: ClauseList<'a>,
    },
}

impl Expected<'_> {
    /// The ring point a `Rings` vector gives as input (0 for other kinds).
    pub fn point_ppm(&self) -> u32 {
        match *self {
            Expected::Rings { point_ppm, .. } => point_ppm,
            _ => 0,
        }
    }

    /// Whether `d` is this decision.
    pub fn matches(&self, d: &Decision) -> bool {
        match (*self, d) {
            (Expected::Rails(a), Decision::Rails(b)) => a == *b,
            (Expected::Health(a), Decision::Health(b)) => a == *b,
            (Expected::Constraints(a), Decision::Constraints(b)) => a.map(usize::from) == *b,
            (
                Expected::Rings { point_ppm, ring },
                Decision::Rings {
                    point_ppm: p,
                    ring: r,
                },
            ) => point_ppm == *p && ring == *r,
            (
                Expected::Gate {
                    verdict,
                    soak_met,
                    clauses,
                },
                Decision::Gate(g),
            ) => {
                let (v, s, ids): (GateVerdict, bool, &[ClauseId]) = match g {
                    GateDecision::Promote => (GateVerdict::Promote, true, &[]),
                    GateDecision::Hold { unmet, soak_met } => (GateVerdict::Hold, *soak_met, unmet),
                    GateDecision::Abort { clauses } => (GateVerdict::Abort, false, clauses),
                };
                verdict == v && soak_met == s && clauses.iter().eq(ids.iter().copied())
            }
            _ => false,
        }
    }
}

fn function_kind(r: &Reader<'_>, code: u8, index: u8) -> Result<FunctionKind, FormatError> {
    let kind = match code {
        0 => FunctionKind::Rails,
        1 => FunctionKind::Health,
        2 => FunctionKind::Constraints,
        3 => FunctionKind::Rings,
        4 => FunctionKind::Gate(index),
        _ => return Err(r.code("function", code)),
    };
    if index != 0 && !matches!(kind, FunctionKind::Gate(_)) {
        return Err(r.code("function index", index));
    }
    Ok(kind)
}

fn read_vector<'a>(r: &mut Reader<'a>) -> Result<Vector<'a>, FormatError> {
    let (code, index) = (r.u8()?, r.u8()?);
    let kind = function_kind(r, code, index)?;
    let origin = match r.u8()? {
        0 => Origin::Sampled,
        1 => Origin::PackageTest,
        other => return Err(r.code("origin", other)),
    };
    let n_slots = r.u16()?;
    let n_missing = r.u8()?;
    let slots = r.items(usize::from(n_slots), 8)?;
    let missing = r.items(usize::from(n_missing), 8)?;
    let first_clause = r.u16()?;
    let n_clauses = r.u16()?;
    let conds = r.items(usize::from(n_clauses), 1)?;
    if let Some(&bad) = conds.iter().find(|&&c| c > 2) {
        return Err(r.code("condition", bad));
    }
    let expected = match kind {
        FunctionKind::Rails => {
            let (verdict, secs) = (r.u8()?, r.u32()?);
            Expected::Rails(match (verdict, secs) {
                (0, 0) => RailVerdict::Allow,
                (1, secs) => RailVerdict::Defer { secs },
                (2, 0) => RailVerdict::Deny,
                _ => return Err(r.code("rail verdict", verdict)),
            })
        }
        FunctionKind::Health => {
            let (verdict, planes) = (r.u8()?, r.u16()?);
            Expected::Health(match (verdict, planes) {
                (0, 0) => HealthVerdict::Healthy,
                (1, 0) => HealthVerdict::Inconclusive,
                (2, planes) => HealthVerdict::Rollback {
                    planes: PlaneSet(planes),
                },
                _ => return Err(r.code("health verdict", verdict)),
            })
        }
        FunctionKind::Constraints => {
            let c = r.u16()?;
            Expected::Constraints((c != NONE_U16).then_some(c))
        }
        FunctionKind::Rings => {
            let point_ppm = r.u32()?;
            let ring = r.u8()?;
            Expected::Rings {
                point_ppm,
                ring: (ring != NONE_U8).then_some(ring),
            }
        }
        FunctionKind::Gate(_) => {
            let (verdict, soak_met, n) = (r.u8()?, r.u8()?, r.u8()?);
            let clauses = ClauseList(r.items(usize::from(n), 2)?);
            let verdict = match (verdict, soak_met, n) {
                (0, 1, 0) => GateVerdict::Promote,
                (1, 0 | 1, _) => GateVerdict::Hold,
                (2, 0, 1..) => GateVerdict::Abort,
                _ => return Err(r.code("gate verdict", verdict)),
            };
            Expected::Gate {
                verdict,
                soak_met: soak_met == 1,
                clauses,
            }
        }
    };
    Ok(Vector {
        kind,
        origin,
        slots,
        missing,
        first_clause,
        conds,
        expected,
    })
}

/// One vector to write: `slots`/`missing` read by function `kind` gave `bits`, of which the function's
/// clauses `clauses` are written, and `decision`.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    pub kind: FunctionKind,
    pub origin: Origin,
    pub slots: &'a [u64],
    pub missing: &'a [u64],
    pub bits: &'a ClauseBits,
    pub clauses: Range<usize>,
    pub decision: &'a Decision,
}

/// Writes a golden file: [`Writer::new`], one [`Writer::push`] per vector, [`Writer::finish`].
#[derive(Clone, Debug)]
pub struct Writer {
    buf: Vec<u8>,
    /// Where `n_vectors` goes.
    count_at: usize,
    n_vectors: u32,
}

fn fit<T: TryFrom<usize>>(n: usize, what: &'static str) -> Result<T, FormatError> {
    T::try_from(n).map_err(|_| FormatError::TooLarge { what })
}

impl Writer {
    pub fn new(package: &str, artifact: &[u8]) -> Result<Writer, FormatError> {
        let mut buf = Vec::new();
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes()); // total length, set by `finish`
        buf.push(fit::<u8>(package.len(), "package name")?);
        buf.extend_from_slice(package.as_bytes());
        buf.extend_from_slice(&fit::<u32>(artifact.len(), "artifact")?.to_le_bytes());
        buf.extend_from_slice(artifact);
        let count_at = buf.len();
        buf.extend_from_slice(&0u32.to_le_bytes());
        Ok(Writer {
            buf,
            count_at,
            n_vectors: 0,
        })
    }

    /// Appends a vector.
    pub fn push(&mut self, e: &Entry<'_>) -> Result<(), FormatError> {
        let Entry {
            kind,
            origin,
            slots,
            missing,
            bits,
            ref clauses,
            decision,
        } = *e;
        let mut v = Vec::new();
        let (code, index) = kind.code();
        v.extend_from_slice(&[code, index, origin.code()]);
        v.extend_from_slice(&fit::<u16>(slots.len(), "record")?.to_le_bytes());
        v.push(fit::<u8>(missing.len(), "missing mask")?);
        slots
            .iter()
            .chain(missing)
            .for_each(|s| v.extend_from_slice(&s.to_le_bytes()));
        v.extend_from_slice(&fit::<u16>(clauses.start, "clause")?.to_le_bytes());
        v.extend_from_slice(&fit::<u16>(clauses.len(), "clause count")?.to_le_bytes());
        for c in clauses.clone() {
            let cond = fit::<u16>(c, "clause")
                .ok()
                .and_then(|c| bits.cond(ClauseId(c)));
            v.push(match cond {
                Some(Cond::False) => 0,
                Some(Cond::True) => 1,
                Some(Cond::Error) | None => 2,
            });
        }
        match (kind, decision) {
            (FunctionKind::Rails, Decision::Rails(verdict)) => {
                let (code, secs) = match *verdict {
                    RailVerdict::Allow => (0u8, 0u32),
                    RailVerdict::Defer { secs } => (1, secs),
                    RailVerdict::Deny => (2, 0),
                };
                v.push(code);
                v.extend_from_slice(&secs.to_le_bytes());
            }
            (FunctionKind::Health, Decision::Health(verdict)) => {
                let (code, planes) = match *verdict {
                    HealthVerdict::Healthy => (0u8, 0u16),
                    HealthVerdict::Inconclusive => (1, 0),
                    HealthVerdict::Rollback { planes } => (2, planes.0),
                };
                v.push(code);
                v.extend_from_slice(&planes.to_le_bytes());
            }
            (FunctionKind::Constraints, Decision::Constraints(violated)) => {
                let c = match violated {
                    Some(c) => fit::<u16>(*c, "constraint")?,
                    None => NONE_U16,
                };
                v.extend_from_slice(&c.to_le_bytes());
            }
            (FunctionKind::Rings, Decision::Rings { point_ppm, ring }) => {
                v.extend_from_slice(&point_ppm.to_le_bytes());
                v.push(ring.unwrap_or(NONE_U8));
            }
            (FunctionKind::Gate(_), Decision::Gate(g)) => {
                let (code, soak_met, ids): (u8, bool, &[ClauseId]) = match g {
                    GateDecision::Promote => (0, true, &[]),
                    GateDecision::Hold { unmet, soak_met } => (1, *soak_met, unmet),
                    GateDecision::Abort { clauses } => (2, false, clauses),
                };
                v.extend_from_slice(&[
                    code,
                    u8::from(soak_met),
                    fit::<u8>(ids.len(), "gate clauses")?,
                ]);
                ids.iter()
                    .for_each(|c| v.extend_from_slice(&c.0.to_le_bytes()));
            }
            _ => {
                return Err(FormatError::TooLarge {
                    what: "decision of another function kind",
                });
            }
        }
        self.buf.extend_from_slice(&v);
        self.n_vectors += 1;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.n_vectors as usize
    }

    pub fn is_empty(&self) -> bool {
        self.n_vectors == 0
    }

    /// The file's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, FormatError> {
        let total = fit::<u32>(self.buf.len(), "file")?.to_le_bytes();
        let count = self.n_vectors.to_le_bytes();
        if let Some(dst) = self.buf.get_mut(8..12) {
            dst.copy_from_slice(&total);
        }
        if let Some(dst) = self.buf.get_mut(self.count_at..self.count_at + 4) {
            dst.copy_from_slice(&count);
        }
        Ok(self.buf)
    }
}
