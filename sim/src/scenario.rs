//! The scenario model: the TOML contract of DESIGN.md as typed structs, loaded with
//! serde (unknown keys and wrong types are errors that carry the line and column) and then
//! checked by `validate` for what serde cannot see (names that point at nothing, zero
//! rates). This module only reads text; it never opens files.

pub mod bounds;
mod consumer;
mod lints;
mod operator;
mod output;
mod overrides;
mod producer;
mod protect;
mod publish;
mod replies;
mod saga;
mod target_hint;
mod validate;
pub use consumer::{
    Assignment, ConsumerConfig, Delivery, Idempotence, OffsetReset, OnFailure, Overflow, Scheduling,
};
pub use lints::{Lint, fault_note};
pub use operator::{ReplayTo, is_operator_action};
pub use output::{MAX_OUTPUT_COUNT, OutputConfig, producer_name};
pub use overrides::SetError;
pub use producer::{Arrival, Correlation, KeyDistribution, Partitioner, ProducerConfig};
pub use publish::Publish;
pub use replies::reply_queue;
pub use saga::{MAX_STEPS, SagaConfig, SagaStep, command_queue, saga_replies};
pub use target_hint::unresolved as unresolved_target;
pub use validate::timers::TIMER_FLOOR;
pub use validate::{SERVER_NODE, Target, resolve_target};

use crate::dist::Dist;
use crate::error::ScenarioError;
pub use crate::exchange::ExchangeKind;
use crate::size::{Bandwidth, Bytes};
use crate::time::SimDuration;
use serde::Deserialize;
use toml::Spanned;

/// A whole scenario file. Defaults: `description = ""`, `seed = 0`, `drain = "60s"`,
/// `sample_interval` chosen so that the run has about 120 samples.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, shown by `mqlab list` and in every report.
    #[serde(deserialize_with = "bounds::printable")]
    pub name: String,
    /// What the scenario teaches and what to look for.
    #[serde(default, deserialize_with = "bounds::printable_text")]
    pub description: String,
    /// Default seed; `--seed` overrides it.
    #[serde(default)]
    pub seed: u64,
    /// How long producers produce.
    #[serde(deserialize_with = "bounds::positive")]
    pub duration: SimDuration,
    /// After `duration`, at most this long for consumers to finish.
    #[serde(default = "default_drain")]
    pub drain: SimDuration,
    /// Width of one time-series bucket (the series coarsens past
    /// [`crate::metrics::MAX_BUCKETS`] buckets).
    #[serde(default)]
    pub sample_interval: Option<SimDuration>,
    /// The broker model and its settings.
    #[serde(default)]
    pub broker: BrokerConfig,
    /// Network between clients and the broker.
    #[serde(default)]
    pub network: NetworkConfig,
    /// Topics (log model) or queues (queue model).
    #[serde(default, rename = "topic")]
    pub topics: Vec<TopicConfig>,
    /// Producers.
    #[serde(default, rename = "producer")]
    pub producers: Vec<ProducerConfig>,
    /// Consumer groups.
    #[serde(default, rename = "consumer")]
    pub consumers: Vec<ConsumerConfig>,
    /// Injected faults.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultConfig>,
    /// Orchestrated sagas (run over queues and groups the engine derives from them).
    #[serde(default, rename = "saga")]
    pub sagas: Vec<SagaConfig>,
    /// What must hold for `mqlab run` to exit 0.
    #[serde(default)]
    pub expect: Expect,
}

fn default_drain() -> SimDuration {
    SimDuration::from_secs(60)
}

