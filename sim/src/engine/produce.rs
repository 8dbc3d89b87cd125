//! The produce path: arrivals at producers, requests over the network, the broker
//! appending, parking (`block`), rejecting or making room, and acknowledgements back at
//! the producer. Request timeouts and retries, the producer's window of requests, the
//! sequences an idempotent producer's broker checks and a producer crash are in
//! `requests.rs`.

use super::models;
use super::requests::Refusal;
use super::{Engine, Parked};
use crate::consumer::Store;
use crate::event::Event;
use crate::message::Msg;
use crate::producer::Inflight;
use crate::scenario::{Acks, BrokerModel, OnFull, Overflow};
use crate::snapshot::LogKind;
use crate::time::SimTime;
use rand::RngExt;

/// What the broker did with a produce request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Appended,
    Parked,
    Rejected,
    /// Accepted into the spill storage (`on_full = "spill"`).
    Spilled,
    /// `drop-oldest` on a log whose oldest message a consumer holds: the new one goes.
    Discarded,
}

impl Engine {
    pub(super) fn start_producer(&mut self, p: u32) {
        let prod = &mut self.producers[p as usize];
        if prod.is_bursty() {
            prod.on_until = SimTime::ZERO + prod.burst_period(true);
        }
        self.schedule_arrival(p);
    }

    /// Always inlined: every arrival schedules the next, and the call cost the plain
    /// path as much as the push.
    #[inline(always)]
    pub(super) fn schedule_arrival(&mut self, p: u32) {
        let prod = &mut self.producers[p as usize];
        let at = self.now + prod.next_gap();
        if prod.is_bursty() && at > prod.on_until {
            if prod.on_until < self.stop {
                self.queue
                    .push(prod.on_until, Event::BurstToggle { producer: p });
            }
        } else if at < self.stop {
            self.queue.push(at, Event::Arrival { producer: p });
        }
    }

    pub(super) fn on_burst_toggle(&mut self, p: u32) {
        let prod = &mut self.producers[p as usize];
        if prod.bursting {
            prod.bursting = false;
            let at = self.now + prod.burst_period(false);
            if at < self.stop {
                self.queue.push(at, Event::BurstToggle { producer: p });
            }
        } else {
            prod.bursting = true;
            prod.on_until = self.now + prod.burst_period(true);
            self.schedule_arrival(p);
        }
    }

    /// A message's intended send time. While the producer is crashed nothing is
    /// produced, but the arrival process keeps its pace.
    pub(super) fn on_arrival(&mut self, p: u32) {
        if self.is_service(p) {
            self.begin_transaction(p);
        } else if self.producers[p as usize].up {
            self.create_message(p);
        }
        self.schedule_arrival(p);
    }

    fn create_message(&mut self, p: u32) {
        let (msg, partition) = self.make_message(p, self.now);
        if self.window_full(p) {
            self.hold_back(p, msg, partition);
        } else {
            self.send_message(p, msg, partition);
        }
    }

    /// A new message of producer `p`, intended at `born`, with its copies in the
    /// ledgers; nothing is sent yet.
    pub(super) fn make_message(&mut self, p: u32, born: SimTime) -> (Msg, u32) {
        let (poison, hang) = self.draw_poison(p);
        let prod = &mut self.producers[p as usize];
        let (key, seq) = prod.next_key();
        let partition = prod.partition_for(key);
        let route = prod.next_route();
        let id = self.register_message(p, route);
        if self.pipeline.on {
            let t = self.producers[p as usize].topic;
            self.lineage_root(t, p, born);
        }
        self.produced += 1;
        self.bytes += self.payload_created(p, id);
        self.series.produced();
        if !self.requesters.is_empty() {
            self.request_sent(p, id);
        }
        let msg = Msg {
            id,
            key,
            seq,
            producer: p as u16,
            poison,
            route,
            born,
            arrived: self.now,
        };
        if hang {
            self.mark_hanging(p, id);
        }
        if self.traced(self.producers[p as usize].topic, id) {
            self.trace_created(p, &msg, partition);
        }
        (msg, partition)
    }

