//! Simulator speed: generating the edge-ai fleet, and one trial of its nominal scenario, at 100,000
//! devices. `cargo bench --bench sim`; `FLEETGATE_SIM_DEVICES` sets another fleet size (the scale
//! figure of issue 8 is one 1,000,000-device trial on 2 threads).
//!
//! `sim/trial` reports device events per second (events of one trial / its time); `sim/fleet_gen`
//! devices per second. Both run inside a thread pool of the machine's parallelism (2 here;
//! `FLEETGATE_SIM_THREADS` sets another), as `fleetgate simulate` runs them: the planner's part of a
//! tick then runs on one of the pool's threads, not on a caller that hands every parallel region to
//! the pool and waits.

#[path = "support/packages.rs"]
mod packages;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fleetgate::cmd::inputs;
use fleetgate_simulator::engine::{self, Evaluator, Setup};
use fleetgate_simulator::input::{fleet, release};
use fleetgate_simulator::population;

fn sim(c: &mut Criterion) {
    let devices: u64 = std::env::var("FLEETGATE_SIM_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let loaded = packages::load("edge-ai");
    let schema = inputs::schema(&loaded.package);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/edge-ai");
    let fleet_text = std::fs::read_to_string(root.join("fleet.toml")).expect("fleet.toml");
    let release_text = std::fs::read_to_string(root.join("release.toml")).expect("release.toml");
    let mut fleet = fleet::parse(&fleet_text, &schema).expect("the fleet parses");
    fleet.rescale(devices);
    let rel = release::parse(&release_text, &schema, &fleet).expect("the release parses");
    let policy = &loaded.compiled.policy;
    let nominal = rel
        .scenarios
        .iter()
        .find(|s| s.name == "nominal")
        .expect("a nominal scenario");

    let threads = std::env::var("FLEETGATE_SIM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");

    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.throughput(Throughput::Elements(devices));
    group.bench_function("fleet_gen", |b| {
        b.iter(|| black_box(pool.install(|| population::generate(&fleet, &schema, policy, 1))))
    });

    let pop = pool.install(|| population::generate(&fleet, &schema, policy, 1));
    let evaluator = Evaluator::new(policy);
    let reasons = loaded.reasons();
    let setup = Setup::new(&schema, &fleet, &rel, policy, &pop, &evaluator, 1, reasons);
    let events = pool
        .install(|| engine::run_trial(&setup, nominal, 0))
        .events;
    group.throughput(Throughput::Elements(events));
    group.bench_function("trial", |b| {
        b.iter(|| black_box(pool.install(|| engine::run_trial(&setup, nominal, 0))))
    });
    group.finish();
}

criterion_group!(benches, sim);
criterion_main!(benches);
