//! One module per subcommand; each has `Args` (clap) and `run(args) -> Result<ExitCode, CliError>`.

pub mod build;
pub mod check;
pub mod common;
pub mod diff;
pub mod eval;
pub mod fmt;
pub mod inputs;
pub mod keygen;
pub mod merge;
pub mod plan;
pub mod review;
pub mod simulate;
pub mod test;
pub mod verify;

use fleetgate_compiler::engine::Engines;

/// Every engine for a compiled package: native code where this build and machine have it (else
/// `Engines::native_unavailable` says why, and the other engines run).
pub fn engines(ready: &common::Ready) -> Engines<'_> {
    Engines::with_native(&ready.package, &ready.compiled)
}
