//! The checker and the views: the final census that puts every copy in exactly one class,
//! the expectations, the `RunSummary`, and the live `Snapshot` for the dashboard.

use super::Engine;
use super::invariants::Tally;
use crate::consumer::{Group, Store};
use crate::metrics::latency_of;
use crate::scenario::Delivery;
use crate::snapshot::{
    GroupView, InstanceState, InstanceView, LiveCounts, ProducerView, Snapshot, TopicView,
};
use crate::summary::{
    Expectation, FaultWindow, GroupSummary, Latency, Messages, RequestReplySummary, RunSummary,
    SagaSummary, Throughput,
};

/// A set of message ids from `base` (a ledger's first resident copy) up, one bit each.
struct Bits {
    base: u32,
    words: Vec<u64>,
}

impl Bits {
    fn new(base: u32, len: usize) -> Bits {
        Bits {
            base,
            words: vec![0; (len - base as usize).div_ceil(64)],
        }
    }
    fn set(&mut self, i: u32) {
        // Nothing the census looks at holds a folded copy (the fold proved it); should
        // something do so, its copy is already counted and must not be again.
        debug_assert!(
            i >= self.base,
            "copy {i} in the system below the fold {}",
            self.base
        );
        if let Some(j) = i.checked_sub(self.base) {
            self.words[(j / 64) as usize] |= 1 << (j % 64);
        }
    }
    fn get(&self, i: u32) -> bool {
        i.checked_sub(self.base)
            .is_some_and(|j| self.words[(j / 64) as usize] & (1 << (j % 64)) != 0)
    }
}

impl Engine {
    /// Whether group `g`'s copy of message `id` is still somewhere in the system.
    pub(super) fn copy_in_system(&self, g: u32, id: u32) -> bool {
        self.in_system()[g as usize].get(id)
    }

    /// Which copies are still somewhere in the system, per group.
    fn in_system(&self) -> Vec<Bits> {
        let mut sets: Vec<Bits> = self
            .groups
            .iter()
            .map(|g| Bits::new(g.ledger.base(), g.ledger.len()))
            .collect();
        for (gi, g) in self.groups.iter().enumerate() {
            self.model_held(g, |id| sets[gi].set(id));
            if let Some(r) = &g.reseq {
                r.held().for_each(|m| sets[gi].set(m.id));
            }
            for i in g.instances() {
                let inst = &self.instances[i as usize];
                for w in inst.work.iter().chain(&inst.prefetched) {
                    sets[gi].set(w.msg.id);
                }
            }
        }
        for (g, m) in self.parked() {
            sets[g].set(m.id);
        }
        for t in &self.topics {
            for parked in &t.parked {
                t.groups
                    .iter()
                    .for_each(|&g| sets[g as usize].set(parked.msg.id));
            }
        }
        for &(t, id) in self.pipeline.held() {
            for &g in &self.topics[t as usize].groups {
                sets[g as usize].set(id);
            }
        }
        for (t, id) in self.held_by_services() {
            for &g in &self.topics[t as usize].groups {
                sets[g as usize].set(id);
            }
        }
        for prod in &self.producers {
            for req in prod
                .inflight
                .values()
                .filter(|r| r.in_transit > 0 || !r.done)
            {
                for &g in &self.topics[prod.topic as usize].groups {
                    sets[g as usize].set(req.msg.id);
                }
            }
        }
        sets
    }

    fn census(&self, g: &Group, in_system: &Bits) -> (GroupSummary, Tally) {
        let flags = &self.topics[g.topic as usize].flags;
        // The copies folded during the run were counted then, by the same rule.
        let mut c = g.ledger.folded().clone();
        for id in (g.ledger.base()..g.ledger.len() as u32).filter(|&id| g.ledger.addressed(id)) {
            c.add(id, g.ledger.class(id), flags, || in_system.get(id));
        }
        let tally = Tally {
            unaccounted: c.unaccounted,
        };
        let mut s = c.into_summary();
        s.name.clone_from(&g.name);
        s.topic.clone_from(&self.topics[g.topic as usize].name);
        s.delivery = g.delivery.as_str().to_string();
        s.out_of_order = g.metrics.out_of_order;
        s.examples
            .out_of_order
            .clone_from(&g.metrics.out_of_order_ids);
        s.wait_mean_s = g.metrics.wait_mean_s();
        s.sojourn_mean_s = g.metrics.sojourn_mean_s();
        s.in_system_mean = g.metrics.in_system_mean(self.now);
        let busy: u64 = g
            .instances()
            .map(|i| self.instances[i as usize].busy_ns)
            .sum();
        s.utilization = if self.now.0 == 0 {
            0.0
        } else {
            busy as f64 / (self.now.0 as f64 * f64::from(g.count))
        };
        s.max_lag = g.max_lag;
        s.resequencer = g.reseq.as_ref().map(|r| r.summary());
        let waiting: u64 = g
            .instances()
            .filter_map(|i| self.instances[i as usize].idle_since)
            .map(|since| self.now.since(since).0 / g.wait_time.0.max(1))
            .sum();
        s.empty_receives = if super::models::counts_empty_receives(g.kind) {
            g.empty_receives + waiting
        } else {
            0
        };
        (s, tally)
    }

