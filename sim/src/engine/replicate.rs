//! Kafka-style replication on the log model: followers fetching behind the leader, the
//! high watermark that consumers and `acks = all` wait for, broker crashes with leader
//! election, and the acknowledged messages a truncated log loses.

use super::Engine;
use super::requests::Refusal;
use crate::consumer::Store;
use crate::event::Event;
use crate::replication::Election;
use crate::scenario::{Acks, BrokerModel};
use crate::snapshot::LogKind;

impl Engine {
    /// A write to partition `p` of topic `t` is possible now.
    #[inline]
    pub(super) fn can_write(&self, t: u32, p: u32) -> bool {
        let Some(part) = self.topics[t as usize].partitions.get(p as usize) else {
            return self.server_up(); // not a log
        };
        let rs = &part.replicas;
        rs.leader.is_some()
            && (self.broker.acks != Acks::All || rs.isr_size() >= self.broker.min_insync)
    }

    /// The leader appended: followers fetch, and the high watermark may move.
    #[inline]
    pub(super) fn replicate_append(&mut self, t: u32, p: u32) {
        let part = &mut self.topics[t as usize].partitions[p as usize];
        let end = part.end;
        part.replicas.leader_appended(end);
        if self.broker.flush_interval.is_zero() {
            part.replicas.flush(&self.nodes_up);
        }
        // A lone replica is the leader (or there is none): no follower to fetch.
        if part.replicas.replicas.len() > 1 {
            for i in 0..part.replicas.replicas.len() {
                self.start_fetch(t, p, i);
            }
        }
        // The append itself wakes the consumers.
        self.advance_hw(t, p, false);
    }

    fn start_fetch(&mut self, t: u32, p: u32, i: usize) {
        let part = &mut self.topics[t as usize].partitions[p as usize];
        let (end, leader) = (part.end, part.replicas.leader);
        let r = &mut part.replicas.replicas[i];
        // A follower out of the ISR fetches even with nothing to copy: its fetch is how
        // it rejoins (Kafka's followers fetch all the time). Else one back from a crash
        // with the whole log waited for an append that `acks = "all"` refused for want of
        // it, and the partition stayed unwritable for the rest of the run.
        if leader == Some(i)
            || leader.is_none()
            || r.fetching
            || (r.leo >= end && r.in_sync)
            || !self.nodes_up[r.node as usize]
        {
            return;
        }
        r.fetching = true;
        let lag = self.broker.replica_lag.sample(&mut self.net);
        let part = self.topics[t as usize].part_base + p;
        self.queue.push(
            self.now + lag,
            Event::Replicate {
                part,
                replica: i as u32,
            },
        );
    }

    /// A follower's fetch came back with everything the leader has.
    pub(super) fn on_replicate(&mut self, part: u32, i: u32) {
        let (t, p) = self.part_ids[part as usize];
        let partition = &mut self.topics[t as usize].partitions[p as usize];
        let node = partition.replicas.replicas[i as usize].node;
        if partition.replicas.leader.is_none() || !self.nodes_up[node as usize] {
            partition.replicas.replicas[i as usize].fetching = false;
            return;
        }
        let end = partition.end;
        let was_in_sync = partition.replicas.replicas[i as usize].in_sync;
        let isr = partition.replicas.isr_size();
        partition.replicas.fetched(i as usize, end, end);
        let rejoined = !was_in_sync && partition.replicas.replicas[i as usize].in_sync;
        let grew = partition.replicas.isr_size() > isr;
        if self.broker.flush_interval.is_zero() {
            partition.replicas.flush(&self.nodes_up);
        }
        if rejoined {
            let topic = &self.topics[t as usize];
            let isr = isr_nodes(&topic.partitions[p as usize].replicas);
            let text = format!(
                "partition {}/{p}: broker/{node} caught up, back in the ISR {isr}",
                topic.name
            );
            self.note(LogKind::Broker, text);
        }
        if self.tracing() {
            self.trace_replicated(t, p, i, end);
        }
        if grew {
            // Enough in-sync replicas again for `acks = all`: parked requests may go in,
            // and refused ones go again.
            self.unpark_soon(t);
            self.resend_refused();
        }
        self.advance_hw(t, p, true);
        self.start_fetch(t, p, i as usize);
    }

