//! The targets, judged on one sitting's figures, and the Markdown tables
//! `mqlab perf` prints (the README's performance table is pasted from them).

use super::anchors::Anchor;
use super::instructions::{self, Counted, PAIRS};
use super::rows::Measured;
use serde::Serialize;

/// One target and whether this run met it, judged by wall time and, where counted, by
/// instructions per message.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub target: String,
    pub needed: String,
    /// The wall-clock figure (rates and ratios of whole processes' wall times).
    pub measured: String,
    /// Whether the wall figure meets `needed`.
    pub ok: bool,
    /// The same target on instructions per message, where `--instructions` counted both
    /// sides (`None`: not counted, or a target instructions do not judge).
    pub instructions: Option<String>,
    pub instructions_ok: Option<bool>,
}

/// Everything one `mqlab perf` printed.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: String,
    pub messages: u64,
    pub anchors: Vec<Anchor>,
    pub rows: Vec<Measured>,
    pub targets: Vec<Target>,
    /// `--instructions`' counts, or why they could not be taken (`None`: not asked for).
    pub instructions: Option<Result<Vec<Counted>, String>>,
    /// `--perf-stat`'s counts, or why they could not be taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<Result<super::counters::Counters, String>>,
}

fn find<'a>(rows: &'a [Measured], name: &str) -> Option<&'a Measured> {
    rows.iter().find(|r| r.row == name)
}

/// A target judged on wall time only.
fn wall(target: String, measured: String, needed: &str, ok: bool) -> Target {
    Target {
        target,
        needed: needed.into(),
        measured,
        ok,
        instructions: None,
        instructions_ok: None,
    }
}

/// The targets the measured rows and anchors can judge (a target whose row or anchor was
/// left out is left out); `counted` are the instruction counts, `messages` the rows' size.
pub fn targets(
    rows: &[Measured],
    heap: Option<&Anchor>,
    simpy: Option<&Anchor>,
    counted: &[Counted],
    messages: u64,
) -> Vec<Target> {
    let mut out = Vec::new();
    // The counts of one pair's row and base, at the same size.
    let pair = |row: &str| {
        let p = PAIRS.iter().find(|p| p.row == row)?;
        let (r, b) = p.find(counted, messages)?;
        Some((r.instructions_per_message, b.instructions_per_message))
    };
    let mm1 = find(rows, "mm1");
    if let (Some(m), Some(h)) = (mm1, heap) {
        let r = m.messages_per_s() / h.customers_per_s;
        let mut t = wall(
            "mm1 messages/s vs heap_limit customers/s".into(),
            pct(r),
            ">= 50%",
            r >= 0.5,
        );
        // At equal instructions per second, speed goes as the inverse of the count.
        if let Some((ours, theirs)) = pair("mm1") {
            let x = theirs / ours;
            t.instructions = Some(pct(x));
            t.instructions_ok = Some(x >= 0.5);
        }
        out.push(t);
    }
    if let (Some(m), Some(s)) = (mm1, simpy) {
        let r = m.messages_per_s() / s.customers_per_s;
        out.push(wall(
            "mm1 messages/s vs SimPy customers/s".into(),
            format!("{r:.0}x"),
            ">= 80x",
            r >= 80.0,
        ));
    }
    let relative = |out: &mut Vec<Target>, what: &str, row: &str, base: &str, limit: f64| {
        if let (Some(r), Some(b)) = (find(rows, row), find(rows, base)) {
            let x = r.ns_per_message() / b.ns_per_message();
            let mut t = wall(
                format!("{what}: cost per message vs {base}"),
                format!("{x:.2}x"),
                &format!("<= {limit}x"),
                x <= limit,
            );
            if let Some((ours, theirs)) = pair(row) {
                let x = ours / theirs;
                t.instructions = Some(format!("{x:.2}x"));
                t.instructions_ok = Some(x <= limit);
            }
            out.push(t);
        }
    };
    relative(&mut out, "queue model", "queue", "mm1", 1.15);
    relative(&mut out, "exchange model", "exchange", "mm1", 1.15);
    if let Some(f) = find(rows, "food-delivery") {
        let c = f.copies_per_s();
        out.push(wall(
            "food-delivery processed copies/s".into(),
            format!("{:.2}M", c / 1e6),
            ">= 10M",
            c >= 10e6,
        ));
    }
    relative(
        &mut out,
        "1,000 partitions, 100 instances",
        "partitions-1000",
        "mm1",
        1.5,
    );
    relative(
        &mut out,
        "100,000 ordered keys with a resequencer",
        "keys-100k-resequenced",
        "keys-100k",
        2.0,
    );
    if let Some(m) = find(rows, "memory")
        && let Some(p) = m.peak_mib
    {
        out.push(wall(
            format!("mm1 at {} messages: peak resident set", grouped(m.produced)),
            format!("{p:.0} MiB"),
            "< 300 MiB",
            p < 300.0,
        ));
    }
    if let (Some(one), Some(two)) = (find(rows, "compare-1-job"), find(rows, "compare-2-jobs")) {
        let x = one.wall_s / two.wall_s;
        out.push(wall(
            "compare, 64 seeds: 2 jobs vs 1 job".into(),
            format!("{x:.2}x"),
            ">= 1.8x",
            x >= 1.8,
        ));
    }
    out
}

