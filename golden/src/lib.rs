//! Golden vectors for the Fleetgate runtime: in go the bytes of a golden file (`golden/vectors/*.fgv`,
//! written by `compiler/tests/golden.rs` from the example packages), out come the artifact and its
//! vectors, and a [`Checker`] that runs each vector through an [`Evaluator`] and the runtime's decision
//! code and compares conditions and decision with what the file expects.
//!
//! `no_std` so that `tests/riscv.rs` can run the same checks on riscv32imc (the ESP32-C3's ISA)
//! under qemu, counting instructions, stack and heap; on the host the same test runs with std.
//!
//! Modules: [`vector`] (the file format, parser, writer and the decision procedure, shared with the
//! writer in `compiler/tests/golden.rs`), [`check`] (loading, evaluating, comparing), [`heap`] (a
//! counting global allocator).
//!
//! Architecture invariants:
//! - Parsing never allocates and never panics; a [`Checker`] allocates its buffers once per policy.
//! - This crate depends on `fleetgate-runtime` only: no compiler, no `lang`, no files.
#![no_std]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

extern crate alloc;

pub mod check;
pub mod heap;
pub mod vector;

pub use check::{Checker, Evaluator, Interpreter, Loaded, Mismatch};
pub use heap::CountingAlloc;
pub use vector::{
    Decision, Expected, FormatError, GoldenFile, Origin, Vector, Writer, decide, parse,
};
