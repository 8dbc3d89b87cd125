//! `[[consumer.output]]`: a consumer group that publishes what it processes is a
//! *service* (consume → publish). Each output names a topic and how many messages each
//! processed input yields there; pipelines and DAGs are groups whose outputs feed other
//! groups' topics. Validation (known topics, bounds, no cycle) is here too.

use super::{BrokerModel, ProducerConfig, Scenario};
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

type Invalid = (Option<Range<usize>>, String);

/// Most messages one input may yield on one output.
pub const MAX_OUTPUT_COUNT: u32 = 1000;

/// What a service publishes for each message it processes. Defaults: `count = 1`,
/// `fraction = 1.0`, the input's key, no routing key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// The topic (queue, exchange, channel) it publishes to.
    pub topic: Spanned<String>,
    /// Messages published per selected input (fan-out within one output).
    #[serde(default = "one")]
    pub count: Spanned<u32>,
    /// Share of inputs that yield this output, chosen per message (a probabilistic fork).
    #[serde(default = "all")]
    pub fraction: Spanned<f64>,
    /// Exchange topics: the routing key of the published messages (default `""`).
    #[serde(default)]
    pub routing_key: Option<Spanned<String>>,
    /// Re-keying: the output's key is the input's key modulo this many keys (an order
    /// keyed by order id published keyed by restaurant). Default: the input's key.
    #[serde(default)]
    pub keys: Option<Spanned<u32>>,
    /// Built by the engine: the requester this output replies to (published only for its
    /// requests, to its reply queue); never read from a file.
    #[serde(skip)]
    pub reply_to: Option<String>,
}

fn one() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}
fn all() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}

fn fail<T>(span: Range<usize>, message: String) -> Result<T, Invalid> {
    Err((Some(span), message))
}

/// The name of the internal producer that publishes output `j` of group `group`.
#[must_use]
pub fn producer_name(group: &str, topic: &str) -> String {
    format!("{group}>{topic}")
}

impl OutputConfig {
    /// The producer a service uses to publish this output (built per run, never written
    /// to a scenario file). Exactly-once services publish transactionally, so their
    /// producer is idempotent.
    #[must_use]
    pub fn producer(&self, group: &str, transactional: bool) -> ProducerConfig {
        let mut t = toml::Table::new();
        let name = producer_name(group, self.topic.get_ref());
        t.insert("name".into(), name.into());
        t.insert("topic".into(), self.topic.get_ref().clone().into());
        t.insert("rate".into(), 1.0.into());
        t.insert("idempotent".into(), transactional.into());
        if let Some(k) = &self.keys {
            t.insert("keys".into(), i64::from(*k.get_ref()).into());
        }
        if let Some(rk) = &self.routing_key {
            t.insert(
                "routing_keys".into(),
                toml::Value::Array(vec![rk.get_ref().clone().into()]),
            );
        }
        let text = toml::to_string(&t).expect("a table serialises");
        let mut cfg: ProducerConfig =
            toml::from_str(&text).expect("a derived producer is a valid producer");
        cfg.derived = true;
        cfg
    }
}

impl Scenario {
    /// Adds what a run derives from the file (validation counts producers and keys on the
    /// same result, so the engine never numbers more than it checked). Each service output publishes
    /// through a producer of its own, after the scenario's producers. A requester's reply
    /// queue, the outputs that answer it and its consumer come first: the reply outputs
    /// publish through producers of their own too. A saga's services and orchestrator are
    /// groups over queues of their own, and the orchestrator sends its commands with a
    /// producer per step, after the services'. Returns how many producers the file itself
    /// declares.
    pub fn derive_run(&mut self) -> usize {
        super::replies::derive_reply_queues(self);
        super::saga::derive_saga_services(self);
        let own = derive_producers(self);
        super::saga::derive_saga_producers(self);
        own
    }
}

