//! The formatter over every policy of the repository: idempotent, and meaning-preserving.
//!
//! In: every `.policy` file under `policies/` and `lang/test_data/valid/`, grouped into packages (a
//! directory directly under either is a package; a file directly under either is a one-file package).
//! Out: a failure naming each file whose formatted text formats differently again (or differently with
//! CRLF line breaks), and each package
//! whose meaning (diagnostic codes, typed package without spans) changes when its files are formatted.

mod common;

use std::path::{Path, PathBuf};

use common::{check_texts, format_idempotent, meaning, policy_files, repo_root};

fn packages(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "policy"))
        .collect();
    out.sort();
    out
}

fn check(package: &Path) -> Result<(), String> {
    let files = if package.is_dir() {
        policy_files(package)
    } else {
        vec![package.to_path_buf()]
    };
    let root = repo_root();
    let mut original = Vec::new();
    let mut formatted = Vec::new();
    for f in &files {
        let name = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let text = std::fs::read_to_string(f).map_err(|e| format!("{name}: {e}"))?;
        let Some(once) = format_idempotent(&name, &text)? else {
            return Err(format!("{name}: does not parse"));
        };
        // Windows line breaks format to the same canonical text.
        let crlf = fleetgate_lang::fmt::format_source(&text.replace('\n', "\r\n"));
        if crlf.as_ref().ok() != Some(&once) {
            return Err(format!(
                "{name}: with CRLF line breaks the file formats differently"
            ));
        }
        original.push((name.clone(), text));
        formatted.push((name, once));
    }
    let before = meaning(&check_texts(&original));
    let after = meaning(&check_texts(&formatted));
    if before.package.is_none() {
        return Err(format!(
            "{}: has errors: {:?}",
            package.display(),
            before.diagnostics
        ));
    }
    if before != after {
        return Err(format!(
            "{}: formatting changed the meaning\n--- before\n{before:?}\n--- after\n{after:?}",
            package.display()
        ));
    }
    Ok(())
}

#[test]
fn every_policy_formats_idempotently_and_keeps_its_meaning() {
    let root = repo_root();
    let mut all = packages(&root.join("policies"));
    all.extend(packages(&root.join("lang/test_data/valid")));
    let count: usize = all
        .iter()
        .map(|p| if p.is_dir() { policy_files(p).len() } else { 1 })
        .sum();
    assert!(
        count >= 10,
        "expected the repository's policies, found {count} files"
    );
    let failures: Vec<String> = all.iter().filter_map(|p| check(p).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
