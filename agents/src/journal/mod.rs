//! The write-ahead journal's record format: in go a sequence number and a [`State`], out come 63
//! bytes; and back, from the two sectors the journal alternates between, the newest record that is
//! whole.
//!
//! Record `seq` always goes to sector `seq % 2`, so a write never touches the newest whole record: a
//! write cut off by a power loss leaves a sector whose checksum fails, and the other sector still
//! holds the record before it.
//!
//! ```text
//! 0   magic "FGAJ"
//! 4   seq        u32 LE
//! 8   format     u16 LE (1)
//! 10  length     u16 LE (STATE_BYTES = 47)
//! 12  state      47 bytes (`State::to_bytes`)
//! 59  crc32      u32 LE, IEEE 802.3 (reflected, polynomial 0xEDB88320) of bytes 0..59
//! ```

use crate::state::{STATE_BYTES, State};

#[cfg(test)]
mod tests;

pub const MAGIC: [u8; 4] = *b"FGAJ";
pub const FORMAT: u16 = 1;
const HEADER: usize = 12;
/// Bytes of one journal record (each of the two sectors holds one).
pub const RECORD_LEN: usize = HEADER + STATE_BYTES + 4;

/// The sector record `seq` goes to.
pub const fn sector(seq: u32) -> u8 {
    (seq & 1) as u8
}

/// CRC-32 (IEEE 802.3), bit by bit: 59 bytes per journal write do not need a table.
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

pub fn encode(seq: u32, state: &State) -> [u8; RECORD_LEN] {
    let mut out = [0u8; RECORD_LEN];
    let len = STATE_BYTES as u16;
    let parts: [&[u8]; 5] = [
        &MAGIC,
        &seq.to_le_bytes(),
        &FORMAT.to_le_bytes(),
        &len.to_le_bytes(),
        &state.to_bytes(),
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

/// The sequence number and state of a whole record; `None` for anything else (never written, torn,
/// corrupted, another format).
pub fn decode(bytes: &[u8]) -> Option<(u32, State)> {
    if bytes.len() != RECORD_LEN {
        return None;
    }
    let body = bytes.get(..RECORD_LEN - 4)?;
    let crc = u32::from_le_bytes(bytes.get(RECORD_LEN - 4..)?.try_into().ok()?);
    if crc32(body) != crc || body.get(..4)? != MAGIC {
        return None;
    }
    let seq = u32::from_le_bytes(body.get(4..8)?.try_into().ok()?);
    let format = u16::from_le_bytes(body.get(8..10)?.try_into().ok()?);
    let len = u16::from_le_bytes(body.get(10..12)?.try_into().ok()?);
    if format != FORMAT || usize::from(len) != STATE_BYTES {
        return None;
    }
    Some((seq, State::from_bytes(body.get(HEADER..)?)?))
}

/// The newest whole record of the two sectors (`sectors[i]` is sector `i`); `None` when neither
/// holds one (a device that has never journaled).
pub fn latest(sectors: [&[u8]; 2]) -> Option<(u32, State)> {
    let mut best: Option<(u32, State)> = None;
    for (i, bytes) in (0u8..).zip(sectors) {
        let Some((seq, state)) = decode(bytes) else {
            continue;
        };
        if sector(seq) != i {
            continue;
        }
        // Sequence numbers wrap: `b` is newer than `a` when it is less than 2^31 ahead.
        let newer = best.is_none_or(|(s, _)| seq.wrapping_sub(s) as i32 > 0);
        if newer {
            best = Some((seq, state));
        }
    }
    best
}
