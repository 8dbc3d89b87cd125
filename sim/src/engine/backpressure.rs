//! Backpressure with high and low watermarks (`on_full = "block"`): a topic's producers
//! pause the moment a partition's backlog reaches `high_watermark` and resume only once
//! that backlog has fallen to `low_watermark`, rather than trickling one send in each time
//! one message leaves (the hysteresis that keeps a producer from flapping). Every pause is
//! recorded as a `PauseSpan` for the snapshot and the event log. Also the other answers
//! to a full queue that need more than a line: `reject` with producer retries, `spill`
//! (overflow accepted into slower storage and read back in order, one read at a time),
//! `drop-oldest` making room, and plain `block`'s pauses.

use super::{Engine, Parked};
use crate::consumer::Store;
use crate::event::Event;
use crate::message::Msg;
use crate::scenario::{BrokerModel, OnFailure, OnFull};
use crate::snapshot::{LogKind, PauseSpan};
use crate::summary::Overflow;

/// Counts of what a full broker did besides blocking.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct OverflowStats {
    /// Sends the broker refused, counting each resend.
    rejections: u64,
    /// Refusals the producer answered with a resend.
    resent: u64,
    /// Messages accepted into the spill storage.
    spilled: u64,
    /// Most messages the spill storage held at once.
    spill_max: u64,
    /// Sends that timed out while `block` held the topic's sends back.
    pub(super) held_timeouts: u64,
}

impl Engine {
    /// What `capacity` and the watermarks bound, per model: on a log, the messages of a
    /// partition the slowest joined group has not committed (in service or processed but
    /// uncommitted included); on a queue, the messages the fullest group's queue holds,
    /// received or not (SQS keeps a message until it is deleted); on an exchange, the
    /// messages ready in the fullest group's queue (RabbitMQ's queue length limit counts
    /// ready messages only, not those delivered and unacknowledged).
    #[inline]
    pub(super) fn backlog(&self, t: u32, partition: u32) -> u64 {
        let topic = &self.topics[t as usize];
        match topic.model {
            BrokerModel::Log => {
                topic.partitions[partition as usize].end - self.min_committed(t, partition)
            }
            // Redis never pushes back on a publisher; each subscriber's buffer decides.
            BrokerModel::Pubsub => 0,
            BrokerModel::Queue | BrokerModel::Exchange => topic
                .groups
                .iter()
                .map(|&g| self.queue_backlog(g))
                .max()
                .unwrap_or(0),
        }
    }

    /// A queue or exchange group's count against `capacity` (see `backlog`).
    #[inline]
    pub(super) fn queue_backlog(&self, g: u32) -> u64 {
        self.model_backlog(g)
    }

    /// The backlog at which `on_full` applies.
    pub(super) fn limit(&self) -> u64 {
        self.broker.high_watermark.unwrap_or(self.broker.capacity)
    }

    /// True when producers pause and resume by watermarks (otherwise `block` releases a
    /// parked request as soon as there is room, as it always did).
    fn hysteresis(&self) -> bool {
        self.broker.on_full == OnFull::Block && self.broker.high_watermark.is_some()
    }

    /// True while the topic's producers are paused.
    #[inline]
    pub(super) fn paused(&self, t: u32) -> bool {
        self.topics[t as usize].pause.is_some()
    }

    /// After a request for `partition` was appended or found it full: the producers pause
    /// once its backlog has reached the high watermark.
    pub(super) fn pause_if_high(&mut self, t: u32, partition: u32) {
        if self.broker.on_full == OnFull::Block && !self.hysteresis() {
            self.track_block(t, partition);
            return;
        }
        if !self.hysteresis() || self.paused(t) {
            return;
        }
        let backlog = self.backlog(t, partition);
        if backlog < self.limit() {
            return;
        }
        let span = self.open_pause(
            t,
            partition,
            backlog,
            "at the high watermark, producers paused",
        );
        self.topics[t as usize].pause = Some((partition, span));
    }

    /// Records the start of a pause of topic `t` (a `PauseSpan` and a log line); returns
    /// the span's index.
    fn open_pause(&mut self, t: u32, partition: u32, backlog: u64, what: &str) -> usize {
        let name = self.topics[t as usize].name.clone();
        let id = self.pauses.open(PauseSpan {
            topic: name.clone(),
            partition,
            paused_at: self.now,
            paused_backlog: backlog,
            resumed_at: None,
            resumed_backlog: None,
        });
        self.note(
            LogKind::Backpressure,
            format!("`{name}`/{partition}: backlog {backlog} {what}"),
        );
        id
    }

