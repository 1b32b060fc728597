//! Artifact signatures: in go artifact bytes and the public key a device trusts, out comes a verified
//! [`Policy`], or why the bytes may not run ([`SignError`]). With `std`, also the other direction: a
//! [`SecretKey`] signs an artifact. Key file formats and the threat model: `docs/security.md`.
//!
//! Ed25519 (`ed25519-dalek`, strict verification: no small-order keys or points, no malleable
//! signatures) over every byte before the signature section, so the header's serial, schema hash and
//! total length are all covered. The **key id** in the signature section is the first 8 bytes of
//! SHA-512 of the 32-byte public key, read big-endian: it says which key signed, so that "signed by
//! another key" and "bad signature" are told apart; it is never trusted by itself.
//!
//! Order of checks in [`verify_signed`]: decode the layout (bounded, allocation checked against the
//! input length), then the signature, and only then the verifier's semantic checks: code from an
//! unknown signer never reaches the abstract interpreter.

use crate::artifact::{Artifact, ArtifactError, SIGNATURE_LEN};
use crate::verify::{Policy, verify_artifact};
use core::fmt;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};

#[cfg(test)]
mod tests;

/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of an Ed25519 secret key (the seed).
pub const SECRET_KEY_LEN: usize = 32;
/// First line of a public key file.
pub const PUBLIC_HEADER: &str = "fleetgate public key ed25519 v1";
/// First line of a private key file.
pub const PRIVATE_HEADER: &str = "fleetgate private key ed25519 v1";

/// The key id of a public key: the first 8 bytes of its SHA-512, big-endian (so its 16 hex digits are
/// the digest's first 16).
pub fn key_id(public: &[u8; PUBLIC_KEY_LEN]) -> u64 {
    let digest = Sha512::digest(public);
    let mut id = [0u8; 8];
    for (dst, src) in id.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    u64::from_be_bytes(id)
}

/// A short fingerprint of a whole artifact (signature included): the first 16 bytes of its SHA-512.
/// Devices journal it to recognise an artifact they already accepted.
pub fn digest(bytes: &[u8]) -> [u8; 16] {
    let full = Sha512::digest(bytes);
    let mut out = [0u8; 16];
    for (dst, src) in out.iter_mut().zip(full.iter()) {
        *dst = *src;
    }
    out
}

/// An Ed25519 public key that artifacts are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: u64,
}

impl PublicKey {
    /// A key from its 32 bytes; rejects bytes that are not a point and small-order (weak) keys, for
    /// which a signature proves nothing.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotAPoint)?;
        if key.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(PublicKey {
            key,
            id: key_id(bytes),
        })
    }

    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.key.to_bytes()
    }

    /// The key id signatures made with this key carry.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Reads the text of a `.pub` file (`docs/security.md`): the header line, `key-id` and 64 hex
    /// digits of the key. The stated key id must be the one the key derives.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let bytes = parse_key_file(text, KeyKind::Public)?;
        let key = PublicKey::from_bytes(&bytes.key)?;
        if key.id != bytes.stated_id {
            return Err(KeyError::IdMismatch {
                stated: bytes.stated_id,
                derived: key.id,
            });
        }
        Ok(key)
    }

    /// The text of a `.pub` file.
    #[cfg(feature = "std")]
    pub fn to_text(&self) -> String {
        key_file(KeyKind::Public, self.id, &self.to_bytes())
    }

    /// Checks the signature section of `artifact`, decoded from `bytes`, against this key: present,
    /// made by this key, and valid over `bytes` before the signature section.
    pub fn check(&self, bytes: &[u8], artifact: &Artifact) -> Result<(), SignError> {
        let Some(sig) = &artifact.signature else {
            return Err(SignError::Unsigned);
        };
        if sig.key_id != self.id {
            return Err(SignError::OtherKey {
                expected: self.id,
                found: sig.key_id,
            });
        }
        // INVARIANT: `bytes` decoded with a signature present, so its last SIGNATURE_LEN bytes are the
        // signature section and everything before them is signed.
        let signed = bytes
            .len()
            .checked_sub(SIGNATURE_LEN)
            .and_then(|n| bytes.get(..n))
            .ok_or(SignError::BadSignature { key_id: sig.key_id })?;
        let signature = Signature::from_bytes(&sig.bytes);
        self.key
            .verify_strict(signed, &signature)
            .map_err(|_| SignError::BadSignature { key_id: sig.key_id })
    }
}

