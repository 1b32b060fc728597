//! The sidecar: the text an artifact leaves out so that devices need not carry it.
//!
//! In: the typed package and the clause order the compiler chose. Out: a JSON document (schema below,
//! `format` 1) that maps every artifact index back to names, reasons and source locations: slot names
//! and types, enum variants, planes, rings, gates, and per clause its rule, kind, reason and where it
//! was written. Tools that explain decisions (`eval --explain`, `test`, the agent's transcript, the
//! simulator's report) read it; the artifact itself stays text-free.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Version of this document's schema.
    pub format: u32,
    /// The artifact's schema hash, as 16 hex digits.
    pub schema_hash: String,
    /// Device-record slots in order.
    pub slots: Vec<SlotInfo>,
    pub planes: Vec<String>,
    pub rings: Vec<String>,
    /// Gates in artifact order, as `from -> to`.
    pub gates: Vec<String>,
    /// Rails and health rules by artifact rule index.
    pub rails: Vec<String>,
    pub healths: Vec<String>,
    /// Reasons by artifact reason id.
    pub reasons: Vec<String>,
    /// Clauses in artifact order.
    pub clauses: Vec<ClauseInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotInfo {
    /// e.g. `device.battery`, `now.hour`, `release.model`.
    pub name: String,
    /// `bool`, `int`, `float`, `percent`, `duration`, `version` or the enum's name.
    #[serde(rename = "type")]
    pub ty: String,
    pub optional: bool,
    /// The enum's variants in order (empty for other types).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClauseInfo {
    /// `deny`, `defer`, `rollback`, `require`, `abort`, `incompatible` or `ring filter`.
    pub kind: String,
    /// The rule: rail, health rule, gate (`canary -> early`), constraint or ring.
    pub rule: String,
    pub reason: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The source line the clause starts on, trimmed.
    pub source: String,
}

impl Sidecar {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Sidecar, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn clause(&self, c: usize) -> Option<&ClauseInfo> {
        self.clauses.get(c)
    }
}
