//! Figures gathered as the run goes: latency histograms, per-group waiting and
//! time-in-system integrals, and the fixed-bucket time series. Aggregated on the fly, so
//! memory never grows with events.

use crate::summary::{Latency, Series};
use crate::time::{SimDuration, SimTime};
use hdrhistogram::Histogram;
pub use recorder::Recorder;

mod recorder;

/// Longest latency a histogram tells apart: a week, in nanoseconds (longer is clamped).
pub const HISTOGRAM_MAX_NS: u64 = 7 * 24 * 3600 * 1_000_000_000;

/// A latency histogram in nanoseconds, three significant digits, fixed range (a fixed
/// range never reallocates on the hot path).
#[must_use]
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).expect("valid histogram bounds")
}

/// Percentiles of a nanosecond histogram, in seconds.
#[must_use]
pub fn latency_of(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    let s = |ns: u64| SimDuration(ns).as_secs_f64();
    Latency {
        mean: h.mean() / 1e9,
        p50: s(h.value_at_quantile(0.5)),
        p90: s(h.value_at_quantile(0.9)),
        p99: s(h.value_at_quantile(0.99)),
        p999: s(h.value_at_quantile(0.999)),
        max: s(h.max()),
    }
}

/// The percentile curve of a nanosecond histogram as `[q, seconds]`: twenty points per
/// decade of `1/(1-q)`, from the first step above q = 0 up to the highest q the sample
/// supports (1 / count, at most 99.9999%), the points an HdrHistogram plot draws.
#[must_use]
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn percentile_ladder(h: &Histogram<u64>) -> Vec<[f64; 2]> {
    if h.is_empty() {
        return Vec::new();
    }
    let x_max = (h.len() as f64).log10().min(6.0);
    let steps = (x_max * 20.0).ceil().max(1.0) as u32;
    (1..=steps)
        .map(|k| {
            let q = 1.0 - 10f64.powf(-x_max * f64::from(k) / f64::from(steps));
            [q, SimDuration(h.value_at_quantile(q)).as_secs_f64()]
        })
        .collect()
}

/// One group's queueing figures.
#[derive(Debug)]
pub struct GroupMetrics {
    wait_sum_ns: u128,
    wait_n: u64,
    sojourn_sum_ns: u128,
    sojourn_n: u64,
    in_system: u64,
    in_system_since: SimTime,
    in_system_area: u128,
    /// Time in system of every copy that has left, each from its own arrival: with the
    /// area above, the two sides of Little's law measured independently.
    residence_sum_ns: u128,
    /// Copies that left while none was counted in: a leave without its enter.
    pub unbalanced_leaves: u64,
    /// Latency samples of applications an exactly-once rollback undid.
    pub rolled_back_samples: u64,
    /// Copies that left with no exact arrival (sent more than once).
    pub inexact_leaves: u64,
    /// End-to-end latency of this group's copies (read as a histogram with
    /// `latency.histogram()`).
    pub latency: Recorder,
    /// Copies processed at least once, so far.
    pub processed: u64,
    /// Copies applied twice or more, so far.
    pub duplicated: u64,
    /// Copies applied out of order.
    pub out_of_order: u64,
    /// Copies dead-lettered.
    pub dead_lettered: u64,
    /// Copies dropped.
    pub dropped: u64,
    /// Copies known lost (taken, committed, then a crash).
    pub lost_known: u64,
    /// Latency of the copies whose life touched a fault window; made at the first such
    /// copy, and only in a scenario with faults. The rest of `latency` is outside them:
    /// kept as the few inside rather than the many outside, a copy outside a window
    /// costs a look at the windows and no second record.
    pub touched: Option<Box<Recorder>>,
    /// Latency samples (first processings) when the producers stopped (none before).
    pub samples_at_stop: Option<u64>,
    /// The first `EXAMPLES` copies applied out of order, by message id.
    pub out_of_order_ids: Vec<u32>,
}

/// Example message ids kept per group and anomaly.
pub const EXAMPLES: usize = 10;

impl Default for GroupMetrics {
    fn default() -> Self {
        GroupMetrics {
            wait_sum_ns: 0,
            wait_n: 0,
            sojourn_sum_ns: 0,
            sojourn_n: 0,
            in_system: 0,
            in_system_since: SimTime::ZERO,
            in_system_area: 0,
            residence_sum_ns: 0,
            unbalanced_leaves: 0,
            rolled_back_samples: 0,
            inexact_leaves: 0,
            latency: Recorder::default(),
            processed: 0,
            duplicated: 0,
            out_of_order: 0,
            dead_lettered: 0,
            dropped: 0,
            lost_known: 0,
            touched: None,
            samples_at_stop: None,
            out_of_order_ids: Vec::new(),
        }
    }
}

