//! Request-reply on the broker: a requester's reply queue is a real queue, each group
//! serving its requests publishes a reply there as a service output, and the requester
//! consumes it. The scenario file names none of this; a run derives it from the
//! requesters (`producer.reply_timeout`), as it derives a service's producers.

use super::{BrokerModel, ConsumerConfig, OutputConfig, Scenario, TopicConfig};
use std::ops::Range;
use toml::Spanned;

type Invalid = (Option<Range<usize>>, String);

/// The name of requester `producer`'s reply queue, and of the group it consumes it with.
#[must_use]
pub fn reply_queue(producer: &str) -> String {
    format!("{producer}.replies")
}

fn parse<T: serde::de::DeserializeOwned>(t: &toml::Table) -> T {
    let text = toml::to_string(t).expect("a table serialises");
    toml::from_str(&text).expect("a derived part is valid")
}

/// Adds every requester's reply queue (a queue of its own, whatever the request topic's
/// model: exclusive to its connection, like RabbitMQ's direct reply-to), the output each
/// group of the request topic publishes its replies with, and the requester's consumer of
/// the queue (auto-acknowledged, instantaneous: the client's own callback). Drops any
/// earlier derivation first, so a scenario taken from a run derives the same again.
pub(super) fn derive_reply_queues(s: &mut Scenario) {
    s.topics.retain(|t| !t.derived);
    s.consumers.retain(|c| !c.derived);
    for c in &mut s.consumers {
        c.outputs.retain(|o| o.reply_to.is_none());
    }
    let requesters: Vec<(String, String)> = s
        .producers
        .iter()
        .filter(|p| !p.derived && p.reply_timeout.is_some())
        .map(|p| (p.name.get_ref().clone(), p.topic.get_ref().clone()))
        .collect();
    for (name, topic) in requesters {
        let queue = reply_queue(&name);
        let mut t = toml::Table::new();
        t.insert("name".into(), queue.clone().into());
        let mut cfg: TopicConfig = parse(&t);
        cfg.model = Some(Spanned::new(0..0, BrokerModel::Queue));
        cfg.derived = true;
        s.topics.push(cfg);
        for c in s
            .consumers
            .iter_mut()
            .filter(|c| c.topic.get_ref() == &topic)
        {
            let mut o = toml::Table::new();
            o.insert("topic".into(), queue.clone().into());
            let mut out: OutputConfig = parse(&o);
            out.reply_to = Some(name.clone());
            c.outputs.push(out);
        }
        let mut g = toml::Table::new();
        g.insert("group".into(), queue.clone().into());
        g.insert("topic".into(), queue.clone().into());
        g.insert("service_time".into(), "0".into());
        g.insert("delivery".into(), "at-most-once".into());
        let mut group: ConsumerConfig = parse(&g);
        group.derived = true;
        s.consumers.push(group);
    }
}

/// A requester's reply queue must not clash with a topic or group of the file.
pub(super) fn check(s: &Scenario) -> Result<(), Invalid> {
    for p in s.producers.iter().filter(|p| !p.derived) {
        let Some(t) = &p.reply_timeout else {
            continue;
        };
        let queue = reply_queue(p.name.get_ref());
        let clash = s
            .topics
            .iter()
            .any(|t| !t.derived && t.name.get_ref() == &queue)
            || s.consumers
                .iter()
                .any(|c| !c.derived && c.group.get_ref() == &queue);
        if clash {
            return Err((
                Some(t.span()),
                format!(
                    "requester `{}` replies come back on a queue named `{queue}`; a topic or \
                     group of that name already exists, rename it",
                    p.name.get_ref()
                ),
            ));
        }
    }
    Ok(())
}
