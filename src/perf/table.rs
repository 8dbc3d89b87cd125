//! The targets, judged on one sitting's figures, and the Markdown tables
//! `mqlab perf` prints (the README's performance table is pasted from them).

use super::anchors::Anchor;
use super::rows::Measured;
use serde::Serialize;

/// One target and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub target: String,
    pub measured: String,
    pub needed: String,
    pub ok: bool,
}

/// Everything one `mqlab perf` printed.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: String,
    pub messages: u64,
    pub anchors: Vec<Anchor>,
    pub rows: Vec<Measured>,
    pub targets: Vec<Target>,
    /// `--perf-stat`'s counts, or why they could not be taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<Result<super::counters::Counters, String>>,
}

fn find<'a>(rows: &'a [Measured], name: &str) -> Option<&'a Measured> {
    rows.iter().find(|r| r.row == name)
}

/// The targets the measured rows and anchors can judge (a target whose row or anchor was
/// left out is left out).
pub fn targets(rows: &[Measured], heap: Option<&Anchor>, simpy: Option<&Anchor>) -> Vec<Target> {
    let mut out = Vec::new();
    let mm1 = find(rows, "mm1");
    if let (Some(m), Some(h)) = (mm1, heap) {
        let r = m.messages_per_s() / h.customers_per_s;
        out.push(Target {
            target: "mm1 messages/s vs heap_limit customers/s".into(),
            measured: pct(r),
            needed: ">= 50%".into(),
            ok: r >= 0.5,
        });
    }
    if let (Some(m), Some(s)) = (mm1, simpy) {
        let r = m.messages_per_s() / s.customers_per_s;
        out.push(Target {
            target: "mm1 messages/s vs SimPy customers/s".into(),
            measured: format!("{r:.0}x"),
            needed: ">= 80x".into(),
            ok: r >= 80.0,
        });
    }
    let relative = |out: &mut Vec<Target>, what: &str, row: &str, base: &str, limit: f64| {
        if let (Some(r), Some(b)) = (find(rows, row), find(rows, base)) {
            let x = r.ns_per_message() / b.ns_per_message();
            out.push(Target {
                target: format!("{what}: cost per message vs {base}"),
                measured: format!("{x:.2}x"),
                needed: format!("<= {limit}x"),
                ok: x <= limit,
            });
        }
    };
    relative(&mut out, "queue model", "queue", "mm1", 1.15);
    relative(&mut out, "exchange model", "exchange", "mm1", 1.15);
    if let Some(f) = find(rows, "food-delivery") {
        let c = f.copies_per_s();
        out.push(Target {
            target: "food-delivery processed copies/s".into(),
            measured: format!("{:.2}M", c / 1e6),
            needed: ">= 10M".into(),
            ok: c >= 10e6,
        });
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
        out.push(Target {
            target: format!("mm1 at {} messages: peak resident set", grouped(m.produced)),
            measured: format!("{p:.0} MiB"),
            needed: "< 300 MiB".into(),
            ok: p < 300.0,
        });
    }
    if let (Some(one), Some(two)) = (find(rows, "compare-1-job"), find(rows, "compare-2-jobs")) {
        let x = one.wall_s / two.wall_s;
        out.push(Target {
            target: "compare, 64 seeds: 2 jobs vs 1 job".into(),
            measured: format!("{x:.2}x"),
            needed: ">= 1.8x".into(),
            ok: x >= 1.8,
        });
    }
    out
}

/// The report as Markdown: the rows with their ratios to the anchors, then the targets.
pub fn markdown(r: &Report) -> String {
    let heap = r.anchors.iter().find(|a| a.name.starts_with("heap_limit"));
    let simpy = r.anchors.iter().find(|a| a.name.starts_with("SimPy"));
    let mut s = format!("{}\n\n", r.machine);
    s.push_str(
        "| row | messages | processed copies | wall s | M msg/s | M copies/s | ns/msg | peak MiB | vs heap_limit | vs SimPy |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let ratios = |per_s: f64| {
        let h = heap.map_or("-".into(), |h| pct(per_s / h.customers_per_s));
        let p = simpy.map_or("-".into(), |p| format!("{:.0}x", per_s / p.customers_per_s));
        (h, p)
    };
    for a in &r.anchors {
        let (h, p) = ratios(a.customers_per_s);
        s.push_str(&format!(
            "| {} | {} | {} | {:.2} | {:.3} | {:.3} | {:.0} | {} | {h} | {p} |\n",
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
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {} | {h} | {p} |\n",
            m.row,
            grouped(m.produced),
            grouped(m.processed),
            m.wall_s,
            m.messages_per_s() / 1e6,
            m.copies_per_s() / 1e6,
            m.ns_per_message(),
            mib(m.peak_mib),
        ));
    }
    if !r.targets.is_empty() {
        s.push_str("\n| target | measured | needed | met |\n|---|--:|--:|---|\n");
        for t in &r.targets {
            let met = if t.ok { "yes" } else { "NO" };
            s.push_str(&format!(
                "| {} | {} | {} | {met} |\n",
                t.target, t.measured, t.needed
            ));
        }
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
