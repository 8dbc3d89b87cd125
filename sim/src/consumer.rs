//! Consumer groups and their instances: configuration, the work an instance holds, the
//! acknowledgements it has not committed yet, and the group's ledger and figures. What
//! happens when is decided in the engine.

use crate::dist::Dist;
use crate::keys::KeyTable;
use crate::ledger::Ledger;
use crate::log::GroupPartition;
use crate::message::Msg;
use crate::metrics::GroupMetrics;
use crate::queue::SqsQueue;
use crate::rng::SimRng;
use crate::scenario::{Assignment, ConsumerConfig, Delivery, OnFailure};
use crate::time::{SimDuration, SimTime};

/// Where a group's messages wait: its view of each partition, or its own queue.
// One per group, built once and never moved on the hot path: boxing the queue would only
// add an indirection to every receive.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Store {
    /// Log model: one entry per partition of the topic.
    Log(Vec<GroupPartition>),
    /// Queue model.
    Queue(SqsQueue),
}

/// Which broker semantics a group's store follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupKind {
    /// Kafka-like partitions and offsets.
    Log,
    /// SQS-like: visibility timeout, receipts, redrive after `max_receives`.
    Sqs,
    /// RabbitMQ-like queue bound to an exchange: unacked messages stay with their
    /// consumer until acked, or go back to the queue when its channel closes.
    Amqp,
    /// Redis-like subscriber: a bounded output buffer, nothing kept for the offline.
    PubSub,
}

/// What a group's broker model declares about it (the engine's `Model` trait answers
/// these in each model's own file), read once when the group is built.
#[derive(Clone, Copy, Debug)]
pub struct ModelTraits {
    /// The model's kind.
    pub kind: GroupKind,
    /// The store is a view of the topic's partitions, not a queue of the group's own.
    pub partitioned: bool,
    /// `on_failure` when the scenario leaves it out.
    pub on_failure: OnFailure,
    /// Nothing is kept to redeliver: the group is at-most-once whatever `delivery` says.
    pub at_most_once: bool,
    /// Consumers with `wait_time = 0` short-poll.
    pub polls: bool,
}

/// Pub/sub subscriber settings.
#[derive(Clone, Copy, Debug)]
pub struct Subscriber {
    /// Output buffer limit, in messages.
    pub buffer: u64,
    /// What a full buffer does.
    pub on_overflow: crate::scenario::Overflow,
    /// Time to reconnect after a disconnect.
    pub reconnect: SimDuration,
}

