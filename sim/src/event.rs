//! Events and the event queue. One `BinaryHeap` ordered by `(time, insertion sequence)`,
//! so same-time events come out first-in-first-out and ties never depend on anything
//! but the order the engine scheduled them in.

use crate::time::SimTime;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Everything that can happen. Small and `Copy`; handlers live in the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A producer's next message arrives (its intended send time).
    Arrival {
        /// Producer index.
        producer: u32,
    },
    /// A bursty producer's on period ends, or its off period ends.
    BurstToggle {
        /// Producer index.
        producer: u32,
    },
    /// A produce request reaches the broker.
    ProduceReach {
        /// Producer index.
        producer: u32,
        /// Topic-local message id.
        msg: u32,
        /// Which send of the message this is (0 = first).
        attempt: u8,
    },
    /// The broker's acknowledgement reaches the producer.
    ProduceAck {
        /// Producer index.
        producer: u32,
        /// Topic-local message id.
        msg: u32,
        /// Which send it acknowledges.
        attempt: u8,
    },
    /// A produce request timed out at the producer.
    ProduceTimeout {
        /// Producer index.
        producer: u32,
        /// Topic-local message id.
        msg: u32,
        /// Which send timed out.
        attempt: u8,
    },
    /// A consumer instance finishes processing its message.
    ServiceDone {
        /// Instance index.
        instance: u32,
        /// Guards against work a crash already aborted.
        epoch: u32,
    },
    /// A consumer instance's retry backoff ends.
    RetryReady {
        /// Instance index.
        instance: u32,
        /// Guards against work a crash already aborted.
        epoch: u32,
    },
    /// A group's periodic commit.
    Commit {
        /// Group index.
        group: u32,
    },
    /// A queue's earliest visibility timeout may have expired.
    Visibility {
        /// Group index.
        group: u32,
    },
    /// A group's resequencer: its earliest held message may have waited `gap_timeout`.
    GapTimeout {
        /// Group index.
        group: u32,
    },
    /// A fault begins.
    FaultStart {
        /// Fault index.
        fault: u32,
    },
    /// A fault ends.
    FaultEnd {
        /// Fault index.
        fault: u32,
    },
    /// A disconnected pub/sub subscriber reconnects.
    Reconnect {
        /// Instance index.
        instance: u32,
    },
    /// A follower's fetch from its partition leader comes back.
    Replicate {
        /// Global partition index.
        part: u32,
        /// Replica index within the partition.
        replica: u32,
    },
    /// A silent member's session runs out: its group reassigns its partitions.
    SessionExpired {
        /// Instance index.
        instance: u32,
        /// Which membership of the instance it concerns.
        membership: u32,
    },
    /// A group joins its topic late (`start_at`).
    GroupJoin {
        /// Group index.
        group: u32,
    },
    /// A rebalance's pause ends.
    GroupResume {
        /// Group index.
        group: u32,
    },
    /// Brokers flush their logs to disk.
    Flush,
    /// An idle short-polling SQS consumer receives again.
    Poll {
        /// Instance index.
        instance: u32,
    },
    /// A read from a topic's spill storage completes.
    SpillRead {
        /// Topic index.
        topic: u32,
    },
    /// A statement reaches a service's database (`producer.publish`): a transaction's
    /// commit point, or an outbox relay's read or mark.
    TxCommit {
        /// Producer index.
        producer: u32,
        /// The service's round-trip number.
        tx: u32,
    },
    /// The database's answer reaches the service (or its outbox relay).
    TxReply {
        /// Producer index.
        producer: u32,
        /// The service's round-trip number.
        tx: u32,
    },
    /// A requester's earliest reply deadline may have passed.
    ReplyTimeout {
        /// Requester (producer) index.
        producer: u32,
    },
    /// A time-series bucket closes.
    Sample,
    /// Producers stop producing.
    ProducersStop,
    /// A saga's next instance arrives at its orchestrator.
    SagaArrival {
        /// Saga index.
        saga: u32,
    },
    /// The orchestrator's timer for one send of a command.
    SagaTimeout {
        /// Saga instance.
        run: u32,
        /// Which send it guards.
        attempt: u32,
    },
    /// A circuit breaker's cool-down ends: open, it goes half-open; half-open with a probe
    /// out that never answered, it opens again.
    BreakerCoolDown {
        /// Group index.
        group: u32,
        /// Producer index (the message type; `Msg::producer` is 16 bits too, and keeping
        /// it so keeps an `Event` at 12 bytes).
        producer: u16,
        /// The breaker's generation when this was scheduled (stale if it moved since).
        generation: u32,
    },
}

