//! The bytecode ops: in goes a code byte string (or an `Op` value), out come decoded ops, their encoding,
//! stack effects and a stable disassembly text.
//!
//! Every op is declared once, in the `op_table!` below. Expanded by `ops!`, it generates [`Op`],
//! [`Op::encode`], [`Op::decode`], [`Op::stack_effect`], [`Op::mnemonic`], [`Op::branch`] and the
//! disassembler; expanded by the interpreter, it generates the variants of the enum the interpreter
//! dispatches on, which it matches exhaustively, so a new row fails to compile until its semantics
//! are written there. Semantics are specified in `docs/bytecode.md`, "Evaluation semantics".

use alloc::vec::Vec;
use core::fmt;

#[cfg(test)]
mod tests;

/// A jump operand. In bytes (and in an [`Op`] decoded from bytes) it counts bytes forward from the end
/// of the jumping instruction; in the code held by a verified `Policy` it counts instructions forward
/// from the next instruction (resolved once by the verifier so the interpreter never looks at bytes).
pub type Rel = u16;

/// How an op moves the operand stack. `branch_pushes` applies on the taken branch of a jumping op
/// (`LoadOr` pushes its slot only when it jumps); for other ops it equals `pushes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackEffect {
    pub pops: u8,
    pub pushes: u8,
    pub branch_pushes: u8,
}

