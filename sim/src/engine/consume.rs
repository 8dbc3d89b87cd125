//! The consume path: an idle instance takes its next message from its broker model
//! (`models/`), serves it, fails and retries it or applies its side effect, then has
//! the model acknowledge it according to the group's delivery variant.

use super::Engine;
use crate::consumer::{Store, Work};
use crate::event::Event;
use crate::message::Msg;
use crate::scenario::{Delivery, OnFailure};
use crate::snapshot::LogKind;
use crate::time::{SimDuration, SimTime};

impl Engine {
    /// An instance that is up and idle takes its next message, if there is one. Inlined
    /// test: most calls (an append waking the owner of its partition, every completion's
    /// next fetch under load) find the instance busy, and then cost no call.
    #[inline]
    pub(super) fn try_start(&mut self, i: u32) {
        let inst = &self.instances[i as usize];
        if inst.is_idle() {
            if self.plain {
                // The lean take (`plain.rs`), for every caller: a model pushing or a
                // lease running out starts a service as the plain path would.
                self.plain_take_next::<false>(i);
            } else if inst.lean {
                // The same on the generic path, for a group the lean handlers serve
                // (`plain/lean.rs`): the fetch's hop is drawn.
                self.plain_take_next::<true>(i);
            } else {
                self.take_next(i);
            }
        }
    }

    /// `try_start` for an instance known to be up and idle.
    fn take_next(&mut self, i: u32) {
        let g = self.instances[i as usize].group;
        if self.now < self.groups[g as usize].paused_until {
            return;
        }
        let mut taken = self.model_take(i);
        // A circuit breaker sets messages of an open type aside; take the next one.
        while self.protection.on
            && let Some(w) = taken.as_mut()
            && self.set_aside(i, w)
        {
            taken = self.model_take(i);
        }
        let Some(mut work) = taken else {
            self.model_idle(i);
            if self.connection_dead(i) {
                self.subscriber_notices(i);
            }
            return;
        };
        self.dedup_take(i, &mut work);
        self.count_empty_receives(i);
        // Consumers fetch ahead, so the hop from the broker overlaps earlier work: it
        // delays a message only past its arrival, never serially after the last one.
        let hop = self.hop();
        let start = self.now.max(work.msg.arrived + hop);
        self.delivered += 1;
        let group = &mut self.groups[g as usize];
        let first = group.ledger.deliver(work.msg.id);
        self.instances[i as usize].wait = start.since(work.msg.arrived);
        if self.traced_copy(g, work.msg.id) {
            self.trace_delivered(i, &work, first);
        }
        self.instances[i as usize].work = Some(work);
        self.begin_service(i, start);
    }

    /// Serves the message in hand from `at` on.
    fn begin_service(&mut self, i: u32, at: SimTime) {
        // An idempotent consumer's check (or claim) first; a mark found ends it there.
        let (check, serve) = self.dedup_before(i);
        if !serve {
            let inst = &mut self.instances[i as usize];
            inst.work.as_mut().expect("work in hand").started = at;
            let epoch = inst.epoch;
            self.queue
                .push(at + check, Event::ServiceDone { instance: i, epoch });
            return;
        }
        let fetch = self.claim_get(i) + check;
        let inst = &mut self.instances[i as usize];
        let service = self.groups[inst.group as usize]
            .service
            .sample(&mut inst.rng);
        let service = if inst.slow == 1.0 {
            service
        } else {
            service.mul_f64(inst.slow)
        };
        // Claim check: the payload is fetched from the store first.
        let service = service + fetch;
        let work = inst.work.as_mut().expect("work in hand");
        work.started = at;
        let (id, g, epoch) = (work.msg.id, inst.group, inst.epoch);
        let done = if self.protection.on {
            self.attempt_end(i, at, service)
        } else {
            Some(at + service)
        };
        if self.traced_copy(g, id) {
            self.trace_started(i, at, done);
        }
        if let Some(done) = done {
            self.queue
                .push(done, Event::ServiceDone { instance: i, epoch });
        }
    }

    /// A retry's backoff ended: serve the same message again (unless its type's breaker
    /// opened meanwhile: then it is set aside and the instance takes the next).
    pub(super) fn start_service(&mut self, i: u32) {
        if self.protection.on && self.park_in_hand(i) {
            self.try_start(i);
            return;
        }
        self.begin_service(i, self.now);
    }

