//! The plain path: lean versions of the two handlers every message goes through (an
//! arrival: make, append, wake a consumer; a service's end: apply, settle, take the
//! next), for scenarios that use none of the features those handlers otherwise ask about
//! on every message. Chosen once, when the engine is built (`eligible`); the handlers work
//! on the same state as the generic ones and leave exactly what those leave (the same
//! draws from the same streams in the same order, the same events at the same times with
//! the same sequence numbers, the same figures), so the summary, series, ledgers, hash and
//! JSON are the generic path's by construction, and the tests compare them.
//!
//! What sends a scenario down the generic path, and why (each is a branch or a call per
//! message the lean handlers leave out):
//! - any fault (poison, crashes, slow instances, cut-off zombies, replays, network
//!   faults) and an instance or producer that can be down or unreachable;
//! - an asynchronous network (latency, loss, duplication, retries, claim-check payloads):
//!   requests then travel as events with timeouts;
//! - `acks = "all"`, replication, a flush interval: acknowledgements wait for the high
//!   watermark, appends start follower fetches;
//! - watermarks (`high_watermark`), `on_full = "spill"`: producers pause and resume;
//! - retention: an append may expire entries;
//! - SQS FIFO deduplication and idempotent producers: the broker checks each request;
//! - a group that joins late (`start_at`): appends move its offsets instead;
//! - exactly-once delivery, idempotent consumers, resequencers: the side effect is
//!   checked, held or marked;
//! - pub/sub subscribers: a publish goes to a bounded output buffer;
//! - services, outboxes, sagas, requesters, pipelines, priority classes, protection,
//!   payload sizes: each hooks into making, applying or settling a message;
//! - a traced message.
//!
//! `capacity` with `on_full = "block"`, `"reject"` or `"drop-oldest"` stays plain: an
//! append goes the generic way only while some group of the topic lags `capacity` or
//! more (its lag bounds the backlog `is_full` counts), or something is parked or blocked.
//! A live fault injection or a trace turns the plain path off for the rest of the run;
//! its state is the generic path's, so the generic handlers simply carry on.
//!
//! `MQLAB_GENERIC_PATH=1` in the environment (or [`Engine::force_generic`]) forces the
//! generic path, for the tests that compare the two.

use super::Engine;
use crate::consumer::{Store, Work};
use crate::event::Event;
use crate::message::Msg;
use crate::scenario::{Acks, Delivery, OnFull};

/// The environment variable that forces the generic path.
pub const FORCE_GENERIC_ENV: &str = "MQLAB_GENERIC_PATH";

impl Engine {
    /// Whether the scenario the engine was built from can take the plain path (see the
    /// module doc for what cannot).
    pub(super) fn plain_eligible(&self) -> bool {
        let sc = &self.scenario;
        let broker_plain = !self.net_async
            && self.faults.is_empty()
            && self.broker.acks != Acks::All
            && self.broker.high_watermark.is_none()
            && self.broker.on_full != OnFull::Spill
            && self.broker.flush_interval.is_zero();
        let topics_plain = self.topics.iter().all(|t| {
            t.retention.is_none()
                && !t.fifo
                && t.partitions
                    .iter()
                    .all(|p| p.replicas.replicas.len() <= 1 && p.replicas.leader.is_some())
        });
        let producers_plain = (0..self.producers.len() as u32).all(|p| {
            let prod = &self.producers[p as usize];
            !prod.idempotent && prod.poison.is_empty() && prod.up && !self.is_service(p)
        });
        let groups_plain = (0..self.groups.len()).all(|g| {
            let group = &self.groups[g];
            group.joined
                && group.delivery != Delivery::ExactlyOnce
                && group.reseq.is_none()
                && !self.dedup_active(g as u32)
                && !super::models::to_subscriber(group.kind)
        });
        let patterns_plain = !self.pipeline.on
            && !self.pipeline.roles_on
            && self.requesters.is_empty()
            && sc.sagas.is_empty()
            && !self.protection.on
            && self.payload.is_none()
            && self.classes.is_empty()
            && sc.faults.is_empty();
        broker_plain
            && topics_plain
            && producers_plain
            && groups_plain
            && patterns_plain
            && self.unjoined == 0
            && !self.tracing()
            && std::env::var_os(FORCE_GENERIC_ENV).is_none_or(|v| v.is_empty() || v == "0")
    }

