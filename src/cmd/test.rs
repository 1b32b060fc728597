//! `fleetgate test PATH`: run the package's own tests on every engine.

use std::path::PathBuf;
use std::process::ExitCode;

use fleetgate_compiler::engine::{EngineKind, Engines};
use fleetgate_compiler::testing::{self, Actual, ExpectResult, TestResult};
use fleetgate_lang::typed::{Expectation, Package, format_duration};

use crate::cmd::common::{self, Ready};
use crate::diag::Format;
use crate::error::CliError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Every engine this build has (the default).
    All,
    Reference,
    Interp,
    Native,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    Human,
    /// JUnit XML on stdout, one test case per test, for CI dashboards.
    Junit,
}

/// Run every `test` of a package on each engine and compare.
///
/// A test passes when every `expect` holds on every engine and the engines agree with each other; an
/// engine that disagrees with the reference evaluator fails the test whatever the expectation says.
/// Ends with `N passed, M failed` (counting tests). Exit status 1 if any test fails.
#[derive(clap::Args)]
pub struct Args {
    /// A package directory or one `.policy` file.
    pub path: PathBuf,
    /// Which engine(s) to run.
    #[arg(long, value_enum, default_value_t = Engine::All)]
    pub engine: Engine,
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    pub format: TestFormat,
}

