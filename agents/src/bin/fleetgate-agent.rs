//! `fleetgate-agent --profile esp32c3|rk3566 --artifact FILE --script FILE.jsonl`: replays a scripted
//! device session over the in-memory flash model and prints its transcript (JSON lines). Exit status 0
//! when the script completes, 2 on bad input (artifact, sidecar, script).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Replay a scripted session of the Fleetgate device agent and print its transcript.
///
/// The script holds one JSON object per line: `{"telemetry": {…}}`, `{"tick": "10m"}`, `{"at": 3600}`,
/// `{"checkin": {"release": 7, "firmware": "v1.5.0"}}`, `{"fault": "download" | "install" | "boot" |
/// "power_loss"}`, `{"order": "pause" | "resume" | "freeze" | "abort"}`, `{"note": "…"}`. See
/// `agents/README.md`.
#[derive(Parser)]
#[command(name = "fleetgate-agent", version)]
struct Args {
    /// The device profile: `esp32c3` (interpreter, 1 boot attempt) or `rk3566` (native code when
    /// available, 3 boot attempts).
    #[arg(long)]
    profile: String,
    /// The policy artifact (`fleetgate build PATH -o FILE`); its sidecar `FILE.sidecar.json` must be
    /// next to it.
    #[arg(long, value_name = "FILE")]
    artifact: PathBuf,
    /// The session script (JSON lines).
    #[arg(long, value_name = "FILE.jsonl")]
    script: PathBuf,
    /// Also say on stderr which engine evaluated the policy (`interpreter` or `native`).
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match fleetgate_agents::session::cli(&args.profile, &args.artifact, &args.script) {
        Ok((transcript, engine)) => {
            print!("{transcript}");
            if args.verbose {
                eprintln!(
                    "fleetgate-agent: profile {}, engine {}",
                    args.profile,
                    engine.unwrap_or("none (the device never started)")
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
