//! The fault menu (`f`): opening it pauses the run (closing it resumes a run it paused,
//! so the fault lands where the user chose it); ↑↓ choose a fault, ←→ its duration, Enter
//! injects it. Key handling only; drawing is in `panels/overlay.rs`.

use super::{App, Effect, Overlay};
use crate::control::{Control, FaultSpec};
use crate::panels::overlay::fault_choices;
use mqlab_sim::SimDuration;
use ratatui::crossterm::event::KeyCode;

/// The durations ←→ move between.
pub const DURATIONS: [SimDuration; 8] = [
    SimDuration::from_millis(500),
    SimDuration::from_secs(1),
    SimDuration::from_secs(2),
    SimDuration::from_secs(5),
    SimDuration::from_secs(10),
    SimDuration::from_secs(20),
    SimDuration::from_secs(30),
    SimDuration::from_secs(60),
];

/// The menu's state besides the selected row (which `Overlay::Faults` holds).
#[derive(Debug, Default)]
pub struct Menu {
    /// The duration chosen for the selected fault (`None`: its default).
    pub duration: Option<SimDuration>,
    /// The menu paused the run: closing it resumes.
    pub resume: bool,
}

/// One step along `DURATIONS` from `d` (longer when `up`), staying at the ends.
#[must_use]
pub fn step_duration(d: SimDuration, up: bool) -> SimDuration {
    if up {
        DURATIONS.iter().copied().find(|&x| x > d).unwrap_or(d)
    } else {
        DURATIONS
            .iter()
            .rev()
            .copied()
            .find(|&x| x < d)
            .unwrap_or(d)
    }
}

impl App {
    /// The menu's choices as they stand: the selected one with the chosen duration.
    #[must_use]
    pub(crate) fn fault_menu_choices(&self, selected: usize) -> Vec<FaultSpec> {
        let mut choices = self.snapshot().map(fault_choices).unwrap_or_default();
        if let (Some(d), Some(c)) = (self.menu.duration, choices.get_mut(selected))
            && c.duration.is_some()
        {
            c.duration = Some(d);
        }
        choices
    }

    /// `f`: opens the menu and pauses a running run while the user chooses.
    pub(super) fn open_fault_menu(&mut self) -> Vec<Effect> {
        if self.snapshot().is_none_or(|s| fault_choices(s).is_empty()) {
            return Vec::new();
        }
        self.overlay = Overlay::Faults(0);
        self.menu = Menu {
            duration: None,
            resume: !self.paused,
        };
        if self.paused {
            return Vec::new();
        }
        self.paused = true;
        vec![Effect::Control(Control::Pause)]
    }

    /// Closes the menu, resuming the run if the menu paused it.
    fn close_fault_menu(&mut self, mut effects: Vec<Effect>) -> Vec<Effect> {
        self.overlay = Overlay::None;
        if std::mem::take(&mut self.menu.resume) {
            self.paused = false;
            effects.push(Effect::Control(Control::Resume));
        }
        effects
    }

    pub(super) fn fault_menu_key(&mut self, code: KeyCode, selected: usize) -> Vec<Effect> {
        let choices = self.fault_menu_choices(selected);
        let last = choices.len().saturating_sub(1);
        let moved = |app: &mut App, to: usize| {
            if to != selected {
                app.menu.duration = None;
            }
            app.overlay = Overlay::Faults(to);
        };
        match code {
            KeyCode::Up | KeyCode::Char('k') => moved(self, selected.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => moved(self, (selected + 1).min(last)),
            KeyCode::Left | KeyCode::Right | KeyCode::Char('h' | 'l') => {
                let longer = matches!(code, KeyCode::Right | KeyCode::Char('l'));
                match choices.get(selected).and_then(|c| c.duration) {
                    Some(d) => self.menu.duration = Some(step_duration(d, longer)),
                    None => self.status = Some("this one is an instant: no duration".into()),
                }
            }
            KeyCode::Enter => {
                let inject = choices
                    .into_iter()
                    .nth(selected)
                    .map(|spec| Effect::Control(Control::Inject(spec)));
                return self.close_fault_menu(inject.into_iter().collect());
            }
            KeyCode::Esc | KeyCode::Char('f' | 'q') => return self.close_fault_menu(Vec::new()),
            _ => {}
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_step_along_the_ladder_and_stop_at_its_ends() {
        let s = SimDuration::from_secs;
        assert_eq!(step_duration(s(5), true), s(10));
        assert_eq!(step_duration(s(5), false), s(2));
        assert_eq!(step_duration(s(60), true), s(60));
        assert_eq!(
            step_duration(SimDuration::from_millis(500), false),
            SimDuration::from_millis(500)
        );
        // A default off the ladder joins it at the next step.
        assert_eq!(step_duration(s(7), true), s(10));
        assert_eq!(step_duration(s(7), false), s(5));
    }
}
