//! The dispatch table: which handler each event goes to. Handlers live with their
//! component (`produce.rs`, `consume.rs`, `group.rs`, the patterns' modules); the few
//! events that only reschedule themselves are handled here.

use super::Engine;
use crate::event::Event;
use crate::snapshot::{LogKind, Phase};

impl Engine {
    pub(super) fn dispatch(&mut self, event: Event) {
        match event {
            Event::Arrival { producer } => self.on_arrival(producer),
            Event::BurstToggle { producer } => self.on_burst_toggle(producer),
            Event::ProduceReach { producer, msg, .. } => self.on_produce_reach(producer, msg),
            Event::ProduceAck { producer, msg, .. } => self.on_produce_ack(producer, msg),
            Event::ProduceTimeout {
                producer,
                msg,
                attempt,
            } => self.on_produce_timeout(producer, msg, attempt),
            Event::ServiceDone { instance, epoch } => {
                let inst = &self.instances[instance as usize];
                if inst.epoch == epoch {
                    if inst.lean {
                        self.lean_service_done(instance);
                    } else {
                        self.on_service_done(instance);
                    }
                }
            }
            Event::RetryReady { instance, epoch } => {
                if self.instances[instance as usize].epoch == epoch {
                    self.start_service(instance);
                }
            }
            Event::Commit { group } => {
                self.commit_group(group);
                let next = self.now + self.groups[group as usize].commit_interval;
                if next <= self.end {
                    self.queue.push(next, Event::Commit { group });
                }
            }
            Event::Visibility { group } => self.on_visibility(group),
            Event::GapTimeout { group } => self.on_gap_timeout(group),
            Event::Reconnect { instance } => self.restart_instance(instance),
            Event::Replicate { part, replica } => self.on_replicate(part, replica),
            Event::SessionExpired {
                instance,
                membership,
            } => self.on_session_expired(instance, membership),
            Event::GroupJoin { group } => {
                if !std::mem::replace(&mut self.groups[group as usize].joined, true) {
                    self.unjoined -= 1;
                }
                let g = &self.groups[group as usize];
                let from = if g.offset_reset == crate::scenario::OffsetReset::Earliest {
                    "the earliest offset"
                } else {
                    "now"
                };
                self.note(
                    LogKind::Rebalance,
                    format!("{} joins, reading from {from}", g.name),
                );
                self.rebalance(group);
            }
            Event::GroupResume { group } => {
                for i in self.groups[group as usize].instances() {
                    self.try_start(i);
                }
            }
            Event::TxCommit { producer, tx } => self.on_tx_commit(producer, tx),
            Event::TxReply { producer, tx } => self.on_tx_reply(producer, tx),
            Event::FaultStart { fault } => self.on_fault_start(fault),
            Event::FaultEnd { fault } => {
                self.on_fault_end(fault);
                self.resume_plain();
            }
            Event::Sample => {
                self.expire_retention_everywhere();
                self.close_bucket();
                let next = self.series.bucket_end;
                if next <= self.end {
                    self.queue.push(next, Event::Sample);
                }
                self.resume_plain();
            }
            Event::SpillRead { topic } => self.on_spill_read(topic),
            Event::Poll { instance } => {
                self.instances[instance as usize].polling = false;
                self.try_start(instance);
            }
            Event::Flush => {
                self.flush_all();
                let next = self.now + self.broker.flush_interval;
                if next <= self.end {
                    self.queue.push(next, Event::Flush);
                }
            }
            Event::ReplyTimeout { producer } => self.on_reply_timeout(producer),
            Event::BreakerCoolDown {
                group,
                producer,
                generation,
            } => self.on_cool_down(group, u32::from(producer), generation),
            Event::ProducersStop => {
                self.series.producers_stopped();
                self.groups_stopped();
                self.phase = Phase::Draining;
                self.note(LogKind::Phase, "producers stopped; draining".to_string());
            }
            Event::SagaArrival { saga } => self.on_saga_arrival(saga),
            Event::SagaTimeout { run, attempt } => self.on_saga_timeout(run, attempt),
        }
    }
}