impl GroupMetrics {
    /// Copy `id` was applied out of order: kept as an example while there are few.
    pub fn example_out_of_order(&mut self, id: u32) {
        if self.out_of_order_ids.len() < EXAMPLES {
            self.out_of_order_ids.push(id);
        }
    }

    /// Clamped (`since`, not `after`): `mqlab bench` records here with wall-clock times
    /// its threads took apart, which can reach the books out of order.
    #[inline]
    fn settle(&mut self, now: SimTime) {
        let dt = now.since(self.in_system_since).0;
        self.in_system_area += u128::from(self.in_system) * u128::from(dt);
        self.in_system_since = now;
    }

    /// A copy reached the broker.
    #[inline]
    pub fn enter(&mut self, now: SimTime) {
        self.settle(now);
        self.in_system += 1;
    }

    /// A copy that reached the broker at `since`, counted in only now (`mqlab bench`: a
    /// late group's copy is known to be its own only once the group has joined or read it):
    /// the area it would have added since then is added too, so that Little's law holds
    /// as if it had entered then.
    #[inline]
    pub fn enter_since(&mut self, now: SimTime, since: SimTime) {
        self.settle(now);
        self.in_system_area += u128::from(now.since(since).0);
        self.in_system += 1;
    }

    /// A copy that reached the broker at `arrived` left for good (processed,
    /// dead-lettered or dropped), the first time. `None`: a copy its producer sent more
    /// than once, whose twin entries each carry their own arrival, so which one it entered
    /// with is not known here; Little's law bounds those instead of counting them.
    #[inline]
    pub fn leave(&mut self, now: SimTime, arrived: Option<SimTime>) {
        self.settle(now);
        if self.in_system == 0 {
            self.unbalanced_leaves += 1;
        } else {
            self.in_system -= 1;
        }
        match arrived {
            Some(at) => self.residence_sum_ns += u128::from(now.since(at).0),
            None => self.inexact_leaves += 1,
        }
    }

    /// Copies counted in the system now.
    #[must_use]
    pub fn in_system_now(&self) -> u64 {
        self.in_system
    }

    /// The integral of the number in system over `[0, now]`, in copy-nanoseconds.
    #[must_use]
    pub fn in_system_area(&self, now: SimTime) -> u128 {
        self.in_system_area
            + u128::from(self.in_system) * u128::from(now.since(self.in_system_since).0)
    }

    /// Total time in system of the copies that have left, in nanoseconds.
    #[must_use]
    pub fn residence_sum_ns(&self) -> u128 {
        self.residence_sum_ns
    }

    /// A copy's effect was first applied by a delivery whose first attempt started
    /// `wait` after the copy reached the broker (recorded with its sojourn).
    #[inline]
    pub fn record_wait(&mut self, wait: SimDuration) {
        self.wait_sum_ns += u128::from(wait.0);
        self.wait_n += 1;
    }

    /// A copy's effect was first applied `sojourn` after it reached the broker.
    #[inline]
    pub fn record_sojourn(&mut self, sojourn: SimDuration) {
        self.sojourn_sum_ns += u128::from(sojourn.0);
        self.sojourn_n += 1;
    }

    /// Wait and sojourn samples, and their sums in nanoseconds: `(n, sum)` each.
    #[must_use]
    pub fn wait_and_sojourn(&self) -> ((u64, u128), (u64, u128)) {
        (
            (self.wait_n, self.wait_sum_ns),
            (self.sojourn_n, self.sojourn_sum_ns),
        )
    }

    /// Mean wait in seconds.
    #[must_use]
    pub fn wait_mean_s(&self) -> f64 {
        mean_s(self.wait_sum_ns, self.wait_n)
    }

    /// Mean sojourn in seconds.
    #[must_use]
    pub fn sojourn_mean_s(&self) -> f64 {
        mean_s(self.sojourn_sum_ns, self.sojourn_n)
    }

    /// Time-average number in system over `[0, now]`.
    #[must_use]
    pub fn in_system_mean(&self, now: SimTime) -> f64 {
        if now.0 == 0 {
            return 0.0;
        }
        self.in_system_area(now) as f64 / now.0 as f64
    }
}

