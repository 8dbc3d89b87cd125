//! The accounting of a real run, with the engine's own pieces: one `Ledger` per group and
//! `MessageFlags` per topic (`mqlab_sim::ledger`), `GroupMetrics` and `SeriesBuilder`
//! (`mqlab_sim::metrics`). Producers and consumer threads record into it under one lock;
//! `census.rs` classifies every copy at the end exactly as the engine's checker does.

use crate::schedule::{Send, Workload};
use hdrhistogram::Histogram;
use mqlab_sim::ledger::{Ledger, MessageFlags};
use mqlab_sim::metrics::{GroupMetrics, SeriesBuilder, new_histogram};
use mqlab_sim::scenario::{Delivery, OffsetReset, Scenario};
use mqlab_sim::{SimDuration, SimTime};
use std::collections::BTreeMap;

/// `published_ns` of a message never sent.
pub const NOT_SENT: u64 = u64::MAX;

/// Pub/sub: copies published after `after` (publish time, then id: one pipelined batch
/// shares a publish time) and until `until_ns` never reached the subscriber.
#[derive(Clone, Copy, Debug)]
pub struct Gap {
    /// The last copy received before the connection went: (publish ns, id).
    pub after: (u64, u32),
    /// When the subscription was back (publish ns).
    pub until_ns: u64,
    /// The drop reason.
    pub why: &'static str,
}

/// One consumer group's books.
#[derive(Debug)]
pub struct GroupBooks {
    /// Group name.
    pub name: String,
    /// Topic index.
    pub topic: usize,
    /// Delivery variant.
    pub delivery: Delivery,
    /// Instances.
    pub instances: u32,
    /// The side effects: how often each copy was applied (the checker's ledger).
    pub ledger: Ledger,
    /// Exactly-once: the idempotency records, kept in the same store (and under the same
    /// lock) as the side effects, so a record and its effect commit together.
    pub dedup: Vec<bool>,
    /// `ordered = true`: per key, one past the highest sequence applied.
    pub order: Option<Vec<u32>>,
    /// Queueing figures and the latency histogram.
    pub metrics: GroupMetrics,
    /// Copies addressed to it that were published so far, sends given up included (each
    /// finished as it is given up).
    pub published: u64,
    /// Copies that left (processed first time, or dropped).
    pub finished: u64,
    /// Largest lag seen by the sampler.
    pub max_lag: u64,
    /// Time its instances spent serving, nanoseconds.
    pub busy_ns: u64,
    /// Pub/sub: windows during which the subscriber could not receive (disconnected by
    /// the server, or crashed).
    pub gaps: Vec<Gap>,
    /// Copies still somewhere in the broker or a client at the end (found by the driver).
    pub in_system: Vec<u32>,
}

/// Everything a real run records.
#[derive(Debug)]
pub struct Books {
    /// Per topic, what the producer and the broker know of each message.
    pub flags: Vec<MessageFlags>,
    /// Per topic and message, when it was actually sent (ns since start), or `NOT_SENT`.
    pub published_ns: Vec<Vec<u64>>,
    /// Per group.
    pub groups: Vec<GroupBooks>,
    /// Per topic, the groups consuming it.
    pub topic_groups: Vec<Vec<usize>>,
    /// Per producer and routing key, the groups the model routes it to.
    pub routes: Vec<Vec<Vec<u32>>>,
    /// Messages sent.
    pub produced: u64,
    /// Messages the broker took (a successful PUBLISH, or a confirmed AMQP publish).
    pub acked: u64,
    /// Deliveries, counting repeats.
    pub delivered: u64,
    /// Actual minus intended send time, nanoseconds: the driver's own scheduling error.
    pub sched_error: Histogram<u64>,
    /// Time series.
    pub series: SeriesBuilder,
    /// Dropped copies by reason, and messages no binding matched (`unroutable`).
    pub dropped_by_reason: BTreeMap<String, u64>,
    /// Deliveries to a group the model does not route that message to (0 when the real
    /// broker routes as the model does).
    pub misrouted: u64,
    /// Why the run stopped early, if it did.
    pub partial: Option<String>,
    /// When the producers stop (ns since start): a group's samples before it are its
    /// throughput while producing, as in the engine.
    pub stop_ns: u64,
    /// Groups joining late from the latest offset, and what tells their copies apart.
    pub late: crate::late::LateJoins,
}

