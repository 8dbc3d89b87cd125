//! Payload bytes: heavy-tailed sizes, the broker's ingest bandwidth, the claim check, and
//! the bytes the broker holds (`max_broker_bytes`). Kept only when a scenario uses one of
//! them, so a plain run has no byte state and no extra event.
//!
//! A message's size is never stored: it is recomputed from the producer's own random
//! stream positioned at the message id (four 32-bit words per message), so `Msg` stays
//! 32 bytes. Log partitions keep a prefix sum of bytes by offset (8 bytes per message the
//! partition still holds, only here), which gives the bytes a partition holds as
//! `cum[end] - cum[base]` whatever trimmed it; the sums below the partition's base are
//! dropped as it is trimmed, so the table follows the backlog, not the run's length; queues count their own bytes (`SqsQueue::hold_bytes`). The broker's bytes
//! only grow on an append, so checking the total there gives the exact peak.

use super::Engine;
use crate::consumer::Store;
use crate::dist::Dist;
use crate::message::Msg;
use crate::rng::{SimRng, StreamKind, stream};
use crate::scenario::Scenario;
use crate::size::{Bandwidth, SizeDist, human_bytes};
use crate::summary::{ClaimCheckSummary, Expectation, PayloadSummary};
use crate::time::{SimDuration, SimTime};
use rand::Rng;

/// Words of the size stream each message owns: two uniforms of 64 bits.
const WORDS_PER_MESSAGE: u128 = 4;
/// Sizes drawn per positioning of the stream: `set_word_pos` regenerates a whole ChaCha
/// buffer (64 words), which holds the draws of 16 consecutive messages.
const RUN: u32 = 16;
/// Recently drawn sizes kept per producer (direct-mapped by id).
const CACHE: usize = 256;

/// One producer's payloads.
#[derive(Debug)]
struct Sizes {
    dist: SizeDist,
    /// Counter-based: positioned at the message id before each draw.
    rng: SimRng,
    /// Claim check: payloads above this go to the store.
    claim_over: Option<u64>,
    reference: u64,
    store_latency: Dist,
    /// The producer's puts into the store.
    put_rng: SimRng,
    /// (id, size) of recent draws: a message's size is asked for at creation, at the
    /// broker and at the consumer, mostly soon after one another.
    cache: Vec<(u32, u64)>,
}

/// One log partition's prefix sums of bytes, from offset `first` on: `sums[i]` is the
/// bytes of the offsets below `first + i`.
#[derive(Debug, Clone)]
struct Prefix {
    first: u64,
    sums: Vec<u64>,
}

impl Default for Prefix {
    fn default() -> Self {
        Prefix {
            first: 0,
            sums: vec![0],
        }
    }
}

impl Prefix {
    /// Bytes below offset `o` (offsets past the end read as the end).
    fn at(&self, o: u64) -> u64 {
        let i = usize::try_from(o.saturating_sub(self.first)).unwrap_or(usize::MAX);
        self.sums[i.min(self.sums.len() - 1)]
    }

    /// Records `bytes` appended at offset `o` (a truncated tail past it is overwritten),
    /// and forgets the sums below `base` once they are half the table, so that dropping
    /// them costs O(1) per append.
    fn append(&mut self, o: u64, bytes: u64, base: u64) {
        let i = usize::try_from(o - self.first).expect("an offset in memory");
        self.sums.truncate(i + 1);
        let below = self.sums[i];
        self.sums.push(below + bytes);
        let dead = usize::try_from(base.saturating_sub(self.first)).unwrap_or(usize::MAX);
        let dead = dead.min(self.sums.len() - 1);
        if dead > 0 && dead * 2 >= self.sums.len() {
            self.sums.drain(..dead);
            self.first += dead as u64;
        }
    }
}

/// Byte state of a run that uses payload sizes.
#[derive(Debug)]
pub(super) struct Payloads {
    producers: Vec<Sizes>,
    /// Per consumer instance: its gets from the store.
    get_rng: Vec<SimRng>,
    bandwidth: Option<Bandwidth>,
    /// When the broker finishes ingesting what it has been sent so far.
    ingest_free: SimTime,
    ingested: u64,
    ingest_delay_ns: u128,
    ingest_delay_max: SimDuration,
    /// Per global log partition: the bytes of the offsets below each offset it holds.
    cum: Vec<Prefix>,
    held_max: u64,
    series: Vec<u64>,
    produced: u64,
    stored: u64,
    stored_bytes: u64,
}