/// Appends the producers services publish with (after the scenario's own, dropping any
/// earlier derivation, so a scenario taken from a run derives the same again); returns
/// how many producers the scenario itself declares.
pub(super) fn derive_producers(s: &mut Scenario) -> usize {
    s.producers.retain(|p| !p.derived);
    let own = s.producers.len();
    let derived: Vec<ProducerConfig> = s
        .consumers
        .iter()
        .flat_map(|c| {
            let tx = c.delivery == super::Delivery::ExactlyOnce;
            c.outputs
                .iter()
                .map(move |o| o.producer(c.group.get_ref(), tx))
        })
        .collect();
    s.producers.extend(derived);
    own
}

/// Checks every group's outputs: known topics, bounds, routing keys only on exchanges,
/// and no cycle (a message would circulate for ever).
pub(super) fn check(s: &Scenario) -> Result<(), Invalid> {
    for c in &s.consumers {
        for o in &c.outputs {
            let Some(t) = s
                .topics
                .iter()
                .find(|t| t.name.get_ref() == o.topic.get_ref())
            else {
                let names: Vec<&str> = s.topics.iter().map(|t| t.name.get_ref().as_str()).collect();
                return fail(
                    o.topic.span(),
                    format!(
                        "no topic named `{}` to publish to (topics: {})",
                        o.topic.get_ref(),
                        names.join(", ")
                    ),
                );
            };
            let n = *o.count.get_ref();
            if n == 0 || n > MAX_OUTPUT_COUNT {
                return fail(
                    o.count.span(),
                    format!("count must be from 1 to {MAX_OUTPUT_COUNT}, not {n}"),
                );
            }
            let f = *o.fraction.get_ref();
            if !(f > 0.0 && f <= 1.0) {
                return fail(
                    o.fraction.span(),
                    format!("fraction must be above 0 and at most 1, not {f}"),
                );
            }
            if let Some(k) = &o.keys
                && *k.get_ref() == 0
            {
                return fail(k.span(), "keys must be at least 1".into());
            }
            if let Some(rk) = &o.routing_key
                && t.model(&s.broker) != BrokerModel::Exchange
            {
                return fail(
                    rk.span(),
                    format!(
                        "`routing_key` applies to outputs to an exchange; `{}` is not one",
                        o.topic.get_ref()
                    ),
                );
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for o in &c.outputs {
            if !seen.insert(o.topic.get_ref()) {
                return fail(
                    o.topic.span(),
                    format!(
                        "group `{}` already publishes to `{}`: use `count` for several messages",
                        c.group.get_ref(),
                        o.topic.get_ref()
                    ),
                );
            }
        }
    }
    acyclic(s)
}

/// Depth-first search over group → output topic → consuming groups.
fn acyclic(s: &Scenario) -> Result<(), Invalid> {
    let n = s.consumers.len();
    let next = |g: usize| -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        for (j, o) in s.consumers[g].outputs.iter().enumerate() {
            for (h, c) in s.consumers.iter().enumerate() {
                if c.topic.get_ref() == o.topic.get_ref() {
                    v.push((j, h));
                }
            }
        }
        v
    };
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; n];
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, Vec<(usize, usize)>)> = vec![(start, next(start))];
        state[start] = 1;
        while let Some((g, todo)) = stack.last_mut() {
            let g = *g;
            let Some((j, h)) = todo.pop() else {
                state[g] = 2;
                stack.pop();
                continue;
            };
            match state[h] {
                0 => {
                    state[h] = 1;
                    stack.push((h, next(h)));
                }
                1 => {
                    let from = stack.iter().position(|(x, _)| *x == h).unwrap_or(0);
                    let mut names: Vec<&str> = stack[from..]
                        .iter()
                        .map(|(x, _)| s.consumers[*x].group.get_ref().as_str())
                        .collect();
                    names.push(s.consumers[h].group.get_ref());
                    let o = &s.consumers[g].outputs[j];
                    return fail(
                        o.topic.span(),
                        format!(
                            "publishing to `{}` makes a cycle ({}): a message would circulate for ever",
                            o.topic.get_ref(),
                            names.join(" → ")
                        ),
                    );
                }
                _ => {}
            }
        }
    }
    Ok(())
}