/// Why bytes at an offset are not an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The offset is at or past the end of the code.
    OutOfCode {
        offset: usize,
    },
    UnknownOpcode {
        offset: usize,
        opcode: u8,
    },
    /// The opcode is known but its operands run past the end of the code.
    CutShort {
        offset: usize,
        mnemonic: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::OutOfCode { offset } => {
                write!(f, "no instruction at offset {offset}: end of code")
            }
            DecodeError::UnknownOpcode { offset, opcode } => {
                write!(f, "unknown opcode 0x{opcode:02x} at offset {offset}")
            }
            DecodeError::CutShort { offset, mnemonic } => {
                write!(f, "operands of `{mnemonic}` at offset {offset} cut short")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// Fixed-width little-endian operand types.
trait Operand: Copy + fmt::Display {
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
    /// Reads at `*at` and advances; `None` when the bytes run out.
    fn take(bytes: &[u8], at: &mut usize) -> Option<Self>;
    /// A value derived from `n`, for generated test samples.
    #[cfg(test)]
    fn sample(n: u16) -> Self;
}

impl Operand for u8 {
    const SIZE: usize = 1;
    fn put(self, out: &mut Vec<u8>) {
        out.push(self);
    }
    fn take(bytes: &[u8], at: &mut usize) -> Option<u8> {
        let b = *bytes.get(*at)?;
        *at = at.checked_add(1)?;
        Some(b)
    }
    #[cfg(test)]
    fn sample(n: u16) -> u8 {
        (n & 0x3f) as u8
    }
}

impl Operand for u16 {
    const SIZE: usize = 2;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn take(bytes: &[u8], at: &mut usize) -> Option<u16> {
        let end = at.checked_add(2)?;
        let b: [u8; 2] = bytes.get(*at..end)?.try_into().ok()?;
        *at = end;
        Some(u16::from_le_bytes(b))
    }
    #[cfg(test)]
    fn sample(n: u16) -> u16 {
        n
    }
}

/// Expands to the first block for a jump operand (type `Rel`), to the second for any other.
macro_rules! rel_or {
    (Rel, { $($yes:tt)* }, { $($no:tt)* }) => { $($yes)* };
    ($other:ident, { $($yes:tt)* }, { $($no:tt)* }) => { $($no)* };
}

/// The stack pushes on the taken branch: the explicit one, else the op's plain pushes.
macro_rules! branch_pushes {
    ($pushes:literal | $b:literal) => {
        $b
    };
    ($pushes:literal |) => {
        $pushes
    };
}

macro_rules! ops {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident $( ( $($arg:ident : $ty:ident),+ ) )? = $code:literal,
            [$pops:literal => $pushes:literal $(| $bpushes:literal)?];
    )*) => {
        /// One bytecode instruction; operands are little-endian in the encoding.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $( $(#[doc = $doc])* $name $( ( $($ty),+ ) )?, )*
        }

        impl Op {
            /// The number of ops in the table.
            pub const COUNT: usize = [$($code),*].len();
            /// Every opcode byte, in table order.
            pub const OPCODES: [u8; Op::COUNT] = [$($code),*];
            /// Every mnemonic, in table order.
            pub const MNEMONICS: [&'static str; Op::COUNT] = [$(stringify!($name)),*];

            pub const fn opcode(&self) -> u8 {
                match *self { $( Op::$name { .. } => $code, )* }
            }

            pub const fn mnemonic(&self) -> &'static str {
                match *self { $( Op::$name { .. } => stringify!($name), )* }
            }

            /// Bytes taken by the encoding: the opcode plus its operands.
            pub const fn encoded_len(&self) -> usize {
                match *self { $( Op::$name { .. } => 1 $( $( + <$ty as Operand>::SIZE )+ )?, )* }
            }

            pub const fn stack_effect(&self) -> StackEffect {
                match *self {
                    $( Op::$name { .. } => StackEffect {
                        pops: $pops,
                        pushes: $pushes,
                        branch_pushes: branch_pushes!($pushes | $($bpushes)?),
                    }, )*
                }
            }

            /// The jump operand of a jumping op (see [`Rel`] for its unit).
            #[allow(unused_variables)]
            pub fn branch(&self) -> Option<Rel> {
                match *self {
                    $( Op::$name $( ( $($arg),+ ) )? =>
                        None $( $( .or(rel_or!($ty, { Some($arg) }, { None })) )+ )?, )*
                }
            }

            /// The same op with its jump operand replaced (ops that do not jump are returned unchanged).
            #[allow(unused_variables)]
            pub const fn with_branch(self, rel: Rel) -> Op {
                match self {
                    $( Op::$name $( ( $($arg),+ ) )? =>
                        Op::$name $( ( $( rel_or!($ty, { rel }, { $arg }) ),+ ) )?, )*
                }
            }

            /// Appends the encoding of `self`.
            pub fn encode(&self, out: &mut Vec<u8>) {
                match *self {
                    $( Op::$name $( ( $($arg),+ ) )? => {
                        out.push($code);
                        $( $( Operand::put($arg, out); )+ )?
                    } )*
                }
            }

            /// Decodes the instruction at `pc`; returns it and its encoded length.
            #[deny(unreachable_patterns)] // two rows with one opcode is a compile error
            #[allow(unused_mut, unused_variables)]
            pub fn decode(code: &[u8], pc: usize) -> Result<(Op, usize), DecodeError> {
                let Some(&opcode) = code.get(pc) else {
                    return Err(DecodeError::OutOfCode { offset: pc });
                };
                let rest = code.get(pc..).unwrap_or_default();
                match opcode {
                    $( $code => {
                        let cut = DecodeError::CutShort { offset: pc, mnemonic: stringify!($name) };
                        let mut at = 1usize;
                        $( $( let Some($arg) = <$ty as Operand>::take(rest, &mut at) else {
                            return Err(cut);
                        }; )+ )?
                        Ok((Op::$name $( ( $($arg),+ ) )?, at))
                    } )*
                    opcode => Err(DecodeError::UnknownOpcode { offset: pc, opcode }),
                }
            }

            /// Writes the mnemonic and operands; `end`, the offset just past the instruction, adds a
            /// jump's target.
            #[allow(unused_variables)]
            fn write_operands(&self, end: Option<usize>, out: &mut impl fmt::Write) -> fmt::Result {
                match *self {
                    $( Op::$name $( ( $($arg),+ ) )? => {
                        out.write_str(stringify!($name))?;
                        $( $( rel_or!($ty, {
                            write!(out, " +{}", $arg)?;
                            if let Some(end) = end {
                                write!(out, " -> {:04}", end.saturating_add(usize::from($arg)))?;
                            }
                        }, {
                            write!(out, " {}", $arg)?;
                        }); )+ )?
                    } )*
                }
                Ok(())
            }

            /// One op of every kind, with distinct non-zero operands (for round-trip tests).
            #[cfg(test)]
            pub(crate) fn samples() -> Vec<Op> {
                let mut n: u16 = 0x0102;
                let mut next = || { n = n.wrapping_add(0x0101); n };
                let _ = &mut next;
                alloc::vec![ $( Op::$name $( ( $( <$ty as Operand>::sample(next()) ),+ ) )?, )* ]
            }
        }
    };
}