    /// End-to-end latency over all groups. Each processed copy is recorded once, in its
    /// group's histogram; merging them here gives exactly the counts (and so the mean,
    /// percentiles and max) of recording every copy a second time into a global histogram
    /// on the hot path, at a cost paid once per summary or snapshot instead of per copy.
    fn latency_histogram(&self) -> hdrhistogram::Histogram<u64> {
        let mut all = crate::metrics::new_histogram();
        for g in &self.groups {
            g.metrics.latency.add_to(&mut all);
        }
        all
    }

    /// The result so far (final once `is_finished`).
    #[must_use]
    pub fn summary(&self) -> RunSummary {
        let in_system = self.in_system();
        let mut groups = Vec::new();
        let mut tallies = Vec::new();
        let producing_s = self.now.min(self.stop).as_secs_f64().max(f64::MIN_POSITIVE);
        for (g, bits) in self.groups.iter().zip(&in_system) {
            let (mut s, tally) = self.census(g, bits);
            self.group_views(g, &mut s, producing_s);
            tallies.push(tally);
            groups.push(s);
        }
        self.fill_idempotence(&mut groups);
        let unaccounted: u64 = tallies.iter().map(|t| t.unaccounted).sum();
        let messages = Messages {
            unroutable: self.unroutable,
            ..Messages::of_groups(self.produced, self.acked, self.delivered, &groups)
        };
        let all_latency = self.latency_histogram();
        let latency = latency_of(&all_latency);
        let conservation = Expectation::conservation(&messages, &groups, unaccounted);
        let conservation_ok = conservation.ok;
        let mut expectations = self.expectations(
            &messages,
            &latency,
            groups.iter().map(|g| g.max_lag).max().unwrap_or(0),
        );
        expectations.push(conservation);
        let dropped_by_reason = self.dropped_by_reason();
        expectations.extend(self.invariants(&groups, &dropped_by_reason));
        expectations.extend(self.guarantees(&groups));
        let pipeline = self.pipeline_summary();
        if let Some(p) = &pipeline {
            expectations.extend(super::pipeline::lineage_rows(p));
        }
        RunSummary {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            delivery: self.delivery_label(),
            trace_hash: format!("{:016x}", self.hash),
            events: self.events,
            sim_time_s: self.now.as_secs_f64(),
            wall_s: 0.0,
            messages,
            latency_s: latency,
            groups,
            series: self.series.series.clone(),
            expectations,
            version: env!("CARGO_PKG_VERSION").to_string(),
            scenario_hash: String::new(),
            duration_s: self.stop.as_secs_f64(),
            throughput: self.throughput(producing_s),
            dropped_by_reason,
            conservation_ok,
            faults: self.fault_windows(),
            latency_histogram: all_latency
                .iter_recorded()
                .map(|v| [v.value_iterated_to(), v.count_at_value()])
                .collect(),
            classes: self.class_summaries(),
            overflow: self.overflow_summary(),
            pipeline,
            services: self.service_summaries(),
            sagas: self.saga_summaries(),
            request_reply: self.request_reply_summaries(),
            protection: self.protection_summary(),
            payload: self.payload_summary(),
            outside_faults: self.outside_faults(),
            producers: self.producer_summaries(producing_s),
            broker_timeline: self.timeline(),
        }
    }

    /// One definition of throughput (README, "Throughput"): what happened while producers
    /// produced, over the producing period; the drain apart.
    fn throughput(&self, producing_s: f64) -> Throughput {
        let (producing, drain) = self.series.processed_split();
        Throughput {
            produced_per_s: self.produced as f64 / producing_s,
            processed_per_s: producing as f64 / producing_s,
            produced_bytes_per_s: self.bytes as f64 / producing_s,
            drain_s: self.now.since(self.stop.min(self.now)).as_secs_f64(),
            drain_processed: drain,
        }
    }

