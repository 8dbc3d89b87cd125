//! Producers: the arrival process, key choice, partitioner, and the requests a producer
//! has in flight when the network is not instantaneous. Scheduling stays in the engine;
//! this module only draws and keeps producer-side state.

use crate::keys::KeyTable;
use crate::message::Msg;
use crate::rng::SimRng;
use crate::scenario::{Arrival, KeyDistribution, Partitioner, ProducerConfig};
use crate::time::{NANOS_PER_SEC, SimDuration, SimTime};
use rand::RngExt;
use rand_distr::{Distribution, Exp1};
use std::collections::VecDeque;

mod inflight;
mod sequences;
mod zipf;
pub use inflight::InflightMap;
pub use sequences::Unresolved;
use zipf::KeyZipf;

/// A produce request awaiting its acknowledgement.
#[derive(Clone, Copy, Debug)]
pub struct Inflight {
    /// The message.
    pub msg: Msg,
    /// Its partition.
    pub partition: u32,
    /// The current send (0 = first).
    pub attempt: u8,
    /// Requests and answers still on the network, and requests parked at a full broker,
    /// of any send of this message; the entry lives until they land. Wide, because a
    /// message an outbox relay keeps republishing can have many sends parked at once.
    pub in_transit: u32,
    /// Acknowledged, refused or given up.
    pub done: bool,
    /// The current send was refused with a retriable error, the partition having no leader
    /// or too few in-sync replicas for `acks = all`: it goes again as soon as the partition
    /// can take it (`resend_refused`: a broker back, a follower back in the ISR), or at its
    /// timeout if that comes first.
    pub refused: bool,
}

/// One producer's state.
#[derive(Debug)]
pub struct Producer {
    /// Name from the scenario.
    pub name: String,
    /// Topic index.
    pub topic: u32,
    /// Partitions of that topic.
    pub partitions: u32,
    arrival: Arrival,
    /// Mean gap while producing, in nanoseconds (during on periods for bursty).
    gap_ns: f64,
    /// Constant arrivals: gaps handed out so far, so that the k-th arrival falls at
    /// k/rate exactly (rounded once) instead of drifting by a rounded gap each time.
    gaps: u64,
    burst_on: SimDuration,
    burst_off: SimDuration,
    /// Bursty: in an on period.
    pub bursting: bool,
    /// Bursty: when the current on period ends.
    pub on_until: SimTime,
    keys: u32,
    /// Index of this producer's key 0 among all keys.
    pub key_base: u32,
    zipf: Option<KeyZipf>,
    partitioner: Partitioner,
    round_robin: u32,
    /// Resends after a timeout before giving up.
    pub retries: u32,
    /// How long to wait for an acknowledgement.
    pub request_timeout: SimDuration,
    /// After a rejection, resend after this (doubling); none: a rejection is final.
    pub retry_backoff: Option<SimDuration>,
    /// The broker drops resends it has already appended and, on a log, refuses a
    /// sequence gap.
    pub idempotent: bool,
    /// Requests sent and not yet answered at most (`u32::MAX`: no limit).
    pub max_in_flight: u32,
    /// Messages made while `max_in_flight` requests were out, oldest first; each has an
    /// entry in `inflight` (not done, nothing in transit) until it is sent.
    pub waiting: VecDeque<u32>,
    /// Idempotent producer on a log: by partition, the message ids the broker has not yet
    /// taken and the producer has not given up. The broker's next expected sequence on a
    /// partition is the first of these: ids grow in production order, so they order a
    /// producer's messages to one partition as Kafka's sequence numbers do.
    pub unresolved: Unresolved,
    /// Payload size when every payload has the same (0 when sizes vary).
    pub payload_bytes: u64,
    /// The producer's own random stream.
    pub rng: SimRng,
    /// Per key, how many messages it has had.
    key_seq: KeyTable<u32>,
    /// `events_per_key`: messages in a row with one key, and how many of the current
    /// run are still to come.
    run: u32,
    run_left: u32,
    last_key: u32,
    /// Messages created.
    pub produced: u64,
    /// False while crashed.
    pub up: bool,
    /// False while a network partition cuts it off from the broker.
    pub reachable: bool,
    /// Requests awaiting acknowledgement (only with a network that takes time).
    pub inflight: InflightMap,
    /// Entries of `inflight` not yet done: while any is open its timeout still matters.
    pub open: u32,
    /// Poison faults active on this producer.
    pub poison: Vec<u32>,
    /// When the last request reaches the broker: the connection is FIFO (TCP), so
    /// jitter delays requests but never reorders them.
    pub link_out: SimTime,
    /// When the last answer reaches the producer, likewise FIFO.
    pub link_in: SimTime,
    /// Per routing key, the groups its messages go to (one route, every group of the
    /// topic, unless the topic is an exchange).
    pub routes: Vec<Vec<u32>>,
}

