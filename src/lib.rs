//! The `fleetgate` command line as a library: each subcommand in `cmd`, with the loading, diagnostics
//! and output helpers they share. `main.rs` parses arguments and dispatches; benches and tests use the
//! same functions (e.g. `cmd::inputs::schema`).

pub mod cmd;
pub mod diag;
pub mod error;
pub mod output;
pub mod package;
