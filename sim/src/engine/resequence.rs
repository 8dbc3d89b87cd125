//! The engine's side of a group's resequencer (`resequence = true`, state in
//! `crate::resequencer`): holding a processed message whose predecessor is missing,
//! applying held messages once they are due, the gap-timeout timer (one per group, armed
//! for the earliest deadline), and the hooks where a copy leaves for good (dead-lettered
//! or dropped) so its successors need not wait. A group without a resequencer pays one
//! `Option` check per applied message and nothing else.
//!
//! The buffer is durable group state, like a Kafka Streams state store: a held message is
//! acknowledged to the broker as processed, survives instance crashes, and counts as
//! in flight (delivered, not yet applied) until it is applied.

use super::Engine;
use crate::event::Event;
use crate::message::Msg;
use crate::resequencer::Offer;

impl Engine {
    /// True when group `g`'s resequencer holds `msg` instead of letting it apply now.
    #[inline]
    pub(super) fn resequence_holds(&mut self, g: u32, msg: Msg) -> bool {
        let now = self.now;
        let Some(r) = self.groups[g as usize].reseq.as_mut() else {
            return false;
        };
        let mut due = Vec::new();
        let offer = r.offer(msg, now, &mut due);
        if offer == Offer::Apply {
            return false;
        }
        self.arm_gap_timer(g);
        self.release_held(g, due);
        true
    }

    /// `msg` was just applied: held successors now in sequence follow it.
    #[inline]
    pub(super) fn resequence_applied(&mut self, g: u32, msg: Msg) {
        let crate::consumer::Group { reseq, ledger, .. } = &mut self.groups[g as usize];
        let Some(r) = reseq.as_mut() else {
            return;
        };
        let mut due = Vec::new();
        r.applied(msg, &mut due);
        if r.released_len() >= r.prune_at {
            r.prune(|id| ledger.committed(id));
        }
        self.release_held(g, due);
    }

    /// Exactly-once: `m`'s application was rolled back. What it released was applied in
    /// the same transaction, so it is undone too and held again; the key's sequence goes
    /// back to `m`, whose replay releases them once more.
    pub(super) fn resequence_rolled_back(&mut self, g: u32, m: Msg) {
        let now = self.now;
        let crate::consumer::Group {
            reseq,
            ledger,
            metrics,
            order,
            ..
        } = &mut self.groups[g as usize];
        let Some(r) = reseq.as_mut() else {
            return;
        };
        let mut rehold = Vec::new();
        for x in r.take_released(m.id) {
            // Its own partition may since have committed its hold, never this effect.
            if ledger.applied(x.id) == 1 {
                ledger.unapply(x.id);
                ledger.unsample(x.id);
                metrics.processed -= 1;
                metrics.rolled_back_samples += 1;
                if let Some(high) = order.get_mut(x.key) {
                    *high = (*high).min(x.seq);
                }
                rehold.push(x);
            }
        }
        let mut due = Vec::new();
        r.rolled_back(m, &rehold, now, &mut due);
        if self.is_stage(g) {
            // Undone with the transaction that released them: so are their outputs.
            for x in &rehold {
                self.stage_aborted(g, x.id);
            }
        }
        self.arm_gap_timer(g);
        self.release_held(g, due);
    }

    /// Group `g`'s copy of `msg` will never be applied (dead-lettered or dropped).
    pub(super) fn resequence_gone(&mut self, g: u32, msg: Msg) {
        let Some(r) = self.groups[g as usize].reseq.as_mut() else {
            return;
        };
        let mut due = Vec::new();
        r.gone(msg, &mut due);
        self.release_held(g, due);
    }

    /// Every copy of `msg` in topic `t` was dropped (refused, or given up by its producer).
    pub(super) fn resequence_dropped(&mut self, t: u32, msg: Msg) {
        for k in 0..self.topics[t as usize].groups.len() {
            let g = self.topics[t as usize].groups[k];
            self.resequence_gone(g, msg);
        }
    }

    /// The earliest held message of group `g` may have waited long enough.
    pub(super) fn on_gap_timeout(&mut self, g: u32) {
        let now = self.now;
        let Some(r) = self.groups[g as usize].reseq.as_mut() else {
            return;
        };
        r.timer_armed = false;
        let mut due = Vec::new();
        r.expire(now, &mut due);
        self.arm_gap_timer(g);
        self.release_held(g, due);
    }

    /// Schedules the group's one gap-timeout event for its earliest deadline. Deadlines
    /// are set in time order, so the earliest one never moves earlier.
    fn arm_gap_timer(&mut self, g: u32) {
        let Some(r) = self.groups[g as usize].reseq.as_mut() else {
            return;
        };
        if r.timer_armed {
            return;
        }
        if let Some(at) = r.next_deadline() {
            r.timer_armed = true;
            self.queue
                .push(at.max(self.now), Event::GapTimeout { group: g });
        }
    }

    /// Applies held messages that are due, in order.
    fn release_held(&mut self, g: u32, due: Vec<Msg>) {
        for m in due {
            self.apply_copy(g, m);
        }
    }
}

impl Engine {
    /// Gaps skipped by every group's resequencer (`[expect] gaps_skipped`).
    pub(super) fn gaps_skipped(&self) -> u64 {
        self.groups
            .iter()
            .filter_map(|g| g.reseq.as_ref())
            .map(|r| r.stats.gaps_skipped + r.stats.skipped_full)
            .sum()
    }
}
