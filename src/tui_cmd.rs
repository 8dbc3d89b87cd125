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
use signal_hook::consts::{SIGHUP, SIGTERM};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    let (scenario, source, seed) = load::prepared(&args.scenario, args.delivery, args.seed)?;
    // https://no-color.org: present and not empty.
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = App::new(&scenario, &source, &args.scenario, seed, Theme::new(color));
    if let Some(d) = args.delivery {
        app = app.with_delivery(d);
    }
    let driver = Driver::new(scenario, &app.run_spec(None)).map_err(anyhow::Error::msg)?;
    let export_path = args
        .export
        .clone()
        .unwrap_or_else(|| default_export(&args.scenario));
    let mut export = |text: &str| -> Result<String, String> {
        run::write_atomically(&export_path, text.as_bytes())
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
    // SIGTERM and SIGHUP (a closed terminal window, `kill`) quit like `q`, so the
    // terminal is restored on those exits too.
    let signalled = Arc::new(AtomicBool::new(false));
    for sig in [SIGTERM, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&signalled))?;
    }
    let app = app.stop_on(Arc::clone(&signalled));
    let mut terminal = ratatui::init();
    let _ = execute!(std::io::stdout(), EnableMouseCapture);
    // Test hook (tests/tui.rs): proves a panic leaves the terminal usable.
    if std::env::var_os("MQLAB_TUI_TEST_PANIC").is_some() {
        panic!("panic requested by MQLAB_TUI_TEST_PANIC");
    }
    let result = app.run(&mut terminal, driver, &mut export);
    let _ = execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();

    let app = result?;
    if signalled.load(Ordering::Relaxed) {
        eprintln!("mqlab tui: stopped by a signal; the terminal is restored");
        return Ok(ExitCode::from(143));
    }
    if let Some(s) = app.snapshot() {
        println!(
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
        );
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
