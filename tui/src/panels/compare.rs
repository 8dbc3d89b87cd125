//! Compare mode: the three delivery variants side by side, run in lockstep on the same
//! seed and faults. One column per snapshot: the checker counts (coloured by `[expect]`),
//! latency and lag per group, then charts of processed copies per second and total lag
//! over the run. Each chart row shares one scale and one time axis across the columns,
//! drawn with its axes, so the variants compare by eye; fault windows are marked.

use super::checker::verdict;
use super::{Ctx, inner, windows};
use crate::fmt;
use mqlab_sim::Snapshot;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Widget};

/// Rows a chart needs: its label, two of plot, the time axis and its labels.
const CHART_MIN_H: u16 = 5;
/// Rows a chart grows to at most (taller only stretches the same samples).
const CHART_MAX_H: u16 = 12;

/// What one chart row plots from a snapshot, and how its scale is labelled.
struct Row {
    label: &'static str,
    values: fn(&Snapshot) -> Vec<f64>,
    unit: fn(f64) -> String,
    style: fn(&Ctx) -> Style,
}

#[allow(clippy::cast_precision_loss)] // counts shown on a chart
fn lag_values(s: &Snapshot) -> Vec<f64> {
    s.series.lag.iter().map(|&v| v as f64).collect()
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // rounded, positive
fn count_label(v: f64) -> String {
    fmt::count(v.round() as u64)
}

const ROWS: [Row; 2] = [
    Row {
        label: "processed copies/s",
        values: |s| s.series.processed_per_s.clone(),
        unit: fmt::rate,
        style: |c| c.theme.processed(),
    },
    Row {
        label: "lag, all groups",
        values: lag_values,
        unit: count_label,
        style: |c| c.theme.lag(),
    },
];

/// One chart row's shared scale: time from 0 to the furthest bucket of any column, and
/// values from 0 to the largest of any column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Time axis end, seconds.
    pub x1: f64,
    /// Value axis end (the largest value; the axis has 10% headroom above it).
    pub y1: f64,
}

fn scale(snaps: &[Snapshot], values: fn(&Snapshot) -> Vec<f64>) -> Scale {
    let x1 = snaps
        .iter()
        .filter_map(|s| s.series.t_s.last().copied())
        .fold(1e-9, f64::max);
    let y1 = snaps
        .iter()
        .flat_map(values)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    Scale { x1, y1 }
}

/// Renders one column per snapshot into `area`.
pub fn render(snaps: &[Snapshot], ctx: &Ctx, area: Rect, buf: &mut Buffer) {
    let n = u32::try_from(snaps.len().max(1)).unwrap_or(1);
    let columns = Layout::horizontal((0..n).map(|_| Constraint::Ratio(1, n))).split(area);
    let scales: Vec<Scale> = ROWS.iter().map(|r| scale(snaps, r.values)).collect();
    for (snap, &col) in snaps.iter().zip(columns.iter()) {
        column(snap, ctx, &scales, col, buf);
    }
}

/// The rows of counts and latency, then one per group's lag (`groups` of them).
fn table<'a>(snap: &'a Snapshot, ctx: &Ctx, width: usize, groups: usize) -> Vec<Line<'a>> {
    let t = ctx.theme;
    let find = |check: &str| snap.expectations.iter().find(|e| e.check == check);
    let c = &snap.counts;
    // Group names whole while the column has room: label, then a 7-wide value.
    let longest = snap
        .groups
        .iter()
        .map(|g| g.name.chars().count() + 4)
        .max()
        .unwrap_or(0);
    let label_w = longest.max(12).min(width.saturating_sub(8).max(8));
    let count_line = |label: &str, check: &str, v: u64| {
        let style = match find(check) {
            Some(e) if !e.ok => t.bad(),
            Some(_) => t.good(),
            None if v == 0 => t.dim(),
            None => t.value(),
        };
        Line::from(vec![
            Span::styled(format!("{label:<label_w$}"), t.dim()),
            Span::styled(format!("{:>7}", fmt::count(v)), style),
        ])
    };
    let kv = |label: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{label:<label_w$}"), t.dim()),
            Span::styled(format!("{v:>7}"), t.value()),
        ])
    };
    let mut lines = vec![
        count_line("processed", "processed", c.processed),
        count_line("lost", "lost", c.lost_known),
        count_line("duplicated", "duplicated", c.duplicated),
        count_line("out of order", "out_of_order", c.out_of_order),
        count_line("dead-letter", "dead_lettered", c.dead_lettered),
        count_line("dropped", "dropped", c.dropped),
        kv("p50", fmt::secs(snap.latency.p50)),
        kv("p99", fmt::secs(snap.latency.p99)),
        kv("max", fmt::secs(snap.latency.max)),
    ];
    for g in snap.groups.iter().take(groups) {
        let name = format!("lag {}", g.name);
        lines.push(Line::from(vec![
            Span::styled(format!("{name:<label_w$.label_w$}"), t.dim()),
            Span::styled(format!("{:>7}", fmt::count(g.lag)), t.lag()),
        ]));
    }
    if groups < snap.groups.len() {
        lines.push(Line::styled(
            format!("+{} group(s): taller shows", snap.groups.len() - groups),
            t.dim(),
        ));
    }
    lines
}

