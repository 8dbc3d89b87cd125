//! Poison-message protection: dependency outages of a message type, hanging attempts and
//! the `processing_timeout` that cuts them, a circuit breaker per (group, message type)
//! that sets messages of a failing type aside (parked, no service time, no retry budget
//! spent) and probes it after a cool-down, and a quarantine that keeps each exhausted
//! message's error history. A message type is the producer that made the message.
//!
//! All of it sits behind `Protection::on`: a scenario that uses none of these keys runs
//! the consume path exactly as before, with no side table allocated and no new events.

use super::patterns::{PatternCtx, PatternView};
use crate::breaker::{Breaker, BreakerState, Transition};
use crate::consumer::{Store, Work};
use crate::event::Event;
use crate::message::Msg;
use crate::metrics::{latency_of, new_histogram};
use crate::scenario::{Delivery, FailMode, FaultKind, Scenario};
use crate::snapshot::LogKind;
use crate::summary::protection::{
    AttemptRecord, BreakerTransition, ProtectionSummary, QuarantineRecord, RECORDS_KEPT,
    TRANSITIONS_KEPT, TypeLatency,
};
use crate::summary::{Expectation, Latency};
use crate::time::{SimDuration, SimTime};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How the attempt in service will end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Fail,
    Hang,
}

/// One group's protection settings and its parked messages.
#[derive(Debug)]
struct GroupGuard {
    timeout: Option<SimDuration>,
    quarantine: bool,
    cool_down: SimDuration,
    /// Per producer; empty without `circuit_breaker`.
    breakers: Vec<Breaker>,
    /// Per producer: messages set aside while its breaker is not closed, oldest first.
    parked: Vec<VecDeque<Msg>>,
}

impl GroupGuard {
    /// Failure histories are kept when they are reported or spend a budget across parking.
    fn tracks(&self) -> bool {
        self.quarantine || !self.breakers.is_empty()
    }
}

/// The engine's protection state.
#[derive(Debug, Default)]
pub(super) struct Protection {
    /// Some protection key or fault is in use.
    pub(super) on: bool,
    groups: Vec<GroupGuard>,
    /// Per producer: outages in force (fault index, mode), most recent last.
    outages: Vec<Vec<(u32, FailMode)>>,
    /// Poison messages that hang: (producer, message id).
    hang: BTreeSet<(u16, u32)>,
    /// Per instance: how its attempt in service ends, and whether the timeout cuts it.
    attempt: Vec<(Outcome, bool)>,
    /// Failed attempts of messages not yet processed or quarantined: (group, message id).
    histories: BTreeMap<(u32, u32), Vec<AttemptRecord>>,
    quarantined: u64,
    records: Vec<QuarantineRecord>,
    transitions: Vec<BreakerTransition>,
    opens: u64,
    timed_out: u64,
    /// Per producer: copies processed and their latency, the histogram (about 330 KB)
    /// made at the first one, so that thousands of producers cost only what they use.
    types: Vec<(u64, Option<Box<Histogram<u64>>>)>,
}

/// Protection for `sc`: off (and empty) unless a key or fault of it is used.
pub(super) fn build(sc: &Scenario, instances: usize) -> Protection {
    let on = sc
        .consumers
        .iter()
        .any(|c| c.circuit_breaker.is_some() || c.processing_timeout.is_some() || c.quarantine)
        || sc
            .faults
            .iter()
            .any(|f| *f.kind.get_ref() == FaultKind::Outage || f.mode.is_some())
        || sc.expect.quarantined.is_some()
        || sc.expect.p99_latency_of.is_some();
    if !on {
        return Protection::default();
    }
    let types = sc.producers.len();
    Protection {
        on,
        groups: sc
            .consumers
            .iter()
            .map(|c| GroupGuard {
                timeout: c.processing_timeout.as_ref().map(|t| *t.get_ref()),
                quarantine: c.quarantine,
                cool_down: c.cool_down,
                breakers: c
                    .circuit_breaker
                    .as_ref()
                    .map_or(Vec::new(), |n| vec![Breaker::new(*n.get_ref()); types]),
                parked: vec![VecDeque::new(); types],
            })
            .collect(),
        outages: vec![Vec::new(); types],
        attempt: vec![(Outcome::Ok, false); instances],
        types: (0..types).map(|_| (0, None)).collect(),
        ..Protection::default()
    }
}

