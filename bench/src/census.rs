//! The checker of a real run: every copy in exactly one class, with the engine's rules
//! (`engine/census.rs`): processed wins, then dead-lettered, dropped, still in the system
//! (in flight), and otherwise lost when the broker took it. The result is the engine's
//! `RunSummary`, so every report reads it.

use crate::books::{Books, GroupBooks, NOT_SENT};
use mqlab_sim::SimTime;
use mqlab_sim::ledger::{Class, CopyCounts};
use mqlab_sim::metrics::{latency_of, new_histogram, percentile_ladder};
use mqlab_sim::scenario::Scenario;
use mqlab_sim::summary::{
    Expectation, FaultWindow, GroupSummary, Latency, Messages, RunSummary, Throughput,
};

impl Books {
    /// Pub/sub keeps nothing: a copy published while its subscriber was disconnected by
    /// the server or crashed is dropped, with that reason. Any other miss stays lost.
    pub fn settle_gaps(&mut self) {
        for g in 0..self.groups.len() {
            let gaps = std::mem::take(&mut self.groups[g].gaps);
            for (id, at) in self.unsettled(g) {
                let gb = &mut self.groups[g];
                if let Some(gap) = gaps.iter().find(|x| x.after < (at, id) && at <= x.until_ns)
                    && gb.ledger.drop_copy(id)
                {
                    gb.finished += 1;
                    *self.dropped_by_reason.entry(gap.why.into()).or_default() += 1;
                }
            }
            self.groups[g].gaps = gaps;
        }
    }

    /// Group `g`'s copies of messages sent that no class holds yet (`Gone`), each with its
    /// publish time.
    fn unsettled(&self, g: usize) -> Vec<(u32, u64)> {
        let gb = &self.groups[g];
        let published = &self.published_ns[gb.topic];
        (0..gb.ledger.len() as u32)
            .map(|id| (id, published[id as usize]))
            .filter(|&(id, at)| {
                gb.ledger.addressed(id) && at != NOT_SENT && gb.ledger.class(id) == Class::Gone
            })
            .collect()
    }

    /// Pub/sub, at the end, group `g`'s subscriber still subscribed: every copy published
    /// from `from` on (publish time and id, the last one it read) that it has not finished
    /// is in its hands or its output buffer, so in flight, as the model counts a backlog
    /// the drain did not clear. Counted lost, a run ending on a backlog disagreed with the
    /// model on every copy of it.
    pub fn still_buffered(&mut self, g: usize, from: (u64, u32)) {
        let held = self
            .unsettled(g)
            .into_iter()
            .filter(|&(id, at)| (at, id) >= from);
        let held: Vec<u32> = held.map(|(id, _)| id).collect();
        self.groups[g].in_system.extend(held);
    }

    fn census(&self, g: &GroupBooks, end: SimTime, duration_s: f64) -> (GroupSummary, u64) {
        let flags = &self.flags[g.topic];
        let mut c = CopyCounts::default();
        let mut in_system = vec![false; g.ledger.len()];
        for &id in &g.in_system {
            in_system[id as usize] = true;
        }
        for id in (0..g.ledger.len() as u32).filter(|&id| g.ledger.addressed(id)) {
            if self.published_ns[g.topic][id as usize] == NOT_SENT {
                // Never sent (the run stopped first): not a message of this run.
                continue;
            }
            c.add(id, g.ledger.class(id), flags, || in_system[id as usize]);
        }
        let unaccounted = c.unaccounted;
        let mut s = c.into_summary();
        s.examples
            .out_of_order
            .clone_from(&g.metrics.out_of_order_ids);
        s.name.clone_from(&g.name);
        s.delivery = g.delivery.as_str().to_string();
        s.out_of_order = g.metrics.out_of_order;
        s.wait_mean_s = g.metrics.wait_mean_s();
        s.sojourn_mean_s = g.metrics.sojourn_mean_s();
        s.in_system_mean = g.metrics.in_system_mean(end);
        s.utilization = if end.0 == 0 {
            0.0
        } else {
            g.busy_ns as f64 / (end.0 as f64 * f64::from(g.instances.max(1)))
        };
        s.max_lag = g.max_lag;
        // The same per-group latency views and throughput the engine gives (they were left
        // at zero: a real run's group rows read `rate/s 0.0` and `p50 0`).
        let latency = g.metrics.latency.histogram();
        s.latency_s = latency_of(&latency);
        s.latency_p99_s = s.latency_s.p99;
        s.latency_by_percentile_s = percentile_ladder(&latency);
        let producing = g
            .metrics
            .samples_at_stop
            .unwrap_or_else(|| g.metrics.latency.len());
        s.processed_per_s = producing as f64 / duration_s.max(1e-9);
        (s, unaccounted)
    }

