//! The human-readable summary `mqlab run` prints by default. It starts with the seed and
//! the scenario, so any run can be reproduced from its first line.

use mqlab_sim::RunSummary;
use std::fmt::Write;

mod examples;
mod sections;
mod views;

/// Formats seconds with a unit that fits.
pub fn secs(s: f64) -> String {
    let a = s.abs();
    if a == 0.0 {
        "0".into()
    } else if a < 1e-6 {
        // A nanosecond (an instantaneous hop's ack) would read `0.0us`.
        format!("{:.0}ns", s * 1e9)
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

/// `flags`: the command line's other flags that changed the run (` --delivery …`), so the
/// first line reproduces it.
pub fn summary(r: &RunSummary, path: &str, flags: &str) -> String {
    summary_with(r, path, flags, flags)
}

/// `summary` of a real broker's run (`mqlab bench`): its first line reproduces it with
/// `broker` (` --broker amqp --spawn`) beside `flags`; the trace commands it prints run
/// the model, so they take `flags` alone.
pub fn bench_summary(r: &RunSummary, path: &str, broker: &str, flags: &str) -> String {
    summary_with(r, path, &format!("{broker}{flags}"), flags)
}

fn summary_with(r: &RunSummary, path: &str, head: &str, flags: &str) -> String {
    let mut o = String::new();
    let m = &r.messages;
    let real = r.is_measured();
    let _ = writeln!(
        o,
        "mqlab {} {path} --seed {}{head}   ({}, {})",
        if real { "bench" } else { "run" },
        r.seed,
        r.scenario,
        r.delivery
    );
    let _ = if real {
        writeln!(
            o,
            "measured against the real broker for {:.3}s, {} deliveries",
            r.wall_s, r.events
        )
    } else {
        writeln!(
            o,
            "simulated {:.3}s in {:.3}s wall, {} events, trace hash {}",
            r.sim_time_s, r.wall_s, r.events, r.trace_hash
        )
    };
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
    if m.unroutable > 0 {
        let _ = writeln!(
            o,
            "unroutable {} messages reached no group's queue",
            m.unroutable
        );
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
    let th = &r.throughput;
    let _ = writeln!(
        o,
        "rate      produced {:.1}/s  processed {:.1}/s while producing ({}); drain {}: {} processed",
        th.produced_per_s,
        th.processed_per_s,
        secs(r.duration_s),
        secs(th.drain_s),
        th.drain_processed
    );
    views::faults(&mut o, r);
    views::producers(&mut o, r);
    views::groups(&mut o, r);
    let empty: Vec<String> = r
        .groups
        .iter()
        .filter(|g| g.empty_receives > 0)
        .map(|g| format!("{} {}", g.name, g.empty_receives))
        .collect();
    if !empty.is_empty() {
        let _ = writeln!(o, "empty receives (billed, SQS): {}", empty.join(", "));
    }
    examples::examples(&mut o, r, path, flags);
    sections::sections(&mut o, &mqlab_sim::summary::sections(r));
    duplicate_causes(&mut o, r);
    timeline(&mut o, r);
    views::broker_timeline(&mut o, r);
    let _ = writeln!(o);
    let width = r
        .expectations
        .iter()
        .map(|e| e.check.len())
        .max()
        .unwrap_or(0);
    for e in &r.expectations {
        let mark = if e.ok { "ok  " } else { "FAIL" };
        let _ = writeln!(
            o,
            "{mark} {:<width$}  {}   (expected {})",
            e.check, e.actual, e.expected
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

/// One line per group that duplicated: why, cause by cause.
fn duplicate_causes(o: &mut String, r: &RunSummary) {
    for g in r.groups.iter().filter(|g| g.duplicated > 0) {
        if let Some(c) = &g.duplicated_by_cause {
            let mode = g.idempotence.as_deref().unwrap_or(&g.delivery);
            let _ = writeln!(o, "duplicates {} ({mode}): {}", g.name, c.describe());
        }
    }
    // The resends behind those duplicates, when a full broker held them: a retry storm.
    let held = r.overflow.as_ref().map_or(0, |o| o.held_timeouts);
    if held > 0 && r.groups.iter().any(|g| g.duplicated_by_resend > 0) {
        let _ = writeln!(
            o,
            "retry storm: {held} sends timed out while the full broker held them back \
             (`on_full = \"block\"`) and were sent again, each resend another copy for the \
             broker to take; a `request_timeout` longer than its pauses, or fewer \
             `retries`, avoids it"
        );
    }
}

/// Eight levels of a unicode bar, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `values` squeezed into `width` columns (each the largest value it covers), as bars.
pub fn sparkline(values: &[f64], width: usize) -> String {
    if values.is_empty() {
        return String::new();
    }
    let cols = width.min(values.len());
    let max = values.iter().copied().fold(0.0, f64::max);
    (0..cols)
        .map(|c| {
            let lo = c * values.len() / cols;
            let hi = ((c + 1) * values.len() / cols).max(lo + 1);
            let v = values[lo..hi].iter().copied().fold(0.0, f64::max);
            if max <= 0.0 || v <= 0.0 {
                ' '
            } else {
                BARS[((v / max) * 7.0).round() as usize]
            }
        })
        .collect()
}

fn timeline(o: &mut String, r: &RunSummary) {
    let s = &r.series;
    if s.t_s.is_empty() {
        return;
    }
    let end = s.t_s.last().copied().unwrap_or(0.0);
    let _ = writeln!(
        o,
        "\ntimeline 0s .. {end:.1}s (each line scaled to its own peak)"
    );
    let peak = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let w = s
        .lag_by_group
        .keys()
        .map(|k| k.len() + 4)
        .max()
        .unwrap_or(0)
        .max(12);
    let _ = writeln!(
        o,
        "{:<w$} {} peak {:.0}/s",
        "produced/s",
        sparkline(&s.produced_per_s, 60),
        peak(&s.produced_per_s)
    );
    let _ = writeln!(
        o,
        "{:<w$} {} peak {:.0}/s",
        "processed/s",
        sparkline(&s.processed_per_s, 60),
        peak(&s.processed_per_s)
    );
    for (name, lag) in &s.lag_by_group {
        let lag: Vec<f64> = lag.iter().map(|&x| x as f64).collect();
        if peak(&lag) > 0.0 {
            let _ = writeln!(
                o,
                "{:<w$} {} peak {:.0}",
                format!("lag {name}"),
                sparkline(&lag, 60),
                peak(&lag)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_peak_and_keeps_zeros_blank() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 4.0, 8.0], 5), " ▂▃▅█");
        assert_eq!(sparkline(&[1.0, 9.0, 1.0, 1.0], 2), "█▂");
        assert_eq!(sparkline(&[], 10), "");
    }

    /// A real broker's run reads as measured, reproduces with its broker, and its trace
    /// commands run the model without it.
    #[test]
    fn a_real_runs_summary_says_how_to_run_it_again() {
        let mut g = mqlab_sim::summary::GroupSummary {
            name: "g".into(),
            duplicated: 1,
            ..Default::default()
        };
        g.examples.duplicated = vec![25];
        let r = RunSummary {
            seed: 3,
            wall_s: 8.5,
            events: 1630,
            groups: vec![g],
            ..RunSummary::default()
        };
        let d = " --delivery at-most-once";
        let text = bench_summary(&r, "f.toml", " --broker amqp --spawn", d);
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        assert!(
            first.starts_with(
                "mqlab bench f.toml --seed 3 --broker amqp --spawn --delivery at-most-once"
            ),
            "{first}"
        );
        assert_eq!(
            lines.next(),
            Some("measured against the real broker for 8.500s, 1630 deliveries")
        );
        assert!(
            text.contains("mqlab trace f.toml --seed 3 --delivery at-most-once --message 25"),
            "{text}"
        );
        let model = summary(
            &RunSummary {
                trace_hash: "c49827d3477ccf00".into(),
                ..r
            },
            "f.toml",
            "",
        );
        assert!(model.starts_with("mqlab run f.toml --seed 3 "), "{model}");
        assert!(model.contains("trace hash c49827d3477ccf00"), "{model}");
    }
}
