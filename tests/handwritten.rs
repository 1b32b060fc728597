//! The hand-written edge-ai rails of `benches/eval.rs` decide exactly as the compiled policy does, on
//! the same kind of records the benchmark uses: otherwise the comparison would be meaningless.

#[path = "../benches/support/edge_ai.rs"]
mod edge_ai;
#[path = "../benches/support/packages.rs"]
mod packages;

use fleetgate_compiler::sample::{Rng, Sampler};
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::{ClauseBits, Record, decision, interp};

#[test]
fn handwritten_rails_decide_as_the_interpreter() {
    let loaded = packages::load("edge-ai");
    let sampler = Sampler::new(&loaded.package);
    let hand = edge_ai::EdgeAiRails::new(&loaded.package);
    let policy = &loaded.compiled.policy;
    let rails = policy.function(FunctionKind::Rails).expect("rails");
    let mut bits = ClauseBits::for_policy(policy);
    let mut rng = Rng::new(2026);
    let mut verdicts = std::collections::BTreeMap::new();
    for i in 0..50_000 {
        let rec = sampler.device(&mut rng);
        interp::run(
            policy,
            rails,
            &Record {
                slots: &rec.slots,
                missing: &rec.missing,
            },
            &mut bits,
        )
        .expect("runs");
        let d = decision::rails(policy, &bits);
        let want_fired: u64 = d.fired().map(|c| 1u64 << c.0).sum();
        let (got, fired) = hand.decide(&rec.slots, &rec.missing);
        assert_eq!(got, d.verdict, "record {i}: {rec:?}");
        assert_eq!(fired, want_fired, "record {i}: {rec:?}");
        let want = d.verdict;
        *verdicts.entry(format!("{want:?}")).or_insert(0) += 1;
    }
    // Every kind of verdict must come up, or the check proves little.
    assert!(verdicts.len() >= 4, "{verdicts:?}");
}
