//! The "close to the limit" reference for a fan-out: a bare single-threaded event loop
//! doing the work of `scenarios/food-delivery.toml` and nothing else, so that mqlab's
//! processed copies per second on that scenario can be set against what an event loop
//! does with the same events on the same machine (heap_limit is that reference for
//! M/M/1).
//!
//! What it keeps of the scenario: Poisson orders at 400/s, each drawn a partition of six
//! (uniformly: the scenario's Zipf keys only skew the load), a lognormal hop of mean 500us
//! and sd 200us to the broker and another back with the acknowledgement, and six groups
//! reading every message: payments (3 instances, lognormal 4ms/2ms), restaurant (3, exp
//! 3ms), driver-assignment (2, uniform 2-6ms), notifications (2, exp 1ms), inventory
//! (2, exp 2ms) and analytics (3, exp 5ms), each instance owning a range of partitions
//! (Kafka's range assignment), fetching round robin across them, its copy's service
//! starting at the later of now and the append plus a lognormal fetch hop. Three events a
//! message (arrival, append, acknowledgement) and one a copy, as many draws as mqlab
//! makes. What it leaves out is everything mqlab does besides: the crash, commits,
//! idempotence, exactly-once, produce timeouts, the ledger, the checks, histograms and
//! series (it sums latencies). Its log is trimmed to what every group has finished.
//!
//! The future-event list is a `Vec` sorted latest first, a push walking in from the end:
//! at the twenty-odd events pending here it costs less than a `BinaryHeap`.
//!
//! Usage: fanout_limit --messages 10000000 --seed 1

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, StandardNormal, Uniform};
use std::collections::VecDeque;
use std::time::Instant;

const PARTITIONS: usize = 6;
const GROUPS: usize = 6;
const RATE: f64 = 400.0;

#[derive(Clone, Copy)]
enum Kind {
    Arrival,
    Append { partition: u8, born: f64 },
    Ack,
    Done { group: u8, instance: u8, born: f64 },
}

#[derive(Clone, Copy)]
struct Ev {
    t: f64,
    kind: Kind,
}

/// Pending events, latest first: a pop takes the last.
struct Events {
    v: Vec<Ev>,
}

impl Events {
    fn push(&mut self, t: f64, kind: Kind) {
        let e = Ev { t, kind };
        let v = &mut self.v;
        v.push(e);
        let mut at = v.len() - 1;
        // Past every event due before it, and those due at the same time (pushed
        // before it, so popped before it).
        while at > 0 && v[at - 1].t <= e.t {
            v[at] = v[at - 1];
            at -= 1;
        }
        v[at] = e;
    }

    fn pop(&mut self) -> Option<Ev> {
        self.v.pop()
    }
}

/// A lognormal given its mean and standard deviation, drawn with `f64::exp` (the
/// `libm` one `rand_distr`'s `LogNormal` reaches costs several times as much).
#[derive(Clone, Copy)]
struct LogNormal {
    mu: f64,
    sigma: f64,
}

impl LogNormal {
    fn new(mean: f64, sd: f64) -> LogNormal {
        let s2 = (1.0 + (sd / mean).powi(2)).ln();
        LogNormal {
            mu: mean.ln() - s2 / 2.0,
            sigma: s2.sqrt(),
        }
    }

    fn sample(self, rng: &mut ChaCha8Rng) -> f64 {
        let z: f64 = StandardNormal.sample(rng);
        (self.mu + self.sigma * z).exp()
    }
}

enum Service {
    LogNormal(LogNormal),
    Exp(Exp<f64>),
    Uniform(Uniform<f64>),
}

impl Service {
    fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Service::LogNormal(d) => d.sample(rng),
            Service::Exp(d) => d.sample(rng),
            Service::Uniform(d) => d.sample(rng),
        }
    }
}

struct Instance {
    busy: bool,
    /// The partitions it owns, `[lo, hi)`.
    lo: usize,
    hi: usize,
    /// The partition of its last fetch (the next looks after it).
    last: usize,
    rng: ChaCha8Rng,
}

struct Group {
    service: Service,
    instances: Vec<Instance>,
    /// By partition: the next offset to fetch, and whether a copy from it is in service.
    position: [u64; PARTITIONS],
    in_service: [bool; PARTITIONS],
    /// By partition: every offset below this is finished.
    done: [u64; PARTITIONS],
}

fn exp(mean: f64) -> Service {
    Service::Exp(Exp::new(1.0 / mean).expect("a positive mean"))
}

fn groups(seed: u64) -> Vec<Group> {
    let specs: [(usize, Service); GROUPS] = [
        (3, Service::LogNormal(LogNormal::new(4e-3, 2e-3))),
        (3, exp(3e-3)),
        (
            2,
            Service::Uniform(Uniform::new(2e-3, 6e-3).expect("a range")),
        ),
        (2, exp(1e-3)),
        (2, exp(2e-3)),
        (3, exp(5e-3)),
    ];
    specs
        .into_iter()
        .enumerate()
        .map(|(g, (count, service))| Group {
            service,
            instances: (0..count)
                .map(|k| {
                    let (lo, hi) = (k * PARTITIONS / count, (k + 1) * PARTITIONS / count);
                    let stream = seed.wrapping_mul(1000) + (g * 16 + k) as u64 + 2;
                    Instance {
                        busy: false,
                        lo,
                        hi,
                        last: hi - 1,
                        rng: ChaCha8Rng::seed_from_u64(stream),
                    }
                })
                .collect(),
            position: [0; PARTITIONS],
            in_service: [false; PARTITIONS],
            done: [0; PARTITIONS],
        })
        .collect()
}