    fn delivery_label(&self) -> String {
        let mut kinds: Vec<Delivery> = self.groups.iter().map(|g| g.delivery).collect();
        kinds.sort();
        kinds.dedup();
        match kinds.as_slice() {
            [] => "none".into(),
            [one] => one.as_str().into(),
            _ => "mixed".into(),
        }
    }

    fn fault_windows(&self) -> Vec<FaultWindow> {
        self.faults
            .iter()
            .map(|f| FaultWindow {
                note: crate::scenario::fault_note(&self.scenario, &f.cfg).unwrap_or_default(),
                ..FaultWindow::of(&f.cfg, self.end)
            })
            .collect()
    }

    /// The `[expect]` bounds against what the run gave.
    fn expectations(&self, m: &Messages, l: &Latency, max_lag: u64) -> Vec<Expectation> {
        let e = &self.scenario.expect;
        let mut out = Vec::new();
        let counts = [
            ("lost", e.lost, m.lost),
            ("duplicated", e.duplicated, m.duplicated),
            ("out_of_order", e.out_of_order, m.out_of_order),
            ("dead_lettered", e.dead_lettered, m.dead_lettered),
            ("dropped", e.dropped, m.dropped),
            ("in_flight", e.in_flight, m.in_flight),
            ("max_lag", e.max_lag, max_lag),
            ("gaps_skipped", e.gaps_skipped, self.gaps_skipped()),
        ];
        for (check, bound, actual) in counts {
            if let Some(b) = bound {
                out.push(Expectation::at_most(check, b, actual));
            }
        }
        let latencies = [
            ("p50_latency", e.p50_latency, l.p50),
            ("p99_latency", e.p99_latency, l.p99),
            ("p999_latency", e.p999_latency, l.p999),
        ];
        for (check, bound, actual) in latencies {
            if let Some(b) = bound {
                out.push(Expectation::latency_at_most(check, b, actual));
            }
        }
        out.extend(self.share_expectation());
        // The patterns' counts, totalled over their services, sagas and requesters.
        let bound = |b: &Option<toml::Spanned<u64>>| b.as_ref().map(|b| *b.get_ref());
        let sagas = self.saga_summaries();
        let replies = self.request_reply_summaries();
        let saga_total = |f: fn(&SagaSummary) -> u64| sagas.iter().map(f).sum();
        let reply_total = |f: fn(&RequestReplySummary) -> u64| replies.iter().map(f).sum();
        let pattern_counts = [
            ("phantom", e.phantom, self.phantom_events()),
            (
                "half_done",
                bound(&e.half_done),
                saga_total(|s| s.half_done),
            ),
            (
                "in_progress",
                bound(&e.in_progress),
                saga_total(|s| s.in_progress),
            ),
            (
                "mismatched",
                bound(&e.mismatched),
                reply_total(|s| s.mismatched),
            ),
            ("timeouts", bound(&e.timeouts), reply_total(|s| s.timed_out)),
            ("orphans", bound(&e.orphans), reply_total(|s| s.orphans)),
        ];
        for (check, bound, actual) in pattern_counts {
            if let Some(b) = bound {
                out.push(Expectation::at_most(check, b, actual));
            }
        }
        out.extend(self.protection_expectations());
        out.extend(self.bytes_expectation());
        out
    }

