//! Checks serde cannot do: every name points at something, numbers are in range, and each
//! fault has the settings its kind needs. Errors carry the span of the offending value.

mod idempotence;
mod patterns;
mod producer;
pub(super) mod size;
pub(super) mod timers;

use super::{BrokerModel, FaultKind, Scenario};
use patterns::{request_reply, resequence, saga_expectations, scheduling, spill, watermarks};
use std::collections::BTreeSet;
use std::ops::Range;
use toml::Spanned;

pub(super) type Invalid = (Option<Range<usize>>, String);

/// The broker node queue, exchange and pub/sub topics live on (one RabbitMQ or Redis
/// server); a log's partitions have replicas on every node.
pub const SERVER_NODE: u32 = 0;

/// What a fault's `target` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One consumer instance: group index, instance index.
    Instance(usize, u32),
    /// Every instance of a group.
    Group(usize),
    /// A producer.
    Producer(usize),
    /// The network itself (`network`, for latency spikes).
    Network,
    /// A broker node (`broker/N`).
    Broker(u32),
    /// A saga's orchestrator (`saga/<name>`): saga index.
    Orchestrator(usize),
    /// A saga's service (`saga/<name>/<service>`): saga index, step index.
    SagaService(usize, usize),
    /// An outbox relay (`relay/<producer>`, or one of its instances with `/<n>`):
    /// producer index, instance.
    Relay(usize, Option<u32>),
}

/// Resolves `group/instance`, `group` or a producer name.
#[must_use]
pub fn resolve_target(s: &Scenario, target: &str) -> Option<Target> {
    let group = |name: &str| s.consumers.iter().position(|c| c.group.get_ref() == name);
    if let Some(n) = target
        .strip_prefix("broker/")
        .and_then(|n| n.parse::<u32>().ok())
        && group("broker").is_none()
    {
        return (n < *s.broker.nodes.get_ref()).then_some(Target::Broker(n));
    }
    if let Some(rest) = target.strip_prefix("saga/")
        && group("saga").is_none()
    {
        return super::saga::resolve(s, rest);
    }
    if let Some(rest) = target.strip_prefix("relay/")
        && group("relay").is_none()
    {
        return relay(s, rest);
    }
    if let Some((g, i)) = target.split_once('/') {
        let gi = group(g)?;
        let i: u32 = i.parse().ok()?;
        return (i < *s.consumers[gi].instances.get_ref()).then_some(Target::Instance(gi, i));
    }
    if let Some(gi) = group(target) {
        return Some(Target::Group(gi));
    }
    s.producers
        .iter()
        .position(|p| p.name.get_ref() == target)
        .map(Target::Producer)
        .or((target == "network").then_some(Target::Network))
}

/// Resolves what follows `relay/` in a fault target: `<producer>` is the whole relay of an
/// outbox service, `<producer>/<n>` one of its instances.
fn relay(s: &Scenario, rest: &str) -> Option<Target> {
    let (name, instance) = match rest.split_once('/') {
        Some((n, i)) => (n, Some(i.parse::<u32>().ok()?)),
        None => (rest, None),
    };
    let p = s.producers.iter().position(|p| p.name.get_ref() == name)?;
    let cfg = &s.producers[p];
    if cfg.publish() != super::Publish::Outbox {
        return None;
    }
    let n = cfg.relay_instances.as_ref().map_or(1, |n| *n.get_ref());
    if instance.is_some_and(|i| i >= n) {
        return None;
    }
    Some(Target::Relay(p, instance))
}

fn fail<T>(span: Range<usize>, message: String) -> Result<T, Invalid> {
    Err((Some(span), message))
}

fn at_most(v: &Spanned<u32>, max: u32, what: &str) -> Result<(), Invalid> {
    if *v.get_ref() <= max {
        Ok(())
    } else {
        fail(
            v.span(),
            format!("{what} is at most {max}, not {}", v.get_ref()),
        )
    }
}

fn positive<T: PartialOrd + Default + Copy>(v: &Spanned<T>, what: &str) -> Result<(), Invalid> {
    if *v.get_ref() > T::default() {
        Ok(())
    } else {
        fail(v.span(), format!("{what} must be greater than zero"))
    }
}

