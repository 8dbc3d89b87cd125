//! The header line: scenario, seed, delivery variant, simulated time against the
//! producing duration, speed and run state, then a progress bar over the rest of the
//! width.

use super::Ctx;
use crate::fmt;
use mqlab_sim::Snapshot;
use mqlab_sim::snapshot::Phase;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// `running`, `paused`, `draining` or `finished`, as the header shows it.
#[must_use]
pub fn state_label(snap: &Snapshot, paused: bool) -> &'static str {
    match (snap.phase, paused) {
        (Phase::Finished, _) => "■ finished",
        (_, true) => "‖ paused",
        (Phase::Draining, false) => "▶ draining",
        (Phase::Producing, false) => "▶ running",
    }
}

/// Renders the header into the first line of `area`.
pub fn render(snap: &Snapshot, ctx: &Ctx, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let sep = || Span::styled(" │ ", t.dim());
    let finished = snap.phase == Phase::Finished;
    // Live state first: a narrow terminal cuts the seed and variant, never the state.
    let mut spans = vec![
        Span::styled(" mqlab ", t.title()),
        sep(),
        Span::styled(snap.scenario.clone(), t.header()),
        sep(),
        Span::styled(state_label(snap, ctx.paused), t.state(ctx.paused, finished)),
        sep(),
        Span::styled(fmt::clock(snap.now), t.value()),
        Span::styled(
            format!(" / {}", fmt::clock(mqlab_sim::SimTime(snap.duration.0))),
            t.dim(),
        ),
        sep(),
        Span::styled(ctx.speed.to_string(), t.value()),
        sep(),
        Span::styled("seed ", t.dim()),
        Span::styled(snap.seed.to_string(), t.value()),
        sep(),
        Span::styled(snap.delivery.clone(), t.value()),
        Span::raw(" "),
    ];
    let used: usize = spans.iter().map(Span::width).sum();
    let room = usize::from(area.width).saturating_sub(used + 1);
    if room >= 10 {
        // Progress over the whole run including the drain; the part before the
        // producers stop is drawn heavier so the drain reads as a separate phase.
        #[allow(clippy::cast_precision_loss)] // display only
        let frac = |t: u64| {
            if snap.end.0 == 0 {
                0.0
            } else {
                t as f64 / snap.end.0 as f64
            }
        };
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let cells = |f: f64| ((f * room as f64).round() as usize).min(room);
        let done = cells(frac(snap.now.0));
        let producing = cells(frac(snap.duration.0)).max(1);
        let bar: String = (0..room)
            .map(|i| match (i < done, i < producing) {
                (true, _) => '━',
                (false, true) => '─',
                (false, false) => '┄',
            })
            .collect();
        let split = bar.char_indices().nth(done).map_or(bar.len(), |(b, _)| b);
        spans.push(Span::styled(bar[..split].to_string(), t.produced()));
        spans.push(Span::styled(bar[split..].to_string(), t.dim()));
    }
    Line::from(spans).render(area, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    #[test]
    fn header_at_80_columns() {
        let snap = fixture::snapshot();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(80, 1, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn header_at_200_columns_shows_progress_and_pause() {
        let snap = fixture::snapshot();
        let ctx = Ctx {
            paused: true,
            ..Ctx::plain(testing::theme())
        };
        let b = testing::render(200, 1, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }
}
