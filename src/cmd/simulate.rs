//! `fleetgate simulate PATH`: Monte Carlo trials of the release's staged rollout over the fleet model,
//! judged against the release's expectations — a release gate for CI.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use fleetgate_simulator::engine::{self, Setup};
use fleetgate_simulator::input::{FileKind, fleet, release};
use fleetgate_simulator::report::{self, Inputs, Report};
use fleetgate_simulator::result::{self, TrialResult};
use fleetgate_simulator::stats::Verdict;

use crate::cmd::common;
use crate::cmd::inputs::{self, InputFiles};
use crate::diag::Format;
use crate::error::CliError;

/// Simulate the release's rollout over the fleet model, many times, and judge its expectations.
///
/// Every simulated device runs the real device agent and the compiled policies (native code). The
/// planner evaluates the gates on what it has heard from the devices; network partitions delay that.
/// Defaults come from the package directory: `fleet.toml`, `release.toml` (whose `trials` sets the
/// default number of trials per scenario). Results depend only on the inputs, the seed and the number
/// of trials — not on `--threads`.
///
/// Exit status: 0 every expectation passes, 1 one fails, 3 one is inconclusive (more trials needed;
/// `--allow-inconclusive` makes that 0), 2 bad input.
#[derive(clap::Args)]
pub struct Args {
    /// A package directory.
    pub path: PathBuf,
    /// The fleet model (default: `PATH/fleet.toml`).
    #[arg(long, value_name = "FILE.toml")]
    pub fleet: Option<PathBuf>,
    /// The release (default: `PATH/release.toml`).
    #[arg(long, value_name = "FILE.toml")]
    pub release: Option<PathBuf>,
    /// Only these scenarios (repeatable; default: all).
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// Trials per scenario (default: the release's `trials`, else 100).
    #[arg(long)]
    pub trials: Option<u64>,
    /// Rescale the fleet to this many devices (class shares are kept).
    #[arg(long)]
    pub devices: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the report as JSON (versioned schema, docs/simulation.md).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write one JUnit test case per expectation.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML page with plots.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Exit 0 when an expectation is inconclusive (it is still reported).
    #[arg(long)]
    pub allow_inconclusive: bool,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let ready = common::load_and_compile(&args.path, Format::Human)?;
    let pkg = &ready.package;
    let schema = inputs::schema(pkg);
    let fleet_path = inputs::default_input(args.fleet.as_deref(), &args.path, "fleet.toml", "fleet")?;
    let release_path = inputs::default_input(args.release.as_deref(), &args.path, "release.toml", "release")?;
    let mut files = InputFiles::new();
    let fleet_text = files.add(FileKind::Fleet, &fleet_path)?;
    let release_text = files.add(FileKind::Release, &release_path)?;
    let mut fleet = fleet::parse(&fleet_text, &schema).map_err(|e| files.fail(&e, Format::Human))?;
    let rel = release::parse(&release_text, &schema, &fleet).map_err(|e| files.fail(&e, Format::Human))?;
    if let Some(n) = args.devices {
        if n == 0 {
            return Err(CliError::usage("`--devices` must be at least 1"));
        }
        fleet.rescale(n);
    }
    let trials = args.trials.or(rel.trials).unwrap_or(100);
    if trials == 0 {
        return Err(CliError::usage("`--trials` must be at least 1"));
    }
    for name in &args.scenarios {
        if !rel.scenarios.iter().any(|s| s.name == *name) {
            let names: Vec<String> = rel.scenarios.iter().map(|s| format!("`{}`", s.name)).collect();
            return Err(CliError::usage(format!("no scenario `{name}` in `{}`", release_path.display())).help(format!("the scenarios are {}", names.join(", "))));
        }
    }
    let policy = &ready.compiled.policy;
    for p in [fleetgate_agents::Profile::Esp32c3, fleetgate_agents::Profile::Rk3566] {
        fleetgate_agents::Config::new(policy, p)
            .map_err(|e| CliError::usage(format!("the device agent cannot run this package: {e}")).help("simplify the package within the agent's limits"))?;
    }
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().map_err(|e| CliError::usage(format!("cannot start threads: {e}")))?;