fn unique<'a>(names: impl Iterator<Item = &'a Spanned<String>>, what: &str) -> Result<(), Invalid> {
    let mut seen = BTreeSet::new();
    for n in names {
        super::bounds::check_printable(n.get_ref(), false)
            .map_err(|e| (Some(n.span()), format!("{what} name: {e}")))?;
        if !seen.insert(n.get_ref().as_str()) {
            return fail(
                n.span(),
                format!("{what} `{}` is defined twice", n.get_ref()),
            );
        }
    }
    Ok(())
}

fn known_topic(s: &Scenario, topic: &Spanned<String>) -> Result<(), Invalid> {
    if s.topics.iter().any(|t| t.name.get_ref() == topic.get_ref()) {
        return Ok(());
    }
    let names: Vec<&str> = s.topics.iter().map(|t| t.name.get_ref().as_str()).collect();
    fail(
        topic.span(),
        format!(
            "no topic named `{}` (topics: {})",
            topic.get_ref(),
            if names.is_empty() {
                "none declared".to_string()
            } else {
                names.join(", ")
            }
        ),
    )
}

/// Checks the whole scenario; the first problem wins.
pub(super) fn validate(s: &Scenario) -> Result<(), Invalid> {
    if s.duration.is_zero() {
        return Err((None, "`duration` must be greater than zero".into()));
    }
    for f in [&s.network.loss, &s.network.duplicate] {
        if !(0.0..1.0).contains(f.get_ref()) {
            return fail(
                f.span(),
                format!(
                    "a fraction from 0 up to (not including) 1, not {}",
                    f.get_ref()
                ),
            );
        }
    }
    if let Some(m) = &s.expect.min_share
        && !(0.0..=1.0).contains(m.get_ref())
    {
        return fail(
            m.span(),
            format!("min_share must be from 0 to 1, not {}", m.get_ref()),
        );
    }
    if let Some(m) = &s.expect.min_share
        && s.consumers.iter().all(|c| c.scheduling.is_none())
    {
        return fail(
            m.span(),
            "min_share needs a consumer with `scheduling` (priority classes)".into(),
        );
    }
    request_reply(s)?;
    super::replies::check(s)?;
    super::saga::check_names(s)?;
    broker(s)?;
    unique(s.topics.iter().map(|t| &t.name), "topic")?;
    for t in &s.topics {
        topic(s, t)?;
    }
    unique(s.producers.iter().map(|p| &p.name), "producer")?;
    producer::producers(s)?;
    unique(s.consumers.iter().map(|c| &c.group), "consumer group")?;
    for c in &s.consumers {
        consumer(s, c)?;
    }
    super::output::check(s)?;
    super::saga::check(&s.sagas)?;
    producer::with_derived(s)?;
    saga_expectations(s)?;
    for f in &s.faults {
        fault(s, f)?;
    }
    size::check(s)?;
    super::protect::validate(s)
}

fn topic_of<'a>(s: &'a Scenario, name: &str) -> &'a super::TopicConfig {
    s.topics
        .iter()
        .find(|t| t.name.get_ref() == name)
        .expect("checked by known_topic")
}

fn topic(s: &Scenario, t: &super::TopicConfig) -> Result<(), Invalid> {
    positive(&t.partitions, "partitions")?;
    at_most(&t.partitions, super::bounds::MAX_PARTITIONS, "partitions")?;
    let model = t.model(&s.broker);
    if model != BrokerModel::Log && *t.partitions.get_ref() != 1 {
        return fail(
            t.partitions.span(),
            "only a log has partitions: a queue, an exchange or a pub/sub channel has exactly one"
                .into(),
        );
    }
    if t.retention.is_some() && model != BrokerModel::Log {
        return fail(
            t.name.span(),
            "`retention` applies to topics of model \"log\"".into(),
        );
    }
    if let Some(fifo) = &t.fifo
        && model != BrokerModel::Queue
    {
        return fail(
            fifo.span(),
            "`fifo` applies to topics of model \"queue\"".into(),
        );
    }
    if let Some(kind) = &t.exchange
        && model != BrokerModel::Exchange
    {
        return fail(
            kind.span(),
            "`exchange` applies to topics of model \"exchange\"".into(),
        );
    }
    Ok(())
}