    pub(super) fn on_service_done(&mut self, i: u32) {
        let inst = &mut self.instances[i as usize];
        let mut w = inst.work.expect("work in hand");
        inst.busy_ns += self.now.since(w.started).0;
        if self.dedup_done(i, &w) {
            return;
        }
        if w.fenced {
            // A zombie: the side effect happens unless a fenced transaction stops it, but
            // nothing reaches the broker.
            let inst = &mut self.instances[i as usize];
            inst.work = None;
            let g = inst.group;
            if self.traced_copy(g, w.msg.id) {
                self.trace_zombie_done(i);
            }
            let delivery = self.groups[g as usize].delivery;
            if !w.msg.poison && delivery != Delivery::ExactlyOnce {
                self.apply_effect(i, w.msg);
            } else if delivery == Delivery::AtMostOnce {
                // Its attempt failed, and at-most-once committed it when taken: gone.
                self.lost_with_instance(g, &[w]);
            } else if let Store::Log(parts) = &self.groups[g as usize].store
                && parts[w.partition as usize].committed > w.offset
                && self.groups[g as usize].ledger.applied(w.msg.id) == 0
            {
                // Retention deleted it while the zombie held it: no replay brings it back.
                self.drop_copy(g, w.msg.id, Some(w.msg.arrived), "retention");
            }
            self.try_start(i);
            return;
        }
        let failed = if self.protection.on {
            self.attempt_failed(i, &w)
        } else {
            w.msg.poison
        };
        if self.traced_copy(self.instances[i as usize].group, w.msg.id) {
            self.trace_ended(i, &w, failed);
        }
        if !failed {
            if self.apply_effect(i, w.msg) == Effect::Conflict {
                // Another instance's open transaction holds this message's effect: leave
                // the message to its visibility timeout and take the next one.
                self.instances[i as usize].work = None;
                self.try_start(i);
            } else if !self.dedup_mark(i, w) {
                self.complete(i, w);
            }
            return;
        }
        let inst = &mut self.instances[i as usize];
        let group = &self.groups[inst.group as usize];
        if w.attempt < group.max_retries {
            let delay = group.backoff.mul_f64(2f64.powi(w.attempt.min(30) as i32));
            w.attempt += 1;
            inst.work = Some(w);
            let epoch = inst.epoch;
            self.queue
                .push(self.now + delay, Event::RetryReady { instance: i, epoch });
            return;
        }
        let g = inst.group;
        if self.quarantine(i, &w) {
            self.complete(i, w);
            return;
        }
        let group = &self.groups[g as usize];
        // An auto-acked (at-most-once) queue message is already gone from the queue.
        let still_queued =
            matches!(group.store, Store::Queue(_)) && group.delivery != Delivery::AtMostOnce;
        match group.on_failure {
            OnFailure::Wait if still_queued => {
                // Left undeleted: it comes back after the visibility timeout, and the queue
                // dead-letters it once it has been received max_receives times.
                self.instances[i as usize].work = None;
                self.try_start(i);
            }
            OnFailure::Requeue if still_queued => {
                // nack with requeue / ChangeMessageVisibility(0): straight back to the head.
                self.instances[i as usize].work = None;
                let group = &mut self.groups[g as usize];
                let Store::Queue(q) = &mut group.store else {
                    unreachable!()
                };
                q.requeue(w.offset as u32, w.receipt);
                if let Some(idle) = group.idle.pop() {
                    self.try_start(idle);
                }
                self.try_start(i);
            }
            _ => {
                self.dead_letter(g, w.msg, "failed after retries");
                self.complete(i, w);
            }
        }
    }

    /// The side effect, as the delivery variant allows it.
    fn apply_effect(&mut self, i: u32, msg: Msg) -> Effect {
        let g = self.instances[i as usize].group;
        if self.pipeline.roles_on && self.reply_dropped(g, &msg) {
            return Effect::Applied;
        }
        let group = &mut self.groups[g as usize];
        if group.delivery == Delivery::ExactlyOnce && group.ledger.applied(msg.id) > 0 {
            // The idempotency store has it. On a log the earlier application is committed
            // or in this partition's own open transaction; on a queue it may be another
            // instance's open transaction, which a unique key makes this one wait out.
            let own_or_committed =
                matches!(group.store, Store::Log(_)) || group.ledger.committed(msg.id);
            if self.traced_copy(g, msg.id) {
                self.trace_skipped(i, !own_or_committed);
            }
            return if own_or_committed {
                Effect::Duplicate
            } else {
                Effect::Conflict
            };
        }
        self.instances[i as usize].processed += 1;
        let wait = self.instances[i as usize].wait;
        if self.resequence_holds(g, msg, wait) {
            // Held by the group's resequencer: applied once its predecessors are through.
            if self.traced_copy(g, msg.id) {
                self.trace_held(g);
            }
            return Effect::Applied;
        }
        self.apply_copy(g, msg, wait);
        self.resequence_applied(g, msg);
        Effect::Applied
    }

