//! Golden vectors: for every example package, `golden/vectors/<package>.fgv` holds the artifact and a
//! few hundred records with the clause conditions the reference evaluator gives and the decisions the
//! runtime's decision code makes of them. `fleetgate-golden` replays them with the interpreter on the
//! host and on riscv32imc under qemu (`.ci/riscv32.sh`), where no compiler is available.
//!
//! Records: device records from `sample::Sampler` (fixed seed) and every device the package's tests
//! describe, for the Rails, Health, Constraints and Rings functions; gate records from the sampler and
//! every ring (whole, and per value where a test splits it) the tests describe, for every gate. Each
//! vector is also run through the interpreter here, which must agree with the reference evaluator.
//!
//! A snapshot: the test regenerates each file and fails when it differs from the checked-in one;
//! `FLEETGATE_BLESS=1` writes the files instead (and removes files of packages that are gone).
//! The format and the decision procedure are `golden/src/vector.rs`, compiled in here by path so that
//! writer and reader share one definition without the compiler depending on the golden crate.

// Shared with the other compiler tests; not every helper is used here.
#[allow(dead_code)]
mod common;

// `vector.rs` is `no_std` code that names `alloc::`.
extern crate alloc;

// Only the writer, the parser and `decide` are used here; the rest serves the golden crate.
#[allow(dead_code)]
#[path = "../../golden/src/vector.rs"]
mod vector;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use fleetgate_compiler::engine::{EngineKind, Engines, Input};
use fleetgate_compiler::layout::{self, DeviceRecord};
use fleetgate_compiler::sample::{Rng, Sampler};
use fleetgate_compiler::testing;
use fleetgate_runtime::ClauseBits;
use fleetgate_runtime::artifact::FunctionKind;
use fleetgate_runtime::ring::{GATE_SLOTS, PPM};

use vector::{Entry, Origin, Writer};

const SEED: u64 = 0x0060_1de7;
/// Sampled device records per package (each gives one vector per device function).
const SAMPLED_DEVICES: usize = 48;
/// Sampled gate records per gate.
const SAMPLED_GATES: usize = 16;
const DEVICE_FUNCTIONS: [FunctionKind; 4] = [
    FunctionKind::Rails,
    FunctionKind::Health,
    FunctionKind::Constraints,
    FunctionKind::Rings,
];
const BLESS: &str = "FLEETGATE_BLESS";

fn vectors_dir() -> PathBuf {
    common::repo_root().join("golden").join("vectors")
}

/// Ring points worth trying: each ring's boundary and its neighbours, the ends, and random points.
fn ring_points(loaded: &common::Loaded, rng: &mut Rng) -> Vec<u32> {
    let mut pool: Vec<u32> = vec![0, PPM - 1];
    for r in &loaded.compiled.artifact.rollout.rings {
        pool.extend([
            r.share_ppm.saturating_sub(1),
            r.share_ppm,
            r.share_ppm.saturating_add(1),
        ]);
    }
    pool.retain(|&p| p < PPM);
    pool.sort_unstable();
    pool.dedup();
    (0..8)
        .map(|_| rng.below(u64::from(PPM)) as u32)
        .chain(pool)
        .collect()
}

/// The records of one package, in a fixed order, without repeats.
struct Records {
    devices: Vec<(Origin, DeviceRecord)>,
    gates: Vec<(Origin, [u64; GATE_SLOTS])>,
}

fn records(loaded: &common::Loaded) -> Records {
    let pkg = &loaded.package;
    let sampler = Sampler::new(pkg);
    let mut rng = Rng::new(SEED);
    let mut devices = Vec::new();
    let mut seen = HashSet::new();
    for _ in 0..SAMPLED_DEVICES {
        let rec = sampler.device(&mut rng);
        if seen.insert((rec.slots.clone(), rec.missing.clone())) {
            devices.push((Origin::Sampled, rec));
        }
    }
    for test in &pkg.tests {
        if let Some(values) = &test.device {
            let rec = layout::device_record(pkg, values, test.now, &test.release);
            if seen.insert((rec.slots.clone(), rec.missing.clone())) {
                devices.push((Origin::PackageTest, rec));
            }
        }
    }
    let mut gates = Vec::new();
    let mut seen = HashSet::new();
    for _ in 0..SAMPLED_GATES {
        let rec = sampler.gate(&mut rng);
        if seen.insert(rec) {
            gates.push((Origin::Sampled, rec));
        }
    }
    for test in &pkg.tests {
        let Some(ring) = &test.ring else { continue };
        let rollout = test.rollout.unwrap_or(ring.total);
        let split = ring
            .by
            .iter()
            .flat_map(|(_, values)| values.iter().map(|(_, counts)| counts));
        for counts in std::iter::once(&ring.total).chain(split) {
            let rec = layout::gate_record(counts, &rollout);
            if seen.insert(rec) {
                gates.push((Origin::PackageTest, rec));
            }
        }
    }
    Records { devices, gates }
}

