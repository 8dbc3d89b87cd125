//! The pending events: the queue's order packed into one integer key per event, and
//! where the events wait (a sorted `Vec` while few, a calendar beyond, a slot for an
//! arrival, a lane for the produce timeouts).

use super::calendar::Calendar;
use super::{Event, Packed};
use crate::time::SimTime;
use std::collections::VecDeque;

/// Bits of a fault entry's key below its fault index: its place among fault pushes.
pub(super) const FAULT_SEQ_BITS: u32 = 30;

/// A pending event and its whole order, packed into one integer so that a comparison
/// is a single 128-bit compare: the time in the high 64 bits; in the low 64,
/// two class bits (fault ends 0, fault starts 1, everything else 2, so that faults win a
/// tie on time) above, for faults, the fault index and the count of fault pushes so
/// far, and for everything else the insertion sequence.
#[derive(Clone, Copy, Debug)]
pub(super) struct Entry {
    pub(super) key: u128,
    /// The event, packed (`Event::pack`).
    pub(super) event: u128,
}

pub(super) fn time_of(key: u128) -> SimTime {
    SimTime((key >> 64) as u64)
}

/// Moves `e`, which is `v[last]`, towards the front past every entry due before it,
/// `v[..last]` being latest first already: a new event usually comes after the few due
/// soonest, so a step or two from the end (where `insert` called a `memmove`). The sorted
/// `Vec`'s insert, the calendar bottom's, and the insertion sort of a bucket the calendar
/// makes current. `e` comes in by value so that a push's entry stays in registers.
#[inline(always)]
pub(super) fn settle_last(v: &mut [Entry], last: usize, e: Entry) {
    debug_assert_eq!(v[last].key, e.key);
    let mut at = last;
    while at > 0 && v[at - 1].key < e.key {
        v[at] = v[at - 1];
        at -= 1;
    }
    // Where it was pushed, it is in place already.
    if at != last {
        v[at] = e;
    }
}

/// Pending events up to which the queue keeps them in one sorted `Vec` (latest first, so
/// the next one pops off the end) instead of the calendar: a run with a handful pending
/// (an M/M/1 run has three or four beside its arrival) then pays a pop of a `Vec` and an
/// insert a few slots from its end, cheaper than the calendar's buckets (or the binary
/// heap that held them before it). Past it they move to the calendar, and back once it
/// has fallen to `SORTED_BACK`, so that a count hovering at the limit
/// does not move them on every event. The keys are unique, so either holds one order.
/// At 16, food-delivery (fifteen instances, hops in flight and commit timers: about 25
/// pending) lived in the heap and spent 8% of its instructions sifting; at 32 its inserts
/// shift about seven entries and the run executes 4.6% fewer instructions (the Kafka
/// failover scenario 6%, none of the shipped ones more than 0.2% more).
/// With the calendar beyond (its first version), a limit of 16 again cost food-delivery 4%
/// of its wall time (1,098 ms against 1,052 at 1,000,000 messages): its 25 or so sit
/// better sorted.
pub(super) const SORTED_MAX: usize = 32;
const SORTED_BACK: usize = 16;

/// Never a real key (no event has class 3), so an empty arrival slot needs no flag of its
/// own: it compares after everything.
const NONE: u128 = u128::MAX;

/// The pending events, earliest first, ties in `(tiebreak, insertion)` order: a sorted
/// `Vec` while few are pending, a calendar otherwise (never both at once), whose keys pack
/// that whole order (see `Entry`), and beside them a slot for a producer's next arrival
/// and a first-in-first-out lane for the produce timeouts. A pop takes the least key of
/// the four; the keys are unique, so where an event waits never changes the order.
#[derive(Debug)]
pub struct EventQueue {
    /// One producer's next arrival, or `NONE`. An arrival comes due soonest of all in a
    /// busy run (a gap is a fraction of a service time), so in a heap it cost a pop at
    /// the root and a push back there at every message, sifting both ways past the
    /// instances' completions; here it costs a store. The first arrival pushed while the
    /// slot is empty takes it, the others go where any event goes.
    arrival: Entry,
    /// Produce timeouts, each later than the one before: a producer's timeout is its
    /// constant `request_timeout` after the send, so they come in order and thousands can
    /// be pending (one per request in flight); kept apart, they cost a push and a pop of a
    /// `VecDeque`. A timeout that would not come last (producers with different timeouts)
    /// goes where every event goes instead, so the lane is always
    /// sorted whatever comes.
    lane: VecDeque<Entry>,
    /// Latest first; empty while the calendar holds the events. A move either way keeps
    /// the buffers of both, so it allocates nothing once the run has warmed up.
    sorted: Vec<Entry>,
    calendar: Calendar,
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
            calendar: Calendar::default(),
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
        } else if self.calendar.is_empty() && self.sorted.len() < SORTED_MAX {
            self.sorted.push(entry);
            let last = self.sorted.len() - 1;
            settle_last(&mut self.sorted, last, entry);
        } else {
            if !self.sorted.is_empty() {
                self.move_to_calendar();
            }
            self.calendar.push(entry);
        }
    }

    /// Moves the sorted events into the calendar (out of line: it happens rarely, and
    /// the calendar's own push and pop stay inlined where they were).
    #[inline(never)]
    fn move_to_calendar(&mut self) {
        // Latest first reversed is earliest first.
        self.sorted.reverse();
        self.calendar.load(&mut self.sorted);
    }

    /// Few events left in the calendar: back to the sorted `Vec`, in its own buffer.
    #[inline(never)]
    fn move_to_sorted(&mut self) {
        self.calendar.unload(&mut self.sorted);
    }

    /// The key of the earliest event in the sorted `Vec` or the calendar.
    #[inline]
    fn main_key(&self) -> u128 {
        if let Some(e) = self.sorted.last() {
            return e.key;
        }
        self.calendar.peek_key().unwrap_or(NONE)
    }

    /// The least key pending, `NONE` when nothing is.
    #[inline(always)]
    fn next_key(&self) -> u128 {
        let main = self.main_key();
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

    /// Removes the earliest event of the sorted `Vec` or the calendar.
    #[inline(always)]
    fn pop_main(&mut self) -> Option<Entry> {
        let e = match self.sorted.pop() {
            Some(e) => e,
            None => {
                let e = self.calendar.pop()?;
                if self.calendar.holds_at_most(SORTED_BACK) {
                    self.move_to_sorted();
                }
                e
            }
        };
        Some(e)
    }

    /// Entries' room the queue keeps in its buffers (what it allocated, not what it
    /// holds): for the tests that it follows the pending count, not the run's length.
    #[must_use]
    pub fn room(&self) -> usize {
        self.lane.capacity() + self.sorted.capacity() + self.calendar.room()
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
            + self.calendar.len()
            + self.lane.len()
            + usize::from(self.arrival.key != NONE)
    }

    /// True when nothing is scheduled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
