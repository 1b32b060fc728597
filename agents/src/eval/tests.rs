//! Evaluators on the edge-ai policy.

use super::*;
use crate::machine::tests::edge_ai;
use crate::record::RecordBuf;

#[test]
fn the_interpreter_runs_each_function_kind() {
    let policy = edge_ai();
    let rec = RecordBuf::new(policy);
    let mut bits = ClauseBits::for_policy(policy);
    for kind in [
        FunctionKind::Rails,
        FunctionKind::Health,
        FunctionKind::Constraints,
    ] {
        Interp::new(policy)
            .eval(kind, &rec.record(), &mut bits)
            .unwrap();
    }
    // A record that does not fit the policy is an error, not a panic.
    let short = Record {
        slots: &[1, 2],
        missing: &[0],
    };
    assert!(
        Interp::new(policy)
            .eval(FunctionKind::Rails, &short, &mut bits)
            .is_err()
    );
}

#[test]
fn profiles_pick_their_engine() {
    let policy = edge_ai();
    assert_eq!(
        ProfileEvaluator::new(policy, Profile::Esp32c3).engine(),
        "interpreter"
    );
    let rk = ProfileEvaluator::new(policy, Profile::Rk3566).engine();
    assert!(rk == "native" || rk == "interpreter");
}
