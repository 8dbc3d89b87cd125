//! Figures gathered as the run goes: latency histograms, per-group waiting and
//! time-in-system integrals, and the fixed-bucket time series. Aggregated on the fly, so
//! memory never grows with events.

use crate::summary::{Latency, Series};
use crate::time::{SimDuration, SimTime};
use hdrhistogram::Histogram;

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
    /// End-to-end latency of this group's copies.
    pub latency: Histogram<u64>,
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
}

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
            latency: new_histogram(),
            processed: 0,
            duplicated: 0,
            out_of_order: 0,
            dead_lettered: 0,
            dropped: 0,
            lost_known: 0,
        }
    }
}

impl GroupMetrics {
    fn settle(&mut self, now: SimTime) {
        let dt = now.since(self.in_system_since).0;
        self.in_system_area += u128::from(self.in_system) * u128::from(dt);
        self.in_system_since = now;
    }

    /// A copy reached the broker.
    pub fn enter(&mut self, now: SimTime) {
        self.settle(now);
        self.in_system += 1;
    }

    /// A copy that reached the broker at `arrived` left for good (processed,
    /// dead-lettered or dropped), the first time.
    pub fn leave(&mut self, now: SimTime, arrived: SimTime) {
        self.settle(now);
        if self.in_system == 0 {
            self.unbalanced_leaves += 1;
        } else {
            self.in_system -= 1;
        }
        self.residence_sum_ns += u128::from(now.since(arrived).0);
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

    /// First processing of a copy started `wait` after it reached the broker.
    pub fn record_wait(&mut self, wait: SimDuration) {
        self.wait_sum_ns += u128::from(wait.0);
        self.wait_n += 1;
    }

    /// First processing of a copy finished `sojourn` after it reached the broker.
    pub fn record_sojourn(&mut self, sojourn: SimDuration) {
        self.sojourn_sum_ns += u128::from(sojourn.0);
        self.sojourn_n += 1;
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

/// Builds the fixed-bucket time series.
#[derive(Debug)]
pub struct SeriesBuilder {
    /// Bucket width.
    pub width: SimDuration,
    /// End of the current bucket.
    pub bucket_end: SimTime,
    bucket_start: SimTime,
    produced: u64,
    processed: u64,
    /// The series so far.
    pub series: Series,
}

impl SeriesBuilder {
    /// Starts the first bucket at time zero.
    #[must_use]
    pub fn new(width: SimDuration, groups: &[String]) -> SeriesBuilder {
        let mut series = Series::default();
        for g in groups {
            series.lag_by_group.insert(g.clone(), Vec::new());
        }
        SeriesBuilder {
            width,
            bucket_end: SimTime::ZERO + width,
            bucket_start: SimTime::ZERO,
            produced: 0,
            processed: 0,
            series,
        }
    }

    /// Counts a produced message.
    pub fn produced(&mut self) {
        self.produced += 1;
    }

    /// Counts a copy processed for the first time.
    pub fn processed(&mut self) {
        self.processed += 1;
    }

    /// Closes the bucket ending `at` with the depth and lags seen then.
    pub fn close(&mut self, at: SimTime, depth: u64, lags: &[(&str, u64)]) {
        let secs = at.since(self.bucket_start).as_secs_f64();
        if secs <= 0.0 {
            return;
        }
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
        self.produced = 0;
        self.processed = 0;
        self.bucket_start = at;
        self.bucket_end = at + self.width;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_system_mean_is_the_time_average() {
        let mut m = GroupMetrics::default();
        m.enter(SimTime(0));
        m.enter(SimTime(10));
        m.leave(SimTime(20), SimTime(0));
        m.leave(SimTime(30), SimTime(10));
        // 1 for 10ns, 2 for 10ns, 1 for 10ns, 0 for 10ns over 40ns.
        assert!((m.in_system_mean(SimTime(40)) - 1.0).abs() < 1e-12);
        assert_eq!(m.residence_sum_ns(), m.in_system_area(SimTime(40)));
        assert_eq!(m.unbalanced_leaves, 0);
        m.leave(SimTime(50), SimTime(45));
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
}
