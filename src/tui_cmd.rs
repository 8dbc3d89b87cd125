//! `mqlab tui`: the live dashboard. This file owns everything the library must not do:
//! checking that stdout is a terminal, reading `NO_COLOR`, setting up and restoring the
//! terminal (raw mode, alternate screen, mouse capture, the panic hook) and writing the
//! exported session file.

use crate::{load, run};
use mqlab_sim::Delivery;
use mqlab_sim::snapshot::Phase;
use mqlab_tui::ratatui;
use mqlab_tui::{App, Driver, Theme};
use ratatui::crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How often the dashboard checks that its terminal is still there.
const TERMINAL_CHECK: Duration = Duration::from_millis(250);

/// True while this process has a controlling terminal. A hang-up (the tmux session
/// killed, the SSH connection dropped) takes it away; reading the terminal then returns
/// end-of-file forever, which crossterm's reader spins on instead of reporting.
fn has_controlling_terminal() -> bool {
    std::fs::File::open("/dev/tty").is_ok()
}

/// Sets `gone` and `stop` once the controlling terminal disappears; ends with `done`.
fn watch_terminal(gone: Arc<AtomicBool>, stop: Arc<AtomicBool>, done: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new()
        .name("mqlab-tty-watch".into())
        .spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if !has_controlling_terminal() {
                    gone.store(true, Ordering::Relaxed);
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(TERMINAL_CHECK);
            }
        });
}

/// Writes to stderr without the panic `eprintln!` raises when the terminal is gone.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Arguments of `mqlab tui`.
#[derive(clap::Args, Debug)]
pub struct TuiArgs {
    /// The scenario file.
    pub scenario: String,
    /// Seed (default: the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Delivery variant for every group: at-most-once, at-least-once or exactly-once.
    #[arg(long, value_parser = run::parse_delivery)]
    pub delivery: Option<Delivery>,
    /// Where `e` writes the session (default: `<scenario stem>.session.toml` in the
    /// current directory).
    #[arg(long)]
    pub export: Option<PathBuf>,
}

pub fn tui(args: &TuiArgs) -> anyhow::Result<ExitCode> {
    if !std::io::stdout().is_terminal() {
        eprintln!(
            "error: `mqlab tui` draws a live dashboard and needs a terminal, but stdout is \
             not one; to run without a dashboard use `mqlab run {}`",
            args.scenario
        );
        return Ok(ExitCode::from(2));
    }
    if !has_controlling_terminal() {
        say(
            "error: `mqlab tui` needs a controlling terminal to read keys from, and this \
             process has none (started by setsid, a service or cron?); run it from a \
             terminal, or use `mqlab run`",
        );
        return Ok(ExitCode::from(2));
    }
    let (scenario, source, seed) = load::prepared(&args.scenario, args.delivery, args.seed)?;
    // https://no-color.org: present and not empty.
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = App::new(&scenario, &source, &args.scenario, seed, Theme::new(color));
    if let Some(d) = args.delivery {
        app = app.with_delivery(d);
    }
    let driver = Driver::new(scenario, &app.run_spec(None))
        .map_err(anyhow::Error::msg)?
        .with_memory(load::memory_budget(1)?);
    let export_path = args
        .export
        .clone()
        .unwrap_or_else(|| default_export(&args.scenario));
    let mut export = |text: &str| -> Result<String, String> {
        crate::output::write(&export_path, text.as_bytes())
            .map(|()| {
                format!(
                    "wrote {0}: `mqlab run {0}` replays this session",
                    export_path.display()
                )
            })
            .map_err(|e| format!("export failed: {e:#}"))
    };

    // ratatui's hook (installed by `init`) restores raw mode and the screen, then calls
    // this one, which also turns mouse reporting off before the default hook prints.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        previous(info);
    }));
    // Every signal that would end the process (a closed terminal window, `kill`,
    // `kill -INT`, which raw mode does not turn into a key) quits like `q` instead, so the
    // terminal is restored on those exits too. `signal` keeps which one, for the status.
    let stop = Arc::new(AtomicBool::new(false));
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in [SIGTERM, SIGHUP, SIGINT, SIGQUIT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
        signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize)?;
    }
    let gone = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    watch_terminal(Arc::clone(&gone), Arc::clone(&stop), Arc::clone(&done));
    let app = app.stop_on(Arc::clone(&stop));
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            let _ = ratatui::try_restore();
            say(&format!(
                "error: `mqlab tui` cannot set up the terminal: {e}"
            ));
            return Ok(ExitCode::from(2));
        }
    };
    let _ = execute!(std::io::stdout(), EnableMouseCapture);
    // Test hook (tests/tui.rs): proves a panic leaves the terminal usable.
    if std::env::var_os("MQLAB_TUI_TEST_PANIC").is_some() {
        panic!("panic requested by MQLAB_TUI_TEST_PANIC");
    }
    let result = app.run(&mut terminal, driver, &mut export);
    done.store(true, Ordering::Relaxed);
    // Blank the alternate screen before leaving it: a terminal resized while it was on
    // (tmux does this) shrinks it back to the size it started at by pushing its top
    // rows into the history, and those rows then show above the shell's prompt.
    let _ = terminal.clear();
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    let _ = ratatui::try_restore();

    if gone.load(Ordering::Relaxed) {
        // Nobody is left to read a message; the exit status says what happened.
        return Ok(ExitCode::from(129));
    }
    let app = result?;
    let sig = signal.load(Ordering::Relaxed);
    if sig != 0 {
        say("mqlab tui: stopped by a signal; the terminal is restored");
        return Ok(ExitCode::from(u8::try_from(128 + sig).unwrap_or(143)));
    }
    if let Some(s) = app.snapshot() {
        crate::outln!(
            "mqlab tui: {} seed {} {} at {} after {} events\ntrace hash {:016x}, {} fault(s) injected",
            s.scenario,
            s.seed,
            if s.phase == Phase::Finished {
                "finished"
            } else {
                "stopped"
            },
            s.now,
            s.events,
            s.trace_hash,
            app.faults().len()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `scenarios/food-delivery.toml` → `food-delivery.session.toml` in the current directory
/// (never beside the scenario: `scenarios/*.toml` is what the tests run).
fn default_export(scenario: &str) -> PathBuf {
    let stem = Path::new(scenario)
        .file_stem()
        .map_or_else(|| "mqlab".into(), |s| s.to_string_lossy().into_owned());
    PathBuf::from(format!("{stem}.session.toml"))
}
