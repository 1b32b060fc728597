//! Running a package's own `test`s on every engine.
//!
//! In: the typed package, its compiled form, the engines to use. Out: per test, per expectation, what
//! each engine decided and whether it matches; a disagreement between engines is a failure of its own,
//! whatever the expectation says. Decisions are computed the same way for every engine: the engine
//! gives clause conditions, the runtime's shared decision code turns them into verdicts.

use fleetgate_lang::typed::{Expectation, Package, PlaneId, Test};
use fleetgate_runtime::artifact::{ClauseKind, FunctionKind};
use fleetgate_runtime::decision::{self, GateAcc, GateDecision, HealthVerdict, RailVerdict};
use fleetgate_runtime::ring::GATE_SLOTS;
use fleetgate_runtime::{ClauseBits, ClauseId};

use crate::compile::Compiled;
use crate::engine::{EngineError, EngineKind, Engines, Input};
use crate::layout::{self, DeviceRecord};

/// A decision as the tests compare it: the verdict and the clauses behind it, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actual {
    Rails {
        verdict: RailVerdict,
        fired: Vec<u16>,
        erroneous: Vec<u16>,
    },
    Health {
        verdict: HealthVerdict,
        fired: Vec<u16>,
        counters: Vec<u8>,
    },
    Gate(GateDecision),
    Install(Result<Vec<u8>, String>),
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct ExpectResult {
    pub expectation: Expectation,
    pub span: fleetgate_lang::Span,
    /// What each engine decided, in the order the engines were given.
    pub actual: Vec<(EngineKind, Actual)>,
    pub passed: bool,
    /// Engines that disagree with the first engine.
    pub disagree: Vec<EngineKind>,
}

#[derive(Clone, Debug)]
pub struct TestResult {
    pub name: String,
    pub span: fleetgate_lang::Span,
    pub expects: Vec<ExpectResult>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.expects.iter().all(|e| e.passed)
    }
}

fn ids(it: impl Iterator<Item = ClauseId>) -> Vec<u16> {
    it.map(|c| c.0).collect()
}

/// Runs every test of the package on each of `engines`.
pub fn run_tests(engines: &Engines<'_>, kinds: &[EngineKind]) -> Vec<TestResult> {
    engines
        .pkg
        .tests
        .iter()
        .map(|t| run_test(engines, t, kinds))
        .collect()
}

pub fn run_test(engines: &Engines<'_>, test: &Test, kinds: &[EngineKind]) -> TestResult {
    let expects = test
        .expects
        .iter()
        .map(|e| {
            let actual: Vec<(EngineKind, Actual)> = kinds
                .iter()
                .map(|&k| {
                    (
                        k,
                        decide(engines, test, &e.expectation, k)
                            .unwrap_or_else(|err| Actual::Failed(err.0)),
                    )
                })
                .collect();
            let disagree: Vec<EngineKind> = actual
                .iter()
                .skip(1)
                .filter(|(_, a)| Some(a) != actual.first().map(|(_, a)| a))
                .map(|(k, _)| *k)
                .collect();
            let passed = disagree.is_empty()
                && actual
                    .first()
                    .is_some_and(|(_, a)| matches(engines, &e.expectation, a));
            ExpectResult {
                expectation: e.expectation.clone(),
                span: e.span,
                actual,
                passed,
                disagree,
            }
        })
        .collect();
    TestResult {
        name: test.name.clone(),
        span: test.span,
        expects,
    }
}

fn device(engines: &Engines<'_>, test: &Test) -> Result<DeviceRecord, EngineError> {
    let values = test
        .device
        .as_ref()
        .ok_or_else(|| EngineError("the test gives no device".into()))?;
    Ok(layout::device_record(
        engines.pkg,
        values,
        test.now,
        &test.release,
    ))
}

