//! Per-group, per-producer and broker tables (issue 15): latency by group with the merged
//! figures as one row among them, each producer's publish → ack latency, the fault windows
//! and the broker timeline; and, for a comparison, each group's p99 per variant.

use crate::comparison::Comparison;
use crate::fmt::{ms, num, secs};
use crate::tables::{Table, table};
use mqlab_sim::RunSummary;
use mqlab_sim::summary::Latency;

/// Broker timeline rows a report shows (the JSON keeps up to 10,000).
const TIMELINE_ROWS: usize = 200;

/// The run's view tables: only those it has something for.
pub fn run_tables(r: &RunSummary) -> Vec<Table> {
    let mut out = vec![group_latency_table(r)];
    out.extend(producers_table(r));
    out.extend(faults_table(r));
    out.extend(timeline_table(r));
    out
}

fn latency_cells(l: &Latency) -> Vec<String> {
    [l.mean, l.p50, l.p90, l.p99, l.p999, l.max]
        .iter()
        .map(|v| ms(*v))
        .collect()
}

fn group_latency_table(r: &RunSummary) -> Table {
    let outside = r.outside_faults.is_some();
    let mut header = vec![
        "group",
        "processed/s",
        "mean",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "max",
    ];
    if outside {
        header.extend(["p99 outside faults", "copies outside faults"]);
    }
    let mut t = table(
        "Latency by group",
        "End to end per consumer group, and over every group merged (all); processed/s is the group's first processings while producers produced. Outside faults: copies whose life, from intended send to processed, touched no fault window.",
        &header,
    );
    for g in &r.groups {
        let mut row = vec![g.name.clone()];
        if g.latency_s == Latency::default() && g.processed > 0 {
            // A result saved before groups carried their latency and throughput.
            row.extend(std::iter::repeat_n("n/a".to_string(), 7));
        } else {
            row.push(num(g.processed_per_s, 1));
            row.extend(latency_cells(&g.latency_s));
        }
        if let (true, Some(f)) = (outside, g.outside_faults) {
            row.extend([ms(f.latency_s.p99), f.samples.to_string()]);
        }
        t.rows.push(row);
    }
    let mut all = vec!["(all)".to_string(), num(r.throughput.processed_per_s, 1)];
    all.extend(latency_cells(&r.latency_s));
    if let Some(f) = r.outside_faults {
        all.extend([ms(f.latency_s.p99), f.samples.to_string()]);
    }
    t.rows.push(all);
    t
}

fn producers_table(r: &RunSummary) -> Option<Table> {
    if r.producers.is_empty() {
        return None;
    }
    let mut t = table(
        "Producers",
        "Publish → ack: from a message's intended send time to its first acknowledgement (time blocked or resending counts).",
        &[
            "producer",
            "topic",
            "produced",
            "acked",
            "produced/s",
            "ack p50",
            "ack p99",
            "ack p99.9",
            "ack max",
        ],
    );
    for p in &r.producers {
        let l = &p.ack_latency_s;
        t.rows.push(vec![
            p.name.clone(),
            p.topic.clone(),
            p.produced.to_string(),
            p.acked.to_string(),
            num(p.produced_per_s, 1),
            ms(l.p50),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
        ]);
    }
    Some(t)
}

fn faults_table(r: &RunSummary) -> Option<Table> {
    if r.faults.is_empty() {
        return None;
    }
    // A column for what the model did not do of a fault, only when it left something out.
    let noted = r.faults.iter().any(|f| !f.note.is_empty());
    let mut header = vec!["fault", "target", "from", "to"];
    if noted {
        header.push("not modelled");
    }
    let mut t = table(
        "Faults",
        "Each fault's window (one without a duration lasts to the end of the run).",
        &header,
    );
    for f in &r.faults {
        let mut row = vec![
            f.kind.clone(),
            f.target.clone(),
            secs(f.start_s),
            secs(f.end_s),
        ];
        if noted {
            row.push(f.note.clone());
        }
        t.rows.push(row);
    }
    Some(t)
}

fn timeline_table(r: &RunSummary) -> Option<Table> {
    if r.broker_timeline.is_empty() {
        return None;
    }
    let shown = r.broker_timeline.len().min(TIMELINE_ROWS);
    let note = if shown < r.broker_timeline.len() {
        format!(
            "ISR changes, leader elections, rebalances and producer pauses; the first {shown} of {} (the JSON's broker_timeline has them all).",
            r.broker_timeline.len()
        )
    } else {
        "ISR changes, leader elections, rebalances and producer pauses, in time order.".into()
    };
    let mut t = table("Broker timeline", &note, &["time", "kind", "what"]);
    for e in r.broker_timeline.iter().take(TIMELINE_ROWS) {
        t.rows
            .push(vec![secs(e.t_s), e.kind.clone(), e.text.clone()]);
    }
    Some(t)
}

