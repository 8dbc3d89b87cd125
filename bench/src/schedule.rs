//! The workload, drawn exactly as the model draws it: each producer's arrival process, key,
//! routing key and payload size come from `mqlab_sim::producer::Producer` on the same
//! seeded stream, in the same order the engine draws them, so a benchmark sends the
//! messages the simulation would have (same intended send times, same ids).

use mqlab_sim::exchange::{ExchangeKind, routes};
use mqlab_sim::producer::Producer;
use mqlab_sim::rng::{StreamKind, stream};
use mqlab_sim::scenario::{BrokerModel, FaultKind, Scenario};
use mqlab_sim::size::SizeDist;
use mqlab_sim::{SimDuration, SimTime};
use rand::RngExt;

/// One message to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Send {
    /// Intended send time since the start of the run, nanoseconds.
    pub at_ns: u64,
    /// Producer index.
    pub producer: u16,
    /// Topic index.
    pub topic: u16,
    /// Index of the message within its topic (the ledger's index).
    pub id: u32,
    /// Global key index.
    pub key: u32,
    /// Position among its key's messages.
    pub seq: u32,
    /// Index of the producer's routing key.
    pub route: u8,
    /// Log topics: the partition the model's partitioner chose.
    pub partition: u16,
    /// A `poison` fault made it a message whose processing always fails.
    pub poison: bool,
}

/// Everything the drivers need to know about the workload.
#[derive(Debug)]
pub struct Workload {
    /// Every send, in intended-time order.
    pub sends: Vec<Send>,
    /// Per producer, per routing key: the groups that should receive it (the model's
    /// routing, which the real broker's is checked against).
    pub routes: Vec<Vec<Vec<u32>>>,
    /// Per producer, its routing keys (`[""]` when it has none).
    pub routing_keys: Vec<Vec<String>>,
    /// Per producer, the payload size in bytes.
    pub payload_bytes: Vec<u64>,
    /// Messages per topic.
    pub per_topic: Vec<u32>,
}

fn topic_index(sc: &Scenario, name: &str) -> usize {
    sc.topics
        .iter()
        .position(|t| t.name.get_ref() == name)
        .expect("validated topic")
}

/// Per producer and routing key, the groups it reaches, as the engine's wiring computes
/// them (`engine/build.rs`: every group of the topic, unless the topic is an exchange).
fn producer_routes(sc: &Scenario, p: usize) -> (Vec<String>, Vec<Vec<u32>>) {
    let cfg = &sc.producers[p];
    let t = topic_index(sc, cfg.topic.get_ref());
    let tc = &sc.topics[t];
    let groups: Vec<u32> = sc
        .consumers
        .iter()
        .enumerate()
        .filter(|(_, c)| c.topic.get_ref() == tc.name.get_ref())
        .map(|(g, _)| g as u32)
        .collect();
    let keys: Vec<String> = if cfg.routing_keys.is_empty() {
        vec![String::new()]
    } else {
        cfg.routing_keys
            .iter()
            .map(|k| k.get_ref().clone())
            .collect()
    };
    if tc.model(&sc.broker) != BrokerModel::Exchange {
        return (keys, vec![groups]);
    }
    let kind = tc
        .exchange
        .as_ref()
        .map_or(ExchangeKind::Direct, |k| *k.get_ref());
    let table = keys
        .iter()
        .map(|key| {
            groups
                .iter()
                .copied()
                .filter(|&g| {
                    kind == ExchangeKind::Fanout
                        || sc.consumers[g as usize]
                            .bindings
                            .iter()
                            .any(|b| routes(kind, b.get_ref(), key))
                })
                .collect()
        })
        .collect();
    (keys, table)
}

/// Producer `p`'s sends (ids not yet assigned), drawing as `engine/produce.rs` does:
/// arrival gaps, bursty on/off periods, then per message key, partition and route.
fn producer_sends(sc: &Scenario, seed: u64, p: usize, routes: Vec<Vec<u32>>) -> Vec<Send> {
    let cfg = &sc.producers[p];
    let t = topic_index(sc, cfg.topic.get_ref());
    let key_base: u32 = sc.producers[..p].iter().map(|q| *q.keys.get_ref()).sum();
    let parts = *sc.topics[t].partitions.get_ref();
    let mut prod = Producer::new(
        cfg,
        t as u32,
        parts,
        key_base,
        stream(seed, StreamKind::Producer, p as u32),
    );
    prod.routes = routes;
    let stop = SimTime::ZERO + sc.duration;
    let mut out = Vec::new();
    let mut now = SimTime::ZERO;
    if prod.is_bursty() {
        prod.on_until = SimTime::ZERO + prod.burst_period(true);
    }
    loop {
        // schedule_arrival
        let at = now + prod.next_gap();
        if prod.is_bursty() && at > prod.on_until {
            if prod.on_until >= stop {
                break;
            }
            // The off period, then the next on period (on_burst_toggle, twice).
            now = prod.on_until;
            prod.bursting = false;
            let back = now + prod.burst_period(false);
            if back >= stop {
                break;
            }
            now = back;
            prod.bursting = true;
            prod.on_until = now + prod.burst_period(true);
            continue;
        }
        if at >= stop {
            break;
        }
        now = at;
        let (key, seq) = prod.next_key();
        let partition = prod.partition_for(key);
        let route = prod.next_route();
        out.push(Send {
            at_ns: now.0,
            producer: p as u16,
            topic: t as u16,
            id: 0,
            key,
            seq,
            route,
            partition: partition as u16,
            poison: false,
        });
    }
    out
}

