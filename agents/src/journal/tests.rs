//! Journal records: CRC, round trips, damage, torn writes, sequence wrap-around, sectors.

use super::*;
use crate::state::Phase;

fn state(release: u32) -> State {
    let mut s = State::fresh(release, 0);
    s.phase = Phase::Verifying;
    s.timer = release * 10;
    s
}

#[test]
fn crc32_is_the_ieee_one() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn records_round_trip() {
    let rec = encode(41, &state(3));
    assert_eq!(rec.len(), RECORD_LEN);
    assert_eq!(&rec[..4], b"FGAJ");
    assert_eq!(decode(&rec), Some((41, state(3))));
}

#[test]
fn any_damaged_byte_invalidates_a_record() {
    let rec = encode(5, &state(2));
    for i in 0..RECORD_LEN {
        let mut bad = rec;
        bad[i] ^= 0x10;
        assert_eq!(decode(&bad), None, "byte {i}");
    }
    assert_eq!(decode(&[0; RECORD_LEN]), None);
    assert_eq!(decode(&rec[..RECORD_LEN - 1]), None);
}

#[test]
fn the_newest_whole_record_wins_and_a_torn_write_falls_back() {
    let mut sectors = [[0u8; RECORD_LEN]; 2];
    assert_eq!(latest([&sectors[0], &sectors[1]]), None);
    for seq in 1..=4u32 {
        sectors[usize::from(sector(seq))] = encode(seq, &state(seq));
        assert_eq!(latest([&sectors[0], &sectors[1]]), Some((seq, state(seq))));
    }
    // Record 5 goes to sector 1; cut halfway, sector 1 holds half of it over record 3.
    let new = encode(5, &state(5));
    sectors[1][..RECORD_LEN / 2].copy_from_slice(&new[..RECORD_LEN / 2]);
    assert_eq!(latest([&sectors[0], &sectors[1]]), Some((4, state(4))));
}

#[test]
fn sequence_numbers_wrap() {
    let a = encode(u32::MAX, &state(1));
    let b = encode(0, &state(2));
    // u32::MAX is odd (sector 1), 0 is even (sector 0).
    assert_eq!(latest([&b, &a]), Some((0, state(2))));
}

#[test]
fn a_record_in_the_wrong_sector_is_ignored() {
    let rec = encode(3, &state(1));
    assert_eq!(latest([&rec, &[0; RECORD_LEN]]), None);
    assert_eq!(latest([&[0; RECORD_LEN], &rec]), Some((3, state(1))));
}
