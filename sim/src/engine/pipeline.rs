//! Services: consumer groups that publish what they process (`[[consumer.output]]`).
//! Each output publishes through a producer of its own (built from the group's outputs,
//! after the scenario's producers), so a published message takes the ordinary produce
//! path: network, acknowledgements, retries, a full broker.
//!
//! Delivery across stages is what real clients do:
//! - at-most-once and at-least-once publish when processing ends, then commit the input
//!   by the group's policy. An input processed again (redelivered after a crash, or a
//!   zombie's) publishes its outputs again: the *same* messages once more, so each is a
//!   duplicate downstream, and duplicates multiply stage by stage.
//! - exactly-once is a Kafka transaction: the outputs are held with the input's open
//!   transaction and published when its offsets commit, together (a `read_committed`
//!   consumer downstream sees them only then, so the commit interval is latency); an
//!   aborted transaction (a crash, a fenced zombie) publishes nothing, and the input's
//!   redelivery publishes them in a new one.
//!
//! Lineage: every message of a topic a service publishes to knows its parent, its root's
//! intended send time and its path (producer, then the groups that processed its
//! ancestors), for end-to-end latency per group and per path.

mod figures;
mod fold;

use fold::Lineages;
pub(super) use fold::shrink;

use super::Engine;
use crate::consumer::Store;
use crate::message::Msg;
use crate::metrics::new_histogram;
use crate::scenario::{Delivery, Scenario};
use crate::time::SimTime;
pub(super) use figures::lineage_rows;
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, VecDeque};

const NONE: u32 = u32::MAX;
/// A path hop that is a producer, not a group.
const PRODUCER: u32 = 1 << 31;

/// One output of a service.
#[derive(Debug)]
struct Output {
    /// The producer it publishes with.
    producer: u32,
    count: u32,
    fraction: f64,
    /// Re-keying: the output's key is the input's modulo this.
    keys: Option<u32>,
    /// By input message id from `children_base` on: its first output's id (the rest
    /// follow it), or `NONE`. Inputs below the base were folded: final, never applied
    /// again, so never republished; their figures are in `folded_inputs`.
    children: VecDeque<u32>,
    children_base: u32,
    /// Of the folded inputs: (processed ones this output selects, ones with outputs
    /// published yet not processed), for `expected` and `orphaned`.
    folded_inputs: (u64, u64),
    /// Messages published (each once).
    published: u64,
    republished: u64,
    aborted: u64,
    /// A reply output: the requester (producer) whose requests alone it answers, else
    /// `NONE`.
    reply_to: u32,
}

/// An input applied in an open transaction.
#[derive(Clone, Copy, Debug)]
struct Held {
    msg: Msg,
    /// Log: its (partition, offset), when an instance had it in hand; the transaction
    /// commits with the offsets past it.
    at: Option<(u32, u64)>,
}

/// What a derived message remembers of where it came from.
#[derive(Clone, Copy, Debug)]
struct Lineage {
    /// The input it was published for (`NONE` for a root): a reply's correlation id.
    parent: u32,
    /// Path id (see `Pipeline::paths`).
    path: u32,
    /// Its position among its key's messages (for the order check downstream).
    seq: u32,
    /// The root message's intended send time.
    root_born: SimTime,
    /// When it was first published.
    born: SimTime,
}

/// The services of a run (off, and empty, when no group has outputs).
#[derive(Debug, Default)]
pub(super) struct Pipeline {
    pub(super) on: bool,
    /// Producers below this index are the scenario's own.
    pub(super) own_producers: u32,
    /// By group: its outputs (empty: not a service).
    outputs: Vec<Vec<Output>>,
    /// By topic: lineage of every message not folded yet, for topics services publish to
    /// (else empty).
    lineage: Vec<Lineages>,
    tracked: Vec<bool>,
    /// Interned paths: (parent path or `NONE`, hop: a group's index, or a producer's
    /// with `PRODUCER` set).
    paths: Vec<(u32, u32)>,
    path_ids: BTreeMap<(u32, u32), u32>,
    /// By group (exactly-once services): inputs applied in an open transaction, whose
    /// outputs are published when it commits.
    pending: Vec<BTreeMap<u32, Held>>,
    /// Outputs released by the end-of-run commit, after which nothing is sent:
    /// (topic, message id), in the system for the census.
    unsent: Vec<(u32, u32)>,
    /// The end-of-run commit is under way.
    pub(super) closing: bool,
    /// By group: end-to-end latency of its first applications.
    e2e: Vec<Histogram<u64>>,
    /// By path id ending at a sink: end-to-end latency there (rolled-back applications'
    /// samples stay, as in a group's latency) and copies that completed it.
    sinks: BTreeMap<u32, (Histogram<u64>, u64)>,
    derived: u64,
    roots: u64,
    /// Salt of the per-message output choice (`fraction`), from the seed.
    salt: u64,
    /// By group: the part a pattern gives it (empty when none has one).
    pub(super) role: Vec<Role>,
    /// Some group has a role: its applications go to the pattern.
    pub(super) roles_on: bool,
}

