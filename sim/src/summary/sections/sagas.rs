//! The sagas section: each orchestrated saga's outcomes (`RunSummary::sagas`), and the
//! identity every saga is classified by.

use super::{counts, latency_cells, with_latency};
use crate::RunSummary;
use crate::section::{Cell, CheckRow, Section, SectionTable};

/// One row and one check per saga; none without a saga.
pub(super) fn section(r: &RunSummary) -> Option<Section> {
    let mut s = Section::new(
        "sagas",
        "Sagas",
        "Per orchestrated saga (outside the copy ledger): started = completed + compensated + half-done + in progress. Latency: start to completed or compensated.",
    );
    let mut t = SectionTable::new(
        "",
        "",
        &with_latency(&[
            "saga",
            "started",
            "completed",
            "compensated",
            "half-done",
            "in progress",
            "refused",
            "resends",
            "given up",
            "duplicates suppressed",
            "late refused",
            "compensations",
            "out of order",
        ]),
    );
    for g in &r.sagas {
        let mut row = vec![Cell::text(&g.name)];
        row.extend(counts(&[
            g.started,
            g.completed,
            g.compensated,
            g.half_done,
            g.in_progress,
            g.refused,
            g.resends,
            g.given_up,
            g.duplicate_commands,
            g.late_commands,
            g.compensations,
            g.compensations_out_of_order,
        ]));
        row.extend(latency_cells(&g.latency_s));
        t.rows.push(row);
        let ended = g.completed + g.compensated + g.half_done + g.in_progress;
        s.checks.push(CheckRow {
            name: format!("saga {} outcomes", g.name),
            expected: "started = completed + compensated + half-done + in progress".into(),
            observed: format!(
                "{} = {} + {} + {} + {}",
                g.started, g.completed, g.compensated, g.half_done, g.in_progress
            ),
            held: ended == g.started,
        });
    }
    s.push_table(t);
    s.nonempty()
}
