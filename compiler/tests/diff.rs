//! `diff` on pairs of package versions: `diff_data/<case>/{old,new}/` are copies of the edge-ai package
//! with one change each (or none: `reformat`, `let_rename`).
//!
//! Each pair's human output is an insta snapshot (and two pairs' JSON). Beyond the snapshots, the tests
//! check the exit semantics (which pairs change behaviour) and re-evaluate every reported witness with
//! the bytecode interpreter (not the reference evaluator `diff` itself uses), through records built
//! here from the witness's field names, to confirm the stated old and new decisions.

// Shared with the other test binaries; this one uses only part of it.
#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};

use fleetgate_compiler::diff::{self, Area, Decision, Diff, Options, Side, UValue, Witness};
use fleetgate_compiler::engine::{EngineKind, Engines, Input};
use fleetgate_compiler::layout;
use fleetgate_lang::typed::{
    DeviceValues, NowValues, Package, Ty, Value, Version, format_duration,
};
use fleetgate_runtime::ClauseBits;
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::decision::{self, HealthVerdict, RailVerdict};

/// Pairs whose behaviour is the same.
const UNCHANGED: &[&str] = &["let_rename", "reformat"];

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("diff_data");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("diff_data exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    assert!(
        out.len() >= 9,
        "expected the diff pairs under {}",
        dir.display()
    );
    out
}

fn name(case: &Path) -> String {
    case.file_name()
        .expect("a case directory")
        .to_string_lossy()
        .into_owned()
}

struct Pair {
    old: common::Loaded,
    new: common::Loaded,
}

impl Pair {
    fn load(case: &Path) -> Pair {
        Pair {
            old: common::load(&case.join("old")),
            new: common::load(&case.join("new")),
        }
    }

    fn diff(&self) -> Diff {
        diff::diff(
            Side {
                package: &self.old.package,
                compiled: &self.old.compiled,
            },
            Side {
                package: &self.new.package,
                compiled: &self.new.compiled,
            },
            &Options::default(),
        )
    }
}

#[test]
fn human_output_of_every_pair() {
    for case in cases() {
        let d = Pair::load(&case).diff();
        insta::assert_snapshot!(format!("diff_{}", name(&case)), diff::human(&d));
    }
}

#[test]
fn json_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("diff_data");
    for case in ["threshold", "health_checks"] {
        let d = Pair::load(&root.join(case)).diff();
        let text = diff::json(&d);
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["version"], 1);
        assert_eq!(v["changed"], true);
        assert!(v["changes"].as_array().is_some_and(|c| !c.is_empty()));
        insta::assert_snapshot!(format!("json_{case}"), text);
    }
}

#[test]
fn exit_semantics() {
    for case in cases() {
        let d = Pair::load(&case).diff();
        let unchanged = UNCHANGED.contains(&name(&case).as_str());
        assert_eq!(
            d.changed,
            !unchanged,
            "{}: changed = {}\n{}",
            name(&case),
            d.changed,
            diff::human(&d)
        );
        assert_eq!(d.changed, !d.changes.is_empty());
    }
}

#[test]
fn a_package_against_itself_is_unchanged() {
    for dir in common::example_packages() {
        let (a, b) = (common::load(&dir), common::load(&dir));
        let d = diff::diff(
            Side {
                package: &a.package,
                compiled: &a.compiled,
            },
            Side {
                package: &b.package,
                compiled: &b.compiled,
            },
            &Options::default(),
        );
        assert!(!d.changed, "{}: {}", dir.display(), diff::human(&d));
    }
}

