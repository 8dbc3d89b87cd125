//! The targets, judged on one sitting's figures, and the Markdown tables
//! `mqlab perf` prints (the README's performance table is pasted from them).

use super::anchors::{Anchor, FANOUT_LIMIT, PARTITIONS_LIMIT, PARTITIONS_LIMIT_SHAPES};
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
    /// The wall figure worked out in each round alone (its rows and heap_limit as run in
    /// that round), lowest to highest: how far the figure moved within the sitting. `None`
    /// with one round, and for the SimPy target (only SimPy's fastest run is kept).
    pub each_round: Option<String>,
    /// The wall figure as a number, and how it is shown (for `each_round`).
    #[serde(skip)]
    value: f64,
    #[serde(skip)]
    show: fn(f64) -> String,
}

/// One round of a sitting: heap_limit and every row as they ran in it.
#[derive(Debug, Clone)]
pub struct Round {
    pub heap: Anchor,
    pub rows: Vec<Measured>,
}

/// Fills each target's `each_round` from the rounds (nothing with fewer than two).
pub fn spread(targets: &mut [Target], rounds: &[Round], messages: u64) {
    if rounds.len() < 2 {
        return;
    }
    let per: Vec<Vec<Target>> = rounds
        .iter()
        .map(|r| self::targets(&r.rows, Some(&r.heap), None, &[], messages))
        .collect();
    for t in targets.iter_mut() {
        let xs: Vec<f64> = per
            .iter()
            .filter_map(|ts| ts.iter().find(|x| x.target == t.target))
            .map(|x| x.value)
            .collect();
        if xs.len() == rounds.len() {
            t.each_round = Some(range(&xs, t.show));
        }
    }
}

/// `xs` as "lowest–highest", each shown by `show`.
fn range(xs: &[f64], show: fn(f64) -> String) -> String {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{}–{}", show(lo), show(hi))
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
    /// The hold row: the event queue beside heap_limit's heap, by pending count.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<super::hold::Hold>,
    /// The scaling row: every shipped scenario at two sizes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scaled: Vec<super::scaling::Scaled>,
    /// What a second core gave heap_limit (its one-process run's wall over two processes'
    /// at once), and that figure in each round; measured with the compare row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub two_processes: Option<TwoProcesses>,
    /// Ratios shown beside the targets, not judged (`beside`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub beside: Vec<Beside>,
}

/// heap_limit's gain from running as two processes at once instead of one.
#[derive(Debug, Clone, Serialize)]
pub struct TwoProcesses {
    pub gain: f64,
    pub each_round: Option<String>,
}

impl TwoProcesses {
    /// heap_limit's one-process run (the anchor) against its two-process row, as kept and
    /// in each round; `None` without the compare row.
    pub fn of(heap: &Anchor, rows: &[Measured], rounds: &[Round]) -> Option<TwoProcesses> {
        let gain = |heap: &Anchor, rows: &[Measured]| {
            Some(heap.process_wall_s / find(rows, super::rows::TWO_PROCESSES)?.wall_s)
        };
        let each: Vec<f64> = rounds
            .iter()
            .filter_map(|r| gain(&r.heap, &r.rows))
            .collect();
        Some(TwoProcesses {
            gain: gain(heap, rows)?,
            each_round: (each.len() > 1).then(|| range(&each, times_2)),
        })
    }
}

/// A cost ratio shown beside the targets without a limit of its own: what a configuration
/// the issue sets no target for costs against mm1, by wall time and by instructions.
#[derive(Debug, Clone, Serialize)]
pub struct Beside {
    pub what: String,
    pub wall: String,
    pub instructions: Option<String>,
    pub each_round: Option<String>,
}