/// Decodes `bytes`, checks that `key` signed them, then verifies them into a [`Policy`].
pub fn verify_signed(bytes: &[u8], key: &PublicKey) -> Result<Policy, SignError> {
    let artifact = Artifact::decode(bytes).map_err(SignError::Malformed)?;
    key.check(bytes, &artifact)?;
    verify_artifact(artifact).map_err(SignError::Malformed)
}

/// Why artifact bytes are not a policy signed by the trusted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignError {
    /// Not an artifact at all (or one the verifier rejects).
    Malformed(ArtifactError),
    /// No signature section.
    Unsigned,
    /// Signed, but by a key with another id.
    OtherKey { expected: u64, found: u64 },
    /// The key id is the trusted key's, but the signature does not match the bytes: they were changed
    /// after signing, or the signature was forged.
    BadSignature { key_id: u64 },
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::Malformed(e) => write!(f, "not a valid artifact: {e}"),
            SignError::Unsigned => f.write_str("the artifact is not signed"),
            SignError::OtherKey { expected, found } => write!(
                f,
                "the artifact is signed by key `{found:016x}`, not by the trusted key `{expected:016x}`"
            ),
            SignError::BadSignature { key_id } => write!(
                f,
                "bad signature: the artifact was changed after key `{key_id:016x}` signed it, or the signature is forged"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SignError {}

/// Why a key or key file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The first line is not a key file header.
    NotAKeyFile,
    /// A private key where a public one was expected, or the other way round.
    WrongKind {
        expected: KeyKind,
    },
    /// A line other than the header, `key-id HEX16` and `HEX64` (`line` counts from 1).
    BadLine {
        line: usize,
    },
    /// The file ends before the key.
    Incomplete,
    IdMismatch {
        stated: u64,
        derived: u64,
    },
    /// The 32 bytes are not a point of the curve.
    NotAPoint,
    /// A small-order point: every signature would check against it.
    Weak,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::NotAKeyFile => write!(
                f,
                "not a key file: the first line must be `{PUBLIC_HEADER}` or `{PRIVATE_HEADER}`"
            ),
            KeyError::WrongKind { expected } => {
                write!(f, "a {} key file was expected", expected.name())
            }
            KeyError::BadLine { line } => write!(
                f,
                "line {line} of the key file is neither `key-id` and 16 hex digits nor 64 hex digits"
            ),
            KeyError::Incomplete => f.write_str("the key file ends before the key"),
            KeyError::IdMismatch { stated, derived } => write!(
                f,
                "the key file states key id `{stated:016x}` but its key has id `{derived:016x}`"
            ),
            KeyError::NotAPoint => f.write_str("the key is not an ed25519 public key"),
            KeyError::Weak => {
                f.write_str("the key is a weak (small-order) ed25519 key that proves nothing")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KeyError {}

/// The two kinds of key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Public,
    Private,
}

impl KeyKind {
    pub const fn name(self) -> &'static str {
        match self {
            KeyKind::Public => "public",
            KeyKind::Private => "private",
        }
    }

    const fn header(self) -> &'static str {
        match self {
            KeyKind::Public => PUBLIC_HEADER,
            KeyKind::Private => PRIVATE_HEADER,
        }
    }
}

struct KeyFile {
    stated_id: u64,
    key: [u8; 32],
}

