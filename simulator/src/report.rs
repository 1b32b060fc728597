//! Reports of a simulation: the versioned JSON document, JUnit XML, a self-contained HTML page, and the
//! summary table printed on the terminal.
//!
//! In: a `Report` (summaries, judged expectations, run parameters). Out: text. Nothing here reads a clock
//! or depends on hash order: equal reports give equal bytes. The JSON schema is documented in
//! docs/simulation.md ("Report"); `format`/`version` name it, and a field is only ever added.

use std::fmt::Write as _;

use serde::Serialize;

use crate::result::{Band, Bounds, Judged, Summary};
use crate::stats::Verdict;

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Inputs {
    /// FNV-1a 64 of the package's sources (all files, sorted by path), fleet and release files.
    pub package: String,
    pub fleet: String,
    pub release: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EarlyStop {
    pub batch: u64,
    pub max_trials: u64,
    /// Trials per scenario actually run.
    pub trials_used: u64,
    /// Whether every expectation was decided before `max_trials`.
    pub decided: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub version: u32,
    pub package: String,
    pub release: String,
    pub inputs: Inputs,
    pub seed: u64,
    /// Trials per scenario.
    pub trials: u64,
    pub devices: u64,
    pub horizon_s: f64,
    /// Seconds between two points of the timelines.
    pub timeline_step_s: f64,
    pub early_stop: Option<EarlyStop>,
    pub scenarios: Vec<Summary>,
    pub expectations: Vec<Judged>,
    /// The worst verdict: `fail` over `inconclusive` over `pass`.
    pub verdict: Verdict,
}

pub const FORMAT: &str = "fleetgate-simulation";
pub const VERSION: u32 = 1;

/// Everything about a run except its trials: what a shard's part file carries so that `merge` can
/// build the same report as the single run.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Meta {
    pub package: String,
    pub release: String,
    pub inputs: Inputs,
    pub seed: u64,
    /// Trials per scenario.
    pub trials: u64,
    pub devices: u64,
    pub horizon_s: f64,
    pub timeline_step_s: f64,
    pub rings: Vec<String>,
    /// The expectations as written; parsed again when judging.
    pub expectations: Vec<String>,
    /// The scenarios simulated, in order.
    pub scenarios: Vec<String>,
}

/// Builds the report from the run's metadata and every scenario's trials (sorted by trial).
pub fn build(
    meta: &Meta,
    per_scenario: &[(String, Vec<crate::result::TrialResult>)],
    early_stop: Option<EarlyStop>,
) -> Report {
    let summaries: Vec<Summary> = per_scenario
        .iter()
        .map(|(name, rs)| crate::result::summarise(name, &meta.rings, rs))
        .collect();
    let mut judged = Vec::new();
    for text in &meta.expectations {
        // INVARIANT: the texts were parsed when the release was read; a part file is checked the same way.
        let Ok(e) = crate::input::expect::parse(text) else {
            continue;
        };
        for (name, rs) in per_scenario {
            if e.scenario.as_ref().is_none_or(|s| s == name) {
                judged.push(crate::result::judge(&e, name, rs, meta.devices));
            }
        }
    }
    let verdict = judged
        .iter()
        .map(|j| j.verdict)
        .max()
        .unwrap_or(Verdict::Pass);
    Report {
        format: FORMAT,
        version: VERSION,
        package: meta.package.clone(),
        release: meta.release.clone(),
        inputs: meta.inputs.clone(),
        seed: meta.seed,
        trials: meta.trials,
        devices: meta.devices,
        horizon_s: meta.horizon_s,
        timeline_step_s: meta.timeline_step_s,
        early_stop,
        scenarios: summaries,
        expectations: judged,
        verdict,
    }
}

pub fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Report {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Exit status: 0 all pass, 1 one fails, 3 one is inconclusive (0 when inconclusive is allowed).
    pub fn exit_status(&self, allow_inconclusive: bool) -> u8 {
        match self.verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Inconclusive if allow_inconclusive => 0,
            Verdict::Inconclusive => 3,
        }
    }
}

