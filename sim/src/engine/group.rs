//! Consumer-group bookkeeping: commits, trimming the log behind the slowest group,
//! partition assignment and rebalances, and what a crash or a restart does to each
//! delivery variant's uncommitted work.

use super::Engine;
use crate::consumer::{Store, Work};
use crate::event::Event;
use crate::log::assign;
use crate::scenario::Delivery;
use crate::snapshot::LogKind;

impl Engine {
    /// Moves a group's committed offset in partition `p` forward to `to`.
    pub(super) fn commit_partition(&mut self, g: u32, p: u32, to: u64) {
        let group = &mut self.groups[g as usize];
        let Store::Log(parts) = &mut group.store else {
            return;
        };
        if to <= parts[p as usize].committed {
            return;
        }
        let from = self.set_committed(g, p, to);
        let group = &mut self.groups[g as usize];
        let exactly_once = group.delivery == crate::scenario::Delivery::ExactlyOnce;
        if exactly_once {
            // The transaction commits: its side effects can no longer roll back.
            let part = &self.topics[group.topic as usize].partitions[p as usize];
            for m in part.iter_from(from).take((to - from) as usize) {
                group.ledger.commit(m.id);
            }
        }
        let t = group.topic;
        if exactly_once && self.is_stage(g) {
            // The services' outputs of the transaction go out with it.
            self.stage_offsets_committed(g, p, to);
        }
        self.trim(t, p);
        self.unpark_soon(t);
        if self.tracing() {
            self.trace_committed(g, p, from, to);
        }
    }

    /// The periodic commit: offsets up to what was processed, or the pending deletes.
    pub(super) fn commit_group(&mut self, g: u32) {
        let group = &self.groups[g as usize];
        if !group.commits_after_processing() {
            return;
        }
        self.model_commit(g);
    }

    /// Spreads the group's partitions over its live instances. A partition leaving a
    /// live owner is committed first (a graceful hand-over); a message that owner is
    /// still processing finishes before the new owner fetches.
    pub(super) fn rebalance(&mut self, g: u32) {
        if self.rebalance_held {
            if !self.rebalance_due.contains(&g) {
                self.rebalance_due.push(g);
            }
            return;
        }
        let group = &self.groups[g as usize];
        let Store::Log(parts) = &group.store else {
            return;
        };
        let live: Vec<u32> = group
            .instances()
            .filter(|&i| {
                let inst = &self.instances[i as usize];
                group.joined && inst.up && inst.reachable
            })
            .map(|i| i - group.first)
            .collect();
        let owners = assign(parts.len() as u32, &live, group.assignment);
        let moves: Vec<(u32, Option<u32>, Option<u32>)> = parts
            .iter()
            .zip(&owners)
            .enumerate()
            .filter(|(_, (gp, new))| gp.owner != **new)
            .map(|(p, (gp, new))| (p as u32, gp.owner, *new))
            .collect();
        let first = group.first;
        for &(p, old, new) in &moves {
            if self.tracing() {
                self.trace_moved(g, p, old, new);
            }
            let old_live = old.is_some_and(|o| {
                let inst = &self.instances[(first + o) as usize];
                inst.up && inst.reachable
            });
            if old.is_some() && !old_live {
                // Taken from a silent member: its progress since the last commit is gone.
                self.reset_to_committed(g, p);
            }
            let commits = self.groups[g as usize].commits_after_processing();
            let group = &mut self.groups[g as usize];
            let Store::Log(parts) = &mut group.store else {
                unreachable!()
            };
            let done = parts[p as usize].done;
            parts[p as usize].owner = new;
            group.ranges.own(p, new);
            self.fetchable(g, p);
            if old_live && commits {
                self.commit_partition(g, p, done);
            }
        }
        for i in self.groups[g as usize].instances() {
            let local = i - first;
            let owned: Vec<u32> = (0..owners.len() as u32)
                .filter(|&p| owners[p as usize] == Some(local))
                .collect();
            let inst = &mut self.instances[i as usize];
            if inst.owned != owned {
                inst.ready.restart(&inst.owned, &owned);
                inst.owned = owned;
            }
        }
        self.keep_ranges(g);
        let pause = self.groups[g as usize].rebalance_pause;
        if !moves.is_empty() && !pause.is_zero() && self.now.0 > 0 {
            // Eager rebalancing stops every member while partitions move.
            self.groups[g as usize].paused_until = self.now + pause;
            self.queue
                .push(self.now + pause, Event::GroupResume { group: g });
        }
        if !moves.is_empty() && self.now.0 > 0 {
            let name = self.groups[g as usize].name.clone();
            let summary: Vec<String> = live
                .iter()
                .map(|&l| format!("{l}:{:?}", self.instances[(first + l) as usize].owned))
                .collect();
            self.note(
                LogKind::Rebalance,
                format!(
                    "{name}: rebalance, {} partition(s) moved; owners {}",
                    moves.len(),
                    summary.join(" ")
                ),
            );
        }
        for i in self.groups[g as usize].instances() {
            self.try_start(i);
        }
    }

