//! `fleetgate eval PATH --device FILE.json …`: evaluate a package on one record and explain it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fleetgate_compiler::engine::{EngineKind, Input};
use fleetgate_compiler::layout;
use fleetgate_compiler::records;
use fleetgate_compiler::testing::{describe_not_installable, plane_versions};
use fleetgate_lang::typed::{NowValues, RingCounts};
use fleetgate_runtime::ClauseBits;
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::decision::{self, GateAcc, RailVerdict};
use serde_json::{Value as Json, json};

use crate::cmd::common::{self, Ready};
use crate::cmd::test::{Engine, engine_kinds};
use crate::diag::Format;
use crate::error::CliError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalFormat {
    Human,
    Json,
}

/// Evaluate a package on one device record (rails, health, install order) and/or on one ring's
/// aggregates (gates), and show the decisions with the clauses behind them.
///
/// Records are JSON objects keyed by field name, e.g. `{"hw": "esp32c3", "battery": 0.8, "rssi_dbm":
/// null, "firmware": "v1.3.0", …}`: enum variants, versions and durations as strings, percentages as
/// fractions or as strings like "80%", optional fields absent or null when missing. A ring record holds
/// counts and `soak` (e.g. `{"size": 2500, "succeeded": 400, "soak": "25h"}`), optionally `"by": {"hw":
/// {"esp32c3": {…}, …}}` for `per` clauses and `"rollout": {…}` for `rollout.*`.
#[derive(clap::Args)]
pub struct Args {
    /// A package directory or one `.policy` file.
    pub path: PathBuf,
    /// The device record (JSON).
    #[arg(long, value_name = "FILE.json")]
    pub device: Option<PathBuf>,
    /// Device-local time: `{"hour": 3, "weekday": "tue"}` (default Monday 12:00).
    #[arg(long, value_name = "FILE.json")]
    pub now: Option<PathBuf>,
    /// The release's target versions: `{"model": "v2.1.0"}` (default: touches no plane).
    #[arg(long, value_name = "FILE.json")]
    pub release: Option<PathBuf>,
    /// A ring's aggregates, to evaluate the gates.
    #[arg(long, value_name = "FILE.json")]
    pub ring: Option<PathBuf>,
    /// Only this gate (`canary->early`); every gate by default.
    #[arg(long, value_name = "FROM->TO")]
    pub gate: Option<String>,
    /// Health-check counters, read before and written after the evaluation, so repeated calls behave
    /// like consecutive checks (`for N checks`). Created if absent.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Which engine evaluates (the reference evaluator by default).
    #[arg(long, value_enum, default_value_t = Engine::Reference)]
    pub engine: Engine,
    /// Also show the source line of every clause behind a decision, and erroneous clauses.
    #[arg(long)]
    pub explain: bool,
    #[arg(long, value_enum, default_value_t = EvalFormat::Human)]
    pub format: EvalFormat,
}

/// The largest record file `eval` reads (docs/security.md): records are a few hundred bytes.
const MAX_RECORD_FILE: usize = 1024 * 1024;

