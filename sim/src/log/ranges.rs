//! A group's fetchable partitions as one bit per partition of the topic, for a group whose
//! instances each own a contiguous range of a few words of partitions (Kafka's default
//! range assignment): an append that makes a partition fetchable sets its bit here, in a
//! block of the group's that every append of the topic touches, instead of in its owner's
//! candidate set (`Ready`), a line of an instance that a run over many instances finds out
//! of the cache at every message; and a fetch looks at its range's word or two.
//!
//! A bit says what a candidate says: the partition may have a message for its owner. Every
//! partition its owner could fetch from has its bit set (whoever makes one fetchable says
//! so, as for the candidates); a set bit may be stale, and a fetch that finds the
//! partition empty clears it. So a fetch takes the first partition of its range from its
//! cursor on, wrapping around, that has a message: the one its candidates would give.
//! An append to a topic read by one such group sets the bit without a look at the
//! partition's state in the group, and wakes the owner these bits' owner table names.

use super::GroupPartition;

/// The widest range a group keeps in bits (four words): past it an instance's fetch would
/// walk words that cost more than the candidates' summary, so the group keeps candidates.
pub const RANGED_MAX: usize = 256;

/// One bit per partition of the group's topic, kept while `on`.
#[derive(Clone, Debug, Default)]
pub struct Ranges {
    /// Every instance keeping candidates owns a contiguous range of at most `RANGED_MAX`
    /// partitions (`fits`): the group's fetches and tells use these bits, not the
    /// instances' candidates.
    on: bool,
    words: Vec<u64>,
    /// Each partition's owner (group-local; `NO_OWNER`: none) while `on`, as the group's
    /// `GroupPartition::owner` says: an append wakes the owner from here, four bytes a
    /// partition that stay in the cache, instead of from the partition's line of the
    /// group, which a run over many partitions finds out of it.
    owners: Vec<u32>,
}

/// No owner, in `Ranges::owners`.
const NO_OWNER: u32 = u32::MAX;

impl Ranges {
    /// Whether the group keeps its fetchable partitions here.
    #[inline(always)]
    #[must_use]
    pub fn on(&self) -> bool {
        self.on
    }

    /// Partitions `owned` (ascending) as a range `[lo, hi)`, where they are one.
    #[must_use]
    pub fn span(owned: &[u32]) -> Option<(u32, u32)> {
        let (&lo, &hi) = (owned.first()?, owned.last()?);
        ((hi - lo) as usize + 1 == owned.len()).then_some((lo, hi + 1))
    }

    /// Whether partitions `owned` (ascending) fit: nothing, or a contiguous range of at
    /// most `RANGED_MAX`.
    #[must_use]
    pub fn fits(owned: &[u32]) -> bool {
        owned.is_empty() || (owned.len() <= RANGED_MAX && Ranges::span(owned).is_some())
    }

    /// Starts keeping bits for the group's partitions `parts`, every one set: each may
    /// have a message for its owner, which its first fetch finds out.
    pub fn start(&mut self, parts: &[GroupPartition]) {
        self.on = true;
        self.words.clear();
        self.words.resize(parts.len().div_ceil(64), u64::MAX);
        self.owners.clear();
        self.owners
            .extend(parts.iter().map(|gp| gp.owner.unwrap_or(NO_OWNER)));
    }

    /// Stops keeping bits (the instances' candidates take over).
    pub fn stop(&mut self) {
        self.on = false;
        self.words.clear();
        self.owners.clear();
    }

    /// Partition `p` of the group is now `owner`'s (every change of a
    /// `GroupPartition::owner` is told here).
    pub fn own(&mut self, p: u32, owner: Option<u32>) {
        if let Some(o) = self.owners.get_mut(p as usize) {
            *o = owner.unwrap_or(NO_OWNER);
        }
    }

    /// Partition `p`'s owner (group-local) as the owners' table names it; `None` while no
    /// bits are kept (the table is empty then), so the caller asks the partition.
    #[inline(always)]
    #[must_use]
    pub fn owner(&self, p: u32) -> Option<Option<u32>> {
        self.owners
            .get(p as usize)
            .map(|&o| (o != NO_OWNER).then_some(o))
    }

    /// Partition `p` may have a message for its owner.
    #[inline(always)]
    pub fn set(&mut self, p: u32) {
        if let Some(w) = self.words.get_mut((p / 64) as usize) {
            *w |= 1 << (p % 64);
        }
    }

