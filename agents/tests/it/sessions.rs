//! Scripted sessions under `policies/edge-ai/agent/`: each `NAME.PROFILE.jsonl` replays to exactly the
//! checked-in `NAME.PROFILE.transcript.jsonl` (set `FLEETGATE_BLESS=1` to rewrite them after an
//! intended change). And the `fleetgate-agent` binary prints the same, with its exit statuses.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use fleetgate_agents::Profile;
use fleetgate_agents::session;

/// Every session script, sorted, with its profile (the second extension).
fn sessions() -> Vec<(PathBuf, Profile)> {
    let mut out: Vec<(PathBuf, Profile)> = std::fs::read_dir(agent_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.ends_with(".jsonl") && !name.ends_with(".transcript.jsonl")
        })
        .map(|p| {
            let stem = p.file_stem().unwrap().to_str().unwrap();
            let profile = stem.rsplit('.').next().and_then(Profile::from_name);
            (
                p.clone(),
                profile.unwrap_or_else(|| panic!("{}: name it NAME.PROFILE.jsonl", p.display())),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn transcript_path(script: &Path) -> PathBuf {
    script.with_extension("transcript.jsonl")
}

#[test]
fn sessions_replay_to_their_checked_in_transcripts() {
    let (policy, sidecar) = edge_ai();
    let bless = std::env::var_os("FLEETGATE_BLESS").is_some();
    let all = sessions();
    let names: Vec<String> = all
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for required in [
        "clean-update",
        "deferral",
        "health-rollback",
        "power-loss",
        "crash-loop",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(required)),
            "no `{required}` session in {names:?}"
        );
    }
    let mut failures = Vec::new();
    for (script, profile) in &all {
        let text = std::fs::read_to_string(script).unwrap();
        let got = session::run(*profile, policy, sidecar, &text)
            .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
        let expected_path = transcript_path(script);
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "{} is missing: run with FLEETGATE_BLESS=1",
                expected_path.display()
            )
        });
        if got != expected {
            let line = got
                .lines()
                .zip(expected.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| got.lines().count().min(expected.lines().count()));
            failures.push(format!(
                "{}: transcript differs from line {}:\n  got      {}\n  expected {}",
                script.display(),
                line + 1,
                got.lines().nth(line).unwrap_or("<end>"),
                expected.lines().nth(line).unwrap_or("<end>")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(rewrite with FLEETGATE_BLESS=1 if intended)",
        failures.join("\n")
    );
}

fn agent_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fleetgate-agent"))
}

#[test]
fn the_binary_prints_the_transcript() {
    let (script, profile) = sessions().into_iter().next().unwrap();
    let out = agent_bin()
        .args(["--profile", profile.name(), "--artifact"])
        .arg(artifact_path())
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read_to_string(transcript_path(&script)).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn a_bad_artifact_or_a_missing_sidecar_exits_2() {
    let dir = std::env::temp_dir().join(format!("fleetgate-agent-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (script, _) = sessions().into_iter().next().unwrap();

    let bad = dir.join("bad.fga");
    std::fs::write(&bad, b"FGPA not really").unwrap();
    let out = agent_bin()
        .args(["--profile", "esp32c3", "--artifact"])
        .arg(&bad)
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a valid policy artifact"), "{err}");

    let lonely = dir.join("lonely.fga");
    std::fs::copy(artifact_path(), &lonely).unwrap();
    let out = agent_bin()
        .args(["--profile", "rk3566", "--artifact"])
        .arg(&lonely)
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read the sidecar") && err.contains("help:"),
        "{err}"
    );

    let out = agent_bin()
        .args(["--profile", "esp8266", "--artifact"])
        .arg(artifact_path())
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn script_errors_name_the_line() {
    let (policy, sidecar) = edge_ai();
    let cases = [
        (
            "{\"telemetry\": {\"batery\": 0.5}}",
            "line 1: `device` has no field `batery`",
        ),
        (
            "{\"checkin\": {\"release\": 1, \"firmware\": \"v1.5.0\"}}",
            "line 1: the device's factory versions are not given",
        ),
        (
            "{\"telemetry\": {\"firmware\": \"v1\", \"model\": \"v1\", \"config\": \"v1\"}}\n{\"order\": \"stop\"}",
            "line 2: unknown order",
        ),
        ("[1]", "line 1: each line must be one JSON object"),
        ("{\"tick\": \"soon\"}", "line 1: `tick` takes a duration"),
    ];
    for (script, expected) in cases {
        let err = session::run(Profile::Esp32c3, policy, sidecar, script).unwrap_err();
        assert!(
            err.message.starts_with(expected),
            "{script}: {}",
            err.message
        );
    }
}
