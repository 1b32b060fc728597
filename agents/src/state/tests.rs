//! The state's size, byte encoding, install-order packing and timers.

use super::*;

fn sample() -> State {
    let mut s = State::fresh(7, PAUSED);
    s.set_order([2, 0, 1]);
    s.idx = 1;
    s.phase = Phase::Booting;
    s.installed = PlaneSet(0b100);
    s.timer = 12_345;
    s.checks = 3;
    s.install_attempts = 2;
    s.boot_attempts = 1;
    s.counters[4] = 2;
    s
}

#[test]
fn a_state_fits_in_64_bytes() {
    assert!(core::mem::size_of::<State>() <= 64);
    assert_eq!(core::mem::size_of::<State>(), 48);
    assert_eq!(sample().to_bytes().len(), STATE_BYTES);
}

#[test]
fn the_encoding_round_trips() {
    for s in [State::new(), sample()] {
        assert_eq!(State::from_bytes(&s.to_bytes()), Some(s));
    }
}

#[test]
fn the_order_packs_four_bits_per_plane() {
    let s = sample();
    assert_eq!(s.order().collect::<alloc::vec::Vec<_>>(), [2, 0, 1]);
    assert_eq!(s.current_plane(), Some(0));
    let mut full = State::new();
    full.set_order(0..16);
    assert_eq!(full.order().last(), Some(15));
    assert_eq!(State::from_bytes(&full.to_bytes()), Some(full));
}

#[test]
fn decoding_rejects_broken_invariants() {
    let good = sample().to_bytes();
    let check = |offset: usize, value: u8| {
        let mut b = good;
        b[offset] = value;
        State::from_bytes(&b)
    };
    // Byte offsets: order 0..8, release 8..12, timer 12..16, checks 16..18, installed 18..20,
    // committed 20..22, reverted 22..24, attempts 24..26, phase 26, len 27, idx 28, boots 29, flags 30.
    assert_eq!(check(26, 13), None, "unknown phase");
    assert_eq!(check(28, 4), None, "index past the order");
    assert_eq!(check(27, 17), None, "order longer than 16");
    assert_eq!(check(0, 0x22), None, "a plane twice in the order");
    assert_eq!(check(18, 0b1000), None, "installed plane outside the order");
    assert_eq!(check(30, 0x80), None, "unknown flag");
    assert_eq!(State::from_bytes(&good[..STATE_BYTES - 1]), None);
    let mut transient = sample();
    transient.idx = 3;
    assert_eq!(
        State::from_bytes(&transient.to_bytes()),
        None,
        "transient without a plane"
    );
}

#[test]
fn deadlines_only_run_where_a_tick_does_something() {
    let mut s = State::fresh(1, 0);
    s.phase = Phase::Deferred;
    s.timer = 100;
    assert_eq!(s.deadline(), Some(100));
    s.flags = PAUSED;
    assert_eq!(s.deadline(), None);
    s.phase = Phase::Verifying;
    assert_eq!(s.deadline(), Some(100));
    s.flags = FROZEN;
    assert_eq!(s.deadline(), None);
    s.flags = 0;
    s.phase = Phase::Committed;
    assert_eq!(s.deadline(), None);
}

#[test]
fn phase_codes_and_names_are_stable() {
    for (i, p) in Phase::ALL.iter().enumerate() {
        assert_eq!(usize::from(p.code()), i);
        assert_eq!(Phase::from_code(p.code()), Some(*p));
    }
    assert_eq!(Phase::DownloadWait.name(), "download_wait");
    assert!(Phase::Cancelled.is_terminal() && !Phase::Verifying.is_terminal());
    assert!(Phase::Booting.is_transient() && !Phase::DownloadWait.is_transient());
}
