use super::*;
use crate::schema::{FieldSchema, FieldType, Schema};

fn enum_ty(name: &str, variants: &[&str]) -> FieldType {
    FieldType::Enum(
        name.into(),
        variants.iter().map(|s| s.to_string()).collect(),
    )
}

/// The schema of policies/edge-ai, as the CLI would build it.
fn edge_ai() -> Schema {
    let f = |name: &str, ty: FieldType, optional: bool| FieldSchema {
        name: name.into(),
        ty,
        optional,
    };
    Schema {
        fields: vec![
            f(
                "hw",
                enum_ty("Hw", &["esp32c3", "esp32s3", "rk3566"]),
                false,
            ),
            f(
                "region",
                enum_ty(
                    "Region",
                    &["eu_west", "eu_north", "us_east", "us_west", "apac"],
                ),
                false,
            ),
            f("battery", FieldType::Percent, false),
            f("charging", FieldType::Bool, false),
            f("free_heap_kb", FieldType::Int, false),
            f("flash_free_kb", FieldType::Int, false),
            f("rssi_dbm", FieldType::Int, true),
            f("cpu_temp_c", FieldType::Float, false),
            f(
                "mission_phase",
                enum_ty("Phase", &["idle", "active", "critical"]),
                false,
            ),
            f("inference_ms", FieldType::Float, true),
            f("npu_ready", FieldType::Bool, true),
            f("reboots_24h", FieldType::Int, false),
        ],
        planes: vec!["firmware".into(), "model".into(), "config".into()],
        rings: vec![
            "canary".into(),
            "early".into(),
            "broad".into(),
            "full".into(),
        ],
        gates: vec![
            "canary -> early".into(),
            "early -> broad".into(),
            "broad -> full".into(),
        ],
        per_fields: vec![0, 1],
    }
}

const FLEET: &str = include_str!("../../../policies/edge-ai/fleet.toml");
const RELEASE: &str = include_str!("../../../policies/edge-ai/release.toml");

/// Parses a fleet and returns its errors as (line, code) pairs.
fn fleet_errors(text: &str) -> Vec<(usize, &'static str)> {
    match fleet::parse(text, &edge_ai()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| {
                (
                    text[..e.span.start.min(text.len())].matches('\n').count() + 1,
                    e.code,
                )
            })
            .collect(),
    }
}

#[test]
fn the_example_inputs_parse() {
    let schema = edge_ai();
    let fleet = fleet::parse(FLEET, &schema).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(fleet.devices, 100_000);
    assert_eq!(fleet.classes.iter().map(|c| c.count).sum::<u64>(), 100_000);
    assert_eq!(fleet.classes[2].profile, fleet::Profile::Rk3566);
    assert_eq!(fleet.regions.len(), 5);
    assert_eq!(fleet.regions[2].utc_offset_secs, -5 * 3600);
    let release = release::parse(RELEASE, &schema, &fleet).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(
        release.targets[0].map(|t| t.version),
        parse_version("v1.5.0")
    );
    assert_eq!(release.targets[2], None);
    assert_eq!(release.scenarios.len(), 4);
    assert_eq!(release.expectations.len(), 7);
    assert_eq!(release.horizon, 21.0 * 86_400.0);
}

#[test]
fn records_draw_only_fields_that_draw() {
    use crate::engine::Dynamic;
    let schema = edge_ai();
    let fleet = fleet::parse(FLEET, &schema).expect("parses");
    let bits = |b: bool| u64::from(b);
    // battery, charging, rssi_dbm, cpu_temp_c, inference_ms, npu_ready, reboots_24h.
    let read = [2, 3, 6, 7, 9, 10, 11];
    // A microcontroller never reports inference_ms or npu_ready: nothing to draw for them.
    let esp = Dynamic::of(&fleet.classes[0], &read);
    let fields = |d: &crate::engine::Dynamic| d.draw.iter().map(|(f, _)| *f).collect::<Vec<_>>();
    assert_eq!(fields(&esp), [2, 3, 6, 7, 11]);
    assert_eq!(esp.fixed, [(9, None), (10, None)]);
    // A gateway's battery is always full and charging; rssi may be missing, so it draws.
    let rk = Dynamic::of(&fleet.classes[2], &read);
    assert_eq!(fields(&rk), [6, 7, 9, 10, 11]);
    assert_eq!(
        rk.fixed,
        [(2, Some(1.0f64.to_bits())), (3, Some(bits(true)))]
    );
}

