//! A group's latency samples as the hot path records them: HdrHistogram's own bucket
//! layout for [`new_histogram`]'s range and precision, counted in 32 bits, and turned
//! into that histogram only when something reads it.
//!
//! Why not record into the `Histogram` itself: its `saturating_record` (index, clamp
//! test, saturating add, min and max, total) cost about 60 instructions a copy, and its
//! 64-bit counts spread a run's few hot binary orders over twice the cache lines. The
//! counts here land at the very indices HdrHistogram would use, and the histogram built
//! from them has the same counts, total, min and max (HdrHistogram reports min and max
//! as their bucket's lowest and highest equivalents), so every figure read from it is
//! the one recording straight into it gave.

use super::new_histogram;
use hdrhistogram::Histogram;

/// log2 of half the sub-buckets: three significant digits need 2,000 distinct values
/// in a bucket, so 2,048 sub-buckets, 1,024 in each bucket's upper half.
const HALF_MAGNITUDE: u32 = 10;
/// Values below this share bucket 0 (the whole of its 2,048 sub-buckets).
const SUB_BUCKET_MASK: u64 = (2 << HALF_MAGNITUDE) - 1;
/// HdrHistogram's `leading_zero_count_base` for a unit magnitude of 0 (lowest value 1).
const ZERO_COUNT_BASE: u32 = 64 - (HALF_MAGNITUDE + 1);

/// The counts index HdrHistogram gives `value` (`index_for`, unit magnitude 0).
#[inline(always)]
fn index_of(value: u64) -> usize {
    let bucket = ZERO_COUNT_BASE - (value | SUB_BUCKET_MASK).leading_zeros();
    let sub = (value >> bucket) as usize;
    // Bucket b's upper half starts at (b + 1) * 1024; bucket 0 uses its lower half too.
    (((bucket as usize) + 1) << HALF_MAGNITUDE) + sub - (1 << HALF_MAGNITUDE)
}

/// The lowest value at counts index `i` (HdrHistogram's `value_for`).
fn value_at(i: usize) -> u64 {
    let half = 1usize << HALF_MAGNITUDE;
    match (i >> HALF_MAGNITUDE).checked_sub(1) {
        None => i as u64,
        Some(bucket) => ((i & (half - 1)) + half) as u64 * (1u64 << bucket),
    }
}

/// Latency samples in nanoseconds, one count per HdrHistogram bucket.
#[derive(Debug)]
pub struct Recorder {
    counts: Box<[u32]>,
    /// Where a value beyond the counts goes: the highest trackable value's index, as
    /// `saturating_record` clamps.
    last: usize,
    total: u64,
    /// A count that reached `u32::MAX` is moved here whole (a run of over four billion
    /// copies of one latency; never on the hot path before that).
    spill: Option<Box<Histogram<u64>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        let h = new_histogram();
        Recorder {
            counts: vec![0; h.distinct_values()].into_boxed_slice(),
            last: index_of(h.high()),
            total: 0,
            spill: None,
        }
    }
}

impl Recorder {
    /// Records one sample, as `Histogram::saturating_record` would.
    #[inline(always)]
    pub fn record(&mut self, ns: u64) {
        let i = index_of(ns);
        let i = if i < self.counts.len() { i } else { self.last };
        let Some(c) = self.counts.get_mut(i) else {
            unreachable!("the clamp index is within the counts")
        };
        *c += 1;
        if *c == u32::MAX {
            self.spill(i);
        }
        self.total += 1;
    }

    #[cold]
    #[inline(never)]
    fn spill(&mut self, i: usize) {
        let full = std::mem::take(&mut self.counts[i]);
        self.spill
            .get_or_insert_with(|| Box::new(new_histogram()))
            .record_n(value_at(i), u64::from(full))
            .expect("a counts index's value is in range");
    }

    /// Samples recorded.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds every sample to `h` (made by [`new_histogram`]).
    pub fn add_to(&self, h: &mut Histogram<u64>) {
        if let Some(s) = &self.spill {
            h.add(&**s).expect("histograms of one configuration add");
        }
        for (i, &c) in self.counts.iter().enumerate() {
            if c != 0 {
                h.record_n(value_at(i), u64::from(c))
                    .expect("a counts index's value is in range");
            }
        }
    }

    /// The samples as the histogram recording them one by one would have made.
    #[must_use]
    pub fn histogram(&self) -> Histogram<u64> {
        let mut h = new_histogram();
        self.add_to(&mut h);
        h
    }

    /// Adds to `h` every sample but those of `part`, which were recorded here too (a
    /// subset): what a recorder of the rest alone would add.
    pub fn add_without(&self, part: Option<&Recorder>, h: &mut Histogram<u64>) {
        let Some(part) = part else {
            self.add_to(h);
            return;
        };
        if self.spill.is_none() && part.spill.is_none() {
            for (i, (&c, &p)) in self.counts.iter().zip(&part.counts[..]).enumerate() {
                if c != p {
                    let rest = c
                        .checked_sub(p)
                        .expect("the part's samples were recorded in the whole");
                    h.record_n(value_at(i), u64::from(rest))
                        .expect("a counts index's value is in range");
                }
            }
            return;
        }
        // Through the histograms, where a count past 32 bits has its own place too.
        let (all, part) = (self.histogram(), part.histogram());
        for i in 0..all.distinct_values() {
            let count = |h: &Histogram<u64>| h.count_at(value_at(i));
            let rest = count(&all)
                .checked_sub(count(&part))
                .expect("the part's samples were recorded in the whole");
            if rest != 0 {
                h.record_n(value_at(i), rest)
                    .expect("a counts index's value is in range");
            }
        }
    }

