//! End-to-end tests of the `fleetgate` binary: one test binary, one module per subcommand.
//!
//! In: the built binary (`CARGO_BIN_EXE_fleetgate`), the repository's policies and inputs written to
//! a scratch directory under `CARGO_TARGET_TMPDIR`. Out: exit statuses, and what the user reads on
//! stdout and stderr.

mod build;
mod check;
mod fmt;
mod lookahead;
mod plan;
mod shard;
mod sign;
mod simulate;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `fleetgate ARGS` with no colour and a fixed width.
pub fn fleetgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleetgate"))
        .args(args)
        .env("NO_COLOR", "1")
        // Wide enough that no message wraps: tests read messages, not their layout, and the paths
        // in them are as long as the checkout's (miette breaks long words anywhere).
        .env("COLUMNS", "10000")
        .output()
        .expect("the fleetgate binary runs")
}

pub fn status(output: &Output) -> i32 {
    output
        .status
        .code()
        .expect("exited with a status, not a signal")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Stderr as [`flat`] text: a message's lines (a long label, a source snippet) joined, so that
/// assertions look for words, not for where miette put them.
pub fn message(output: &Output) -> String {
    flat(&stderr(output))
}

/// A rendered error with miette's line wrapping undone (`×` message, `help:` on a line of its own).
pub fn flat(err: &str) -> String {
    let mut out = String::new();
    for line in err.lines() {
        let line = line.trim_start().trim_start_matches('│').trim();
        if line.starts_with("help:") || out.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
        } else {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("it-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}
