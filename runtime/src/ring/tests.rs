//! The gate record (derived fields, Wilson bound against hand-computed values), ring points and ring
//! assignment.

use super::*;
use crate::interp::Cond;
use crate::testutil::sample_policy;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn wilson_upper_bound_matches_hand_computed_values() {
    // (k, n, bound) computed with the closed form in double precision.
    let cases = [
        (0, 100, 0.026342720783174324),
        (5, 100, 0.09916108527905278),
        (1, 10, 0.34771866733585843),
        (0, 1, 0.7301340512159458),
        (3, 300, 0.024755754031943144),
    ];
    for (k, n, expected) in cases {
        let got = wilson_upper(k, n);
        assert!(close(got, expected), "{k}/{n}: {got} != {expected}");
    }
    assert_eq!(wilson_upper(10, 10), 1.0, "clamped at 1");
    assert_eq!(wilson_upper(0, 0), 1.0, "nothing known");
    assert_eq!(
        wilson_upper(20, 10),
        1.0,
        "more failures than done is clamped"
    );
    assert!(wilson_upper(u64::MAX, u64::MAX) <= 1.0);
}

#[test]
fn gate_record_fields() {
    let ring = RingCounts {
        size: 2500,
        offered: 500,
        deferred: 7,
        denied: 3,
        updating: 20,
        verifying: 10,
        succeeded: 95,
        failed: 2,
        rolled_back: 2,
        bricked: 1,
        offline: 4,
        exposed: 120,
        soak_secs: 90_000,
    };
    let rollout = RingCounts {
        size: u64::MAX,
        soak_secs: -5,
        ..RingCounts::default()
    };
    let mut out = [0u64; GATE_SLOTS];
    fill_gate_record(&ring, &rollout, &mut out);
    let int = |s: GateSlot| out[s.ring()] as i64;
    let float = |i: usize| f64::from_bits(out[i]);
    assert_eq!(int(GateSlot::Size), 2500);
    assert_eq!(int(GateSlot::Offered), 500);
    assert_eq!(int(GateSlot::Deferred), 7);
    assert_eq!(int(GateSlot::Denied), 3);
    assert_eq!(int(GateSlot::Updating), 20);
    assert_eq!(int(GateSlot::Verifying), 10);
    assert_eq!(int(GateSlot::Succeeded), 95);
    assert_eq!(int(GateSlot::Failed), 2);
    assert_eq!(int(GateSlot::RolledBack), 2);
    assert_eq!(int(GateSlot::Bricked), 1);
    assert_eq!(int(GateSlot::Offline), 4);
    assert_eq!(int(GateSlot::Exposed), 120);
    assert_eq!(int(GateSlot::Done), 100);
    assert_eq!(float(GateSlot::SuccessRate.ring()), 0.95);
    assert_eq!(float(GateSlot::FailureRate.ring()), 0.05);
    assert!(close(
        float(GateSlot::FailureUpper.ring()),
        0.09916108527905278
    ));
    assert_eq!(int(GateSlot::Soak), 90_000);
    // rollout.*: nothing done yet.
    assert_eq!(
        out[GateSlot::Size.rollout()] as i64,
        i64::MAX,
        "counts saturate"
    );
    assert_eq!(float(GateSlot::SuccessRate.rollout()), 0.0);
    assert_eq!(float(GateSlot::FailureRate.rollout()), 0.0);
    assert_eq!(float(GateSlot::FailureUpper.rollout()), 1.0);
    assert_eq!(out[GateSlot::Soak.rollout()] as i64, -5);
    assert_eq!(GateSlot::Soak.rollout(), GATE_SLOTS - 1);
}

#[test]
fn gate_slot_names_and_order() {
    for (i, s) in GateSlot::ALL.iter().enumerate() {
        assert_eq!(s.ring(), i);
        assert_eq!(GateSlot::from_name(s.name()), Some(*s));
    }
    assert_eq!(
        GateSlot::from_name("rolled_back"),
        Some(GateSlot::RolledBack)
    );
    assert_eq!(GateSlot::from_name("nope"), None);
    assert_eq!(
        GateSlot::FailureUpper.slot_type(),
        crate::artifact::SlotType::Float
    );
    assert_eq!(
        GateSlot::Soak.slot_type(),
        crate::artifact::SlotType::Duration
    );
    assert_eq!(
        GateSlot::Exposed.slot_type(),
        crate::artifact::SlotType::Int
    );
}

#[test]
fn ring_points_are_fnv1a_scaled() {
    // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
    assert_eq!(ring_point(b""), 796_670);
    assert_eq!(ring_point(b"a"), 685_117);
    assert_eq!(ring_point(b"device-0001"), 462_526);
    assert_eq!(ring_point(b"esp32c3-00:11:22:33:44:55"), 166_322);
    for i in 0..1000u32 {
        assert!(ring_point(&i.to_le_bytes()) < PPM);
    }
}

#[test]
fn assign_ring_uses_shares_and_filters() {
    // Rings: canary 5_000 ppm where region == eu_west (clause 10), early 20_000, broad 200_000, full.
    let policy = sample_policy();
    let mut bits = crate::interp::ClauseBits::for_policy(&policy);
    let filter = crate::interp::ClauseId(10);
    bits.set(filter, Cond::True);
    assert_eq!(assign_ring(&policy, 0, &bits), Some(0));
    assert_eq!(assign_ring(&policy, 4_999, &bits), Some(0));
    assert_eq!(
        assign_ring(&policy, 5_000, &bits),
        Some(1),
        "share must exceed the point"
    );
    assert_eq!(assign_ring(&policy, 199_999, &bits), Some(2));
    assert_eq!(assign_ring(&policy, 999_999, &bits), Some(3));
    assert_eq!(assign_ring(&policy, 1_000_000, &bits), None);
    bits.set(filter, Cond::False);
    assert_eq!(
        assign_ring(&policy, 10, &bits),
        Some(1),
        "filtered out of the canary"
    );
    bits.set(filter, Cond::Error);
    assert_eq!(
        assign_ring(&policy, 10, &bits),
        Some(1),
        "an erroneous filter does not match"
    );
}
