//! The dashboard's panels, one file each under `panels/`. Every panel renders from an
//! owned `Snapshot` plus a small `Ctx` of UI state (theme, focus, scroll) into a buffer:
//! no clock, no I/O, no engine, so each is a pure function that tests can snapshot.

pub mod anomalies;
pub mod checker;
pub mod compare;
pub mod events;
pub mod groups;
pub mod header;
pub mod keybar;
pub mod latency;
pub mod overlay;
pub mod pipeline;
pub mod sections;
pub mod throughput;
pub mod topology;
pub mod windows;

use crate::control::FaultWindow;
use crate::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

/// The UI state a panel may read besides the snapshot.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    /// Styles.
    pub theme: Theme,
    /// This panel has the keyboard focus.
    pub focused: bool,
    /// This panel fills the body (Enter on a focused panel): show detail.
    pub detail: bool,
    /// Event log: lines scrolled back from the newest.
    pub log_scroll: usize,
    /// Latency sparkline: p99 in ns at each completed series bucket.
    pub p99_history: &'a [u64],
    /// The header's run state.
    pub paused: bool,
    /// The header's speed label.
    pub speed: &'a str,
    /// The faults that have started, for the charts to mark.
    pub faults: &'a [FaultWindow],
    /// The throughput chart shows the whole run so far, not the latest window (`w`).
    pub whole_run: bool,
}

impl Ctx<'_> {
    /// A plain context (no focus, no scroll), for tests and compare columns.
    #[must_use]
    pub fn plain(theme: Theme) -> Ctx<'static> {
        Ctx {
            theme,
            focused: false,
            detail: false,
            log_scroll: 0,
            p99_history: &[],
            paused: false,
            speed: "×4",
            faults: &[],
            whole_run: false,
        }
    }

    /// The bordered block every panel sits in; the focused one is highlighted.
    #[must_use]
    pub fn block<'t>(&self, title: Line<'t>) -> Block<'t> {
        Block::bordered()
            .border_type(if self.focused {
                BorderType::Thick
            } else {
                BorderType::Rounded
            })
            .border_style(self.theme.border(self.focused))
            .title(title)
    }

    /// A title: the name in the title style, then dimmed extra spans.
    #[must_use]
    pub fn title<'t>(&self, name: &'t str, extra: Vec<Span<'t>>) -> Line<'t> {
        let mut spans = if name.is_empty() {
            vec![Span::raw(" ")]
        } else {
            vec![Span::styled(format!(" {name} "), self.theme.title())]
        };
        spans.extend(extra);
        Line::from(spans)
    }
}

/// The inner area of a bordered panel, or `None` when nothing fits inside.
#[must_use]
pub fn inner(area: Rect) -> Option<Rect> {
    (area.width > 2 && area.height > 2).then(|| Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width - 2,
        height: area.height - 2,
    })
}

#[cfg(test)]
pub(crate) mod testing {
    //! Renders one panel into a `TestBackend` for snapshot tests.
    use crate::theme::Theme;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;
    use ratatui::layout::Rect;

    /// Renders `f` into a `width` × `height` test terminal and returns the backend.
    pub fn render(width: u16, height: u16, f: impl Fn(Rect, &mut Buffer)) -> TestBackend {
        let mut t = Terminal::new(TestBackend::new(width, height)).unwrap();
        t.draw(|frame| {
            let area = frame.area();
            f(area, frame.buffer_mut());
        })
        .unwrap();
        t.backend().clone()
    }

    /// The colour theme (snapshots show text; a separate test covers `NO_COLOR`).
    pub fn theme() -> Theme {
        Theme::new(true)
    }
}
