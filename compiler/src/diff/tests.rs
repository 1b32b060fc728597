//! Cells, their descriptions, region merging and the normal form that makes layout invisible.

use fleetgate_lang::Sources;
use fleetgate_lang::typed::Package;

use super::norm::{UTy, UValue, is_simple, norm};
use super::regions::{cells_for, merge, nice_between};

fn package(conds: &[&str]) -> Package {
    let mut text = String::from(
        "enum Hw { a, b, c }\nplane firmware\ndevice {\n  hw: Hw\n  heap: int\n  temp: float\n  rssi: int?\n}\n\
         let small = device.heap < 40\n",
    );
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

#[test]
fn layout_and_let_names_are_invisible() {
    let same = [
        (
            "device.heap < 40 and device.hw == a",
            "a == device.hw and (40 > device.heap)",
        ),
        ("small", "device.heap < 40"),
        ("device.hw in [a, b]", "device.hw in [b, a, b]"),
        (
            "device.heap < 40 or (device.temp > 1.0 or device.hw == c)",
            "(device.hw == c or device.heap < 40) or device.temp > 1.0",
        ),
    ];
    for (x, y) in same {
        let pkg = package(&[x, y]);
        let (a, b) = (
            pkg.clauses[0].cond.as_ref().expect("cond"),
            pkg.clauses[1].cond.as_ref().expect("cond"),
        );
        assert_eq!(norm(&pkg, a), norm(&pkg, b), "`{x}` vs `{y}`");
    }
    let pkg = package(&["device.heap < 40", "device.heap <= 40"]);
    let (a, b) = (
        pkg.clauses[0].cond.as_ref().expect("cond"),
        pkg.clauses[1].cond.as_ref().expect("cond"),
    );
    assert_ne!(norm(&pkg, a), norm(&pkg, b));
}

#[test]
fn simple_conditions() {
    let cases = [
        ("device.heap < 40 and not small", true),
        (
            "(device.rssi ?? -127) < -80 or not known(device.rssi)",
            true,
        ),
        ("device.temp between 1.0 and 2.0", true),
        ("device.heap * 2 < 80", false),
        ("device.heap < device.rssi ?? 0", false),
    ];
    let pkg = package(&cases.iter().map(|c| c.0).collect::<Vec<_>>());
    for (i, (src, simple)) in cases.iter().enumerate() {
        assert_eq!(
            is_simple(&pkg, pkg.clauses[i].cond.as_ref().expect("cond")),
            *simple,
            "`{src}`"
        );
    }
}

#[test]
fn int_cells_and_their_descriptions() {
    let f = cells_for(
        "device.heap",
        &UTy::Int,
        true,
        false,
        &[UValue::Int(40), UValue::Int(10)],
    );
    // missing, (-inf, 10), 10, (10, 40), 40, (40, inf)
    let values: Vec<Option<UValue>> = f.cells.iter().map(|c| c.value.clone()).collect();
    assert_eq!(
        values,
        [
            None,
            Some(UValue::Int(9)),
            Some(UValue::Int(10)),
            Some(UValue::Int(11)),
            Some(UValue::Int(40)),
            Some(UValue::Int(41))
        ]
    );
    for (set, text) in [
        (vec![1, 2, 3], Some("heap <= 39")),
        (vec![3], Some("heap in [11, 39]")),
        (vec![2], Some("heap = 10")),
        (vec![4, 5], Some("heap >= 40")),
        (vec![0, 4, 5], Some("heap >= 40 or missing")),
        (vec![1, 2, 3, 4, 5], Some("heap reported")),
        (vec![0, 1, 2, 3, 4, 5], None),
        (vec![1, 5], Some("heap <= 9 or >= 41")),
    ] {
        assert_eq!(f.describe(&set).as_deref(), text, "{set:?}");
    }
}

#[test]
fn float_cells_use_short_numbers() {
    let f = cells_for(
        "device.battery",
        &UTy::Float,
        false,
        true,
        &[UValue::Float(0.3), UValue::Float(0.25)],
    );
    let values: Vec<f64> = f
        .cells
        .iter()
        .map(|c| match c.value {
            Some(UValue::Float(x)) => x,
            _ => panic!("a float"),
        })
        .collect();
    assert_eq!(values, [0.0, 0.25, 0.28, 0.3, 1.0]);
    assert_eq!(
        f.describe(&[1, 2]).as_deref(),
        Some("battery in [25%, 30%)")
    );
    assert_eq!(f.describe(&[0]).as_deref(), Some("battery < 25%"));
    assert_eq!(f.describe(&[2, 3, 4]).as_deref(), Some("battery > 25%"));
}

#[test]
fn enum_and_hour_cells() {
    let f = cells_for(
        "device.hw",
        &UTy::Enum(vec!["a".into(), "b".into(), "c".into()]),
        false,
        false,
        &[],
    );
    assert_eq!(f.cells.len(), 3);
    assert_eq!(f.describe(&[0, 2]).as_deref(), Some("hw in {a, c}"));
    assert_eq!(f.describe(&[1]).as_deref(), Some("hw = b"));
    let h = cells_for(
        "now.hour",
        &UTy::Int,
        false,
        false,
        &[UValue::Int(1), UValue::Int(4)],
    );
    // [0, 1), 1, (1, 4), 4, (4, 23]
    assert_eq!(h.cells.len(), 5);
    assert_eq!(
        h.describe(&[1, 2, 3]).as_deref(),
        Some("now.hour in [1, 4]")
    );
}

#[test]
fn short_numbers_between() {
    assert_eq!(nice_between(0.25, 0.3), Some(0.28));
    assert_eq!(nice_between(250.0, 500.0), Some(400.0));
    assert_eq!(nice_between(-0.75, 0.25), Some(0.0));
    assert_eq!(nice_between(1.0, 1.0), None);
    assert_eq!(nice_between(1.0, 1.0f64.next_up()), None);
    let x = nice_between(0.1, 0.1f64.next_up().next_up()).expect("one float between");
    assert!(x > 0.1 && x < 0.1f64.next_up().next_up());
}

#[test]
fn merging_is_exact() {
    // A 2 x 2 square merges into one box; an L shape into two.
    assert_eq!(
        merge(&[vec![0, 0], vec![1, 0], vec![0, 1], vec![1, 1]], 2),
        vec![vec![vec![0, 1], vec![0, 1]]]
    );
    let l = merge(&[vec![0, 0], vec![1, 0], vec![0, 1]], 2);
    assert_eq!(l.len(), 2);
    let cells: usize = l
        .iter()
        .map(|b| b.iter().map(Vec::len).product::<usize>())
        .sum();
    assert_eq!(cells, 3);
}
