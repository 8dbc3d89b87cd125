//! The request-reply section: each requester's requests, replies and round trip
//! (`RunSummary::request_reply`), and the identities its counts obey.

use super::counts;
use crate::RunSummary;
use crate::section::{Cell, CheckRow, Section, SectionTable};

/// One row and two checks per requester; none without a requester.
pub(super) fn section(r: &RunSummary) -> Option<Section> {
    let mut s = Section::new(
        "request_reply",
        "Request-reply",
        "Per requester: requests = replied + timed out + outstanding; replies = replied + orphans + duplicate. Lost: replies that came while the requester was down. Round trip: intended send to matched reply.",
    );
    let mut t = SectionTable::new(
        "",
        "",
        &[
            "requester",
            "requests",
            "replied",
            "timed out",
            "outstanding",
            "replies",
            "orphans",
            "duplicate",
            "mismatched",
            "lost",
            "rtt mean",
            "rtt p50",
            "rtt p90",
            "rtt p99",
            "rtt max",
        ],
    );
    for q in &r.request_reply {
        let mut row = vec![Cell::text(&q.producer)];
        row.extend(counts(&[
            q.requests,
            q.replied,
            q.timed_out,
            q.outstanding,
            q.replies,
            q.orphans,
            q.duplicate_replies,
            q.mismatched,
            q.replies_lost,
        ]));
        let l = &q.rtt_s;
        row.extend([l.mean, l.p50, l.p90, l.p99, l.max].map(Cell::Seconds));
        t.rows.push(row);
        s.checks.push(CheckRow {
            name: format!("requester {} requests", q.producer),
            expected: "requests = replied + timed out + outstanding".into(),
            observed: format!(
                "{} = {} + {} + {}",
                q.requests, q.replied, q.timed_out, q.outstanding
            ),
            held: q.requests == q.replied + q.timed_out + q.outstanding,
        });
        s.checks.push(CheckRow {
            name: format!("requester {} replies", q.producer),
            expected: "replies = replied + orphans + duplicate".into(),
            observed: format!(
                "{} = {} + {} + {}",
                q.replies, q.replied, q.orphans, q.duplicate_replies
            ),
            held: q.replies == q.replied + q.orphans + q.duplicate_replies,
        });
    }
    s.push_table(t);
    s.nonempty()
}
