//! Admission: every reason an artifact is refused, and the serial rules.

use super::*;
use crate::machine::ConfigError;
use fleetgate_runtime::artifact::Artifact;
use fleetgate_runtime::sign::SecretKey;

const EDGE_AI: &[u8] = include_bytes!("../../../policies/edge-ai/agent/edge-ai.fga");

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn trust() -> Trust {
    Trust {
        key: key(1).public(),
        profile: Profile::Esp32c3,
    }
}

/// The edge-ai artifact with `serial`, changed by `edit`, signed by key `k`.
fn signed(k: u8, serial: u64, edit: impl FnOnce(&mut Artifact)) -> Vec<u8> {
    let mut a = Artifact::decode(EDGE_AI).unwrap();
    a.serial = serial;
    edit(&mut a);
    key(k).sign(&a)
}

fn schema() -> Option<u64> {
    Some(Artifact::decode(EDGE_AI).unwrap().schema_hash)
}

fn refusal(bytes: &[u8], accepted: Option<Accepted>) -> Refusal {
    admit(&trust(), bytes, accepted, schema()).unwrap_err()
}

#[test]
fn a_first_artifact_is_admitted() {
    let bytes = signed(1, 1, |_| {});
    let a = admit(&trust(), &bytes, None, schema()).unwrap();
    assert_eq!(a.accepted().serial, 1);
    assert_eq!(a.accepted().digest, sign::digest(&bytes));
    assert!(!a.renewed());
    assert_eq!(a.policy().artifact().serial, 1);
    // Serial 0 is a serial like any other for a device that accepted nothing yet.
    assert!(admit(&trust(), &signed(1, 0, |_| {}), None, None).is_ok());
}

#[test]
fn unsigned_foreign_and_tampered_artifacts_are_refused() {
    assert_eq!(
        refusal(EDGE_AI, None),
        Refusal::Artifact(SignError::Unsigned)
    );
    assert_eq!(
        refusal(&signed(2, 1, |_| {}), None),
        Refusal::Artifact(SignError::OtherKey {
            expected: key(1).public().id(),
            found: key(2).public().id()
        })
    );
    let mut tampered = signed(1, 5, |_| {});
    tampered[40] ^= 1;
    assert!(matches!(
        refusal(&tampered, None),
        Refusal::Artifact(SignError::BadSignature { .. } | SignError::Malformed(_))
    ));
    // The serial is signed: raising it by hand breaks the signature.
    let mut raised = Artifact::decode(&signed(1, 5, |_| {})).unwrap();
    raised.serial = 6;
    assert!(matches!(
        refusal(&raised.encode(), None),
        Refusal::Artifact(SignError::BadSignature { .. })
    ));
    assert!(matches!(
        refusal(b"FGPA", None),
        Refusal::Artifact(SignError::Malformed(_))
    ));
}

#[test]
fn serials_never_go_back() {
    let five = signed(1, 5, |_| {});
    let accepted = admit(&trust(), &five, None, schema()).unwrap().accepted();
    assert_eq!(
        refusal(&signed(1, 4, |_| {}), Some(accepted)),
        Refusal::Older {
            serial: 4,
            highest: 5
        }
    );
    assert_eq!(
        refusal(&signed(1, 0, |_| {}), Some(accepted)),
        Refusal::Older {
            serial: 0,
            highest: 5
        }
    );
    // The same artifact again is fine (a re-sent copy, the stored artifact at boot)...
    let again = admit(&trust(), &five, Some(accepted), schema()).unwrap();
    assert!(again.renewed());
    assert_eq!(again.accepted(), accepted);
    // ... another artifact under the same serial is not.
    let other = signed(1, 5, |a| a.rollout.retries += 1);
    assert_eq!(
        refusal(&other, Some(accepted)),
        Refusal::SameSerial { serial: 5 }
    );
    let six = admit(&trust(), &signed(1, 6, |_| {}), Some(accepted), schema()).unwrap();
    assert_eq!(six.accepted().serial, 6);
    assert!(!six.renewed());
}

#[test]
fn another_schema_or_an_unrunnable_policy_is_refused() {
    let bytes = signed(1, 1, |a| a.schema_hash ^= 1);
    assert_eq!(
        refusal(&bytes, None),
        Refusal::Schema {
            expected: schema().unwrap(),
            found: schema().unwrap() ^ 1
        }
    );
    assert!(admit(&trust(), &bytes, None, None).is_ok());
    let long = signed(1, 1, |a| {
        a.rollout.check_every = 1;
        a.rollout.verify_for = u32::MAX;
    });
    assert!(matches!(
        refusal(&long, None),
        Refusal::Config(ConfigError::WindowTooLong { .. })
    ));
    // Signed, but not an artifact the verifier accepts.
    let broken = signed(1, 1, |a| a.functions[0].cost += 1);
    assert!(matches!(
        refusal(&broken, None),
        Refusal::Artifact(SignError::Malformed(_))
    ));
}

#[test]
fn refusals_read_lowercase_without_period() {
    let all = [
        Refusal::Artifact(SignError::Unsigned),
        Refusal::Older {
            serial: 1,
            highest: 2,
        },
        Refusal::SameSerial { serial: 2 },
        Refusal::Schema {
            expected: 1,
            found: 2,
        },
        Refusal::Config(ConfigError::TooManyPlanes { found: 17, max: 16 }),
    ];
    for r in all {
        let msg = r.to_string();
        assert!(!msg.ends_with('.'), "{msg}");
        assert!(!msg.starts_with(char::is_uppercase), "{msg}");
    }
}
