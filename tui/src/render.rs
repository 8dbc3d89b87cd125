//! Drawing the whole screen from `App` state: `impl Widget for &App` (ratatui demo2's
//! shape) places the header, the six panels (or the compare columns), the key bar and any
//! pop-up, or a clear message when the terminal is below the minimum size.

use crate::app::{App, Overlay};
use crate::layout::{self, MIN_HEIGHT, MIN_WIDTH, Panel};
use crate::panels::{
    Ctx, anomalies, checker, compare, events, groups, header, keybar, latency, overlay, pipeline,
    throughput, topology,
};
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if layout::too_small(area) {
            too_small(self, area, buf);
            return;
        }
        let zoom = (self.zoom && !self.compare).then_some(self.focus);
        let areas = layout::areas(area, zoom);
        let speed = self.speed.label();
        let base = Ctx {
            theme: self.theme,
            focused: false,
            detail: false,
            log_scroll: self.log_scroll,
            p99_history: &self.p99_history,
            paused: self.paused,
            speed: &speed,
            faults: self.frame.as_ref().map_or(&[][..], |f| f.faults.as_slice()),
            whole_run: self.whole_run,
        };
        let Some(frame) = &self.frame else {
            Line::styled(" mqlab  starting the engine…", self.theme.title())
                .render(areas.header, buf);
            keybar::render(&base, self.status.as_deref(), areas.keybar, buf);
            return;
        };
        let snap = &frame.snapshots[0];
        if self.compare {
            let mut head = snap.clone();
            head.delivery = "compare ×3".into();
            header::render(&head, &base, areas.header, buf);
            compare::render(&frame.snapshots, &base, areas.body, buf);
        } else {
            header::render(snap, &base, areas.header, buf);
            for (panel, rect) in Panel::ALL.iter().zip(areas.panels) {
                if rect.area() == 0 {
                    continue;
                }
                let ctx = Ctx {
                    focused: *panel == self.focus,
                    detail: zoom.is_some(),
                    ..base
                };
                let draw = match panel {
                    Panel::Throughput => throughput::render,
                    Panel::Latency => latency::render,
                    Panel::Groups => groups::render,
                    Panel::Checker => checker::render,
                    Panel::Topology => topology::render,
                    Panel::Events => events::render,
                };
                draw(snap, &ctx, rect, buf);
            }
        }
        let faults = self.faults.len();
        let status = self
            .status
            .clone()
            .or_else(|| (faults > 0).then(|| format!("{faults} fault(s) injected; e exports")));
        keybar::render(&base, status.as_deref(), areas.keybar, buf);
        match self.overlay {
            Overlay::None => {}
            Overlay::Help => overlay::help(&base, self.help_scroll, areas.body, buf),
            Overlay::Pipeline => {
                if let Some(snap) = self.snapshot() {
                    pipeline::render(&base, snap, areas.body, buf);
                }
            }
            Overlay::Faults(selected) => {
                let choices = self.fault_menu_choices(selected);
                overlay::faults(&base, &choices, selected, areas.body, buf);
            }
            Overlay::Anomalies(selected) => {
                anomalies::picker(&base, &self.picker.examples, selected, areas.body, buf);
            }
            Overlay::History(_, scroll) => {
                if let Some((example, history)) = &self.picker.traced {
                    anomalies::history(&base, example, history.as_ref(), scroll, areas.body, buf);
                }
            }
        }
    }
}

fn too_small(app: &App, area: Rect, buf: &mut Buffer) {
    let t = app.theme;
    let lines = vec![
        Line::from(Span::styled("terminal too small", t.bad())),
        Line::from(format!(
            "{}x{} here; mqlab tui needs at least {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::from(Span::styled(
            "enlarge the window, or press q to quit",
            t.dim(),
        )),
    ];
    let [r] = Layout::vertical([Constraint::Length(4)])
        .flex(Flex::Center)
        .areas(area);
    Paragraph::new(lines)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .render(r, buf);
}

#[cfg(test)]
mod tests {
    use crate::app::App;
    use crate::control::{AppEvent, Frame};
    use crate::fixture;
    use crate::theme::Theme;
    use mqlab_sim::Scenario;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    const SOURCE: &str = "name = \"food-delivery\"\nseed = 7\nduration = \"60s\"\n\
        [[topic]]\nname = \"orders\"\npartitions = 3\n\
        [[producer]]\nname = \"checkout\"\ntopic = \"orders\"\nrate = 1000\n\
        [[producer]]\nname = \"mobile\"\ntopic = \"orders\"\nrate = 200\n\
        [[consumer]]\ngroup = \"payments\"\ntopic = \"orders\"\ninstances = 3\n\
        [[consumer]]\ngroup = \"analytics\"\ntopic = \"orders\"\n";

