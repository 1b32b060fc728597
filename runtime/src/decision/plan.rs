//! Version states and plans: in go a verified policy, current (and target) plane versions and the
//! conditions of the `incompatible` clauses for one device; out come consistency, the rollback
//! closure, an install order (or why there is none) and a rollback order.

use crate::artifact::{Constraint, MAX_PLANES};
use crate::interp::{ClauseBits, ClauseId, Cond};
use crate::value::PlaneSet;
use crate::verify::Policy;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Planes in the order to change them: a fixed array, no allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct InstallOrder {
    planes: [u8; MAX_PLANES],
    len: u8,
}

impl InstallOrder {
    pub fn as_slice(&self) -> &[u8] {
        self.planes.get(..usize::from(self.len)).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        self.as_slice().iter().copied()
    }

    /// Ignored when full (a plane set has at most `MAX_PLANES` members).
    fn push(&mut self, plane: u8) {
        if let Some(slot) = self.planes.get_mut(usize::from(self.len)) {
            *slot = plane;
            self.len += 1;
        }
    }

    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }
}

/// Why a target state cannot be installed one plane at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotInstallable {
    /// The target state itself violates constraint `constraint`.
    TargetInconsistent { constraint: usize },
    /// The target is consistent, but every order passes through an inconsistent state; `constraint`
    /// is violated by the first step the search tried.
    NoOrder { constraint: usize },
    /// `current` or `target` does not have one entry per plane.
    PlaneCount { expected: usize, found: usize },
}

