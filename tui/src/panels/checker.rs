//! The checker so far: processed, lost, duplicated, out-of-order, dead-lettered and
//! dropped copies, each coloured by whether its `[expect]` bound still holds, and the
//! other expectations (latency, lag) below when there is room. `lost` counts copies
//! already known lost; the final figure is only known after the drain.

use super::{Ctx, inner};
use crate::fmt;
use mqlab_sim::Snapshot;
use mqlab_sim::summary::Expectation;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

/// The counted classes: label, short label, expectation name, value.
fn rows(snap: &Snapshot) -> [(&'static str, &'static str, &'static str, u64); 6] {
    let c = &snap.counts;
    [
        ("processed", "done", "processed", c.processed),
        ("lost", "lost", "lost", c.lost_known),
        ("duplicated", "dup", "duplicated", c.duplicated),
        ("out of order", "ooo", "out_of_order", c.out_of_order),
        ("dead-letter", "dlq", "dead_lettered", c.dead_lettered),
        ("dropped", "drop", "dropped", c.dropped),
    ]
}

/// Whether every expectation holds so far: `None` when the scenario states none.
#[must_use]
pub fn verdict(snap: &Snapshot) -> Option<bool> {
    (!snap.expectations.is_empty()).then(|| snap.expectations.iter().all(|e| e.ok))
}

fn styled(ctx: &Ctx, e: Option<&Expectation>, value: u64) -> (Style, &'static str) {
    let t = ctx.theme;
    match e {
        Some(e) if !e.ok => (t.bad(), "✗"),
        Some(_) => (t.good(), "✓"),
        None if value == 0 => (t.dim(), " "),
        None => (t.value(), " "),
    }
}

/// Renders the checker panel.
pub fn render(snap: &Snapshot, ctx: &Ctx, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let (label, style) = match verdict(snap) {
        Some(true) => ("✓ expectations hold", t.good()),
        Some(false) => ("✗ expectation failed", t.bad()),
        None => ("no [expect]", t.dim()),
    };
    let block = ctx.block(ctx.title("checker", vec![Span::styled(format!("{label} "), style)]));
    block.render(area, buf);
    let Some(area) = inner(area) else { return };
    let find = |check: &str| snap.expectations.iter().find(|e| e.check == check);
    // A short panel (80x24) packs two classes per line under short labels.
    let packed = usize::from(area.height) < rows(snap).len() && area.width >= 28;
    let cells: Vec<Vec<Span>> = rows(snap)
        .iter()
        .map(|&(label, short, check, value)| {
            let e = find(check);
            let (style, mark) = styled(ctx, e, value);
            let mut spans = if packed {
                vec![
                    Span::styled(format!("{short:<5}"), t.dim()),
                    Span::styled(format!("{:>6}", fmt::count(value)), style),
                ]
            } else {
                vec![
                    Span::styled(format!("{label:<12}"), t.dim()),
                    Span::styled(format!("{:>7}", fmt::count(value)), style),
                ]
            };
            spans.push(Span::styled(format!(" {mark}"), style));
            if let Some(e) = e.filter(|_| !packed) {
                spans.push(Span::styled(
                    format!(" {}", fmt::bound(&e.expected)),
                    t.dim(),
                ));
            }
            spans
        })
        .collect();
    let mut lines: Vec<Line> = if !packed {
        cells.into_iter().map(Line::from).collect()
    } else {
        cells
            .chunks(2)
            .map(|pair| {
                let mut spans = Vec::new();
                for (i, cell) in pair.iter().enumerate() {
                    let w: usize = cell.iter().map(Span::width).sum();
                    spans.extend(cell.iter().cloned());
                    if i == 0 {
                        spans.push(Span::raw(
                            " ".repeat(usize::from(area.width / 2).saturating_sub(w)),
                        ));
                    }
                }
                Line::from(spans)
            })
            .collect()
    };
    let counted = [
        "processed",
        "lost",
        "duplicated",
        "out_of_order",
        "dead_lettered",
        "dropped",
    ];
    for e in snap
        .expectations
        .iter()
        .filter(|e| !counted.contains(&e.check.as_str()))
    {
        let (style, mark) = styled(ctx, Some(e), 1);
        lines.push(Line::from(vec![
            Span::styled(format!("{:<12}", e.check.replace('_', " ")), t.dim()),
            Span::styled(format!("{:>7}", e.actual), style),
            Span::styled(format!(" {mark}"), style),
            Span::styled(format!(" {}", fmt::bound(&e.expected)), t.dim()),
        ]));
    }
    Paragraph::new(lines).render(area, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    #[test]
    fn checker_marks_the_failing_bound() {
        let snap = fixture::snapshot();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(36, 10, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn checker_packs_two_per_line_when_short() {
        let snap = fixture::snapshot();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(34, 6, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn verdict_is_none_without_expectations() {
        let mut snap = fixture::snapshot();
        assert_eq!(verdict(&snap), Some(false));
        snap.expectations.clear();
        assert_eq!(verdict(&snap), None);
    }
}
