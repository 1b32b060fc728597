//! Decisions from clause conditions: in go a verified policy and the [`ClauseBits`] that an engine (the
//! interpreter, native code, or the compiler's reference evaluator) produced; out come rail, health and
//! gate decisions and the clauses behind them. Shared by every engine so they cannot disagree here.
//!
//! An input that does not fit the policy (clause bits too short, too few health counters, a version
//! list of the wrong length) reads as an error where it is used, and errors fail safe: a rail denies, a
//! health rule is inconclusive, a gate holds.

use crate::artifact::{ClauseKind, FunctionKind};
use crate::interp::{BitIter, ClauseBits, ClauseId, Cond};
use crate::value::PlaneSet;
use crate::verify::Policy;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

mod plan;
#[cfg(test)]
mod tests;

pub use plan::{
    InstallOrder, NotInstallable, OrderMemo, consistent, install_order, rollback_closure,
    rollback_order,
};

/// The clause range of the function of `kind`, empty when the package has none.
fn clauses_of(policy: &Policy, kind: FunctionKind) -> Range<usize> {
    policy
        .function(kind)
        .and_then(|f| policy.function_def(f))
        .map_or(0..0, |def| def.clause_range())
}

/// A clause's condition; past the end of `bits`, an error.
fn cond(bits: &ClauseBits, c: usize) -> Cond {
    u16::try_from(c)
        .ok()
        .and_then(|c| bits.cond(ClauseId(c)))
        .unwrap_or(Cond::Error)
}

fn clause_ids(range: Range<usize>) -> impl Iterator<Item = ClauseId> {
    range.filter_map(|c| u16::try_from(c).ok().map(ClauseId))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RailVerdict {
    Allow,
    Defer { secs: u32 },
    Deny,
}

/// The rails' decision for one device record, with access to the clauses behind it.
#[derive(Clone, Debug)]
pub struct RailDecision<'a> {
    pub verdict: RailVerdict,
    bits: &'a ClauseBits,
    range: Range<usize>,
}

impl<'a> RailDecision<'a> {
    /// The rail clauses that are true (deny and defer alike), in clause order.
    pub fn fired(&self) -> BitIter<'a> {
        self.bits.true_in(self.range.clone())
    }

    /// The rail clauses that are erroneous (each one denies), in clause order.
    pub fn erroneous(&self) -> BitIter<'a> {
        self.bits.error_in(self.range.clone())
    }
}

/// `deny` if a deny clause is true or any rail clause is erroneous; else `defer` for the longest true
/// defer clause; else `allow`.
#[inline]
pub fn rails<'a>(policy: &Policy, bits: &'a ClauseBits) -> RailDecision<'a> {
    // Every realistic rail set fits in one word of clause bits: decide from that word alone.
    if let Some(rw) = policy.rails_word() {
        let (truth, error) = bits.words();
        // Bits that do not cover the rails are handled (as a deny) by the general path.
        if let (true, Some(&t), Some(&e)) = (
            rw.range.end <= bits.len(),
            truth.get(rw.word),
            error.get(rw.word),
        ) {
            let (t, e) = (t & rw.all, e & rw.all);
            let deferred = t & rw.defer;
            let verdict = if e != 0 || t & rw.deny != 0 {
                RailVerdict::Deny
            } else if deferred == 0 {
                RailVerdict::Allow
            } else {
                // Without a branch per clause: which clauses fire is data, the levels are few.
                let secs = rw.levels.iter().fold(0, |longest, &(mask, secs)| {
                    longest.max(if deferred & mask != 0 { secs } else { 0 })
                });
                RailVerdict::Defer { secs }
            };
            return RailDecision {
                verdict,
                bits,
                range: rw.range.clone(),
            };
        }
    }
    rails_in_words(policy, bits)
}

/// [`rails`] for rails that span words (or bits too short for them): out of line, so that the
/// one-word path inlines into the caller's loop.
#[inline(never)]
fn rails_in_words<'a>(policy: &Policy, bits: &'a ClauseBits) -> RailDecision<'a> {
    let range = clauses_of(policy, FunctionKind::Rails);
    // Word-at-a-time: this runs once per device record, next to the rails themselves.
    let deny = range.end > bits.len()
        || bits.any_error_in(range.clone())
        || bits.any_true_in(range.clone(), policy.deny_mask());
    let verdict = if deny {
        RailVerdict::Deny
    } else {
        // Every true rail clause left is a defer clause.
        let longest = bits
            .true_in(range.clone())
            .filter_map(|c| policy.clause(c))
            // The verifier bounds defer durations by `u32::MAX`.
            .map(|c| u32::try_from(c.arg).unwrap_or(u32::MAX))
            .max();
        longest.map_or(RailVerdict::Allow, |secs| RailVerdict::Defer { secs })
    };
    RailDecision {
        verdict,
        bits,
        range,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HealthVerdict {
    Healthy,
    Inconclusive,
    /// Roll back these planes (already closed under the dependency constraints).
    Rollback {
        planes: PlaneSet,
    },
}

/// The health decision for one check, with access to the clauses behind it.
#[derive(Clone, Debug)]
pub struct HealthDecision<'a> {
    pub verdict: HealthVerdict,
    policy: &'a Policy,
    bits: &'a ClauseBits,
    counters: &'a [u8],
    range: Range<usize>,
}