pub fn duration(s: f64) -> String {
    if !s.is_finite() {
        return "never".into();
    }
    let s = s.max(0.0);
    if s >= 86_400.0 {
        format!("{:.1}d", s / 86_400.0)
    } else if s >= 3600.0 {
        format!("{:.1}h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{:.0}m", s / 60.0)
    } else {
        format!("{s:.0}s")
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.1}%", x * 100.0))
}

fn show_bounds(metric_is_time: bool, is_probability: bool, b: &Bounds) -> String {
    let f = |x: Option<f64>| match x {
        None => "?".to_string(),
        Some(x) if is_probability => format!("{:.1}%", x * 100.0),
        Some(x) if metric_is_time => duration(x),
        Some(x) => format!("{x:.0}"),
    };
    format!("{} [{}, {}]", f(b.estimate), f(b.low), f(b.high))
}

fn judged_text(j: &Judged) -> String {
    let prob = j.expectation.contains("P(");
    let time = ["time_to_full", "time_to_abort", "duration"]
        .iter()
        .any(|m| j.expectation.contains(&format!("({m})")));
    show_bounds(time, prob, &j.measured)
}

/// The terminal summary: a table per scenario, then the verdicts.
pub fn human(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "simulated {} ({} devices, {} trials per scenario, seed {})",
        r.release, r.devices, r.trials, r.seed
    );
    for s in &r.scenarios {
        let _ = writeln!(
            out,
            "\nscenario \"{}\"  ({:.0} device events per trial)",
            s.scenario, s.events_per_trial
        );
        let _ = writeln!(
            out,
            "  outcome      completed {}   aborted {}   timed out {}",
            pct(s.completed.estimate),
            pct(s.aborted.estimate),
            pct(s.timed_out.estimate)
        );
        if !s.aborted_at.is_empty() {
            let at: Vec<String> = s
                .aborted_at
                .iter()
                .map(|(ring, n)| format!("{ring} ×{n}"))
                .collect();
            let by: Vec<String> = s
                .aborted_by
                .iter()
                .map(|(why, n)| format!("\"{why}\" ×{n}"))
                .collect();
            let tta = s.metrics.iter().find(|m| m.metric == "time_to_abort");
            let _ = writeln!(
                out,
                "  detection    aborted at {}; by {}; time to abort p50 {} p90 {}",
                at.join(", "),
                by.join(", "),
                tta.and_then(|m| m.p50).map_or("-".into(), duration),
                tta.and_then(|m| m.p90).map_or("-".into(), duration)
            );
        }
        let _ = writeln!(
            out,
            "  {:<14} {:>10} {:>10} {:>10} {:>10}",
            "metric", "mean", "p50", "p90", "p99"
        );
        for m in &s.metrics {
            if m.trials == 0 || m.metric == "duration" || m.metric == "time_to_abort" {
                continue;
            }
            let time = m.metric.starts_with("time");
            let f = |x: Option<f64>| match x {
                None => "-".to_string(),
                Some(x) if time => duration(x),
                Some(x) => format!("{x:.0}"),
            };
            let _ = writeln!(
                out,
                "  {:<14} {:>10} {:>10} {:>10} {:>10}",
                m.metric,
                f(m.mean),
                f(m.p50),
                f(m.p90),
                f(m.p99)
            );
        }
    }
    let _ = writeln!(out, "\nexpectations");
    for j in &r.expectations {
        let mark = match j.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "inconclusive",
        };
        let _ = writeln!(
            out,
            "  {mark:<12} {}   measured {} over {} trials",
            expectation_label(j),
            judged_text(j),
            j.trials
        );
    }
    let _ = writeln!(out, "\nverdict: {}", r.verdict.name());
    out
}

