//! Lag and depth per consumer group, with a bar against the largest lag on screen; per
//! partition (or queue) lag, and which instance owns it, when there is room or the panel
//! is zoomed; then each topic's depth.

use super::{Ctx, inner};
use crate::fmt;
use mqlab_sim::Snapshot;
use mqlab_sim::snapshot::GroupView;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Widget};

/// Short names of the delivery variants, for narrow columns.
#[must_use]
pub fn short_delivery(d: &str) -> &str {
    match d {
        "at-most-once" => "≤1",
        "at-least-once" => "≥1",
        "exactly-once" => "=1",
        other => other,
    }
}

/// Which instance of `g` owns partition `p`, as `group/i`.
fn owner(g: &GroupView, p: u32) -> Option<String> {
    g.instances
        .iter()
        .position(|i| i.partitions.contains(&p))
        .map(|i| format!("{}/{i}", g.name))
}

/// Renders the lag/depth panel.
pub fn render(snap: &Snapshot, ctx: &Ctx, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let total: u64 = snap.groups.iter().map(|g| g.lag).sum();
    let block = ctx.block(ctx.title(
        "lag & depth",
        vec![
            Span::styled("total lag ", t.dim()),
            Span::styled(fmt::count(total), t.value()),
            Span::raw(" "),
        ],
    ));
    block.render(area, buf);
    let Some(area) = inner(area) else { return };
    // Zoomed on a pipeline: each stage's end-to-end p99 after its max.
    let e2e = ctx.detail && snap.groups.iter().any(|g| g.end_to_end_p99_s > 0.0);
    let e2e_w = if e2e { 18 } else { 0 };
    let rows = usize::from(area.height);
    let (shown, hidden) = visible(snap, rows);
    let partitions: usize = shown.iter().map(|g| g.partition_lag.len()).sum();
    let rows_needed = shown.len() + partitions + snap.topics.len();
    let show_partitions = ctx.detail || rows_needed <= rows;
    // Names whole while the row has room for them and a bar of at least 4 cells:
    // name, variant, lag value, bar, then "max" value or (with partitions) the owner,
    // which is the group's name and `/i`.
    let width = usize::from(area.width);
    let longest = snap
        .groups
        .iter()
        .map(|g| g.name.chars().count())
        .chain(snap.topics.iter().map(|t| t.name.chars().count()))
        .max()
        .unwrap_or(4)
        .max(4);
    let tail = |name_w: usize| {
        if show_partitions {
            (name_w + 4).max(11)
        } else {
            11
        }
    };
    let fixed = |name_w: usize| name_w + 1 + 3 + 7 + 1 + tail(name_w) + e2e_w;
    let mut name_w = longest;
    while name_w > 8 && fixed(name_w) + 4 > width {
        name_w -= 1;
    }
    let bar_w = width.saturating_sub(fixed(name_w)).max(4);
    #[allow(clippy::cast_precision_loss)] // display only
    let scale = snap
        .groups
        .iter()
        .map(|g| g.max_lag.max(g.lag))
        .max()
        .unwrap_or(0)
        .max(1) as f64;

    let mut lines = Vec::new();
    for g in shown {
        let lag_style = if g.lag > 0 && g.lag * 2 >= g.max_lag.max(1) {
            t.warn()
        } else {
            t.value()
        };
        #[allow(clippy::cast_precision_loss)]
        let bar = fmt::bar(g.lag as f64, scale, bar_w);
        let mut row = vec![
            Span::styled(format!("{:<name_w$.name_w$} ", g.name), t.processed()),
            Span::styled(format!("{:<3}", short_delivery(&g.delivery)), t.dim()),
            Span::styled(format!("{:>7}", fmt::count(g.lag)), lag_style),
            Span::raw(" "),
            Span::styled(bar, t.lag()),
            Span::styled(" max ", t.dim()),
            Span::styled(format!("{:<5}", fmt::count(g.max_lag)), t.value()),
        ];
        if e2e && g.end_to_end_p99_s > 0.0 {
            // A pipeline stage: how long from the root's send to here, at p99.
            row.push(Span::styled("e2e p99 ", t.dim()));
            row.push(Span::styled(fmt::secs(g.end_to_end_p99_s), t.value()));
        }
        lines.push(Line::from(row));
        if show_partitions && g.partition_lag.len() > 1 {
            for (p, &lag) in g.partition_lag.iter().enumerate() {
                let p32 = u32::try_from(p).unwrap_or(u32::MAX);
                #[allow(clippy::cast_precision_loss)]
                let bar = fmt::bar(lag as f64, scale, bar_w);
                lines.push(Line::from(vec![
                    Span::styled(format!("{:>w$} ", format!("p{p}"), w = name_w + 3), t.dim()),
                    Span::styled(format!("{:>7}", fmt::count(lag)), t.value()),
                    Span::raw(" "),
                    Span::styled(bar, t.lag()),
                    Span::styled(
                        format!(" {}", owner(g, p32).unwrap_or_else(|| "unowned".into())),
                        t.dim(),
                    ),
                ]));
            }
        }
    }
    if hidden > 0 {
        lines.push(Line::styled(
            format!("+{hidden} quieter group(s): Enter zooms"),
            t.dim(),
        ));
    }
    for topic in &snap.topics {
        let depth: u64 = topic.depth.iter().sum();
        let mut spans = vec![
            Span::styled(format!("{:<name_w$.name_w$} ", topic.name), t.produced()),
            Span::styled("depth ", t.dim()),
            Span::styled(fmt::count(depth), t.value()),
        ];
        if topic.depth.len() > 1 {
            let parts: Vec<String> = topic.depth.iter().map(|&d| fmt::count(d)).collect();
            spans.push(Span::styled(format!("  [{}]", parts.join(" ")), t.dim()));
        }
        lines.push(Line::from(spans));
    }
    let used = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    Paragraph::new(lines).render(area, buf);
    if let Some(rest) = below(area, used + 1) {
        history(snap, ctx, name_w, rest, buf);
    }
}

