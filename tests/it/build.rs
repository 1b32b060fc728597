//! `fleetgate build`, and the artifacts checked in from it.

use crate::{fleetgate, path_str, repo, scratch, status, stdout};

/// `policies/edge-ai/agent/` holds a built artifact and sidecar for the agent's session tests (the
/// agent crate cannot run the compiler): they must be what `build` makes today.
#[test]
fn checked_in_agent_artifact_is_current() {
    let dir = scratch("build");
    let out = dir.join("edge-ai.fga");
    let run = fleetgate(&["build", "policies/edge-ai", "-o", path_str(&out)]);
    assert_eq!(status(&run), 0, "{}", stdout(&run));
    let checked_in = repo().join("policies/edge-ai/agent/edge-ai.fga");
    let fresh = std::fs::read(&out).expect("built artifact");
    let old = std::fs::read(&checked_in).expect("checked-in artifact");
    assert!(
        fresh == old,
        "policies/edge-ai/agent/edge-ai.fga is stale: rebuild it with \
         `cargo run -- build policies/edge-ai -o policies/edge-ai/agent/edge-ai.fga` (see the README there)"
    );
    let fresh_side =
        std::fs::read_to_string(dir.join("edge-ai.fga.sidecar.json")).expect("built sidecar");
    let old_side =
        std::fs::read_to_string(repo().join("policies/edge-ai/agent/edge-ai.fga.sidecar.json"))
            .expect("sidecar");
    assert_eq!(
        fresh_side, old_side,
        "the checked-in sidecar is stale: rebuild it with the artifact"
    );
}

#[test]
fn build_reports_sizes_and_cost_bounds() {
    let dir = scratch("build-report");
    let out = dir.join("a.fga");
    let run = fleetgate(&["build", "policies/smart-meter", "-o", path_str(&out)]);
    assert_eq!(status(&run), 0);
    let text = stdout(&run);
    assert!(
        text.contains("bytes") && text.contains("cost bound") && text.contains("rails"),
        "{text}"
    );
    let bytes = std::fs::read(&out).expect("artifact");
    assert!(
        fleetgate_runtime::verify(&bytes).is_ok(),
        "the written artifact verifies"
    );
}
