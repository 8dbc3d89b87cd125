//! The summary's anomaly examples: for each group and anomaly with a nonzero count, the
//! first message ids the result names, and the `mqlab trace` command that tells the story
//! of the first of them, with the flags that reproduce the run.

use mqlab_sim::RunSummary;
use mqlab_sim::summary::GroupSummary;
use std::fmt::Write;

/// The anomaly's count in group `g`.
fn count(g: &GroupSummary, anomaly: &str) -> u64 {
    match anomaly {
        "lost" => g.lost,
        "duplicated" => g.duplicated,
        "out_of_order" => g.out_of_order,
        _ => g.dropped,
    }
}

/// Writes the examples section (nothing when no group has an anomaly with an example).
/// `path` and `flags` are the run's scenario and reproducing flags.
pub fn examples(o: &mut String, r: &RunSummary, path: &str, flags: &str) {
    let mut head = false;
    for g in &r.groups {
        for (anomaly, ids) in g.examples.by_anomaly() {
            let n = count(g, anomaly);
            let Some(first) = ids.first() else { continue };
            if n == 0 {
                continue;
            }
            if !head {
                head = true;
                let _ = writeln!(
                    o,
                    "\nexamples (message ids; `mqlab trace` tells one message's history)"
                );
            }
            let shown: Vec<String> = ids.iter().map(u32::to_string).collect();
            let more = if n > ids.len() as u64 { " …" } else { "" };
            let _ = writeln!(
                o,
                "  {} {} {n}: {}{more}",
                g.name,
                anomaly.replace('_', " "),
                shown.join(" ")
            );
            let _ = writeln!(
                o,
                "    mqlab trace {path} --seed {}{flags} --message {first} --group {}",
                r.seed, g.name
            );
        }
    }
}
