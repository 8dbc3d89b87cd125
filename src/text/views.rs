//! The run summary's per-group table, per-producer lines, fault windows and broker
//! timeline (issue 15): what a user of Grafana or OpenMessaging Benchmark reads first.

use super::secs;
use mqlab_reports::text::table;
use mqlab_sim::RunSummary;
use std::fmt::Write;

/// Broker timeline lines shown before the rest is left to the JSON.
const TIMELINE_SHOWN: usize = 12;

/// One row per group: its accounting, throughput and latency (and, when the run had
/// faults, its p99 over the copies whose life missed every fault window).
pub fn groups(o: &mut String, r: &RunSummary) {
    let mut header = vec![
        "group",
        "copies",
        "processed",
        "lost",
        "dropped",
        "dup",
        "ooo",
        "dlq",
        "rate/s",
        "wait",
        "p50",
        "p99",
        "util",
        "max lag",
    ];
    let outside = r.outside_faults.is_some();
    if outside {
        header.push("p99 outside faults");
    }
    let rows: Vec<Vec<String>> = r
        .groups
        .iter()
        .map(|g| {
            let mut row = vec![
                g.name.clone(),
                g.copies.to_string(),
                g.processed.to_string(),
                g.lost.to_string(),
                g.dropped.to_string(),
                g.duplicated.to_string(),
                g.out_of_order.to_string(),
                g.dead_lettered.to_string(),
                format!("{:.1}", g.processed_per_s),
                secs(g.wait_mean_s),
                secs(g.latency_s.p50),
                secs(g.latency_p99_s),
                format!("{:.0}%", g.utilization * 100.0),
                g.max_lag.to_string(),
            ];
            if let Some(f) = g.outside_faults.filter(|_| outside) {
                row.push(secs(f.latency_s.p99));
            }
            row
        })
        .collect();
    let _ = write!(o, "\n{}", table(&header, &rows));
}

/// The faults with their windows, and the latency of copies that missed every window.
pub fn faults(o: &mut String, r: &RunSummary) {
    for f in &r.faults {
        let _ = writeln!(
            o,
            "fault     {} {}  {} .. {}",
            f.kind,
            f.target,
            secs(f.start_s),
            secs(f.end_s)
        );
        if !f.note.is_empty() {
            let indent = "          ";
            let _ = writeln!(o, "{indent}{}", crate::text::wrap(&f.note, 76, indent));
        }
    }
    if let Some(f) = &r.outside_faults {
        let l = &f.latency_s;
        let _ = writeln!(
            o,
            "latency outside fault windows ({} copies)  p50 {}  p90 {}  p99 {}  max {}",
            f.samples,
            secs(l.p50),
            secs(l.p90),
            secs(l.p99),
            secs(l.max)
        );
    }
}

/// Per producer: what it published and how long its acknowledgements took.
pub fn producers(o: &mut String, r: &RunSummary) {
    for p in &r.producers {
        let l = &p.ack_latency_s;
        let _ = writeln!(
            o,
            "producer  {}: produced {} ({:.1}/s)  acked {}  publish→ack p50 {}  p99 {}  max {}",
            p.name,
            p.produced,
            p.produced_per_s,
            p.acked,
            secs(l.p50),
            secs(l.p99),
            secs(l.max)
        );
    }
}

/// The broker's timeline: the first lines, then how many more the JSON holds.
pub fn broker_timeline(o: &mut String, r: &RunSummary) {
    if r.broker_timeline.is_empty() {
        return;
    }
    let _ = writeln!(o, "\nbroker timeline");
    for e in r.broker_timeline.iter().take(TIMELINE_SHOWN) {
        let _ = writeln!(o, "  {:>9}  {:<12}  {}", secs(e.t_s), e.kind, e.text);
    }
    let more = r.broker_timeline.len().saturating_sub(TIMELINE_SHOWN);
    if more > 0 {
        let _ = writeln!(o, "  … {more} more (the JSON's broker_timeline)");
    }
}