fn mean_s(sum_ns: u128, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        sum_ns as f64 / n as f64 / 1e9
    }
}

/// Most buckets a series holds. A run that would need more (a fine `sample_interval` over a
/// long run) has its buckets merged in pairs and its width doubled whenever it reaches this,
/// so a series stays under about a megabyte of JSON whatever the input.
pub const MAX_BUCKETS: usize = 10_000;

/// Builds the fixed-bucket time series. Every rate is over its bucket's real width; the
/// run's last bucket ends with the run, and one shorter than half a width is merged into the
/// bucket before it, so that no sliver of a few milliseconds shows a spike. At most
/// [`MAX_BUCKETS`] buckets: past that, pairs are merged and the width doubles.
#[derive(Debug)]
pub struct SeriesBuilder {
    /// Bucket width.
    pub width: SimDuration,
    /// End of the current bucket.
    pub bucket_end: SimTime,
    bucket_start: SimTime,
    produced: u64,
    processed: u64,
    /// The last closed bucket: (start, produced, processed), for the merge.
    last: Option<(SimTime, u64, u64)>,
    /// Copies processed for the first time, over the whole run.
    processed_total: u64,
    /// `processed_total` when the producers stopped (none before).
    processed_at_stop: Option<u64>,
    /// The series so far.
    pub series: Series,
}

/// What closing a bucket did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Nothing: the bucket had no width.
    Skipped,
    /// A new bucket was appended.
    Appended,
    /// The bucket was merged into the last one, whose values it replaced.
    Merged,
    /// A bucket was appended, then the series reached [`MAX_BUCKETS`] and adjacent
    /// buckets were merged in pairs (each pair keeps its second bucket's end values).
    Coarsened,
}

/// Keeps the end value of each pair (and a lone last one): a sample taken at bucket ends,
/// coarsened along with the series.
pub fn keep_pair_ends<T: Copy>(v: &mut Vec<T>) {
    let n = v.len();
    let kept: Vec<T> = (0..n)
        .filter(|i| i % 2 == 1 || *i == n - 1)
        .map(|i| v[i])
        .collect();
    *v = kept;
}

impl SeriesBuilder {
    /// Starts the first bucket at time zero.
    #[must_use]
    pub fn new(width: SimDuration, groups: &[String]) -> SeriesBuilder {
        let mut series = Series::default();
        for g in groups {
            series.lag_by_group.insert(g.clone(), Vec::new());
        }
        series.width_s = width.as_secs_f64();
        SeriesBuilder {
            width,
            bucket_end: SimTime::ZERO + width,
            bucket_start: SimTime::ZERO,
            produced: 0,
            processed: 0,
            last: None,
            processed_total: 0,
            processed_at_stop: None,
            series,
        }
    }

    /// Counts a produced message.
    #[inline]
    pub fn produced(&mut self) {
        self.produced += 1;
    }

    /// Counts a copy processed for the first time.
    #[inline]
    pub fn processed(&mut self) {
        self.processed += 1;
        self.processed_total += 1;
    }

    /// The producers stopped now: what is processed from here on is the drain's.
    pub fn producers_stopped(&mut self) {
        self.processed_at_stop = Some(self.processed_total);
    }

    /// Copies processed while producers produced, and after (the drain).
    #[must_use]
    pub fn processed_split(&self) -> (u64, u64) {
        let at_stop = self.processed_at_stop.unwrap_or(self.processed_total);
        (at_stop, self.processed_total - at_stop)
    }

    /// Closes the bucket ending `at` with the depth and lags seen then.
    pub fn close(&mut self, at: SimTime, depth: u64, lags: &[(&str, u64)]) -> Closed {
        self.close_with(at, depth, lags, false)
    }

    /// Closes the run's last bucket at `at`: merged into the one before when shorter than
    /// half a width.
    pub fn close_last(&mut self, at: SimTime, depth: u64, lags: &[(&str, u64)]) -> Closed {
        self.close_with(at, depth, lags, true)
    }