impl<'a> HealthDecision<'a> {
    /// The health clauses that fired on this check (a `for N checks` clause once its counter is at N).
    pub fn fired(&self) -> impl Iterator<Item = ClauseId> + 'a {
        let (policy, bits, counters) = (self.policy, self.bits, self.counters);
        clause_ids(self.range.clone()).filter(move |&c| {
            policy.clause(c).is_some_and(|clause| {
                if clause.checks == 0 {
                    cond(bits, c.index()) == Cond::True
                } else {
                    counters
                        .get(usize::from(clause.counter))
                        .is_some_and(|&k| k >= clause.checks)
                }
            })
        })
    }

    /// The counters after this check's update (the caller's array, borrowed by the decision).
    pub fn counters(&self) -> &'a [u8] {
        self.counters
    }

    /// The health clauses whose condition was erroneous on this check.
    pub fn erroneous(&self) -> BitIter<'a> {
        self.bits.error_in(self.range.clone())
    }
}

/// Updates the `for N checks` counters and decides: `rollback` of the fired clauses' planes closed
/// under the dependency constraints (at `versions`, one per plane); else `inconclusive` if a clause is
/// erroneous; else `healthy`.
///
/// A counter becomes `min(counter + 1, N)` when its condition is true, `0` when false, and is unchanged
/// when erroneous; its clause fires while the counter is at N (so also on an erroneous check right
/// after N true ones). A clause whose counter is past the end of `counters` cannot fire and counts as
/// erroneous.
pub fn health<'a>(
    policy: &'a Policy,
    bits: &'a ClauseBits,
    counters: &'a mut [u8],
    versions: &[u64],
) -> HealthDecision<'a> {
    let range = clauses_of(policy, FunctionKind::Health);
    if quiet(policy, bits, counters, &range) {
        // Nothing true, nothing erroneous, no counter running: every counter stays 0.
        return HealthDecision {
            verdict: HealthVerdict::Healthy,
            policy,
            bits,
            counters,
            range,
        };
    }
    health_by_clause(policy, bits, counters, versions)
}

/// [`health`] a clause at a time: what it does when the check is not quiet.
#[inline(never)]
pub(crate) fn health_by_clause<'a>(
    policy: &'a Policy,
    bits: &'a ClauseBits,
    counters: &'a mut [u8],
    versions: &[u64],
) -> HealthDecision<'a> {
    let range = clauses_of(policy, FunctionKind::Health);
    let mut planes = PlaneSet::EMPTY;
    let mut erroneous = false;
    for c in range.clone() {
        let Some(clause) = policy.artifact().clauses.get(c) else {
            erroneous = true;
            continue;
        };
        let cond = cond(bits, c);
        erroneous |= cond == Cond::Error;
        let fires = if clause.checks == 0 {
            cond == Cond::True
        } else if let Some(k) = counters.get_mut(usize::from(clause.counter)) {
            match cond {
                Cond::True => *k = k.saturating_add(1).min(clause.checks),
                Cond::False => *k = 0,
                Cond::Error => {}
            }
            *k >= clause.checks
        } else {
            erroneous = true;
            false
        };
        if fires {
            planes = planes.union(clause.planes);
        }
    }
    let verdict = if !planes.is_empty() {
        HealthVerdict::Rollback {
            planes: rollback_closure(policy, planes, versions),
        }
    } else if erroneous {
        HealthVerdict::Inconclusive
    } else {
        HealthVerdict::Healthy
    };
    HealthDecision {
        verdict,
        policy,
        bits,
        counters,
        range,
    }
}

