//! The plain path: lean versions of the two handlers every message goes through (an
//! arrival: make, append, wake a consumer; a service's end: apply, settle, take the
//! next), for scenarios that use none of the features those handlers otherwise ask about
//! on every message. Chosen once, when the engine is built (`eligible`); the handlers work
//! on the same state as the generic ones and leave exactly what those leave (the same
//! draws from the same streams in the same order, the same events at the same times with
//! the same sequence numbers, the same figures), so the summary, series, ledgers, hash and
//! JSON are the generic path's by construction, and the tests compare them.
//!
//! What sends a scenario down the generic path, and why (each is a branch or a call per
//! message the lean handlers leave out):
//! - a fault under way (poison, crashes, slow instances, cut-off zombies, replays, network
//!   faults): a run leaves the plain path when a fault starts (a network fault, which
//!   needs the asynchronous network, keeps it off from the start), and comes back once
//!   every fault is over if they only crashed or slowed consumer instances or crashed
//!   producers, and every instance is up and at full speed again (`resume_plain`); a
//!   producer that is down;
//! - an asynchronous network (latency, loss, duplication, retries, claim-check payloads):
//!   requests then travel as events with timeouts;
//! - `acks = "all"`, replication, a flush interval: acknowledgements wait for the high
//!   watermark, appends start follower fetches;
//! - watermarks (`high_watermark`), `on_full = "spill"`: producers pause and resume;
//! - retention: an append may expire entries;
//! - SQS FIFO deduplication and idempotent producers: the broker checks each request;
//! - a group that joins late (`start_at`): appends move its offsets instead;
//! - exactly-once delivery and idempotent consumers: the side effect is checked or
//!   marked;
//! - pub/sub subscribers: a publish goes to a bounded output buffer;
//! - services, outboxes, sagas, requesters, pipelines, priority classes, protection,
//!   payload sizes: each hooks into making, applying or settling a message;
//! - a traced message.
//!
//! On the generic path, the consumers of a group none of whose own features they leave
//! out still run the plain path's completion and take (`lean.rs`): most of what sends a
//! run down the generic path is the produce side's or one group's.
//!
//! A resequencer (`resequence = true`) stays plain: its group's applications go through
//! it the generic way (`plain_apply_resequenced`), and everything else of theirs is plain.
//!
//! `capacity` with `on_full = "block"`, `"reject"` or `"drop-oldest"` stays plain: an
//! append goes the generic way only while some group of the topic lags `capacity` or
//! more (its lag bounds the backlog `is_full` counts), or something is parked or blocked.
//! A fault starting (scheduled or injected live) or a trace turns the plain path off; its
//! state is the generic path's (`leave_plain` brings up the one thing the plain path
//! leaves behind, a lone replica's offsets), so the generic handlers simply carry on, and
//! after the faults the plain handlers pick up the same state (`resume_plain`).
//!
//! `MQLAB_GENERIC_PATH=1` in the environment (or [`Engine::force_generic`]) forces the
//! generic path, for the tests that compare the two.

use super::Engine;
use crate::consumer::{Store, Work};
use crate::event::{Event, Packed};
use crate::message::Msg;
use crate::scenario::{Acks, Delivery};
use crate::time::{SimDuration, SimTime};

/// The environment variable that forces the generic path.
pub const FORCE_GENERIC_ENV: &str = "MQLAB_GENERIC_PATH";

impl Engine {
    /// Whether the scenario the engine was built from can take the plain path (see the
    /// module doc for what cannot): everything the lean consumers ask of the run and of
    /// every group (`lean.rs`), no exactly-once group, and a produce side with nothing to
    /// wait for (an instant network, no `acks = "all"` nor flush interval, no idempotent
    /// producer, every producer up, every partition a lone replica that is up).
    pub(super) fn plain_eligible(&self) -> bool {
        let broker_plain = !self.net_async
            && self.broker.acks != Acks::All
            && self.broker.flush_interval.is_zero();
        let topics_plain = self.topics.iter().all(|t| {
            t.retention.is_none()
                && !t.fifo
                && t.partitions.iter().all(|p| {
                    matches!(&p.replicas.replicas[..], [r] if r.in_sync && self.nodes_up[r.node as usize])
                        && p.replicas.leader.is_some()
                })
        });
        let producers_plain = self.producers.iter().all(|p| !p.idempotent && p.up);
        let groups_plain = (0..self.groups.len() as u32).all(|g| {
            self.groups[g as usize].delivery != Delivery::ExactlyOnce && self.lean_group_fits(g)
        });
        self.lean_run_fits() && broker_plain && topics_plain && producers_plain && groups_plain
    }

