//! The patterns under the windowed ledgers (`engine/window.rs`): what their state still
//! references by message id, so that the window never folds a copy they may bring back,
//! and how their per-message tables forget (or count) what a fold made final.
//!
//! What each pattern holds, and why the rest is covered:
//! - services (`pipeline/fold.rs`): inputs in open transactions, the outputs of every
//!   input not folded yet (a redelivery republishes them), the end-of-run's unsent ones.
//!   The lineage of a folded message is never read again.
//! - database services and the outbox relay (`outbox.rs`): every change's event while its
//!   round trips are under way, and the outbox rows (the relay's batches are rows). Once
//!   sent, a message is the producer's (`inflight`, seen by the window) and then the
//!   broker's.
//! - requesters (`reqreply.rs`): only request ids, never a copy; a request's ids are
//!   kept while its figures may still be counted (folded requests' are), and a timed-out
//!   request while a reply for it may still come (its request or a kept reply's lineage
//!   not folded).
//! - sagas (`saga.rs`): commands and replies are ordinary messages of their queues; the
//!   orchestrator and the services hold (saga, step) by command id, kept while a
//!   command or a reply kept answers it; a saga's run while one of its commands is kept
//!   or it is in progress.
//! - dead letters (`idempotence.rs`) and protection (`protect.rs`): see there.

use super::super::Engine;
use super::super::pipeline::Role;
use super::super::{outbox, protect, reqreply, saga};

/// Entries the patterns' tables hold, each of which would grow with the run's length
/// were finished requests, sagas, transactions and lineage not forgotten.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PatternRetained {
    /// Services: lineage entries (one per message of a topic they publish to).
    pub lineage: usize,
    /// Services: outputs' records, one per input.
    pub outputs: usize,
    /// Requesters: request ids kept for the lineage figures.
    pub requests: usize,
    /// Requesters: timed-out requests a late reply may still answer.
    pub timed_out: usize,
    /// Sagas: runs kept.
    pub saga_runs: usize,
    /// Sagas: commands' (saga, step) records.
    pub saga_commands: usize,
    /// Database services: round trips under way.
    pub db_round_trips: usize,
    /// Outbox rows.
    pub outbox_rows: usize,
    /// Dead letters kept for a redrive.
    pub dead_letters: usize,
    /// Protection: hanging marks and failure histories.
    pub protection: usize,
}

impl Engine {
    /// Sees every message id of topic `t` a pattern may still bring back.
    pub(in crate::engine) fn patterns_live(&self, t: u32, see: &mut impl FnMut(u32)) {
        self.pipeline_live(t, see);
        outbox::services_live(self.pattern_view(), t, see);
    }

    /// Group `g`'s copies below `below` are about to be folded (its ledger still has
    /// them): the patterns count what they need of them and forget them.
    pub(in crate::engine) fn fold_patterns(&mut self, g: u32, below: u32) {
        let ledger = &self.groups[g as usize].ledger;
        let to = below.min(u32::try_from(ledger.len()).unwrap_or(u32::MAX) & !63);
        if to <= ledger.base() {
            return;
        }
        let t = self.groups[g as usize].topic;
        self.fold_pipeline(g, to);
        protect::forget_folded(self.pattern(), g, t, to);
        if let Some(&Role::SagaService(s, k)) = self.pipeline.role.get(g as usize) {
            // The replies kept of this step's service may still answer commands this old.
            let orchestrator = self
                .pipeline
                .role
                .iter()
                .position(|&r| r == Role::Orchestrator(s));
            let replies = orchestrator.map_or(u32::MAX, |o| {
                self.lowest_kept_parent(self.groups[o].topic, Some(g))
            });
            saga::forget_commands(self.pattern(), s, k, to.min(replies));
        }
        if self.requesters.is_empty() {
            return;
        }
        // Every group of the topic counts the requests in this fold: only those folded
        // by an earlier one are forgotten.
        let requests = self.topics[t as usize]
            .groups
            .iter()
            .map(|&h| self.groups[h as usize].ledger.base())
            .min()
            .unwrap_or(0);
        for p in 0..self.requesters.len() as u32 {
            if self.requesters[p as usize].is_none() || self.producers[p as usize].topic != t {
                continue;
            }
            let replies = self
                .pipeline
                .role
                .iter()
                .position(|&r| r == Role::Requester(p))
                .map_or(u32::MAX, |h| {
                    self.lowest_kept_parent(self.groups[h].topic, None)
                });
            reqreply::forget_requests(self.pattern(), p, requests, replies);
        }
    }

    /// Entries held by each pattern table that used to grow with every message.
    #[doc(hidden)]
    #[must_use]
    pub fn pattern_retained(&self) -> PatternRetained {
        let v = self.pattern_view();
        let (lineage, outputs) = self.pipeline_resident();
        let (requests, timed_out) = (0..self.requesters.len() as u32)
            .map(|p| reqreply::requester_resident(v, p))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let (saga_runs, saga_commands) = saga::saga_resident(v);
        let (db_round_trips, outbox_rows) = outbox::services_resident(v);
        let (hang, histories) = protect::protection_resident(v);
        PatternRetained {
            lineage,
            outputs,
            requests,
            timed_out,
            saga_runs,
            saga_commands,
            db_round_trips,
            outbox_rows,
            dead_letters: self.dead_letters_kept(),
            protection: hang + histories,
        }
    }
}
