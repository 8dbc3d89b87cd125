//! Faults as they start and end: crashes and restarts of consumer instances, groups or
//! producers, slow windows, and poison on a producer's messages.
//!
//! Overlapping windows nest: a target is down (crashed, cut off) while any window that
//! covers it is open, so the end of an inner window restores nothing the outer one still
//! holds. A group's window covers each of its instances, so a group crash and an instance
//! crash overlap on that instance. Overlapping slow windows do not multiply: an instance
//! runs at the largest factor among the windows open on it.

use super::Engine;
use crate::event::Event;
use crate::scenario::{FaultKind, Target};
use crate::snapshot::LogKind;

/// What a fault does to its target while its window is open; windows of one effect on one
/// target nest. A broker is out whether crashed or cut off.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    Down,
    Cut,
    Slow,
    BrokerOut,
    Other,
}

fn effect(kind: FaultKind, target: Target) -> Effect {
    match (kind, target) {
        (FaultKind::BrokerCrash | FaultKind::Partition, Target::Broker(_)) => Effect::BrokerOut,
        (FaultKind::Crash, _) => Effect::Down,
        (FaultKind::Partition, _) => Effect::Cut,
        (FaultKind::Slow, _) => Effect::Slow,
        _ => Effect::Other,
    }
}

/// Whether the plain path can come back after this fault once it is over (`resume_plain`):
/// a consumer instance or group crashed or slowed, or a producer crashed, leaves behind
/// only what both paths handle alike (redeliveries, duplicates, rebalances, dropped
/// sends). Poison may still sit in the log, and broker, network and the other faults
/// change state the plain handlers never read; a kind added later is not recoverable
/// until someone decides it is.
pub(super) fn recoverable(kind: FaultKind, target: Target) -> bool {
    matches!(
        (kind, target),
        (
            FaultKind::Crash | FaultKind::Slow,
            Target::Instance(..) | Target::Group(_)
        ) | (FaultKind::Crash, Target::Producer(_))
    )
}

/// Whether the lean consumers (the plain path's consume handlers on a generic produce
/// side) can come back after this fault once it is over: beside `recoverable`, a broker's
/// crash or cut and a network partition of clients or a latency spike. What these leave
/// behind is the produce side's (elections, truncated logs, requests to resend, replicas
/// catching up) and the group's (rebalances, replays), which the generic handlers keep
/// doing; a consumer fetches below the high watermark and commits the same way on both
/// paths. Poison, outages (failed copies retried or dead-lettered), operator replays and
/// redrives are left to the generic path for the rest of the run.
pub(super) fn lean_recoverable(kind: FaultKind, target: Target) -> bool {
    recoverable(kind, target)
        || matches!(
            (kind, target),
            (
                FaultKind::BrokerCrash | FaultKind::Partition,
                Target::Broker(_)
            ) | (
                FaultKind::Partition,
                Target::Instance(..) | Target::Group(_) | Target::Producer(_)
            ) | (FaultKind::LatencySpike, _)
        )
}

impl Engine {
    /// Whether `target` covers consumer instance `i` (a group covers its instances).
    fn covers_instance(&self, target: Target, i: u32) -> bool {
        match target {
            Target::Instance(g, local) => self.groups[g].first + local == i,
            Target::Group(g) => self.groups[g].instances().any(|x| x == i),
            _ => false,
        }
    }

    /// Open windows other than `f` with `f`'s effect.
    fn other_open(&self, f: u32) -> impl Iterator<Item = &super::FaultRt> {
        let me = &self.faults[f as usize];
        let e = effect(*me.cfg.kind.get_ref(), me.target);
        self.faults
            .iter()
            .enumerate()
            .filter(move |(g, x)| {
                *g != f as usize && x.open && effect(*x.cfg.kind.get_ref(), x.target) == e
            })
            .map(|(_, x)| x)
    }

    /// Another open window of `f`'s effect still holds consumer instance `i`.
    fn instance_held(&self, f: u32, i: u32) -> bool {
        self.other_open(f)
            .any(|x| self.covers_instance(x.target, i))
    }

    /// Another open window of `f`'s effect still holds `f`'s target (not an instance).
    fn target_held(&self, f: u32) -> bool {
        let t = self.faults[f as usize].target;
        self.other_open(f).any(|x| x.target == t)
    }

    /// The open windows of `kind` on consumer instance `i` (its own, or its group's).
    fn open_on(&self, kind: FaultKind, i: u32) -> impl Iterator<Item = &super::FaultRt> {
        self.faults
            .iter()
            .filter(move |x| x.open && *x.cfg.kind.get_ref() == kind)
            .filter(move |x| self.covers_instance(x.target, i))
    }

