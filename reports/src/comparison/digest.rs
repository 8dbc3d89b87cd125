//! What a comparison keeps of one run: the few figures its statistics, guarantees and
//! tables read, a few hundred bytes where the run itself is tens of KB. A sweep builds one
//! as each run finishes and lets the run go (to the output, or nowhere), so its memory
//! grows with the variants and a handful of numbers per seed, never with whole runs.

use crate::phases::{self, FaultPhases, Warmup};
use mqlab_sim::RunSummary;

/// One run, reduced to what `Comparison` aggregates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Digest {
    /// The run's seed.
    pub seed: u64,
    /// The delivery it actually ran with.
    pub delivery: String,
    /// mqlab version, scenario name and scenario hash, as the run records them.
    pub version: String,
    /// Scenario name.
    pub scenario: String,
    /// FNV-1a of the scenario source.
    pub scenario_hash: String,
    /// `messages.acked`.
    pub acked: u64,
    /// `messages.lost`.
    pub lost: u64,
    /// `messages.duplicated`.
    pub duplicated: u64,
    /// `messages.out_of_order`.
    pub out_of_order: u64,
    /// `messages.dead_lettered`.
    pub dead_lettered: u64,
    /// `messages.dropped`.
    pub dropped: u64,
    /// End-to-end p50, p99 and p99.9 latency, seconds.
    pub latency_p50_s: f64,
    /// See `latency_p50_s`.
    pub latency_p99_s: f64,
    /// See `latency_p50_s`.
    pub latency_p999_s: f64,
    /// Copies-weighted mean wait over the groups.
    pub wait_mean_s: f64,
    /// Seconds the warm-up rule cut.
    pub cut_s: f64,
    /// Processed per second after the cut.
    pub steady_per_s: f64,
    /// Seconds to drain after producers stopped, when the lag reached 0.
    pub drain_s: Option<f64>,
    /// Largest lag over the groups.
    pub max_lag: u64,
    /// Conservation held.
    pub conservation_ok: bool,
    /// The run's expectation rows, by name, and whether each held.
    pub expectations: Vec<(String, bool)>,
    /// Per fault window, after the cut.
    pub phases: Vec<FaultPhases>,
    /// A full broker's answers, when it filled up.
    pub overflow: Option<mqlab_sim::summary::Overflow>,
}

impl Digest {
    /// The figures of `run` under `warmup`.
    #[must_use]
    pub fn of(run: &RunSummary, warmup: Warmup) -> Digest {
        let m = &run.messages;
        let cut_s = warmup.cut_s(run);
        Digest {
            seed: run.seed,
            delivery: run.delivery.clone(),
            version: run.version.clone(),
            scenario: run.scenario.clone(),
            scenario_hash: run.scenario_hash.clone(),
            acked: m.acked,
            lost: m.lost,
            duplicated: m.duplicated,
            out_of_order: m.out_of_order,
            dead_lettered: m.dead_lettered,
            dropped: m.dropped,
            latency_p50_s: run.latency_s.p50,
            latency_p99_s: run.latency_s.p99,
            latency_p999_s: run.latency_s.p999,
            wait_mean_s: super::wait_mean_s(run),
            cut_s,
            steady_per_s: phases::throughput(run, cut_s),
            drain_s: phases::drain_s(run),
            max_lag: run.groups.iter().map(|g| g.max_lag).max().unwrap_or(0),
            conservation_ok: run.conservation_ok,
            expectations: run
                .expectations
                .iter()
                .map(|e| (e.check.clone(), e.ok))
                .collect(),
            phases: phases::fault_phases(run, cut_s),
            overflow: run.overflow,
        }
    }

    /// The run passed the expectation named `check`, or does not list it.
    #[must_use]
    pub fn passed(&self, check: &str) -> bool {
        self.expectations.iter().all(|(c, ok)| c != check || *ok)
    }
}