/// The report as Markdown: the rows with their ratios to the anchors, then the targets.
pub fn markdown(r: &Report) -> String {
    let heap = r.anchors.iter().find(|a| a.name.starts_with("heap_limit"));
    let simpy = r.anchors.iter().find(|a| a.name.starts_with("SimPy"));
    let mut s = format!("{}\n\n", r.machine);
    s.push_str(
        "| row | messages | processed copies | wall s | M msg/s | M copies/s | ns/msg | instr/msg | peak MiB | vs heap_limit | vs SimPy |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let counted = match &r.instructions {
        Some(Ok(c)) => c.as_slice(),
        _ => &[],
    };
    // Instructions per message as counted at the program's own size (see `instructions`).
    let instr = |program: &str| {
        instructions::own(counted, program, r.messages)
            .map_or("-".into(), |c| format!("{:.1}", c.instructions_per_message))
    };
    let ratios = |per_s: f64| {
        let h = heap.map_or("-".into(), |h| pct(per_s / h.customers_per_s));
        let p = simpy.map_or("-".into(), |p| format!("{:.0}x", per_s / p.customers_per_s));
        (h, p)
    };
    for a in &r.anchors {
        let (h, p) = ratios(a.customers_per_s);
        let i = if a.name.starts_with(instructions::HEAP_LIMIT) {
            instr(instructions::HEAP_LIMIT)
        } else {
            "-".into()
        };
        s.push_str(&format!(
            "| {} | {} | {} | {:.2} | {:.3} | {:.3} | {:.0} | {i} | {} | {h} | {p} |\n",
            a.name,
            grouped(a.customers),
            grouped(a.customers),
            a.wall_s,
            a.customers_per_s / 1e6,
            a.customers_per_s / 1e6,
            1e9 / a.customers_per_s,
            mib(a.peak_mib),
        ));
    }
    for m in &r.rows {
        let (h, p) = ratios(m.messages_per_s());
        s.push_str(&format!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {} | {} | {h} | {p} |\n",
            m.row,
            grouped(m.produced),
            grouped(m.processed),
            m.wall_s,
            m.messages_per_s() / 1e6,
            m.copies_per_s() / 1e6,
            m.ns_per_message(),
            instr(&m.row),
            mib(m.peak_mib),
        ));
    }
    if !r.targets.is_empty() {
        s.push_str(
            "\n| target | needed | wall | met by wall | instructions | met by instructions |\n\
             |---|--:|--:|---|--:|---|\n",
        );
        let met = |ok: bool| if ok { "yes" } else { "NO" };
        for t in &r.targets {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                t.target,
                t.needed,
                t.measured,
                met(t.ok),
                t.instructions.as_deref().unwrap_or("-"),
                t.instructions_ok.map_or("-", met),
            ));
        }
    }
    s.push('\n');
    match &r.instructions {
        Some(c) => s.push_str(&instructions::markdown(c, r.messages)),
        None => s.push_str(
            "Instructions: not counted (`--instructions` counts them with cachegrind).\n",
        ),
    }
    match &r.counters {
        Some(Ok(c)) => s.push_str(&format!("\n{}", super::counters::markdown(c))),
        Some(Err(why)) => s.push_str(&format!("\nCounters: not measured ({why}).\n")),
        None => {}
    }
    s.push_str("\nCommands:\n\n");
    for a in &r.anchors {
        s.push_str(&format!("    {}: {}\n", a.name, a.command));
    }
    for m in &r.rows {
        s.push_str(&format!("    {}: {}\n", m.row, m.command));
    }
    s
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn mib(m: Option<f64>) -> String {
    m.map_or("-".into(), |m| format!("{m:.0}"))
}

/// 10000000 as 10,000,000.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
