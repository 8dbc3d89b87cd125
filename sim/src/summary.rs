//! `RunSummary`: the result of one run, exactly the `--json` contract of DESIGN.md plus
//! additions (never renames). Seconds are floats in simulated time. Reports and the CLI
//! serialise it; the engine only fills it in.

use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod duplicates;
pub mod histogram;
pub mod pipeline;
pub mod protection;
pub mod sections;
mod views;
pub use duplicates::DuplicateCauses;
pub use pipeline::{OutputSummary, PathSummary, PipelineSummary, StageSummary};
pub use protection::ProtectionSummary;
pub use sections::sections;
pub use views::{OutsideFaults, ProducerSummary, TimelineEntry};

/// Everything a run produced that a user or a report needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Scenario name.
    pub scenario: String,
    /// The seed this run used.
    pub seed: u64,
    /// Delivery variant of the groups (`mixed` when they differ).
    pub delivery: String,
    /// 64-bit hash of every processed event, as 16 hex digits: the determinism witness.
    pub trace_hash: String,
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end of the run.
    pub sim_time_s: f64,
    /// Wall-clock seconds the run took (set by the caller; 0 inside the engine).
    pub wall_s: f64,
    /// Per-message accounting over all copies.
    pub messages: Messages,
    /// End-to-end latency, from intended send to processed.
    pub latency_s: Latency,
    /// Per consumer group.
    pub groups: Vec<GroupSummary>,
    /// Time series in fixed buckets.
    pub series: Series,
    /// The `[expect]` checks and the built-in guarantees.
    pub expectations: Vec<Expectation>,
    /// mqlab version that produced this result.
    pub version: String,
    /// FNV-1a of the scenario source, as 16 hex digits (empty when unknown).
    pub scenario_hash: String,
    /// Simulated time when producers stopped.
    pub duration_s: f64,
    /// Mean rates over the producing period.
    pub throughput: Throughput,
    /// Dropped copies by reason (`reject`, `drop-oldest`, `producer-gave-up`, ...): the
    /// copies whose final class is dropped, so the reasons sum to `messages.dropped`.
    pub dropped_by_reason: BTreeMap<String, u64>,
    /// Conservation held for the run and for every group.
    pub conservation_ok: bool,
    /// The fault windows, for charts.
    pub faults: Vec<FaultWindow>,
    /// Nonzero buckets of the end-to-end latency histogram: `[value_ns, count]`. In JSON,
    /// HdrHistogram's compressed V2 encoding in base64 (see `histogram`); absent from the
    /// runs of a comparison, which keeps one merged histogram per variant instead.
    #[serde(with = "histogram", default, skip_serializing_if = "Vec::is_empty")]
    pub latency_histogram: Vec<[u64; 2]>,
    /// Per priority class, when a consumer schedules by priority (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassSummary>,
    /// Payload bytes, when sizes vary or a bandwidth, a claim check or
    /// `max_broker_bytes` is set (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<PayloadSummary>,
    /// Poison-message protection (breakers, timeouts, quarantine), when a scenario uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<ProtectionSummary>,
    /// Per requester (a producer with `reply_timeout`), when there is one (absent
    /// otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_reply: Vec<RequestReplySummary>,
    /// Per orchestrated saga, when the scenario has `[[saga]]` (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sagas: Vec<SagaSummary>,
    /// Per producer that is a service with a database (`publish`), absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSummary>,
    /// What a full broker did: producer pauses, rejections, spilling (absent when the
    /// broker never filled up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<Overflow>,
    /// Services, end-to-end latency per stage and per path, when the scenario has a group
    /// with outputs (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<PipelineSummary>,
    /// End-to-end latency of the copies whose life touched no fault window (absent when
    /// the scenario has no fault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside_faults: Option<OutsideFaults>,
    /// Per producer: throughput and publish → ack latency.
    #[serde(default)]
    pub producers: Vec<ProducerSummary>,
    /// What the broker did, in time order: ISR changes, elections, rebalances, pauses (at
    /// most the first 10,000 entries).
    #[serde(default)]
    pub broker_timeline: Vec<TimelineEntry>,
}

/// A full broker's answers over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overflow {
    /// Times the producers were paused at the high watermark.
    pub pauses: u64,
    /// Seconds the producers spent paused, summed over topics.
    pub paused_s: f64,
    /// Sends refused (`reject`, or a full spill storage), counting every resend.
    pub rejections: u64,
    /// Refusals the producer answered with a resend (`retry_backoff`).
    pub resent: u64,
    /// Messages accepted into the spill storage.
    pub spilled: u64,
    /// Most messages the spill storage held at once.
    pub spill_max: u64,
    /// Sends whose `request_timeout` ran out while the full broker held the topic's sends
    /// back (`block`) and that were sent again while the broker still held them: the
    /// resend joined the held ones, and the broker later took the message twice. A timeout
    /// shorter than the broker's pauses makes a retry storm of these.
    #[serde(default)]
    pub held_timeouts: u64,
}