#[test]
fn rail_and_health_changes_come_with_regions() {
    for case in cases() {
        let d = Pair::load(&case).diff();
        let structural = d
            .changes
            .iter()
            .any(|c| matches!(c.area, Area::Rails | Area::Health) && c.subject != "decisions");
        let decisions = d.changes.iter().any(|c| c.subject == "decisions");
        assert_eq!(
            structural,
            decisions,
            "{}: a decisions change accompanies every rule change",
            name(&case)
        );
    }
    // Where a rule change can change a decision, a region shows it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("diff_data");
    for case in [
        "threshold",
        "defer_duration",
        "added_clause",
        "removed_rail",
        "health_checks",
        "arithmetic",
    ] {
        let d = Pair::load(&root.join(case)).diff();
        let regions: usize = d.changes.iter().map(|c| c.regions.len()).sum();
        assert!(regions > 0, "{case}: no region\n{}", diff::human(&d));
    }
}

/// A witness value as a typed value of `ty` in `pkg`.
fn typed_value(pkg: &Package, ty: Ty, v: &UValue) -> Value {
    match (ty, v) {
        (Ty::Bool, UValue::Bool(b)) => Value::Bool(*b),
        (Ty::Int, UValue::Int(i)) => Value::Int(*i),
        (Ty::Float, UValue::Float(f)) => Value::Float(*f),
        (Ty::Float, UValue::Int(i)) => Value::Float(*i as f64),
        (Ty::Duration, UValue::Duration(d)) => Value::Duration(*d),
        (Ty::Version, UValue::Version(v)) => Value::Version(*v),
        (Ty::Enum(e), UValue::Enum(name)) => {
            let i = pkg
                .enum_(e)
                .variants
                .iter()
                .position(|x| x == name)
                .expect("a variant of the enum");
            Value::Enum(e, i as u16)
        }
        other => panic!("witness value {other:?} does not fit"),
    }
}

/// The record a witness describes, for one version, built from names alone.
fn record(pkg: &Package, w: &Witness) -> layout::DeviceRecord {
    let get = |name: &str| {
        w.get(name)
            .unwrap_or_else(|| panic!("witness gives `{name}`"))
            .clone()
    };
    let fields = pkg
        .fields
        .iter()
        .map(|f| get(&format!("device.{}", f.name)).map(|v| typed_value(pkg, f.ty, &v)))
        .collect();
    let planes = pkg
        .planes
        .iter()
        .map(|p| match get(&format!("device.{}", p.name)) {
            Some(UValue::Version(v)) => v,
            other => panic!("plane version {other:?}"),
        })
        .collect();
    let hour = match get("now.hour") {
        Some(UValue::Int(h)) => h,
        other => panic!("hour {other:?}"),
    };
    let weekday = match get("now.weekday") {
        Some(UValue::Enum(d)) => pkg
            .enum_(pkg.weekday)
            .variants
            .iter()
            .position(|x| *x == d)
            .expect("a weekday") as u16,
        other => panic!("weekday {other:?}"),
    };
    let release: Vec<Option<Version>> = pkg
        .planes
        .iter()
        .map(|p| match get(&format!("release.{}", p.name)) {
            Some(UValue::Version(v)) => Some(v),
            None => None,
            other => panic!("release version {other:?}"),
        })
        .collect();
    layout::device_record(
        pkg,
        &DeviceValues { fields, planes },
        NowValues { hour, weekday },
        &release,
    )
}

fn rails_decision(l: &common::Loaded, rec: &layout::DeviceRecord) -> Decision {
    let engines = Engines::new(&l.package, &l.compiled);
    let policy = &l.compiled.policy;
    let mut bits = ClauseBits::for_policy(policy);
    engines
        .run(
            EngineKind::Interp,
            FunctionKind::Rails,
            Input::Device(rec),
            &mut bits,
        )
        .expect("runs");
    let d = decision::rails(policy, &bits);
    let side = &l.compiled.sidecar;
    let verdict = match d.verdict {
        RailVerdict::Allow => "allow".to_string(),
        RailVerdict::Defer { secs } => format!("defer {}", format_duration(i64::from(secs))),
        RailVerdict::Deny => "deny".to_string(),
    };
    let mut reasons: Vec<String> = d
        .fired()
        .map(|c| side.clause(c.index()).expect("a clause"))
        .map(|i| format!("{}: {}", i.rule, i.reason))
        .chain(d.erroneous().map(|c| {
            format!(
                "evaluation error in rail {}",
                side.clause(c.index()).expect("a clause").rule
            )
        }))
        .collect();
    reasons.sort();
    reasons.dedup();
    Decision { verdict, reasons }
}