    /// `add_without` into a histogram of its own.
    #[must_use]
    pub fn histogram_without(&self, part: Option<&Recorder>) -> Histogram<u64> {
        let mut h = new_histogram();
        self.add_without(part, &mut h);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::HISTOGRAM_MAX_NS;
    use rand::{RngExt, SeedableRng};

    /// Records `values` both ways and holds the results equal: counts, total, min and
    /// max (HdrHistogram's own equality), and the figures the summary reads.
    fn both_ways(values: &[u64]) {
        let mut direct = new_histogram();
        let mut rec = Recorder::default();
        for &v in values {
            direct.saturating_record(v);
            rec.record(v);
        }
        let built = rec.histogram();
        assert!(built == direct, "histograms differ for {values:?}");
        assert_eq!(rec.len(), direct.len());
        assert_eq!((built.min(), built.max()), (direct.min(), direct.max()));
        assert_eq!(built.mean().to_bits(), direct.mean().to_bits());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(
                built.value_at_quantile(q),
                direct.value_at_quantile(q),
                "q {q}"
            );
        }
    }

    #[test]
    fn every_bucket_edge_lands_where_hdrhistogram_puts_it() {
        let h = new_histogram();
        let mut values = vec![0, 1, 2, 2047, 2048, 2049, 4095, 4096];
        for i in 0..h.distinct_values() {
            let v = value_at(i);
            assert_eq!(index_of(v), i, "value {v}");
            assert_eq!(h.lowest_equivalent(v), v, "index {i} starts a bucket");
            values.extend([v, v.saturating_sub(1), h.highest_equivalent(v)]);
        }
        both_ways(&values);
    }

    #[test]
    fn values_beyond_the_range_clamp_as_saturating_record_does() {
        both_ways(&[HISTOGRAM_MAX_NS, HISTOGRAM_MAX_NS + 1, 1 << 62, u64::MAX, 5]);
        both_ways(&[u64::MAX]);
        both_ways(&[0, 0, 3]);
        both_ways(&[]);
    }

    #[test]
    fn random_latencies_over_every_scale_match() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let values: Vec<u64> = (0..200_000)
            .map(|_| {
                let bits = rng.random_range(0..64u32);
                rng.random::<u64>() >> bits
            })
            .collect();
        both_ways(&values);
    }

    #[test]
    fn a_count_past_32_bits_moves_to_the_spill_and_still_adds_up() {
        let mut rec = Recorder::default();
        let i = index_of(1_234_567);
        rec.counts[i] = u32::MAX - 2;
        rec.total = u64::from(u32::MAX - 2);
        for _ in 0..5 {
            rec.record(1_234_567);
        }
        rec.record(9);
        assert!(rec.spill.is_some(), "the full count moved out");
        let h = rec.histogram();
        assert_eq!(h.count_at(1_234_567), u64::from(u32::MAX) + 3);
        assert_eq!(h.len(), rec.len());
        assert_eq!(h.len(), u64::from(u32::MAX) + 4);
        assert_eq!(h.min(), 9);
    }

    /// The rest of a whole once a recorded part is taken away is the histogram that
    /// recording the rest alone made: counts, total, min and max (HdrHistogram's own
    /// equality) and the figures read from it, whichever samples the part took (none,
    /// the smallest, the largest, every other one, all).
    #[test]
    fn the_whole_without_a_part_is_the_rest_recorded_alone() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let values: Vec<u64> = (0..50_000)
            .map(|_| rng.random::<u64>() >> rng.random_range(20..64u32))
            .collect();
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        let splits: [&dyn Fn(usize, u64) -> bool; 5] = [
            &|_, _| false,
            &|_, v| v < median,
            &|_, v| v >= median,
            &|k, _| k % 2 == 0,
            &|_, _| true,
        ];
        for in_part in splits {
            let (mut whole, mut part) = (Recorder::default(), Recorder::default());
            let mut rest = new_histogram();
            for (k, &v) in values.iter().enumerate() {
                whole.record(v);
                if in_part(k, v) {
                    part.record(v);
                } else {
                    rest.saturating_record(v);
                }
            }
            let got = whole.histogram_without(Some(&part));
            assert!(got == rest, "the rest differs");
            assert_eq!(
                (got.min(), got.max(), got.len()),
                (rest.min(), rest.max(), rest.len())
            );
            for q in [0.0, 0.5, 0.99, 1.0] {
                assert_eq!(got.value_at_quantile(q), rest.value_at_quantile(q));
            }
        }
        let mut whole = Recorder::default();
        whole.record(5);
        assert!(whole.histogram_without(None) == whole.histogram());
        // A count past 32 bits, in the whole's spill.
        let i = index_of(1_234_567);
        whole.counts[i] = u32::MAX - 2;
        whole.total += u64::from(u32::MAX - 2);
        let mut part = Recorder::default();
        for _ in 0..5 {
            whole.record(1_234_567);
        }
        for _ in 0..2 {
            part.record(1_234_567);
        }
        part.record(5);
        assert!(whole.spill.is_some());
        let got = whole.histogram_without(Some(&part));
        assert_eq!(got.count_at(1_234_567), u64::from(u32::MAX) + 1);
        let bucket = new_histogram().lowest_equivalent(1_234_567);
        assert_eq!((got.len(), got.min()), (u64::from(u32::MAX) + 1, bucket));
    }
}