    /// An open window of `kind` covers consumer instance `i` (a crash or a partition of
    /// its own, or of its group).
    pub(super) fn window_holds(&self, kind: FaultKind, i: u32) -> bool {
        self.open_on(kind, i).next().is_some()
    }

    /// The slow factor of instance `i`: the largest among the open slow windows on it.
    fn slow_factor(&self, i: u32) -> f64 {
        self.open_on(FaultKind::Slow, i)
            .map(|x| x.cfg.factor.as_ref().map_or(1.0, |v| *v.get_ref()))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
            .unwrap_or(1.0)
    }

    fn fault_instances(&self, target: Target) -> Vec<u32> {
        match target {
            Target::Instance(g, local) => vec![self.groups[g].first + local],
            Target::Group(g) => self.groups[g].instances().collect(),
            Target::Producer(_)
            | Target::Network
            | Target::Broker(_)
            | Target::Orchestrator(_)
            | Target::SagaService(..)
            | Target::Relay(..) => Vec::new(),
        }
    }

    pub(super) fn on_fault_start(&mut self, f: u32) {
        // Faults change what the plain path's handlers leave out (instances down or slow,
        // poison, zombies): the rest of the run is the generic path's, as after a fault
        // injected live.
        self.leave_plain();
        let fault = &self.faults[f as usize];
        let (kind, target) = (*fault.cfg.kind.get_ref(), fault.target);
        let name = fault.cfg.target.get_ref().clone();
        if let Some(d) = fault.cfg.duration {
            self.queue.push(self.now + d, Event::FaultEnd { fault: f });
        }
        // Already down under another window: crashing again would abort nothing new.
        let held = self.target_held(f);
        self.faults[f as usize].open = true;
        let fault = &self.faults[f as usize];
        let lasting = fault
            .cfg
            .duration
            .map_or("until the end".to_string(), |d| format!("for {d}"));
        match (kind, target) {
            (
                FaultKind::Crash,
                Target::Producer(_) | Target::Orchestrator(_) | Target::SagaService(..),
            ) if held => {}
            (FaultKind::Crash, Target::Producer(p)) => {
                self.producers[p].up = false;
                self.crash_producer(p as u32);
                self.crash_service(p as u32);
            }
            (FaultKind::Crash, Target::Orchestrator(s)) => self.crash_orchestrator(s),
            // Its pollers count their own windows (a service crash holds them too).
            (FaultKind::Crash, Target::Relay(p, k)) => self.crash_relay(p as u32, k),
            (FaultKind::Crash, t) => {
                // A whole group changes at once: one rebalance, not one per instance.
                self.rebalance_held = true;
                for i in self.fault_instances(t) {
                    self.crash_instance(i);
                }
                self.release_rebalances();
            }
            (FaultKind::Slow, t) => {
                for i in self.fault_instances(t) {
                    self.instances[i as usize].slow = self.slow_factor(i);
                }
            }
            (FaultKind::Poison, Target::Producer(p)) => self.producers[p].poison.push(f),
            (FaultKind::Outage, Target::Producer(p)) => self.set_outage(p, f, true),
            (FaultKind::Partition, Target::Producer(p)) => self.producers[p].reachable = false,
            (FaultKind::Partition, t @ (Target::Instance(..) | Target::Group(_))) => {
                // A whole group changes at once: one rebalance, not one per instance.
                self.rebalance_held = true;
                for i in self.fault_instances(t) {
                    self.isolate_instance(i);
                }
                self.release_rebalances();
            }
            // A crash of a node already cut off still loses its unflushed log.
            (FaultKind::BrokerCrash, Target::Broker(n)) => self.broker_down(n, true),
            // Cut off from clients and the other brokers alike; its disk survives.
            (FaultKind::Partition, Target::Broker(n)) => self.broker_down(n, false),
            (FaultKind::Replay, Target::Group(g)) => self.replay(g as u32, f),
            (FaultKind::Redrive, Target::Group(g)) => self.redrive(g as u32),
            (FaultKind::LatencySpike, _) => {
                self.spikes.push(f);
                self.latency = fault.cfg.latency.unwrap_or(self.latency);
            }
            _ => {}
        }
        let what = match kind {
            FaultKind::Partition => "network partition cuts off".to_string(),
            FaultKind::LatencySpike => {
                let d = self.faults[f as usize]
                    .cfg
                    .latency
                    .map_or(String::new(), |d| d.to_string());
                format!("latency spike to {d} on")
            }
            FaultKind::Slow => format!(
                "slow x{}",
                self.faults[f as usize]
                    .cfg
                    .factor
                    .as_ref()
                    .map_or(1.0, |x| *x.get_ref())
            ),
            FaultKind::Poison => "poison".to_string(),
            FaultKind::Outage => "dependency outage of".to_string(),
            // An operator action notes what it did itself.
            FaultKind::Replay | FaultKind::Redrive => return,
            // Every kind named: a new one must choose its words here.
            FaultKind::Crash | FaultKind::BrokerCrash => "crash".to_string(),
        };
        self.note(LogKind::Fault, format!("{what} {name} {lasting}"));
        // The dashboard's log says it where the fault starts, as the run's summary says it
        // beside the fault.
        if let Some(n) = crate::scenario::fault_note(&self.scenario, &self.faults[f as usize].cfg) {
            self.note(LogKind::Fault, format!("{name}: {n}"));
        }
    }

