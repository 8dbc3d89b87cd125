//! Kafka-like log: each partition belongs to one member of the group, which fetches it
//! in offset order and commits offsets; membership changes rebalance the partitions, and
//! whatever was uncommitted is replayed from the committed offset.

use super::{Ctx, Model, Parts, View};
use crate::consumer::{Group, PendingAck, Store, Work};
use crate::scenario::{BrokerModel, Delivery};

pub(super) struct Log;

impl Model for Log {
    const BROKER: BrokerModel = BrokerModel::Log;
    const REBALANCES: bool = true;
    const REPLAYABLE: bool = true;
    const PARTITIONED: bool = true;

    fn start(mut e: Ctx, g: u32) {
        e.rebalance(g);
    }

    /// The next message of the instance's partitions, round-robin (see `ready.rs`).
    #[inline]
    fn take(mut e: Ctx, i: u32) -> Option<Work> {
        let p = e.next_fetch(i)?;
        let now = e.now();
        let Parts {
            groups,
            instances,
            topics,
        } = e.split();
        let inst = &mut instances[i as usize];
        let (g, local) = (inst.group, inst.local);
        let group = &mut groups[g as usize];
        let ranged = group.ranges.on();
        inst.ready.took(inst.owned.len(), p, ranged);
        if ranged {
            group.ranges.clear(p);
        }
        let (topic, delivery) = (group.topic, group.delivery);
        let Store::Log(parts) = &mut group.store else {
            unreachable!()
        };
        let gp = &mut parts[p as usize];
        let partition = &topics[topic as usize].partitions[p as usize];
        let (offset, &msg) = gp.take(partition, local);
        if delivery == Delivery::AtMostOnce {
            e.commit_partition(g, p, offset + 1);
        }
        Some(Work::taken(msg, p, offset, 0, now))
    }

    /// A log consumer is woken when its partitions grow; nothing to arrange.
    #[inline]
    fn idle(_: Ctx, _: u32) {}

    #[inline]
    fn settle(mut e: Ctx, i: u32, w: Work) {
        let inst = e.instance(i);
        let (g, local) = (inst.group, inst.local);
        let Parts { groups, topics, .. } = e.split();
        let group = &mut groups[g as usize];
        let (commits, per_message) = (
            group.commits_after_processing(),
            group.commit_interval.is_zero(),
        );
        let Store::Log(parts) = &mut group.store else {
            unreachable!()
        };
        let gp = &mut parts[w.partition as usize];
        gp.worker = None;
        // An unclean election may have cut the log below what was in hand.
        let end = topics[group.topic as usize].partitions[w.partition as usize].end;
        gp.done = gp.done.max(w.offset + 1).min(end);
        let (done, owner) = (gp.done, gp.owner);
        let handed_over = owner != Some(local);
        // Its next message may be fetched now.
        e.fetchable(g, w.partition);
        if commits && (per_message || handed_over) {
            e.commit_partition(g, w.partition, done);
        }
        if handed_over && let Some(o) = owner {
            let first = e.group(g).first;
            e.try_start(first + o);
        }
    }

    fn commit(mut e: Ctx, g: u32) {
        let group = e.group(g);
        let Store::Log(parts) = &group.store else {
            unreachable!()
        };
        // Each owner commits its own partitions; a silent one commits nothing.
        let live = |o: u32| {
            let inst = e.instance(group.first + o);
            inst.up && inst.reachable
        };
        let todo: Vec<(u32, u64)> = parts
            .iter()
            .enumerate()
            .filter(|(_, gp)| gp.done > gp.committed && gp.owner.is_some_and(live))
            .map(|(p, gp)| (p as u32, gp.done))
            .collect();
        for (p, done) in todo {
            e.commit_partition(g, p, done);
        }
    }

    fn settled(_: View, g: &Group) -> bool {
        let Store::Log(parts) = &g.store else {
            unreachable!()
        };
        !g.commits_after_processing() || parts.iter().all(|gp| gp.done <= gp.committed)
    }

    /// A log keeps it: the partition is fetched again from it (or from the committed
    /// offset, if that is past it), unless at-most-once had committed it already.
    fn abandon(mut e: Ctx, g: u32, w: Work, lost_in_hand: bool) {
        e.lost_in_crash(g, &w, lost_in_hand);
        let group = e.group(g);
        let taken_and_committed = group.delivery == Delivery::AtMostOnce;
        let unapplied = group.ledger.applied(w.msg.id) == 0;
        let Store::Log(parts) = &group.store else {
            unreachable!()
        };
        let skipped = parts[w.partition as usize].committed > w.offset;
        if lost_in_hand && !taken_and_committed && unapplied && skipped {
            // Retention deleted it while in hand: no replay will bring it back.
            e.drop_copy(g, w.msg.id, Some(w.msg.arrived), "retention");
        }
        let group = e.group_mut(g);
        let Store::Log(parts) = &mut group.store else {
            unreachable!()
        };
        let gp = &mut parts[w.partition as usize];
        gp.worker = None;
        if !taken_and_committed {
            gp.position = gp.position.min(w.offset).max(gp.committed);
            gp.done = gp.done.min(gp.position);
        }
        let owner = gp.owner;
        let first = group.first;
        e.fetchable(g, w.partition);
        if let Some(o) = owner {
            e.try_start(first + o);
        }
    }

    /// Its partitions (already reset to their committed offsets) go to the others.
    fn leave(mut e: Ctx, i: u32, _: Option<Work>, _: &[PendingAck]) {
        let g = e.instance(i).group;
        e.rebalance(g);
    }

    fn rejoin(mut e: Ctx, i: u32) {
        let g = e.instance(i).group;
        e.rebalance(g);
    }

    /// Live owners commit what they processed; a silent owner's open transaction
    /// (exactly-once) aborts.
    fn close(mut e: Ctx, g: u32) {
        let group = e.group(g);
        let Store::Log(parts) = &group.store else {
            return;
        };
        let first = group.first;
        // (partition, committed, done, owner live)
        let open: Vec<(u32, u64, u64, bool)> = parts
            .iter()
            .enumerate()
            .filter(|(_, gp)| gp.done > gp.committed)
            .map(|(p, gp)| {
                let live = gp.owner.is_some_and(|o| e.live(first + o));
                (p as u32, gp.committed, gp.done, live)
            })
            .collect();
        let exactly_once = group.delivery == Delivery::ExactlyOnce;
        let topic = group.topic as usize;
        for (p, committed, done, live) in open {
            if live {
                e.commit_partition(g, p, done);
            } else if exactly_once {
                let msgs: Vec<crate::message::Msg> = e.topics()[topic].partitions[p as usize]
                    .iter_from(committed)
                    .take((done - committed) as usize)
                    .copied()
                    .collect();
                for m in msgs {
                    e.roll_back(g, m);
                }
            }
        }
    }

    /// Everything from each partition's committed offset on.
    fn held(r: View, g: &Group, mut f: impl FnMut(u32)) {
        let Store::Log(parts) = &g.store else {
            unreachable!()
        };
        for (p, gp) in parts.iter().enumerate() {
            for m in r.topics[g.topic as usize].partitions[p].iter_from(gp.committed) {
                f(m.id);
            }
        }
    }

    /// A log's backlog is the topic's (uncommitted offsets per partition).
    fn backlog(_: &Group) -> u64 {
        0
    }
}