    /// An owned view for the dashboard.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        let counts = self.groups.iter().fold(
            LiveCounts {
                produced: self.produced,
                acked: self.acked,
                delivered: self.delivered,
                ..LiveCounts::default()
            },
            |mut c, g| {
                let m = &g.metrics;
                c.processed += m.processed;
                c.duplicated += m.duplicated;
                c.out_of_order += m.out_of_order;
                c.dead_lettered += m.dead_lettered;
                c.dropped += m.dropped;
                c.lost_known += m.lost_known;
                c
            },
        );
        let latency = latency_of(&self.latency_histogram());
        let live = Messages {
            lost: counts.lost_known,
            duplicated: counts.duplicated,
            out_of_order: counts.out_of_order,
            dead_lettered: counts.dead_lettered,
            dropped: counts.dropped,
            ..Messages::default()
        };
        let max_lag = self.groups.iter().map(|g| g.max_lag).max().unwrap_or(0);
        let mut expectations = self.expectations(&live, &latency, max_lag);
        // In flight (and a saga in progress) is only meaningful once the drain is over.
        expectations.retain(|e| {
            !matches!(e.check.as_str(), "in_flight" | "in_progress") || self.is_finished()
        });
        Snapshot {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            delivery: self.delivery_label(),
            now: self.now,
            duration: self.scenario.duration,
            end: self.end,
            phase: self.phase,
            events: self.events,
            trace_hash: self.hash,
            counts,
            latency,
            groups: self.groups.iter().map(|g| self.group_view(g)).collect(),
            producers: self
                .producers
                .iter()
                .enumerate()
                .map(|(i, p)| self.producer_view(i as u16, p))
                .collect(),
            topics: self
                .topics
                .iter()
                .enumerate()
                .map(|(t, _)| self.topic_view(t))
                .collect(),
            series: self.series.series.clone(),
            expectations,
            log: self.log.iter().cloned().collect(),
            log_total: self.log_total,
            brokers: self.nodes_up.clone(),
            pauses: self.pauses.recent(),
            throughput: self
                .throughput(self.now.min(self.stop).as_secs_f64().max(f64::MIN_POSITIVE)),
            patterns: crate::snapshot::PatternsView {
                breakers: self.breaker_views(),
                held: self
                    .groups
                    .iter()
                    .filter_map(|g| Some((g.name.clone(), g.reseq.as_ref()?.held_now())))
                    .collect(),
                sagas: self.sagas_in_progress(),
            },
            // Only with services (`pipeline_summary` is None otherwise, at no cost).
            lineage: self
                .pipeline_summary()
                .map(|p| super::pipeline::lineage_rows(&p))
                .unwrap_or_default(),
            stopped: self.stopped().map(super::Stopped::short),
        }
    }

    fn group_view(&self, g: &Group) -> GroupView {
        let partition_lag = match &g.store {
            Store::Log(parts) => parts
                .iter()
                .enumerate()
                .map(|(p, gp)| self.topics[g.topic as usize].partitions[p].end - gp.committed)
                .collect(),
            Store::Queue(q) => vec![q.len()],
        };
        GroupView {
            name: g.name.clone(),
            topic: self.topics[g.topic as usize].name.clone(),
            delivery: g.delivery.as_str().into(),
            lag: g.lag,
            partition_lag,
            processed: g.metrics.processed,
            max_lag: g.max_lag,
            outputs: self.stage_outputs(g),
            end_to_end_p99_s: self.stage_p99(g),
            // Only with services, so a plain scenario's snapshot pays nothing for it.
            stage_p99_s: if self.pipeline_on() {
                latency_of(&g.metrics.latency.histogram()).p99
            } else {
                0.0
            },
            instances: g
                .instances()
                .map(|i| {
                    let inst = &self.instances[i as usize];
                    InstanceView {
                        state: if !inst.up {
                            InstanceState::Down
                        } else if inst.slow == 1.0 {
                            InstanceState::Up
                        } else {
                            InstanceState::Slow
                        },
                        busy: inst.work.is_some(),
                        partitions: inst.owned.clone(),
                        processed: inst.processed,
                    }
                })
                .collect(),
            replayable: super::models::replayable(g.kind),
            redrivable: super::models::redrivable(g.kind),
        }
    }

    fn producer_view(&self, index: u16, p: &crate::producer::Producer) -> ProducerView {
        let topic = &self.topics[p.topic as usize];
        ProducerView {
            name: p.name.clone(),
            topic: topic.name.clone(),
            produced: p.produced,
            blocked: topic
                .parked
                .iter()
                .filter(|x| x.msg.producer == index)
                .count() as u64,
            up: p.up,
        }
    }

    fn topic_view(&self, t: usize) -> TopicView {
        let topic = &self.topics[t];
        let depth = if topic.partitions.is_empty() {
            let held = topic
                .groups
                .iter()
                .map(|&g| match &self.groups[g as usize].store {
                    Store::Queue(q) => q.len(),
                    Store::Log(_) => 0,
                });
            vec![held.max().unwrap_or(0)]
        } else {
            topic
                .partitions
                .iter()
                .map(crate::log::Partition::held)
                .collect()
        };
        TopicView {
            name: topic.name.clone(),
            depth,
        }
    }
}