/// What a group is to a pattern built on services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// An ordinary group.
    Plain,
    /// Requester (producer) `p` consuming its reply queue.
    Requester(u32),
    /// Saga `s`'s service of step `k`, consuming its command queue.
    SagaService(u32, u8),
    /// Saga `s`'s orchestrator, consuming its reply queue.
    Orchestrator(u32),
}

/// Each group's role (all `Plain`: none).
fn roles(sc: &Scenario) -> Vec<Role> {
    sc.consumers
        .iter()
        .map(|c| {
            let name = c.group.get_ref();
            if !c.derived {
                return Role::Plain;
            }
            if let Some(p) = sc.producers.iter().position(|p| {
                p.reply_timeout.is_some() && crate::scenario::reply_queue(p.name.get_ref()) == *name
            }) {
                return Role::Requester(p as u32);
            }
            for (s, saga) in sc.sagas.iter().enumerate() {
                if crate::scenario::saga_replies(saga.name.get_ref()) == *name {
                    return Role::Orchestrator(s as u32);
                }
                for (k, st) in saga.steps.iter().enumerate() {
                    let q =
                        crate::scenario::command_queue(saga.name.get_ref(), st.service.get_ref());
                    if q == *name {
                        return Role::SagaService(s as u32, k as u8);
                    }
                }
            }
            Role::Plain
        })
        .collect()
}

/// Builds the services of `sc` (whose derived producers follow its `own` producers).
pub(super) fn build(sc: &Scenario, own: usize, seed: u64) -> Pipeline {
    if sc.consumers.iter().all(|c| c.outputs.is_empty()) {
        return Pipeline {
            own_producers: own as u32,
            ..Pipeline::default()
        };
    }
    let producer = |name: &str| {
        sc.producers
            .iter()
            .position(|p| p.name.get_ref() == name)
            .expect("a requester") as u32
    };
    let mut next = own as u32;
    let outputs = sc
        .consumers
        .iter()
        .map(|c| {
            c.outputs
                .iter()
                .map(|o| {
                    next += 1;
                    Output {
                        producer: next - 1,
                        count: *o.count.get_ref(),
                        fraction: *o.fraction.get_ref(),
                        keys: o.keys.as_ref().map(|k| *k.get_ref()),
                        children: VecDeque::new(),
                        children_base: 0,
                        folded_inputs: (0, 0),
                        published: 0,
                        republished: 0,
                        aborted: 0,
                        reply_to: o.reply_to.as_deref().map_or(NONE, producer),
                    }
                })
                .collect()
        })
        .collect();
    let tracked = sc
        .topics
        .iter()
        .map(|t| {
            sc.consumers
                .iter()
                .flat_map(|c| &c.outputs)
                .any(|o| o.topic.get_ref() == t.name.get_ref())
        })
        .collect();
    Pipeline {
        on: true,
        own_producers: own as u32,
        outputs,
        lineage: vec![Lineages::default(); sc.topics.len()],
        tracked,
        pending: vec![BTreeMap::new(); sc.consumers.len()],
        e2e: sc.consumers.iter().map(|_| new_histogram()).collect(),
        salt: crate::producer::mix(seed ^ 0x5e41_11ce),
        roles_on: roles(sc).iter().any(|r| *r != Role::Plain),
        role: roles(sc),
        ..Pipeline::default()
    }
}

impl Output {
    /// Input `id`'s first output, or `NONE`.
    fn child(&self, id: u32) -> u32 {
        assert!(id >= self.children_base, "outputs of input {id}, folded");
        let i = (id - self.children_base) as usize;
        self.children.get(i).copied().unwrap_or(NONE)
    }

    fn set_child(&mut self, id: u32, child: u32) {
        let i = (id - self.children_base) as usize;
        if self.children.len() <= i {
            self.children.resize(i + 1, NONE);
        }
        self.children[i] = child;
    }
}

impl Pipeline {
    fn intern(&mut self, parent: u32, hop: u32) -> u32 {
        let next = self.paths.len() as u32;
        let id = *self.path_ids.entry((parent, hop)).or_insert(next);
        if id == next {
            self.paths.push((parent, hop));
        }
        id
    }

    /// The hops of `path`, first to last.
    fn hops(&self, mut path: u32) -> Vec<u32> {
        let mut v = Vec::new();
        while path != NONE {
            let (parent, hop) = self.paths[path as usize];
            v.push(hop);
            path = parent;
        }
        v.reverse();
        v
    }

