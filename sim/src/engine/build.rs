//! Wiring the world from a validated scenario, once: topics, producers with their routes,
//! consumer groups with their instances and stores.

use super::Topic;
use crate::consumer::{Group, Instance, Store};
use crate::exchange::{ExchangeKind, routes as binding_routes};
use crate::ledger::MessageFlags;
use crate::log::{GroupPartition, Partition};
use crate::producer::Producer;
use crate::replication::ReplicaSet;
use crate::rng::{StreamKind, stream};
use crate::scenario::{BrokerModel, Scenario};
use std::collections::VecDeque;

fn topic_index(sc: &Scenario, name: &str) -> u32 {
    sc.topics
        .iter()
        .position(|t| t.name.get_ref() == name)
        .expect("validated topic") as u32
}

pub(super) fn topics(sc: &Scenario) -> Vec<Topic> {
    sc.topics
        .iter()
        .map(|t| {
            let model = t.model(&sc.broker);
            let partitions = if model == BrokerModel::Log {
                *t.partitions.get_ref()
            } else {
                0
            };
            let (replication, nodes) =
                (*sc.broker.replication.get_ref(), *sc.broker.nodes.get_ref());
            Topic {
                name: t.name.get_ref().clone(),
                model,
                part_base: 0,
                fifo: t.fifo.as_ref().is_some_and(|f| *f.get_ref()),
                retention: t.retention,
                dedup_window: t.dedup_window,
                partitions: (0..partitions)
                    .map(|p| Partition::replicated(ReplicaSet::new(p, replication, nodes)))
                    .collect(),
                groups: Vec::new(),
                flags: MessageFlags::default(),
                parked: VecDeque::new(),
                spill_reading: false,
                pause: None,
                blocked: None,
            }
        })
        .collect()
}

pub(super) fn producers(sc: &Scenario, seed: u64) -> Vec<Producer> {
    let mut key_base = 0u32;
    sc.producers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = topic_index(sc, p.topic.get_ref());
            let parts = *sc.topics[t as usize].partitions.get_ref();
            let prod = Producer::new(
                p,
                t,
                parts,
                key_base,
                stream(seed, StreamKind::Producer, i as u32),
            );
            key_base += *p.keys.get_ref();
            prod
        })
        .collect()
}

pub(super) fn groups(
    sc: &Scenario,
    seed: u64,
    topics: &mut [Topic],
    keys: u32,
) -> (Vec<Group>, Vec<Instance>) {
    let mut groups = Vec::new();
    let mut instances = Vec::new();
    for (gi, c) in sc.consumers.iter().enumerate() {
        let t = topic_index(sc, c.topic.get_ref());
        let topic = &mut topics[t as usize];
        topic.groups.push(gi as u32);
        let model = super::models::traits(super::models::kind_of(topic.model));
        let mut g = Group::new(c, t, instances.len() as u32, model, keys);
        match &mut g.store {
            Store::Log(parts) => *parts = vec![GroupPartition::default(); topic.partitions.len()],
            Store::Queue(q) if topic.fifo => q.make_fifo(keys),
            Store::Queue(q) if c.scheduling.is_some() => {
                let of_producer = sc.producers.iter().map(priority_of).collect();
                let weights = c.weights.as_ref().map(|w| w.get_ref().clone());
                let strict = *c.scheduling.as_ref().expect("checked").get_ref()
                    == crate::scenario::Scheduling::Strict;
                q.make_priority(
                    of_producer,
                    if strict {
                        Vec::new()
                    } else {
                        weights.unwrap_or_default()
                    },
                );
            }
            Store::Queue(_) => {}
        }
        for local in 0..g.count {
            let id = instances.len() as u32;
            instances.push(Instance::new(
                gi as u32,
                local,
                stream(seed, StreamKind::Consumer, id),
            ));
        }
        groups.push(g);
    }
    (groups, instances)
}

/// Which groups each producer's messages go to, per routing key.
pub(super) fn routes(sc: &Scenario, topics: &[Topic], producers: &mut [Producer]) {
    for (p, cfg) in producers.iter_mut().zip(&sc.producers) {
        let topic = &topics[p.topic as usize];
        let tc = &sc.topics[p.topic as usize];
        if topic.model != BrokerModel::Exchange {
            p.routes = vec![topic.groups.clone()];
            continue;
        }
        let kind = tc
            .exchange
            .as_ref()
            .map_or(ExchangeKind::Direct, |k| *k.get_ref());
        let keys: Vec<&str> = if cfg.routing_keys.is_empty() {
            vec![""]
        } else {
            cfg.routing_keys
                .iter()
                .map(|k| k.get_ref().as_str())
                .collect()
        };
        p.routes = keys
            .iter()
            .map(|key| {
                topic
                    .groups
                    .iter()
                    .copied()
                    .filter(|&g| {
                        let bindings = &sc.consumers[g as usize].bindings;
                        kind == ExchangeKind::Fanout
                            || bindings
                                .iter()
                                .any(|b| binding_routes(kind, b.get_ref(), key))
                    })
                    .collect()
            })
            .collect();
    }
}

/// A producer's priority class (0 unless set).
pub(super) fn priority_of(p: &crate::scenario::ProducerConfig) -> u8 {
    p.priority.as_ref().map_or(0, |x| *x.get_ref())
}
