//! The dashboard's palette: every style a panel uses comes from here, so `NO_COLOR` is
//! handled in one place. Owns no state beyond the colour switch; never reads the
//! environment (the binary decides and passes `color`).
//!
//! Colours are the terminal's own 16 ANSI colours, never fixed RGB or black/white
//! foregrounds, so the palette follows the user's dark or light scheme. Without colour
//! we fall back to modifiers only: crossterm 0.29 turns a colour change into a full
//! style reset, which would wipe bold and reversed text if we relied on it to strip
//! colours.

use ratatui::style::{Color, Modifier, Style};

/// Styles for every role on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// A theme with colours (`color = true`) or modifiers only (`NO_COLOR`).
    #[must_use]
    pub fn new(color: bool) -> Theme {
        Theme { color }
    }

    /// Whether colours are used at all.
    #[must_use]
    pub fn has_color(self) -> bool {
        self.color
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// Panel titles.
    #[must_use]
    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    /// A panel's border; the focused panel stands out.
    #[must_use]
    pub fn border(self, focused: bool) -> Style {
        if focused {
            self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
        } else {
            self.fg(Color::DarkGray)
        }
    }
    /// Secondary text: units, labels, hints.
    #[must_use]
    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    /// Plain emphasised values.
    #[must_use]
    pub fn value(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    /// Something that holds (an expectation, an instance that is up).
    #[must_use]
    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }
    /// Something that failed (an expectation, a crashed instance, a loss).
    #[must_use]
    pub fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    /// Something degraded (slow instance, lag building).
    #[must_use]
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }
    /// The produced series and producers.
    #[must_use]
    pub fn produced(self) -> Style {
        self.fg(Color::Cyan)
    }
    /// The processed series and consumer groups.
    #[must_use]
    pub fn processed(self) -> Style {
        self.fg(Color::Green)
    }
    /// Lag bars.
    #[must_use]
    pub fn lag(self) -> Style {
        self.fg(Color::Magenta)
    }
    /// Latency bars and sparkline.
    #[must_use]
    pub fn latency(self) -> Style {
        self.fg(Color::Blue)
    }
    /// A key in the key bar and help.
    #[must_use]
    pub fn key(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    /// The selected line of a menu.
    #[must_use]
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    /// The background of a fault window on a chart (nothing without colour: the window
    /// is then marked on the time axis and labelled instead).
    #[must_use]
    pub fn fault_shade(self) -> Style {
        if self.color {
            Style::new().bg(Color::Indexed(52))
        } else {
            Style::new()
        }
    }
    /// A fault window's label and its mark on the time axis.
    #[must_use]
    pub fn fault_mark(self) -> Style {
        self.fg(Color::LightRed).add_modifier(Modifier::BOLD)
    }
    /// The header bar.
    #[must_use]
    pub fn header(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }
    /// The run state label (running, paused, ...).
    #[must_use]
    pub fn state(self, paused: bool, finished: bool) -> Style {
        match (finished, paused) {
            (true, _) => self.fg(Color::Blue).add_modifier(Modifier::BOLD),
            (false, true) => self.fg(Color::Yellow).add_modifier(Modifier::REVERSED),
            (false, false) => self.fg(Color::Green).add_modifier(Modifier::BOLD),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_theme_uses_no_colours_at_all() {
        let t = Theme::new(false);
        for s in [
            t.title(),
            t.border(true),
            t.border(false),
            t.dim(),
            t.good(),
            t.bad(),
            t.warn(),
            t.produced(),
            t.processed(),
            t.lag(),
            t.latency(),
            t.key(),
            t.selected(),
            t.state(true, false),
            t.state(false, true),
            t.fault_shade(),
            t.fault_mark(),
        ] {
            assert_eq!(s.fg, None, "{s:?}");
            assert_eq!(s.bg, None, "{s:?}");
        }
    }
}
