//! Reference evaluator = bytecode interpreter, on random records and on every package test.
//!
//! `FLEETGATE_DIFF_RECORDS` sets how many random device records each example package gets (100,000
//! by default; CI runs more). Records come from `fleetgate_compiler::sample`, which aims at the
//! constants each condition compares with, missing fields, overflow and division by zero.

mod common;

use fleetgate_compiler::engine::{EngineKind, Engines, Input};
use fleetgate_compiler::sample::{Rng, Sampler};
use fleetgate_compiler::testing;
use fleetgate_runtime::ClauseBits;
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::decision;

const DEVICE_FUNCTIONS: [FunctionKind; 4] = [
    FunctionKind::Rails,
    FunctionKind::Health,
    FunctionKind::Constraints,
    FunctionKind::Rings,
];

fn check(a: EngineKind, b: EngineKind) {
    let records = common::count("FLEETGATE_DIFF_RECORDS", 100_000);
    let packages = common::example_packages();
    assert!(!packages.is_empty(), "no example packages under policies/");
    for dir in packages {
        let loaded = common::load(&dir);
        let engines = Engines::new(&loaded.package, &loaded.compiled);
        let sampler = Sampler::new(&loaded.package);
        let mut rng = Rng::new(0xf1ee7);
        let policy = &loaded.compiled.policy;
        let mut bits_a = ClauseBits::for_policy(policy);
        let mut bits_b = ClauseBits::for_policy(policy);
        let mut counters_a = vec![0u8; usize::from(loaded.compiled.artifact.n_counters)];
        let mut counters_b = counters_a.clone();
        let (mut fired, mut erroneous) = (0usize, 0usize);
        for i in 0..records {
            let rec = sampler.device(&mut rng);
            for kind in DEVICE_FUNCTIONS {
                engines
                    .run(a, kind, Input::Device(&rec), &mut bits_a)
                    .expect("engine a runs");
                engines
                    .run(b, kind, Input::Device(&rec), &mut bits_b)
                    .expect("engine b runs");
                assert_eq!(
                    bits_a,
                    bits_b,
                    "{}: {} and {} disagree on {kind:?} for record {i}: {rec:?}",
                    dir.display(),
                    a.name(),
                    b.name()
                );
            }
            fired += bits_a.iter_true().count();
            erroneous += bits_a.iter_error().count();
            // Health counters carry over between records, as consecutive checks of one device do.
            let versions = testing::plane_versions(&loaded.compiled, &rec);
            let da = decision::health(policy, &bits_a, &mut counters_a, &versions).verdict;
            let db = decision::health(policy, &bits_b, &mut counters_b, &versions).verdict;
            assert_eq!(da, db);
            assert_eq!(counters_a, counters_b);
            if i % 10 == 0 {
                for g in 0..loaded.compiled.artifact.rollout.gates.len() as u8 {
                    let gate = sampler.gate(&mut rng);
                    engines
                        .run(a, FunctionKind::Gate(g), Input::Gate(&gate), &mut bits_a)
                        .expect("engine a runs");
                    engines
                        .run(b, FunctionKind::Gate(g), Input::Gate(&gate), &mut bits_b)
                        .expect("engine b runs");
                    assert_eq!(
                        bits_a,
                        bits_b,
                        "{}: gate {g} disagrees on {gate:?}",
                        dir.display()
                    );
                    erroneous += bits_a.iter_error().count();
                }
            }
        }
        // The generator must reach both outcomes and errors, or the comparison proves little.
        assert!(
            fired > records / 10,
            "{}: only {fired} clauses fired over {records} records",
            dir.display()
        );
        assert!(
            erroneous > 0 || records < 1000,
            "{}: no erroneous clause over {records} records",
            dir.display()
        );
    }
}

#[test]
fn reference_equals_interpreter_on_random_records() {
    check(EngineKind::Reference, EngineKind::Interp);
}

#[test]
fn every_package_test_passes_on_every_engine() {
    for dir in common::example_packages() {
        let loaded = common::load(&dir);
        let engines = Engines::new(&loaded.package, &loaded.compiled);
        common::assert_package_tests_pass(&dir, &engines);
    }
}
