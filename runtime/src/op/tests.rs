//! The op table: encoding round trips, decode errors, stack effects, the disassembly text, and the
//! opcode table in `docs/bytecode.md` agreeing with the code.

use super::*;
use alloc::string::String;
use alloc::vec;

#[test]
fn every_op_round_trips() {
    let samples = Op::samples();
    assert_eq!(samples.len(), Op::COUNT);
    for op in samples {
        let mut bytes = vec![0xee];
        op.encode(&mut bytes);
        assert_eq!(bytes.len() - 1, op.encoded_len(), "{op:?}");
        assert_eq!(Op::decode(&bytes, 1), Ok((op, op.encoded_len())), "{op:?}");
        assert_eq!(bytes[1], op.opcode());
        assert_eq!(Op::MNEMONICS.iter().position(|m| *m == op.mnemonic()), {
            Op::OPCODES.iter().position(|c| *c == op.opcode())
        });
    }
}

#[test]
fn opcodes_and_mnemonics_are_unique_and_zero_is_not_an_op() {
    let mut codes = Op::OPCODES.to_vec();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), Op::COUNT);
    let mut names = Op::MNEMONICS.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Op::COUNT);
    assert!(
        !Op::OPCODES.contains(&0),
        "zeroed memory must not decode as code"
    );
}

#[test]
fn decode_errors() {
    assert_eq!(
        Op::decode(&[], 0),
        Err(DecodeError::OutOfCode { offset: 0 })
    );
    assert_eq!(
        Op::decode(&[0x05], 1),
        Err(DecodeError::OutOfCode { offset: 1 })
    );
    assert_eq!(
        Op::decode(&[0x05, 0x00], 1),
        Err(DecodeError::UnknownOpcode {
            offset: 1,
            opcode: 0
        })
    );
    assert_eq!(
        Op::decode(&[0xff], 0),
        Err(DecodeError::UnknownOpcode {
            offset: 0,
            opcode: 0xff
        })
    );
    for op in Op::samples() {
        let mut bytes = Vec::new();
        op.encode(&mut bytes);
        for cut in 1..bytes.len() {
            assert_eq!(
                Op::decode(&bytes[..cut], 0),
                Err(DecodeError::CutShort {
                    offset: 0,
                    mnemonic: op.mnemonic()
                }),
                "{op:?} cut to {cut}"
            );
        }
    }
    // Every byte value decodes or fails cleanly, at any offset.
    for b in 0..=255u8 {
        let _ = Op::decode(&[b], 0);
        let _ = Op::decode(&[0, b, 1], 1);
    }
}

#[test]
fn stack_effects_and_branches() {
    let e = |op: Op| {
        let s = op.stack_effect();
        (s.pops, s.pushes, s.branch_pushes)
    };
    assert_eq!(e(Op::AddI), (2, 1, 1));
    assert_eq!(e(Op::BetweenF), (3, 1, 1));
    assert_eq!(e(Op::LoadOr(1, 2)), (0, 0, 1));
    assert_eq!(e(Op::JumpIfFalse(3)), (1, 1, 1));
    assert_eq!(e(Op::Emit(0)), (1, 0, 0));
    assert_eq!(e(Op::Dup), (1, 2, 2));
    assert_eq!(Op::LoadOr(1, 7).branch(), Some(7));
    assert_eq!(Op::JumpIfTrue(9).branch(), Some(9));
    assert_eq!(Op::InSetI(3, 4).branch(), None);
    assert_eq!(Op::LoadOr(1, 7).with_branch(2), Op::LoadOr(1, 2));
    assert_eq!(Op::InSetI(3, 4).with_branch(2), Op::InSetI(3, 4));
    let jumping: Vec<_> = Op::samples()
        .into_iter()
        .filter(|op| op.branch().is_some())
        .collect();
    assert_eq!(jumping.len(), 3, "LoadOr, JumpIfFalse, JumpIfTrue");
}

#[test]
fn disassembly_text_is_stable() {
    let ops = [
        Op::Load(2),
        Op::JumpIfFalse(9),
        Op::Const(0),
        Op::LtF,
        Op::LoadOr(5, 3),
        Op::Const(1),
        Op::And,
        Op::InSetI(4, 2),
        Op::LocalTee(3),
        Op::Emit(12),
    ];
    let mut code = encode_all(&ops);
    code.push(0xfe);
    let mut text = String::new();
    disassemble(&code, &mut text).unwrap();
    assert_eq!(
        text,
        "\
0000  Load 2
0003  JumpIfFalse +9 -> 0015
0006  Const 0
0009  LtF
0010  LoadOr 5 +3 -> 0018
0015  Const 1
0018  And
0019  InSetI 4 2
0024  LocalTee 3
0026  Emit 12
0029  <unknown opcode 0xfe at offset 29>
"
    );
    let mut cut = String::new();
    disassemble(&[0x03, 0x01], &mut cut).unwrap();
    assert_eq!(cut, "0000  <operands of `LoadOr` at offset 0 cut short>\n");
    assert_eq!(alloc::format!("{}", Op::LoadOr(5, 3)), "LoadOr 5 +3");
    assert_eq!(alloc::format!("{}", Op::GeU), "GeU");
}

/// The opcode table in `docs/bytecode.md` lists every op with its opcode, operands and stack effect.
#[test]
fn docs_table_matches_the_op_table() {
    let doc = include_str!("../../../docs/bytecode.md");
    let mut seen = Vec::new();
    for line in doc
        .lines()
        .filter(|l| l.starts_with("| 0x") || l.starts_with("| |"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        for entry in cells.get(1..cells.len() - 1).unwrap_or_default().chunks(3) {
            let [code, op, stack] = entry else {
                panic!("bad row {line}")
            };
            if code.is_empty() {
                continue;
            }
            let opcode = u8::from_str_radix(code.trim_start_matches("0x"), 16).unwrap();
            let words: Vec<&str> = op.trim_matches('`').split(' ').collect();
            let stack: Vec<u8> = stack
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            seen.push((opcode, String::from(words[0]), words.len() - 1, stack));
        }
    }
    assert_eq!(seen.len(), Op::COUNT, "every op is documented once");
    for op in Op::samples() {
        let (_, name, operands, stack) = seen
            .iter()
            .find(|(code, ..)| *code == op.opcode())
            .unwrap_or_else(|| panic!("{op:?} missing from the docs"));
        assert_eq!(name, op.mnemonic());
        let mut enc = Vec::new();
        op.encode(&mut enc);
        let operand_bytes = enc.len() - 1;
        let s = op.stack_effect();
        let mut expect = vec![s.pops, s.pushes];
        if s.branch_pushes != s.pushes {
            expect.push(s.branch_pushes);
        }
        assert_eq!(stack, &expect, "{name}");
        // `l:u8` operands take one byte, the others two.
        let doc_bytes: usize = (1..=*operands)
            .map(|_| if name.starts_with("Local") { 1 } else { 2 })
            .sum();
        assert_eq!(doc_bytes, operand_bytes, "{name}");
    }
}
