//! The pipeline view (`v`): a scenario's services as stages in topological order, each
//! the topic it reads and the group reading it, with its lag, its processing rate and the
//! end-to-end p99 from the root message's intended send time. Built from the groups'
//! `outputs` in the snapshot, so it needs nothing from the engine beyond what the
//! topology panel already reads.

use super::Ctx;
use super::overlay::centered;
use crate::fmt;
use mqlab_sim::Snapshot;
use mqlab_sim::snapshot::GroupView;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

/// One stage: a group, how deep it sits (0: reads a topic no service writes), and the
/// topic it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage<'a> {
    /// Hops from a root topic.
    pub depth: usize,
    /// The group at this stage.
    pub group: &'a GroupView,
}

/// The scenario has services (some group publishes what it processes).
#[must_use]
pub fn has_pipeline(snap: &Snapshot) -> bool {
    snap.groups.iter().any(|g| !g.outputs.is_empty())
}

/// The groups in topological order: first those reading a topic no service writes (in
/// scenario order), then each group reading a topic written by a stage already placed,
/// breadth first. A group in a cycle is placed once, after what leads to it; groups that
/// nothing reaches come last at depth 0, so every group is shown exactly once.
#[must_use]
pub fn stages(snap: &Snapshot) -> Vec<Stage<'_>> {
    let written: Vec<&str> = snap
        .groups
        .iter()
        .flat_map(|g| g.outputs.iter().map(String::as_str))
        .collect();
    let mut placed = vec![false; snap.groups.len()];
    let mut out: Vec<Stage> = Vec::new();
    let mut frontier: Vec<(usize, &str)> = Vec::new();
    for (i, g) in snap.groups.iter().enumerate() {
        if !written.contains(&g.topic.as_str()) {
            placed[i] = true;
            out.push(Stage { depth: 0, group: g });
        }
    }
    let mut next = 0;
    loop {
        while next < out.len() {
            let s = &out[next];
            frontier.extend(s.group.outputs.iter().map(|o| (s.depth + 1, o.as_str())));
            next += 1;
        }
        let mut added = false;
        for (depth, topic) in std::mem::take(&mut frontier) {
            for (i, g) in snap.groups.iter().enumerate() {
                if !placed[i] && g.topic == topic {
                    placed[i] = true;
                    out.push(Stage { depth, group: g });
                    added = true;
                }
            }
        }
        if !added {
            // What is left sits on a cycle nothing outside it enters: start it afresh.
            match placed.iter().position(|p| !p) {
                Some(i) => {
                    placed[i] = true;
                    out.push(Stage {
                        depth: 0,
                        group: &snap.groups[i],
                    });
                }
                None => break,
            }
        }
    }
    out
}

/// Columns besides the stage name, with the borders: lag, done, rate, e2e p99.
const FIGURES: usize = 7 + 1 + 8 + 1 + 9 + 1 + 8 + 1 + 8 + 5;

/// A stage's name: `topic ▶ group → outputs`, indented by its depth.
fn stage_name(s: &Stage) -> String {
    let g = s.group;
    let mut name = format!("{}{} ▶ {}", "  ".repeat(s.depth), g.topic, g.name);
    if !g.outputs.is_empty() {
        name.push_str(" → ");
        name.push_str(&g.outputs.join(","));
    }
    name
}

/// The view's lines, the stage names `width` wide: a header row, then per stage its name
/// with lag, processed, rate, its own p99 and e2e p99.
fn lines(ctx: &Ctx, snap: &Snapshot, width: usize) -> Vec<Line<'static>> {
    let t = ctx.theme;
    #[allow(clippy::cast_precision_loss)] // display only
    let elapsed = snap.now.0 as f64 / 1e9;
    let mut v = vec![Line::styled(
        format!(
            " {:<width$} {:>7} {:>8} {:>9} {:>8} {:>8}",
            "stage", "lag", "done", "rate", "p99", "e2e p99"
        ),
        t.dim(),
    )];
    if !has_pipeline(snap) {
        v.push(Line::raw(" no services: no group publishes to a topic"));
        return v;
    }
    for s in stages(snap) {
        let g = s.group;
        let name = stage_name(&s);
        let rate = if elapsed > 0.0 {
            #[allow(clippy::cast_precision_loss)] // display only
            let r = g.processed as f64 / elapsed;
            fmt::rate(r)
        } else {
            "-".into()
        };
        let e2e = if g.end_to_end_p99_s > 0.0 {
            fmt::secs(g.end_to_end_p99_s)
        } else {
            "-".into()
        };
        let own = if g.stage_p99_s > 0.0 {
            fmt::secs(g.stage_p99_s)
        } else {
            "-".into()
        };
        let lag_style = if g.lag > 0 { t.lag() } else { t.dim() };
        v.push(Line::from(vec![
            Span::raw(format!(" {:<width$} ", clip(&name, width))),
            Span::styled(format!("{:>7} ", fmt::count(g.lag)), lag_style),
            Span::styled(format!("{:>8} ", fmt::count(g.processed)), t.processed()),
            Span::raw(format!("{rate:>9} ")),
            Span::styled(format!("{own:>8} "), t.latency()),
            Span::styled(format!("{e2e:>8} "), t.latency()),
        ]));
    }
    v
}

