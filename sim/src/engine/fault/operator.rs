//! Operator actions during an incident, as scenario events: `replay` resets a log
//! group's committed offsets back (Kafka's `kafka-consumer-groups --reset-offsets`),
//! `redrive` moves a queue group's dead letters back to its queue (SQS DLQ redrive).

use super::super::Engine;
use crate::consumer::Store;
use crate::scenario::ReplayTo;
use crate::snapshot::LogKind;

impl Engine {
    /// Resets group `g`'s committed offsets back, as fault `f` says. Kafka resets only an
    /// inactive group, so the members stop first: each commits what it has processed (a
    /// graceful close) and what one still has in hand finishes fenced (applied, never
    /// committed). Then every partition restarts from its new offset; an offset is only
    /// ever moved back, never past what was committed.
    pub(in crate::engine) fn replay(&mut self, g: u32, f: u32) {
        let cfg = &self.faults[f as usize].cfg;
        let to = cfg.to.as_ref().map_or(ReplayTo::Earliest, |t| *t.get_ref());
        let back = cfg.shift_by.as_ref().map(|n| *n.get_ref());
        let Store::Log(parts) = &self.groups[g as usize].store else {
            return;
        };
        let n = parts.len() as u32;
        if self.groups[g as usize].commits_after_processing() {
            for p in 0..n {
                let Store::Log(parts) = &self.groups[g as usize].store else {
                    unreachable!()
                };
                let done = parts[p as usize].done;
                self.commit_partition(g, p, done);
            }
        }
        let t = self.groups[g as usize].topic as usize;
        let mut moved = 0;
        for p in 0..n {
            let part = &self.topics[t].partitions[p as usize];
            let group = &mut self.groups[g as usize];
            let Store::Log(parts) = &mut group.store else {
                unreachable!()
            };
            let gp = &mut parts[p as usize];
            let target = match (back, to) {
                (Some(k), _) => gp.committed.saturating_sub(k),
                (None, ReplayTo::Earliest) => part.base(),
                (None, ReplayTo::Time(at)) => {
                    let at = crate::time::SimTime::ZERO + at;
                    let later = part.iter_from(part.base()).position(|m| m.arrived >= at);
                    later.map_or(part.end, |k| part.base() + k as u64)
                }
            };
            let target = target.max(part.base()).min(gp.committed);
            let ends = &mut self.idem.replay_end[g as usize];
            ends.resize(n as usize, 0);
            ends[p as usize] = ends[p as usize].max(gp.position);
            moved += gp.committed - target;
            (gp.committed, gp.done, gp.position) = (target, target, target);
            if let Some(local) = gp.worker.take() {
                let i = (group.first + local) as usize;
                if let Some(w) = self.instances[i].work.as_mut().filter(|w| w.partition == p) {
                    w.fenced = true;
                }
            }
        }
        self.groups[g as usize].lag_add(moved);
        // Every partition now has messages to read again: its owner's ready set says so.
        for p in 0..n {
            self.fetchable(g, p);
        }
        let name = self.groups[g as usize].name.clone();
        self.note(
            LogKind::Fault,
            format!("replay: {name}'s offsets reset back by {moved} messages"),
        );
        for i in self.groups[g as usize].instances() {
            self.try_start(i);
        }
    }

    /// Moves group `g`'s dead letters back to its queue, each as a new message with no
    /// receives: one whose failure has cleared is processed once, one still poisoned
    /// fails its way back to the dead-letter queue.
    pub(in crate::engine) fn redrive(&mut self, g: u32) {
        let dead = std::mem::take(&mut self.idem.dead[g as usize]);
        let group = &mut self.groups[g as usize];
        let mut back = 0u64;
        for m in dead {
            // A copy processed since (a resend's twin) is no dead letter any more.
            if !group.ledger.dead(m.id) || group.ledger.applied(m.id) > 0 {
                continue;
            }
            let Store::Queue(q) = &mut group.store else {
                return;
            };
            group.ledger.undead(m.id);
            group.metrics.dead_lettered -= 1;
            q.send(m);
            back += 1;
        }
        if let Store::Queue(q) = &group.store {
            group.lag = q.len();
            group.max_lag = group.max_lag.max(group.lag);
        }
        let name = group.name.clone();
        self.note(
            LogKind::Fault,
            format!("redrive: {back} dead letters of {name} back to its queue"),
        );
        if crate::engine::models::pushes(self.groups[g as usize].kind) {
            self.model_dispatch(g);
            return;
        }
        // Long-polling receives waiting on the queue are woken (as a send wakes them).
        let idle = std::mem::take(&mut self.groups[g as usize].idle);
        for i in idle {
            self.try_start(i);
        }
    }
}
