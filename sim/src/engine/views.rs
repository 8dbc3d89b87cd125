//! The per-group, per-producer and broker views a summary carries beside its totals
//! (`summary::views`): latency outside fault windows, publish → ack latency, the broker
//! timeline. Recording is a few comparisons on the hot path; histograms are made at their
//! first sample, so a scenario pays only for what it uses.

use super::Engine;
use crate::consumer::Group;
use crate::metrics::{latency_of, new_histogram, percentile_ladder};
use crate::snapshot::LogKind;
use crate::summary::{GroupSummary, OutsideFaults, ProducerSummary, TimelineEntry};
use crate::time::SimTime;
use hdrhistogram::Histogram;

/// Most timeline entries a summary keeps (a watermark can pause producers thousands of
/// times; the dashboard's log has the latest anyway).
const TIMELINE_KEEP: usize = 10_000;

/// What the views record as the run goes.
#[derive(Debug, Default)]
pub(super) struct Views {
    /// Per producer: acknowledgements and their publish → ack latency.
    acks: Vec<AckLatency>,
    /// The broker timeline, oldest first.
    timeline: Vec<TimelineEntry>,
}

impl Views {
    pub(super) fn new(producers: usize) -> Views {
        Views {
            acks: (0..producers).map(|_| AckLatency::default()).collect(),
            timeline: Vec::new(),
        }
    }
}

/// One producer's acknowledgements and their publish → ack latency. On an instant network
/// every acknowledgement takes the same time, so a run of equal values is only counted;
/// the histogram is made at the first different value (or at the summary).
#[derive(Debug, Default)]
struct AckLatency {
    acked: u64,
    histogram: Option<Box<Histogram<u64>>>,
    /// While there is no histogram: the one value seen so far.
    value: u64,
}

impl AckLatency {
    /// The run of equal values is the common case on an instant network: a compare and
    /// a count inline; anything else goes out of line.
    #[inline(always)]
    fn record(&mut self, ns: u64) {
        if ns == self.value && self.histogram.is_none() {
            self.acked += 1;
        } else {
            self.record_other(ns);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_other(&mut self, ns: u64) {
        self.acked += 1;
        match &mut self.histogram {
            Some(h) => h.saturating_record(ns),
            None if self.acked == 1 => self.value = ns,
            None => {
                let mut h = Box::new(new_histogram());
                h.saturating_record_n(self.value, self.acked - 1);
                h.saturating_record(ns);
                self.histogram = Some(h);
            }
        }
    }

    fn latency(&self) -> crate::summary::Latency {
        match &self.histogram {
            Some(h) => latency_of(h),
            None if self.acked > 0 => {
                let mut h = new_histogram();
                h.saturating_record_n(self.value, self.acked);
                latency_of(&h)
            }
            None => crate::summary::Latency::default(),
        }
    }
}

/// The timeline's name for a log line of `kind`, when it is one the timeline keeps.
fn timeline_kind(kind: LogKind) -> Option<&'static str> {
    match kind {
        LogKind::Broker => Some("replication"),
        LogKind::Server => Some("server"),
        LogKind::Rebalance => Some("rebalance"),
        LogKind::Backpressure => Some("backpressure"),
        _ => None,
    }
}

impl Engine {
    /// Whether a copy intended at `born` and processed now lived through any part of a
    /// fault window (a fault without a duration lasts to the end of the run).
    fn touched_fault(&self, born: SimTime) -> bool {
        self.faults.iter().any(|f| {
            let start = SimTime::ZERO + f.cfg.at;
            let ends_after_birth = f.cfg.duration.is_none_or(|d| start + d > born);
            start <= self.now && ends_after_birth
        })
    }

    /// A first processing of group `g`'s copy, `latency_ns` after its intended send.
    #[inline]
    pub(super) fn record_window(&mut self, g: u32, born: SimTime, latency_ns: u64) {
        if self.faults.is_empty() || !self.touched_fault(born) {
            return;
        }
        self.groups[g as usize]
            .metrics
            .touched
            .get_or_insert_with(Box::default)
            .record(latency_ns);
    }

