//! The human-readable summary `mqlab run` prints by default. It starts with the seed and
//! the scenario, so any run can be reproduced from its first line.

use mqlab_sim::RunSummary;
use std::fmt::Write;

/// Formats seconds with a unit that fits.
pub fn secs(s: f64) -> String {
    let a = s.abs();
    if a == 0.0 {
        "0".into()
    } else if a < 1e-3 {
        format!("{:.1}us", s * 1e6)
    } else if a < 1.0 {
        format!("{:.2}ms", s * 1e3)
    } else {
        format!("{s:.2}s")
    }
}

/// Greedy word wrap, continuation lines indented.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            out.push_str(indent);
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

pub fn summary(r: &RunSummary, path: &str) -> String {
    let mut o = String::new();
    let m = &r.messages;
    let _ = writeln!(
        o,
        "mqlab run {path} --seed {}   ({}, {})",
        r.seed, r.scenario, r.delivery
    );
    let _ = writeln!(
        o,
        "simulated {:.3}s in {:.3}s wall, {} events, trace hash {}",
        r.sim_time_s, r.wall_s, r.events, r.trace_hash
    );
    let _ = writeln!(
        o,
        "\nmessages  produced {}  acked {}  copies {}  delivered {}",
        m.produced, m.acked, m.copies, m.delivered
    );
    let _ = writeln!(
        o,
        "copies    processed {}  lost {}  dead-lettered {}  dropped {}  in flight {}",
        m.processed, m.lost, m.dead_lettered, m.dropped, m.in_flight
    );
    let _ = writeln!(
        o,
        "anomalies duplicated {}  out of order {}",
        m.duplicated, m.out_of_order
    );
    if !r.dropped_by_reason.is_empty() {
        let reasons: Vec<String> = r
            .dropped_by_reason
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(o, "dropped   {}", reasons.join(", "));
    }
    let l = &r.latency_s;
    let _ = writeln!(
        o,
        "latency   mean {}  p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        secs(l.mean),
        secs(l.p50),
        secs(l.p90),
        secs(l.p99),
        secs(l.p999),
        secs(l.max)
    );
    let _ = writeln!(
        o,
        "rate      produced {:.1}/s  processed {:.1}/s",
        r.throughput.produced_per_s, r.throughput.processed_per_s
    );
    let _ = writeln!(
        o,
        "\n{:<20} {:>9} {:>9} {:>6} {:>6} {:>5} {:>5} {:>9} {:>9} {:>6} {:>8}",
        "group",
        "copies",
        "processed",
        "lost",
        "dup",
        "ooo",
        "dlq",
        "wait",
        "p99",
        "util",
        "max lag"
    );
    for g in &r.groups {
        let _ = writeln!(
            o,
            "{:<20} {:>9} {:>9} {:>6} {:>6} {:>5} {:>5} {:>9} {:>9} {:>5.0}% {:>8}",
            g.name,
            g.copies,
            g.processed,
            g.lost,
            g.duplicated,
            g.out_of_order,
            g.dead_lettered,
            secs(g.wait_mean_s),
            secs(g.latency_p99_s),
            g.utilization * 100.0,
            g.max_lag
        );
    }
    let _ = writeln!(o);
    for e in &r.expectations {
        let mark = if e.ok { "ok  " } else { "FAIL" };
        let _ = writeln!(
            o,
            "{mark} {:<28} expected {:<16} actual {}",
            e.check, e.expected, e.actual
        );
    }
    let verdict = if r.ok() {
        "every expectation held"
    } else {
        "an expectation FAILED"
    };
    let _ = writeln!(o, "\nverdict: {verdict}");
    o
}
