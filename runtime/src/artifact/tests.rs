//! The byte layout: round trips, the signed region, and every structural decode error (built by
//! corrupting the bytes of a valid artifact).

use super::*;
use crate::testutil::sample;
use alloc::vec;

/// Byte offsets of the sections of `a`'s encoding: layout, consts, clauses, deps, rollout, code, sig.
fn offsets(a: &Artifact) -> [usize; 7] {
    let n_enums = a
        .slots
        .iter()
        .filter(|s| matches!(s, SlotType::Enum { .. }))
        .count();
    let layout = HEADER_LEN;
    let consts = layout + 2 + a.slots.len() + 2 * n_enums + a.slots.len().div_ceil(8) + 2;
    let clauses = consts + 2 + 8 * a.consts.len();
    let deps = clauses + 2 + CLAUSE_LEN * a.clauses.len();
    let set_len = |s: &VersionSet| 1 + 16 * s.0.len();
    let rollout = deps
        + 2
        + a.constraints
            .iter()
            .map(|c| match c {
                Constraint::Depends { a, b, .. } => 5 + set_len(a) + set_len(b),
                Constraint::Incompatible { set, .. } => 5 + set_len(set) + 1,
            })
            .sum::<usize>();
    let code = rollout + 22 + 1 + 6 * a.rollout.rings.len() + 1 + 7 * a.rollout.gates.len();
    let sig = code
        + 1
        + a.functions
            .iter()
            .map(|f| FUNCTION_HEADER_LEN + f.code.len())
            .sum::<usize>();
    [layout, consts, clauses, deps, rollout, code, sig]
}

fn set_len_field(bytes: &mut [u8]) {
    let n = u32::try_from(bytes.len()).unwrap().to_le_bytes();
    bytes[8..12].copy_from_slice(&n);
}

#[test]
fn full_artifact_round_trips() {
    let a = sample();
    let bytes = a.encode();
    assert_eq!(Artifact::decode(&bytes), Ok(a.clone()));
    let unsigned = Artifact {
        signature: None,
        ..a.clone()
    };
    assert_eq!(Artifact::decode(&unsigned.encode()), Ok(unsigned.clone()));
    assert_eq!(bytes.len(), unsigned.encode().len() + SIGNATURE_LEN - 1);
    // The computed section offsets agree with the encoding (the tests below rely on them).
    let [layout, .., sig] = offsets(&a);
    assert_eq!(&bytes[..4], b"FGPA");
    assert_eq!(u16::from_le_bytes([bytes[layout], bytes[layout + 1]]), 19);
    assert_eq!(bytes[sig], 1);
    assert_eq!(bytes.len(), sig + SIGNATURE_LEN);
    assert_eq!(
        u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
        bytes.len()
    );
}

#[test]
fn signed_region_is_everything_before_the_signature() {
    let a = sample();
    let bytes = a.encode();
    let len = a.signed_bytes_len();
    assert_eq!(len, offsets(&a)[6]);
    assert_eq!(a.signed_payload(), bytes[..len]);
    // Neither the key id nor the signature bytes are signed; presence is (through the length).
    let other = Artifact {
        signature: Some(Signature {
            key_id: 1,
            bytes: [9; 64],
        }),
        ..a.clone()
    };
    assert_eq!(other.signed_payload(), a.signed_payload());
    let unsigned = Artifact {
        signature: None,
        ..a.clone()
    };
    assert_eq!(
        unsigned.signed_payload(),
        a.signed_payload(),
        "sign before attaching the signature"
    );
    assert_eq!(unsigned.signed_bytes_len(), unsigned.encode().len() - 1);
}

fn decode_err(bytes: &[u8]) -> ArtifactError {
    Artifact::decode(bytes).expect_err("corrupt bytes decoded")
}

#[test]
fn header_errors() {
    let bytes = sample().encode();
    let mut b = bytes.clone();
    b[0] = b'X';
    assert_eq!(decode_err(&b), ArtifactError::BadMagic { found: *b"XGPA" });
    let mut b = bytes.clone();
    b[4] = 2;
    assert_eq!(
        decode_err(&b),
        ArtifactError::UnsupportedFormat { found: 2 }
    );
    let mut b = bytes.clone();
    b[8] ^= 1;
    assert!(matches!(
        decode_err(&b),
        ArtifactError::LengthMismatch { .. }
    ));
    let mut b = bytes.clone();
    b.push(0);
    assert!(matches!(
        decode_err(&b),
        ArtifactError::LengthMismatch { .. }
    ));
    set_len_field(&mut b);
    assert_eq!(
        decode_err(&b),
        ArtifactError::TrailingBytes {
            offset: bytes.len(),
            count: 1
        }
    );
    assert_eq!(
        decode_err(&[]),
        ArtifactError::Truncated {
            section: Section::Header,
            offset: 0
        }
    );
    assert_eq!(
        decode_err(b"FGPA\x01"),
        ArtifactError::Truncated {
            section: Section::Header,
            offset: 4
        }
    );
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = sample().encode();
    let offs = offsets(&sample());
    for cut in 0..bytes.len() {
        let mut b = bytes[..cut].to_vec();
        if cut >= 12 {
            set_len_field(&mut b);
        }
        let e = decode_err(&b);
        if cut >= HEADER_LEN {
            let section = match offs.iter().rposition(|&o| o <= cut) {
                Some(0) => Section::Layout,
                Some(1) => Section::Consts,
                Some(2) => Section::Clauses,
                Some(3) => Section::Deps,
                Some(4) => Section::Rollout,
                Some(5) => Section::Code,
                _ => Section::Signature,
            };
            // A cut at a section boundary fails while reading that section's first field.
            assert!(
                matches!(e, ArtifactError::Truncated { section: s, .. } if s == section),
                "cut {cut}: {e:?}, expected {section}"
            );
        }
    }
}