pub fn engine_kinds(engines: &Engines<'_>, engine: Engine) -> Result<Vec<EngineKind>, CliError> {
    let available = engines.available();
    let want = match engine {
        Engine::All => {
            // Fall back to the other engines, saying so: native code is part of "every engine".
            if let Some(why) = engines.native_unavailable() {
                eprintln!("note: running without native code: {why}");
            }
            return Ok(available);
        }
        Engine::Reference => EngineKind::Reference,
        Engine::Interp => EngineKind::Interp,
        Engine::Native => EngineKind::Native,
    };
    if !available.contains(&want) {
        let why = engines.native_unavailable().unwrap_or("it was not built");
        return Err(CliError::usage(format!(
            "the `{}` engine is not available here: {why}",
            want.name()
        ))
        .help("use `--engine interp`, which runs the same bytecode and gives the same results"));
    }
    Ok(vec![want])
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let ready = common::load_and_compile(&args.path, Format::Human)?;
    let engines = crate::cmd::engines(&ready);
    let kinds = engine_kinds(&engines, args.engine)?;
    let results = testing::run_tests(&engines, &kinds);
    let passed = results.iter().filter(|r| r.passed()).count();
    let failed = results.len() - passed;
    match args.format {
        TestFormat::Human => {
            let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            crate::outln!("running {} tests on {}", results.len(), names.join(", "));
            for r in &results {
                if r.passed() {
                    crate::outln!("test \"{}\" ... ok", r.name);
                } else {
                    crate::outln!("test \"{}\" ... FAILED", r.name);
                }
            }
            for r in results.iter().filter(|r| !r.passed()) {
                crate::outln!();
                crate::out!("{}", describe_failure(&ready, &engines, r));
            }
            crate::outln!();
            crate::outln!("{passed} passed, {failed} failed");
        }
        TestFormat::Junit => crate::out!(
            "{}",
            junit(&ready, &engines, &args.path.display().to_string(), &results)
        ),
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn expectation_text(pkg: &Package, e: &Expectation) -> String {
    let planes = |ps: &[fleetgate_lang::typed::PlaneId]| {
        ps.iter()
            .map(|p| pkg.plane(*p).name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let quoted = |r: &Option<String>| r.as_ref().map(|r| format!(" \"{r}\"")).unwrap_or_default();
    match e {
        Expectation::Allow => "allow".into(),
        Expectation::Deny(r) => format!("deny{}", quoted(r)),
        Expectation::Defer(d, r) => format!(
            "defer{}{}",
            d.map(|d| format!(" {}", format_duration(d)))
                .unwrap_or_default(),
            quoted(r)
        ),
        Expectation::Healthy => "healthy".into(),
        Expectation::Inconclusive => "inconclusive".into(),
        Expectation::Rollback(p) => format!("rollback {}", planes(p)),
        Expectation::Promote(g) => format!("promote {}", pkg.gate_name(*g)),
        Expectation::Hold(g) => format!("hold {}", pkg.gate_name(*g)),
        Expectation::Abort(g, r) => format!("abort {}{}", pkg.gate_name(*g), quoted(r)),
        Expectation::InstallOrder(p) => format!("install order {}", planes(p)),
        Expectation::NotInstallable => "not installable".into(),
    }
}

/// An engine's decision as one line, plus the clauses behind it.
pub fn actual_text(ready: &Ready, a: &Actual) -> (String, Vec<String>) {
    let side = &ready.compiled.sidecar;
    match a {
        Actual::Rails {
            verdict,
            fired,
            erroneous,
        } => {
            let mut lines: Vec<String> = fired
                .iter()
                .map(|c| common::clause_line(side, *c))
                .collect();
            lines.extend(
                erroneous
                    .iter()
                    .map(|c| format!("{} (erroneous)", common::clause_line(side, *c))),
            );
            (common::rail_verdict(verdict), lines)
        }
        Actual::Health {
            verdict,
            fired,
            counters,
        } => {
            let mut lines: Vec<String> = fired
                .iter()
                .map(|c| common::clause_line(side, *c))
                .collect();
            if !counters.is_empty() {
                lines.push(format!("counters {counters:?}"));
            }
            (common::health_verdict(verdict, side), lines)
        }
        Actual::Gate(d) => (common::gate_verdict(d, side), Vec::new()),
        Actual::Install(Ok(order)) => {
            let names: Vec<&str> = order
                .iter()
                .filter_map(|p| side.planes.get(usize::from(*p)).map(String::as_str))
                .collect();
            (
                if names.is_empty() {
                    "install order (nothing to install)".into()
                } else {
                    format!("install order {}", names.join(", "))
                },
                Vec::new(),
            )
        }
        Actual::Install(Err(why)) => (format!("not installable: {why}"), Vec::new()),
        Actual::Failed(why) => (format!("could not evaluate: {why}"), Vec::new()),
    }
}

fn describe_expect(ready: &Ready, e: &ExpectResult) -> String {
    let loc = ready.sources.location(e.span);
    let mut out = format!(
        "  expected: {}   ({loc})\n",
        expectation_text(&ready.package, &e.expectation)
    );
    let Some((_, first)) = e.actual.first() else {
        return out;
    };
    let (line, fired) = actual_text(ready, first);
    if e.disagree.is_empty() {
        out.push_str(&format!("  actual:   {line}\n"));
    } else {
        for (k, a) in &e.actual {
            out.push_str(&format!(
                "  {:<9} {}\n",
                format!("{}:", k.name()),
                actual_text(ready, a).0
            ));
        }
        let names: Vec<&str> = e.disagree.iter().map(|k| k.name()).collect();
        out.push_str(&format!(
            "  the engines disagree ({} differ from {}): this is a bug in fleetgate\n",
            names.join(", "),
            e.actual[0].0.name()
        ));
    }
    if fired.is_empty() {
        out.push_str("  fired:    (no clause)\n");
    } else {
        for (i, f) in fired.iter().enumerate() {
            out.push_str(&format!(
                "  {} {f}\n",
                if i == 0 { "fired:   " } else { "         " }
            ));
        }
    }
    out
}

fn describe_failure(ready: &Ready, _engines: &Engines<'_>, r: &TestResult) -> String {
    let mut out = format!(
        "FAILED \"{}\" ({})\n",
        r.name,
        ready.sources.location(r.span)
    );
    for e in r.expects.iter().filter(|e| !e.passed) {
        out.push_str(&describe_expect(ready, e));
    }
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn junit(ready: &Ready, engines: &Engines<'_>, package: &str, results: &[TestResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites tests=\"{}\" failures=\"{failures}\">\n",
        results.len()
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n",
        xml(package),
        results.len()
    ));
    for r in results {
        let file = ready.sources.location(r.span).file;
        out.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\"",
            xml(&r.name),
            xml(&file)
        ));
        if r.passed() {
            out.push_str("/>\n");
        } else {
            let text = describe_failure(ready, engines, r);
            let first = r
                .expects
                .iter()
                .find(|e| !e.passed)
                .map(|e| expectation_text(&ready.package, &e.expectation))
                .unwrap_or_default();
            out.push_str(&format!(
                ">\n      <failure message=\"expected {}\">{}</failure>\n    </testcase>\n",
                xml(&first),
                xml(&text)
            ));
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
