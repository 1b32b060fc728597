//! What one trial produced, and what all trials of a scenario add up to.
//!
//! In: `TrialResult`s (one per trial, in any order). Out: a `Summary` per scenario — outcome shares with
//! Clopper–Pearson bounds, quantiles of every metric, per-ring timelines as p10/p50/p90 bands — and a
//! verdict per expectation. Everything is computed from the per-trial records sorted by trial number,
//! with sums over sorted values, so a run, the same run on 8 threads, and the merge of its shards give
//! the same bytes.

use serde::{Deserialize, Serialize};

use crate::input::expect::{Claim, Event, Expectation, Metric, Outcome as ExpectedOutcome};
use crate::stats::{self, Interval, Verdict};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Aborted { ring: String, at_s: f64, by: String },
    TimedOut,
}

/// Counts at the end of a trial (true state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub exposed: u64,
    pub affected: u64,
    pub bricked: u64,
    pub rolled_back: u64,
    pub failed: u64,
    pub succeeded: u64,
    pub denied: u64,
    pub offline: u64,
}

/// One ring's counts at the timeline's sample times.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingTimeline {
    /// Devices done (succeeded, failed, rolled back or bricked) in truth.
    pub true_done: Vec<u32>,
    /// The same, as the planner had heard it.
    pub reported_done: Vec<u32>,
    /// Devices that have run the release.
    pub exposed: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    pub trial: u64,
    pub outcome: Outcome,
    /// Seconds until the last ring started; `None` if it never did.
    pub time_to_full_s: Option<f64>,
    /// Seconds until the abort; `None` without one.
    pub time_to_abort_s: Option<f64>,
    /// Seconds the trial ran.
    pub duration_s: f64,
    pub counts: Counts,
    /// Per ring.
    pub timeline: Vec<RingTimeline>,
    /// Device events processed (for throughput figures; not part of any statistic).
    #[serde(default)]
    pub events: u64,
}

