//! `fleetgate verify FILE --key PUB [--min-serial N]`: would a device that trusts `PUB` run this
//! artifact?
//!
//! In: an artifact file and a public key file. Out: exit 0 and one line for an intact artifact signed
//! by that key with serial at least N; exit 1 and the reason in words otherwise (unsigned, signed by
//! another key, bad signature, older serial, or the verifier's error for malformed bytes); exit 2 when a
//! file cannot be read. The same checks, in the same order, as a device (`runtime::sign`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fleetgate_runtime::artifact::MAX_ARTIFACT_LEN;
use fleetgate_runtime::sign::{self, SignError};

use crate::cmd::keygen;
use crate::error::CliError;

/// Check that an artifact is intact and signed by a trusted key, as a device would before running it.
///
/// Exits 0 when `FILE` is a valid artifact signed by the key in `--key` with a serial of at least
/// `--min-serial`, 1 when it is not (the reason is printed), 2 when a file cannot be read.
#[derive(clap::Args)]
pub struct Args {
    /// The artifact (`fleetgate build … --sign KEY --serial N -o FILE`).
    pub file: PathBuf,
    /// The public key file (`PREFIX.pub` from `fleetgate keygen`) that must have signed it.
    #[arg(long, value_name = "PUB")]
    pub key: PathBuf,
    /// Refuse an artifact whose serial is below N (a device that accepted serial N refuses older ones).
    #[arg(long, value_name = "N")]
    pub min_serial: Option<u64>,
}

/// Reads at most `max` bytes of `path`; a longer file is refused without reading the rest. Exit 2 for
/// IO errors, `too_large` (with the file's size) otherwise.
pub fn read_limited(
    path: &Path,
    max: usize,
    too_large: impl FnOnce(u64) -> CliError,
) -> Result<Vec<u8>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError::io(path, &e))?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::io(path, &e))?;
    if bytes.len() > max {
        let size = std::fs::metadata(path)
            .map(|m| m.len())
            .unwrap_or(bytes.len() as u64);
        return Err(too_large(size));
    }
    Ok(bytes)
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let file = args.file.display().to_string();
    let key = keygen::read_public(&args.key)?;
    let bytes = read_limited(&args.file, MAX_ARTIFACT_LEN, |size| {
        CliError::usage(format!("`{file}` is not a valid artifact: it is {size} bytes, more than the {MAX_ARTIFACT_LEN} bytes a device accepts"))
            .help("artifacts are a few KiB: check that this is the file `fleetgate build` wrote")
            .status(1)
    })?;
    let policy = sign::verify_signed(&bytes, &key).map_err(|e| refused(&file, &args.key, &e))?;
    let artifact = policy.artifact();
    if let Some(min) = args.min_serial
        && artifact.serial < min
    {
        return Err(CliError::usage(format!("`{file}` has serial {}, older than the minimum {min}", artifact.serial))
            .help(format!(
                "devices that accepted serial {min} refuse it: rebuild with `fleetgate build PATH --sign KEY --serial N` and N >= {min}"
            ))
            .status(1));
    }
    crate::outln!(
        "ok: `{file}` is signed by key {:016x} (serial {}, schema {:016x}, {} bytes)",
        key.id(),
        artifact.serial,
        artifact.schema_hash,
        bytes.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn refused(file: &str, key_path: &Path, e: &SignError) -> CliError {
    let key_path = key_path.display();
    let (message, help) = match e {
        SignError::Malformed(e) => (
            format!("`{file}` is not a valid artifact: {e}"),
            "the file is damaged or not an artifact: take it again from `fleetgate build`".to_string(),
        ),
        SignError::Unsigned => (
            format!("`{file}` is not signed"),
            "devices only run signed artifacts: `fleetgate build PATH --sign KEY --serial N -o FILE`".to_string(),
        ),
        SignError::OtherKey { expected, found } => (
            format!("`{file}` is signed by another key: key id {found:016x}, not {expected:016x} (`{key_path}`)"),
            "check that `--key` is the public key of the key that signs releases".to_string(),
        ),
        SignError::BadSignature { key_id } => (
            format!("`{file}` has a bad signature: its bytes are not what key {key_id:016x} signed"),
            "the artifact was changed after signing, or the signature is forged: do not release it".to_string(),
        ),
    };
    CliError::usage(message).help(help).status(1)
}
