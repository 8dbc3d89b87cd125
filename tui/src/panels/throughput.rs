//! Throughput: produced vs processed per second as two lines over a sliding window of
//! the most recent time-series buckets.

use super::{Ctx, windows};
use crate::fmt;
use mqlab_sim::Snapshot;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Widget};

/// The most buckets the chart shows; older ones slide out on the left. A run has about
/// 120 buckets, so the window is half of it: the chart moves while the run plays.
const WINDOW_BUCKETS: usize = 60;

/// Renders the throughput chart.
pub fn render(snap: &Snapshot, ctx: &Ctx, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let s = &snap.series;
    let n = s.t_s.len();
    // A braille cell holds two samples across; never show more than the width can.
    let window = WINDOW_BUCKETS
        .min(usize::from(area.width.saturating_sub(10)) * 2)
        .max(2);
    // `w`: the whole run so far, squeezed into the width (several buckets a cell).
    let from = if ctx.whole_run {
        0
    } else {
        n.saturating_sub(window)
    };
    let points = |values: &[f64]| -> Vec<(f64, f64)> {
        s.t_s[from..]
            .iter()
            .zip(&values[from..])
            .map(|(&x, &y)| (x, y))
            .collect()
    };
    let produced = points(&s.produced_per_s);
    let processed = points(&s.processed_per_s);
    // Running: the latest bucket's rates. Finished: the run's throughput, as `mqlab run`
    // and the reports define it (over the producing period, the drain apart).
    let finished = snap.phase == mqlab_sim::snapshot::Phase::Finished;
    let (produced_now, processed_now) = if finished {
        (
            snap.throughput.produced_per_s,
            snap.throughput.processed_per_s,
        )
    } else {
        let last = |v: &[f64]| v.last().copied().unwrap_or(0.0);
        (last(&s.produced_per_s), last(&s.processed_per_s))
    };
    // Narrow (80 columns): the legend is the title.
    let name = if area.width >= 64 { "throughput" } else { "" };
    let title = ctx.title(
        name,
        vec![
            Span::styled("━ produced ", t.produced()),
            Span::styled(fmt::rate(produced_now), t.value()),
            Span::raw("  "),
            Span::styled(
                format!(
                    "{} processed {}",
                    if t.has_color() { "━" } else { "•" },
                    // Produced counts messages, processed counts each group's copy: with
                    // room, the legend says so, as the two share one axis.
                    if area.width >= 90 { "copies " } else { "" }
                ),
                t.processed(),
            ),
            Span::styled(fmt::rate(processed_now), t.value()),
            Span::raw(if finished { " while producing " } else { " " }),
        ],
    );
    let block = ctx.block(title);
    let inner = block.inner(area);
    if n == 0 {
        block.render(area, buf);
        Line::styled("waiting for the first bucket…", t.dim()).render(inner, buf);
        return;
    }
    let y_max = s.produced_per_s[from..]
        .iter()
        .chain(&s.processed_per_s[from..])
        .copied()
        .fold(1.0_f64, f64::max)
        * 1.1;
    let secs =
        |x: f64| fmt::clock(mqlab_sim::SimTime::ZERO + mqlab_sim::SimDuration::from_secs_f64(x));
    let x0 = if from == 0 { 0.0 } else { s.t_s[from - 1] };
    // The span shown, on the time axis's right: `whole run` or the window's length.
    let span = if ctx.whole_run {
        "whole run".to_string()
    } else {
        format!("last {}", secs(s.t_s[n - 1] - x0))
    };
    let x1 = s.t_s[n - 1].max(x0 + 1e-9);
    // Without colour the two lines must differ by shape: dots for processed.
    let processed_marker = if t.has_color() {
        Marker::Braille
    } else {
        Marker::Dot
    };
    let datasets = vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(t.produced())
            .data(&produced),
        Dataset::default()
            .marker(processed_marker)
            .graph_type(GraphType::Line)
            .style(t.processed())
            .data(&processed),
    ];
    Chart::new(datasets)
        .block(block)
        .x_axis(Axis::default().bounds([x0, x1]).style(t.dim()).labels([
            Span::raw(secs(x0)),
            Span::raw(format!("({span})")),
            Span::raw(secs(x1)),
        ]))
        .y_axis(
            Axis::default()
                .bounds([0.0, y_max])
                .style(t.dim())
                .labels([Span::raw("0"), Span::raw(fmt::rate(y_max / 1.1))]),
        )
        .render(area, buf);
    if let Some(plot) = windows::plot_area(buf, inner) {
        windows::mark(ctx, plot, (x0, x1), snap.now.as_secs_f64(), buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    #[test]
    fn throughput_chart_shows_the_stall_and_catch_up() {
        let snap = fixture::snapshot();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(60, 12, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn a_finished_run_shows_its_throughput_while_producing() {
        let mut snap = fixture::snapshot();
        snap.phase = mqlab_sim::snapshot::Phase::Finished;
        // The latest bucket is the drain's tail; the title is the run's figure instead.
        snap.throughput.processed_per_s = 961.0;
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(80, 12, |a, buf| render(&snap, &ctx, a, buf));
        let top = format!("{b:?}");
        assert!(top.contains("processed 961/s while producing"), "{top}");
    }

    #[test]
    fn whole_run_shows_every_bucket_and_says_so() {
        let mut snap = fixture::snapshot();
        snap.series = fixture::series(140);
        let ctx = Ctx::plain(testing::theme());
        let window = testing::render(80, 12, |a, buf| render(&snap, &ctx, a, buf)).to_string();
        // The sliding window starts 30 s before the last bucket (70 s).
        assert!(
            window.contains("40s") && window.contains("(last 30s)"),
            "{window}"
        );
        let ctx = Ctx {
            whole_run: true,
            ..ctx
        };
        let whole = testing::render(80, 12, |a, buf| render(&snap, &ctx, a, buf)).to_string();
        assert!(
            whole.contains(" 0s") && whole.contains("(whole run)"),
            "{whole}"
        );
        assert!(whole.contains("70s"), "{whole}");
    }

    #[test]
    fn fault_windows_are_marked_and_labelled_on_the_chart() {
        let snap = fixture::snapshot();
        let faults = fixture::fault_windows();
        let ctx = Ctx {
            faults: &faults,
            ..Ctx::plain(testing::theme())
        };
        let b = testing::render(80, 12, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
        assert!(b.to_string().contains("crash payments/1"), "{b:?}");
    }

    #[test]
    fn with_room_the_legend_says_processed_counts_copies() {
        let snap = fixture::snapshot();
        let ctx = Ctx::plain(testing::theme());
        let wide = testing::render(100, 12, |a, buf| render(&snap, &ctx, a, buf)).to_string();
        assert!(wide.contains("processed copies 1500/s"), "{wide}");
    }

    #[test]
    fn throughput_before_the_first_bucket_says_so() {
        let snap = fixture::empty();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(40, 5, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }
}
