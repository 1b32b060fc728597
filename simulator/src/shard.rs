//! Spreading a run over processes or machines: shards and their merge.
//!
//! In: a shard writes a `Part` — the run's metadata and its trials (`t mod N == K`); `merge` takes every
//! part of a run. Out: the run's metadata and all trials, in trial order, so that the report built from
//! them is byte-identical to the one a single process would have written (statistics are computed from
//! per-trial records sorted by trial, never from partial floating-point sums). Parts of different runs
//! (inputs, seed, trial count, scenarios, devices) are refused, as are missing or repeated shards.

use serde::{Deserialize, Serialize};

use crate::report::Meta;
use crate::result::TrialResult;

pub const PART_FORMAT: &str = "fleetgate-simulation-part";
pub const PART_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub format: String,
    pub version: u32,
    /// This shard (`K`) of `shards` (`N`).
    pub shard: u64,
    pub shards: u64,
    pub meta: Meta,
    /// Per scenario, this shard's trials in trial order.
    pub results: ScenarioTrials,
}

impl Part {
    pub fn new(shard: u64, shards: u64, meta: Meta, results: ScenarioTrials) -> Part {
        Part {
            format: PART_FORMAT.into(),
            version: PART_VERSION,
            shard,
            shards,
            meta,
            results,
        }
    }

    pub fn file_name(shard: u64, shards: u64) -> String {
        format!("part-{shard}-of-{shards}.json")
    }
}

/// Each scenario's name and its trials, in trial order.
pub type ScenarioTrials = Vec<(String, Vec<TrialResult>)>;

/// Parses `K/N` (`0 <= K < N`).
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (k, n) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not a shard like `0/4`"))?;
    let k: u64 = k
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a shard like `0/4`"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a shard like `0/4`"))?;
    if n == 0 || k >= n {
        return Err(format!(
            "shard `{s}` does not exist: K must be below N (shards are numbered from 0)"
        ));
    }
    Ok((k, n))
}

/// Why parts cannot be merged; each says what differs or what is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeError(pub String);

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Combines the parts of one run (`names[i]` names `parts[i]` in messages).
pub fn merge(parts: &[Part], names: &[String]) -> Result<(Meta, ScenarioTrials), MergeError> {
    let first = parts
        .first()
        .ok_or_else(|| MergeError("no parts to merge".into()))?;
    for (p, name) in parts.iter().zip(names) {
        if p.format != PART_FORMAT || p.version != PART_VERSION {
            return Err(MergeError(format!(
                "`{name}` is not a version {PART_VERSION} part file of `fleetgate simulate --shard`"
            )));
        }
        let differs = |what: &str| {
            MergeError(format!(
                "`{name}` comes from a different run than `{}`: its {what} differ",
                names[0]
            ))
        };
        if p.shards != first.shards {
            return Err(differs("shard count"));
        }
        let (a, b) = (&p.meta, &first.meta);
        if a.inputs != b.inputs {
            return Err(differs("inputs (package, fleet or release)"));
        }
        if a.seed != b.seed {
            return Err(differs("seeds"));
        }
        if a.trials != b.trials {
            return Err(differs("trial counts"));
        }
        if a.devices != b.devices {
            return Err(differs("fleet sizes"));
        }
        if a.scenarios != b.scenarios {
            return Err(differs("scenarios"));
        }
        if a != b {
            return Err(differs("settings"));
        }
    }
    let n = first.shards;
    let mut seen = vec![None::<&str>; n as usize];
    for (p, name) in parts.iter().zip(names) {
        match seen.get_mut(p.shard as usize) {
            Some(Some(other)) => {
                return Err(MergeError(format!(
                    "shard {}/{n} is given twice: `{other}` and `{name}`",
                    p.shard
                )));
            }
            Some(slot) => *slot = Some(name),
            None => {
                return Err(MergeError(format!(
                    "`{name}` is shard {}/{n}, which does not exist",
                    p.shard
                )));
            }
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(k, _)| format!("{k}/{n}"))
        .collect();
    if !missing.is_empty() {
        let (noun, verb) = if missing.len() == 1 {
            ("shard", "is")
        } else {
            ("shards", "are")
        };
        return Err(MergeError(format!(
            "{noun} {} {verb} missing",
            missing.join(", ")
        )));
    }
    let meta = first.meta.clone();
    let mut out: ScenarioTrials = meta
        .scenarios
        .iter()
        .map(|s| (s.clone(), Vec::new()))
        .collect();
    for p in parts {
        for (scenario, results) in &p.results {
            let Some((_, all)) = out.iter_mut().find(|(s, _)| s == scenario) else {
                return Err(MergeError(format!(
                    "shard {}/{n} has trials of an unknown scenario `{scenario}`",
                    p.shard
                )));
            };
            all.extend(results.iter().cloned());
        }
    }
    for (scenario, all) in &mut out {
        all.sort_by_key(|r| r.trial);
        let expected: Vec<u64> = (0..meta.trials).collect();
        let got: Vec<u64> = all.iter().map(|r| r.trial).collect();
        if got != expected {
            return Err(MergeError(format!(
                "scenario `{scenario}`: the parts do not hold trials 0 to {} exactly once",
                meta.trials.saturating_sub(1)
            )));
        }
    }
    Ok((meta, out))
}
