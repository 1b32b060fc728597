//! `fleetgate keygen --out PREFIX`: a new Ed25519 key pair for signing artifacts.
//!
//! In: a path prefix. Out: `PREFIX.key` (the private key, mode 0600, never printed) and `PREFIX.pub`
//! (the public key devices trust), in the text formats of `docs/security.md`; neither may exist yet.
//! Also the key files' reader for `build --sign` and `verify --key`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fleetgate_runtime::sign::{KeyError, PublicKey, SECRET_KEY_LEN, SecretKey};

use crate::error::CliError;

/// Generate a key pair for signing artifacts: `PREFIX.key` (private: keep it secret, it signs
/// artifacts every device will run) and `PREFIX.pub` (the public key a device is configured to trust).
///
/// The key id printed is the first 16 hex digits of the SHA-512 of the public key; signed artifacts
/// carry it. Existing files are never overwritten.
#[derive(clap::Args)]
pub struct Args {
    /// Path prefix of the two files, e.g. `keys/release-2026`.
    #[arg(long, value_name = "PREFIX")]
    pub out: PathBuf,
}

/// Key files are a few lines; anything longer is not one.
const MAX_KEY_FILE: u64 = 4096;

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let key_path = with_suffix(&args.out, ".key");
    let pub_path = with_suffix(&args.out, ".pub");
    for p in [&key_path, &pub_path] {
        if p.symlink_metadata().is_ok() {
            return Err(CliError::usage(format!("`{}` already exists", p.display()))
                .help("keygen never overwrites a key: choose another `--out` prefix, or move the old files away"));
        }
    }
    let mut seed = [0u8; SECRET_KEY_LEN];
    getrandom::fill(&mut seed).map_err(|e| {
        CliError::usage(format!(
            "cannot get random bytes from the operating system: {e}"
        ))
        .help("keys need the operating system's random source (`getrandom`)")
    })?;
    let secret = SecretKey::from_seed(&seed);
    seed.fill(0);
    let public = secret.public();

    write_new(&key_path, secret.to_text().as_bytes(), true)?;
    if let Err(e) = write_new(&pub_path, public.to_text().as_bytes(), false) {
        // No half a key pair: the private key is useless without its public key on record.
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    crate::outln!(
        "wrote {} (private: keep it secret) and {}, key id {:016x}",
        key_path.display(),
        pub_path.display(),
        public.id()
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates `path`, failing if it exists; a private file is readable by its owner only (mode 0600,
/// set when the file is created, so the key is never readable by others even briefly).
fn write_new(path: &Path, bytes: &[u8], private: bool) -> Result<(), CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            CliError::usage(format!("`{}` already exists", path.display()))
                .help("keygen never overwrites a key: choose another `--out` prefix")
        }
        _ => CliError::write(path, &e),
    })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::write(path, &e))
}

/// Reads a small text file (a key file), refusing anything larger than a key file can be.
fn read_key_text(path: &Path) -> Result<String, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError::io(path, &e))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::io(path, &e))?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(bad_key(path, "it is larger than a key file"));
    }
    String::from_utf8(bytes).map_err(|_| bad_key(path, "it is not text"))
}

fn bad_key(path: &Path, why: impl std::fmt::Display) -> CliError {
    CliError::usage(format!("`{}` is not a usable key file: {why}", path.display()))
        .help("`fleetgate keygen --out PREFIX` writes a private key `PREFIX.key` and a public key `PREFIX.pub`")
}

fn key_error(path: &Path, e: &KeyError) -> CliError {
    match e {
        KeyError::WrongKind { expected } => bad_key(path, e).help(match expected {
            fleetgate_runtime::sign::KeyKind::Public => {
                "give the `.pub` file: verifying never needs the private key"
            }
            fleetgate_runtime::sign::KeyKind::Private => {
                "signing needs the private key, the `.key` file"
            }
        }),
        _ => bad_key(path, e),
    }
}

/// The private key in `path` (`build --sign`).
pub fn read_secret(path: &Path) -> Result<SecretKey, CliError> {
    let text = read_key_text(path)?;
    SecretKey::parse(&text).map_err(|e| key_error(path, &e))
}

/// The public key in `path` (`verify --key`).
pub fn read_public(path: &Path) -> Result<PublicKey, CliError> {
    let text = read_key_text(path)?;
    PublicKey::parse(&text).map_err(|e| key_error(path, &e))
}
