//! The event queue's order, held to its definition.

use super::queue::SORTED_MAX;
use super::*;
use crate::time::SimTime;
use proptest::prelude::*;

#[test]
fn every_row_has_its_own_tag_and_the_digest_carries_it() {
    let mut tags: Vec<u64> = Event::TAGS.iter().map(|&(_, t)| t).collect();
    tags.sort_unstable();
    tags.dedup();
    assert_eq!(tags.len(), Event::TAGS.len(), "a digest tag is used twice");
    // The tag sits in the digest's top byte, so it must fit there.
    assert!(tags.iter().all(|&t| t > 0 && t < 256));
    let events = Event::one_of_each();
    assert_eq!(events.len(), Event::TAGS.len());
    for (e, &(name, tag)) in events.iter().zip(Event::TAGS) {
        assert_eq!(e.name(), name);
        assert_eq!(e.digest() >> 56, tag, "{name}");
    }
}

/// What the run loop reads off a popped event without unpacking it (its tag, fields,
/// digest and whether it is periodic) is what the event itself says, for every row and
/// field values that differ in every byte: the digest the row's table entry defines
/// (its first three fields in order) is the one hashed.
#[test]
fn a_packed_event_reads_as_the_event() {
    assert!(
        Event::TAGS.iter().all(|&(_, t)| t < 64),
        "a tag outside the periodic mask"
    );
    for base in [0, 7, 0x1234_5670, 0x00ff_ff00, u32::MAX - 3] {
        for e in Event::one_of_each_from(base)
            .into_iter()
            .chain(Event::one_of_each())
        {
            let p = Packed(e.pack());
            assert_eq!(p.event(), e);
            assert_eq!(p.tag(), e.tag(), "{e:?}");
            assert_eq!(p.digest(), e.digest(), "{e:?}");
            assert_eq!(p.is_periodic(), e.is_periodic(), "{e:?}");
        }
    }
    let (a, b) = (0xdead_beef, 0x0123_4567);
    let arrival = Packed(Event::Arrival { producer: a }.pack());
    assert_eq!(arrival.field(0), a);
    let done = Packed(
        Event::ServiceDone {
            instance: a,
            epoch: b,
        }
        .pack(),
    );
    assert_eq!((done.field(0), done.field(1)), (a, b));
}

#[test]
fn every_event_comes_out_of_the_queue_as_it_went_in() {
    // Packed to one integer in the queue: every field in its own place, at full width.
    for base in [0, 0x1234_5670, u32::MAX - 1] {
        let events = Event::one_of_each_from(base);
        for &e in events.iter().chain(&Event::one_of_each()) {
            assert_eq!(Event::unpack(e.pack()), e, "{e:?}");
        }
        let mut q = EventQueue::default();
        for (t, &e) in events.iter().enumerate() {
            q.push(SimTime(t as u64), e);
        }
        let popped: Vec<Event> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(popped, events);
    }
}

#[test]
fn every_event_fits_in_twelve_bytes() {
    // The queue holds millions of them; a wide variant would grow all of them.
    assert!(size_of::<Event>() <= 12, "{}", size_of::<Event>());
}

/// The queue's definition: one list of `(time, tiebreak, seq, event)` popped in key
/// order, pushed at or after the time of the last pop.
#[derive(Default)]
struct Reference {
    pending: Vec<(u64, u64, u64, Event)>,
    seq: u64,
    /// The time of the last pop.
    floor: u64,
}

impl Reference {
    fn push(&mut self, q: &mut EventQueue, at: u64, event: Event) {
        self.seq += 1;
        self.pending.push((at, event.tiebreak(), self.seq, event));
        q.push(SimTime(at), event);
    }

    /// Pops both and fails unless they agree.
    fn pop(&mut self, q: &mut EventQueue) -> Result<(), TestCaseError> {
        self.pending.sort_by_key(|e| (e.0, e.1, e.2));
        let want = (!self.pending.is_empty()).then(|| self.pending.remove(0));
        let got = q.pop();
        prop_assert_eq!(got, want.map(|w| (SimTime(w.0), w.3)));
        if let Some((t, _)) = got {
            self.floor = t.0;
        }
        Ok(())
    }
}

