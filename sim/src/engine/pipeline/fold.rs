//! The services' per-message tables under the windowed ledgers: what they reference by
//! message id (so that the window keeps it), and how a folded prefix of a group's copies
//! is counted into the `lineage` figures and forgotten.
//!
//! - An input in an open transaction (`pending`) is live: its commit publishes outputs.
//! - Every output of an input not folded yet is live: a redelivery of the input
//!   publishes the same output messages again (`rebuild`). A folded input is final, so
//!   its outputs are only referenced by the system itself (queues, logs, producers).
//! - The end-of-run commit's `unsent` outputs are in the system for the census.
//!
//! Lineage (a message's parent, path, order and birth) is read only for a message being
//! applied, republished or answered, all live; a folded message's is forgotten.

use super::{Lineage, NONE, Output};
use crate::engine::Engine;
use crate::ledger::Class;
use std::collections::VecDeque;

/// A topic's lineage from message `base` on: a folded message is final, so nothing
/// asks where it came from any more.
#[derive(Clone, Debug, Default)]
pub(super) struct Lineages {
    base: u32,
    pub(super) v: VecDeque<Lineage>,
}

impl Lineages {
    /// Message `id`'s lineage (none for a topic no service publishes to).
    pub(super) fn get(&self, id: u32) -> Option<&Lineage> {
        // An untracked topic's base stays 0: `None`, as for every message.
        assert!(id >= self.base, "lineage of message {id}, folded");
        self.v.get((id - self.base) as usize)
    }

    pub(super) fn at(&self, id: u32) -> &Lineage {
        self.get(id).expect("a derived message's lineage")
    }

    /// Forgets the entries below `below`.
    pub(super) fn forget_below(&mut self, below: u32) {
        let n = below.saturating_sub(self.base).min(self.v.len() as u32);
        self.v.drain(..n as usize);
        self.base += n;
        shrink(&mut self.v);
    }
}

/// Gives back what a deque no longer needs after its front was drained, so that a burst
/// does not stay resident for the rest of the run.
pub(in crate::engine) fn shrink<T>(v: &mut VecDeque<T>) {
    if v.capacity() > 4 * v.len().max(1024) {
        v.shrink_to(2 * v.len());
    }
}

impl Output {
    /// Of inputs `ids` of a group with `ledger`: those with outputs published that the
    /// census does not count processed (outputs of an aborted transaction that got out).
    fn orphans_in(&self, ledger: &crate::ledger::Ledger, ids: std::ops::Range<u32>) -> u64 {
        let from = ids.start.max(self.children_base);
        let to = ids.end.min(self.children_base + self.children.len() as u32);
        (from..to)
            .filter(|&id| {
                self.child(id) != NONE && !matches!(ledger.class(id), Class::Processed(_))
            })
            .count() as u64
    }
}

impl Engine {
    /// Inputs `ids` of group `g` whose outputs `j` must have been published: the
    /// processed ones the output selects (in the census's sense of processed).
    pub(super) fn expected_in(&self, g: usize, j: usize, ids: std::ops::Range<u32>) -> u64 {
        let ledger = &self.groups[g].ledger;
        let o = &self.pipeline.outputs[g][j];
        ids.filter(|&id| {
            ledger.addressed(id)
                && matches!(ledger.class(id), Class::Processed(_))
                && self
                    .pipeline
                    .selected(o, j, id, |p| self.sent_request(p, id))
        })
        .count() as u64
    }

    /// Inputs `ids` of group `g` with outputs `j` published yet not processed.
    pub(super) fn orphans_in(&self, g: usize, j: usize, ids: std::ops::Range<u32>) -> u64 {
        self.pipeline.outputs[g][j].orphans_in(&self.groups[g].ledger, ids)
    }

    /// Group `g`'s copies from its ledger's base to `to` are about to be folded (the
    /// ledger still has them): their `lineage` figures are counted, their outputs'
    /// record forgotten, and so is the lineage of its topic's messages below `to`.
    pub(in crate::engine) fn fold_pipeline(&mut self, g: u32, to: u32) {
        if !self.pipeline.on {
            return;
        }
        let (gi, t) = (g as usize, self.groups[g as usize].topic);
        let from = self.groups[gi].ledger.base();
        for j in 0..self.pipeline.outputs[gi].len() {
            let expected = self.expected_in(gi, j, from..to);
            let orphans = self.orphans_in(gi, j, from..to);
            let o = &mut self.pipeline.outputs[gi][j];
            o.folded_inputs.0 += expected;
            o.folded_inputs.1 += orphans;
            let n = to
                .saturating_sub(o.children_base)
                .min(o.children.len() as u32);
            o.children.drain(..n as usize);
            o.children_base = o.children_base.max(to);
            shrink(&mut o.children);
        }
        if self.pipeline.tracked[t as usize] {
            self.pipeline.lineage[t as usize].forget_below(to);
        }
    }

    /// Topic `t`, which no group consumes, has nothing live below `below`: its lineage
    /// there is forgotten.
    pub(in crate::engine) fn forget_lineage(&mut self, t: u32, below: u32) {
        if self.pipeline.on {
            self.pipeline.lineage[t as usize].forget_below(below);
        }
    }

    /// Message ids of topic `t` the services may still bring back or count in the
    /// system: inputs in open transactions, outputs of inputs not folded, unsent outputs.
    pub(in crate::engine) fn pipeline_live(&self, t: u32, see: &mut impl FnMut(u32)) {
        let pl = &self.pipeline;
        if !pl.on {
            return;
        }
        for (g, outs) in pl.outputs.iter().enumerate() {
            if self.groups[g].topic == t {
                pl.pending[g].keys().for_each(|&id| see(id));
            }
            for o in outs {
                if self.producers[o.producer as usize].topic == t {
                    o.children
                        .iter()
                        .filter(|&&c| c != NONE)
                        .for_each(|&c| see(c));
                }
            }
        }
        pl.unsent
            .iter()
            .filter(|&&(u, _)| u == t)
            .for_each(|&(_, id)| see(id));
    }

    /// The lowest parent among topic `t`'s messages whose lineage is kept and whose path
    /// ends at group `hop` (any, when `None`): the oldest input a reply kept may still
    /// answer. `u32::MAX` when none.
    pub(in crate::engine) fn lowest_kept_parent(&self, t: u32, hop: Option<u32>) -> u32 {
        let pl = &self.pipeline;
        if !pl.on {
            return u32::MAX;
        }
        pl.lineage[t as usize]
            .v
            .iter()
            .filter(|l| hop.is_none_or(|h| pl.paths[l.path as usize].1 == h))
            .map(|l| l.parent)
            .min()
            .unwrap_or(u32::MAX)
    }

    /// Entries the services hold per message: (lineage, outputs' records).
    pub(in crate::engine) fn pipeline_resident(&self) -> (usize, usize) {
        let pl = &self.pipeline;
        let lineage = pl.lineage.iter().map(|l| l.v.len()).sum();
        let children = pl.outputs.iter().flatten().map(|o| o.children.len()).sum();
        (lineage, children)
    }
}
