//! Poison-message protection: dependency outages of a message type, hanging attempts and
//! the `processing_timeout` that cuts them, a circuit breaker per (group, message type)
//! that sets messages of a failing type aside (parked, no service time, no retry budget
//! spent) and probes it after a cool-down, and a quarantine that keeps each exhausted
//! message's error history. A message type is the producer that made the message.
//!
//! All of it sits behind `Protection::on`: a scenario that uses none of these keys runs
//! the consume path exactly as before, with no side table allocated and no new events.

use super::Engine;
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

impl Engine {
    /// A poison fault in `hang` mode made message `id` of producer `p`.
    pub(super) fn mark_hanging(&mut self, p: u32, id: u32) {
        self.protection.hang.insert((p as u16, id));
    }

    /// Whether an outage of producer `p`'s message type is in force.
    #[cfg(test)]
    pub(super) fn outage_open(&self, p: usize) -> bool {
        !self.protection.outages[p].is_empty()
    }

    /// An outage fault on producer `p` starts or ends.
    pub(super) fn set_outage(&mut self, p: usize, f: u32, on: bool) {
        let list = &mut self.protection.outages[p];
        if on {
            let mode = self.faults[f as usize]
                .cfg
                .mode
                .as_ref()
                .map_or(FailMode::Fail, |m| *m.get_ref());
            list.push((f, mode));
        } else {
            list.retain(|&(x, _)| x != f);
        }
    }

    fn outcome_of(&self, msg: Msg) -> Outcome {
        if msg.poison {
            return if self.protection.hang.contains(&(msg.producer, msg.id)) {
                Outcome::Hang
            } else {
                Outcome::Fail
            };
        }
        match self.protection.outages[msg.producer as usize].last() {
            Some((_, FailMode::Hang)) => Outcome::Hang,
            Some((_, FailMode::Fail)) => Outcome::Fail,
            None => Outcome::Ok,
        }
    }

    /// The attempt of instance `i` starting at `at` would take `service`: when it ends
    /// (never, for a hang without a timeout), the timeout cutting it short.
    pub(super) fn attempt_end(
        &mut self,
        i: u32,
        at: SimTime,
        service: SimDuration,
    ) -> Option<SimTime> {
        let inst = &self.instances[i as usize];
        let msg = inst.work.expect("work in hand").msg;
        let outcome = self.outcome_of(msg);
        let timeout = self.protection.groups[inst.group as usize].timeout;
        let (end, cut) = match (outcome, timeout) {
            (Outcome::Hang, None) => (None, false),
            (Outcome::Hang, Some(t)) => (Some(at + t), true),
            (_, Some(t)) if service > t => (Some(at + t), true),
            _ => (Some(at + service), false),
        };
        self.protection.attempt[i as usize] = (outcome, cut);
        end
    }

    /// The attempt of instance `i` ended: whether it failed. Records the failure in the
    /// message's history and tells the type's breaker.
    pub(super) fn attempt_failed(&mut self, i: u32, w: &Work) -> bool {
        let g = self.instances[i as usize].group;
        let (outcome, cut) = self.protection.attempt[i as usize];
        let failed = cut || outcome != Outcome::Ok;
        let key = (g, w.msg.id);
        if cut {
            self.protection.timed_out += 1;
        }
        if self.protection.groups[g as usize].tracks() {
            if failed {
                let error = if cut { "timed out" } else { "failed" };
                self.protection
                    .histories
                    .entry(key)
                    .or_default()
                    .push(AttemptRecord {
                        started_s: w.started.as_secs_f64(),
                        ended_s: self.now.as_secs_f64(),
                        error: error.into(),
                    });
            } else {
                self.protection.histories.remove(&key);
            }
        }
        let p = w.msg.producer as usize;
        if let Some(b) = self.protection.groups[g as usize].breakers.get_mut(p)
            && let Some(t) = b.record(w.msg.id, !failed)
        {
            self.breaker_moved(g, p, t);
        }
        failed
    }

