//! Fault windows on a time chart: after a `Chart` has drawn, the columns of each fault's
//! span are shaded (with colour), marked on the time axis (`━`, also without colour) and
//! labelled with the fault where there is room. Reads only the buffer the chart drew and
//! the windows; never the engine.

use super::Ctx;
use crate::control::FaultWindow;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

/// The plot of a `Chart` drawn in `inner` (its block's inner area): the cells right of
/// the y axis and above the x axis. Found from the axes' corner `└`, which the chart
/// draws where they meet, rather than by re-deriving ratatui's layout rules.
#[must_use]
pub fn plot_area(buf: &Buffer, inner: Rect) -> Option<Rect> {
    for y in (inner.top()..inner.bottom()).rev() {
        for x in inner.left()..inner.right() {
            if buf.cell((x, y)).is_some_and(|c| c.symbol() == "└") {
                let plot = Rect {
                    x: x + 1,
                    y: inner.y,
                    width: inner.right().saturating_sub(x + 1),
                    height: y.saturating_sub(inner.y),
                };
                return (plot.area() > 0).then_some(plot);
            }
        }
    }
    None
}

/// The column of time `t_s` on a plot spanning `x0..=x1` seconds.
fn column(plot: Rect, (x0, x1): (f64, f64), t_s: f64) -> u16 {
    let frac = ((t_s - x0) / (x1 - x0).max(1e-9)).clamp(0.0, 1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // within the plot
    let off = (frac * f64::from(plot.width.saturating_sub(1))).round() as u16;
    plot.x + off
}

/// Marks `ctx.faults` on the chart whose plot is `plot`, spanning `x0..=x1` seconds. A
/// window still open runs to `now_s`. Labels go on the plot's top row from the window's
/// first column, up to the next window's first column or the plot's edge.
pub fn mark(ctx: &Ctx, plot: Rect, (x0, x1): (f64, f64), now_s: f64, buf: &mut Buffer) {
    let t = ctx.theme;
    let spans: Vec<(u16, u16, &FaultWindow)> = ctx
        .faults
        .iter()
        .filter_map(|w| {
            let start = w.start.as_secs_f64();
            let end = w
                .end
                .map_or(start, |e| e.as_secs_f64().min(now_s.max(start)));
            (end >= x0 && start <= x1).then(|| {
                let a = column(plot, (x0, x1), start.max(x0));
                let b = column(plot, (x0, x1), end.min(x1)).max(a);
                (a, b, w)
            })
        })
        .collect();
    let axis_y = plot.bottom();
    for &(a, b, _) in &spans {
        for x in a..=b {
            for y in plot.top()..plot.bottom() {
                if let Some(c) = buf.cell_mut((x, y)) {
                    c.set_style(t.fault_shade());
                }
            }
            if let Some(c) = buf.cell_mut((x, axis_y))
                && c.symbol() == "─"
            {
                c.set_symbol("━").set_style(t.fault_mark());
            }
        }
    }
    for (i, &(a, _, w)) in spans.iter().enumerate() {
        let limit = spans
            .get(i + 1)
            .map_or(plot.right(), |&(next, _, _)| next.max(a));
        let room = usize::from(limit - a);
        if room < 2 {
            continue;
        }
        // The whole label, else its kind alone (`crash`), else nothing.
        let kind = w.label.split(' ').next().unwrap_or("");
        let text = [w.label.as_str(), kind]
            .into_iter()
            .find(|s| s.chars().count() <= room)
            .unwrap_or("");
        buf.set_string(a, plot.top(), text, t.fault_mark());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::panels::testing;
    use mqlab_sim::SimTime;
    use ratatui::text::Span;
    use ratatui::widgets::{Axis, Chart, Dataset, Widget};

    fn window(from_s: u64, to_s: Option<u64>, label: &str) -> FaultWindow {
        FaultWindow {
            start: SimTime(from_s * 1_000_000_000),
            end: to_s.map(|s| SimTime(s * 1_000_000_000)),
            label: label.into(),
        }
    }

    fn chart(area: Rect, buf: &mut Buffer) {
        let data = [(0.0, 1.0), (40.0, 1.0)];
        Chart::new(vec![Dataset::default().data(&data)])
            .x_axis(
                Axis::default()
                    .bounds([0.0, 40.0])
                    .labels([Span::raw("0s"), Span::raw("40s")]),
            )
            .y_axis(
                Axis::default()
                    .bounds([0.0, 2.0])
                    .labels([Span::raw("0"), Span::raw("2/s")]),
            )
            .render(area, buf);
    }

    #[test]
    fn the_plot_is_found_right_of_and_above_the_axes() {
        let b = testing::render(44, 8, |a, buf| {
            chart(a, buf);
            let plot = plot_area(buf, a).unwrap();
            assert_eq!(plot, Rect::new(4, 0, 40, 6), "{plot:?}");
        });
        drop(b);
    }

    #[test]
    fn fault_windows_are_shaded_marked_on_the_axis_and_labelled() {
        let faults = [
            window(10, Some(20), "crash analytics"),
            window(30, None, "poison checkout"),
        ];
        let ctx = Ctx {
            faults: &faults,
            ..Ctx::plain(testing::theme())
        };
        let b = testing::render(44, 8, |a, buf| {
            chart(a, buf);
            let plot = plot_area(buf, a).unwrap();
            mark(&ctx, plot, (0.0, 40.0), 40.0, buf);
        });
        insta::assert_snapshot!(b);
        // Shaded: the crash's columns (10 s..20 s of 40 s over 40 columns) have the
        // fault background, the columns before it do not.
        let buf = b.buffer();
        assert_eq!(buf[(20, 3)].bg, testing::theme().fault_shade().bg.unwrap());
        assert_ne!(buf[(8, 3)].bg, testing::theme().fault_shade().bg.unwrap());
    }

    #[test]
    fn a_window_still_open_runs_to_now_and_one_outside_the_view_is_not_drawn() {
        let faults = [
            window(2, Some(60), "slow payments/0"),
            window(50, None, "x"),
        ];
        let ctx = Ctx {
            faults: &faults,
            ..Ctx::plain(ratatui_theme_plain())
        };
        let b = testing::render(44, 8, |a, buf| {
            chart(a, buf);
            let plot = plot_area(buf, a).unwrap();
            mark(&ctx, plot, (0.0, 40.0), 25.0, buf);
        });
        let axis: String = (0..44)
            .map(|x| b.buffer()[(x, 6)].symbol().to_string())
            .collect();
        // 2 s..25 s of 0..40 s over 40 columns: columns 6..=28 heavy, the rest light.
        assert_eq!(axis.matches('━').count(), 23, "{axis}");
        assert!(b.to_string().contains("slow payments/0"), "{b:?}");
        assert!(!b.to_string().contains(" x "), "{b:?}");
    }

    fn ratatui_theme_plain() -> crate::theme::Theme {
        crate::theme::Theme::new(false)
    }
}
