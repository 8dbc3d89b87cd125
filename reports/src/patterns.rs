//! The tables of a run's messaging-pattern sections (backpressure, services, sagas,
//! request-reply, poison-message protection, payload bytes, priority classes,
//! resequencers), one per section the run has. A section the run lacks yields no table, so
//! a run without patterns reports exactly as before. Builds `Table`s only: rendering
//! belongs to `markdown` and `html`.

use crate::fmt::{ms, num, secs};
use crate::tables::{Table, table};
use mqlab_sim::RunSummary;
use mqlab_sim::summary::Latency;
use mqlab_sim::summary::protection::{
    AttemptRecord, ProtectionSummary, RECORDS_KEPT, TRANSITIONS_KEPT,
};

/// Quarantine records and breaker transitions shown before the rest is left to the JSON.
pub const SHOWN: usize = 10;

/// The tables of the pattern sections `r` has, in a fixed order.
pub fn pattern_tables(r: &RunSummary) -> Vec<Table> {
    let mut out = Vec::new();
    out.extend(backpressure_table(r));
    out.extend(services_table(r));
    out.extend(sagas_table(r));
    out.extend(request_reply_table(r));
    if let Some(p) = &r.protection {
        out.extend(protection_tables(p));
    }
    out.extend(payload_table(r));
    out.extend(classes_table(r));
    out.extend(resequencers_table(r));
    out
}

/// `Some(t)` when it has a row: a section with no entries gets no table.
fn nonempty(t: Table) -> Option<Table> {
    (!t.rows.is_empty()).then_some(t)
}

/// Counts as cells.
fn counts(values: &[u64]) -> impl Iterator<Item = String> + '_ {
    values.iter().map(ToString::to_string)
}

/// Mean, p50, p99 and max in milliseconds, the columns every latency here shows.
fn latency_cells(l: &Latency) -> [String; 4] {
    [ms(l.mean), ms(l.p50), ms(l.p99), ms(l.max)]
}

fn backpressure_table(r: &RunSummary) -> Option<Table> {
    let o = r.overflow.as_ref()?;
    let mut t = table(
        "Backpressure",
        "What the full broker did: producer pauses at the high watermark (block), refused sends and the resends that answered them (reject), messages spilled to slower storage (spill).",
        &[
            "pauses",
            "paused for",
            "rejected",
            "resent",
            "spilled",
            "spill max",
        ],
    );
    t.rows.push(vec![
        o.pauses.to_string(),
        secs(o.paused_s),
        o.rejections.to_string(),
        o.resent.to_string(),
        o.spilled.to_string(),
        o.spill_max.to_string(),
    ]);
    Some(t)
}

fn services_table(r: &RunSummary) -> Option<Table> {
    let mut t = table(
        "Services (outbox / dual write)",
        "Per service with a database. Lost events: committed changes never published (dual write). Phantom events: published for changes never committed (publish-first). Outbox rows left: unsent at the end.",
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
    for s in &r.services {
        let mut row = vec![s.producer.clone(), s.publish.clone()];
        row.extend(counts(&[
            s.committed,
            s.aborted,
            s.refused,
            s.published,
            s.republished,
            s.lost_events,
            s.phantom_events,
            s.outbox_rows,
        ]));
        t.rows.push(row);
    }
    nonempty(t)
}

fn sagas_table(r: &RunSummary) -> Option<Table> {
    let mut t = table(
        "Sagas",
        "Per orchestrated saga (outside the copy ledger): started = completed + compensated + half-done + in progress. Latency: start to completed or compensated.",
        &[
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
            "mean",
            "p50",
            "p99",
            "max",
        ],
    );
    for s in &r.sagas {
        let mut row = vec![s.name.clone()];
        row.extend(counts(&[
            s.started,
            s.completed,
            s.compensated,
            s.half_done,
            s.in_progress,
            s.refused,
            s.resends,
            s.given_up,
            s.duplicate_commands,
            s.late_commands,
            s.compensations,
            s.compensations_out_of_order,
        ]));
        row.extend(latency_cells(&s.latency_s));
        t.rows.push(row);
    }
    nonempty(t)
}

fn request_reply_table(r: &RunSummary) -> Option<Table> {
    let mut t = table(
        "Request-reply",
        "Per requester: requests = replied + timed out + outstanding; replies = replied + orphans + duplicate. Lost: replies that came while the requester was down. Round trip: intended send to matched reply.",
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
            "rtt p99",
            "rtt max",
        ],
    );
    for q in &r.request_reply {
        let mut row = vec![q.producer.clone()];
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
        row.extend(latency_cells(&q.rtt_s));
        t.rows.push(row);
    }
    nonempty(t)
}

