//! Priority classes (`producer.priority` with a consumer's `scheduling`): per-class
//! throughput and latency, and the `min_share` expectation that shows strict priority
//! starving a class under load. Kept only when some consumer schedules by priority, so a
//! plain run records nothing extra.

use super::Engine;
use crate::metrics::{latency_of, new_histogram};
use crate::summary::{ClassSummary, Expectation};
use hdrhistogram::Histogram;

/// What one priority class got.
#[derive(Debug)]
pub(super) struct ClassStats {
    processed: u64,
    /// Processed while producers were producing: the share under load (after the stop
    /// the drain serves whatever is left, whatever the scheduler).
    processed_producing: u64,
    latency: Histogram<u64>,
}

/// The classes of a scenario: empty unless a consumer schedules by priority.
pub(super) fn classes(sc: &crate::scenario::Scenario) -> Vec<ClassStats> {
    if sc.consumers.iter().all(|c| c.scheduling.is_none()) {
        return Vec::new();
    }
    let top = sc.producers.iter().map(super::build::priority_of).max();
    (0..=top.unwrap_or(0))
        .map(|_| ClassStats {
            processed: 0,
            processed_producing: 0,
            latency: new_histogram(),
        })
        .collect()
}

impl Engine {
    /// A copy of producer `p`'s message was processed with this end-to-end latency.
    #[inline]
    pub(super) fn record_class(&mut self, p: u16, latency_ns: u64) {
        if self.classes.is_empty() {
            return;
        }
        let class = super::build::priority_of(&self.scenario.producers[p as usize]);
        let c = &mut self.classes[class as usize];
        c.processed += 1;
        if self.now < self.stop {
            c.processed_producing += 1;
        }
        c.latency.saturating_record(latency_ns);
    }

    /// Per-class figures for the summary.
    pub(super) fn class_summaries(&self) -> Vec<ClassSummary> {
        let total: u64 = self.classes.iter().map(|c| c.processed_producing).sum();
        self.classes
            .iter()
            .enumerate()
            .map(|(class, c)| ClassSummary {
                priority: class as u8,
                produced: self
                    .producers
                    .iter()
                    .zip(&self.scenario.producers)
                    .filter(|(_, cfg)| usize::from(super::build::priority_of(cfg)) == class)
                    .map(|(p, _)| p.produced)
                    .sum(),
                processed: c.processed,
                share: share(c.processed_producing, total),
                latency_s: latency_of(&c.latency),
            })
            .collect()
    }

    /// `min_share`: the smallest class share against the bound.
    pub(super) fn share_expectation(&self) -> Option<Expectation> {
        let bound = *self.scenario.expect.min_share.as_ref()?.get_ref();
        let classes = self.class_summaries();
        let (class, least) = classes
            .iter()
            .map(|c| (c.priority, c.share))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        Some(Expectation {
            check: "min_share".into(),
            expected: format!(">= {bound}"),
            actual: format!("{least:.3} (priority {class})"),
            ok: least >= bound,
        })
    }
}

#[allow(clippy::cast_precision_loss)]
fn share(part: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 / total as f64
    }
}
