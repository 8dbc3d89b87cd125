//! Driving the engines: `Driver` owns one engine (three in compare mode) and moves them
//! in lockstep through the engine's public `run_until`/`snapshot`/`inject_fault` only;
//! `spawn` runs it on a worker thread paced to the wall clock times a speed, taking
//! `Control`s and sending owned `Frame`s back.
//!
//! Determinism: simulated time advances by whatever the wall clock allows, but the
//! engine's result does not depend on where `run_until` stops, and a hand-injected fault
//! is recorded with the exact simulated time the engine applied it at; replaying those
//! times as scenario faults gives the same run (tested in `tests/tui.rs`).

use crate::control::{
    AppEvent, Control, Example, FaultSpec, FaultWindow, Frame, History, RecordedFault, RunSpec,
    STEP, Speed,
};
use mqlab_sim::engine::TraceSpec;
use mqlab_sim::scenario::resolve_target;
use mqlab_sim::{Engine, Scenario, SimDuration, SimTime};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One or more engines in lockstep.
pub struct Driver {
    scenario: Scenario,
    engines: Vec<Engine>,
    generation: u64,
    /// What the engines may hold in memory together (each its share): past it the
    /// engine's guard stops a run (a storm) instead of the kernel killing the dashboard.
    memory: u64,
}

impl Driver {
    /// Engines for `spec` (fast-forwarded to `spec.until` if set).
    ///
    /// # Errors
    /// A replayed fault does not parse (a bug) or `spec` names no engine.
    pub fn new(scenario: Scenario, spec: &RunSpec) -> Result<Driver, String> {
        let engines = build(&scenario, spec, u64::MAX)?;
        Ok(Driver {
            scenario,
            engines,
            generation: 0,
            memory: u64::MAX,
        })
    }

    /// Lets the engines hold `bytes` of messages together, each its share, from now on
    /// and after every restart (a compare set's three engines a third each).
    #[must_use]
    pub fn with_memory(mut self, bytes: u64) -> Driver {
        self.memory = bytes;
        let share = share(bytes, self.engines.len());
        for e in &mut self.engines {
            e.limit_memory(share);
        }
        self
    }

    /// Throws the engines away and builds new ones for `spec`.
    ///
    /// # Errors
    /// As `new`; the old engines are kept then.
    pub fn restart(&mut self, spec: &RunSpec) -> Result<(), String> {
        self.engines = build(&self.scenario, spec, self.memory)?;
        self.generation += 1;
        Ok(())
    }

    /// Restarts so far (frames carry it).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Simulated time: the furthest any engine got (one that finished early stops).
    #[must_use]
    pub fn now(&self) -> SimTime {
        self.engines
            .iter()
            .map(Engine::now)
            .max()
            .unwrap_or(SimTime::ZERO)
    }

    /// True when every engine is finished.
    #[must_use]
    pub fn finished(&self) -> bool {
        self.engines.iter().all(Engine::is_finished)
    }

    /// Advances every unfinished engine to `now + by`.
    pub fn advance(&mut self, by: SimDuration) {
        let t = self.now() + by;
        for e in self.engines.iter_mut().filter(|e| !e.is_finished()) {
            e.run_until(t);
        }
    }

    /// Injects `spec` into every engine at the current simulated time and returns the
    /// record to export.
    ///
    /// # Errors
    /// The run is finished, the target names nothing in the scenario, or the engine
    /// refuses the fault.
    pub fn inject(&mut self, spec: &FaultSpec) -> Result<RecordedFault, String> {
        if self.finished() {
            return Err("the run is over: r restarts it".into());
        }
        if resolve_target(&self.scenario, &spec.target).is_none() {
            return Err(mqlab_sim::scenario::unresolved_target(
                &self.scenario,
                &spec.target,
            ));
        }
        // Everything at `now` has already run, so the engine applies a fault 1 ns later
        // at the earliest; ask for the next whole millisecond after that, so the export
        // reads `9.123s`, then record what the engine applied.
        let config = spec.to_config(next_millisecond(self.now()))?;
        for e in &mut self.engines {
            e.inject_fault(config.clone())
                .map_err(|e| format!("{}: {e}", spec.describe()))?;
        }
        let at = self.engines[0]
            .scenario()
            .faults
            .last()
            .map_or(SimTime::ZERO, |f| SimTime::ZERO + f.at);
        Ok(RecordedFault {
            at,
            spec: spec.clone(),
        })
    }