/// Counts, then per-type latency, the first quarantine records and the first breaker
/// transitions (each only when it has rows).
fn protection_tables(p: &ProtectionSummary) -> Vec<Table> {
    let mut head = table(
        "Poison-message protection",
        "Quarantined copies are also counted as dead-lettered. Timed out: attempts abandoned at the processing timeout.",
        &["quarantined", "timed out", "breaker opens"],
    );
    head.rows
        .push(counts(&[p.quarantined, p.timed_out, p.breaker_opens]).collect());
    let mut types = table(
        "Latency by message type",
        "End to end, produce to processed, per message type (producer).",
        &["type", "processed", "mean", "p50", "p99", "max"],
    );
    for ty in &p.types {
        let mut row = vec![ty.message_type.clone(), ty.processed.to_string()];
        row.extend(latency_cells(&ty.latency_s));
        types.rows.push(row);
    }
    let mut out = vec![head];
    out.extend(nonempty(types));
    out.extend(quarantine_table(p));
    out.extend(transitions_table(p));
    out
}

fn quarantine_table(p: &ProtectionSummary) -> Option<Table> {
    let shown = p.quarantine.len().min(SHOWN);
    let mut t = table(
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
            q.group.clone(),
            q.message_type.clone(),
            q.message.to_string(),
            secs(q.at_s),
            q.attempts.len().to_string(),
            history(&q.attempts),
        ]);
    }
    nonempty(t)
}

/// `All 5` when every one is shown, else `The first 10 of 14`.
fn which(shown: usize, total: u64) -> String {
    if shown as u64 >= total {
        format!("All {total}")
    } else {
        format!("The first {shown} of {total}")
    }
}

/// `1.000–1.005 s failed; 1.105–1.605 s timed out`.
fn history(attempts: &[AttemptRecord]) -> String {
    attempts
        .iter()
        .map(|a| format!("{}–{} {}", num(a.started_s, 3), secs(a.ended_s), a.error))
        .collect::<Vec<_>>()
        .join("; ")
}

fn transitions_table(p: &ProtectionSummary) -> Option<Table> {
    let shown = p.transitions.len().min(SHOWN);
    let mut t = table(
        "Circuit-breaker transitions",
        &format!(
            "{} recorded, oldest first. The JSON result keeps the first {TRANSITIONS_KEPT}.",
            which(shown, p.transitions.len() as u64)
        ),
        &["at", "group", "type", "from", "to"],
    );
    for b in p.transitions.iter().take(SHOWN) {
        t.rows.push(vec![
            secs(b.at_s),
            b.group.clone(),
            b.message_type.clone(),
            b.from.clone(),
            b.to.clone(),
        ]);
    }
    nonempty(t)
}

fn payload_table(r: &RunSummary) -> Option<Table> {
    let p = r.payload.as_ref()?;
    let mut header = vec![
        "produced (bytes)",
        "produced (bytes/s)",
        "broker peak (bytes)",
        "ingest delay mean",
        "ingest delay max",
    ];
    let mut row = vec![
        p.bytes_produced.to_string(),
        num(r.throughput.produced_bytes_per_s, 1),
        p.broker_bytes_max.to_string(),
        ms(p.ingest_delay_mean_s),
        ms(p.ingest_delay_max_s),
    ];
    if let Some(c) = &p.claim_check {
        header.extend(["claim-checked", "claim-checked (bytes)"]);
        row.extend(counts(&[c.stored, c.stored_bytes]));
    }
    let mut t = table(
        "Payload bytes / claim check",
        "Payload bytes producers created and the most the broker held at once. Ingest delay: queueing for the broker's bandwidth plus the transfer. Claim-checked: payloads put in the external store, a reference sent through the broker.",
        &header,
    );
    t.rows.push(row);
    Some(t)
}

fn classes_table(r: &RunSummary) -> Option<Table> {
    let mut t = table(
        "Priority classes",
        "Share: the class's fraction of the copies processed while producers produced. Latency: produce to processed.",
        &[
            "priority",
            "produced",
            "processed",
            "share",
            "mean",
            "p50",
            "p99",
            "max",
        ],
    );
    for c in &r.classes {
        let mut row = vec![
            c.priority.to_string(),
            c.produced.to_string(),
            c.processed.to_string(),
            format!("{} %", num(c.share * 100.0, 1)),
        ];
        row.extend(latency_cells(&c.latency_s));
        t.rows.push(row);
    }
    nonempty(t)
}