/// The groups that fit in `rows` (leaving one row to say how many are hidden): all of
/// them, or those with the largest lag, kept in scenario order so rows do not jump.
fn visible(snap: &Snapshot, rows: usize) -> (Vec<&GroupView>, usize) {
    let n = snap.groups.len();
    if n <= rows {
        return (snap.groups.iter().collect(), 0);
    }
    let keep = rows.saturating_sub(1);
    let mut by_lag: Vec<usize> = (0..n).collect();
    // Ties go to the earlier group, so the choice is stable frame to frame.
    by_lag.sort_by_key(|&i| (std::cmp::Reverse(snap.groups[i].lag), i));
    let mut chosen: Vec<usize> = by_lag.into_iter().take(keep).collect();
    chosen.sort_unstable();
    (chosen.iter().map(|&i| &snap.groups[i]).collect(), n - keep)
}

/// The part of `area` from row `from` down, if any.
fn below(area: Rect, from: u16) -> Option<Rect> {
    (area.height > from).then(|| Rect {
        y: area.y + from,
        height: area.height - from,
        ..area
    })
}

/// With room to spare (200x60), each group's lag over the run as a sparkline.
fn history(snap: &Snapshot, ctx: &Ctx, name_w: usize, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let n = u16::try_from(snap.groups.len()).unwrap_or(u16::MAX).max(1);
    let h = (area.height / n).min(5);
    if h < 2 {
        return;
    }
    let label_w = u16::try_from(name_w + 5).unwrap_or(20);
    // One scale for every group, so a steady lag of 3 does not look like a backlog.
    let top = snap
        .series
        .lag_by_group
        .values()
        .flatten()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    for (i, g) in (0..n).zip(&snap.groups) {
        let row = Rect {
            y: area.y + i * h,
            height: h - 1,
            ..area
        };
        Line::from(vec![
            Span::styled(format!("{:<name_w$.name_w$} ", g.name), t.processed()),
            Span::styled("lag", t.dim()),
        ])
        .render(
            Rect {
                width: label_w,
                ..row
            },
            buf,
        );
        let plot = Rect {
            x: row.x + label_w,
            width: row.width.saturating_sub(label_w),
            ..row
        };
        let data = snap
            .series
            .lag_by_group
            .get(&g.name)
            .map_or(&[][..], Vec::as_slice);
        let from = data.len().saturating_sub(usize::from(plot.width));
        Sparkline::default()
            .data(&data[from..])
            .max(top)
            .style(t.lag())
            .render(plot, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    #[test]
    fn groups_compact_when_short() {
        let snap = fixture::snapshot();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(48, 6, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn groups_that_do_not_fit_leave_the_most_lagging_on_screen() {
        let mut snap = fixture::snapshot();
        for (i, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            let mut g = snap.groups[1].clone();
            g.name = name.into();
            g.lag = 10 * i as u64;
            snap.groups.push(g);
        }
        let (shown, hidden) = visible(&snap, 4);
        let names: Vec<&str> = shown.iter().map(|g| g.name.as_str()).collect();
        assert_eq!((names, hidden), (vec!["payments", "c", "d"], 3));
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(48, 6, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn group_names_are_whole_while_the_row_has_room() {
        let mut snap = fixture::snapshot();
        snap.groups[1].name = "driver-assignment".into();
        let ctx = Ctx::plain(testing::theme());
        // The 80x24 layout's lag panel is 46 wide: room for the name and a bar.
        let b = testing::render(46, 6, |a, buf| render(&snap, &ctx, a, buf)).to_string();
        assert!(b.contains("driver-assignment ≥1"), "{b}");
        // Narrower, the name gives way before the bar disappears.
        let b = testing::render(34, 6, |a, buf| render(&snap, &ctx, a, buf)).to_string();
        assert!(b.contains("driver-a"), "{b}");
        assert!(b.contains('█') || b.contains('▉'), "{b}");
    }

    #[test]
    fn groups_add_lag_history_when_tall() {
        let snap = fixture::snapshot();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(60, 20, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn groups_show_partitions_and_owners_when_zoomed() {
        let snap = fixture::snapshot();
        let ctx = Ctx {
            detail: true,
            focused: true,
            ..Ctx::plain(testing::theme())
        };
        let b = testing::render(60, 12, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }
}
