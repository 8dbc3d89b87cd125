//! Dropping copies (`drop_copy`, `drop_message`), and why they were dropped. The reason
//! is kept per copy (one byte, and only for groups that drop anything), so the summary
//! counts by reason exactly the copies whose final class is `dropped`: a copy dropped and
//! then processed anyway (a late resend appended after its producer gave up, say) is
//! processed, not a drop, and the reasons always sum to `dropped`.

use super::Engine;
use crate::ledger::Class;
use crate::time::SimTime;
use std::collections::BTreeMap;

/// Drop reasons by copy.
#[derive(Debug, Default)]
pub(super) struct DropReasons {
    /// The reasons seen so far; a copy stores its reason's index plus one.
    names: Vec<&'static str>,
    /// By group: the reasons of its copies not folded yet.
    by_group: Vec<Codes>,
    /// By reason: folded copies whose final class is dropped.
    folded: Vec<u64>,
}

/// One group's drop reasons by message id from `base` (0: never dropped), a window like
/// its ledger's.
#[derive(Debug, Default)]
struct Codes {
    base: u32,
    codes: Vec<u8>,
}

impl DropReasons {
    /// Copy `id` of group `g` was dropped for `reason`.
    pub(super) fn record(&mut self, g: u32, id: u32, reason: &'static str) {
        let k = self
            .names
            .iter()
            .position(|&n| n == reason)
            .unwrap_or_else(|| {
                self.names.push(reason);
                self.names.len() - 1
            });
        let code = u8::try_from(k + 1).expect("a handful of drop reasons");
        let g = g as usize;
        if self.by_group.len() <= g {
            self.by_group.resize_with(g + 1, Codes::default);
        }
        let c = &mut self.by_group[g];
        // A folded copy is final: nothing drops it again.
        let i = (id - c.base) as usize;
        if c.codes.len() <= i {
            c.codes.resize(i + 1, 0);
        }
        c.codes[i] = code;
    }

    /// Counts group `g`'s copies below `below` whose final class is dropped by reason,
    /// and forgets them; `ledger` is the group's, not folded past `below` yet.
    pub(super) fn fold(&mut self, g: u32, below: u32, ledger: &crate::ledger::Ledger) {
        let Some(c) = self.by_group.get_mut(g as usize) else {
            return;
        };
        if below <= c.base {
            return;
        }
        let n = ((below - c.base) as usize).min(c.codes.len());
        if self.folded.len() < self.names.len() {
            self.folded.resize(self.names.len(), 0);
        }
        for (i, &code) in c.codes[..n].iter().enumerate() {
            if code > 0 && ledger.class(c.base + i as u32) == Class::Dropped {
                self.folded[usize::from(code) - 1] += 1;
            }
        }
        c.codes.drain(..n);
        c.base = below;
        let keep = 2 * c.codes.len().max(crate::ledger::FOLD_EVERY as usize);
        if c.codes.capacity() > 2 * keep {
            c.codes.shrink_to(keep);
        }
    }

    /// Bytes held for the copies not folded yet.
    pub(super) fn resident_bytes(&self) -> usize {
        self.by_group.iter().map(|c| c.codes.capacity()).sum()
    }
}

impl Engine {
    /// Why copy `id` of group `g` was last dropped.
    pub(super) fn drop_reason(&self, g: u32, id: u32) -> &'static str {
        let code = self
            .drops
            .by_group
            .get(g as usize)
            .and_then(|c| c.codes.get(id.checked_sub(c.base)? as usize))
            .copied()
            .unwrap_or(0);
        code.checked_sub(1)
            .map_or("no reason recorded", |k| self.drops.names[usize::from(k)])
    }

    /// Copies whose final class is dropped, by the reason they were dropped for.
    pub(super) fn dropped_by_reason(&self) -> BTreeMap<String, u64> {
        let d = &self.drops;
        let mut counts = vec![0u64; d.names.len()];
        for (n, &folded) in counts.iter_mut().zip(&d.folded) {
            *n = folded;
        }
        for (g, c) in d.by_group.iter().enumerate() {
            let ledger = &self.groups[g].ledger;
            for (i, &code) in c.codes.iter().enumerate() {
                if code > 0 && ledger.class(c.base + i as u32) == Class::Dropped {
                    counts[usize::from(code) - 1] += 1;
                }
            }
        }
        d.names
            .iter()
            .zip(counts)
            .filter(|&(_, n)| n > 0)
            .map(|(name, n)| ((*name).to_string(), n))
            .collect()
    }

    /// Marks every copy of a message dropped; returns how many were newly dropped.
    /// `arrived` is when it reached the broker, `None` if it never did.
    pub(super) fn drop_message(
        &mut self,
        t: u32,
        id: u32,
        arrived: Option<SimTime>,
        reason: &'static str,
    ) -> u64 {
        let groups = self.topics[t as usize].groups.clone();
        groups
            .into_iter()
            .map(|g| u64::from(self.drop_copy(g, id, arrived, reason)))
            .sum()
    }

    /// Marks one copy dropped; true when it was not already. `arrived` is when it reached
    /// the broker; a copy that never did (refused, given up) never counted as in system.
    pub(super) fn drop_copy(
        &mut self,
        g: u32,
        id: u32,
        arrived: Option<SimTime>,
        reason: &'static str,
    ) -> bool {
        let group = &mut self.groups[g as usize];
        // A copy already processed stays processed: discarding it later loses nothing.
        // A group the message was not routed to has no copy to drop.
        if !group.ledger.addressed(id)
            || group.ledger.applied(id) > 0
            || group.ledger.class(id) == crate::ledger::Class::DeadLettered
        {
            return false;
        }
        let newly = group.ledger.drop_copy(id);
        if newly {
            group.metrics.dropped += 1;
        }
        // The broker discarding what it held: the copy leaves the system. A producer
        // giving up (no `arrived`) drops only provisionally: a send of it still on the
        // wire may land, and the copy then counts in, to be processed or dropped again
        // by the broker (which then says why).
        if let Some(at) = arrived {
            if !group.ledger.entered(id) {
                // Dropped by the broker before it counted in: a trim in the append that
                // brought it, made by a group served before this one's turn (an
                // at-most-once commit at fetch), skipping it for a group not yet joined.
                // Finished now, the append neither counts it in nor takes the drop for a
                // producer's (the copy was counted lost, and in the system).
                group.ledger.finish(id);
            } else if group.ledger.finish(id) {
                let at = self.topics[group.topic as usize].flags.exact(id, at);
                group.metrics.leave(self.now, at);
            }
        }
        self.drops.record(g, id, reason);
        if self.traced_copy(g, id) {
            self.trace_dropped(g, reason);
        }
        newly
    }
}
