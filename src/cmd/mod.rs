//! One module per subcommand; each has `Args` (clap) and `run(args) -> Result<ExitCode, CliError>`.

pub mod check;
pub mod fmt;
