//! The `[[consumer]]` part of the scenario model: a consumer group's settings and the
//! enums they take. Validation lives in `validate.rs`.

use crate::dist::Dist;
use crate::time::SimDuration;
use serde::Deserialize;
use toml::Spanned;

fn one_spanned() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn at_the_start() -> Spanned<SimDuration> {
    Spanned::new(0..0, SimDuration::ZERO)
}
fn one_second() -> SimDuration {
    SimDuration::from_secs(1)
}
fn default_retries() -> u32 {
    3
}

/// A consumer group. Defaults: `instances = 1`, `service_time = "1ms"`,
/// `delivery = "at-least-once"`, `commit_interval = "0"` (after each message),
/// `max_retries = 3`, `backoff = "100ms"`, `ordered = false`, `assignment = "range"`,
/// `wait_time = "20s"`, `poll_interval = "100ms"`, `batch = 1`, `prefetch = 1`, `session_timeout = "0"`, `rebalance_pause = "0"`, `bindings = []`, `buffer = 1000`,
/// `on_overflow = "disconnect"`, `reconnect = "1s"`, `circuit_breaker` none,
/// `cool_down = "5s"`, `processing_timeout` none, `quarantine = false`, `resequence = false`,
/// `resequence_buffer = 1000`, `gap_timeout = "1s"`, `idempotence` none (transactional
/// under exactly-once), `dedup_ttl` none (marks kept forever), `dedup_latency = "0"`,
/// `claim_lease` none (a claim lasts until it is marked done).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    /// Unique group name; fault targets use it.
    pub group: Spanned<String>,
    /// The topic or queue it consumes.
    pub topic: Spanned<String>,
    /// Consumer instances in the group.
    #[serde(default = "one_spanned")]
    pub instances: Spanned<u32>,
    /// Processing time of one message.
    #[serde(default = "default_service")]
    pub service_time: Dist,
    /// Delivery variant.
    #[serde(default)]
    pub delivery: Delivery,
    /// How often offsets or acknowledgements are committed; `"0"` after each message.
    #[serde(default)]
    pub commit_interval: SimDuration,
    /// Retries of a failed message before it is dead-lettered.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First retry delay; doubles at each retry.
    #[serde(default = "default_backoff")]
    pub backoff: SimDuration,
    /// Check that each key's messages are applied in production order.
    #[serde(default)]
    pub ordered: bool,
    /// Log model: how partitions are spread over instances.
    #[serde(default)]
    pub assignment: Assignment,
    /// Exchange topics: the group's queue is bound with these keys or patterns.
    #[serde(default)]
    pub bindings: Vec<Spanned<String>>,
    /// What a message that failed all its retries becomes (default per model: the log and
    /// exchanges dead-letter it, SQS waits for the visibility timeout and redrive).
    #[serde(default)]
    pub on_failure: Option<Spanned<OnFailure>>,
    /// Queue model: how long a receive waits for a message (SQS long polling); `"0"` is
    /// short polling, where an empty receive returns at once and the consumer polls again
    /// after `poll_interval`.
    #[serde(
        default = "twenty_seconds",
        deserialize_with = "super::bounds::sqs_wait"
    )]
    pub wait_time: SimDuration,
    /// Queue model, short polling: the pause between empty receives.
    #[serde(default = "default_poll", deserialize_with = "super::bounds::positive")]
    pub poll_interval: SimDuration,
    /// Queue model: messages taken per receive (SQS allows up to 10); their visibility
    /// timeouts all start at the receive.
    #[serde(default = "default_batch")]
    pub batch: Spanned<u32>,
    /// Exchange: unacknowledged messages each consumer may hold (basic.qos prefetch).
    #[serde(default = "default_prefetch")]
    pub prefetch: Spanned<u32>,
    /// Log model: when the group first joins (a new service reading an existing topic).
    #[serde(default = "at_the_start")]
    pub start_at: Spanned<SimDuration>,
    /// Log model, with `start_at`: where a group with no committed offset starts.
    #[serde(default)]
    pub offset_reset: OffsetReset,
    /// Log model: how long the group takes to notice a member that stopped heartbeating;
    /// `"0"` notices at once.
    #[serde(default)]
    pub session_timeout: SimDuration,
    /// Log model: how long every member stops fetching while partitions move.
    #[serde(default)]
    pub rebalance_pause: SimDuration,
    /// Pub/sub: the subscriber's output buffer, in messages.
    #[serde(default = "default_buffer")]
    pub buffer: Spanned<u64>,
    /// Pub/sub: what a full output buffer does.
    #[serde(default)]
    pub on_overflow: Overflow,
    /// Pub/sub: how long a disconnected subscriber takes to reconnect.
    #[serde(default = "one_second")]
    pub reconnect: SimDuration,
    /// Queue model: how priority classes share the consumers (none: one FIFO queue).
    #[serde(default)]
    pub scheduling: Option<Spanned<Scheduling>>,
    /// `scheduling = "weighted"`: weight of each priority class, by class (0 first).
    #[serde(default)]
    pub weights: Option<Spanned<Vec<u32>>>,
    /// Queue model: a circuit breaker per message type (producer) opens after this many
    /// consecutive failures of that type (default: none).
    #[serde(default)]
    pub circuit_breaker: Option<Spanned<u32>>,
    /// With `circuit_breaker`: how long it stays open before a half-open probe.
    #[serde(default = "five_seconds", deserialize_with = "super::bounds::positive")]
    pub cool_down: SimDuration,
    /// An attempt running longer than this is abandoned and counts as a failure (default:
    /// none).
    #[serde(default)]
    pub processing_timeout: Option<Spanned<SimDuration>>,
    /// A message that exhausts its retries goes to a quarantine that keeps its error
    /// history (accounted as dead-lettered) instead of the plain dead-letter path.
    #[serde(default)]
    pub quarantine: bool,
    /// Hold a key's message that arrives ahead of a missing predecessor and apply it once
    /// the predecessor is through (implies `ordered`).
    #[serde(default)]
    pub resequence: Option<Spanned<bool>>,
    /// `resequence`: most messages held at once; when full, the oldest is let go past its gap.
    #[serde(default)]
    pub resequence_buffer: Option<Spanned<u32>>,
    /// `resequence`: how long a held message waits for its missing predecessor.
    #[serde(default)]
    pub gap_timeout: Option<Spanned<SimDuration>>,
    /// A service: what it publishes for each message it processes (`[[consumer.output]]`).
    #[serde(default, rename = "output")]
    pub outputs: Vec<super::OutputConfig>,
    /// How the consumer deduplicates what at-least-once delivers twice (see
    /// [`Idempotence`]); `exactly-once` is `transactional`.
    #[serde(default)]
    pub idempotence: Option<Spanned<Idempotence>>,
    /// `check-then-mark` and `claim`: how long a mark is remembered (Redis `SETEX`);
    /// none keeps it forever.
    #[serde(default)]
    pub dedup_ttl: Option<Spanned<SimDuration>>,
    /// One round trip to the dedup store (a check, a claim or a mark), a distribution.
    #[serde(default = "no_latency")]
    pub dedup_latency: Dist,
    /// `claim`: the claim's lease (`SET id NX PX lease`); none holds it until marked done.
    #[serde(default)]
    pub claim_lease: Option<Spanned<SimDuration>>,
    /// Built by the engine (a requester consuming its reply queue), never read from a file.
    #[serde(skip)]
    pub derived: bool,
}