    /// `dispatch` on the plain path: the two events every message goes through run
    /// here, in `step` itself, read from the packed event; the rest as usual.
    #[inline(always)]
    pub(super) fn plain_dispatch(&mut self, packed: Packed) {
        const ARRIVAL: u32 = Event::Arrival { producer: 0 }.tag();
        const SERVICE_DONE: u32 = Event::ServiceDone {
            instance: 0,
            epoch: 0,
        }
        .tag();
        match packed.tag() {
            // `Arrival { producer }`
            ARRIVAL => self.plain_arrival(packed.field(0)),
            // `ServiceDone { instance, epoch }`
            SERVICE_DONE if self.instances[packed.field(0) as usize].epoch == packed.field(1) => {
                self.plain_service_done::<false>(packed.field(0));
            }
            _ => self.dispatch(packed.event()),
        }
    }

    /// `on_arrival` on the plain path: a message made and sent over an instant network.
    #[inline(always)]
    fn plain_arrival(&mut self, p: u32) {
        let prod = &mut self.producers[p as usize];
        let (key, seq) = prod.next_key();
        let partition = prod.partition_for(key);
        // One route: `next_route` draws nothing.
        let route = if prod.routes.len() > 1 {
            prod.next_route()
        } else {
            0
        };
        let (t, payload) = (prod.topic, prod.payload_bytes);
        let id = self.register_message(p, route);
        self.produced += 1;
        self.bytes += payload;
        self.series.produced();
        let msg = Msg {
            id,
            key,
            seq,
            producer: p as u16,
            poison: false,
            route,
            born: self.now,
            arrived: self.now,
        };
        if self.broker.acks == Acks::None {
            self.ack_to_producer(p, id, msg.born);
        }
        if self.plain_room(t) {
            self.plain_append(t, msg, partition);
            if self.broker.acks != Acks::None {
                self.ack_to_producer(p, id, msg.born);
            }
        } else {
            // Maybe full, or requests are parked: the broker's full rules decide.
            self.reach_broker(p, msg, partition);
        }
        self.schedule_arrival(p);
    }

    /// Nothing is parked or blocked and no group of topic `t` lags `capacity`: the
    /// append goes in (a group's lag is at least the backlog `is_full` counts for it).
    #[inline(always)]
    fn plain_room(&self, t: u32) -> bool {
        let topic = &self.topics[t as usize];
        let limit = self.broker.capacity;
        topic.parked.is_empty()
            && topic.blocked.is_none()
            && topic
                .groups
                .iter()
                .all(|&g| self.groups[g as usize].lag < limit)
    }