fn main() {
    let mut messages: u64 = 10_000_000;
    let mut seed: u64 = 1;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = || {
            pair.get(1)
                .expect("a value after the flag")
                .parse()
                .expect("a number")
        };
        match pair[0].as_str() {
            "--messages" => messages = value(),
            "--seed" => seed = value(),
            other => panic!("unknown argument {other}"),
        }
    }
    let started = Instant::now();
    let mut orders = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1000));
    let mut network = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1000) + 1);
    let gap = Exp::new(RATE).expect("a positive rate");
    let hop = LogNormal::new(500e-6, 200e-6);
    let mut groups = groups(seed);
    let mut owner = [[0usize; PARTITIONS]; GROUPS];
    for (g, group) in groups.iter().enumerate() {
        for (k, inst) in group.instances.iter().enumerate() {
            owner[g][inst.lo..inst.hi].fill(k);
        }
    }
    // By partition: the appended messages (append time, birth) not yet finished by every
    // group, from offset `base` on.
    let mut log: Vec<VecDeque<(f64, f64)>> = (0..PARTITIONS).map(|_| VecDeque::new()).collect();
    let mut base = [0u64; PARTITIONS];
    let mut events = Events {
        v: Vec::with_capacity(64),
    };
    events.push(gap.sample(&mut orders), Kind::Arrival);
    let (mut produced, mut acked, mut copies, mut handled) = (0u64, 0u64, 0u64, 0u64);
    let mut latency_sum = 0.0f64;
    while let Some(ev) = events.pop() {
        handled += 1;
        let now = ev.t;
        // The instances that may take a message now: an append wakes each group's owner
        // of the partition, a completion its own instance.
        let mut wake = [None::<(usize, usize)>; GROUPS];
        match ev.kind {
            Kind::Arrival => {
                produced += 1;
                if produced < messages {
                    events.push(now + gap.sample(&mut orders), Kind::Arrival);
                }
                let partition = orders.random_range(0..PARTITIONS) as u8;
                events.push(
                    now + hop.sample(&mut network),
                    Kind::Append {
                        partition,
                        born: now,
                    },
                );
            }
            Kind::Append { partition, born } => {
                let p = partition as usize;
                log[p].push_back((now, born));
                events.push(now + hop.sample(&mut network), Kind::Ack);
                for (g, w) in wake.iter_mut().enumerate() {
                    *w = Some((g, owner[g][p]));
                }
            }
            Kind::Ack => acked += 1,
            Kind::Done {
                group,
                instance,
                born,
            } => {
                copies += 1;
                latency_sum += now - born;
                let (g, k) = (group as usize, instance as usize);
                let grp = &mut groups[g];
                let inst = &mut grp.instances[k];
                inst.busy = false;
                let p = inst.last;
                grp.in_service[p] = false;
                grp.done[p] = grp.position[p];
                let low = groups.iter().map(|h| h.done[p]).min().expect("groups");
                while base[p] < low {
                    log[p].pop_front();
                    base[p] += 1;
                }
                wake[0] = Some((g, k));
            }
        }
        for (g, k) in wake.into_iter().flatten() {
            let grp = &mut groups[g];
            let inst = &mut grp.instances[k];
            if inst.busy {
                continue;
            }
            // Round robin from the partition after its last fetch, wrapping around.
            let (lo, hi) = (inst.lo, inst.hi);
            let (mut p, mut found) = (inst.last, None);
            for _ in lo..hi {
                p = if p + 1 == hi { lo } else { p + 1 };
                if !grp.in_service[p] && grp.position[p] < base[p] + log[p].len() as u64 {
                    found = Some(p);
                    break;
                }
            }
            let Some(p) = found else { continue };
            let (appended, born) = log[p][(grp.position[p] - base[p]) as usize];
            grp.position[p] += 1;
            grp.in_service[p] = true;
            inst.busy = true;
            inst.last = p;
            let start = now.max(appended + hop.sample(&mut network));
            let end = start + grp.service.sample(&mut inst.rng);
            events.push(
                end,
                Kind::Done {
                    group: g as u8,
                    instance: k as u8,
                    born,
                },
            );
        }
    }
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(copies, produced * GROUPS as u64, "every copy processed");
    assert_eq!(acked, produced, "every message acknowledged");
    println!(
        "{{\"tool\": \"fanout_limit\", \"seed\": {seed}, \"messages\": {produced}, \
         \"copies\": {copies}, \"events\": {handled}, \"wall_s\": {wall}, \
         \"copies_per_s\": {}, \"ns_per_copy\": {}, \"mean_latency_s\": {}}}",
        copies as f64 / wall,
        wall * 1e9 / copies as f64,
        latency_sum / copies as f64
    );
}