/// What one engine decides for the part of the test an expectation looks at.
pub fn decide(
    engines: &Engines<'_>,
    test: &Test,
    expectation: &Expectation,
    engine: EngineKind,
) -> Result<Actual, EngineError> {
    let compiled = engines.compiled;
    let policy = &compiled.policy;
    let mut bits = ClauseBits::for_policy(policy);
    match expectation {
        Expectation::Allow | Expectation::Deny(_) | Expectation::Defer(..) => {
            let rec = device(engines, test)?;
            engines.run(engine, FunctionKind::Rails, Input::Device(&rec), &mut bits)?;
            let d = decision::rails(policy, &bits);
            Ok(Actual::Rails {
                verdict: d.verdict,
                fired: ids(d.fired()),
                erroneous: ids(d.erroneous()),
            })
        }
        Expectation::Healthy | Expectation::Inconclusive | Expectation::Rollback(_) => {
            let rec = device(engines, test)?;
            let versions = plane_versions(compiled, &rec);
            let mut counters = vec![0u8; usize::from(compiled.artifact.n_counters)];
            let mut last = None;
            for _ in 0..test.checks.max(1) {
                engines.run(engine, FunctionKind::Health, Input::Device(&rec), &mut bits)?;
                let d = decision::health(policy, &bits, &mut counters, &versions);
                last = Some((d.verdict, ids(d.fired())));
            }
            let (verdict, fired) = last.ok_or_else(|| EngineError("no health check ran".into()))?;
            Ok(Actual::Health {
                verdict,
                fired,
                counters,
            })
        }
        Expectation::Promote(g) | Expectation::Hold(g) | Expectation::Abort(g, _) => {
            let ring = test
                .ring
                .as_ref()
                .ok_or_else(|| EngineError("the test gives no ring".into()))?;
            let rollout = test.rollout.unwrap_or(ring.total);
            let gate = compiled.map.gates[g.index()];
            let mut acc =
                GateAcc::new(policy, gate).ok_or_else(|| EngineError("no such gate".into()))?;
            let whole: [u64; GATE_SLOTS] = layout::gate_record(&ring.total, &rollout);
            engines.run(
                engine,
                FunctionKind::Gate(gate),
                Input::Gate(&whole),
                &mut bits,
            )?;
            acc.add_whole(&bits);
            // `per` fields: by value where the test splits the ring by that field, else the whole ring is
            // one group.
            let mut per_slots: Vec<u16> = compiled
                .artifact
                .clauses
                .iter()
                .filter_map(|c| c.per_slot)
                .collect();
            per_slots.sort_unstable();
            per_slots.dedup();
            let split = ring
                .by
                .as_ref()
                .map(|(f, values)| (f.index() as u16, values));
            for slot in per_slots {
                match split {
                    Some((field, values)) if field == slot => {
                        for (_, counts) in values.iter() {
                            let rec = layout::gate_record(counts, &rollout);
                            engines.run(
                                engine,
                                FunctionKind::Gate(gate),
                                Input::Gate(&rec),
                                &mut bits,
                            )?;
                            acc.add_value(slot, &bits);
                        }
                    }
                    _ => {
                        engines.run(
                            engine,
                            FunctionKind::Gate(gate),
                            Input::Gate(&whole),
                            &mut bits,
                        )?;
                        acc.add_value(slot, &bits);
                    }
                }
            }
            Ok(Actual::Gate(acc.finish(ring.total.soak_secs)))
        }
        Expectation::InstallOrder(_) | Expectation::NotInstallable => {
            let rec = device(engines, test)?;
            engines.run(
                engine,
                FunctionKind::Constraints,
                Input::Device(&rec),
                &mut bits,
            )?;
            let current = plane_versions(compiled, &rec);
            let target: Vec<Option<u64>> =
                test.release.iter().map(|v| v.map(|v| v.packed())).collect();
            let order = decision::install_order(policy, &current, &target, &bits);
            Ok(Actual::Install(
                order
                    .map(|o| o.as_slice().to_vec())
                    .map_err(|e| describe_not_installable(engines, &e)),
            ))
        }
    }
}

/// The device's current version of each plane.
pub fn plane_versions(compiled: &Compiled, rec: &DeviceRecord) -> Vec<u64> {
    let l = compiled.layout;
    (0..l.n_planes).map(|p| rec.slots[l.n_fields + p]).collect()
}

