//! Front-end throughput: `fleetgate_lang::check` (parse, resolve, type-check) and the formatter, in
//! bytes of source per second.
//!
//! In: the example package `policies/edge-ai` (small, the everyday case) and a package of about 1 MB
//! generated in memory (the schema of the example plus many lets, rails, health rules, fixtures and
//! tests with varied expressions and comments; the slow case). Out: criterion reports for the groups
//! `lang/check` and `lang/fmt`.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fleetgate_lang::Sources;

const SCHEMA: &str = "// Generated for the front-end benchmark.
enum Hw { esp32c3, esp32s3, rk3566 }
enum Region { eu_west, eu_north, us_east, us_west, apac }
enum Phase { idle, active, critical }

plane firmware
plane model
plane config

device {
  hw: Hw
  region: Region
  battery: percent
  charging: bool
  free_heap_kb: int
  flash_free_kb: int
  rssi_dbm: int?
  cpu_temp_c: float
  mission_phase: Phase
  inference_ms: float?
  npu_ready: bool?
  reboots_24h: int
  uptime: duration
}

fixture base = device {
  hw = esp32c3, region = eu_west, battery = 80%, charging = false, free_heap_kb = 120,
  flash_free_kb = 3000, rssi_dbm = -60, cpu_temp_c = 40.0, mission_phase = idle, reboots_24h = 0,
  uptime = 3h, firmware = v1.3.0, model = v1.9.0, config = v6.0.0
}

depends model >= v2.0.0 on firmware >= v1.4.0
depends config >= v7.0.0 on model >= v2.0.0 and model < v3.0.0
incompatible model >= v3.0.0 when device.hw == esp32c3 \"model 3.x does not fit in ESP32-C3 flash\"

rollout {
  check every 1m
  verify for 10m
  rate 200 per 1m
  in flight at most 2000
  retries 3
  ring canary = 0.5% where device.region == eu_west
  ring early = 2%
  ring full = 100%
}

gate canary -> early {
  soak 24h
  require ring.done >= min(300, ring.size * 8 / 10)
  abort \"a hardware class fails\" when ring.failure_rate > 8% and ring.done >= 20 per device.hw
}

gate early -> full {
  soak 48h
  require ring.failure_upper < 2% per device.region
  abort \"bricked\" when ring.bricked > 0
}
";

/// One unit of generated policy: a let, a rail, a health rule and a test, varied by `i`.
fn unit(i: usize) -> String {
    let hw = ["esp32c3", "esp32s3", "rk3566"][i % 3];
    let region = ["eu_west", "eu_north", "us_east", "us_west", "apac"][i % 5];
    let phase = ["idle", "active", "critical"][i % 3];
    format!(
        "// Unit {i}: rails and health rules for one device class.
let weak_{i} = (device.rssi_dbm ?? -127) < -{rssi} or device.battery < {battery}% and not device.charging
let busy_{i} = device.mission_phase in [active, critical] and now.hour between {h0} and {h1}

rail power_{i} when device.hw == {hw} and device.region != {region} {{
  deny \"unit {i}: battery low\" when device.battery < {battery}% and not device.charging
  defer {minutes}m \"unit {i}: busy\" when busy_{i} or device.mission_phase == {phase}
  deny \"unit {i}: heap\" when device.free_heap_kb * 2 + {i} < {heap} and device.uptime + 30m > 1h
  defer 1h30m \"unit {i}: signal\" when weak_{i} and known(release.model)
}}

health checks_{i} when device.hw == {hw} {{
  rollback model \"unit {i}: slow\" when (device.inference_ms ?? 0.0) > {latency}.5 for {checks} checks
  rollback firmware, config \"unit {i}: hot\" when device.cpu_temp_c > 9{d}.0 and not (device.npu_ready ?? false)
}}

test \"unit {i}: low heap is denied\" {{
  given base with {{ hw = {hw}, region = eu_north, free_heap_kb = {low_heap}, charging = true }}
  given now {{ hour = {hour}, weekday = tue }}
  expect deny \"unit {i}: heap\"
}}

",
        rssi = 60 + i % 40,
        battery = 10 + i % 50,
        h0 = i % 12,
        h1 = 12 + i % 12,
        minutes = 1 + i % 59,
        heap = 100 + i % 900,
        latency = 200 + i % 300,
        checks = 1 + i % 5,
        d = i % 10,
        low_heap = i % 10,
        hour = i % 24,
    )
}

/// About `size` bytes of policy in files of about 100 KB.
fn generated(size: usize) -> Vec<(String, String)> {
    let mut files = vec![("schema.policy".to_string(), SCHEMA.to_string())];
    let mut total = SCHEMA.len();
    let mut i = 0;
    while total < size {
        let mut text = String::new();
        while text.len() < 100_000 && total + text.len() < size {
            text.push_str(&unit(i));
            i += 1;
        }
        total += text.len();
        files.push((format!("units/{:03}.policy", files.len()), text));
    }
    files
}

fn edge_ai() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/edge-ai");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("policies/edge-ai is readable") {
            let p = entry.expect("directory entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "policy") {
                let name = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
                files.push((name, std::fs::read_to_string(&p).expect("UTF-8 policy")));
            }
        }
    }
    files.sort();
    files
}

fn sources(files: &[(String, String)]) -> Sources {
    let mut sources = Sources::new();
    for (name, text) in files {
        sources.add(name.clone(), text.clone());
    }
    sources
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("edge-ai", edge_ai()),
        ("generated-1mb", generated(1024 * 1024)),
    ];
    for (name, files) in &cases {
        // The generated package must be a valid one, or the benchmark measures error paths.
        let checked = fleetgate_lang::check(&sources(files));
        assert!(
            !checked.has_errors(),
            "{name}: {:?}",
            checked.diagnostics.first().map(|d| &d.message)
        );
    }

    let mut group = c.benchmark_group("lang/check");
    for (name, files) in &cases {
        let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
        let sources = sources(files);
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &sources, |b, s| {
            b.iter(|| fleetgate_lang::check(black_box(s)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("lang/fmt");
    for (name, files) in &cases {
        let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), files, |b, files| {
            b.iter(|| {
                for (_, text) in files {
                    black_box(fleetgate_lang::fmt::format_source(black_box(text)).is_ok());
                }
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
