//! `fleetgate merge PART…`: combine the part files of a sharded `simulate` run into its reports.

use std::path::PathBuf;
use std::process::ExitCode;

use fleetgate_simulator::report;
use fleetgate_simulator::shard::{self, Part};

use crate::cmd::simulate::write_reports;
use crate::error::CliError;

/// Combine the parts written by `fleetgate simulate --shard K/N --out DIR` into the run's report.
///
/// The report (terminal summary, `--json`, `--junit`, `--html`) is byte-identical to the one a single
/// `simulate` run with the same inputs, seed and trials writes. Parts of different runs, missing shards
/// and repeated shards are refused. Exit status as for `simulate`: 0 pass, 1 fail, 3 inconclusive, 2 bad
/// input.
#[derive(clap::Args)]
pub struct Args {
    /// Every part file of the run (`part-K-of-N.json`), in any order.
    #[arg(required = true)]
    pub parts: Vec<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Exit 0 when an expectation is inconclusive.
    #[arg(long)]
    pub allow_inconclusive: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut parts = Vec::new();
    let mut names = Vec::new();
    for path in &args.parts {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, &e))?;
        let part: Part = serde_json::from_str(&text).map_err(|e| {
            CliError::usage(format!("`{}` is not a part file: {}", path.display(), e.to_string().to_lowercase()))
                .help("give the `part-K-of-N.json` files written by `fleetgate simulate --shard K/N --out DIR`")
        })?;
        parts.push(part);
        names.push(path.display().to_string());
    }
    let (meta, per_scenario) = shard::merge(&parts, &names)
        .map_err(|e| CliError::usage(e.0).help("merge the parts of one run: same inputs, seed, trials and shard count, every shard once"))?;
    let report = report::build(&meta, &per_scenario, None);
    write_reports(
        &report,
        &per_scenario,
        args.json.as_deref(),
        args.junit.as_deref(),
        args.html.as_deref(),
    )?;
    Ok(ExitCode::from(report.exit_status(args.allow_inconclusive)))
}
