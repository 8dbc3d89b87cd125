//! The engine: one world of components in `Vec`s addressed by index, one event queue,
//! and the step loop. Branching on what happens lives here and in the `engine/` files
//! (`produce`, `consume`, `group`, `fault`, `census`); components only keep state.
//!
//! ```text
//!  producer --(network)--> broker: topic → partitions (log) | queues (queue)
//!                                       │
//!                 consumer group ◄──────┘  instances: fetch → service → commit/ack
//! ```

mod backpressure;
mod build;
mod census;
mod close;
mod consume;
mod dispatch;
mod drops;
mod fault;
mod forwards;
mod group;
mod guard;
mod idempotence;
mod invariants;
mod lag;
mod models;
mod outbox;
mod patterns;
pub use patterns::PatternRetained;
mod pauses;
mod payload;
mod pipeline;
mod plain;
pub use plain::FORCE_GENERIC_ENV;
mod priority;
mod produce;
mod protect;
#[cfg(test)]
mod ranges_tests;
mod ready;
mod replicate;
mod requests;
mod saga;
mod server_outage;
mod step;
pub use saga::{SagaOutcome, SagaRunView};
mod reqreply;
mod resequence;
mod retention;
mod trace;
mod views;
mod window;
pub use guard::Stopped;
pub use trace::{TraceError, TraceEvent, TraceSpec};

use crate::consumer::{Group, Instance, Store};
use crate::dist::Dist;
use crate::event::{Event, EventQueue};
use crate::ledger::MessageFlags;
use crate::log::Partition;
use crate::message::Msg;
use crate::metrics::SeriesBuilder;
use crate::producer::{Producer, mix};
use crate::rng::{SimRng, StreamKind, stream};
use crate::scenario::{Acks, BrokerModel, FaultConfig, OnFull, Scenario, Target};
use crate::snapshot::{LogEntry, LogKind, Phase};
use crate::time::{SimDuration, SimTime};
use std::collections::VecDeque;

/// Log lines kept for the dashboard.
const LOG_KEEP: usize = 500;

/// A produce request held at the broker until there is room (`on_full = "block"`).
#[derive(Clone, Copy, Debug)]
struct Parked {
    msg: Msg,
    partition: u32,
}

/// A topic (log model) or the source of per-group queues (queue model).
#[derive(Debug)]
struct Topic {
    name: String,
    model: BrokerModel,
    /// Global index of partition 0, for events.
    part_base: u32,
    /// SQS FIFO: ordered per key, resends deduplicated.
    fifo: bool,
    /// SQS FIFO: how long a resend is recognised.
    dedup_window: SimDuration,
    /// Log: how long entries are kept (none: until every group has committed them).
    retention: Option<SimDuration>,
    /// Log model only.
    partitions: Vec<Partition>,
    /// Groups consuming it.
    groups: Vec<u32>,
    flags: MessageFlags,
    parked: VecDeque<Parked>,
    /// Watermarks: producers are paused by this partition's backlog; the id of its
    /// pause in `Engine::pauses`.
    pause: Option<(u32, usize)>,
    /// Plain `block`: requests are waiting for room; the id of the pause in
    /// `Engine::pauses`.
    blocked: Option<usize>,
    /// `spill`: a read from the spill storage (of `parked`'s head) is under way.
    spill_reading: bool,
}

impl Topic {
    /// Room appeared in this topic, `t`: if that may let something in (requests are
    /// parked, or producers paused on it: a paused topic with nothing parked still
    /// resumes at the exact moment its backlog falls to the low watermark), it goes on
    /// `due` once, for its parked requests to go in after the current handler.
    #[inline(always)]
    fn unpark_soon(&self, t: u32, due: &mut Vec<u32>) {
        let waiting = !self.parked.is_empty() || self.pause.is_some();
        if waiting && !due.contains(&t) {
            due.push(t);
        }
    }
}

/// A fault as it runs.
#[derive(Debug)]
struct FaultRt {
    cfg: FaultConfig,
    target: Target,
    rng: SimRng,
    /// Poison bursts: messages still to poison.
    remaining: u64,
    /// Its window is open (started, not yet ended): overlapping windows nest.
    open: bool,
}

/// Broker settings the hot path reads.
#[derive(Clone, Copy, Debug)]
struct BrokerRt {
    acks: Acks,
    capacity: u64,
    on_full: OnFull,
    /// Where `on_full` applies (`capacity` without watermarks).
    high_watermark: Option<u64>,
    /// `block` resumes at this backlog.
    low_watermark: u64,
    /// `spill`: messages the spill storage holds at most.
    spill_capacity: u64,
    /// `spill`: time to read one message back.
    spill_latency: Dist,
    visibility_timeout: SimDuration,
    max_receives: u32,
    min_insync: usize,
    unclean: bool,
    replica_lag: Dist,
    flush_interval: SimDuration,
}

