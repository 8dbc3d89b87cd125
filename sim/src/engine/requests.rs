//! A producer's requests as a client library keeps them: timeouts and retries, the window
//! of requests out at once (`max_in_flight`) and the buffer behind it, the sequence
//! numbers an idempotent producer's broker checks on a log (a gap is refused, so resends
//! never reorder a partition), and what a producer crash takes with it. The produce path
//! itself (sending, the broker, acknowledgements) is in `produce.rs`.

use super::Engine;
use crate::message::Msg;
use crate::producer::Inflight;
use crate::scenario::{Acks, BrokerModel, OnFull};
use crate::snapshot::LogKind;

/// Why a broker refused a produce request, with a retriable error its producer hears at
/// once (Kafka's NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS, OUT_OF_ORDER_SEQUENCE_NUMBER).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The partition has no leader.
    Leaderless,
    /// Too few in-sync replicas for `acks = "all"`.
    ShortIsr,
    /// Written, but too few replicas were in sync when the high watermark passed it
    /// (Kafka's NOT_ENOUGH_REPLICAS_AFTER_APPEND): the copy stays in the log.
    ShortIsrAfterAppend,
    /// An idempotent producer's earlier message to the partition is missing.
    OutOfSequence,
    /// The server of a queue, exchange or pub/sub topic is down: the connection is gone.
    ServerDown,
}

impl Engine {
    /// A request timed out: resend it (and, on a sequence-checked log, the sends behind
    /// it the broker has not taken) while retries last, else give the message up.
    pub(super) fn on_produce_timeout(&mut self, p: u32, id: u32, attempt: u8) {
        if self.traced_from(p, id) {
            self.trace_timeout(p, id, attempt);
        }
        let prod = &self.producers[p as usize];
        let Some(req) = prod.inflight.get(&id) else {
            return;
        };
        if req.done || req.attempt != attempt {
            return;
        }
        if u32::from(attempt) < prod.retries {
            let partition = req.partition;
            // Held back by a full broker, the send is still there: a resend makes two.
            let t = prod.topic;
            if self.broker.on_full == OnFull::Block
                && (!self.topics[t as usize].parked.is_empty() || self.paused(t))
            {
                self.overflow.held_timeouts += 1;
            }
            self.send_request(p, id, attempt + 1);
            self.resend_behind(p, id, partition);
            return;
        }
        self.give_up(p, id);
    }

    /// The broker refused message `id` of `p` with an error its producer hears at once.
    /// With no retry left and no other attempt on its way, the producer gives it up now, as
    /// Kafka's does at the error, not at `request_timeout`. Otherwise a send refused for
    /// want of a leader or of in-sync replicas goes again as soon as the partition can take
    /// it (`resend_refused`), and one out of sequence at its timeout, with the sends behind
    /// it (`resend_behind`).
    pub(super) fn refuse(&mut self, p: u32, id: u32, partition: u32, why: Refusal) {
        let prod = &mut self.producers[p as usize];
        let retries = prod.retries;
        let mut spent = false;
        if let Some(req) = prod.inflight.get_mut(&id) {
            req.refused = why != Refusal::OutOfSequence;
            spent = !req.done && req.in_transit == 0 && u32::from(req.attempt) >= retries;
        }
        if self.traced_from(p, id) {
            let what = match why {
                Refusal::Leaderless => "the partition has no leader",
                Refusal::ShortIsr => "too few in-sync replicas",
                Refusal::ShortIsrAfterAppend => {
                    "written, but too few in-sync replicas when the high watermark passed it"
                }
                Refusal::OutOfSequence => {
                    "out of sequence (an earlier message of its producer is missing)"
                }
                Refusal::ServerDown => "the server is down",
            };
            let then = match why {
                _ if spent => "no retry left, so the producer gives it up",
                Refusal::Leaderless => {
                    "the producer sends it again once it has one, or at its timeout"
                }
                Refusal::ServerDown => {
                    "the producer sends it again once the server is back, or at its timeout"
                }
                Refusal::ShortIsr | Refusal::ShortIsrAfterAppend => {
                    "the producer sends it again once enough are back in sync, or at its \
                     timeout"
                }
                Refusal::OutOfSequence => "the producer will see a timeout",
            };
            self.trace_refused(p, partition, &format!("{what}; {then}"));
        }
        if spent {
            self.give_up(p, id);
        }
    }

