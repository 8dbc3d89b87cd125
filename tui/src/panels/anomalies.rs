//! The anomaly picker (`a`) and the history pop-up: the example ids of each group's
//! anomalies, and the steps of the chosen message's life, one per row.

use super::Ctx;
use super::overlay::centered;
use crate::control::{Example, History};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

/// Renders the picker with `selected` highlighted, scrolled to keep it visible.
pub fn picker(ctx: &Ctx, examples: &[Example], selected: usize, area: Rect, buf: &mut Buffer) {
    let items: Vec<String> = examples
        .iter()
        .map(|e| {
            format!(
                "{:<16} {:<13} message {:<10} ({} in all)",
                e.group,
                e.anomaly.replace('_', " "),
                e.id,
                e.count
            )
        })
        .collect();
    let title = ("anomalies", "↑↓ choose, Enter history, Esc close ");
    super::overlay::menu(ctx, &items, selected, (66, title), area, buf);
}

/// Renders the history of `example` (`None`: still being traced) from row `scroll` on.
pub fn history(
    ctx: &Ctx,
    example: &Example,
    history: Option<&History>,
    scroll: usize,
    area: Rect,
    buf: &mut Buffer,
) {
    let t = ctx.theme;
    let r = centered(area, area.width.saturating_sub(2), area.height);
    Clear.render(r, buf);
    let rows = usize::from(r.height.saturating_sub(2)).max(1);
    let lines: Vec<Line> = match history {
        None => vec![Line::styled(
            format!(" re-running the run following message {}…", example.id),
            t.dim(),
        )],
        Some(Err(e)) => vec![Line::styled(format!(" {e}"), t.bad())],
        Some(Ok(events)) => events
            .iter()
            .skip(scroll)
            .take(rows)
            .map(|e| {
                Line::from(vec![
                    Span::styled(format!(" {:>11.6}s ", e.t_s), t.dim()),
                    Span::raw(format!("{:<22} ", e.component)),
                    Span::styled(format!("{:<18} ", e.event), t.key()),
                    Span::raw(e.detail.clone()),
                ])
            })
            .collect(),
    };
    let title = format!(
        "message {} of {} ({})",
        example.id,
        example.group,
        example.anomaly.replace('_', " ")
    );
    let focused = Ctx {
        focused: true,
        ..*ctx
    };
    Paragraph::new(lines)
        .block(focused.block(focused.title(
            &title,
            vec![Span::styled(
                "↑↓ PgUp PgDn scroll, Esc back, q close ",
                t.dim(),
            )],
        )))
        .render(r, buf);
}
