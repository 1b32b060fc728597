//! The artifact decoder, verifier and signature check on arbitrary bytes: never a panic; what verifies
//! re-encodes to the same bytes (decoding is lossless) and disassembles.
#![no_main]

use std::sync::OnceLock;

use fleetgate_runtime::artifact::Artifact;
use fleetgate_runtime::sign::{self, PublicKey, SecretKey};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    KEY.get_or_init(|| SecretKey::from_seed(&[7; 32]).public())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(policy) = fleetgate_runtime::verify(data) {
        assert_eq!(policy.artifact().encode(), data, "decoding is lossless");
        for f in &policy.artifact().functions {
            let mut text = String::new();
            fleetgate_runtime::op::disassemble(&f.code, &mut text).expect("disassembles");
        }
    }
    if let Ok(a) = Artifact::decode(data) {
        let _ = a.signed_payload();
        let _ = a.signed_bytes_len();
    }
    let _ = sign::verify_signed(data, key());
    let _ = sign::digest(data);
});
