//! Conditions and values in words and in syntax, one `check` per printer.

use fleetgate_lang::Sources;
use fleetgate_lang::typed::{Package, VersionSet};

use super::words::{Syntax, Words, duration_words, percent, version_set_words};

const SCHEMA: &str = "enum Hw { esp32c3, esp32s3, rk3566 }\nplane firmware\nplane model\n\
    device {\n  hw: Hw\n  battery: percent\n  charging: bool\n  tamper: bool\n  heap: int\n  rssi: int?\n  \
    npu: bool?\n  temp: float\n}\nlet on_mcu = device.hw in [esp32c3, esp32s3]\n";

fn package(conds: &[&str]) -> Package {
    let mut text = SCHEMA.to_string();
    for (i, c) in conds.iter().enumerate() {
        text.push_str(&format!("rail r{i} {{\n  deny \"x\" when {c}\n}}\n"));
    }
    let mut sources = Sources::new();
    sources.add("t.policy", text);
    let checked = fleetgate_lang::check(&sources);
    checked
        .package
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics))
}

/// Each condition in words and in syntax (lets by name).
fn check(cases: &[(&str, &str, &str)]) {
    let conds: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let pkg = package(&conds);
    for (i, (src, words, syntax)) in cases.iter().enumerate() {
        let e = pkg.clauses[i].cond.as_ref().expect("a condition");
        assert_eq!(Words { pkg: &pkg }.cond(e), *words, "words of `{src}`");
        assert_eq!(
            Syntax {
                pkg: &pkg,
                expand_lets: false
            }
            .expr(e),
            *syntax,
            "syntax of `{src}`"
        );
    }
}

#[test]
fn conditions() {
    check(&[
        (
            "device.battery < 30% and not device.charging",
            "battery is below 30% and the device is not charging",
            "device.battery < 30% and not device.charging",
        ),
        ("device.tamper", "tamper is true", "device.tamper"),
        ("not device.tamper", "tamper is false", "not device.tamper"),
        ("on_mcu", "`on_mcu`", "on_mcu"),
        ("not on_mcu", "not `on_mcu`", "not on_mcu"),
        (
            "device.hw in [esp32c3, esp32s3]",
            "hw is one of esp32c3, esp32s3",
            "device.hw in [esp32c3, esp32s3]",
        ),
        ("device.hw == rk3566", "hw is rk3566", "device.hw == rk3566"),
        (
            "(device.rssi ?? -127) < -80",
            "rssi (\u{2212}127 when missing) is below \u{2212}80",
            "(device.rssi ?? -127) < -80",
        ),
        (
            "not (device.npu ?? false)",
            "npu is false or not reported",
            "not (device.npu ?? false)",
        ),
        (
            "not known(device.rssi)",
            "rssi is not reported",
            "not known(device.rssi)",
        ),
        (
            "known(release.model)",
            "the release updates model",
            "known(release.model)",
        ),
        (
            "not (now.hour between 1 and 4)",
            "the local hour is not between 1 and 4 (inclusive)",
            "not (now.hour between 1 and 4)",
        ),
        // De Morgan, with ints negated exactly and floats keeping their `not`.
        (
            "not (device.heap < 40 and device.temp > 70.0)",
            "heap is at least 40 or temp is not above 70.0",
            "not (device.heap < 40 and device.temp > 70.0)",
        ),
        (
            "(device.heap < 40 or device.charging) and on_mcu",
            "(heap is below 40 or the device is charging) and `on_mcu`",
            "(device.heap < 40 or device.charging) and on_mcu",
        ),
        (
            "device.heap * 100 / (device.heap + 1) >= 90",
            "heap × 100 / (heap + 1) is at least 90",
            "device.heap * 100 / (device.heap + 1) >= 90",
        ),
        (
            "abs(device.heap - 5) > max(3, device.heap)",
            "the absolute value of heap \u{2212} 5 is above the larger of 3 and heap",
            "abs(device.heap - 5) > max(3, device.heap)",
        ),
    ]);
}

#[test]
fn lets_expand_in_syntax() {
    let pkg = package(&["on_mcu and device.heap < 40"]);
    let e = pkg.clauses[0].cond.as_ref().expect("a condition");
    assert_eq!(
        Syntax {
            pkg: &pkg,
            expand_lets: true
        }
        .expr(e),
        "device.hw in [esp32c3, esp32s3] and device.heap < 40"
    );
}

#[test]
fn percentages() {
    for (f, text) in [
        (0.3, "30%"),
        (0.005, "0.5%"),
        (1.0, "100%"),
        (0.0, "0%"),
        (0.015, "1.5%"),
        (-0.0, "0%"),
    ] {
        assert_eq!(percent(f), text, "{f}");
    }
}

#[test]
fn durations() {
    for (secs, text) in [
        (0, "0s"),
        (90, "1m30s"),
        (5_400, "1h30m"),
        (86_400, "24h"),
        (90_000, "25h"),
        (172_800, "48h"),
        (259_200, "3d"),
        (604_800, "7d"),
    ] {
        assert_eq!(duration_words(secs), text, "{secs}");
    }
}

#[test]
fn version_sets() {
    let v = |major: u64, minor: u64, patch: u64| (major << 32) | (minor << 16) | patch;
    let top = u64::MAX;
    for (set, text) in [
        (VersionSet(vec![(v(2, 0, 0), top)]), "at least v2.0.0"),
        (VersionSet(vec![(0, v(2, 65535, 65535))]), "below v3.0.0"),
        (
            VersionSet(vec![(v(2, 0, 0), v(2, 65535, 65535))]),
            "at least v2.0.0 and below v3.0.0",
        ),
        (VersionSet(vec![(v(1, 2, 3), v(1, 2, 3))]), "exactly v1.2.3"),
        (VersionSet(vec![(0, top)]), "any version"),
        (VersionSet(vec![]), "no version"),
    ] {
        assert_eq!(version_set_words(&set), text);
    }
}
