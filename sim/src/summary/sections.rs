//! A run's pattern sections: one builder per messaging pattern, registered in `BUILDERS`,
//! each turning the pattern's part of a `RunSummary` into a `Section` (none when the run
//! does not use it). A new pattern is a file in `sections/` and one line in `BUILDERS`;
//! no renderer changes. Builders are thin mappings from summary fields, so a field added
//! to a summary is one more column.
//!
//! Sections are not part of the JSON result: the result already carries every figure in
//! its typed field, and a section is derived from those on every rendering, so a saved
//! result (`mqlab report`) draws as the current version draws a fresh one, with no second
//! copy of each figure to drift from the first.

use crate::RunSummary;
use crate::section::{Cell, Section};
use crate::summary::Latency;

mod backpressure;
mod classes;
mod payload;
mod pipeline;
mod protection;
mod request_reply;
mod resequencers;
mod sagas;
mod services;

/// Turns a run's summary into one pattern's section, or `None` when the run lacks it.
pub type Builder = fn(&RunSummary) -> Option<Section>;

/// Every pattern's builder, in the order the renderers draw their sections.
pub const BUILDERS: [Builder; 9] = [
    backpressure::section,
    pipeline::section,
    services::section,
    sagas::section,
    request_reply::section,
    protection::section,
    payload::section,
    classes::section,
    resequencers::section,
];

/// The sections of the patterns `r` uses, in `BUILDERS` order.
#[must_use]
pub fn sections(r: &RunSummary) -> Vec<Section> {
    BUILDERS.iter().filter_map(|b| b(r)).collect()
}

/// The latency columns every pattern table shows.
const LATENCY: [&str; 4] = ["mean", "p50", "p99", "max"];

/// `LATENCY` after `lead` (the table's own columns).
fn with_latency<'a>(lead: &[&'a str]) -> Vec<&'a str> {
    lead.iter().copied().chain(LATENCY).collect()
}

/// A latency's `LATENCY` cells.
fn latency_cells(l: &Latency) -> [Cell; 4] {
    [l.mean, l.p50, l.p99, l.max].map(Cell::Seconds)
}

/// Counts as cells.
fn counts(values: &[u64]) -> impl Iterator<Item = Cell> + '_ {
    values.iter().copied().map(Cell::Count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_without_patterns_has_no_section() {
        assert!(sections(&RunSummary::default()).is_empty());
    }

    /// Every pattern used once, with default figures.
    fn full() -> RunSummary {
        use crate::summary::*;
        let stage = StageSummary {
            outputs: vec![OutputSummary::default()],
            ..StageSummary::default()
        };
        let mut r = RunSummary {
            overflow: Some(Overflow::default()),
            services: vec![ServiceSummary::default()],
            sagas: vec![SagaSummary::default()],
            request_reply: vec![RequestReplySummary::default()],
            protection: Some(ProtectionSummary::default()),
            payload: Some(PayloadSummary::default()),
            classes: vec![ClassSummary::default()],
            pipeline: Some(PipelineSummary {
                stages: vec![stage],
                paths: vec![PathSummary::default()],
                ..PipelineSummary::default()
            }),
            groups: vec![GroupSummary::default()],
            ..RunSummary::default()
        };
        r.groups[0].resequencer = Some(ResequencerSummary::default());
        r
    }

    #[test]
    fn every_row_is_as_wide_as_its_header_and_keys_are_unique() {
        let s = sections(&full());
        let mut keys: Vec<&str> = s.iter().map(|s| s.key).collect();
        assert_eq!(keys.len(), BUILDERS.len(), "{keys:?}");
        keys.dedup();
        assert_eq!(keys.len(), BUILDERS.len(), "{keys:?}");
        for sec in &s {
            for t in &sec.tables {
                for row in &t.rows {
                    assert_eq!(row.len(), t.columns.len(), "{} {}", sec.key, t.title);
                }
            }
        }
    }
}