    /// Moves the high watermark up to what every in-sync replica has; acknowledges the
    /// `acks = all` requests it passes and wakes the consumers that can now read.
    fn advance_hw(&mut self, t: u32, p: u32, wake: bool) {
        let part = &mut self.topics[t as usize].partitions[p as usize];
        let hw = part.replicas.high_watermark().min(part.end);
        if hw <= part.hw {
            return;
        }
        part.hw = hw;
        self.fetchable_everywhere(t, p);
        let part = &mut self.topics[t as usize].partitions[p as usize];
        // Only `acks = all` parks requests there: other runs leave that line cold.
        if self.broker.acks == Acks::All && part.pending_acks.front().is_some_and(|a| a.0 < hw) {
            self.ack_below(t, p, hw);
        } else if self.tracing() {
            self.trace_high_watermark(t, p, hw);
        }
        if !wake {
            return;
        }
        for k in 0..self.topics[t as usize].groups.len() {
            let g = self.topics[t as usize].groups[k];
            if let Store::Log(parts) = &self.groups[g as usize].store
                && let Some(o) = parts[p as usize].owner
            {
                let first = self.groups[g as usize].first;
                self.try_start(first + o);
            }
        }
    }

    /// `acks = all`: answers the requests waiting below the high watermark `hw` (out of
    /// line: without them, which is every other scenario, an append pays one check).
    #[inline(never)]
    fn ack_below(&mut self, t: u32, p: u32, hw: u64) {
        let part = &mut self.topics[t as usize].partitions[p as usize];
        // Every acknowledgement due leaves the partition before the first is answered, as
        // an answer may append (a waiting message sent) and look at what is pending.
        let mut acks = std::mem::take(&mut self.acks_due);
        while part.pending_acks.front().is_some_and(|a| a.0 < hw) {
            acks.extend(part.pending_acks.pop_front());
        }
        // Kafka answers a request the high watermark passes with an error when the ISR
        // is below `min.insync.replicas` by then (NOT_ENOUGH_REPLICAS_AFTER_APPEND): the
        // message is in the log, replicated only by the replicas left, and the producer
        // sends it again once enough are back (a second copy unless it is idempotent).
        // Answered as written, the producer took such a message for safe.
        let short = part.replicas.isr_size() < self.broker.min_insync;
        if self.tracing() {
            self.trace_high_watermark(t, p, hw);
        }
        for &(_, producer, msg, born) in &acks {
            if short {
                self.refuse(producer, msg, p, Refusal::ShortIsrAfterAppend);
            } else {
                self.respond(producer, msg, born);
            }
        }
        acks.clear();
        self.acks_due = acks;
    }

    /// The periodic flush: every live replica's log reaches the disk.
    pub(super) fn flush_all(&mut self) {
        for &(t, p) in &self.part_ids {
            self.topics[t as usize].partitions[p as usize]
                .replicas
                .flush(&self.nodes_up);
        }
    }

    /// Broker node `n` fails: its replicas leave the ISR and its partitions elect new
    /// leaders, cutting their logs back to the new leader's.
    pub(super) fn broker_down(&mut self, n: u32, crashed: bool) {
        if self.tracing() {
            self.trace_broker(n, true, crashed);
        }
        self.nodes_up[n as usize] = false;
        if self.hosts_queues(n) {
            self.server_down(crashed);
        }
        for (t, p) in self.part_ids.clone() {
            let rs = &mut self.topics[t as usize].partitions[p as usize].replicas;
            let before = rs.isr_size();
            let election = rs.node_lost(n, &self.nodes_up, self.broker.unclean, crashed);
            if rs.isr_size() < before {
                let isr = isr_nodes(rs);
                let text = format!(
                    "partition {}/{p}: ISR shrank to {isr} (broker/{n} {})",
                    self.topics[t as usize].name,
                    if crashed { "down" } else { "cut off" }
                );
                self.note(LogKind::Broker, text);
            }
            if let Some(e) = election {
                self.apply_election(t, p, e);
            } else {
                // The high watermark is the least log end of the ISR left: a follower
                // gone from it no longer holds it back (Kafka moves it as the ISR
                // shrinks), and the requests it passes are answered now.
                self.advance_hw(t, p, true);
            }
        }
    }

