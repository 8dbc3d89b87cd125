//! The Kafka-like log: partitions as append-only sequences of offsets, and each consumer
//! group's view of a partition (committed offset, fetch position, owner). Entries below
//! every group's committed offset are trimmed, so memory follows the backlog, not history.

use crate::message::Msg;
use crate::replication::ReplicaSet;
use crate::scenario::Assignment;
use std::collections::VecDeque;

/// One partition of a topic.
#[derive(Debug, Default)]
pub struct Partition {
    entries: VecDeque<Msg>,
    /// Offset of `entries[0]`.
    base: u64,
    /// The next offset to be written (the leader's log end offset).
    pub end: u64,
    /// The high watermark: consumers read below it, `acks = all` acknowledges below it.
    pub hw: u64,
    /// Replicas, leader and ISR.
    pub replicas: ReplicaSet,
    /// `acks = all` requests waiting for the high watermark: (offset, producer, message,
    /// its intended send time, for the publish → ack latency).
    pub pending_acks: VecDeque<(u64, u32, u32, crate::time::SimTime)>,
}

impl Partition {
    /// An empty partition with these replicas.
    #[must_use]
    pub fn replicated(replicas: ReplicaSet) -> Partition {
        Partition {
            replicas,
            ..Partition::default()
        }
    }

    /// Appends a message; returns its offset.
    pub fn append(&mut self, m: Msg) -> u64 {
        self.entries.push_back(m);
        self.end += 1;
        self.end - 1
    }

    /// The message at `offset`, if still retained.
    #[must_use]
    pub fn get(&self, offset: u64) -> Option<Msg> {
        let i = offset.checked_sub(self.base)?;
        self.entries.get(usize::try_from(i).ok()?).copied()
    }

    /// The oldest retained offset.
    #[must_use]
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Forgets every entry below `low` (all groups have committed past them).
    pub fn trim(&mut self, low: u64) {
        while self.base < low && !self.entries.is_empty() {
            self.entries.pop_front();
            self.base += 1;
        }
    }

    /// Retained messages (what the broker holds).
    #[must_use]
    pub fn held(&self) -> u64 {
        self.end - self.base
    }

    /// Cuts the log back to `to` (a new leader's log end); returns what was cut.
    pub fn truncate(&mut self, to: u64) -> Vec<Msg> {
        let to = to.max(self.base);
        let keep = usize::try_from(to - self.base).unwrap_or(usize::MAX);
        let cut: Vec<Msg> = self.entries.drain(keep.min(self.entries.len())..).collect();
        self.end = to;
        self.hw = self.hw.min(to);
        self.pending_acks.retain(|a| a.0 < to);
        cut
    }

    /// Retained messages from `from` on.
    pub fn iter_from(&self, from: u64) -> impl Iterator<Item = &Msg> {
        let skip = usize::try_from(from.saturating_sub(self.base)).unwrap_or(usize::MAX);
        self.entries.iter().skip(skip)
    }
}

/// A consumer group's position in one partition. Invariant:
/// `committed <= done <= position <= end` except that at-most-once commits at fetch,
/// so there `committed == position`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GroupPartition {
    /// Committed offset: where a new owner starts.
    pub committed: u64,
    /// Everything below this has been processed (or dead-lettered) by the group.
    pub done: u64,
    /// The next offset the owner fetches.
    pub position: u64,
    /// The instance (group-local index) that owns the partition.
    pub owner: Option<u32>,
    /// The instance processing a message from it now (may be a previous owner
    /// finishing its last message during a rebalance).
    pub worker: Option<u32>,
}

/// The partitions a consumer instance owns that may have a message for it to fetch, in
/// partition order, and where its next fetch starts looking (round-robin fairness across
/// its partitions). A partition goes in whenever something may have made it fetchable
/// (the high watermark rose, its message in service finished, its position went back, it
/// was assigned) and comes out when a fetch takes from it or finds nothing there, so a
/// fetch costs what it finds, not how many partitions the instance owns.
#[derive(Clone, Debug, Default)]
pub struct Ready {
    /// One bit per partition; a second level (one bit per nonzero word) finds the next
    /// candidate among 100,000 partitions in a few dozen word checks. A `BTreeSet` here
    /// cost about 100 instructions per message on a one-partition instance.
    words: Vec<u64>,
    summary: Vec<u64>,
    len: usize,
    /// The next fetch looks at this partition first, then on up, wrapping around.
    next: u32,
    /// Candidates looked at by fetches so far (what fetching has cost).
    looked: u64,
}