    /// Owned snapshots of every engine.
    #[must_use]
    pub fn frame(&self) -> Frame {
        Frame {
            generation: self.generation,
            snapshots: self.engines.iter().map(Engine::snapshot).collect(),
            faults: FaultWindow::started(&self.engines[0].scenario().faults, self.now()),
        }
    }

    /// The example ids of each group's anomalies so far (the first engine's), as the
    /// result names them.
    #[must_use]
    pub fn examples(&self) -> Vec<Example> {
        let summary = self.engines[0].summary();
        let mut out = Vec::new();
        for g in &summary.groups {
            for (anomaly, ids) in g.examples.by_anomaly() {
                let count = match anomaly {
                    "lost" => g.lost,
                    "duplicated" => g.duplicated,
                    "out_of_order" => g.out_of_order,
                    _ => g.dropped,
                };
                out.extend(ids.iter().map(|&id| Example {
                    group: g.name.clone(),
                    anomaly,
                    count,
                    id,
                }));
            }
        }
        out
    }

    /// A job that re-runs the first engine's run (its scenario, injected faults included,
    /// and seed) following `example`'s message, up to where the run is now (to its end
    /// once it is over), and returns the message's history. Runs anywhere: it shares
    /// nothing with the driver.
    pub fn trace_job(&self, example: &Example) -> impl FnOnce() -> History + Send + 'static {
        let e = &self.engines[0];
        let (scenario, seed) = (e.scenario().clone(), e.seed());
        let until = (!e.is_finished()).then(|| e.now());
        let spec = TraceSpec {
            message: example.id,
            group: Some(example.group.clone()),
            topic: None,
        };
        move || {
            let mut e = Engine::new(&scenario, seed);
            e.trace(&spec).map_err(|x| x.to_string())?;
            match until {
                Some(t) => e.run_until(t),
                None => while e.step() {},
            }
            e.history().map_err(|x| x.to_string())
        }
    }

    /// The engines, for tests that compare them with plain runs.
    #[must_use]
    pub fn engines(&self) -> &[Engine] {
        &self.engines
    }
}

/// The first whole millisecond strictly after `t`.
#[must_use]
pub fn next_millisecond(t: SimTime) -> SimTime {
    const MS: u64 = 1_000_000;
    SimTime((t.0 / MS + 1) * MS)
}

/// Each of `engines` engines' part of `bytes`.
fn share(bytes: u64, engines: usize) -> u64 {
    bytes / engines.max(1) as u64
}

fn build(base: &Scenario, spec: &RunSpec, memory: u64) -> Result<Vec<Engine>, String> {
    if spec.deliveries.is_empty() {
        return Err("a run needs at least one engine".into());
    }
    let mut replay = Vec::new();
    for f in &spec.replay {
        replay.push(f.spec.to_config(f.at)?);
    }
    let mut engines = Vec::new();
    for d in &spec.deliveries {
        let mut s = base.clone();
        if let Some(d) = d {
            s.set_delivery(*d);
        }
        // Appended after the file's own faults: exactly what the export writes.
        s.faults.extend(replay.iter().cloned());
        let mut e = Engine::new(&s, spec.seed);
        e.limit_memory(share(memory, spec.deliveries.len()));
        if let Some(t) = spec.until {
            e.run_until(t);
        }
        engines.push(e);
    }
    Ok(engines)
}

/// How often the worker reports while running (about 30 frames a second).
const FRAME: Duration = Duration::from_millis(33);
/// A longer wall-clock gap than this (a suspended laptop, a slow frame) is not made up.
const MAX_GAP: Duration = Duration::from_millis(250);

/// Starts the worker thread: it advances `driver` at `speed` until told to quit or until
/// the UI hangs up.
#[must_use]
pub fn spawn(
    driver: Driver,
    speed: Speed,
    controls: Receiver<Control>,
    events: SyncSender<AppEvent>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("mqlab-engine".into())
        .spawn(move || {
            Worker {
                driver,
                speed,
                paused: false,
                events,
                chunk: SimDuration::from_millis(1),
            }
            .run(&controls);
        })
        .expect("spawning the engine thread")
}

struct Worker {
    driver: Driver,
    speed: Speed,
    paused: bool,
    events: SyncSender<AppEvent>,
    /// Flat out: simulated time per `run_until`, tuned so one call takes a few ms and
    /// controls stay responsive.
    chunk: SimDuration,
}

/// Whether the worker goes on.
type Go = Result<(), ()>;

