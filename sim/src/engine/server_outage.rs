//! A broker fault on the topics that are not logs. Queue, exchange and pub/sub topics live
//! on `broker/0`, one server as a RabbitMQ or Redis deployment of them is (a log's
//! partitions have replicas on every node instead, `replicate.rs`). While it is out:
//! - a send that reaches a crashed server is refused at once (the connection is gone) and
//!   resent when it is back while retries last; one that reaches a server cut off is
//!   lost on the way and its timeout tells the producer;
//! - every consumer of a queue or exchange topic is cut off, as by a network partition
//!   of its own: the message in hand is still processed, and its acknowledgement or delete
//!   dies with the connection. What each one held goes where its model sends a departed
//!   consumer's (RabbitMQ requeues the unacknowledged, SQS waits for the visibility
//!   timeout), so an at-least-once consumer processes the one in hand a second time;
//! - a Redis subscriber's connection is dead, but what was written to it is in its
//!   socket: it reads and processes that, finds the connection gone only then, and
//!   subscribes again `reconnect` later, or once the server is back if that is later.
//!   What is published until it has subscribed reaches nobody (`subscriber-offline`).
//!
//! Messages the server had taken survive it (durable queues, persistent messages): a
//! crash loses none of them.

use super::Engine;
use super::models;
use crate::event::Event;
use crate::scenario::{BrokerModel, FaultKind, SERVER_NODE};
use crate::snapshot::LogKind;
use crate::time::SimTime;

/// The server of the non-log topics while it is out.
#[derive(Debug)]
pub(super) struct ServerOut {
    /// Crashed (sends refused) rather than cut off.
    pub(super) crashed: bool,
    /// Subscribers that found their connection gone, with the earliest time each tries
    /// again (`reconnect` after it found out): they subscribe once the server is back.
    subscribers: Vec<(u32, SimTime)>,
}

impl Engine {
    /// Whether broker node `n` hosts topics that are not logs.
    pub(super) fn hosts_queues(&self, n: u32) -> bool {
        n == SERVER_NODE && self.topics.iter().any(|t| t.model != BrokerModel::Log)
    }

    /// Whether the server of the non-log topics takes sends now.
    #[inline]
    pub(super) fn server_up(&self) -> bool {
        self.server_out.is_none()
    }

    /// Whether group `g` keeps its messages on the server (a queue of its own, or a
    /// subscriber's buffer) rather than reading a log's replicated partitions.
    fn on_server(&self, g: u32) -> bool {
        !models::traits(self.groups[g as usize].kind).partitioned
    }

    /// Whether the server being out keeps consumer instance `i` cut off.
    pub(super) fn server_cuts(&self, i: u32) -> bool {
        self.server_out.is_some() && self.on_server(self.instances[i as usize].group)
    }

    /// Whether subscriber `i` still reads a connection the server's outage killed.
    #[inline]
    pub(super) fn connection_dead(&self, i: u32) -> bool {
        !self.dead_connections.is_empty() && self.dead_connections.contains(&i)
    }

    /// Subscriber `i` has read everything its dead connection held: it finds it closed,
    /// and tries again after its `reconnect`.
    pub(super) fn subscriber_notices(&mut self, i: u32) {
        self.dead_connections.retain(|&x| x != i);
        self.instances[i as usize].up = false;
        let g = self.instances[i as usize].group;
        let at = self.now + self.groups[g as usize].subscriber.reconnect;
        match &mut self.server_out {
            Some(out) => out.subscribers.push((i, at)),
            None => self.queue.push(at, Event::Reconnect { instance: i }),
        }
    }

    /// Whether subscriber `i`, coming back from a crash or a disconnect, finds the server
    /// out: it subscribes once the server is back (`server_back`).
    pub(super) fn subscriber_waits(&mut self, i: u32) -> bool {
        // A subscriber's own crash ends the connection the outage had killed.
        self.dead_connections.retain(|&x| x != i);
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        let now = self.now;
        let Some(out) = &mut self.server_out else {
            return false;
        };
        if !models::to_subscriber(kind) {
            return false;
        }
        if !out.subscribers.iter().any(|&(x, _)| x == i) {
            out.subscribers.push((i, now));
        }
        true
    }

    /// The server of the non-log topics crashes (`crashed`) or is cut off.
    pub(super) fn server_down(&mut self, crashed: bool) {
        if let Some(out) = &mut self.server_out {
            out.crashed |= crashed;
            return;
        }
        self.server_out = Some(ServerOut {
            crashed,
            subscribers: Vec::new(),
        });
        // A whole group changes at once: one rebalance, not one per instance.
        self.rebalance_held = true;
        for g in 0..self.groups.len() as u32 {
            if !self.on_server(g) {
                continue;
            }
            if models::to_subscriber(self.groups[g as usize].kind) {
                let i = self.groups[g as usize].first;
                if self.instances[i as usize].up && !self.connection_dead(i) {
                    self.dead_connections.push(i);
                    if self.instances[i as usize].is_idle() && self.model_backlog(g) == 0 {
                        self.subscriber_notices(i);
                    }
                }
                continue;
            }
            for i in self.groups[g as usize].instances() {
                self.isolate_instance(i);
            }
        }
        self.release_rebalances();
        let what = if crashed { "down" } else { "cut off" };
        self.note(
            LogKind::Server,
            format!(
                "broker/{SERVER_NODE} {what}: its queue, exchange and pub/sub clients lose their \
                 connections"
            ),
        );
    }

    /// The server is back: its consumers reconnect, its subscribers once they have found
    /// their connection gone and waited their `reconnect`; the sends it refused go again
    /// (`resend_refused`, with the log's).
    pub(super) fn server_back(&mut self) {
        let Some(out) = self.server_out.take() else {
            return;
        };
        self.rebalance_held = true;
        for g in 0..self.groups.len() as u32 {
            if !self.on_server(g) || models::to_subscriber(self.groups[g as usize].kind) {
                continue;
            }
            for i in self.groups[g as usize].instances() {
                // Cut off by a partition of its own, it stays so until that heals.
                if !self.window_holds(FaultKind::Partition, i) {
                    self.heal_instance(i);
                }
            }
        }
        self.release_rebalances();
        for (i, at) in out.subscribers {
            // Crashed meanwhile, it comes back with its crash's end instead.
            if self.window_holds(FaultKind::Crash, i) {
                continue;
            }
            self.queue
                .push(at.max(self.now), Event::Reconnect { instance: i });
        }
        self.note(
            LogKind::Server,
            format!("broker/{SERVER_NODE} back: its clients reconnect"),
        );
    }
}
