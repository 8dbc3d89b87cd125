//! The engine: one `World` of components in `Vec`s, one event queue, and the step loop.
//! (Stub: the real loop lands next.)

use crate::scenario::{FaultConfig, Scenario};
use crate::snapshot::Snapshot;
use crate::summary::RunSummary;
use crate::time::SimTime;

/// A run in progress.
pub struct Engine {
    now: SimTime,
}

impl Engine {
    /// Builds the world for `scenario` under `seed`.
    #[must_use]
    pub fn new(scenario: &Scenario, seed: u64) -> Engine {
        let _ = (scenario, seed);
        Engine { now: SimTime::ZERO }
    }
    /// Current simulated time.
    #[must_use]
    pub fn now(&self) -> SimTime {
        self.now
    }
    /// Processes the next event; false when the run is finished.
    pub fn step(&mut self) -> bool {
        todo!()
    }
    /// Processes every event up to and including `t`, then sets the clock to `t`
    /// (never past the end of the run).
    pub fn run_until(&mut self, t: SimTime) {
        let _ = t;
        todo!()
    }
    /// True once nothing is left to do or the drain period ended.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        todo!()
    }
    /// Runs to the end and returns the result.
    pub fn run(mut self) -> RunSummary {
        while self.step() {}
        self.summary()
    }
    /// The result so far (final once `is_finished`).
    #[must_use]
    pub fn summary(&self) -> RunSummary {
        todo!()
    }
    /// An owned view for the dashboard.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        todo!()
    }
    /// Injects a fault at `max(now, fault.at)` (the dashboard's fault menu).
    ///
    /// # Errors
    /// The target names nothing, or the kind is not supported.
    pub fn inject_fault(&mut self, fault: FaultConfig) -> Result<(), String> {
        let _ = fault;
        todo!()
    }
}
