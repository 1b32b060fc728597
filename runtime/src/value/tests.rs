//! Version packing order and plane-set operations.

use super::*;
use alloc::vec::Vec;

#[test]
fn version_round_trip_and_order() {
    let v = pack_version(1, 4, 0);
    assert_eq!(v, (1 << 32) | (4 << 16));
    assert_eq!(unpack_version(v), (1, 4, 0));
    assert_eq!(
        unpack_version(pack_version(65535, 65535, 65535)),
        (65535, 65535, 65535)
    );
    // Unsigned order is component-wise order.
    assert!(pack_version(1, 9, 65535) < pack_version(2, 0, 0));
    assert!(pack_version(1, 4, 1) > pack_version(1, 4, 0));
    assert!(pack_version(0, 65535, 0) < pack_version(1, 0, 0));
}

#[test]
fn plane_set_operations() {
    let mut s = PlaneSet::EMPTY;
    assert!(s.is_empty());
    assert!(s.insert(3));
    assert!(!s.insert(3));
    assert!(s.insert(0));
    assert!(!s.insert(16), "planes past the limit are ignored");
    assert!(s.contains(3) && s.contains(0) && !s.contains(1) && !s.contains(200));
    assert_eq!(s.len(), 2);
    assert_eq!(s.iter().collect::<Vec<_>>(), [0, 3]);
    let u = s.union(PlaneSet::single(15));
    assert_eq!(u.iter().collect::<Vec<_>>(), [0, 3, 15]);
    assert!(s.is_subset(u) && !u.is_subset(s));
    assert!(s.remove(0) && !s.remove(0));
    assert_eq!(PlaneSet::all(3), PlaneSet(0b111));
    assert_eq!(PlaneSet::all(16), PlaneSet(u16::MAX));
    assert_eq!(PlaneSet::all(0), PlaneSet::EMPTY);
    assert_eq!([1u8, 2].into_iter().collect::<PlaneSet>(), PlaneSet(0b110));
}
