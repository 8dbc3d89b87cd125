//! Compare mode: the three delivery variants side by side, run in lockstep on the same
//! seed and faults. One column per snapshot: the checker counts (coloured by `[expect]`),
//! latency, lag per group and a sparkline of processed per second.

use super::checker::verdict;
use super::{Ctx, inner};
use crate::fmt;
use mqlab_sim::Snapshot;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Widget};

/// Renders one column per snapshot into `area`.
pub fn render(snaps: &[Snapshot], ctx: &Ctx, area: Rect, buf: &mut Buffer) {
    let n = u32::try_from(snaps.len().max(1)).unwrap_or(1);
    let columns = Layout::horizontal((0..n).map(|_| Constraint::Ratio(1, n))).split(area);
    for (snap, &col) in snaps.iter().zip(columns.iter()) {
        column(snap, ctx, col, buf);
    }
}

fn column(snap: &Snapshot, ctx: &Ctx, area: Rect, buf: &mut Buffer) {
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
    let find = |check: &str| snap.expectations.iter().find(|e| e.check == check);
    let c = &snap.counts;
    let count_line = |label: &str, check: &str, v: u64| {
        let style = match find(check) {
            Some(e) if !e.ok => t.bad(),
            Some(_) => t.good(),
            None if v == 0 => t.dim(),
            None => t.value(),
        };
        Line::from(vec![
            Span::styled(format!("{label:<12}"), t.dim()),
            Span::styled(format!("{:>7}", fmt::count(v)), style),
        ])
    };
    let kv = |label: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{label:<12}"), t.dim()),
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
    for g in &snap.groups {
        lines.push(Line::from(vec![
            Span::styled(format!("lag {:<8.8}", g.name), t.dim()),
            Span::styled(format!("{:>7}", fmt::count(g.lag)), t.lag()),
        ]));
    }
    let used = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .min(area.height);
    Paragraph::new(lines).render(area, buf);
    // The rest: processed per second and total lag over time, each under a label.
    let rest = area.height - used;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // rates, rounded
    let processed: Vec<u64> = snap
        .series
        .processed_per_s
        .iter()
        .map(|v| v.round() as u64)
        .collect();
    let charts = [
        ("processed/s", &processed[..], t.processed()),
        ("lag", &snap.series.lag[..], t.lag()),
    ];
    let n: u16 = if rest >= 8 { 2 } else { 1 };
    let h = (rest / n).min(6);
    if h < 2 {
        return;
    }
    for (i, (label, data, style)) in (0..n).zip(charts) {
        let top = area.y + area.height - (n - i) * h;
        let label_row = Rect {
            y: top,
            height: 1,
            ..area
        };
        Line::styled(label, t.dim()).render(label_row, buf);
        let plot = Rect {
            y: top + 1,
            height: h - 1,
            ..area
        };
        let from = data.len().saturating_sub(usize::from(plot.width));
        Sparkline::default()
            .data(&data[from..])
            .style(style)
            .render(plot, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    #[test]
    fn compare_columns_side_by_side() {
        let snaps = [
            fixture::variant("at-most-once", 0, 37),
            fixture::variant("at-least-once", 14, 0),
            fixture::variant("exactly-once", 0, 0),
        ];
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(80, 16, |a, buf| render(&snaps, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }
}
