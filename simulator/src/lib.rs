//! The Fleetgate rollout simulator: Monte Carlo trials of a staged rollout over a synthetic fleet, run
//! with the compiled policies and the real device agent.
//!
//! In: a compiled policy, the package's `Schema`, a fleet model and a release (see `input`). Out: per
//! trial outcomes and metrics, statistics with confidence intervals, and each expectation's verdict.
//! SIMULATION.md is the contract; docs/simulation.md documents the inputs.

pub mod input;
pub mod population;
pub mod rng;
pub mod schema;
pub mod stats;
pub mod report;
pub mod result;
pub mod engine;
pub mod shard;
