//! The resequencers section: each group with `resequence = true` (`GroupSummary::
//! resequencer`).

use super::counts;
use crate::RunSummary;
use crate::section::{Cell, Section, SectionTable};

/// One row per group with a resequencer; none without one.
pub(super) fn section(r: &RunSummary) -> Option<Section> {
    let mut s = Section::new(
        "resequencers",
        "Resequencers",
        "Per group with resequence = true. Held: copies that arrived ahead of a missing predecessor. Gaps skipped: after the gap timeout or with the buffer full.",
    );
    let mut t = SectionTable::new(
        "",
        "",
        &[
            "group",
            "held",
            "held max",
            "held at end",
            "gaps skipped",
            "skipped (buffer full)",
        ],
    );
    for g in &r.groups {
        if let Some(q) = &g.resequencer {
            let mut row = vec![Cell::text(&g.name)];
            row.extend(counts(&[
                q.resequenced,
                q.held_max,
                q.held_end,
                q.gaps_skipped,
                q.skipped_full,
            ]));
            t.rows.push(row);
        }
    }
    s.push_table(t);
    s.nonempty()
}
