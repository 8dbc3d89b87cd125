//! `App::run`: the UI loop. Starts the engine worker and a terminal-input reader, both
//! sending into one `AppEvent` channel; draws, handles events, carries out effects, and
//! on quit stops both threads. Never initialises or restores the terminal: the binary
//! does that (`ratatui::init`/`restore`), so the panic hook is installed in one place.

use crate::app::{App, Effect};
use crate::control::{AppEvent, Control};
use crate::driver::{self, Driver};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Why the dashboard stopped other than by the user quitting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Drawing to or reading from the terminal failed.
    #[error("terminal: {0}")]
    Terminal(String),
    /// The engine thread died (its panic message was printed by the panic hook).
    #[error("the engine stopped unexpectedly (its panic message is above)")]
    Engine,
}

/// Writes an exported scenario; returns the message for the status bar.
pub type Exporter<'a> = dyn FnMut(&str) -> Result<String, String> + 'a;

/// Events queued between the threads and the UI before the engine waits for the UI.
const QUEUE: usize = 64;
/// Most events handled between two draws (the rest are handled after the next draw).
const BATCH: usize = 256;
/// Longest the loop waits for an event before it looks at the stop flag again: the input
/// thread's ticks stop when crossterm's reader is stuck (a vanished terminal reads as
/// endless end-of-file inside it), and a signal must still end the dashboard.
const WAKE: Duration = Duration::from_millis(200);
/// How long quitting waits for the input thread; one stuck inside crossterm is left to
/// end with the process.
const INPUT_GRACE: Duration = Duration::from_millis(500);

impl App {
    /// Runs the dashboard on `terminal` until the user quits; returns the final state.
    ///
    /// # Errors
    /// The terminal failed or the engine thread died.
    pub fn run<B: Backend>(
        mut self,
        terminal: &mut Terminal<B>,
        driver: Driver,
        export: &mut Exporter,
    ) -> Result<App, RunError> {
        let (event_tx, event_rx) = mpsc::sync_channel(QUEUE);
        let (control_tx, control_rx) = mpsc::channel();
        let worker = driver::spawn(driver, self.speed(), control_rx, event_tx.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let (input_done_tx, input_done) = mpsc::channel::<()>();
        let input = spawn_input(event_tx, Arc::clone(&stop), input_done_tx);
        let result = self.event_loop(terminal, &event_rx, &control_tx, &worker, export);
        // Hang up first: a worker blocked sending a frame then returns instead of waiting.
        stop.store(true, Ordering::Relaxed);
        let _ = control_tx.send(Control::Quit);
        drop(event_rx);
        let _ = worker.join();
        // The input thread drops its sender when it returns; if it does not within the
        // grace period it is spinning inside crossterm and cannot be joined.
        if !matches!(
            input_done.recv_timeout(INPUT_GRACE),
            Err(mpsc::RecvTimeoutError::Timeout)
        ) {
            let _ = input.join();
        }
        result.map(|()| self)
    }

    fn event_loop<B: Backend>(
        &mut self,
        terminal: &mut Terminal<B>,
        events: &Receiver<AppEvent>,
        controls: &mpsc::Sender<Control>,
        worker: &JoinHandle<()>,
        export: &mut Exporter,
    ) -> Result<(), RunError> {
        loop {
            if self.should_quit() {
                return Ok(());
            }
            // A dead worker panicked: the hook has restored the terminal and printed the
            // report, so drawing again would paint over it.
            if worker.is_finished() {
                return Err(RunError::Engine);
            }
            let size = terminal
                .size()
                .map_err(|e| RunError::Terminal(e.to_string()))?;
            self.set_screen(size.into());
            terminal
                .draw(|f| f.render_widget(&*self, f.area()))
                .map_err(|e| RunError::Terminal(e.to_string()))?;
            let first = match events.recv_timeout(WAKE) {
                Ok(first) => first,
                Err(mpsc::RecvTimeoutError::Timeout) => AppEvent::Tick,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(RunError::Engine),
            };
            let pending = std::iter::once(first).chain(events.try_iter().take(BATCH));
            for event in pending.collect::<Vec<_>>() {
                for effect in self.handle_event(event) {
                    match effect {
                        Effect::Control(c) => {
                            if controls.send(c).is_err() {
                                return Err(RunError::Engine);
                            }
                        }
                        Effect::Export(text) => {
                            self.status = Some(export(&text).unwrap_or_else(|e| e));
                        }
                    }
                }
            }
            if self.should_quit() {
                return Ok(());
            }
        }
    }
}

/// Reads terminal input into the event channel until `stop`; sends a `Tick` when idle so
/// the loop notices a dead worker.
fn spawn_input(
    tx: SyncSender<AppEvent>,
    stop: Arc<AtomicBool>,
    done: mpsc::Sender<()>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("mqlab-input".into())
        .spawn(move || {
            let _done = done;
            while !stop.load(Ordering::Relaxed) {
                let event = match event::poll(Duration::from_millis(100)) {
                    Ok(true) => match event::read() {
                        Ok(Event::Key(k)) => AppEvent::Key(k),
                        Ok(Event::Mouse(m)) => AppEvent::Mouse(m),
                        Ok(Event::Resize(w, h)) => AppEvent::Resize(w, h),
                        Ok(_) => continue,
                        Err(_) => return,
                    },
                    Ok(false) => AppEvent::Tick,
                    Err(_) => return,
                };
                let sent = if event == AppEvent::Tick {
                    match tx.try_send(event) {
                        Ok(()) | Err(TrySendError::Full(_)) => Ok(()),
                        Err(TrySendError::Disconnected(_)) => Err(()),
                    }
                } else {
                    tx.send(event).map_err(|_| ())
                };
                if sent.is_err() {
                    return;
                }
            }
        })
        .expect("spawning the input thread")
}
