//! The patterns' live sections (`Snapshot::sections`), drawn without knowing any pattern:
//! per section its title and what it shows, each row as `name: column value, ...` (states
//! coloured by their tone), each check marked ✓ or ✗ with what it observed. Compact, as
//! it shares the pipeline pop-up with the stages.

use super::Ctx;
use crate::fmt;
use mqlab_sim::section::{Cell, Section, SectionTable, Tone};
use mqlab_sim::size::human_bytes;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// The lines of `sections`, in order (none for none).
#[must_use]
pub fn lines(ctx: &Ctx, sections: &[Section]) -> Vec<Line<'static>> {
    let t = ctx.theme;
    let mut v = Vec::new();
    for s in sections {
        v.push(Line::from(vec![
            Span::styled(format!(" {} ", s.title), t.title()),
            Span::raw(s.about.clone()),
        ]));
        for table in &s.tables {
            if !table.title.is_empty() {
                v.push(Line::styled(format!("  {}", table.title), t.dim()));
            }
            v.extend(table.rows.iter().map(|r| row(ctx, table, r)));
        }
        for c in &s.checks {
            let (mark, style) = if c.held {
                ("✓", t.good())
            } else {
                ("✗", t.bad())
            };
            v.push(Line::from(vec![
                Span::styled(format!("   {mark} "), style),
                Span::raw(format!("{}: {}", c.name, c.observed)),
            ]));
        }
    }
    v
}

/// `   name: column value, column value`; without a leading text cell every cell is a
/// `column value` pair.
fn row(ctx: &Ctx, table: &SectionTable, cells: &[Cell]) -> Line<'static> {
    let mut spans = vec![Span::raw("   ")];
    let named = cells.first().is_some_and(Cell::is_text);
    if let (true, Some(first)) = (named, cells.first()) {
        spans.push(Span::raw(format!("{}: ", cell(first))));
    }
    let start = usize::from(named);
    for (i, (c, column)) in cells.iter().zip(&table.columns).enumerate().skip(start) {
        if i > start {
            spans.push(Span::raw(", "));
        }
        spans.push(Span::raw(format!("{column} ")));
        spans.push(Span::styled(cell(c), style(ctx, c)));
    }
    Line::from(spans)
}

/// A state's tone as a colour; other cells plain.
fn style(ctx: &Ctx, c: &Cell) -> Style {
    match c {
        Cell::State(_, Tone::Good) => ctx.theme.good(),
        Cell::State(_, Tone::Warn) => ctx.theme.warn(),
        Cell::State(_, Tone::Bad) => ctx.theme.bad(),
        _ => Style::default(),
    }
}

/// A cell as the dashboard shows it: compact counts and rates, durations as
/// `SimDuration` prints them.
fn cell(c: &Cell) -> String {
    match c {
        Cell::Text(s) | Cell::State(s, _) => s.clone(),
        Cell::Count(n) => fmt::count(*n),
        Cell::Seconds(s) => fmt::secs(*s),
        Cell::Time(s) => format!("{s:.3}s"),
        Cell::Ratio(r) => format!("{:.1}%", r * 100.0),
        Cell::Bytes(b) => human_bytes(*b),
        Cell::Rate(r) => fmt::rate(*r),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // display only
        Cell::ByteRate(r) => format!("{}/s", human_bytes(*r as u64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panels::testing;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;
    use ratatui::widgets::{Paragraph, Widget};

    /// Issue 13: a made-up pattern's section (no shipped pattern has it) draws every
    /// figure, its state in its tone's colour and its failing check marked, with no change
    /// here.
    #[test]
    fn a_made_up_section_renders_without_renderer_changes() {
        let ctx = Ctx::plain(testing::theme());
        let lines = lines(&ctx, &[Section::example()]);
        let b = testing::render(160, 8, |a: Rect, buf: &mut Buffer| {
            Paragraph::new(lines.clone()).render(a, buf);
        });
        let text = b.to_string();
        for figure in [
            "Rate limiter",
            "Per limiter: requests let through",
            "edge: state throttling, allowed 9120, refused 880, share 91.2%, wait p99 12.5ms",
            "since 12.500s, rate 456/s, bytes 2.5MB, bytes/s 125.0KB/s",
            "Refusals by client",
            "mobile: refused 700",
            "✗ refused share: 8.8%",
        ] {
            assert!(text.contains(figure), "{figure}:\n{text}");
        }
        let state = lines[1]
            .spans
            .iter()
            .find(|s| s.content == "throttling")
            .unwrap();
        assert_eq!(state.style, ctx.theme.warn());
    }
}