impl Worker {
    fn run(mut self, controls: &Receiver<Control>) {
        if self.send(true).is_err() {
            return;
        }
        let mut last = Instant::now();
        loop {
            if self.paused || self.driver.finished() {
                // Idle: nothing moves until told; the wall time spent here is not owed.
                let Ok(c) = controls.recv() else { return };
                if self.apply(c).is_err() {
                    return;
                }
                last = Instant::now();
                continue;
            }
            let advanced = match self.speed {
                Speed::Paced(x) => {
                    match controls.recv_timeout(FRAME.saturating_sub(last.elapsed())) {
                        Ok(c) => {
                            if self.apply(c).is_err() {
                                return;
                            }
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => return,
                        Err(RecvTimeoutError::Timeout) => {}
                    }
                    let now = Instant::now();
                    let wall = now.duration_since(last).min(MAX_GAP);
                    last = now;
                    #[allow(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        clippy::cast_precision_loss
                    )]
                    let sim = SimDuration((wall.as_nanos() as f64 * x).round() as u64);
                    self.driver.advance(sim);
                    Ok(())
                }
                Speed::FlatOut => {
                    let r = self.flat_out(controls);
                    last = Instant::now();
                    r
                }
            };
            if advanced.is_err() || self.send(self.driver.finished()).is_err() {
                return;
            }
        }
    }

    /// Runs flat out for one frame's worth of wall time, checking controls between chunks.
    fn flat_out(&mut self, controls: &Receiver<Control>) -> Go {
        let start = Instant::now();
        while start.elapsed() < FRAME && !self.driver.finished() {
            match controls.try_recv() {
                Ok(c) => return self.apply(c),
                Err(TryRecvError::Disconnected) => return Err(()),
                Err(TryRecvError::Empty) => {}
            }
            let t = Instant::now();
            self.driver.advance(self.chunk);
            let took = t.elapsed();
            if took < Duration::from_millis(2) {
                self.chunk = SimDuration(self.chunk.0.saturating_mul(2).min(3_600_000_000_000));
            } else if took > Duration::from_millis(8) {
                self.chunk = SimDuration((self.chunk.0 / 2).max(1_000));
            }
        }
        Ok(())
    }

    fn apply(&mut self, c: Control) -> Go {
        match c {
            Control::Quit => return Err(()),
            Control::Pause => {
                self.paused = true;
                return self.send(true);
            }
            Control::Resume => self.paused = false,
            Control::Speed(s) => self.speed = s,
            Control::Step => {
                self.driver.advance(STEP);
                return self.send(true);
            }
            Control::Inject(spec) => {
                let event = match self.driver.inject(&spec) {
                    Ok(fault) => AppEvent::Injected {
                        generation: self.driver.generation(),
                        fault,
                    },
                    Err(e) => AppEvent::Rejected(e),
                };
                self.events.send(event).map_err(|_| ())?;
                return self.send(true);
            }
            Control::Restart(spec) => {
                if let Err(e) = self.driver.restart(&spec) {
                    self.events.send(AppEvent::Rejected(e)).map_err(|_| ())?;
                }
                return self.send(true);
            }
            Control::Examples => {
                let event = AppEvent::Examples {
                    generation: self.driver.generation(),
                    examples: self.driver.examples(),
                };
                self.events.send(event).map_err(|_| ())?;
            }
            Control::Trace(example) => {
                // In the background: a long run takes a while to re-run, and the
                // dashboard stays live meanwhile. A send after the UI quit goes nowhere.
                let job = self.driver.trace_job(&example);
                let (events, generation) = (self.events.clone(), self.driver.generation());
                let spawned = std::thread::Builder::new()
                    .name("mqlab-trace".into())
                    .spawn(move || {
                        let history = job();
                        let _ = events.send(AppEvent::Traced {
                            generation,
                            example,
                            history,
                        });
                    });
                if let Err(e) = spawned {
                    let why = AppEvent::Rejected(format!("cannot start the trace: {e}"));
                    self.events.send(why).map_err(|_| ())?;
                }
            }
        }
        Ok(())
    }

    /// Sends a frame. A routine one is dropped when the UI is behind (a newer one follows
    /// shortly); one the user waits for (pause, step, restart, the end) always goes.
    fn send(&self, must: bool) -> Go {
        let event = AppEvent::Snapshot(self.driver.frame());
        if must {
            return self.events.send(event).map_err(|_| ());
        }
        match self.events.try_send(event) {
            Ok(()) | Err(TrySendError::Full(_)) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The worker's protocol, on a real engine: each control gets the answer the UI
    //! waits for, and quitting ends the thread.
    use super::*;
    use mqlab_sim::scenario::FaultKind;
    use std::sync::mpsc;

    const SOURCE: &str = "name = \"w\"\nduration = \"5s\"\ndrain = \"5s\"\n\
        [[topic]]\nname = \"t\"\npartitions = 2\n\
        [[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = 200\n\
        [[consumer]]\ngroup = \"g\"\ntopic = \"t\"\ninstances = 2\n";

    fn start() -> (
        mpsc::Sender<Control>,
        mpsc::Receiver<AppEvent>,
        JoinHandle<()>,
    ) {
        let scenario = Scenario::from_toml(SOURCE, "w.toml").unwrap();
        let spec = RunSpec {
            seed: 3,
            deliveries: vec![None],
            replay: Vec::new(),
            until: None,
        };
        let driver = Driver::new(scenario, &spec).unwrap();
        let (event_tx, event_rx) = mpsc::sync_channel(64);
        let (control_tx, control_rx) = mpsc::channel();
        // Very slow pacing, so simulated time only moves when the test says.
        let worker = spawn(driver, Speed::Paced(1e-9), control_rx, event_tx);
        (control_tx, event_rx, worker)
    }

    /// Everything the worker sends until it has been quiet for 200 ms.
    fn settle(events: &mpsc::Receiver<AppEvent>) -> Vec<AppEvent> {
        let mut seen = Vec::new();
        while let Ok(e) = events.recv_timeout(Duration::from_millis(200)) {
            seen.push(e);
        }
        seen
    }

    fn last_now(seen: &[AppEvent]) -> SimTime {
        seen.iter()
            .rev()
            .find_map(|e| match e {
                AppEvent::Snapshot(f) => Some(f.snapshots[0].now),
                _ => None,
            })
            .expect("a frame")
    }

    #[test]
    fn pause_step_inject_restart_and_quit() {
        let (controls, events, worker) = start();
        controls.send(Control::Pause).unwrap();
        let t0 = last_now(&settle(&events));
        controls.send(Control::Step).unwrap();
        let t1 = last_now(&settle(&events));
        assert_eq!(t1, t0 + STEP, "a step is exactly 100ms of simulated time");
        assert!(next_millisecond(t1) > t1 && next_millisecond(t1) <= t1 + SimDuration(1_000_000));
        assert_eq!(next_millisecond(SimTime(2_000_000)), SimTime(3_000_000));

        let crash = FaultSpec {
            kind: FaultKind::Crash,
            target: "g/1".into(),
            duration: Some(SimDuration::from_secs(1)),
            factor: None,
            count: None,
        };
        controls.send(Control::Inject(crash.clone())).unwrap();
        let seen = settle(&events);
        let injected = seen.iter().find_map(|e| match e {
            AppEvent::Injected { generation, fault } => Some((*generation, fault.clone())),
            _ => None,
        });
        assert_eq!(
            injected,
            Some((
                0,
                RecordedFault {
                    at: next_millisecond(t1),
                    spec: crash.clone()
                }
            ))
        );

        let bad = FaultSpec {
            target: "nobody".into(),
            ..crash
        };
        controls.send(Control::Inject(bad)).unwrap();
        assert!(
            settle(&events)
                .iter()
                .any(|e| matches!(e, AppEvent::Rejected(m) if m.contains("names nothing")))
        );

        controls
            .send(Control::Restart(RunSpec {
                seed: 3,
                deliveries: vec![None],
                replay: Vec::new(),
                until: None,
            }))
            .unwrap();
        let seen = settle(&events);
        let AppEvent::Snapshot(f) = seen.last().unwrap() else {
            panic!("a frame after restart")
        };
        assert_eq!((f.generation, f.snapshots[0].now), (1, SimTime::ZERO));

        controls.send(Control::Quit).unwrap();
        worker.join().unwrap();
    }

    #[test]
    fn flat_out_runs_to_the_end_and_the_worker_stops_when_the_ui_hangs_up() {
        let (controls, events, worker) = start();
        controls.send(Control::Speed(Speed::FlatOut)).unwrap();
        let end = loop {
            if let AppEvent::Snapshot(f) = events.recv().unwrap()
                && f.snapshots[0].phase == mqlab_sim::snapshot::Phase::Finished
            {
                break f.snapshots[0].trace_hash;
            }
        };
        let scenario = Scenario::from_toml(SOURCE, "w.toml").unwrap();
        assert_eq!(
            format!("{end:016x}"),
            Engine::new(&scenario, 3).run().trace_hash
        );
        drop(controls);
        drop(events);
        worker.join().unwrap();
    }
}
