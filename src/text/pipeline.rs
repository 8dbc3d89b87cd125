//! The pipeline part of the text summary: per stage its end-to-end latency and what it
//! published, per path how many roots completed it and how long that took.

use super::secs;
use mqlab_sim::summary::PipelineSummary;
use std::fmt::Write as _;

/// Stages, then paths (nothing without services).
pub fn pipeline(o: &mut String, p: &PipelineSummary) {
    let _ = writeln!(
        o,
        "\npipeline  roots {}  published by services {}",
        p.roots, p.derived
    );
    let width = p
        .stages
        .iter()
        .map(|s| s.group.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let _ = writeln!(
        o,
        "{:<width$}  {:>9} {:>9}  publishes",
        "stage", "e2e p50", "e2e p99"
    );
    for s in &p.stages {
        let outputs: Vec<String> = s
            .outputs
            .iter()
            .map(|x| {
                let mut t = format!("{} {}", x.topic, x.published);
                if x.republished > 0 {
                    let _ = write!(t, " (+{} again)", x.republished);
                }
                if x.aborted > 0 {
                    let _ = write!(t, " ({} aborted)", x.aborted);
                }
                t
            })
            .collect();
        let _ = writeln!(
            o,
            "{:<width$}  {:>9} {:>9}  {}",
            s.group,
            secs(s.end_to_end_s.p50),
            secs(s.end_to_end_s.p99),
            if outputs.is_empty() {
                "-".to_string()
            } else {
                outputs.join(", ")
            }
        );
    }
    for path in &p.paths {
        let _ = writeln!(
            o,
            "path      {}: completed {}  e2e mean {}  p50 {}  p99 {}  max {}",
            path.path.join(" > "),
            path.completed,
            secs(path.latency_s.mean),
            secs(path.latency_s.p50),
            secs(path.latency_s.p99),
            secs(path.latency_s.max)
        );
    }
}