/// A poison fault in `hang` mode made message `id` of producer `p`.
pub(super) fn mark_hanging(mut c: PatternCtx, p: u32, id: u32) {
    c.protection_mut().hang.insert((p as u16, id));
}

/// Group `g` (of topic `t`) folded its copies below `below`: final, so never attempted
/// again. Their failure histories and the hanging marks of the topic's messages there
/// are forgotten.
pub(super) fn forget_folded(mut c: PatternCtx, g: u32, t: u32, below: u32) {
    if !c.protection().on {
        return;
    }
    let v = c.view();
    let of_topic: Vec<bool> = (0..v.producer_names().count() as u32)
        .map(|p| v.producer_topic(p) == t)
        .collect();
    let pr = c.protection_mut();
    pr.hang
        .retain(|&(p, id)| id >= below || !of_topic[usize::from(p)]);
    let kept = pr.histories.split_off(&(g, below));
    let mut folded = std::mem::replace(&mut pr.histories, kept);
    folded.retain(|&(h, _), _| h != g);
    pr.histories.extend(folded);
}

/// Entries protection holds per message: (hanging marks, failure histories).
pub(super) fn protection_resident(v: PatternView) -> (usize, usize) {
    let pr = v.protection();
    (pr.hang.len(), pr.histories.len())
}

/// Whether an outage of producer `p`'s message type is in force.
#[cfg(test)]
pub(super) fn outage_open(r: PatternView, p: usize) -> bool {
    !r.protection().outages[p].is_empty()
}

/// An outage fault on producer `p` starts or ends.
pub(super) fn set_outage(mut c: PatternCtx, p: usize, f: u32, on: bool) {
    if on {
        let mode = c.fault_mode(f);
        c.protection_mut().outages[p].push((f, mode));
    } else {
        c.protection_mut().outages[p].retain(|&(x, _)| x != f);
    }
}

fn outcome_of(pr: &Protection, msg: Msg) -> Outcome {
    if msg.poison {
        return if pr.hang.contains(&(msg.producer, msg.id)) {
            Outcome::Hang
        } else {
            Outcome::Fail
        };
    }
    match pr.outages[msg.producer as usize].last() {
        Some((_, FailMode::Hang)) => Outcome::Hang,
        Some((_, FailMode::Fail)) => Outcome::Fail,
        None => Outcome::Ok,
    }
}

/// The attempt of instance `i` starting at `at` would take `service`: when it ends
/// (never, for a hang without a timeout), the timeout cutting it short.
pub(super) fn attempt_end(
    mut c: PatternCtx,
    i: u32,
    at: SimTime,
    service: SimDuration,
) -> Option<SimTime> {
    let inst = c.instance(i);
    let msg = inst.work.expect("work in hand").msg;
    let g = inst.group;
    let outcome = outcome_of(c.protection(), msg);
    let timeout = c.protection().groups[g as usize].timeout;
    let (end, cut) = match (outcome, timeout) {
        (Outcome::Hang, None) => (None, false),
        (Outcome::Hang, Some(t)) => (Some(at + t), true),
        (_, Some(t)) if service > t => (Some(at + t), true),
        _ => (Some(at + service), false),
    };
    c.protection_mut().attempt[i as usize] = (outcome, cut);
    end
}

