//! The windowed ledgers: every `FOLD_EVERY` (65,536) messages or so, a topic's copies that can no
//! longer change are counted into each group's folded census and forgotten, with every
//! other table kept per message (flags, drop reasons, duplicate causes, dedup marks).
//!
//! A copy is final once nothing can reach its message any more. Message ids are dense and
//! in creation order, so the fold takes the prefix below the lowest id still referenced
//! anywhere a message can come back from: the log's retained entries (a rewind, a late
//! joiner, a retention expiry or a failover's truncation reads them), `acks = all`
//! requests waiting for the high watermark, the queues (received or not), instances'
//! work, prefetched and unacknowledged messages (a closed AMQP channel requeues those),
//! the resequencer, parked and spilled produce requests, quarantine, producers' requests
//! in flight (a resend twin or a network duplicate appends the message again; every
//! request on the wire is counted in its `in_transit`), the dead letters kept for an
//! operator's redrive, the patterns' state (services, outboxes, sagas, requesters: see
//! `patterns/live.rs`, which also folds their per-message tables), and the traced
//! message. The message being registered is the newest id, so the watermark never
//! passes it.
//!
//! Faults hold nothing else (the audit, kind by kind): a crashed or cut-off instance's
//! message in hand and unacknowledged ones stay in its `work` and `pending` (a cut-off
//! zombie goes on with them; a crash hands them to the model, which replays a log from
//! the committed offset, a retained entry, or makes a queue's message visible again, or
//! loses it for good at most once). A crashed or cut-off producer's requests stay in
//! `inflight` while any is on the wire. A broker crash or partition parks writes or
//! leaves `acks = all` requests waiting, and a failover truncates only retained entries
//! (the ones already trimmed stay used), resent from their requests in flight. A replay
//! moves offsets back no further than the retained entries; a redrive brings back the
//! kept dead letters. Poison is a flag in the message; slow windows and latency spikes
//! hold no message. So faults fold, scheduled or injected live. A group that joins late
//! holds no copy until it joins: from the earliest offset it reads the retained entries
//! (what its joined peers trimmed before was dropped for it at the trim, `retention`),
//! from the latest it never gets the earlier copies, which stay as they are.
//!
//! Every feature folds now; whatever cannot be proved final stays referenced above. Dead
//! letters are kept for a redrive only where the scenario has a redrive fault for their
//! group (`idempotence.rs`), and hold the window while kept.

use super::Engine;
use crate::consumer::Store;

impl Engine {
    /// Folds topic `t`'s final prefix; called when registering message `id` is due.
    #[cold]
    #[inline(never)]
    pub(super) fn fold_topic(&mut self, t: u32, id: u32) {
        let (low, looked) = self.lowest_live(t, id);
        let headroom = self.weigh(t, looked);
        let below = low & !63;
        let groups = self.topics[t as usize].groups.clone();
        for &g in &groups {
            // Each reads the group's ledger before the ledger forgets the prefix.
            self.drops.fold(g, below, &self.groups[g as usize].ledger);
            self.fold_idempotence(g, below);
            self.fold_patterns(g, below);
            let flags = &self.topics[t as usize].flags;
            self.groups[g as usize].ledger.fold(below, flags);
        }
        if groups.is_empty() {
            // No group folds it: the services' lineage of a topic nobody consumes is
            // trimmed here (only a republish reads it, of a child seen live above).
            self.forget_lineage(t, below);
        }
        let flags = &mut self.topics[t as usize].flags;
        flags.fold(below);
        // A look costs what the engine holds: spacing the looks by at least that keeps
        // the cost per message constant behind a large backlog (closer only as a run
        // nears its memory budget, `guard.rs`).
        flags.fold_again(u32::try_from(looked.min(headroom)).unwrap_or(u32::MAX));
    }

    /// Folds every `every` messages instead of every `FOLD_EVERY`, so that a test's short
    /// run folds too: the result must not change. The resequencers' prunes of what
    /// exactly-once transactions released come as often, since they outlive the fold: at
    /// their own threshold a short run never pruned, and a prune across a fold once
    /// panicked beyond every test's reach.
    #[doc(hidden)]
    pub fn fold_every(&mut self, every: u32) {
        for t in &mut self.topics {
            t.flags.fold_every(every);
        }
        if every != u32::MAX {
            for r in self.groups.iter_mut().filter_map(|g| g.reseq.as_mut()) {
                r.prune_from(every as usize);
            }
        }
    }

    /// The lowest message id of topic `t` still referenced anywhere a copy can come back
    /// from (at most `newest`, the message being registered), and how many references
    /// were looked at.
    fn lowest_live(&self, t: u32, newest: u32) -> (u32, usize) {
        let mut low = newest;
        let mut looked = 0usize;
        let mut see = |id: u32| {
            low = low.min(id);
            looked += 1;
        };
        let topic = &self.topics[t as usize];
        for part in &topic.partitions {
            part.iter_from(part.base()).for_each(|m| see(m.id));
            part.pending_acks.iter().for_each(|a| see(a.2));
        }
        topic.parked.iter().for_each(|p| see(p.msg.id));
        for &g in &topic.groups {
            let group = &self.groups[g as usize];
            if !matches!(group.store, Store::Log(_)) {
                // A log group's messages are the partitions' retained entries, seen above.
                self.model_held(group, &mut see);
            }
            if let Some(r) = &group.reseq {
                r.held().for_each(|m| see(m.id));
            }
            for i in group.instances() {
                let inst = &self.instances[i as usize];
                for w in inst.work.iter().chain(&inst.prefetched) {
                    see(w.msg.id);
                }
                inst.pending.iter().for_each(|a| see(a.msg.id));
            }
            self.kept_dead_letters(g).for_each(&mut see);
        }
        for (g, m) in self.parked() {
            if self.groups[g].topic == t {
                see(m.id);
            }
        }
        for prod in self.producers.iter().filter(|p| p.topic == t) {
            prod.inflight.keys().for_each(|&id| see(id));
            prod.waiting.iter().for_each(|&id| see(id));
            prod.unresolved.ids().for_each(&mut see);
        }
        self.patterns_live(t, &mut see);
        if self.trace_key != super::trace::UNTRACED && self.trace_key >> 32 == u64::from(t) {
            see(self.trace_key as u32);
        }
        (low, looked)
    }

    /// Bytes held per message and per copy by the windowed tables (ledgers, topic flags,
    /// drop reasons, dedup marks): what must not grow with the run's length.
    pub(super) fn window_bytes(&self) -> usize {
        let ledgers: usize = self.groups.iter().map(|g| g.ledger.resident_bytes()).sum();
        let flags: usize = self.topics.iter().map(|t| t.flags.resident_bytes()).sum();
        ledgers + flags + self.drops.resident_bytes() + self.idempotence_resident_bytes()
    }
}
