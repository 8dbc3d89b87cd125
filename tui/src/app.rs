//! `App`: the dashboard's state and its key-handling state machine. `handle_event` is
//! pure: it takes one `AppEvent`, updates the state and returns the `Effect`s for the
//! loop to carry out (controls for the engine worker, an export to write), so every key
//! is testable without a terminal or an engine. Rendering lives in `render.rs`, the loop
//! in `event_loop.rs`.

use crate::control::{AppEvent, Control, Frame, RecordedFault, RunSpec, Speed};
use crate::export::{self, Session};
use crate::layout::{self, MIN_HEIGHT, MIN_WIDTH, Panel};
use crate::theme::Theme;
use mqlab_sim::{Delivery, Scenario, SimTime, Snapshot};
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

/// Lines the mouse wheel scrolls the event log per notch.
const WHEEL_LINES: usize = 3;

/// A pop-up over the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlay {
    /// None shown.
    None,
    /// The key help (`?`).
    Help,
    /// The fault menu (`f`) with the selected choice.
    Faults(usize),
    /// The anomaly picker (`a`) with the selected example.
    Anomalies(usize),
    /// The history of the example chosen in the picker (its row there), scrolled.
    History(usize, usize),
    /// The pipeline view (`v`): the services' stages.
    Pipeline,
}

/// What the loop must do after an event.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send this to the engine worker.
    Control(Control),
    /// Write this scenario text (the export of the session).
    Export(String),
}

/// The dashboard's state.
#[derive(Debug)]
pub struct App {
    pub(crate) theme: Theme,
    source: String,
    path: String,
    pub(crate) seed: u64,
    delivery: Option<Delivery>,
    pub(crate) compare: bool,
    generation: u64,
    pub(crate) frame: Option<Frame>,
    pub(crate) paused: bool,
    pub(crate) speed: Speed,
    paced: Speed,
    pub(crate) focus: Panel,
    pub(crate) zoom: bool,
    pub(crate) overlay: Overlay,
    pub(crate) log_scroll: usize,
    log_total: u64,
    pub(crate) faults: Vec<RecordedFault>,
    pub(crate) status: Option<String>,
    quit: bool,
    pub(crate) p99_history: Vec<u64>,
    /// Event-log rows on screen, for PgUp/PgDn (the loop keeps it current).
    pub(crate) page: usize,
    /// The screen, for mouse clicks (the loop keeps it current).
    screen: Rect,
    /// Set from outside (a termination signal): the loop quits as if `q` was pressed.
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The anomaly picker's examples and the history shown.
    pub(crate) picker: picker::Picker,
    /// The fault menu's state: the duration chosen for the selected fault, and whether
    /// closing the menu resumes the run it paused.
    pub(crate) menu: fault_menu::Menu,
    /// The throughput chart shows the whole run so far (`w`), not the latest window.
    pub(crate) whole_run: bool,
    /// Lines the help is scrolled down.
    pub(crate) help_scroll: usize,
}

impl App {
    /// A dashboard for `scenario` (loaded from `source` at `path`) under `seed`; the
    /// first `RunSpec` for the worker is `App::run_spec`.
    #[must_use]
    pub fn new(scenario: &Scenario, source: &str, path: &str, seed: u64, theme: Theme) -> App {
        let speed = Speed::default_for(scenario.duration);
        App {
            theme,
            source: source.to_string(),
            path: path.to_string(),
            seed,
            delivery: None,
            compare: false,
            generation: 0,
            frame: None,
            paused: false,
            speed,
            paced: speed,
            focus: Panel::Throughput,
            zoom: false,
            overlay: Overlay::None,
            log_scroll: 0,
            log_total: 0,
            faults: Vec::new(),
            status: None,
            quit: false,
            p99_history: Vec::new(),
            page: 10,
            screen: Rect::new(0, 0, MIN_WIDTH, MIN_HEIGHT),
            stop: None,
            picker: picker::Picker::default(),
            menu: fault_menu::Menu::default(),
            whole_run: false,
            help_scroll: 0,
        }
    }