    /// A new message id of producer `p`'s topic, with a copy in the ledger of each
    /// group routing key `route` reaches (a placeholder in the others').
    #[inline(always)]
    pub(super) fn register_message(&mut self, p: u32, route: u8) -> u32 {
        let prod = &mut self.producers[p as usize];
        prod.produced += 1;
        let targets = &prod.routes[route as usize];
        let topic = &mut self.topics[prod.topic as usize];
        let id = topic.flags.push();
        for &g in &topic.groups {
            let group = &mut self.groups[g as usize];
            let receives = group.receives_now();
            let ledger = &mut group.ledger;
            // Not `contains`: on a slice of `u32` it is an unrolled search whose set-up
            // cost the plain path about 20 instructions a message for a route of one.
            #[allow(clippy::manual_contains)]
            let targeted = targets.iter().any(|&t| t == g);
            if receives && targeted {
                ledger.push();
            } else {
                ledger.push_unaddressed();
            }
        }
        if targets.is_empty() && topic.model != BrokerModel::Log {
            // No queue takes it (no binding matches, or nobody consumes the topic): the
            // broker discards it and there is no copy to account. A log keeps it anyway.
            self.unroutable += 1;
        }
        if topic.flags.fold_due(id) {
            let t = prod.topic;
            self.fold_topic(t, id);
        }
        id
    }

    /// Sends (or, for an outbox relay, sends again) a message to the broker.
    pub(super) fn send_message(&mut self, p: u32, msg: Msg, partition: u32) {
        let id = msg.id;
        if !self.net_async && self.traced_from(p, id) {
            self.trace_sent_direct(p);
        }
        if self.broker.acks == Acks::None {
            self.ack_to_producer(p, id, msg.born);
        }
        if !self.net_async {
            // The broker checks an idempotent producer's sequence on an instant network too.
            self.sequence(p, id, partition);
            self.reach_broker(p, msg, partition);
        } else {
            let prod = &mut self.producers[p as usize];
            prod.open += u32::from(self.broker.acks != Acks::None);
            prod.inflight.insert(
                id,
                Inflight {
                    msg,
                    partition,
                    attempt: 0,
                    in_transit: 0,
                    // Fire and forget expects no answer.
                    done: self.broker.acks == Acks::None,
                    refused: false,
                },
            );
            self.sequence(p, id, partition);
            self.send_request(p, id, 0);
        }
    }

    /// Whether the next message is poison, and whether it hangs (a `mode = "hang"` fault).
    fn draw_poison(&mut self, p: u32) -> (bool, bool) {
        let (mut poison, mut hang) = (false, false);
        for i in 0..self.producers[p as usize].poison.len() {
            let f = &mut self.faults[self.producers[p as usize].poison[i] as usize];
            let hit = if f.remaining > 0 {
                f.remaining -= 1;
                true
            } else if let Some(rate) = &f.cfg.rate {
                f.rng.random_bool(*rate.get_ref())
            } else {
                false
            };
            poison |= hit;
            hang |= hit
                && f.cfg
                    .mode
                    .as_ref()
                    .is_some_and(|m| *m.get_ref() == crate::scenario::FailMode::Hang);
        }
        (poison, hang)
    }

    /// Sends (or resends) a request over the network, with its timeout.
    pub(super) fn send_request(&mut self, p: u32, id: u32, attempt: u8) {
        let hop = self.hop() + self.claim_put(p, id, attempt);
        // Cut off, or lost on the way: only the timeout will tell the producer.
        let copies = if !self.producers[p as usize].reachable || self.net_chance(self.loss) {
            0
        } else if self.net_chance(self.duplicate) {
            2
        } else {
            1
        };
        let reach = (self.now + hop).max(self.producers[p as usize].link_out);
        // With a broker bandwidth the request is in only once ingested.
        let landed = if copies > 0 {
            self.ingest(p, id, reach)
        } else {
            reach
        };
        if self.traced_from(p, id) {
            self.trace_request(p, attempt, copies, landed);
        }
        let prod = &mut self.producers[p as usize];
        let req = prod.inflight.get_mut(&id).expect("request in flight");
        req.in_transit += copies;
        req.attempt = attempt;
        req.refused = false;
        let timeout = prod.request_timeout;
        if copies > 0 {
            prod.link_out = reach;
        }
        for _ in 0..copies {
            self.queue.push(
                landed,
                Event::ProduceReach {
                    producer: p,
                    msg: id,
                    attempt,
                },
            );
        }
        if self.broker.acks != Acks::None {
            self.queue.push(
                self.now + timeout,
                Event::ProduceTimeout {
                    producer: p,
                    msg: id,
                    attempt,
                },
            );
        }
    }