/// The attempt of instance `i` ended: whether it failed. Records the failure in the
/// message's history and tells the type's breaker.
pub(super) fn attempt_failed(mut c: PatternCtx, i: u32, w: &Work) -> bool {
    let g = c.instance(i).group;
    let now = c.now();
    let pr = c.protection_mut();
    let (outcome, cut) = pr.attempt[i as usize];
    let failed = cut || outcome != Outcome::Ok;
    let key = (g, w.msg.id);
    if cut {
        pr.timed_out += 1;
    }
    if pr.groups[g as usize].tracks() {
        if failed {
            let error = if cut { "timed out" } else { "failed" };
            pr.histories.entry(key).or_default().push(AttemptRecord {
                started_s: w.started.as_secs_f64(),
                ended_s: now.as_secs_f64(),
                error: error.into(),
            });
        } else {
            pr.histories.remove(&key);
        }
    }
    let p = w.msg.producer as usize;
    if let Some(b) = pr.groups[g as usize].breakers.get_mut(p)
        && let Some(t) = b.record(w.msg.id, !failed)
    {
        breaker_moved(c, g, p, t);
    }
    failed
}

/// A freshly taken message: its failures so far count against its retries; when its
/// type's breaker holds it back it is set aside (true) and the instance takes another.
pub(super) fn set_aside(mut c: PatternCtx, i: u32, w: &mut Work) -> bool {
    let g = c.instance(i).group;
    let pr = c.protection();
    if !pr.groups[g as usize].tracks() {
        return false;
    }
    let failures = pr.histories.get(&(g, w.msg.id)).map_or(0, Vec::len);
    w.attempt = u32::try_from(failures).unwrap_or(u32::MAX);
    if admitted(c.re(), g, w.msg) {
        return false;
    }
    park(c, g, *w);
    true
}

/// A retry's backoff ended: if its type's breaker is no longer closed the message is
/// set aside instead of served (true), and the instance moves on.
pub(super) fn park_in_hand(mut c: PatternCtx, i: u32) -> bool {
    let inst = c.instance(i);
    let (g, w) = (inst.group, inst.work.expect("work in hand"));
    if admitted(c.re(), g, w.msg) {
        return false;
    }
    c.instance_mut(i).work = None;
    park(c, g, w);
    true
}

fn admitted(mut c: PatternCtx, g: u32, msg: Msg) -> bool {
    let p = msg.producer as usize;
    let Some(b) = c.protection_mut().groups[g as usize].breakers.get_mut(p) else {
        return true;
    };
    let had_probe = b.probe().is_some();
    let admits = b.admits(msg.id);
    if !had_probe && b.probe().is_some() {
        // A probe that never answers (lost in a crash) must not hold the type forever.
        schedule_cool_down(c, g, p);
    }
    admits
}

fn schedule_cool_down(mut c: PatternCtx, g: u32, p: usize) {
    let guard = &c.protection().groups[g as usize];
    let generation = guard.breakers[p].generation();
    let at = c.now() + guard.cool_down;
    c.schedule(
        at,
        Event::BreakerCoolDown {
            group: g,
            producer: p as u16,
            generation,
        },
    );
}

/// Takes the message out of the queue into the group's parking lot (a consumer-side
/// holding area: it is no longer visible, nor received, so no timeout redelivers it).
fn park(mut c: PatternCtx, g: u32, w: Work) {
    let group = c.group_mut(g);
    let Store::Queue(q) = &mut group.store else {
        unreachable!("breakers are validated to queue topics")
    };
    let already_gone =
        super::models::removed_when_taken(group.kind) || group.delivery == Delivery::AtMostOnce;
    if !already_gone {
        let s = q.slot(w.offset as u32);
        if !(s.live && s.receipt == w.receipt && s.msg.id == w.msg.id) {
            // Redelivered elsewhere meanwhile: that holder has it now.
            return;
        }
        q.remove(w.offset as u32);
        group.lag = q.len();
        let topic = group.topic;
        c.unpark_soon(topic);
    }
    c.protection_mut().groups[g as usize].parked[w.msg.producer as usize].push_back(w.msg);
}

