//! The bottom bar: the key bindings that matter right now, and on the right a status
//! message (an injected fault, an export, an error) when there is one.

use super::Ctx;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// The bindings shown, most important first; the bar drops the tail when narrow. The
/// space bar's label is the action it takes now (`pause` or `resume`), and `w`'s too.
const KEYS: [(&str, &str); 15] = [
    ("space", "pause"),
    ("→", "step"),
    ("+/-", "speed"),
    ("f", "fault"),
    ("w", "whole run"),
    ("d", "delivery"),
    ("m", "max"),
    ("c", "compare"),
    ("v", "pipeline"),
    ("a", "anomalies"),
    ("e", "export"),
    ("r", "restart"),
    ("n", "new seed"),
    ("?", "help"),
    ("q", "quit"),
];

/// How many of `KEYS` at the end are always shown.
const KEPT: usize = 2;

/// The label of `key` in the current state.
fn label<'a>(ctx: &Ctx, key: &str, label: &'a str) -> &'a str {
    match key {
        "space" if ctx.paused => "resume",
        "w" if ctx.whole_run => "last 30s",
        _ => label,
    }
}

/// Renders the key bar; `status` wins over bindings for the space it needs.
pub fn render(ctx: &Ctx, status: Option<&str>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let width = usize::from(area.width);
    let status_w = status.map_or(0, |s| s.chars().count() + 2).min(width);
    let mut spans = Vec::new();
    let mut used = 0;
    let cells = |(k, l): (&str, &str)| k.chars().count() + l.chars().count() + 3;
    // `?` and `q` must always be visible: reserve them before the rest.
    let tail_w: usize = KEYS[KEYS.len() - KEPT..]
        .iter()
        .map(|&(k, l)| cells((k, l)))
        .sum();
    for (i, &(key, l)) in KEYS.iter().enumerate() {
        let l = label(ctx, key, l);
        let w = cells((key, l));
        let reserve = if i < KEYS.len() - KEPT { tail_w } else { 0 };
        if used + w + reserve + status_w > width {
            continue;
        }
        spans.push(Span::styled(format!(" {key}"), t.key()));
        spans.push(Span::styled(format!(" {l} "), t.dim()));
        used += w;
    }
    if let Some(s) = status {
        spans.push(Span::raw(" ".repeat(width.saturating_sub(used + status_w))));
        spans.push(Span::styled(format!("{s}  "), t.value()));
    }
    Line::from(spans).render(area, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panels::testing;

    #[test]
    fn keybar_keeps_help_and_quit_when_narrow() {
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(50, 1, |a, buf| render(&ctx, None, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn keybar_says_resume_while_paused_and_last_30s_in_whole_run_view() {
        let running = Ctx::plain(testing::theme());
        let text =
            |ctx: &Ctx| testing::render(100, 1, |a, buf| render(ctx, None, a, buf)).to_string();
        let t = text(&running);
        assert!(
            t.contains("space pause ") && t.contains("w whole run"),
            "{t}"
        );
        let paused = Ctx {
            paused: true,
            whole_run: true,
            ..running
        };
        let t = text(&paused);
        assert!(t.contains("space resume ") && !t.contains("pause"), "{t}");
        assert!(t.contains("w last 30s"), "{t}");
    }

    #[test]
    fn keybar_shows_status_on_the_right() {
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(120, 1, |a, buf| {
            render(&ctx, Some("injected crash payments/1 at 12.3s"), a, buf);
        });
        insta::assert_snapshot!(b);
    }
}
