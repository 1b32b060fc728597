//! A `Diff` as text: for people (`human`) and as a versioned JSON document (`json`).
//!
//! Witnesses are written the way a package's tests give records (`mcu_ok with { battery = 28% }`,
//! `now { hour = 3 }`), so that a reviewer can paste one into a test.

use serde::ser::SerializeMap;

use super::norm::UValue;
use super::{Area, Change, Decision, Diff, Method, Region, Witness};

/// Serialises a witness record as a JSON object in field order.
pub fn record_json<S: serde::Serializer>(
    record: &[(String, Option<UValue>)],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(record.len()))?;
    for (name, v) in record {
        match v {
            Some(v) => map.serialize_entry(name, v)?,
            None => map.serialize_entry(name, &serde_json::Value::Null)?,
        }
    }
    map.end()
}

/// The JSON document: `{"version": 1, "changed": …, "changes": […]}`.
pub fn json(diff: &Diff) -> String {
    serde_json::to_string_pretty(diff).unwrap_or_default()
}

fn decision(d: &Decision) -> String {
    if d.reasons.is_empty() {
        d.verdict.clone()
    } else {
        format!("{} ({})", d.verdict, d.reasons.join("; "))
    }
}

/// A value in a witness, as a test would give it.
fn show(name: &str, v: &Option<UValue>, percent: &[String]) -> String {
    match v {
        None => "missing".into(),
        Some(v) => v.show(percent.iter().any(|p| p == name)),
    }
}

/// `mcu_ok with { battery = 28%, charging = false }, now { hour = 3 }`.
pub fn witness_text(w: &Witness) -> String {
    let percent = &w.percent;
    // A witness on a fixture lists what it changes; any other is given whole.
    let whole = w.whole;
    let shown: Vec<&(String, Option<UValue>)> = w
        .record
        .iter()
        .filter(|(n, _)| whole || w.overrides.contains(n))
        .collect();
    let group = |prefix: &str, skip_missing: bool| -> Vec<String> {
        shown
            .iter()
            .filter(|(n, v)| n.starts_with(prefix) && !(skip_missing && v.is_none()))
            .map(|(n, v)| format!("{} = {}", &n[prefix.len()..], show(n, v, percent)))
            .collect()
    };
    let device = group("device.", false);
    let now = group("now.", false);
    let release = group("release.", whole);
    let mut out = if whole {
        format!("device {{ {} }}", device.join(", "))
    } else if device.is_empty() {
        w.background.clone()
    } else {
        format!("{} with {{ {} }}", w.background, device.join(", "))
    };
    if !now.is_empty() {
        out.push_str(&format!(", now {{ {} }}", now.join(", ")));
    }
    if !release.is_empty() {
        out.push_str(&format!(", release {{ {} }}", release.join(", ")));
    }
    out
}

fn region_text(i: usize, r: &Region, out: &mut String) {
    let head = match r.method {
        Method::Search => "found by search".to_string(),
        _ if r.constraints.is_empty() => "every record".to_string(),
        Method::Cells => format!(
            "{} (boundary cells: the region may be larger)",
            r.constraints.join(", ")
        ),
        Method::Exact => r.constraints.join(", "),
    };
    out.push_str(&format!("    {}. {head}\n", i + 1));
    let label = if r.method == Method::Search {
        "witness (found by search)"
    } else {
        "witness"
    };
    out.push_str(&format!("       {label}: {}\n", witness_text(&r.witness)));
    for o in &r.outcomes {
        match o.checks {
            Some(k) => {
                out.push_str(&format!(
                    "       after {k} check{}:\n",
                    if k == 1 { "" } else { "s" }
                ));
                out.push_str(&format!("         old: {}\n", decision(&o.old)));
                out.push_str(&format!("         new: {}\n", decision(&o.new)));
            }
            None => {
                out.push_str(&format!("       old: {}\n", decision(&o.old)));
                out.push_str(&format!("       new: {}\n", decision(&o.new)));
            }
        }
    }
}

fn change_text(c: &Change, out: &mut String) {
    out.push_str(&format!("  {}: {}\n", c.subject, c.change));
    let indent = |s: &str| s.lines().collect::<Vec<_>>().join("\n         ");
    if let Some(o) = &c.old {
        out.push_str(&format!("    old: {}\n", indent(o)));
    }
    if let Some(n) = &c.new {
        out.push_str(&format!("    new: {}\n", indent(n)));
    }
    for (i, r) in c.regions.iter().enumerate() {
        region_text(i, r, out);
    }
    if let Some(n) = &c.note {
        out.push_str(&format!("    ({n})\n"));
    }
}

/// The diff for people.
pub fn human(diff: &Diff) -> String {
    let mut out = String::new();
    if !diff.changed {
        out.push_str("no behaviour changed\n");
        return out;
    }
    let n = diff.changes.len();
    out.push_str(&format!(
        "behaviour changed: {n} change{}\n",
        if n == 1 { "" } else { "s" }
    ));
    let mut area: Option<Area> = None;
    for c in &diff.changes {
        if area != Some(c.area) {
            out.push_str(&format!("\n{}\n", c.area.title()));
            area = Some(c.area);
        }
        change_text(c, &mut out);
    }
    out
}