/// True when the scenario uses payload bytes at all.
fn wanted(sc: &Scenario) -> bool {
    sc.broker.bandwidth.is_some()
        || sc.expect.max_broker_bytes.is_some()
        || sc
            .producers
            .iter()
            .any(|p| !p.payload_bytes.is_const() || p.claim_check.is_some())
}

/// Produce requests must travel as events: the ingest or a store put takes time.
pub(super) fn needs_async(sc: &Scenario) -> bool {
    sc.broker.bandwidth.is_some() || sc.producers.iter().any(|p| p.claim_check.is_some())
}

/// The byte state, or none when the scenario does not use it.
pub(super) fn build(sc: &Scenario, seed: u64) -> Option<Box<Payloads>> {
    if !wanted(sc) {
        return None;
    }
    let producers = sc
        .producers
        .iter()
        .enumerate()
        .map(|(i, p)| Sizes {
            dist: p.payload_bytes,
            rng: stream(seed, StreamKind::Payload, i as u32),
            claim_over: p.claim_check.as_ref().map(|c| c.get_ref().0),
            reference: p.claim_reference_bytes.get_ref().0,
            store_latency: p.claim_store_latency,
            put_rng: stream(seed, StreamKind::ClaimStore, i as u32),
            cache: vec![(u32::MAX, 0); CACHE],
        })
        .collect();
    let instances: u32 = sc.consumers.iter().map(|c| *c.instances.get_ref()).sum();
    Some(Box::new(Payloads {
        producers,
        // Gets live above the puts' indices, so adding a producer moves no get.
        get_rng: (0..instances)
            .map(|i| stream(seed, StreamKind::ClaimStore, (1 << 31) | i))
            .collect(),
        bandwidth: sc.broker.bandwidth.as_ref().map(|b| *b.get_ref()),
        ingest_free: SimTime::ZERO,
        ingested: 0,
        ingest_delay_ns: 0,
        ingest_delay_max: SimDuration::ZERO,
        cum: Vec::new(),
        held_max: 0,
        series: Vec::new(),
        produced: 0,
        stored: 0,
        stored_bytes: 0,
    }))
}

impl Sizes {
    fn size(&mut self, id: u32) -> u64 {
        if let SizeDist::Const(b) = self.dist {
            return b;
        }
        let slot = id as usize % CACHE;
        if self.cache[slot].0 == id {
            return self.cache[slot].1;
        }
        // Draws the whole run of 16 around `id`: the same words as positioning at each.
        let first = id - id % RUN;
        self.rng.set_word_pos(u128::from(first) * WORDS_PER_MESSAGE);
        for other in first..first.saturating_add(RUN) {
            let (u1, u2) = (unit(self.rng.next_u64()), unit(self.rng.next_u64()));
            self.cache[other as usize % CACHE] = (other, self.dist.draw(u1, u2));
        }
        self.cache[slot].1
    }

    /// The payload goes to the store.
    fn claimed(&mut self, id: u32) -> bool {
        self.claim_over.is_some_and(|t| self.size(id) > t)
    }

    /// Bytes that go through the broker: the payload, or only its reference.
    fn through_broker(&mut self, id: u32) -> u64 {
        let size = self.size(id);
        match self.claim_over {
            Some(t) if size > t => self.reference,
            _ => size,
        }
    }
}

/// A uniform in (0, 1] from 64 random bits.
fn unit(x: u64) -> f64 {
    ((x >> 11) + 1) as f64 / (1u64 << 53) as f64
}

impl Engine {
    /// Queues count the bytes they hold once the run tracks bytes.
    pub(super) fn track_queue_bytes(&mut self) {
        if self.payload.is_some() {
            for g in &mut self.groups {
                if let Store::Queue(q) = &mut g.store {
                    q.track_bytes();
                }
            }
        }
    }

    /// Producer `p` created message `id`: its payload bytes (stored ones counted).
    #[inline]
    pub(super) fn payload_created(&mut self, p: u32, id: u32) -> u64 {
        let Some(pl) = self.payload.as_deref_mut() else {
            return self.producers[p as usize].payload_bytes;
        };
        let sizes = &mut pl.producers[p as usize];
        let size = sizes.size(id);
        if sizes.claimed(id) {
            pl.stored += 1;
            pl.stored_bytes += size;
        }
        pl.produced += size;
        size
    }

    /// Bytes message `msg` takes in the broker (0 when bytes are not tracked).
    #[inline]
    pub(super) fn broker_bytes_of(&mut self, msg: &Msg) -> u64 {
        self.payload.as_deref_mut().map_or(0, |pl| {
            pl.producers[msg.producer as usize].through_broker(msg.id)
        })
    }