    /// `append` on the plain path: a first append, to groups that have all joined.
    #[inline(always)]
    fn plain_append(&mut self, t: u32, msg: Msg, partition: u32) {
        let topic = &mut self.topics[t as usize];
        let first = topic.flags.accept(msg.id);
        debug_assert!(first, "the plain path appends every message once");
        let logged = if let Some(part) = topic.partitions.get_mut(partition as usize) {
            part.append(msg);
            let end = part.end;
            // Every partition has a lone replica, its leader, in sync on a node that
            // stays up (`plain_eligible`; only a fault changes that, and a fault leaves
            // the plain path first): the high watermark is the log end. The replica's
            // own log end and flushed offsets, in a heap block of their own that a run
            // over many partitions finds out of the cache at every append, would be the
            // log end too; nothing reads them on the plain path, and `leave_plain`
            // brings them up.
            debug_assert!(matches!(
                &part.replicas.replicas[..],
                [r] if r.in_sync && self.nodes_up[r.node as usize]
            ));
            let hw = end;
            for &g in &topic.groups {
                self.groups[g as usize].lag += 1;
            }
            if hw > part.hw {
                part.hw = hw;
                if self.candidates {
                    self.fetchable_everywhere(t, partition);
                }
            }
            true
        } else {
            false
        };
        let (p, r) = (msg.producer as usize, msg.route as usize);
        // The route's targets, with the first (usually the only one) looked up once: the
        // loop needs the engine mutably, so the route cannot be held across it.
        let (count, first) = {
            let targets = &self.producers[p].routes[r];
            (targets.len(), targets.first().copied().unwrap_or(0))
        };
        for k in 0..count {
            let g = if k == 0 {
                first
            } else {
                self.producers[p].routes[r][k]
            };
            let group = &mut self.groups[g as usize];
            if group.ledger.enter_unfinished(msg.id) {
                group.metrics.enter(self.now);
            }
            let wake = match &mut group.store {
                Store::Log(parts) => {
                    group.max_lag = group.max_lag.max(group.lag);
                    // A group keeping bits knows the owner without the partition's line
                    // (its table is empty while it keeps none).
                    let owner = match group.ranges.owner(partition) {
                        Some(o) => o,
                        None => parts[partition as usize].owner,
                    };
                    debug_assert_eq!(owner, parts[partition as usize].owner);
                    owner.map(|local| group.first + local)
                }
                Store::Queue(q) => {
                    group.lag += 1;
                    group.max_lag = group.max_lag.max(group.lag);
                    q.send(msg);
                    q.hold_bytes(0);
                    if super::models::pushes(group.kind) {
                        self.amqp_dispatch(g);
                        continue;
                    }
                    group.idle.pop()
                }
            };
            if let Some(i) = wake {
                self.try_start(i);
            }
        }
        if logged && self.topics[t as usize].groups.is_empty() {
            self.trim(t, partition);
        }
    }

    /// `take_next` and `begin_service` on the plain path: no breaker, dedup store,
    /// claim check, network hop, slow window or trace.
    #[inline(never)]
    pub(super) fn plain_take_next<const HOP: bool>(&mut self, i: u32) {
        let g = self.instances[i as usize].group;
        if self.now < self.groups[g as usize].paused_until {
            return;
        }
        // The work goes straight into the instance's hands (a `Work` is large, and
        // moving it through an `Option` or two cost more than what is done with it);
        // what the rest needs of it comes back in registers: reading it back from the
        // instance, just written a field at a time, waited for those stores.
        let taken = match self.plain_fetch(i) {
            Fetch::Took(taken) => taken,
            Fetch::Nothing => {
                self.model_idle(i);
                return;
            }
            Fetch::Ask => match self.model_take(i) {
                Some(w) => {
                    let taken = Taken::of(&w);
                    self.instances[i as usize].work = Some(w);
                    taken
                }
                None => {
                    self.model_idle(i);
                    return;
                }
            },
        };
        let e = lane::Begin {
            idem: &self.idem,
            queue: &mut self.queue,
            delivered: &mut self.delivered,
            now: self.now,
            latency: &self.latency,
            net: &mut self.net,
        };
        let (inst, group) = (
            &mut self.instances[i as usize],
            &mut self.groups[g as usize],
        );
        lane::begin::<HOP>(e, inst, group, i, g, taken);
    }

    /// The log model's `take` for an instance owning one partition (`Log::take` and
    /// `next_fetch` without the candidate set), or a queue model's where it is one receive
    /// (`queue_receive`), into the instance's hands; anything else asks the model.
    #[inline(always)]
    fn plain_fetch(&mut self, i: u32) -> Fetch {
        let inst = &mut self.instances[i as usize];
        let group = &mut self.groups[inst.group as usize];
        let (Store::Log(parts), [p]) = (&mut group.store, &inst.owned[..]) else {
            if matches!(group.store, Store::Log(_)) {
                return self.plain_fetch_candidate(i);
            }
            return match self.queue_receive(i) {
                Some(Some(taken)) => Fetch::Took(taken),
                Some(None) => Fetch::Nothing,
                None => Fetch::Ask,
            };
        };
        let p = *p;
        let partition = &self.topics[group.topic as usize].partitions[p as usize];
        let Some(taken) = lane::fetch_owned(inst, &mut parts[p as usize], partition, p, self.now)
        else {
            return Fetch::Nothing;
        };
        if group.delivery == Delivery::AtMostOnce {
            let g = inst.group;
            self.commit_partition(g, p, taken.offset + 1);
        }
        Fetch::Took(taken)
    }