/// The whole workload of `sc` under `seed`: every producer's sends, merged by intended
/// time (ties by producer index, as the engine's first-in-first-out event queue orders
/// producers that started together), with per-topic ids in that order.
#[must_use]
pub fn workload(sc: &Scenario, seed: u64) -> Workload {
    let mut sends = Vec::new();
    let mut all_routes = Vec::new();
    let mut routing_keys = Vec::new();
    let mut payload_bytes = Vec::new();
    for p in 0..sc.producers.len() {
        let (keys, table) = producer_routes(sc, p);
        sends.extend(producer_sends(sc, seed, p, table.clone()));
        all_routes.push(table);
        routing_keys.push(keys);
        payload_bytes.push(match sc.producers[p].payload_bytes {
            SizeDist::Const(b) => b,
            _ => 0,
        });
    }
    sends.sort_by_key(|s| (s.at_ns, s.producer));
    mark_poison(sc, seed, &mut sends);
    let mut per_topic = vec![0u32; sc.topics.len()];
    for s in &mut sends {
        let n = &mut per_topic[s.topic as usize];
        s.id = *n;
        *n += 1;
    }
    Workload {
        sends,
        routes: all_routes,
        routing_keys,
        payload_bytes,
        per_topic,
    }
}

/// Marks the messages a `poison` fault makes fail, drawing as `engine/produce.rs`'s
/// `draw_poison` does: per message of the target producer sent while the fault is open,
/// each open fault in file order first spends its `count`, then draws `rate` from its own
/// stream (`StreamKind::Fault`, the fault's index).
fn mark_poison(sc: &Scenario, seed: u64, sends: &mut [Send]) {
    for (f, cfg) in sc.faults.iter().enumerate() {
        if *cfg.kind.get_ref() != FaultKind::Poison {
            continue;
        }
        let Some(p) = sc
            .producers
            .iter()
            .position(|p| p.name.get_ref() == cfg.target.get_ref())
        else {
            continue;
        };
        let mut rng = stream(seed, StreamKind::Fault, f as u32);
        let mut remaining = cfg.count.unwrap_or(0);
        let until = cfg.duration.map_or(u64::MAX, |d| (cfg.at + d).0);
        for s in sends
            .iter_mut()
            .filter(|s| s.producer as usize == p && s.at_ns >= cfg.at.0 && s.at_ns < until)
        {
            let hit = if remaining > 0 {
                remaining -= 1;
                true
            } else if let Some(rate) = &cfg.rate {
                rng.random_bool(*rate.get_ref())
            } else {
                false
            };
            s.poison |= hit;
        }
    }
}

/// The model's intended end of production.
#[must_use]
pub fn duration(sc: &Scenario) -> SimDuration {
    sc.duration
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqlab_sim::Engine;

    const SC: &str = r#"
        name = "t"
        duration = "2s"
        [broker]
        model = "exchange"
        [[topic]]
        name = "events"
        exchange = "topic"
        [[producer]]
        name = "a"
        topic = "events"
        rate = 500
        keys = 7
        routing_keys = ["user.created", "order.paid", "disk.error", "nothing"]
        [[producer]]
        name = "b"
        topic = "events"
        rate = 300
        arrival = "bursty"
        routing_keys = ["user.deleted"]
        [[consumer]]
        group = "users"
        topic = "events"
        bindings = ["user.#"]
        [[consumer]]
        group = "created"
        topic = "events"
        bindings = ["*.created"]
    "#;

    #[test]
    fn the_workload_has_the_models_messages_and_copies() {
        let sc = Scenario::from_toml(SC, "t.toml").unwrap();
        let w = workload(&sc, 11);
        let model = Engine::new(&sc, 11).run();
        assert_eq!(w.sends.len() as u64, model.messages.produced);
        let mut copies = [0u64; 2];
        let mut unroutable = 0;
        for s in &w.sends {
            let groups = &w.routes[s.producer as usize][s.route as usize];
            unroutable += u64::from(groups.is_empty());
            for &g in groups {
                copies[g as usize] += 1;
            }
        }
        assert_eq!(copies[0], model.groups[0].copies);
        assert_eq!(copies[1], model.groups[1].copies);
        assert_eq!(unroutable, model.messages.unroutable);
    }
}
