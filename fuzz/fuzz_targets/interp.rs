//! The interpreter on verified artifacts: the input is `n: u32 LE · n artifact bytes · record seed`.
//! When the artifact verifies, every function runs on records built from the seed, on the interpreter
//! and on the model interpreter of `runtime/tests/model/` (which asserts the cost bound, the stack
//! bound and every index at every step, and that both give the same clause conditions); the
//! decisions built on the result must not panic either.
//!
//! Most mutations of code break the declared cost or stack depth, so an artifact that decodes but
//! does not verify is repaired once (cost = instruction count; then the largest stack and locals) and
//! verified again: more of the fuzzer's inputs reach the interpreter.
#![no_main]

#[path = "../../runtime/tests/model/mod.rs"]
mod model;

use fleetgate_runtime::artifact::{Artifact, MAX_LOCALS, MAX_STACK};
use fleetgate_runtime::op::Op;
use fleetgate_runtime::verify::{Policy, verify_artifact};
use libfuzzer_sys::fuzz_target;

/// Instructions that decode from the start of `code`.
fn count_ops(code: &[u8]) -> u32 {
    let (mut pc, mut n) = (0, 0u32);
    while let Ok((_, len)) = Op::decode(code, pc) {
        pc += len;
        n += 1;
    }
    n
}

fn policy(bytes: &[u8]) -> Option<Policy> {
    if let Ok(p) = fleetgate_runtime::verify(bytes) {
        return Some(p);
    }
    let mut a = Artifact::decode(bytes).ok()?;
    for f in &mut a.functions {
        f.cost = count_ops(&f.code);
    }
    if let Ok(p) = verify_artifact(a.clone()) {
        return Some(p);
    }
    for f in &mut a.functions {
        f.max_stack = MAX_STACK as u8;
        f.n_locals = MAX_LOCALS as u8;
    }
    verify_artifact(a).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let n = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (artifact, seed) = rest.split_at(n);
    let Some(policy) = policy(artifact) else {
        return;
    };
    let mut words: Vec<u64> = seed
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        })
        .collect();
    if words.is_empty() {
        words.push(0);
    }
    model::run_everything(&policy, &words);
});