fn resequencers_table(r: &RunSummary) -> Option<Table> {
    let mut t = table(
        "Resequencers",
        "Per group with resequence = true. Held: copies that arrived ahead of a missing predecessor. Gaps skipped: after the gap timeout or with the buffer full.",
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
            let mut row = vec![g.name.clone()];
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
    nonempty(t)
}

#[cfg(test)]
mod tests {
    use super::{SHOWN, pattern_tables};
    use crate::{Format, Options, Report, fixture, write};

    fn render(format: Format) -> String {
        let mut out = Vec::new();
        let report = Report::Run(fixture::run_with_patterns());
        write(&report, format, &Options::default(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Each section's title and its first row, as cells.
    const SECTIONS: [(&str, &[&str]); 11] = [
        (
            "Backpressure",
            &["17", "2.500 s", "311", "307", "4096", "1024"],
        ),
        (
            "Services (outbox / dual write)",
            &[
                "orders", "outbox", "5210", "13", "41", "5209", "6", "0", "0", "1",
            ],
        ),
        (
            "Sagas",
            &[
                "order",
                "2900",
                "2611",
                "288",
                "0",
                "1",
                "198",
                "143",
                "2",
                "57",
                "3",
                "402",
                "0",
                "26.250 ms",
                "21.000 ms",
                "168.000 ms",
                "840.000 ms",
            ],
        ),
        (
            "Request-reply",
            &[
                "client",
                "3000",
                "2950",
                "48",
                "2",
                "2977",
                "19",
                "8",
                "0",
                "5",
                "5.000 ms",
                "4.000 ms",
                "32.000 ms",
                "160.000 ms",
            ],
        ),
        ("Poison-message protection", &["14", "9", "4"]),
        (
            "Latency by message type",
            &[
                "good",
                "59000",
                "2.500 ms",
                "2.000 ms",
                "16.000 ms",
                "80.000 ms",
            ],
        ),
        (
            "Quarantined messages",
            &[
                "payments",
                "poison",
                "100",
                "11.000 s",
                "2",
                "10.000–10.005 s failed; 10.500–11.000 s timed out",
            ],
        ),
        (
            "Circuit-breaker transitions",
            &["10.000 s", "payments", "poison", "closed", "open"],
        ),
        (
            "Payload bytes / claim check",
            &[
                "987654321",
                "256000.0",
                "12345678",
                "0.750 ms",
                "12.500 ms",
                "77",
                "770000000",
            ],
        ),
        (
            "Priority classes",
            &[
                "9",
                "1200",
                "1199",
                "25.0 %",
                "1.250 ms",
                "1.000 ms",
                "8.000 ms",
                "40.000 ms",
            ],
        ),
        ("Resequencers", &["payments", "640", "33", "0", "12", "4"]),
    ];

    #[test]
    fn a_run_without_patterns_gets_no_pattern_table() {
        assert!(pattern_tables(&fixture::run()).is_empty());
    }

    #[test]
    fn markdown_shows_every_section_with_its_figures_after_the_core_tables() {
        let md = render(Format::Markdown);
        let mut at = md.find("## Fault phases").expect("core tables first");
        for (title, cells) in SECTIONS {
            let heading = md[at..]
                .find(&format!("\n## {title}\n"))
                .unwrap_or_else(|| panic!("{title} missing or out of order"));
            at += heading + 1;
            let section = md[at..].split("\n## ").next().unwrap();
            let row = format!("| {} |", cells.join(" | "));
            assert!(section.contains(&row), "{title}: no row {row}\n{section}");
        }
    }

    #[test]
    fn html_shows_the_same_tables_and_figures() {
        let html = render(Format::Html);
        for (title, cells) in SECTIONS {
            let section = html
                .split(&format!("<h2>{title}</h2>"))
                .nth(1)
                .unwrap_or_else(|| panic!("{title} missing"));
            // Text cells carry their left alignment.
            let section = section
                .split("<h2>")
                .next()
                .unwrap()
                .replace(" class=\"l\"", "");
            let row: String = cells.iter().map(|c| format!("<td>{c}</td>")).collect();
            assert!(section.contains(&row), "{title}: no row {row}");
        }
    }

    #[test]
    fn protection_shows_the_first_records_and_transitions_and_says_how_many() {
        let md = render(Format::Markdown);
        assert!(md.contains("The first 10 of 14 quarantined"), "{md}");
        assert!(md.contains("The first 10 of 12 recorded"), "{md}");
        let shown = u32::try_from(SHOWN).unwrap();
        assert!(md.contains(&format!("| payments | poison | {} |", 100 + shown - 1)));
        assert!(!md.contains(&format!("| payments | poison | {} |", 100 + shown)));
        let transitions = md.split("## Circuit-breaker transitions").nth(1).unwrap();
        assert_eq!(transitions.matches("| payments | poison |").count(), SHOWN);
    }

    #[test]
    fn protection_says_all_when_every_record_is_shown() {
        let mut r = fixture::run_with_patterns();
        let p = r.protection.as_mut().unwrap();
        p.quarantined = 3;
        p.quarantine.truncate(3);
        p.transitions.truncate(2);
        let notes: Vec<String> = pattern_tables(&r).into_iter().map(|t| t.note).collect();
        assert!(notes.iter().any(|n| n.starts_with("All 3 quarantined")));
        assert!(notes.iter().any(|n| n.starts_with("All 2 recorded")));
    }

    #[test]
    fn payload_without_claim_check_has_no_claim_check_columns() {
        let mut r = fixture::run_with_patterns();
        r.payload.as_mut().unwrap().claim_check = None;
        let tables = pattern_tables(&r);
        let t = tables
            .iter()
            .find(|t| t.title == "Payload bytes / claim check")
            .unwrap();
        assert_eq!(t.header.len(), 5);
        assert_eq!(t.rows[0].len(), 5);
    }
}