/// Broker settings. Defaults: `model = "log"`, `nodes = 1`, `replication = 1`,
/// `acks = "leader"`, `capacity = 1000000`, `on_full = "block"`,
/// `visibility_timeout = "30s"`, `max_receives = 5`, `min_insync_replicas = 1`,
/// `unclean_leader_election = false`, `replica_lag = "1ms"`, `flush_interval = "0"`,
/// `spill_latency = "1ms"`, no `spill_capacity` limit, no `bandwidth` (unlimited).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Which semantics the broker follows.
    pub model: Spanned<BrokerModel>,
    /// Broker nodes.
    pub nodes: Spanned<u32>,
    /// Replicas per partition.
    pub replication: Spanned<u32>,
    /// When a producer is told its message is sent.
    pub acks: Acks,
    /// Messages held per partition or queue before `on_full` applies.
    pub capacity: Spanned<u64>,
    /// What happens when a partition or queue is full.
    pub on_full: Spanned<OnFull>,
    /// Backlog (messages per partition or queue) at which `on_full` applies instead of
    /// `capacity`; with `block` the producer pauses on reaching it.
    pub high_watermark: Option<Spanned<u64>>,
    /// `block`: a paused producer resumes once the backlog falls to this (default: one
    /// below `high_watermark`, that is as soon as there is room).
    pub low_watermark: Option<Spanned<u64>>,
    /// `spill`: messages the slower storage holds before it refuses more (default: no
    /// limit).
    pub spill_capacity: Option<Spanned<u64>>,
    /// `spill`: how long reading one message back from the slower storage takes.
    pub spill_latency: Dist,
    /// Queue model: how long a received message stays invisible (at most 12h, as SQS).
    #[serde(deserialize_with = "bounds::sqs_visibility")]
    pub visibility_timeout: SimDuration,
    /// Queue model: receives after which a message goes to the dead-letter queue.
    pub max_receives: Spanned<u32>,
    /// Log model, `acks = "all"`: in-sync replicas required to accept a write.
    pub min_insync_replicas: Spanned<u32>,
    /// Log model: elect an out-of-sync replica rather than wait (and lose its gap).
    pub unclean_leader_election: bool,
    /// Log model: how long a follower's fetch takes to bring it up to the leader.
    pub replica_lag: Dist,
    /// Log model: how often brokers flush their logs to disk; `"0"` flushes every write.
    pub flush_interval: SimDuration,
    /// Bytes per second the broker ingests, one request at a time (none: unlimited).
    pub bandwidth: Option<Spanned<Bandwidth>>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            model: Spanned::new(0..0, BrokerModel::Log),
            nodes: Spanned::new(0..0, 1),
            replication: Spanned::new(0..0, 1),
            acks: Acks::Leader,
            capacity: Spanned::new(0..0, 1_000_000),
            on_full: Spanned::new(0..0, OnFull::Block),
            high_watermark: None,
            low_watermark: None,
            spill_capacity: None,
            spill_latency: Dist::Const(SimDuration::from_millis(1)),
            visibility_timeout: SimDuration::from_secs(30),
            max_receives: Spanned::new(0..0, 5),
            min_insync_replicas: Spanned::new(0..0, 1),
            unclean_leader_election: false,
            replica_lag: Dist::Const(SimDuration::from_millis(1)),
            flush_interval: SimDuration::ZERO,
            bandwidth: None,
        }
    }
}

/// `broker.model`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BrokerModel {
    /// Kafka-like partitioned log.
    Log,
    /// SQS-like queue with competing consumers.
    Queue,
    /// RabbitMQ-like exchanges.
    Exchange,
    /// Redis-like pub/sub.
    Pubsub,
}

impl BrokerModel {
    /// The name as written in scenario files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerModel::Log => "log",
            BrokerModel::Queue => "queue",
            BrokerModel::Exchange => "exchange",
            BrokerModel::Pubsub => "pubsub",
        }
    }
}

/// `broker.acks`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Acks {
    /// Fire and forget: the producer counts a message sent as soon as it leaves.
    None,
    /// Acknowledged once the leader has appended it.
    Leader,
    /// Acknowledged once every in-sync replica has it.
    All,
}

impl Acks {
    /// The name as written in scenario files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Acks::None => "none",
            Acks::Leader => "leader",
            Acks::All => "all",
        }
    }
}

/// `broker.on_full`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OnFull {
    /// The producer waits (its messages' latency keeps counting).
    Block,
    /// The oldest unconsumed message is discarded to make room.
    DropOldest,
    /// The new message is refused.
    Reject,
    /// Overflow is accepted into slower storage and read back in order when there is room.
    Spill,
}

/// Network settings. Defaults: `latency = "0"` (instantaneous), `loss = 0`, `duplicate = 0`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// One-way latency between any client and the broker.
    pub latency: Dist,
    /// Fraction of produce requests and acknowledgements lost on the way.
    pub loss: Spanned<f64>,
    /// Fraction of produce requests delivered twice.
    pub duplicate: Spanned<f64>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency: Dist::ZERO,
            loss: Spanned::new(0..0, 0.0),
            duplicate: Spanned::new(0..0, 0.0),
        }
    }
}