impl Ready {
    /// Partition `p` may have a message to fetch.
    #[inline]
    pub fn insert(&mut self, p: u32) {
        let w = (p / 64) as usize;
        let bit = 1u64 << (p % 64);
        if w >= self.words.len() {
            self.grow(w);
        }
        let word = &mut self.words[w];
        if *word & bit == 0 {
            *word |= bit;
            self.summary[w / 64] |= 1u64 << (w % 64);
            self.len += 1;
        }
    }

    /// Room for word `w`: out of line, so that `insert` stays small enough to inline
    /// (it runs for every group on every append).
    #[cold]
    #[inline(never)]
    fn grow(&mut self, w: usize) {
        self.words.resize(w + 1, 0);
        self.summary.resize(w / 64 + 1, 0);
    }

    /// Partition `p` has nothing to fetch (or was just fetched from).
    #[inline]
    pub fn remove(&mut self, p: u32) {
        let w = (p / 64) as usize;
        let bit = 1u64 << (p % 64);
        if let Some(word) = self.words.get_mut(w)
            && *word & bit != 0
        {
            *word &= !bit;
            self.len -= 1;
            if *word == 0 {
                self.summary[w / 64] &= !(1u64 << (w % 64));
            }
        }
    }

    /// The first candidate at or after `from`.
    fn first_from(&self, from: u32) -> Option<u32> {
        let w = (from / 64) as usize;
        if let Some(&word) = self.words.get(w) {
            let m = word & (u64::MAX << (from % 64));
            if m != 0 {
                return Some((w * 64) as u32 + m.trailing_zeros());
            }
        }
        // The next nonzero word after `w`, through the summary.
        let start = w + 1;
        let mut s = start / 64;
        let mut mask = if start.is_multiple_of(64) {
            u64::MAX
        } else {
            u64::MAX << (start % 64)
        };
        while let Some(&sum) = self.summary.get(s) {
            let m = sum & mask;
            if m != 0 {
                let w = s * 64 + m.trailing_zeros() as usize;
                return Some((w * 64) as u32 + self.words[w].trailing_zeros());
            }
            s += 1;
            mask = u64::MAX;
        }
        None
    }

    /// The partition the next fetch looks at: the first candidate from the cursor on,
    /// else (wrapping around) the first of all.
    pub fn peek(&mut self) -> Option<u32> {
        self.looked += 1;
        if self.len == 0 {
            return None;
        }
        self.first_from(self.next).or_else(|| self.first_from(0))
    }

    /// A fetch took from `p`: the next one starts after it.
    pub fn fetched(&mut self, p: u32) {
        self.remove(p);
        self.next = p.saturating_add(1);
    }

    /// The instance's partitions changed from `was` to `owned`: the next fetch starts from
    /// the first. A one-partition instance kept no candidates (it looks at its partition
    /// directly), so when it takes more, each of them may have a message.
    pub fn restart(&mut self, was: &[u32], owned: &[u32]) {
        self.next = 0;
        if was.len() == 1 && owned.len() > 1 {
            for &p in owned {
                self.insert(p);
            }
        }
    }

    /// A one-partition instance's fetch looked at its partition (counted as `peek` does).
    pub fn look(&mut self) {
        self.looked += 1;
    }

    /// Candidates looked at by fetches so far, a found one or not, and each look that
    /// found none.
    #[must_use]
    pub fn looked(&self) -> u64 {
        self.looked
    }

    /// Candidates held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No candidate.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod ready_tests {
    use super::Ready;
    use std::collections::BTreeSet;

