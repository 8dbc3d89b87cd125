//! The event log: faults, restarts, rebalances, dead-letters, losses and phase changes
//! with their simulated times, newest at the bottom, scrolled back by `Ctx::log_scroll`
//! entries (mouse wheel, or ↑/↓ when focused). A long entry wraps under its text rather
//! than losing its end, and entries of one instant list causes (a crash, a restart)
//! before their effects (the rebalance, the leader election), whatever order the engine
//! noted them in.

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
        LogKind::Server => ("SERVER", t.bad()),
    }
}

/// How far back the log can scroll with `rows` lines visible.
#[must_use]
pub fn max_scroll(snap: &Snapshot, rows: usize) -> usize {
    snap.log.len().saturating_sub(rows)
}

/// Same-instant order: causes first (faults, restarts, phase changes), then what they
/// set off (breakers, watermark pauses), then membership, replication and server changes, then
/// what was lost or dead-lettered.
fn rank(k: LogKind) -> u8 {
    match k {
        LogKind::Fault | LogKind::Restart | LogKind::Phase => 0,
        LogKind::Breaker | LogKind::Backpressure => 1,
        LogKind::Rebalance | LogKind::Broker | LogKind::Server => 2,
        LogKind::DeadLetter | LogKind::Loss => 3,
    }
}

/// The log in display order: by time, and within an instant causes before effects (a
/// stable sort, so entries of one rank keep the engine's order).
#[must_use]
pub fn ordered(log: &[LogEntry]) -> Vec<&LogEntry> {
    let mut v: Vec<&LogEntry> = log.iter().collect();
    v.sort_by_key(|e| (e.at, rank(e.kind)));
    v
}

/// Width of the time and kind columns a wrapped entry's text is indented by.
const PREFIX_W: usize = 17;

/// `text` cut into rows of at most `width` characters, at spaces where it can be.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = vec![String::new()];
    for word in text.split(' ') {
        let row = rows.last_mut().expect("one row");
        let (have, need) = (row.chars().count(), word.chars().count());
        if have > 0 && have + 1 + need <= width {
            row.push(' ');
            row.push_str(word);
            continue;
        }
        if have > 0 {
            rows.push(String::new());
        }
        // A word longer than a row is split where the row ends.
        let chars: Vec<char> = word.chars().collect();
        for (i, chunk) in chars.chunks(width).enumerate() {
            if i > 0 {
                rows.push(String::new());
            }
            rows.last_mut().expect("one row").extend(chunk);
        }
    }
    rows
}

/// An entry's screen rows at `width` columns: time and kind, then the text, wrapped.
fn lines<'a>(ctx: &Ctx, e: &LogEntry, width: usize) -> Vec<Line<'a>> {
    let (label, style) = kind(ctx, e.kind);
    let text_w = width.saturating_sub(PREFIX_W).max(8);
    wrap(&e.text, text_w)
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let head = if i == 0 {
                vec![
                    Span::styled(format!("{:>9} ", e.at.to_string()), ctx.theme.dim()),
                    Span::styled(format!("{label:<6} "), style),
                ]
            } else {
                vec![Span::raw(" ".repeat(PREFIX_W))]
            };
            Line::from([head, vec![Span::raw(row)]].concat())
        })
        .collect()
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
    let log = ordered(&snap.log);
    let end = log.len() - scroll;
    // Newest entry at the bottom: walk back until the rows are full; the oldest entry
    // shown may lose its first rows.
    let mut shown: Vec<Line> = Vec::new();
    for e in log[..end].iter().rev() {
        if shown.len() >= rows {
            break;
        }
        let mut l = lines(ctx, e, usize::from(area.width));
        l.append(&mut shown);
        shown = l;
    }
    let from = shown.len().saturating_sub(rows);
    Paragraph::new(shown.split_off(from)).render(area, buf);
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
    fn a_long_entry_wraps_under_its_text_instead_of_losing_its_cause() {
        let mut snap = fixture::snapshot();
        snap.log.push(LogEntry {
            at: mqlab_sim::SimTime(19_000_000_000),
            kind: LogKind::Broker,
            text: "orders/2: leader broker/1 elected after broker/0 crashed; ISR shrank to [1]"
                .into(),
        });
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(50, 6, |a, buf| render(&snap, &ctx, a, buf));
        let text = b.to_string();
        // Every word is on screen, the end included, each row inside the panel.
        for word in [
            "orders/2:",
            "elected",
            "broker/0",
            "crashed;",
            "shrank",
            "[1]",
        ] {
            assert!(text.contains(word), "{word} missing:\n{text}");
        }
        insta::assert_snapshot!(b);
    }

    #[test]
    fn same_instant_entries_list_the_cause_before_the_effect() {
        let mut snap = fixture::snapshot();
        let at = mqlab_sim::SimTime(35_000_000_000);
        let e = |kind, text: &str| LogEntry {
            at,
            kind,
            text: text.into(),
        };
        // As the engine notes them: the fault's own line comes after what it set off.
        snap.log = vec![
            e(
                LogKind::Rebalance,
                "analytics: rebalance, 6 partition(s) moved",
            ),
            e(LogKind::Restart, "restart: analytics"),
            e(LogKind::Broker, "orders/0: leader broker/1 elected"),
            e(
                LogKind::Server,
                "broker/0 down: its queue clients lose their connections",
            ),
            e(LogKind::Fault, "crash broker/0 for 5s"),
        ];
        let order: Vec<&str> = ordered(&snap.log).iter().map(|e| e.text.as_str()).collect();
        assert_eq!(
            order,
            [
                "restart: analytics",
                "crash broker/0 for 5s",
                "analytics: rebalance, 6 partition(s) moved",
                "orders/0: leader broker/1 elected",
                "broker/0 down: its queue clients lose their connections",
            ]
        );
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(70, 8, |a, buf| render(&snap, &ctx, a, buf)).to_string();
        let restart = b.find("restart: analytics").unwrap();
        let rebalance = b.find("rebalance, 6").unwrap();
        assert!(restart < rebalance, "{b}");
    }

    #[test]
    fn scrolling_stops_at_the_oldest_line() {
        let snap = fixture::snapshot();
        assert_eq!(max_scroll(&snap, 4), 3);
        assert_eq!(max_scroll(&snap, 40), 0);
    }
}
