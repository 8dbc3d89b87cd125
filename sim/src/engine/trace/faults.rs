//! The trace's hooks on events that do not name the message but change what happens to
//! it: a crash or cut-off of the instance holding it, a rebalance moving its partition
//! while its offset is uncommitted, a broker fault on a node with a replica of its
//! partition, an election that cuts it from the log, followers copying it. Each is called
//! when a message is traced at all (`tracing`) and first looks whether the event touches
//! the traced message, recording it only then.

use crate::consumer::Store;
use crate::engine::Engine;
use crate::message::Msg;

/// A drop reason in words.
pub(super) fn drop_words(reason: &str) -> String {
    let why = match reason {
        "reject" => "the broker was full and refused it (on_full = reject)",
        "drop-oldest" => "the queue was full and this was the oldest (on_full = drop-oldest)",
        "spill-full" => "the broker and its spill storage were full",
        "producer-gave-up" => "the producer gave up on it",
        "producer-crash" => "the producer crashed before the broker took it",
        "retention" => "retention deleted it before the group read it",
        "subscriber-offline" => "the subscriber was not connected (pub/sub keeps nothing)",
        "output-buffer-full" => "the subscriber's output buffer was full",
        "disconnected" => "the subscriber was disconnected with it in its buffer",
        "subscriber-crashed" => "the subscriber crashed with it",
        other => return other.to_string(),
    };
    format!("{why} ({reason})")
}

