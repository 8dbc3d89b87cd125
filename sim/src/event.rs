//! Events and the event queue, ordered by `(time, insertion sequence)`, so same-time
//! events come out first-in-first-out and ties never depend on anything but the order
//! the engine scheduled them in. How the pending events are held (a sorted `Vec` while
//! few, a calendar beyond, a slot for an arrival, a lane for the produce timeouts) changes the
//! cost, never the order.

mod calendar;
mod heap;
mod queue;

pub use queue::EventQueue;

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

#[cfg(test)]
mod tests;
