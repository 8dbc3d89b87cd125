//! Checks serde cannot do: every name points at something, numbers are in range, and each
//! fault has the settings its kind needs. Errors carry the span of the offending value.

use super::{BrokerModel, FaultKind, OnFull, Scenario};
use std::collections::BTreeSet;
use std::ops::Range;
use toml::Spanned;

type Invalid = (Option<Range<usize>>, String);

/// What a fault's `target` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One consumer instance: group index, instance index.
    Instance(usize, u32),
    /// Every instance of a group.
    Group(usize),
    /// A producer.
    Producer(usize),
}

/// Resolves `group/instance`, `group` or a producer name.
#[must_use]
pub fn resolve_target(s: &Scenario, target: &str) -> Option<Target> {
    let group = |name: &str| s.consumers.iter().position(|c| c.group.get_ref() == name);
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
}

fn fail<T>(span: Range<usize>, message: String) -> Result<T, Invalid> {
    Err((Some(span), message))
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
    broker(s)?;
    unique(s.topics.iter().map(|t| &t.name), "topic")?;
    for t in &s.topics {
        positive(&t.partitions, "partitions")?;
        if let Some(m) = &t.model {
            unsupported_model(m)?;
        }
        if t.model(&s.broker) == BrokerModel::Queue && *t.partitions.get_ref() != 1 {
            return fail(
                t.partitions.span(),
                "a queue (model = \"queue\") has exactly one partition".into(),
            );
        }
    }
    unique(s.producers.iter().map(|p| &p.name), "producer")?;
    for p in &s.producers {
        known_topic(s, &p.topic)?;
        let rate = *p.rate.get_ref();
        if !(rate.is_finite() && rate > 0.0) {
            return fail(
                p.rate.span(),
                format!("rate must be a positive number of messages per second, not {rate}"),
            );
        }
        positive(&p.keys, "keys")?;
        positive(&p.zipf_exponent, "zipf_exponent")?;
    }
    unique(s.consumers.iter().map(|c| &c.group), "consumer group")?;
    for c in &s.consumers {
        known_topic(s, &c.topic)?;
        positive(&c.instances, "instances")?;
        if c.group.get_ref().contains('/') {
            return fail(
                c.group.span(),
                "a group name cannot contain `/` (fault targets use it)".into(),
            );
        }
    }
    for f in &s.faults {
        fault(s, f)?;
    }
    Ok(())
}

fn unsupported_model(m: &Spanned<BrokerModel>) -> Result<(), Invalid> {
    if matches!(m.get_ref(), BrokerModel::Exchange | BrokerModel::Pubsub) {
        return fail(
            m.span(),
            "broker models `exchange` and `pubsub` are not built yet (expected `log` or `queue`)"
                .into(),
        );
    }
    Ok(())
}

fn broker(s: &Scenario) -> Result<(), Invalid> {
    let b = &s.broker;
    unsupported_model(&b.model)?;
    positive(&b.nodes, "nodes")?;
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
    if *b.nodes.get_ref() > 1 {
        return fail(
            b.nodes.span(),
            "replicated multi-node brokers are not built yet (expected nodes = 1)".into(),
        );
    }
    positive(&b.capacity, "capacity")?;
    positive(&b.max_receives, "max_receives")?;
    if *b.on_full.get_ref() == OnFull::Spill {
        return fail(
            b.on_full.span(),
            "on_full = \"spill\" is not built yet (expected block, drop-oldest or reject)".into(),
        );
    }
    Ok(())
}

fn fault(s: &Scenario, f: &super::FaultConfig) -> Result<(), Invalid> {
    let kind = *f.kind.get_ref();
    if matches!(
        kind,
        FaultKind::BrokerCrash | FaultKind::Partition | FaultKind::LatencySpike
    ) {
        return fail(
            f.kind.span(),
            "broker and network faults are not built yet (expected crash, slow or poison)".into(),
        );
    }
    let target = resolve_target(s, f.target.get_ref()).ok_or_else(|| {
        (
            Some(f.target.span()),
            format!(
                "fault target `{}` names nothing (expected `group/instance`, `group` or a producer name)",
                f.target.get_ref()
            ),
        )
    })?;
    let wants_producer = kind == FaultKind::Poison;
    let is_producer = matches!(target, super::Target::Producer(_));
    if wants_producer && !is_producer {
        return fail(
            f.target.span(),
            "a poison fault targets a producer (its messages fail processing)".into(),
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