/// One vector: the reference evaluator's conditions (which the interpreter must match) and the decision.
#[allow(clippy::too_many_arguments)]
fn push(
    w: &mut Writer,
    engines: &Engines<'_>,
    kind: FunctionKind,
    origin: Origin,
    input: Input<'_>,
    versions: &[u64],
    point_ppm: u32,
    what: &str,
) {
    let policy = &engines.compiled.policy;
    let Some(f) = policy.function(kind) else {
        return;
    };
    let range = policy.function_def(f).map_or(0..0, |d| d.clause_range());
    let (slots, missing): (&[u64], &[u64]) = match input {
        Input::Device(d) => (&d.slots, &d.missing),
        Input::Gate(g) => (g, &[0]),
    };
    let mut reference = ClauseBits::for_policy(policy);
    let mut interp = ClauseBits::for_policy(policy);
    engines
        .run(EngineKind::Reference, kind, input, &mut reference)
        .expect("the reference evaluator runs");
    engines
        .run(EngineKind::Interp, kind, input, &mut interp)
        .expect("the interpreter runs");
    assert_eq!(
        reference, interp,
        "{what}: reference and interpreter disagree on {kind:?} for {slots:?} (missing {missing:?})"
    );
    let mut counters = vec![0u8; usize::from(policy.artifact().n_counters)];
    let per_slots: Vec<u16> = match kind {
        FunctionKind::Gate(g) => vector::per_slots(policy, g).collect(),
        _ => Vec::new(),
    };
    let mut inputs = vector::Inputs {
        record: slots,
        versions,
        counters: &mut counters,
        point_ppm,
        per_slots: &per_slots,
    };
    let decision = vector::decide(policy, kind, &reference, &mut inputs);
    let entry = Entry {
        kind,
        origin,
        slots,
        missing,
        bits: &reference,
        clauses: range,
        decision: &decision,
    };
    w.push(&entry).expect("the vector fits the format");
}

fn generate(dir: &Path) -> (String, Vec<u8>) {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("package directory name")
        .to_owned();
    let loaded = common::load(dir);
    let engines = Engines::new(&loaded.package, &loaded.compiled);
    let mut w =
        Writer::new(&name, &loaded.compiled.bytes).expect("name and artifact fit the format");
    let recs = records(&loaded);
    let mut rng = Rng::new(SEED ^ 0x5249_4e47);
    let points = ring_points(&loaded, &mut rng);
    for (i, (origin, rec)) in recs.devices.iter().enumerate() {
        let versions = testing::plane_versions(&loaded.compiled, rec);
        let point = points[i % points.len()];
        for kind in DEVICE_FUNCTIONS {
            push(
                &mut w,
                &engines,
                kind,
                *origin,
                Input::Device(rec),
                &versions,
                point,
                &name,
            );
        }
    }
    for g in 0..loaded.compiled.artifact.rollout.gates.len() {
        let g = u8::try_from(g).expect("at most 255 gates");
        for (origin, rec) in &recs.gates {
            push(
                &mut w,
                &engines,
                FunctionKind::Gate(g),
                *origin,
                Input::Gate(rec),
                &[],
                0,
                &name,
            );
        }
    }
    let n = w.len();
    let bytes = w.finish().expect("the file fits the format");
    // Read back what was written: the parser must take it, with every vector.
    let parsed = vector::parse(&bytes)
        .unwrap_or_else(|e| panic!("{name}: the written file does not parse: {e}"));
    assert_eq!(
        (parsed.package, parsed.artifact, parsed.len()),
        (name.as_str(), &loaded.compiled.bytes[..], n)
    );
    assert_eq!(parsed.vectors().count(), n);
    (name, bytes)
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

#[test]
fn golden_vectors_are_up_to_date() {
    let bless = std::env::var(BLESS).is_ok_and(|v| v == "1");
    let packages = common::example_packages();
    assert!(!packages.is_empty(), "no example packages under policies/");
    let dir = vectors_dir();
    let mut problems = Vec::new();
    let mut expected_files = HashSet::new();
    for pkg in &packages {
        let (name, bytes) = generate(pkg);
        let path = dir.join(format!("{name}.fgv"));
        expected_files.insert(path.clone());
        let shown = format!("golden/vectors/{name}.fgv");
        if bless {
            std::fs::create_dir_all(&dir).expect("create golden/vectors");
            std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("write {shown}: {e}"));
            continue;
        }
        match std::fs::read(&path) {
            Ok(old) if old == bytes => {}
            Ok(old) => problems.push(format!(
                "{shown} is out of date: {} bytes checked in, {} regenerated, first difference at byte {}",
                old.len(),
                bytes.len(),
                first_difference(&old, &bytes)
            )),
            Err(e) => problems.push(format!("{shown} cannot be read ({e})")),
        }
    }
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "fgv") && !expected_files.contains(&path) {
            if bless {
                std::fs::remove_file(&path)
                    .unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
            } else {
                problems.push(format!(
                    "{} belongs to no package under policies/",
                    path.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nif the change is intended, regenerate with `{BLESS}=1 cargo test -p fleetgate-compiler --test golden` and check in golden/vectors/",
        problems.join("\n")
    );
}