    /// Producer `p` was told, for the first time, that its message intended at `born` is
    /// sent.
    #[inline(always)]
    pub(super) fn record_ack(&mut self, p: u32, born: SimTime) {
        let ns = self.now.after(born).0.max(1);
        if let Some(a) = self.views.acks.get_mut(p as usize) {
            a.record(ns);
        }
    }

    /// Producers stopped: each group's first processings so far are its producing ones.
    pub(super) fn groups_stopped(&mut self) {
        for g in &mut self.groups {
            g.metrics.samples_at_stop = Some(g.metrics.latency.len());
        }
    }

    /// Keeps a log line in the broker timeline when it is of a kind the timeline holds.
    pub(super) fn record_timeline(&mut self, kind: LogKind, text: &str) {
        if let Some(kind) = timeline_kind(kind)
            && self.views.timeline.len() < TIMELINE_KEEP
        {
            self.views.timeline.push(TimelineEntry {
                t_s: self.now.as_secs_f64(),
                kind: kind.to_string(),
                text: text.to_string(),
            });
        }
    }

    /// Fills in group `g`'s latency views and throughput.
    pub(super) fn group_views(&self, g: &Group, s: &mut GroupSummary, producing_s: f64) {
        let m = &g.metrics;
        let latency = m.latency.histogram();
        s.latency_s = latency_of(&latency);
        s.latency_p99_s = s.latency_s.p99;
        s.latency_by_percentile_s = percentile_ladder(&latency);
        let producing = m.samples_at_stop.unwrap_or_else(|| m.latency.len());
        s.processed_per_s = producing as f64 / producing_s;
        s.outside_faults = (!self.faults.is_empty()).then(|| {
            let h = m.latency.histogram_without(m.touched.as_deref());
            outside((!h.is_empty()).then_some(&h))
        });
    }

    /// Latency outside fault windows over every group (none without faults).
    pub(super) fn outside_faults(&self) -> Option<OutsideFaults> {
        if self.faults.is_empty() {
            return None;
        }
        let mut all = new_histogram();
        for g in &self.groups {
            g.metrics
                .latency
                .add_without(g.metrics.touched.as_deref(), &mut all);
        }
        Some(outside(Some(&all)))
    }

    /// Per producer: throughput and publish → ack latency.
    pub(super) fn producer_summaries(&self, producing_s: f64) -> Vec<ProducerSummary> {
        self.producers
            .iter()
            .zip(&self.views.acks)
            .map(|(p, a)| ProducerSummary {
                name: p.name.clone(),
                topic: self.topics[p.topic as usize].name.clone(),
                produced: p.produced,
                acked: a.acked,
                produced_per_s: p.produced as f64 / producing_s,
                acked_per_s: a.acked as f64 / producing_s,
                ack_latency_s: a.latency(),
            })
            .collect()
    }

    /// The broker timeline so far.
    pub(super) fn timeline(&self) -> Vec<TimelineEntry> {
        self.views.timeline.clone()
    }
}

fn outside(h: Option<&Histogram<u64>>) -> OutsideFaults {
    h.map_or_else(OutsideFaults::default, |h| OutsideFaults {
        samples: h.len(),
        latency_s: latency_of(h),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counting a run of equal values gives the percentiles that recording each would,
    /// before and after the first different value.
    #[test]
    fn ack_runs_read_as_a_histogram_of_every_value() {
        for values in [vec![1, 1, 1], vec![5, 5, 5, 9, 5, 1_000_000], vec![7]] {
            let mut a = AckLatency::default();
            let mut h = new_histogram();
            for &v in &values {
                a.record(v);
                h.saturating_record(v);
            }
            assert_eq!(a.acked, values.len() as u64);
            assert_eq!(a.latency(), latency_of(&h), "{values:?}");
        }
        assert_eq!(
            AckLatency::default().latency(),
            crate::summary::Latency::default()
        );
    }
}
