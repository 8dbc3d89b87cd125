//! The event log: faults, restarts, rebalances, dead-letters, losses and phase changes
//! with their simulated times, newest at the bottom, scrolled back by `Ctx::log_scroll`
//! lines (mouse wheel, or ↑/↓ when focused).

use super::{Ctx, inner};
use crate::fmt;
use mqlab_sim::Snapshot;
use mqlab_sim::snapshot::{LogEntry, LogKind};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

fn kind(ctx: &Ctx, k: LogKind) -> (&'static str, Style) {
    let t = ctx.theme;
    match k {
        LogKind::Fault => ("FAULT", t.bad()),
        LogKind::Restart => ("UP", t.good()),
        LogKind::Rebalance => ("REBAL", t.warn()),
        LogKind::DeadLetter => ("DLQ", t.lag()),
        LogKind::Loss => ("LOSS", t.bad()),
        LogKind::Phase => ("PHASE", t.produced()),
        LogKind::Backpressure => ("PAUSE", t.warn()),
        LogKind::Breaker => ("BREAK", t.warn()),
        LogKind::Broker => ("BROKER", t.warn()),
    }
}

/// How far back the log can scroll with `rows` lines visible.
#[must_use]
pub fn max_scroll(snap: &Snapshot, rows: usize) -> usize {
    snap.log.len().saturating_sub(rows)
}

fn line<'a>(ctx: &Ctx, e: &'a LogEntry) -> Line<'a> {
    let (label, style) = kind(ctx, e.kind);
    Line::from(vec![
        Span::styled(format!("{:>9} ", e.at.to_string()), ctx.theme.dim()),
        Span::styled(format!("{label:<6}"), style),
        Span::raw(e.text.as_str()),
    ])
}

/// Renders the event log.
pub fn render(snap: &Snapshot, ctx: &Ctx, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let rows = usize::from(area.height.saturating_sub(2));
    let scroll = ctx.log_scroll.min(max_scroll(snap, rows));
    let mut extra = vec![Span::styled(
        format!("{} ", fmt::count(snap.log_total)),
        t.dim(),
    )];
    if scroll > 0 {
        extra.push(Span::styled(format!("↑{scroll} (End follows) "), t.warn()));
    }
    let block = ctx.block(ctx.title("events", extra));
    block.render(area, buf);
    let Some(area) = inner(area) else { return };
    if snap.log.is_empty() {
        Line::styled(
            "nothing yet: faults, restarts and losses appear here",
            t.dim(),
        )
        .render(area, buf);
        return;
    }
    let end = snap.log.len() - scroll;
    let start = end.saturating_sub(rows);
    let lines: Vec<Line> = snap.log[start..end].iter().map(|e| line(ctx, e)).collect();
    Paragraph::new(lines).render(area, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    #[test]
    fn events_show_the_newest_lines() {
        let snap = fixture::snapshot();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(64, 6, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn events_scroll_back_and_say_so() {
        let snap = fixture::snapshot();
        let ctx = Ctx {
            log_scroll: 2,
            ..Ctx::plain(testing::theme())
        };
        let b = testing::render(64, 6, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn scrolling_stops_at_the_oldest_line() {
        let snap = fixture::snapshot();
        assert_eq!(max_scroll(&snap, 4), 3);
        assert_eq!(max_scroll(&snap, 40), 0);
    }
}