    /// Plain `block` (no watermarks): the producers are paused from the moment a request
    /// waits for room until the last waiting one is appended, recorded as a `PauseSpan`
    /// like a watermark pause so that `overflow` reports it.
    fn track_block(&mut self, t: u32, partition: u32) {
        let topic = &self.topics[t as usize];
        match (topic.parked.is_empty(), topic.blocked) {
            (false, None) => {
                let backlog = self.backlog(t, partition);
                let span = self.open_pause(t, partition, backlog, "full, producers blocked");
                self.topics[t as usize].blocked = Some(span);
            }
            (true, Some(span)) => {
                self.topics[t as usize].blocked = None;
                let backlog = self.backlog(t, self.pauses.get(span).partition);
                let pause = self.pauses.close(span, self.now, backlog);
                let text = format!(
                    "`{}`/{}: room again, producers unblocked",
                    pause.topic, pause.partition
                );
                self.note(LogKind::Backpressure, text);
            }
            _ => {}
        }
    }

    /// Resumes the producers once the partition that paused them has fallen to the low
    /// watermark; true when the topic is not paused (any more).
    pub(super) fn resume_if_low(&mut self, t: u32) -> bool {
        let Some((partition, span)) = self.topics[t as usize].pause else {
            return true;
        };
        let backlog = self.backlog(t, partition);
        if backlog > self.broker.low_watermark {
            return false;
        }
        self.topics[t as usize].pause = None;
        let pause = self.pauses.close(span, self.now, backlog);
        let text = format!(
            "`{}`/{partition}: backlog {backlog} at the low watermark, producers resumed",
            pause.topic
        );
        self.note(LogKind::Backpressure, text);
        true
    }

    /// The broker refuses a send: the producer resends after its `retry_backoff` while
    /// it has retries left, and otherwise gives the message up (dropped for `reason`).
    pub(super) fn reject(&mut self, p: u32, msg: Msg, partition: u32, reason: &'static str) {
        if self.traced_from(p, msg.id) {
            self.trace_rejected(p, msg.id, reason);
        }
        self.overflow.rejections += 1;
        let t = self.producers[p as usize].topic;
        let prod = &mut self.producers[p as usize];
        let (retries, backoff) = (prod.retries, prod.retry_backoff);
        if let Some(req) = prod.inflight.get_mut(&msg.id) {
            if let Some(backoff) = backoff
                && !req.done
                && u32::from(req.attempt) < retries
            {
                self.overflow.resent += 1;
                let attempt = req.attempt;
                let delay = backoff.mul_f64(2f64.powi(i32::from(attempt.min(30))));
                // The producer's retry timer: a timeout of this attempt resends it.
                self.queue.push(
                    self.now + delay,
                    Event::ProduceTimeout {
                        producer: p,
                        msg: msg.id,
                        attempt,
                    },
                );
                return;
            }
            if !req.done {
                req.done = true;
                let partition = req.partition;
                self.abandon_sequence(p, msg.id, partition);
                self.close_request(p);
            }
        } else {
            // An instant network keeps no request to retry: the producer gives the message
            // up at once, and an idempotent producer's sequence moves on without it (left
            // expected, it had the broker refuse every later message of the partition as
            // out of sequence, and those vanished from the census).
            self.abandon_sequence(p, msg.id, partition);
        }
        self.forget_if_settled(p, msg.id);
        // A refused resend of a message the broker already holds drops nothing: the
        // producer gives up on it, and the copy the broker holds goes on (dropped only if
        // a failover cuts it).
        if self.topics[t as usize].flags.accepted(msg.id) {
            self.topics[t as usize].flags.give_up(msg.id);
            return;
        }
        let n = self.drop_message(t, msg.id, None, reason);
        self.resequence_dropped(t, msg);
        self.note(
            LogKind::Loss,
            format!(
                "broker full: rejected message {} of `{}` ({n} copies, {reason})",
                msg.id, self.topics[t as usize].name
            ),
        );
    }

