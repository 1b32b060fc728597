//! Signatures: key ids, key files, signing and every way a signed artifact is refused.

use super::*;
use crate::artifact::{MAX_ARTIFACT_LEN, Signature as ArtifactSignature};
use crate::testutil::sample;

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// RFC 8032, section 7.1, test 1: the secret key and the public key it derives.
const RFC_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC_SIGNATURE_OF_EMPTY: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

#[test]
fn keys_are_rfc_8032_ed25519() {
    let secret = SecretKey::from_seed(&hex::<32>(RFC_SECRET).unwrap());
    assert_eq!(secret.public().to_bytes(), hex::<32>(RFC_PUBLIC).unwrap());
    use ed25519_dalek::Signer as _;
    assert_eq!(
        secret.key.sign(b"").to_bytes(),
        hex::<64>(RFC_SIGNATURE_OF_EMPTY).unwrap()
    );
}

#[test]
fn the_key_id_is_the_head_of_the_sha512_of_the_public_key() {
    let public = hex::<32>(RFC_PUBLIC).unwrap();
    let digest = Sha512::digest(public);
    assert_eq!(
        key_id(&public).to_be_bytes(),
        <[u8; 8]>::try_from(&digest[..8]).unwrap()
    );
    assert_ne!(key(1).public().id(), key(2).public().id());
}

#[test]
fn key_files_round_trip() {
    let secret = key(7);
    let text = secret.to_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], PRIVATE_HEADER);
    assert_eq!(lines[1], format!("key-id {:016x}", secret.public().id()));
    assert_eq!(lines[2], "07".repeat(32));
    let back = SecretKey::parse(&text).unwrap();
    assert_eq!(back.public(), secret.public());

    let public = secret.public().to_text();
    assert!(public.starts_with(PUBLIC_HEADER));
    assert_eq!(PublicKey::parse(&public).unwrap(), secret.public());
    // Uppercase hex, CRLF line ends and surrounding blank lines are fine.
    let loose = format!(
        "{}\r\n\r\n",
        public
            .to_uppercase()
            .replace(&PUBLIC_HEADER.to_uppercase(), PUBLIC_HEADER)
            .replace("KEY-ID", "key-id")
    );
    assert_eq!(PublicKey::parse(&loose).unwrap(), secret.public());
}

#[test]
fn bad_key_files() {
    let secret = key(3);
    let public = secret.public().to_text();
    let private = secret.to_text();
    let check = |text: &str| PublicKey::parse(text).unwrap_err();
    assert_eq!(check(""), KeyError::NotAKeyFile);
    assert_eq!(check("ssh-ed25519 AAAA"), KeyError::NotAKeyFile);
    assert_eq!(
        check(&private),
        KeyError::WrongKind {
            expected: KeyKind::Public
        }
    );
    assert_eq!(
        SecretKey::parse(&public).unwrap_err(),
        KeyError::WrongKind {
            expected: KeyKind::Private
        }
    );
    assert_eq!(check(PUBLIC_HEADER), KeyError::Incomplete);
    let lines: Vec<&str> = public.lines().collect();
    assert_eq!(
        check(&format!("{}\n{}\n", lines[0], lines[1])),
        KeyError::Incomplete
    );
    assert_eq!(
        check(&format!("{}\nkey-id 12\n{}\n", lines[0], lines[2])),
        KeyError::BadLine { line: 2 }
    );
    assert_eq!(
        check(&format!("{}\n{}\n{}00\n", lines[0], lines[1], lines[2])),
        KeyError::BadLine { line: 3 }
    );
    assert_eq!(
        check(&format!("{public}extra\n")),
        KeyError::BadLine { line: 4 }
    );
    // One changed digit of the key: another key, whose id is not the stated one (or not a point).
    let mut other = lines[2].to_string();
    other.replace_range(0..1, if other.starts_with('0') { "1" } else { "0" });
    let err = check(&format!("{}\n{}\n{other}\n", lines[0], lines[1]));
    assert!(
        matches!(err, KeyError::IdMismatch { .. } | KeyError::NotAPoint),
        "{err:?}"
    );
    // The identity point has small order: it would accept forged signatures.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::Weak));
    for e in [
        KeyError::NotAKeyFile,
        KeyError::WrongKind {
            expected: KeyKind::Public,
        },
        KeyError::BadLine { line: 2 },
        KeyError::Incomplete,
        KeyError::IdMismatch {
            stated: 1,
            derived: 2,
        },
        KeyError::NotAPoint,
        KeyError::Weak,
    ] {
        lowercase_without_period(&e.to_string());
    }
}

fn lowercase_without_period(msg: &str) {
    assert!(!msg.ends_with('.'), "{msg}");
    assert!(
        msg.chars().next().is_some_and(|c| !c.is_uppercase()),
        "{msg}"
    );
}

