//! The anomaly picker (`a`): the example ids of every group's anomalies so far, and the
//! history of the one chosen, which the worker gets by re-running the run in the
//! background following that message. Key handling only; drawing is in
//! `panels/anomalies.rs`.

use super::{App, Effect, Overlay};
use crate::control::{Control, Example, History};
use ratatui::crossterm::event::KeyCode;

/// What the picker and the history pop-up show.
#[derive(Debug, Default)]
pub struct Picker {
    /// Example copies, by group then anomaly.
    pub examples: Vec<Example>,
    /// The example being traced, and its history once it came back.
    pub traced: Option<(Example, Option<History>)>,
}

impl App {
    /// `a`: asks the worker for the example ids (the picker opens when they arrive).
    pub(super) fn open_picker(&mut self) -> Vec<Effect> {
        if self.compare {
            self.status = Some("the anomaly picker shows one run: c leaves compare mode".into());
            return Vec::new();
        }
        self.status = Some("collecting example ids…".into());
        vec![Effect::Control(Control::Examples)]
    }

    /// The worker's example ids arrived.
    pub(super) fn take_examples(&mut self, generation: u64, examples: Vec<Example>) {
        if generation != self.generation {
            return;
        }
        if examples.is_empty() {
            self.status =
                Some("no anomaly so far: nothing lost, duplicated, out of order or dropped".into());
            return;
        }
        self.status = None;
        self.picker.examples = examples;
        self.overlay = Overlay::Anomalies(0);
    }

    /// A history arrived (kept only if it is the one the pop-up waits for).
    pub(super) fn take_history(&mut self, generation: u64, example: &Example, history: History) {
        if generation != self.generation {
            return;
        }
        if let Some((want, slot)) = &mut self.picker.traced
            && want == example
        {
            *slot = Some(history);
        }
    }

    pub(super) fn picker_key(&mut self, code: KeyCode, selected: usize) -> Vec<Effect> {
        let last = self.picker.examples.len().saturating_sub(1);
        match code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.overlay = Overlay::Anomalies(selected.saturating_sub(1));
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.overlay = Overlay::Anomalies((selected + 1).min(last));
            }
            KeyCode::PageUp => self.overlay = Overlay::Anomalies(selected.saturating_sub(10)),
            KeyCode::PageDown => self.overlay = Overlay::Anomalies((selected + 10).min(last)),
            KeyCode::Enter => {
                if let Some(example) = self.picker.examples.get(selected).cloned() {
                    self.picker.traced = Some((example.clone(), None));
                    self.overlay = Overlay::History(selected, 0);
                    return vec![Effect::Control(Control::Trace(example))];
                }
            }
            KeyCode::Esc | KeyCode::Char('a' | 'q') => self.overlay = Overlay::None,
            _ => {}
        }
        Vec::new()
    }

    pub(super) fn history_key(&mut self, code: KeyCode, selected: usize, scroll: usize) {
        let rows = match &self.picker.traced {
            Some((_, Some(Ok(h)))) => h.len(),
            _ => 0,
        };
        let last = rows.saturating_sub(1);
        let page = self.page.max(1);
        self.overlay = match code {
            KeyCode::Up | KeyCode::Char('k') => {
                Overlay::History(selected, scroll.saturating_sub(1))
            }
            KeyCode::Down | KeyCode::Char('j') => {
                Overlay::History(selected, (scroll + 1).min(last))
            }
            KeyCode::PageUp => Overlay::History(selected, scroll.saturating_sub(page)),
            KeyCode::PageDown => Overlay::History(selected, (scroll + page).min(last)),
            KeyCode::Home => Overlay::History(selected, 0),
            // Back to the list, where it was.
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Left => Overlay::Anomalies(selected),
            KeyCode::Char('a' | 'q') => Overlay::None,
            _ => Overlay::History(selected, scroll),
        };
    }
}