impl Event {
    /// Periodic events keep ticking while nothing else happens; they do not keep a
    /// finished run alive.
    #[must_use]
    pub fn is_periodic(&self) -> bool {
        // A visibility check matters only while a queue has messages out; the engine's
        // quiescence test looks at the queues themselves.
        // A produce timeout matters only while its request is unanswered, which the engine
        // checks itself (`Producer::open`); an answered request's timer must not keep a
        // drained run going until it fires.
        matches!(
            self,
            Event::Sample
                | Event::ProduceTimeout { .. }
                | Event::Commit { .. }
                | Event::Visibility { .. }
                | Event::Flush
                | Event::Poll { .. }
        )
    }

    /// A 64-bit digest of the event, folded into the trace hash.
    #[must_use]
    #[inline]
    pub fn digest(&self) -> u64 {
        let (tag, a, b, c): (u64, u32, u32, u8) = match *self {
            Event::Arrival { producer } => (1, producer, 0, 0),
            Event::BurstToggle { producer } => (2, producer, 0, 0),
            Event::ProduceReach {
                producer,
                msg,
                attempt,
            } => (3, producer, msg, attempt),
            Event::ProduceAck {
                producer,
                msg,
                attempt,
            } => (4, producer, msg, attempt),
            Event::ProduceTimeout {
                producer,
                msg,
                attempt,
            } => (5, producer, msg, attempt),
            Event::ServiceDone { instance, epoch } => (6, instance, epoch, 0),
            Event::RetryReady { instance, epoch } => (7, instance, epoch, 0),
            Event::Commit { group } => (8, group, 0, 0),
            Event::Visibility { group } => (9, group, 0, 0),
            Event::FaultStart { fault } => (10, fault, 0, 0),
            Event::FaultEnd { fault } => (11, fault, 0, 0),
            Event::Sample => (12, 0, 0, 0),
            Event::Flush => (19, 0, 0, 0),
            Event::Poll { instance } => (20, instance, 0, 0),
            Event::Reconnect { instance } => (14, instance, 0, 0),
            Event::Replicate { part, replica } => (15, part, replica, 0),
            Event::SessionExpired {
                instance,
                membership,
            } => (16, instance, membership, 0),
            Event::GroupResume { group } => (17, group, 0, 0),
            Event::GroupJoin { group } => (18, group, 0, 0),
            Event::ProducersStop => (13, 0, 0, 0),
            Event::SpillRead { topic } => (40, topic, 0, 0),
            Event::TxCommit { producer, tx } => (21, producer, tx, 0),
            Event::TxReply { producer, tx } => (22, producer, tx, 0),
            Event::SagaArrival { saga } => (30, saga, 0, 0),
            Event::SagaTimeout { run, attempt } => (34, run, attempt, 0),
            Event::ReplyTimeout { producer } => (36, producer, 0, 0),
            Event::BreakerCoolDown {
                group,
                producer,
                generation,
            } => (37, group, generation, producer as u8),
            Event::GapTimeout { group } => (38, group, 0, 0),
        };
        (tag << 56) ^ (u64::from(c) << 48) ^ (u64::from(a) << 24) ^ u64::from(b)
    }

    /// Orders events of the same time. Fault events come first, ends before starts, by
    /// fault index, whenever they were scheduled: a fault injected live from the dashboard
    /// then replays in the same place when its exported scenario runs from the start.
    /// (The queue packs this order into its keys; the tests hold it to this definition.)
    #[cfg(test)]
    fn tiebreak(&self) -> u64 {
        match *self {
            Event::FaultEnd { fault } => u64::from(fault),
            Event::FaultStart { fault } => (1 << 32) | u64::from(fault),
            _ => ORDINARY,
        }
    }
}

/// Same-time order of every event that is not a fault's start or end.
#[cfg(test)]
const ORDINARY: u64 = 2 << 32;

/// Bits of a fault entry's key below its fault index: its place among fault pushes.
const FAULT_SEQ_BITS: u32 = 30;

/// A pending event and its whole order, packed into one integer so that a heap
/// comparison is a single 128-bit compare: the time in the high 64 bits; in the low 64,
/// two class bits (fault ends 0, fault starts 1, everything else 2, so that faults win a
/// tie on time) above, for faults, the fault index and the count of fault pushes so
/// far, and for everything else the insertion sequence.
#[derive(Debug)]
struct Entry {
    key: u128,
    event: Event,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

fn time_of(key: u128) -> SimTime {
    SimTime((key >> 64) as u64)
}

/// The pending events, earliest first, ties in `(tiebreak, insertion)` order: one heap
/// whose keys pack that whole order (see `Entry`).
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    fault_seq: u64,
    work: usize,
}

