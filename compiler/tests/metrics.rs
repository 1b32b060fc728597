//! Checked-in counters per example package: artifact and bytecode size, and per function its clauses,
//! cost bound, operand-stack depth, locals and code size. An insta snapshot per package, kept in
//! `metrics/` next to `metrics/riscv32.txt` (what the same artifacts cost on the device ISA) so that
//! every size and cost figure of the project is in one directory and a regression shows as a diff.
//!
//! Update with `INSTA_UPDATE=always cargo test -p fleetgate-compiler --test metrics` (or `cargo insta
//! review`); CI sets `INSTA_UPDATE=no`, so a changed figure fails there.

// Shared with the other compiler tests; not every helper is used here.
#[allow(dead_code)]
mod common;

use std::fmt::Write as _;

use fleetgate_runtime::artifact::FunctionKind;

fn function_name(kind: FunctionKind) -> String {
    match kind {
        FunctionKind::Gate(g) => format!("gate {g}"),
        other => other.name().to_owned(),
    }
}

fn metrics(loaded: &common::Loaded) -> String {
    let a = &loaded.compiled.artifact;
    let code: usize = a.functions.iter().map(|f| f.code.len()).sum();
    let mut out = String::new();
    let _ = writeln!(out, "artifact bytes      {}", loaded.compiled.bytes.len());
    let _ = writeln!(out, "bytecode bytes      {code}");
    let _ = writeln!(out, "device slots        {}", a.slots.len());
    let _ = writeln!(out, "constants           {}", a.consts.len());
    let _ = writeln!(out, "clauses             {}", a.clauses.len());
    let _ = writeln!(out, "health counters     {}", a.n_counters);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<12} {:>7} {:>6} {:>9} {:>6} {:>10}",
        "function", "clauses", "cost", "max_stack", "locals", "code_bytes"
    );
    for f in &a.functions {
        let _ = writeln!(
            out,
            "{:<12} {:>7} {:>6} {:>9} {:>6} {:>10}",
            function_name(f.kind),
            f.n_clauses,
            f.cost,
            f.max_stack,
            f.n_locals,
            f.code.len()
        );
    }
    out
}

#[test]
fn artifact_metrics() {
    let packages = common::example_packages();
    assert!(!packages.is_empty(), "no example packages under policies/");
    for dir in packages {
        let loaded = common::load(&dir);
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("package directory name")
            .to_owned();
        insta::with_settings!({
            snapshot_path => "../../metrics",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("policies/{name}: artifact and per-function metrics"),
        }, {
            insta::assert_snapshot!(format!("artifact-{name}"), metrics(&loaded));
        });
    }
}
