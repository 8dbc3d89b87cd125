//! The pipeline section (`RunSummary::pipeline`): how many roots and derived messages, per
//! stage its end-to-end latency, per service output what it published, per path how many
//! roots completed it and how long that took.

use super::{counts, latency_cells, with_latency};
use crate::RunSummary;
use crate::section::{Cell, Section, SectionTable};
use crate::summary::PipelineSummary;

/// Present when the scenario has services (a group with outputs).
pub(super) fn section(r: &RunSummary) -> Option<Section> {
    let p = r.pipeline.as_ref()?;
    let mut s = Section::new(
        "pipeline",
        "Pipeline",
        "Roots: messages the scenario's producers created; derived: messages services published (each once, however often republished). End to end: from the root message's intended send time.",
    );
    let mut head = SectionTable::new("", "", &["roots", "derived"]);
    head.rows.push(counts(&[p.roots, p.derived]).collect());
    s.push_table(head);
    s.push_table(stages(p));
    s.push_table(outputs(p));
    let mut paths = SectionTable::new(
        "Paths",
        "Per path from a producer through services to a sink: copies the sink processed along it, and their end-to-end latency.",
        &with_latency(&["path", "completed"]),
    );
    for path in &p.paths {
        let mut row = vec![
            Cell::Text(path.path.join(" → ")),
            Cell::Count(path.completed),
        ];
        row.extend(latency_cells(&path.latency_s));
        paths.rows.push(row);
    }
    s.push_table(paths);
    Some(s)
}

fn stages(p: &PipelineSummary) -> SectionTable {
    let mut t = SectionTable::new(
        "Stages",
        "Per consumer group: copies processed (first applications) and the end-to-end latency of their processing there.",
        &[
            "stage",
            "topic",
            "delivery",
            "processed",
            "e2e mean",
            "e2e p50",
            "e2e p99",
            "e2e max",
        ],
    );
    for st in &p.stages {
        let mut row = vec![
            Cell::text(&st.group),
            Cell::text(&st.topic),
            Cell::text(&st.delivery),
            Cell::Count(st.processed),
        ];
        row.extend(latency_cells(&st.end_to_end_s));
        t.rows.push(row);
    }
    t
}

fn outputs(p: &PipelineSummary) -> SectionTable {
    let mut t = SectionTable::new(
        "Service outputs",
        "Published: distinct messages; republished: published again when an input was processed again (each a duplicate downstream); aborted and pending: exactly-once outputs of aborted and still-open transactions; expected: what the processed inputs owe; orphaned: published for inputs never processed.",
        &[
            "stage",
            "publishes to",
            "published",
            "republished",
            "aborted",
            "pending",
            "expected",
            "orphaned",
        ],
    );
    for st in &p.stages {
        for o in &st.outputs {
            let mut row = vec![Cell::text(&st.group), Cell::text(&o.topic)];
            row.extend(counts(&[
                o.published,
                o.republished,
                o.aborted,
                o.pending,
                o.expected,
                o.orphaned,
            ]));
            t.rows.push(row);
        }
    }
    t
}