/// Counts of messages and copies. `copies = processed + lost + dead_lettered + dropped + in_flight`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Messages {
    /// Messages created by producers.
    pub produced: u64,
    /// Messages the producer was told were sent (acknowledged, or fire-and-forget).
    pub acked: u64,
    /// One per message per consumer group that should receive it.
    pub copies: u64,
    /// Deliveries to consumer instances, counting repeats.
    pub delivered: u64,
    /// Copies whose side effect was applied at least once.
    pub processed: u64,
    /// Copies acknowledged yet never processed, dead-lettered or dropped.
    pub lost: u64,
    /// Processed copies applied more than once.
    pub duplicated: u64,
    /// Processed copies applied out of their key's production order.
    pub out_of_order: u64,
    /// Copies moved to a dead-letter queue.
    pub dead_lettered: u64,
    /// Copies refused or discarded by a known mechanism.
    pub dropped: u64,
    /// Copies still in the system at the end.
    pub in_flight: u64,
    /// Messages that reached no consumer group's queue (an exchange with no matching
    /// binding, a queue or pub/sub topic nobody consumes): no copy exists to account, so
    /// they are counted here as messages, apart from `dropped` (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unroutable: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Latency percentiles in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// Example message ids of a group's anomalies; each list holds at most ten and is absent
/// from the JSON when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Examples {
    /// Lost copies, lowest ids first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<u32>,
    /// Copies applied more than once, lowest ids first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicated: Vec<u32>,
    /// Copies applied out of their key's order, in the order it happened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_of_order: Vec<u32>,
    /// Dropped copies, lowest ids first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<u32>,
}

impl Examples {
    /// True when no anomaly has an example.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lost.is_empty()
            && self.duplicated.is_empty()
            && self.out_of_order.is_empty()
            && self.dropped.is_empty()
    }

    /// Each anomaly with its examples, in a fixed order (those with none included).
    #[must_use]
    pub fn by_anomaly(&self) -> [(&'static str, &[u32]); 4] {
        [
            ("lost", &self.lost),
            ("duplicated", &self.duplicated),
            ("out_of_order", &self.out_of_order),
            ("dropped", &self.dropped),
        ]
    }
}

/// One consumer group's accounting and queueing figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// Group name.
    pub name: String,
    /// Topic it consumes.
    pub topic: String,
    /// Its delivery variant.
    pub delivery: String,
    /// Copies addressed to it.
    pub copies: u64,
    /// Copies processed.
    pub processed: u64,
    /// Copies lost.
    pub lost: u64,
    /// Copies applied more than once.
    pub duplicated: u64,
    /// Of those, copies whose message the broker appended more than once (a producer's
    /// or an outbox relay's resend): consuming at most once cannot prevent these.
    #[serde(default)]
    pub duplicated_by_resend: u64,
    /// Copies applied out of order.
    pub out_of_order: u64,
    /// Copies dead-lettered.
    pub dead_lettered: u64,
    /// Copies dropped.
    pub dropped: u64,
    /// Copies still in flight.
    pub in_flight: u64,
    /// Mean time from broker arrival to the start of first processing.
    pub wait_mean_s: f64,
    /// `wait_mean_s` plus the service time.
    pub sojourn_mean_s: f64,
    /// Time-average number of its copies waiting or in service.
    pub in_system_mean: f64,
    /// Busy time over instance time.
    pub utilization: f64,
    /// Largest lag seen.
    pub max_lag: u64,
    /// End-to-end p99 latency of this group's copies.
    pub latency_p99_s: f64,
    /// End-to-end latency of this group's copies.
    #[serde(default)]
    pub latency_s: Latency,
    /// The percentile curve of that latency: `[q, seconds]` pairs, q spaced evenly on
    /// `log10(1/(1-q))` (twenty per decade) up to the highest q the sample supports.
    #[serde(default)]
    pub latency_by_percentile_s: Vec<[f64; 2]>,
    /// Copies processed for the first time while producers produced, per simulated second
    /// of the producing period (the run's throughput, for this group).
    #[serde(default)]
    pub processed_per_s: f64,
    /// This group's latency outside fault windows (absent when the scenario has no fault).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside_faults: Option<OutsideFaults>,
    /// Queue model: receives that returned nothing (each one is billed).
    #[serde(default)]
    pub empty_receives: u64,
    /// Example message ids (topic-local, as `mqlab trace --message` takes them) of each
    /// anomaly: the first ten lost, duplicated and dropped copies by id, and the first ten
    /// applied out of order as they happened (absent when the group has none).
    #[serde(default, skip_serializing_if = "Examples::is_empty")]
    pub examples: Examples,
    /// `resequence = true`: what the group's resequencer did (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resequencer: Option<ResequencerSummary>,
    /// The group's `idempotence` mode, when the scenario sets one (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotence: Option<String>,
    /// `duplicated` split by cause; present when the group duplicated anything or sets
    /// `idempotence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicated_by_cause: Option<DuplicateCauses>,
}