/// THE op table. Each row: doc, name and operands, opcode byte, `[pops => pushes | pushes when the
/// jump is taken]`. It is expanded by `ops!` here and by the interpreter's instruction enum
/// (`interp::fuse`), so a row is all an op needs besides its semantics in `interp`.
macro_rules! op_table {
    ($expand:ident) => {
        $expand! {
            /// Push `consts[k]`.
            Const(k: u16) = 0x01, [0 => 1];
            /// Push slot `s` of the record (a slot that is never missing).
            Load(s: u16) = 0x02, [0 => 1];
            /// If optional slot `s` is present, push it and jump `off` forward; otherwise fall through to the
            /// code that pushes the default.
            LoadOr(s: u16, off: Rel) = 0x03, [0 => 0 | 1];
            /// Push whether optional slot `s` is present.
            Known(s: u16) = 0x04, [0 => 1];
            /// Push a copy of the top entry.
            Dup = 0x05, [1 => 2];
            /// Drop the top entry.
            Pop = 0x06, [1 => 0];
            /// Pop into local `l`.
            LocalSet(l: u8) = 0x07, [1 => 0];
            /// Push local `l` (written on every path before this point).
            LocalGet(l: u8) = 0x08, [0 => 1];
            /// Copy the top entry into local `l`, leaving it on the stack.
            LocalTee(l: u8) = 0x09, [1 => 1];
            /// Convert an `int` to a `float` (`as f64`, never an error).
            I2F = 0x0a, [1 => 1];

            /// `a + b`, error on overflow.
            AddI = 0x10, [2 => 1];
            /// `a - b`, error on overflow.
            SubI = 0x11, [2 => 1];
            /// `a * b`, error on overflow.
            MulI = 0x12, [2 => 1];
            /// `a / b` truncating, error on `b == 0` and on `i64::MIN / -1`.
            DivI = 0x13, [2 => 1];
            /// `-a`, error on `i64::MIN`.
            NegI = 0x14, [1 => 1];
            /// `|a|`, error on `i64::MIN`.
            AbsI = 0x15, [1 => 1];
            /// `if a <= b { a } else { b }`.
            MinI = 0x16, [2 => 1];
            /// `if a >= b { a } else { b }`.
            MaxI = 0x17, [2 => 1];
            /// `a + b`, error when not finite.
            AddF = 0x18, [2 => 1];
            /// `a - b`, error when not finite.
            SubF = 0x19, [2 => 1];
            /// `a * b`, error when not finite.
            MulF = 0x1a, [2 => 1];
            /// `a / b`, error when not finite (division by zero included).
            DivF = 0x1b, [2 => 1];
            /// Flip the sign bit (never an error).
            NegF = 0x1c, [1 => 1];
            /// Clear the sign bit (never an error).
            AbsF = 0x1d, [1 => 1];
            /// `if a <= b { a } else { b }` with IEEE comparison.
            MinF = 0x1e, [2 => 1];
            /// `if a >= b { a } else { b }` with IEEE comparison.
            MaxF = 0x1f, [2 => 1];

            /// Bit equality.
            Eq = 0x20, [2 => 1];
            /// Bit inequality.
            Ne = 0x21, [2 => 1];
            /// IEEE `==`.
            EqF = 0x22, [2 => 1];
            /// IEEE `!=` (true when either is NaN).
            NeF = 0x23, [2 => 1];
            /// Signed `<`.
            LtI = 0x24, [2 => 1];
            /// Signed `<=`.
            LeI = 0x25, [2 => 1];
            /// Signed `>`.
            GtI = 0x26, [2 => 1];
            /// Signed `>=`.
            GeI = 0x27, [2 => 1];
            /// Unsigned `<` (versions).
            LtU = 0x28, [2 => 1];
            /// Unsigned `<=` (versions).
            LeU = 0x29, [2 => 1];
            /// Unsigned `>` (versions).
            GtU = 0x2a, [2 => 1];
            /// Unsigned `>=` (versions).
            GeU = 0x2b, [2 => 1];
            /// IEEE `<`.
            LtF = 0x2c, [2 => 1];
            /// IEEE `<=`.
            LeF = 0x2d, [2 => 1];
            /// IEEE `>`.
            GtF = 0x2e, [2 => 1];
            /// IEEE `>=`.
            GeF = 0x2f, [2 => 1];
            /// Pop `x lo hi`, push `lo <= x && x <= hi` (signed).
            BetweenI = 0x30, [3 => 1];
            /// Pop `x lo hi`, push `lo <= x && x <= hi` (unsigned).
            BetweenU = 0x31, [3 => 1];
            /// Pop `x lo hi`, push `lo <= x && x <= hi` (IEEE).
            BetweenF = 0x32, [3 => 1];
            /// Push whether `x` is bit-equal to one of `consts[k .. k + n]`.
            InSetI(k: u16, n: u16) = 0x33, [1 => 1];
            /// Push whether `x` is IEEE-equal to one of `consts[k .. k + n]`.
            InSetF(k: u16, n: u16) = 0x34, [1 => 1];

            /// Kleene not: `not E = E`.
            Not = 0x38, [1 => 1];
            /// Kleene and: `false and E = false`, `true and E = E`.
            And = 0x39, [2 => 1];
            /// Kleene or: `true or E = true`, `false or E = E`.
            Or = 0x3a, [2 => 1];

            /// Jump `off` forward when the top is definitely false (no error, value 0); the top stays.
            JumpIfFalse(off: Rel) = 0x40, [1 => 1];
            /// Jump `off` forward when the top is definitely true (no error, value non-zero); the top stays,
            /// as `1`.
            JumpIfTrue(off: Rel) = 0x41, [1 => 1];

            /// Pop a bool and record it as clause `c`'s condition: true, false or erroneous.
            Emit(c: u16) = 0x48, [1 => 0];

        }
    };
}
pub(crate) use op_table;

op_table!(ops);

impl fmt::Display for Op {
    /// The mnemonic and raw operands (a jump prints `+off` without a target: it has no offset here).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_operands(None, f)
    }
}

/// Writes one line per instruction: the offset as four decimal digits, two spaces, the mnemonic and
/// operands; a jump shows `+off -> target`. Bytes that do not decode end the listing with a
/// `<error>` line. The text is stable (snapshot-tested downstream).
pub fn disassemble(code: &[u8], out: &mut impl fmt::Write) -> fmt::Result {
    let mut pc = 0usize;
    while pc < code.len() {
        match Op::decode(code, pc) {
            Ok((op, len)) => {
                write!(out, "{pc:04}  ")?;
                let end = pc.saturating_add(len);
                op.write_operands(Some(end), out)?;
                out.write_char('\n')?;
                pc = end;
            }
            Err(e) => {
                writeln!(out, "{pc:04}  <{e}>")?;
                break;
            }
        }
    }
    Ok(())
}

/// Encodes a sequence of ops (jump operands in bytes).
pub fn encode_all(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ops.iter().map(Op::encoded_len).sum());
    for op in ops {
        op.encode(&mut out);
    }
    out
}