    /// Forces the generic handlers from now on (tests compare the two paths).
    #[doc(hidden)]
    pub fn force_generic(&mut self) {
        self.plain = false;
    }

    /// Whether the plain path is in use (tests check that it is where they expect).
    #[doc(hidden)]
    #[must_use]
    pub fn plain_path(&self) -> bool {
        self.plain
    }

    /// `on_arrival` on the plain path: a message made and sent over an instant network.
    pub(super) fn plain_arrival(&mut self, p: u32) {
        let prod = &mut self.producers[p as usize];
        let (key, seq) = prod.next_key();
        let partition = prod.partition_for(key);
        let route = prod.next_route();
        let id = self.register_message(p, route);
        self.produced += 1;
        self.bytes += self.producers[p as usize].payload_bytes;
        self.series.produced();
        let msg = Msg {
            id,
            key,
            seq,
            producer: p as u16,
            poison: false,
            route,
            born: self.now,
            arrived: self.now,
        };
        let t = self.producers[p as usize].topic;
        if self.broker.acks == Acks::None {
            self.ack_to_producer(p, id, msg.born);
        }
        if self.plain_room(t, &msg) {
            self.plain_append(t, msg, partition);
            if self.broker.acks != Acks::None {
                self.ack_to_producer(p, id, msg.born);
            }
        } else {
            // Maybe full, or requests are parked: the broker's full rules decide.
            self.reach_broker(p, msg, partition);
        }
        self.schedule_arrival(p);
    }

    /// Nothing is parked or blocked and no group of topic `t` lags `capacity`: the
    /// append goes in (a group's lag is at least the backlog `is_full` counts for it).
    #[inline]
    fn plain_room(&self, t: u32, msg: &Msg) -> bool {
        let topic = &self.topics[t as usize];
        let limit = self.broker.capacity;
        let _ = msg;
        topic.parked.is_empty()
            && topic.blocked.is_none()
            && topic
                .groups
                .iter()
                .all(|&g| self.groups[g as usize].lag < limit)
    }

    /// `append` on the plain path: a first append, to groups that have all joined.
    #[inline]
    fn plain_append(&mut self, t: u32, msg: Msg, partition: u32) {
        let topic = &mut self.topics[t as usize];
        let first = topic.flags.accept(msg.id);
        debug_assert!(first, "the plain path appends every message once");
        let logged = if let Some(part) = topic.partitions.get_mut(partition as usize) {
            part.append(msg);
            let end = part.end;
            // A lone replica: the leader's log is flushed as written and is the high
            // watermark.
            part.replicas.leader_appended(end);
            part.replicas.flush(&self.nodes_up);
            let hw = part.replicas.high_watermark().min(end);
            for &g in &topic.groups {
                self.groups[g as usize].lag += 1;
            }
            if hw > part.hw {
                part.hw = hw;
                self.fetchable_everywhere(t, partition);
            }
            true
        } else {
            false
        };
        let (p, r) = (msg.producer as usize, msg.route as usize);
        for k in 0..self.producers[p].routes[r].len() {
            let g = self.producers[p].routes[r][k];
            let group = &mut self.groups[g as usize];
            if !group.ledger.finished(msg.id) && group.ledger.enter(msg.id) {
                group.metrics.enter(self.now);
            }
            let wake = match &mut group.store {
                Store::Log(parts) => {
                    group.max_lag = group.max_lag.max(group.lag);
                    parts[partition as usize]
                        .owner
                        .map(|local| group.first + local)
                }
                Store::Queue(q) => {
                    group.lag += 1;
                    group.max_lag = group.max_lag.max(group.lag);
                    q.send(msg);
                    q.hold_bytes(0);
                    if super::models::pushes(group.kind) {
                        self.model_dispatch(g);
                        continue;
                    }
                    group.idle.pop()
                }
            };
            if let Some(i) = wake {
                self.plain_try_start(i);
            }
        }
        if logged && self.topics[t as usize].groups.is_empty() {
            self.trim(t, partition);
        }
    }