/// A topic of the log model, or a queue of the queue model. Default: `partitions = 1`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// Unique name.
    pub name: Spanned<String>,
    /// Partitions (log model); a queue has exactly one.
    #[serde(default = "one_spanned")]
    pub partitions: Spanned<u32>,
    /// This topic's model when it differs from `broker.model` (say, a queue beside logs).
    #[serde(default)]
    pub model: Option<Spanned<BrokerModel>>,
    /// Exchange model: the exchange type (default `direct`).
    #[serde(default)]
    pub exchange: Option<Spanned<ExchangeKind>>,
    /// Queue model, FIFO: how long after its first send a resend is recognised.
    #[serde(default = "five_minutes")]
    pub dedup_window: SimDuration,
    /// Log model: how long messages are kept, read or not (Kafka's retention.ms); without
    /// it a message is forgotten once every group has committed it.
    #[serde(default)]
    pub retention: Option<SimDuration>,
    /// Queue model: an SQS FIFO queue (message group = the message's key; resends are
    /// deduplicated).
    #[serde(default)]
    pub fifo: Option<Spanned<bool>>,
    /// Built by the engine (a requester's reply queue), never read from a file.
    #[serde(skip)]
    pub derived: bool,
}

impl TopicConfig {
    /// The model this topic follows.
    #[must_use]
    pub fn model(&self, broker: &BrokerConfig) -> BrokerModel {
        *self.model.as_ref().unwrap_or(&broker.model).get_ref()
    }
}

fn five_minutes() -> SimDuration {
    SimDuration::from_secs(300)
}

pub(super) fn one_spanned() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

/// An injected fault. `duration` absent means the fault lasts to the end of the run.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// When it starts.
    pub at: SimDuration,
    /// What it is.
    pub kind: Spanned<FaultKind>,
    /// `group/instance`, `group` (every instance), or a producer name.
    pub target: Spanned<String>,
    /// How long it lasts.
    #[serde(default)]
    pub duration: Option<SimDuration>,
    /// `slow`: service-time multiplier.
    #[serde(default)]
    pub factor: Option<Spanned<f64>>,
    /// `poison`: fraction of the producer's messages that always fail.
    #[serde(default)]
    pub rate: Option<Spanned<f64>>,
    /// `poison`: the next `count` messages of the producer are poison.
    #[serde(default)]
    pub count: Option<u64>,
    /// `latency-spike`: the network's one-way latency during the window.
    #[serde(default)]
    pub latency: Option<Dist>,
    /// `poison` and `outage`: how a doomed attempt ends (default `fail`).
    #[serde(default)]
    pub mode: Option<Spanned<FailMode>>,
    /// `replay`: where the committed offsets go back to (default `earliest`).
    #[serde(default)]
    pub to: Option<Spanned<ReplayTo>>,
    /// `replay`: back this many messages per partition instead.
    #[serde(default)]
    pub shift_by: Option<Spanned<u64>>,
}

impl FaultConfig {
    /// A fault of `kind` on `target` at `at`, every optional setting unset (the
    /// dashboard's fault menu builds its faults from this).
    #[must_use]
    pub fn new(kind: FaultKind, target: &str, at: SimDuration) -> FaultConfig {
        FaultConfig {
            at,
            kind: Spanned::new(0..0, kind),
            target: Spanned::new(0..0, target.to_string()),
            duration: None,
            factor: None,
            rate: None,
            count: None,
            latency: None,
            mode: None,
            to: None,
            shift_by: None,
        }
    }
}

/// `fault.kind`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// A consumer instance (or producer) stops; restarts after `duration`.
    Crash,
    /// Service time multiplied by `factor`.
    Slow,
    /// Some messages always fail processing.
    Poison,
    /// A broker node fails.
    BrokerCrash,
    /// The target (a producer, a group or one instance) cannot reach the broker.
    Partition,
    /// The network's latency becomes `latency` (target `network`).
    LatencySpike,
    /// A dependency of one message type (the target producer's messages) is down: every
    /// attempt to process one fails while it lasts, though the messages themselves are fine.
    Outage,
    /// An operator resets a log group's committed offsets back (target a group): to the
    /// earliest retained offset, to a point of the run (`to`), or back by `shift_by`.
    Replay,
    /// An operator moves a queue group's dead letters back to its queue, their receive
    /// counts reset (SQS DLQ redrive).
    Redrive,
}