/// A group's resequencing buffer over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResequencerSummary {
    /// Copies held at least once (arrived ahead of a missing predecessor).
    pub resequenced: u64,
    /// Gaps skipped: a held copy waited `gap_timeout`, or the buffer was full.
    pub gaps_skipped: u64,
    /// Of those, skipped because the buffer was full.
    pub skipped_full: u64,
    /// Most copies held at once.
    pub held_max: u64,
    /// Copies still held at the end (counted in flight).
    pub held_end: u64,
}

/// Time series, one value per bucket; `t_s` is each bucket's end.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Bucket end times.
    pub t_s: Vec<f64>,
    /// Messages produced per second in the bucket.
    pub produced_per_s: Vec<f64>,
    /// Copies processed per second in the bucket.
    pub processed_per_s: Vec<f64>,
    /// Messages held by the broker at the bucket's end.
    pub depth: Vec<u64>,
    /// Total consumer lag at the bucket's end.
    pub lag: Vec<u64>,
    /// Lag per group at each bucket's end.
    pub lag_by_group: BTreeMap<String, Vec<u64>>,
    /// The buckets' width in seconds: each bucket ends `width_s` after the one before,
    /// except the last, which ends with the run (merged into the one before when shorter
    /// than half a width). Rates are over each bucket's real width.
    #[serde(default)]
    pub width_s: f64,
}

/// The built-in invariants every run is checked against, beside conservation and the
/// delivery guarantees: each is an `expectations` row of this name.
pub const INVARIANTS: [&str; 6] = [
    "littles_law",
    "drop_reasons",
    "dropped_never_processed",
    "latency_samples",
    "wait_within_sojourn",
    "utilization",
];

/// One check: an `[expect]` bound or a built-in guarantee.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// What was checked (`lost`, `p99_latency`, `conservation`).
    pub check: String,
    /// The bound, as written.
    pub expected: String,
    /// What the run gave.
    pub actual: String,
    /// Whether it held.
    pub ok: bool,
}

impl Expectation {
    /// A count bounded from above (`[expect] lost = 0` and the like): `actual` says by how
    /// much it went over.
    #[must_use]
    pub fn at_most(check: &str, bound: u64, actual: u64) -> Expectation {
        let over = if actual > bound {
            format!(" ({} over)", actual - bound)
        } else {
            String::new()
        };
        Expectation {
            check: check.into(),
            expected: format!("<= {bound}"),
            actual: format!("{actual}{over}"),
            ok: actual <= bound,
        }
    }
}

/// Mean rates while producers ran: the one throughput every output reports. The drain
/// (from the producers' stop to the end of the run) is reported apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// Messages produced per simulated second of the producing period (`duration_s`).
    pub produced_per_s: f64,
    /// Copies processed for the first time while producers produced, per simulated second
    /// of the producing period.
    pub processed_per_s: f64,
    /// Payload bytes produced per simulated second of the producing period.
    pub produced_bytes_per_s: f64,
    /// Simulated seconds from the producers' stop to the end of the run.
    #[serde(default)]
    pub drain_s: f64,
    /// Copies processed for the first time during the drain.
    #[serde(default)]
    pub drain_processed: u64,
}

/// A fault's window in simulated time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    /// Fault kind.
    pub kind: String,
    /// Its target.
    pub target: String,
    /// Start.
    pub start_s: f64,
    /// End (the run's end when it never ends).
    pub end_s: f64,
    /// What the model does not do of it, where it accepts the fault without acting on
    /// some of the scenario (`scenario::fault_note`); empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// One priority class: its throughput share and its latency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassSummary {
    /// The class (`producer.priority`).
    pub priority: u8,
    /// Messages its producers created.
    pub produced: u64,
    /// Copies processed, over the whole run.
    pub processed: u64,
    /// Its fraction of the copies processed while producers produced (the throughput
    /// share the scheduler gave it under load).
    pub share: f64,
    /// End to end, produce to processed.
    pub latency_s: Latency,
}

