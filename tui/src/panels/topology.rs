//! Topology: for each topic or queue, the producers writing to it and the consumer
//! groups reading it, each instance marked up (●/○ busy/idle), crashed (✖) or slow (◐).
//! The symbols carry the state on their own, so it reads without colour too. A service
//! (a group that publishes) shows `→ topic` after its instances: a pipeline reads as a
//! chain of topics.

use super::{Ctx, inner};
use crate::fmt;
use mqlab_sim::Snapshot;
use mqlab_sim::snapshot::{InstanceState, InstanceView};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

fn instance<'a>(ctx: &Ctx, i: &InstanceView) -> Span<'a> {
    let t = ctx.theme;
    match (i.state, i.busy) {
        (InstanceState::Down, _) => Span::styled("✖", t.bad()),
        (InstanceState::Slow, _) => Span::styled("◐", t.warn()),
        (InstanceState::Up, true) => Span::styled("●", t.good()),
        (InstanceState::Up, false) => Span::styled("○", t.good()),
    }
}

/// Renders the topology panel.
pub fn render(snap: &Snapshot, ctx: &Ctx, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let down = snap
        .groups
        .iter()
        .flat_map(|g| &g.instances)
        .filter(|i| i.state == InstanceState::Down)
        .count()
        + snap.producers.iter().filter(|p| !p.up).count();
    let extra = if down > 0 {
        vec![Span::styled(format!("{down} down "), t.bad())]
    } else {
        vec![Span::styled("all up ", t.good())]
    };
    let block = ctx.block(ctx.title("topology", extra));
    block.render(area, buf);
    let Some(area) = inner(area) else { return };
    let mut lines = Vec::new();
    for topic in &snap.topics {
        let mut head = vec![Span::styled(topic.name.clone(), t.value())];
        if topic.depth.len() > 1 {
            head.push(Span::styled(format!(" ×{}", topic.depth.len()), t.dim()));
        }
        // Topic and its producers share a line: one row more for groups at 80x24.
        let mut producers = head;
        producers.push(Span::styled(" ◀ ", t.dim()));
        for p in snap.producers.iter().filter(|p| p.topic == topic.name) {
            let style = if p.up { t.produced() } else { t.bad() };
            producers.push(Span::styled(p.name.clone(), style));
            producers.push(if p.up {
                Span::raw(" ")
            } else {
                Span::styled(" ✖ ", t.bad())
            });
            if p.blocked > 0 {
                producers.push(Span::styled(
                    format!("(blocked {}) ", fmt::count(p.blocked)),
                    t.warn(),
                ));
            }
        }
        lines.push(Line::from(producers));
        // Groups packed on wrapped lines: six groups still fit an 80x24 panel.
        // Groups with a crashed or slow instance first, so a fault is never cut off.
        let mut groups: Vec<_> = snap
            .groups
            .iter()
            .filter(|g| g.topic == topic.name)
            .collect();
        groups.sort_by_key(|g| g.instances.iter().all(|i| i.state == InstanceState::Up));
        let mut spans = vec![Span::styled(" ▶ ", t.dim())];
        for g in groups {
            spans.push(Span::styled(g.name.clone(), t.processed()));
            spans.push(Span::raw(" "));
            spans.extend(g.instances.iter().map(|i| instance(ctx, i)));
            // A service: where what it processes goes next.
            if !g.outputs.is_empty() {
                spans.push(Span::styled(format!(" → {}", g.outputs.join(",")), t.dim()));
            }
            spans.push(Span::raw("  "));
        }
        lines.push(Line::from(spans));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(area, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    #[test]
    fn topology_marks_crashed_and_slow_instances() {
        let snap = fixture::snapshot();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(40, 7, |a, buf| render(&snap, &ctx, a, buf));
        insta::assert_snapshot!(b);
    }
}
