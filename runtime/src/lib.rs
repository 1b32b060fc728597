//! Fleetgate runtime: takes the bytes of a compiled policy artifact and a flat record of slots, and gives
//! back clause conditions and the decisions built from them (rails, health, gates, install orders).
//!
//! Modules, in the order data flows through them:
//! - [`value`]: the scalar encodings shared by every engine (versions, plane sets);
//! - [`op`]: the one table of bytecode ops (encoder, decoder, disassembler, stack effects);
//! - [`artifact`]: the owned artifact and its byte layout (`docs/bytecode.md`);
//! - [`mod@verify`]: decode + every static check, giving a [`verify::Policy`] that engines may run;
//! - [`sign`]: Ed25519 signatures over an artifact; a device verifies, signing needs `std`;
//! - [`interp`]: the `no_std` interpreter, which never allocates and never panics;
//! - [`ring`]: the gate record, ring assignment by device id;
//! - [`decision`]: plain Rust turning clause conditions into decisions, shared by every engine;
//! - `native` (feature `native`, std only): Cranelift machine code from a verified policy, the same
//!   semantics as the interpreter; the only module with `unsafe`.
//!
//! Architecture invariants:
//! - `runtime` knows nothing of source text: it sees clause ids, a sidecar maps them back to spans.
//! - Nothing here panics on any input, and the interpreter does not allocate while evaluating.
//! - No `Arc` and no atomics: riscv32imc (ESP32-C3) has no compare-and-swap.
//! - Without `native`, `std` is used for `std::error::Error` impls only.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Tests may assert freely: a panic there is a test failure, not a device crash.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

extern crate alloc;

pub mod artifact;
pub mod decision;
pub mod interp;
#[cfg(feature = "native")]
pub mod native;
pub mod op;
pub mod ring;
pub mod sign;
pub mod value;
pub mod verify;

#[cfg(test)]
mod testutil;

pub use artifact::{Artifact, ArtifactError};
pub use interp::{ClauseBits, ClauseId, EvalError, Record};
pub use verify::{FnId, Policy, verify};