impl Producer {
    /// Builds producer state from its config.
    #[must_use]
    pub fn new(
        cfg: &ProducerConfig,
        topic: u32,
        partitions: u32,
        key_base: u32,
        rng: SimRng,
    ) -> Self {
        let rate = *cfg.rate.get_ref();
        let keys = *cfg.keys.get_ref();
        let duty = if cfg.arrival == Arrival::Bursty {
            let on = cfg.burst_on.get_ref().as_secs_f64();
            on / (on + cfg.burst_off.get_ref().as_secs_f64())
        } else {
            1.0
        };
        Producer {
            name: cfg.name.get_ref().clone(),
            topic,
            partitions,
            arrival: cfg.arrival,
            gap_ns: NANOS_PER_SEC as f64 * duty / rate,
            gaps: 0,
            burst_on: *cfg.burst_on.get_ref(),
            burst_off: *cfg.burst_off.get_ref(),
            bursting: true,
            on_until: SimTime::MAX,
            keys,
            key_base,
            zipf: (cfg.key_distribution == KeyDistribution::Zipf).then(|| {
                KeyZipf::new(f64::from(keys), *cfg.zipf_exponent.get_ref()).expect("validated zipf")
            }),
            partitioner: cfg.partitioner,
            round_robin: 0,
            retries: *cfg.retries.get_ref(),
            request_timeout: cfg.request_timeout,
            retry_backoff: cfg.retry_backoff,
            idempotent: cfg.idempotent,
            max_in_flight: cfg
                .max_in_flight
                .as_ref()
                .map_or(u32::MAX, |m| *m.get_ref()),
            waiting: VecDeque::new(),
            unresolved: Unresolved::default(),
            payload_bytes: match cfg.payload_bytes {
                crate::size::SizeDist::Const(b) => b,
                _ => 0,
            },
            rng,
            key_seq: KeyTable::new(keys),
            run: *cfg.events_per_key.get_ref(),
            run_left: 0,
            last_key: 0,
            produced: 0,
            up: true,
            reachable: true,
            inflight: InflightMap::default(),
            open: 0,
            poison: Vec::new(),
            link_out: SimTime::ZERO,
            link_in: SimTime::ZERO,
            routes: Vec::new(),
        }
    }

    /// Number of distinct keys.
    #[must_use]
    pub fn keys(&self) -> u32 {
        self.keys
    }

    /// True for on/off arrivals.
    #[must_use]
    pub fn is_bursty(&self) -> bool {
        self.arrival == Arrival::Bursty
    }

    /// The gap to the next arrival. Poisson arrivals are drawn where they are asked for;
    /// the rest out of line.
    #[inline(always)]
    pub fn next_gap(&mut self) -> SimDuration {
        if self.arrival == Arrival::Poisson {
            let x: f64 = Exp1.sample(&mut self.rng);
            return SimDuration((x * self.gap_ns) as u64);
        }
        self.other_gap()
    }

    /// `next_gap` for constant and bursty arrivals.
    #[inline(never)]
    fn other_gap(&mut self) -> SimDuration {
        match self.arrival {
            Arrival::Constant => {
                // From the k-th to the (k+1)-th arrival, each placed at k * gap rounded
                // once: the rounding never accumulates (validation keeps gap >= 1ns).
                let at = |k: u64| (k as f64 * self.gap_ns).round() as u64;
                let k = self.gaps;
                self.gaps += 1;
                SimDuration(at(k + 1) - at(k))
            }
            Arrival::Poisson | Arrival::Bursty => {
                let x: f64 = Exp1.sample(&mut self.rng);
                SimDuration((x * self.gap_ns) as u64)
            }
        }
    }

    /// The length of the next on (or off) period of a bursty producer.
    pub fn burst_period(&mut self, on: bool) -> SimDuration {
        let mean = if on { self.burst_on } else { self.burst_off };
        let x: f64 = Exp1.sample(&mut self.rng);
        SimDuration((x * mean.0 as f64) as u64)
    }

    /// Draws a key; returns (global key, its sequence number).
    #[inline(always)]
    pub fn next_key(&mut self) -> (u32, u32) {
        let k = if self.run_left > 0 {
            self.run_left -= 1;
            self.last_key
        } else {
            self.run_left = self.run.saturating_sub(1);
            self.last_key = self.draw_key();
            self.last_key
        };
        let n = self.key_seq.get_mut(k).expect("a key of this producer");
        *n += 1;
        (self.key_base + k, *n - 1)
    }

    /// The next sequence number of this producer's key `k` (a service's re-keyed output,
    /// whose key is given, not drawn).
    pub fn next_seq(&mut self, k: u32) -> u32 {
        let n = self.key_seq.get_mut(k).expect("a key of this producer");
        *n += 1;
        *n - 1
    }

    /// One key (without a Zipf law, which draws even then) draws nothing, and is known
    /// without a call.
    #[inline(always)]
    fn draw_key(&mut self) -> u32 {
        if self.keys == 1 && self.zipf.is_none() {
            return 0;
        }
        self.draw_of_many()
    }

    /// `draw_key` for a Zipf law or more than one key.
    #[inline(never)]
    fn draw_of_many(&mut self) -> u32 {
        match &self.zipf {
            Some(z) => (z.sample(&mut self.rng) as u32).clamp(1, self.keys) - 1,
            None if self.keys == 1 => 0,
            None => self.rng.random_range(0..self.keys),
        }
    }

    /// Draws a routing key (its index) when there is a choice.
    #[inline]
    pub fn next_route(&mut self) -> u8 {
        match self.routes.len() {
            0 | 1 => 0,
            n => self.rng.random_range(0..n) as u8,
        }
    }

    /// Chooses the partition for a message with `key`.
    #[inline(always)]
    pub fn partition_for(&mut self, key: u32) -> u32 {
        if self.partitions == 1 {
            return 0;
        }
        match self.partitioner {
            Partitioner::Key => (mix(u64::from(key)) % u64::from(self.partitions)) as u32,
            Partitioner::RoundRobin => {
                let p = self.round_robin;
                self.round_robin = (p + 1) % self.partitions;
                p
            }
            Partitioner::Random => self.rng.random_range(0..self.partitions),
        }
    }
}

/// A fixed integer hash (splitmix64's finaliser), so a key's partition never changes.
#[must_use]
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
