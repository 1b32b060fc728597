//! `fleetgate plan`: install orders per class, and the exit status when a class can never take a release.

use crate::{fleetgate, message, status, stderr, stdout};

#[test]
fn every_class_takes_the_default_release() {
    let run = fleetgate(&[
        "plan",
        "policies/edge-ai",
        "--fleet",
        "policies/edge-ai/fleet.toml",
    ]);
    assert_eq!(status(&run), 0, "{}{}", stdout(&run), stderr(&run));
    let text = stdout(&run);
    assert!(
        text.contains("esp32c3") && text.contains("rk3566") && text.contains("firmware, model"),
        "{text}"
    );
}

#[test]
fn a_class_that_never_can_fails_with_help() {
    let run = fleetgate(&[
        "plan",
        "policies/edge-ai",
        "--release",
        "policies/edge-ai/releases/model-3.toml",
        "--fleet",
        "policies/edge-ai/fleet.toml",
    ]);
    assert_eq!(status(&run), 1);
    assert!(
        stdout(&run).contains("model 3.x does not fit in ESP32-C3 flash"),
        "{}",
        stdout(&run)
    );
    let err = message(&run);
    assert!(
        err.contains("`esp32c3` can never take release `model-3.0`") && err.contains("help:"),
        "{err}"
    );
}

#[test]
fn plan_as_json() {
    let run = fleetgate(&[
        "plan",
        "policies/edge-ai",
        "--fleet",
        "policies/edge-ai/fleet.toml",
        "--format",
        "json",
    ]);
    assert_eq!(status(&run), 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&run)).expect("JSON");
    assert!(doc["rows"].as_array().is_some_and(|r| !r.is_empty()));
    assert_eq!(doc["never"], serde_json::json!([]));
}

#[test]
fn a_bad_fleet_file_is_reported_with_its_location() {
    let dir = crate::scratch("plan-bad");
    let fleet = std::fs::read_to_string("policies/edge-ai/fleet.toml")
        .expect("fleet")
        .replace("share = 0.45", "share = 1.45");
    let path = dir.join("fleet.toml");
    std::fs::write(&path, fleet).expect("write");
    let run = fleetgate(&[
        "plan",
        "policies/edge-ai",
        "--fleet",
        crate::path_str(&path),
    ]);
    assert_eq!(status(&run), 2);
    let err = stderr(&run);
    assert!(
        err.contains("fleet.toml:25:") && err.contains("share"),
        "{err}"
    );
}

/// Snapshots of what a reviewer reads: the install-order table per class of the example fleet, the
/// table over every version mix the package mentions (no fleet), and a release that some class can
/// never take (stdout and the diagnostic).
#[test]
fn plan_snapshots() {
    let fleet = fleetgate(&[
        "plan",
        "policies/edge-ai",
        "--fleet",
        "policies/edge-ai/fleet.toml",
    ]);
    assert_eq!(status(&fleet), 0, "{}", stderr(&fleet));
    insta::assert_snapshot!("plan_edge_ai_fleet", stdout(&fleet));

    let mixes = fleetgate(&["plan", "policies/edge-ai"]);
    assert_eq!(status(&mixes), 0, "{}", stderr(&mixes));
    insta::assert_snapshot!("plan_edge_ai_every_mix", stdout(&mixes));

    let no_release = fleetgate(&["plan", "policies/smart-meter"]);
    assert_eq!(status(&no_release), 2);
    insta::assert_snapshot!("plan_smart_meter_no_release", stderr(&no_release));

    let never = fleetgate(&[
        "plan",
        "policies/edge-ai",
        "--release",
        "policies/edge-ai/releases/model-3.toml",
        "--fleet",
        "policies/edge-ai/fleet.toml",
    ]);
    assert_eq!(status(&never), 1);
    insta::assert_snapshot!(
        "plan_edge_ai_never",
        format!("{}\n--- stderr\n{}", stdout(&never), stderr(&never))
    );
}