fn no_latency() -> Dist {
    Dist::ZERO
}

fn five_seconds() -> SimDuration {
    SimDuration::from_secs(5)
}

impl ConsumerConfig {
    /// Whether the group resequences.
    #[must_use]
    pub fn resequences(&self) -> bool {
        self.resequence.as_ref().is_some_and(|r| *r.get_ref())
    }

    /// Turns the resequencer on or off (`--set consumer.GROUP.resequence`).
    pub fn set_resequence(&mut self, on: bool) {
        self.resequence = Some(Spanned::new(0..0, on));
    }

    /// The group's idempotence mode: as set, or what its delivery variant implies
    /// (`exactly-once` is `transactional`, the others `none`).
    #[must_use]
    pub fn idempotence(&self) -> Idempotence {
        match (&self.idempotence, self.delivery) {
            (Some(m), _) => *m.get_ref(),
            (None, Delivery::ExactlyOnce) => Idempotence::Transactional,
            (None, _) => Idempotence::None,
        }
    }

    /// Sets the idempotence mode (`--set consumer.GROUP.idempotence`). Exactly-once is
    /// at-least-once with `transactional`, so another mode on an exactly-once group makes
    /// it at-least-once with that mode.
    pub fn set_idempotence(&mut self, mode: Idempotence) {
        if self.delivery == Delivery::ExactlyOnce && mode != Idempotence::Transactional {
            self.delivery = Delivery::AtLeastOnce;
        }
        self.idempotence = Some(Spanned::new(0..0, mode));
    }

