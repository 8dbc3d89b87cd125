//! The consume path: an idle instance fetches (log) or receives (queue) its next
//! message, serves it, fails and retries it or applies its side effect, then
//! acknowledges it according to the group's delivery variant.

use super::Engine;
use crate::consumer::{GroupKind, PendingAck, Store, Work};
use crate::event::Event;
use crate::message::Msg;
use crate::scenario::{Delivery, OnFailure};
use crate::snapshot::LogKind;
use crate::time::SimTime;

impl Engine {
    /// An instance that is up and idle takes its next message, if there is one.
    pub(super) fn try_start(&mut self, i: u32) {
        if !self.instances[i as usize].is_idle() {
            return;
        }
        let g = self.instances[i as usize].group;
        if self.now < self.groups[g as usize].paused_until {
            return;
        }
        let mut taken = self.take_next(i);
        // A circuit breaker sets messages of an open type aside; take the next one.
        while self.protection.on
            && let Some(w) = taken.as_mut()
            && self.set_aside(i, w)
        {
            taken = self.take_next(i);
        }
        let Some(mut work) = taken else {
            self.receive_nothing(i);
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
        if first {
            group.metrics.record_wait(start.since(work.msg.arrived));
        }
        if self.traced_copy(g, work.msg.id) {
            self.trace_delivered(i, &work, first);
        }
        self.instances[i as usize].work = Some(work);
        self.begin_service(i, start);
    }

    fn take_next(&mut self, i: u32) -> Option<Work> {
        let group = &self.groups[self.instances[i as usize].group as usize];
        match group.kind {
            GroupKind::Log => self.fetch_log(i),
            GroupKind::Amqp => self.take_prefetched(i),
            GroupKind::Sqs if group.batch > 1 => self.take_prefetched(i),
            _ => self.receive_queue(i),
        }
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

    /// Log: the next message of the instance's partitions, round-robin (see `ready.rs`).
    fn fetch_log(&mut self, i: u32) -> Option<Work> {
        let p = self.next_fetch(i)?;
        let inst = &mut self.instances[i as usize];
        if inst.owned.len() != 1 {
            inst.ready.fetched(p);
        }
        let (g, local) = (inst.group, inst.local);
        let topic = self.groups[g as usize].topic;
        let Store::Log(parts) = &mut self.groups[g as usize].store else {
            unreachable!()
        };
        let gp = &mut parts[p as usize];
        let partition = &self.topics[topic as usize].partitions[p as usize];
        let offset = gp.position;
        let msg = partition
            .get(offset)
            .expect("uncommitted offsets are retained");
        gp.position += 1;
        gp.worker = Some(local);
        if self.groups[g as usize].delivery == Delivery::AtMostOnce {
            self.commit_partition(g, p, offset + 1);
        }
        Some(Work {
            msg,
            partition: p,
            offset,
            receipt: 0,
            attempt: 0,
            started: self.now,
            fenced: false,
            dedup: crate::dedup::Tag::default(),
        })
    }

    /// AMQP: the broker pushes queued messages round-robin to the consumers that hold
    /// fewer than `prefetch` unacknowledged ones (a slow consumer with a large prefetch
    /// hoards what a fast one could have taken).
    pub(super) fn amqp_dispatch(&mut self, g: u32) {
        let (first, count, prefetch) = {
            let group = &self.groups[g as usize];
            (group.first, group.count, group.prefetch as usize)
        };
        loop {
            let rr = self.groups[g as usize].rr;
            let chosen = (0..count).map(|k| (rr + k) % count).find(|&k| {
                let inst = &self.instances[(first + k) as usize];
                let unacked =
                    usize::from(inst.work.is_some()) + inst.prefetched.len() + inst.pending.len();
                inst.up && inst.reachable && unacked < prefetch
            });
            let Some(k) = chosen else { break };
            let i = first + k;
            let Some(w) = self.receive_queue(i) else {
                break;
            };
            self.groups[g as usize].rr = (k + 1) % count;
            self.instances[i as usize].prefetched.push_back(w);
            self.try_start(i);
        }
    }

    /// A receive found nothing: a long poll waits for a message (the consumer is woken
    /// when one comes), a short poll returns empty and polls again later.
    fn receive_nothing(&mut self, i: u32) {
        let g = self.instances[i as usize].group;
        let group = &mut self.groups[g as usize];
        if !matches!(group.store, Store::Queue(_)) {
            return;
        }
        if group.short_polling() {
            group.empty_receives += 1;
            let inst = &mut self.instances[i as usize];
            if !inst.polling {
                inst.polling = true;
                self.queue
                    .push(self.now + group.poll_interval, Event::Poll { instance: i });
            }
            return;
        }
        if !group.idle.contains(&i) {
            group.idle.push(i);
        }
        let inst = &mut self.instances[i as usize];
        inst.idle_since.get_or_insert(self.now);
    }

    /// Long polling: every `wait_time` a consumer waited in vain was one empty receive.
    pub(super) fn count_empty_receives(&mut self, i: u32) {
        let inst = &mut self.instances[i as usize];
        if let Some(since) = inst.idle_since.take() {
            let group = &mut self.groups[inst.group as usize];
            if group.kind == GroupKind::Sqs {
                group.empty_receives += self.now.since(since).0 / group.wait_time.0.max(1);
            }
        }
    }

    /// AMQP: the next message this consumer was sent; when it holds none, the broker
    /// sends it up to `prefetch` unacknowledged messages at once (basic.qos).
    fn take_prefetched(&mut self, i: u32) -> Option<Work> {
        if self.instances[i as usize].prefetched.is_empty() {
            let g = self.instances[i as usize].group;
            let inst = &self.instances[i as usize];
            let unacked = inst.pending.len() + usize::from(inst.work.is_some());
            let group = &self.groups[g as usize];
            // basic.qos: nothing more while `prefetch` deliveries are unacknowledged.
            let room = if group.kind == GroupKind::Sqs {
                group.batch as usize
            } else {
                (group.prefetch as usize).saturating_sub(unacked)
            };
            for _ in 0..room {
                let Some(w) = self.receive_queue(i) else {
                    break;
                };
                self.instances[i as usize].prefetched.push_back(w);
            }
        }
        self.instances[i as usize].prefetched.pop_front()
    }

    fn receive_queue(&mut self, i: u32) -> Option<Work> {
        let g = self.instances[i as usize].group;
        let (vt, max_receives) = (self.broker.visibility_timeout, self.broker.max_receives);
        loop {
            let group = &mut self.groups[g as usize];
            let (kind, topic) = (group.kind, group.topic);
            // Pub/sub hands the message over for good; so does an auto-ack consumer.
            let removed = kind == GroupKind::PubSub || group.delivery == Delivery::AtMostOnce;
            let Store::Queue(q) = &mut group.store else {
                unreachable!()
            };
            let slot = q.pop_visible()?;
            let s = q.slot(slot);
            if kind == GroupKind::Sqs && s.receives >= max_receives {
                // SQS redrive: received too often, moved to the dead-letter queue.
                q.remove(slot);
                group.lag = q.len();
                self.dead_letter(g, s.msg, "received max_receives times");
                self.unpark_soon(topic);
                continue;
            }
            let (receipt, arm) = if kind == GroupKind::Sqs {
                let receipt = q.receive(slot, self.now + vt);
                let arm = (!q.timer_armed).then(|| q.next_expiry()).flatten();
                q.timer_armed = true;
                (receipt, arm)
            } else {
                (q.receive_untimed(slot), None)
            };
            if removed {
                q.remove(slot);
                group.lag = q.len();
                self.unpark_soon(topic);
            } else if kind == GroupKind::Amqp {
                // Delivered and unacknowledged: no longer ready, so no longer counted
                // against the queue length limit.
                self.unpark_soon(topic);
            }
            if let Some(at) = arm {
                self.queue.push(at, Event::Visibility { group: g });
            }
            return Some(Work {
                msg: s.msg,
                partition: 0,
                offset: u64::from(slot),
                receipt,
                attempt: 0,
                started: self.now,
                fenced: false,
                dedup: crate::dedup::Tag::default(),
            });
        }
    }

    pub(super) fn on_service_done(&mut self, i: u32) {
        let inst = &mut self.instances[i as usize];
        let mut w = inst.work.expect("work in hand");
        inst.busy_ns += self.now.since(w.started).0;
        if self.dedup_done(i) {
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
        if self.resequence_holds(g, msg) {
            // Held by the group's resequencer: applied once its predecessors are through.
            if self.traced_copy(g, msg.id) {
                self.trace_held(g);
            }
            return Effect::Applied;
        }
        self.apply_copy(g, msg);
        self.resequence_applied(g, msg);
        Effect::Applied
    }

    /// Applies the side effect of group `g`'s copy: counts it processed, duplicated or
    /// out of order.
    #[inline]
    pub(super) fn apply_copy(&mut self, g: u32, msg: Msg) {
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
                if let Some(high) = group.order.get_mut(msg.key) {
                    if *high > msg.seq {
                        group.metrics.out_of_order += 1;
                        group.metrics.example_out_of_order(msg.id);
                    } else {
                        *high = msg.seq + 1;
                    }
                }
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
                    group.metrics.latency.saturating_record(latency);
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

    /// Acknowledges the message in hand (processed or dead-lettered), then takes the next.
    pub(super) fn complete(&mut self, i: u32, w: Work) {
        let inst = &mut self.instances[i as usize];
        inst.work = None;
        let (g, local) = (inst.group, inst.local);
        let group = &mut self.groups[g as usize];
        let (commits, per_message, topic) = (
            group.commits_after_processing(),
            group.commit_interval.is_zero(),
            group.topic,
        );
        match &mut group.store {
            Store::Log(parts) => {
                let gp = &mut parts[w.partition as usize];
                gp.worker = None;
                // An unclean election may have cut the log below what was in hand.
                let end = self.topics[group.topic as usize].partitions[w.partition as usize].end;
                gp.done = gp.done.max(w.offset + 1).min(end);
                let (done, owner) = (gp.done, gp.owner);
                let handed_over = owner != Some(local);
                // Its next message may be fetched now.
                self.fetchable(g, w.partition);
                if commits && (per_message || handed_over) {
                    self.commit_partition(g, w.partition, done);
                }
                if handed_over && let Some(o) = owner {
                    let first = self.groups[g as usize].first;
                    self.try_start(first + o);
                }
            }
            // Auto-acked (at-most-once): nothing left to acknowledge.
            Store::Queue(_) if !commits => {}
            Store::Queue(q) => {
                let slot = w.offset as u32;
                if per_message {
                    group.ledger.commit(w.msg.id);
                    q.delete(slot, w.receipt);
                    group.lag = q.len();
                    self.unpark_soon(topic);
                    if self.is_stage(g) {
                        self.stage_committed(g, w.msg.id);
                    }
                    if self.traced_copy(g, w.msg.id) {
                        self.trace_deleted(g, "acknowledged after processing");
                    }
                } else {
                    let ack = PendingAck {
                        slot,
                        receipt: w.receipt,
                        msg: w.msg,
                    };
                    self.instances[i as usize].pending.push(ack);
                }
            }
        }
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

    pub(super) fn on_visibility(&mut self, g: u32) {
        let group = &mut self.groups[g as usize];
        let Store::Queue(q) = &mut group.store else {
            return;
        };
        q.timer_armed = false;
        let visible = q.expire(self.now);
        if let Some(next) = q.next_expiry() {
            q.timer_armed = true;
            self.queue
                .push(next.max(self.now), Event::Visibility { group: g });
        }
        for _ in 0..visible {
            let Some(i) = self.groups[g as usize].idle.pop() else {
                break;
            };
            self.try_start(i);
        }
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
