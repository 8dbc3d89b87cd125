//! The plain path's consume handlers for a run on the generic path: most of what sends a
//! run down the generic path (an asynchronous network, `acks = "all"`, replication,
//! idempotent producers, one group that is exactly-once) is the produce side's or one
//! group's business, yet it cost every copy of every group the generic completion and
//! take. A group none of whose own features the lean completion and take leave out is
//! served by them (`Instance::lean`) while the run's produce side stays generic: the
//! copies it consumes are most of a fan-out run's events (food-delivery's six groups).
//!
//! The one thing the consume side does with the network is a fetch's hop, which
//! `lane::begin` draws as `take_next` does (an instantaneous network draws nothing, so
//! the plain path's streams are as they were). Like the plain path, the lean handlers
//! are off while a fault is under way and come back once the faults are over, if every
//! fault so far is one they can come back from (`resume_plain`); a trace or
//! `force_generic` turns them off for good. What they leave is the generic path's, and
//! the tests compare the two (`MQLAB_GENERIC_PATH=1` forces the generic handlers for
//! every group).

use super::super::{Engine, models};
use super::FORCE_GENERIC_ENV;
use crate::consumer::Store;
use crate::scenario::{Delivery, OnFull};

impl Engine {
    /// Whether nothing beyond single groups keeps the run's consumers off the lean
    /// handlers: no trace, no poison or service publishing, none of the patterns that
    /// hook into applying or settling a copy, no watermarks nor spill (whose producers
    /// resume as consumers drain), every group joined.
    pub(in crate::engine) fn lean_run_fits(&self) -> bool {
        let producers = (0..self.producers.len() as u32)
            .all(|p| self.producers[p as usize].poison.is_empty() && !self.is_service(p));
        let patterns = !self.pipeline.on
            && !self.pipeline.roles_on
            && self.requesters.is_empty()
            && self.scenario.sagas.is_empty()
            && !self.protection.on
            && self.payload.is_none()
            && self.classes.is_empty();
        producers
            && patterns
            && self.broker.high_watermark.is_none()
            && self.broker.on_full != OnFull::Spill
            && self.unjoined == 0
            && !self.tracing()
            && std::env::var_os(FORCE_GENERIC_ENV).is_none_or(|v| v.is_empty() || v == "0")
    }

    /// Whether group `g`'s own features are all ones the lean completion and take serve:
    /// exactly-once only on a log (`lean_applied_before`), no idempotent consumer's store,
    /// not a pub/sub subscriber, on a topic without retention (whose trims the settle
    /// leaves to the generic `trim`) that is not an SQS FIFO queue.
    pub(in crate::engine) fn lean_group_fits(&self, g: u32) -> bool {
        let group = &self.groups[g as usize];
        let topic = &self.topics[group.topic as usize];
        group.joined
            && (group.delivery != Delivery::ExactlyOnce || matches!(group.store, Store::Log(_)))
            && !self.dedup_active(g)
            && !models::to_subscriber(group.kind)
            && topic.retention.is_none()
            && !topic.fifo
    }

    /// An exactly-once log group's completion of a copy the group applied already (its
    /// earlier application committed, or in this partition's own open transaction): it
    /// is skipped the generic way, whole (true). Anything else (false, nothing changed)
    /// completes as the plain path completes, but for the settle (`plain_service_done`).
    #[inline(always)]
    pub(in crate::engine) fn lean_applied_before(&mut self, i: u32) -> bool {
        let g = self.instances[i as usize].group;
        self.groups[g as usize].delivery == Delivery::ExactlyOnce && self.lean_skipped(i, g)
    }

    /// `lean_applied_before` once the group is known to be exactly-once (out of line: the
    /// other groups pay for the test only; with a call on every copy instead,
    /// food-delivery ran more instructions than with payments on the generic path).
    #[inline(never)]
    fn lean_skipped(&mut self, i: u32, g: u32) -> bool {
        let w = self.instances[i as usize]
            .work
            .as_ref()
            .expect("work in hand");
        if self.groups[g as usize].ledger.applied(w.msg.id) == 0 {
            return false;
        }
        self.on_service_done(i);
        true
    }

    /// Serves every fitting group's instances by the lean handlers (`on`), or none.
    pub(in crate::engine) fn set_lean(&mut self, on: bool) {
        self.lean = on;
        for g in 0..self.groups.len() as u32 {
            let fits = on && self.lean_group_fits(g);
            for i in self.groups[g as usize].instances() {
                self.instances[i as usize].lean = fits;
            }
        }
    }

    /// Whether instance `i`'s group is served by the lean handlers on the generic path
    /// (tests check that they run where expected).
    #[doc(hidden)]
    #[must_use]
    pub fn lean_instance(&self, i: u32) -> bool {
        self.instances[i as usize].lean
    }

    /// A completion on the generic path by an instance the lean handlers serve (out of
    /// line: the generic dispatch stays as it was for every other event).
    #[inline(never)]
    pub(in crate::engine) fn lean_service_done(&mut self, i: u32) {
        self.plain_service_done::<true>(i);
    }
}
