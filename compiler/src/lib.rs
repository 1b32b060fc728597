//! The Fleetgate compiler: typed package -> IR -> verified bytecode artifact, and everything that
//! reasons about a compiled package: the reference evaluator (the oracle), the engines that run
//! package tests, static analyses, dependency planning, review and diff.
//!
//! In: a `fleetgate_lang::typed::Package` (this crate does no IO). Out: `Compiled` (artifact bytes,
//! verified `Policy`, sidecar), decisions, reports. See ARCHITECTURE.md for how the pieces fit.

pub mod analysis;
pub mod compile;
pub mod deps;
pub mod diagnostics;
pub mod diff;
pub mod emit;
pub mod engine;
pub mod ir;
pub mod layout;
pub mod records;
pub mod reference;
pub mod review;
pub mod sample;
pub mod semantics;
pub mod sidecar;
pub mod testing;

pub use compile::{Compiled, compile};