    /// `try_start` on the plain path.
    #[inline]
    fn plain_try_start(&mut self, i: u32) {
        if self.instances[i as usize].is_idle() {
            self.plain_take_next(i);
        }
    }

    /// `take_next` and `begin_service` on the plain path: no breaker, dedup store,
    /// claim check, network hop, slow window or trace.
    fn plain_take_next(&mut self, i: u32) {
        let g = self.instances[i as usize].group;
        if self.now < self.groups[g as usize].paused_until {
            return;
        }
        let Some(mut work) = self.model_take(i) else {
            self.model_idle(i);
            return;
        };
        self.dedup_take(i, &mut work);
        self.count_empty_receives(i);
        let start = self.now.max(work.msg.arrived);
        self.delivered += 1;
        let group = &mut self.groups[g as usize];
        if group.ledger.deliver(work.msg.id) {
            group.metrics.record_wait(start.since(work.msg.arrived));
        }
        let inst = &mut self.instances[i as usize];
        let service = group.service.sample(&mut inst.rng);
        work.started = start;
        inst.work = Some(work);
        let epoch = inst.epoch;
        self.queue
            .push(start + service, Event::ServiceDone { instance: i, epoch });
    }

    /// `on_service_done` on the plain path: nothing fails, so the effect is applied and
    /// the message settled.
    pub(super) fn plain_service_done(&mut self, i: u32) {
        let inst = &mut self.instances[i as usize];
        let w = inst.work.expect("work in hand");
        inst.busy_ns += self.now.since(w.started).0;
        inst.processed += 1;
        let g = inst.group;
        // Notes the message for a duplicate's cause, as the generic path does; nothing
        // else of the dedup steps runs without a store.
        let settled = self.dedup_done(i, &w);
        debug_assert!(!settled, "no dedup step on the plain path");
        self.plain_apply(g, w.msg);
        self.plain_complete(i, w);
    }

    /// `apply_copy` on the plain path: a first application is counted here; anything
    /// else (a second one, after a drop or a dead letter) the generic way.
    #[inline]
    fn plain_apply(&mut self, g: u32, msg: Msg) {
        let group = &mut self.groups[g as usize];
        if !group.ledger.fresh(msg.id) {
            self.apply_copy(g, msg);
            return;
        }
        group.ledger.apply(msg.id);
        group.metrics.processed += 1;
        if let Some(high) = group.order.get_mut(msg.key) {
            if *high > msg.seq {
                group.metrics.out_of_order += 1;
                group.metrics.example_out_of_order(msg.id);
            } else {
                *high = msg.seq + 1;
            }
        }
        if group.ledger.finish(msg.id) && group.ledger.entered(msg.id) {
            let at = self.topics[group.topic as usize]
                .flags
                .exact(msg.id, msg.arrived);
            group.metrics.leave(self.now, at);
        }
        if group.ledger.sample(msg.id) {
            self.series.processed();
            let latency = self.now.since(msg.born).0.max(1);
            group.metrics.latency.saturating_record(latency);
            group.metrics.record_sojourn(self.now.since(msg.arrived));
        }
    }

    /// `complete` on the plain path.
    #[inline]
    fn plain_complete(&mut self, i: u32, w: Work) {
        self.instances[i as usize].work = None;
        self.model_settle(i, w);
        self.plain_try_start(i);
    }
}

#[cfg(test)]
mod tests;