    pub(super) fn on_produce_reach(&mut self, p: u32, id: u32) {
        let prod = &mut self.producers[p as usize];
        let req = prod.inflight.get_mut(&id).expect("request in flight");
        req.in_transit -= 1;
        if !self.topics[prod.topic as usize].flags.accepted(id) {
            // Until the broker holds it, each attempt may be the one that arrives; after,
            // a resend carries the first arrival, when the copy entered the system.
            req.msg.arrived = self.now;
        }
        let (msg, partition) = (req.msg, req.partition);
        self.forget_if_settled(p, id);
        self.reach_broker(p, msg, partition);
    }

    /// The broker handles a produce request.
    pub(super) fn reach_broker(&mut self, p: u32, msg: Msg, partition: u32) {
        let t = self.producers[p as usize].topic;
        if !self.can_write(t, partition) {
            let why = match self.topics[t as usize].partitions.get(partition as usize) {
                Some(part) if part.replicas.leader.is_none() => Refusal::Leaderless,
                Some(_) => Refusal::ShortIsr,
                // Not a log: its server is down, and refuses it at once (the connection is
                // gone); cut off, the request never reaches it, and only the timeout tells
                // the producer.
                None if self.server_out.as_ref().is_some_and(|o| o.crashed) => Refusal::ServerDown,
                None => return,
            };
            self.refuse(p, msg.id, partition, why);
            return;
        }
        if !self.in_sequence(p, msg.id, partition) {
            self.refuse(p, msg.id, partition, Refusal::OutOfSequence);
            return;
        }
        let spilling = self.broker.on_full == OnFull::Spill;
        let outcome = if spilling && !self.topics[t as usize].parked.is_empty() {
            // Behind what is already spilled, so that the queue stays in order.
            Outcome::Spilled
        } else if !self.topics[t as usize].parked.is_empty() || self.paused(t) {
            // Requests behind a blocked one wait their turn, as in a producer's buffer.
            Outcome::Parked
        } else if self.is_full(t, partition, &msg) {
            self.when_full(t, partition, &msg)
        } else {
            Outcome::Appended
        };
        if self.traced_from(p, msg.id) {
            self.trace_reached(p, partition, &outcome);
        }
        if outcome != Outcome::Rejected {
            self.resolve(p, msg.id, partition);
        }
        match outcome {
            Outcome::Appended => {
                self.append_and_ack(t, msg, partition);
                self.pause_if_high(t, partition);
            }
            Outcome::Parked => {
                self.topics[t as usize]
                    .parked
                    .push_back(Parked { msg, partition });
                // Another partition may be the full one after a resume.
                self.pause_if_high(t, partition);
            }
            Outcome::Rejected => self.reject(p, msg, partition, "reject"),
            Outcome::Discarded => {
                // A resend of a message the broker already holds loses nothing by being
                // turned away: the copy it holds goes on, and is acknowledged when that
                // one is (with acks = all, once replicated), not now.
                if !self.topics[t as usize].flags.accepted(msg.id) {
                    self.drop_message(t, msg.id, None, "drop-oldest");
                    self.resequence_dropped(t, msg);
                    self.respond(p, msg.id, msg.born);
                }
            }
            Outcome::Spilled => self.spill(p, msg, partition),
        }
    }