    /// Claim check: the first send of a stored payload waits for its put into the store.
    #[inline]
    pub(super) fn claim_put(&mut self, p: u32, id: u32, attempt: u8) -> SimDuration {
        let Some(pl) = self.payload.as_deref_mut() else {
            return SimDuration::ZERO;
        };
        let s = &mut pl.producers[p as usize];
        if attempt == 0 && s.claimed(id) {
            s.store_latency.sample(&mut s.put_rng)
        } else {
            SimDuration::ZERO
        }
    }

    /// A request reaching the broker at `reach` is ingested after everything sent before
    /// it, one at a time at the broker's bandwidth; returns when it is in.
    pub(super) fn ingest(&mut self, p: u32, id: u32, reach: SimTime) -> SimTime {
        let Some(pl) = self.payload.as_deref_mut() else {
            return reach;
        };
        let Some(bw) = pl.bandwidth else {
            return reach;
        };
        let bytes = pl.producers[p as usize].through_broker(id);
        let done = reach.max(pl.ingest_free) + SimDuration(bw.transfer_ns(bytes));
        pl.ingest_free = done;
        let delay = done.since(reach);
        pl.ingested += 1;
        pl.ingest_delay_ns += u128::from(delay.0);
        pl.ingest_delay_max = pl.ingest_delay_max.max(delay);
        done
    }

    /// Claim check: before processing a stored payload the consumer gets it from the store.
    #[inline]
    pub(super) fn claim_get(&mut self, i: u32) -> SimDuration {
        let Some(pl) = self.payload.as_deref_mut() else {
            return SimDuration::ZERO;
        };
        let msg = self.instances[i as usize].work.as_ref().expect("work").msg;
        let s = &mut pl.producers[msg.producer as usize];
        if s.claimed(msg.id) {
            s.store_latency.sample(&mut pl.get_rng[i as usize])
        } else {
            SimDuration::ZERO
        }
    }

    /// After an append of `bytes` (at `offset` of a log partition): the broker's bytes
    /// can only have grown here, so this is where the peak is taken.
    pub(super) fn payload_appended(
        &mut self,
        t: u32,
        partition: u32,
        offset: Option<u64>,
        bytes: u64,
    ) {
        if self.payload.is_none() {
            return;
        }
        if let Some(o) = offset {
            let topic = &self.topics[t as usize];
            let gp = (topic.part_base + partition) as usize;
            let base = topic.partitions[partition as usize].base();
            let pl = self.payload.as_deref_mut().expect("checked");
            if pl.cum.len() <= gp {
                pl.cum.resize(gp + 1, Prefix::default());
            }
            // A truncated tail (leader change) is overwritten by the new append.
            pl.cum[gp].append(o, bytes, base);
        }
        let held = self.broker_bytes();
        let pl = self.payload.as_deref_mut().expect("checked");
        pl.held_max = pl.held_max.max(held);
    }

    /// Prefix sums held over every log partition (0 without payload bytes).
    pub(super) fn payload_prefix_len(&self) -> usize {
        self.payload
            .as_deref()
            .map_or(0, |pl| pl.cum.iter().map(|c| c.sums.len()).sum())
    }

