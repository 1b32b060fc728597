//! Policy evaluation speed: the same 10,000 `policies/edge-ai` device records through the reference
//! evaluator, the bytecode interpreter and hand-written Rust, each computing the rails decision.
//!
//! `cargo bench --bench eval`. Compare the medians of `eval/interp` and `eval/handwritten`: the goal
//! is an interpreter within 5x of hand-written code.

#[path = "support/edge_ai.rs"]
mod edge_ai;
#[path = "support/packages.rs"]
mod packages;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fleetgate_compiler::engine::{EngineKind, Engines, Input};
use fleetgate_compiler::sample::{Rng, Sampler};
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::{ClauseBits, Record, decision, interp};

const RECORDS: usize = 10_000;

fn eval(c: &mut Criterion) {
    let loaded = packages::load("edge-ai");
    let (pkg, compiled) = (&loaded.package, &loaded.compiled);
    let sampler = Sampler::new(pkg);
    let mut rng = Rng::new(2026);
    let records: Vec<_> = (0..RECORDS).map(|_| sampler.device(&mut rng)).collect();
    let engines = Engines::new(pkg, compiled);
    let hand = edge_ai::EdgeAiRails::new(pkg);
    let policy = &compiled.policy;
    let rails = policy.function(FunctionKind::Rails).expect("edge-ai has rails");

    let mut group = c.benchmark_group("eval");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("reference", |b| {
        let mut bits = ClauseBits::for_policy(policy);
        b.iter(|| {
            let mut n = 0u32;
            for rec in &records {
                engines.run(EngineKind::Reference, FunctionKind::Rails, Input::Device(rec), &mut bits).expect("runs");
                n += matches!(decision::rails(policy, &bits).verdict, decision::RailVerdict::Deny) as u32;
            }
            black_box(n)
        })
    });
    group.bench_function("interp", |b| {
        let mut bits = ClauseBits::for_policy(policy);
        b.iter(|| {
            let mut n = 0u32;
            for rec in &records {
                interp::run(policy, rails, &Record { slots: &rec.slots, missing: &rec.missing }, &mut bits).expect("runs");
                n += matches!(decision::rails(policy, &bits).verdict, decision::RailVerdict::Deny) as u32;
            }
            black_box(n)
        })
    });
    group.bench_function("handwritten", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for rec in &records {
                n += matches!(hand.decide(black_box(&rec.slots), &rec.missing).0, decision::RailVerdict::Deny) as u32;
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, eval);
criterion_main!(benches);
