//! Which policy artifacts a device runs: in go the bytes of an offered artifact, the device's [`Trust`]
//! (the one public key it trusts, its profile), the schema its firmware fills and what it accepted
//! before (from its journal); out comes the verified policy to switch to ([`Admitted`]), or a
//! [`Refusal`], after which the device keeps running the policy it has.
//!
//! An artifact is admitted when, in this order (cheapest and most hostile first):
//! 1. it decodes (at most `MAX_ARTIFACT_LEN` bytes) and carries a signature by the trusted key that is
//!    valid over every byte before the signature section (serial and schema hash included);
//! 2. its serial is above the highest accepted one, or equal to it for the very same artifact (same
//!    digest: a copy sent again, or the stored artifact checked again at boot);
//! 3. its schema hash is the one the device's telemetry fills;
//! 4. it passes the verifier, and the agent can run it with its profile (`Config::new`).
//!
//! Nothing here does IO or changes anything: `driver::Agent::accept` journals what was admitted, so
//! the highest accepted serial survives power loss and a replayed older artifact is refused after
//! any number of reboots. The sequence a device follows is in `docs/security.md`.

use crate::machine::{Config, ConfigError, Profile};
use core::fmt;
use fleetgate_runtime::artifact::Artifact;
use fleetgate_runtime::sign::{self, PublicKey, SignError};
use fleetgate_runtime::verify::{Policy, verify_artifact};

// Signing needs `std`.
#[cfg(all(test, feature = "std"))]
mod tests;

/// The newest policy artifact a device accepted, as its journal records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Accepted {
    /// The artifact's serial: the device never accepts a lower one.
    pub serial: u64,
    /// `sign::digest` of the whole artifact: with an equal serial, only these bytes are accepted.
    pub digest: [u8; 16],
}

/// What a device trusts: artifacts signed by `key`, which its `profile` can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trust {
    pub key: PublicKey,
    pub profile: Profile,
}

/// An artifact that passed every check: the verified policy and what to journal for it.
#[derive(Debug)]
pub struct Admitted {
    policy: Policy,
    accepted: Accepted,
    renewed: bool,
}

impl Admitted {
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn into_policy(self) -> Policy {
        self.policy
    }

    pub fn accepted(&self) -> Accepted {
        self.accepted
    }

    /// The artifact is the one already accepted (same serial, same bytes): nothing new to journal.
    pub fn renewed(&self) -> bool {
        self.renewed
    }
}

/// Why a device refuses an artifact; it keeps running its current policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not an artifact, unsigned, signed by another key, or a bad signature.
    Artifact(SignError),
    /// An older serial than one the device accepted: a rollback to an old policy.
    Older { serial: u64, highest: u64 },
    /// The accepted serial, but other bytes than the artifact accepted with it.
    SameSerial { serial: u64 },
    /// Made for another device schema (other telemetry fields or planes).
    Schema { expected: u64, found: u64 },
    /// Valid, but beyond what this agent can run.
    Config(ConfigError),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Artifact(e) => write!(f, "{e}"),
            Refusal::Older { serial, highest } => write!(
                f,
                "serial {serial} is older than serial {highest}, which the device already accepted"
            ),
            Refusal::SameSerial { serial } => write!(
                f,
                "serial {serial} was already accepted for a different artifact"
            ),
            Refusal::Schema { expected, found } => write!(
                f,
                "the artifact is for schema `{found:016x}`, the device fills schema `{expected:016x}`"
            ),
            Refusal::Config(e) => write!(f, "the agent cannot run the artifact: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Refusal {}

/// Checks `bytes` as the device's next policy (see the module header). `accepted` is the journal's,
/// `schema` the schema hash the device's telemetry fills (`None`: any, for a device's first policy).
pub fn admit(
    trust: &Trust,
    bytes: &[u8],
    accepted: Option<Accepted>,
    schema: Option<u64>,
) -> Result<Admitted, Refusal> {
    let malformed = |e| Refusal::Artifact(SignError::Malformed(e));
    let artifact = Artifact::decode(bytes).map_err(malformed)?;
    trust
        .key
        .check(bytes, &artifact)
        .map_err(Refusal::Artifact)?;
    // From here on the header is the signer's word.
    let digest = sign::digest(bytes);
    let renewed = match accepted {
        Some(a) if artifact.serial < a.serial => {
            return Err(Refusal::Older {
                serial: artifact.serial,
                highest: a.serial,
            });
        }
        Some(a) if artifact.serial == a.serial => {
            if a.digest != digest {
                return Err(Refusal::SameSerial { serial: a.serial });
            }
            true
        }
        _ => false,
    };
    if let Some(expected) = schema
        && artifact.schema_hash != expected
    {
        return Err(Refusal::Schema {
            expected,
            found: artifact.schema_hash,
        });
    }
    let serial = artifact.serial;
    let policy = verify_artifact(artifact).map_err(malformed)?;
    Config::new(&policy, trust.profile).map_err(Refusal::Config)?;
    Ok(Admitted {
        policy,
        accepted: Accepted { serial, digest },
        renewed,
    })
}
