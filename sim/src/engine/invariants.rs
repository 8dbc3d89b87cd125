//! Built-in invariants, checked on every run beside conservation. Each is a law the
//! figures must obey whatever the scenario, measured from two independent sides, so a
//! wrong number shows up as a failed row instead of being trusted: Little's law per group,
//! the drop reasons adding up, no copy both dropped and processed, one latency sample per
//! processed copy, a wait and a sojourn for each of those samples with the waits within
//! the sojourns, and no instance busy more than all the time.

use super::Engine;
use crate::summary::{Expectation, GroupSummary};
use std::collections::BTreeMap;

/// What the census saw of one group that the summary does not carry.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tally {
    /// Copies in no final class and not in the system.
    pub unaccounted: u64,
}

/// Relative slack for sums of floating-point figures.
const EPS: f64 = 1e-9;

impl Engine {
    /// The invariant rows for the run so far, one per law.
    pub(super) fn invariants(
        &self,
        groups: &[GroupSummary],
        by_reason: &BTreeMap<String, u64>,
    ) -> Vec<Expectation> {
        let mut rows = vec![
            self.littles_law(groups),
            drop_reasons(groups, by_reason),
            self.dropped_never_processed(groups),
            self.latency_samples(groups),
            self.wait_within_sojourn(groups),
            utilization(groups),
        ];
        // Only where a group attributes duplicates, so other runs' rows stay as they were.
        if groups.iter().any(|g| g.duplicated_by_cause.is_some()) {
            rows.push(Engine::duplicate_causes(groups));
        }
        rows
    }

    /// Little's law on the sample path: the area under the number in system equals the
    /// time each copy spent there. Copies that left contribute their measured residence;
    /// only copies still in the system at the end may add more, at most the whole run
    /// each. A copy that left without having entered, or is still counted in although the
    /// census finds it nowhere, breaks it.
    fn littles_law(&self, groups: &[GroupSummary]) -> Expectation {
        let t = u128::from(self.now.0);
        let mut failure = None;
        for (g, s) in self.groups.iter().zip(groups) {
            let m = &g.metrics;
            let area = m.in_system_area(self.now);
            let left = m.residence_sum_ns();
            let open = m.in_system_now();
            let why = if m.unbalanced_leaves > 0 {
                Some(format!(
                    "{} copies left without entering",
                    m.unbalanced_leaves
                ))
            } else if area < left {
                Some(format!(
                    "L·T {:.6} s < Σ time in system {:.6} s",
                    area as f64 / 1e9,
                    left as f64 / 1e9
                ))
            } else if area > left + u128::from(open + m.inexact_leaves) * t {
                Some(format!(
                    "L·T {:.6} s > Σ time in system {:.6} s + {} open or resent copies × run",
                    area as f64 / 1e9,
                    left as f64 / 1e9,
                    open + m.inexact_leaves
                ))
            } else if open > s.in_flight {
                Some(format!(
                    "{open} copies counted in the system, {} in flight",
                    s.in_flight
                ))
            } else {
                None
            };
            if let Some(why) = why {
                failure.get_or_insert(format!("{}: {why}", s.name));
            }
        }
        row(
            "littles_law",
            "L = λW per group (only copies still in at the end may differ)",
            failure,
            groups.len(),
        )
    }

    /// The live counts (what the dashboard shows as the run goes) against the final
    /// census: a copy counted dropped and then processed, or processed and then dropped,
    /// shows as a difference, since the census gives every copy exactly one class.
    fn dropped_never_processed(&self, groups: &[GroupSummary]) -> Expectation {
        let failure = self.groups.iter().zip(groups).find_map(|(g, s)| {
            let m = &g.metrics;
            (m.dropped != s.dropped || m.processed != s.processed).then(|| {
                format!(
                    "{}: counted {} dropped and {} processed as it went, {} and {} at the end",
                    s.name, m.dropped, m.processed, s.dropped, s.processed
                )
            })
        });
        row(
            "dropped_never_processed",
            "no copy counted dropped is also processed",
            failure,
            groups.len(),
        )
    }

    fn latency_samples(&self, groups: &[GroupSummary]) -> Expectation {
        let failure = self.groups.iter().zip(groups).find_map(|(g, s)| {
            let samples = g.metrics.latency.len();
            let undone = g.metrics.rolled_back_samples;
            (samples != s.processed + undone).then(|| {
                format!(
                    "{}: {samples} samples, {} processed + {undone} rolled back",
                    s.name, s.processed
                )
            })
        });
        row(
            "latency_samples",
            "one latency sample per processed copy (and per application rolled back)",
            failure,
            groups.len(),
        )
    }

    /// `wait_mean_s` and `sojourn_mean_s` describe the same copies, the sojourn being the
    /// wait plus the time in service: one wait and one sojourn per latency sample, and
    /// the waits' sum within the sojourns'. Waits recorded at delivery, a copy delivered
    /// and never applied counted in one mean and not the other, and groups of runs with
    /// processing timeouts showed a mean wait above their mean sojourn.
    fn wait_within_sojourn(&self, groups: &[GroupSummary]) -> Expectation {
        let failure = self.groups.iter().zip(groups).find_map(|(g, s)| {
            let m = &g.metrics;
            let ((waits, wait_ns), (sojourns, sojourn_ns)) = m.wait_and_sojourn();
            let samples = m.latency.len();
            if waits != samples || sojourns != samples {
                Some(format!(
                    "{}: {waits} waits and {sojourns} sojourns for {samples} latency samples",
                    s.name
                ))
            } else if wait_ns > sojourn_ns {
                Some(format!(
                    "{}: waits sum to {:.6} s, sojourns to {:.6} s",
                    s.name,
                    wait_ns as f64 / 1e9,
                    sojourn_ns as f64 / 1e9
                ))
            } else {
                None
            }
        });
        row(
            "wait_within_sojourn",
            "a wait and a sojourn per latency sample, the waits within the sojourns",
            failure,
            groups.len(),
        )
    }
}

/// Every dropped copy was dropped for a recorded reason.
fn drop_reasons(groups: &[GroupSummary], by_reason: &BTreeMap<String, u64>) -> Expectation {
    let dropped: u64 = groups.iter().map(|g| g.dropped).sum();
    let reasons: u64 = by_reason.values().sum();
    Expectation {
        check: "drop_reasons".into(),
        expected: "dropped_by_reason sums to dropped".into(),
        actual: format!("{reasons} = {dropped}"),
        ok: reasons == dropped,
    }
}

fn utilization(groups: &[GroupSummary]) -> Expectation {
    let failure = groups.iter().find_map(|s| {
        (s.utilization > 1.0 + EPS).then(|| format!("{}: {:.6}", s.name, s.utilization))
    });
    row("utilization", "<= 1 per group", failure, groups.len())
}

fn row(check: &str, expected: &str, failure: Option<String>, groups: usize) -> Expectation {
    Expectation {
        check: check.into(),
        expected: expected.into(),
        ok: failure.is_none(),
        actual: failure.unwrap_or_else(|| format!("holds in {groups} groups")),
    }
}