/// A consumer group.
#[derive(Debug)]
pub struct Group {
    /// Broker semantics of its store.
    pub kind: GroupKind,
    /// Its model lets consumers short-poll (see `short_polling`).
    pub polls: bool,
    /// Pub/sub settings.
    pub subscriber: Subscriber,
    /// What a message that failed every retry becomes.
    pub on_failure: crate::scenario::OnFailure,
    /// Queue model: long-polling wait; zero is short polling.
    pub wait_time: SimDuration,
    /// Queue model, short polling: pause between empty receives.
    pub poll_interval: SimDuration,
    /// Queue model: messages per receive.
    pub batch: u32,
    /// Queue model: receives that returned nothing.
    pub empty_receives: u64,
    /// Exchange: unacknowledged messages a consumer may hold.
    pub prefetch: u32,
    /// Exchange: the consumer the broker pushes to next.
    pub rr: u32,
    /// Log model: has joined its topic (see `start_at`).
    pub joined: bool,
    /// Log model: where it starts when it joins late.
    pub offset_reset: crate::scenario::OffsetReset,
    /// Group name.
    pub name: String,
    /// Topic index.
    pub topic: u32,
    /// Delivery variant.
    pub delivery: Delivery,
    /// Commit period; zero commits after each message.
    pub commit_interval: SimDuration,
    /// Retries of a failing message.
    pub max_retries: u32,
    /// First retry delay.
    pub backoff: SimDuration,
    /// Service time.
    pub service: Dist,
    /// Partition assignment strategy.
    pub assignment: Assignment,
    /// Index of instance 0 in the engine's instance list.
    pub first: u32,
    /// Number of instances.
    pub count: u32,
    /// Partitions or queue.
    pub store: Store,
    /// Log model: the fetchable partitions as bits, while every instance keeping
    /// candidates owns a narrow contiguous range (`log::Ranges`). Boxed: held in place,
    /// its 32 bytes grew every group and the compiler laid the hot loops out worse for
    /// it (food-delivery +0.8% instructions, mm1 +0.5%); boxed, neither moved.
    pub ranges: Box<crate::log::Ranges>,
    /// One byte per copy addressed to the group.
    pub ledger: Ledger,
    /// Ordered groups: per global key, one past the highest sequence applied.
    pub order: KeyTable<u32>,
    /// Messages not yet committed (log) or deleted (queue).
    pub lag: u64,
    /// Largest lag so far.
    pub max_lag: u64,
    /// Log model: time for the group to notice a silent member.
    pub session_timeout: SimDuration,
    /// Log model: the stop-the-world pause of a rebalance.
    pub rebalance_pause: SimDuration,
    /// No member fetches before this (a rebalance is under way).
    pub paused_until: SimTime,
    /// Queue model: idle live instances (engine indices), lowest last.
    pub idle: Vec<u32>,
    /// Waiting, sojourn, utilisation, latency.
    pub metrics: GroupMetrics,
    /// `resequence = true`: the group's resequencing buffer.
    pub reseq: Option<Box<crate::resequencer::Resequencer>>,
}

impl Group {
    /// A copy of `msg` was applied: out of order if its key's later message came first.
    #[inline(always)]
    pub fn note_order(&mut self, msg: &Msg) {
        if let Some(high) = self.order.get_mut(msg.key) {
            if *high > msg.seq {
                self.metrics.out_of_order += 1;
                self.metrics.example_out_of_order(msg.id);
            } else {
                *high = msg.seq + 1;
            }
        }
    }

    /// Builds a group; `first` is its instance 0's engine index.
    #[must_use]
    pub fn new(
        cfg: &ConsumerConfig,
        topic: u32,
        first: u32,
        model: ModelTraits,
        keys: u32,
    ) -> Group {
        let store = if model.partitioned {
            Store::Log(Vec::new())
        } else {
            Store::Queue(SqsQueue::default())
        };
        Group {
            kind: model.kind,
            polls: model.polls,
            on_failure: cfg
                .on_failure
                .as_ref()
                .map_or(model.on_failure, |f| *f.get_ref()),
            wait_time: cfg.wait_time,
            poll_interval: cfg.poll_interval,
            batch: *cfg.batch.get_ref(),
            empty_receives: 0,
            prefetch: *cfg.prefetch.get_ref(),
            rr: 0,
            joined: cfg.start_at.get_ref().is_zero(),
            offset_reset: cfg.offset_reset,
            subscriber: Subscriber {
                buffer: *cfg.buffer.get_ref(),
                on_overflow: cfg.on_overflow,
                reconnect: cfg.reconnect,
            },
            name: cfg.group.get_ref().clone(),
            topic,
            // At-least-once with a transactional consumer is exactly-once.
            delivery: if model.at_most_once {
                Delivery::AtMostOnce
            } else if cfg.idempotence() == crate::scenario::Idempotence::Transactional {
                Delivery::ExactlyOnce
            } else {
                cfg.delivery
            },
            commit_interval: cfg.commit_interval,
            max_retries: cfg.max_retries,
            backoff: cfg.backoff,
            service: cfg.service_time,
            assignment: cfg.assignment,
            first,
            count: *cfg.instances.get_ref(),
            store,
            ranges: Box::default(),
            ledger: Ledger::default(),
            order: if cfg.ordered || cfg.resequences() {
                KeyTable::new(keys)
            } else {
                KeyTable::default()
            },
            lag: 0,
            max_lag: 0,
            session_timeout: cfg.session_timeout,
            rebalance_pause: cfg.rebalance_pause,
            paused_until: SimTime::ZERO,
            idle: Vec::new(),
            metrics: GroupMetrics::default(),
            reseq: crate::resequencer::for_group(cfg, keys),
        }
    }