    /// `spill`: the broker accepts the message into its spill storage (so the producer
    /// is answered at once) unless that storage is full too.
    pub(super) fn spill(&mut self, p: u32, msg: Msg, partition: u32) {
        let t = self.producers[p as usize].topic;
        let held = self.topics[t as usize].parked.len() as u64;
        if held >= self.broker.spill_capacity {
            self.reject(p, msg, partition, "spill-full");
            return;
        }
        if held == 0 {
            let text = format!(
                "`{}`: queue full at {}, spilling to storage",
                self.topics[t as usize].name,
                self.limit()
            );
            self.note(LogKind::Backpressure, text);
        }
        self.topics[t as usize]
            .parked
            .push_back(Parked { msg, partition });
        self.overflow.spilled += 1;
        self.overflow.spill_max = self.overflow.spill_max.max(held + 1);
        self.respond(p, msg.id, msg.born);
    }

    /// Starts reading the spill storage's oldest message back, when the queue has room
    /// and no read is under way.
    pub(super) fn read_spill(&mut self, t: u32) {
        let topic = &self.topics[t as usize];
        let Some(&Parked { msg, partition }) = topic.parked.front() else {
            return;
        };
        if topic.spill_reading || self.is_full(t, partition, &msg) {
            return;
        }
        self.topics[t as usize].spill_reading = true;
        let took = self.broker.spill_latency.sample(&mut self.storage);
        self.queue
            .push(self.now + took, Event::SpillRead { topic: t });
    }

    /// A read from the spill storage completes: the message joins the queue (its
    /// producer was answered when it was spilled).
    pub(super) fn on_spill_read(&mut self, t: u32) {
        self.topics[t as usize].spill_reading = false;
        let Some(Parked { msg, partition }) = self.topics[t as usize].parked.pop_front() else {
            return;
        };
        self.append(t, msg, partition);
        if self.topics[t as usize].parked.is_empty() {
            let text = format!(
                "`{}`: spill storage read back",
                self.topics[t as usize].name
            );
            self.note(LogKind::Backpressure, text);
        }
        self.read_spill(t);
    }

    /// `drop-oldest`: where the topic is full, discards the oldest message no consumer
    /// holds (on an exchange with a dead-letter exchange, dead-letters it). Returns the
    /// groups where every message counted is in a consumer's hands: for them the incoming
    /// message is the one discarded.
    pub(super) fn make_room(&mut self, t: u32, partition: u32, msg: &Msg) -> Vec<u32> {
        let targets = self.producers[msg.producer as usize].routes[msg.route as usize].clone();
        let cap = self.limit();
        let mut refused = Vec::new();
        if self.topics[t as usize].model == BrokerModel::Log {
            let oldest = self.min_committed(t, partition);
            if self.held_by_consumer(t, partition, oldest) {
                return targets;
            }
            self.skip_offset(t, partition, oldest, "drop-oldest");
            self.trim(t, partition);
            return refused;
        }
        for g in targets {
            if self.queue_backlog(g) < cap {
                continue;
            }
            let group = &mut self.groups[g as usize];
            let Store::Queue(q) = &mut group.store else {
                continue;
            };
            let dropped = q.drop_oldest();
            group.lag = q.len();
            let dlx = super::models::dead_letters_overflow(group.kind)
                && group.on_failure == OnFailure::DeadLetter;
            match dropped {
                Some(m) if dlx => self.dead_letter(g, m, "queue length limit"),
                Some(m) => {
                    self.drop_copy(g, m.id, Some(m.arrived), "drop-oldest");
                    self.resequence_gone(g, m);
                }
                None => refused.push(g),
            }
        }
        refused
    }

    /// What overflowed, for the summary (none when nothing did).
    pub(super) fn overflow_summary(&self) -> Option<Overflow> {
        let o = &self.overflow;
        let paused_ns = self.pauses.paused_ns(self.now);
        if o.rejections == 0 && o.spilled == 0 && self.pauses.count() == 0 {
            return None;
        }
        Some(Overflow {
            pauses: self.pauses.count(),
            paused_s: paused_ns as f64 / 1e9,
            rejections: o.rejections,
            resent: o.resent,
            spilled: o.spilled,
            spill_max: o.spill_max,
            held_timeouts: o.held_timeouts,
        })
    }
}