/// Puts up to `n` parked messages of type `p` back into the group's queue, oldest
/// first, and wakes idle consumers.
fn release_parked(mut c: PatternCtx, g: u32, p: usize, n: usize) {
    let parked = &mut c.protection_mut().groups[g as usize].parked[p];
    let msgs: Vec<Msg> = parked.drain(..n.min(parked.len())).collect();
    if msgs.is_empty() {
        return;
    }
    let group = c.group_mut(g);
    let Store::Queue(q) = &mut group.store else {
        unreachable!("breakers are validated to queue topics")
    };
    for m in msgs {
        q.send(m);
    }
    group.lag = q.len();
    group.max_lag = group.max_lag.max(group.lag);
    if super::models::pushes(group.kind) {
        c.model_dispatch(g);
        return;
    }
    for _ in 0..c.group(g).idle.len() {
        let Some(i) = c.group_mut(g).idle.pop() else {
            break;
        };
        c.try_start(i);
    }
}

/// A breaker's cool-down ended: open → half-open, or a silent probe → open again.
pub(super) fn on_cool_down(mut c: PatternCtx, g: u32, p: u32, generation: u32) {
    let b = &mut c.protection_mut().groups[g as usize].breakers[p as usize];
    if b.generation() != generation {
        return;
    }
    let moved = match b.state() {
        BreakerState::Open => b.cool_down_ended(),
        _ => b.probe_lost(),
    };
    if let Some(t) = moved {
        breaker_moved(c, g, p as usize, t);
    }
}

fn breaker_moved(mut c: PatternCtx, g: u32, p: usize, (from, to): Transition) {
    let group = c.group(g).name.clone();
    let message_type = c.producer_name(p).to_string();
    let now = c.now();
    let pr = c.protection_mut();
    if pr.transitions.len() < TRANSITIONS_KEPT {
        pr.transitions.push(BreakerTransition {
            at_s: now.as_secs_f64(),
            group: group.clone(),
            message_type: message_type.clone(),
            from: from.as_str().into(),
            to: to.as_str().into(),
        });
    }
    let parked = pr.groups[g as usize].parked[p].len();
    c.note(
        LogKind::Breaker,
        format!(
            "{group}: breaker of `{message_type}` {} -> {} ({parked} parked)",
            from.as_str(),
            to.as_str()
        ),
    );
    match to {
        BreakerState::Open => {
            c.protection_mut().opens += 1;
            schedule_cool_down(c, g, p);
        }
        // One parked message goes back to be the probe (a fresh one may beat it).
        BreakerState::HalfOpen => release_parked(c, g, p, 1),
        BreakerState::Closed => release_parked(c, g, p, usize::MAX),
    }
}

/// The message in hand of instance `i` exhausted its retries: quarantined with its
/// history (true) when its group quarantines.
pub(super) fn quarantine(mut c: PatternCtx, i: u32, w: &Work) -> bool {
    let g = c.instance(i).group;
    let pr = c.protection();
    if !pr.on || !pr.groups[g as usize].quarantine {
        return false;
    }
    let attempts = c
        .protection_mut()
        .histories
        .remove(&(g, w.msg.id))
        .unwrap_or_default();
    let before = c.group(g).metrics.dead_lettered;
    c.dead_letter(g, w.msg, "quarantined with its error history");
    if c.group(g).metrics.dead_lettered > before {
        let record = (c.protection().records.len() < RECORDS_KEPT).then(|| QuarantineRecord {
            group: c.group(g).name.clone(),
            message_type: c.producer_name(w.msg.producer as usize).to_string(),
            message: w.msg.id,
            at_s: c.now().as_secs_f64(),
            attempts,
        });
        let pr = c.protection_mut();
        pr.quarantined += 1;
        pr.records.extend(record);
    }
    true
}

