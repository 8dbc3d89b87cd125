//! The priority-classes section (`RunSummary::classes`): each class's throughput share and
//! latency.

use super::{latency_cells, with_latency};
use crate::RunSummary;
use crate::section::{Cell, Section, SectionTable};

/// One row per class; none when no consumer schedules by priority.
pub(super) fn section(r: &RunSummary) -> Option<Section> {
    let mut s = Section::new(
        "classes",
        "Priority classes",
        "Share: the class's fraction of the copies processed while producers produced. Latency: produce to processed.",
    );
    let mut t = SectionTable::new(
        "",
        "",
        &with_latency(&["priority", "produced", "processed", "share"]),
    );
    for c in &r.classes {
        let mut row = vec![
            Cell::Count(u64::from(c.priority)),
            Cell::Count(c.produced),
            Cell::Count(c.processed),
            Cell::Ratio(c.share),
        ];
        row.extend(latency_cells(&c.latency_s));
        t.rows.push(row);
    }
    s.push_table(t);
    s.nonempty()
}
