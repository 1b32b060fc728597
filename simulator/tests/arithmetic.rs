//! The simulator against arithmetic: small fleets where the answer is known in closed form.
//!
//! - With fixed failure probabilities and no partitions, the number of failed devices per trial is
//!   binomial: its mean and spread over trials must match.
//! - A gate with one abort threshold aborts exactly when the canary's failures reach it, so the share
//!   of aborted trials must agree with the binomial tail.
//! - A trial's result does not depend on the number of threads.

use fleetgate_compiler::Compiled;
use fleetgate_lang::Sources;
use fleetgate_simulator::engine::{self, Evaluator, Setup};
use fleetgate_simulator::input::{fleet, release};
use fleetgate_simulator::population;
use fleetgate_simulator::result::{Outcome, TrialResult};
use fleetgate_simulator::schema::{FieldSchema, FieldType, Schema};
use fleetgate_simulator::stats;

const POLICY: &str = r#"
enum Hw { mcu }
device { hw: Hw }
rollout {
  check every 1m
  verify for 5m
  ring canary = 20%
  ring full = 100%
}
gate canary -> full {
  soak 2d
  require ring.done >= ring.size
  abort "three failures" when ring.failed >= 3
}
"#;

fn fleet_toml(devices: u64, install: f64) -> String {
    format!(
        r#"
devices = {devices}
[[class]]
name = "mcu"
share = 1.0
profile = "esp32c3"
poll_every = "1h"
bandwidth_kbps = 1000.0
failure = {{ install = {install} }}
fields.hw = "mcu"
fields.firmware = "v1.0.0"
fields.model = "v1.0.0"
fields.config = "v1.0.0"
"#
    )
}

const RELEASE: &str = r#"
name = "fw-2"
firmware = { version = "v2.0.0", size_kb = 100 }
horizon = "10d"
"#;

/// The same package with a gate that never aborts: every device gets the release.
fn without_abort() -> String {
    POLICY.replace("  abort \"three failures\" when ring.failed >= 3\n", "")
}

struct Run {
    schema: Schema,
    compiled: Compiled,
}

fn compile(policy: &str) -> Run {
    let mut sources = Sources::new();
    sources.add("test.policy", policy);
    let checked = fleetgate_lang::check(&sources);
    let pkg = checked
        .package
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
    let compiled = fleetgate_compiler::compile(&pkg, &sources).expect("compiles");
    let schema = Schema {
        fields: vec![FieldSchema {
            name: "hw".into(),
            ty: FieldType::Enum("Hw".into(), vec!["mcu".into()]),
            optional: false,
        }],
        planes: vec!["firmware".into(), "model".into(), "config".into()],
        rings: vec!["canary".into(), "full".into()],
        gates: vec!["canary -> full".into()],
        per_fields: vec![],
    };
    Run { schema, compiled }
}

/// Runs `trials` trials; returns them and the canary's size.
fn simulate(
    policy: &str,
    devices: u64,
    install: f64,
    trials: u64,
    threads: usize,
) -> (Vec<TrialResult>, usize) {
    simulate_with(policy, devices, install, trials, threads, true)
}

/// `simulate`, with devices running their updates ahead of the ticks or not.
fn simulate_with(
    policy: &str,
    devices: u64,
    install: f64,
    trials: u64,
    threads: usize,
    lookahead: bool,
) -> (Vec<TrialResult>, usize) {
    let run = compile(policy);
    let fleet = fleet::parse(&fleet_toml(devices, install), &run.schema)
        .unwrap_or_else(|e| panic!("{e:#?}"));
    let rel = release::parse(RELEASE, &run.schema, &fleet).unwrap_or_else(|e| panic!("{e:#?}"));
    let policy = &run.compiled.policy;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("threads");
    let pop = pool.install(|| population::generate(&fleet, &run.schema, policy, 7));
    let evaluator = Evaluator::new(policy);
    let reasons = run
        .compiled
        .sidecar
        .clauses
        .iter()
        .map(|c| c.reason.clone())
        .collect();
    let mut setup = Setup::new(
        &run.schema,
        &fleet,
        &rel,
        policy,
        &pop,
        &evaluator,
        7,
        reasons,
    );
    // Small parallel chunks, so that every tick's devices are spread over the threads.
    setup.serial_limit = 0;
    setup.min_chunk = 4;
    setup.lookahead = lookahead;
    let scenario = &rel.scenarios[0];
    let results = (0..trials)
        .map(|t| pool.install(|| engine::run_trial(&setup, scenario, t)))
        .collect();
    (results, pop.ring_devices[0].len())
}