    let population = pool.install(|| fleetgate_simulator::population::generate(&fleet, &schema, policy, args.seed));
    let evaluator = fleetgate_agents::eval::Native::new(policy);
    let reasons: Vec<String> = ready.compiled.sidecar.clauses.iter().map(|c| c.reason.clone()).collect();
    let setup = Setup::new(&schema, &fleet, &rel, policy, &population, &evaluator, args.seed, reasons);

    let scenarios: Vec<&release::Scenario> =
        rel.scenarios.iter().filter(|s| args.scenarios.is_empty() || args.scenarios.contains(&s.name)).collect();
    let total = trials * scenarios.len() as u64;
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(indicatif::ProgressStyle::with_template("{msg:28} [{bar:40}] {pos}/{len} trials, {eta} left").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
        b
    });
    let mut per_scenario: Vec<(String, Vec<TrialResult>)> = Vec::new();
    for s in &scenarios {
        if let Some(b) = &bar {
            b.set_message(s.name.clone());
        }
        let mut results = Vec::with_capacity(trials as usize);
        for t in 0..trials {
            results.push(pool.install(|| engine::run_trial(&setup, s, t)));
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
        per_scenario.push((s.name.clone(), results));
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }

    let package_bytes: Vec<u8> =
        ready.sources.iter().flat_map(|(_, f)| f.name.bytes().chain([0]).chain(f.text.bytes()).chain([0])).collect();
    let inputs = Inputs { package: report::fnv1a64(&package_bytes), fleet: report::fnv1a64(fleet_text.as_bytes()), release: report::fnv1a64(release_text.as_bytes()) };
    let report = build_report(&ready, &schema, &rel, &fleet, &per_scenario, trials, args.seed, inputs, &setup);
    crate::out!("{}", report::human(&report));
    if let Some(p) = &args.json {
        std::fs::write(p, report.to_json()).map_err(|e| CliError::write(p, &e))?;
    }
    if let Some(p) = &args.junit {
        std::fs::write(p, report::junit(&report)).map_err(|e| CliError::write(p, &e))?;
    }
    if let Some(p) = &args.html {
        std::fs::write(p, report::html(&report, &per_scenario)).map_err(|e| CliError::write(p, &e))?;
    }
    Ok(ExitCode::from(report.exit_status(args.allow_inconclusive)))
}

#[allow(clippy::too_many_arguments)]
pub fn build_report(
    ready: &common::Ready,
    schema: &fleetgate_simulator::schema::Schema,
    rel: &release::Release,
    fleet: &fleet::Fleet,
    per_scenario: &[(String, Vec<TrialResult>)],
    trials: u64,
    seed: u64,
    inputs: Inputs,
    setup: &Setup<'_>,
) -> Report {
    let package = ready.package_name();
    let summaries: Vec<_> = per_scenario.iter().map(|(name, rs)| result::summarise(name, &schema.rings, rs)).collect();
    let mut judged = Vec::new();
    for e in &rel.expectations {
        for (name, rs) in per_scenario {
            if e.scenario.as_ref().is_none_or(|s| s == name) {
                judged.push(result::judge(e, name, rs, fleet.devices));
            }
        }
    }
    let verdict = judged.iter().map(|j| j.verdict).max().unwrap_or(Verdict::Pass);
    Report {
        format: report::FORMAT,
        version: report::VERSION,
        package,
        release: rel.name.clone(),
        inputs,
        seed,
        trials,
        devices: fleet.devices,
        horizon_s: rel.horizon,
        timeline_step_s: f64::from(setup.timeline_step),
        early_stop: None,
        scenarios: summaries,
        expectations: judged,
        verdict,
    }
}
