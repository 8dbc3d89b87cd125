//! One candidate scenario per broker model, written as the commented TOML a user would
//! write by hand, at the stated load, sized (partitions, instances, prefetch, visibility
//! timeout, buffers) for the rate and service time, with a consumer crash and a slow
//! consumer injected. The text is the candidate: it is parsed by the scenario loader and
//! run as is, so a written file reproduces the evidence exactly.

use super::decide::{self, CLAIM_CHECK_BYTES, Decision, Model, TARGET_UTILISATION};
use super::needs::{Durability, Needs, Ordering};
use mqlab_sim::exchange::{ExchangeKind, routes};
use mqlab_sim::size::SizeDist;
use mqlab_sim::time::SimDuration;
use mqlab_sim::{Delivery, Scenario};
use std::fmt::Write as _;

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
        let count = if routed {
            needs.fan_out.max(needs.routing.len() as u32)
        } else {
            needs.fan_out
        };
        let groups: Vec<Group> = (0..count)
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
            .collect();
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

/// The comment on a size the runs made larger.
fn scaled(scale: u32) -> String {
    if scale > 1 {
        format!(" × {scale}: smaller sizes missed a need in the runs")
    } else {
        String::new()
    }
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

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn header(
    t: &mut String,
    needs: &Needs,
    decision: &Decision,
    shape: &Shape,
    duration: SimDuration,
    seed: u64,
) {
    let m = shape.model;
    let verdict = if m == decision.model {
        "the framework's recommendation"
    } else {
        "an alternative the framework did not pick"
    };
    let _ = writeln!(
        t,
        "# Written by `mqlab advise`: the {} candidate ({}), {verdict}.",
        m.as_str(),
        m.systems()
    );
    let _ = writeln!(t, "# Needs: {}", super::render::needs_line(needs));
    let _ = writeln!(
        t,
        "# Run it with `mqlab run FILE`, compare variants with `mqlab compare FILE`."
    );
    let _ = writeln!(t, "name = {}", quote(&format!("advise-{}", m.as_str())));
    let description = format!(
        "{} at {}/s ({}), sized for service time {} at {:.0}% utilisation: {}. A consumer \
         crashes and later one runs {SLOW_FACTOR}x slower; the [expect] block holds the needs.",
        m.systems(),
        needs.rate,
        needs.delivery.as_str(),
        needs.service_time,
        TARGET_UTILISATION * 100.0,
        shape.sizing()
    );
    let _ = writeln!(t, "description = {}", quote(&description));
    let _ = writeln!(t, "seed = {seed}");
    let _ = writeln!(t, "duration = {}", quote(&duration.to_string()));
    // Long enough for any backlog the faults leave to clear.
    let drain = SimDuration::from_secs_f64(duration.as_secs_f64().max(10.0));
    let _ = writeln!(t, "drain = {}", quote(&drain.to_string()));
}

fn broker(t: &mut String, needs: &Needs, shape: &Shape) {
    let _ = writeln!(t, "\n[broker]\nmodel = {}", quote(shape.model.as_str()));
    let exactly = needs.delivery == Delivery::ExactlyOnce;
    if shape.model == Model::Log {
        if needs.durability == Durability::Replicated {
            let _ = writeln!(
                t,
                "nodes = 3               # replicated: a write survives a node's loss\nreplication = 3\nmin_insync_replicas = 2"
            );
        }
        if exactly || needs.durability == Durability::Replicated {
            let _ = writeln!(
                t,
                "acks = \"all\"            # acknowledged once every in-sync replica has it"
            );
        }
    }
    if shape.model == Model::Queue {
        let _ = writeln!(
            t,
            "visibility_timeout = {}   # above the slowest processing ({SLOW_FACTOR}x slow, with its tail), or a message still in hand is redelivered",
            quote(&shape.visibility.to_string())
        );
    }
    if shape.claim_check {
        let _ = writeln!(
            t,
            "bandwidth = \"100MB/s\"    # a broker ingests about this, one request at a time: a large payload blocks the rest"
        );
    }
    let _ = writeln!(
        t,
        "\n[network]\nlatency = \"exp({NETWORK_ONE_WAY_US}us)\"   # one way, inside a datacenter"
    );
}

fn topics(t: &mut String, needs: &Needs, shape: &Shape) {
    let names = topic_names(shape);
    for name in &names {
        let _ = writeln!(t, "\n[[topic]]\nname = {}", quote(name));
        match shape.model {
            Model::Log => {
                let _ = writeln!(
                    t,
                    "partitions = {}          # one per consumer needed at {:.0}% utilisation{}",
                    shape.partitions,
                    TARGET_UTILISATION * 100.0,
                    scaled(shape.scale)
                );
            }
            Model::Queue if needs.ordering != Ordering::None => {
                let _ = writeln!(
                    t,
                    "fifo = true              # SQS FIFO: the message group is the key, one in flight per group"
                );
            }
            Model::Exchange => {
                let kind = if shape.topic_exchange {
                    "topic"
                } else {
                    "fanout"
                };
                let _ = writeln!(t, "exchange = {}", quote(kind));
            }
            _ => {}
        }
    }
}

fn topic_names(shape: &Shape) -> Vec<String> {
    if shape.model == Model::Pubsub {
        // Redis pub/sub has no consumer groups: a stream one subscriber cannot keep up
        // with is sharded over channels, one subscriber each.
        (0..shape.shards).map(|i| format!("events-{i}")).collect()
    } else {
        vec!["events".into()]
    }
}

fn producers(t: &mut String, needs: &Needs, shape: &Shape) {
    let names = topic_names(shape);
    let classes = if shape.model == Model::Pubsub {
        1
    } else {
        needs.priorities
    };
    let per = needs.rate / f64::from(classes) / names.len() as f64;
    for (ti, topic) in names.iter().enumerate() {
        for class in 0..classes {
            let name = match (names.len(), classes) {
                (1, 1) => "producer".to_string(),
                (1, _) => format!("class-{class}"),
                _ => format!("producer-{ti}"),
            };
            let _ = writeln!(
                t,
                "\n[[producer]]\nname = {}\ntopic = {}",
                quote(&name),
                quote(topic)
            );
            let _ = writeln!(t, "rate = {per}");
            if needs.burstiness > 1.0 {
                let off = SimDuration::from_secs_f64(needs.burstiness - 1.0);
                let _ = writeln!(
                    t,
                    "arrival = \"bursty\"      # bursts at {}x the mean rate",
                    needs.burstiness
                );
                let _ = writeln!(
                    t,
                    "burst_on = \"1s\"\nburst_off = {}",
                    quote(&off.to_string())
                );
            }
            let _ = writeln!(t, "keys = {}", shape.keys);
            if shape.model == Model::Log {
                let p = match needs.ordering {
                    Ordering::PerKey => "key",
                    _ => "round-robin",
                };
                let _ = writeln!(t, "partitioner = {}", quote(p));
            }
            if needs.delivery == Delivery::ExactlyOnce && shape.model == Model::Log {
                let _ = writeln!(
                    t,
                    "idempotent = true        # the broker drops resends it already has"
                );
            }
            let payload = match needs.payload {
                SizeDist::Const(b) => b.to_string(),
                ref d => quote(&d.to_string()),
            };
            let _ = writeln!(t, "payload_bytes = {payload}");
            if shape.claim_check {
                let _ = writeln!(
                    t,
                    "claim_check = {}    # larger payloads go to an object store",
                    quote(&format!("{}KB", CLAIM_CHECK_BYTES / 1000))
                );
            }
            if !shape.routing_keys.is_empty() {
                let keys: Vec<String> = shape.routing_keys.iter().map(|k| quote(k)).collect();
                let _ = writeln!(t, "routing_keys = [{}]", keys.join(", "));
            }
            if classes > 1 && shape.model == Model::Queue {
                let _ = writeln!(t, "priority = {class}");
            }
        }
    }
}

fn consumers(t: &mut String, needs: &Needs, shape: &Shape) {
    let names = topic_names(shape);
    for g in &shape.groups {
        for (ti, topic) in names.iter().enumerate() {
            let group = if names.len() == 1 {
                g.name.clone()
            } else {
                format!("{}-{ti}", g.name)
            };
            let _ = writeln!(
                t,
                "\n[[consumer]]\ngroup = {}\ntopic = {}",
                quote(&group),
                quote(topic)
            );
            if shape.model != Model::Pubsub {
                let _ = writeln!(
                    t,
                    "instances = {}           # {:.0}/s × {} = {:.2} busy, at {:.0}%{}, plus a spare for the crash",
                    g.instances,
                    g.rate,
                    needs.service_time.mean(),
                    g.rate * needs.service_s(),
                    TARGET_UTILISATION * 100.0,
                    scaled(shape.scale)
                );
            }
            let _ = writeln!(
                t,
                "service_time = {}",
                quote(&needs.service_time.to_string())
            );
            let _ = writeln!(t, "delivery = {}", quote(needs.delivery.as_str()));
            model_settings(t, needs, shape, g);
        }
    }
}

fn model_settings(t: &mut String, needs: &Needs, shape: &Shape, g: &Group) {
    if needs.ordering != Ordering::None {
        let _ = writeln!(t, "ordered = true");
    }
    match shape.model {
        Model::Log => {
            let _ = writeln!(
                t,
                "commit_interval = \"1s\"   # offsets committed every second"
            );
            if shape.resequence {
                let buffer = (needs.rate * 5.0).ceil().max(1000.0) as u64;
                let _ = writeln!(
                    t,
                    "resequence = true        # apply each key's messages in production order"
                );
                let _ = writeln!(
                    t,
                    "resequence_buffer = {buffer}   # five seconds of messages"
                );
                let _ = writeln!(t, "gap_timeout = \"5s\"");
            }
        }
        Model::Queue => {
            if needs.priorities > 1 && needs.ordering == Ordering::None {
                let weights: Vec<String> = (1..=needs.priorities).map(|w| w.to_string()).collect();
                let _ = writeln!(
                    t,
                    "scheduling = \"weighted\"   # each class served in proportion to its weight"
                );
                let _ = writeln!(t, "weights = [{}]", weights.join(", "));
            }
        }
        Model::Exchange => {
            let _ = writeln!(
                t,
                "prefetch = {}             # unacked messages per consumer: covers a network round trip",
                shape.prefetch
            );
            if !g.bindings.is_empty() {
                let b: Vec<String> = g.bindings.iter().map(|b| quote(b)).collect();
                let _ = writeln!(t, "bindings = [{}]", b.join(", "));
            }
        }
        Model::Pubsub => {
            let rate = g.rate / f64::from(shape.shards);
            let buffer = rate.ceil().max(100.0) as u64;
            let _ = writeln!(
                t,
                "buffer = {buffer}              # the output buffer holds a second of messages"
            );
            let _ = writeln!(
                t,
                "on_overflow = \"disconnect\"   # Redis's client-output-buffer-limit"
            );
        }
    }
}

fn faults(t: &mut String, shape: &Shape, duration: SimDuration) {
    let (crash_at, slow_at, window) = fault_times(duration);
    let first = &shape.groups[0].name;
    let target = if topic_names(shape).len() > 1 {
        format!("{first}-0/0")
    } else {
        format!("{first}/0")
    };
    let _ = writeln!(
        t,
        "\n[[fault]]               # a consumer crashes, restarting after the window\nat = {}\nkind = \"crash\"\ntarget = {}\nduration = {}",
        quote(&crash_at.to_string()),
        quote(&target),
        quote(&window.to_string())
    );
    let _ = writeln!(
        t,
        "\n[[fault]]               # then one runs slow\nat = {}\nkind = \"slow\"\ntarget = {}\nduration = {}\nfactor = {SLOW_FACTOR}",
        quote(&slow_at.to_string()),
        quote(&target),
        quote(&window.to_string())
    );
}

fn expect(t: &mut String, needs: &Needs) {
    let _ = writeln!(
        t,
        "\n[expect]                # the needs, as checks `mqlab run` exits 1 on"
    );
    if needs.delivery != Delivery::AtMostOnce {
        let _ = writeln!(t, "lost = 0");
    }
    if needs.delivery != Delivery::AtLeastOnce {
        let _ = writeln!(t, "duplicated = 0");
    }
    if needs.ordering != Ordering::None {
        let _ = writeln!(t, "out_of_order = 0");
    }
    let _ = writeln!(
        t,
        "in_flight = 0\np99_latency = {}",
        quote(&needs.p99_latency.to_string())
    );
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
