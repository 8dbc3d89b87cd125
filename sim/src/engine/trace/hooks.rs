//! The trace's hooks on the message's own path: the producer, the network, the broker
//! appending or refusing it, and each group's copy being delivered, processed, applied,
//! committed or acknowledged, dead-lettered, dropped, lost or rolled back. The engine
//! calls each one only after `traced`, `traced_from` or `traced_copy` said the message
//! is the traced one; each only formats and records.

use crate::consumer::{PendingAck, Store, Work};
use crate::engine::Engine;
use crate::message::Msg;
use crate::scenario::Delivery;
use crate::time::SimTime;

impl Engine {
    /// The producer created it.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_created(&mut self, p: u32, msg: &Msg, partition: u32) {
        let t = self.producers[p as usize].topic;
        let mut detail = format!(
            "key {}, the key's message number {}",
            msg.key - self.producers[p as usize].key_base,
            msg.seq
        );
        if !self.topics[t as usize].partitions.is_empty() {
            detail.push_str(&format!(", for {}", self.partition_name(t, partition)));
        }
        if msg.poison {
            detail.push_str("; poison: every processing attempt fails");
        }
        let at = msg.born;
        self.record(at, self.producer_name(p), "created", None, detail);
    }

    /// Sent without a network in between: it reaches the broker in the same instant.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_sent_direct(&mut self, p: u32) {
        let detail = "sent; reaches the broker at once (no network latency)".to_string();
        self.record_now(self.producer_name(p), "sent", None, detail);
    }

    /// A request (`attempt` 0 the first send) went onto the network as `copies` copies.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_request(
        &mut self,
        p: u32,
        attempt: u8,
        copies: u32,
        at: SimTime,
    ) {
        let (event, detail) = if attempt == 0 {
            ("sent", format!("request sent, due at the broker at {at}"))
        } else {
            (
                "resent",
                format!("request resent (retry {attempt}), due at the broker at {at}"),
            )
        };
        self.record_now(self.producer_name(p), event, None, detail);
        match copies {
            0 if !self.producers[p as usize].reachable => self.record_now(
                "network".into(),
                "lost_on_network",
                None,
                "the producer is cut off from the broker (network partition): the request never arrives".into(),
            ),
            0 => self.record_now(
                "network".into(),
                "lost_on_network",
                None,
                "the request is lost on the network".into(),
            ),
            2 => self.record_now(
                "network".into(),
                "duplicated_on_network",
                None,
                "the network delivers this request twice".into(),
            ),
            _ => {}
        }
    }

    /// The broker refused a request it cannot take now (`why` says what follows).
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_refused(&mut self, p: u32, partition: u32, why: &str) {
        let t = self.producers[p as usize].topic;
        let detail = format!("request refused: {why}");
        self.record_now(self.partition_name(t, partition), "refused", None, detail);
    }

    /// What the broker did with a request it could take (`Appended` is recorded by the
    /// append itself).
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_reached(
        &mut self,
        p: u32,
        partition: u32,
        outcome: &dyn std::fmt::Debug,
    ) {
        let t = self.producers[p as usize].topic;
        let (event, detail) = match format!("{outcome:?}").as_str() {
            "Parked" => (
                "parked",
                "the broker is full or its producers paused: the request waits for room (on_full = block)",
            ),
            "Spilled" => (
                "spilled",
                "the broker is full: accepted into the spill storage, read back in order",
            ),
            "Discarded" => (
                "discarded",
                "drop-oldest, and the oldest entry is in a consumer's hands: the new message is the one discarded",
            ),
            _ => return,
        };
        let component = self.partition_name(t, partition);
        self.record_now(component, event, None, detail.into());
    }

    /// Appended to the log at `offset` (a log), or to each routed group's queue.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_appended(
        &mut self,
        msg: &Msg,
        partition: u32,
        offset: Option<u64>,
        first: bool,
    ) {
        let t = self.producers[msg.producer as usize].topic;
        let again = if first {
            ""
        } else {
            " (again: a resend the broker did not deduplicate, so the log holds it twice)"
        };
        if let Some(o) = offset {
            self.tracer_mut().entries.push((partition, o));
            let detail = format!("appended at offset {o}{again}");
            self.record_now(self.partition_name(t, partition), "appended", None, detail);
            return;
        }
        let routes = self.producers[msg.producer as usize].routes[msg.route as usize].clone();
        if routes.is_empty() {
            let detail = "no group's queue takes it (no binding matches): unroutable".into();
            self.record_now(
                format!("topic {}", self.topics[t as usize].name),
                "unroutable",
                None,
                detail,
            );
        }
        for g in routes {
            let (event, detail) = crate::engine::models::enqueued(self.groups[g as usize].kind);
            let detail = format!("{detail}{again}");
            self.record_now(
                format!("queue {}", self.groups[g as usize].name),
                event,
                Some(g),
                detail,
            );
        }
    }

    /// A resend the broker recognised: nothing is appended.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_deduplicated(&mut self, t: u32, partition: u32) {
        let detail = "a resend the broker already holds: deduplicated, nothing appended".into();
        let component = self.partition_name(t, partition);
        self.record_now(component, "deduplicated", None, detail);
    }

    /// The producer was told it was sent (the first time).
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_acked(&mut self, p: u32) {
        let detail = "the producer is told it was sent (acknowledged)".into();
        self.record_now(self.producer_name(p), "acked", None, detail);
    }

    /// The broker's answer to a send never reached the producer.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_ack_lost(&mut self) {
        let detail = "the broker's acknowledgement is lost on the network".into();
        self.record_now("network".into(), "lost_on_network", None, detail);
    }

    /// A send timed out at the producer; it resends or gives up.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_timeout(&mut self, p: u32, id: u32, attempt: u8) {
        let prod = &self.producers[p as usize];
        let current = prod
            .inflight
            .get(&id)
            .is_some_and(|r| !r.done && r.attempt == attempt);
        if !current {
            return; // answered meanwhile, or an older send's timer
        }
        let retries = prod.retries;
        let (event, detail) = if u32::from(attempt) < retries {
            (
                "timeout",
                format!("send {} timed out; resending", attempt + 1),
            )
        } else {
            (
                "gave_up",
                format!(
                    "send {} timed out and retries ({retries}) are exhausted: the producer gives up",
                    attempt + 1
                ),
            )
        };
        self.record_now(self.producer_name(p), event, None, detail);
    }

    /// The broker refused it for lack of room.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_rejected(&mut self, p: u32, id: u32, reason: &str) {
        let prod = &self.producers[p as usize];
        let resends = prod.retry_backoff.is_some()
            && prod
                .inflight
                .get(&id)
                .is_some_and(|r| !r.done && u32::from(r.attempt) < prod.retries);
        let then = if resends {
            "the producer resends after its backoff"
        } else {
            "the producer gives up"
        };
        let detail = format!("the broker is full and refuses it ({reason}); {then}");
        let t = prod.topic;
        self.record_now(
            format!("topic {}", self.topics[t as usize].name),
            "rejected",
            None,
            detail,
        );
    }

    /// Its producer crashed before it was acknowledged.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_producer_crash(&mut self, p: u32) {
        let detail = "the producer crashed with it unacknowledged: nobody resends it".into();
        self.record_now(self.producer_name(p), "crash", None, detail);
    }

    /// Instance `i` took group `g`'s copy (`first`: its first delivery in the group).
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_delivered(&mut self, i: u32, w: &Work, first: bool) {
        let g = self.instances[i as usize].group;
        self.tracer_mut().holder[g as usize] = Some(i);
        let from = match self.groups[g as usize].store {
            Store::Log(_) => {
                let t = self.groups[g as usize].topic;
                format!(
                    "fetched from {} offset {}",
                    self.partition_name(t, w.partition),
                    w.offset
                )
            }
            Store::Queue(_) => "received from the group's queue".to_string(),
        };
        let (event, detail) = if first {
            ("delivered", from)
        } else {
            (
                "redelivered",
                format!("{from}, again: the group had it before"),
            )
        };
        self.record_now(self.consumer_name(i), event, Some(g), detail);
        if self.groups[g as usize].delivery == Delivery::AtMostOnce
            && matches!(self.groups[g as usize].store, Store::Queue(_))
        {
            let detail =
                "deleted from the queue on receipt (at-most-once: acknowledged before processing)"
                    .into();
            self.record_now(self.consumer_name(i), "deleted", Some(g), detail);
        }
    }

    /// Instance `i` starts serving it at `at`; done at `done` (none: it hangs).
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_started(&mut self, i: u32, at: SimTime, done: Option<SimTime>) {
        let g = self.instances[i as usize].group;
        let attempt = self.instances[i as usize].work.map_or(0, |w| w.attempt);
        let retry = if attempt > 0 {
            format!(" (retry {attempt})")
        } else {
            String::new()
        };
        let detail = match done {
            Some(d) => format!("processing started{retry}, takes {}", d.since(at)),
            None => format!("processing started{retry}; it hangs"),
        };
        self.record(
            at,
            self.consumer_name(i),
            "processing_started",
            Some(g),
            detail,
        );
    }

    /// Instance `i` finished an attempt; `failed` when it failed.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_ended(&mut self, i: u32, w: &Work, failed: bool) {
        let g = self.instances[i as usize].group;
        let group = &self.groups[g as usize];
        let detail = if !failed {
            "processing ended".to_string()
        } else if w.attempt < group.max_retries {
            format!("processing failed; retry {} after a backoff", w.attempt + 1)
        } else {
            format!(
                "processing failed and its {} retries are exhausted",
                group.max_retries
            )
        };
        let event = if failed {
            "processing_failed"
        } else {
            "processing_ended"
        };
        self.record_now(self.consumer_name(i), event, Some(g), detail);
    }

    /// A cut-off (zombie) instance finished it: what it does cannot be reported.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_zombie_done(&mut self, i: u32) {
        let g = self.instances[i as usize].group;
        let detail = "processing ended on an instance its group gave up on (a zombie): its side effect may apply, its commit or ack cannot".into();
        self.record_now(self.consumer_name(i), "processing_ended", Some(g), detail);
    }

    /// Exactly-once: the idempotency store already has it (`conflict`: another open
    /// transaction holds it, so the instance leaves it).
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_skipped(&mut self, i: u32, conflict: bool) {
        let g = self.instances[i as usize].group;
        let detail = if conflict {
            "not applied: another instance's open transaction holds its effect; left to the visibility timeout"
        } else {
            "not applied again: the idempotency store already has it"
        };
        self.record_now(self.consumer_name(i), "skipped", Some(g), detail.into());
    }

    /// The group's resequencer holds it until its key's predecessors are applied.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_held(&mut self, g: u32) {
        let detail = "held by the resequencer until its key's earlier messages are applied".into();
        self.record_now(self.group_name(g), "held", Some(g), detail);
    }

    /// Group `g` applied its side effect.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_applied(&mut self, g: u32, msg: &Msg) {
        let tr = self.tracer_mut();
        tr.applied[g as usize] += 1;
        let (n, holder) = (tr.applied[g as usize], tr.holder[g as usize]);
        let order = match self.groups[g as usize].order.get(msg.key) {
            Some(high) if n == 1 && high > msg.seq + 1 => {
                "; OUT OF ORDER: a later message of its key was applied before it"
            }
            _ => "",
        };
        let (event, detail) = match n {
            1 => (
                "applied",
                format!("side effect applied (first time){order}"),
            ),
            2 => (
                "applied_again",
                "side effect applied a second time: DUPLICATED".to_string(),
            ),
            n => (
                "applied_again",
                format!("side effect applied again ({n} times)"),
            ),
        };
        let component = holder.map_or_else(|| self.group_name(g), |i| self.consumer_name(i));
        self.record_now(component, event, Some(g), detail);
    }

    /// An aborted transaction undid one application.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_rolled_back(&mut self, g: u32) {
        let tr = self.tracer_mut();
        tr.applied[g as usize] = tr.applied[g as usize].saturating_sub(1);
        let detail = "side effect rolled back with its aborted transaction".into();
        self.record_now(self.group_name(g), "rolled_back", Some(g), detail);
    }

    /// Group `g` committed partition `p` from offset `from` up to `to`.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_committed(&mut self, g: u32, p: u32, from: u64, to: u64) {
        let Some(tr) = &self.tracer else { return };
        if self.groups[g as usize].topic != tr.topic
            || !tr
                .entries
                .iter()
                .any(|&(ep, o)| ep == p && from <= o && o < to)
        {
            return;
        }
        let detail = match self.groups[g as usize].delivery {
            Delivery::AtMostOnce => {
                format!("offset committed ({to}) before processing (at-most-once)")
            }
            Delivery::ExactlyOnce => {
                format!("transaction committed with the offset ({to}): its effect is durable")
            }
            Delivery::AtLeastOnce => format!("offset committed past it ({to})"),
        };
        self.record_now(self.group_name(g), "committed", Some(g), detail);
    }

    /// Group `g`'s acknowledgement deleted it from the queue.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_deleted(&mut self, g: u32, how: &str) {
        let detail = format!("acknowledged and deleted from the queue ({how})");
        self.record_now(self.group_name(g), "deleted", Some(g), detail);
    }

    /// Batched acknowledgements: records the one of the traced copy, if among them.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_acks(&mut self, g: u32, pending: &[PendingAck], how: &str) {
        if pending.iter().any(|a| self.traced_copy(g, a.msg.id)) {
            self.trace_deleted(g, how);
        }
    }

    /// Moved to the dead-letter queue.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_dead_lettered(&mut self, g: u32, why: &str) {
        let detail = format!("moved to the dead-letter queue ({why})");
        self.record_now(self.group_name(g), "dead_lettered", Some(g), detail);
    }

    /// Dropped by a known mechanism.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_dropped(&mut self, g: u32, reason: &str) {
        let detail = format!("dropped: {}", super::faults::drop_words(reason));
        self.record_now(self.group_name(g), "dropped", Some(g), detail);
    }

    /// At-most-once copies an instance held beyond the one in hand went with it.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_lost_held(&mut self, g: u32, held: &[Work]) {
        let lost = held.iter().any(|w| {
            self.traced_copy(g, w.msg.id) && self.groups[g as usize].ledger.applied(w.msg.id) == 0
        });
        if lost {
            let why = "taken (and so acknowledged) before processing (at-most-once), then lost with its crashed instance";
            self.trace_lost(g, why);
        }
    }

    /// Lost: gone with no record of it being processed.
    #[cold]
    #[inline(never)]
    pub(in crate::engine) fn trace_lost(&mut self, g: u32, why: &str) {
        let component = match self.tracer.as_ref().and_then(|t| t.holder[g as usize]) {
            Some(i) => self.consumer_name(i),
            None => self.group_name(g),
        };
        self.record_now(component, "lost", Some(g), format!("LOST: {why}"));
    }
}