/// A copy of producer `p`'s message was processed with this latency.
#[inline]
pub(super) fn record_type(mut c: PatternCtx, p: u16, latency_ns: u64) {
    if let Some((n, h)) = c.protection_mut().types.get_mut(p as usize) {
        *n += 1;
        h.get_or_insert_with(|| Box::new(new_histogram()))
            .saturating_record(latency_ns);
    }
}

/// Parked messages, by group index (for the census: they are in the system).
pub(super) fn parked(r: PatternView<'_>) -> impl Iterator<Item = (usize, &Msg)> {
    r.protection()
        .groups
        .iter()
        .enumerate()
        .flat_map(|(g, gg)| gg.parked.iter().flatten().map(move |m| (g, m)))
}

/// The protection figures, when the scenario uses protection.
pub(super) fn protection_summary(r: PatternView) -> Option<ProtectionSummary> {
    let pr = r.protection();
    pr.on.then(|| ProtectionSummary {
        quarantined: pr.quarantined,
        timed_out: pr.timed_out,
        breaker_opens: pr.opens,
        transitions: pr.transitions.clone(),
        quarantine: pr.records.clone(),
        types: r
            .producer_names()
            .zip(&pr.types)
            .map(|(name, (n, h))| TypeLatency {
                message_type: name.to_string(),
                processed: *n,
                latency_s: h.as_deref().map(latency_of).unwrap_or_default(),
            })
            .collect(),
    })
}

/// `quarantined` and `p99_latency_of` against what the run gave.
pub(super) fn protection_expectations(r: PatternView) -> Vec<Expectation> {
    let e = r.expect();
    let mut out = Vec::new();
    if let Some(b) = e.quarantined {
        out.push(Expectation::at_most(
            "quarantined",
            b,
            r.protection().quarantined,
        ));
    }
    let Some(table) = &e.p99_latency_of else {
        return out;
    };
    for (name, bound) in table.get_ref() {
        let Some(p) = r.producer_names().position(|x| x == name) else {
            continue;
        };
        let (n, h) = &r.protection().types[p];
        let l: Latency = h.as_deref().map(latency_of).unwrap_or_default();
        let actual = SimDuration::from_secs_f64(l.p99);
        out.push(Expectation {
            check: format!("p99_latency_of {name}"),
            expected: format!("<= {bound}"),
            actual: format!("{actual} ({n} processed)"),
            ok: actual <= *bound,
        });
    }
    out
}

/// Every breaker's state and parked count, for the dashboard's snapshot.
pub(super) fn breaker_views(r: PatternView) -> Vec<crate::snapshot::BreakerView> {
    let names: Vec<&str> = r.producer_names().collect();
    let mut v = Vec::new();
    for (g, guard) in r.protection().groups.iter().enumerate() {
        for (p, b) in guard.breakers.iter().enumerate() {
            v.push(crate::snapshot::BreakerView {
                group: r.groups()[g].name.clone(),
                message_type: names[p].to_string(),
                state: b.state().as_str(),
                parked: guard.parked.get(p).map_or(0, |q| q.len() as u64),
            });
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_costs_no_histogram_for_producers_that_processed_nothing() {
        let mut toml = String::from("name = \"x\"\nduration = \"1s\"\n[[topic]]\nname = \"t\"\n");
        for i in 0..2000 {
            toml += &format!("[[producer]]\nname = \"p{i}\"\ntopic = \"t\"\nrate = 1\n");
        }
        toml += "[[fault]]\nat = \"0s\"\nkind = \"outage\"\ntarget = \"p0\"\nduration = \"1s\"\n";
        let sc = Scenario::from_toml(&toml, "x.toml").expect("valid");
        let pr = build(&sc, 0);
        assert!(pr.on);
        assert_eq!(pr.types.len(), 2000);
        // A histogram is made at a type's first processed copy, not for every producer.
        assert!(pr.types.iter().all(|(_, h)| h.is_none()));
    }
}
