//! `fleetgate build PATH -o FILE [--sign KEY --serial N]`: compile a package into its artifact and
//! sidecar, optionally signed.

use std::path::PathBuf;
use std::process::ExitCode;

use fleetgate_runtime::artifact::FunctionKind;

use crate::cmd::common;
use crate::diag::Format;
use crate::error::CliError;

/// Compile a package into a bytecode artifact (`FILE`) and its sidecar (`FILE.sidecar.json`, the
/// names, reasons and source locations that devices do not need).
///
/// Prints the artifact's size and, per kind of rule, the static cost bound: the most instructions one
/// evaluation can run.
#[derive(clap::Args)]
pub struct Args {
    /// A package directory or one `.policy` file.
    pub path: PathBuf,
    /// Where to write the artifact.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Sign the artifact with this private key (`PREFIX.key` from `fleetgate keygen`). The signature
    /// covers every byte before it, serial and schema hash included.
    #[arg(long, value_name = "KEY", requires = "serial")]
    pub sign: Option<PathBuf>,
    /// The artifact's serial: devices refuse an artifact with a lower serial than one they accepted.
    /// Required with `--sign`; raise it with every release.
    #[arg(long, value_name = "N")]
    pub serial: Option<u64>,
}

pub fn sidecar_path(artifact: &std::path::Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".sidecar.json");
    PathBuf::from(name)
}

pub fn kind_name(kind: FunctionKind, side: &fleetgate_compiler::sidecar::Sidecar) -> String {
    match kind {
        FunctionKind::Rails => "rails".into(),
        FunctionKind::Health => "health".into(),
        FunctionKind::Constraints => "constraints".into(),
        FunctionKind::Rings => "ring filters".into(),
        FunctionKind::Gate(g) => format!(
            "gate {}",
            side.gates.get(usize::from(g)).map_or("?", String::as_str)
        ),
    }
}

/// The cost table `build` and `check` print.
pub fn cost_table(compiled: &fleetgate_compiler::Compiled) -> String {
    let mut out = format!(
        "  {:<28} {:>7} {:>10} {:>6} {:>7}\n",
        "kind", "clauses", "cost bound", "stack", "bytes"
    );
    for f in &compiled.artifact.functions {
        out.push_str(&format!(
            "  {:<28} {:>7} {:>10} {:>6} {:>7}\n",
            kind_name(f.kind, &compiled.sidecar),
            f.n_clauses,
            f.cost,
            f.max_stack,
            f.code.len()
        ));
    }
    out
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    // The key is read first: a bad key path should not cost a compile.
    let key = args
        .sign
        .as_deref()
        .map(crate::cmd::keygen::read_secret)
        .transpose()?;
    let ready = common::load_and_compile(&args.path, Format::Human)?;
    let compiled = &ready.compiled;
    let mut artifact = compiled.artifact.clone();
    artifact.serial = args.serial.unwrap_or(artifact.serial);
    let bytes = match &key {
        Some(key) => {
            let bytes = key.sign(&artifact);
            // What is written is what a device trusting this key accepts.
            fleetgate_runtime::sign::verify_signed(&bytes, &key.public()).map_err(|e| {
                CliError::usage(format!(
                    "internal error: the signed artifact does not verify: {e}"
                ))
            })?;
            bytes
        }
        None => artifact.encode(),
    };
    std::fs::write(&args.output, &bytes).map_err(|e| CliError::write(&args.output, &e))?;
    let side = sidecar_path(&args.output);
    std::fs::write(&side, compiled.sidecar.to_json()).map_err(|e| CliError::write(&side, &e))?;
    let code: usize = compiled
        .artifact
        .functions
        .iter()
        .map(|f| f.code.len())
        .sum();
    crate::outln!(
        "wrote {} ({} bytes, {} of bytecode, schema {:016x}) and {}",
        args.output.display(),
        bytes.len(),
        code,
        compiled.artifact.schema_hash,
        side.display()
    );
    if let Some(key) = &key {
        crate::outln!(
            "signed by key {:016x}, serial {}",
            key.public().id(),
            artifact.serial
        );
    }
    crate::out!("{}", cost_table(compiled));
    Ok(ExitCode::SUCCESS)
}