    /// The result: the engine's `RunSummary`, with no trace hash (a real run has none).
    #[must_use]
    pub fn summary(&self, sc: &Scenario, seed: u64, end_ns: u64) -> RunSummary {
        let end = SimTime(end_ns);
        let mut groups = Vec::new();
        let mut unaccounted = 0;
        let mut all = new_histogram();
        for g in &self.groups {
            let (mut s, u) = self.census(g, end, sc.duration.as_secs_f64());
            s.topic.clone_from(sc.topics[g.topic].name.get_ref());
            unaccounted += u;
            groups.push(s);
            g.metrics.latency.add_to(&mut all);
        }
        let messages = Messages {
            // Messages, not copies: reported apart from the drops, as the engine does.
            unroutable: self
                .dropped_by_reason
                .get("unroutable")
                .copied()
                .unwrap_or(0),
            ..Messages::of_groups(self.produced, self.acked, self.delivered, &groups)
        };
        let latency = latency_of(&all);
        let conservation = Expectation::conservation(&messages, &groups, unaccounted);
        let conservation_ok = conservation.ok;
        let mut expectations = expectations(sc, &messages, &latency);
        expectations.push(conservation);
        let duration_s = sc.duration.as_secs_f64();
        let delivery = delivery_of(&groups);
        RunSummary {
            scenario: sc.name.clone(),
            seed,
            delivery,
            trace_hash: String::new(),
            events: self.delivered,
            sim_time_s: end.as_secs_f64(),
            wall_s: end.as_secs_f64(),
            messages,
            latency_s: latency,
            groups,
            series: self.series.series.clone(),
            expectations,
            version: env!("CARGO_PKG_VERSION").into(),
            scenario_hash: String::new(),
            duration_s,
            throughput: self.throughput(duration_s, end, messages.processed),
            dropped_by_reason: self
                .dropped_by_reason
                .iter()
                .filter(|(k, _)| k.as_str() != "unroutable")
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            conservation_ok,
            faults: fault_windows(sc, end),
            latency_histogram: all
                .iter_recorded()
                .map(|v| [v.value_iterated_to(), v.count_at_value()])
                .collect(),
            ..RunSummary::default()
        }
    }
}

impl Books {
    /// The engine's one throughput: copies first processed while producers ran, over the
    /// producing period, taken from the series buckets that end by then; the rest is the
    /// drain's.
    fn throughput(&self, duration_s: f64, end: SimTime, processed: u64) -> Throughput {
        let sr = &self.series.series;
        let mut start = 0.0;
        let mut while_producing = 0.0;
        for (t, rate) in sr.t_s.iter().zip(&sr.processed_per_s) {
            if *t > duration_s + 1e-9 {
                break;
            }
            while_producing += rate * (t - start);
            start = *t;
        }
        let while_producing = (while_producing.round() as u64).min(processed);
        Throughput {
            produced_per_s: self.produced as f64 / duration_s.max(1e-9),
            processed_per_s: while_producing as f64 / duration_s.max(1e-9),
            produced_bytes_per_s: 0.0,
            drain_s: (end.as_secs_f64() - duration_s).max(0.0),
            drain_processed: processed - while_producing,
        }
    }
}

fn delivery_of(groups: &[GroupSummary]) -> String {
    match groups.first() {
        Some(first) if groups.iter().all(|g| g.delivery == first.delivery) => {
            first.delivery.clone()
        }
        Some(_) => "mixed".into(),
        None => String::new(),
    }
}

fn fault_windows(sc: &Scenario, end: SimTime) -> Vec<FaultWindow> {
    sc.faults.iter().map(|f| FaultWindow::of(f, end)).collect()
}

/// The `[expect]` bounds this driver supports (the mapping refuses the others).
fn expectations(sc: &Scenario, m: &Messages, l: &Latency) -> Vec<Expectation> {
    let e = &sc.expect;
    let mut out = Vec::new();
    for (check, bound, actual) in [
        ("lost", e.lost, m.lost),
        ("duplicated", e.duplicated, m.duplicated),
        ("out_of_order", e.out_of_order, m.out_of_order),
        ("dead_lettered", e.dead_lettered, m.dead_lettered),
        ("dropped", e.dropped, m.dropped),
        ("in_flight", e.in_flight, m.in_flight),
    ] {
        if let Some(b) = bound {
            out.push(Expectation::at_most(check, b, actual));
        }
    }
    for (check, bound, actual) in [
        ("p50_latency", e.p50_latency, l.p50),
        ("p99_latency", e.p99_latency, l.p99),
        ("p999_latency", e.p999_latency, l.p999),
    ] {
        if let Some(b) = bound {
            out.push(Expectation::latency_at_most(check, b, actual));
        }
    }
    out
}