    /// Runs the rebalances held back while several instances changed together.
    pub(super) fn release_rebalances(&mut self) {
        self.rebalance_held = false;
        for g in std::mem::take(&mut self.rebalance_due) {
            self.rebalance(g);
        }
    }

    /// Crashes instance `i`: the message in hand is abandoned, uncommitted work is
    /// replayed (at-least-once), rolled back (exactly-once) or already committed and so
    /// lost (at-most-once); its partitions go to the others.
    pub(super) fn crash_instance(&mut self, i: u32) {
        if self.tracing() {
            self.trace_instance_fault(i, false);
        }
        let inst = &mut self.instances[i as usize];
        if !inst.up {
            return;
        }
        inst.up = false;
        inst.epoch += 1;
        let work = inst.work.take();
        if let Some(w) = &work {
            inst.busy_ns += self.now.since(w.started).0;
        }
        self.leave_group(i, work, true);
    }

    /// A network partition cuts instance `i` off: the group gives up on it as on a
    /// crashed one, but it goes on with the message in hand (a zombie) whose outcome it
    /// cannot report.
    pub(super) fn isolate_instance(&mut self, i: u32) {
        if self.tracing() {
            self.trace_instance_fault(i, true);
        }
        let inst = &mut self.instances[i as usize];
        if !inst.reachable {
            return;
        }
        inst.reachable = false;
        if let Some(w) = inst.work.as_mut() {
            w.fenced = true;
        }
        let work = inst.work;
        self.leave_group(i, work, false);
    }

    /// The partition heals: the instance joins its group again.
    pub(super) fn heal_instance(&mut self, i: u32) {
        let inst = &mut self.instances[i as usize];
        if inst.reachable {
            return;
        }
        inst.reachable = true;
        // Healed within its session, the member simply carries on.
        inst.membership += 1;
        if inst.up {
            self.rejoin(i);
        }
    }

    fn leave_group(&mut self, i: u32, work: Option<Work>, lost_in_hand: bool) {
        let g = self.instances[i as usize].group;
        if let Some(w) = work {
            self.model_abandon(g, w, lost_in_hand);
        }
        let group = &self.groups[g as usize];
        if super::models::rebalances(group.kind) && !group.session_timeout.is_zero() {
            // The coordinator notices only when the session runs out; until then the
            // member's partitions stall.
            let inst = &mut self.instances[i as usize];
            inst.membership += 1;
            let at = self.now + group.session_timeout;
            let membership = inst.membership;
            self.queue.push(
                at,
                Event::SessionExpired {
                    instance: i,
                    membership,
                },
            );
            return;
        }
        self.expire_member(i, work);
    }

    /// A still-silent member's session ran out.
    pub(super) fn on_session_expired(&mut self, i: u32, membership: u32) {
        let inst = &self.instances[i as usize];
        if inst.membership == membership && !(inst.up && inst.reachable) {
            let name = format!("{}/{}", self.groups[inst.group as usize].name, inst.local);
            self.note(
                LogKind::Rebalance,
                format!("{name}: session expired, leaving its group"),
            );
            if self.tracing() {
                self.trace_session_expired(i);
            }
            self.expire_member(i, None);
        }
    }

    /// The group forgets a member: its partitions restart from their committed offsets
    /// elsewhere, its uncommitted acknowledgements are gone.
    fn expire_member(&mut self, i: u32, work: Option<Work>) {
        let g = self.instances[i as usize].group;
        let owned = std::mem::take(&mut self.instances[i as usize].owned);
        for p in owned {
            self.reset_to_committed(g, p);
        }
        let pending = std::mem::take(&mut self.instances[i as usize].pending);
        if self.groups[g as usize].delivery == Delivery::ExactlyOnce {
            for a in &pending {
                self.roll_back(g, a.msg);
                self.requeue_if_deleted(g, a.slot, a.msg);
            }
        }
        self.groups[g as usize].idle.retain(|&x| x != i);
        self.model_leave(i, work, &pending);
    }

    /// At-most-once copies a crashed instance held beyond the one in hand (taken, so
    /// deleted or acknowledged already): lost, and out of the system from now.
    pub(super) fn lost_with_instance(&mut self, g: u32, held: &[Work]) {
        let group = &mut self.groups[g as usize];
        if group.delivery != Delivery::AtMostOnce {
            return;
        }
        for w in held {
            if group.ledger.applied(w.msg.id) == 0 && group.ledger.finish(w.msg.id) {
                group.metrics.lost_known += 1;
                if !group.ledger.entered(w.msg.id) {
                    continue;
                }
                let at = self.topics[group.topic as usize]
                    .flags
                    .exact(w.msg.id, w.msg.arrived);
                group.metrics.leave(self.now, at);
            }
        }
        if self.tracing() {
            self.trace_lost_held(g, held);
        }
    }