/// A service with a database (`producer.publish`): its transactions and its events, and
/// its outbox relay's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary {
    /// The producer's name.
    pub producer: String,
    /// `dual-write`, `publish-first` or `outbox`.
    pub publish: String,
    /// State changes committed.
    pub committed: u64,
    /// Transactions rolled back (a crash before the commit, or a failed commit).
    pub aborted: u64,
    /// Arrivals refused while the service was down (before the database: not a loss).
    pub refused: u64,
    /// Events published at least once.
    pub published: u64,
    /// Outbox: further publications of rows already published (at-least-once relay).
    pub republished: u64,
    /// Committed changes whose event was never published (dual write, crash between).
    pub lost_events: u64,
    /// Events published for changes never committed (publish-first).
    pub phantom_events: u64,
    /// Outbox rows still unsent at the end.
    pub outbox_rows: u64,
    /// Outbox: the most rows the table held at once.
    #[serde(default)]
    pub outbox_peak: u64,
    /// Outbox: the relay's instances (pollers); 0 without an outbox.
    #[serde(default)]
    pub relay_instances: u32,
    /// Outbox: the relay's marks (DELETE and COMMIT) that failed to commit, so their rows
    /// were published again.
    #[serde(default)]
    pub marks_failed: u64,
    /// Outbox: the relay's stage, from a row's commit to the relay holding its publish's
    /// acknowledgement (first time), seconds.
    #[serde(default)]
    pub relay_latency_s: Latency,
}

/// One orchestrated saga's outcomes (its commands and replies are messages of its queues,
/// in the groups' figures). `started = completed + compensated + half_done + in_progress`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SagaSummary {
    /// Saga name.
    pub name: String,
    /// Sagas the orchestrator started.
    pub started: u64,
    /// Arrivals refused because the orchestrator was down (never started).
    pub refused: u64,
    /// Every step applied.
    pub completed: u64,
    /// A step failed and no step's effect remains: every applied step was compensated
    /// (or none had been applied).
    pub compensated: u64,
    /// Some step applied and never compensated, and nobody will finish the saga (the
    /// orchestrator forgot it in a crash, or gave up without compensating).
    pub half_done: u64,
    /// Still being driven by the orchestrator when the run ended (0 after a full drain).
    pub in_progress: u64,
    /// Commands and compensations the orchestrator resent after a timeout or a recovery.
    pub resends: u64,
    /// Steps the orchestrator gave up on after `max_attempts` unanswered sends (then
    /// compensated, the given-up step first).
    #[serde(default)]
    pub given_up: u64,
    /// Commands that reached their service after their own compensation, refused.
    #[serde(default)]
    pub late_commands: u64,
    /// Resent or repeated commands a service recognised and did not apply again (the
    /// orchestrator's resends, and commands the broker delivered twice).
    pub duplicate_commands: u64,
    /// Compensations applied (each undoes one step of one saga).
    pub compensations: u64,
    /// Compensations applied while a later applied step of the same saga was still not
    /// undone (0 when compensation runs in reverse order).
    pub compensations_out_of_order: u64,
    /// Start to completed or compensated, over the sagas that finished.
    pub latency_s: Latency,
}

/// One requester's requests and replies. `requests = replied + timed_out + outstanding`
/// and `replies = replied + orphans + duplicate_replies`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestReplySummary {
    /// The requester (producer) name.
    pub producer: String,
    /// Requests sent.
    pub requests: u64,
    /// Replies that reached it, counting repeats.
    pub replies: u64,
    /// Requests answered by a reply in time (matched once each).
    pub replied: u64,
    /// Requests whose reply did not come within `reply_timeout`.
    pub timed_out: u64,
    /// Requests still awaiting a reply when the run ended.
    pub outstanding: u64,
    /// Timed-out requests whose reply came late (each counted once).
    pub orphans: u64,
    /// Replies that found nothing left to match and are not an orphan: their request was
    /// already answered (a server processed it twice, or, with `correlation = "none"`, an
    /// earlier reply took it) or its late reply already came.
    pub duplicate_replies: u64,
    /// Replies matched to a request other than the one they answer.
    pub mismatched: u64,
    /// Replies taken from the reply queue while the requester was crashed or cut off
    /// (dropped with its connection, reason `requester-gone`; not in `replies`).
    #[serde(default)]
    pub replies_lost: u64,
    /// Round trip, from the request's intended send time to its matched reply.
    pub rtt_s: Latency,
}