    /// Broker node `n` is back: its replicas catch up; an offline partition whose last
    /// in-sync replica it holds (or any, if unclean elections are allowed) comes back.
    pub(super) fn broker_up(&mut self, n: u32) {
        self.nodes_up[n as usize] = true;
        if self.tracing() {
            self.trace_broker(n, false, false);
        }
        if self.hosts_queues(n) {
            self.server_back();
        }
        for (t, p) in self.part_ids.clone() {
            let part = &mut self.topics[t as usize].partitions[p as usize];
            if part.replicas.leader.is_none() {
                let e = part.replicas.elect(&self.nodes_up, self.broker.unclean);
                if e.leader.is_some() {
                    self.apply_election(t, p, e);
                }
            }
            let end = self.topics[t as usize].partitions[p as usize].end;
            let rs = &mut self.topics[t as usize].partitions[p as usize].replicas;
            for r in &mut rs.replicas {
                r.leo = r.leo.min(end);
            }
            for i in 0..rs.replicas.len() {
                self.start_fetch(t, p, i);
            }
        }
        self.resend_refused();
    }

    /// Sends again each request a partition refused for want of a leader or of in-sync
    /// replicas, where the partition can take it now and the producer has a retry left:
    /// Kafka's producer learns of the failure at once (the error, or the dead connection)
    /// and resends once its metadata shows a leader, or at its next retry, which finds the
    /// ISR whole again; waiting for `request_timeout` (30 s by default) left what was sent
    /// during an outage in flight for that long. The rest wait as before.
    fn resend_refused(&mut self) {
        for p in 0..self.producers.len() as u32 {
            let prod = &self.producers[p as usize];
            let refused: Vec<u32> = prod
                .inflight
                .iter()
                .filter(|(_, r)| r.refused && !r.done)
                .map(|(&id, _)| id)
                .collect();
            for id in refused {
                let prod = &self.producers[p as usize];
                // A resend behind an earlier one in sequence may have sent it already.
                let Some(req) = prod.inflight.get(&id).filter(|r| r.refused) else {
                    continue;
                };
                let (attempt, partition) = (req.attempt, req.partition);
                if self.can_write(prod.topic, partition) && u32::from(attempt) < prod.retries {
                    self.send_request(p, id, attempt + 1);
                    self.resend_behind(p, id, partition);
                }
            }
        }
    }