    /// The message in hand when its instance crashed (or was cut off): at-most-once took
    /// and committed it, so a crash loses it; what else happens to it is the model's
    /// (`Model::abandon`).
    pub(super) fn lost_in_crash(&mut self, g: u32, w: &Work, lost_in_hand: bool) {
        let group = &mut self.groups[g as usize];
        let taken_and_committed = group.delivery == Delivery::AtMostOnce;
        let unapplied = group.ledger.applied(w.msg.id) == 0;
        if lost_in_hand && taken_and_committed && unapplied {
            group.metrics.lost_known += 1;
            // Gone with the instance's memory: no longer waiting or in service.
            if group.ledger.finish(w.msg.id) && group.ledger.entered(w.msg.id) {
                let at = self.topics[group.topic as usize]
                    .flags
                    .exact(w.msg.id, w.msg.arrived);
                group.metrics.leave(self.now, at);
            }
            let text = format!(
                "{}: message {} lost in a crash (committed before processing)",
                group.name, w.msg.id
            );
            self.note(LogKind::Loss, text);
            if self.traced_copy(g, w.msg.id) {
                let why = "taken and committed before processing (at-most-once), then the instance crashed with it";
                self.trace_lost(g, why);
            }
        }
    }

    /// A partition whose owner crashed restarts from the committed offset.
    fn reset_to_committed(&mut self, g: u32, p: u32) {
        let group = &mut self.groups[g as usize];
        let exactly_once = group.delivery == Delivery::ExactlyOnce;
        let Store::Log(parts) = &mut group.store else {
            return;
        };
        let gp = parts[p as usize];
        if exactly_once && gp.done > gp.committed {
            let topic = group.topic;
            let msgs: Vec<crate::message::Msg> = self.topics[topic as usize].partitions[p as usize]
                .iter_from(gp.committed)
                .take((gp.done - gp.committed) as usize)
                .copied()
                .collect();
            for m in msgs {
                self.roll_back(g, m);
            }
        }
        let group = &mut self.groups[g as usize];
        group.ranges.own(p, None);
        let Store::Log(parts) = &mut group.store else {
            unreachable!()
        };
        let gp = &mut parts[p as usize];
        gp.position = gp.committed;
        gp.done = gp.done.min(gp.committed);
        gp.owner = None;
        if let Some(local) = gp.worker.take() {
            // A live member still finishing a message of this partition (it handed the
            // partition over, and the new owner failed): its completion is fenced, as
            // Kafka fences a commit from an old generation, or it would commit past the
            // reset position.
            let i = (self.groups[g as usize].first + local) as usize;
            if let Some(w) = self.instances[i].work.as_mut().filter(|w| w.partition == p) {
                w.fenced = true;
            }
        }
    }

    /// Undoes an uncommitted side effect (an aborted transaction).
    pub(super) fn roll_back(&mut self, g: u32, m: crate::message::Msg) {
        let group = &mut self.groups[g as usize];
        let before = group.ledger.applied(m.id);
        // A committed effect is durable; a redelivery the idempotency store skipped
        // applied nothing of its own to undo.
        if before == 0 || group.ledger.committed(m.id) {
            return;
        }
        let group = &mut self.groups[g as usize];
        if group.ledger.unapply(m.id) == 0 {
            if self.is_stage(g) {
                // The transaction's outputs abort with it (an application that stands, a
                // twin's, keeps them).
                self.stage_aborted(g, m.id);
            }
            let group = &mut self.groups[g as usize];
            group.metrics.processed -= 1;
            group.ledger.unsample(m.id);
            if self.pipeline.on {
                self.end_to_end_undone(g, &m);
            }
            let group = &mut self.groups[g as usize];
            group.metrics.rolled_back_samples += 1;
            if group.ledger.dropped(m.id) {
                group.metrics.dropped += 1;
            }
            // The key's high-water mark goes back with the rolled-back application, so the
            // replay is not mistaken for reordering.
            if let Some(high) = group.order.get_mut(m.key) {
                *high = (*high).min(m.seq);
            }
            self.resequence_rolled_back(g, m);
        } else if before == 2 {
            group.metrics.duplicated -= 1;
        }
        if self.traced_copy(g, m.id) {
            self.trace_rolled_back(g);
        }
    }

    /// Exactly-once on a queue: a rolled-back message that someone else deleted in the
    /// meantime is put back, as the transaction would have kept it.
    fn requeue_if_deleted(&mut self, g: u32, slot: u32, msg: crate::message::Msg) {
        let group = &mut self.groups[g as usize];
        let Store::Queue(q) = &mut group.store else {
            return;
        };
        let s = q.slot(slot);
        if s.live && s.msg.id == msg.id {
            return;
        }
        q.send(msg);
        group.lag = q.len();
        if let Some(i) = group.idle.pop() {
            self.try_start(i);
        }
    }

    /// Brings a crashed instance back.
    pub(super) fn restart_instance(&mut self, i: u32) {
        if self.instances[i as usize].up || self.subscriber_waits(i) {
            return;
        }
        let inst = &mut self.instances[i as usize];
        inst.up = true;
        // A restarted process is a new member: whatever its old session still held
        // restarts from the committed offsets.
        inst.membership += 1;
        if !inst.owned.is_empty() {
            self.expire_member(i, None);
        }
        if self.instances[i as usize].reachable {
            self.rejoin(i);
        }
    }

    fn rejoin(&mut self, i: u32) {
        self.model_rejoin(i);
    }
}
