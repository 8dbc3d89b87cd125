//! The patterns' live sections for the dashboard: the same `Section` shape as a finished
//! run's, built from a snapshot's live state (the lineage check so far, breaker states,
//! held messages, sagas in progress) only for the patterns the scenario uses. The builders
//! are a few lines each, so they share this file; a new one is a function and a line in
//! `LIVE`.

use super::Snapshot;
use crate::section::{Cell, CheckRow, Section, SectionTable, Tone};

/// Turns a snapshot into one pattern's live section, or `None` when the scenario lacks it.
pub type LiveBuilder = fn(&Snapshot) -> Option<Section>;

/// Every pattern's live builder, in the order the dashboard draws them.
pub const LIVE: [LiveBuilder; 4] = [lineage, breakers, resequencers, sagas];

impl Snapshot {
    /// The live sections of the patterns this run uses, in `LIVE` order (none for a
    /// scenario without patterns).
    #[must_use]
    pub fn sections(&self) -> Vec<Section> {
        LIVE.iter().filter_map(|b| b(self)).collect()
    }
}

/// Per service output, its lineage check so far.
fn lineage(snap: &Snapshot) -> Option<Section> {
    let mut s = Section::new(
        "lineage",
        "lineage",
        "published + pending = expected, orphaned = 0",
    );
    s.checks = snap
        .lineage
        .iter()
        .map(|e| CheckRow {
            name: e.check.trim_start_matches("lineage ").into(),
            expected: e.expected.clone(),
            observed: e.actual.clone(),
            held: e.ok,
        })
        .collect();
    s.nonempty()
}

/// How many breakers are closed, and each one that is not with what it holds parked.
fn breakers(snap: &Snapshot) -> Option<Section> {
    let b = &snap.patterns.breakers;
    if b.is_empty() {
        return None;
    }
    let closed = b.iter().filter(|b| b.state == "closed").count();
    let mut s = Section::new(
        "breakers",
        "breakers",
        &format!("{closed}/{} closed", b.len()),
    );
    let mut t = SectionTable::new("", "", &["group/type", "state", "parked"]);
    for v in b.iter().filter(|b| b.state != "closed") {
        let tone = if v.state == "open" {
            Tone::Bad
        } else {
            Tone::Warn
        };
        t.rows.push(vec![
            Cell::Text(format!("{}/{}", v.group, v.message_type)),
            Cell::State(v.state.into(), tone),
            Cell::Count(v.parked),
        ]);
    }
    s.push_table(t);
    // A section even with every breaker closed: its line says so.
    Some(s)
}

/// Messages each resequencer holds now.
fn resequencers(snap: &Snapshot) -> Option<Section> {
    let mut s = Section::new("resequencers", "resequencers", "messages held now");
    let mut t = SectionTable::new("", "", &["group", "held"]);
    for (group, held) in &snap.patterns.held {
        t.rows.push(vec![Cell::text(group), Cell::Count(*held)]);
    }
    s.push_table(t);
    s.nonempty()
}

/// Runs of each saga in progress now.
fn sagas(snap: &Snapshot) -> Option<Section> {
    let mut s = Section::new("sagas", "sagas", "runs in progress now");
    let mut t = SectionTable::new("", "", &["saga", "in progress"]);
    for (saga, running) in &snap.patterns.sagas {
        t.rows.push(vec![Cell::text(saga), Cell::Count(*running)]);
    }
    s.push_table(t);
    s.nonempty()
}
