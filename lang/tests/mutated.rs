//! Mutated and random sources: the example packages with random edits (bytes, tokens, cut and
//! duplicated ranges) and plain random bytes never make `check` or the formatter panic, and what the
//! formatter accepts it formats idempotently. Each case runs on a 256 KiB stack, like `hostile.rs`:
//! the front end's recursion is bounded by its limits, not by the stack's size.
//!
//! Cases: `FLEETGATE_PROPTEST_CASES` (default 128 per property). `fuzz/` runs the same target
//! unbounded under libFuzzer (docs/security.md).

use std::path::{Path, PathBuf};

use fleetgate_lang::Sources;
use proptest::prelude::*;

const SMALL_STACK: usize = 256 * 1024;

fn cases() -> u32 {
    std::env::var("FLEETGATE_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(128)
}

/// Every `.policy` file under `dir`, sorted.
fn policy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("policies directory")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            policy_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "policy") {
            out.push(p);
        }
    }
}

/// The example packages: per package, its files' bytes.
fn packages() -> Vec<Vec<Vec<u8>>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies");
    ["edge-ai", "smart-meter"]
        .iter()
        .map(|name| {
            let mut files = Vec::new();
            policy_files(&root.join(name), &mut files);
            files
                .iter()
                .map(|f| std::fs::read(f).expect("policy file"))
                .collect()
        })
        .collect()
}

/// Tokens an edit may insert: keywords, punctuation, and things that stress the scanner.
const TOKENS: &[&str] = &[
    "rail",
    "health",
    "gate",
    "ring",
    "rollout",
    "deny",
    "defer",
    "rollback",
    "require",
    "abort",
    "when",
    "and",
    "or",
    "not",
    "in",
    "between",
    "depends",
    "incompatible",
    "let",
    "enum",
    "device",
    "plane",
    "fixture",
    "test",
    "expect",
    "per",
    "for",
    "checks",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "//",
    "\n",
    "==",
    "<=",
    "->",
    ",",
    ".",
    "v1.2.3",
    "99999999999999999999",
    "1e308",
    "-",
    "%",
    "\0",
    "\u{feff}",
    "é",
    "((((((((",
    "))))",
    "device.battery",
    "now.hour",
    "release.model",
    "ring.size",
];

/// One edit: what and where (positions and sizes taken modulo the text's length).
#[derive(Clone, Debug)]
enum Edit {
    Byte(prop::sample::Index, u8),
    Insert(prop::sample::Index, usize),
    Delete(prop::sample::Index, usize),
    Duplicate(prop::sample::Index, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Byte(i, b)),
        (any::<prop::sample::Index>(), 0..TOKENS.len()).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<prop::sample::Index>(), 1usize..200).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<prop::sample::Index>(), 1usize..400).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    let at = |i: &prop::sample::Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
    match e {
        Edit::Byte(i, b) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            bytes[i] = *b;
        }
        Edit::Byte(..) => {}
        Edit::Insert(i, t) => {
            let i = at(i, bytes.len());
            bytes.splice(i..i, TOKENS[*t].bytes());
        }
        Edit::Delete(i, n) => {
            let i = at(i, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Edit::Duplicate(i, n) => {
            let i = at(i, bytes.len());
            let end = (i + n).min(bytes.len());
            let copy = bytes[i..end].to_vec();
            bytes.splice(i..i, copy);
        }
    }
}

/// Checks `files` as one package and formats each; never panics (on a small stack), and the formatter
/// is idempotent on what it accepts.
fn check_and_format(files: Vec<Vec<u8>>) {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(move || {
            let mut sources = Sources::new();
            for (i, f) in files.iter().enumerate() {
                sources.add_bytes(format!("f{i}.policy"), f);
            }
            let checked = fleetgate_lang::check(&sources);
            if checked.package.is_some() {
                assert!(!checked.diagnostics.iter().any(|d| d.is_error()));
            }
            for f in &files {
                let Ok(text) = std::str::from_utf8(f) else {
                    continue;
                };
                if let Ok(formatted) = fleetgate_lang::fmt::format_source(text) {
                    let again = fleetgate_lang::fmt::format_source(&formatted);
                    assert_eq!(
                        again.as_ref().ok(),
                        Some(&formatted),
                        "formatting is not idempotent"
                    );
                }
            }
        })
        .expect("spawn")
        .join()
        .expect("no panic");
}

#[test]
fn the_example_packages_check_clean() {
    for files in packages() {
        let mut sources = Sources::new();
        for (i, f) in files.iter().enumerate() {
            sources.add_bytes(format!("f{i}.policy"), f);
        }
        assert!(fleetgate_lang::check(&sources).package.is_some());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_packages_never_panic(
        package in 0usize..2,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), edit()), 1..12),
    ) {
        let mut files = packages().swap_remove(package);
        for (file, e) in &edits {
            let n = files.len();
            apply(&mut files[file.index(n)], e);
        }
        check_and_format(files);
    }

    #[test]
    fn random_bytes_never_panic(
        files in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2048), 1..4),
    ) {
        check_and_format(files);
    }

    #[test]
    fn random_token_soup_never_panics(
        tokens in proptest::collection::vec((0..TOKENS.len(), 0u8..3), 0..400),
    ) {
        let mut text = String::new();
        for (t, sep) in tokens {
            text.push_str(TOKENS[t]);
            text.push_str(["", " ", "\n"][usize::from(sep)]);
        }
        check_and_format(vec![text.into_bytes()]);
    }
}