/// Why a release cannot be installed, in words.
pub fn describe_not_installable(engines: &Engines<'_>, e: &decision::NotInstallable) -> String {
    let pkg = engines.pkg;
    let constraint_text = |i: usize| -> String {
        if let Some(d) = pkg.depends.get(i) {
            format!("`depends {} on {}`", d.dependent.text, d.dependency.text)
        } else if let Some(inc) = pkg.incompatibles.get(i - pkg.depends.len()) {
            format!("`incompatible {}`: {}", inc.versions.text, inc.reason)
        } else {
            format!("constraint {i}")
        }
    };
    match e {
        decision::NotInstallable::TargetInconsistent { constraint } => {
            format!(
                "the release would leave the device violating {}",
                constraint_text(*constraint)
            )
        }
        decision::NotInstallable::NoOrder { constraint } => {
            format!(
                "no order of single-plane updates avoids violating {}",
                constraint_text(*constraint)
            )
        }
        other => other.to_string(),
    }
}

fn plane_names(pkg: &Package, planes: impl IntoIterator<Item = u8>) -> Vec<PlaneId> {
    let mut out: Vec<PlaneId> = planes.into_iter().map(|p| PlaneId(u32::from(p))).collect();
    out.retain(|p| p.index() < pkg.planes.len());
    out
}

/// Whether an engine's decision satisfies an expectation.
pub fn matches(engines: &Engines<'_>, expectation: &Expectation, actual: &Actual) -> bool {
    let pkg = engines.pkg;
    let side = &engines.compiled.sidecar;
    let reason_of = |c: &u16| side.clause(usize::from(*c)).map(|i| i.reason.as_str());
    let kind_of = |c: &u16| {
        engines
            .compiled
            .artifact
            .clauses
            .get(usize::from(*c))
            .map(|c| c.kind)
    };
    match (expectation, actual) {
        (Expectation::Allow, Actual::Rails { verdict, .. }) => *verdict == RailVerdict::Allow,
        (
            Expectation::Deny(reason),
            Actual::Rails {
                verdict,
                fired,
                erroneous,
            },
        ) => {
            *verdict == RailVerdict::Deny
                && reason.as_ref().is_none_or(|r| {
                    fired.iter().any(|c| {
                        kind_of(c) == Some(ClauseKind::Deny) && reason_of(c) == Some(r.as_str())
                    }) || erroneous.iter().any(|c| {
                        side.clause(usize::from(*c))
                            .is_some_and(|i| *r == format!("evaluation error in rail {}", i.rule))
                    })
                })
        }
        (
            Expectation::Defer(secs, reason),
            Actual::Rails {
                verdict: RailVerdict::Defer { secs: got },
                fired,
                ..
            },
        ) => {
            secs.is_none_or(|s| s == i64::from(*got))
                && reason.as_ref().is_none_or(|r| {
                    fired.iter().any(|c| {
                        kind_of(c) == Some(ClauseKind::Defer) && reason_of(c) == Some(r.as_str())
                    })
                })
        }
        (Expectation::Healthy, Actual::Health { verdict, .. }) => {
            *verdict == HealthVerdict::Healthy
        }
        (Expectation::Inconclusive, Actual::Health { verdict, .. }) => {
            *verdict == HealthVerdict::Inconclusive
        }
        (
            Expectation::Rollback(planes),
            Actual::Health {
                verdict: HealthVerdict::Rollback { planes: got },
                ..
            },
        ) => {
            let mut want: Vec<PlaneId> = planes.clone();
            want.sort();
            let mut have = plane_names(pkg, got.iter());
            have.sort();
            want == have
        }
        (Expectation::Promote(_), Actual::Gate(d)) => *d == GateDecision::Promote,
        (Expectation::Hold(_), Actual::Gate(d)) => matches!(d, GateDecision::Hold { .. }),
        (Expectation::Abort(_, reason), Actual::Gate(GateDecision::Abort { clauses })) => reason
            .as_ref()
            .is_none_or(|r| clauses.iter().any(|c| reason_of(&c.0) == Some(r.as_str()))),
        (Expectation::InstallOrder(planes), Actual::Install(Ok(order))) => {
            planes.iter().map(|p| p.index() as u8).collect::<Vec<_>>() == *order
        }
        (Expectation::NotInstallable, Actual::Install(Err(_))) => true,
        _ => false,
    }
}
