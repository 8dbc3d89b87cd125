//! The bottom bar: the key bindings that matter right now, and on the right a status
//! message (an injected fault, an export, an error) when there is one.

use super::Ctx;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// The bindings shown, most important first; the bar drops the tail when narrow.
const KEYS: [(&str, &str); 12] = [
    ("space", "pause"),
    ("→", "step"),
    ("+/-", "speed"),
    ("m", "max"),
    ("f", "fault"),
    ("d", "delivery"),
    ("c", "compare"),
    ("e", "export"),
    ("r", "restart"),
    ("n", "new seed"),
    ("?", "help"),
    ("q", "quit"),
];

/// Renders the key bar; `status` wins over bindings for the space it needs.
pub fn render(ctx: &Ctx, status: Option<&str>, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let width = usize::from(area.width);
    let status_w = status.map_or(0, |s| s.chars().count() + 2).min(width);
    let mut spans = Vec::new();
    let mut used = 0;
    // `?` and `q` must always be visible: reserve them before the rest.
    let tail_w: usize = KEYS[10..]
        .iter()
        .map(|(k, l)| k.chars().count() + l.len() + 3)
        .sum();
    for (i, (key, label)) in KEYS.iter().enumerate() {
        let w = key.chars().count() + label.len() + 3;
        let reserve = if i < 10 { tail_w } else { 0 };
        if used + w + reserve + status_w > width {
            continue;
        }
        spans.push(Span::styled(format!(" {key}"), t.key()));
        spans.push(Span::styled(format!(" {label} "), t.dim()));
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
    fn keybar_shows_status_on_the_right() {
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(120, 1, |a, buf| {
            render(&ctx, Some("injected crash payments/1 at 12.3s"), a, buf);
        });
        insta::assert_snapshot!(b);
    }
}
