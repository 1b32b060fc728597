//! The write-ahead journal's record format: in go a sequence number, a [`State`] and what the device
//! trusts (the newest policy artifact it accepted, `trust`), out come 88 bytes; and back, from the two
//! sectors the journal alternates between, the newest record that is whole.
//!
//! Record `seq` always goes to sector `seq % 2`, so a write never touches the newest whole record: a
//! write cut off by a power loss leaves a sector whose checksum fails, and the other sector still
//! holds the record before it.
//!
//! ```text
//! 0   magic "FGAJ"
//! 4   seq        u32 LE
//! 8   format     u16 LE (2)
//! 10  length     u16 LE (STATE_BYTES + TRUST_BYTES = 72)
//! 12  state      47 bytes (`State::to_bytes`)
//! 59  trust      25 bytes: accepted u8 (0 none yet, 1) · serial u64 LE · digest 16 bytes (the first
//!                16 bytes of SHA-512 of the accepted artifact); all zero when `accepted` is 0
//! 84  crc32      u32 LE, IEEE 802.3 (reflected, polynomial 0xEDB88320) of bytes 0..84
//! ```
//!
//! Format 1 (before signed artifacts) is format 2 without the trust bytes: `length` 47, the CRC at
//! 59 over bytes 0..59, 63 bytes in all. A format-1 record still decodes (with no accepted artifact),
//! so a device whose agent is updated keeps its journaled state; the next record it writes is format 2.

use crate::state::{STATE_BYTES, State};
use crate::trust::Accepted;

#[cfg(test)]
mod tests;

pub const MAGIC: [u8; 4] = *b"FGAJ";
/// The format this agent writes.
pub const FORMAT: u16 = 2;
/// The format before signed artifacts, still read.
pub const FORMAT_V1: u16 = 1;
const HEADER: usize = 12;
/// Bytes of the trust part of a record.
pub const TRUST_BYTES: usize = 1 + 8 + 16;
/// Bytes of one journal record (each of the two sectors holds one).
pub const RECORD_LEN: usize = HEADER + STATE_BYTES + TRUST_BYTES + 4;
/// Bytes of a format-1 record (at the start of a sector).
pub const RECORD_LEN_V1: usize = HEADER + STATE_BYTES + 4;

/// A whole record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: u32,
    pub state: State,
    /// The newest policy artifact the device accepted; `None` before the first (and in format 1).
    pub accepted: Option<Accepted>,
}

/// The sector record `seq` goes to.
pub const fn sector(seq: u32) -> u8 {
    (seq & 1) as u8
}

/// CRC-32 (IEEE 802.3), bit by bit: 84 bytes per journal write do not need a table.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

pub fn encode(seq: u32, state: &State, accepted: Option<Accepted>) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    let len = (STATE_BYTES + TRUST_BYTES) as u16;
    let (flag, serial, digest) = match accepted {
        Some(a) => (1u8, a.serial, a.digest),
        None => (0, 0, [0; 16]),
    };
    let parts: [&[u8]; 8] = [
        &MAGIC,
        &seq.to_le_bytes(),
        &FORMAT.to_le_bytes(),
        &len.to_le_bytes(),
        &state.to_bytes(),
        &[flag],
        &serial.to_le_bytes(),
        &digest,
    ];
    let mut at = 0;
    for part in parts {
        if let Some(dst) = out.get_mut(at..at + part.len()) {
            dst.copy_from_slice(part);
        }
        at += part.len();
    }
    let crc = crc32(out.get(..at).unwrap_or_default());
    if let Some(dst) = out.get_mut(at..) {
        dst.copy_from_slice(&crc.to_le_bytes());
    }
    out
}

/// The entry of a whole record, format 2 or 1; `None` for anything else (never written, torn,
/// corrupted, another format).
pub fn decode(bytes: &[u8]) -> Option<Entry> {
    if bytes.len() != RECORD_LEN || bytes.get(..4)? != MAGIC {
        return None;
    }
    let format = u16::from_le_bytes(bytes.get(8..10)?.try_into().ok()?);
    let (record_len, payload) = match format {
        FORMAT => (RECORD_LEN, STATE_BYTES + TRUST_BYTES),
        FORMAT_V1 => (RECORD_LEN_V1, STATE_BYTES),
        _ => return None,
    };
    let body = bytes.get(..record_len - 4)?;
    let crc = u32::from_le_bytes(bytes.get(record_len - 4..record_len)?.try_into().ok()?);
    let len = u16::from_le_bytes(body.get(10..12)?.try_into().ok()?);
    if crc32(body) != crc || usize::from(len) != payload {
        return None;
    }
    let seq = u32::from_le_bytes(body.get(4..8)?.try_into().ok()?);
    let state = State::from_bytes(body.get(HEADER..HEADER + STATE_BYTES)?)?;
    let accepted = match body.get(HEADER + STATE_BYTES..) {
        Some(trust) if format == FORMAT => decode_trust(trust)?,
        _ => None,
    };
    Some(Entry {
        seq,
        state,
        accepted,
    })
}

/// `Some(None)` for "nothing accepted yet", `None` for bytes no writer produces.
fn decode_trust(trust: &[u8]) -> Option<Option<Accepted>> {
    let serial = u64::from_le_bytes(trust.get(1..9)?.try_into().ok()?);
    let digest: [u8; 16] = trust.get(9..25)?.try_into().ok()?;
    match trust.first()? {
        0 if serial == 0 && digest == [0; 16] => Some(None),
        1 => Some(Some(Accepted { serial, digest })),
        _ => None,
    }
}

/// The newest whole record of the two sectors (`sectors[i]` is sector `i`); `None` when neither
/// holds one (a device that has never journaled).
pub fn latest(sectors: [&[u8]; 2]) -> Option<Entry> {
    let mut best: Option<Entry> = None;
    for (i, bytes) in (0u8..).zip(sectors) {
        let Some(entry) = decode(bytes) else {
            continue;
        };
        if sector(entry.seq) != i {
            continue;
        }
        // Sequence numbers wrap: `b` is newer than `a` when it is less than 2^31 ahead.
        let newer = best.is_none_or(|b| entry.seq.wrapping_sub(b.seq) as i32 > 0);
        if newer {
            best = Some(entry);
        }
    }
    best
}