    fn close_with(&mut self, at: SimTime, depth: u64, lags: &[(&str, u64)], last: bool) -> Closed {
        if at <= self.bucket_start {
            return Closed::Skipped;
        }
        let sliver = at.since(self.bucket_start).0 < self.width.0 / 2;
        let mut closed = Closed::Appended;
        if let (true, true, Some((start, produced, processed))) = (last, sliver, self.last) {
            let s = &mut self.series;
            s.t_s.pop();
            s.produced_per_s.pop();
            s.processed_per_s.pop();
            s.depth.pop();
            s.lag.pop();
            for v in s.lag_by_group.values_mut() {
                v.pop();
            }
            self.bucket_start = start;
            self.produced += produced;
            self.processed += processed;
            closed = Closed::Merged;
        }
        let secs = at.since(self.bucket_start).as_secs_f64();
        let s = &mut self.series;
        s.t_s.push(at.as_secs_f64());
        s.produced_per_s.push(self.produced as f64 / secs);
        s.processed_per_s.push(self.processed as f64 / secs);
        s.depth.push(depth);
        s.lag.push(lags.iter().map(|l| l.1).sum());
        for (name, lag) in lags {
            if let Some(v) = s.lag_by_group.get_mut(*name) {
                v.push(*lag);
            }
        }
        self.last = Some((self.bucket_start, self.produced, self.processed));
        self.produced = 0;
        self.processed = 0;
        self.bucket_start = at;
        if self.series.t_s.len() >= MAX_BUCKETS {
            self.coarsen();
            closed = Closed::Coarsened;
        }
        self.bucket_end = at + self.width;
        closed
    }

