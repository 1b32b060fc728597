//! Reference evaluator = bytecode interpreter = native code, on random records and on every package
//! test; and batches = one record at a time, for both the interpreter and native code.
//!
//! Needs the `native` feature (`cargo test -p fleetgate-compiler --features native`; a plain
//! `cargo test` at the root has it, because the CLI enables it). `FLEETGATE_DIFF_RECORDS` sets how
//! many random device records each example package gets (100,000 by default; CI runs more).
#![cfg(feature = "native")]

mod common;

use fleetgate_compiler::engine::{EngineKind, Engines, Input};
use fleetgate_compiler::layout::DeviceRecord;
use fleetgate_compiler::sample::{Rng, Sampler};
use fleetgate_compiler::testing;
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::native::NativePolicy;
use fleetgate_runtime::ring::GATE_SLOTS;
use fleetgate_runtime::{ClauseBits, Policy, decision, interp};

const DEVICE_FUNCTIONS: [FunctionKind; 4] = [
    FunctionKind::Rails,
    FunctionKind::Health,
    FunctionKind::Constraints,
    FunctionKind::Rings,
];
const ENGINES: [EngineKind; 3] = [
    EngineKind::Reference,
    EngineKind::Interp,
    EngineKind::Native,
];

fn engines<'a>(loaded: &'a common::Loaded) -> Engines<'a> {
    let mut engines = Engines::new(&loaded.package, &loaded.compiled);
    engines
        .compile_native()
        .unwrap_or_else(|e| panic!("native code for this package: {e}"));
    assert!(engines.available().contains(&EngineKind::Native));
    engines
}

/// Runs `kind` on `input` with every engine; asserts they agree; returns the conditions.
fn all_agree(
    engines: &Engines<'_>,
    bits: &mut [ClauseBits; 3],
    kind: FunctionKind,
    input: Input<'_>,
    what: &dyn Fn() -> String,
) {
    for (engine, bits) in ENGINES.iter().zip(bits.iter_mut()) {
        engines
            .run(*engine, kind, input, bits)
            .unwrap_or_else(|e| panic!("{} fails on {}: {e}", engine.name(), what()));
    }
    assert_eq!(
        bits[0],
        bits[1],
        "reference and interp disagree on {kind:?}, {}",
        what()
    );
    assert_eq!(
        bits[1],
        bits[2],
        "interp and native disagree on {kind:?}, {}",
        what()
    );
}

