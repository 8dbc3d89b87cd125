//! Pop-ups drawn over the dashboard: the help (`?`) and the fault menu (`f`), whose
//! choices come from the current snapshot (every instance, every group, every producer).

use super::Ctx;
use crate::control::FaultSpec;
use mqlab_sim::scenario::FaultKind;
use mqlab_sim::{SimDuration, Snapshot};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

/// How long a menu crash keeps its target down.
pub const CRASH_FOR: SimDuration = SimDuration::from_secs(5);
/// How long a menu slow-down lasts, and by how much.
pub const SLOW_FOR: SimDuration = SimDuration::from_secs(10);
/// Service-time multiplier of a menu slow-down.
pub const SLOW_FACTOR: f64 = 10.0;
/// Messages in a menu poison burst.
pub const POISON_COUNT: u64 = 20;
/// How long a menu dependency outage of a message type lasts.
pub const OUTAGE_FOR: SimDuration = SimDuration::from_secs(10);

/// Every fault the menu offers for this topology, in a stable order: per group each
/// instance's crash and slow-down, then the whole group's crash; then a poison burst
/// per producer; then, with several brokers, each broker's crash; last, a dependency
/// outage per producer (its message type: what a circuit breaker is for); then the
/// operator's actions: a replay of each log group from its earliest retained offset, a
/// redrive of each queue group's dead letters.
#[must_use]
pub fn fault_choices(snap: &Snapshot) -> Vec<FaultSpec> {
    let spec = |kind, target: String, duration, factor, count| FaultSpec {
        kind,
        target,
        duration,
        factor,
        count,
    };
    let mut v = Vec::new();
    for g in &snap.groups {
        for i in 0..g.instances.len() {
            let target = format!("{}/{i}", g.name);
            v.push(spec(
                FaultKind::Crash,
                target.clone(),
                Some(CRASH_FOR),
                None,
                None,
            ));
            v.push(spec(
                FaultKind::Slow,
                target,
                Some(SLOW_FOR),
                Some(SLOW_FACTOR),
                None,
            ));
        }
        if g.instances.len() > 1 {
            v.push(spec(
                FaultKind::Crash,
                g.name.clone(),
                Some(CRASH_FOR),
                None,
                None,
            ));
        }
    }
    for p in &snap.producers {
        v.push(spec(
            FaultKind::Poison,
            p.name.clone(),
            None,
            None,
            Some(POISON_COUNT),
        ));
    }
    if snap.brokers.len() > 1 {
        for n in 0..snap.brokers.len() {
            let target = format!("broker/{n}");
            v.push(spec(
                FaultKind::BrokerCrash,
                target,
                Some(CRASH_FOR),
                None,
                None,
            ));
        }
    }
    for p in &snap.producers {
        v.push(spec(
            FaultKind::Outage,
            p.name.clone(),
            Some(OUTAGE_FOR),
            None,
            None,
        ));
    }
    for g in &snap.groups {
        if g.replayable {
            v.push(spec(FaultKind::Replay, g.name.clone(), None, None, None));
        }
        if g.redrivable {
            v.push(spec(FaultKind::Redrive, g.name.clone(), None, None, None));
        }
    }
    v
}

/// A centred rectangle of at most `w` × `h` inside `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [r] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(r);
    r
}

/// The help text: every key.
const HELP: [(&str, &str); 21] = [
    ("space", "pause / resume"),
    (". or →", "step 100ms of simulated time"),
    ("+ / -", "faster / slower"),
    ("m", "flat out (again: back to paced)"),
    ("f", "fault menu (pauses): ↑↓ fault, ←→ duration"),
    ("d", "next delivery: ≤1, ≥1, =1, the scenario's own"),
    ("c", "compare the three variants side by side"),
    ("w", "throughput: whole run / the latest 30s"),
    ("a", "anomalies: an example's message history"),
    ("v", "pipeline: stages, e2e p99, breakers, sagas"),
    ("e", "export scenario + injected faults"),
    ("r", "restart, same seed, faults replayed"),
    ("n", "new seed (derived from the current one)"),
    ("x", "forget injected faults and restart"),
    ("Tab / ⇧Tab", "focus next / previous panel"),
    ("click", "focus the panel under the mouse"),
    ("Enter", "zoom the focused panel"),
    ("↑ ↓ PgUp PgDn", "scroll the event log (or wheel)"),
    ("End", "follow the newest events"),
    ("?", "this help"),
    ("q / Esc", "quit (Esc closes a pop-up first)"),
];

