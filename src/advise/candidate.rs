//! One candidate scenario per broker model, written as the commented TOML a user would
//! write by hand, at the stated load, sized (partitions, instances, prefetch, visibility
//! timeout, buffers) for the rate and service time, with a consumer crash and a slow
//! consumer injected. The text is the candidate: it is parsed by the scenario loader and
//! run as is, so a written file reproduces the evidence exactly.

use super::decide::{self, Decision, Model};
use super::needs::{Durability, Needs, Ordering};
use mqlab_sim::Scenario;
use mqlab_sim::exchange::{ExchangeKind, routes};
use mqlab_sim::time::SimDuration;

mod sections;
use sections::{broker, consumers, expect, faults, header, producers, topics};

/// A candidate: its model, its scenario text (already loaded once) and what it cannot do
/// by construction.
pub struct Candidate {
    pub model: Model,
    pub toml: String,
    pub scenario: Scenario,
    /// Partitions, instances and the like, in a few words.
    pub sizing: String,
    /// Needs this model cannot serve whatever the runs say (replay on a queue...).
    pub structural: Vec<(&'static str, String)>,
}

/// One-way network latency inside a datacenter, for every candidate.
const NETWORK_ONE_WAY_US: u64 = 250;
/// How much slower the slow consumer is.
pub const SLOW_FACTOR: u32 = 4;

/// The faults' place in a run of `duration`: (crash at, slow at, each lasting).
pub fn fault_times(duration: SimDuration) -> (SimDuration, SimDuration, SimDuration) {
    let d = duration.as_secs_f64();
    let window = (0.1 * d).min(2.0);
    (
        SimDuration::from_secs_f64(0.3 * d),
        SimDuration::from_secs_f64(0.6 * d),
        SimDuration::from_secs_f64(window),
    )
}

/// Builds the candidate for `model`, with `scale` times the consumers (and partitions or
/// channels) the rate needs at the target utilisation.
pub fn build(
    needs: &Needs,
    decision: &Decision,
    model: Model,
    duration: SimDuration,
    seed: u64,
    scale: u32,
) -> anyhow::Result<Candidate> {
    let shape = Shape::new(needs, decision, model, scale);
    let mut t = String::new();
    header(&mut t, needs, decision, &shape, duration, seed);
    broker(&mut t, needs, &shape);
    topics(&mut t, needs, &shape);
    producers(&mut t, needs, &shape);
    consumers(&mut t, needs, &shape);
    faults(&mut t, &shape, duration);
    expect(&mut t, needs);
    let name = format!("advise-{}.toml", model.as_str());
    let scenario = Scenario::from_toml(&t, &name).map_err(|e| {
        anyhow::anyhow!("the generated {name} does not load (a bug in advise): {e}")
    })?;
    Ok(Candidate {
        model,
        sizing: shape.sizing(),
        structural: structural(needs, model),
        toml: t,
        scenario,
    })
}

/// The numbers a candidate is built from.
struct Shape {
    model: Model,
    /// Times the consumers the rate needs (more after a first size missed a need).
    scale: u32,
    groups: Vec<Group>,
    partitions: u32,
    /// Pub/sub: channels the stream is sharded over (one subscriber each per group).
    shards: u32,
    keys: u32,
    resequence: bool,
    claim_check: bool,
    routing_keys: Vec<String>,
    /// Topic exchange (routing) rather than fanout.
    topic_exchange: bool,
    visibility: SimDuration,
    prefetch: u32,
}

struct Group {
    name: String,
    bindings: Vec<String>,
    /// Messages per second this group receives.
    rate: f64,
    instances: u32,
}

impl Shape {
    fn new(needs: &Needs, decision: &Decision, model: Model, scale: u32) -> Shape {
        let routed = model == Model::Exchange && !needs.routing.is_empty();
        let routing_keys: Vec<String> = if routed {
            needs.routing.iter().map(|p| instantiate(p)).collect()
        } else {
            Vec::new()
        };
        let groups = groups(needs, &routing_keys, routed, scale);
        let base = decide::load(needs, needs.rate).needed;
        let total_single = needs.ordering == Ordering::Total && base == 1;
        let needed = base * scale;
        let service = needs.service_time.mean();
        // The slow consumer takes SLOW_FACTOR times as long, and the service time has a
        // tail: a visibility timeout under that redelivers messages still in hand.
        let visibility = SimDuration::from_secs_f64(
            (service.as_secs_f64() * f64::from(SLOW_FACTOR) * 10.0)
                .max(1.0)
                .ceil(),
        );
        let rtt = 2.0 * NETWORK_ONE_WAY_US as f64 * 1e-6;
        Shape {
            model,
            scale,
            groups,
            partitions: if total_single { 1 } else { needed },
            shards: needed,
            keys: if needs.ordering == Ordering::Total {
                1
            } else {
                needs.keys
            },
            resequence: decision.resequence && model == Model::Log,
            claim_check: decision.claim_check,
            routing_keys,
            topic_exchange: routed,
            visibility,
            // Enough unacked messages to cover a round trip, so an instance never idles
            // waiting for the next delivery.
            prefetch: (rtt / service.as_secs_f64()).ceil() as u32 + 1,
        }
    }