impl Books {
    /// Empty books for `w`, with a copy per message per group the model routes it to.
    #[must_use]
    pub fn new(sc: &Scenario, w: &Workload) -> Books {
        let topic_groups: Vec<Vec<usize>> = (0..sc.topics.len())
            .map(|t| {
                sc.consumers
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.topic.get_ref() == sc.topics[t].name.get_ref())
                    .map(|(g, _)| g)
                    .collect()
            })
            .collect();
        let keys: u32 = sc.producers.iter().map(|p| *p.keys.get_ref()).sum();
        let mut groups: Vec<GroupBooks> = sc
            .consumers
            .iter()
            .enumerate()
            .map(|(g, c)| GroupBooks {
                name: c.group.get_ref().clone(),
                topic: topic_groups
                    .iter()
                    .position(|gs| gs.contains(&g))
                    .unwrap_or(0),
                delivery: c.delivery,
                instances: *c.instances.get_ref(),
                ledger: Ledger::default(),
                dedup: Vec::new(),
                order: c.ordered.then(|| vec![0; keys as usize]),
                metrics: GroupMetrics::default(),
                published: 0,
                finished: 0,
                max_lag: 0,
                busy_ns: 0,
                gaps: Vec::new(),
                in_system: Vec::new(),
            })
            .collect();
        let mut flags: Vec<MessageFlags> =
            sc.topics.iter().map(|_| MessageFlags::default()).collect();
        // A late group from the latest offset has no copy until it joins (`late.rs`).
        let latest: Vec<bool> = sc
            .consumers
            .iter()
            .map(|c| !c.start_at.get_ref().is_zero() && c.offset_reset == OffsetReset::Latest)
            .collect();
        for s in &w.sends {
            flags[s.topic as usize].push();
            let targets = &w.routes[s.producer as usize][s.route as usize];
            for &g in &topic_groups[s.topic as usize] {
                let gb = &mut groups[g];
                if targets.contains(&(g as u32)) && !latest[g] {
                    gb.ledger.push();
                } else {
                    gb.ledger.push_unaddressed();
                }
                gb.dedup.push(false);
            }
        }
        let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
        let width = sc.sample_interval.unwrap_or(SimDuration::from_millis(1000));
        Books {
            flags,
            published_ns: w
                .per_topic
                .iter()
                .map(|&n| vec![NOT_SENT; n as usize])
                .collect(),
            groups,
            topic_groups,
            routes: w.routes.clone(),
            produced: 0,
            acked: 0,
            delivered: 0,
            sched_error: new_histogram(),
            series: SeriesBuilder::new(width, &names),
            dropped_by_reason: BTreeMap::new(),
            misrouted: 0,
            partial: None,
            stop_ns: sc.duration.0,
            late: crate::late::LateJoins {
                from: vec![None; latest.len()],
                entry: if latest.contains(&true) {
                    w.per_topic
                        .iter()
                        .map(|&n| vec![None; n as usize])
                        .collect()
                } else {
                    Vec::new()
                },
                latest,
            },
        }
    }

    /// `s` was handed to the broker at `now_ns`; `ok` when the broker took it.
    pub fn published(&mut self, s: &Send, now_ns: u64, ok: bool) {
        let t = s.topic as usize;
        self.published_ns[t][s.id as usize] = now_ns;
        self.produced += 1;
        self.series.produced();
        self.sched_error
            .saturating_record(now_ns.saturating_sub(s.at_ns).max(1));
        if !ok {
            // Counted in and out at once, so that `settled` compares like with like: a
            // give-up once counted only out, and a run whose producer gave up 179 sends
            // ended its drain with that many of the group's copies unprocessed (one was
            // still in a consumer's hands). Finished in the ledger too: a copy the server
            // took before the send failed, processed later, is not counted out twice
            // (`apply` takes the drop back instead).
            // Its copies are dropped and finished now, provisionally: a send the server
            // took before it failed may still be processed (`apply`).
            self.flags[t].give_up(s.id);
            let mut copies = 0;
            for &g in &self.topic_groups[t] {
                let gb = &mut self.groups[g];
                if gb.ledger.addressed(s.id) {
                    gb.published += 1;
                    // Already processed (the server took a send, a consumer had it, and
                    // only the confirm was lost): nothing to drop.
                    if gb.ledger.applied(s.id) == 0 && gb.ledger.drop_copy(s.id) {
                        copies += 1;
                        if gb.ledger.finish(s.id) {
                            gb.finished += 1;
                        }
                    }
                }
            }
            // Copies, as every other reason counts (and the engine's): a message given
            // up on a topic two groups read drops two.
            if copies > 0 {
                *self
                    .dropped_by_reason
                    .entry("publish-failed".into())
                    .or_default() += copies;
            }
            return;
        }
        self.flags[t].accept(s.id);
        if self.flags[t].ack(s.id) {
            self.acked += 1;
        }
        let at = SimTime(now_ns);
        for &g in &self.topic_groups[t] {
            let gb = &mut self.groups[g];
            if gb.ledger.addressed(s.id) {
                gb.published += 1;
                gb.metrics.enter(at);
            }
        }
    }

    /// Group `g` received `s`; false when the model does not route it there (misrouted).
    pub fn delivered(&mut self, g: usize, s: &Send) -> bool {
        self.delivered += 1;
        let gb = &mut self.groups[g];
        if (s.id as usize) >= gb.ledger.len() || !gb.ledger.addressed(s.id) {
            self.misrouted += 1;
            return false;
        }
        gb.ledger.deliver(s.id);
        true
    }

    /// Group `g` applied the side effect of `s`: served from `start_ns` to `now_ns`.
    /// Exactly-once skips a copy whose idempotency record exists (and says so: false).
    pub fn apply(&mut self, g: usize, s: &Send, start_ns: u64, now_ns: u64) -> bool {
        let published = self.published_ns[s.topic as usize][s.id as usize];
        let gb = &mut self.groups[g];
        gb.busy_ns += now_ns.saturating_sub(start_ns);
        if gb.delivery == Delivery::ExactlyOnce {
            if gb.dedup[s.id as usize] {
                return false;
            }
            gb.dedup[s.id as usize] = true;
        }
        if gb.ledger.apply(s.id) != 1 {
            return true;
        }
        gb.metrics.processed += 1;
        // Its producer gave it up, yet the server had it: processed wins, as in the
        // engine. The drop is taken back, and the copy, finished at the give-up, is
        // sampled here as any first processing is (it counted out of `settled` then).
        let revived = self.flags[s.topic as usize].gave_up(s.id) && gb.ledger.dropped(s.id);
        if revived {
            gb.ledger.undrop(s.id);
            if let Some(n) = self.dropped_by_reason.get_mut("publish-failed") {
                *n -= 1;
                if *n == 0 {
                    self.dropped_by_reason.remove("publish-failed");
                }
            }
        }
        if let Some(high) = gb.order.as_mut().and_then(|o| o.get_mut(s.key as usize)) {
            if *high > s.seq {
                gb.metrics.out_of_order += 1;
                gb.metrics.example_out_of_order(s.id);
            } else {
                *high = s.seq + 1;
            }
        }
        let first = gb.ledger.finish(s.id);
        if first || revived {
            if first {
                gb.finished += 1;
            }
            self.series.processed();
            if now_ns > self.stop_ns && gb.metrics.samples_at_stop.is_none() {
                gb.metrics.samples_at_stop = Some(gb.metrics.latency.len());
            }
            gb.metrics
                .latency
                .record(now_ns.saturating_sub(s.at_ns).max(1));
            if published != NOT_SENT {
                gb.metrics
                    .record_wait(SimDuration(start_ns.saturating_sub(published)));
                gb.metrics
                    .record_sojourn(SimDuration(now_ns.saturating_sub(published)));
            }
            let arrived = if published == NOT_SENT {
                now_ns
            } else {
                published
            };
            if revived {
                // Never counted in: it is, from its send, so that Little's law holds.
                gb.metrics
                    .enter_since(SimTime(now_ns), SimTime(arrived.min(now_ns)));
            }
            gb.metrics.leave(SimTime(now_ns), Some(SimTime(arrived)));
        }
        true
    }

    /// Closes a series bucket at `now_ns` with each group's lag (published, not yet
    /// finished).
    pub fn sample(&mut self, now_ns: u64) {
        let lags: Vec<(String, u64)> = self
            .groups
            .iter_mut()
            .map(|g| {
                let lag = g.published.saturating_sub(g.finished);
                g.max_lag = g.max_lag.max(lag);
                (g.name.clone(), lag)
            })
            .collect();
        let depth = lags.iter().map(|l| l.1).sum();
        let refs: Vec<(&str, u64)> = lags.iter().map(|(n, l)| (n.as_str(), *l)).collect();
        self.series.close(SimTime(now_ns), depth, &refs);
    }

    /// Every copy published so far has left its group (processed or dropped).
    #[must_use]
    pub fn settled(&self) -> bool {
        self.groups.iter().all(|g| g.finished >= g.published)
    }

    /// The broker discarded group `g`'s copy of message `id` (a known mechanism), found
    /// at `now_ns`.
    pub fn drop_copy(&mut self, g: usize, id: u32, why: &str, now_ns: u64) {
        let gb = &mut self.groups[g];
        if (id as usize) < gb.ledger.len() && gb.ledger.addressed(id) && gb.ledger.drop_copy(id) {
            if gb.ledger.finish(id) {
                gb.finished += 1;
                // When the broker took it is not known here.
                gb.metrics.leave(SimTime(now_ns), None);
            }
            *self.dropped_by_reason.entry(why.into()).or_default() += 1;
        }
    }

    /// Group `g`'s copy of message `id` went to its dead-letter exchange, found at `now_ns`.
    pub fn dead_letter(&mut self, g: usize, id: u32, now_ns: u64) {
        let gb = &mut self.groups[g];
        if (id as usize) < gb.ledger.len()
            && gb.ledger.addressed(id)
            && gb.ledger.dead_letter(id)
            && gb.ledger.finish(id)
        {
            gb.finished += 1;
            // When the broker took it is not known here.
            gb.metrics.leave(SimTime(now_ns), None);
        }
    }

    /// Records why the run stopped early (the first reason wins).
    pub fn fail(&mut self, why: String) {
        self.partial.get_or_insert(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two groups read one log topic.
    const SRC: &str = r#"
name = "give-up"
duration = "1s"
[broker]
model = "log"
[[topic]]
name = "jobs"
[[producer]]
name = "p"
topic = "jobs"
rate = 10
[[consumer]]
group = "a"
topic = "jobs"
service_time = "1ms"
[[consumer]]
group = "b"
topic = "jobs"
service_time = "1ms"
"#;

    /// `SRC`'s books, and its first three sends.
    fn give_up_books() -> (Scenario, Books, [Send; 3]) {
        let sc = Scenario::from_toml(SRC, "give-up.toml").expect("valid");
        let w = crate::schedule::workload(&sc, 1);
        let sends = [w.sends[0], w.sends[1], w.sends[2]];
        let books = Books::new(&sc, &w);
        (sc, books, sends)
    }

    /// A give-up drops a copy in each group, and the reasons count those copies, as
    /// every other reason does; a given-up send the server had taken, processed after
    /// all, takes its group's drop back and is sampled as any processed copy; one
    /// processed before its producer gave up is not dropped at all. The reasons then sum
    /// to the copies dropped, and every processed copy has its latency.
    #[test]
    fn a_give_up_drops_copies_and_a_copy_processed_after_all_takes_its_drop_back() {
        let (sc, mut books, [m0, m1, m2]) = give_up_books();
        let failed = |b: &Books| b.dropped_by_reason.get("publish-failed").copied();
        books.published(&m0, 1_000, false);
        assert_eq!(failed(&books), Some(2), "one copy in each group");
        assert!(books.settled());
        // Group a had it after all.
        assert!(books.delivered(0, &m0));
        assert!(books.apply(0, &m0, 2_000, 3_000));
        assert_eq!(failed(&books), Some(1), "group a's drop taken back");
        // m1 reaches both; m2 is processed by group a before its producer gives up.
        books.published(&m1, 4_000, true);
        for g in [0, 1] {
            assert!(books.apply(g, &m1, 5_000, 6_000));
        }
        assert!(books.apply(0, &m2, 7_000, 8_000));
        books.published(&m2, 9_000, false);
        assert_eq!(failed(&books), Some(2), "only group b's copy of m2 dropped");
        assert!(books.settled());
        let a = &books.groups[0];
        assert_eq!((a.metrics.processed, a.metrics.latency.len()), (3, 3));
        assert_eq!((a.published, a.finished), (3, 3));
        let r = books.summary(&sc, 1, 10_000);
        let dropped: u64 = r.dropped_by_reason.values().sum();
        assert_eq!(r.messages.dropped, dropped, "{:?}", r.dropped_by_reason);
        assert_eq!(dropped, 2);
        assert_eq!(
            (r.groups[0].processed, r.groups[0].dropped),
            (3, 0),
            "{:?}",
            r.groups[0]
        );
        assert_eq!((r.groups[1].processed, r.groups[1].dropped), (1, 2));
        assert!(r.conservation_ok, "{:?}", r.expectations);
    }

    /// The census names the copies it counts, as the engine does: a real run's duplicate
    /// can then be traced in the model. Group a applies m1 twice (a redelivery); group b
    /// never gets m0 and m2, whose producer gave them up.
    #[test]
    fn the_census_names_the_duplicated_and_dropped_copies() {
        let (sc, mut books, [m0, m1, m2]) = give_up_books();
        books.published(&m0, 1_000, false);
        books.published(&m1, 2_000, true);
        books.published(&m2, 3_000, false);
        for _ in 0..2 {
            assert!(books.delivered(0, &m1));
            assert!(books.apply(0, &m1, 4_000, 5_000));
        }
        assert!(books.apply(1, &m1, 4_000, 5_000));
        let r = books.summary(&sc, 1, 10_000);
        let (a, b) = (&r.groups[0].examples, &r.groups[1].examples);
        assert_eq!(r.groups[0].duplicated, 1);
        assert_eq!(a.duplicated, vec![m1.id]);
        assert_eq!(a.dropped, vec![m0.id, m2.id]);
        assert_eq!(b.dropped, vec![m0.id, m2.id]);
        assert!(b.duplicated.is_empty() && b.lost.is_empty(), "{b:?}");
    }
}