impl EventQueue {
    /// Schedules `event` at `at`. Always inlined: every handler schedules, and a call
    /// here costs the hot path more than the code it saves.
    #[inline(always)]
    pub fn push(&mut self, at: SimTime, event: Event) {
        if !event.is_periodic() {
            self.work += 1;
        }
        let low = match event {
            Event::FaultEnd { fault } | Event::FaultStart { fault } => {
                let class = u64::from(matches!(event, Event::FaultStart { .. }));
                self.fault_seq += 1;
                (class << 62)
                    | (u64::from(fault) << FAULT_SEQ_BITS)
                    | (self.fault_seq & ((1 << FAULT_SEQ_BITS) - 1))
            }
            _ => {
                self.seq += 1;
                (2 << 62) | self.seq
            }
        };
        let key = (u128::from(at.0) << 64) | u128::from(low);
        self.heap.push(Reverse(Entry { key, event }));
    }

    /// The time of the earliest event.
    #[must_use]
    #[inline]
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|Reverse(e)| time_of(e.key))
    }

    /// Removes the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, Event)> {
        let Reverse(e) = self.heap.pop()?;
        if !e.event.is_periodic() {
            self.work -= 1;
        }
        Some((time_of(e.key), e.event))
    }

    /// Pending events that are not periodic.
    #[must_use]
    pub fn pending_work(&self) -> usize {
        self.work
    }

    /// Pending events of any kind.
    #[must_use]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is scheduled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_event_fits_in_twelve_bytes() {
        // The queue holds millions of them; a wide variant would grow all of them.
        assert!(size_of::<Event>() <= 12, "{}", size_of::<Event>());
    }

    proptest! {
        /// The packed keys pop exactly what one heap keyed `(time, tiebreak, seq)` pops,
        /// with pushes and pops interleaved and fault events mixed in.
        #[test]
        fn pops_as_one_heap_keyed_time_tiebreak_seq(
            ops in proptest::collection::vec((0u64..8, 0u8..5, 0u32..3, proptest::bool::ANY), 1..300)
        ) {
            let mut q = EventQueue::default();
            let mut model: Vec<(u64, u64, u64, Event)> = Vec::new();
            let mut seq = 0;
            let mut floor = 0;
            for (dt, kind, n, pop) in ops {
                if pop {
                    model.sort_by_key(|e| (e.0, e.1, e.2));
                    let want = (!model.is_empty()).then(|| model.remove(0));
                    let got = q.pop();
                    prop_assert_eq!(got, want.map(|w| (SimTime(w.0), w.3)));
                    if let Some((t, _)) = got {
                        floor = t.0;
                    }
                } else {
                    let event = match kind {
                        0 => Event::FaultStart { fault: n },
                        1 => Event::FaultEnd { fault: n },
                        2 => Event::Sample,
                        _ => Event::Arrival { producer: n },
                    };
                    seq += 1;
                    model.push((floor + dt, event.tiebreak(), seq, event));
                    q.push(SimTime(floor + dt), event);
                }
                prop_assert_eq!(q.len(), model.len());
            }
        }

        #[test]
        fn pops_in_time_order_and_fifo_within_a_time(times in proptest::collection::vec(0u64..20, 1..200)) {
            let mut q = EventQueue::default();
            for (i, t) in times.iter().enumerate() {
                q.push(SimTime(*t), Event::Arrival { producer: i as u32 });
            }
            let mut last = (SimTime::ZERO, 0u32);
            let mut first = true;
            while let Some((t, Event::Arrival { producer })) = q.pop() {
                if !first {
                    prop_assert!(t > last.0 || (t == last.0 && producer > last.1));
                }
                first = false;
                last = (t, producer);
            }
            prop_assert!(q.is_empty());
        }
    }

    #[test]
    fn fault_events_sort_first_within_a_time_whatever_their_insertion() {
        let mut q = EventQueue::default();
        q.push(SimTime(5), Event::Sample);
        q.push(SimTime(5), Event::FaultStart { fault: 1 });
        q.push(SimTime(5), Event::FaultStart { fault: 0 });
        q.push(SimTime(5), Event::FaultEnd { fault: 2 });
        let order: Vec<Event> = std::iter::from_fn(|| q.pop().map(|e| e.1)).collect();
        assert_eq!(
            order,
            [
                Event::FaultEnd { fault: 2 },
                Event::FaultStart { fault: 0 },
                Event::FaultStart { fault: 1 },
                Event::Sample
            ]
        );
    }

    #[test]
    fn periodic_events_do_not_count_as_work() {
        let mut q = EventQueue::default();
        q.push(SimTime(5), Event::Sample);
        q.push(SimTime(6), Event::Commit { group: 0 });
        q.push(SimTime(7), Event::ProducersStop);
        assert_eq!((q.len(), q.pending_work()), (3, 1));
        q.pop();
        q.pop();
        q.pop();
        assert_eq!(q.pending_work(), 0);
    }
}
