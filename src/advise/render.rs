//! Printing `mqlab advise`: the decision path with its reasons, the evidence table and the
//! verdict as text, or all of it (each candidate's scenario text and every run's figures
//! included) as one JSON object. Only formatting: nothing is decided or run here.

use super::candidate::{Candidate, SLOW_FACTOR, fault_times};
use super::decide::Decision;
use super::evidence::Evidence;
use super::needs::{Durability, Hosting, Needs, Ordering};
use crate::text::wrap;
use mqlab_sim::time::SimDuration;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// What the report is about, beside the decision and the evidence.
pub struct Setting<'a> {
    pub needs: &'a Needs,
    pub seeds: &'a [u64],
    pub duration: SimDuration,
    pub out: &'a str,
    /// The recommended candidate's sizes before the one shown.
    pub resized: &'a [super::Resize],
}

/// The needs in one line.
pub fn needs_line(n: &Needs) -> String {
    let ordering = match n.ordering {
        Ordering::None => "no ordering",
        Ordering::PerKey => "per-key ordering",
        Ordering::Total => "total ordering",
    };
    let mut parts = vec![ordering.to_string(), format!("{}/s", n.rate)];
    if n.burstiness > 1.0 {
        parts.push(format!("bursts ×{}", n.burstiness));
    }
    parts.push(match n.payload {
        mqlab_sim::size::SizeDist::Const(b) => {
            format!("payload {}", mqlab_sim::size::human_bytes(b))
        }
        ref d => format!("payload {d}"),
    });
    parts.push(format!("p99 ≤ {}", n.p99_latency));
    parts.push(n.delivery.as_str().into());
    parts.push(format!("{} group(s)", n.fan_out));
    if n.replay {
        parts.push("replay".into());
    }
    if !n.routing.is_empty() {
        parts.push(format!("routing {}", n.routing.join(",")));
    }
    if n.priorities > 1 {
        parts.push(format!("{} priority classes", n.priorities));
    }
    parts.push(hosting(n.hosting).into());
    parts.push(format!("durability {}", durability(n.durability)));
    parts.push(format!("service {}", n.service_time));
    parts.push(format!("{} keys", n.keys));
    parts.join(", ")
}

fn hosting(h: Hosting) -> &'static str {
    match h {
        Hosting::Managed => "managed",
        Hosting::SelfHosted => "self-hosted",
    }
}

fn durability(d: Durability) -> &'static str {
    match d {
        Durability::None => "none",
        Durability::Disk => "disk",
        Durability::Replicated => "replicated",
    }
}

fn ordering(o: Ordering) -> &'static str {
    match o {
        Ordering::None => "none",
        Ordering::PerKey => "per-key",
        Ordering::Total => "total",
    }
}

fn faults_line(duration: SimDuration) -> String {
    let (crash, slow, window) = fault_times(duration);
    format!(
        "group-0/0 crashes at {crash} for {window}, then runs {SLOW_FACTOR}x slow at {slow} for {window}"
    )
}

/// `seed 1`, `seeds 1..3` (inclusive, as `--seeds` takes it) or `seeds 1, 5, 9`.
fn seeds_label(seeds: &[u64]) -> String {
    let contiguous = seeds.windows(2).all(|w| w[1] == w[0] + 1);
    match seeds {
        [one] => format!("seed {one}"),
        [first, .., last] if contiguous => format!("seeds {first}..{last}"),
        _ => {
            let all: Vec<String> = seeds.iter().map(u64::to_string).collect();
            format!("seeds {}", all.join(", "))
        }
    }
}