    fn sizing(&self) -> String {
        let inst: Vec<String> = self
            .groups
            .iter()
            .map(|g| g.instances.to_string())
            .collect();
        let inst = if inst.iter().all(|i| *i == inst[0]) {
            inst[0].clone()
        } else {
            inst.join("/")
        };
        match self.model {
            Model::Log if self.partitions == 1 => format!("1 partition, {inst} instances"),
            Model::Log => format!("{} partitions, {inst} instances", self.partitions),
            Model::Queue => format!("{inst} instances, visibility {}", self.visibility),
            Model::Exchange => format!("{inst} instances, prefetch {}", self.prefetch),
            Model::Pubsub if self.shards == 1 => "1 channel, 1 subscriber per group".into(),
            Model::Pubsub => format!("{} channels × 1 subscriber per group", self.shards),
        }
    }
}

/// The consumer groups: `fan_out` of them (one per pattern at least, when the exchange
/// routes), each sized for the messages it receives.
fn groups(needs: &Needs, routing_keys: &[String], routed: bool, scale: u32) -> Vec<Group> {
    let count = if routed {
        needs.fan_out.max(needs.routing.len() as u32)
    } else {
        needs.fan_out
    };
    (0..count)
        .map(|i| {
            let name = format!("group-{i}");
            let bindings = if routed {
                vec![needs.routing[i as usize % needs.routing.len()].clone()]
            } else {
                Vec::new()
            };
            let share = if routed {
                let hits = routing_keys
                    .iter()
                    .filter(|k| routes(ExchangeKind::Topic, &bindings[0], k))
                    .count();
                hits as f64 / routing_keys.len() as f64
            } else {
                1.0
            };
            let rate = needs.rate * share;
            let needed = decide::load(needs, rate).needed * scale;
            Group {
                name,
                bindings,
                rate,
                // One spare instance: the crash leaves the needed ones.
                instances: needed + 1,
            }
        })
        .collect()
}

/// Whether more consumers can help `model` here: a single-partition log keeps its one
/// partition (its order depends on it).
pub fn resizable(needs: &Needs, model: Model) -> bool {
    !(model == Model::Log
        && needs.ordering == Ordering::Total
        && decide::load(needs, needs.rate).needed == 1)
}

/// A routing key that a pattern matches: each `*` or `#` becomes the word `any`.
fn instantiate(pattern: &str) -> String {
    pattern
        .split('.')
        .map(|w| if w == "*" || w == "#" { "any" } else { w })
        .collect::<Vec<_>>()
        .join(".")
}

/// Needs a model cannot meet by construction, with why.
fn structural(needs: &Needs, model: Model) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    if needs.replay && model != Model::Log {
        v.push((
            "replay",
            format!("a {} does not keep consumed messages", model.as_str()),
        ));
    }
    if !needs.routing.is_empty() && model != Model::Exchange {
        v.push((
            "routing",
            "no pattern routing: every group gets everything and filters".to_string(),
        ));
    }
    if needs.priorities > 1 && (model != Model::Queue || needs.ordering != Ordering::None) {
        v.push(("priorities", "no priority scheduling here".to_string()));
    }
    if needs.durability != Durability::None && model == Model::Pubsub {
        v.push(("durability", "pub/sub stores nothing".to_string()));
    }
    v
}