    /// `Log::take` for an instance owning other than one partition, into its hands: the
    /// candidate the fetch finds (`next_fetch`), read where it lies, instead of the model
    /// returning a copy of the work for `plain_take_next` to store.
    #[inline(always)]
    fn plain_fetch_candidate(&mut self, i: u32) -> Fetch {
        let Some(p) = self.next_fetch(i) else {
            return Fetch::Nothing;
        };
        let inst = &mut self.instances[i as usize];
        let g = inst.group;
        let group = &mut self.groups[g as usize];
        let ranged = group.ranges.on();
        inst.ready.took(inst.owned.len(), p, ranged);
        if ranged {
            group.ranges.clear(p);
        }
        let Store::Log(parts) = &mut group.store else {
            unreachable!("a log group's instance")
        };
        let partition = &self.topics[group.topic as usize].partitions[p as usize];
        let taken = lane::take_into(inst, &mut parts[p as usize], partition, p, self.now);
        if group.delivery == Delivery::AtMostOnce {
            self.commit_partition(g, p, taken.offset + 1);
        }
        Fetch::Took(taken)
    }

    /// `on_service_done` on the plain path: nothing fails, so the effect is applied and
    /// the message settled.
    #[inline(always)]
    pub(super) fn plain_service_done<const HOP: bool>(&mut self, i: u32) {
        if self.plain_done_logged::<HOP>(i) || self.plain_done_queued::<HOP>(i) {
            return;
        }
        if HOP && self.lean_applied_before(i) {
            return;
        }
        let inst = &mut self.instances[i as usize];
        let w = inst.work.expect("work in hand");
        inst.busy_ns += self.now.after(w.started).0;
        inst.processed += 1;
        let g = inst.group;
        // For a duplicate's cause, as the generic path notes it; without a store there
        // is no dedup step to settle.
        let wait = inst.wait;
        self.dedup_note(g, &w);
        if self.groups[g as usize].reseq.is_none() {
            self.plain_apply(g, w.msg, wait);
        } else {
            self.plain_apply_resequenced(g, w.msg, wait);
        }
        self.instances[i as usize].work = None;
        if HOP && self.groups[g as usize].delivery == Delivery::ExactlyOnce {
            // The model's settle: its commit is the transaction's, which marks what it
            // commits (`commit_partition`); the plain settle's own commit does not.
            self.model_settle(i, w);
        } else {
            self.plain_settle(i, g, &w);
        }
        self.try_start(i);
    }

    /// `apply_effect` on the plain path for a group with a resequencer: the message is
    /// held until its key's predecessors are through, or applied, releasing any held
    /// successors (out of line: only a resequencing group pays for the calls).
    #[inline(never)]
    fn plain_apply_resequenced(&mut self, g: u32, msg: Msg, wait: SimDuration) {
        if self.resequence_holds(g, msg, wait) {
            return;
        }
        self.plain_apply(g, msg, wait);
        self.resequence_applied(g, msg);
    }