#[test]
fn a_signed_artifact_verifies_under_its_key_only() {
    let a = sample();
    let signed = key(1).sign(&a);
    let policy = verify_signed(&signed, &key(1).public()).unwrap();
    assert_eq!(policy.artifact().serial, a.serial);
    let sig = policy.artifact().signature.unwrap();
    assert_eq!(sig.key_id, key(1).public().id());
    // The signature covers exactly what `signed_bytes_len` says.
    let n = policy.artifact().signed_bytes_len();
    assert_eq!(n, signed.len() - SIGNATURE_LEN);
    assert_eq!(&signed[..n], &a.signed_payload()[..]);

    assert_eq!(
        verify_signed(&signed, &key(2).public()).unwrap_err(),
        SignError::OtherKey {
            expected: key(2).public().id(),
            found: key(1).public().id()
        }
    );
    let mut unsigned = a.clone();
    unsigned.signature = None;
    assert_eq!(
        verify_signed(&unsigned.encode(), &key(1).public()).unwrap_err(),
        SignError::Unsigned
    );
    // Signing again (another serial) replaces the signature.
    let mut b = policy.into_artifact();
    b.serial = 9;
    let resigned = key(2).sign(&b);
    assert_eq!(
        verify_signed(&resigned, &key(2).public())
            .unwrap()
            .artifact()
            .serial,
        9
    );
}

#[test]
fn any_change_to_a_signed_artifact_is_refused() {
    let signed = key(1).sign(&sample());
    let trusted = key(1).public();
    for i in 0..signed.len() {
        let mut bad = signed.clone();
        bad[i] ^= 0x01;
        let err = verify_signed(&bad, &trusted).unwrap_err();
        let in_signature = i >= signed.len() - SIGNATURE_LEN;
        match err {
            SignError::BadSignature { .. } | SignError::Malformed(_) => {}
            // The flag or the key id changed.
            SignError::Unsigned | SignError::OtherKey { .. } => {
                assert!(in_signature, "byte {i}: {err:?}")
            }
        }
    }
    // Cut short, or with a byte appended and the length fixed.
    assert!(matches!(
        verify_signed(&signed[..signed.len() - 1], &trusted),
        Err(SignError::Malformed(_))
    ));
}

#[test]
fn changing_the_serial_or_schema_breaks_the_signature() {
    let a = sample();
    let signed = key(1).sign(&a);
    let mut decoded = Artifact::decode(&signed).unwrap();
    decoded.serial += 1;
    assert_eq!(
        verify_signed(&decoded.encode(), &key(1).public()).unwrap_err(),
        SignError::BadSignature {
            key_id: key(1).public().id()
        }
    );
    let mut decoded = Artifact::decode(&signed).unwrap();
    decoded.schema_hash ^= 1;
    assert!(matches!(
        verify_signed(&decoded.encode(), &key(1).public()),
        Err(SignError::BadSignature { .. })
    ));
}

#[test]
fn a_forged_signature_with_the_trusted_key_id_is_bad() {
    let mut a = sample();
    a.signature = Some(ArtifactSignature {
        key_id: key(1).public().id(),
        bytes: [0x55; 64],
    });
    assert!(matches!(
        verify_signed(&a.encode(), &key(1).public()),
        Err(SignError::BadSignature { .. })
    ));
    // A signature from another key relabelled with the trusted key's id.
    let other = key(2).sign(&sample());
    let mut relabelled = Artifact::decode(&other).unwrap();
    if let Some(s) = relabelled.signature.as_mut() {
        s.key_id = key(1).public().id();
    }
    assert!(matches!(
        verify_signed(&relabelled.encode(), &key(1).public()),
        Err(SignError::BadSignature { .. })
    ));
}

#[test]
fn signed_but_semantically_invalid_artifacts_are_malformed() {
    // A signer is trusted with what it signs, but the verifier still runs after the signature.
    let mut a = sample();
    a.functions[0].cost += 1;
    let signed = key(1).sign(&a);
    assert!(matches!(
        verify_signed(&signed, &key(1).public()),
        Err(SignError::Malformed(ArtifactError::Cost { .. }))
    ));
}

#[test]
fn oversized_input_is_refused_before_reading() {
    let big = vec![0u8; MAX_ARTIFACT_LEN + 1];
    assert_eq!(
        verify_signed(&big, &key(1).public()).unwrap_err(),
        SignError::Malformed(ArtifactError::TooLarge {
            len: MAX_ARTIFACT_LEN + 1,
            max: MAX_ARTIFACT_LEN
        })
    );
}

#[test]
fn digests_tell_artifacts_apart() {
    let a = key(1).sign(&sample());
    let mut b = sample();
    b.serial = 1;
    let b = key(1).sign(&b);
    assert_eq!(digest(&a), digest(&a.clone()));
    assert_ne!(digest(&a), digest(&b));
}

#[test]
fn messages_are_lowercase_without_period() {
    for e in [
        SignError::Malformed(ArtifactError::BadMagic { found: [0; 4] }),
        SignError::Unsigned,
        SignError::OtherKey {
            expected: 1,
            found: 2,
        },
        SignError::BadSignature { key_id: 3 },
    ] {
        lowercase_without_period(&e.to_string());
    }
    let debug = format!("{:?}", key(1));
    assert!(!debug.contains("0101"), "{debug}");
}