/// `s` cut to `width` characters, the last one `…` when cut.
fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(width.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

/// Renders the pipeline pop-up over `area`.
pub fn render(ctx: &Ctx, snap: &Snapshot, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    // The name column fits the longest stage name, as far as the screen allows.
    let longest = stages(snap)
        .iter()
        .map(|s| stage_name(s).chars().count())
        .max()
        .unwrap_or(0);
    let room = usize::from(area.width).saturating_sub(FIGURES + 2);
    let width = longest.clamp(34, 34.max(room)).min(room.max(10));
    let mut lines = lines(ctx, snap, width);
    // The patterns' live state, only for those the scenario uses: the lineage check per
    // stage output, breakers, held messages, sagas in progress.
    let patterns = super::sections::lines(ctx, &snap.sections());
    if !patterns.is_empty() {
        lines.push(Line::raw(""));
        lines.extend(patterns);
    }
    let h = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let w = u16::try_from(width + FIGURES).unwrap_or(u16::MAX);
    let r = centered(area, w, h);
    Clear.render(r, buf);
    let focused = Ctx {
        focused: true,
        ..*ctx
    };
    Paragraph::new(lines)
        .block(focused.block(focused.title(
            "pipeline",
            vec![Span::styled(
                "e2e from the root's send; any key closes ",
                t.dim(),
            )],
        )))
        .render(r, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    /// The fixture's `payments` publishes to `charges`; add `ledger` reading it, which
    /// itself publishes to `audit`, read by `auditors` (listed first, to check the order).
    fn pipeline() -> Snapshot {
        let mut snap = fixture::snapshot();
        let mut ledger = snap.groups[1].clone();
        ledger.name = "ledger".into();
        ledger.topic = "charges".into();
        ledger.outputs = vec!["audit".into()];
        ledger.lag = 7;
        ledger.processed = 900;
        ledger.end_to_end_p99_s = 0.120;
        ledger.stage_p99_s = 0.060;
        let mut auditors = snap.groups[1].clone();
        auditors.name = "auditors".into();
        auditors.topic = "audit".into();
        auditors.processed = 850;
        auditors.end_to_end_p99_s = 0.250;
        auditors.stage_p99_s = 0.110;
        snap.groups.insert(0, auditors);
        snap.groups.push(ledger);
        snap
    }

    #[test]
    fn stages_follow_the_topics_in_topological_order() {
        let snap = pipeline();
        let order: Vec<(usize, &str)> = stages(&snap)
            .iter()
            .map(|s| (s.depth, s.group.name.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                (0, "payments"),
                (0, "analytics"),
                (1, "ledger"),
                (2, "auditors")
            ]
        );
    }

    #[test]
    fn a_cycle_shows_every_group_once() {
        let mut snap = pipeline();
        // auditors now feeds payments' topic back: nothing is a root but analytics.
        snap.groups[0].outputs = vec![snap.groups[1].topic.clone()];
        let names: Vec<&str> = stages(&snap)
            .iter()
            .map(|s| s.group.name.as_str())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        for g in &snap.groups {
            assert!(names.contains(&g.name.as_str()), "{names:?}");
        }
    }

    #[test]
    fn no_services_says_so() {
        let mut snap = fixture::snapshot();
        for g in &mut snap.groups {
            g.outputs.clear();
        }
        assert!(!has_pipeline(&snap));
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(80, 8, |a, buf| render(&ctx, &snap, a, buf));
        assert!(b.to_string().contains("no services"), "{b}");
    }

    #[test]
    fn patterns_show_only_when_used() {
        use mqlab_sim::snapshot::{BreakerView, PatternsView};
        let mut snap = pipeline();
        let ctx = Ctx::plain(testing::theme());
        let plain = testing::render(80, 16, |a, buf| render(&ctx, &snap, a, buf)).to_string();
        assert!(
            !plain.contains("breakers") && !plain.contains("saga"),
            "{plain}"
        );
        let breaker = |t: &str, state| BreakerView {
            group: "payments".into(),
            message_type: t.into(),
            state,
            parked: 12,
        };
        snap.lineage = vec![mqlab_sim::summary::Expectation {
            check: "lineage ledger>audit".into(),
            expected: String::new(),
            actual: "published 880 + pending 20, expected 900, orphaned 0".into(),
            ok: true,
        }];
        snap.patterns = PatternsView {
            breakers: vec![
                breaker("checkout", "open"),
                breaker("mobile", "closed"),
                breaker("web", "half-open"),
            ],
            held: vec![("ledger".into(), 5)],
            sagas: vec![("order".into(), 3)],
        };
        let b = testing::render(80, 20, |a, buf| render(&ctx, &snap, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn pipeline_popup() {
        let snap = pipeline();
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(80, 10, |a, buf| render(&ctx, &snap, a, buf));
        insta::assert_snapshot!(b);
    }
}