fn read_json(path: &Path) -> Result<Json, CliError> {
    let bytes = crate::cmd::verify::read_limited(path, MAX_RECORD_FILE, |size| {
        CliError::usage(format!(
            "`{}` is {size} bytes, more than the {MAX_RECORD_FILE} bytes a record file may have",
            path.display()
        ))
        .help("records are JSON objects keyed by field name")
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::usage(format!("`{}` is not UTF-8 text", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        CliError::usage(format!(
            "`{}` is not valid JSON: {}",
            path.display(),
            e.to_string().to_lowercase()
        ))
        .help("records are JSON objects keyed by field name")
    })
}

fn bad_record(path: &Path, why: String) -> CliError {
    CliError::usage(format!("`{}`: {why}", path.display()))
        .help("see `fleetgate eval --help` for the record format")
}

fn clause_json(ready: &Ready, c: u16) -> Json {
    match ready.compiled.sidecar.clause(usize::from(c)) {
        Some(i) => {
            json!({"clause": c, "kind": i.kind, "rule": i.rule, "reason": i.reason, "file": i.file, "line": i.line, "source": i.source})
        }
        None => json!({"clause": c}),
    }
}

fn clause_lines(ready: &Ready, label: &str, clauses: &[u16], explain: bool) -> String {
    let mut out = String::new();
    for (i, c) in clauses.iter().enumerate() {
        out.push_str(&format!(
            "  {:<10} {}\n",
            if i == 0 { label } else { "" },
            common::clause_line(&ready.compiled.sidecar, *c)
        ));
        if let Some(info) = ready
            .compiled
            .sidecar
            .clause(usize::from(*c))
            .filter(|_| explain)
        {
            out.push_str(&format!("  {:<10}   | {}\n", "", info.source));
        }
    }
    out
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.device.is_none() && args.ring.is_none() {
        return Err(CliError::usage("nothing to evaluate").help("give a device record with `--device FILE.json`, ring aggregates with `--ring FILE.json`, or both"));
    }
    let ready = common::load_and_compile(&args.path, Format::Human)?;
    let engines = crate::cmd::engines(&ready);
    let engine: EngineKind = match args.engine {
        Engine::All => EngineKind::Reference,
        other => engine_kinds(&engines, other)?[0],
    };
    let pkg = &ready.package;
    let compiled = &ready.compiled;
    let policy = &compiled.policy;
    let mut bits = ClauseBits::for_policy(policy);
    let mut human = String::new();
    let mut report = serde_json::Map::new();
    report.insert("engine".into(), json!(engine.name()));
    let run_err = |e: fleetgate_compiler::engine::EngineError| {
        CliError::usage(format!("evaluation failed: {e}"))
    };

    if let Some(device_path) = &args.device {
        let device = records::device(pkg, &read_json(device_path)?)
            .map_err(|e| bad_record(device_path, e))?;
        let now = match &args.now {
            Some(p) => records::now(pkg, &read_json(p)?).map_err(|e| bad_record(p, e))?,
            None => NowValues::default(),
        };
        let release = match &args.release {
            Some(p) => records::release(pkg, &read_json(p)?).map_err(|e| bad_record(p, e))?,
            None => vec![None; pkg.planes.len()],
        };
        let rec = layout::device_record(pkg, &device, now, &release);

        engines
            .run(engine, FunctionKind::Rails, Input::Device(&rec), &mut bits)
            .map_err(run_err)?;
        let d = decision::rails(policy, &bits);
        let fired: Vec<u16> = d.fired().map(|c| c.0).collect();
        let erroneous: Vec<u16> = d.erroneous().map(|c| c.0).collect();
        human.push_str(&format!("rails: {}\n", common::rail_verdict(&d.verdict)));
        human.push_str(&clause_lines(&ready, "fired:", &fired, args.explain));
        human.push_str(&clause_lines(
            &ready,
            "erroneous:",
            &erroneous,
            args.explain,
        ));
        let (verdict, defer) = match d.verdict {
            RailVerdict::Allow => ("allow", None),
            RailVerdict::Defer { secs } => ("defer", Some(secs)),
            RailVerdict::Deny => ("deny", None),
        };
        report.insert(
            "rails".into(),
            json!({"verdict": verdict, "defer_secs": defer, "fired": fired.iter().map(|c| clause_json(&ready, *c)).collect::<Vec<_>>(),
                   "erroneous": erroneous.iter().map(|c| clause_json(&ready, *c)).collect::<Vec<_>>()}),
        );

        let n_counters = usize::from(compiled.artifact.n_counters);
        let mut counters = vec![0u8; n_counters];
        if let Some(state) = args.state.as_ref().filter(|s| s.exists()) {
            {
                let j = read_json(state)?;
                let saved: Vec<u8> = j
                    .get("counters")
                    .and_then(|c| serde_json::from_value(c.clone()).ok())
                    .unwrap_or_default();
                if saved.len() == n_counters {
                    counters = saved;
                } else {
                    return Err(CliError::usage(format!(
                        "`{}` holds counters for another package",
                        state.display()
                    ))
                    .help("delete the state file to start from zero"));
                }
            }
        }
        engines
            .run(engine, FunctionKind::Health, Input::Device(&rec), &mut bits)
            .map_err(run_err)?;
        let versions = plane_versions(compiled, &rec);
        let h = decision::health(policy, &bits, &mut counters, &versions);
        let verdict = h.verdict;
        let fired: Vec<u16> = h.fired().map(|c| c.0).collect();
        let erroneous: Vec<u16> = h.erroneous().map(|c| c.0).collect();
        human.push_str(&format!(
            "health: {}",
            common::health_verdict(&verdict, &compiled.sidecar)
        ));
        if n_counters > 0 {
            human.push_str(&format!("   (counters {counters:?})"));
        }
        human.push('\n');
        human.push_str(&clause_lines(&ready, "fired:", &fired, args.explain));
        human.push_str(&clause_lines(
            &ready,
            "erroneous:",
            &erroneous,
            args.explain,
        ));
        report.insert(
            "health".into(),
            json!({"verdict": common::health_verdict(&verdict, &compiled.sidecar), "counters": counters,
                   "fired": fired.iter().map(|c| clause_json(&ready, *c)).collect::<Vec<_>>()}),
        );
        if let Some(state) = &args.state {
            std::fs::write(state, json!({"counters": counters}).to_string())
                .map_err(|e| CliError::write(state, &e))?;
        }

        if args.release.is_some() {
            engines
                .run(
                    engine,
                    FunctionKind::Constraints,
                    Input::Device(&rec),
                    &mut bits,
                )
                .map_err(run_err)?;
            let target: Vec<Option<u64>> = release.iter().map(|v| v.map(|v| v.packed())).collect();
            match decision::install_order(policy, &versions, &target, &bits) {
                Ok(order) => {
                    let names: Vec<&str> = order
                        .iter()
                        .filter_map(|p| {
                            compiled
                                .sidecar
                                .planes
                                .get(usize::from(p))
                                .map(String::as_str)
                        })
                        .collect();
                    human.push_str(&format!(
                        "install order: {}\n",
                        if names.is_empty() {
                            "(nothing to install)".to_string()
                        } else {
                            names.join(", ")
                        }
                    ));
                    report.insert(
                        "install".into(),
                        json!({"installable": true, "order": names}),
                    );
                }
                Err(e) => {
                    let why = describe_not_installable(&engines, &e);
                    human.push_str(&format!("not installable: {why}\n"));
                    report.insert(
                        "install".into(),
                        json!({"installable": false, "reason": why}),
                    );
                }
            }
        }
    }

    if let Some(ring_path) = &args.ring {
        let j = read_json(ring_path)?;
        let total = records::ring_counts(&j, "ring").map_err(|e| bad_record(ring_path, e))?;
        let rollout = match j.get("rollout") {
            Some(r) => records::ring_counts(r, "rollout").map_err(|e| bad_record(ring_path, e))?,
            None => total,
        };
        // `by`: {field: {value: counts}}; counts per value, summed into the ring when given.
        let mut split: Vec<(u16, Vec<RingCounts>)> = Vec::new();
        if let Some(by) = j.get("by").and_then(Json::as_object) {
            for (field, values) in by {
                let Some(f) = pkg.field_by_name(field) else {
                    return Err(bad_record(
                        ring_path,
                        format!("`by`: the device has no field `{field}`"),
                    ));
                };
                let mut counts = Vec::new();
                for (_, v) in values.as_object().into_iter().flatten() {
                    counts.push(
                        records::ring_counts(v, &format!("by.{field}"))
                            .map_err(|e| bad_record(ring_path, e))?,
                    );
                }
                split.push((f.index() as u16, counts));
            }
        }
        let whole = layout::gate_record(&total, &rollout);
        let mut gates_json = Vec::new();
        for (g, name) in compiled.sidecar.gates.iter().enumerate() {
            if args
                .gate
                .as_ref()
                .is_some_and(|want| want.replace(' ', "") != name.replace(' ', ""))
            {
                continue;
            }
            let g = g as u8;
            let mut acc = GateAcc::new(policy, g).ok_or_else(|| CliError::usage("no such gate"))?;
            engines
                .run(
                    engine,
                    FunctionKind::Gate(g),
                    Input::Gate(&whole),
                    &mut bits,
                )
                .map_err(run_err)?;
            acc.add_whole(&bits);
            let mut slots: Vec<u16> = compiled
                .artifact
                .clauses
                .iter()
                .filter_map(|c| c.per_slot)
                .collect();
            slots.sort_unstable();
            slots.dedup();
            for slot in slots {
                match split.iter().find(|(f, _)| *f == slot) {
                    Some((_, values)) => {
                        for counts in values {
                            let rec = layout::gate_record(counts, &rollout);
                            engines
                                .run(engine, FunctionKind::Gate(g), Input::Gate(&rec), &mut bits)
                                .map_err(run_err)?;
                            acc.add_value(slot, &bits);
                        }
                    }
                    None => {
                        engines
                            .run(
                                engine,
                                FunctionKind::Gate(g),
                                Input::Gate(&whole),
                                &mut bits,
                            )
                            .map_err(run_err)?;
                        acc.add_value(slot, &bits);
                    }
                }
            }
            let d = acc.finish(total.soak_secs);
            let text = common::gate_verdict(&d, &compiled.sidecar);
            human.push_str(&format!("gate {name}: {text}\n"));
            gates_json.push(json!({"gate": name, "decision": text}));
        }
        if gates_json.is_empty() {
            return Err(
                CliError::usage(format!("no gate `{}`", args.gate.unwrap_or_default())).help(
                    format!("the gates are: {}", compiled.sidecar.gates.join(", ")),
                ),
            );
        }
        report.insert("gates".into(), Json::Array(gates_json));
    }

    match args.format {
        EvalFormat::Human => crate::out!("{human}"),
        EvalFormat::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&Json::Object(report)).unwrap_or_default()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
