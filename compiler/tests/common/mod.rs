//! Shared by the compiler's integration tests: finding and loading the example packages.

use std::path::{Path, PathBuf};

use fleetgate_compiler::Compiled;
use fleetgate_lang::Sources;
use fleetgate_lang::typed::Package;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compiler/ has a parent")
        .to_path_buf()
}

/// Every package directory under `policies/` (a directory holding `.policy` files directly).
pub fn example_packages() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(repo_root().join("policies")) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir()
            && std::fs::read_dir(&p)
                .map(|d| {
                    d.flatten()
                        .any(|f| f.path().extension().is_some_and(|x| x == "policy"))
                })
                .unwrap_or(false)
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn policy_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            policy_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "policy") {
            out.push(p);
        }
    }
}

// Each test binary that includes this module uses a different subset of the fields.
#[allow(dead_code)]
pub struct Loaded {
    pub sources: Sources,
    pub package: Package,
    pub compiled: Compiled,
}

pub fn load(dir: &Path) -> Loaded {
    let mut files = Vec::new();
    policy_files(dir, &mut files);
    let mut sources = Sources::new();
    for f in files {
        sources.add(
            f.display().to_string(),
            std::fs::read_to_string(&f).expect("readable policy"),
        );
    }
    let checked = fleetgate_lang::check(&sources);
    let package = checked
        .package
        .unwrap_or_else(|| panic!("{} has errors: {:#?}", dir.display(), checked.diagnostics));
    let compiled = fleetgate_compiler::compile(&package, &sources)
        .unwrap_or_else(|e| panic!("{} does not compile: {e:#?}", dir.display()));
    Loaded {
        sources,
        package,
        compiled,
    }
}

/// A count from the environment (CI sets larger ones), or the default.
pub fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs every `test` of the package in `dir` on each of `engines`' available engines and asserts that
/// the engines agree and that every expectation holds; returns the engines it ran.
#[allow(dead_code)]
pub fn assert_package_tests_pass(
    dir: &Path,
    engines: &fleetgate_compiler::engine::Engines,
) -> Vec<fleetgate_compiler::engine::EngineKind> {
    let kinds = engines.available();
    let results = fleetgate_compiler::testing::run_tests(engines, &kinds);
    assert!(!results.is_empty(), "{} has no tests", dir.display());
    for r in results {
        for e in &r.expects {
            assert!(
                e.disagree.is_empty(),
                "{}: engines disagree on test \"{}\": {:?}",
                dir.display(),
                r.name,
                e.actual
            );
            assert!(
                e.passed,
                "{}: test \"{}\" fails: {:?}",
                dir.display(),
                r.name,
                e.actual
            );
        }
    }
    kinds
}