impl fmt::Display for NotInstallable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NotInstallable::TargetInconsistent { constraint } => {
                write!(f, "the target state violates constraint {constraint}")
            }
            NotInstallable::NoOrder { constraint } => write!(
                f,
                "no order of single-plane steps keeps every state consistent: constraint {constraint} blocks"
            ),
            NotInstallable::PlaneCount { expected, found } => {
                write!(
                    f,
                    "{found} plane versions given, the package has {expected} planes"
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NotInstallable {}

/// Checks every constraint on `versions` (one per plane); the first violated constraint's index.
/// `Depends`: where `a` holds, `b` must hold. `Incompatible`: violated when its clause is true or
/// erroneous (fail safe) and `set` holds the plane's version. A plane without a version in `versions`
/// violates every constraint that reads it.
pub fn consistent(policy: &Policy, versions: &[u64], incompat: &ClauseBits) -> Result<(), usize> {
    for (i, c) in policy.artifact().constraints.iter().enumerate() {
        let ok = match c {
            Constraint::Depends {
                a_plane,
                a,
                b_plane,
                b,
            } => {
                match (
                    versions.get(usize::from(*a_plane)),
                    versions.get(usize::from(*b_plane)),
                ) {
                    (Some(&va), Some(&vb)) => !a.contains(va) || b.contains(vb),
                    _ => false,
                }
            }
            Constraint::Incompatible { plane, set, clause } => {
                let cond = incompat.cond(ClauseId(*clause)).unwrap_or(Cond::Error);
                match versions.get(usize::from(*plane)) {
                    Some(&v) => cond == Cond::False || !set.contains(v),
                    None => false,
                }
            }
        };
        if !ok {
            return Err(i);
        }
    }
    Ok(())
}

/// Closes `planes` under the dependency constraints at the `current` versions: adds plane Q whenever a
/// `Depends` constraint on Q holds at Q's current version and depends on a plane in the set, to a
/// fixpoint. A plane without a current version is added whenever it depends on the set (rolling back
/// more is the safe side).
pub fn rollback_closure(policy: &Policy, planes: PlaneSet, current: &[u64]) -> PlaneSet {
    let mut set = planes;
    // Each pass adds a plane or stops, so at most `MAX_PLANES + 1` passes.
    for _ in 0..=MAX_PLANES {
        let mut changed = false;
        for c in &policy.artifact().constraints {
            if let Constraint::Depends {
                a_plane,
                a,
                b_plane,
                ..
            } = c
            {
                let active = current
                    .get(usize::from(*a_plane))
                    .is_none_or(|&v| a.contains(v));
                if active && set.contains(*b_plane) && !set.contains(*a_plane) {
                    changed |= set.insert(*a_plane);
                }
            }
        }
        if !changed {
            break;
        }
    }
    set
}

/// Orders the planes of `target` that differ from `current` so that installing them one at a time
/// keeps every state after each step consistent. Planes are tried in index order, so the order is
/// deterministic: the first order in lexicographic order of plane indices that works.
pub fn install_order(
    policy: &Policy,
    current: &[u64],
    target: &[Option<u64>],
    incompat: &ClauseBits,
) -> Result<InstallOrder, NotInstallable> {
    let n = usize::from(policy.n_planes());
    for found in [current.len(), target.len()] {
        if found != n {
            return Err(NotInstallable::PlaneCount { expected: n, found });
        }
    }
    let mut changing = PlaneSet::EMPTY;
    for (p, (cur, tgt)) in current.iter().zip(target).enumerate() {
        if tgt.is_some_and(|t| t != *cur) {
            changing.insert(u8::try_from(p).unwrap_or(u8::MAX));
        }
    }
    let mut search = Search {
        policy,
        incompat,
        current,
        target,
        goal: changing,
        dead: Dead::for_goal(changing),
        first_block: None,
        order: InstallOrder::default(),
    };
    if let Err(constraint) = search.check(changing) {
        return Err(NotInstallable::TargetInconsistent { constraint });
    }
    if search.extend(PlaneSet::EMPTY) {
        Ok(search.order)
    } else {
        Err(NotInstallable::NoOrder {
            constraint: search.first_block.unwrap_or(0),
        })
    }
}

/// [`install_order`] with a memo of its last few answers, keyed by everything an answer depends on:
/// the current versions, the targets, and the conditions of the `incompatible` clauses. A driver
/// that plans for many devices in few distinct states (a simulator) then searches once per state.
/// Allocates only in [`OrderMemo::new`].
#[derive(Clone, Debug)]
pub struct OrderMemo {
    /// Words per key: the current versions, the targets (then one word with a bit per target that
    /// is set), and the incompatible clauses' conditions, 2 bits each. 0 (nothing kept) for a
    /// policy with more than 32 `incompatible` constraints.
    width: usize,
    /// `SLOTS` keys of `width` words, then the key being looked up.
    keys: Vec<u64>,
    answers: [Option<Result<InstallOrder, NotInstallable>>; OrderMemo::SLOTS],
    /// The slot the next new answer replaces.
    next: usize,
}

impl OrderMemo {
    const SLOTS: usize = 8;

    pub fn new(policy: &Policy) -> OrderMemo {
        let n = usize::from(policy.n_planes());
        let incompatible = policy
            .artifact()
            .constraints
            .iter()
            .filter(|c| matches!(c, Constraint::Incompatible { .. }))
            .count();
        let width = if incompatible <= 32 { 2 * n + 2 } else { 0 };
        OrderMemo {
            width,
            keys: vec![0; (OrderMemo::SLOTS + 1) * width],
            answers: [None; OrderMemo::SLOTS],
            next: 0,
        }
    }

    /// `install_order(policy, current, target, incompat)`, for `policy` (the one the memo was made
    /// for): the same answer, from the memo when it holds one for the same inputs.
    pub fn install_order(
        &mut self,
        policy: &Policy,
        current: &[u64],
        target: &[Option<u64>],
        incompat: &ClauseBits,
    ) -> Result<InstallOrder, NotInstallable> {
        let n = usize::from(policy.n_planes());
        let w = self.width;
        let (stored, key) = self.keys.split_at_mut(OrderMemo::SLOTS * w);
        if w != 2 * n + 2 || current.len() != n || target.len() != n {
            return install_order(policy, current, target, incompat);
        }
        let (cur, rest) = key.split_at_mut(n);
        let (tgt, rest) = rest.split_at_mut(n);
        cur.copy_from_slice(current);
        let mut set = 0u64;
        for (i, (k, t)) in tgt.iter_mut().zip(target).enumerate() {
            *k = t.unwrap_or(0);
            set |= u64::from(t.is_some()) << i;
        }
        let mut conds = 0u64;
        let mut shift = 0;
        for c in &policy.artifact().constraints {
            if let Constraint::Incompatible { clause, .. } = c {
                let code = match incompat.cond(ClauseId(*clause)) {
                    Some(Cond::False) => 0,
                    Some(Cond::True) => 1,
                    Some(Cond::Error) => 2,
                    None => 3,
                };
                conds |= code << shift;
                shift += 2;
            }
        }
        if let [s, c] = rest {
            (*s, *c) = (set, conds);
        }
        for (slot, answer) in stored.chunks_exact(w).zip(&self.answers) {
            if let Some(answer) = answer
                && slot == &*key
            {
                return *answer;
            }
        }
        let answer = install_order(policy, current, target, incompat);
        let slot = self.next % OrderMemo::SLOTS;
        if let (Some(dst), Some(a)) = (
            stored.get_mut(slot * w..(slot + 1) * w),
            self.answers.get_mut(slot),
        ) {
            dst.copy_from_slice(key);
            *a = Some(answer);
        }
        self.next = slot + 1;
        answer
    }
}

/// Plane masks known not to lead to the goal: a bitset indexed by the masks below the highest
/// changing plane's bit. Its first word is inline: it holds every mask of up to 6 planes, so most
/// searches allocate nothing.
pub(super) struct Dead {
    first: u64,
    rest: Vec<u64>,
}

impl Dead {
    pub(super) fn for_goal(changing: PlaneSet) -> Dead {
        let top = 16 - changing.0.leading_zeros() as usize;
        let words = (1usize << top).div_ceil(64);
        Dead {
            first: 0,
            rest: vec![0; words.saturating_sub(1)],
        }
    }

    pub(super) fn contains(&self, mask: PlaneSet) -> bool {
        let i = usize::from(mask.0);
        let word = match i / 64 {
            0 => Some(self.first),
            w => self.rest.get(w - 1).copied(),
        };
        word.is_some_and(|w| w >> (i % 64) & 1 != 0)
    }

    pub(super) fn insert(&mut self, mask: PlaneSet) {
        let i = usize::from(mask.0);
        let word = match i / 64 {
            0 => Some(&mut self.first),
            w => self.rest.get_mut(w - 1),
        };
        if let Some(w) = word {
            *w |= 1 << (i % 64);
        }
    }
}

struct Search<'a> {
    policy: &'a Policy,
    incompat: &'a ClauseBits,
    current: &'a [u64],
    target: &'a [Option<u64>],
    goal: PlaneSet,
    dead: Dead,
    first_block: Option<usize>,
    order: InstallOrder,
}

impl Search<'_> {
    /// Consistency of the state with the planes of `installed` at their targets.
    fn check(&self, installed: PlaneSet) -> Result<(), usize> {
        let mut versions = [0u64; MAX_PLANES];
        for (p, (v, (cur, tgt))) in versions
            .iter_mut()
            .zip(self.current.iter().zip(self.target))
            .enumerate()
        {
            let p = u8::try_from(p).unwrap_or(u8::MAX);
            *v = match tgt {
                Some(t) if installed.contains(p) => *t,
                _ => *cur,
            };
        }
        let n = self.current.len().min(MAX_PLANES);
        consistent(
            self.policy,
            versions.get(..n).unwrap_or_default(),
            self.incompat,
        )
    }

    /// `check` for a state the search reaches: the goal's check is known to have passed.
    fn check_step(&self, installed: PlaneSet) -> Result<(), usize> {
        if installed == self.goal {
            Ok(())
        } else {
            self.check(installed)
        }
    }

    /// Depth-first: from the consistent state `installed`, can the goal be reached? On success the
    /// planes are in `self.order`. Recursion depth is at most `MAX_PLANES`.
    fn extend(&mut self, installed: PlaneSet) -> bool {
        if installed == self.goal {
            return true;
        }
        for p in PlaneSet(self.goal.0 & !installed.0) {
            let next = installed.union(PlaneSet::single(p));
            if self.dead.contains(next) {
                continue;
            }
            // The goal itself was checked before the search (`install_order`).
            if let Err(c) = self.check_step(next) {
                self.first_block.get_or_insert(c);
                self.dead.insert(next);
                continue;
            }
            self.order.push(p);
            if self.extend(next) {
                return true;
            }
            self.order.pop();
            self.dead.insert(next);
        }
        false
    }
}