/// An expectation as written, and for a `*` one (judged once per scenario) which scenario this is.
fn expectation_label(j: &Judged) -> String {
    if j.expectation.trim_start().starts_with('*') {
        format!("{} [{}]", j.expectation, j.scenario)
    } else {
        j.expectation.clone()
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one test case per expectation; an inconclusive one is `skipped` with the reason.
pub fn junit(r: &Report) -> String {
    let failures = r
        .expectations
        .iter()
        .filter(|j| j.verdict == Verdict::Fail)
        .count();
    let skipped = r
        .expectations
        .iter()
        .filter(|j| j.verdict == Verdict::Inconclusive)
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
        r.expectations.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"simulate {}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
        xml(&r.release),
        r.expectations.len()
    );
    for j in &r.expectations {
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"{}\"",
            xml(&j.expectation),
            xml(&j.scenario)
        );
        let detail = format!(
            "measured {} over {} trials (threshold {})",
            judged_text(j),
            j.trials,
            j.threshold
        );
        match j.verdict {
            Verdict::Pass => out.push_str("/>\n"),
            Verdict::Fail => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\"/>\n    </testcase>",
                    xml(&detail)
                );
            }
            Verdict::Inconclusive => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"inconclusive: {}; run more trials\"/>\n    </testcase>",
                    xml(&detail)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

// ---------------------------------------------------------------------------------------------
// HTML

const W: f64 = 640.0;
const H: f64 = 220.0;
const PAD: f64 = 36.0;

fn path(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .enumerate()
        .map(|(i, (x, y))| format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A chart of bands over time: each band a shaded p10–p90 area and a p50 line.
fn band_chart(title: &str, step_s: f64, series: &[(&str, &Band, &str, bool)]) -> String {
    let len = series
        .iter()
        .map(|s| s.1.p50.len())
        .max()
        .unwrap_or(0)
        .max(2);
    let ymax = series
        .iter()
        .flat_map(|s| s.1.p90.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let x = |i: usize| PAD + (W - 2.0 * PAD) * i as f64 / (len - 1) as f64;
    let y = |v: u32| H - PAD - (H - 2.0 * PAD) * f64::from(v) / ymax;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\"><text x=\"{PAD}\" y=\"18\" class=\"t\">{}</text>",
        xml(title),
        xml(title)
    );
    let _ = write!(
        svg,
        "<line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" class=\"axis\"/><line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{b}\" class=\"axis\"/>",
        b = H - PAD,
        r = W - PAD
    );
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"{:.0}\" class=\"l\">{:.0}</text><text x=\"4\" y=\"{:.0}\" class=\"l\">0</text>",
        PAD + 4.0,
        ymax,
        H - PAD
    );
    let total = step_s * (len - 1) as f64;
    for k in 0..=4 {
        let t = total * f64::from(k) / 4.0;
        let _ = write!(
            svg,
            "<text x=\"{:.0}\" y=\"{:.0}\" class=\"l\">{}</text>",
            PAD + (W - 2.0 * PAD) * f64::from(k) / 4.0 - 8.0,
            H - PAD + 16.0,
            duration(t)
        );
    }
    // The title says which line is which (solid: true, dashed: reported); no legend over the curves.
    for (_name, band, colour, dashed) in series {
        let n = band.p50.len();
        let mut area: Vec<(f64, f64)> = (0..n).map(|t| (x(t), y(band.p90[t]))).collect();
        area.extend((0..n).rev().map(|t| (x(t), y(band.p10[t]))));
        let _ = write!(
            svg,
            "<path d=\"{} Z\" fill=\"{colour}\" fill-opacity=\"0.18\" stroke=\"none\"/>",
            path(&area)
        );
        let line: Vec<(f64, f64)> = (0..n).map(|t| (x(t), y(band.p50[t]))).collect();
        let _ = write!(
            svg,
            "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{}/>",
            path(&line),
            if *dashed {
                " stroke-dasharray=\"5 4\""
            } else {
                ""
            }
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A histogram of per-trial values.
fn histogram(title: &str, values: &[f64], is_time: bool) -> String {
    let mut svg = format!(
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\"><text x=\"{PAD}\" y=\"18\" class=\"t\">{}</text>",
        xml(title),
        xml(title)
    );
    if values.is_empty() {
        svg.push_str("<text x=\"40\" y=\"110\" class=\"l\">no trial has this metric</text></svg>");
        return svg;
    }
    let (lo, hi) = (
        values.iter().copied().fold(f64::INFINITY, f64::min),
        values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let bins = 20usize;
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let mut counts = vec![0u32; bins];
    for v in values {
        let b = if hi > lo {
            (((v - lo) / width) as usize).min(bins - 1)
        } else {
            0
        };
        counts[b] += 1;
    }
    let cmax = f64::from(counts.iter().copied().max().unwrap_or(1).max(1));
    let bw = (W - 2.0 * PAD) / bins as f64;
    for (i, c) in counts.iter().enumerate() {
        let h = (H - 2.0 * PAD) * f64::from(*c) / cmax;
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" class=\"bar\"><title>{c}</title></rect>",
            PAD + bw * i as f64 + 1.0,
            H - PAD - h,
            bw - 2.0
        );
    }
    let f = |x: f64| {
        if is_time {
            duration(x)
        } else {
            format!("{x:.0}")
        }
    };
    let _ = write!(
        svg,
        "<text x=\"{PAD}\" y=\"{:.0}\" class=\"l\">{}</text><text x=\"{:.0}\" y=\"{:.0}\" class=\"l\">{}</text>",
        H - PAD + 16.0,
        f(lo),
        W - PAD - 40.0,
        H - PAD + 16.0,
        f(hi)
    );
    svg.push_str("</svg>");
    svg
}

/// The self-contained page (no scripts, no network): verdicts, then per scenario the rollout curves
/// (true vs reported, p10–p90 bands) and histograms of the metrics.
pub fn html(r: &Report, per_trial: &[(String, Vec<crate::result::TrialResult>)]) -> String {
    let mut out =
        String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    out.push_str(&xml(&format!("Fleetgate simulation: {}", r.release)));
    out.push_str(
        "</title><style>body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}\
         .pass{background:#e6f4ea}.fail{background:#fce8e6}.inconclusive{background:#fef7e0}\
         svg{width:100%;max-width:640px;display:block;margin:1em 0}.t{font:bold 13px sans-serif}.l{font:11px sans-serif}\
         .axis{stroke:#888}.bar{fill:#5b8def}</style></head><body>\n",
    );
    let _ = writeln!(
        out,
        "<h1>{}</h1>",
        xml(&format!("Simulation of {}", r.release))
    );
    let _ = writeln!(
        out,
        "<p>{} devices, {} trials per scenario, seed {}, horizon {}. Verdict: <strong class=\"{}\">{}</strong>.</p>",
        r.devices,
        r.trials,
        r.seed,
        duration(r.horizon_s),
        r.verdict.name(),
        r.verdict.name()
    );
    out.push_str("<h2>Expectations</h2><table><tr><th>verdict</th><th>expectation</th><th>measured [95% bounds]</th><th>trials</th></tr>\n");
    for j in &r.expectations {
        let _ = writeln!(
            out,
            "<tr class=\"{v}\"><td>{v}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            xml(&expectation_label(j)),
            xml(&judged_text(j)),
            j.trials,
            v = j.verdict.name()
        );
    }
    out.push_str("</table>\n");
    let colours = [
        "#1a73e8", "#e8710a", "#188038", "#a142f4", "#d93025", "#12b5cb",
    ];
    for s in &r.scenarios {
        let _ = writeln!(out, "<h2>Scenario: {}</h2>", xml(&s.scenario));
        let _ = writeln!(
            out,
            "<p>completed {} · aborted {} · timed out {}</p>",
            pct(s.completed.estimate),
            pct(s.aborted.estimate),
            pct(s.timed_out.estimate)
        );
        for (i, ring) in s.timeline.iter().enumerate() {
            let c = colours[i % colours.len()];
            out.push_str(&band_chart(
                &format!(
                    "ring {}: devices done (solid: true, dashed: reported by the planner), p10–p90",
                    ring.ring
                ),
                r.timeline_step_s,
                &[
                    ("true", &ring.true_done, c, false),
                    ("reported", &ring.reported_done, "#555", true),
                ],
            ));
        }
        if let Some((_, trials)) = per_trial.iter().find(|(name, _)| *name == s.scenario) {
            for m in crate::input::expect::Metric::ALL {
                if matches!(m, crate::input::expect::Metric::Duration) {
                    continue;
                }
                let values: Vec<f64> = trials.iter().filter_map(|t| t.metric(m)).collect();
                out.push_str(&histogram(
                    &format!("{} over trials", m.name()),
                    &values,
                    m.is_time(),
                ));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}
