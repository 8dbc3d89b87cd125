//! Faults as they start and end: crashes and restarts of consumer instances, groups or
//! producers, slow windows, and poison on a producer's messages.

use super::Engine;
use crate::event::Event;
use crate::scenario::{FaultKind, Target};
use crate::snapshot::LogKind;

impl Engine {
    fn fault_instances(&self, target: Target) -> Vec<u32> {
        match target {
            Target::Instance(g, local) => vec![self.groups[g].first + local],
            Target::Group(g) => self.groups[g].instances().collect(),
            Target::Producer(_)
            | Target::Network
            | Target::Broker(_)
            | Target::Orchestrator(_)
            | Target::SagaService(..) => Vec::new(),
        }
    }

    pub(super) fn on_fault_start(&mut self, f: u32) {
        let fault = &self.faults[f as usize];
        let (kind, target) = (*fault.cfg.kind.get_ref(), fault.target);
        let name = fault.cfg.target.get_ref().clone();
        if let Some(d) = fault.cfg.duration {
            self.queue.push(self.now + d, Event::FaultEnd { fault: f });
        }
        let lasting = fault
            .cfg
            .duration
            .map_or("until the end".to_string(), |d| format!("for {d}"));
        match (kind, target) {
            (FaultKind::Crash, Target::Producer(p)) => {
                self.producers[p].up = false;
                self.crash_producer(p as u32);
                self.crash_service(p as u32);
            }
            (FaultKind::Crash, Target::Orchestrator(s)) => self.crash_orchestrator(s),
            (FaultKind::Crash, Target::SagaService(s, k)) => self.set_saga_service(s, k, false),
            (FaultKind::Crash, t) => {
                // A whole group changes at once: one rebalance, not one per instance.
                self.rebalance_held = true;
                for i in self.fault_instances(t) {
                    self.crash_instance(i);
                }
                self.release_rebalances();
            }
            (FaultKind::Slow, t) => {
                let factor = fault.cfg.factor.as_ref().map_or(1.0, |x| *x.get_ref());
                for i in self.fault_instances(t) {
                    self.instances[i as usize].slow = factor;
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
            (FaultKind::BrokerCrash, Target::Broker(n)) => self.broker_down(n, true),
            // Cut off from clients and the other brokers alike; its disk survives.
            (FaultKind::Partition, Target::Broker(n)) => self.broker_down(n, false),
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
            // Every kind named: a new one must choose its words here.
            FaultKind::Crash | FaultKind::BrokerCrash => "crash".to_string(),
        };
        self.note(LogKind::Fault, format!("{what} {name} {lasting}"));
    }

    pub(super) fn on_fault_end(&mut self, f: u32) {
        let fault = &self.faults[f as usize];
        let (kind, target) = (*fault.cfg.kind.get_ref(), fault.target);
        let name = fault.cfg.target.get_ref().clone();
        match (kind, target) {
            (FaultKind::Crash, Target::Producer(p)) => {
                self.producers[p].up = true;
                self.restart_service(p as u32);
            }
            (FaultKind::Crash, Target::Orchestrator(s)) => self.restart_orchestrator(s),
            (FaultKind::Crash, Target::SagaService(s, k)) => self.set_saga_service(s, k, true),
            (FaultKind::Crash, t) => {
                // A whole group changes at once: one rebalance, not one per instance.
                self.rebalance_held = true;
                for i in self.fault_instances(t) {
                    self.restart_instance(i);
                }
                self.release_rebalances();
            }
            (FaultKind::Slow, t) => {
                for i in self.fault_instances(t) {
                    self.instances[i as usize].slow = 1.0;
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
                    self.heal_instance(i);
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
        let kind_text = if kind == FaultKind::Crash {
            LogKind::Restart
        } else {
            LogKind::Fault
        };
        let text = if kind == FaultKind::Crash {
            format!("restart: {name}")
        } else {
            format!("ended: {name}")
        };
        self.note(kind_text, text);
    }
}
