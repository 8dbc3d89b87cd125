//! The services section: services with a database (`producer.publish`: outbox, dual
//! write, publish-first), from `RunSummary::services`.

use super::counts;
use crate::RunSummary;
use crate::section::{Cell, Section, SectionTable};

/// One row per service; none without one.
pub(super) fn section(r: &RunSummary) -> Option<Section> {
    let mut s = Section::new(
        "services",
        "Services (outbox / dual write)",
        "Per service with a database. Lost events: committed changes never published (dual write). Phantom events: published for changes never committed (publish-first). Outbox rows left: unsent at the end.",
    );
    let mut t = SectionTable::new(
        "",
        "",
        &[
            "service",
            "publish",
            "committed",
            "aborted",
            "refused",
            "published",
            "republished",
            "lost events",
            "phantom events",
            "outbox rows left",
        ],
    );
    for v in &r.services {
        let mut row = vec![Cell::text(&v.producer), Cell::text(&v.publish)];
        row.extend(counts(&[
            v.committed,
            v.aborted,
            v.refused,
            v.published,
            v.republished,
            v.lost_events,
            v.phantom_events,
            v.outbox_rows,
        ]));
        t.rows.push(row);
    }
    s.push_table(t);
    s.nonempty()
}