    /// Partition `p` has nothing for its owner now (or was just fetched from).
    #[inline(always)]
    pub fn clear(&mut self, p: u32) {
        if let Some(w) = self.words.get_mut((p / 64) as usize) {
            *w &= !(1 << (p % 64));
        }
    }

    /// The first set partition in `[from, hi)`.
    #[inline(always)]
    fn first_in(&self, from: u32, hi: u32) -> Option<u32> {
        let mut w = (from / 64) as usize;
        let mut mask = u64::MAX << (from % 64);
        while (w as u32) * 64 < hi {
            let bits = self.words.get(w).copied().unwrap_or(0) & mask;
            if bits != 0 {
                let p = w as u32 * 64 + bits.trailing_zeros();
                return (p < hi).then_some(p);
            }
            w += 1;
            mask = u64::MAX;
        }
        None
    }

    /// The first set partition of range `[lo, hi)` from `next` on, wrapping around to
    /// `lo` (a cursor outside the range starts at `lo`). Out of line: inlined into the
    /// run loop, its masks were worked out ahead and spilt around the whole completion
    /// (partitions-1000 ran 2% slower by the clock).
    #[inline(never)]
    #[must_use]
    pub fn first_from(&self, lo: u32, hi: u32, next: u32) -> Option<u32> {
        if lo < hi && lo / 64 == (hi - 1) / 64 {
            // The range in one word (an instance of a few partitions, mostly): masks,
            // not the loops.
            let base = lo & !63;
            let word = self.words.get((lo / 64) as usize).copied().unwrap_or(0);
            let bits = word & (u64::MAX >> (64 - (hi - lo))) << (lo - base);
            if bits == 0 {
                return None;
            }
            let on = if (lo..hi).contains(&next) {
                bits & (u64::MAX << (next - base))
            } else {
                bits
            };
            let pick = if on == 0 { bits } else { on };
            return Some(base + pick.trailing_zeros());
        }
        if (lo..hi).contains(&next) {
            self.first_in(next, hi).or_else(|| self.first_in(lo, next))
        } else {
            self.first_in(lo, hi)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The bits answer as an ordered set restricted to the range would, from any cursor,
    /// on a random walk of sets and clears over ranges that straddle words.
    #[test]
    fn the_bits_give_what_an_ordered_set_gives_within_the_range() {
        let mut r = Ranges::default();
        r.start(&[GroupPartition::default(); 300]);
        let mut model: BTreeSet<u32> = (0..300).collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let p = (x >> 8) as u32 % 300;
            if x.is_multiple_of(3) {
                r.set(p);
                model.insert(p);
            } else {
                r.clear(p);
                model.remove(&p);
            }
            let lo = (x >> 20) as u32 % 290;
            let hi = (lo + 1 + (x >> 30) as u32 % 130).min(300);
            let next = (x >> 40) as u32 % 310;
            let inside = |a: u32, b: u32| model.range(a..b).next().copied();
            let want = if (lo..hi).contains(&next) {
                inside(next, hi).or_else(|| inside(lo, next))
            } else {
                inside(lo, hi)
            };
            assert_eq!(r.first_from(lo, hi, next), want, "[{lo}, {hi}) from {next}");
        }
    }

    #[test]
    fn a_range_fits_when_contiguous_and_narrow() {
        assert!(Ranges::fits(&[]));
        assert!(Ranges::fits(&[7]));
        assert!(Ranges::fits(&[10, 11, 12]));
        assert!(!Ranges::fits(&[10, 12]));
        assert_eq!(Ranges::span(&[10, 11, 12]), Some((10, 13)));
        assert_eq!((Ranges::span(&[10, 12]), Ranges::span(&[])), (None, None));
        let wide: Vec<u32> = (0..RANGED_MAX as u32 + 1).collect();
        assert!(!Ranges::fits(&wide));
        assert!(Ranges::fits(&wide[..RANGED_MAX]));
        let mut r = Ranges::default();
        r.start(&[GroupPartition::default(); 70]);
        assert!(r.on());
        assert_eq!(r.first_from(64, 70, 0), Some(64));
        // An instance owning nothing has the empty range: nothing, at any cursor.
        assert_eq!(
            (r.first_from(0, 0, 0), r.first_from(64, 64, 64)),
            (None, None)
        );
        r.stop();
        assert!(!r.on() && r.first_from(0, 70, 0).is_none());
    }
}