    /// Merges adjacent buckets in pairs (rates over the pair's real width, depth and lag
    /// at its end) and doubles the width.
    fn coarsen(&mut self) {
        let s = &mut self.series;
        let n = s.t_s.len();
        let start = |i: usize| if i == 0 { 0.0 } else { s.t_s[i - 1] };
        let pair_rate = |rates: &[f64], i: usize| {
            let (a, b) = (s.t_s[i] - start(i), s.t_s[i + 1] - s.t_s[i]);
            (rates[i] * a + rates[i + 1] * b) / (a + b)
        };
        let mut produced = Vec::with_capacity(n / 2 + 1);
        let mut processed = Vec::with_capacity(n / 2 + 1);
        for i in (0..n).step_by(2) {
            if i + 1 < n {
                produced.push(pair_rate(&s.produced_per_s, i));
                processed.push(pair_rate(&s.processed_per_s, i));
            } else {
                produced.push(s.produced_per_s[i]);
                processed.push(s.processed_per_s[i]);
            }
        }
        s.produced_per_s = produced;
        s.processed_per_s = processed;
        keep_pair_ends(&mut s.t_s);
        keep_pair_ends(&mut s.depth);
        keep_pair_ends(&mut s.lag);
        for v in s.lag_by_group.values_mut() {
            keep_pair_ends(v);
        }
        // The last bucket's counts are no longer one bucket's: no sliver merge past here.
        self.last = None;
        self.width = SimDuration(self.width.0.saturating_mul(2));
        s.width_s = self.width.as_secs_f64();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mqlab bench` records copies entering and leaving with wall-clock times its
    /// threads took apart, so a time can come after a later one: the books count no
    /// time for the step back (and no residence for a copy that seems to leave before
    /// it arrived) instead of wrapping, or, built with debug assertions, panicking in a
    /// consumer thread and leaving the benchmark waiting for it.
    #[test]
    fn times_out_of_order_count_no_time_instead_of_wrapping() {
        let mut m = GroupMetrics::default();
        m.enter(SimTime(1_000));
        m.enter(SimTime(900));
        m.leave(SimTime(800), Some(SimTime(1_000)));
        assert_eq!(m.in_system_now(), 1);
        // Nothing counted until the clock came back: one copy from 800 to 1,000.
        assert_eq!(m.in_system_area(SimTime(1_000)), 200);
        assert_eq!(m.residence_sum_ns(), 0);
    }

    #[test]
    fn the_percentile_ladder_climbs_to_what_the_sample_supports() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1_000_000).unwrap();
        }
        let ladder = percentile_ladder(&h);
        // 1000 samples support q up to 99.9%: three decades, twenty points each.
        assert_eq!(ladder.len(), 60);
        let last = ladder[59];
        assert!((last[0] - 0.999).abs() < 1e-9, "{last:?}");
        // The 99.9th of 1..1000 ms is 999 ms (to the histogram's three digits).
        assert!((last[1] - 0.999).abs() < 0.002, "{last:?}");
        assert!(
            ladder
                .windows(2)
                .all(|w| w[0][1] <= w[1][1] && w[0][0] < w[1][0])
        );
        assert!(percentile_ladder(&new_histogram()).is_empty());
    }

    #[test]
    fn in_system_mean_is_the_time_average() {
        let mut m = GroupMetrics::default();
        m.enter(SimTime(0));
        m.enter(SimTime(10));
        m.leave(SimTime(20), Some(SimTime(0)));
        m.leave(SimTime(30), Some(SimTime(10)));
        // 1 for 10ns, 2 for 10ns, 1 for 10ns, 0 for 10ns over 40ns.
        assert!((m.in_system_mean(SimTime(40)) - 1.0).abs() < 1e-12);
        assert_eq!(m.residence_sum_ns(), m.in_system_area(SimTime(40)));
        assert_eq!(m.unbalanced_leaves, 0);
        m.leave(SimTime(50), Some(SimTime(45)));
        assert_eq!(
            m.unbalanced_leaves, 1,
            "a leave without an enter is counted"
        );
    }

    #[test]
    fn series_rates_are_per_second_of_bucket() {
        let mut b = SeriesBuilder::new(SimDuration::from_millis(500), &["g".to_string()]);
        for _ in 0..10 {
            b.produced();
        }
        b.close(SimTime(500_000_000), 3, &[("g", 2)]);
        assert_eq!(b.series.produced_per_s, vec![20.0]);
        assert_eq!(b.series.lag_by_group["g"], vec![2]);
    }

    #[test]
    fn a_series_never_holds_more_than_max_buckets() {
        // 1ns buckets over 100us of a steady 1 copy per 4ns: 100,000 buckets unbounded.
        let mut b = SeriesBuilder::new(SimDuration(1), &["g".to_string()]);
        let mut t = 0;
        while t < 100_000 {
            if t % 4 == 0 {
                b.processed();
            }
            t += 1;
            if t == b.bucket_end.0 {
                b.close(SimTime(t), 0, &[("g", t)]);
            }
        }
        let s = &b.series;
        assert!(s.t_s.len() <= MAX_BUCKETS, "{} buckets", s.t_s.len());
        assert!(s.t_s.len() >= MAX_BUCKETS / 2, "{} buckets", s.t_s.len());
        assert_eq!(s.width_s, b.width.as_secs_f64());
        assert!(b.width.0 >= 8, "width {}", b.width.0);
        // Coarsening keeps the copies: the rates still integrate to what was processed.
        let mut copies = 0.0;
        for i in 0..s.t_s.len() {
            let start = if i == 0 { 0.0 } else { s.t_s[i - 1] };
            copies += s.processed_per_s[i] * (s.t_s[i] - start);
        }
        assert!((copies - 25_000.0).abs() < 1e-3, "{copies}");
        assert_eq!(*s.lag_by_group["g"].last().unwrap(), *s.lag.last().unwrap());
        assert_eq!(*s.t_s.last().unwrap(), 100_000.0 / 1e9);
    }

    #[test]
    fn a_last_sliver_of_a_bucket_is_merged_into_the_one_before() {
        // 100/s for 1s, then the run ends 6.6ms into the next bucket with 2 more copies:
        // alone that sliver would read 303/s; merged, the rate is over its real width.
        let mut b = SeriesBuilder::new(SimDuration::from_millis(500), &["g".to_string()]);
        for at_ms in [500, 1000] {
            for _ in 0..50 {
                b.processed();
            }
            b.close(
                SimTime::ZERO + SimDuration::from_millis(at_ms),
                0,
                &[("g", 1)],
            );
        }
        b.processed();
        b.processed();
        let end = SimTime::ZERO + SimDuration(1_006_600_000);
        assert_eq!(b.close_last(end, 0, &[("g", 0)]), Closed::Merged);
        let s = &b.series;
        assert_eq!(s.t_s, vec![0.5, 1.0066]);
        assert!((s.processed_per_s[1] - 52.0 / 0.5066).abs() < 1e-9, "{s:?}");
        assert_eq!(s.lag_by_group["g"], vec![1, 0]);
        // A last bucket of half a width or more stands on its own, over its real width.
        let mut b = SeriesBuilder::new(SimDuration::from_millis(500), &[]);
        b.close(SimTime::ZERO + SimDuration::from_millis(500), 0, &[]);
        b.processed();
        let end = SimTime::ZERO + SimDuration::from_millis(750);
        assert_eq!(b.close_last(end, 0, &[]), Closed::Appended);
        assert_eq!(b.series.processed_per_s, vec![0.0, 4.0]);
    }
}