/// The order in which to roll back `planes`: a plane before every plane it depends on at the `current`
/// versions (a `Depends` constraint whose `a` holds there; a plane without a current version counts
/// every constraint on it), ties by plane index. The reverse of a dependency-respecting install order.
pub fn rollback_order(policy: &Policy, planes: PlaneSet, current: &[u64]) -> InstallOrder {
    // `depends_on[a]` has bit `b` when `a` depends on `b`.
    let mut depends_on = [0u16; MAX_PLANES];
    for c in &policy.artifact().constraints {
        if let Constraint::Depends {
            a_plane,
            a,
            b_plane,
            ..
        } = c
            && current
                .get(usize::from(*a_plane))
                .is_none_or(|&v| a.contains(v))
            && let Some(d) = depends_on.get_mut(usize::from(*a_plane))
        {
            *d |= PlaneSet::single(*b_plane).0;
        }
    }
    let mut remaining = PlaneSet(planes.0 & PlaneSet::all(policy.n_planes()).0);
    let mut order = InstallOrder::default();
    while let Some(first) = remaining.iter().next() {
        // A plane nothing remaining depends on; the verifier rejects cycles, so one exists, but
        // fall back to the lowest plane rather than loop.
        let free = remaining.iter().find(|&p| {
            remaining.iter().all(|r| {
                r == p
                    || depends_on
                        .get(usize::from(r))
                        .is_none_or(|d| d >> p & 1 == 0)
            })
        });
        let p = free.unwrap_or(first);
        order.push(p);
        remaining.remove(p);
    }
    order
}
