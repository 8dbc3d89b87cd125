//! `mqlab tui` end to end (issue 3): a dashboard session with hand-injected faults replays
//! exactly from its export; the binary refuses a non-terminal stdout; and in tmux a person
//! can pause, speed up, inject a fault, export and quit, leaving the shell as it was (also
//! after Ctrl-C and after a panic).

use mqlab_sim::scenario::FaultKind;
use mqlab_sim::{Delivery, Engine, Scenario, SimDuration, SimTime};
use mqlab_tui::export::{Session, session_toml};
use mqlab_tui::{Driver, FaultSpec, RunSpec};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mqlab");

/// Two groups on three partitions; small, so each run takes milliseconds.
const SCENARIO: &str = r#"name = "tui-e2e"
description = "Checkout orders consumed by payments (3 instances) and audit."
seed = 42
duration = "20s"
drain = "20s"

[[topic]]
name = "orders"
partitions = 3

[[producer]]
name = "checkout"
topic = "orders"
rate = 400
keys = 50

[[consumer]]
group = "payments"
topic = "orders"
instances = 3
service_time = "exp(2ms)"
delivery = "at-least-once"
commit_interval = "1s"

[[consumer]]
group = "audit"
topic = "orders"
service_time = "exp(1ms)"

[expect]
lost = 0
"#;

fn scenario() -> Scenario {
    Scenario::from_toml(SCENARIO, "tui-e2e.toml").unwrap()
}

fn spec(kind: FaultKind, target: &str) -> FaultSpec {
    FaultSpec {
        kind,
        target: target.into(),
        duration: (kind != FaultKind::Poison).then_some(SimDuration::from_secs(2)),
        factor: (kind == FaultKind::Slow).then_some(10.0),
        count: (kind == FaultKind::Poison).then_some(20),
    }
}

/// Drives a session the way the dashboard does, with uneven "frames", injecting faults
/// along the way; returns its final trace hash and the exported scenario text.
fn session(seed: u64, frames: &[u64]) -> (String, String) {
    let run = RunSpec {
        seed,
        deliveries: vec![None],
        replay: Vec::new(),
        until: None,
    };
    let mut driver = Driver::new(scenario(), &run).unwrap();
    let mut faults = Vec::new();
    for (i, &ms) in frames.iter().cycle().take(400).enumerate() {
        driver.advance(SimDuration::from_millis(ms));
        let fault = match i {
            40 => Some(spec(FaultKind::Crash, "payments/1")),
            90 => Some(spec(FaultKind::Slow, "payments/0")),
            130 => Some(spec(FaultKind::Poison, "checkout")),
            170 => Some(spec(FaultKind::Crash, "audit")),
            _ => None,
        };
        if let Some(f) = fault {
            faults.push(driver.inject(&f).unwrap());
        }
    }
    while !driver.finished() {
        driver.advance(SimDuration::from_secs(1));
    }
    let hash = driver.engines()[0].summary().trace_hash;
    let text = session_toml(
        SCENARIO,
        "tui-e2e.toml",
        &Session {
            seed,
            delivery: None,
            faults: &faults,
        },
    )
    .unwrap();
    (hash, text)
}

#[test]
fn paced_session_with_injected_faults_replays_from_its_export() {
    let (live, text) = session(42, &[33, 7, 120, 1, 50]);
    assert_eq!(text.matches("[[fault]]").count(), 4, "{text}");
    // Readable times (`at = "1.234s"`, `duration = "2s"`), never raw nanoseconds.
    assert!(!text.contains("ns\""), "{text}");
    let replay = Engine::new(&Scenario::from_toml(&text, "export.toml").unwrap(), 42).run();
    assert_eq!(
        replay.trace_hash, live,
        "seed=42 tui-e2e.toml export:\n{text}"
    );
}

#[test]
fn frame_timing_does_not_change_the_run() {
    let (a, text_a) = session(7, &[33]);
    let (b, text_b) = session(7, &[5, 61, 13]);
    // Different frames inject at different instants, so compare each with its own
    // replay, and a fault-free paced run with a flat-out one.
    for (live, text) in [(a, text_a), (b, text_b)] {
        let replay = Engine::new(&Scenario::from_toml(&text, "x").unwrap(), 7).run();
        assert_eq!(replay.trace_hash, live, "seed=7");
    }
    let mut paced = Engine::new(&scenario(), 7);
    let mut t = mqlab_sim::SimTime::ZERO;
    while !paced.is_finished() {
        t += SimDuration(33_333_333);
        paced.run_until(t);
    }
    let flat = Engine::new(&scenario(), 7).run();
    assert_eq!(paced.summary().trace_hash, flat.trace_hash, "seed=7");
}

