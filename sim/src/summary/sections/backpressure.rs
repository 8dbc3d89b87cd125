//! The backpressure section: what a full broker did (`RunSummary::overflow`).

use super::counts;
use crate::RunSummary;
use crate::section::{Cell, Section, SectionTable};

/// Present when the broker filled up.
pub(super) fn section(r: &RunSummary) -> Option<Section> {
    let o = r.overflow.as_ref()?;
    let mut s = Section::new(
        "backpressure",
        "Backpressure",
        "What the full broker did: producer pauses at the high watermark (block), held sends whose timeout ran out, each sent again while the broker still held it: another copy (block), refused sends and the resends that answered them (reject), messages spilled to slower storage (spill).",
    );
    let mut t = SectionTable::new(
        "",
        "",
        &[
            "pauses",
            "paused for",
            "held, timed out",
            "rejected",
            "resent",
            "spilled",
            "spill max",
        ],
    );
    let mut row = vec![Cell::Count(o.pauses), Cell::Time(o.paused_s)];
    row.extend(counts(&[
        o.held_timeouts,
        o.rejections,
        o.resent,
        o.spilled,
        o.spill_max,
    ]));
    t.rows.push(row);
    s.push_table(t);
    Some(s)
}