    /// Engine indices of its instances.
    pub fn instances(&self) -> std::ops::Range<u32> {
        self.first..self.first + self.count
    }

    /// Adds to the lag and tracks its maximum.
    pub fn lag_add(&mut self, n: u64) {
        self.lag += n;
        self.max_lag = self.max_lag.max(self.lag);
    }

    /// Messages produced now are copies for this group.
    #[must_use]
    pub fn receives_now(&self) -> bool {
        self.joined || self.offset_reset == crate::scenario::OffsetReset::Earliest
    }

    /// SQS short polling: idle consumers poll rather than wait for a message.
    #[must_use]
    pub fn short_polling(&self) -> bool {
        self.polls && self.wait_time.is_zero()
    }

    /// Whether a crash replays from the last commit (rather than losing what was taken).
    #[must_use]
    pub fn commits_after_processing(&self) -> bool {
        self.delivery != Delivery::AtMostOnce
    }
}

/// The message an instance is working on. In declaration order (`repr(C)`), the dedup tag
/// first: the compiler keeps `Option<Work>`'s `None` in the tag's first byte (seen in the
/// machine code, not promised by the language), so whether an instance holds work is read
/// in the instance's first line.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Work {
    /// Its dedup steps, and what attributes a second application.
    pub dedup: crate::dedup::Tag,
    /// Log: partition index within the topic.
    pub partition: u32,
    /// Queue: the receipt of this receive.
    pub receipt: u32,
    /// Failed attempts so far.
    pub attempt: u32,
    /// The message.
    pub msg: Msg,
    /// Log: offset; queue: slot.
    pub offset: u64,
    /// When the current attempt's service began.
    pub started: SimTime,
    /// Held by an instance cut off from the broker: its outcome cannot be reported.
    pub fenced: bool,
}

impl Work {
    /// `msg` just taken from `offset` of `partition` (a queue: its slot, with the
    /// receive's `receipt`; a log: 0), its first attempt starting at `started`.
    #[inline(always)]
    #[must_use]
    pub fn taken(msg: Msg, partition: u32, offset: u64, receipt: u32, started: SimTime) -> Work {
        Work {
            msg,
            partition,
            offset,
            receipt,
            attempt: 0,
            started,
            fenced: false,
            dedup: crate::dedup::Tag::default(),
        }
    }
}

/// An acknowledgement processed but not yet committed (queue model).
#[derive(Clone, Copy, Debug)]
pub struct PendingAck {
    /// Queue slot.
    pub slot: u32,
    /// Receipt of the receive that processed it.
    pub receipt: u32,
    /// The message, should a rollback need to requeue it.
    pub msg: Msg,
}

