//! The Kafka-like log: partitions as append-only sequences of offsets, and each consumer
//! group's view of a partition (committed offset, fetch position, owner). Entries below
//! every group's committed offset are trimmed, so memory follows the backlog, not history.

mod ranges;
mod ready;

pub use ranges::Ranges;
pub use ready::Ready;

use crate::message::Msg;
use crate::replication::ReplicaSet;
use crate::scenario::Assignment;
use std::collections::VecDeque;

/// One partition of a topic. Laid out for a run over many partitions, where each
/// message finds its partition out of the cache: what the consumer side reads (the
/// entries, the offsets, the high watermark) fills the first cache line, the replicas,
/// which the append reads too, the second, and the acknowledgements waiting for the
/// high watermark (`acks = all` only) the third.
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub struct Partition {
    entries: VecDeque<Msg>,
    /// Offset of `entries[0]`.
    base: u64,
    /// The next offset to be written (the leader's log end offset).
    pub end: u64,
    /// The high watermark: consumers read below it, `acks = all` acknowledges below it.
    pub hw: u64,
    /// Fills the first cache line (the replicas would straddle it).
    _line: [u64; 1],
    /// Replicas, leader and ISR.
    pub replicas: ReplicaSet,
    /// Fills the second.
    _line2: [u64; 3],
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
    #[inline]
    pub fn append(&mut self, m: Msg) -> u64 {
        self.entries.push_back(m);
        self.end += 1;
        self.end - 1
    }

    /// The message at `offset`, if still retained.
    #[must_use]
    #[inline]
    pub fn get(&self, offset: u64) -> Option<Msg> {
        self.entry(offset).copied()
    }

    /// The message at `offset` where it lies, if still retained.
    #[must_use]
    #[inline]
    pub fn entry(&self, offset: u64) -> Option<&Msg> {
        let i = offset.checked_sub(self.base)?;
        self.entries.get(usize::try_from(i).ok()?)
    }

    /// The oldest retained offset.
    #[must_use]
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Forgets every entry below `low` (all groups have committed past them). Always
    /// inlined: every commit trims, usually one entry.
    #[inline(always)]
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
/// so there `committed == position`. One to a cache line: a message touches its
/// partition's a few times, out of the cache when a group reads many partitions, and
/// half of them would straddle two lines at their natural 40 bytes.
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
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

impl GroupPartition {
    /// Whether instance `local` may fetch here, the partition's high watermark being `hw`:
    /// it owns it, nothing of it is in service, and a message lies below `hw`.
    #[inline(always)]
    #[must_use]
    pub fn fetchable_by(&self, local: u32, hw: u64) -> bool {
        self.owner == Some(local) && self.worker.is_none() && self.position < hw
    }

    /// Instance `local` fetches the entry at the position from `partition`: the position
    /// moves on and the partition is in its hands. Returns the entry's offset and message,
    /// where it lies: a caller that copies it whole and reads a few fields reads them
    /// from the log, not from a copy the compiler took apart and spilled.
    #[inline(always)]
    pub fn take<'a>(&mut self, partition: &'a Partition, local: u32) -> (u64, &'a Msg) {
        let offset = self.position;
        let msg = partition
            .entry(offset)
            .expect("uncommitted offsets are retained");
        self.position += 1;
        self.worker = Some(local);
        (offset, msg)
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

    /// What the consumer side reads of a partition shares one cache line, the replicas
    /// the next; a group's view of a partition never straddles two.
    #[test]
    fn hot_fields_sit_on_their_own_cache_lines() {
        use std::mem::{align_of, offset_of, size_of};
        assert_eq!(align_of::<Partition>(), 64);
        assert!(offset_of!(Partition, hw) + 8 <= 64);
        assert!(offset_of!(Partition, end) + 8 <= 64);
        assert_eq!(offset_of!(Partition, replicas), 64);
        assert!(size_of::<ReplicaSet>() <= 64);
        assert_eq!(offset_of!(Partition, pending_acks), 128);
        assert_eq!(size_of::<GroupPartition>(), 64);
    }

    #[test]
    fn no_live_member_means_no_owner() {
        assert_eq!(assign(2, &[], Assignment::Range), vec![None, None]);
    }
}
