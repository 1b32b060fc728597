//! `fleetgate fmt`: `--check` reports the files that are not in the canonical layout (exit 1, naming
//! each), `fmt` rewrites them (after which `--check` passes), and a file that does not parse is never
//! rewritten.

use crate::{fleetgate, message, path_str, repo, scratch, status, stderr, stdout};

const UNFORMATTED: &str = "device {\n    n: int\n    o: int?\n}\nlet   x =device.n>1   and(device.o??0)<2 // keep me\n\n\n\nrail r{\ndeny \"x\" when x}\n";

const FORMATTED: &str = "device {\n  n: int\n  o: int?\n}\nlet x = device.n > 1 and (device.o ?? 0) < 2  // keep me\n\nrail r {\n  deny \"x\" when x\n}\n";

/// A scratch copy of a package: `(name, text)` files in a fresh directory.
fn package(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = scratch(name);
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

#[test]
fn check_names_unformatted_files_then_fmt_rewrites_them() {
    let dir = package(
        "fmt",
        &[
            ("a.policy", UNFORMATTED),
            ("sub/b.policy", "let y = x or true\n"),
        ],
    );
    let a = dir.join("a.policy");

    let out = fleetgate(&["fmt", "--check", path_str(&dir)]);
    assert_eq!(status(&out), 1);
    assert_eq!(stdout(&out), format!("would reformat {}\n", a.display()));
    assert!(
        message(&out).contains("1 file is not formatted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&a).expect("read"),
        UNFORMATTED,
        "--check changes nothing"
    );

    let out = fleetgate(&["fmt", path_str(&dir)]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("reformatted {}\n", a.display()));
    assert_eq!(std::fs::read_to_string(&a).expect("read"), FORMATTED);

    let out = fleetgate(&["fmt", "--check", path_str(&dir)]);
    assert_eq!((status(&out), stdout(&out)), (0, String::new()));
    // The rewritten package means the same.
    assert_eq!(status(&fleetgate(&["check", path_str(&dir)])), 0);
}

#[test]
fn the_example_package_is_formatted() {
    let out = fleetgate(&["fmt", "--check", path_str(&repo().join("policies/edge-ai"))]);
    assert_eq!(status(&out), 0, "{}{}", stdout(&out), stderr(&out));
}

#[test]
fn a_file_that_does_not_parse_is_never_rewritten() {
    let broken = "device {\n  n: int\n}\nlet   x = device.n >\n";
    let dir = package(
        "broken",
        &[("broken.policy", broken), ("ok.policy", UNFORMATTED)],
    );
    let out = fleetgate(&["fmt", path_str(&dir)]);
    assert_eq!(status(&out), 1);
    assert!(
        message(&out).contains("fleetgate::lang::syntax"),
        "{}",
        stderr(&out)
    );
    assert!(message(&out).contains("broken.policy"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.join("broken.policy")).expect("read"),
        broken
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("ok.policy")).expect("read"),
        FORMATTED,
        "the other file is still formatted"
    );
}

#[test]
fn fmt_of_files_that_are_not_text() {
    let dir = scratch("fmt-binary");
    std::fs::write(dir.join("b.policy"), [0u8, 1, 2]).expect("write");
    let out = fleetgate(&["fmt", "--check", path_str(&dir)]);
    assert_eq!(status(&out), 1);
    assert!(
        message(&out).contains("fleetgate::lang::binary_file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn fmt_of_a_path_that_does_not_exist_exits_two() {
    let out = fleetgate(&[
        "fmt",
        "--check",
        path_str(&scratch("fmt-missing").join("nope")),
    ]);
    assert_eq!(status(&out), 2);
    assert!(message(&out).contains("cannot read"), "{}", stderr(&out));
    assert_eq!(status(&fleetgate(&["fmt"])), 2, "a path is required");
}