    /// Producer `p` gives message `id` up: the sequence moves on without it, and the
    /// message is dropped unless the broker holds it.
    fn give_up(&mut self, p: u32, id: u32) {
        let t = self.producers[p as usize].topic;
        let req = self.producers[p as usize]
            .inflight
            .get_mut(&id)
            .expect("present");
        req.done = true;
        let (msg, partition) = (req.msg, req.partition);
        self.abandon_sequence(p, id, partition);
        self.topics[t as usize].flags.give_up(id);
        if !self.topics[t as usize].flags.accepted(id) {
            self.drop_message(t, id, None, "producer-gave-up");
            self.resequence_dropped(t, msg);
        }
        self.forget_if_settled(p, id);
        self.close_request(p);
    }

    /// Forgets a request once it is settled and nothing of it is on the wire.
    pub(super) fn forget_if_settled(&mut self, p: u32, id: u32) {
        self.producers[p as usize]
            .inflight
            .remove_if(&id, |r| r.done && r.in_transit == 0);
    }

    /// Producer `p` has `max_in_flight` requests out: a new message must wait.
    #[inline]
    pub(super) fn window_full(&self, p: u32) -> bool {
        let prod = &self.producers[p as usize];
        // Without a network in between (or an answer to wait for) nothing stays out.
        self.net_async
            && self.broker.acks != Acks::None
            && prod.open - prod.waiting.len() as u32 >= prod.max_in_flight
    }

    /// Keeps a new message in the producer's buffer until a request slot frees.
    pub(super) fn hold_back(&mut self, p: u32, msg: Msg, partition: u32) {
        let prod = &mut self.producers[p as usize];
        prod.open += 1;
        prod.waiting.push_back(msg.id);
        prod.inflight.insert(
            msg.id,
            Inflight {
                msg,
                partition,
                attempt: 0,
                in_transit: 0,
                done: false,
                refused: false,
            },
        );
    }

    /// A request of `p` was answered or given up: its slot goes to the oldest waiting
    /// message.
    pub(super) fn close_request(&mut self, p: u32) {
        self.producers[p as usize].open -= 1;
        while self.producers[p as usize].up && !self.window_full(p) {
            let Some(id) = self.producers[p as usize].waiting.pop_front() else {
                break;
            };
            // Its sequence number is drawn as it leaves the buffer, after every earlier
            // message's.
            let partition = self.producers[p as usize].inflight[&id].partition;
            self.sequence(p, id, partition);
            self.send_request(p, id, 0);
        }
    }

    /// An idempotent producer writing to a log: its broker checks sequences.
    fn sequenced(&self, p: u32) -> bool {
        let prod = &self.producers[p as usize];
        prod.idempotent && self.topics[prod.topic as usize].model == BrokerModel::Log
    }

    /// Gives message `id` of `p` the next sequence number of its partition.
    #[inline]
    pub(super) fn sequence(&mut self, p: u32, id: u32, partition: u32) {
        if self.sequenced(p) {
            self.producers[p as usize].unresolved.insert(partition, id);
        }
    }

    /// Whether the broker takes this request: a resend of what it has is fine (it is
    /// answered as a duplicate), otherwise every earlier message of the producer to this
    /// partition must be in, or given up. A message its producer abandoned (gave up, or
    /// lost in a crash) is out of sequence for good.
    #[inline]
    pub(super) fn in_sequence(&self, p: u32, id: u32, partition: u32) -> bool {
        if !self.sequenced(p) {
            return true;
        }
        let prod = &self.producers[p as usize];
        if self.topics[prod.topic as usize].flags.accepted(id) {
            return true;
        }
        prod.unresolved.first(partition) == Some(id)
    }

