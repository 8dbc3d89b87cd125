//! The calendar held to a `BTreeSet` of its keys: whatever the pace, the spread, the
//! bursts and the pending count, it pops what the set's least is.

use super::{Calendar, MAX_SLOTS, MIN_SLOTS, SLOT_ROOM, TUNE_EVERY};
use crate::event::queue::Entry;
use crate::rng::{self, StreamKind};
use rand::RngExt;
use std::collections::BTreeSet;

/// The calendar beside the set it must agree with, and the last time popped (nothing is
/// pushed before it, as the engine schedules nothing in the past).
struct Pair {
    c: Calendar,
    set: BTreeSet<u128>,
    seq: u64,
    floor: u64,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            c: Calendar::default(),
            set: BTreeSet::new(),
            seq: 0,
            floor: 0,
        }
    }

    fn push(&mut self, at: u64) {
        self.seq += 1;
        let key = (u128::from(at) << 64) | u128::from(self.seq);
        self.set.insert(key);
        self.c.push(Entry {
            key,
            event: u128::from(self.seq),
        });
        self.check();
    }

    fn pop(&mut self) {
        let want = self.set.pop_first();
        let got = self.c.pop();
        assert_eq!(got.map(|e| e.key), want);
        if let Some(e) = got {
            assert_eq!(
                e.event,
                e.key & u128::from(u64::MAX),
                "the entry kept its event"
            );
            self.floor = (e.key >> 64) as u64;
        }
        self.check();
    }

    fn check(&self) {
        assert_eq!(self.c.peek_key(), self.set.first().copied());
        assert_eq!(self.c.len(), self.set.len());
        assert_eq!(self.c.is_empty(), self.set.is_empty());
    }
}

/// Phases of a long run: the pace of pops changes by a thousandfold and back, the pending
/// count climbs to thousands and falls to nothing, some events land far past the slots'
/// span, some at the instant of the last pop, and some in bursts at one instant. Each
/// phase outlasts a tuning, so the buckets are laid out again between them.
#[test]
fn pops_the_least_key_through_every_pace_spread_and_burst() {
    let mut rng = rng::stream(7, StreamKind::Fault, 0);
    let mut p = Pair::new();
    // (mean gap between a push and its time, pending to hold, far share in percent)
    let phases: [(u64, usize, u32); 7] = [
        (1_000, 100, 0),
        (1_000_000, 100, 2),
        (1, 50, 0),
        (10_000, 5_000, 5),
        (10_000_000_000, 300, 20),
        (100, 2, 0),
        (50_000, 40, 50),
    ];
    for &(mean, pending, far) in &phases {
        for _ in 0..2 * TUNE_EVERY as usize + 1_000 {
            let at = match rng.random_range(0u32..100) {
                r if r < far => p.floor + mean * 1_000 + rng.random_range(0..mean.max(1)),
                r if r < far + 5 => p.floor,
                _ => p.floor + rng.random_range(0..2 * mean),
            };
            if p.set.len() < pending {
                p.push(at);
            } else {
                p.pop();
                p.push(at);
            }
        }
        // A burst at one instant, popped through with a push at that instant after each.
        for _ in 0..300 {
            p.push(p.floor);
        }
        for _ in 0..300 {
            p.pop();
            p.push(p.floor);
        }
    }
    while !p.set.is_empty() {
        p.pop();
    }
    p.pop();
}

/// Ten thousand events at one instant, and each pop pushing another at it: the bottom
/// fills to its limit and the rest go to the crowd, still in key order.
#[test]
fn a_burst_at_one_instant_pops_in_key_order() {
    let mut p = Pair::new();
    p.push(5);
    p.pop();
    for _ in 0..10_000 {
        p.push(5);
    }
    assert!(p.c.crowd.len() > 9_000, "the burst went past the bottom");
    for _ in 0..20_000 {
        p.pop();
        p.push(5);
    }
    while !p.set.is_empty() {
        p.pop();
    }
}

