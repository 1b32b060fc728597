//! Scalar encodings shared by every engine: in go version triples and plane indices, out come the
//! `u64` slot values and the 16-bit plane sets that the artifact and the decisions carry.

#[cfg(test)]
mod tests;

/// The most version planes a package may declare: a [`PlaneSet`] is one `u16`.
pub const MAX_PLANES: usize = 16;

/// Packs `major.minor.patch` so that unsigned order is version order.
pub const fn pack_version(major: u16, minor: u16, patch: u16) -> u64 {
    ((major as u64) << 32) | ((minor as u64) << 16) | patch as u64
}

/// Inverse of [`pack_version`]; bits above the major component are ignored.
pub const fn unpack_version(v: u64) -> (u16, u16, u16) {
    ((v >> 32) as u16, (v >> 16) as u16, v as u16)
}

/// A set of planes, one bit per plane index (at most [`MAX_PLANES`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaneSet(pub u16);

impl PlaneSet {
    pub const EMPTY: PlaneSet = PlaneSet(0);

    /// The set of planes `0 .. n` (all planes of a package with `n` planes).
    pub const fn all(n: u8) -> PlaneSet {
        if n as usize >= MAX_PLANES {
            PlaneSet(u16::MAX)
        } else {
            PlaneSet((1u16 << n) - 1)
        }
    }

    pub const fn single(plane: u8) -> PlaneSet {
        if (plane as usize) < MAX_PLANES {
            PlaneSet(1 << plane)
        } else {
            PlaneSet(0)
        }
    }

    /// Planes past [`MAX_PLANES`] are never members.
    pub const fn contains(self, plane: u8) -> bool {
        (plane as usize) < MAX_PLANES && self.0 & (1 << plane) != 0
    }

    /// Returns whether the plane was newly added; planes past [`MAX_PLANES`] are ignored.
    pub fn insert(&mut self, plane: u8) -> bool {
        let before = self.0;
        self.0 |= PlaneSet::single(plane).0;
        self.0 != before
    }

    pub fn remove(&mut self, plane: u8) -> bool {
        let before = self.0;
        self.0 &= !PlaneSet::single(plane).0;
        self.0 != before
    }

    pub const fn union(self, other: PlaneSet) -> PlaneSet {
        PlaneSet(self.0 | other.0)
    }

    pub const fn is_subset(self, other: PlaneSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Members in increasing index order.
    pub fn iter(self) -> PlaneIter {
        PlaneIter(self.0)
    }
}

impl IntoIterator for PlaneSet {
    type Item = u8;
    type IntoIter = PlaneIter;
    fn into_iter(self) -> PlaneIter {
        self.iter()
    }
}

impl FromIterator<u8> for PlaneSet {
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> PlaneSet {
        let mut set = PlaneSet::EMPTY;
        for p in iter {
            set.insert(p);
        }
        set
    }
}

/// Iterator over the members of a [`PlaneSet`], lowest first.
#[derive(Clone, Debug)]
pub struct PlaneIter(u16);

impl Iterator for PlaneIter {
    type Item = u8;
    fn next(&mut self) -> Option<u8> {
        if self.0 == 0 {
            return None;
        }
        let p = self.0.trailing_zeros() as u8;
        self.0 &= self.0 - 1;
        Some(p)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for PlaneIter {}