proptest! {
    /// The packed keys pop exactly what one heap keyed `(time, tiebreak, seq)` pops,
    /// with pushes and pops interleaved and fault events mixed in.
    #[test]
    fn pops_as_one_heap_keyed_time_tiebreak_seq(
        ops in proptest::collection::vec((0u64..8, 0u8..6, 0u32..3, proptest::bool::ANY), 1..300)
    ) {
        let (mut q, mut r) = (EventQueue::default(), Reference::default());
        for (dt, kind, n, pop) in ops {
            if pop {
                r.pop(&mut q)?;
            } else {
                let event = match kind {
                    0 => Event::FaultStart { fault: n },
                    1 => Event::FaultEnd { fault: n },
                    2 => Event::Sample,
                    // Mostly in order: the lane takes them, the rest go where any event goes.
                    3 => Event::ProduceTimeout {
                        producer: n,
                        msg: r.seq as u32,
                        attempt: 0,
                    },
                    _ => Event::Arrival { producer: n },
                };
                r.push(&mut q, r.floor + dt, event);
            }
            prop_assert_eq!(q.len(), r.pending.len());
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

/// Filling past the sorted `Vec`'s limit moves the events to the calendar and draining
/// moves them back, over and over; the order never notices.
#[test]
fn crossing_between_the_sorted_vec_and_the_calendar_keeps_the_order() {
    let mut q = EventQueue::default();
    let mut model: Vec<(u64, u64)> = Vec::new();
    let mut seq = 0;
    let mut rng = 7u64;
    for round in 0..20u64 {
        let (pushes, pops) = if round % 2 == 0 {
            (3 * SORTED_MAX, 2 * SORTED_MAX)
        } else {
            (5, SORTED_MAX + 3)
        };
        for _ in 0..pushes {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let t = 1000 * round + (rng >> 59);
            seq += 1;
            model.push((t, seq));
            q.push(
                SimTime(t),
                Event::Arrival {
                    producer: seq as u32,
                },
            );
        }
        model.sort_unstable();
        for _ in 0..pops.min(model.len()) {
            let (t, s) = model.remove(0);
            assert_eq!(
                q.pop(),
                Some((SimTime(t), Event::Arrival { producer: s as u32 }))
            );
        }
        assert_eq!(q.len(), model.len());
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

proptest! {
    /// Hundreds pending (a run over many instances lives in the calendar): pops, peeks
    /// and lengths with pushes mostly
    /// following pops, as handlers do, still follow one list sorted by
    /// `(time, tiebreak, seq)`, through the sorted `Vec`, the calendar, the arrival slot and
    /// the lane.
    #[test]
    fn many_pending_pop_as_one_sorted_list(
        ops in proptest::collection::vec((0u64..2_000, 0u8..12), 1..3_000)
    ) {
        let (mut q, mut r) = (EventQueue::default(), Reference::default());
        for (dt, kind) in ops {
            if kind < 5 {
                r.pop(&mut q)?;
            } else {
                let n = (dt % 3) as u32;
                let event = match kind {
                    5 => Event::FaultStart { fault: n },
                    6 => Event::ProduceTimeout {
                        producer: n,
                        msg: r.seq as u32,
                        attempt: 0,
                    },
                    7 => Event::Sample,
                    // Arrivals, one producer's at a time in the slot, the rest wherever.
                    8 => Event::Arrival { producer: n },
                    _ => Event::ServiceDone {
                        instance: r.seq as u32,
                        epoch: 0,
                    },
                };
                // Some at the time of the last pop, most later: ties and spread both.
                let at = r.floor + if dt < 200 { 0 } else { dt };
                r.push(&mut q, at, event);
            }
            let earliest = r.pending.iter().min_by_key(|e| (e.0, e.1, e.2)).map(|e| SimTime(e.0));
            prop_assert_eq!(q.peek_time(), earliest);
            prop_assert_eq!(q.len(), r.pending.len());
        }
    }
}

/// `pop_due` pops what `peek_time` then `pop` would, and only when the earliest event is
/// due by the limit: from the lane, the sorted `Vec` and the calendar.
#[test]
fn pop_due_is_peek_then_pop_within_the_limit() {
    let fill = |q: &mut EventQueue| {
        let mut rng = 11u64;
        for k in 0..(3 * SORTED_MAX as u32) {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            q.push(SimTime(rng >> 58), Event::Arrival { producer: k });
            if k % 5 == 0 {
                q.push(
                    SimTime(u64::from(k)),
                    Event::ProduceTimeout {
                        producer: k,
                        msg: k,
                        attempt: 0,
                    },
                );
            }
        }
    };
    let (mut fused, mut separate) = (EventQueue::default(), EventQueue::default());
    fill(&mut fused);
    fill(&mut separate);
    assert_eq!(fused.pop_due(None), Err(separate.peek_time()));
    let mut popped = 0;
    for limit in [0, 5, 5, 20, 40, 63, 63, u64::MAX] {
        loop {
            let next = separate.peek_time();
            let got = fused.pop_due(Some(SimTime(limit)));
            match next {
                Some(t) if t.0 <= limit => {
                    let (t, e) = separate.pop().expect("peeked");
                    let (got_t, got) = got.expect("due");
                    assert_eq!((got_t, got.event()), (t, e));
                    popped += 1;
                }
                _ => {
                    assert_eq!(got, Err(next));
                    break;
                }
            }
        }
        assert_eq!(fused.len(), separate.len());
        assert_eq!(fused.pending_work(), separate.pending_work());
    }
    assert!(popped > 3 * SORTED_MAX);
    assert_eq!(fused.pop_due(Some(SimTime(u64::MAX))), Err(None));
}