/// A run in progress.
#[derive(Debug)]
pub struct Engine {
    scenario: Scenario,
    seed: u64,
    now: SimTime,
    /// Producers stop here.
    stop: SimTime,
    /// The drain ends here at the latest.
    end: SimTime,
    /// The memory budget, and why the run stopped if it outgrew it.
    guard: guard::Guard,
    queue: EventQueue,
    events: u64,
    hash: u64,
    phase: Phase,
    broker: BrokerRt,
    /// The network's latency now (a spike replaces the scenario's for a while).
    latency: Dist,
    /// Latency spikes in force, most recent last.
    spikes: Vec<u32>,
    /// Fractions of requests lost and duplicated on the network.
    loss: f64,
    duplicate: f64,
    /// Produce requests travel as events (the network can delay, lose or cut them);
    /// otherwise a send reaches the broker in the same instant.
    net_async: bool,
    net: SimRng,
    producers: Vec<Producer>,
    topics: Vec<Topic>,
    groups: Vec<Group>,
    instances: Vec<Instance>,
    faults: Vec<FaultRt>,
    series: SeriesBuilder,
    produced: u64,
    acked: u64,
    delivered: u64,
    bytes: u64,
    /// Why each dropped copy was dropped.
    drops: drops::DropReasons,
    /// Messages that reached no group's queue.
    unroutable: u64,
    log: VecDeque<LogEntry>,
    log_total: u64,
    /// Rebalances wait while a fault changes several instances at once.
    rebalance_held: bool,
    rebalance_due: Vec<u32>,
    /// Broker nodes that are up.
    nodes_up: Vec<bool>,
    /// The server of the queue, exchange and pub/sub topics while it is out.
    server_out: Option<server_outage::ServerOut>,
    /// Subscribers still reading what a connection the server's outage killed held.
    dead_connections: Vec<u32>,
    /// (topic, partition) of every log partition, by global index.
    part_ids: Vec<(u32, u32)>,
    /// Topics where room appeared during this event; their parked requests are appended
    /// once the event's handler is done, so that no consumer is re-entered mid-fetch.
    unpark_due: Vec<u32>,
    /// `ack_below`'s acknowledgements due, kept between calls so that a
    /// replication round does not allocate (`acks = "all"` runs it every few messages).
    acks_due: Vec<(u64, u32, u32, SimTime)>,
    /// Groups that have not joined their topic yet (`start_at`); while none, a trim has
    /// no skipped copies to account.
    unjoined: usize,
    /// Some group joins late from the latest offset: a message made before it joined may
    /// land after, and is then its copy (`address_landed`).
    late_from_latest: bool,
    /// `drop-oldest`: groups whose copy of the message being appended is refused (their
    /// queue is full of messages consumers hold); set just before that append.
    refused: Vec<u32>,
    /// Watermark and `block` pauses (the recent ones, and a count and total of the rest).
    pauses: pauses::Pauses,
    /// Rejections and spilling, for the summary.
    overflow: backpressure::OverflowStats,
    /// Draws of the spill storage's read latency.
    storage: SimRng,
    /// Priority classes, by class (empty without priority scheduling).
    classes: Vec<priority::ClassStats>,
    /// Services with a database, by producer (empty when every producer is direct).
    services: Vec<Option<outbox::Service>>,
    /// Orchestrated sagas (empty without `[[saga]]`).
    sagas: saga::Sagas,
    /// Request-reply state, by producer (empty without requesters).
    requesters: Vec<Option<reqreply::Requester>>,
    /// Breakers, timeouts, quarantine (off unless the scenario uses them).
    protection: protect::Protection,
    /// Payload bytes (none unless the scenario uses sizes, bandwidth or a claim check).
    payload: Option<Box<payload::Payloads>>,
    /// Services that publish what they process (off without `[[consumer.output]]`).
    pipeline: pipeline::Pipeline,
    /// Publish → ack latency per producer and the broker timeline.
    views: views::Views,
    /// The traced message as `trace::key(topic, id)`; `trace::UNTRACED` when none is.
    trace_key: u64,
    /// What tracing has recorded (none unless a message is traced).
    tracer: Option<Box<trace::Tracer>>,
    /// Idempotent consumers' dedup stores, duplicate causes, dead letters kept for redrive.
    idem: idempotence::Idem,
    /// Some log group has more partitions than an instance scans (`Ready::scans`), so an
    /// owner may keep candidates; without one `fetchable` costs nothing.
    candidates: bool,
    /// The groups keep their fetchable partitions in their instances' candidates only,
    /// never in bits (`keep_candidates`, for the tests that compare the two).
    rangeless: bool,
    /// Every group is a queue group whose completions `plain/done_lanes.rs` serves.
    queued_lane: bool,
    /// The queue lane receives the next message too (`queued_take_fits`).
    queued_take: bool,
    /// Every group is a log group whose completions `plain/done_lanes.rs` serves.
    logged_lane: bool,
    /// By global log partition (`index_partitions`): the group whose committed offset
    /// held its log back at the last trim (`retention.rs`), looked at first by the next.
    trim_hint: Vec<Option<u32>>,
    /// The lean handlers run the hot events (`plain.rs`): chosen when built, off while a
    /// fault is under way, and for good once a trace or a fault the lean handlers cannot
    /// come back from needs the generic ones.
    plain: bool,
    /// The run was built plain and not forced generic: the plain path may come back
    /// once the faults are over (`resume_plain`).
    resumable: bool,
    /// Some groups' instances are served by the plain path's consume handlers while the
    /// run is on the generic path (`plain/lean.rs`; each instance's `lean` says whether).
    lean: bool,
    /// Nothing beyond single groups kept the consumers off the lean handlers when the
    /// run was built (`lean_run_fits`), nor was it forced generic: they may come back once
    /// the faults are over (`resume_plain`).
    lean_resumable: bool,
}