#[test]
fn compare_mode_columns_replay_with_their_delivery_variant() {
    let run = RunSpec {
        seed: 9,
        deliveries: Delivery::ALL.iter().copied().map(Some).collect(),
        replay: Vec::new(),
        until: Some(SimTime(3_000_000_000)),
    };
    let mut driver = Driver::new(scenario(), &run).unwrap();
    driver.advance(SimDuration(1_234_567_891));
    let fault = driver.inject(&spec(FaultKind::Crash, "payments")).unwrap();
    while !driver.finished() {
        driver.advance(SimDuration::from_millis(700));
    }
    let text = session_toml(
        SCENARIO,
        "tui-e2e.toml",
        &Session {
            seed: 9,
            delivery: None,
            faults: &[fault],
        },
    )
    .unwrap();
    for (engine, d) in driver.engines().iter().zip(Delivery::ALL) {
        let mut s = Scenario::from_toml(&text, "x").unwrap();
        s.set_delivery(d);
        let replay = Engine::new(&s, 9).run();
        assert_eq!(
            replay.trace_hash,
            engine.summary().trace_hash,
            "seed=9 {}",
            d.as_str()
        );
    }
}

#[test]
fn faults_are_refused_once_the_run_is_over_or_aimed_at_nothing() {
    let run = RunSpec {
        seed: 1,
        deliveries: vec![None],
        replay: Vec::new(),
        until: None,
    };
    let mut driver = Driver::new(scenario(), &run).unwrap();
    let e = driver
        .inject(&spec(FaultKind::Crash, "billing/0"))
        .unwrap_err();
    assert!(e.contains("names nothing"), "{e}");
    // A near miss of a real instance says what there is instead of listing every form.
    let e = driver
        .inject(&spec(
            FaultKind::Crash,
            &format!("{}/7", scenario().consumers[0].group.get_ref()),
        ))
        .unwrap_err();
    assert!(
        e.contains("is not one of group") && e.contains("number"),
        "{e}"
    );
    while !driver.finished() {
        driver.advance(SimDuration::from_secs(5));
    }
    let e = driver
        .inject(&spec(FaultKind::Crash, "payments/0"))
        .unwrap_err();
    assert!(e.contains("r restarts"), "{e}");
}