/// Each group's p99 per variant, mean over seeds; absent with a single group (the
/// performance table has it).
pub fn comparison_group_table(c: &Comparison) -> Option<Table> {
    let groups: Vec<&str> = c
        .runs
        .first()?
        .groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    if groups.len() < 2 {
        return None;
    }
    let mut header = vec!["variant"];
    header.extend(groups.iter().copied());
    let mut t = table(
        "p99 latency by group",
        "End-to-end p99 of each group's copies, mean over seeds.",
        &header,
    );
    for v in &c.variants {
        let runs: Vec<&RunSummary> = v.runs.iter().filter_map(|&i| c.runs.get(i)).collect();
        let mut row = vec![v.spec.label.clone()];
        for g in &groups {
            let p99: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.groups.iter().find(|x| x.name == *g))
                .map(|x| x.latency_s.p99)
                .collect();
            #[allow(clippy::cast_precision_loss)]
            let mean = p99.iter().sum::<f64>() / p99.len().max(1) as f64;
            row.push(ms(mean));
        }
        t.rows.push(row);
    }
    Some(t)
}

/// The percentile chart's lines: every group merged, then each group's own curve when there
/// are several (`latency_by_percentile_s`), in the chart's coordinates (`log10(1/(1-q))`,
/// `log10(ms)`; under 1 ns drawn at 1 ns, as the merged curve is).
pub fn percentile_lines(
    r: &RunSummary,
    merged: Vec<(f64, f64)>,
    merged_label: &str,
) -> Vec<crate::charts::Line> {
    let mut lines = vec![crate::charts::Line::new(merged_label, merged)];
    if r.groups.len() > 1 {
        for g in &r.groups {
            lines.push(crate::charts::Line::new(
                g.name.clone(),
                g.latency_by_percentile_s
                    .iter()
                    .map(|[q, s]| ((1.0 / (1.0 - q)).log10(), (s * 1e3).max(1e-6).log10()))
                    .collect(),
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    fn two_groups() -> RunSummary {
        let mut r = fixture::run();
        let mut slow = r.groups[0].clone();
        slow.name = "analytics".into();
        slow.latency_s.p99 = 5.0;
        slow.latency_by_percentile_s = vec![[0.5, 0.001], [0.99, 5.0]];
        r.groups.push(slow);
        r
    }

    #[test]
    fn the_percentile_chart_draws_every_group_beside_the_merged_curve() {
        let r = two_groups();
        let lines = percentile_lines(&r, vec![(1.0, 0.0)], "all groups");
        let labels: Vec<&str> = lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["all groups", "payments", "analytics"]);
        // q = 0.99 is two decades of 1/(1-q); 5 s is log10(5000 ms).
        let p = lines[2].points[1];
        assert!(
            (p.0 - 2.0).abs() < 1e-9 && (p.1 - 5000f64.log10()).abs() < 1e-9,
            "{p:?}"
        );
        // One group alone is the merged curve: no second line on top of it.
        assert_eq!(percentile_lines(&fixture::run(), Vec::new(), "x").len(), 1);
    }

    #[test]
    fn a_result_saved_before_group_latency_shows_not_available() {
        let mut r = fixture::run();
        r.groups[0].latency_s = Latency::default();
        r.groups[0].processed_per_s = 0.0;
        let t = group_latency_table(&r);
        assert!(t.rows[0][1..].iter().all(|c| c == "n/a"), "{:?}", t.rows[0]);
    }

    /// The faults table gains a column for what the model left out of a fault only when
    /// one did; the fixture's crash keeps the four columns.
    #[test]
    fn a_fault_the_model_left_out_is_said_in_its_own_column() {
        let plain = faults_table(&fixture::run()).expect("a fault");
        assert_eq!(plain.header, ["fault", "target", "from", "to"]);
        let mut r = fixture::run();
        let mut broker = r.faults[0].clone();
        broker.kind = "broker-crash".into();
        broker.target = "broker/1".into();
        broker.note = "the model's queue, exchange and pub/sub topics live on broker/0".into();
        r.faults.push(broker);
        let t = faults_table(&r).expect("faults");
        assert_eq!(t.header.last().map(String::as_str), Some("not modelled"));
        assert_eq!(t.rows[0][4], "", "the crash is modelled");
        assert_eq!(t.rows[1][4], r.faults[1].note);
    }

    #[test]
    fn the_group_table_ends_with_the_merged_row() {
        let t = group_latency_table(&two_groups());
        let names: Vec<&str> = t.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(names, ["payments", "analytics", "(all)"]);
        assert_eq!(t.rows[1][5], "5000.000 ms");
    }
}