    pub(super) fn on_fault_end(&mut self, f: u32) {
        let fault = &mut self.faults[f as usize];
        fault.open = false;
        let (kind, target) = (*fault.cfg.kind.get_ref(), fault.target);
        let name = fault.cfg.target.get_ref().clone();
        // What another open window still holds stays as it is.
        let held = match target {
            _ if effect(kind, target) == Effect::Other => false,
            Target::Instance(..) | Target::Group(_) => {
                let all = self.fault_instances(target);
                let still: Vec<u32> = all
                    .iter()
                    .copied()
                    .filter(|&i| self.instance_held(f, i))
                    .collect();
                !still.is_empty() && effect(kind, target) != Effect::Slow
            }
            _ => self.target_held(f),
        };
        match (kind, target) {
            (
                FaultKind::Crash | FaultKind::Partition | FaultKind::BrokerCrash,
                Target::Producer(_)
                | Target::Orchestrator(_)
                | Target::SagaService(..)
                | Target::Broker(_),
            ) if held => {}
            (FaultKind::Crash, Target::Producer(p)) => {
                self.producers[p].up = true;
                self.restart_service(p as u32);
            }
            (FaultKind::Crash, Target::Orchestrator(s)) => self.restart_orchestrator(s),
            (FaultKind::Crash, Target::Relay(p, k)) => self.restart_relay(p as u32, k),
            (FaultKind::Crash, t) => {
                // A whole group changes at once: one rebalance, not one per instance.
                self.rebalance_held = true;
                for i in self.fault_instances(t) {
                    if !self.instance_held(f, i) {
                        self.restart_instance(i);
                    }
                }
                self.release_rebalances();
            }
            (FaultKind::Slow, t) => {
                for i in self.fault_instances(t) {
                    self.instances[i as usize].slow = self.slow_factor(i);
                }
            }
            (FaultKind::Poison, Target::Producer(p)) => {
                self.producers[p].poison.retain(|&x| x != f)
            }
            (FaultKind::Partition, Target::Producer(p)) => self.producers[p].reachable = true,
            (FaultKind::Outage, Target::Producer(p)) => self.set_outage(p, f, false),
            (FaultKind::Partition, t @ (Target::Instance(..) | Target::Group(_))) => {
                // A whole group changes at once: one rebalance, not one per instance.
                self.rebalance_held = true;
                for i in self.fault_instances(t) {
                    if !self.instance_held(f, i) && !self.server_cuts(i) {
                        self.heal_instance(i);
                    }
                }
                self.release_rebalances();
            }
            (FaultKind::BrokerCrash | FaultKind::Partition, Target::Broker(n)) => self.broker_up(n),
            (FaultKind::LatencySpike, _) => {
                self.spikes.retain(|&x| x != f);
                let base = self.scenario.network.latency;
                self.latency = self
                    .spikes
                    .last()
                    .and_then(|&s| self.faults[s as usize].cfg.latency)
                    .unwrap_or(base);
            }
            _ => {}
        }
        let kind_text = if kind == FaultKind::Crash && !held {
            LogKind::Restart
        } else {
            LogKind::Fault
        };
        let text = if held {
            format!("window ended: {name} (another open window still holds it)")
        } else if kind == FaultKind::Crash {
            format!("restart: {name}")
        } else {
            format!("ended: {name}")
        };
        self.note(kind_text, text);
    }
}

mod operator;
#[cfg(test)]
mod tests;
