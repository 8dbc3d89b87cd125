//! The event queue alone, in the classic hold model (take the earliest of `k` pending
//! events, schedule one an exponential time after it, `k` stays pending), beside
//! heap_limit's `hold` doing the same on a `std` `BinaryHeap`: how each slows as the
//! pending events grow. A run over 100 busy instances keeps about 100 pending, so this is
//! what partitions-1000 pays for its event set, measured apart from everything else.

use super::anchors::{self, Place};
use mqlab_sim::dist::Dist;
use mqlab_sim::event::{Event, EventQueue};
use mqlab_sim::rng::{self, StreamKind};
use mqlab_sim::{SimDuration, SimTime};
use serde::Serialize;
use std::time::Instant;

/// The pending counts measured: an M/M/1 run's few, the event queue's sorted `Vec` at its
/// limit, partitions-1000's hundred, and two larger sets.
pub const PENDING: [usize; 5] = [2, 32, 100, 1_000, 10_000];

/// One pending count's figures, each the fastest of the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Hold {
    pub pending: usize,
    pub events: u64,
    /// mqlab's `EventQueue`, nanoseconds an event (a pop and a push, with the draw).
    pub mqlab_ns: f64,
    /// heap_limit's `BinaryHeap`, the same.
    pub heap_limit_ns: f64,
}

/// Measures every pending count once, `events` events each, into `best` (keeping each
/// program's fastest run).
pub fn measure(place: &Place, events: u64, best: &mut Vec<Hold>) -> anyhow::Result<()> {
    for (i, &k) in PENDING.iter().enumerate() {
        let ours = mqlab_ns(k, events);
        let theirs = anchors::heap_limit_hold(place, k, events)?;
        match best.get_mut(i) {
            Some(h) => {
                h.mqlab_ns = h.mqlab_ns.min(ours);
                h.heap_limit_ns = h.heap_limit_ns.min(theirs);
            }
            None => best.push(Hold {
                pending: k,
                events,
                mqlab_ns: ours,
                heap_limit_ns: theirs,
            }),
        }
    }
    Ok(())
}

/// The hold loop on the engine's own queue, timed around the loop as heap_limit times
/// its own: nanoseconds an event.
fn mqlab_ns(pending: usize, events: u64) -> f64 {
    let mut rng = rng::stream(1, StreamKind::Producer, 0);
    let gap = Dist::Exp(SimDuration::from_secs_f64(1.0));
    let mut q = EventQueue::default();
    for _ in 0..pending {
        q.push(SimTime(0) + gap.sample(&mut rng), Event::Sample);
    }
    let started = Instant::now();
    let mut sum = 0u64;
    for _ in 0..events {
        let (t, e) = q.pop().expect("the hold model keeps its events pending");
        sum = sum.wrapping_add(t.0);
        q.push(t + gap.sample(&mut rng), e);
    }
    let wall = started.elapsed().as_secs_f64();
    // Used, so the loop is not optimised away.
    std::hint::black_box(sum);
    wall * 1e9 / events.max(1) as f64
}

/// The Markdown table.
pub fn markdown(holds: &[Hold]) -> String {
    let mut s = String::from(
        "The event queue alone, hold model (take the earliest of *k* pending, schedule one an \
         exponential time later), beside heap_limit's `hold` on a `std` `BinaryHeap`, each \
         timed around its own loop, fastest of the rounds:\n\n\
         | pending events | events | mqlab ns/event | heap_limit ns/event | mqlab vs heap_limit |\n\
         |--:|--:|--:|--:|--:|\n",
    );
    for h in holds {
        s.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.2}x |\n",
            super::table::grouped(h.pending as u64),
            super::table::grouped(h.events),
            h.mqlab_ns,
            h.heap_limit_ns,
            h.mqlab_ns / h.heap_limit_ns,
        ));
    }
    if let (Some(few), Some(hundred)) = (
        holds.iter().find(|h| h.pending == PENDING[0]),
        holds.iter().find(|h| h.pending == 100),
    ) {
        s.push_str(&format!(
            "\nFrom {} to 100 pending an event costs {:.2}x as much in mqlab's queue and {:.2}x \
             in the bare heap.\n",
            few.pending,
            hundred.mqlab_ns / few.mqlab_ns,
            hundred.heap_limit_ns / few.heap_limit_ns,
        ));
    }
    s
}