    /// Whether input `id` yields output `j` (a fixed choice per message, so a
    /// redelivery publishes what the first processing published). A reply output
    /// answers its requester's requests only (`request` says whether `id` is one).
    fn selected(&self, o: &Output, j: usize, id: u32, request: impl Fn(u32) -> bool) -> bool {
        if o.reply_to != NONE {
            return request(o.reply_to);
        }
        o.fraction >= 1.0 || {
            let h = crate::producer::mix(self.salt ^ (u64::from(id) << 8) ^ j as u64);
            ((h >> 11) as f64 / (1u64 << 53) as f64) < o.fraction
        }
    }

    /// The correlation id of reply `id` of topic `t`: the request it answers.
    pub(super) fn parent(&self, t: u32, id: u32) -> u32 {
        self.lineage[t as usize].at(id).parent
    }

    /// Messages the services hold that downstream groups have copies of: (topic, id).
    pub(super) fn held(&self) -> &[(u32, u32)] {
        &self.unsent
    }
}

impl Engine {
    /// A producer's new message in a topic services also publish to: a root.
    pub(super) fn lineage_root(&mut self, t: u32, p: u32, born: SimTime) {
        let pl = &mut self.pipeline;
        pl.roots += 1;
        if pl.tracked[t as usize] {
            let path = pl.intern(NONE, p | PRODUCER);
            pl.lineage[t as usize].v.push_back(Lineage {
                parent: NONE,
                path,
                seq: 0,
                root_born: born,
                born,
            });
        }
    }

    /// (root's intended send time, path) of a message of topic `t`.
    fn origin(&mut self, t: u32, msg: &Msg) -> (SimTime, u32) {
        if let Some(l) = self.pipeline.lineage[t as usize].get(msg.id) {
            return (l.root_born, l.path);
        }
        let hop = u32::from(msg.producer) | PRODUCER;
        (msg.born, self.pipeline.intern(NONE, hop))
    }

    /// Group `g` applied `msg`'s side effect for the first time: its end-to-end latency,
    /// and at a sink its path's.
    pub(super) fn record_end_to_end(&mut self, g: u32, msg: &Msg) {
        let t = self.groups[g as usize].topic;
        let (root_born, path) = self.origin(t, msg);
        let ns = self.now.since(root_born).0.max(1);
        self.pipeline.e2e[g as usize].saturating_record(ns);
        if self.pipeline.outputs[g as usize].is_empty() {
            let path = self.pipeline.intern(path, g);
            let sink = self
                .pipeline
                .sinks
                .entry(path)
                .or_insert_with(|| (new_histogram(), 0));
            sink.0.saturating_record(ns);
            sink.1 += 1;
        }
    }

    /// An exactly-once rollback undid group `g`'s first application of `msg`: at a sink,
    /// its path was not completed after all.
    pub(super) fn end_to_end_undone(&mut self, g: u32, msg: &Msg) {
        if !self.pipeline.outputs[g as usize].is_empty() {
            return;
        }
        let t = self.groups[g as usize].topic;
        let (_, path) = self.origin(t, msg);
        let path = self.pipeline.intern(path, g);
        if let Some(sink) = self.pipeline.sinks.get_mut(&path) {
            sink.1 -= 1;
        }
    }

    /// Whether group `g` publishes.
    #[inline]
    pub(super) fn is_stage(&self, g: u32) -> bool {
        self.pipeline.on && !self.pipeline.outputs[g as usize].is_empty()
    }

    /// Group `g` applied `msg` (first time or again): publish its outputs now, or with
    /// its transaction.
    pub(super) fn served(&mut self, g: u32, msg: Msg) {
        let group = &self.groups[g as usize];
        // Applied after its offset committed (a resequencer held it): nothing to wait for.
        if group.delivery != Delivery::ExactlyOnce || group.ledger.committed(msg.id) {
            self.publish_outputs(g, msg);
            return;
        }
        let at = group
            .instances()
            .filter_map(|i| self.instances[i as usize].work)
            .find(|w| w.msg.id == msg.id && matches!(group.store, Store::Log(_)))
            .map(|w| (w.partition, w.offset));
        self.pipeline.pending[g as usize].insert(msg.id, Held { msg, at });
    }

    /// Exactly-once: the transaction holding input `id` committed: its outputs go out.
    pub(super) fn stage_committed(&mut self, g: u32, id: u32) {
        if let Some(h) = self.pipeline.pending[g as usize].remove(&id) {
            self.publish_outputs(g, h.msg);
        }
    }