/// The usual health check, decided a word at a time: the health clauses lie in one word of clause
/// bits, none of them is true or erroneous, and every counter is 0 (the verifier proved each clause's
/// counter below the artifact's count, and `counters` has that many).
#[inline]
fn quiet(policy: &Policy, bits: &ClauseBits, counters: &[u8], range: &Range<usize>) -> bool {
    let Some((word, mask)) = policy
        .function(FunctionKind::Health)
        .and_then(|f| policy.prepared(f))
        .and_then(|p| p.word)
    else {
        return false;
    };
    let (truth, error) = bits.words();
    range.end <= bits.len()
        && range.end <= policy.n_clauses()
        && counters.len() >= usize::from(policy.artifact().n_counters)
        && truth
            .get(word)
            .zip(error.get(word))
            .is_some_and(|(t, e)| (t | e) & mask == 0)
        && counters.iter().all(|&k| k == 0)
}

/// A gate's decision.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GateDecision {
    Promote,
    /// Not yet: `unmet` requires (in clause order), and whether the soak time has passed.
    Hold {
        unmet: Vec<ClauseId>,
        soak_met: bool,
    },
    /// Abort clauses that fired or were erroneous, in clause order.
    Abort {
        clauses: Vec<ClauseId>,
    },
}

/// Accumulates a gate's clause conditions over one evaluation of the whole ring ([`GateAcc::add_whole`])
/// and one per value of each `per` field ([`GateAcc::add_value`]), then decides ([`GateAcc::finish`]).
#[derive(Clone, Debug)]
pub struct GateAcc<'a> {
    policy: &'a Policy,
    soak: u32,
    range: Range<usize>,
    whole_seen: bool,
    /// Per clause of the gate (relative index): an abort fired or was erroneous.
    aborted: Vec<u64>,
    /// Per clause of the gate (relative index): a require was false or erroneous.
    failed: Vec<u64>,
}

impl<'a> GateAcc<'a> {
    /// An accumulator for gate `gate`; `None` when the policy has no such gate.
    pub fn new(policy: &'a Policy, gate: u8) -> Option<GateAcc<'a>> {
        let soak = policy.artifact().rollout.gates.get(usize::from(gate))?.soak;
        let range = clauses_of(policy, FunctionKind::Gate(gate));
        let words = range.len().div_ceil(64);
        Some(GateAcc {
            policy,
            soak,
            range,
            whole_seen: false,
            aborted: vec![0; words],
            failed: vec![0; words],
        })
    }

    fn judge(&mut self, bits: &ClauseBits, per_slot: Option<u16>) {
        for (i, c) in self.range.clone().enumerate() {
            let Some(clause) = self.policy.artifact().clauses.get(c) else {
                continue;
            };
            if clause.per_slot != per_slot {
                continue;
            }
            let cond = cond(bits, c);
            let (set, hit) = match clause.kind {
                ClauseKind::Abort => (&mut self.aborted, cond != Cond::False),
                _ => (&mut self.failed, cond != Cond::True),
            };
            if hit && let Some(w) = set.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
    }

    /// Judges the clauses without `per` on the gate function's conditions for the whole ring.
    pub fn add_whole(&mut self, bits: &ClauseBits) {
        self.whole_seen = true;
        self.judge(bits, None);
    }

    /// Judges the clauses `per` slot `per_slot` on the conditions for one value of that field (the
    /// ring restricted to the devices with that value). An abort fires if it fires for any value; a
    /// require holds only if it holds for every value (so with no value at all, it holds).
    pub fn add_value(&mut self, per_slot: u16, bits: &ClauseBits) {
        self.judge(bits, Some(per_slot));
    }

    fn collect(&self, set: &[u64], kind: ClauseKind) -> Vec<ClauseId> {
        clause_ids(self.range.clone())
            .enumerate()
            .filter(|&(i, c)| {
                let hit = set.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 != 0);
                let unseen_whole = !self.whole_seen
                    && kind == ClauseKind::Require
                    && self
                        .policy
                        .clause(c)
                        .is_some_and(|cl| cl.per_slot.is_none());
                (hit || unseen_whole) && self.policy.clause(c).is_some_and(|cl| cl.kind == kind)
            })
            .map(|(_, c)| c)
            .collect()
    }

    /// `abort` if an abort clause fired or was erroneous; else `promote` once `ring_soak_secs` reaches
    /// the gate's soak and every require held; else `hold`. A gate never promotes before
    /// [`GateAcc::add_whole`]: until then every require without `per` counts as unmet.
    pub fn finish(&self, ring_soak_secs: i64) -> GateDecision {
        let aborts = self.collect(&self.aborted, ClauseKind::Abort);
        if !aborts.is_empty() {
            return GateDecision::Abort { clauses: aborts };
        }
        let unmet = self.collect(&self.failed, ClauseKind::Require);
        let soak_met = ring_soak_secs >= i64::from(self.soak);
        if soak_met && unmet.is_empty() && self.whole_seen {
            GateDecision::Promote
        } else {
            GateDecision::Hold { unmet, soak_met }
        }
    }
}
