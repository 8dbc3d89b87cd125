//! What a log keeps: entries are forgotten behind the slowest committed offset of the groups
//! that read them, a group yet to join from the earliest offset included (or, with
//! `retention`, once they age out, read or not), and an offset can be skipped for the
//! groups that had not committed it (retention, `drop-oldest`).

use super::Engine;
use crate::consumer::Store;

impl Engine {
    /// Forgets what every group of the topic has committed past.
    #[inline]
    pub(super) fn trim(&mut self, t: u32, p: u32) {
        let topic = &self.topics[t as usize];
        if topic.retention.is_some() {
            return; // kept until it ages out, read or not
        }
        let at = (topic.part_base + p) as usize;
        let base = topic.partitions[p as usize].base();
        if self.unjoined == 0
            && let Some(&Some(g)) = self.trim_hint.get(at)
            && self.holds_back(g, p, base)
        {
            // The group that held the log back at the last trim still does (most commits
            // are not the slowest group's): nothing to forget, no need to find the slowest.
            return;
        }
        let (low, slowest) = self.slowest_committed(t, p, true);
        if let Some(hint) = self.trim_hint.get_mut(at) {
            *hint = slowest;
        }
        self.skip_unjoined_below(t, p, low);
        let part = &mut self.topics[t as usize].partitions[p as usize];
        part.trim(low);
    }

    /// Group `g` has joined and its committed offset in partition `p` is at or below
    /// `base`, so no trim can forget anything.
    #[inline]
    fn holds_back(&self, g: u32, p: u32, base: u64) -> bool {
        let group = &self.groups[g as usize];
        group.joined
            && matches!(&group.store, Store::Log(parts)
                if parts.get(p as usize).is_some_and(|gp| gp.committed <= base))
    }

    /// `min_committed`, and the group holding it there (`None`: the log end does). With
    /// `unjoined`, a group yet to join that will read from the earliest offset counts too:
    /// Kafka keeps a log by its retention, not by who has read it, so such a group finds
    /// every message still there when it joins (forgotten once the joined groups had
    /// committed them, they were dropped for it, which no real broker does).
    #[inline]
    fn slowest_committed(&self, t: u32, p: u32, unjoined: bool) -> (u64, Option<u32>) {
        let topic = &self.topics[t as usize];
        // The log end is the answer without a joined group, and never below a committed
        // offset, so it can start the minimum.
        let mut low = topic.partitions[p as usize].end;
        let mut slowest = None;
        for &g in &topic.groups {
            let group = &self.groups[g as usize];
            if let Store::Log(parts) = &group.store
                && (group.joined || (unjoined && group.receives_now()))
                && parts[p as usize].committed <= low
            {
                low = parts[p as usize].committed;
                slowest = Some(g);
            }
        }
        (low, slowest)
    }

    /// Groups that have not joined yet lose what is forgotten before they join (dropped,
    /// `retention`: it was not retained for them). One reading from the earliest offset
    /// holds the log back (`slowest_committed`), so only `retention` forgets what it has
    /// not read.
    fn skip_unjoined_below(&mut self, t: u32, p: u32, low: u64) {
        if self.unjoined == 0 {
            return;
        }
        for k in 0..self.topics[t as usize].groups.len() {
            let g = self.topics[t as usize].groups[k];
            let group = &self.groups[g as usize];
            let Store::Log(parts) = &group.store else {
                continue;
            };
            let from = parts[p as usize].committed;
            if group.joined || from >= low {
                continue;
            }
            let gone: Vec<crate::message::Msg> = self.topics[t as usize].partitions[p as usize]
                .iter_from(from)
                .take((low - from) as usize)
                .copied()
                .collect();
            self.set_committed(g, p, low);
            let Store::Log(parts) = &mut self.groups[g as usize].store else {
                unreachable!()
            };
            let gp = &mut parts[p as usize];
            (gp.done, gp.position) = (low, low);
            for m in gone {
                self.drop_copy(g, m.id, Some(m.arrived), "retention");
                self.resequence_gone(g, m);
            }
        }
    }