#[test]
fn reference_interpreter_and_native_agree_on_random_records() {
    let records = common::count("FLEETGATE_DIFF_RECORDS", 100_000);
    let packages = common::example_packages();
    assert!(!packages.is_empty(), "no example packages under policies/");
    for dir in packages {
        let loaded = common::load(&dir);
        let engines = engines(&loaded);
        let sampler = Sampler::new(&loaded.package);
        let mut rng = Rng::new(0x0ace_f00d);
        let policy = &loaded.compiled.policy;
        let mut bits = [(); 3].map(|_| ClauseBits::for_policy(policy));
        let n_counters = usize::from(loaded.compiled.artifact.n_counters);
        let mut counters = [(); 3].map(|_| vec![0u8; n_counters]);
        let (mut fired, mut erroneous) = (0usize, 0usize);
        for i in 0..records {
            let rec = sampler.device(&mut rng);
            let what = || format!("{}: record {i}: {rec:?}", dir.display());
            for kind in DEVICE_FUNCTIONS {
                all_agree(&engines, &mut bits, kind, Input::Device(&rec), &what);
            }
            fired += bits[0].iter_true().count();
            erroneous += bits[0].iter_error().count();
            // Health counters carry over between records, as consecutive checks of one device do.
            let versions = testing::plane_versions(&loaded.compiled, &rec);
            let verdicts: Vec<_> = bits
                .iter()
                .zip(counters.iter_mut())
                .map(|(b, c)| decision::health(policy, b, c, &versions).verdict)
                .collect();
            assert!(verdicts.windows(2).all(|w| w[0] == w[1]), "{}", what());
            assert!(counters.windows(2).all(|w| w[0] == w[1]), "{}", what());
            if i % 10 == 0 {
                for g in 0..loaded.compiled.artifact.rollout.gates.len() as u8 {
                    let gate = sampler.gate(&mut rng);
                    let what = || format!("{}: gate {g} on {gate:?}", dir.display());
                    all_agree(
                        &engines,
                        &mut bits,
                        FunctionKind::Gate(g),
                        Input::Gate(&gate),
                        &what,
                    );
                    erroneous += bits[0].iter_error().count();
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
fn every_package_test_passes_on_every_engine() {
    for dir in common::example_packages() {
        let loaded = common::load(&dir);
        let ran = common::assert_package_tests_pass(&dir, &engines(&loaded));
        assert_eq!(ran, ENGINES);
    }
}

/// Runs function `kind` on `records` (slots, missing) one at a time with the interpreter, and as one
/// batch with the interpreter and with native code; asserts all three agree, row by row, and that
/// `ClauseBits::load_words` gives the batch rows to the decision code.
fn batch_agrees(
    policy: &Policy,
    native: &NativePolicy,
    kind: FunctionKind,
    records: &[(Vec<u64>, Vec<u64>)],
    what: &str,
) {
    let f = policy.function(kind).expect("the function exists");
    let words = ClauseBits::words_for(policy.n_clauses());
    let slots: Vec<u64> = records.iter().flat_map(|r| r.0.iter().copied()).collect();
    let missing: Vec<u64> = records.iter().flat_map(|r| r.1.iter().copied()).collect();
    let n = records.len();
    let (mut it, mut ie) = (vec![0u64; n * words], vec![0u64; n * words]);
    let (mut nt, mut ne) = (vec![0u64; n * words], vec![0u64; n * words]);
    interp::run_batch(policy, f, &slots, &missing, &mut it, &mut ie)
        .expect("interpreter batch runs");
    native
        .run_batch(kind, &slots, &missing, &mut nt, &mut ne)
        .expect("native batch runs");
    assert!(
        it == nt && ie == ne,
        "{what}: interpreter and native batches differ on {kind:?}"
    );
    let mut single = ClauseBits::for_policy(policy);
    let mut row = ClauseBits::for_policy(policy);
    for (i, (s, m)) in records.iter().enumerate() {
        single.clear();
        interp::run(
            policy,
            f,
            &fleetgate_runtime::Record {
                slots: s,
                missing: m,
            },
            &mut single,
        )
        .expect("runs");
        assert!(row.load_words(
            &it[i * words..(i + 1) * words],
            &ie[i * words..(i + 1) * words]
        ));
        assert_eq!(
            row, single,
            "{what}: batch row {i} differs from the single run on {kind:?}"
        );
        if kind == FunctionKind::Rails {
            assert_eq!(
                decision::rails(policy, &row).verdict,
                decision::rails(policy, &single).verdict
            );
        }
    }
}

#[test]
fn batches_equal_single_runs_on_both_engines() {
    for dir in common::example_packages() {
        let loaded = common::load(&dir);
        let policy = &loaded.compiled.policy;
        let native = NativePolicy::new(policy).expect("native code");
        let sampler = Sampler::new(&loaded.package);
        let mut rng = Rng::new(0xba7c4);
        // 1, a block and a bit, and many blocks: partial blocks and block boundaries.
        for n in [1usize, 70, 3_000] {
            let devices: Vec<(Vec<u64>, Vec<u64>)> = (0..n)
                .map(|_| {
                    let DeviceRecord { slots, missing } = sampler.device(&mut rng);
                    (slots, missing)
                })
                .collect();
            for kind in DEVICE_FUNCTIONS {
                batch_agrees(policy, &native, kind, &devices, &dir.display().to_string());
            }
            let gates: Vec<(Vec<u64>, Vec<u64>)> = (0..n)
                .map(|_| (sampler.gate(&mut rng).to_vec(), vec![0]))
                .collect();
            assert!(gates.iter().all(|g| g.0.len() == GATE_SLOTS));
            for g in 0..loaded.compiled.artifact.rollout.gates.len() as u8 {
                batch_agrees(
                    policy,
                    &native,
                    FunctionKind::Gate(g),
                    &gates,
                    &dir.display().to_string(),
                );
            }
        }
    }
}