    fn when_full(&mut self, t: u32, partition: u32, msg: &Msg) -> Outcome {
        match self.broker.on_full {
            OnFull::Block => Outcome::Parked,
            OnFull::Spill => Outcome::Spilled,
            OnFull::Reject => Outcome::Rejected,
            OnFull::DropOldest => {
                self.refused = self.make_room(t, partition, msg);
                if self.topics[t as usize].model == BrokerModel::Log && !self.refused.is_empty() {
                    self.refused.clear();
                    Outcome::Discarded
                } else {
                    Outcome::Appended
                }
            }
        }
    }

    /// A partition (log) or any queue `msg` goes to holds `capacity` messages (or
    /// `high_watermark`), counted as `backlog` says.
    #[inline]
    pub(super) fn is_full(&self, t: u32, partition: u32, msg: &Msg) -> bool {
        let topic = &self.topics[t as usize];
        if topic.model == BrokerModel::Log
            && topic
                .partitions
                .get(partition as usize)
                .is_some_and(|part| part.end < self.limit())
        {
            // A log's backlog is at most its end: short of the limit, no group's
            // committed offset needs looking up.
            return false;
        }
        if topic.model == BrokerModel::Exchange {
            // RabbitMQ applies each queue's length limit to the messages routed to it.
            let targets = &self.producers[msg.producer as usize].routes[msg.route as usize];
            return targets
                .iter()
                .any(|&g| self.queue_backlog(g) >= self.limit());
        }
        self.backlog(t, partition) >= self.limit()
    }

    /// Appends, then acknowledges now or (`acks = all` on a replicated log) once the
    /// high watermark passes the message.
    #[inline]
    pub(super) fn append_and_ack(&mut self, t: u32, msg: Msg, partition: u32) {
        let p = u32::from(msg.producer);
        match self.append(t, msg, partition) {
            Some(offset)
                if self.broker.acks == Acks::All
                    && self.topics[t as usize].partitions[partition as usize].hw <= offset =>
            {
                self.topics[t as usize].partitions[partition as usize]
                    .pending_acks
                    .push_back((offset, p, msg.id, msg.born));
            }
            // A deduplicated resend is answered with its original, once that one is
            // replicated (Kafka parks a duplicate's response until the high watermark
            // passes the original), not ahead of it.
            None if self.topics[t as usize]
                .partitions
                .get(partition as usize)
                .is_some_and(|part| part.pending_acks.iter().any(|a| a.2 == msg.id)) => {}
            _ => self.respond(p, msg.id, msg.born),
        }
    }