fn health_decision(
    l: &common::Loaded,
    rec: &layout::DeviceRecord,
    checks: u32,
    plane_order: &[String],
) -> Decision {
    let engines = Engines::new(&l.package, &l.compiled);
    let policy = &l.compiled.policy;
    let mut bits = ClauseBits::for_policy(policy);
    let versions = fleetgate_compiler::testing::plane_versions(&l.compiled, rec);
    let mut counters = vec![0u8; usize::from(l.compiled.artifact.n_counters)];
    let side = &l.compiled.sidecar;
    let mut last = None;
    for _ in 0..checks {
        engines
            .run(
                EngineKind::Interp,
                FunctionKind::Health,
                Input::Device(rec),
                &mut bits,
            )
            .expect("runs");
        let d = decision::health(policy, &bits, &mut counters, &versions);
        let verdict = match d.verdict {
            HealthVerdict::Healthy => "healthy".to_string(),
            HealthVerdict::Inconclusive => "inconclusive".to_string(),
            HealthVerdict::Rollback { planes } => {
                let mut names: Vec<String> = planes
                    .iter()
                    .map(|p| side.planes[usize::from(p)].clone())
                    .collect();
                names.sort_by_key(|n| {
                    plane_order
                        .iter()
                        .position(|p| p == n)
                        .unwrap_or(usize::MAX)
                });
                format!("rollback {}", names.join(", "))
            }
        };
        let mut reasons: Vec<String> = d
            .fired()
            .map(|c| side.clause(c.index()).expect("a clause"))
            .map(|i| format!("{}: {}", i.rule, i.reason))
            .chain(d.erroneous().map(|c| {
                format!(
                    "evaluation error in health rule {}",
                    side.clause(c.index()).expect("a clause").rule
                )
            }))
            .collect();
        reasons.sort();
        reasons.dedup();
        last = Some(Decision { verdict, reasons });
    }
    last.expect("at least one check")
}

#[test]
fn every_witness_gives_the_stated_decisions() {
    let mut checked = 0;
    for case in cases() {
        let pair = Pair::load(&case);
        let d = pair.diff();
        let plane_order: Vec<String> = pair
            .new
            .package
            .planes
            .iter()
            .map(|p| p.name.clone())
            .collect();
        for change in &d.changes {
            for region in &change.regions {
                let old = record(&pair.old.package, &region.witness);
                let new = record(&pair.new.package, &region.witness);
                assert!(!region.outcomes.is_empty());
                for o in &region.outcomes {
                    let (x, y) = match (change.area, o.checks) {
                        (Area::Rails, None) => (
                            rails_decision(&pair.old, &old),
                            rails_decision(&pair.new, &new),
                        ),
                        (Area::Health, Some(k)) => (
                            health_decision(&pair.old, &old, k, &plane_order),
                            health_decision(&pair.new, &new, k, &plane_order),
                        ),
                        other => panic!("unexpected outcome {other:?}"),
                    };
                    assert_eq!(
                        x,
                        o.old,
                        "{}: old decision of witness {:?}",
                        name(&case),
                        region.witness
                    );
                    assert_eq!(
                        y,
                        o.new,
                        "{}: new decision of witness {:?}",
                        name(&case),
                        region.witness
                    );
                    assert_ne!(x, y);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 8, "only {checked} witnesses checked");
}

#[test]
fn output_is_deterministic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("diff_data");
    for case in ["threshold", "arithmetic"] {
        let pair = Pair::load(&root.join(case));
        assert_eq!(diff::json(&pair.diff()), diff::json(&pair.diff()));
    }
}