    /// The bit set answers as the ordered set it replaced, on a random walk of inserts,
    /// removes and peeks over a wide range of partitions.
    #[test]
    fn the_bit_set_behaves_as_an_ordered_set() {
        let mut r = Ready::default();
        let mut model = BTreeSet::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let p = (x % 9_000) as u32;
            match (x >> 40) % 4 {
                0 | 1 => {
                    r.insert(p);
                    model.insert(p);
                }
                2 => {
                    r.remove(p);
                    model.remove(&p);
                }
                _ => {
                    let next = (x >> 20) as u32 % 9_100;
                    r.next = next;
                    let want = model
                        .range(next..)
                        .next()
                        .or_else(|| model.first())
                        .copied();
                    assert_eq!(r.peek(), want, "from {next}");
                }
            }
            assert_eq!(r.len(), model.len());
        }
    }
}

/// Spreads `partitions` over the live instances (group-local indices, ascending).
#[must_use]
pub fn assign(partitions: u32, live: &[u32], strategy: Assignment) -> Vec<Option<u32>> {
    if live.is_empty() {
        return vec![None; partitions as usize];
    }
    let n = live.len() as u32;
    match strategy {
        Assignment::RoundRobin => (0..partitions)
            .map(|p| Some(live[(p % n) as usize]))
            .collect(),
        Assignment::Range => {
            // Kafka's RangeAssignor: the first `partitions % n` members get one extra.
            let (each, extra) = (partitions / n, partitions % n);
            let mut owners = Vec::with_capacity(partitions as usize);
            for (i, &inst) in live.iter().enumerate() {
                let count = each + u32::from((i as u32) < extra);
                owners.extend(std::iter::repeat_n(Some(inst), count as usize));
            }
            owners
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u32) -> Msg {
        Msg::numbered(id)
    }

    #[test]
    fn offsets_survive_trimming() {
        let mut p = Partition::default();
        for i in 0..5 {
            assert_eq!(p.append(msg(i)), u64::from(i));
        }
        p.trim(3);
        assert_eq!((p.base(), p.end, p.held()), (3, 5, 2));
        assert_eq!(p.get(2), None);
        assert_eq!(p.get(4).map(|m| m.id), Some(4));
        assert_eq!(p.iter_from(4).count(), 1);
    }

    #[test]
    fn truncation_cuts_the_tail_and_keeps_offsets() {
        let mut p = Partition::default();
        for i in 0..6 {
            p.append(msg(i));
        }
        p.hw = 5;
        let cut = p.truncate(4);
        assert_eq!(cut.iter().map(|m| m.id).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!((p.end, p.hw, p.held()), (4, 4, 4));
        assert_eq!(p.append(msg(9)), 4);
    }

    #[test]
    fn range_assignment_gives_the_first_members_the_extra_partitions() {
        let a = assign(7, &[0, 1, 2], Assignment::Range);
        assert_eq!(a, [0, 0, 0, 1, 1, 2, 2].map(Some).to_vec());
    }

    #[test]
    fn round_robin_assignment_interleaves() {
        let a = assign(5, &[1, 3], Assignment::RoundRobin);
        assert_eq!(a, [1, 3, 1, 3, 1].map(Some).to_vec());
    }

    #[test]
    fn ready_partitions_are_taken_round_robin_from_the_cursor() {
        let mut r = Ready::default();
        assert_eq!(r.peek(), None);
        for p in [7, 2, 5] {
            r.insert(p);
        }
        assert_eq!(r.peek(), Some(2));
        r.fetched(2);
        r.insert(2);
        // After 2 comes 5, then 7, then around to 2 again.
        assert_eq!(r.peek(), Some(5));
        r.fetched(5);
        assert_eq!(r.peek(), Some(7));
        r.fetched(7);
        assert_eq!(r.peek(), Some(2));
        r.remove(2);
        assert!(r.is_empty());
        r.insert(9);
        r.restart(&[], &[]);
        r.insert(1);
        assert_eq!((r.peek(), r.len()), (Some(1), 2));
        assert_eq!(r.looked(), 6);
    }

    #[test]
    fn no_live_member_means_no_owner() {
        assert_eq!(assign(2, &[], Assignment::Range), vec![None, None]);
    }
}
