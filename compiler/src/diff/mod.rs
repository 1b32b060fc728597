//! `fleetgate diff`: the semantic difference between two versions of a package.
//!
//! In: both versions, typed and compiled (this module does no IO). Out: a `Diff`: every change of
//! behaviour, in words, and for rails and health rules the regions of device-record space whose decision
//! changed, each with a witness record and its old and new decision. Layout, comments, parentheses and
//! the names of lets are not behaviour: conditions are compared with lets written out and spans
//! dropped (`norm`). Rules match by name, clauses by (rule, kind, reason), requires by condition, gates
//! by their rings, rings by name, `depends` by their two planes, `incompatible` by plane and reason.
//!
//! How regions are found (`regions`): the constants both versions compare each field with cut the
//! field's domain into cells; the cells of the fields that the changed clauses read are enumerated on
//! top of a neutral background record (the package's fixtures on which nothing fires, else a record
//! made neutral a field at a time), and each record is decided by both versions (reference evaluator + `runtime::decision`).
//! Differing cells with the same outcome are merged into boxes, described per field. That is exact
//! where the changed conditions compare single fields with constants; otherwise a seeded random search
//! adds witnesses labelled as found by search.

pub mod norm;
mod regions;
mod render;
mod structure;

use serde::Serialize;

use fleetgate_lang::typed::Package;

use crate::compile::Compiled;
pub use norm::UValue;
pub use render::{human, json};

/// One version of a package.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub package: &'a Package,
    pub compiled: &'a Compiled,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Random records tried where cells are not exact.
    pub search_records: usize,
    /// Upper bound on enumerated cell combinations per function; past it, combinations are sampled.
    pub max_cells: usize,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            search_records: 20_000,
            max_cells: 20_000,
            seed: 0x00d1_ff5e_ed00_0001,
        }
    }
}

/// The document `diff` prints (`--format json` serialises it as is).
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// Version of this document's schema.
    pub version: u32,
    /// Whether any behaviour changed.
    pub changed: bool,
    pub changes: Vec<Change>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Schema,
    Rails,
    Health,
    Constraints,
    Rollout,
    Gates,
}

impl Area {
    pub fn title(self) -> &'static str {
        match self {
            Area::Schema => "schema",
            Area::Rails => "rails",
            Area::Health => "health",
            Area::Constraints => "constraints",
            Area::Rollout => "rollout",
            Area::Gates => "gates",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Change {
    pub area: Area,
    /// What changed: `rail power`, `field rssi_dbm`, `gate canary -> early`, `decisions`.
    pub subject: String,
    /// The change in words: `soak 24h -> 12h`, `deny "battery low": condition changed`.
    pub change: String,
    /// The old and new text, where words alone do not show it (conditions, in the language's syntax).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// For `decisions`: the regions of device records whose decision changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<Region>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Change {
    fn new(area: Area, subject: impl Into<String>, change: impl Into<String>) -> Change {
        Change {
            area,
            subject: subject.into(),
            change: change.into(),
            old: None,
            new: None,
            regions: Vec::new(),
            note: None,
        }
    }

    fn texts(mut self, old: Option<String>, new: Option<String>) -> Change {
        self.old = old;
        self.new = new;
        self
    }
}

/// How a region was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Every cell of the fields read was tried: the region is exactly where the decision changes (on
    /// the background record).
    Exact,
    /// Cells were tried, but the changed conditions are not all field-against-constant comparisons (or
    /// there were too many cells to try them all): the region is real, but may not be all of it.
    Cells,
    /// A random record on which the versions decide differently.
    Search,
}

/// A set of device records on which both versions decide, differently.
#[derive(Clone, Debug, Serialize)]
pub struct Region {
    pub method: Method,
    /// Per field, e.g. `device.battery in [25%, 30%)`, `device.charging = false`; other fields as in the
    /// witness's background. Empty for regions found by search.
    pub constraints: Vec<String>,
    pub witness: Witness,
    /// The decisions that differ (for health, after each number of identical checks where they do).
    pub outcomes: Vec<Outcome>,
}

/// A concrete device record.
#[derive(Clone, Debug, Serialize)]
pub struct Witness {
    /// The record the region's fields were set on: a fixture's name, or `neutral record` / `plain record`
    /// when no fixture is neutral.
    pub background: String,
    /// Fields that differ from the background (all of them for search witnesses).
    #[serde(skip)]
    pub overrides: Vec<String>,
    /// Whether the background is no fixture: the record is shown whole, not as changes to a fixture.
    #[serde(skip)]
    pub whole: bool,
    /// Fields that are percentages (shown as `28%`).
    #[serde(skip)]
    pub percent: Vec<String>,
    /// Every field of the record (both versions' fields), `None` when missing.
    #[serde(serialize_with = "render::record_json")]
    pub record: Vec<(String, Option<UValue>)>,
}

impl Witness {
    pub fn get(&self, name: &str) -> Option<&Option<UValue>> {
        self.record.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Outcome {
    /// Number of identical health checks run (health only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<u32>,
    pub old: Decision,
    pub new: Decision,
}

/// A decision and the clauses behind it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Decision {
    /// `allow`, `defer 30m`, `deny`, `healthy`, `inconclusive`, `rollback firmware, model`.
    pub verdict: String,
    /// Fired clauses as `rule: reason`, sorted; erroneous ones as `evaluation error in rail NAME` (or
    /// `evaluation error in health rule NAME`).
    pub reasons: Vec<String>,
}

/// The semantic difference between `old` and `new`.
pub fn diff(old: Side<'_>, new: Side<'_>, options: &Options) -> Diff {
    let mut changes = Vec::new();
    changes.extend(structure::schema(old, new));
    let rails = structure::rules(old, new, structure::Kind::Rails);
    changes.extend(rails.changes.iter().cloned());
    if !rails.changed.is_empty() {
        changes.push(regions::decisions(
            old,
            new,
            structure::Kind::Rails,
            &rails,
            options,
        ));
    }
    let health = structure::rules(old, new, structure::Kind::Health);
    changes.extend(health.changes.iter().cloned());
    if !health.changed.is_empty() {
        changes.push(regions::decisions(
            old,
            new,
            structure::Kind::Health,
            &health,
            options,
        ));
    }
    changes.extend(structure::constraints(old, new));
    changes.extend(structure::rollout(old, new));
    changes.extend(structure::gates(old, new));
    Diff {
        version: 1,
        changed: !changes.is_empty(),
        changes,
    }
}

#[cfg(test)]
mod tests;
