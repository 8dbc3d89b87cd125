//! The poison-message protection lines of the human-readable summary: quarantine and
//! timeout counts, per-type latency, breaker transitions and the first quarantine records.

use super::secs;
use mqlab_sim::summary::ProtectionSummary;
use std::fmt::Write;

/// Transitions and quarantine records printed before "... more".
const SHOWN: usize = 6;

pub fn protection(o: &mut String, p: &ProtectionSummary) {
    let _ = writeln!(
        o,
        "\nprotection quarantined {}  timed out {}  breaker opens {}",
        p.quarantined, p.timed_out, p.breaker_opens
    );
    let types: Vec<String> = p
        .types
        .iter()
        .map(|t| {
            format!(
                "{} p99 {} ({} processed)",
                t.message_type,
                secs(t.latency_s.p99),
                t.processed
            )
        })
        .collect();
    let _ = writeln!(o, "types      {}", types.join("   "));
    for t in p.transitions.iter().take(SHOWN) {
        let _ = writeln!(
            o,
            "breaker    {:>9.3}s  {}/{}  {} -> {}",
            t.at_s, t.group, t.message_type, t.from, t.to
        );
    }
    if p.transitions.len() > SHOWN {
        let _ = writeln!(
            o,
            "breaker    ... {} more transitions",
            p.transitions.len() - SHOWN
        );
    }
    for q in p.quarantine.iter().take(SHOWN) {
        let history: Vec<String> = q
            .attempts
            .iter()
            .map(|a| format!("{:.3}s {}", a.started_s, a.error))
            .collect();
        let _ = writeln!(
            o,
            "quarantine message {} of {} ({}) at {:.3}s: {}",
            q.message,
            q.message_type,
            q.group,
            q.at_s,
            history.join(", ")
        );
    }
    if p.quarantined as usize > SHOWN {
        let _ = writeln!(
            o,
            "quarantine ... {} more (see --json)",
            p.quarantined as usize - SHOWN
        );
    }
}
