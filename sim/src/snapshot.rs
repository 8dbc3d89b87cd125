//! `Snapshot`: an owned, self-contained view of a run in progress, for the dashboard.
//! Built by the engine on request; holds no references into engine state.

use crate::summary::{Expectation, Latency, Series};

pub mod live;
use crate::time::{SimDuration, SimTime};

/// Where the run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Producers are producing.
    Producing,
    /// Producers stopped; consumers finish within the drain period.
    Draining,
    /// Nothing left to do (or the drain period ended).
    Finished,
}

/// A consumer instance's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    /// Running normally.
    Up,
    /// Crashed; waiting to restart.
    Down,
    /// Running under a slow fault.
    Slow,
}

/// One consumer instance.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceView {
    /// Up, down or slow.
    pub state: InstanceState,
    /// Processing a message now.
    pub busy: bool,
    /// Partitions it owns (log model).
    pub partitions: Vec<u32>,
    /// Copies it has processed.
    pub processed: u64,
}

/// A circuit breaker's live state: one per (group, message type) with `circuit_breaker`.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerView {
    /// The group it protects.
    pub group: String,
    /// The message type (its producer).
    pub message_type: String,
    /// `closed`, `open` or `half-open`.
    pub state: &'static str,
    /// Messages of the type set aside while it is not closed.
    pub parked: u64,
}

/// The patterns' live state, for the dashboard; every list is empty when the scenario does
/// not use the pattern.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatternsView {
    /// Circuit breakers.
    pub breakers: Vec<BreakerView>,
    /// Per group with a resequencer: (group, messages it holds now).
    pub held: Vec<(String, u64)>,
    /// Per saga: (name, runs in progress now).
    pub sagas: Vec<(String, u64)>,
}

/// One consumer group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupView {
    /// Group name.
    pub name: String,
    /// Topic it consumes.
    pub topic: String,
    /// Delivery variant.
    pub delivery: String,
    /// Messages not yet committed (log) or not yet deleted (queue).
    pub lag: u64,
    /// Lag per partition (a queue has one).
    pub partition_lag: Vec<u64>,
    /// Copies processed so far.
    pub processed: u64,
    /// Largest lag so far.
    pub max_lag: u64,
    /// Its instances.
    pub instances: Vec<InstanceView>,
    /// A service: the topics it publishes to (empty otherwise).
    pub outputs: Vec<String>,
    /// With services in the scenario: p99 from the root message's intended send time to
    /// processing here, so far (0 otherwise).
    pub end_to_end_p99_s: f64,
    /// With services: p99 of this stage's own latency (from its input message's send to
    /// processing here), so far (0 otherwise).
    pub stage_p99_s: f64,
    /// It consumes a log: an operator can replay it (reset its offsets back).
    pub replayable: bool,
    /// It consumes a queue: an operator can redrive its dead letters.
    pub redrivable: bool,
}

/// One producer.
#[derive(Clone, Debug, PartialEq)]
pub struct ProducerView {
    /// Producer name.
    pub name: String,
    /// Topic it produces to.
    pub topic: String,
    /// Messages created so far.
    pub produced: u64,
    /// Waiting for space (backpressure), with this many messages buffered.
    pub blocked: u64,
    /// False while crashed.
    pub up: bool,
}

/// One topic or queue.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicView {
    /// Topic name.
    pub name: String,
    /// Messages held per partition.
    pub depth: Vec<u64>,
}

/// Counts so far. `lost_known` counts copies known lost already (taken and committed, then
/// a crash); the final `lost` is only known after the drain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Messages created.
    pub produced: u64,
    /// Messages acknowledged to their producer.
    pub acked: u64,
    /// Deliveries, counting repeats.
    pub delivered: u64,
    /// Copies processed at least once.
    pub processed: u64,
    /// Copies applied more than once.
    pub duplicated: u64,
    /// Copies applied out of order.
    pub out_of_order: u64,
    /// Copies dead-lettered.
    pub dead_lettered: u64,
    /// Copies dropped.
    pub dropped: u64,
    /// Copies known lost so far.
    pub lost_known: u64,
}

/// What kind of thing a log line reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// A fault started or ended.
    Fault,
    /// An instance or producer restarted.
    Restart,
    /// Partitions moved between instances.
    Rebalance,
    /// A copy went to the dead-letter queue.
    DeadLetter,
    /// Something was dropped or lost.
    Loss,
    /// Producers stopped, drain ended.
    Phase,
    /// Producers paused or resumed by the high and low watermarks.
    Backpressure,
    /// A circuit breaker changed state.
    Breaker,
    /// Replication: a partition's ISR shrank or grew, a leader was elected, a partition
    /// went offline.
    Broker,
    /// The server of the queue, exchange and pub/sub topics went down or came back.
    Server,
}

/// A stretch during which `block` with watermarks paused a topic's producers: from the
/// moment a partition's backlog reached the high watermark until it fell to the low one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseSpan {
    /// Topic name.
    pub topic: String,
    /// The partition (0 for a queue) whose backlog crossed the high watermark.
    pub partition: u32,
    /// When the producers paused.
    pub paused_at: SimTime,
    /// The partition's backlog then.
    pub paused_backlog: u64,
    /// When they resumed (none: still paused).
    pub resumed_at: Option<SimTime>,
    /// The partition's backlog then.
    pub resumed_backlog: Option<u64>,
}

/// A line of the run's event log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// When.
    pub at: SimTime,
    /// What kind.
    pub kind: LogKind,
    /// Human-readable text.
    pub text: String,
}

/// The whole view.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Scenario name.
    pub scenario: String,
    /// Seed of this run.
    pub seed: u64,
    /// Delivery variant (`mixed` when groups differ).
    pub delivery: String,
    /// Current simulated time.
    pub now: SimTime,
    /// When producers stop.
    pub duration: SimDuration,
    /// When the drain period ends at the latest.
    pub end: SimTime,
    /// Producing, draining or finished.
    pub phase: Phase,
    /// Events processed so far.
    pub events: u64,
    /// Trace hash so far.
    pub trace_hash: u64,
    /// Counts so far.
    pub counts: LiveCounts,
    /// Latency so far.
    pub latency: Latency,
    /// Per group.
    pub groups: Vec<GroupView>,
    /// Per producer.
    pub producers: Vec<ProducerView>,
    /// Per topic.
    pub topics: Vec<TopicView>,
    /// Completed time-series buckets.
    pub series: Series,
    /// Expectations evaluated on what is known so far (`lost` from `lost_known`).
    pub expectations: Vec<Expectation>,
    /// The most recent log lines, oldest first (at most 500).
    pub log: Vec<LogEntry>,
    /// Total log lines ever written (to tell how many were cut).
    pub log_total: u64,
    /// Broker nodes, whether each is up.
    pub brokers: Vec<bool>,
    /// The producers' pauses, oldest first: every open one and the most recent 1,000
    /// closed ones (empty without watermarks or `block`).
    pub pauses: Vec<PauseSpan>,
    /// The run's throughput so far, as the summary defines it (over the producing period
    /// so far; the drain apart).
    pub throughput: crate::summary::Throughput,
    /// The patterns' live state (breakers, held messages, sagas in progress).
    pub patterns: PatternsView,
    /// With services: the lineage check per stage output so far (`published + pending =
    /// expected, orphaned = 0`); empty otherwise. Kept apart from `expectations` because
    /// the checker panel judges the run, this is the pipeline view's live figure.
    pub lineage: Vec<Expectation>,
    /// Why the memory guard stopped the run before its end (`Stopped::short`), if it did.
    pub stopped: Option<String>,
}