impl FaultKind {
    /// The scenario-file spelling (`broker-crash`), as exports and reports write it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Slow => "slow",
            FaultKind::Poison => "poison",
            FaultKind::BrokerCrash => "broker-crash",
            FaultKind::Partition => "partition",
            FaultKind::LatencySpike => "latency-spike",
            FaultKind::Outage => "outage",
            FaultKind::Replay => "replay",
            FaultKind::Redrive => "redrive",
        }
    }
}

/// `fault.mode`: how a doomed processing attempt (poison or outage) ends.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FailMode {
    /// It fails after its service time.
    #[default]
    Fail,
    /// It never returns; only a consumer's `processing_timeout` ends it.
    Hang,
}

/// The `[expect]` block; each bound is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// At most this many lost copies.
    pub lost: Option<u64>,
    /// At most this many duplicated copies.
    pub duplicated: Option<u64>,
    /// At most this many copies applied out of order.
    pub out_of_order: Option<u64>,
    /// At most this many dead-lettered copies.
    pub dead_lettered: Option<u64>,
    /// At most this many dropped copies.
    pub dropped: Option<u64>,
    /// At most this many copies still in flight after the drain.
    pub in_flight: Option<u64>,
    /// End-to-end median latency at most this.
    pub p50_latency: Option<SimDuration>,
    /// End-to-end p99 latency at most this.
    pub p99_latency: Option<SimDuration>,
    /// End-to-end p99.9 latency at most this.
    pub p999_latency: Option<SimDuration>,
    /// Largest consumer lag of any group at most this.
    pub max_lag: Option<u64>,
    /// Gaps the resequencers skipped (timed out or buffer full), all groups, at most this.
    pub gaps_skipped: Option<u64>,
    /// Every priority class gets at least this fraction of the copies processed while
    /// producers produce (its throughput share).
    pub min_share: Option<Spanned<f64>>,
    /// At most this many phantom events: published for a state change that was never
    /// committed (`publish = "publish-first"`).
    pub phantom: Option<u64>,
    /// Sagas: at most this many left half-done (a step applied and never compensated).
    pub half_done: Option<Spanned<u64>>,
    /// Sagas: at most this many still in progress after the drain.
    pub in_progress: Option<Spanned<u64>>,
    /// Request-reply: at most this many replies matched to the wrong request.
    pub mismatched: Option<Spanned<u64>>,
    /// Request-reply: at most this many requests timed out.
    pub timeouts: Option<Spanned<u64>>,
    /// Request-reply: at most this many late replies (after their request timed out).
    pub orphans: Option<Spanned<u64>>,
    /// At most this many copies quarantined (a consumer's `quarantine`).
    pub quarantined: Option<u64>,
    /// Per message type (producer name): its end-to-end p99 latency at most this.
    pub p99_latency_of: Option<Spanned<std::collections::BTreeMap<String, SimDuration>>>,
    /// Peak payload bytes held by the broker at most this (`"64MB"`).
    pub max_broker_bytes: Option<Bytes>,
}

impl Scenario {
    /// About how many bytes of per-message state the run will hold at its peak: rate ×
    /// duration messages where the ledger keeps every copy, the window of messages not
    /// final yet where it folds.
    #[must_use]
    pub fn ledger_bytes_estimate(&self) -> f64 {
        validate::size::ledger_bytes(self)
    }

    /// Parses and validates a scenario. `path` only names the file in errors.
    ///
    /// # Errors
    /// The first problem found, with the line, column and what was expected.
    pub fn from_toml(source: &str, path: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = toml::from_str(source)
            .map_err(|e| ScenarioError::at(path, source, e.span(), with_suggestion(e.message())))?;
        validate::validate(&scenario)
            .and_then(|()| validate::timers::check(&scenario, Some(source)))
            .map_err(|(span, message)| ScenarioError::at(path, source, span, message))?;
        Ok(scenario)
    }

    /// Parses `source` with `--set` settings applied to the document before it is read,
    /// so that each value is checked exactly as the file is (later settings win).
    ///
    /// # Errors
    /// The file does not load, or a setting names nothing, takes no such value or
    /// contradicts the file.
    pub fn from_toml_with(
        source: &str,
        path: &str,
        settings: &[(String, String)],
    ) -> Result<Scenario, SetError> {
        overrides::with_settings(source, path, settings)
    }