    /// A freshly taken message: its failures so far count against its retries; when its
    /// type's breaker holds it back it is set aside (true) and the instance takes another.
    pub(super) fn set_aside(&mut self, i: u32, w: &mut Work) -> bool {
        let g = self.instances[i as usize].group;
        if !self.protection.groups[g as usize].tracks() {
            return false;
        }
        let failures = self
            .protection
            .histories
            .get(&(g, w.msg.id))
            .map_or(0, Vec::len);
        w.attempt = u32::try_from(failures).unwrap_or(u32::MAX);
        if self.admitted(g, w.msg) {
            return false;
        }
        self.park(g, *w);
        true
    }

    /// A retry's backoff ended: if its type's breaker is no longer closed the message is
    /// set aside instead of served (true), and the instance moves on.
    pub(super) fn park_in_hand(&mut self, i: u32) -> bool {
        let inst = &self.instances[i as usize];
        let (g, w) = (inst.group, inst.work.expect("work in hand"));
        if self.admitted(g, w.msg) {
            return false;
        }
        self.instances[i as usize].work = None;
        self.park(g, w);
        true
    }

    fn admitted(&mut self, g: u32, msg: Msg) -> bool {
        let p = msg.producer as usize;
        let Some(b) = self.protection.groups[g as usize].breakers.get_mut(p) else {
            return true;
        };
        let had_probe = b.probe().is_some();
        let admits = b.admits(msg.id);
        if !had_probe && b.probe().is_some() {
            // A probe that never answers (lost in a crash) must not hold the type forever.
            self.schedule_cool_down(g, p);
        }
        admits
    }

    fn schedule_cool_down(&mut self, g: u32, p: usize) {
        let guard = &self.protection.groups[g as usize];
        let generation = guard.breakers[p].generation();
        self.queue.push(
            self.now + guard.cool_down,
            Event::BreakerCoolDown {
                group: g,
                producer: p as u16,
                generation,
            },
        );
    }