impl TrialResult {
    /// A metric's value; `None` when the trial has none (no abort for `time_to_abort`).
    pub fn metric(&self, m: Metric) -> Option<f64> {
        let c = &self.counts;
        Some(match m {
            Metric::TimeToFull => return self.time_to_full_s,
            Metric::TimeToAbort => return self.time_to_abort_s,
            Metric::Duration => self.duration_s,
            Metric::Exposed => c.exposed as f64,
            Metric::Affected => c.affected as f64,
            Metric::Bricked => c.bricked as f64,
            Metric::RolledBack => c.rolled_back as f64,
            Metric::Failed => c.failed as f64,
            Metric::Succeeded => c.succeeded as f64,
            Metric::Denied => c.denied as f64,
            Metric::Offline => c.offline as f64,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bounds {
    pub estimate: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

impl From<Interval> for Bounds {
    fn from(iv: Interval) -> Bounds {
        Bounds {
            estimate: finite(iv.estimate),
            low: finite(iv.low),
            high: finite(iv.high),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricSummary {
    pub metric: &'static str,
    /// Trials that have a value (e.g. only aborted trials have `time_to_abort`).
    pub trials: usize,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Band {
    pub p10: Vec<u32>,
    pub p50: Vec<u32>,
    pub p90: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RingBands {
    pub ring: String,
    pub true_done: Band,
    pub reported_done: Band,
    pub exposed: Band,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub trials: usize,
    /// Device events processed per trial, on average (a measure of the work a trial takes).
    pub events_per_trial: f64,
    pub completed: Bounds,
    pub aborted: Bounds,
    pub timed_out: Bounds,
    /// Aborts per ring and per abort reason, in ring order / sorted by reason.
    pub aborted_at: Vec<(String, usize)>,
    pub aborted_by: Vec<(String, usize)>,
    pub metrics: Vec<MetricSummary>,
    pub timeline: Vec<RingBands>,
}

/// Nearest-rank quantile of sorted values.
fn q(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let r = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[r - 1])
}

fn band(series: &[&Vec<u32>]) -> Band {
    let len = series.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = Band {
        p10: Vec::with_capacity(len),
        p50: Vec::with_capacity(len),
        p90: Vec::with_capacity(len),
    };
    let mut column: Vec<u32> = Vec::with_capacity(series.len());
    for t in 0..len {
        column.clear();
        // A trial that ended early keeps its last value.
        column.extend(
            series
                .iter()
                .map(|s| s.get(t).or(s.last()).copied().unwrap_or(0)),
        );
        column.sort_unstable();
        let pick =
            |p: f64| column[((p * column.len() as f64).ceil() as usize).clamp(1, column.len()) - 1];
        out.p10.push(pick(0.1));
        out.p50.push(pick(0.5));
        out.p90.push(pick(0.9));
    }
    out
}

/// Summarises one scenario's trials (`results` sorted by trial).
pub fn summarise(scenario: &str, rings: &[String], results: &[TrialResult]) -> Summary {
    let n = results.len() as u64;
    let count =
        |f: &dyn Fn(&Outcome) -> bool| results.iter().filter(|r| f(&r.outcome)).count() as u64;
    let completed = count(&|o| matches!(o, Outcome::Completed));
    let aborted = count(&|o| matches!(o, Outcome::Aborted { .. }));
    let timed_out = count(&|o| matches!(o, Outcome::TimedOut));
    let aborted_at = rings
        .iter()
        .map(|ring| {
            (
                ring.clone(),
                results
                    .iter()
                    .filter(|r| matches!(&r.outcome, Outcome::Aborted { ring: x, .. } if x == ring))
                    .count(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let mut by: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for r in results {
        if let Outcome::Aborted { by: reason, .. } = &r.outcome {
            *by.entry(reason.clone()).or_default() += 1;
        }
    }
    let metrics = Metric::ALL
        .iter()
        .map(|&m| {
            let mut v: Vec<f64> = results.iter().filter_map(|r| r.metric(m)).collect();
            v.sort_by(f64::total_cmp);
            let mean = (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            MetricSummary {
                metric: m.name(),
                trials: v.len(),
                mean,
                p50: q(&v, 0.5),
                p90: q(&v, 0.9),
                p99: q(&v, 0.99),
                min: v.first().copied(),
                max: v.last().copied(),
            }
        })
        .collect();
    let timeline = rings
        .iter()
        .enumerate()
        .map(|(i, ring)| {
            let pick = |f: fn(&RingTimeline) -> &Vec<u32>| -> Vec<&Vec<u32>> {
                results
                    .iter()
                    .filter_map(|r| r.timeline.get(i))
                    .map(f)
                    .collect()
            };
            RingBands {
                ring: ring.clone(),
                true_done: band(&pick(|t| &t.true_done)),
                reported_done: band(&pick(|t| &t.reported_done)),
                exposed: band(&pick(|t| &t.exposed)),
            }
        })
        .collect();
    Summary {
        scenario: scenario.to_string(),
        trials: results.len(),
        events_per_trial: if results.is_empty() {
            0.0
        } else {
            results.iter().map(|r| r.events as f64).sum::<f64>() / results.len() as f64
        },
        completed: stats::proportion(completed, n).into(),
        aborted: stats::proportion(aborted, n).into(),
        timed_out: stats::proportion(timed_out, n).into(),
        aborted_at,
        aborted_by: by.into_iter().collect(),
        metrics,
        timeline,
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Judged {
    pub expectation: String,
    pub scenario: String,
    pub verdict: Verdict,
    /// What was measured, with its bounds, in the claim's unit (a probability, seconds, a count).
    pub measured: Bounds,
    pub threshold: f64,
    pub trials: usize,
}

fn event_holds(e: &Event, r: &TrialResult, fleet: u64) -> bool {
    match e {
        Event::Outcome { negated, outcome } => {
            let is = match (outcome, &r.outcome) {
                (ExpectedOutcome::Completed, Outcome::Completed) => true,
                (ExpectedOutcome::Aborted, Outcome::Aborted { .. }) => true,
                (ExpectedOutcome::TimedOut, Outcome::TimedOut) => true,
                (ExpectedOutcome::AbortedAt(ring), Outcome::Aborted { ring: at, .. }) => ring == at,
                _ => false,
            };
            is != *negated
        }
        Event::Metric { metric, op, amount } => r
            .metric(*metric)
            .is_some_and(|v| op.holds(v, amount.resolve(fleet))),
    }
}

/// Judges one expectation on one scenario's trials (`results` sorted by trial).
pub fn judge(e: &Expectation, scenario: &str, results: &[TrialResult], fleet: u64) -> Judged {
    let (measured, threshold, verdict) = match &e.claim {
        Claim::Probability { event, op, p } => {
            let k = results
                .iter()
                .filter(|r| event_holds(event, r, fleet))
                .count() as u64;
            let iv = stats::proportion(k, results.len() as u64);
            (iv, *p, stats::judge(iv, *op, *p))
        }
        Claim::Quantile {
            q,
            metric,
            op,
            amount,
        } => {
            // A trial without the metric (no abort, never full) counts as +infinity: it never got there.
            let mut v: Vec<f64> = results
                .iter()
                .map(|r| r.metric(*metric).unwrap_or(f64::INFINITY))
                .collect();
            v.sort_by(f64::total_cmp);
            let iv = stats::quantile(&v, *q);
            let t = amount.resolve(fleet);
            (iv, t, stats::judge(iv, *op, t))
        }
        Claim::Mean { metric, op, amount } => {
            let v: Vec<f64> = results.iter().filter_map(|r| r.metric(*metric)).collect();
            let iv = stats::mean(&v);
            let t = amount.resolve(fleet);
            (iv, t, stats::judge(iv, *op, t))
        }
    };
    Judged {
        expectation: e.text.clone(),
        scenario: scenario.to_string(),
        verdict,
        measured: measured.into(),
        threshold,
        trials: results.len(),
    }
}