    /// Appends to the log or to the queue of every group the message is routed to, and
    /// wakes an idle consumer; returns the log offset.
    pub(super) fn append(&mut self, t: u32, mut msg: Msg, partition: u32) -> Option<u64> {
        // `drop-oldest`: full queues with nothing to discard refuse their copy.
        let refused = std::mem::take(&mut self.refused);
        let held = self.broker_bytes_of(&msg);
        let topic = &mut self.topics[t as usize];
        let first = topic.flags.accept(msg.id);
        // SQS FIFO deduplicates within its window, counted from the first send.
        let fifo_dedup = topic.fifo && self.now.since(msg.born) < topic.dedup_window;
        if !first && (fifo_dedup || self.producers[msg.producer as usize].idempotent) {
            // The broker knows this producer sequence (or FIFO deduplication id) already.
            if self.traced(t, msg.id) {
                self.trace_deduplicated(t, partition);
            }
            return None;
        }
        if first {
            if msg.arrived != self.now {
                // Held back (parked or spilled) before this first append: a resend of it
                // must still count from now.
                let p = msg.producer as usize;
                if let Some(req) = self.producers[p].inflight.get_mut(&msg.id) {
                    req.msg.arrived = self.now;
                }
            }
            msg.arrived = self.now;
        } else {
            topic.flags.repeat(msg.id);
            // A resend's copy counts from when the first one entered the system, which
            // the request remembers (a resend parked behind a full queue carries the time
            // it reached the broker, before its twin went in).
            let p = msg.producer as usize;
            if let Some(req) = self.producers[p].inflight.get(&msg.id) {
                msg.arrived = req.msg.arrived;
            }
        }
        let offset = topic
            .partitions
            .get_mut(partition as usize)
            .map(|part| part.append(msg));
        if self.traced(t, msg.id) {
            self.trace_appended(&msg, partition, offset, first);
        }
        if offset.is_some() {
            self.log_grew(t, partition);
            self.address_landed(&msg);
            self.replicate_append(t, partition);
            self.expire_retention(t, partition);
        }
        let (p, r) = (msg.producer as usize, msg.route as usize);
        for k in 0..self.producers[p].routes[r].len() {
            let g = self.producers[p].routes[r][k];
            let group = &mut self.groups[g as usize];
            if !group.receives_now() {
                // Not joined yet and starting from the latest offset: it begins at the
                // log end (`log_grew` moved it there).
                continue;
            }
            // A copy that has left for good (processed from a twin entry already) does
            // not count in again.
            if !group.ledger.finished(msg.id) && group.ledger.enter(msg.id) {
                group.metrics.enter(self.now);
                if group.ledger.dropped(msg.id) {
                    // Its producer had given up on it, yet a send landed: no drop after all
                    // (unless the broker drops it now, which then says why).
                    group.metrics.dropped -= 1;
                    group.ledger.undrop(msg.id);
                }
            }
            if refused.contains(&g) {
                self.drop_copy(g, msg.id, Some(msg.arrived), "drop-oldest");
                continue;
            }
            if models::to_subscriber(group.kind) {
                self.publish_to_subscriber(g, msg);
                continue;
            }
            if matches!(group.store, Store::Log(_)) {
                // Counted in the lag when the log grew (`log_grew`).
                group.max_lag = group.max_lag.max(group.lag);
            } else {
                group.lag_add(1);
            }
            let wake = match &mut group.store {
                Store::Log(parts) => parts[partition as usize]
                    .owner
                    .map(|local| group.first + local),
                Store::Queue(q) => {
                    q.send(msg);
                    q.hold_bytes(held);
                    if models::pushes(group.kind) {
                        self.model_dispatch(g);
                        continue;
                    }
                    group.idle.pop()
                }
            };
            if let Some(i) = wake {
                self.try_start(i);
            }
        }
        if offset.is_some() && self.topics[t as usize].groups.is_empty() {
            self.trim(t, partition);
        }
        self.payload_appended(t, partition, offset, held);
        offset
    }

    /// Redis pub/sub: only a connected subscriber with room in its output buffer gets it.
    fn publish_to_subscriber(&mut self, g: u32, msg: Msg) {
        let i = self.groups[g as usize].first;
        let dead = self.connection_dead(i);
        let group = &mut self.groups[g as usize];
        let sub = group.subscriber;
        let Store::Queue(q) = &mut group.store else {
            unreachable!()
        };
        if !self.instances[i as usize].up || dead {
            self.drop_copy(g, msg.id, Some(msg.arrived), "subscriber-offline");
        } else if q.len() >= sub.buffer {
            self.drop_copy(g, msg.id, Some(msg.arrived), "output-buffer-full");
            if sub.on_overflow == Overflow::Disconnect {
                self.disconnect(g);
            }
        } else {
            q.send(msg);
            group.lag_add(1);
            if let Some(i) = group.idle.pop() {
                self.try_start(i);
            }
        }
    }

    /// The server closes a subscriber whose buffer overflowed; it reconnects later.
    fn disconnect(&mut self, g: u32) {
        let group = &self.groups[g as usize];
        let (i, after) = (group.first, group.subscriber.reconnect);
        let text = format!(
            "{}: output buffer over its limit, subscriber disconnected",
            group.name
        );
        self.note(LogKind::Loss, text);
        // The server closes the connection and drops the buffer; the client still
        // finishes the message it had already read.
        self.instances[i as usize].up = false;
        self.discard_buffer(g);
        self.queue
            .push(self.now + after, Event::Reconnect { instance: i });
    }

