//! Native code generation speed: `NativePolicy::new` (Cranelift, from a verified policy) for
//! `policies/edge-ai` and for a generated package of 1,000 rails. Only code generation is timed: the
//! packages are checked and compiled to bytecode once, outside the measurement.
//!
//! `cargo bench --bench compile`. Goals: edge-ai within 2 ms, 1,000 rails within 50 ms.

#[path = "support/packages.rs"]
mod packages;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use fleetgate_lang::Sources;
use fleetgate_runtime::native::NativePolicy;

/// A package of `rules` rails, each a `deny`, a `defer` and a `deny` clause over arithmetic,
/// optional fields, `and`/`or`/`not` and percent, a quarter of them scoped by a `when`.
fn generated(rules: usize) -> String {
    let mut src = String::from(
        "enum Hw { esp32c3, esp32s3, rk3566 }
plane firmware
plane model
device {
  hw: Hw
  battery: percent
  charging: bool
  cpu_temp_c: float
  free_heap_kb: int
  rssi_dbm: int?
  load_w: int
  capacity_w: int
}
",
    );
    let hws = ["esp32c3", "esp32s3", "rk3566"];
    for i in 0..rules {
        let scope = if i % 4 == 0 {
            format!(" when device.hw == {}", hws[i % 3])
        } else {
            String::new()
        };
        let k = i % 97;
        src.push_str(&format!(
            "rail r{i}{scope} {{
  deny \"r{i}: low heap\" when device.free_heap_kb < {} and not device.charging
  defer {}m \"r{i}: weak or hot\" when (device.rssi_dbm ?? -127) < -{} or device.cpu_temp_c > {}.5
  deny \"r{i}: overload\" when device.load_w * 100 / device.capacity_w >= {} and device.battery < {}%
}}
",
            40 + k,
            1 + i % 59,
            60 + k % 40,
            60 + k,
            50 + k,
            10 + k % 80
        ));
    }
    src
}

fn compile(c: &mut Criterion) {
    let edge_ai = packages::load("edge-ai");
    let mut sources = Sources::new();
    sources.add("generated.policy".to_string(), generated(1_000));
    let checked = fleetgate_lang::check(&sources);
    let package = checked.package.unwrap_or_else(|| {
        panic!(
            "the generated package has errors: {:?}",
            checked.diagnostics
        )
    });
    let big = fleetgate_compiler::compile(&package, &sources)
        .unwrap_or_else(|e| panic!("the generated package does not compile: {e:?}"));
    assert_eq!(big.policy.n_clauses(), 3_000);
    assert!(!edge_ai.package.rails.is_empty());

    let mut group = c.benchmark_group("compile");
    group.bench_function("edge_ai", |b| {
        b.iter(|| {
            black_box(NativePolicy::new(black_box(&edge_ai.compiled.policy)).expect("native code"))
        })
    });
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("rules_1000", |b| {
        b.iter(|| black_box(NativePolicy::new(black_box(&big.policy)).expect("native code")))
    });
    group.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
