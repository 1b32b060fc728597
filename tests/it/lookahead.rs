//! The simulator runs devices' updates ahead of the planner's ticks (`Setup::lookahead`) and replays
//! them when the planner aborts before their time: on the edge-ai package, with its partitions,
//! bricks, scenario effects and `per` gates, every trial of every scenario must come out exactly as
//! in a run that advances every device tick by tick.

#[path = "../../benches/support/packages.rs"]
mod packages;

use fleetgate::cmd::inputs;
use fleetgate_simulator::engine::{self, Evaluator, Setup};
use fleetgate_simulator::input::{fleet, release};
use fleetgate_simulator::population;
use fleetgate_simulator::result::Outcome;

#[test]
fn running_updates_ahead_changes_no_trial_of_any_edge_ai_scenario() {
    let loaded = packages::load("edge-ai");
    let schema = inputs::schema(&loaded.package);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/edge-ai");
    let read = |f: &str| std::fs::read_to_string(root.join(f)).expect("readable input");
    let mut fleet = fleet::parse(&read("fleet.toml"), &schema).expect("the fleet parses");
    fleet.rescale(50_000);
    let rel = release::parse(&read("release.toml"), &schema, &fleet).expect("the release parses");
    let policy = &loaded.compiled.policy;
    let pop = population::generate(&fleet, &schema, policy, 3);
    let evaluator = Evaluator::new(policy);
    let reasons = loaded.reasons();
    let setup = |lookahead: bool| {
        let mut s = Setup::new(
            &schema,
            &fleet,
            &rel,
            policy,
            &pop,
            &evaluator,
            3,
            reasons.clone(),
        );
        s.lookahead = lookahead;
        // Parallel chunks even for small ticks, so that run-ahead visits come from many chunks.
        s.serial_limit = 0;
        s.min_chunk = 64;
        s
    };
    let (ahead, tick_by_tick) = (setup(true), setup(false));
    let mut aborted = 0;
    for scenario in &rel.scenarios {
        for trial in 0..2 {
            let a = engine::run_trial(&ahead, scenario, trial);
            let b = engine::run_trial(&tick_by_tick, scenario, trial);
            aborted += usize::from(matches!(a.outcome, Outcome::Aborted { .. }));
            assert_eq!(
                serde_json::to_string(&a).ok(),
                serde_json::to_string(&b).ok(),
                "{}, trial {trial}: running ahead changed the result",
                scenario.name
            );
        }
    }
    assert!(aborted > 0, "no trial aborted: the replay went untested");
}
