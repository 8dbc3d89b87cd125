//! The sections of a candidate's scenario text, in file order: the header, `[broker]` and
//! `[network]`, topics, producers, consumer groups, the two faults and `[expect]`, each
//! with the comments that say why a value is what it is. Only writing text from a
//! `Shape`; the sizing itself is `candidate.rs`'s.

use super::{Group, NETWORK_ONE_WAY_US, SLOW_FACTOR, Shape, fault_times};
use crate::advise::decide::{CLAIM_CHECK_BYTES, Decision, Model, TARGET_UTILISATION};
use crate::advise::needs::{Durability, Needs, Ordering};
use mqlab_sim::Delivery;
use mqlab_sim::size::SizeDist;
use mqlab_sim::time::SimDuration;
use std::fmt::Write as _;

/// The comment on a size the runs made larger.
fn scaled(scale: u32) -> String {
    if scale > 1 {
        format!(" × {scale}: smaller sizes missed a need in the runs")
    } else {
        String::new()
    }
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

pub(super) fn header(
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
    let _ = writeln!(t, "# Needs: {}", crate::advise::render::needs_line(needs));
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

pub(super) fn broker(t: &mut String, needs: &Needs, shape: &Shape) {
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

pub(super) fn topics(t: &mut String, needs: &Needs, shape: &Shape) {
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

pub(super) fn topic_names(shape: &Shape) -> Vec<String> {
    if shape.model == Model::Pubsub {
        // Redis pub/sub has no consumer groups: a stream one subscriber cannot keep up
        // with is sharded over channels, one subscriber each.
        (0..shape.shards).map(|i| format!("events-{i}")).collect()
    } else {
        vec!["events".into()]
    }
}

pub(super) fn producers(t: &mut String, needs: &Needs, shape: &Shape) {
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

pub(super) fn consumers(t: &mut String, needs: &Needs, shape: &Shape) {
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

pub(super) fn faults(t: &mut String, shape: &Shape, duration: SimDuration) {
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

pub(super) fn expect(t: &mut String, needs: &Needs) {
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