    /// Validates a scenario changed after loading (`--set`); the message only, since
    /// the change has no place in the file.
    ///
    /// # Errors
    /// The first problem found.
    pub fn check(&self) -> Result<(), String> {
        validate::validate(self)
            .and_then(|()| validate::timers::check(self, None))
            .map_err(|(_, message)| message)
    }

    /// What the scenario asks that the model takes without doing (see `lints.rs`).
    #[must_use]
    pub fn lints(&self) -> Vec<Lint> {
        lints::lints(self)
    }

    /// Sets every consumer group's delivery variant (`--delivery`). An idempotence mode
    /// refines at-least-once, so another variant clears it (exactly-once is transactional).
    pub fn set_delivery(&mut self, delivery: Delivery) {
        for c in &mut self.consumers {
            c.delivery = delivery;
            if delivery != Delivery::AtLeastOnce {
                c.idempotence = None;
            }
        }
    }

    /// The time-series bucket width: the configured one, or about 1/120 of the run.
    #[must_use]
    pub fn sample_width(&self) -> SimDuration {
        if let Some(w) = self.sample_interval.filter(|w| !w.is_zero()) {
            return w;
        }
        let target = self.duration.0 / 120;
        let mut nice = 1_000_000u64; // 1ms
        while nice < target {
            nice = next_nice(nice);
        }
        SimDuration(nice)
    }
}

/// 1, 2, 5, 10, 20, 50, ... times a power of ten.
fn next_nice(n: u64) -> u64 {
    let mut p = 1;
    while p * 10 <= n {
        p *= 10;
    }
    match n / p {
        1 => 2 * p,
        2 => 5 * p,
        _ => 10 * p,
    }
}

/// serde lists every key a table takes after "unknown field `rat`, expected one of …"; a
/// near miss also gets the one it most likely meant.
#[must_use]
pub fn with_suggestion(message: &str) -> String {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"));
    let Some((got, expected)) = rest.and_then(|r| r.split_once('`')) else {
        return message.to_string();
    };
    // The names are every other piece between backticks.
    let names = expected.split('`').skip(1).step_by(2);
    format!("{message}{}", did_you_mean(got, names))
}

/// `; did you mean `X`?` for the name closest to `got` within a quarter of its length
/// (at least two edits), else empty; the first of equally close names wins.
pub(crate) fn did_you_mean<'a>(got: &str, names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|name| (strsim::damerau_levenshtein(got, name), name))
        .filter(|&(d, name)| d <= (name.len() / 4).max(2))
        .min_by_key(|&(d, _)| d)
        .map_or(String::new(), |(_, name)| {
            format!("; did you mean `{name}`?")
        })
}

#[cfg(test)]
mod tests {
    use super::FaultKind;

    #[test]
    fn a_near_miss_gets_a_suggestion_and_a_far_one_does_not() {
        let near = super::Scenario::from_toml(
            "name = \"x\"\nduration = \"1s\"\n[broker]\nmodle = \"log\"\n",
            "x.toml",
        )
        .expect_err("unknown key");
        assert!(near.to_string().contains("did you mean `model`?"), "{near}");
        let variant = super::Scenario::from_toml(
            "name = \"x\"\nduration = \"1s\"\n[broker]\non_full = \"rejcet\"\n",
            "x.toml",
        )
        .expect_err("unknown variant");
        assert!(
            variant.to_string().contains("did you mean `reject`?"),
            "{variant}"
        );
        let far = super::Scenario::from_toml(
            "name = \"x\"\nduration = \"1s\"\n[broker]\nzzzzzz = 1\n",
            "x.toml",
        )
        .expect_err("unknown key");
        assert!(!far.to_string().contains("did you mean"), "{far}");
    }

    #[test]
    fn a_fault_kinds_spelling_reads_back_as_that_kind() {
        use FaultKind::*;
        for kind in [
            Crash,
            Slow,
            Poison,
            BrokerCrash,
            Partition,
            LatencySpike,
            Outage,
            Replay,
            Redrive,
        ] {
            let text = format!("kind = \"{}\"", kind.as_str());
            #[derive(serde::Deserialize)]
            struct K {
                kind: FaultKind,
            }
            let back: K = toml::from_str(&text).expect("a known kind");
            assert_eq!(back.kind, kind);
        }
    }
}
