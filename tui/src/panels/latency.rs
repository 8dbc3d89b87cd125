//! End-to-end latency: p50, p90, p99, p99.9 and max from the live histogram, each with a
//! bar against the max, then a sparkline of p99 over time. A percentile bound from
//! `[expect]` colours its row.

use super::{Ctx, inner};
use crate::fmt;
use mqlab_sim::Snapshot;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Widget};

/// Renders the latency panel.
pub fn render(snap: &Snapshot, ctx: &Ctx, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let l = &snap.latency;
    let block = ctx.block(ctx.title(
        "latency",
        vec![
            Span::styled("mean ", t.dim()),
            Span::styled(fmt::secs(l.mean), t.value()),
            Span::raw(" "),
        ],
    ));
    block.render(area, buf);
    let Some(area) = inner(area) else { return };
    let rows = [
        ("p50", l.p50, "p50_latency"),
        ("p90", l.p90, ""),
        ("p99", l.p99, "p99_latency"),
        ("p999", l.p999, "p999_latency"),
        ("max", l.max, ""),
    ];
    let bar_w = usize::from(area.width).saturating_sub(16).max(1);
    let mut lines = Vec::new();
    for (name, value, check) in rows {
        let verdict = snap.expectations.iter().find(|e| e.check == check);
        let style = match verdict {
            Some(e) if !e.ok => t.bad(),
            Some(_) => t.good(),
            None => t.value(),
        };
        let mut spans = vec![
            Span::styled(format!("{name:<5}"), t.dim()),
            Span::styled(format!("{:>9} ", fmt::secs(value)), style),
            Span::styled(fmt::bar(value, l.max, bar_w), t.latency()),
        ];
        if let Some(e) = verdict {
            spans.push(Span::styled(
                format!(" {}", fmt::bound(&e.expected)),
                t.dim(),
            ));
        }
        lines.push(Line::from(spans));
    }
    let text_h = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .min(area.height);
    Paragraph::new(lines).render(area, buf);
    // A taller sparkline only stretches the same few values.
    let spark_h = (area.height - text_h).min(8);
    if spark_h == 0 {
        return;
    }
    let spark = Rect {
        y: area.y + text_h,
        height: spark_h,
        ..area
    };
    let label = Rect { width: 5, ..spark };
    Line::styled("p99", t.dim()).render(label, buf);
    let plot = Rect {
        x: spark.x + 5,
        width: spark.width.saturating_sub(5),
        ..spark
    };
    let n = usize::from(plot.width);
    let from = ctx.p99_history.len().saturating_sub(n);
    let data = &ctx.p99_history[from..];
    // Headroom above the highest value, so a steady p99 reads as steady, not as "full".
    let top = data.iter().copied().max().unwrap_or(0);
    Sparkline::default()
        .data(data)
        .max(top + top / 4 + 1)
        .style(t.latency())
        .render(plot, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    #[test]
    fn latency_percentiles_with_bound_and_sparkline() {
        let snap = fixture::snapshot();
        let history: Vec<u64> = (0..40u64)
            .map(|i| 2_000_000 + (i % 9) * 4_000_000)
            .collect();
        let ctx = Ctx {
            p99_history: &history,
            ..Ctx::plain(testing::theme())
        };
        let b = testing::render(44, 9, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }
}
