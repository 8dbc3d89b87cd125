//! Where each panel goes for a given terminal size: two columns up to 159 columns, three
//! from 160x40 (200x60 gets tall charts), the zoomed panel alone, and the smallest size
//! the dashboard accepts.

use ratatui::layout::{Constraint, Layout, Rect};

/// Smallest terminal the dashboard draws into.
pub const MIN_WIDTH: u16 = 80;
/// Smallest terminal the dashboard draws into.
pub const MIN_HEIGHT: u16 = 24;

/// The focusable panels, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    /// Produced vs processed.
    Throughput,
    /// Latency percentiles.
    Latency,
    /// Lag and depth per group.
    Groups,
    /// The checker.
    Checker,
    /// Producers → topics → groups.
    Topology,
    /// The event log.
    Events,
}

impl Panel {
    /// Tab order.
    pub const ALL: [Panel; 6] = [
        Panel::Throughput,
        Panel::Latency,
        Panel::Groups,
        Panel::Checker,
        Panel::Topology,
        Panel::Events,
    ];

    /// The next panel in Tab order (`back` for shift-Tab), wrapping.
    #[must_use]
    pub fn cycle(self, back: bool) -> Panel {
        let i = Panel::ALL.iter().position(|&p| p == self).unwrap_or(0);
        let n = Panel::ALL.len();
        Panel::ALL[if back { (i + n - 1) % n } else { (i + 1) % n }]
    }
}

/// The screen split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Areas {
    /// The header line.
    pub header: Rect,
    /// Everything between header and key bar.
    pub body: Rect,
    /// Each panel's rectangle, in `Panel::ALL` order.
    pub panels: [Rect; 6],
    /// The key bar.
    pub keybar: Rect,
}

/// True when `area` is too small to draw the dashboard.
#[must_use]
pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// Splits `area`; `zoom` gives one panel the whole body.
#[must_use]
pub fn areas(area: Rect, zoom: Option<Panel>) -> Areas {
    let [header, body, keybar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let panels = match zoom {
        Some(p) => {
            let mut all = [Rect::default(); 6];
            all[index(p)] = body;
            all
        }
        None if body.width >= 160 && body.height >= 38 => wide(body),
        None => narrow(body),
    };
    Areas {
        header,
        body,
        panels,
        keybar,
    }
}

fn index(p: Panel) -> usize {
    Panel::ALL.iter().position(|&q| q == p).unwrap_or(0)
}

/// Two columns in three rows: charts on top, state in the middle, topology and log below.
fn narrow(body: Rect) -> [Rect; 6] {
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Percentage(40),
        Constraint::Percentage(30),
        Constraint::Fill(1),
    ])
    .areas(body);
    let split = |r: Rect| -> [Rect; 2] {
        Layout::horizontal([Constraint::Percentage(58), Constraint::Fill(1)]).areas(r)
    };
    let [throughput, latency] = split(top);
    let [groups, checker] = split(middle);
    let [topology, events] =
        Layout::horizontal([Constraint::Percentage(42), Constraint::Fill(1)]).areas(bottom);
    [throughput, latency, groups, checker, topology, events]
}

/// Three columns: chart and lag left; latency, checker and topology in the middle; the
/// event log over the whole height on the right.
fn wide(body: Rect) -> [Rect; 6] {
    let [left, middle, events] = Layout::horizontal([
        Constraint::Percentage(45),
        Constraint::Percentage(25),
        Constraint::Fill(1),
    ])
    .areas(body);
    let [throughput, groups] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Fill(1)]).areas(left);
    // Latency: five rows and an 8-row sparkline; checker: six classes and a few bounds.
    let [latency, checker, topology] = Layout::vertical([
        Constraint::Length(15),
        Constraint::Length(12),
        Constraint::Fill(1),
    ])
    .areas(middle);
    [throughput, latency, groups, checker, topology, events]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_cycles_through_every_panel_both_ways() {
        let mut p = Panel::Throughput;
        for _ in 0..Panel::ALL.len() {
            p = p.cycle(false);
        }
        assert_eq!(p, Panel::Throughput);
        assert_eq!(Panel::Throughput.cycle(true), Panel::Events);
    }

    #[test]
    fn every_panel_gets_room_at_the_minimum_size() {
        let a = areas(Rect::new(0, 0, MIN_WIDTH, MIN_HEIGHT), None);
        for r in a.panels {
            assert!(r.width >= 20 && r.height >= 5, "{r:?}");
        }
    }

    #[test]
    fn zoom_gives_the_body_to_one_panel() {
        let a = areas(Rect::new(0, 0, 100, 30), Some(Panel::Groups));
        assert_eq!(a.panels[2], a.body);
        assert_eq!(a.panels[0], Rect::default());
    }
}
