//! `fleetgate simulate`: exit statuses, reports, and results that do not depend on threads.

use crate::{fleetgate, message, path_str, scratch, status, stderr, stdout};

const TINY: &str = "tests/data/tiny";

#[test]
fn passing_expectations_exit_0_and_reports_are_written() {
    let dir = scratch("sim-pass");
    let (json, junit, html) = (dir.join("r.json"), dir.join("r.xml"), dir.join("r.html"));
    let run = fleetgate(&[
        "simulate",
        TINY,
        "--json",
        path_str(&json),
        "--junit",
        path_str(&junit),
        "--html",
        path_str(&html),
    ]);
    assert_eq!(status(&run), 0, "{}{}", stdout(&run), stderr(&run));
    let text = stdout(&run);
    assert!(
        text.contains("scenario \"nominal\"") && text.contains("verdict: pass"),
        "{text}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("valid JSON");
    assert_eq!(doc["format"], "fleetgate-simulation");
    assert_eq!(doc["verdict"], "pass");
    assert_eq!(doc["expectations"].as_array().map(Vec::len), Some(2));
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(
        xml.contains("<testcase") && xml.contains("failures=\"0\""),
        "{xml}"
    );
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(
        page.starts_with("<!DOCTYPE html>") && page.contains("<svg") && !page.contains("<script"),
        "self-contained page"
    );
}

#[test]
fn the_json_report_does_not_depend_on_threads() {
    let dir = scratch("sim-threads");
    let mut reports = Vec::new();
    for threads in ["1", "2", "8"] {
        let out = dir.join(format!("r{threads}.json"));
        let run = fleetgate(&[
            "simulate",
            TINY,
            "--trials",
            "4",
            "--threads",
            threads,
            "--json",
            path_str(&out),
        ]);
        assert!(matches!(status(&run), 0 | 3), "{}", stderr(&run));
        reports.push(std::fs::read(&out).expect("report"));
    }
    assert!(
        reports[0] == reports[1] && reports[0] == reports[2],
        "reports differ between 1, 2 and 8 threads"
    );
}

#[test]
fn a_failing_expectation_exits_1() {
    let dir = scratch("sim-fail");
    let release = std::fs::read_to_string(format!("{TINY}/release.toml"))
        .expect("release")
        .replace(">= 50%", "<= 1%");
    let path = dir.join("release.toml");
    std::fs::write(&path, release).expect("write");
    let run = fleetgate(&["simulate", TINY, "--release", path_str(&path)]);
    assert_eq!(status(&run), 1, "{}", stdout(&run));
    assert!(stdout(&run).contains("FAIL"), "{}", stdout(&run));
}

#[test]
fn too_few_trials_are_inconclusive_and_exit_3() {
    let run = fleetgate(&["simulate", TINY, "--trials", "1", "--scenario", "nominal"]);
    assert_eq!(status(&run), 3, "{}", stdout(&run));
    assert!(stdout(&run).contains("inconclusive"));
    let allowed = fleetgate(&[
        "simulate",
        TINY,
        "--trials",
        "1",
        "--scenario",
        "nominal",
        "--allow-inconclusive",
    ]);
    assert_eq!(status(&allowed), 0);
}

#[test]
fn bad_input_exits_2_with_its_location() {
    let dir = scratch("sim-bad");
    let fleet = std::fs::read_to_string(format!("{TINY}/fleet.toml"))
        .expect("fleet")
        .replace("fields.battery", "fields.batery");
    let path = dir.join("fleet.toml");
    std::fs::write(&path, fleet).expect("write");
    let run = fleetgate(&["simulate", TINY, "--fleet", path_str(&path)]);
    assert_eq!(status(&run), 2);
    let err = stderr(&run);
    assert!(
        err.contains("fleet.toml:10:8") && err.contains("batery") && err.contains("battery"),
        "{err}"
    );
    let run = fleetgate(&["simulate", TINY, "--scenario", "nope"]);
    assert_eq!(status(&run), 2);
    assert!(message(&run).contains("no scenario `nope`"));
}
