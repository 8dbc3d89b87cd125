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
    /// Per producer: acknowledgements and their publish → ack latency (made at the first).
    acks: Vec<(u64, Option<Box<Histogram<u64>>>)>,
    /// The broker timeline, oldest first.
    timeline: Vec<TimelineEntry>,
}

impl Views {
    pub(super) fn new(producers: usize) -> Views {
        Views {
            acks: (0..producers).map(|_| (0, None)).collect(),
            timeline: Vec::new(),
        }
    }
}

/// The timeline's name for a log line of `kind`, when it is one the timeline keeps.
fn timeline_kind(kind: LogKind) -> Option<&'static str> {
    match kind {
        LogKind::Broker => Some("replication"),
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
    pub(super) fn record_window(&mut self, g: u32, born: SimTime, latency_ns: u64) {
        if self.faults.is_empty() || self.touched_fault(born) {
            return;
        }
        self.groups[g as usize]
            .metrics
            .outside
            .get_or_insert_with(|| Box::new(new_histogram()))
            .saturating_record(latency_ns);
    }

    /// Producer `p` was told, for the first time, that its message intended at `born` is
    /// sent.
    pub(super) fn record_ack(&mut self, p: u32, born: SimTime) {
        if let Some((n, h)) = self.views.acks.get_mut(p as usize) {
            *n += 1;
            h.get_or_insert_with(|| Box::new(new_histogram()))
                .saturating_record(self.now.since(born).0.max(1));
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
        s.latency_s = latency_of(&m.latency);
        s.latency_by_percentile_s = percentile_ladder(&m.latency);
        let producing = m.samples_at_stop.unwrap_or_else(|| m.latency.len());
        s.processed_per_s = producing as f64 / producing_s;
        s.outside_faults = (!self.faults.is_empty()).then(|| outside(m.outside.as_deref()));
    }

    /// Latency outside fault windows over every group (none without faults).
    pub(super) fn outside_faults(&self) -> Option<OutsideFaults> {
        if self.faults.is_empty() {
            return None;
        }
        let mut all = new_histogram();
        for h in self
            .groups
            .iter()
            .filter_map(|g| g.metrics.outside.as_deref())
        {
            all.add(h).expect("histograms of one configuration add");
        }
        Some(outside(Some(&all)))
    }

    /// Per producer: throughput and publish → ack latency.
    pub(super) fn producer_summaries(&self, producing_s: f64) -> Vec<ProducerSummary> {
        self.producers
            .iter()
            .zip(&self.views.acks)
            .map(|(p, (acked, h))| ProducerSummary {
                name: p.name.clone(),
                topic: self.topics[p.topic as usize].name.clone(),
                produced: p.produced,
                acked: *acked,
                produced_per_s: p.produced as f64 / producing_s,
                acked_per_s: *acked as f64 / producing_s,
                ack_latency_s: h.as_deref().map(latency_of).unwrap_or_default(),
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