impl Engine {
    /// Why instance `i` matters to the traced message now, if it does: it has the
    /// message in hand, prefetched or awaiting its acknowledgement, or owns its
    /// partition with its offset fetched but not committed.
    fn holding(&self, i: u32) -> Option<&'static str> {
        let tr = self.tracer.as_ref()?;
        let inst = &self.instances[i as usize];
        let group = &self.groups[inst.group as usize];
        if group.topic != tr.topic {
            return None;
        }
        let id = tr.id;
        if inst.work.is_some_and(|w| w.msg.id == id) {
            return Some("with it in hand");
        }
        if inst.prefetched.iter().any(|w| w.msg.id == id) {
            return Some("with it prefetched");
        }
        if inst.pending.iter().any(|a| a.msg.id == id) {
            return Some("with it processed but not yet acknowledged");
        }
        let Store::Log(parts) = &group.store else {
            return None;
        };
        let uncommitted = tr.entries.iter().any(|&(p, o)| {
            let gp = &parts[p as usize];
            inst.owned.contains(&p) && gp.committed <= o && o < gp.position
        });
        uncommitted.then_some("owning its partition, with its offset fetched but not committed")
    }

    /// Instance `i` is about to crash (`cut`: be cut off by a network partition).
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_instance_fault(&mut self, i: u32, cut: bool) {
        let inst = &self.instances[i as usize];
        if !(inst.up && inst.reachable) {
            return;
        }
        let Some(how) = self.holding(i) else { return };
        let g = inst.group;
        let (event, detail) = if cut {
            (
                "cut_off",
                format!("cut off from its group by a network partition {how}"),
            )
        } else {
            ("crash", format!("the instance crashed {how}"))
        };
        self.record_now(self.consumer_name(i), event, Some(g), detail);
    }

    /// A member's session ran out: its partitions go to the others.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_session_expired(&mut self, i: u32) {
        if self.holding(i).is_some() {
            let g = self.instances[i as usize].group;
            let detail = "session expired: the group takes its partitions back".into();
            self.record_now(self.consumer_name(i), "session_expired", Some(g), detail);
        }
    }

    /// A rebalance of group `g` moves partition `p` from `old` to `new` (local indices).
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_moved(
        &mut self,
        g: u32,
        p: u32,
        old: Option<u32>,
        new: Option<u32>,
    ) {
        let Some(tr) = &self.tracer else { return };
        let group = &self.groups[g as usize];
        let Store::Log(parts) = &group.store else {
            return;
        };
        let gp = &parts[p as usize];
        if group.topic != tr.topic
            || !tr
                .entries
                .iter()
                .any(|&(ep, o)| ep == p && gp.committed <= o)
        {
            return;
        }
        let name =
            |o: Option<u32>| o.map_or("nobody".to_string(), |l| format!("{}/{l}", group.name));
        let live = |o: u32| {
            let inst = &self.instances[(group.first + o) as usize];
            inst.up && inst.reachable
        };
        let then = match old {
            Some(o) if live(o) => {
                "its owner hands it over, committing what it processed".to_string()
            }
            _ => format!("reading resumes at its committed offset {}", gp.committed),
        };
        let part = self.partition_name(group.topic, p);
        let detail = match old {
            Some(_) => format!(
                "rebalance: {part} moves from {} to {}; {then}",
                name(old),
                name(new)
            ),
            None => format!(
                "rebalance: {part} (its owner gone) is assigned to {}; {then}",
                name(new)
            ),
        };
        self.record_now(self.group_name(g), "rebalance", Some(g), detail);
    }

    /// Whether an entry of the traced message is still in partition `p`'s log.
    fn in_log(&self, p: u32) -> bool {
        let Some(tr) = &self.tracer else { return false };
        let part = &self.topics[tr.topic as usize].partitions[p as usize];
        tr.entries
            .iter()
            .any(|&(ep, o)| ep == p && part.base() <= o && o < part.end)
    }

    /// Broker node `n` goes down (`crashed`, or cut off) or comes back.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_broker(&mut self, n: u32, down: bool, crashed: bool) {
        let Some(tr) = &self.tracer else { return };
        let t = tr.topic;
        let parts: Vec<u32> = (0..self.topics[t as usize].partitions.len() as u32)
            .filter(|&p| self.in_log(p))
            .filter(|&p| {
                let rs = &self.topics[t as usize].partitions[p as usize].replicas;
                rs.replicas.iter().any(|r| r.node == n)
            })
            .collect();
        for p in parts {
            let rs = &self.topics[t as usize].partitions[p as usize].replicas;
            let leads = rs.leader.is_some_and(|l| rs.replicas[l].node == n);
            let role = if leads { "leader" } else { "a follower" };
            let (event, detail) = match (down, crashed) {
                (true, true) => (
                    "broker_crash",
                    format!(
                        "crashed; it is {role} of the partition holding the message (its unflushed log is lost)"
                    ),
                ),
                (true, false) => (
                    "broker_cut_off",
                    format!(
                        "cut off by a network partition; it is {role} of the partition holding the message"
                    ),
                ),
                (false, _) => ("broker_back", "back up; its replica catches up".to_string()),
            };
            let detail = format!(
                "{} ({}): {detail}",
                self.partition_name(t, p),
                format_args!("broker/{n}")
            );
            self.record_now(format!("broker/{n}"), event, None, detail);
        }
    }

    /// Partition `p` of topic `t` elected a leader on `node`, cutting `cut` from its log.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_election(
        &mut self,
        t: u32,
        p: u32,
        node: u32,
        unclean: bool,
        cut: &[Msg],
    ) {
        let Some(tr) = &self.tracer else { return };
        if t != tr.topic {
            return;
        }
        let id = tr.id;
        let was_cut = cut.iter().any(|m| m.id == id);
        if !was_cut && !self.in_log(p) {
            return;
        }
        let how = if unclean {
            "unclean election"
        } else {
            "election"
        };
        let mut detail = format!("{how}: leader now broker/{node}");
        if was_cut {
            detail.push_str("; the new leader never had it: CUT from the log");
            let tr = self.tracer_mut();
            tr.entries.retain(|&(ep, _)| ep != p);
        }
        let event = if was_cut {
            "truncated"
        } else {
            "leader_election"
        };
        self.record_now(self.partition_name(t, p), event, None, detail);
    }

    /// A follower (`replica` of partition `p`) fetched everything below `end`.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_replicated(&mut self, t: u32, p: u32, replica: u32, end: u64) {
        let Some(tr) = &self.tracer else { return };
        if t != tr.topic
            || tr.replicated.contains(&(p, replica))
            || !tr.entries.iter().any(|&(ep, o)| ep == p && o < end)
        {
            return;
        }
        self.tracer_mut().replicated.push((p, replica));
        let node = self.topics[t as usize].partitions[p as usize]
            .replicas
            .replicas[replica as usize]
            .node;
        let detail = format!("copied by the follower on broker/{node}");
        self.record_now(self.partition_name(t, p), "replicated", None, detail);
    }

    /// The high watermark of partition `p` moved to `hw`: a replicated partition's
    /// entries below it are committed to the log (readable; `acks = all` answered).
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_high_watermark(&mut self, t: u32, p: u32, hw: u64) {
        let Some(tr) = &self.tracer else { return };
        if t != tr.topic
            || self.topics[t as usize].partitions[p as usize]
                .replicas
                .replicas
                .len()
                < 2
        {
            return;
        }
        let fresh: Vec<(u32, u64)> = tr
            .entries
            .iter()
            .copied()
            .filter(|&(ep, o)| ep == p && o < hw && !tr.committed_to_log.contains(&(ep, o)))
            .collect();
        for e in fresh {
            self.tracer_mut().committed_to_log.push(e);
            let detail = format!(
                "every in-sync replica has offset {}: the high watermark passes it, consumers may read it",
                e.1
            );
            self.record_now(self.partition_name(t, p), "high_watermark", None, detail);
        }
    }
}
