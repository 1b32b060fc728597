//! `fleetgate simulate PATH`: Monte Carlo trials of the release's staged rollout over the fleet model,
//! judged against the release's expectations — a release gate for CI.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use fleetgate_simulator::engine::{self, Setup};
use fleetgate_simulator::input::{FileKind, fleet, release};
use fleetgate_simulator::report::{self, EarlyStop, Inputs, Meta, Report};
use fleetgate_simulator::result::TrialResult;
use fleetgate_simulator::shard::{self, Part};
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
    /// Rescale the fleet to this many devices, 1 to 100,000,000 (class shares are kept).
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
    /// Run only the trials `t` with `t mod N == K` and write them to `--out DIR` for `fleetgate merge`
    /// (how a run spreads over a CI matrix, a Kubernetes Indexed Job or a Slurm array).
    #[arg(long, value_name = "K/N", requires = "out", conflicts_with_all = ["json", "junit", "html", "until_decided"])]
    pub shard: Option<String>,
    /// Where a shard writes its part file (`part-K-of-N.json`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run trials in batches of `--trials` (in trial order) until every expectation is decided or
    /// `--max-trials` is reached; the report says how many were used.
    #[arg(long)]
    pub until_decided: bool,
    /// The most trials per scenario `--until-decided` runs (default: 20 batches).
    #[arg(long, requires = "until_decided")]
    pub max_trials: Option<u64>,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let ready = common::load_and_compile(&args.path, Format::Human)?;
    let pkg = &ready.package;
    let schema = inputs::schema(pkg);
    let fleet_path =
        inputs::default_input(args.fleet.as_deref(), &args.path, "fleet.toml", "fleet")?;
    let release_path = inputs::default_input(
        args.release.as_deref(),
        &args.path,
        "release.toml",
        "release",
    )?;
    let mut files = InputFiles::new();
    let fleet_text = files.add(FileKind::Fleet, &fleet_path)?;
    let release_text = files.add(FileKind::Release, &release_path)?;
    let mut fleet =
        fleet::parse(&fleet_text, &schema).map_err(|e| files.fail(&e, Format::Human))?;
    let rel = release::parse(&release_text, &schema, &fleet)
        .map_err(|e| files.fail(&e, Format::Human))?;
    if let Some(n) = args.devices {
        if !(1..=fleet::MAX_DEVICES).contains(&n) {
            return Err(CliError::usage(format!(
                "`--devices {n}` is not a fleet size the simulator runs"
            ))
            .help(format!(
                "give 1 to {}: a sample of the fleet gives the same rates",
                fleet::MAX_DEVICES
            )));
        }
        fleet.rescale(n);
    }
    let trials = args.trials.or(rel.trials).unwrap_or(100);
    if trials == 0 {
        return Err(CliError::usage("`--trials` must be at least 1"));
    }
    for name in &args.scenarios {
        if !rel.scenarios.iter().any(|s| s.name == *name) {
            let names: Vec<String> = rel
                .scenarios
                .iter()
                .map(|s| format!("`{}`", s.name))
                .collect();
            return Err(CliError::usage(format!(
                "no scenario `{name}` in `{}`",
                release_path.display()
            ))
            .help(format!("the scenarios are {}", names.join(", "))));
        }
    }
    let policy = &ready.compiled.policy;
    for p in [
        fleetgate_agents::Profile::Esp32c3,
        fleetgate_agents::Profile::Rk3566,
    ] {
        fleetgate_agents::Config::new(policy, p).map_err(|e| {
            CliError::usage(format!("the device agent cannot run this package: {e}"))
                .help("simplify the package within the agent's limits")
        })?;
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| CliError::usage(format!("cannot start threads: {e}")))?;

    let population = pool
        .install(|| fleetgate_simulator::population::generate(&fleet, &schema, policy, args.seed));
    let evaluator = fleetgate_agents::eval::Native::new(policy);
    let reasons: Vec<String> = ready
        .compiled
        .sidecar
        .clauses
        .iter()
        .map(|c| c.reason.clone())
        .collect();
    let setup = Setup::new(
        &schema,
        &fleet,
        &rel,
        policy,
        &population,
        &evaluator,
        args.seed,
        reasons,
    );

    let scenarios: Vec<&release::Scenario> = rel
        .scenarios
        .iter()
        .filter(|s| args.scenarios.is_empty() || args.scenarios.contains(&s.name))
        .collect();
    let package_bytes: Vec<u8> = ready
        .sources
        .iter()
        .flat_map(|(_, f)| f.name.bytes().chain([0]).chain(f.text.bytes()).chain([0]))
        .collect();
    let mut meta = Meta {
        package: ready.package_name(),
        release: rel.name.clone(),
        inputs: Inputs {
            package: report::fnv1a64(&package_bytes),
            fleet: report::fnv1a64(fleet_text.as_bytes()),
            release: report::fnv1a64(release_text.as_bytes()),
        },
        seed: args.seed,
        trials,
        devices: fleet.devices,
        horizon_s: rel.horizon,
        timeline_step_s: f64::from(setup.timeline_step),
        rings: schema.rings.clone(),
        expectations: rel.expectations.iter().map(|e| e.text.clone()).collect(),
        scenarios: scenarios.iter().map(|s| s.name.clone()).collect(),
    };
    let shard = match &args.shard {
        Some(text) => Some(shard::parse_shard(text).map_err(|e| {
            CliError::usage(e).help("write `--shard K/N` with 0 <= K < N, e.g. `--shard 0/4`")
        })?),
        None => None,
    };
    let run_trials = |which: &mut dyn Iterator<Item = u64>,
                      bar: &Option<indicatif::ProgressBar>,
                      s: &release::Scenario|
     -> Vec<TrialResult> {
        let mut results = Vec::new();
        for t in which {
            results.push(pool.install(|| engine::run_trial(&setup, s, t)));
            if let Some(b) = bar {
                b.inc(1);
            }
        }
        results
    };
    let progress = |total: u64| {
        std::io::stderr().is_terminal().then(|| {
            let b = indicatif::ProgressBar::new(total);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:28} [{bar:40}] {pos}/{len} trials, {eta} left",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        })
    };

    let mut per_scenario: Vec<(String, Vec<TrialResult>)> = scenarios
        .iter()
        .map(|s| (s.name.clone(), Vec::new()))
        .collect();
    let mut early_stop = None;
    if let Some((k, n)) = shard {
        let mine = (0..trials).filter(|t| t % n == k).count() as u64;
        let bar = progress(mine * scenarios.len() as u64);
        for (s, (_, results)) in scenarios.iter().zip(per_scenario.iter_mut()) {
            if let Some(b) = &bar {
                b.set_message(s.name.clone());
            }
            *results = run_trials(&mut (0..trials).filter(|t| t % n == k), &bar, s);
        }
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let dir = args.out.clone().unwrap_or_default();
        std::fs::create_dir_all(&dir).map_err(|e| CliError::write(&dir, &e))?;
        let path = dir.join(Part::file_name(k, n));
        let part = Part::new(k, n, meta, per_scenario);
        let text = serde_json::to_string(&part)
            .map_err(|e| CliError::usage(format!("cannot encode the part: {e}")))?;
        std::fs::write(&path, text).map_err(|e| CliError::write(&path, &e))?;
        crate::outln!(
            "wrote {}: {mine} of {trials} trials of {} scenario(s); combine the parts with `fleetgate merge`",
            path.display(),
            scenarios.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.until_decided {
        let max = args
            .max_trials
            .unwrap_or(trials.saturating_mul(20))
            .max(trials);
        let bar = progress(max * scenarios.len() as u64);
        let mut used = 0u64;
        let decided = loop {
            let next = (used + trials).min(max);
            for (s, (_, results)) in scenarios.iter().zip(per_scenario.iter_mut()) {
                if let Some(b) = &bar {
                    b.set_message(s.name.clone());
                }
                results.extend(run_trials(&mut (used..next), &bar, s));
            }
            used = next;
            meta.trials = used;
            let so_far = report::build(&meta, &per_scenario, None);
            let decided = so_far
                .expectations
                .iter()
                .all(|j| j.verdict != Verdict::Inconclusive);
            if decided || used >= max {
                break decided;
            }
        };
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        early_stop = Some(EarlyStop {
            batch: trials,
            max_trials: max,
            trials_used: used,
            decided,
        });
    } else {
        let bar = progress(trials * scenarios.len() as u64);
        for (s, (_, results)) in scenarios.iter().zip(per_scenario.iter_mut()) {
            if let Some(b) = &bar {
                b.set_message(s.name.clone());
            }
            *results = run_trials(&mut (0..trials), &bar, s);
        }
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
    }
    let report = report::build(&meta, &per_scenario, early_stop);
    write_reports(
        &report,
        &per_scenario,
        args.json.as_deref(),
        args.junit.as_deref(),
        args.html.as_deref(),
    )?;
    Ok(ExitCode::from(report.exit_status(args.allow_inconclusive)))
}

/// Prints the summary and writes the requested reports (shared with `merge`).
pub fn write_reports(
    report: &Report,
    per_scenario: &[(String, Vec<TrialResult>)],
    json: Option<&std::path::Path>,
    junit: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
) -> Result<(), CliError> {
    crate::out!("{}", report::human(report));
    if let Some(e) = &report.early_stop {
        crate::outln!(
            "early stopping: {} trials per scenario{}",
            e.trials_used,
            if e.decided {
                ", every expectation decided"
            } else {
                "; the maximum was reached before every expectation was decided"
            }
        );
    }
    if let Some(p) = json {
        std::fs::write(p, report.to_json()).map_err(|e| CliError::write(p, &e))?;
    }
    if let Some(p) = junit {
        std::fs::write(p, report::junit(report)).map_err(|e| CliError::write(p, &e))?;
    }
    if let Some(p) = html {
        std::fs::write(p, report::html(report, per_scenario))
            .map_err(|e| CliError::write(p, &e))?;
    }
    Ok(())
}
