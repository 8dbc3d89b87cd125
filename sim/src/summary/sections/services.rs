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
    s.push_table(relays(r));
    s.nonempty()
}

/// The outbox relays, a stage of their own: a service whose input is the outbox table.
fn relays(r: &RunSummary) -> SectionTable {
    let mut t = SectionTable::new(
        "Outbox relays",
        "The relay's stage: pollers reading the outbox table, latency from a row's commit to the relay holding its publish's acknowledgement. Republished: rows published again after a relay crash or a failed mark (duplicates unless the consumer deduplicates).",
        &[
            "service",
            "instances",
            "published",
            "republished",
            "marks failed",
            "peak rows",
            "rows left",
            "p50",
            "p99",
            "max",
        ],
    );
    for v in r.services.iter().filter(|v| v.relay_instances > 0) {
        let mut row = vec![Cell::text(&v.producer)];
        row.extend(counts(&[
            u64::from(v.relay_instances),
            v.published,
            v.republished,
            v.marks_failed,
            v.outbox_peak,
            v.outbox_rows,
        ]));
        let l = &v.relay_latency_s;
        row.extend([l.p50, l.p99, l.max].map(Cell::Seconds));
        t.rows.push(row);
    }
    t
}
