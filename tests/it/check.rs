//! `fleetgate check`: exit statuses 0 (no error), 1 (the package has errors) and 2 (the path cannot be
//! read); human and JSON output; hostile files that must give a clear diagnostic and never a crash.

use crate::{fleetgate, message, path_str, repo, scratch, status, stderr, stdout};

/// The diagnostics of `--format json`: one JSON object per line.
fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {e}: {l}")))
        .collect()
}

fn codes(out: &str) -> Vec<String> {
    json_lines(out)
        .iter()
        .map(|d| {
            d["code"]
                .as_str()
                .expect("code")
                .trim_start_matches("fleetgate::lang::")
                .to_string()
        })
        .collect()
}

/// Writes `bytes` as a one-file package and checks it with `--format json`: (status, codes).
fn check_file(name: &str, bytes: &[u8]) -> (i32, Vec<String>) {
    let dir = scratch(name);
    let file = dir.join(format!("{name}.policy"));
    std::fs::write(&file, bytes).expect("write");
    let out = fleetgate(&["check", "--format", "json", path_str(&file)]);
    let _ = std::fs::remove_dir_all(&dir);
    (status(&out), codes(&stdout(&out)))
}

const DEVICE: &str = "device {\n  n: int\n}\n";

#[test]
fn the_example_package_checks() {
    let out = fleetgate(&["check", path_str(&repo().join("policies/edge-ai"))]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(
        message(&out).contains("check ok: 0 errors, 0 warnings in 10 files"),
        "{}",
        stderr(&out)
    );
    let json = fleetgate(&[
        "check",
        "--format",
        "json",
        path_str(&repo().join("policies/edge-ai")),
    ]);
    assert_eq!(status(&json), 0);
    assert_eq!(stdout(&json), "", "no diagnostics, no lines");
}

#[test]
fn warnings_do_not_fail_the_check() {
    let out = fleetgate(&[
        "check",
        "--format",
        "json",
        path_str(&repo().join("lang/test_data/valid/warnings.policy")),
    ]);
    assert_eq!(status(&out), 0);
    let lines = json_lines(&stdout(&out));
    assert!(
        !lines.is_empty() && lines.iter().all(|d| d["severity"] == "warning"),
        "{lines:?}"
    );
}

#[test]
fn errors_exit_one_with_human_output() {
    let file = repo().join("lang/test_data/invalid/types.policy");
    let out = fleetgate(&["check", path_str(&file)]);
    assert_eq!(status(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("fleetgate::lang::type_mismatch"), "{err}");
    assert!(
        err.contains("× a condition must be `bool`, found `int`"),
        "{err}"
    );
    assert!(
        err.contains("types.policy:15:16"),
        "the location is shown: {err}"
    );
    assert!(err.contains("help: compare the value"), "{err}");
    assert!(
        err.lines()
            .last()
            .is_some_and(|l| l.starts_with("check failed: ") && l.ends_with("in 1 file")),
        "{err}"
    );
    assert_eq!(stdout(&out), "", "human output goes to stderr");
}

#[test]
fn json_output_has_one_object_per_diagnostic() {
    let file = repo().join("lang/test_data/invalid/optional.policy");
    let out = fleetgate(&["check", "--format", "json", path_str(&file)]);
    assert_eq!(status(&out), 1);
    let lines = json_lines(&stdout(&out));
    assert_eq!(lines.len(), 9, "{lines:?}");
    let first = &lines[0];
    for key in [
        "code",
        "severity",
        "message",
        "file",
        "line",
        "column",
        "help",
        "end_line",
        "end_column",
        "label",
    ] {
        assert!(first.get(key).is_some(), "`{key}` missing from {first}");
    }
    assert_eq!(first["code"], "fleetgate::lang::optional_value");
    assert_eq!(first["severity"], "error");
    assert_eq!(
        first["message"],
        "`device.rssi` may be missing, so it cannot be used as `int` directly"
    );
    assert!(
        first["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("optional.policy"))
    );
    assert_eq!(
        (first["line"].as_u64(), first["column"].as_u64()),
        (Some(13), Some(16))
    );
    assert!(
        first["help"]
            .as_str()
            .is_some_and(|h| h.contains("device.rssi ?? DEFAULT"))
    );
    // A diagnostic without help has `"help": null`.
    let no_help = lines
        .iter()
        .find(|d| d["code"] == "fleetgate::lang::type_mismatch")
        .expect("a type mismatch");
    assert!(no_help["help"].is_null());
}

#[test]
fn json_for_a_multi_file_package_names_each_file() {
    let out = fleetgate(&[
        "check",
        "--format",
        "json",
        path_str(&repo().join("lang/test_data/invalid/multi")),
    ]);
    assert_eq!(status(&out), 1);
    let files: Vec<String> = json_lines(&stdout(&out))
        .iter()
        .map(|d| d["file"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("multi/rules.policy")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("multi/tests/more.policy")),
        "{files:?}"
    );
}

#[test]
fn a_path_that_does_not_exist_exits_two() {
    let missing = scratch("missing").join("no-such-package");
    for format in ["human", "json"] {
        let out = fleetgate(&["check", "--format", format, path_str(&missing)]);
        assert_eq!(status(&out), 2);
        let err = message(&out);
        assert!(
            err.contains("cannot read") && err.contains("no such file or directory"),
            "{err}"
        );
        assert_eq!(
            stdout(&out),
            "",
            "a path that cannot be read is not a diagnostic, even with `--format json`"
        );
    }
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(status(&fleetgate(&["check"])), 2);
    assert_eq!(status(&fleetgate(&["check", "--format", "yaml", "x"])), 2);
    assert_eq!(status(&fleetgate(&["no-such-command"])), 2);
}

#[test]
fn an_empty_directory() {
    let dir = scratch("empty");
    let out = fleetgate(&["check", "--format", "json", path_str(&dir)]);
    assert_eq!(status(&out), 1);
    assert_eq!(codes(&stdout(&out)), ["empty_package"]);
    let human = fleetgate(&["check", path_str(&dir)]);
    assert_eq!(status(&human), 1);
    assert!(
        message(&human).contains("package has no `.policy` files"),
        "{}",
        stderr(&human)
    );
}

#[test]
fn a_directory_of_other_files_only() {
    let dir = scratch("other");
    std::fs::write(dir.join("README.md"), "not a policy").expect("write");
    std::fs::create_dir_all(dir.join(".hidden")).expect("mkdir");
    std::fs::write(dir.join(".hidden/x.policy"), "garbage").expect("write");
    let out = fleetgate(&["check", "--format", "json", path_str(&dir)]);
    assert_eq!(
        (status(&out), codes(&stdout(&out))),
        (1, vec!["empty_package".to_string()])
    );
}

#[test]
fn hundred_thousand_nested_parentheses() {
    let text = format!(
        "{DEVICE}let x = {}true{}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert_eq!(
        check_file("parens", text.as_bytes()),
        (1, vec!["nesting_too_deep".to_string()])
    );
}

#[test]
fn hundred_thousand_nots() {
    let text = format!("{DEVICE}let x = {}true\n", "not ".repeat(100_000));
    assert_eq!(
        check_file("nots", text.as_bytes()),
        (1, vec!["expression_too_deep".to_string()])
    );
}

#[test]
fn a_ten_megabyte_file() {
    let line = "let x = device.n > 1 // padding padding padding padding padding padding\n";
    let text = format!("{DEVICE}{}", line.repeat(10 * 1024 * 1024 / line.len() + 1));
    assert_eq!(
        check_file("big", text.as_bytes()),
        (1, vec!["source_too_large".to_string()])
    );
}

#[test]
fn invalid_utf8() {
    let mut bytes = DEVICE.as_bytes().to_vec();
    bytes.extend_from_slice(b"let x = \"caf\xe9\"\n");
    let dir = scratch("utf8");
    let file = dir.join("latin1.policy");
    std::fs::write(&file, &bytes).expect("write");
    let out = fleetgate(&["check", "--format", "json", path_str(&file)]);
    assert_eq!(status(&out), 1);
    let lines = json_lines(&stdout(&out));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["code"], "fleetgate::lang::invalid_utf8");
    assert_eq!(
        (lines[0]["line"].as_u64(), lines[0]["column"].as_u64()),
        (Some(4), Some(13))
    );
    let human = fleetgate(&["check", path_str(&file)]);
    assert!(
        message(&human).contains("file is not valid UTF-8"),
        "{}",
        stderr(&human)
    );
}

#[test]
fn a_binary_file() {
    let bytes = [0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        check_file("binary", &bytes),
        (1, vec!["binary_file".to_string()])
    );
    let human = fleetgate(&[
        "check",
        path_str(&repo().join("lang/test_data/invalid/binary_file.policy")),
    ]);
    assert_eq!(status(&human), 1);
    assert!(
        message(&human).contains("file contains a NUL byte"),
        "{}",
        stderr(&human)
    );
}

#[test]
fn a_binary_file_next_to_good_ones() {
    let dir = scratch("mixed");
    std::fs::write(dir.join("a.policy"), DEVICE).expect("write");
    std::fs::write(dir.join("b.policy"), [b'x', 0, b'y']).expect("write");
    let out = fleetgate(&["check", "--format", "json", path_str(&dir)]);
    assert_eq!(
        (status(&out), codes(&stdout(&out))),
        (1, vec!["binary_file".to_string()])
    );
}
