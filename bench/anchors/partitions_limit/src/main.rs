//! The bare-loop reference for what spreading a log's load over many partitions and
//! instances costs: the job of `scenarios/bench/partitions-1000.toml` (or of its
//! one-partition form, mm1's) done by a single-threaded event loop and nothing else, so
//! that mqlab's cost per message at 1,000 partitions over its cost at one can be set
//! beside the same ratio for a loop that keeps no ledger, checks nothing and records no
//! histogram, measured in the same sitting.
//!
//! What it keeps of the scenario: Poisson arrivals at `0.9 * instances / service` a
//! second, each to a partition drawn uniformly (the `random` partitioner) from the
//! arrivals' stream; each partition a first-in-first-out line of arrival times; each
//! instance owning a contiguous range of `partitions / instances` partitions (Kafka's
//! range assignment), serving one message at a time, fetching round robin from the
//! partition after its last, with an exponential service time drawn from a ChaCha8 stream
//! of its own (as mqlab gives each instance). Events wait in a `BinaryHeap` of (time,
//! sequence), as in heap_limit. It sums sojourn times; nothing else.
//!
//! Usage: partitions_limit --partitions 1000 --instances 100 --service 100e-6
//! --messages 10000000 --seed 1

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

#[derive(Clone, Copy)]
enum Kind {
    Arrival,
    /// Instance `i` finishes the message that arrived at `born`.
    Done { i: u32, born: f64 },
}

#[derive(Clone, Copy)]
struct Ev {
    t: f64,
    seq: u64,
    kind: Kind,
}

impl Ord for Ev {
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.total_cmp(&self.t).then_with(|| o.seq.cmp(&self.seq))
    }
}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Ev {}

struct Instance {
    busy: bool,
    /// Its partitions, `[lo, hi)`.
    lo: usize,
    hi: usize,
    /// The partition of its last fetch: the next looks after it.
    last: usize,
    rng: ChaCha8Rng,
}

fn main() {
    let (mut partitions, mut instances, mut service, mut messages, mut seed) =
        (1000usize, 100usize, 100e-6f64, 10_000_000u64, 1u64);
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).expect("a value after the flag");
        match pair[0].as_str() {
            "--partitions" => partitions = value.parse().expect("a count"),
            "--instances" => instances = value.parse().expect("a count"),
            "--service" => service = value.parse().expect("seconds"),
            "--messages" => messages = value.parse().expect("a count"),
            "--seed" => seed = value.parse().expect("a number"),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        instances >= 1 && partitions.is_multiple_of(instances),
        "partitions must split evenly over the instances"
    );
    let started = Instant::now();
    let mut arrivals = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1000));
    let gap = Exp::new(0.9 * instances as f64 / service).expect("a positive rate");
    let work = Exp::new(1.0 / service).expect("a positive rate");
    let each = partitions / instances;
    let mut insts: Vec<Instance> = (0..instances)
        .map(|k| Instance {
            busy: false,
            lo: k * each,
            hi: (k + 1) * each,
            last: (k + 1) * each - 1,
            rng: ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1000) + 2 + k as u64),
        })
        .collect();
    let mut lines: Vec<VecDeque<f64>> = (0..partitions).map(|_| VecDeque::new()).collect();
    let mut events = BinaryHeap::with_capacity(instances + 2);
    let mut seq = 0u64;
    let mut push = |events: &mut BinaryHeap<Ev>, t: f64, kind: Kind| {
        events.push(Ev { t, seq, kind });
        seq += 1;
    };
    push(&mut events, gap.sample(&mut arrivals), Kind::Arrival);
    let (mut produced, mut done, mut handled) = (0u64, 0u64, 0u64);
    let mut sojourn_sum = 0.0f64;
    while let Some(ev) = events.pop() {
        handled += 1;
        let now = ev.t;
        let i = match ev.kind {
            Kind::Arrival => {
                produced += 1;
                if produced < messages {
                    push(&mut events, now + gap.sample(&mut arrivals), Kind::Arrival);
                }
                let p = arrivals.random_range(0..partitions);
                lines[p].push_back(now);
                p / each
            }
            Kind::Done { i, born } => {
                done += 1;
                sojourn_sum += now - born;
                insts[i as usize].busy = false;
                i as usize
            }
        };
        let inst = &mut insts[i];
        if inst.busy {
            continue;
        }
        // Round robin from the partition after its last fetch, wrapping around.
        let (lo, hi) = (inst.lo, inst.hi);
        let mut p = inst.last;
        for _ in lo..hi {
            p = if p + 1 == hi { lo } else { p + 1 };
            if let Some(born) = lines[p].pop_front() {
                inst.busy = true;
                inst.last = p;
                let end = now + work.sample(&mut inst.rng);
                push(
                    &mut events,
                    end,
                    Kind::Done {
                        i: i as u32,
                        born,
                    },
                );
                break;
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(done, produced, "every message served");
    println!(
        "{{\"tool\": \"partitions_limit\", \"partitions\": {partitions}, \"instances\": {instances}, \
         \"seed\": {seed}, \"messages\": {done}, \"events\": {handled}, \"wall_s\": {wall}, \
         \"messages_per_s\": {}, \"ns_per_message\": {}, \"sojourn_mean_s\": {}}}",
        done as f64 / wall,
        wall * 1e9 / done as f64,
        sojourn_sum / done as f64
    );
}