/// The figures beside the targets that the measured rows can give: the replicated log's
/// cost per message against mm1's (`counted` and `messages` as for `targets`),
/// food-delivery's cost per processed copy against the bare loop doing its fan-out, and
/// what 1,000 partitions cost the bare loop doing partitions-1000's job over its mm1
/// (the same ratio as partitions-1000's target, for a loop with nothing else to do).
pub fn beside(
    rows: &[Measured],
    rounds: &[Round],
    counted: &[Counted],
    messages: u64,
) -> Vec<Beside> {
    let mut out = Vec::new();
    let (row, base) = ("replicated", "mm1");
    let replicated = |rows: &[Measured]| {
        Some(find(rows, row)?.ns_per_message() / find(rows, base)?.ns_per_message())
    };
    let what = format!("replicated log (3 brokers, acks = \"all\"): cost per message vs {base}");
    if let Some(mut b) = figure(what, rows, rounds, replicated) {
        b.instructions = PAIRS
            .iter()
            .find(|p| p.row == row && p.base == base)
            .and_then(|p| p.find(counted, messages))
            .map(|(r, b)| times_3(r.instructions_per_message / b.instructions_per_message));
        out.push(b);
    }
    let per_copy = |rows: &[Measured]| {
        Some(find(rows, FANOUT_LIMIT)?.copies_per_s() / find(rows, "food-delivery")?.copies_per_s())
    };
    let what = format!(
        "food-delivery: cost per processed copy vs {FANOUT_LIMIT} (a bare loop doing its fan-out)"
    );
    out.extend(figure(what, rows, rounds, per_copy));
    // What spreading the load costs a bare loop, and mqlab against that loop at the spread.
    let [(one, ..), (many, ..)] = PARTITIONS_LIMIT_SHAPES;
    let spread = |rows: &[Measured]| {
        Some(find(rows, many)?.ns_per_message() / find(rows, one)?.ns_per_message())
    };
    let what = format!(
        "{PARTITIONS_LIMIT} (a bare loop, heap_limit's BinaryHeap): cost per message, 1,000 \
         partitions over 100 instances vs one partition"
    );
    out.extend(figure(what, rows, rounds, spread));
    let against = |rows: &[Measured]| {
        Some(find(rows, "partitions-1000")?.ns_per_message() / find(rows, many)?.ns_per_message())
    };
    let what = format!("partitions-1000: cost per message vs {many}");
    out.extend(figure(what, rows, rounds, against));
    out
}

/// The figure `what` beside the targets: `ratio` of the kept rows, with its range over the
/// rounds; `None` when the rows it needs did not run. Its instructions are the caller's.
fn figure(
    what: String,
    rows: &[Measured],
    rounds: &[Round],
    ratio: impl Fn(&[Measured]) -> Option<f64>,
) -> Option<Beside> {
    let wall = ratio(rows)?;
    let each: Vec<f64> = rounds.iter().filter_map(|r| ratio(&r.rows)).collect();
    Some(Beside {
        what,
        wall: times_3(wall),
        instructions: None,
        each_round: (each.len() > 1).then(|| range(&each, times_3)),
    })
}

fn find<'a>(rows: &'a [Measured], name: &str) -> Option<&'a Measured> {
    rows.iter().find(|r| r.row == name)
}

/// A target judged on wall time only: its figure `value`, shown by `show`.
fn wall(target: String, value: f64, show: fn(f64) -> String, needed: &str, ok: bool) -> Target {
    Target {
        target,
        needed: needed.into(),
        measured: show(value),
        ok,
        instructions: None,
        instructions_ok: None,
        each_round: None,
        value,
        show,
    }
}

fn times_0(x: f64) -> String {
    format!("{x:.0}x")
}

fn times_2(x: f64) -> String {
    format!("{x:.2}x")
}

/// A cost ratio against its limit, to a thousandth: 1.5003x shown as 1.50x beside its
/// "NO" read as a contradiction.
fn times_3(x: f64) -> String {
    format!("{x:.3}x")
}

fn millions(x: f64) -> String {
    format!("{:.2}M", x / 1e6)
}

