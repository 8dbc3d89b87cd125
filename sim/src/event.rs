//! Events and the event queue, ordered by `(time, insertion sequence)`, so same-time
//! events come out first-in-first-out and ties never depend on anything but the order
//! the engine scheduled them in. How the pending events are held (a sorted `Vec` while
//! few, a heap beyond, a slot for an arrival, a lane for the produce timeouts) changes the
//! cost, never the order.

mod heap;

use crate::time::SimTime;
use heap::Heap;
use std::collections::VecDeque;

/// Declares the events from one table: per row the event's doc and fields, its digest
/// tag and the three values the digest packs with it (folded into the trace hash, so a
/// tag, once given, never changes and never repeats), and whether it is periodic: a
/// periodic event keeps ticking while nothing else happens, and does not keep a finished
/// run alive. A new event is one row here (and its handler in the engine).
macro_rules! events {
    ($(
        $(#[$doc:meta])*
        $name:ident $({ $($(#[$fdoc:meta])* $field:ident: $ty:ty),* $(,)? })?
            => tag $tag:literal, digest ($a:expr, $b:expr, $c:expr), periodic $periodic:literal;
    )*) => {
        /// Everything that can happen. Small and `Copy`; handlers live in the engine.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Event {
            $(
                $(#[$doc])*
                $name $({ $($(#[$fdoc])* $field: $ty),* })?,
            )*
        }

        impl Event {
            /// Every event's name and digest tag, in table order.
            pub const TAGS: &'static [(&'static str, u64)] = &[$((stringify!($name), $tag)),*];

            /// The tags of the periodic rows, one bit each (tags are below 64; a test
            /// holds it), so a packed event's is one shift and mask.
            const PERIODIC_TAGS: u64 = 0 $(| if $periodic { 1u64 << $tag } else { 0 })*;

            /// The event's digest tag (its row's).
            #[must_use]
            pub const fn tag(&self) -> u32 {
                match *self {
                    $(Event::$name { .. } => $tag,)*
                }
            }

            /// Periodic events keep ticking while nothing else happens; they do not keep a
            /// finished run alive.
            #[must_use]
            pub fn is_periodic(&self) -> bool {
                match *self {
                    $(Event::$name { .. } => $periodic,)*
                }
            }

            /// The event's name (its row in the table).
            #[must_use]
            pub fn name(&self) -> &'static str {
                match *self {
                    $(Event::$name { .. } => stringify!($name),)*
                }
            }

            /// A 64-bit digest of the event, folded into the trace hash.
            #[must_use]
            #[inline]
            pub fn digest(&self) -> u64 {
                let (tag, a, b, c): (u64, u32, u32, u8) = match *self {
                    $(Event::$name { $($($field),*)? } => ($tag, $a, $b, $c),)*
                };
                (tag << 56) ^ (u64::from(c) << 48) ^ (u64::from(a) << 24) ^ u64::from(b)
            }

            /// `digest` read straight off the packed event (`pack`), with no look at
            /// its row: every row's digest packs its first three fields in order (the
            /// third cut to a byte), which a test holds for every row, and `pack` lays
            /// the event out as the digest has it, so that it is one mask and one xor
            /// (the run loop hashes every event; a match on the tag cost it about twenty
            /// instructions, shifting the fields into place thirteen).
            #[inline(always)]
            #[allow(clippy::cast_possible_truncation)]
            fn digest_packed(w: u128) -> u64 {
                // The low word is the tag's and the first field's bits of the digest; the
                // high word's second field and the third's low byte complete it.
                (w as u64) ^ ((w >> 64) as u64 & 0x00ff_ffff_ffff_ffff)
            }

            /// The event as one integer, laid out as its digest is made: the tag in bits
            /// 56 to 63, the first field in 24 to 55, the second in 64 to 95 and the third
            /// (at most 16 bits wide) in 112 to 127 (`FIELD_SHIFTS`). What the queue holds:
            /// built in registers, where the enum was assembled on the stack with a store
            /// per field and read back whole, a load that waited for those stores on every
            /// push.
            #[inline(always)]
            #[allow(unused_mut, unused_assignments, unused_variables)]
            fn pack(self) -> u128 {
                match self {
                    $(Event::$name { $($($field),*)? } => {
                        let mut k = 0;
                        let mut w = ($tag as u128) << TAG_SHIFT;
                        $($(
                            w |= u128::from($field) << FIELD_SHIFTS[k];
                            k += 1;
                        )*)?
                        w
                    })*
                }
            }

            /// The event `pack` made `w` from.
            #[inline(always)]
            #[allow(
                clippy::cast_possible_truncation,
                clippy::unnecessary_cast,
                unused_mut,
                unused_assignments,
                unused_variables
            )]
            fn unpack(w: u128) -> Event {
                match (w >> TAG_SHIFT) as u32 & 0xff {
                    $($tag => {
                        let mut k = 0;
                        Event::$name { $($($field: {
                            let v = (w >> FIELD_SHIFTS[k]) as u32 as $ty;
                            k += 1;
                            v
                        }),*)? }
                    })*
                    _ => unreachable!("a packed event's tag"),
                }
            }

            /// One event of every row, its fields zero.
            #[cfg(test)]
            fn one_of_each() -> Vec<Event> {
                vec![$(Event::$name { $($($field: 0),*)? }),*]
            }

            /// One event of every row, each field set to `base` plus its place in the row
            /// (cut to the field's width), so no two fields of an event are equal.
            #[cfg(test)]
            #[allow(clippy::cast_possible_truncation, unused_mut, unused_variables)]
            fn one_of_each_from(base: u32) -> Vec<Event> {
                vec![$({
                    let mut k = base;
                    Event::$name { $($($field: {
                        k = k.wrapping_add(1);
                        k as $ty
                    }),*)? }
                }),*]
            }
        }
    };
}

// Periodic: a visibility check matters only while a queue has messages out (the engine's
// quiescence test looks at the queues themselves); a produce timeout matters only while
// its request is unanswered, which the engine checks itself (`Producer::open`), so an
// answered request's timer must not keep a drained run going until it fires.
events! {
    /// A producer's next message arrives (its intended send time).
    Arrival {
        /// Producer index.
        producer: u32,
    } => tag 1, digest (producer, 0, 0), periodic false;
    /// A bursty producer's on period ends, or its off period ends.
    BurstToggle {
        /// Producer index.
        producer: u32,
    } => tag 2, digest (producer, 0, 0), periodic false;
    /// A produce request reaches the broker.
    ProduceReach {
        /// Producer index.
        producer: u32,
        /// Topic-local message id.
        msg: u32,
        /// Which send of the message this is (0 = first).
        attempt: u8,
    } => tag 3, digest (producer, msg, attempt), periodic false;
    /// The broker's acknowledgement reaches the producer.
    ProduceAck {
        /// Producer index.
        producer: u32,
        /// Topic-local message id.
        msg: u32,
        /// Which send it acknowledges.
        attempt: u8,
    } => tag 4, digest (producer, msg, attempt), periodic false;
    /// A produce request timed out at the producer.
    ProduceTimeout {
        /// Producer index.
        producer: u32,
        /// Topic-local message id.
        msg: u32,
        /// Which send timed out.
        attempt: u8,
    } => tag 5, digest (producer, msg, attempt), periodic true;
    /// A consumer instance finishes processing its message.
    ServiceDone {
        /// Instance index.
        instance: u32,
        /// Guards against work a crash already aborted.
        epoch: u32,
    } => tag 6, digest (instance, epoch, 0), periodic false;
    /// A consumer instance's retry backoff ends.
    RetryReady {
        /// Instance index.
        instance: u32,
        /// Guards against work a crash already aborted.
        epoch: u32,
    } => tag 7, digest (instance, epoch, 0), periodic false;
    /// A group's periodic commit.
    Commit {
        /// Group index.
        group: u32,
    } => tag 8, digest (group, 0, 0), periodic true;
    /// A queue's earliest visibility timeout may have expired.
    Visibility {
        /// Group index.
        group: u32,
    } => tag 9, digest (group, 0, 0), periodic true;
    /// A group's resequencer: its earliest held message may have waited `gap_timeout`.
    GapTimeout {
        /// Group index.
        group: u32,
    } => tag 38, digest (group, 0, 0), periodic false;
    /// A fault begins.
    FaultStart {
        /// Fault index.
        fault: u32,
    } => tag 10, digest (fault, 0, 0), periodic false;
    /// A fault ends.
    FaultEnd {
        /// Fault index.
        fault: u32,
    } => tag 11, digest (fault, 0, 0), periodic false;
    /// A disconnected pub/sub subscriber reconnects.
    Reconnect {
        /// Instance index.
        instance: u32,
    } => tag 14, digest (instance, 0, 0), periodic false;
    /// A follower's fetch from its partition leader comes back.
    Replicate {
        /// Global partition index.
        part: u32,
        /// Replica index within the partition.
        replica: u32,
    } => tag 15, digest (part, replica, 0), periodic false;
    /// A silent member's session runs out: its group reassigns its partitions.
    SessionExpired {
        /// Instance index.
        instance: u32,
        /// Which membership of the instance it concerns.
        membership: u32,
    } => tag 16, digest (instance, membership, 0), periodic false;
    /// A group joins its topic late (`start_at`).
    GroupJoin {
        /// Group index.
        group: u32,
    } => tag 18, digest (group, 0, 0), periodic false;
    /// A rebalance's pause ends.
    GroupResume {
        /// Group index.
        group: u32,
    } => tag 17, digest (group, 0, 0), periodic false;
    /// Brokers flush their logs to disk.
    Flush => tag 19, digest (0, 0, 0), periodic true;
    /// An idle short-polling SQS consumer receives again.
    Poll {
        /// Instance index.
        instance: u32,
    } => tag 20, digest (instance, 0, 0), periodic true;
    /// A read from a topic's spill storage completes.
    SpillRead {
        /// Topic index.
        topic: u32,
    } => tag 40, digest (topic, 0, 0), periodic false;
    /// A statement reaches a service's database (`producer.publish`): a transaction's
    /// commit point, or an outbox relay's read or mark.
    TxCommit {
        /// Producer index.
        producer: u32,
        /// The service's round-trip number.
        tx: u32,
    } => tag 21, digest (producer, tx, 0), periodic false;
    /// The database's answer reaches the service (or its outbox relay).
    TxReply {
        /// Producer index.
        producer: u32,
        /// The service's round-trip number.
        tx: u32,
    } => tag 22, digest (producer, tx, 0), periodic false;
    /// A requester's earliest reply deadline may have passed.
    ReplyTimeout {
        /// Requester (producer) index.
        producer: u32,
    } => tag 36, digest (producer, 0, 0), periodic false;
    /// A time-series bucket closes.
    Sample => tag 12, digest (0, 0, 0), periodic true;
    /// Producers stop producing.
    ProducersStop => tag 13, digest (0, 0, 0), periodic false;
    /// A saga's next instance arrives at its orchestrator.
    SagaArrival {
        /// Saga index.
        saga: u32,
    } => tag 30, digest (saga, 0, 0), periodic false;
    /// The orchestrator's timer for one send of a command.
    SagaTimeout {
        /// Saga instance.
        run: u32,
        /// Which send it guards.
        attempt: u32,
    } => tag 34, digest (run, attempt, 0), periodic false;
    /// A circuit breaker's cool-down ends: open, it goes half-open; half-open with a probe
    /// out that never answered, it opens again.
    BreakerCoolDown {
        /// Group index.
        group: u32,
        /// The breaker's generation when this was scheduled (stale if it moved since).
        generation: u32,
        /// Producer index (the message type; `Msg::producer` is 16 bits too, and keeping
        /// it so keeps an `Event` at 12 bytes).
        producer: u16,
    } => tag 37, digest (group, generation, producer as u8), periodic false;
}

impl Event {
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

/// Where `Event::pack` puts the tag.
const TAG_SHIFT: u32 = 56;
/// Where `Event::pack` puts each field, in the row's order: the first and second where
/// the digest has them, the third above the second, its low byte where the digest has it.
const FIELD_SHIFTS: [u32; 3] = [24, 64, 112];

/// A popped event as the queue holds it (`Event::pack`): the run loop reads the two
/// events every message goes through straight from it, where unpacking stored each field
/// of the enum to the stack and read it back (about ten instructions an event), and
/// unpacks the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packed(u128);

impl Packed {
    /// The event's tag (`Event::tag`).
    #[must_use]
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    pub fn tag(self) -> u32 {
        (self.0 >> TAG_SHIFT) as u32 & 0xff
    }

    /// Field `k` of the event's row, in the row's order (a third field holds at most 16
    /// bits).
    #[must_use]
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)]
    pub fn field(self, k: usize) -> u32 {
        (self.0 >> FIELD_SHIFTS[k]) as u32
    }

    /// The event.
    #[must_use]
    #[inline(always)]
    pub fn event(self) -> Event {
        Event::unpack(self.0)
    }

    /// The event's `digest`.
    #[must_use]
    #[inline(always)]
    pub fn digest(self) -> u64 {
        Event::digest_packed(self.0)
    }

    /// `Event::is_periodic`, from the tag alone.
    #[inline(always)]
    fn is_periodic(self) -> bool {
        (Event::PERIODIC_TAGS >> (self.tag() & 63)) & 1 != 0
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
#[derive(Clone, Copy, Debug)]
struct Entry {
    key: u128,
    /// The event, packed (`Event::pack`).
    event: u128,
}

fn time_of(key: u128) -> SimTime {
    SimTime((key >> 64) as u64)
}

/// Pending events up to which the queue keeps them in one sorted `Vec` (latest first, so
/// the next one pops off the end) instead of the heap: a run with a handful pending (an
/// M/M/1 run has three or four beside its arrival) then pays a pop of a `Vec` and an insert a few slots from
/// its end, cheaper than a heap's sift down and up. Past it they move to the heap, and
/// back once the heap has fallen to `SORTED_BACK`, so that a count hovering at the limit
/// does not move them on every event. The keys are unique, so either holds one order.
/// At 16, food-delivery (fifteen instances, hops in flight and commit timers: about 25
/// pending) lived in the heap and spent 8% of its instructions sifting; at 32 its inserts
/// shift about seven entries and the run executes 4.6% fewer instructions (the Kafka
/// failover scenario 6%, none of the shipped ones more than 0.2% more).
const SORTED_MAX: usize = 32;
const SORTED_BACK: usize = 16;

/// Never a real key (no event has class 3), so an empty arrival slot needs no flag of its
/// own: it compares after everything.
const NONE: u128 = u128::MAX;

/// The pending events, earliest first, ties in `(tiebreak, insertion)` order: a sorted
/// `Vec` while few are pending, one heap otherwise (never both at once), whose keys pack
/// that whole order (see `Entry`), and beside them a slot for a producer's next arrival
/// and a first-in-first-out lane for the produce timeouts. A pop takes the least key of
/// the four; the keys are unique, so where an event waits never changes the order.
#[derive(Debug)]
pub struct EventQueue {
    /// One producer's next arrival, or `NONE`. An arrival comes due soonest of all in a
    /// busy run (a gap is a fraction of a service time), so in the heap it cost a pop at
    /// the root and a push back there at every message, sifting both ways past the
    /// instances' completions; here it costs a store. The first arrival pushed while the
    /// slot is empty takes it, the others go where any event goes.
    arrival: Entry,
    /// Produce timeouts, each later than the one before: a producer's timeout is its
    /// constant `request_timeout` after the send, so they come in order and thousands can
    /// be pending (one per request in flight); kept out of the heap, they cost a push and
    /// a pop of a `VecDeque`, and the heap stays small. A timeout that would not come last
    /// (producers with different timeouts) goes to the heap instead, so the lane is always
    /// sorted whatever comes.
    lane: VecDeque<Entry>,
    /// Latest first; empty while the heap holds the events. The two pass one buffer back
    /// and forth, so a move allocates nothing.
    sorted: Vec<Entry>,
    heap: Heap,
    seq: u64,
    fault_seq: u64,
    work: usize,
}

impl Default for EventQueue {
    fn default() -> EventQueue {
        EventQueue {
            arrival: Entry {
                key: NONE,
                event: 0,
            },
            lane: VecDeque::new(),
            sorted: Vec::new(),
            heap: Heap::default(),
            seq: 0,
            fault_seq: 0,
            work: 0,
        }
    }
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
        let entry = Entry {
            key,
            event: event.pack(),
        };
        if matches!(event, Event::Arrival { .. }) && self.arrival.key == NONE {
            self.arrival = entry;
        } else if matches!(event, Event::ProduceTimeout { .. })
            && self.lane.back().is_none_or(|last| last.key < key)
        {
            self.lane.push_back(entry);
        } else if self.heap.is_empty() && self.sorted.len() < SORTED_MAX {
            // A new event usually comes after the few due soonest: look from the end,
            // moving each sooner one up a place on the way (a step or two, where
            // `insert` called a `memmove`).
            let last = self.sorted.len();
            self.sorted.push(entry);
            let v = &mut self.sorted[..];
            let mut at = last;
            while at > 0 && v[at - 1].key < key {
                v[at] = v[at - 1];
                at -= 1;
            }
            // Where it was pushed, it is in place already.
            if at != last {
                v[at] = entry;
            }
        } else {
            if !self.sorted.is_empty() {
                self.move_to_heap();
            }
            self.heap.push(entry);
        }
    }

    /// Moves the sorted events into the heap (out of line: it happens rarely, and the
    /// heap's own push and pop stay inlined where they were).
    #[inline(never)]
    fn move_to_heap(&mut self) {
        let mut v = std::mem::take(&mut self.sorted);
        // Latest first reversed is earliest first, which is a heap already.
        v.reverse();
        self.heap = Heap::from_ascending(v);
    }

    /// Few events left in the heap: back to the sorted `Vec`, in the heap's own buffer.
    #[inline(never)]
    fn move_to_sorted(&mut self) {
        self.sorted = std::mem::take(&mut self.heap).into_descending();
    }

    /// The key of the earliest event in the sorted `Vec` or the heap.
    #[inline]
    fn main_key(&self) -> Option<u128> {
        match self.sorted.last() {
            Some(e) => Some(e.key),
            None => self.heap.peek_key(),
        }
    }

    /// The least key pending, `NONE` when nothing is.
    #[inline(always)]
    fn next_key(&self) -> u128 {
        let main = self.main_key().unwrap_or(NONE);
        let lane = self.lane.front().map_or(NONE, |e| e.key);
        main.min(lane).min(self.arrival.key)
    }

    /// Removes the event whose key is `key`, the least pending.
    #[inline(always)]
    fn take(&mut self, key: u128) -> Entry {
        if key == self.arrival.key {
            let e = self.arrival;
            self.arrival.key = NONE;
            e
        } else if self.lane.front().is_some_and(|e| e.key == key) {
            self.lane.pop_front().expect("peeked")
        } else {
            self.pop_main().expect("peeked")
        }
    }

    /// The time of the earliest event.
    #[must_use]
    #[inline]
    pub fn peek_time(&self) -> Option<SimTime> {
        let key = self.next_key();
        (key != NONE).then(|| time_of(key))
    }

    /// `peek_time`, then `pop` when the earliest event is due by `limit` (`None`: nothing
    /// is), with one look at where it is: `Ok` holds the event's time and the event as
    /// the queue held it; `Err` holds the earliest time, if any, when nothing was popped.
    /// Always inlined: `run`'s loop pops every event, and a call there cost more than the
    /// pop of a short sorted `Vec`.
    #[inline(always)]
    pub fn pop_due(
        &mut self,
        limit: Option<SimTime>,
    ) -> Result<(SimTime, Packed), Option<SimTime>> {
        let key = self.next_key();
        if key == NONE {
            return Err(None);
        }
        let t = time_of(key);
        if limit.is_none_or(|l| t > l) {
            return Err(Some(t));
        }
        let packed = Packed(self.take(key).event);
        if !packed.is_periodic() {
            self.work -= 1;
        }
        Ok((t, packed))
    }

    /// Removes the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, Event)> {
        let key = self.next_key();
        if key == NONE {
            return None;
        }
        let event = Event::unpack(self.take(key).event);
        if !event.is_periodic() {
            self.work -= 1;
        }
        Some((time_of(key), event))
    }

    /// Removes the earliest event of the sorted `Vec` or the heap.
    #[inline(always)]
    fn pop_main(&mut self) -> Option<Entry> {
        let e = match self.sorted.pop() {
            Some(e) => e,
            None => {
                let e = self.heap.pop()?;
                if self.heap.len() <= SORTED_BACK {
                    self.move_to_sorted();
                }
                e
            }
        };
        Some(e)
    }

    /// Pending events that are not periodic.
    #[must_use]
    pub fn pending_work(&self) -> usize {
        self.work
    }

    /// Pending events of any kind.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sorted.len()
            + self.heap.len()
            + self.lane.len()
            + usize::from(self.arrival.key != NONE)
    }

    /// True when nothing is scheduled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
