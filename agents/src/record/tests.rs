//! Device records: clock slots, release targets, missing optional fields.

use super::*;
use crate::machine::tests::edge_ai;
use fleetgate_runtime::value::pack_version;

#[test]
fn the_clock_gives_hour_and_weekday() {
    // 1970-01-01 was a Thursday (`mon` = 0).
    assert_eq!((hour_of(0), weekday_of(0)), (0, 3));
    assert_eq!(
        (hour_of(86_400 * 4 + 3 * 3600 + 59), weekday_of(86_400 * 4)),
        (3, 0)
    );
    assert_eq!(hour_of(u32::MAX), u64::from(u32::MAX / 3600 % 24));
}

#[test]
fn release_targets_are_missing_where_the_release_leaves_a_plane() {
    let policy = edge_ai();
    let mut rec = RecordBuf::new(policy);
    let fw = pack_version(1, 5, 0);
    rec.set_release(policy, Some(&Desired::new(3).with(0, fw)));
    let slot = |p| policy.release_slot(p).unwrap();
    assert_eq!(rec.get(slot(0)), Some(fw));
    assert_eq!(rec.get(slot(1)), None);
    rec.set_release(policy, None);
    assert_eq!(rec.get(slot(0)), None);
}

#[test]
fn only_optional_slots_go_missing() {
    let policy = edge_ai();
    let mut rec = RecordBuf::new(policy);
    // Slot 0 is `device.hw`, slot 6 `device.rssi_dbm?`.
    assert!(!rec.set_missing(0));
    assert_eq!(rec.get(6), None);
    assert!(rec.set(6, 7));
    assert_eq!(rec.get(6), Some(7));
    assert!(rec.set_missing(6));
    assert!(!rec.set(999, 1));
    let mut other = RecordBuf::new(policy);
    other.set(0, 2);
    other.copy_fields(policy, &rec);
    assert_eq!((other.get(0), other.get(6)), (Some(0), None));
    rec.set_now(policy, 7200);
    assert_eq!(rec.get(policy.now_hour_slot()), Some(2));
}
