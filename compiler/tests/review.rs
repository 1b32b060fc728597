//! `review` of every example package under `policies/` as an insta snapshot (one per package: a new
//! package adds a snapshot), and the properties a checked-in `REVIEW.md` relies on: the same text every
//! time, and no path outside the package.

// Shared with the other test binaries; this one uses only part of it.
#[allow(dead_code)]
mod common;

use std::path::Path;

use fleetgate_compiler::review::{ReviewInput, review};
use fleetgate_lang::Sources;

fn review_of(dir: &Path) -> String {
    let loaded = common::load(dir);
    let warnings = fleetgate_compiler::analysis::clause_warnings(&loaded.package);
    let name = dir
        .file_name()
        .expect("a package directory")
        .to_string_lossy()
        .into_owned();
    review(&ReviewInput {
        name: &name,
        package: &loaded.package,
        sources: &loaded.sources,
        compiled: &loaded.compiled,
        warnings: &warnings,
        base: dir,
    })
}

#[test]
fn review_of_every_package() {
    let packages = common::example_packages();
    assert!(!packages.is_empty(), "no packages under policies/");
    for dir in packages {
        let name = dir
            .file_name()
            .expect("a package directory")
            .to_string_lossy()
            .into_owned();
        insta::assert_snapshot!(format!("review_{name}"), review_of(&dir));
    }
}

#[test]
fn reviews_are_deterministic_and_relative() {
    let root = common::repo_root();
    for dir in common::example_packages() {
        let first = review_of(&dir);
        assert_eq!(first, review_of(&dir), "{}", dir.display());
        assert!(
            !first.contains(&root.display().to_string()),
            "{} shows an absolute path",
            dir.display()
        );
        assert!(first.ends_with('\n') && !first.ends_with("\n\n"));
        for section in [
            "## Device record",
            "## Safety rails",
            "## Health rules",
            "## Dependencies",
            "## Rollout",
            "## Gates",
            "## Cost bounds",
            "## Warnings",
        ] {
            assert!(first.contains(section), "{}: no `{section}`", dir.display());
        }
    }
}

#[test]
fn every_rail_health_rule_and_gate_is_reviewed() {
    for dir in common::example_packages() {
        let loaded = common::load(&dir);
        let text = review_of(&dir);
        for r in &loaded.package.rails {
            assert!(text.contains(&format!("### Rail `{}`", r.name)));
        }
        for h in &loaded.package.healths {
            assert!(text.contains(&format!("### Health rule `{}`", h.name)));
        }
        for g in 0..loaded.package.gates.len() {
            let name = loaded
                .package
                .gate_name(fleetgate_lang::typed::GateId(g as u32));
            assert!(text.contains(&format!("### Gate `{name}`")));
        }
        for c in &loaded.package.clauses {
            assert!(
                text.contains(&c.reason),
                "{}: reason `{}` missing",
                dir.display(),
                c.reason
            );
        }
    }
}

#[test]
fn warnings_are_listed_with_relative_locations() {
    let text = "enum Hw { a, b }\nplane firmware\ndevice {\n  hw: Hw\n  heap: int\n}\n\
                rail memory {\n  deny \"impossible\" when device.heap > 5 and device.heap < 3\n}\n";
    let mut sources = Sources::new();
    sources.add("/somewhere/pkg/rails.policy", text);
    let checked = fleetgate_lang::check(&sources);
    let package = checked.package.expect("checks");
    let compiled = fleetgate_compiler::compile(&package, &sources).expect("compiles");
    let warnings = fleetgate_compiler::analysis::clause_warnings(&package);
    assert_eq!(warnings.len(), 1);
    let out = review(&ReviewInput {
        name: "pkg",
        package: &package,
        sources: &sources,
        compiled: &compiled,
        warnings: &warnings,
        base: Path::new("/somewhere/pkg"),
    });
    assert!(
        out.contains("| rail `memory`: deny \"impossible\" | `rails.policy:8:3` |"),
        "{out}"
    );
    assert!(!out.contains("/somewhere"));
    // No planes depend on each other, there is no rollout: the sections say so.
    assert!(out.contains("The package has no rollout"));
    assert!(out.contains("No constraints"));
}