#[test]
fn unknown_codes_are_errors() {
    let a = sample();
    let [layout, consts, clauses, deps, _, code, sig] = offsets(&a);
    let bytes = a.encode();
    let with = |at: usize, v: u8| {
        let mut b = bytes.clone();
        b[at] = v;
        decode_err(&b)
    };
    assert_eq!(
        with(layout + 2 + 3, 6),
        ArtifactError::UnknownSlotType { slot: 3, code: 6 }
    );
    // 19 slots use 3 bits of the last mask byte.
    let mask_last = consts - 3;
    assert_eq!(
        with(mask_last, bytes[mask_last] | 0x80),
        ArtifactError::OptionalPadding
    );
    assert_eq!(
        with(clauses + 2 + CLAUSE_LEN, 7),
        ArtifactError::UnknownClauseKind { clause: 1, code: 7 }
    );
    assert_eq!(
        with(deps + 2, 2),
        ArtifactError::UnknownConstraintKind {
            constraint: 0,
            code: 2
        }
    );
    assert_eq!(
        with(code + 1, 5),
        ArtifactError::UnknownFunctionKind {
            function: 0,
            code: 5
        }
    );
    assert_eq!(
        with(code + 2, 1),
        ArtifactError::FunctionIndex {
            function: 0,
            index: 1
        }
    );
    assert_eq!(with(sig, 2), ArtifactError::SignatureFlag { found: 2 });
}

#[test]
fn constraint_fields_a_kind_does_not_use_are_errors() {
    let a = sample();
    let deps = offsets(&a)[3];
    let bytes = a.encode();
    // Constraint 0 (depends): kind, plane_a, set_a (1 interval), plane_b, set_b (1 interval), clause.
    let clause_at = deps + 2 + 1 + 1 + 17 + 1 + 17;
    let mut b = bytes.clone();
    b[clause_at] = 0;
    assert_eq!(
        decode_err(&b),
        ArtifactError::ConstraintField {
            constraint: 0,
            field: "clause"
        }
    );
    // Constraint 2 (incompatible) follows the second depends (same shape).
    let incompat = clause_at + 2 + (1 + 1 + 17 + 1 + 17 + 2);
    let mut b = bytes.clone();
    b[incompat + 1 + 1 + 17] = 1;
    assert_eq!(
        decode_err(&b),
        ArtifactError::ConstraintField {
            constraint: 2,
            field: "plane_b"
        }
    );
    // A non-empty set_b: insert one interval and fix the length.
    let mut b = bytes.clone();
    let set_b = incompat + 1 + 1 + 17 + 1;
    b[set_b] = 1;
    b.splice(set_b + 1..set_b + 1, vec![0; 16]);
    set_len_field(&mut b);
    assert_eq!(
        decode_err(&b),
        ArtifactError::ConstraintField {
            constraint: 2,
            field: "set_b"
        }
    );
}

#[test]
fn none_and_unlimited_encodings() {
    let mut a = sample();
    a.rollout.rate = None;
    a.rollout.in_flight = None;
    a.clauses[0].reason = None;
    let b = a.encode();
    let back = Artifact::decode(&b).unwrap();
    assert_eq!(
        (
            back.rollout.rate,
            back.rollout.in_flight,
            back.clauses[0].reason
        ),
        (None, None, None)
    );
    let rollout = offsets(&a)[4];
    assert_eq!(&b[rollout + 8..rollout + 20], &[0; 12]);
}

#[test]
fn kind_codes_round_trip() {
    for code in 0..=255u8 {
        if let Some(k) = ClauseKind::from_code(code) {
            assert_eq!(k.code(), code);
        } else {
            assert!(code > 6);
        }
    }
    assert!(VersionSet(vec![(1, 2), (4, 4)]).is_canonical());
    assert!(!VersionSet(vec![(1, 2), (2, 4)]).is_canonical(), "overlap");
    assert!(!VersionSet(vec![(4, 5), (1, 2)]).is_canonical(), "unsorted");
    assert!(!VersionSet(vec![(3, 2)]).is_canonical(), "empty interval");
    assert!(VersionSet(vec![(1, 2), (4, 4)]).contains(4));
    assert!(!VersionSet(vec![(1, 2), (4, 4)]).contains(3));
}

#[test]
fn error_messages_are_lowercase_without_period() {
    let errors = [
        ArtifactError::BadMagic { found: *b"XGPA" },
        ArtifactError::Truncated {
            section: Section::Code,
            offset: 3,
        },
        ArtifactError::LengthMismatch {
            declared: 3,
            actual: 4,
        },
        ArtifactError::Code {
            function: 2,
            error: CodeError::JumpInside { at: 12, target: 14 },
        },
        ArtifactError::RingShare {
            ring: 1,
            share_ppm: 0,
        },
    ];
    for e in &errors {
        let s = alloc::format!("{e}");
        assert!(
            s.chars().next().unwrap().is_lowercase() && !s.ends_with('.'),
            "{s}"
        );
    }
    assert_eq!(
        alloc::format!("{}", errors[3]),
        "in function 2: jump at offset 12 lands inside an instruction (offset 14)"
    );
}