    /// The broker's answer to message `id` (intended at `born`) travels back to the
    /// producer.
    #[inline]
    pub(super) fn respond(&mut self, p: u32, id: u32, born: SimTime) {
        if self.broker.acks == Acks::None {
            return;
        }
        if !self.net_async {
            self.ack_to_producer(p, id, born);
        } else {
            let hop = self.hop();
            if !self.producers[p as usize].reachable || self.net_chance(self.loss) {
                if self.traced_from(p, id) {
                    self.trace_ack_lost();
                }
                return; // the acknowledgement never arrives
            }
            let prod = &mut self.producers[p as usize];
            let at = (self.now + hop).max(prod.link_in);
            prod.link_in = at;
            let Some(req) = prod.inflight.get_mut(&id) else {
                // The producer gave this request up and forgot it: nobody waits for the
                // answer, which must not be taken for the answer to a later send of the
                // same message (an outbox relay republishes with the same id).
                return;
            };
            req.in_transit += 1;
            self.queue.push(
                at,
                Event::ProduceAck {
                    producer: p,
                    msg: id,
                    attempt: 0,
                },
            );
        }
    }

    pub(super) fn on_produce_ack(&mut self, p: u32, id: u32) {
        if let Some(req) = self.producers[p as usize].inflight.get_mut(&id) {
            req.in_transit -= 1;
            let first = !req.done;
            req.done = true;
            let (born, partition) = (req.msg.born, req.partition);
            self.forget_if_settled(p, id);
            if first {
                self.ack_cut(p, id, partition);
                self.ack_to_producer(p, id, born);
                self.close_request(p);
            }
        }
    }

    #[inline(always)]
    pub(super) fn ack_to_producer(&mut self, p: u32, id: u32, born: SimTime) {
        let t = self.producers[p as usize].topic;
        if self.topics[t as usize].flags.ack(id) {
            self.acked += 1;
            self.record_ack(p, born);
            if self.traced(t, id) {
                self.trace_acked(p);
            }
        }
    }

    /// A message made before a group joined from the latest offset that lands after the
    /// join lies past the group's start, so the group reads it, as a Kafka consumer
    /// would: its placeholder becomes a copy, before anything of this append (retention)
    /// may drop it. Left a placeholder, the copy was processed and counted by the live
    /// figures, yet not by the census (`latency_samples` and `dropped_never_processed`
    /// failed), or counted in and never out (`littles_law`).
    fn address_landed(&mut self, msg: &Msg) {
        if !self.late_from_latest {
            return;
        }
        let (p, r) = (msg.producer as usize, msg.route as usize);
        for &g in &self.producers[p].routes[r] {
            let group = &mut self.groups[g as usize];
            if group.receives_now() && !group.ledger.addressed(msg.id) {
                group.ledger.address(msg.id);
            }
        }
    }

    /// Room appeared in topic `t`: its parked requests go in after the current handler.
    /// Always inlined: every acknowledgement and commit asks, and almost always nothing
    /// waits, so the call cost more than the test.
    #[inline(always)]
    pub(super) fn unpark_soon(&mut self, t: u32) {
        self.topics[t as usize].unpark_soon(t, &mut self.unpark_due);
    }

    /// Appends parked requests in order while they fit (and, with watermarks, once the
    /// backlog has fallen to the low one, until it reaches the high one again).
    pub(super) fn unpark(&mut self, t: u32) {
        if self.broker.on_full == OnFull::Spill {
            self.read_spill(t);
            return;
        }
        if !self.resume_if_low(t) {
            return;
        }
        while let Some(&Parked { msg, partition }) = self.topics[t as usize].parked.front() {
            // A partition with no leader (its broker down) takes nothing: the request
            // waits in the producer's buffer until an election brings the partition back.
            if self.paused(t) || !self.can_write(t, partition) || self.is_full(t, partition, &msg) {
                break;
            }
            self.topics[t as usize].parked.pop_front();
            self.append_and_ack(t, msg, partition);
            self.pause_if_high(t, partition);
        }
    }
}
