//! `fleetgate plan PATH --release FILE.toml [--fleet FILE.toml]`: which devices can take a release, and
//! in which order their planes install.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use fleetgate_compiler::engine::{EngineKind, Input};
use fleetgate_compiler::layout::DeviceRecord;
use fleetgate_compiler::testing::describe_not_installable;
use fleetgate_runtime::ClauseBits;
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::decision;
use fleetgate_simulator::input::{FileKind, fleet, release, show_version};
use rand::SeedableRng;
use serde_json::json;

use crate::cmd::common;
use crate::cmd::inputs::{self, InputFiles};
use crate::diag::Format;
use crate::error::CliError;

/// How many devices of each class are drawn to find its version mixes and condition outcomes.
const DRAWS_PER_CLASS: usize = 2000;

/// Show, for each device class and current-version mix, the order in which the release's planes
/// install one at a time (every intermediate state consistent with the dependency constraints), or
/// why the release cannot install there.
///
/// With `--fleet`, rows come from the fleet model: each class's static fields are drawn 2,000 times
/// (fixed seed) and identical results are grouped, with their share of the class. Without it, every
/// combination of the versions the package's constraints mention is tried, and the enum fields that
/// `incompatible` conditions read take each of their values.
///
/// Exit status 1 if some class (or, without a fleet, some combination) can never take the release.
#[derive(clap::Args)]
pub struct Args {
    /// A package directory or one `.policy` file.
    pub path: PathBuf,
    /// The release (default: `PATH/release.toml`).
    #[arg(long, value_name = "FILE.toml")]
    pub release: Option<PathBuf>,
    /// The fleet model (default: none: try the versions the package mentions).
    #[arg(long, value_name = "FILE.toml")]
    pub fleet: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Rows are grouped by versions, condition values and result.
type Group = (Vec<u64>, Vec<String>, Result<Vec<u8>, String>);

struct Row {
    class: String,
    /// Share of the class (with a fleet), or `None`.
    share: Option<f64>,
    versions: Vec<u64>,
    /// Values of the fields the `incompatible` conditions read, as text.
    conditions: Vec<String>,
    result: Result<Vec<u8>, String>,
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let ready = common::load_and_compile(&args.path, Format::Human)?;
    let pkg = &ready.package;
    let schema = inputs::schema(pkg);
    let release_path = inputs::default_input(
        args.release.as_deref(),
        &args.path,
        "release.toml",
        "release",
    )?;
    let mut files = InputFiles::new();

    let fleet = match &args.fleet {
        Some(p) => {
            let text = files.add(FileKind::Fleet, p)?;
            Some(fleet::parse(&text, &schema).map_err(|e| files.fail(&e, args.format))?)
        }
        None => None,
    };
    let release_text = files.add(FileKind::Release, &release_path)?;
    let rel = match &fleet {
        Some(f) => release::parse(&release_text, &schema, f),
        None => release::parse_without_fleet(&release_text, &schema),
    }
    .map_err(|errors| files.fail(&errors, args.format))?;
    let targets: Vec<Option<u64>> = rel.targets.iter().map(|t| t.map(|t| t.version)).collect();

    let engines = crate::cmd::engines(&ready);
    let compiled = &ready.compiled;
    let layout = compiled.layout;
    let mut bits = ClauseBits::for_policy(&compiled.policy);
    let mut evaluate =
        |slots: Vec<u64>, missing: Vec<u64>| -> Result<Result<Vec<u8>, String>, CliError> {
            let rec = DeviceRecord { slots, missing };
            engines
                .run(
                    EngineKind::Interp,
                    FunctionKind::Constraints,
                    Input::Device(&rec),
                    &mut bits,
                )
                .map_err(|e| CliError::usage(format!("evaluation failed: {e}")))?;
            let current: Vec<u64> = (0..layout.n_planes)
                .map(|p| rec.slots[layout.n_fields + p])
                .collect();
            Ok(
                match decision::install_order(&compiled.policy, &current, &targets, &bits) {
                    Ok(order) => Ok(order.as_slice().to_vec()),
                    Err(e) => Err(describe_not_installable(&engines, &e)),
                },
            )
        };

    // Fields read by `incompatible` conditions: shown in rows because they decide the outcome.
    let mut cond_fields: Vec<usize> = Vec::new();
    for inc in &pkg.incompatibles {
        collect_fields(&inc.cond, &mut cond_fields);
    }
    cond_fields.sort_unstable();
    cond_fields.dedup();
    let show_field = |f: usize, bits: Option<u64>| -> String {
        let field = &pkg.fields[f];
        match bits {
            None => format!("{} missing", field.name),
            Some(b) => format!(
                "{} = {}",
                field.name,
                pkg.show_value(fleetgate_lang::typed::Value::from_bits(field.ty, b))
            ),
        }
    };

