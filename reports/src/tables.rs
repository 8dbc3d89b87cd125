//! The report's tables as plain data, built once and rendered by `markdown` and `html`, so
//! the two formats always show the same figures.

use crate::comparison::Comparison;
use crate::fmt::{est_ms, est_num, ms, num, secs};
use crate::phases::{self, Warmup};
use mqlab_sim::RunSummary;

/// A titled table of preformatted cells.
pub struct Table {
    /// Section title.
    pub title: String,
    /// A sentence under the title saying how to read it (may be empty).
    pub note: String,
    /// Column names.
    pub header: Vec<String>,
    /// Rows of cells, as wide as the header.
    pub rows: Vec<Vec<String>>,
    /// The column holding each row's verdict (`held`, `FAILED`, ...), which the HTML
    /// colours pass or fail.
    pub verdict: Option<usize>,
    /// Per column, right-aligned (a number) or not, when the builder knows the cells'
    /// kinds (pattern sections); otherwise read from the cells (`numeric`).
    pub align: Option<Vec<bool>>,
}

/// A verdict cell read as pass (`Some(true)`), fail (`Some(false)`) or neither.
#[must_use]
pub fn verdict(cell: &str) -> Option<bool> {
    match cell {
        "held" => Some(true),
        "FAILED" | "VIOLATED" | "failed" => Some(false),
        _ => None,
    }
}

/// Whether a cell reads as a number (or a missing one), for right alignment: `12`,
/// `4.2 ms`, `0.00 [0–0], 0/10`, `n/a`, or empty.
#[must_use]
pub fn numeric(cell: &str) -> bool {
    cell.is_empty()
        || cell == "n/a"
        || cell.starts_with(|c: char| c.is_ascii_digit() || "-+.".contains(c))
}

/// For each column of `t`, whether every cell reads as a number: such columns are
/// right-aligned, the others left-aligned.
#[must_use]
pub fn numeric_columns(t: &Table) -> Vec<bool> {
    if let Some(a) = &t.align {
        return a.clone();
    }
    (0..t.header.len())
        .map(|i| {
            t.rows
                .iter()
                .all(|r| r.get(i).is_none_or(|c| numeric(c.trim_matches('`'))))
        })
        .collect()
}

/// An empty table with a title, a note and a header (shared with `sections`).
pub(crate) fn table(title: &str, note: &str, header: &[&str]) -> Table {
    Table {
        title: title.into(),
        note: note.into(),
        header: header.iter().map(|h| (*h).to_string()).collect(),
        rows: Vec::new(),
        verdict: None,
        align: None,
    }
}

/// What every format writes: the report's title, its provenance line and its tables.
pub(crate) fn report_parts(
    report: &crate::Report,
    opts: &crate::Options,
) -> (String, String, Vec<Table>) {
    match report {
        crate::Report::Run(r) => (
            format!("mqlab run: {}", r.scenario),
            run_header(r),
            run_tables(r, opts.warmup),
        ),
        crate::Report::Comparison(c) => (
            format!("mqlab compare: {}", c.scenario),
            comparison_header(c),
            comparison_tables(c),
        ),
    }
}

/// The one-line provenance every report starts with (TigerBeetle VOPR style).
pub fn run_header(r: &RunSummary) -> String {
    format!(
        "seed {} · delivery {} · scenario hash {} · trace hash {} · mqlab {}",
        r.seed, r.delivery, r.scenario_hash, r.trace_hash, r.version
    )
}

/// The provenance line of a comparison.
pub fn comparison_header(c: &Comparison) -> String {
    let seeds = match (c.seeds.first(), c.seeds.last()) {
        (Some(a), Some(b)) => format!("{} seeds ({a}..={b})", c.seeds.len()),
        _ => "no seeds".into(),
    };
    format!(
        "{seeds} · {} variants · warm-up {} · scenario hash {} · mqlab {}",
        c.variants.len(),
        c.warmup,
        c.scenario_hash,
        c.version
    )
}

/// Tables of one run: the core tables, then one per messaging-pattern section it has.
pub fn run_tables(r: &RunSummary, warmup: Warmup) -> Vec<Table> {
    let cut = warmup.cut_s(r);
    let mut out = vec![messages_table(r), latency_table(r), groups_table(r)];
    out.extend(crate::views::run_tables(r));
    out.extend([checks_table(r), steady_table(r, warmup, cut)]);
    out.extend(run_phase_table(r, cut));
    out.extend(crate::sections::tables(&mqlab_sim::summary::sections(r)));
    out
}

fn messages_table(r: &RunSummary) -> Table {
    let m = &r.messages;
    let mut msgs = table(
        "Messages",
        "Copies: one per message per consumer group.",
        &[
            "produced",
            "acked",
            "copies",
            "delivered",
            "processed",
            "lost",
            "duplicated",
            "out of order",
            "dead-lettered",
            "dropped",
            "in flight",
        ],
    );
    msgs.rows.push(
        [
            m.produced,
            m.acked,
            m.copies,
            m.delivered,
            m.processed,
            m.lost,
            m.duplicated,
            m.out_of_order,
            m.dead_lettered,
            m.dropped,
            m.in_flight,
        ]
        .iter()
        .map(ToString::to_string)
        .collect(),
    );
    msgs
}

