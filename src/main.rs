//! `fleetgate`: the command line of Fleetgate.
//!
//! In: a subcommand and its arguments. Out: reports on stdout/stderr and an exit status (0 success,
//! 1 the package or release has a problem, 2 usage or IO problems; `simulate` adds 3 for inconclusive).
//! Each subcommand lives in `cmd/`; this file only parses arguments and dispatches.

use std::process::ExitCode;

use fleetgate::{cmd, diag};

use clap::{Parser, Subcommand};

const ABOUT: &str = "Safe over-the-air releases to device fleets";

const LONG_ABOUT: &str = "\
Fleetgate checks, compiles, tests and simulates the policies that decide whether an over-the-air \
release may reach a device fleet: safety rails (may this device update now?), health rules (which \
plane rolls back when an updated device is unhealthy?), dependencies between the firmware, model and \
config planes, and promotion gates between rollout rings.

A policy package is a directory of `.policy` files (see docs/language.md).

Start with:
  fleetgate check policies/edge-ai      type-check a package and report its cost bounds
  fleetgate test policies/edge-ai       run the package's own tests on every engine
  fleetgate fmt policies/edge-ai        rewrite the files in the canonical layout";

#[derive(Parser)]
#[command(name = "fleetgate", version, about = ABOUT, long_about = LONG_ABOUT, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Check(cmd::check::Args),
    Fmt(cmd::fmt::Args),
    Build(cmd::build::Args),
    Test(cmd::test::Args),
    Eval(cmd::eval::Args),
    Plan(cmd::plan::Args),
    Simulate(cmd::simulate::Args),
    Merge(cmd::merge::Args),
    Review(cmd::review::Args),
    Diff(cmd::diff::Args),
    Keygen(cmd::keygen::Args),
    Verify(cmd::verify::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => cmd::check::run(args),
        Command::Fmt(args) => cmd::fmt::run(args),
        Command::Build(args) => cmd::build::run(args),
        Command::Test(args) => cmd::test::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Simulate(args) => cmd::simulate::run(args),
        Command::Merge(args) => cmd::merge::run(args),
        Command::Review(args) => cmd::review::run(args),
        Command::Diff(args) => cmd::diff::run(args),
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Verify(args) => cmd::verify::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let handler = diag::handler(diag::colour(), diag::terminal_width());
            let mut out = String::new();
            if handler.render_report(&mut out, &e).is_err() {
                out = format!("error: {}\n", e.message);
            }
            eprint!("{out}");
            ExitCode::from(e.status)
        }
    }
}
