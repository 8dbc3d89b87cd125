//! Measures the two speed figures issue 3 asks for, on a real engine snapshot:
//! the time to render one 200x60 dashboard frame, and what the dashboard costs the
//! simulation in flat-out (`m`) mode: the worker thread sending a frame every 33 ms to a
//! UI thread that renders each into a 200x60 buffer, against a bare `Engine::run`.
//!
//! `cargo run --release -p mqlab-tui --example bench [SCENARIO]`
//! (default `tui/examples/bench.toml`).

use mqlab_sim::{Engine, Scenario, SimDuration, SimTime};
use mqlab_tui::control::{AppEvent, Control, Frame, Speed};
use mqlab_tui::{App, Driver, RunSpec, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/examples/bench.toml").into());
    let source = std::fs::read_to_string(&path).expect("reading the scenario");
    let scenario = Scenario::from_toml(&source, &path).expect("a valid scenario");
    render_time(&scenario, &source, &path);
    snapshot_cost(&scenario);
    // The machine is shared: alternate the two runs and compare the best of each.
    let (mut bare, mut dash) = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        let (b, d) = overhead(&scenario);
        bare = bare.min(b);
        dash = dash.min(d);
    }
    println!(
        "best of 5: bare {bare:.3} s, dashboard {dash:.3} s, overhead {:+.1}%",
        (dash / bare - 1.0) * 100.0
    );
}

/// What the engine thread itself pays per frame: one `snapshot()` (the only work the
/// dashboard adds to it besides a channel send), at the worker's 30 frames a second.
fn snapshot_cost(scenario: &Scenario) {
    let mut engine = Engine::new(scenario, scenario.seed);
    engine.run_until(SimTime::ZERO + SimDuration(scenario.duration.0 / 5));
    let n = 300;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(engine.snapshot());
    }
    let each = t.elapsed() / n;
    println!(
        "snapshot(): {:.1} us each; at 30 frames/s that is {:.2}% of the engine thread",
        each.as_secs_f64() * 1e6,
        each.as_secs_f64() * 30.0 * 100.0
    );
}

fn render_time(scenario: &Scenario, source: &str, path: &str) {
    let mut engine = Engine::new(scenario, scenario.seed);
    engine.run_until(SimTime::ZERO + SimDuration(scenario.duration.0 / 5));
    let mut app = App::new(scenario, source, path, scenario.seed, Theme::new(true));
    app.handle_event(AppEvent::Snapshot(Frame {
        generation: 0,
        snapshots: vec![engine.snapshot()],
        faults: Vec::new(),
    }));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let n = 500;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        // A fresh buffer each time, as when every cell changed (the worst case).
        terminal.clear().unwrap();
        let t = Instant::now();
        terminal.draw(|f| f.render_widget(&app, f.area())).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / u32::try_from(n).unwrap();
    println!(
        "render 200x60: mean {:.3} ms, median {:.3} ms, p99 {:.3} ms over {n} frames",
        ms(mean),
        ms(times[n / 2]),
        ms(times[n * 99 / 100])
    );
}

fn overhead(scenario: &Scenario) -> (f64, f64) {
    let (t, cpu) = (Instant::now(), cpu_s());
    let bare = Engine::new(scenario, scenario.seed).run();
    let bare_s = t.elapsed().as_secs_f64();
    let bare_cpu = cpu_s() - cpu;
    println!(
        "bare Engine::run: {bare_s:.3} s for {} events ({:.2} M events/s)",
        bare.events,
        bare.events as f64 / bare_s / 1e6
    );

    let spec = RunSpec {
        seed: scenario.seed,
        deliveries: vec![None],
        replay: Vec::new(),
        until: None,
    };
    let driver = Driver::new(scenario.clone(), &spec).unwrap();
    let (event_tx, event_rx) = mpsc::sync_channel(64);
    let (control_tx, control_rx) = mpsc::channel();
    let (t, cpu) = (Instant::now(), cpu_s());
    let worker = mqlab_tui::driver::spawn(driver, Speed::FlatOut, control_rx, event_tx);
    let mut app = App::new(scenario, "", "", scenario.seed, Theme::new(true));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut frames = 0;
    let hash = loop {
        let Ok(event) = event_rx.recv() else {
            panic!("worker stopped")
        };
        app.handle_event(event);
        terminal.draw(|f| f.render_widget(&app, f.area())).unwrap();
        frames += 1;
        if let Some(s) = app.snapshot()
            && s.phase == mqlab_sim::snapshot::Phase::Finished
        {
            break s.trace_hash;
        }
    };
    let dash_s = t.elapsed().as_secs_f64();
    let dash_cpu = cpu_s() - cpu;
    let _ = control_tx.send(Control::Quit);
    drop(event_rx);
    let _ = worker.join();
    assert_eq!(format!("{hash:016x}"), bare.trace_hash, "same run");
    println!(
        "dashboard flat out: {dash_s:.3} s, {frames} frames rendered; overhead {:+.1}%",
        (dash_s / bare_s - 1.0) * 100.0
    );
    println!(
        "  cpu: bare {bare_cpu:.2} s, dashboard (engine + UI threads) {dash_cpu:.2} s, {:+.1}%",
        (dash_cpu / bare_cpu - 1.0) * 100.0
    );
    (bare_s, dash_s)
}

/// CPU seconds this process has used (user + system, all threads), from
/// `/proc/self/stat` in clock ticks of 10 ms; unlike wall time it does not count the
/// other jobs sharing the machine. 0 where there is no `/proc`.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