    fn apply_election(&mut self, t: u32, p: u32, e: Election) {
        let name = format!("{}/{p}", self.topics[t as usize].name);
        let Some(leader) = e.leader else {
            self.note(
                LogKind::Broker,
                format!("partition {name} offline: no in-sync replica is up"),
            );
            return;
        };
        let node = self.topics[t as usize].partitions[p as usize]
            .replicas
            .replicas[leader]
            .node;
        let part = &mut self.topics[t as usize].partitions[p as usize];
        // Sends whose `acks = "all"` answer waits on what the cut takes: their producers
        // hear at once that the leader went (the dead connection, NOT_LEADER_OR_FOLLOWER).
        let from = e.truncate_to.unwrap_or(0).max(part.base());
        let unanswered: Vec<(u32, u32)> = part
            .pending_acks
            .iter()
            .filter(|a| a.0 >= from)
            .map(|a| (a.1, a.2))
            .collect();
        let cut = part.truncate(e.truncate_to.unwrap_or(0));
        // Offsets every group had already committed and trimmed stay used: the log never
        // hands out an offset twice (Kafka would reset such consumers instead).
        let to = part.end;
        part.replicas.replicas[leader].leo = to;
        let flags = &mut self.topics[t as usize].flags;
        let acked = cut.iter().filter(|m| flags.acked(m.id)).count();
        for m in &cut {
            flags.unaccept(m.id);
        }
        for m in &cut {
            self.sequence_reopened(*m, p);
        }
        let how = if e.unclean {
            "unclean election"
        } else {
            "election"
        };
        self.note(
            LogKind::Broker,
            format!("partition {name}: {how}, leader now broker/{node}; log cut to {to}: {} messages gone, {acked} of them acknowledged", cut.len()),
        );
        if self.tracing() {
            self.trace_election(t, p, node, e.unclean, &cut);
        }
        if !cut.is_empty() {
            self.after_truncation(t, p, to, &cut);
        }
        for m in &cut {
            // The producer was told it failed, and now the broker lost it too.
            let flags = &self.topics[t as usize].flags;
            if flags.gave_up(m.id) && !flags.acked(m.id) {
                // It left the system when it was cut.
                self.drop_message(t, m.id, None, "producer-gave-up");
                self.resequence_dropped(t, *m);
            }
        }
        // The new leader's high watermark. Where it is lower the watermark steps back;
        // where higher it moves up as any advance does, answering the `acks = "all"`
        // requests it passes: set here without them, a request waiting below it (its
        // follower cut off, then its leader down) was never answered, and an idempotent
        // producer's resends were deduplicated into the same wait for good.
        let part = &mut self.topics[t as usize].partitions[p as usize];
        let hw = part.replicas.high_watermark().min(part.end);
        part.hw = part.hw.min(hw);
        for i in 0..part.replicas.replicas.len() {
            self.start_fetch(t, p, i);
        }
        self.fetchable_everywhere(t, p);
        self.advance_hw(t, p, true);
        // Requests parked while the partition had no leader go in now.
        self.unpark_soon(t);
        // The cut sends go again as soon as the partition takes them, not at their
        // timeout (30 s by default), unless another attempt is on its way already.
        let mut any = false;
        for (prod, id) in unanswered {
            if let Some(req) = self.producers[prod as usize].inflight.get_mut(&id)
                && !req.done
                && req.in_transit == 0
            {
                req.refused = true;
                any = true;
            }
        }
        if any {
            self.resend_refused();
        }
    }

    /// Groups forget offsets past the new log end; copies of acknowledged messages that
    /// were cut are known lost (unless already processed).
    fn after_truncation(&mut self, t: u32, p: u32, to: u64, cut: &[crate::message::Msg]) {
        for k in 0..self.topics[t as usize].groups.len() {
            let g = self.topics[t as usize].groups[k];
            let group = &mut self.groups[g as usize];
            let Store::Log(parts) = &mut group.store else {
                continue;
            };
            let gp = &mut parts[p as usize];
            gp.committed = gp.committed.min(to);
            gp.done = gp.done.min(to);
            gp.position = gp.position.min(to);
            self.recount_lag(g);
            self.fetchable(g, p);
            let group = &mut self.groups[g as usize];
            for m in cut {
                let ledger = &mut group.ledger;
                if ledger.applied(m.id) > 0 || ledger.finished(m.id) || !ledger.entered(m.id) {
                    continue;
                }
                if self.topics[t as usize].flags.acked(m.id) {
                    group.metrics.lost_known += 1;
                    // Cut from the log: no longer waiting anywhere.
                    ledger.finish(m.id);
                } else {
                    // Unacknowledged, it leaves the system for now and enters again if
                    // the producer resends it.
                    ledger.exit(m.id);
                }
                let at = self.topics[t as usize].flags.exact(m.id, m.arrived);
                group.metrics.leave(self.now, at);
            }
        }
    }

    /// Global indices of every log partition, for events.
    pub(super) fn index_partitions(&mut self) {
        for (t, topic) in self.topics.iter_mut().enumerate() {
            topic.part_base = self.part_ids.len() as u32;
            if topic.model == BrokerModel::Log {
                self.part_ids
                    .extend((0..topic.partitions.len() as u32).map(|p| (t as u32, p)));
            }
        }
        self.trim_hint = vec![None; self.part_ids.len()];
    }
}

/// The in-sync replicas' brokers, as `[broker/0, broker/2]`.
fn isr_nodes(rs: &crate::replication::ReplicaSet) -> String {
    let nodes: Vec<String> = rs
        .replicas
        .iter()
        .filter(|r| r.in_sync)
        .map(|r| format!("broker/{}", r.node))
        .collect();
    format!("[{}]", nodes.join(", "))
}