/// Payload bytes: what producers made, what the broker held and how long ingesting took.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PayloadSummary {
    /// Payload bytes producers created (stored ones included).
    pub bytes_produced: u64,
    /// Peak payload bytes held by the broker (partitions and queues).
    pub broker_bytes_max: u64,
    /// Payload bytes held by the broker at each bucket's end (as `series.t_s`).
    pub broker_bytes: Vec<u64>,
    /// With `broker.bandwidth`: mean time from a request reaching the broker to its
    /// being in (queueing behind earlier requests plus its own transfer).
    pub ingest_delay_mean_s: f64,
    /// The largest such time.
    pub ingest_delay_max_s: f64,
    /// With a claim check (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_check: Option<ClaimCheckSummary>,
}

/// Claim check: payloads put into the external store instead of the broker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimCheckSummary {
    /// Messages whose payload went to the store.
    pub stored: u64,
    /// Their payload bytes.
    pub stored_bytes: u64,
}

impl RunSummary {
    /// True when every expectation held.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.expectations.iter().all(|e| e.ok)
    }

    /// A real broker's run (`mqlab bench`): measured, not simulated, so it has no trace.
    #[must_use]
    pub fn is_measured(&self) -> bool {
        self.trace_hash.is_empty()
    }
}

impl Messages {
    /// The run's totals: the message counts as given, the copy classes summed over the
    /// groups (`unroutable` left to the caller).
    #[must_use]
    pub fn of_groups(
        produced: u64,
        acked: u64,
        delivered: u64,
        groups: &[GroupSummary],
    ) -> Messages {
        let sum = |f: fn(&GroupSummary) -> u64| groups.iter().map(f).sum::<u64>();
        Messages {
            produced,
            acked,
            copies: sum(|g| g.copies),
            delivered,
            processed: sum(|g| g.processed),
            lost: sum(|g| g.lost),
            duplicated: sum(|g| g.duplicated),
            out_of_order: sum(|g| g.out_of_order),
            dead_lettered: sum(|g| g.dead_lettered),
            dropped: sum(|g| g.dropped),
            in_flight: sum(|g| g.in_flight),
            unroutable: 0,
        }
    }
}

impl Expectation {
    /// The conservation row: every copy in exactly one class, in the run and in each
    /// group, none unaccounted.
    #[must_use]
    pub fn conservation(m: &Messages, groups: &[GroupSummary], unaccounted: u64) -> Expectation {
        let ok = unaccounted == 0
            && groups.iter().all(|g| {
                g.copies == g.processed + g.lost + g.dead_lettered + g.dropped + g.in_flight
            });
        Expectation {
            check: "conservation".into(),
            expected: "copies = processed + lost + dead_lettered + dropped + in_flight".into(),
            actual: format!(
                "{} = {} + {} + {} + {} + {}{}",
                m.copies,
                m.processed,
                m.lost,
                m.dead_lettered,
                m.dropped,
                m.in_flight,
                if unaccounted > 0 {
                    format!(" ({unaccounted} unaccounted)")
                } else {
                    String::new()
                }
            ),
            ok,
        }
    }

    /// A latency percentile bounded from above (`[expect] p99_latency`): `actual` says by
    /// how much it went over.
    #[must_use]
    pub fn latency_at_most(check: &str, bound: SimDuration, actual_s: f64) -> Expectation {
        let actual = SimDuration::from_secs_f64(actual_s);
        let over = if actual > bound {
            format!(" ({} over)", actual.since_duration(bound))
        } else {
            String::new()
        };
        Expectation {
            check: check.into(),
            expected: format!("<= {bound}"),
            actual: format!("{actual}{over}"),
            ok: actual <= bound,
        }
    }
}

impl FaultWindow {
    /// A fault's window; one without a duration lasts until `run_end`. No note: the
    /// model's run adds what it does not do of the fault (`scenario::fault_note`).
    #[must_use]
    pub fn of(f: &crate::scenario::FaultConfig, run_end: SimTime) -> FaultWindow {
        FaultWindow {
            note: String::new(),
            kind: f.kind.get_ref().as_str().into(),
            target: f.target.get_ref().clone(),
            start_s: f.at.as_secs_f64(),
            // An operator action is an instant.
            end_s: if crate::scenario::is_operator_action(*f.kind.get_ref()) {
                f.at.as_secs_f64()
            } else {
                f.duration
                    .map_or(run_end, |d| SimTime::ZERO + f.at + d)
                    .as_secs_f64()
            },
        }
    }
}
