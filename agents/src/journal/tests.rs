//! Journal records: CRC, round trips, damage, torn writes, sequence wrap-around, sectors, the trust
//! part, and format-1 records written before it existed.

use super::*;
use crate::state::Phase;

fn state(release: u32) -> State {
    let mut s = State::fresh(release, 0);
    s.phase = Phase::Verifying;
    s.timer = release * 10;
    s
}

fn accepted(serial: u64) -> Option<Accepted> {
    Some(Accepted {
        serial,
        digest: [serial as u8; 16],
    })
}

fn entry(seq: u32, release: u32, trust: Option<Accepted>) -> Option<Entry> {
    Some(Entry {
        seq,
        state: state(release),
        accepted: trust,
    })
}

/// A format-1 record as agents before signed artifacts wrote it, at the start of a sector.
fn v1_record(seq: u32, s: &State) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    out[..4].copy_from_slice(&MAGIC);
    out[4..8].copy_from_slice(&seq.to_le_bytes());
    out[8..10].copy_from_slice(&1u16.to_le_bytes());
    out[10..12].copy_from_slice(&(STATE_BYTES as u16).to_le_bytes());
    out[12..59].copy_from_slice(&s.to_bytes());
    let crc = crc32(&out[..59]);
    out[59..63].copy_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn crc32_is_the_ieee_one() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn records_round_trip() {
    assert_eq!(RECORD_LEN, 88);
    for trust in [None, accepted(7), accepted(u64::MAX)] {
        let rec = encode(41, &state(3), trust);
        assert_eq!(&rec[..4], b"FGAJ");
        assert_eq!(u16::from_le_bytes([rec[8], rec[9]]), 2);
        assert_eq!(usize::from(u16::from_le_bytes([rec[10], rec[11]])), 72);
        assert_eq!(decode(&rec), entry(41, 3, trust));
    }
    let rec = encode(1, &state(1), accepted(0x0102));
    assert_eq!(rec[59], 1);
    assert_eq!(&rec[60..68], &0x0102u64.to_le_bytes());
    assert_eq!(&rec[68..84], &[2u8; 16]);
}

#[test]
fn any_damaged_byte_invalidates_a_record() {
    let rec = encode(5, &state(2), accepted(9));
    for i in 0..RECORD_LEN {
        let mut bad = rec;
        bad[i] ^= 0x10;
        assert_eq!(decode(&bad), None, "byte {i}");
    }
    assert_eq!(decode(&[0; RECORD_LEN]), None);
    assert_eq!(decode(&rec[..RECORD_LEN - 1]), None);
}

#[test]
fn a_trust_part_no_writer_produces_is_rejected() {
    // Flag 2, or flag 0 with a serial: CRC-valid but not a record this agent writes.
    for (flag, serial) in [(2u8, 0u64), (0, 5)] {
        let mut rec = encode(5, &state(2), None);
        rec[59] = flag;
        rec[60..68].copy_from_slice(&serial.to_le_bytes());
        let crc = crc32(&rec[..84]);
        rec[84..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&rec), None, "flag {flag} serial {serial}");
    }
}

#[test]
fn format_1_records_still_decode() {
    let old = v1_record(6, &state(4));
    assert_eq!(decode(&old), entry(6, 4, None));
    // Whatever follows the 63 bytes of a format-1 record does not matter.
    let mut tail = old;
    tail[63..].fill(0xff);
    assert_eq!(decode(&tail), entry(6, 4, None));
    for i in 0..RECORD_LEN_V1 {
        let mut bad = old;
        bad[i] ^= 0x10;
        assert_eq!(decode(&bad), None, "byte {i}");
    }
    // An updated agent's first record (format 2) supersedes the old one in the other sector.
    let new = encode(7, &state(5), accepted(1));
    assert_eq!(latest([&old, &new]), entry(7, 5, accepted(1)));
    // Cut halfway, it leaves the format-1 record in charge.
    let mut torn = [0u8; RECORD_LEN];
    torn[..RECORD_LEN / 2].copy_from_slice(&new[..RECORD_LEN / 2]);
    assert_eq!(latest([&old, &torn]), entry(6, 4, None));
}

#[test]
fn the_newest_whole_record_wins_and_a_torn_write_falls_back() {
    let mut sectors = [[0u8; RECORD_LEN]; 2];
    assert_eq!(latest([&sectors[0], &sectors[1]]), None);
    for seq in 1..=4u32 {
        sectors[usize::from(sector(seq))] = encode(seq, &state(seq), accepted(u64::from(seq)));
        assert_eq!(
            latest([&sectors[0], &sectors[1]]),
            entry(seq, seq, accepted(u64::from(seq)))
        );
    }
    // Record 5 goes to sector 1; cut halfway, sector 1 holds half of it over record 3.
    let new = encode(5, &state(5), accepted(5));
    sectors[1][..RECORD_LEN / 2].copy_from_slice(&new[..RECORD_LEN / 2]);
    assert_eq!(latest([&sectors[0], &sectors[1]]), entry(4, 4, accepted(4)));
}

#[test]
fn sequence_numbers_wrap() {
    let a = encode(u32::MAX, &state(1), None);
    let b = encode(0, &state(2), None);
    // u32::MAX is odd (sector 1), 0 is even (sector 0).
    assert_eq!(latest([&b, &a]), entry(0, 2, None));
}

#[test]
fn a_record_in_the_wrong_sector_is_ignored() {
    let rec = encode(3, &state(1), None);
    assert_eq!(latest([&rec, &[0; RECORD_LEN]]), None);
    assert_eq!(latest([&[0; RECORD_LEN], &rec]), entry(3, 1, None));
}