    let mut rows: Vec<Row> = Vec::new();
    let words = layout.missing_words();
    let base_slots = |versions: &[u64]| {
        let mut slots = vec![0u64; layout.device_slots()];
        let mut missing = vec![0u64; words];
        for (p, v) in versions.iter().enumerate() {
            slots[layout.n_fields + p] = *v;
        }
        slots[layout.n_fields + layout.n_planes] = 12;
        for (p, t) in targets.iter().enumerate() {
            let s = layout.n_fields + layout.n_planes + 2 + p;
            match t {
                Some(v) => slots[s] = *v,
                None => missing[s / 64] |= 1 << (s % 64),
            }
        }
        (slots, missing)
    };
    match &fleet {
        Some(fleet) => {
            for class in &fleet.classes {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x9a7e);
                let mut groups: BTreeMap<Group, usize> = BTreeMap::new();
                for _ in 0..DRAWS_PER_CLASS {
                    let versions: Vec<u64> = class
                        .planes
                        .iter()
                        .map(|d| d.sample(&mut rng).unwrap_or(0))
                        .collect();
                    let (mut slots, mut missing) = base_slots(&versions);
                    let mut shown = Vec::new();
                    for (f, d) in class.fields.iter().enumerate() {
                        let v = d.sample(&mut rng);
                        match v {
                            Some(b) => slots[f] = b,
                            None => missing[f / 64] |= 1 << (f % 64),
                        }
                        if cond_fields.contains(&f) {
                            shown.push(show_field(f, v));
                        }
                    }
                    let result = evaluate(slots, missing)?;
                    *groups.entry((versions, shown, result)).or_insert(0) += 1;
                }
                for ((versions, conditions, result), n) in groups {
                    rows.push(Row {
                        class: class.name.clone(),
                        share: Some(n as f64 / DRAWS_PER_CLASS as f64),
                        versions,
                        conditions,
                        result,
                    });
                }
            }
        }
        None => {
            // Versions the package mentions per plane (bounds of every constraint), plus the targets.
            let mut mentioned: Vec<Vec<u64>> = vec![Vec::new(); layout.n_planes];
            let mut add_set = |plane: usize, set: &fleetgate_lang::typed::VersionSet| {
                for &(lo, hi) in &set.0 {
                    for v in [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)] {
                        if v < (1u64 << 48) {
                            mentioned[plane].push(v);
                        }
                    }
                }
            };
            for d in &pkg.depends {
                add_set(d.dependent.plane.index(), &d.dependent.set);
                add_set(d.dependency.plane.index(), &d.dependency.set);
            }
            for inc in &pkg.incompatibles {
                add_set(inc.versions.plane.index(), &inc.versions.set);
            }
            for (p, t) in targets.iter().enumerate() {
                if let Some(t) = t {
                    mentioned[p].push(*t);
                }
                if mentioned[p].is_empty() {
                    mentioned[p].push(0);
                }
                mentioned[p].sort_unstable();
                mentioned[p].dedup();
            }
            // Values of enum and bool fields the conditions read.
            let field_values: Vec<Vec<u64>> = cond_fields
                .iter()
                .map(|&f| match pkg.fields[f].ty {
                    fleetgate_lang::typed::Ty::Enum(e) => {
                        (0..pkg.enum_(e).variants.len() as u64).collect()
                    }
                    fleetgate_lang::typed::Ty::Bool => vec![0, 1],
                    _ => vec![0],
                })
                .collect();
            let mut combos: Vec<(Vec<u64>, Vec<u64>)> = vec![(Vec::new(), Vec::new())];
            for vs in &mentioned {
                combos = combos
                    .into_iter()
                    .flat_map(|(v, f)| {
                        vs.iter()
                            .map(move |x| ([v.clone(), vec![*x]].concat(), f.clone()))
                    })
                    .collect();
            }
            for vals in &field_values {
                combos = combos
                    .into_iter()
                    .flat_map(|(v, f)| {
                        vals.iter()
                            .map(move |x| (v.clone(), [f.clone(), vec![*x]].concat()))
                    })
                    .collect();
            }
            if combos.len() > 20_000 {
                return Err(CliError::usage(format!("{} combinations of versions to try; that is too many to list", combos.len()))
                    .help("give a fleet model with `--fleet FILE.toml` to plan for the versions devices really run"));
            }
            for (versions, values) in combos {
                let (mut slots, missing) = base_slots(&versions);
                for (&f, &v) in cond_fields.iter().zip(&values) {
                    slots[f] = v;
                }
                // No device runs an inconsistent version set: skip starting states the constraints forbid.
                let rec = DeviceRecord {
                    slots: slots.clone(),
                    missing: missing.clone(),
                };
                let mut start_bits = ClauseBits::for_policy(&compiled.policy);
                engines
                    .run(
                        EngineKind::Interp,
                        FunctionKind::Constraints,
                        Input::Device(&rec),
                        &mut start_bits,
                    )
                    .map_err(|e| CliError::usage(format!("evaluation failed: {e}")))?;
                if decision::consistent(&compiled.policy, &versions, &start_bits).is_err() {
                    continue;
                }
                let conditions = cond_fields
                    .iter()
                    .zip(&values)
                    .map(|(&f, &v)| show_field(f, Some(v)))
                    .collect();
                let result = evaluate(slots, missing)?;
                rows.push(Row {
                    class: "any device".into(),
                    share: None,
                    versions,
                    conditions,
                    result,
                });
            }
        }
    }

    // A class that can never take the release.
    let mut never: Vec<String> = Vec::new();
    let mut classes: Vec<&str> = rows.iter().map(|r| r.class.as_str()).collect();
    classes.dedup();
    for c in &classes {
        if rows
            .iter()
            .filter(|r| r.class == *c)
            .all(|r| r.result.is_err())
        {
            never.push(c.to_string());
        }
    }
    let any_blocked = if fleet.is_some() {
        !never.is_empty()
    } else {
        rows.iter().any(|r| r.result.is_err())
    };
    let planes = &compiled.sidecar.planes;
    let order_text = |r: &Row| match &r.result {
        Ok(o) if o.is_empty() => "(nothing to install)".to_string(),
        Ok(o) => o
            .iter()
            .filter_map(|p| planes.get(usize::from(*p)).map(String::as_str))
            .collect::<Vec<_>>()
            .join(", "),
        Err(why) => format!("not installable: {why}"),
    };
    match args.format {
        Format::Human => {
            let target_text: Vec<String> = targets
                .iter()
                .zip(planes)
                .filter_map(|(t, p)| t.map(|v| format!("{p} {}", show_version(v))))
                .collect();
            crate::outln!("release {}: {}", rel.name, target_text.join(", "));
            crate::outln!();
            // Each plane's column is as wide as its widest entry (at least 9).
            let widths: Vec<usize> = planes
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    rows.iter()
                        .filter_map(|r| r.versions.get(i))
                        .map(|v| show_version(*v).len())
                        .chain([p.len(), 9])
                        .max()
                        .unwrap_or(9)
                })
                .collect();
            let class_width = rows
                .iter()
                .map(|r| r.class.len())
                .chain([12])
                .max()
                .unwrap_or(12);
            let mut header = format!("{:<class_width$} {:>6}", "class", "share");
            for (p, w) in planes.iter().zip(&widths) {
                header.push_str(&format!("  {p:<w$}"));
            }
            crate::outln!("{header}  install order");
            for r in &rows {
                let mut line = format!(
                    "{:<class_width$} {:>6}",
                    r.class,
                    r.share
                        .map(|s| format!("{:.1}%", s * 100.0))
                        .unwrap_or_else(|| "-".into())
                );
                for (v, w) in r.versions.iter().zip(&widths) {
                    line.push_str(&format!("  {:<w$}", show_version(*v)));
                }
                line.push_str("  ");
                if !r.conditions.is_empty() {
                    line.push_str(&format!("[{}] ", r.conditions.join(", ")));
                }
                line.push_str(&order_text(r));
                crate::outln!("{line}");
            }
        }
        Format::Json => {
            let rows_json: Vec<_> = rows
                .iter()
                .map(|r| {
                    let versions: serde_json::Map<String, serde_json::Value> =
                        planes.iter().zip(&r.versions).map(|(p, v)| (p.clone(), json!(show_version(*v)))).collect();
                    json!({"class": r.class, "share": r.share, "versions": versions, "conditions": r.conditions,
                           "installable": r.result.is_ok(), "order": r.result.as_ref().ok().map(|o| o.iter().filter_map(|p| planes.get(usize::from(*p))).collect::<Vec<_>>()),
                           "reason": r.result.as_ref().err()})
                })
                .collect();
            crate::outln!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({"release": rel.name, "rows": rows_json, "never": never})
                )
                .unwrap_or_default()
            );
        }
    }
    if any_blocked {
        let who = if never.is_empty() {
            "some version combinations".to_string()
        } else {
            never
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        eprintln!("error: {who} can never take release `{}`", rel.name);
        eprintln!(
            "  help: exclude {} from the release, ship a target that satisfies the constraint named above, or change the `depends`/`incompatible` declaration that blocks it",
            if never.len() == 1 {
                "that class"
            } else {
                "them"
            }
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn collect_fields(e: &fleetgate_lang::typed::Expr, out: &mut Vec<usize>) {
    use fleetgate_lang::typed::{ExprKind, FieldRef};
    match &e.kind {
        ExprKind::Field(FieldRef::Device(f))
        | ExprKind::Coalesce(FieldRef::Device(f), _)
        | ExprKind::Known(FieldRef::Device(f)) => out.push(f.index()),
        _ => {}
    }
    match &e.kind {
        ExprKind::Coalesce(_, d) => collect_fields(d, out),
        ExprKind::Widen(x)
        | ExprKind::Neg(_, x)
        | ExprKind::Abs(_, x)
        | ExprKind::Not(x)
        | ExprKind::In(_, x, _) => collect_fields(x, out),
        ExprKind::Arith(_, _, a, b) | ExprKind::Cmp(_, _, a, b) => {
            collect_fields(a, out);
            collect_fields(b, out);
        }
        ExprKind::Between(_, x, lo, hi) => {
            collect_fields(x, out);
            collect_fields(lo, out);
            collect_fields(hi, out);
        }
        ExprKind::And(xs) | ExprKind::Or(xs) => xs.iter().for_each(|x| collect_fields(x, out)),
        _ => {}
    }
}