    /// Exactly-once on a log: group `g` committed (or retention skipped) partition `p`'s
    /// offsets below `to`: the transactions of inputs applied from entries there commit,
    /// and so do those of inputs applied once their offset had committed. By offset, not
    /// by id: a resend's twin entry further on keeps its own transaction, and releasing
    /// its outputs with the first entry's would let them out of a transaction that may
    /// still abort.
    pub(super) fn stage_offsets_committed(&mut self, g: u32, p: u32, to: u64) {
        let ledger = &self.groups[g as usize].ledger;
        let due: Vec<u32> = self.pipeline.pending[g as usize]
            .iter()
            .filter(|(id, h)| match h.at {
                Some((q, o)) => q == p && o < to,
                None => ledger.committed(**id),
            })
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            self.stage_committed(g, id);
        }
    }

    /// The end-of-run commit is done: an input whose effect is committed yet whose outputs
    /// still wait (its commit came another way than its own transaction's, as for one a
    /// resequencer released) publishes them now.
    pub(super) fn stage_close(&mut self) {
        for g in 0..self.groups.len() as u32 {
            if !self.is_stage(g) {
                continue;
            }
            let ledger = &self.groups[g as usize].ledger;
            let due: Vec<u32> = self.pipeline.pending[g as usize]
                .keys()
                .copied()
                .filter(|&id| ledger.committed(id))
                .collect();
            for id in due {
                self.stage_committed(g, id);
            }
        }
    }

    /// Exactly-once: the transaction holding input `id` aborted: its outputs never
    /// existed.
    pub(super) fn stage_aborted(&mut self, g: u32, id: u32) {
        if self.pipeline.pending[g as usize].remove(&id).is_some() {
            let outs = &mut self.pipeline.outputs[g as usize];
            for o in outs.iter_mut() {
                o.aborted += u64::from(o.count);
            }
        }
    }

    fn publish_outputs(&mut self, g: u32, parent: Msg) {
        let t_in = self.groups[g as usize].topic;
        for j in 0..self.pipeline.outputs[g as usize].len() {
            let o = &self.pipeline.outputs[g as usize][j];
            let from = u32::from(parent.producer);
            if !self.pipeline.selected(o, j, parent.id, |p| p == from) {
                continue;
            }
            let (p, count, keys) = (o.producer, o.count, o.keys);
            let first = o.child(parent.id);
            if first == NONE {
                let (root_born, path) = self.origin(t_in, &parent);
                let path = self.pipeline.intern(path, g);
                for k in 0..count {
                    let child = self.make_derived(p, &parent, keys, k, count, root_born, path);
                    if k == 0 {
                        let o = &mut self.pipeline.outputs[g as usize][j];
                        o.set_child(parent.id, child.id);
                        o.published += u64::from(count);
                    }
                    self.publish(p, child);
                }
            } else {
                self.pipeline.outputs[g as usize][j].republished += u64::from(count);
                for k in 0..count {
                    let child = self.rebuild(p, first + k, &parent, keys);
                    self.publish(p, child);
                }
            }
        }
    }

    /// A service's new output message, with its copies in the ledgers and its lineage.
    #[allow(clippy::too_many_arguments)]
    fn make_derived(
        &mut self,
        p: u32,
        parent: &Msg,
        keys: Option<u32>,
        k: u32,
        count: u32,
        root_born: SimTime,
        path: u32,
    ) -> Msg {
        let prod = &mut self.producers[p as usize];
        // The input's key keeps the input's order; a new key counts its own messages.
        let (key, seq) = match keys {
            None => (
                parent.key,
                parent.seq.saturating_mul(count).saturating_add(k),
            ),
            Some(n) => (
                prod.key_base + parent.key % n,
                prod.next_seq(parent.key % n),
            ),
        };
        let t = prod.topic;
        let id = self.register_message(p, 0);
        self.pipeline.derived += 1;
        self.pipeline.lineage[t as usize].v.push_back(Lineage {
            parent: parent.id,
            path,
            seq,
            root_born,
            born: self.now,
        });
        Msg {
            id,
            key,
            seq,
            producer: p as u16,
            poison: false,
            route: 0,
            born: self.now,
            arrived: self.now,
        }
    }

    /// An output published before, as it was.
    fn rebuild(&self, p: u32, id: u32, parent: &Msg, keys: Option<u32>) -> Msg {
        let prod = &self.producers[p as usize];
        let l = *self.pipeline.lineage[prod.topic as usize].at(id);
        Msg {
            id,
            key: keys.map_or(parent.key, |n| prod.key_base + parent.key % n),
            seq: l.seq,
            producer: p as u16,
            poison: false,
            route: 0,
            born: l.born,
            arrived: self.now,
        }
    }

    pub(super) fn publish(&mut self, p: u32, msg: Msg) {
        if self.pipeline.closing {
            // Committed as the run ends: nothing is sent any more.
            let t = self.producers[p as usize].topic;
            self.pipeline.unsent.push((t, msg.id));
            return;
        }
        if self.producers[p as usize].inflight.contains_key(&msg.id) {
            // The first publication is still unanswered: its client is still resending it.
            return;
        }
        let partition = self.producers[p as usize].partition_for(msg.key);
        self.send_message(p, msg, partition);
    }
}