fn mebibytes(x: f64) -> String {
    format!("{x:.0} MiB")
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
            r,
            pct_1,
            ">= 50%",
            r >= 0.5,
        );
        // At equal instructions per second, speed goes as the inverse of the count.
        if let Some((ours, theirs)) = pair("mm1") {
            let x = theirs / ours;
            t.instructions = Some(pct_1(x));
            t.instructions_ok = Some(x >= 0.5);
        }
        out.push(t);
    }
    if let (Some(m), Some(s)) = (mm1, simpy) {
        let r = m.messages_per_s() / s.customers_per_s;
        out.push(wall(
            "mm1 messages/s vs SimPy customers/s".into(),
            r,
            times_0,
            ">= 80x",
            r >= 80.0,
        ));
    }
    let relative = |out: &mut Vec<Target>, what: &str, row: &str, base: &str, limit: f64| {
        if let (Some(r), Some(b)) = (find(rows, row), find(rows, base)) {
            let x = r.ns_per_message() / b.ns_per_message();
            let mut t = wall(
                format!("{what}: cost per message vs {base}"),
                x,
                times_3,
                &format!("<= {limit}x"),
                x <= limit,
            );
            if let Some((ours, theirs)) = pair(row) {
                let x = ours / theirs;
                t.instructions = Some(times_3(x));
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
            c,
            millions,
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
            p,
            mebibytes,
            "< 300 MiB",
            p < 300.0,
        ));
    }
    if let (Some(one), Some(two)) = (find(rows, "compare-1-job"), find(rows, "compare-2-jobs")) {
        let x = one.wall_s / two.wall_s;
        out.push(wall(
            "compare, 64 seeds: 2 jobs vs 1 job".into(),
            x,
            times_2,
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
            "\n| target | needed | wall | met by wall | instructions | met by instructions | wall, each round |\n\
             |---|--:|--:|---|--:|---|--:|\n",
        );
        let met = |ok: bool| if ok { "yes" } else { "NO" };
        for t in &r.targets {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                t.target,
                t.needed,
                t.measured,
                met(t.ok),
                t.instructions.as_deref().unwrap_or("-"),
                t.instructions_ok.map_or("-", met),
                t.each_round.as_deref().unwrap_or("-"),
            ));
        }
    }
    if !r.beside.is_empty() {
        s.push_str(
            "\nBeside the targets, with no limit of its own:\n\n\
             | figure | wall | instructions | wall, each round |\n\
             |---|--:|--:|--:|\n",
        );
        for b in &r.beside {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                b.what,
                b.wall,
                b.instructions.as_deref().unwrap_or("-"),
                b.each_round.as_deref().unwrap_or("-"),
            ));
        }
    }
    if let Some(t) = &r.two_processes {
        s.push_str(&format!(
            "\nThe machine's own gain from a second core: heap_limit split between two processes \
             started together finished {} as fast as one process doing all the customers{}, what \
             a second core gave a bare loop in the same sitting.\n",
            times_2(t.gain),
            t.each_round
                .as_ref()
                .map_or(String::new(), |e| format!(" ({e} by round)")),
        ));
    }
    if !r.holds.is_empty() {
        s.push_str(&format!("\n{}", super::hold::markdown(&r.holds)));
    }
    if !r.scaled.is_empty() {
        s.push_str(&format!("\n{}", super::scaling::markdown(&r.scaled)));
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

/// A target's percentage, to a tenth: 49.7% shown as 50% beside its "NO" read as a
/// contradiction.
fn pct_1(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, produced: u64, wall_s: f64) -> Measured {
        Measured {
            row: name.into(),
            command: String::new(),
            produced,
            processed: produced,
            events: 0,
            wall_s,
            peak_mib: None,
        }
    }

    fn round(heap_wall_s: f64, mm1_wall_s: f64, queue_wall_s: f64) -> Round {
        Round {
            heap: Anchor {
                name: "heap_limit".into(),
                command: String::new(),
                customers: 10_000,
                wall_s: heap_wall_s,
                customers_per_s: 10_000.0 / heap_wall_s,
                process_wall_s: heap_wall_s,
                peak_mib: None,
            },
            rows: vec![
                row("mm1", 10_000, mm1_wall_s),
                row("queue", 10_000, queue_wall_s),
            ],
        }
    }

    /// Each round's figure comes from that round's own runs: mm1 ran at 50% of heap_limit
    /// in the first round and 32% in the second, and queue cost 1.10x mm1, then 1.00x. The
    /// fastest-of figures beside them mix rounds (mm1's 2.0 s and heap_limit's 0.8 s come
    /// from different ones), which is why the spread is worked out a round at a time.
    #[test]
    fn each_round_spans_the_figure_as_every_round_alone_gives_it() {
        let rounds = [round(1.0, 2.0, 2.2), round(0.8, 2.5, 2.5)];
        let best = [row("mm1", 10_000, 2.0), row("queue", 10_000, 2.2)];
        let mut t = targets(&best, Some(&rounds[1].heap), None, &[], 10_000);
        spread(&mut t, &rounds, 10_000);
        let shown: Vec<(&str, &str, Option<&str>)> = t
            .iter()
            .map(|t| {
                (
                    t.target.as_str(),
                    t.measured.as_str(),
                    t.each_round.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "mm1 messages/s vs heap_limit customers/s",
                    "40.0%",
                    Some("32.0%–50.0%")
                ),
                (
                    "queue model: cost per message vs mm1",
                    "1.100x",
                    Some("1.000x–1.100x")
                ),
            ]
        );
        // One round has no spread to show.
        let mut one = targets(&best, Some(&rounds[0].heap), None, &[], 10_000);
        spread(&mut one, &rounds[..1], 10_000);
        assert!(one.iter().all(|t| t.each_round.is_none()));
        let report = Report {
            machine: String::new(),
            messages: 10_000,
            anchors: Vec::new(),
            rows: Vec::new(),
            targets: t,
            instructions: None,
            counters: None,
            holds: Vec::new(),
            scaled: Vec::new(),
            two_processes: None,
            beside: Vec::new(),
        };
        let text = markdown(&report);
        assert!(
            text.contains("| queue model: cost per message vs mm1 | <= 1.15x | 1.100x | yes | - | - | 1.000x–1.100x |"),
            "{text}"
        );
    }
}