fn consumer(s: &Scenario, c: &super::ConsumerConfig) -> Result<(), Invalid> {
    known_topic(s, &c.topic)?;
    positive(&c.instances, "instances")?;
    at_most(&c.instances, super::bounds::MAX_INSTANCES, "instances")?;
    positive(&c.buffer, "buffer")?;
    positive(&c.prefetch, "prefetch")?;
    positive(&c.batch, "batch")?;
    scheduling(s, c)?;
    resequence(s, c)?;
    idempotence::check(s, c)?;
    if *c.batch.get_ref() > 10 {
        return fail(
            c.batch.span(),
            "an SQS receive takes at most 10 messages".into(),
        );
    }
    if c.wait_time > super::bounds::SQS_WAIT_MAX {
        return Err((
            None,
            format!(
                "group `{}`: an SQS receive waits at most 20s, not {}",
                c.group.get_ref(),
                c.wait_time
            ),
        ));
    }
    if c.poll_interval.is_zero() {
        return Err((
            None,
            format!(
                "group `{}`: poll_interval must be greater than zero",
                c.group.get_ref()
            ),
        ));
    }
    if c.group.get_ref().contains('/') {
        return fail(
            c.group.span(),
            "a group name cannot contain `/` (fault targets use it)".into(),
        );
    }
    let t = topic_of(s, c.topic.get_ref());
    let model = t.model(&s.broker);
    if model == BrokerModel::Pubsub && *c.instances.get_ref() != 1 {
        return fail(
            c.instances.span(),
            "a pub/sub subscriber is one connection (instances = 1); declare one group per subscriber".into(),
        );
    }
    if !c.start_at.get_ref().is_zero() && model != BrokerModel::Log {
        return fail(
            c.start_at.span(),
            "`start_at` applies to groups on a log topic".into(),
        );
    }
    if let Some(f) = &c.on_failure {
        let fits = match f.get_ref() {
            super::OnFailure::DeadLetter => true,
            super::OnFailure::Requeue => {
                matches!(model, BrokerModel::Queue | BrokerModel::Exchange)
            }
            super::OnFailure::Wait => model == BrokerModel::Queue,
        };
        if !fits {
            return fail(
                f.span(),
                format!(
                    "on_failure = {:?} does not apply to a {model:?} topic",
                    f.get_ref()
                )
                .to_lowercase(),
            );
        }
    }
    if model != BrokerModel::Exchange {
        if let Some(b) = c.bindings.first() {
            return fail(
                b.span(),
                "`bindings` apply to topics of model \"exchange\"".into(),
            );
        }
        return Ok(());
    }
    let kind = t
        .exchange
        .as_ref()
        .map_or(super::ExchangeKind::Direct, |k| *k.get_ref());
    if kind != super::ExchangeKind::Fanout && c.bindings.is_empty() {
        return fail(
            c.group.span(),
            format!(
                "group `{}` reads a {kind:?} exchange but has no `bindings`",
                c.group.get_ref()
            )
            .to_lowercase(),
        );
    }
    for b in &c.bindings {
        crate::exchange::check_binding(b.get_ref()).map_err(|e| (Some(b.span()), e))?;
    }
    Ok(())
}

fn broker(s: &Scenario) -> Result<(), Invalid> {
    let b = &s.broker;
    positive(&b.nodes, "nodes")?;
    at_most(&b.nodes, super::bounds::MAX_NODES, "nodes")?;
    positive(&b.replication, "replication")?;
    if b.replication.get_ref() > b.nodes.get_ref() {
        return fail(
            b.replication.span(),
            format!(
                "replication {} exceeds the {} broker nodes",
                b.replication.get_ref(),
                b.nodes.get_ref()
            ),
        );
    }
    positive(&b.min_insync_replicas, "min_insync_replicas")?;
    if b.min_insync_replicas.get_ref() > b.replication.get_ref() {
        return fail(
            b.min_insync_replicas.span(),
            format!(
                "min_insync_replicas exceeds replication ({})",
                b.replication.get_ref()
            ),
        );
    }
    positive(&b.capacity, "capacity")?;
    // Reading the file checks this (with its place); a `--set` lands here.
    if b.visibility_timeout > super::bounds::SQS_VISIBILITY_MAX {
        return Err((
            None,
            format!(
                "an SQS visibility timeout is at most 12h, not {}",
                b.visibility_timeout
            ),
        ));
    }
    if !super::bounds::SQS_MAX_RECEIVES.contains(b.max_receives.get_ref()) {
        return fail(
            b.max_receives.span(),
            format!(
                "max_receives is an SQS maxReceiveCount, from 1 to 1000, not {}",
                b.max_receives.get_ref()
            ),
        );
    }
    watermarks(b)?;
    spill(s)
}