/// Every symbol the dashboard draws, and what it means.
pub const SYMBOLS: [(&str, &str); 15] = [
    ("▶ ‖ ■", "header: running / paused / finished"),
    ("━━──┄┄", "progress: done, producing, drain"),
    ("○ ●", "instance up: idle / busy"),
    ("◐ ✖", "instance slow / down (✖: producer down)"),
    ("◀", "topology: producers writing the topic"),
    ("▶", "groups reading it (menus: the selection)"),
    ("→", "a service: the topic it publishes to"),
    ("×6", "topic: partitions; header: speed ×4"),
    ("=1 ≥1 ≤1", "exactly- / at-least- / at-most-once"),
    ("✓ ✗", "an [expect] check holds / fails"),
    ("≤0 ≤50ms", "the [expect] bound it is held to"),
    ("━ on axis", "a fault window (shaded in colour), labelled"),
    ("⣀⠔⠉", "chart lines (• processed without colour)"),
    ("▁▃▅█ ▏▌█", "sparklines over time; bars to scale"),
    ("↑3", "event log scrolled back 3 entries"),
];

/// The help's lines: the keys, then the symbols.
fn help_lines(ctx: &Ctx) -> Vec<Line<'static>> {
    let t = ctx.theme;
    let row = |(k, v): &(&str, &'static str)| {
        Line::from(vec![
            Span::styled(format!(" {k:>13} "), t.key()),
            Span::raw(*v),
        ])
    };
    let mut lines: Vec<Line> = HELP.iter().map(row).collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled("        symbols", t.title()));
    lines.extend(SYMBOLS.iter().map(row));
    lines
}

/// How far the help scrolls with `rows` of `area` free for it.
#[must_use]
pub fn help_max_scroll(area: Rect) -> usize {
    let lines = HELP.len() + 2 + SYMBOLS.len();
    lines.saturating_sub(usize::from(area.height.saturating_sub(2)))
}

/// Renders the help pop-up over `area`, scrolled down `scroll` lines.
pub fn help(ctx: &Ctx, scroll: usize, area: Rect, buf: &mut Buffer) {
    let t = ctx.theme;
    let lines = help_lines(ctx);
    let h = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let r = centered(area, 64, h);
    Clear.render(r, buf);
    let scroll = scroll.min(help_max_scroll(area));
    let hint = if help_max_scroll(area) > 0 {
        "↑↓ scroll, any other key closes "
    } else {
        "any key closes "
    };
    let focused = Ctx {
        focused: true,
        ..*ctx
    };
    Paragraph::new(lines)
        .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0))
        .block(focused.block(focused.title("keys and symbols", vec![Span::styled(hint, t.dim())])))
        .render(r, buf);
}

/// Renders the fault menu with `selected` highlighted, scrolled to keep it visible.
pub fn faults(ctx: &Ctx, choices: &[FaultSpec], selected: usize, area: Rect, buf: &mut Buffer) {
    let items: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let d = c.describe();
            // The selected fault's duration is the one ←→ change.
            if i == selected && c.duration.is_some() {
                format!("{d}  ←→")
            } else {
                d
            }
        })
        .collect();
    let title = (
        "inject a fault (paused)",
        "↑↓ choose, ←→ duration, Enter inject, Esc close ",
    );
    menu(ctx, &items, selected, (76, title), area, buf);
}