fn latency_table(r: &RunSummary) -> Table {
    let l = &r.latency_s;
    let mut lat = table(
        "Latency",
        "End to end, from intended send to processed.",
        &["mean", "p50", "p90", "p99", "p99.9", "max"],
    );
    lat.rows.push(
        [l.mean, l.p50, l.p90, l.p99, l.p999, l.max]
            .iter()
            .map(|v| ms(*v))
            .collect(),
    );
    lat
}

fn groups_table(r: &RunSummary) -> Table {
    let mut groups = table(
        "Consumer groups",
        "",
        &[
            "group",
            "delivery",
            "copies",
            "processed",
            "lost",
            "duplicated",
            "out of order",
            "dead-lettered",
            "dropped",
            "in flight",
            "mean wait",
            "mean sojourn",
            "in system",
            "utilization",
            "max lag",
            "p99",
        ],
    );
    for g in &r.groups {
        let mut row = vec![g.name.clone(), g.delivery.clone()];
        row.extend(
            [
                g.copies,
                g.processed,
                g.lost,
                g.duplicated,
                g.out_of_order,
                g.dead_lettered,
                g.dropped,
                g.in_flight,
            ]
            .iter()
            .map(ToString::to_string),
        );
        row.extend([
            ms(g.wait_mean_s),
            ms(g.sojourn_mean_s),
            num(g.in_system_mean, 3),
            num(g.utilization, 3),
            g.max_lag.to_string(),
            ms(g.latency_p99_s),
        ]);
        groups.rows.push(row);
    }
    groups
}

fn checks_table(r: &RunSummary) -> Table {
    let mut checks = table(
        "Checks",
        "The scenario's [expect] bounds and the built-in guarantees.",
        &["check", "expected", "actual", "result"],
    );
    for e in &r.expectations {
        checks.rows.push(vec![
            e.check.clone(),
            e.expected.clone(),
            e.actual.clone(),
            if e.ok { "held" } else { "FAILED" }.into(),
        ]);
    }
    checks.verdict = Some(3);
    checks
}

fn steady_table(r: &RunSummary, warmup: Warmup, cut: f64) -> Table {
    let st = phases::stretch(&r.series, cut, r.duration_s);
    let mut steady = table(
        "Steady state",
        &format!(
            "Producing period after a warm-up of {} ({warmup}); drain time is from the end of production until the lag is 0.",
            secs(cut)
        ),
        &["processed/s", "lag mean", "lag max", "depth mean", "drain"],
    );
    steady.rows.push(vec![
        // The one throughput (`throughput.processed_per_s` from the cut on), as everywhere.
        num(phases::throughput(r, cut), 1),
        num(st.lag_mean, 1),
        st.lag_max.to_string(),
        num(st.depth_mean, 1),
        phases::drain_s(r).map_or("never".into(), secs),
    ]);
    steady
}

fn run_phase_table(r: &RunSummary, cut: f64) -> Option<Table> {
    let fp = phases::fault_phases(r, cut);
    let mut t = table(
        "Fault phases",
        "Recovery: time after the window until the lag is back at or under its pre-fault mean.",
        &[
            "fault",
            "window",
            "phase",
            "processed/s",
            "lag mean",
            "lag max",
            "recover",
        ],
    );
    for p in &fp {
        for (name, s) in [
            ("before", p.before),
            ("during", p.during),
            ("after", p.after),
        ] {
            let recover = if name == "after" {
                p.recover_s.map_or("never".into(), secs)
            } else {
                String::new()
            };
            t.rows.push(vec![
                p.fault.clone(),
                format!("{}–{}", secs(p.start_s), secs(p.end_s)),
                name.into(),
                num(s.processed_per_s, 1),
                num(s.lag_mean, 1),
                s.lag_max.to_string(),
                recover,
            ]);
        }
    }
    (!t.rows.is_empty()).then_some(t)
}

/// Tables of a comparison.
pub fn comparison_tables(c: &Comparison) -> Vec<Table> {
    let mut out = vec![
        guarantees_table(c),
        accounting_table(c),
        performance_table(c),
        differences_table(c),
    ];
    out.extend(crate::views::comparison_group_table(c));
    out.extend(overflow_table(c));
    out.extend(phase_table(c));
    out
}

/// What a full broker did to the producers, per variant: only when it filled up.
fn overflow_table(c: &Comparison) -> Option<Table> {
    if c.variants.iter().all(|v| v.overflow.is_none()) {
        return None;
    }
    let mut t = table(
        "Overflow",
        "What the full broker did, mean per seed: producer pauses (block with watermarks), held sends whose timeout ran out and were sent again while still held (block), rejections and resends (reject), messages spilled to slower storage (spill).",
        &[
            "variant",
            "acked",
            "paused",
            "paused for",
            "held, timed out",
            "rejected",
            "resent",
            "spilled",
            "spill max",
        ],
    );
    for v in &c.variants {
        let o = v.overflow.unwrap_or_default();
        t.rows.push(vec![
            v.spec.label.clone(),
            num(o.acked, 1),
            num(o.pauses, 1),
            format!("{} s", num(o.paused_s, 3)),
            num(o.held_timeouts, 1),
            num(o.rejections, 1),
            num(o.resent, 1),
            num(o.spilled, 1),
            num(o.spill_max, 1),
        ]);
    }
    Some(t)
}