    /// `apply_copy` on the plain path: a first application is counted here; anything
    /// else (a second one, after a drop or a dead letter) the generic way. The lane's
    /// `apply_first` is the same on the parts borrowed apart; shared with it (through a
    /// helper for the part after `apply_fresh`), the queue and exchange rows cost 19
    /// instructions a message more and mm1 23 (all of it is inlined into `run`, where
    /// any change moves register allocation), so the two stay side by side.
    #[inline(always)]
    fn plain_apply(&mut self, g: u32, msg: Msg, wait: SimDuration) {
        let group = &mut self.groups[g as usize];
        let Some(first) = group.ledger.apply_fresh(msg.id) else {
            self.apply_copy(g, msg, wait);
            return;
        };
        group.metrics.processed += 1;
        group.note_order(&msg);
        if first.leaves {
            let at = self.topics[group.topic as usize]
                .flags
                .exact(msg.id, msg.arrived);
            group.metrics.leave(self.now, at);
        }
        if first.sampled {
            self.series.processed();
            let latency = self.now.after(msg.born).0.max(1);
            group.metrics.latency.record(latency);
            group.metrics.record_wait(wait);
            group.metrics.record_sojourn(self.now.after(msg.arrived));
            // A scenario with faults keeps the latencies outside their windows (before
            // the first one starts, and so on the plain path, all of them).
            if !self.faults.is_empty() {
                self.plain_record_window(g, msg.born, latency);
            }
        }
    }

    /// `record_window` out of line: only a run with faults pays for the call (inlined, it
    /// cost mm1 20 instructions a message). Cold: the fault-free runs keep the layout
    /// they had; a run with faults pays a call a message, as the generic path does.
    #[cold]
    #[inline(never)]
    fn plain_record_window(&mut self, g: u32, born: SimTime, latency: u64) {
        self.record_window(g, born, latency);
    }

    /// `Log::settle` and its per-message commit on the plain path, for a partition its
    /// owner still holds: the group commits past `w`, and the log forgets what every
    /// group has committed. A queue settles the way all three queue models do; anything
    /// else the model settles.
    #[inline(always)]
    fn plain_settle(&mut self, i: u32, g: u32, w: &Work) {
        let local = self.instances[i as usize].local;
        let group = &mut self.groups[g as usize];
        let t = group.topic;
        let per_message = group.commits_after_processing() && group.commit_interval.is_zero();
        let Store::Log(parts) = &mut group.store else {
            self.queue_settle(i, w);
            return;
        };
        let p = w.partition;
        let gp = &mut parts[p as usize];
        if !per_message || gp.owner != Some(local) {
            self.model_settle(i, *w);
            return;
        }
        // The usual case, what the rest of this does, with the group, its partition and
        // the topic's in hand: commit past `w`, and trim to it (the one group's committed
        // offset is the slowest).
        let ready = self.candidates.then(|| &mut self.instances[i as usize]);
        let settled = lane::settle_owned(
            &mut group.lag,
            &mut group.ranges,
            gp,
            &mut self.topics[t as usize],
            t,
            p,
            w.offset,
            &mut self.unpark_due,
            ready,
        );
        let lane::Settled::Rest { done, committed } = settled else {
            return;
        };
        if self.candidates {
            self.fetchable(g, p);
        }
        if done <= committed {
            return;
        }
        // `commit_partition`, then `trim` (no retention, every group joined).
        let group = &mut self.groups[g as usize];
        group.lag = group.lag + committed - done;
        let Store::Log(parts) = &mut group.store else {
            unreachable!("a log group")
        };
        parts[p as usize].committed = done;
        self.trim(t, p);
        self.unpark_soon(t);
    }
}

/// What the plain path's fetch found.
enum Fetch {
    /// In the instance's hands.
    Took(Taken),
    /// The instance's one partition, or its queue, has nothing for it now.
    Nothing,
    /// Not a log instance nor a single receive: the model takes.
    Ask,
}

/// What `plain_take_next` reads of the work it put in an instance's hands.
#[derive(Clone, Copy)]
pub(super) struct Taken {
    id: u32,
    arrived: SimTime,
    partition: u32,
    offset: u64,
}

impl Taken {
    #[inline(always)]
    pub(super) fn of(w: &Work) -> Taken {
        Taken {
            id: w.msg.id,
            arrived: w.msg.arrived,
            partition: w.partition,
            offset: w.offset,
        }
    }
}

mod done_lanes;
mod lane;
mod lean;
mod switch;

#[cfg(test)]
mod lean_tests;
#[cfg(test)]
mod resume_tests;
#[cfg(test)]
mod sweep_tests;
#[cfg(test)]
mod tests;