    /// Quits at the next tick once `flag` is set, so that the caller restores the
    /// terminal as on `q` (the binary sets it on SIGTERM and SIGHUP).
    #[must_use]
    pub fn stop_on(mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> App {
        self.stop = Some(flag);
        self
    }

    /// True when the stop flag was set.
    #[must_use]
    pub fn stopped_from_outside(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Runs every group under `delivery` (`--delivery`), which the export then writes.
    #[must_use]
    pub fn with_delivery(mut self, delivery: Delivery) -> App {
        self.delivery = Some(delivery);
        self
    }

    /// Tells the state machine the screen size (PgUp/PgDn page, mouse hit-testing).
    pub fn set_screen(&mut self, screen: Rect) {
        self.screen = screen;
        let zoom = self.zoom.then_some(self.focus);
        let events = layout::areas(screen, zoom).panels[5];
        self.page = usize::from(events.height.saturating_sub(3)).max(1);
    }

    /// True once the user asked to quit.
    #[must_use]
    pub fn should_quit(&self) -> bool {
        self.quit || self.stopped_from_outside()
    }

    /// The snapshot the single-run panels show (the first engine's).
    #[must_use]
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.frame.as_ref().and_then(|f| f.snapshots.first())
    }

    /// Faults injected by hand so far, with their times.
    #[must_use]
    pub fn faults(&self) -> &[RecordedFault] {
        &self.faults
    }

    /// What the worker should run now: one engine, or one per variant in compare mode.
    #[must_use]
    pub fn run_spec(&self, until: Option<SimTime>) -> RunSpec {
        let deliveries = if self.compare {
            Delivery::ALL.iter().copied().map(Some).collect()
        } else {
            vec![self.delivery]
        };
        RunSpec {
            seed: self.seed,
            deliveries,
            replay: self.faults.clone(),
            until,
        }
    }

    /// The initial speed, for the worker.
    #[must_use]
    pub fn speed(&self) -> Speed {
        self.speed
    }

    /// The exported scenario text for this session.
    ///
    /// # Errors
    /// See `export::session_toml`.
    pub fn export_text(&self) -> Result<String, export::ExportError> {
        let session = Session {
            seed: self.seed,
            delivery: self.delivery,
            faults: &self.faults,
        };
        export::session_toml(&self.source, &self.path, &session)
    }

    /// Reacts to one event; returns what the loop must do.
    pub fn handle_event(&mut self, event: AppEvent) -> Vec<Effect> {
        match event {
            AppEvent::Key(key) => self.handle_key(key),
            AppEvent::Mouse(m) => {
                self.handle_mouse(m);
                Vec::new()
            }
            AppEvent::Snapshot(frame) => {
                self.take_frame(frame);
                Vec::new()
            }
            AppEvent::Injected { generation, fault } => {
                // A fault applied to a run that a restart already replaced is gone with it.
                if generation == self.generation {
                    self.status = Some(format!(
                        "injected {} at {}",
                        fault.spec.describe(),
                        fault.at
                    ));
                    self.faults.push(fault);
                }
                Vec::new()
            }
            AppEvent::Rejected(why) => {
                self.status = Some(why);
                Vec::new()
            }
            AppEvent::Examples {
                generation,
                examples,
            } => {
                self.take_examples(generation, examples);
                Vec::new()
            }
            AppEvent::Traced {
                generation,
                example,
                history,
            } => {
                self.take_history(generation, &example, history);
                Vec::new()
            }
            AppEvent::Resize(..) | AppEvent::Tick => Vec::new(),
        }
    }

    fn take_frame(&mut self, frame: Frame) {
        if frame.generation != self.generation {
            return;
        }
        if let Some(s) = frame.snapshots.first() {
            // p99 is sampled once per completed series bucket, so the sparkline depends on
            // simulated time only, never on how often frames arrive.
            let buckets = s.series.t_s.len();
            self.p99_history.truncate(buckets);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let p99 = (s.latency.p99 * 1e9).round() as u64;
            self.p99_history.resize(buckets, p99);
            if self.log_scroll > 0 {
                // Keep the lines being read in place while new ones arrive below.
                let new = usize::try_from(s.log_total.saturating_sub(self.log_total)).unwrap_or(0);
                self.log_scroll = (self.log_scroll + new).min(s.log.len());
            }
            self.log_total = s.log_total;
        }
        self.frame = Some(frame);
    }

    fn handle_mouse(&mut self, m: MouseEvent) {
        match m.kind {
            MouseEventKind::ScrollUp => self.scroll_log(WHEEL_LINES, true),
            MouseEventKind::ScrollDown => self.scroll_log(WHEEL_LINES, false),
            // A click focuses the panel under it (not in compare mode or under a pop-up).
            MouseEventKind::Down(MouseButton::Left)
                if !self.compare && !self.zoom && self.overlay == Overlay::None =>
            {
                let pos = Position::new(m.column, m.row);
                let panels = layout::areas(self.screen, None).panels;
                if let Some((p, _)) = Panel::ALL.iter().zip(panels).find(|(_, r)| r.contains(pos)) {
                    self.focus = *p;
                }
            }
            _ => {}
        }
    }

    fn scroll_log(&mut self, lines: usize, back: bool) {
        let max = self.snapshot().map_or(0, |s| s.log.len().saturating_sub(1));
        self.log_scroll = if back {
            (self.log_scroll + lines).min(max)
        } else {
            self.log_scroll.saturating_sub(lines)
        };
    }

    fn handle_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        // A status message lasts until the next key; the key may set a new one.
        self.status = None;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return self.quit();
        }
        match self.overlay {
            Overlay::Help => {
                self.help_key(key.code);
                Vec::new()
            }
            // Any key closes it (the run goes on underneath, so it stays live).
            Overlay::Pipeline => {
                self.overlay = Overlay::None;
                Vec::new()
            }
            Overlay::Faults(selected) => self.fault_menu_key(key.code, selected),
            Overlay::Anomalies(selected) => self.picker_key(key.code, selected),
            Overlay::History(selected, scroll) => {
                self.history_key(key.code, selected, scroll);
                Vec::new()
            }
            Overlay::None => self.dashboard_key(key.code),
        }
    }

    fn quit(&mut self) -> Vec<Effect> {
        self.quit = true;
        vec![Effect::Control(Control::Quit)]
    }

    fn dashboard_key(&mut self, code: KeyCode) -> Vec<Effect> {
        let c = |c: Control| vec![Effect::Control(c)];
        match code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit(),
            KeyCode::Char(' ') => {
                self.paused = !self.paused;
                c(if self.paused {
                    Control::Pause
                } else {
                    Control::Resume
                })
            }
            KeyCode::Char('.') | KeyCode::Right => {
                self.paused = true;
                vec![
                    Effect::Control(Control::Pause),
                    Effect::Control(Control::Step),
                ]
            }
            KeyCode::Char('+' | '=') => self.set_speed(self.speed.faster()),
            KeyCode::Char('-' | '_') => self.set_speed(self.speed.slower()),
            KeyCode::Char('m') => self.set_speed(if self.speed == Speed::FlatOut {
                self.paced
            } else {
                Speed::FlatOut
            }),
            KeyCode::Char('r') => self.restart("restarted with the same seed", None),
            KeyCode::Char('n') => {
                self.seed = next_seed(self.seed);
                self.restart(&format!("new seed {}", self.seed), None)
            }
            KeyCode::Char('x') => {
                self.faults.clear();
                self.restart("injected faults forgotten; restarted", None)
            }
            KeyCode::Char('d') => self.next_delivery(),
            KeyCode::Char('c') => {
                self.compare = !self.compare;
                let label = if self.compare {
                    "compare: the three variants in lockstep"
                } else {
                    "compare off"
                };
                self.restart(label, self.now())
            }
            KeyCode::Char('f') => self.open_fault_menu(),
            KeyCode::Char('w') => {
                self.whole_run = !self.whole_run;
                self.status = Some(
                    if self.whole_run {
                        "throughput: the whole run"
                    } else {
                        "throughput: the latest 30s"
                    }
                    .into(),
                );
                Vec::new()
            }
            KeyCode::Char('a') => self.open_picker(),
            KeyCode::Char('v') => {
                self.overlay = Overlay::Pipeline;
                Vec::new()
            }
            KeyCode::Char('e') => match self.export_text() {
                Ok(text) => vec![Effect::Export(text)],
                Err(e) => {
                    self.status = Some(e.to_string());
                    Vec::new()
                }
            },
            KeyCode::Char('?') => {
                self.overlay = Overlay::Help;
                self.help_scroll = 0;
                Vec::new()
            }
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = self.focus.cycle(code == KeyCode::BackTab);
                Vec::new()
            }
            KeyCode::Enter => {
                self.zoom = !self.zoom;
                Vec::new()
            }
            code => {
                self.scroll_key(code);
                Vec::new()
            }
        }
    }

    /// In the help: arrows and pages scroll it (when it is taller than the screen), any
    /// other key closes it.
    fn help_key(&mut self, code: KeyCode) {
        let body = layout::areas(self.screen, None).body;
        let max = crate::panels::overlay::help_max_scroll(body);
        let page = usize::from(body.height.saturating_sub(3)).max(1);
        self.help_scroll = match code {
            KeyCode::Up => self.help_scroll.saturating_sub(1),
            KeyCode::Down => self.help_scroll + 1,
            KeyCode::PageUp => self.help_scroll.saturating_sub(page),
            KeyCode::PageDown => self.help_scroll + page,
            _ => {
                self.overlay = Overlay::None;
                return;
            }
        }
        .min(max);
    }

    fn scroll_key(&mut self, code: KeyCode) {
        match code {
            KeyCode::Up => self.scroll_log(1, true),
            KeyCode::Down => self.scroll_log(1, false),
            KeyCode::PageUp => self.scroll_log(self.page.max(1), true),
            KeyCode::PageDown => self.scroll_log(self.page.max(1), false),
            KeyCode::Home => self.scroll_log(usize::MAX / 2, true),
            KeyCode::End => self.log_scroll = 0,
            _ => {}
        }
    }

    fn now(&self) -> Option<SimTime> {
        self.snapshot().map(|s| s.now)
    }

    fn set_speed(&mut self, speed: Speed) -> Vec<Effect> {
        if let Speed::Paced(_) = speed {
            self.paced = speed;
        }
        self.speed = speed;
        vec![Effect::Control(Control::Speed(speed))]
    }

    fn restart(&mut self, status: &str, until: Option<SimTime>) -> Vec<Effect> {
        self.generation += 1;
        self.p99_history.clear();
        self.log_scroll = 0;
        self.log_total = 0;
        self.status = Some(match until {
            // Re-simulating up to `t` takes a moment on a long run: say what is happening.
            Some(t) if t > SimTime::ZERO => format!("{status} (catching up to {t})"),
            _ => status.to_string(),
        });
        vec![Effect::Control(Control::Restart(self.run_spec(until)))]
    }

    fn next_delivery(&mut self) -> Vec<Effect> {
        if self.compare {
            self.status = Some("compare mode already shows every variant".into());
            return Vec::new();
        }
        // The three uniform variants, then back to the scenario's own mix.
        let next = match self.delivery {
            None => Some(Delivery::AtMostOnce),
            Some(Delivery::AtMostOnce) => Some(Delivery::AtLeastOnce),
            Some(Delivery::AtLeastOnce) => Some(Delivery::ExactlyOnce),
            Some(Delivery::ExactlyOnce) => None,
        };
        self.delivery = next;
        let label = match next {
            Some(d) => format!("delivery {} for every group", d.as_str()),
            None => "delivery: the scenario's own".to_string(),
        };
        self.restart(&label, self.now())
    }
}

/// The seed `n` moves to: splitmix64 of the current one, so a session's seeds are
/// themselves reproducible and no wall clock or OS randomness is involved; kept below a
/// million so it is easy to read off the header and type after `--seed`.
#[must_use]
pub fn next_seed(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % 1_000_000
}

mod fault_menu;
mod picker;
#[cfg(test)]
mod tests;