#[test]
fn rescaling_apportions_exactly() {
    let mut fleet = fleet::parse(FLEET, &edge_ai()).expect("parses");
    for n in [1, 2, 3, 7, 999, 10_001] {
        fleet.rescale(n);
        assert_eq!(fleet.classes.iter().map(|c| c.count).sum::<u64>(), n);
    }
}

#[test]
fn fleet_errors_point_at_their_line() {
    let bad = FLEET.replace("fields.hw = \"esp32c3\"", "fields.hw = \"esp32c4\"");
    assert_eq!(
        fleet_errors(&bad),
        vec![(30, "fleetgate::sim::invalid_distribution")]
    );
    let bad = FLEET.replace(
        "charging = { bernoulli = 0.25",
        "chargin = { bernoulli = 0.25",
    );
    let errors = fleet_errors(&bad);
    assert!(
        errors.contains(&(10, "fleetgate::sim::unknown_field")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.1 == "fleetgate::sim::missing_distribution"),
        "{errors:?}"
    );
    let bad = FLEET.replace(
        "download = 0.02, install = 0.003",
        "download = 1.5, install = 0.003",
    );
    assert!(
        fleet_errors(&bad)
            .iter()
            .all(|e| e.1 == "fleetgate::sim::probability_out_of_range")
    );
    let bad = FLEET.replace("share = 0.45", "share = 0.40");
    assert_eq!(
        fleet_errors(&bad),
        vec![(25, "fleetgate::sim::shares_do_not_add_up")]
    );
    for size in ["0", "100_000_001"] {
        let bad = FLEET.replace("devices = 100_000", &format!("devices = {size}"));
        let line = FLEET
            .lines()
            .position(|l| l.starts_with("devices = 100_000"))
            .map(|i| i + 1);
        assert_eq!(
            fleet_errors(&bad),
            vec![(line.unwrap_or(0), "fleetgate::sim::fleet_size")],
            "devices = {size}"
        );
    }
    let bad = FLEET.replace("devices = 100_000", "devices = 100_000\ncolour = 3");
    assert_eq!(fleet_errors(&bad)[0].1, "fleetgate::sim::invalid_input");
    let bad = FLEET.replace(
        "region = { eu_west = 0.30,",
        "region = { eu_west = 0.30, dynamic = true,",
    );
    assert!(
        fleet_errors(&bad)
            .iter()
            .any(|e| e.1 == "fleetgate::sim::dynamic_per_field"),
        "{:?}",
        fleet_errors(&bad)
    );
    let bad = FLEET.replace(
        "free_heap_kb = { normal = [110.0, 20.0], min = 0.0 }",
        "free_heap_kb = { normal = [110.0, -20.0] }",
    );
    assert!(
        fleet_errors(&bad)
            .iter()
            .any(|e| e.1 == "fleetgate::sim::invalid_distribution")
    );
    let bad = FLEET.replace(
        "cpu_temp_c = { normal = [45.0, 8.0], dynamic = true }",
        "cpu_temp_c = { normal = [45.0, 8.0], missing = 0.1 }",
    );
    assert!(
        fleet_errors(&bad)
            .iter()
            .any(|e| e.1 == "fleetgate::sim::invalid_distribution")
    );
    let bad = FLEET.replace("name = \"apac\"", "name = \"antarctica\"");
    assert!(
        fleet_errors(&bad)
            .iter()
            .any(|e| e.1 == "fleetgate::sim::unknown_region")
    );
}