/// One consumer instance, laid out in declaration order (`repr(C)`) by the lines a
/// message reads: a run over many instances finds each one out of the cache at every
/// completion. The first line holds what an arrival asks (`is_idle`) and what a completion
/// reads first (the epoch, the partition in hand); the second the rest of the work, the
/// owned partitions and the index of the random stream, whose buffer follows; the line
/// after the stream the service counters and the fetch cursor. partitions-1000 took 8%
/// fewer first-level misses (cachegrind's simulated cache) than with the counters first
/// and the stream after the cursor; the layout test holds the lines.
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Instance {
    /// Bumped at every crash so that events of aborted work are ignored.
    pub epoch: u32,
    /// Group index.
    pub group: u32,
    /// Index within the group (`group/local` in fault targets).
    pub local: u32,
    /// False while crashed.
    pub up: bool,
    /// False while a network partition cuts it off from the broker: it finishes what it
    /// holds (a zombie) but cannot fetch, commit or acknowledge.
    pub reachable: bool,
    /// SQS short polling: a poll is scheduled.
    pub polling: bool,
    /// On the generic path, its completions and takes run the plain path's handlers
    /// (its group's features are all ones they serve: the engine's `plain/lean.rs`).
    pub lean: bool,
    /// The message in hand.
    pub work: Option<Work>,
    /// Log: partitions (indices within the topic) it owns.
    pub owned: Vec<u32>,
    /// Its own random stream (service times).
    pub rng: SimRng,
    /// Bumped whenever it leaves its group, so a stale session expiry is ignored.
    pub membership: u32,
    /// Queue: processed but not yet deleted.
    pub pending: Vec<PendingAck>,
    /// Service-time multiplier (slow faults).
    pub slow: f64,
    /// Time spent in service, nanoseconds.
    pub busy_ns: u64,
    /// Copies it processed.
    pub processed: u64,
    /// The copy in hand's wait: from its arrival to the start of this delivery's first
    /// attempt. Recorded when the copy's effect is first applied, with its sojourn, so
    /// the two describe the same copies (recorded at delivery, a copy delivered and
    /// never applied counted in the one and not the other, and the mean wait came out
    /// above the mean sojourn).
    pub wait: SimDuration,
    /// Log: the partitions it owns that may have a message to fetch, and where the next
    /// fetch starts looking (fairness across partitions).
    pub ready: crate::log::Ready,
    /// Exchange: messages sent to it ahead, not yet started (within `prefetch`); SQS: the
    /// rest of a batch receive.
    pub prefetched: std::collections::VecDeque<Work>,
    /// SQS: idle (a receive waiting) since then.
    pub idle_since: Option<SimTime>,
}

impl Instance {
    /// A fresh, idle, live instance.
    #[must_use]
    pub fn new(group: u32, local: u32, rng: SimRng) -> Instance {
        Instance {
            group,
            local,
            up: true,
            reachable: true,
            membership: 0,
            epoch: 0,
            slow: 1.0,
            work: None,
            owned: Vec::new(),
            ready: crate::log::Ready::default(),
            rng,
            pending: Vec::new(),
            prefetched: std::collections::VecDeque::new(),
            idle_since: None,
            polling: false,
            lean: false,
            busy_ns: 0,
            processed: 0,
            wait: SimDuration::ZERO,
        }
    }

    /// Up and holding nothing.
    #[must_use]
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.up && self.reachable && self.work.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of};

    /// The line of each field a message reads (see `Instance`): an arrival's `is_idle` and
    /// a completion's first reads in the first, the rest of the work, the owned partitions
    /// and the stream's index in the second, the counters and the cursor in one more.
    #[test]
    fn what_a_message_reads_lies_in_four_cache_lines() {
        let line = |offset: usize| offset / 64;
        assert_eq!(align_of::<Instance>(), 64);
        assert_eq!(line(offset_of!(Instance, epoch)), 0);
        assert_eq!(line(offset_of!(Instance, up)), 0);
        assert_eq!(
            line(offset_of!(Instance, work) + offset_of!(Work, dedup)),
            0
        );
        assert_eq!(
            line(offset_of!(Instance, work) + offset_of!(Work, partition)),
            0
        );
        assert_eq!(line(offset_of!(Instance, work) + size_of::<Work>() - 1), 1);
        assert_eq!(
            line(offset_of!(Instance, owned) + size_of::<Vec<u32>>() - 1),
            1
        );
        // The stream's index comes first in it (`BlockRng`'s layout, seen in the
        // machine code): its offset must stay within the second line.
        assert_eq!(line(offset_of!(Instance, rng)), 1);
        let counters = line(offset_of!(Instance, slow));
        assert!(counters > 1);
        assert_eq!(line(offset_of!(Instance, processed) + 7), counters);
        assert_eq!(line(offset_of!(Instance, wait) + 7), counters);
        // The cursor, the span and the count of looks (the first 24 bytes of `Ready`).
        assert_eq!(line(offset_of!(Instance, ready) + 23), counters);
    }
}
