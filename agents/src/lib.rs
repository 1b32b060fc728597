//! Fleetgate device agent: the per-plane over-the-air update state machine that devices and the
//! simulator share, and a crash-safe driver for it.
//!
//! In go a verified policy artifact (`fleetgate_runtime`), a device profile and events (check-ins with
//! the planner's desired state, telemetry, timers, download/install/boot outcomes, planner orders);
//! out come actions on A/B slots and reports to the planner. Modules, in the order data flows:
//! - [`state`]: the 48-byte `Copy` [`State`] of one device and its journal encoding;
//! - [`eval`]: evaluators (interpreter; native code for `rk3566` behind feature `native`);
//! - [`machine`]: the pure [`step`] and [`recover`] functions;
//! - [`journal`]: the write-ahead journal's torn-write-safe record format;
//! - [`record`]: device records from telemetry, versions, clock and desired state;
//! - [`driver`]: the storage/clock/transport traits and the journaling [`Agent`];
//! - [`mem`]: an in-memory flash model with fault injection (tests, sessions, simulator);
//! - [`trust`]: which policy artifacts a device accepts (trusted key, serials never going back);
//! - `session` (feature `std`): replays a scripted session into a JSON-lines transcript.
//!
//! Architecture invariants:
//! - The core (everything but `session`) is `no_std` + `alloc`, builds for `riscv32imc-unknown-none-elf`,
//!   uses no `Arc` or atomics, and never panics: `unwrap`, `expect`, `panic` and indexing are denied.
//! - A step never allocates; a [`State`] holds everything needed to resume and is at most 64 bytes.
//! - The agent journals a state before performing any of its actions; every storage action is
//!   idempotent and names its release, so recovery may redo it.
//! - Health success comes from health checks in the verification window, never from a boot.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
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

pub mod driver;
pub mod eval;
pub mod journal;
pub mod machine;
pub mod mem;
pub mod record;
#[cfg(feature = "std")]
pub mod session;
pub mod state;
pub mod trust;

pub use driver::{Agent, Clock, Fault, Image, Observer, Parked, PowerLoss, Storage, Transport};
pub use eval::{Evaluator, Interp, ProfileEvaluator};
pub use machine::{
    Action, Actions, Config, ConfigError, Ctx, Decision, Desired, Event, Order, Profile, Status,
    check_in_idles, check_in_reads_record, pending_actions, recover, step, step_into,
    tick_reads_record,
};
pub use mem::MemStorage;
pub use record::RecordBuf;
pub use state::{Phase, State};
pub use trust::{Accepted, Admitted, Refusal, Trust};