#[test]
fn release_errors_are_reported() {
    let schema = edge_ai();
    let fleet = fleet::parse(FLEET, &schema).expect("parses");
    let codes = |text: &str| -> Vec<&'static str> {
        release::parse(text, &schema, &fleet)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|e| e.code)
            .collect()
    };
    assert_eq!(
        codes(&RELEASE.replace("model = { version", "modle = { version")),
        vec!["fleetgate::sim::unknown_key"]
    );
    assert_eq!(
        codes(&RELEASE.replace("\"v2.1.0\"", "\"2.1\"")),
        vec!["fleetgate::sim::invalid_version"]
    );
    assert_eq!(
        codes(&RELEASE.replace("class = \"esp32s3\"", "class = \"esp32s4\"")),
        vec!["fleetgate::sim::unknown_class"]
    );
    assert_eq!(
        codes(&RELEASE.replace("probability = 0.03", "probability = 3.0")),
        vec!["fleetgate::sim::probability_out_of_range"]
    );
    assert_eq!(
        codes(&RELEASE.replace("reboots_24h = 5", "reboot_24h = 5")),
        vec!["fleetgate::sim::unknown_field"]
    );
    assert_eq!(
        codes(&RELEASE.replace(
            "\"nominal: P(outcome == completed)",
            "\"nominal: Q(outcome == completed)"
        )),
        vec!["fleetgate::sim::invalid_expectation"]
    );
    assert_eq!(
        codes(&RELEASE.replace("\"nominal: p90", "\"nominl: p90")),
        vec!["fleetgate::sim::unknown_scenario"]
    );
    assert_eq!(
        codes(&RELEASE.replace("add = { inference_ms", "add = { hw")),
        vec!["fleetgate::sim::not_numeric"]
    );
}

#[test]
fn expectations_parse() {
    use expect::{Amount, Claim, Event, Metric, Op, Outcome};
    let e = expect::parse("nominal: P(outcome == completed) >= 95%").expect("parses");
    assert_eq!(e.scenario.as_deref(), Some("nominal"));
    assert_eq!(
        e.claim,
        Claim::Probability {
            event: Event::Outcome {
                negated: false,
                outcome: Outcome::Completed
            },
            op: Op::Ge,
            p: 0.95
        }
    );
    let e = expect::parse("*: p90(time_to_full) <= 10d").expect("parses");
    assert_eq!(e.scenario, None);
    assert_eq!(
        e.claim,
        Claim::Quantile {
            q: 0.9,
            metric: Metric::TimeToFull,
            op: Op::Le,
            amount: Amount::Seconds(864_000.0)
        }
    );
    let e =
        expect::parse("latent crash loop on esp32s3: P(affected > 0.2%) <= 1%").expect("parses");
    assert_eq!(e.scenario.as_deref(), Some("latent crash loop on esp32s3"));
    assert!(
        matches!(e.claim, Claim::Probability { event: Event::Metric { metric: Metric::Affected, op: Op::Gt, amount: Amount::Fraction(f) }, p, .. } if (f - 0.002).abs() < 1e-12 && (p - 0.01).abs() < 1e-12)
    );
    let e = expect::parse("x: P(outcome == aborted at canary) >= 50%").expect("parses");
    assert!(
        matches!(e.claim, Claim::Probability { event: Event::Outcome { outcome: Outcome::AbortedAt(ref r), .. }, .. } if r == "canary")
    );
    assert!(expect::parse("x: p90(bricked) <= 3d").is_err());
    assert!(expect::parse("x: P(bricked > 0) <= 150%").is_err());
    assert!(expect::parse("x: mean(exposed) <= 2%").is_ok());
}

#[test]
fn distributions_sample_their_types() {
    use rand::SeedableRng;
    let schema = edge_ai();
    let fleet = fleet::parse(FLEET, &schema).expect("parses");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let c = &fleet.classes[0];
    let (mut missing, mut n) = (0, 0);
    for _ in 0..10_000 {
        let battery = f64::from_bits(
            c.fields[2]
                .sample(&mut rng)
                .expect("battery is never missing"),
        );
        assert!((0.0..=1.0).contains(&battery));
        let heap = c.fields[4].sample(&mut rng).expect("present") as i64;
        assert!(heap >= 0);
        assert!(
            c.fields[0].sample(&mut rng) == Some(0),
            "hw is the constant esp32c3"
        );
        match c.fields[6].sample(&mut rng) {
            None => missing += 1,
            Some(bits) => {
                n += 1;
                assert!((bits as i64) <= -30);
            }
        }
        let fw = c.planes[0].sample(&mut rng).expect("present");
        assert!(
            fw == parse_version("v1.3.0").expect("valid")
                || fw == parse_version("v1.2.2").expect("valid")
        );
    }
    // rssi is missing 2% of the time: 200 ± a few standard deviations.
    assert!(
        (120..=280).contains(&missing),
        "{missing} missing of {}",
        missing + n
    );
}