/// Parses a key file of `kind`: header, `key-id HEX16`, `HEX64`, each on its own line; surrounding
/// whitespace and `\r` are ignored, and nothing may follow.
fn parse_key_file(text: &str, kind: KeyKind) -> Result<KeyFile, KeyError> {
    let mut lines = text.lines().map(str::trim).enumerate();
    let header = lines.next().map(|(_, l)| l).unwrap_or_default();
    if header != kind.header() {
        let other = match kind {
            KeyKind::Public => KeyKind::Private,
            KeyKind::Private => KeyKind::Public,
        };
        return Err(if header == other.header() {
            KeyError::WrongKind { expected: kind }
        } else {
            KeyError::NotAKeyFile
        });
    }
    let (n, id_line) = lines.next().ok_or(KeyError::Incomplete)?;
    let stated_id = id_line
        .strip_prefix("key-id ")
        .and_then(|h| hex::<8>(h.trim()))
        .map(u64::from_be_bytes)
        .ok_or(KeyError::BadLine { line: n + 1 })?;
    let (n, key_line) = lines.next().ok_or(KeyError::Incomplete)?;
    let key = hex::<32>(key_line).ok_or(KeyError::BadLine { line: n + 1 })?;
    if let Some((n, _)) = lines.find(|(_, l)| !l.is_empty()) {
        return Err(KeyError::BadLine { line: n + 1 });
    }
    Ok(KeyFile { stated_id, key })
}

/// Exactly `2 * N` hex digits (either case).
fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = char::from(*pair.first()?).to_digit(16)?;
        let lo = char::from(*pair.get(1)?).to_digit(16)?;
        *byte = u8::try_from(hi << 4 | lo).ok()?;
    }
    Some(out)
}

#[cfg(feature = "std")]
fn key_file(kind: KeyKind, id: u64, key: &[u8; 32]) -> String {
    use core::fmt::Write as _;
    let mut out = format!("{}\nkey-id {id:016x}\n", kind.header());
    for b in key {
        let _ = write!(out, "{b:02x}");
    }
    out.push('\n');
    out
}

/// An Ed25519 signing key (std only: devices never sign). Its bytes are wiped when it is dropped.
#[cfg(feature = "std")]
pub struct SecretKey {
    key: ed25519_dalek::SigningKey,
}

#[cfg(feature = "std")]
impl SecretKey {
    /// The key of a 32-byte seed (from the operating system's random source, for a new key).
    pub fn from_seed(seed: &[u8; SECRET_KEY_LEN]) -> SecretKey {
        SecretKey {
            key: ed25519_dalek::SigningKey::from_bytes(seed),
        }
    }

    pub fn public(&self) -> PublicKey {
        let key = self.key.verifying_key();
        PublicKey {
            key,
            id: key_id(key.as_bytes()),
        }
    }

    /// Reads the text of a `.key` file; its stated key id must be its public key's.
    pub fn parse(text: &str) -> Result<SecretKey, KeyError> {
        let file = parse_key_file(text, KeyKind::Private)?;
        let key = SecretKey::from_seed(&file.key);
        let derived = key.public().id();
        if file.stated_id != derived {
            return Err(KeyError::IdMismatch {
                stated: file.stated_id,
                derived,
            });
        }
        Ok(key)
    }

    /// The text of a `.key` file. Whoever holds it can sign artifacts every device accepts.
    pub fn to_text(&self) -> String {
        key_file(KeyKind::Private, self.public().id(), self.key.as_bytes())
    }

    /// Signs `artifact` as it is (serial and schema hash included, any old signature replaced) and
    /// returns the signed artifact's bytes.
    pub fn sign(&self, artifact: &Artifact) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        let mut signed = artifact.clone();
        let payload = signed.signed_payload();
        let signature = self.key.sign(&payload);
        signed.signature = Some(crate::artifact::Signature {
            key_id: self.public().id(),
            bytes: signature.to_bytes(),
        });
        signed.encode()
    }
}

#[cfg(feature = "std")]
impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({:016x}, ..)", self.public().id())
    }
}