/// The text report.
pub fn text(set: &Setting, decision: &Decision, cands: &[Candidate], ev: &[Evidence]) -> String {
    let mut o = String::new();
    let n = set.needs;
    let _ = writeln!(
        o,
        "mqlab advise   ({}, {} each)",
        seeds_label(set.seeds),
        set.duration
    );
    let _ = writeln!(o, "needs: {}", wrap(&needs_line(n), 90, "       "));
    let _ = writeln!(o, "\ndecision");
    for (i, s) in decision.steps.iter().enumerate() {
        let _ = writeln!(o, "  {}. {:<11} {}", i + 1, s.question, s.answer);
        let _ = writeln!(
            o,
            "     {:<11} {}",
            "",
            wrap(&s.reason, 78, "                 ")
        );
    }
    let m = decision.model;
    let _ = writeln!(o, "  → {} ({})", m.as_str(), m.systems());
    let _ = writeln!(
        o,
        "\nevidence: every candidate at {}/s with {}; worst over the seeds",
        n.rate,
        faults_line(set.duration)
    );
    for r in set.resized {
        let _ = writeln!(
            o,
            "sized up: the {} at {} missed {}; now {}",
            m.as_str(),
            r.from,
            r.missed.join(", "),
            r.to
        );
    }
    let _ = writeln!(
        o,
        "(anomalies are lost/duplicated/out-of-order/dropped copies per delivery variant)\n"
    );
    let _ = writeln!(
        o,
        "| candidate | sizing | at-most-once | at-least-once | exactly-once | needs met |"
    );
    let _ = writeln!(o, "| --- | --- | --- | --- | --- | --- |");
    for (c, e) in cands.iter().zip(ev) {
        let mark = if c.model == m { " ◀" } else { "" };
        let cells: Vec<String> = e
            .variants
            .iter()
            .map(|v| {
                format!(
                    "{}/{}/{}/{}",
                    v.lost_max, v.duplicated_max, v.out_of_order_max, v.dropped_max
                )
            })
            .collect();
        let met = e.needs.iter().filter(|j| j.met).count();
        let _ = writeln!(
            o,
            "| {}{mark} | {} | {} | {} | {} | {met} of {} |",
            c.model.as_str(),
            c.sizing,
            cells[0],
            cells[1],
            cells[2],
            e.needs.len()
        );
    }
    let _ = writeln!(
        o,
        "\nneeds, on each candidate's {} runs\n",
        n.delivery.as_str()
    );
    let mut head = String::from("| need |");
    let mut rule = String::from("| --- |");
    for c in cands {
        let mark = if c.model == m { " ◀" } else { "" };
        let _ = write!(head, " {}{mark} |", c.model.as_str());
        rule.push_str(" --- |");
    }
    let _ = writeln!(o, "{head}\n{rule}");
    for (row, j) in ev[0].needs.iter().enumerate() {
        let _ = write!(o, "| {} |", j.need);
        for e in ev {
            let j = &e.needs[row];
            let _ = write!(o, " {} {} |", if j.met { "yes" } else { "NO" }, j.detail);
        }
        o.push('\n');
    }
    verdict(&mut o, set, decision, ev);
    o
}

fn verdict(o: &mut String, set: &Setting, decision: &Decision, ev: &[Evidence]) {
    let m = decision.model;
    let rec = ev.iter().find(|e| e.model == m);
    let others: Vec<&str> = ev
        .iter()
        .filter(|e| e.met_all && e.model != m)
        .map(|e| e.model.as_str())
        .collect();
    match rec {
        Some(e) if e.met_all => {
            let _ = writeln!(
                o,
                "\nverdict: the runs back the {}: it met every need on every seed",
                m.as_str()
            );
        }
        Some(e) => {
            let missed: Vec<&str> = e
                .needs
                .iter()
                .filter(|j| !j.met)
                .map(|j| j.need.as_str())
                .collect();
            let _ = writeln!(
                o,
                "\nverdict: the runs do NOT back the {} as sized: it missed {}{}",
                m.as_str(),
                missed.join(", "),
                if others.is_empty() {
                    "; no candidate met every need (more instances, a looser target?)".to_string()
                } else {
                    format!("; met by: {}", others.join(", "))
                }
            );
        }
        None => {}
    }
    let _ = writeln!(
        o,
        "wrote {} (the {}): `mqlab run {0}`, `mqlab compare {0} --seeds 1..20`",
        set.out,
        m.as_str()
    );
}

/// The JSON report: the same content, every run's figures and each candidate's scenario.
pub fn json(set: &Setting, decision: &Decision, cands: &[Candidate], ev: &[Evidence]) -> Value {
    let n = set.needs;
    let (crash, slow, window) = fault_times(set.duration);
    let candidates: Vec<Value> = cands
        .iter()
        .zip(ev)
        .map(|(c, e)| {
            json!({
                "model": c.model,
                "systems": c.model.systems(),
                "recommended": c.model == decision.model,
                "sizing": c.sizing,
                "met_all": e.met_all,
                "needs": e.needs,
                "variants": e.variants,
                "scenario": c.toml,
            })
        })
        .collect();
    let backed = ev.iter().any(|e| e.model == decision.model && e.met_all);
    json!({
        "needs": {
            "ordering": ordering(n.ordering),
            "replay": n.replay,
            "fan_out": n.fan_out,
            "rate": n.rate,
            "burstiness": n.burstiness,
            "payload": n.payload.to_string(),
            "p99_latency": n.p99_latency.to_string(),
            "delivery": n.delivery.as_str(),
            "routing": n.routing,
            "priorities": n.priorities,
            "hosting": hosting(n.hosting),
            "durability": durability(n.durability),
            "service_time": n.service_time.to_string(),
            "keys": n.keys,
        },
        "seeds": set.seeds,
        "duration_s": set.duration.as_secs_f64(),
        "faults": {
            "crash_at_s": crash.as_secs_f64(),
            "slow_at_s": slow.as_secs_f64(),
            "window_s": window.as_secs_f64(),
            "slow_factor": SLOW_FACTOR,
        },
        "decision": decision,
        "recommended": decision.model,
        "backed": backed,
        "resized": set.resized,
        "out": set.out,
        "candidates": candidates,
    })
}