    /// Message `id` of `p` timed out and was resent: the sends of this partition behind
    /// it that the broker has not taken go again right behind it, in order, each counting
    /// one retry. Kafka's client does the same: a request timeout closes the connection
    /// and every request in flight on it is retried in sequence order (and one that got
    /// through first was refused as OUT_OF_ORDER_SEQUENCE_NUMBER anyway). Go-back-N:
    /// every round lets at least the resent message in, so refusals never pile up.
    pub(super) fn resend_behind(&mut self, p: u32, id: u32, partition: u32) {
        if !self.sequenced(p) {
            return;
        }
        let prod = &self.producers[p as usize];
        let behind: Vec<(u32, u8)> = prod
            .unresolved
            .after(partition, id)
            .filter_map(|b| prod.inflight.get(&b).map(|r| (b, r.attempt)))
            .filter(|&(_, attempt)| u32::from(attempt) < prod.retries)
            .collect();
        for (b, attempt) in behind {
            self.send_request(p, b, attempt + 1);
        }
    }

    /// The broker took message `id` (appended, parked or spilled): the partition's next
    /// sequence follows it.
    #[inline]
    pub(super) fn resolve(&mut self, p: u32, id: u32, partition: u32) {
        let unresolved = &mut self.producers[p as usize].unresolved;
        // Empty unless the producer is sequenced: no tree walk per message then.
        if !unresolved.is_empty() {
            unresolved.remove(partition, id);
        }
    }

    /// The producer gave message `id` up (or lost it in a crash): the sequence moves on
    /// without it, as Kafka's producer does by bumping its epoch.
    pub(super) fn abandon_sequence(&mut self, p: u32, id: u32, partition: u32) {
        self.resolve(p, id, partition);
    }

    /// An answer that was on its way when a failover cut its message from the log (`acks`
    /// below `all`): the producer believes it in and never sends it again, so on a
    /// sequence-checked log the partition's sequence moves on without it, as Kafka's
    /// producer bumps its epoch at the OUT_OF_ORDER_SEQUENCE_NUMBER that follows (KIP-360).
    /// Left expecting it, the broker refused every later send to the partition for good.
    #[inline(always)]
    pub(super) fn ack_cut(&mut self, p: u32, id: u32, partition: u32) {
        let prod = &self.producers[p as usize];
        if !prod.unresolved.is_empty() && !self.topics[prod.topic as usize].flags.accepted(id) {
            self.abandon_sequence(p, id, partition);
        }
    }

    /// A failover cut message `m` from partition `partition`: the new leader expects its
    /// sequence again if the producer is still sending it.
    pub(super) fn sequence_reopened(&mut self, m: Msg, partition: u32) {
        let p = u32::from(m.producer);
        if self.producers[p as usize]
            .inflight
            .get(&m.id)
            .is_some_and(|r| !r.done)
        {
            self.sequence(p, m.id, partition);
        }
    }

    /// Producer `p` crashes: what it had sent but not had acknowledged, and what waited in
    /// its buffer, dies with its memory. A request already on the wire still lands (and is
    /// appended unless its sequence is refused), but nobody resends or hears an answer; a
    /// message the broker never took is dropped (`producer-crash`). A service's outbox
    /// table is durable and its relay publishes again after the restart, so its messages
    /// are only forgotten, not dropped.
    pub(super) fn crash_producer(&mut self, p: u32) {
        let prod = &mut self.producers[p as usize];
        prod.waiting.clear();
        let open: Vec<u32> = prod
            .inflight
            .iter()
            .filter(|(_, r)| !r.done)
            .map(|(&id, _)| id)
            .collect();
        let (t, service) = (prod.topic, self.is_service(p));
        let mut dropped = 0;
        for id in open {
            if self.traced_from(p, id) {
                self.trace_producer_crash(p);
            }
            let prod = &mut self.producers[p as usize];
            let req = prod.inflight.get_mut(&id).expect("open request");
            req.done = true;
            let (msg, partition) = (req.msg, req.partition);
            prod.open -= 1;
            self.abandon_sequence(p, id, partition);
            if !service {
                let flags = &mut self.topics[t as usize].flags;
                flags.give_up(id);
                if !flags.accepted(id) {
                    dropped += self.drop_message(t, id, None, "producer-crash");
                    self.resequence_dropped(t, msg);
                }
            }
            self.forget_if_settled(p, id);
        }
        if dropped > 0 {
            let name = self.producers[p as usize].name.clone();
            let text = format!("{name}: crashed with {dropped} copies unsent or unacknowledged");
            self.note(LogKind::Loss, text);
        }
    }
}