#[test]
fn exported_session_replays_under_mqlab_run() {
    let (live, text) = session(42, &[25, 40]);
    let dir = scratch("replay");
    let path = dir.join("session.toml");
    std::fs::write(&path, &text).unwrap();
    let out = Command::new(BIN)
        .args(["run", path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        json["trace_hash"],
        live.as_str(),
        "seed=42 {}",
        path.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refuses_when_stdout_is_not_a_terminal() {
    let out = Command::new(BIN)
        .args(["tui", "scenarios/mm1.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("mqlab run scenarios/mm1.toml"), "{err}");
    assert!(out.stdout.is_empty());
}

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqlab-tui-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tmux server of our own (its socket in the test's scratch folder), killed on drop;
/// the folder goes too unless the test failed (then it is kept to look at).
pub(crate) struct Tmux {
    socket: PathBuf,
    dir: PathBuf,
}

impl Tmux {
    /// A 100x30 pane running `sh` in `dir`, or `None` when tmux is not installed (CI
    /// installs it; there the test must run).
    pub(crate) fn start(dir: &Path) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is required in CI (.ci/run installs it)"
            );
            eprintln!("skipped: tmux is not installed");
            return None;
        }
        let t = Tmux {
            socket: dir.join("tmux.sock"),
            dir: dir.to_path_buf(),
        };
        let ok = t
            .cmd(&["new-session", "-d", "-x", "100", "-y", "30", "-c"])
            .arg(dir)
            .args(["env", "PS1=$ ", "TERM=xterm-256color", "sh"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        Some(t)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend(keys);
        assert!(self.run(&args).status.success());
    }

    pub(crate) fn line(&self, text: &str) {
        self.run(&["send-keys", "-t", "0", "-l", text]);
        self.keys(&["Enter"]);
    }

    pub(crate) fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "0"]).stdout).into_owned()
    }

    fn flag(&self, name: &str) -> String {
        let f = format!("#{{{name}}}");
        String::from_utf8_lossy(&self.run(&["display-message", "-p", "-t", "0", &f]).stdout)
            .trim()
            .to_string()
    }

    /// Waits until the screen contains `text`; fails showing the screen.
    pub(crate) fn wait_for(&self, text: &str) -> String {
        self.wait_until(text, |s| s.contains(text))
    }

    /// Waits for `text`, then until two captures 100 ms apart agree: a frame reaches tmux
    /// in several writes, so the rest of the screen can lag the row `text` is on. Only
    /// for screens that stop changing (a finished run).
    pub(crate) fn wait_settled(&self, text: &str) -> String {
        let mut last = self.wait_for(text);
        let start = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let s = self.screen();
            if s == last {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the screen kept changing for 20 s after {text:?}:\n{s}"
            );
            last = s;
        }
    }

    /// Waits until `ok` holds for the screen (`what` names it in the failure).
    pub(crate) fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "waited 20 s for {what:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The terminal is back to how the shell left it: main screen, no mouse reporting,
    /// same tty settings as before the dashboard started, and the shell answers.
    pub(crate) fn assert_restored(&self, dir: &Path) {
        assert_eq!(
            self.flag("alternate_on"),
            "0",
            "still on the alternate screen"
        );
        assert_eq!(self.flag("mouse_any_flag"), "0", "mouse reporting left on");
        self.line("stty -g > after.stty; echo restored-$((6*7))");
        self.wait_for("restored-42");
        let before = std::fs::read_to_string(dir.join("before.stty")).unwrap();
        let after = std::fs::read_to_string(dir.join("after.stty")).unwrap();
        assert_eq!(before, after, "tty settings changed (raw mode left on?)");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts the dashboard on the test scenario in a fresh tmux pane.
fn launch(name: &str, env: &str) -> Option<(Tmux, PathBuf)> {
    let dir = scratch(name);
    std::fs::write(dir.join("tui-e2e.toml"), SCENARIO).unwrap();
    let t = Tmux::start(&dir)?;
    t.line("stty -g > before.stty");
    t.line(&format!("{env} {BIN} tui tui-e2e.toml; echo exit=$?"));
    Some((t, dir))
}

#[test]
fn tmux_pause_speed_fault_export_quit() {
    let Some((t, dir)) = launch("keys", "") else {
        return;
    };
    let s = t.wait_for("▶ running");
    assert!(
        s.contains("tui-e2e") && s.contains("seed 42") && s.contains("×1"),
        "{s}"
    );
    assert_eq!(t.flag("alternate_on"), "1");
    t.keys(&["Space"]);
    t.wait_for("‖ paused");
    t.keys(&["+"]);
    t.wait_until("speed ×2", |s| {
        s.lines().next().is_some_and(|h| h.contains("│ ×2 "))
    });
    t.keys(&["f"]);
    t.wait_for("inject a fault");
    t.keys(&["Down", "Down", "Enter"]);
    let s = t.wait_for("injected crash payments/1 for 5s at");
    assert!(!s.contains("inject a fault"), "menu closes:\n{s}");
    // Paused: the crash applies at the next whole millisecond, so one step shows it.
    t.keys(&["."]);
    // The event log's rows are below the topology title's: wait for the whole frame.
    t.wait_until("topology 1 down and the fault in the event log", |s| {
        s.contains("topology 1 down") && s.contains("FAULT")
    });
    t.keys(&["e"]);
    t.wait_for("wrote tui-e2e.session.toml");
    // Flat out to the end, so the hash printed on exit is the whole run's.
    t.keys(&["m", "Space"]);
    t.wait_for("■ finished");
    t.keys(&["q"]);
    let s = t.wait_for("exit=0");
    let hash = s
        .split("trace hash ")
        .nth(1)
        .and_then(|r| r.get(..16))
        .unwrap_or_else(|| panic!("no trace hash printed:\n{s}"))
        .to_string();
    assert!(s.contains("1 fault(s) injected"), "{s}");
    t.assert_restored(&dir);

    let exported = dir.join("tui-e2e.session.toml");
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(text.starts_with(SCENARIO), "the original text is kept");
    assert_eq!(text.matches("[[fault]]").count(), 1, "{text}");
    let out = Command::new(BIN)
        .args(["run", exported.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        json["trace_hash"],
        hash.as_str(),
        "seed=42 {}",
        exported.display()
    );
}

#[test]
fn tmux_ctrl_c_restores_the_terminal() {
    let Some((t, dir)) = launch("ctrlc", "") else {
        return;
    };
    t.wait_for("▶ running");
    t.keys(&["C-c"]);
    t.wait_for("exit=0");
    t.assert_restored(&dir);
}

#[test]
fn tmux_panic_restores_the_terminal_then_reports() {
    let Some((t, dir)) = launch("panic", "MQLAB_TUI_TEST_PANIC=1") else {
        return;
    };
    let s = t.wait_for("exit=101");
    assert!(s.contains("panic requested by MQLAB_TUI_TEST_PANIC"), "{s}");
    t.assert_restored(&dir);
}

#[test]
fn tmux_sigterm_restores_the_terminal() {
    let Some((t, dir)) = launch("sigterm", "") else {
        return;
    };
    t.wait_for("▶ running");
    // The dashboard is the pane shell's only child.
    let shell = t.flag("pane_pid");
    let out = Command::new("pkill")
        .args(["-TERM", "-P", &shell])
        .output()
        .unwrap();
    assert!(out.status.success(), "no child of the pane's shell {shell}");
    let s = t.wait_for("exit=143");
    assert!(s.contains("stopped by a signal"), "{s}");
    t.assert_restored(&dir);
}

#[test]
fn tmux_sigint_restores_the_terminal() {
    let Some((t, dir)) = launch("sigint", "") else {
        return;
    };
    t.wait_for("▶ running");
    // Raw mode turns Ctrl-C into a key; `kill -INT` is a real signal.
    let shell = t.flag("pane_pid");
    let out = Command::new("pkill")
        .args(["-INT", "-P", &shell])
        .output()
        .unwrap();
    assert!(out.status.success(), "no child of the pane's shell {shell}");
    let s = t.wait_for("exit=130");
    assert!(s.contains("stopped by a signal"), "{s}");
    t.assert_restored(&dir);
}

#[test]
fn tmux_without_a_controlling_terminal_exits_2_with_a_message() {
    let dir = scratch("setsid");
    std::fs::write(dir.join("tui-e2e.toml"), SCENARIO).unwrap();
    let Some(t) = Tmux::start(&dir) else {
        return;
    };
    t.line("stty -g > before.stty");
    // stdout stays the pane's terminal, but the new session has no controlling one.
    t.line(&format!(
        "setsid -w {BIN} tui tui-e2e.toml </dev/null; echo exit=$?"
    ));
    // At a line's start: the command line itself has `echo exit=$?`.
    let s = t.wait_for("\nexit=");
    assert!(s.contains("\nexit=2\n"), "{s}");
    assert!(s.contains("needs a controlling terminal"), "{s}");
    assert!(!s.contains("panicked"), "{s}");
    t.assert_restored(&dir);
}

/// True while `pid` is a live process (a zombie waiting for its reaper counts as gone).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

#[test]
fn tmux_killed_under_the_dashboard_ends_it() {
    let Some((t, dir)) = launch("killed", "exec") else {
        return;
    };
    t.wait_for("▶ running");
    // `exec`: the dashboard replaced the pane's shell, so the pane's pid is its pid.
    let pid = t.flag("pane_pid");
    assert!(alive(&pid), "dashboard {pid} not running");
    t.run(&["kill-server"]);
    let started = Instant::now();
    while alive(&pid) {
        if started.elapsed() > Duration::from_secs(10) {
            // Leave no spinning process behind on this machine.
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("the dashboard {pid} outlived its terminal by 10 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The y-axis top labels of the charts whose label line is `title`: the row under each
/// such line, split at the column borders, keeps each column's `│LABEL│` field.
fn axis_tops(screen: &str, title: &str) -> Vec<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let Some(i) = lines.iter().position(|l| l.contains(title)) else {
        return Vec::new();
    };
    let Some(row) = lines.get(i + 1) else {
        return Vec::new();
    };
    row.split('│')
        .map(str::trim)
        .filter(|f| f.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

#[test]
fn tmux_compare_mode_draws_each_row_on_one_shared_scale_with_axes() {
    let Some((t, dir)) = launch("compare", "") else {
        return;
    };
    t.wait_for("▶ running");
    t.keys(&["c"]);
    t.wait_for("at-most-once");
    // Flat out to the end, so all three columns have the whole run.
    t.keys(&["m"]);
    let s = t.wait_settled("■ finished");
    for title in ["processed copies/s", "lag, all groups"] {
        assert_eq!(s.matches(title).count(), 3, "{title} in each column:\n{s}");
        let tops = axis_tops(&s, title);
        assert_eq!(tops.len(), 3, "{title}: one labelled axis per column:\n{s}");
        assert!(
            tops.iter().all(|x| *x == tops[0]),
            "{title}: one scale for the three variants, got {tops:?}:\n{s}"
        );
    }
    // Both axes in each column, and every time axis from 0 s to the same end.
    assert_eq!(s.matches('└').count(), 6, "{s}");
    let time_axes: Vec<&str> = s
        .lines()
        .flat_map(|l| l.split('│'))
        .map(str::trim)
        .filter(|f| f.starts_with("0s "))
        .filter_map(|f| f.split_whitespace().last())
        .collect();
    assert_eq!(time_axes.len(), 6, "{s}");
    assert!(
        time_axes.iter().all(|e| *e == time_axes[0]),
        "{time_axes:?}"
    );
    for name in ["lag payments", "lag audit"] {
        assert_eq!(s.matches(name).count(), 3, "{s}");
    }
    t.keys(&["q"]);
    t.wait_for("exit=0");
    t.assert_restored(&dir);
}

/// The header's clock (`12.3s` before ` / 20s`).
fn clock(screen: &str) -> Option<String> {
    let head = screen.lines().next()?;
    let before = head.split(" / 20s").next()?;
    Some(before.rsplit('│').next()?.trim().to_string())
}

#[test]
fn tmux_fault_menu_pauses_the_run_and_chooses_the_duration() {
    let Some((t, dir)) = launch("menu", "") else {
        return;
    };
    t.wait_for("▶ running");
    t.keys(&["f"]);
    // A frame this large reaches tmux in several writes, so the menu can show before
    // the key bar at the bottom is redrawn: wait for the whole frame, which fails after
    // 20 s if the key bar never offers resume.
    let s = t.wait_until("the menu and a key bar offering resume", |s| {
        s.contains("inject a fault (paused)") && s.contains("space resume")
    });
    assert!(s.contains("‖ paused"), "{s}");
    // Simulated time stands still while the menu is open.
    let at = clock(&s).expect("a clock");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(clock(&t.screen()).as_deref(), Some(at.as_str()));
    // The first choice is a 5 s crash of payments/0: → twice makes it 20 s.
    t.keys(&["Right", "Right"]);
    t.wait_for("crash payments/0 for 20s");
    t.keys(&["Enter"]);
    let s = t.wait_for("injected crash payments/0 for 20s at");
    assert!(!s.contains("inject a fault"), "menu closes:\n{s}");
    // The menu paused the run, so injecting resumes it.
    t.wait_until("the clock moves on", |s| {
        s.contains("▶ running") && clock(s).is_some_and(|c| c != at)
    });
    t.keys(&["e"]);
    t.wait_for("wrote tui-e2e.session.toml");
    t.keys(&["q"]);
    t.wait_for("exit=0");
    t.assert_restored(&dir);
    let text = std::fs::read_to_string(dir.join("tui-e2e.session.toml")).unwrap();
    // Readable times: the duration chosen and a start on a whole millisecond.
    let fault = text
        .split("[[fault]]")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(fault.contains("duration = \"20s\""), "{fault}");
    let at_line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("at = "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(!at_line.contains("ns\""), "{at_line}");
    let secs = at_line
        .trim_start_matches("at = \"")
        .trim_end_matches("s\"");
    let decimals = secs.split('.').nth(1).unwrap_or("");
    assert!(decimals.len() <= 3, "{at_line}");
}

#[test]
fn tmux_quit_after_a_resize_leaves_the_terminal_clean() {
    let Some((t, dir)) = launch("resize", "") else {
        return;
    };
    t.wait_for("▶ running");
    // Bigger, as a user enlarging the window does; the dashboard redraws at the new size.
    assert!(
        t.run(&["resize-window", "-t", "0", "-x", "130", "-y", "38"])
            .status
            .success()
    );
    t.wait_until("a redraw at 130 columns", |s| {
        s.lines().next().is_some_and(|l| l.chars().count() > 110)
    });
    t.keys(&["q"]);
    let s = t.wait_for("exit=0");
    // Nothing of the dashboard is left above or below the shell's lines.
    for debris in ["│", "╭", "╰", "┃", "lag & depth", "throughput"] {
        assert!(!s.contains(debris), "{debris:?} left on screen:\n{s}");
    }
    t.assert_restored(&dir);
}

#[test]
fn tmux_pipeline_view_shows_the_stages_and_end_to_end_p99() {
    let dir = scratch("pipeline");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/food-delivery-pipeline.toml");
    std::fs::copy(src, dir.join("pipeline.toml")).unwrap();
    let Some(t) = Tmux::start(&dir) else {
        return;
    };
    t.line("stty -g > before.stty");
    t.line(&format!("{BIN} tui pipeline.toml; echo exit=$?"));
    t.wait_for("▶ running");
    t.keys(&["v"]);
    t.wait_for("e2e p99");
    // The view is live: wait until the last stage has processed something, so its
    // end-to-end p99 is a figure (`12ms`), not `-`.
    let s = t.wait_until("an e2e figure on the notifications stage", |s| {
        // After the name: lag, done, rate, e2e p99.
        s.lines()
            .filter_map(|l| l.split("▶ notifications").nth(1))
            .filter_map(|rest| rest.split_whitespace().nth(3))
            .map(|f| f.trim_end_matches('┃'))
            .any(|f| f.ends_with('s') && f.starts_with(|c: char| c.is_ascii_digit()))
            // The lineage rows come below the stages: the frame is whole once they show.
            && s.contains("lineage published + pending = expected")
    });
    for stage in [
        "orders ▶ payment → payments,notify",
        "payments ▶ restaurant → kitchen",
        "kitchen ▶ driver-assignment → dispatch",
        "dispatch ▶ notifications",
        "notify ▶ payment-notices",
    ] {
        assert!(s.contains(stage), "{stage:?} missing:\n{s}");
    }
    // The stages are in topological order: payment before restaurant before the driver.
    let at = |x: &str| s.find(x).unwrap();
    assert!(
        at("▶ payment ") < at("▶ restaurant") && at("▶ restaurant") < at("▶ driver-assignment"),
        "{s}"
    );
    assert!(s.contains("lineage published + pending = expected"), "{s}");
    t.keys(&["v"]);
    t.wait_until("the view closes", |s| !s.contains("e2e p99"));
    t.keys(&["q"]);
    t.wait_for("exit=0");
    t.assert_restored(&dir);
}

/// Runs `file` from `scenarios/`, taking a snapshot every 500 events, and folds `f` over
/// them: the dashboard's view of the patterns as the run goes.
fn fold_snapshots<T>(file: &str, init: T, f: impl Fn(T, &mqlab_sim::Snapshot) -> T) -> T {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let s = Scenario::from_toml(&text, file).unwrap();
    let mut e = Engine::new(&s, s.seed);
    let mut acc = init;
    let mut n = 0u64;
    while e.step() {
        n += 1;
        if n.is_multiple_of(500) {
            acc = f(acc, &e.snapshot());
        }
    }
    f(acc, &e.snapshot())
}

/// Issue 13: the dashboard's live sections are built only for the patterns a scenario
/// uses, in one shape (`Snapshot::sections`), and none for a scenario without patterns.
#[test]
fn snapshot_sections_name_only_the_patterns_in_use() {
    for (file, keys) in [
        ("circuit-breaker.toml", &["breakers"][..]),
        // Sagas run on services (command and reply queues), so their lineage shows too.
        ("saga.toml", &["lineage", "sagas"]),
        ("ordering.toml", &["resequencers"]),
        ("food-delivery-pipeline.toml", &["lineage"]),
        ("mm1.toml", &[]),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(file);
        let mut s = Scenario::from_toml(&std::fs::read_to_string(&path).unwrap(), file).unwrap();
        s.duration = mqlab_sim::SimDuration::from_secs_f64(2.0);
        let mut e = Engine::new(&s, s.seed);
        e.run_until(mqlab_sim::SimTime::ZERO + mqlab_sim::SimDuration::from_secs_f64(1.0));
        let seen: Vec<&str> = e.snapshot().sections().iter().map(|x| x.key).collect();
        assert_eq!(seen, keys, "{file}");
    }
}

#[test]
fn snapshot_patterns_show_breakers_opening_with_parked_messages() {
    // A failing invoice type trips its breaker (5 failures): at some point it is open with
    // messages parked; at the end nothing is parked any more.
    let (open_parked, last) = fold_snapshots("circuit-breaker.toml", (false, None), |acc, s| {
        let b = &s.patterns.breakers;
        let open = b.iter().any(|b| b.state == "open" && b.parked > 0);
        (acc.0 || open, Some(b.clone()))
    });
    assert!(
        open_parked,
        "no breaker was ever seen open with parked messages"
    );
    let last = last.unwrap();
    assert!(
        !last.is_empty() && last.iter().all(|b| b.group == "workers"),
        "{last:?}"
    );
}

#[test]
fn snapshot_patterns_show_sagas_in_progress_and_resequencer_holds() {
    let max = fold_snapshots("saga.toml", 0u64, |m, s| {
        assert!(s.patterns.breakers.is_empty() && s.patterns.held.is_empty());
        m.max(s.patterns.sagas.iter().map(|x| x.1).sum())
    });
    assert!(max > 0, "no saga ever in progress");
    let held = fold_snapshots("ordering.toml", 0u64, |m, s| {
        assert!(s.patterns.sagas.is_empty());
        m.max(s.patterns.held.iter().map(|x| x.1).sum())
    });
    assert!(held > 0, "the resequencer never held a message");
}

#[test]
fn snapshot_lineage_holds_on_the_exactly_once_pipeline_and_is_absent_without_services() {
    // Exactly-once (Kafka transactions): every stage output's lineage balances at every
    // snapshot, pending included, and nothing is orphaned.
    let rows = fold_snapshots("food-delivery-pipeline.toml", 0usize, |n, s| {
        assert!(s.lineage.iter().all(|e| e.ok), "{:?}", s.lineage);
        // Each copy's own latency (from its input's send) is at most its latency from the
        // root's intended send, so the percentiles are ordered too (histogram precision
        // aside).
        for g in &s.groups {
            assert!(
                g.stage_p99_s <= g.end_to_end_p99_s * 1.001 + 1e-9,
                "{}: {} > {}",
                g.name,
                g.stage_p99_s,
                g.end_to_end_p99_s
            );
        }
        n.max(s.lineage.len())
    });
    // payment>payments, payment>notify, restaurant>kitchen, driver-assignment>dispatch.
    assert_eq!(rows, 4);
    fold_snapshots("circuit-breaker.toml", (), |(), s| {
        assert!(s.lineage.is_empty());
    });
}

/// The dashboard's engines run under the memory guard, each its share: a storm (saga
/// broken as its description says) is stopped, shown `■ stopped` with the reason in its
/// snapshot, where before the guard it grew until the kernel killed the dashboard; a
/// compare set's three engines get a third each, and a restart keeps the limit.
#[test]
fn a_storm_in_the_dashboard_is_stopped_and_shown_stopped() {
    let storm = crate::support::storm();
    let s = Scenario::from_toml(&storm, "storm.toml").unwrap();
    let finish = |driver: &mut Driver| {
        let mut steps = 0;
        while !driver.finished() {
            driver.advance(SimDuration::from_millis(500));
            steps += 1;
            assert!(steps < 2_000, "still running at {}", driver.now());
        }
    };
    let one = RunSpec {
        seed: s.seed,
        deliveries: vec![None],
        replay: Vec::new(),
        until: None,
    };
    let mut driver = Driver::new(s.clone(), &one)
        .unwrap()
        .with_memory(16_000_000);
    finish(&mut driver);
    let frame = driver.frame();
    let why = frame.snapshots[0]
        .stopped
        .clone()
        .expect("stopped by the guard");
    assert!(why.contains("topic `order.inventory` holds"), "{why}");
    assert_eq!(
        mqlab_tui::panels::header::state_label(&frame.snapshots[0], false),
        "■ stopped"
    );
    let alone = Engine::new(&s, s.seed).run_within(16_000_000).unwrap_err();
    assert_eq!(driver.engines()[0].stopped(), Some(&alone));
    // Three engines, a third each: each stops sooner than the one engine did.
    let three = RunSpec {
        deliveries: Delivery::ALL.iter().copied().map(Some).collect(),
        ..one
    };
    driver.restart(&three).unwrap();
    finish(&mut driver);
    for e in driver.engines() {
        let stopped = e.stopped().expect("each engine stopped");
        assert!(stopped.budget <= 16_000_000 / 3, "{stopped:?}");
    }
}