    /// Applies the side effect of group `g`'s copy: counts it processed, duplicated or
    /// out of order. `wait` is the applying delivery's (`Instance::wait`), sampled with
    /// the sojourn.
    #[inline]
    pub(super) fn apply_copy(&mut self, g: u32, msg: Msg, wait: SimDuration) {
        let group = &mut self.groups[g as usize];
        match group.ledger.apply(msg.id) {
            1 => {
                group.metrics.processed += 1;
                let was_dropped = group.ledger.dropped(msg.id);
                if was_dropped {
                    // Processed wins: the drop is taken back (another entry of the same
                    // message was discarded, or its producer gave up on a send that
                    // landed after all).
                    group.metrics.dropped -= 1;
                    group.ledger.undrop(msg.id);
                }
                let was_dead = group.ledger.dead(msg.id);
                if was_dead {
                    // Likewise an entry of it dead-lettered before (a resend's twin).
                    group.metrics.dead_lettered -= 1;
                    group.ledger.undead(msg.id);
                }
                group.note_order(&msg);
                // A copy cut from the log while in a consumer's hands had left already.
                if group.ledger.finish(msg.id) && group.ledger.entered(msg.id) {
                    let at = self.topics[group.topic as usize]
                        .flags
                        .exact(msg.id, msg.arrived);
                    group.metrics.leave(self.now, at);
                }
                // Counted once per copy: a replay after a rolled-back transaction is not
                // new throughput. A copy that left the system another way first (a twin
                // entry dropped, dead-lettered or lost) is still processed for the first
                // time now.
                if group.ledger.sample(msg.id) {
                    self.series.processed();
                    let latency = self.now.since(msg.born).0.max(1);
                    group.metrics.latency.record(latency);
                    group.metrics.record_wait(wait);
                    group.metrics.record_sojourn(self.now.since(msg.arrived));
                    self.record_class(msg.producer, latency);
                    self.record_type(msg.producer, latency);
                    if self.pipeline.on {
                        self.record_end_to_end(g, &msg);
                    }
                    self.record_window(g, msg.born, latency);
                }
            }
            2 => {
                group.metrics.duplicated += 1;
                self.attribute_duplicate(g, msg);
            }
            _ => {}
        }
        if self.is_stage(g) {
            self.served(g, msg);
        }
        if self.traced_copy(g, msg.id) {
            self.trace_applied(g, &msg);
        }
        if self.pipeline.roles_on {
            self.role_applied(g, &msg);
        }
    }

    /// Acknowledges the message in hand (processed or dead-lettered), as its broker model
    /// does, then takes the next.
    pub(super) fn complete(&mut self, i: u32, w: Work) {
        self.instances[i as usize].work = None;
        self.model_settle(i, w);
        self.try_start(i);
    }

    /// Moves a copy to the dead-letter queue (once).
    pub(super) fn dead_letter(&mut self, g: u32, msg: Msg, why: &str) {
        let group = &mut self.groups[g as usize];
        if !group.ledger.dead_letter(msg.id) {
            return;
        }
        group.metrics.dead_lettered += 1;
        self.keep_dead_letter(g, msg, why);
        let group = &mut self.groups[g as usize];
        if group.ledger.dropped(msg.id) {
            // Dead-lettered wins over dropped, as in the census.
            group.metrics.dropped -= 1;
            group.ledger.undrop(msg.id);
        }
        if group.ledger.finish(msg.id) && group.ledger.entered(msg.id) {
            let at = self.topics[group.topic as usize]
                .flags
                .exact(msg.id, msg.arrived);
            group.metrics.leave(self.now, at);
        }
        let text = format!(
            "{}: message {} of `{}` dead-lettered ({why})",
            group.name, msg.id, self.producers[msg.producer as usize].name
        );
        self.note(LogKind::DeadLetter, text);
        if self.traced_copy(g, msg.id) {
            self.trace_dead_lettered(g, why);
        }
        self.resequence_gone(g, msg);
    }
}

/// What applying a side effect did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// Applied (maybe again, for the variants that allow it).
    Applied,
    /// Skipped: the idempotency store already has it.
    Duplicate,
    /// Skipped: another open transaction holds it.
    Conflict,
}