fn guarantees_table(c: &Comparison) -> Table {
    let mut g = table(
        "Guarantees",
        "Claimed: what each group's delivery promises, as the engine checks it (a violation fails the command). Ran as: the delivery the groups really had (a pub/sub group stays at-most-once). The scenario's [expect] checks are shown for every variant.",
        &[
            "variant",
            "ran as",
            "guarantee",
            "claimed",
            "result",
            "seeds violated",
            "first seed",
            "reproduce",
        ],
    );
    g.verdict = Some(4);
    for v in &c.variants {
        for x in &v.guarantees {
            g.rows.push(vec![
                v.spec.label.clone(),
                v.ran_as.clone(),
                x.name.clone(),
                if x.claimed { "yes" } else { "no" }.into(),
                if x.held {
                    "held"
                } else if x.claimed {
                    "VIOLATED"
                } else {
                    "failed"
                }
                .into(),
                format!("{}/{}", x.violated_seeds, v.runs.len()),
                x.first_seed.map_or(String::new(), |s| s.to_string()),
                x.reproduce
                    .clone()
                    .map_or(String::new(), |r| format!("`{r}`")),
            ]);
        }
    }
    g
}

fn accounting_table(c: &Comparison) -> Table {
    let mut acc = table(
        "Accounting",
        "Per seed: mean [min–max], and on how many seeds it was non-zero.",
        &[
            "variant",
            "lost",
            "duplicated",
            "out of order",
            "dead-lettered",
            "dropped",
        ],
    );
    for v in &c.variants {
        let mut row = vec![v.spec.label.clone()];
        for k in [
            "lost",
            "duplicated",
            "out_of_order",
            "dead_lettered",
            "dropped",
        ] {
            let s = v.counts.get(k).copied().unwrap_or_default();
            row.push(format!(
                "{} [{}–{}], {}/{}",
                num(s.mean, 2),
                s.min,
                s.max,
                s.nonzero_seeds,
                v.runs.len()
            ));
        }
        acc.rows.push(row);
    }
    acc
}

fn performance_table(c: &Comparison) -> Table {
    let mut perf = table(
        "Latency and throughput",
        "Mean over seeds [95% Student-t interval]. Throughput: processed copies per second over the steady producing period.",
        &[
            "variant",
            "p50",
            "p99",
            "p99.9",
            "mean wait",
            "throughput/s",
            "max lag",
            "warm-up",
        ],
    );
    for v in &c.variants {
        perf.rows.push(vec![
            v.spec.label.clone(),
            est_ms(&v.latency_p50_s),
            est_ms(&v.latency_p99_s),
            est_ms(&v.latency_p999_s),
            est_ms(&v.wait_mean_s),
            est_num(&v.throughput_per_s, 1),
            format!(
                "{} [{}–{}]",
                num(v.max_lag.mean, 1),
                v.max_lag.min,
                v.max_lag.max
            ),
            format!("{} s", num(v.warmup_s.mean, 3)),
        ]);
    }
    perf
}

fn differences_table(c: &Comparison) -> Table {
    let mut diff = table(
        "Paired differences",
        "b − a on the same seeds (common random numbers): mean [95% interval]. An interval that excludes 0 is a real difference.",
        &["a", "b", "metric", "b − a"],
    );
    for d in &c.differences {
        let cell = if d.metric.ends_with("_s") && !d.metric.ends_with("per_s") {
            est_ms(&d.estimate)
        } else {
            est_num(&d.estimate, 2)
        };
        diff.rows
            .push(vec![d.a.clone(), d.b.clone(), d.metric.clone(), cell]);
    }
    diff
}

fn phase_table(c: &Comparison) -> Option<Table> {
    let mut t = table(
        "Fault phases",
        "Before / during / after each fault window, mean over seeds [95% interval]. Recover: until the lag is back at or under its pre-fault mean. Drain: from the end of production until the lag is 0.",
        &[
            "variant",
            "fault",
            "processed/s before",
            "during",
            "after",
            "lag before",
            "during",
            "after",
            "recover",
            "drain",
        ],
    );
    for v in &c.variants {
        let drain = format!("{} s (never: {})", est_num(&v.drain_s, 3), v.not_drained);
        for p in &v.phases {
            let mut row = vec![
                v.spec.label.clone(),
                format!("{} {}–{}", p.fault, secs(p.start_s), secs(p.end_s)),
            ];
            row.extend(p.processed_per_s.iter().map(|e| est_num(e, 1)));
            row.extend(p.lag_mean.iter().map(|e| est_num(e, 1)));
            row.push(format!(
                "{} s (never: {})",
                est_num(&p.recover_s, 3),
                p.not_recovered
            ));
            row.push(drain.clone());
            t.rows.push(row);
        }
    }
    (!t.rows.is_empty()).then_some(t)
}