/// How the rows left under the counts and latency are shared: group lines, and how many
/// charts of what height. Charts come first (they are what compare mode is for), then
/// every group, then the second chart.
fn share(rest: u16, groups: u16) -> (u16, u16, u16) {
    if rest >= groups + 2 * CHART_MIN_H {
        let h = ((rest - groups) / 2).min(CHART_MAX_H);
        (groups, 2, h)
    } else if rest >= groups + CHART_MIN_H {
        (groups, 1, (rest - groups).min(CHART_MAX_H))
    } else if rest > CHART_MIN_H {
        // Some groups, then "+n group(s)", then one chart.
        (rest - CHART_MIN_H - 1, 1, CHART_MIN_H)
    } else {
        (rest.saturating_sub(1).min(groups), 0, 0)
    }
}

fn column(snap: &Snapshot, ctx: &Ctx, scales: &[Scale], area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let (mark, style) = match verdict(snap) {
        Some(true) => ("✓", t.good()),
        Some(false) => ("✗", t.bad()),
        None => ("", t.dim()),
    };
    let block = ctx.block(ctx.title(
        &snap.delivery,
        vec![Span::styled(format!("{mark} "), style)],
    ));
    block.render(area, buf);
    let Some(area) = inner(area) else { return };
    let groups = u16::try_from(snap.groups.len()).unwrap_or(u16::MAX);
    let (shown, charts, h) = share(area.height.saturating_sub(9), groups);
    let lines = table(snap, ctx, usize::from(area.width), usize::from(shown));
    Paragraph::new(lines).render(area, buf);
    for (i, (row, sc)) in (0..charts).zip(ROWS.iter().zip(scales)) {
        let top = area.y + area.height - (charts - i) * h;
        let rect = Rect {
            y: top,
            height: h,
            ..area
        };
        chart(snap, ctx, row, *sc, rect, buf);
    }
}

/// One chart: its label on the first row, then the plot with both axes labelled.
fn chart(snap: &Snapshot, ctx: &Ctx, row: &Row, sc: Scale, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    Line::styled(row.label, t.dim()).render(Rect { height: 1, ..area }, buf);
    let plot_area = Rect {
        y: area.y + 1,
        height: area.height - 1,
        ..area
    };
    let points: Vec<(f64, f64)> = snap
        .series
        .t_s
        .iter()
        .copied()
        .zip((row.values)(snap))
        .collect();
    let secs =
        |x: f64| fmt::clock(mqlab_sim::SimTime::ZERO + mqlab_sim::SimDuration::from_secs_f64(x));
    Chart::new(vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style((row.style)(ctx))
            .data(&points),
    ])
    .x_axis(
        Axis::default()
            .bounds([0.0, sc.x1])
            .style(t.dim())
            .labels([Span::raw("0s"), Span::raw(secs(sc.x1))]),
    )
    .y_axis(
        Axis::default()
            .bounds([0.0, sc.y1 * 1.1])
            .style(t.dim())
            .labels([Span::raw("0"), Span::raw((row.unit)(sc.y1))]),
    )
    .render(plot_area, buf);
    if let Some(plot) = windows::plot_area(buf, plot_area) {
        windows::mark(ctx, plot, (0.0, sc.x1), snap.now.as_secs_f64(), buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    fn variants() -> [Snapshot; 3] {
        let mut most = fixture::variant("at-most-once", 0, 37);
        // One variant processes twice as much at its peak: the others must share its scale.
        for v in &mut most.series.processed_per_s {
            *v *= 2.0;
        }
        [
            most,
            fixture::variant("at-least-once", 14, 0),
            fixture::variant("exactly-once", 0, 0),
        ]
    }

    #[test]
    fn compare_columns_side_by_side() {
        let snaps = variants();
        let faults = fixture::fault_windows();
        let ctx = Ctx {
            faults: &faults,
            ..Ctx::plain(testing::theme())
        };
        let b = testing::render(80, 22, |a, buf| render(&snaps, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn each_chart_row_shares_one_scale_and_time_axis_across_the_variants() {
        let snaps = variants();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(120, 40, |a, buf| render(&snaps, &ctx, a, buf));
        let text = b.to_string();
        // The largest peak (the doubled column's) labels every column's axis.
        let peak = snaps[0]
            .series
            .processed_per_s
            .iter()
            .copied()
            .fold(0.0, f64::max);
        let top = fmt::rate(peak);
        assert_eq!(text.matches(top.as_str()).count(), 3, "{top}:\n{text}");
        assert_eq!(text.matches("processed copies/s").count(), 3, "{text}");
        assert_eq!(text.matches("lag, all groups").count(), 3, "{text}");
        // Both axes, on both rows, in every column.
        assert_eq!(text.matches('└').count(), 6, "{text}");
        assert!(
            text.matches("18s").count() >= 6,
            "time axis to 18 s:\n{text}"
        );
    }

    #[test]
    fn group_names_are_whole_in_a_wide_column() {
        let mut snaps = variants();
        for s in &mut snaps {
            s.groups[1].name = "driver-assignment".into();
        }
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(120, 40, |a, buf| render(&snaps, &ctx, a, buf)).to_string();
        assert_eq!(b.matches("lag driver-assignment").count(), 3, "{b}");
    }

    #[test]
    fn rows_are_shared_charts_first_then_groups() {
        assert_eq!(share(11, 6), (6, 1, 5));
        assert_eq!(share(40, 6), (6, 2, 12));
        assert_eq!(share(8, 6), (2, 1, 5));
        assert_eq!(share(3, 6), (2, 0, 0));
    }
}
