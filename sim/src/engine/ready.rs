//! Which of its partitions a log consumer can fetch from. Each instance keeps the
//! partitions that may have a message for it (`log::Ready`), added where a partition can
//! become fetchable: the high watermark rises (`replicate.rs`), a message in service is
//! finished or abandoned and its position goes back (`consume.rs`, `group.rs`), a
//! rebalance or a truncation moves it. A fetch takes the first candidate from the
//! instance's cursor on that really has a message, dropping the ones that do not, so an
//! idle instance with 100,000 partitions costs what it finds, not what it owns.

use super::Engine;
use crate::consumer::{Group, Instance, Store};
use crate::log::{GroupPartition, Partition, Ranges, Ready};

impl Engine {
    /// Partition `p` of group `g`'s topic may have become fetchable: if it has, its owner
    /// will look there. Called after whatever changed it.
    #[inline]
    pub(super) fn fetchable(&mut self, g: u32, p: u32) {
        if !self.candidates {
            // Every owner has a few partitions and looks at each: nothing to tell.
            return;
        }
        let group = &mut self.groups[g as usize];
        let hw = self.topics[group.topic as usize].partitions[p as usize].hw;
        tell_owner(group, &mut self.instances, p, hw);
    }

    /// Partition `p` of topic `t` may have become fetchable for every group reading it
    /// (its high watermark rose, or a failover moved it). One pass over the topic's
    /// groups with the high watermark read once: this runs on every append. A topic
    /// read by one group is told inline: called, the loop saved and restored six
    /// registers around its one pass (about 30 instructions a message on partitions-1000).
    #[inline(always)]
    pub(super) fn fetchable_everywhere(&mut self, t: u32, p: u32) {
        if !self.candidates {
            return;
        }
        let topic = &self.topics[t as usize];
        if let &[g] = &topic.groups[..] {
            let group = &mut self.groups[g as usize];
            if group.ranges.on() {
                // The bit alone, without a look at the partition's line of the group
                // (out of the cache in a run over many partitions): a bit may be set
                // where there is nothing to fetch (its owner busy there, or none), and
                // the fetch that finds it so clears it.
                group.ranges.set(p);
                return;
            }
            let hw = topic.partitions[p as usize].hw;
            tell_owner(group, &mut self.instances, p, hw);
        } else {
            self.fetchable_each(t, p);
        }
    }

    /// `fetchable_everywhere` for a topic read by any number of groups.
    #[inline(never)]
    fn fetchable_each(&mut self, t: u32, p: u32) {
        let topic = &self.topics[t as usize];
        let hw = topic.partitions[p as usize].hw;
        for &g in &topic.groups {
            tell_owner(&mut self.groups[g as usize], &mut self.instances, p, hw);
        }
    }

    /// After a rebalance of log group `g`: the group keeps its
    /// fetchable partitions in bits (`Ranges`) while some instance keeps candidates and
    /// every one that does owns a narrow contiguous range, else in the instances'
    /// candidates. Either way a switch over-approximates: every bit set, or every owned
    /// partition a candidate, so no fetchable partition goes unseen (a fetch forgets the
    /// ones with nothing).
    pub(super) fn keep_ranges(&mut self, g: u32) {
        let group = &self.groups[g as usize];
        let owned = |i: u32| &self.instances[i as usize].owned[..];
        // A group whose instances all scan their few partitions keeps neither: nothing
        // tells them, and a take has no bit to clear.
        let fits = !self.rangeless
            && group
                .instances()
                .any(|i| !owned(i).is_empty() && !Ready::scans(owned(i).len()))
            && group
                .instances()
                .all(|i| Ready::scans(owned(i).len()) || Ranges::fits(owned(i)));
        match (group.ranges.on(), fits) {
            (false, true) => {
                let group = &mut self.groups[g as usize];
                if let Store::Log(parts) = &group.store {
                    group.ranges.start(parts);
                }
            }
            (true, false) => self.stop_ranges(g),
            _ => {}
        }
    }

    /// Group `g`'s instances keep candidates from now on, every partition they own one.
    fn stop_ranges(&mut self, g: u32) {
        self.groups[g as usize].ranges.stop();
        for i in self.groups[g as usize].instances() {
            let inst = &mut self.instances[i as usize];
            if !Ready::scans(inst.owned.len()) {
                inst.ready.insert_all(&inst.owned);
            }
        }
    }

    /// Keeps every group's fetchable partitions in its instances' candidates from now on,
    /// never in bits (tests compare the two ways).
    #[doc(hidden)]
    pub fn keep_candidates(&mut self) {
        self.rangeless = true;
        for g in 0..self.groups.len() as u32 {
            if self.groups[g as usize].ranges.on() {
                self.stop_ranges(g);
            }
        }
    }

    /// The partition instance `i` fetches from next: the first candidate from its cursor
    /// on (wrapping around) that it owns, that has a message below the high watermark and
    /// none in service. Candidates found empty are forgotten until they are added again.
    #[inline]
    pub(super) fn next_fetch(&mut self, i: u32) -> Option<u32> {
        let inst = &mut self.instances[i as usize];
        let local = inst.local;
        let group = &mut self.groups[inst.group as usize];
        let Store::Log(parts) = &group.store else {
            return None;
        };
        let partitions = &self.topics[group.topic as usize].partitions;
        let fetchable = |p: u32| parts[p as usize].fetchable_by(local, partitions[p as usize].hw);
        if let [p] = inst.owned[..] {
            // The common one-partition instance: no candidate set to keep (`fetchable`
            // does not fill it), one look.
            inst.ready.look();
            return fetchable(p).then_some(p);
        }
        if Ready::scans(inst.owned.len()) {
            // A few partitions: each looked at from the cursor on, no candidates kept.
            return inst.ready.scan_from(&inst.owned, fetchable);
        }
        let found = if group.ranges.on() {
            first_ranged(&mut group.ranges, &mut inst.ready, parts, partitions, local)
        } else {
            loop {
                let Some(p) = inst.ready.peek() else {
                    break None;
                };
                if fetchable(p) {
                    break Some(p);
                }
                inst.ready.remove(p);
            }
        };
        #[cfg(debug_assertions)]
        if found.is_none() {
            self.nothing_missed(i);
        }
        found
    }