#[test]
fn failures_are_binomial() {
    // One install attempt each, failing with probability p, nothing else going wrong, no abort: the
    // failed count of a trial is binomial(n, p).
    let (n, p, trials) = (2000u64, 0.1, 40u64);
    let (results, _) = simulate(&without_abort(), n, p, trials, 2);
    assert!(
        results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Completed)),
        "a gate without abort completes"
    );
    let failed: Vec<f64> = results.iter().map(|r| r.counts.failed as f64).collect();
    assert!(
        results
            .iter()
            .all(|r| r.counts.failed + r.counts.succeeded == n),
        "every device ends failed or succeeded"
    );
    let mean = failed.iter().sum::<f64>() / failed.len() as f64;
    let var =
        failed.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (failed.len() - 1) as f64;
    let (m, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
    let se = sd / (trials as f64).sqrt();
    assert!(
        (mean - m).abs() < 4.0 * se,
        "mean {mean} vs binomial {m} (se {se}) over {trials} trials"
    );
    // The sample standard deviation of 40 normal draws lies within ±40% of sd with overwhelming odds.
    assert!(
        var.sqrt() > 0.6 * sd && var.sqrt() < 1.4 * sd,
        "spread {} vs binomial {sd}",
        var.sqrt()
    );
}

#[test]
fn a_gate_aborts_with_the_binomial_tail_probability() {
    let (n, p, trials) = (500u64, 0.02, 120u64);
    let (results, canary) = simulate(POLICY, n, p, trials, 2);
    let aborted = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Aborted { .. }))
        .count() as u64;
    // Abort iff the canary has at least 3 failures: 1 - P(X <= 2), X ~ binomial(canary, p).
    let expected = 1.0 - stats::binomial_cdf(canary as u64, 2, p);
    let iv = stats::proportion(aborted, trials);
    // Two one-sided 95% bounds: a 90% interval; widen to 99.8% by using the 0.001 quantile bounds.
    let lo = (0..=aborted)
        .rev()
        .find(|&k| stats::binomial_cdf(trials, k, expected) <= 0.001)
        .unwrap_or(0);
    let hi_ok = 1.0 - stats::binomial_cdf(trials, aborted.saturating_sub(1), expected) > 0.001;
    assert!(
        aborted > lo && hi_ok,
        "{aborted}/{trials} aborted, expected probability {expected:.3} (canary {canary}); 90% bounds {iv:?}"
    );
}

#[test]
fn results_do_not_depend_on_threads() {
    let one = simulate(POLICY, 3000, 0.01, 2, 1).0;
    for threads in [2, 8] {
        let other = simulate(POLICY, 3000, 0.01, 2, threads).0;
        assert_eq!(
            serde_json::to_string(&one).ok(),
            serde_json::to_string(&other).ok(),
            "{threads} threads differ from 1"
        );
    }
}

#[test]
fn running_updates_ahead_of_the_ticks_changes_nothing_even_when_the_planner_aborts() {
    // Devices run downloads, installs, boots and health checks ahead of the planner's ticks, and
    // are replayed when an abort comes before those events' time: trial for trial, the results must
    // be those of a run that advances every device tick by tick.
    let (p, trials) = (0.03, 24u64);
    let ahead = simulate_with(POLICY, 400, p, trials, 2, true).0;
    let tick_by_tick = simulate_with(POLICY, 400, p, trials, 2, false).0;
    let aborted = ahead
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Aborted { .. }))
        .count();
    assert!(
        aborted > 0 && aborted < ahead.len(),
        "{aborted} of {trials} trials aborted: the test needs both kinds"
    );
    for (a, b) in ahead.iter().zip(&tick_by_tick) {
        assert_eq!(
            serde_json::to_string(a).ok(),
            serde_json::to_string(b).ok(),
            "trial {} differs",
            a.trial
        );
    }
}