    /// Sets the resequencer's gap timeout (`--set consumer.GROUP.gap_timeout`).
    pub fn set_gap_timeout(&mut self, timeout: SimDuration) {
        self.gap_timeout = Some(Spanned::new(0..0, timeout));
    }
}

fn twenty_seconds() -> SimDuration {
    SimDuration::from_secs(20)
}
fn default_poll() -> SimDuration {
    SimDuration::from_millis(100)
}
fn default_batch() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

fn default_prefetch() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

fn default_buffer() -> Spanned<u64> {
    Spanned::new(0..0, 1000)
}

/// `consumer.offset_reset`: Kafka's `auto.offset.reset` for a group with no offsets.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetReset {
    /// Only what is produced after it joins (its copies start then).
    #[default]
    Latest,
    /// The whole retained history is replayed.
    Earliest,
}

/// `consumer.on_failure`: the fate of a message that failed every retry.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// To the dead-letter queue (log: the consumer publishes it there; exchange: nack
    /// without requeue to the dead-letter exchange).
    DeadLetter,
    /// Back to the queue at once (exchange: nack with requeue; SQS: visibility changed to
    /// zero). A message that always fails loops.
    Requeue,
    /// SQS: left alone until its visibility timeout, then redriven after `max_receives`.
    Wait,
}

/// `consumer.on_overflow` (pub/sub output buffers).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// The server closes the subscriber's connection, dropping its buffer
    /// (Redis's `client-output-buffer-limit pubsub`).
    #[default]
    Disconnect,
    /// The new message is dropped for this subscriber.
    Drop,
}

fn default_service() -> Dist {
    Dist::Const(SimDuration::from_millis(1))
}
fn default_backoff() -> SimDuration {
    SimDuration::from_millis(100)
}

/// `consumer.delivery`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// Commit before processing: a crash loses what was taken.
    AtMostOnce,
    /// Commit after processing: a crash replays, side effects may repeat.
    #[default]
    AtLeastOnce,
    /// Transactional: uncommitted side effects roll back with the commit.
    ExactlyOnce,
}

impl Delivery {
    /// All three, in the order reports list them.
    pub const ALL: [Delivery; 3] = [
        Delivery::AtMostOnce,
        Delivery::AtLeastOnce,
        Delivery::ExactlyOnce,
    ];

    /// The scenario-file spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::AtMostOnce => "at-most-once",
            Delivery::AtLeastOnce => "at-least-once",
            Delivery::ExactlyOnce => "exactly-once",
        }
    }

    /// Parses the scenario-file spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Delivery> {
        Delivery::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// `consumer.idempotence`: how a consumer makes at-least-once delivery safe to apply.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Idempotence {
    /// No deduplication: every delivery applies its side effect.
    #[default]
    None,
    /// The textbook consumer: `EXISTS id`, apply the effect elsewhere, then `SETEX id ttl`.
    CheckThenMark,
    /// An atomic claim before processing (`SET id NX PX lease`), marked done after.
    Claim,
    /// Effect and mark commit in one transaction (what `exactly-once` is).
    Transactional,
}

impl Idempotence {
    /// All four, in the order reports list them.
    pub const ALL: [Idempotence; 4] = [
        Idempotence::None,
        Idempotence::CheckThenMark,
        Idempotence::Claim,
        Idempotence::Transactional,
    ];

    /// The scenario-file spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Idempotence::None => "none",
            Idempotence::CheckThenMark => "check-then-mark",
            Idempotence::Claim => "claim",
            Idempotence::Transactional => "transactional",
        }
    }

    /// Parses the scenario-file spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Idempotence> {
        Idempotence::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the mode keeps marks in a dedup store outside the effect's transaction.
    #[must_use]
    pub fn uses_store(self) -> bool {
        matches!(self, Idempotence::CheckThenMark | Idempotence::Claim)
    }
}

/// `consumer.assignment`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Assignment {
    /// Contiguous ranges of partitions per instance (Kafka's RangeAssignor).
    #[default]
    Range,
    /// Partition p to the (p mod n)-th live instance.
    RoundRobin,
}

/// `consumer.scheduling`: which priority class a free consumer serves next.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Scheduling {
    /// Always the highest class waiting: a busy high class starves the others.
    Strict,
    /// Smooth weighted round robin over the classes waiting: each gets its weight's share.
    Weighted,
}