fn fault(s: &Scenario, f: &super::FaultConfig) -> Result<(), Invalid> {
    let kind = *f.kind.get_ref();
    let target = resolve_target(s, f.target.get_ref()).ok_or_else(|| {
        (
            Some(f.target.span()),
            super::unresolved_target(s, f.target.get_ref()),
        )
    })?;
    if super::is_operator_action(kind) {
        return super::operator::check(s, f, target);
    }
    if f.to.is_some() || f.shift_by.is_some() {
        return fail(
            f.kind.span(),
            "`to` and `shift_by` apply to a replay".into(),
        );
    }
    let is_saga = matches!(
        target,
        super::Target::Orchestrator(_) | super::Target::SagaService(..)
    );
    if is_saga && kind != FaultKind::Crash {
        return fail(
            f.kind.span(),
            "a saga's orchestrator or service takes a crash only".into(),
        );
    }
    if matches!(target, super::Target::Relay(..)) && kind != FaultKind::Crash {
        return fail(f.kind.span(), "an outbox relay takes a crash only".into());
    }
    let is_broker = matches!(target, super::Target::Broker(_));
    if is_broker != (kind == FaultKind::BrokerCrash) && kind != FaultKind::Partition {
        return fail(
            f.target.span(),
            if is_broker {
                format!("a broker node takes a broker-crash, not a {kind:?} fault").to_lowercase()
            } else {
                "a broker-crash targets a broker node, `broker/N`".to_string()
            },
        );
    }
    let is_network = target == super::Target::Network;
    if is_network != (kind == FaultKind::LatencySpike) {
        return fail(
            f.target.span(),
            if is_network {
                "only a latency-spike targets `network`".to_string()
            } else {
                "a latency-spike targets `network`".to_string()
            },
        );
    }
    if kind == FaultKind::LatencySpike && f.latency.is_none() {
        return fail(
            f.kind.span(),
            "a latency-spike needs `latency` (a distribution)".into(),
        );
    }
    let wants_producer = matches!(kind, FaultKind::Poison | FaultKind::Outage);
    let is_producer = matches!(target, super::Target::Producer(_));
    if wants_producer && !is_producer {
        return fail(
            f.target.span(),
            if kind == FaultKind::Outage {
                "an outage fault targets a producer (its message type)".into()
            } else {
                "a poison fault targets a producer (its messages fail processing)".into()
            },
        );
    }
    if kind == FaultKind::Slow && is_producer {
        return fail(
            f.target.span(),
            "a slow fault targets a consumer group or instance".into(),
        );
    }
    match kind {
        FaultKind::Slow => {
            let factor = f.factor.as_ref().ok_or((
                Some(f.kind.span()),
                "a slow fault needs `factor`".to_string(),
            ))?;
            if !(factor.get_ref().is_finite() && *factor.get_ref() > 0.0) {
                return fail(factor.span(), "factor must be a positive number".into());
            }
        }
        FaultKind::Poison => match (&f.rate, f.count) {
            (Some(r), _) if !(0.0..=1.0).contains(r.get_ref()) => {
                return fail(
                    r.span(),
                    format!("rate is a fraction between 0 and 1, not {}", r.get_ref()),
                );
            }
            (None, None) => {
                return fail(
                    f.kind.span(),
                    "a poison fault needs `rate` (a fraction) or `count` (a burst)".into(),
                );
            }
            _ => {}
        },
        _ => {}
    }
    Ok(())
}