    /// Takes the message out of the queue into the group's parking lot (a consumer-side
    /// holding area: it is no longer visible, nor received, so no timeout redelivers it).
    fn park(&mut self, g: u32, w: Work) {
        let group = &mut self.groups[g as usize];
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
            self.unpark_soon(topic);
        }
        self.protection.groups[g as usize].parked[w.msg.producer as usize].push_back(w.msg);
    }

    /// Puts up to `n` parked messages of type `p` back into the group's queue, oldest
    /// first, and wakes idle consumers.
    fn release_parked(&mut self, g: u32, p: usize, n: usize) {
        let parked = &mut self.protection.groups[g as usize].parked[p];
        let msgs: Vec<Msg> = parked.drain(..n.min(parked.len())).collect();
        if msgs.is_empty() {
            return;
        }
        let group = &mut self.groups[g as usize];
        let Store::Queue(q) = &mut group.store else {
            unreachable!("breakers are validated to queue topics")
        };
        for m in msgs {
            q.send(m);
        }
        group.lag = q.len();
        group.max_lag = group.max_lag.max(group.lag);
        if super::models::pushes(group.kind) {
            self.model_dispatch(g);
            return;
        }
        for _ in 0..self.groups[g as usize].idle.len() {
            let Some(i) = self.groups[g as usize].idle.pop() else {
                break;
            };
            self.try_start(i);
        }
    }

    /// A breaker's cool-down ended: open → half-open, or a silent probe → open again.
    pub(super) fn on_cool_down(&mut self, g: u32, p: u32, generation: u32) {
        let b = &mut self.protection.groups[g as usize].breakers[p as usize];
        if b.generation() != generation {
            return;
        }
        let moved = match b.state() {
            BreakerState::Open => b.cool_down_ended(),
            _ => b.probe_lost(),
        };
        if let Some(t) = moved {
            self.breaker_moved(g, p as usize, t);
        }
    }

    fn breaker_moved(&mut self, g: u32, p: usize, (from, to): Transition) {
        let group = self.groups[g as usize].name.clone();
        let message_type = self.producers[p].name.clone();
        let pr = &mut self.protection;
        if pr.transitions.len() < TRANSITIONS_KEPT {
            pr.transitions.push(BreakerTransition {
                at_s: self.now.as_secs_f64(),
                group: group.clone(),
                message_type: message_type.clone(),
                from: from.as_str().into(),
                to: to.as_str().into(),
            });
        }
        let parked = pr.groups[g as usize].parked[p].len();
        self.note(
            LogKind::Breaker,
            format!(
                "{group}: breaker of `{message_type}` {} -> {} ({parked} parked)",
                from.as_str(),
                to.as_str()
            ),
        );
        match to {
            BreakerState::Open => {
                self.protection.opens += 1;
                self.schedule_cool_down(g, p);
            }
            // One parked message goes back to be the probe (a fresh one may beat it).
            BreakerState::HalfOpen => self.release_parked(g, p, 1),
            BreakerState::Closed => self.release_parked(g, p, usize::MAX),
        }
    }

    /// The message in hand of instance `i` exhausted its retries: quarantined with its
    /// history (true) when its group quarantines.
    pub(super) fn quarantine(&mut self, i: u32, w: &Work) -> bool {
        let g = self.instances[i as usize].group;
        if !self.protection.on || !self.protection.groups[g as usize].quarantine {
            return false;
        }
        let attempts = self
            .protection
            .histories
            .remove(&(g, w.msg.id))
            .unwrap_or_default();
        let before = self.groups[g as usize].metrics.dead_lettered;
        self.dead_letter(g, w.msg, "quarantined with its error history");
        if self.groups[g as usize].metrics.dead_lettered > before {
            let pr = &mut self.protection;
            pr.quarantined += 1;
            if pr.records.len() < RECORDS_KEPT {
                pr.records.push(QuarantineRecord {
                    group: self.groups[g as usize].name.clone(),
                    message_type: self.producers[w.msg.producer as usize].name.clone(),
                    message: w.msg.id,
                    at_s: self.now.as_secs_f64(),
                    attempts,
                });
            }
        }
        true
    }

    /// A copy of producer `p`'s message was processed with this latency.
    #[inline]
    pub(super) fn record_type(&mut self, p: u16, latency_ns: u64) {
        if let Some((n, h)) = self.protection.types.get_mut(p as usize) {
            *n += 1;
            h.get_or_insert_with(|| Box::new(new_histogram()))
                .saturating_record(latency_ns);
        }
    }

    /// Parked messages, by group index (for the census: they are in the system).
    pub(super) fn parked(&self) -> impl Iterator<Item = (usize, &Msg)> {
        self.protection
            .groups
            .iter()
            .enumerate()
            .flat_map(|(g, gg)| gg.parked.iter().flatten().map(move |m| (g, m)))
    }

    /// The protection figures, when the scenario uses protection.
    pub(super) fn protection_summary(&self) -> Option<ProtectionSummary> {
        let pr = &self.protection;
        pr.on.then(|| ProtectionSummary {
            quarantined: pr.quarantined,
            timed_out: pr.timed_out,
            breaker_opens: pr.opens,
            transitions: pr.transitions.clone(),
            quarantine: pr.records.clone(),
            types: self
                .producers
                .iter()
                .zip(&pr.types)
                .map(|(p, (n, h))| TypeLatency {
                    message_type: p.name.clone(),
                    processed: *n,
                    latency_s: h.as_deref().map(latency_of).unwrap_or_default(),
                })
                .collect(),
        })
    }

    /// `quarantined` and `p99_latency_of` against what the run gave.
    pub(super) fn protection_expectations(&self) -> Vec<Expectation> {
        let e = &self.scenario.expect;
        let mut out = Vec::new();
        if let Some(b) = e.quarantined {
            out.push(Expectation::at_most(
                "quarantined",
                b,
                self.protection.quarantined,
            ));
        }
        let Some(table) = &e.p99_latency_of else {
            return out;
        };
        for (name, bound) in table.get_ref() {
            let Some(p) = self.producers.iter().position(|x| &x.name == name) else {
                continue;
            };
            let (n, h) = &self.protection.types[p];
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
}

impl Engine {
    /// Every breaker's state and parked count, for the dashboard's snapshot.
    pub(super) fn breaker_views(&self) -> Vec<crate::snapshot::BreakerView> {
        let mut v = Vec::new();
        for (g, guard) in self.protection.groups.iter().enumerate() {
            for (p, b) in guard.breakers.iter().enumerate() {
                v.push(crate::snapshot::BreakerView {
                    group: self.groups[g].name.clone(),
                    message_type: self.producers[p].name.clone(),
                    state: b.state().as_str(),
                    parked: guard.parked.get(p).map_or(0, |q| q.len() as u64),
                });
            }
        }
        v
    }
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