/// The layout follows the pending count and the pace: slots for twice the pending,
/// within their bounds, and a bucket about eight gaps between pops wide.
#[test]
fn tuning_sizes_slots_to_the_pending_and_buckets_to_the_pace() {
    for (gap, pending) in [
        (1u64, 10usize),
        (1_000, 100),
        (1_000_000, 10_000),
        (7, 1 << 20),
    ] {
        let (shift, slots) = Calendar::fit(gap, pending);
        assert_eq!(
            slots,
            (2 * pending)
                .next_power_of_two()
                .clamp(MIN_SLOTS, MAX_SLOTS)
        );
        let width = 1u64 << shift;
        assert!(
            width <= 8 * gap && 8 * gap < 2 * width,
            "gap {gap}: width {width}"
        );
    }
    // A run whose pace slows a thousandfold is laid out again at the next look.
    let mut p = Pair::new();
    for i in 0..500 {
        p.push(i * 1_000);
    }
    for _ in 0..2 * TUNE_EVERY {
        p.pop();
        p.push(p.floor + 500 * 1_000);
    }
    let before = p.c.shift;
    for _ in 0..2 * TUNE_EVERY {
        p.pop();
        p.push(p.floor + 500 * 1_000_000);
    }
    assert!(p.c.shift >= before + 9, "{before} -> {}", p.c.shift);
    assert_eq!(p.c.mask + 1, 1_024);
}

/// The width a calendar starts with comes from the pace at its front: a far timer among
/// the events it takes over (a 60 s timeout among 32 due a microsecond apart) does not
/// widen its buckets to milliseconds, where every push would land in the bottom.
#[test]
fn a_far_timer_among_the_first_events_does_not_widen_the_buckets() {
    let mut v: Vec<Entry> = (0..32u64)
        .map(|i| Entry {
            key: (u128::from(i * 1_000) << 64) | u128::from(i),
            event: 0,
        })
        .collect();
    v.push(Entry {
        key: (60_000_000_000u128 << 64) | 99,
        event: 0,
    });
    let mut c = Calendar::default();
    c.load(&mut v);
    assert!(v.is_empty());
    assert!(
        1u64 << c.shift <= 8 * 1_000,
        "buckets of {} ns",
        1u64 << c.shift
    );
    assert_eq!(c.len(), 33);
    let mut out = Vec::new();
    c.unload(&mut out);
    assert!(out.is_sorted_by_key(|e| std::cmp::Reverse(e.key)));
    assert_eq!(out.len(), 33);
}

/// A steady run with a burst now and then (a transaction's outputs, timers that fall due
/// together): the buffer a burst grew trades places with a slot's at every refill, so
/// without a bound each burst left one more slot holding a burst's room for good, and a
/// pipeline of a few million messages kept 100 MB for 2,000 pending events. What the
/// calendar keeps is bounded by its slots and what it holds, not by the run's length.
#[test]
fn bursts_do_not_leave_their_room_behind_in_the_slots() {
    const PENDING: usize = 2_000;
    const BURST: usize = 600;
    let mut p = Pair::new();
    let mut rng = rng::stream(3, StreamKind::Fault, 0);
    for _ in 0..PENDING {
        let at = rng.random_range(0..2_000_000);
        p.push(at);
    }
    for round in 1..=800 {
        // A thousand pops and pushes at the steady pace, then a burst at one instant a
        // little ahead, popped at once.
        for _ in 0..1_000 {
            p.pop();
            let ahead = rng.random_range(1..2_000_000);
            p.push(p.floor + ahead);
        }
        let at = p.floor + 500_000;
        for _ in 0..BURST {
            p.push(at);
        }
        for _ in 0..BURST {
            p.pop();
        }
        if round % 200 == 0 {
            // The slots' share (a bucket's usual room each), and a few times the most
            // ever held for the heaps, the bottom, the spare and the burst's own slot.
            let bound = p.c.slots.len() * SLOT_ROOM + 8 * (PENDING + BURST);
            let room = p.c.room();
            assert!(
                room <= bound,
                "round {round}: room for {room} entries, more than {bound}, for about \
                 {PENDING} pending"
            );
        }
    }
}
