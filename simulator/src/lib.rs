//! The Fleetgate rollout simulator: Monte Carlo trials of a staged rollout over a synthetic fleet, run
//! with the compiled policies and the real device agent.
//!
//! In: a compiled policy, the package's `Schema`, a fleet model and a release (see `input`). Out: per
//! trial outcomes and metrics, statistics with confidence intervals, and each expectation's verdict.
//! SIMULATION.md is the contract; docs/simulation.md documents the inputs.

pub mod engine;
pub mod input;
pub mod population;
pub mod report;
pub mod result;
pub mod rng;
pub mod schema;
pub mod shard;
pub mod stats;

/// Asks the processor to bring `x`'s cache line in ahead of use: the engine visits devices in id
/// order but far apart, so each visit would otherwise wait on memory. Only a hint (a no-op off x86_64).
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing the program sees; `x` is a valid reference and
    // SSE is part of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (x as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}