    /// Payload bytes the broker holds now.
    fn broker_bytes(&self) -> u64 {
        let Some(pl) = self.payload.as_deref() else {
            return 0;
        };
        let logs: u64 = self
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .enumerate()
                    .map(move |(p, part)| (t.part_base as usize + p, part))
            })
            .filter_map(|(gp, part)| {
                let cum = pl.cum.get(gp)?;
                Some(cum.at(part.end) - cum.at(part.base()))
            })
            .sum();
        let queues: u64 = self
            .groups
            .iter()
            .map(|g| match &g.store {
                Store::Queue(q) => q.bytes(),
                Store::Log(_) => 0,
            })
            .sum();
        logs + queues
    }

    /// A time-series bucket closed: record the broker's bytes with it.
    /// The series' last bucket was merged away: its byte sample goes with it.
    pub(super) fn unsample_broker_bytes(&mut self) {
        if let Some(pl) = self.payload.as_deref_mut() {
            pl.series.pop();
        }
    }

    /// The series merged its buckets in pairs: so do the byte samples.
    pub(super) fn coarsen_broker_bytes(&mut self) {
        if let Some(pl) = self.payload.as_deref_mut() {
            crate::metrics::keep_pair_ends(&mut pl.series);
        }
    }

    pub(super) fn sample_broker_bytes(&mut self) {
        let buckets = self.series.series.t_s.len();
        if self
            .payload
            .as_ref()
            .is_some_and(|pl| pl.series.len() < buckets)
        {
            let held = self.broker_bytes();
            let pl = self.payload.as_deref_mut().expect("checked");
            pl.series.resize(buckets, held);
        }
    }

    /// The byte figures for the summary.
    pub(super) fn payload_summary(&self) -> Option<PayloadSummary> {
        let pl = self.payload.as_deref()?;
        let claim = pl.producers.iter().any(|s| s.claim_over.is_some());
        let ingested = pl.ingested.max(1) as f64;
        Some(PayloadSummary {
            bytes_produced: pl.produced,
            broker_bytes_max: pl.held_max,
            broker_bytes: pl.series.clone(),
            ingest_delay_mean_s: pl.ingest_delay_ns as f64 / ingested / 1e9,
            ingest_delay_max_s: pl.ingest_delay_max.as_secs_f64(),
            claim_check: claim.then_some(ClaimCheckSummary {
                stored: pl.stored,
                stored_bytes: pl.stored_bytes,
            }),
        })
    }

    /// `max_broker_bytes`: the broker's peak bytes against the bound.
    pub(super) fn bytes_expectation(&self) -> Option<Expectation> {
        let bound = self.scenario.expect.max_broker_bytes?.0;
        let peak = self.payload.as_deref().map_or(0, |pl| pl.held_max);
        Some(Expectation {
            check: "max_broker_bytes".into(),
            expected: format!("<= {}", human_bytes(bound)),
            actual: human_bytes(peak),
            ok: peak <= bound,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(dist: &str) -> Sizes {
        Sizes {
            dist: SizeDist::parse(dist).expect("valid"),
            rng: stream(9, StreamKind::Payload, 0),
            claim_over: Some(64_000),
            reference: 128,
            store_latency: Dist::ZERO,
            put_rng: stream(9, StreamKind::ClaimStore, 0),
            cache: vec![(u32::MAX, 0); CACHE],
        }
    }

    #[test]
    fn the_cache_gives_the_draw_of_the_positioned_stream() {
        let mut s = sizes("lognormal(16KB, 64KB)");
        for id in [0u32, 5, 17, 1000, 70_001] {
            let mut rng = stream(9, StreamKind::Payload, 0);
            rng.set_word_pos(u128::from(id) * WORDS_PER_MESSAGE);
            let (u1, u2) = (unit(rng.next_u64()), unit(rng.next_u64()));
            assert_eq!(s.size(id), s.dist.draw(u1, u2), "id {id}");
        }
    }

    #[test]
    fn a_message_size_is_the_same_whenever_it_is_asked() {
        let mut s = sizes("pareto(4KB, 1.2)");
        let forward: Vec<u64> = (0..100).map(|id| s.size(id)).collect();
        let backward: Vec<u64> = (0..100).rev().map(|id| s.size(id)).collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        assert!(forward.windows(2).any(|w| w[0] != w[1]), "sizes vary");
    }

    #[test]
    fn pareto_tail_fractions_and_median_match_the_closed_form() {
        // P(X > x) = (min/x)^alpha; the median is min * 2^(1/alpha).
        let (min, alpha, n) = (4000.0f64, 1.2f64, 200_000u32);
        let mut s = sizes("pareto(4KB, 1.2)");
        let mut xs: Vec<u64> = (0..n).map(|id| s.size(id)).collect();
        assert!(xs.iter().all(|&x| x >= 4000));
        for k in [2.0f64, 10.0, 100.0] {
            let p = (1.0 / k).powf(alpha);
            let above = xs.iter().filter(|&&x| x as f64 > min * k).count() as f64 / f64::from(n);
            // Five binomial standard errors.
            let bound = 5.0 * (p * (1.0 - p) / f64::from(n)).sqrt();
            assert!((above - p).abs() < bound, "P(X > {k} min) = {above} vs {p}");
        }
        xs.sort_unstable();
        let median = xs[n as usize / 2] as f64;
        let theory = min * 2f64.powf(1.0 / alpha);
        assert!(
            (median / theory - 1.0).abs() < 0.01,
            "median {median} vs {theory}"
        );
    }

    #[test]
    fn only_payloads_above_the_threshold_are_replaced_by_a_reference() {
        let mut s = sizes("pareto(16KB, 1.2)");
        for id in 0..10_000 {
            let size = s.size(id);
            let through = s.through_broker(id);
            if size > 64_000 {
                assert!(s.claimed(id));
                assert_eq!(through, 128);
            } else {
                assert!(!s.claimed(id));
                assert_eq!(through, size);
            }
        }
    }
}
