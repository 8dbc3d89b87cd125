//! The narrow context a broker model's verbs act through. A model reads and changes its
//! groups and their instances, reads the topics' logs and the clock, schedules events,
//! and calls the few engine services listed here (start an instance, commit or rebalance,
//! count a drop, a dead letter or a loss, trace). Nothing else of the engine is in reach:
//! the engine itself is a private field of this module, so a model file cannot name it.
//!
//! A `Ctx` is passed by value (one pointer, as the engine reference was); a verb hands it
//! on with `re()`. Every method is an inlined forward: the context costs nothing at run
//! time.

use crate::consumer::{Group, Instance, PendingAck, Work};
use crate::engine::{Engine, Topic};
use crate::event::Event;
use crate::message::Msg;
use crate::time::{SimDuration, SimTime};

/// What a model's state-changing verbs may touch (see the module doc).
pub(in crate::engine) struct Ctx<'a> {
    e: &'a mut Engine,
}

/// The state a model changes, borrowed apart so that one verb can hold a group, its
/// instances and the topics' logs at once.
pub(in crate::engine) struct Parts<'a> {
    /// Every group, by engine index.
    pub groups: &'a mut [Group],
    /// Every instance, by engine index.
    pub instances: &'a mut [Instance],
    /// The topics, for their partitions' logs (read only).
    pub topics: &'a [Topic],
}

impl<'a> Ctx<'a> {
    /// The context over `e`; only the models' registry builds one.
    #[inline(always)]
    pub(super) fn new(e: &'a mut Engine) -> Self {
        Ctx { e }
    }

    /// The same context again, for a helper (the reborrow `&mut *` would be).
    #[inline(always)]
    pub fn re(&mut self) -> Ctx<'_> {
        Ctx { e: self.e }
    }

    /// The groups, instances and topics, borrowed apart.
    #[inline(always)]
    pub fn split(&mut self) -> Parts<'_> {
        Parts {
            groups: &mut self.e.groups,
            instances: &mut self.e.instances,
            topics: &self.e.topics,
        }
    }

    // The forwards every context shares (`engine/forwards.rs`).
    super::super::forwards::shared_forwards!();

    /// Every consumer instance.
    #[inline(always)]
    pub fn instances(&self) -> &[Instance] {
        &self.e.instances
    }

    /// The topics (their partitions' logs).
    #[inline(always)]
    pub fn topics(&self) -> &[Topic] {
        &self.e.topics
    }

    /// The broker's visibility timeout (a received message's lease).
    #[inline(always)]
    pub fn visibility_timeout(&self) -> SimDuration {
        self.e.broker.visibility_timeout
    }

    /// Receives after which the broker redrives a message to the dead-letter queue.
    #[inline(always)]
    pub fn max_receives(&self) -> u32 {
        self.e.broker.max_receives
    }

    /// Whether instance `i` is up and reachable.
    #[inline(always)]
    pub fn live(&self, i: u32) -> bool {
        self.e.live(i)
    }

    /// Log: spreads group `g`'s partitions over its live instances.
    #[inline(always)]
    pub fn rebalance(&mut self, g: u32) {
        self.e.rebalance(g);
    }

    /// Log: the partition instance `i` fetches from next, if any has a message for it.
    #[inline(always)]
    pub fn next_fetch(&mut self, i: u32) -> Option<u32> {
        self.e.next_fetch(i)
    }

    /// Log: partition `p` of group `g` may have a message to fetch.
    #[inline(always)]
    pub fn fetchable(&mut self, g: u32, p: u32) {
        self.e.fetchable(g, p);
    }

    /// Log: commits group `g`'s offset of partition `p` up to `to`.
    #[inline(always)]
    pub fn commit_partition(&mut self, g: u32, p: u32, to: u64) {
        self.e.commit_partition(g, p, to);
    }

    /// The message `w` in hand when group `g`'s instance crashed or was cut off:
    /// at-most-once took and committed it, so a crash loses it.
    #[inline(always)]
    pub fn lost_in_crash(&mut self, g: u32, w: &Work, lost_in_hand: bool) {
        self.e.lost_in_crash(g, w, lost_in_hand);
    }

    /// At-most-once copies a crashed instance of group `g` held beyond the one in hand:
    /// lost.
    #[inline(always)]
    pub fn lost_with_instance(&mut self, g: u32, held: &[Work]) {
        self.e.lost_with_instance(g, held);
    }

    /// Exactly-once: group `g`'s open transaction aborts, undoing `m`'s outputs.
    #[inline(always)]
    pub fn roll_back(&mut self, g: u32, m: Msg) {
        self.e.roll_back(g, m);
    }

    /// A stage's input `id` was committed: its outputs are final.
    #[inline(always)]
    pub fn stage_committed(&mut self, g: u32, id: u32) {
        self.e.stage_committed(g, id);
    }

    /// Whether a message trace is being recorded.
    #[inline(always)]
    pub fn tracing(&self) -> bool {
        self.e.tracing()
    }

    /// Whether group `g`'s copy `id` is the traced one.
    #[inline(always)]
    pub fn traced_copy(&self, g: u32, id: u32) -> bool {
        self.e.traced_copy(g, id)
    }

    /// Traces the traced copy's deletion by group `g`.
    #[inline(always)]
    pub fn trace_deleted(&mut self, g: u32, how: &str) {
        self.e.trace_deleted(g, how);
    }

    /// Traces group `g`'s batched acknowledgements, if the traced copy is among them.
    #[inline(always)]
    pub fn trace_acks(&mut self, g: u32, pending: &[PendingAck], how: &str) {
        self.e.trace_acks(g, pending, how);
    }
}