    fn app(theme: Theme) -> App {
        let scenario = Scenario::from_toml(SOURCE, "food.toml").unwrap();
        let mut app = App::new(&scenario, SOURCE, "food.toml", 7, theme);
        app.handle_event(AppEvent::Snapshot(Frame {
            generation: 0,
            snapshots: vec![fixture::snapshot()],
            faults: fixture::fault_windows(),
        }));
        app
    }

    fn draw(app: &App, w: u16, h: u16) -> TestBackend {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| f.render_widget(app, f.area())).unwrap();
        t.backend().clone()
    }

    fn key(app: &mut App, c: KeyCode) {
        app.handle_event(AppEvent::Key(KeyEvent::new(c, KeyModifiers::NONE)));
    }

    #[test]
    fn dashboard_at_80x24() {
        insta::assert_snapshot!(draw(&app(Theme::new(true)), 80, 24));
    }

    #[test]
    fn dashboard_at_200x60() {
        insta::assert_snapshot!(draw(&app(Theme::new(true)), 200, 60));
    }

    #[test]
    fn too_small_says_so_and_how_to_fix_it() {
        insta::assert_snapshot!(draw(&app(Theme::new(true)), 60, 20));
    }

    #[test]
    fn compare_mode_at_80x24() {
        let mut a = app(Theme::new(true));
        key(&mut a, KeyCode::Char('c'));
        a.handle_event(AppEvent::Snapshot(Frame {
            generation: 1,
            snapshots: vec![
                fixture::variant("at-most-once", 0, 37),
                fixture::variant("at-least-once", 14, 0),
                fixture::variant("exactly-once", 0, 0),
            ],
            faults: fixture::fault_windows(),
        }));
        insta::assert_snapshot!(draw(&a, 80, 24));
    }

    #[test]
    fn zoomed_groups_panel_shows_partitions() {
        let mut a = app(Theme::new(true));
        key(&mut a, KeyCode::Tab);
        key(&mut a, KeyCode::Tab);
        key(&mut a, KeyCode::Enter);
        insta::assert_snapshot!(draw(&a, 80, 24));
    }

    #[test]
    fn fault_menu_over_the_dashboard() {
        let mut a = app(Theme::new(true));
        key(&mut a, KeyCode::Char('f'));
        insta::assert_snapshot!(draw(&a, 80, 24));
    }

    /// Characters that draw lines rather than say something: borders, axes, braille
    /// chart dots and block bars. The help explains the rest.
    fn is_drawing(c: char) -> bool {
        matches!(c, '\u{2500}'..='\u{257F}' | '\u{2580}'..='\u{259F}' | '\u{2800}'..='\u{28FF}')
            && !matches!(c, '━' | '┄')
    }

    #[test]
    fn the_help_explains_every_symbol_the_dashboard_draws() {
        let help = draw_help();
        let mut screens = Vec::new();
        let mut a = app(Theme::new(true));
        a.paused = true;
        screens.push(draw(&a, 200, 60).to_string());
        key(&mut a, KeyCode::Char('f'));
        screens.push(draw(&a, 200, 60).to_string());
        let mut a = app(Theme::new(true));
        key(&mut a, KeyCode::Char('c'));
        screens.push(draw(&a, 120, 40).to_string());
        let mut missing: Vec<char> = screens
            .iter()
            .flat_map(|s| s.chars())
            .filter(|&c| !c.is_ascii() && !is_drawing(c) && !help.contains(c))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        assert!(missing.is_empty(), "not in the help: {missing:?}");
        for glyph in [
            "○", "●", "✖", "▶", "=1", "≥1", "≤1", "◐", "◀", "✓", "✗", "‖", "■",
        ] {
            assert!(help.contains(glyph), "{glyph} not in the help");
        }
    }

    /// The help alone, tall enough to hold all of it.
    fn draw_help() -> String {
        let ctx = crate::panels::Ctx::plain(Theme::new(true));
        crate::panels::testing::render(100, 60, |a, buf| {
            crate::panels::overlay::help(&ctx, 0, a, buf);
        })
        .to_string()
    }

    #[test]
    fn no_color_draws_the_same_text_without_any_colour() {
        let coloured = draw(&app(Theme::new(true)), 80, 24);
        let plain = draw(&app(Theme::new(false)), 80, 24);
        for cell in plain.buffer().content() {
            assert_eq!(cell.fg, ratatui::style::Color::Reset, "{cell:?}");
            assert_eq!(cell.bg, ratatui::style::Color::Reset, "{cell:?}");
        }
        // Same words; only the chart's processed line changes marker without colour.
        let text = |b: &TestBackend| b.to_string().lines().take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(
            text(&coloured),
            text(&plain).replace("• processed", "━ processed")
        );
    }
}
