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

/// `running`, `paused`, `draining`, `finished` or `stopped` (by the memory guard, before
/// its end: the log says where), as the header shows it.
#[must_use]
pub fn state_label(snap: &Snapshot, paused: bool) -> &'static str {
    match (snap.phase, paused) {
        (Phase::Finished, _) if snap.stopped.is_some() => "■ stopped",
        (Phase::Finished, _) => "■ finished",
        (_, true) => "‖ paused",
        (Phase::Draining, false) => "▶ draining",
        (Phase::Producing, false) => "▶ running",
    }
}

/// The widest state label (`■ finished`).
const STATE_W: usize = 10;
/// The widest speed label (`×1024`, `×0.01`).
const SPEED_W: usize = 5;
/// The widest delivery label (`at-least-once`).
const DELIVERY_W: usize = 13;

/// Renders the header into the first line of `area`.
pub fn render(snap: &Snapshot, ctx: &Ctx, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let sep = || Span::styled(" │ ", t.dim());
    let finished = snap.phase == Phase::Finished;
    // Live state first: a narrow terminal cuts the seed and variant, never the state.
    // Every field padded to the widest value it can take in this run, so the header
    // keeps its layout (and the progress bar its start) as the numbers change.
    // The widest clock of the run: its end, or just before it (`119.9s` against `120s`).
    let clock_w = [snap.end, mqlab_sim::SimTime(snap.end.0.saturating_sub(1))]
        .map(|t| fmt::clock(t).chars().count())
        .into_iter()
        .max()
        .unwrap_or(4);
    let seed_w = snap.seed.to_string().len().max(6);
    let mut spans = vec![
        Span::styled(" mqlab ", t.title()),
        sep(),
        Span::styled(snap.scenario.clone(), t.header()),
        sep(),
        Span::styled(
            format!("{:<STATE_W$}", state_label(snap, ctx.paused)),
            t.state(ctx.paused, finished),
        ),
        sep(),
        Span::styled(format!("{:>clock_w$}", fmt::clock(snap.now)), t.value()),
        Span::styled(
            format!(" / {}", fmt::clock(mqlab_sim::SimTime(snap.duration.0))),
            t.dim(),
        ),
        sep(),
        Span::styled(format!("{:<SPEED_W$}", ctx.speed), t.value()),
        sep(),
        Span::styled("seed ", t.dim()),
        Span::styled(format!("{:<seed_w$}", snap.seed), t.value()),
        sep(),
        Span::styled(format!("{:<DELIVERY_W$}", snap.delivery), t.value()),
        Span::raw(" "),
    ];
    // Narrow (80 columns): the program's name gives way so the variant stays whole.
    if spans.iter().map(Span::width).sum::<usize>() > usize::from(area.width) {
        spans.splice(..2, [Span::raw(" ")]);
    }
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
    fn header_keeps_its_layout_as_time_speed_and_state_change() {
        // Where the progress bar starts: the column after the last separator's field.
        let bar_start = |snap: &Snapshot, ctx: &Ctx| {
            let b = testing::render(160, 1, |a, buf| render(snap, ctx, a, buf));
            let row: Vec<String> = (0..160)
                .map(|x| b.buffer()[(x, 0)].symbol().to_string())
                .collect();
            row.iter()
                .position(|c| ["━", "─", "┄"].contains(&c.as_str()))
                .unwrap_or_else(|| panic!("no bar: {}", row.concat()))
        };
        let base = fixture::snapshot();
        let plain = Ctx::plain(testing::theme());
        let want = bar_start(&base, &plain);
        for (now_ms, phase, paused, speed, delivery) in [
            (0, Phase::Producing, false, "×4", "at-least-once"),
            (119_900, Phase::Draining, false, "×4", "at-least-once"),
            (9_900, Phase::Producing, true, "×0.01", "mixed"),
            (61_000, Phase::Draining, false, "×1024", "compare ×3"),
            (120_000, Phase::Finished, false, "max", "=1"),
        ] {
            let mut snap = base.clone();
            snap.now = mqlab_sim::SimTime(now_ms * 1_000_000);
            snap.phase = phase;
            snap.delivery = delivery.into();
            let ctx = Ctx {
                paused,
                speed,
                ..plain
            };
            let b = testing::render(160, 1, |a, buf| render(&snap, &ctx, a, buf));
            assert_eq!(
                bar_start(&snap, &ctx),
                want,
                "at {now_ms}ms {speed} {delivery}\n{b:?}"
            );
        }
    }

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