/// A centred pop-up list of `items` (`width` wide) with `selected` marked `▶` and kept in
/// view, titled `(title, key hint)`: the fault menu and the anomaly picker.
pub fn menu(
    ctx: &Ctx,
    items: &[String],
    selected: usize,
    (width, (title, hint)): (u16, (&str, &str)),
    area: Rect,
    buf: &mut Buffer,
) {
    let t = ctx.theme;
    let want = u16::try_from(items.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let r = centered(area, width, want.max(3));
    Clear.render(r, buf);
    let rows = usize::from(r.height.saturating_sub(2)).max(1);
    let first = selected.saturating_sub(rows - 1);
    let lines: Vec<Line> = items
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, item)| {
            let text = format!(" {item} ");
            if i == selected {
                Line::styled(format!("▶{text}"), t.selected())
            } else {
                Line::raw(format!(" {text}"))
            }
        })
        .collect();
    let focused = Ctx {
        focused: true,
        ..*ctx
    };
    Paragraph::new(lines)
        .block(focused.block(focused.title(title, vec![Span::styled(hint, t.dim())])))
        .render(r, buf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use crate::panels::testing;

    #[test]
    fn fault_menu_lists_instances_groups_and_producers() {
        let snap = fixture::snapshot();
        let names: Vec<String> = fault_choices(&snap)
            .iter()
            .map(FaultSpec::describe)
            .collect();
        assert_eq!(
            names,
            [
                "crash payments/0 for 5s",
                "slow payments/0 ×10 for 10s",
                "crash payments/1 for 5s",
                "slow payments/1 ×10 for 10s",
                "crash payments/2 for 5s",
                "slow payments/2 ×10 for 10s",
                "crash payments for 5s",
                "crash analytics/0 for 5s",
                "slow analytics/0 ×10 for 10s",
                "poison checkout: next 20 messages",
                "poison mobile: next 20 messages",
                "outage checkout for 10s",
                "outage mobile for 10s",
            ]
        );
    }

    #[test]
    fn fault_menu_offers_replay_on_a_log_group_and_redrive_on_a_queue_group() {
        let mut snap = fixture::snapshot();
        snap.groups[0].replayable = true;
        snap.groups[1].redrivable = true;
        let choices = fault_choices(&snap);
        let names: Vec<String> = choices.iter().map(FaultSpec::describe).collect();
        assert_eq!(
            &names[names.len() - 2..],
            ["replay payments", "redrive analytics"]
        );
        // Each is an instant the engine takes as a scenario entry.
        let replay = choices[choices.len() - 2]
            .to_config(mqlab_sim::SimTime(5))
            .expect("parses");
        assert_eq!(*replay.kind.get_ref(), FaultKind::Replay);
        assert_eq!(replay.duration, None);
    }

    #[test]
    fn fault_menu_offers_broker_crashes_when_there_are_several_brokers() {
        let mut snap = fixture::snapshot();
        snap.brokers = vec![true, true, false];
        let names: Vec<String> = fault_choices(&snap)
            .iter()
            .map(FaultSpec::describe)
            .collect();
        assert_eq!(
            &names[names.len() - 5..names.len() - 2],
            [
                "broker-crash broker/0 for 5s",
                "broker-crash broker/1 for 5s",
                "broker-crash broker/2 for 5s"
            ]
        );
    }

    #[test]
    fn fault_menu_popup() {
        let snap = fixture::snapshot();
        let choices = fault_choices(&snap);
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(60, 10, |a, buf| faults(&ctx, &choices, 9, a, buf));
        insta::assert_snapshot!(b);
    }

    #[test]
    fn help_scrolls_to_the_symbols_when_short() {
        let ctx = Ctx::plain(testing::theme());
        let area = Rect::new(0, 0, 80, 22);
        assert!(help_max_scroll(area) > 0);
        let b = testing::render(80, 22, |a, buf| help(&ctx, usize::MAX, a, buf));
        let text = b.to_string();
        assert!(text.contains("↑↓ scroll"), "{text}");
        assert!(text.contains("event log scrolled back"), "{text}");
    }

    #[test]
    fn help_popup() {
        let ctx = Ctx::plain(testing::theme());
        let b = testing::render(70, 40, |a, buf| help(&ctx, 0, a, buf));
        insta::assert_snapshot!(b);
    }
}