    /// The slowest joined group's committed offset in partition `p` (the log end if
    /// none): what `capacity` counts from. A group that has not joined yet is no
    /// consumer a broker could wait for.
    #[inline]
    pub(super) fn min_committed(&self, t: u32, p: u32) -> u64 {
        self.slowest_committed(t, p, false).0
    }

    /// Whether a consumer of some group has fetched `offset` of partition `p` and not
    /// finished it (`drop-oldest` must not discard it from under the consumer).
    pub(super) fn held_by_consumer(&self, t: u32, p: u32, offset: u64) -> bool {
        self.topics[t as usize].groups.iter().any(|&g| {
            matches!(&self.groups[g as usize].store, Store::Log(parts)
                if parts[p as usize].done <= offset && offset < parts[p as usize].position)
        })
    }

    /// Every group that had not committed past `offset` skips it; its copy is dropped
    /// unless a consumer of the group has it in hand.
    pub(super) fn skip_offset(&mut self, t: u32, p: u32, offset: u64, reason: &'static str) {
        let msg = self.topics[t as usize].partitions[p as usize].get(offset);
        for k in 0..self.topics[t as usize].groups.len() {
            let g = self.topics[t as usize].groups[k];
            let joined = self.groups[g as usize].joined;
            let Store::Log(parts) = &mut self.groups[g as usize].store else {
                continue;
            };
            let gp = &mut parts[p as usize];
            // A group not joined yet may be further back (a retained log it will replay);
            // the entry stays there for it.
            let behind = gp.committed < offset && !joined;
            if gp.committed > offset || behind {
                continue;
            }
            // Fetched and not finished: the consumer has the message and processes it
            // anyway (a crash before it is done loses it to this skip; see `abandon`).
            let in_hand = gp.done <= offset && offset < gp.position;
            let finished = offset < gp.done;
            gp.done = gp.done.max(offset + 1);
            gp.position = gp.position.max(offset + 1);
            self.set_committed(g, p, offset + 1);
            if finished
                && self.groups[g as usize].delivery == crate::scenario::Delivery::ExactlyOnce
            {
                // The offset moved past a processed entry: its transaction commits, as
                // `commit_partition` commits it (a rollback of a twin entry must not undo it).
                if let Some(m) = msg {
                    self.groups[g as usize].ledger.commit(m.id);
                }
            }
            if let Some(m) = msg.filter(|_| !in_hand) {
                self.drop_copy(g, m.id, Some(m.arrived), reason);
                self.resequence_gone(g, m);
            }
            if self.is_stage(g)
                && self.groups[g as usize].delivery == crate::scenario::Delivery::ExactlyOnce
            {
                // Skipping past an applied input ends its transaction as a commit would.
                self.stage_offsets_committed(g, p, offset + 1);
            }
        }
    }

    /// Retention on every partition of every topic that has one (topics without it cost
    /// nothing here, however many partitions they have).
    pub(super) fn expire_retention_everywhere(&mut self) {
        for t in 0..self.topics.len() as u32 {
            if self.topics[t as usize].retention.is_some() {
                for p in 0..self.topics[t as usize].partitions.len() as u32 {
                    self.expire_retention(t, p);
                }
            }
        }
    }

    /// Retention: entries older than the topic's retention are deleted, consumed or not.
    #[inline]
    pub(super) fn expire_retention(&mut self, t: u32, p: u32) {
        if let Some(keep) = self.topics[t as usize].retention {
            self.expire_older(t, p, keep);
        }
    }

    fn expire_older(&mut self, t: u32, p: u32, keep: crate::time::SimDuration) {
        loop {
            let part = &self.topics[t as usize].partitions[p as usize];
            let base = part.base();
            match part.get(base) {
                Some(m) if m.arrived + keep <= self.now => {
                    self.skip_offset(t, p, base, "retention");
                    self.topics[t as usize].partitions[p as usize].trim(base + 1);
                }
                _ => break,
            }
        }
    }
}