impl Engine {
    /// Builds the world for `scenario` under `seed`. The scenario must have been
    /// validated (`Scenario::from_toml` does).
    #[must_use]
    pub fn new(scenario: &Scenario, seed: u64) -> Engine {
        let mut sc = scenario.clone();
        let own_producers = sc.derive_run();
        let b = &sc.broker;
        let broker = BrokerRt {
            acks: b.acks,
            capacity: *b.capacity.get_ref(),
            on_full: *b.on_full.get_ref(),
            high_watermark: b.high_watermark.as_ref().map(|h| *h.get_ref()),
            low_watermark: match (&b.high_watermark, &b.low_watermark) {
                (_, Some(low)) => *low.get_ref(),
                (Some(high), None) => high.get_ref() - 1,
                (None, None) => 0,
            },
            spill_capacity: b.spill_capacity.as_ref().map_or(u64::MAX, |c| *c.get_ref()),
            spill_latency: b.spill_latency,
            visibility_timeout: b.visibility_timeout,
            max_receives: *b.max_receives.get_ref(),
            min_insync: *b.min_insync_replicas.get_ref() as usize,
            unclean: b.unclean_leader_election,
            replica_lag: b.replica_lag,
            flush_interval: b.flush_interval,
        };
        let mut topics = build::topics(&sc);
        let mut producers = build::producers(&sc, seed);
        let key_count = producers
            .iter()
            .map(|p| p.key_base + p.keys())
            .max()
            .unwrap_or(0);
        let (groups, instances) = build::groups(&sc, seed, &mut topics, key_count);
        let unjoined = groups.iter().filter(|g| !g.joined).count();
        let late_from_latest = groups.iter().any(|g: &Group| !g.receives_now());
        let candidates = groups.iter().any(
            |g: &Group| matches!(&g.store, Store::Log(parts) if !crate::log::Ready::scans(parts.len())),
        );
        let firsts: Vec<(u32, u32)> = groups.iter().map(|g: &Group| (g.first, g.count)).collect();
        let idem = idempotence::build(&sc, seed, &firsts);
        build::routes(&sc, &topics, &mut producers);
        let faults = sc
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| FaultRt {
                cfg: f.clone(),
                target: crate::scenario::resolve_target(&sc, f.target.get_ref())
                    .expect("validated target"),
                rng: stream(seed, StreamKind::Fault, i as u32),
                remaining: f.count.unwrap_or(0),
                open: false,
            })
            .collect();
        let protection = protect::build(&sc, instances.len());
        let group_names: Vec<String> = groups.iter().map(|g: &Group| g.name.clone()).collect();
        let stop = SimTime::ZERO + sc.duration;
        let mut engine = Engine {
            seed,
            now: SimTime::ZERO,
            stop,
            end: stop + sc.drain,
            guard: guard::Guard::default(),
            queue: EventQueue::default(),
            events: 0,
            hash: mix(seed),
            phase: Phase::Producing,
            broker,
            latency: sc.network.latency,
            spikes: Vec::new(),
            loss: *sc.network.loss.get_ref(),
            duplicate: *sc.network.duplicate.get_ref(),
            net_async: !sc.network.latency.is_zero()
                || *sc.network.loss.get_ref() > 0.0
                || *sc.network.duplicate.get_ref() > 0.0
                || sc.faults.iter().any(is_network_fault)
                // A producer that retries rejections needs its requests tracked.
                || sc.producers.iter().any(|p| p.retry_backoff.is_some())
                || payload::needs_async(&sc),
            net: stream(seed, StreamKind::Network, 0),
            producers,
            topics,
            groups,
            instances,
            faults,
            series: SeriesBuilder::new(sc.sample_width(), &group_names),
            produced: 0,
            acked: 0,
            delivered: 0,
            bytes: 0,
            drops: drops::DropReasons::default(),
            unroutable: 0,
            log: VecDeque::new(),
            log_total: 0,
            unpark_due: Vec::new(),
            acks_due: Vec::new(),
            unjoined,
            late_from_latest,
            pauses: pauses::Pauses::default(),
            refused: Vec::new(),
            overflow: backpressure::OverflowStats::default(),
            storage: stream(seed, StreamKind::Storage, 0),
            classes: priority::classes(&sc),
            services: outbox::services(&sc, seed),
            sagas: saga::sagas(&sc, seed),
            requesters: reqreply::requesters(&sc),
            protection,
            payload: payload::build(&sc, seed),
            pipeline: pipeline::build(&sc, own_producers, seed),
            views: views::Views::new(sc.producers.len()),
            trace_key: trace::UNTRACED,
            tracer: None,
            idem,
            candidates,
            rangeless: false,
            queued_lane: false,
            queued_take: false,
            logged_lane: false,
            trim_hint: Vec::new(),
            plain: false,
            resumable: false,
            lean: false,
            lean_resumable: false,
            rebalance_held: false,
            rebalance_due: Vec::new(),
            nodes_up: vec![true; *sc.broker.nodes.get_ref() as usize],
            server_out: None,
            dead_connections: Vec::new(),
            part_ids: Vec::new(),
            scenario: sc,
        };
        engine.index_partitions();
        engine.track_queue_bytes();
        engine.start();
        engine.plain = engine.plain_eligible();
        engine.queued_lane = engine.queued_lane_fits();
        engine.queued_take = engine.queued_take_fits();
        engine.logged_lane = engine.logged_lane_fits();
        engine.resumable = engine.plain;
        engine.lean_resumable = engine.lean_run_fits();
        if !engine.plain && engine.lean_resumable {
            engine.set_lean(true);
        }
        engine
    }

    /// Schedules what the run starts with.
    fn start(&mut self) {
        // A service's producers publish only what it processes.
        for p in 0..self.pipeline.own_producers {
            self.start_producer(p);
        }
        for g in 0..self.groups.len() {
            let start_at = *self.scenario.consumers[g].start_at.get_ref();
            if !start_at.is_zero() {
                self.queue.push(
                    SimTime::ZERO + start_at,
                    Event::GroupJoin { group: g as u32 },
                );
            }
            // Partitions assigned, or every consumer waiting on (or polling) its queue.
            self.model_start(g as u32);
            let interval = self.groups[g].commit_interval;
            if !interval.is_zero() {
                self.queue
                    .push(SimTime::ZERO + interval, Event::Commit { group: g as u32 });
            }
        }
        for f in 0..self.faults.len() {
            let at = SimTime::ZERO + self.faults[f].cfg.at;
            self.queue.push(at, Event::FaultStart { fault: f as u32 });
        }
        if !self.broker.flush_interval.is_zero() {
            self.queue
                .push(SimTime::ZERO + self.broker.flush_interval, Event::Flush);
        }
        self.queue.push(self.series.bucket_end, Event::Sample);
        self.queue.push(self.stop, Event::ProducersStop);
        self.start_sagas();
    }

    /// Current simulated time.
    #[must_use]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// The seed of this run.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// When the drain period ends at the latest.
    #[must_use]
    pub fn end(&self) -> SimTime {
        self.end
    }

    /// The scenario this run was built from (with any injected faults appended).
    #[must_use]
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Entries held now by the tables that once grew with the run's length, for the
    /// tests that they follow the backlog instead: the payload bytes' prefix sums (the
    /// claim check's byte accounting), the producers' pause spans, the windowed
    /// per-message tables and the event queue's buffers.
    #[doc(hidden)]
    #[must_use]
    pub fn retained(&self) -> Retained {
        Retained {
            byte_prefix: self.payload_prefix_len(),
            pauses: self.pauses.kept(),
            window_bytes: self.window_bytes(),
            folded: self.topics.iter().map(|t| u64::from(t.flags.base())).sum(),
            event_room: self.queue.room(),
        }
    }

    /// Injects a fault at `max(now + 1ns, fault.at)` (the dashboard's fault menu) and
    /// records it in the scenario, so that `scenario()` replays the session.
    ///
    /// # Errors
    /// The target names nothing, or the kind is not supported.
    pub fn inject_fault(&mut self, mut fault: FaultConfig) -> Result<(), String> {
        let target = crate::scenario::resolve_target(&self.scenario, fault.target.get_ref())
            .ok_or_else(|| {
                crate::scenario::unresolved_target(&self.scenario, fault.target.get_ref())
            })?;
        // One nanosecond on: everything at `now` has already run here, and must have run
        // before the fault when the exported scenario replays it.
        let earliest = self.now + SimDuration(1);
        if SimTime::ZERO + fault.at < earliest {
            fault.at = earliest.since(SimTime::ZERO);
        }
        self.net_async |= is_network_fault(&fault);
        self.leave_plain();
        let index = self.faults.len() as u32;
        self.faults.push(FaultRt {
            cfg: fault.clone(),
            target,
            rng: stream(self.seed, StreamKind::Fault, index),
            remaining: fault.count.unwrap_or(0),
            open: false,
        });
        self.queue
            .push(SimTime::ZERO + fault.at, Event::FaultStart { fault: index });
        self.scenario.faults.push(fault);
        if !self.protection.on {
            // An outage or a hanging poison injected live needs the per-type state a
            // scenario with that fault would have had from the start (nothing yet to carry
            // over: off, it held nothing).
            self.protection = protect::build(&self.scenario, self.instances.len());
        }
        Ok(())
    }

    fn close_bucket(&mut self) {
        self.close_bucket_at_end(false);
    }

    fn close_bucket_at_end(&mut self, last: bool) {
        let depth = self.depth();
        let lags: Vec<(&str, u64)> = self
            .groups
            .iter()
            .map(|g| (g.name.as_str(), g.lag))
            .collect();
        let closed = if last {
            self.series.close_last(self.now, depth, &lags)
        } else {
            self.series.close(self.now, depth, &lags)
        };
        if closed == crate::metrics::Closed::Merged {
            self.unsample_broker_bytes();
        }
        self.sample_broker_bytes();
        if closed == crate::metrics::Closed::Coarsened {
            self.coarsen_broker_bytes();
        }
    }

    /// Messages held by the broker.
    fn depth(&self) -> u64 {
        let logs: u64 = self
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .map(Partition::held)
            .sum();
        let queues: u64 = self
            .groups
            .iter()
            .map(|g| match &g.store {
                Store::Queue(q) => q.len(),
                Store::Log(_) => 0,
            })
            .sum();
        logs + queues
    }

    fn note(&mut self, kind: LogKind, text: String) {
        self.record_timeline(kind, &text);
        self.log_total += 1;
        if self.log.len() == LOG_KEEP {
            self.log.pop_front();
        }
        self.log.push_back(LogEntry {
            at: self.now,
            kind,
            text,
        });
    }

    /// One network hop's latency.
    fn hop(&mut self) -> SimDuration {
        hop_over(self.latency, &mut self.net)
    }

    /// A draw against a fraction of the network's (loss, duplication).
    fn net_chance(&mut self, p: f64) -> bool {
        p > 0.0 && rand::RngExt::random_bool(&mut self.net, p)
    }
}

/// What `Engine::retained` counts.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retained {
    pub byte_prefix: usize,
    pub pauses: usize,
    /// Bytes of the per-message and per-copy tables (ledgers, flags, drop reasons,
    /// dedup marks) for the messages not folded yet.
    pub window_bytes: usize,
    /// Messages folded (final, counted, forgotten), over all topics.
    pub folded: u64,
    /// Entries' room the event queue keeps in its buffers.
    pub event_room: usize,
}

/// One network hop's latency drawn from `rng`; an instantaneous network draws nothing, so
/// that a zero-latency run's streams stay as they were.
fn hop_over(latency: Dist, rng: &mut SimRng) -> SimDuration {
    if latency.is_zero() {
        SimDuration::ZERO
    } else {
        latency.sample(rng)
    }
}

fn is_network_fault(f: &FaultConfig) -> bool {
    // Broker crashes too: requests to a partition without a leader must be able to time out.
    matches!(
        f.kind.get_ref(),
        crate::scenario::FaultKind::Partition
            | crate::scenario::FaultKind::LatencySpike
            | crate::scenario::FaultKind::BrokerCrash
    )
}