    /// Debug builds: an instance that found nothing to fetch has nothing fetchable among
    /// the partitions it owns (checked for small instances only, where it is cheap), so a
    /// place that makes a partition fetchable without saying so cannot go unnoticed.
    #[cfg(debug_assertions)]
    pub(super) fn nothing_missed(&self, i: u32) {
        let inst = &self.instances[i as usize];
        if inst.owned.len() > 64 {
            return;
        }
        let group = &self.groups[inst.group as usize];
        let Store::Log(parts) = &group.store else {
            return;
        };
        let partitions = &self.topics[group.topic as usize].partitions;
        for &p in &inst.owned {
            let gp = &parts[p as usize];
            assert_eq!(gp.owner, Some(inst.local), "owned partition {p}");
            assert!(
                gp.worker.is_some() || gp.position >= partitions[p as usize].hw,
                "partition {p} of {} has a message at {} below its high watermark {}, yet \
                 instance {} was not told",
                group.name,
                gp.position,
                partitions[p as usize].hw,
                inst.local
            );
        }
    }
}

/// `next_fetch` for an instance of a group that keeps its fetchable partitions in bits
/// (`Ranges`), owning more than `Ready::scans` looks at one by one: the first partition of
/// its range from its cursor on that it owns, that has a message below the high watermark
/// and none in service; the stale bits passed on the way cleared. Shared with the plain
/// path's completion lane, which fetches on the parts it holds.
#[inline(always)]
pub(in crate::engine) fn first_ranged(
    ranges: &mut Ranges,
    ready: &mut Ready,
    parts: &[GroupPartition],
    partitions: &[Partition],
    local: u32,
) -> Option<u32> {
    let (lo, hi) = ready.span();
    loop {
        ready.look();
        let p = ranges.first_from(lo, hi, ready.cursor())?;
        if parts[p as usize].fetchable_by(local, partitions[p as usize].hw) {
            return Some(p);
        }
        ranges.clear(p);
    }
}

/// Tells the instance owning partition `p` of `group` (high watermark `hw`) that it may
/// fetch there, if it can. The partition's own state comes first: it rules most calls out
/// without a look at the instance. Always inlined: a call cost a third of it.
#[inline(always)]
fn tell_owner(group: &mut Group, instances: &mut [Instance], p: u32, hw: u64) {
    let Store::Log(parts) = &group.store else {
        return;
    };
    let gp = &parts[p as usize];
    if gp.worker.is_some() || gp.position >= hw {
        return;
    }
    let Some(o) = gp.owner else {
        return;
    };
    tell(
        &mut group.ranges,
        &mut instances[(group.first + o) as usize],
        p,
    );
}

/// Tells instance `inst`, the owner of partition `p` in a group keeping `ranges`, that it
/// may fetch there: the group's bit while it keeps them (nothing of the instance is
/// read), else the instance's candidates. An instance with a few partitions looks at
/// each (`next_fetch`): nothing to tell it.
#[inline(always)]
pub(in crate::engine) fn tell(ranges: &mut Ranges, inst: &mut Instance, p: u32) {
    if ranges.on() {
        ranges.set(p);
    } else if !Ready::scans(inst.owned.len()) {
        inst.ready.insert(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    /// Candidates looked at per message delivered, and the messages delivered, for one
    /// instance owning `partitions` partitions that a round-robin producer fills ~2,000
    /// messages into.
    fn looks_per_message(partitions: u32) -> (f64, u64) {
        let text = format!(
            r#"
            name = "wide"
            duration = "2s"
            drain = "10s"
            [[topic]]
            name = "t"
            partitions = {partitions}
            [[producer]]
            name = "p"
            topic = "t"
            rate = 1000
            partitioner = "round-robin"
            [[consumer]]
            group = "g"
            topic = "t"
            service_time = "exp(900us)"
            "#
        );
        let s = Scenario::from_toml(&text, "wide.toml").expect("valid");
        let mut e = Engine::new(&s, 1);
        while e.step() {}
        let looked = e.instances[0].ready.looked();
        (looked as f64 / e.delivered as f64, e.delivered)
    }

    /// An idle instance used to look through every partition it owns for its next
    /// message: with 100,000 of them each fetch cost 100,000 checks. Now a fetch costs a
    /// few looks whatever it owns: one for the partition it takes, and one for each
    /// partition it was told may have something and had not.
    #[test]
    fn a_fetch_costs_the_same_with_ten_partitions_or_a_hundred_thousand() {
        let (narrow, n) = looks_per_message(10);
        let (wide, w) = looks_per_message(100_000);
        assert!(n > 1800 && w > 1800, "about 2,000 messages: {n}, {w}");
        assert!(
            narrow < 2.0,
            "{narrow} looks per message with 10 partitions"
        );
        assert!(
            wide < 2.0,
            "{wide} looks per message with 100,000 partitions"
        );
    }
}
