//! Validation of the messaging patterns' settings: spill and watermarks, priority
//! scheduling, the resequencer, request-reply and the saga expectations. Split from
//! `validate.rs` to keep each file to one screenful of rules.

use super::{Invalid, fail, positive, topic_of};
use crate::scenario::{BrokerConfig, BrokerModel, ConsumerConfig, OnFull, Scenario, Scheduling};

/// `half_done` and `in_progress` count sagas: they need a `[[saga]]`.
pub(super) fn saga_expectations(s: &Scenario) -> Result<(), Invalid> {
    let keys = [
        ("half_done", &s.expect.half_done),
        ("in_progress", &s.expect.in_progress),
    ];
    for (key, bound) in keys {
        if let Some(b) = bound
            && s.sagas.is_empty()
        {
            return fail(
                b.span(),
                format!("{key} counts sagas: it needs a `[[saga]]`"),
            );
        }
    }
    Ok(())
}

/// Spill storage backs queues; a log is on disk already and pub/sub keeps nothing.
pub(super) fn spill(s: &Scenario) -> Result<(), Invalid> {
    let b = &s.broker;
    if let Some(cap) = &b.spill_capacity {
        positive(cap, "spill_capacity")?;
    }
    if *b.on_full.get_ref() != OnFull::Spill {
        return Ok(());
    }
    match s
        .topics
        .iter()
        .find(|t| !matches!(t.model(b), BrokerModel::Queue | BrokerModel::Exchange))
    {
        Some(t) => fail(
            b.on_full.span(),
            format!(
                "on_full = \"spill\" needs queue or exchange topics, and `{}` is a {} \
                 (expected block, drop-oldest or reject)",
                t.name.get_ref(),
                if t.model(b) == BrokerModel::Log {
                    "log"
                } else {
                    "pub/sub channel"
                }
            ),
        ),
        None => Ok(()),
    }
}

pub(super) fn watermarks(b: &BrokerConfig) -> Result<(), Invalid> {
    let cap = *b.capacity.get_ref();
    match (&b.high_watermark, &b.low_watermark) {
        (None, Some(low)) => fail(low.span(), "low_watermark needs a high_watermark".into()),
        (Some(high), _) if *high.get_ref() == 0 || *high.get_ref() > cap => fail(
            high.span(),
            format!(
                "high_watermark must be between 1 and capacity ({cap}), not {}",
                high.get_ref()
            ),
        ),
        (Some(high), Some(low)) if low.get_ref() >= high.get_ref() => fail(
            low.span(),
            format!(
                "low_watermark must be below high_watermark ({}), not {}",
                high.get_ref(),
                low.get_ref()
            ),
        ),
        _ => Ok(()),
    }
}

/// Priority scheduling: a plain (not FIFO) queue, and a positive weight for every class
/// its producers use.
pub(super) fn scheduling(s: &Scenario, c: &ConsumerConfig) -> Result<(), Invalid> {
    let t = topic_of(s, c.topic.get_ref());
    match (&c.scheduling, &c.weights) {
        (None, Some(w)) => fail(w.span(), "`weights` need scheduling = \"weighted\"".into()),
        (Some(sch), _)
            if t.model(&s.broker) != BrokerModel::Queue
                || t.fifo.as_ref().is_some_and(|f| *f.get_ref()) =>
        {
            fail(
                sch.span(),
                "`scheduling` applies to groups on a (non-FIFO) queue topic".into(),
            )
        }
        (Some(sch), None) if *sch.get_ref() == Scheduling::Weighted => fail(
            sch.span(),
            "scheduling = \"weighted\" needs `weights`, one per priority class".into(),
        ),
        (Some(_), Some(w)) => {
            let top = s
                .producers
                .iter()
                .filter(|p| p.topic.get_ref() == c.topic.get_ref())
                .filter_map(|p| p.priority.as_ref().map(|x| *x.get_ref()))
                .max()
                .unwrap_or(0);
            if w.get_ref().len() <= usize::from(top) || w.get_ref().contains(&0) {
                return fail(
                    w.span(),
                    format!("weights must give each priority class 0 to {top} a weight above zero"),
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The resequencer: its settings only with `resequence = true`, a positive bound and gap
/// timeout, and not on pub/sub (one subscriber connection is in order already).
pub(super) fn resequence(s: &Scenario, c: &ConsumerConfig) -> Result<(), Invalid> {
    if !c.resequences() {
        if let Some(b) = &c.resequence_buffer {
            return fail(
                b.span(),
                "`resequence_buffer` needs resequence = true".into(),
            );
        }
        if let Some(t) = &c.gap_timeout {
            return fail(t.span(), "`gap_timeout` needs resequence = true".into());
        }
        return Ok(());
    }
    if let Some(b) = &c.resequence_buffer {
        positive(b, "resequence_buffer")?;
    }
    if let Some(t) = &c.gap_timeout
        && t.get_ref().is_zero()
    {
        return fail(t.span(), "gap_timeout must be greater than zero".into());
    }
    let t = topic_of(s, c.topic.get_ref());
    if t.model(&s.broker) == BrokerModel::Pubsub {
        let r = c.resequence.as_ref().expect("resequences");
        return fail(
            r.span(),
            "`resequence` does not apply to a pub/sub subscriber (one connection, already in order)"
                .into(),
        );
    }
    Ok(())
}

/// Request-reply: a positive `reply_timeout`, `correlation` only beside one, and the
/// request-reply expectations only in a scenario with a requester.
pub(super) fn request_reply(s: &Scenario) -> Result<(), Invalid> {
    for p in &s.producers {
        match (&p.reply_timeout, &p.correlation) {
            (Some(t), _) if t.get_ref().is_zero() => {
                return fail(t.span(), "reply_timeout must be greater than zero".into());
            }
            (None, Some(c)) => {
                return fail(
                    c.span(),
                    "`correlation` needs `reply_timeout` (a requester)".into(),
                );
            }
            _ => {}
        }
    }
    let e = &s.expect;
    let bound = [&e.mismatched, &e.timeouts, &e.orphans]
        .into_iter()
        .flatten()
        .next();
    if let Some(b) = bound
        && s.producers.iter().all(|p| p.reply_timeout.is_none())
    {
        return fail(
            b.span(),
            "mismatched, timeouts and orphans need a producer with `reply_timeout` (a requester)"
                .into(),
        );
    }
    Ok(())
}
