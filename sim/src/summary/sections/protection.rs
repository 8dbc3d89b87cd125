//! The poison-message protection section (`RunSummary::protection`): counts, latency per
//! message type, the first quarantine records with their histories and the first breaker
//! transitions.

use super::{counts, latency_cells, with_latency};
use crate::RunSummary;
use crate::section::{Cell, Section, SectionTable};
use crate::summary::protection::{
    AttemptRecord, ProtectionSummary, RECORDS_KEPT, TRANSITIONS_KEPT,
};

/// Quarantine records and breaker transitions shown before the rest is left to the JSON.
pub const SHOWN: usize = 10;

/// Present when the scenario uses breakers, timeouts or quarantine.
pub(super) fn section(r: &RunSummary) -> Option<Section> {
    let p = r.protection.as_ref()?;
    let mut s = Section::new(
        "protection",
        "Poison-message protection",
        "Quarantined copies are also counted as dead-lettered. Timed out: attempts abandoned at the processing timeout.",
    );
    let mut head = SectionTable::new("", "", &["quarantined", "timed out", "breaker opens"]);
    head.rows
        .push(counts(&[p.quarantined, p.timed_out, p.breaker_opens]).collect());
    s.push_table(head);
    let mut types = SectionTable::new(
        "Latency by message type",
        "End to end, produce to processed, per message type (producer).",
        &with_latency(&["type", "processed"]),
    );
    for ty in &p.types {
        let mut row = vec![Cell::text(&ty.message_type), Cell::Count(ty.processed)];
        row.extend(latency_cells(&ty.latency_s));
        types.rows.push(row);
    }
    s.push_table(types);
    s.push_table(quarantine(p));
    s.push_table(transitions(p));
    Some(s)
}

fn quarantine(p: &ProtectionSummary) -> SectionTable {
    let shown = p.quarantine.len().min(SHOWN);
    let mut t = SectionTable::new(
        "Quarantined messages",
        &format!(
            "{} quarantined, with every failed attempt (start–end, error). The JSON result keeps the first {RECORDS_KEPT}.",
            which(shown, p.quarantined)
        ),
        &[
            "group",
            "type",
            "message",
            "quarantined at",
            "attempts",
            "history",
        ],
    );
    for q in p.quarantine.iter().take(SHOWN) {
        t.rows.push(vec![
            Cell::text(&q.group),
            Cell::text(&q.message_type),
            Cell::Count(u64::from(q.message)),
            Cell::Time(q.at_s),
            Cell::Count(q.attempts.len() as u64),
            Cell::Text(history(&q.attempts)),
        ]);
    }
    t
}

/// `All 5` when every one is shown, else `The first 10 of 14`.
fn which(shown: usize, total: u64) -> String {
    if shown as u64 >= total {
        format!("All {total}")
    } else {
        format!("The first {shown} of {total}")
    }
}

/// `10.000–10.005 s failed; 10.500–11.000 s timed out`.
fn history(attempts: &[AttemptRecord]) -> String {
    attempts
        .iter()
        .map(|a| format!("{:.3}–{:.3} s {}", a.started_s, a.ended_s, a.error))
        .collect::<Vec<_>>()
        .join("; ")
}

fn transitions(p: &ProtectionSummary) -> SectionTable {
    let shown = p.transitions.len().min(SHOWN);
    let mut t = SectionTable::new(
        "Circuit-breaker transitions",
        &format!(
            "{} recorded, oldest first. The JSON result keeps the first {TRANSITIONS_KEPT}.",
            which(shown, p.transitions.len() as u64)
        ),
        &["at", "group", "type", "from", "to"],
    );
    for b in p.transitions.iter().take(SHOWN) {
        t.rows.push(vec![
            Cell::Time(b.at_s),
            Cell::text(&b.group),
            Cell::text(&b.message_type),
            Cell::text(&b.from),
            Cell::text(&b.to),
        ]);
    }
    t
}
