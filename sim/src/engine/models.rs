//! Broker models: how a group's copies are handed to its instances, settled after
//! processing, given back when an instance leaves, and counted by the census. Each model
//! is one file implementing [`Model`]; `with_model!` is the one place that maps a
//! group's kind to its model (a `match`, so the per-message verbs are statically
//! dispatched and inlined, never a virtual call).
//!
//! Adding a model: a `GroupKind` variant (and the `broker.model` value that selects it),
//! a file under `models/` implementing `Model`, and one arm in `with_model!` (plus its line in
//! `kind_of`, which the compiler asks for).

mod amqp;
mod log;
mod pubsub;
mod queue;
mod sqs;

use super::Engine;
use crate::consumer::{Group, GroupKind, Instance, PendingAck, Work};
use crate::scenario::BrokerModel;

/// The verbs a broker model answers. Associated functions over the engine (rather than
/// methods on a model object) because every verb reads and writes engine state: the
/// group's store, its instances and the event queue.
pub(super) trait Model {
    /// The `broker.model` that selects this model.
    const BROKER: BrokerModel;
    /// Membership changes move partitions between members (a rebalance), and a silent
    /// member is noticed only when its session runs out; otherwise an instance simply
    /// competes for the next message.
    const REBALANCES: bool = false;
    /// The dashboard can rewind the group to an earlier offset.
    const REPLAYABLE: bool = false;
    /// The group's dead letters can be moved back to its queue.
    const REDRIVABLE: bool = false;

    /// SQS: a receive leases the message for the visibility timeout (it comes back when
    /// the lease runs out, not when its holder gives up), and a message received
    /// `max_receives` times is redriven to the dead-letter queue instead.
    const LEASED: bool = false;
    /// Pub/sub: a message is handed over for good when taken.
    const REMOVED: bool = false;
    /// AMQP: a delivered message no longer counts against the queue length limit.
    const READY_ONLY: bool = false;

    /// The run starts: the group's members get their partitions, or wait on (or poll)
    /// its queue.
    fn start(e: &mut Engine, g: u32);
    /// Fetch or receive the next message for idle instance `i`, if there is one.
    fn take(e: &mut Engine, i: u32) -> Option<Work>;
    /// Instance `i` found nothing to take: wait (long poll) or poll again later.
    fn idle(e: &mut Engine, i: u32);
    /// Acknowledge `w` after processing (or dead-lettering): commit its offset or
    /// delete it, now or at the next periodic commit.
    fn settle(e: &mut Engine, i: u32, w: Work);
    /// The periodic commit (`commit_interval`).
    fn commit(e: &mut Engine, g: u32);
    /// Nothing of the group's is waiting to be committed or to become visible again.
    fn settled(r: View, g: &Group) -> bool;
    /// The message `w` an instance of group `g` had in hand when it crashed
    /// (`lost_in_hand`) or was cut off (it goes on as a zombie). By default only
    /// at-most-once loses it; the rest comes back as the model's `leave` says.
    fn abandon(e: &mut Engine, g: u32, w: Work, lost_in_hand: bool) {
        e.lost_in_crash(g, &w, lost_in_hand);
    }
    /// Instance `i` left the group (crashed, cut off, or its session expired): what it
    /// held goes back to the queue, to the other members, or is lost. `work` is the
    /// message it had in hand, `pending` its unsent acknowledgements.
    fn leave(e: &mut Engine, i: u32, work: Option<Work>, pending: &[PendingAck]);
    /// Instance `i` is back in the group.
    fn rejoin(e: &mut Engine, i: u32);
    /// The end-of-run commit rule for a group that commits after processing.
    fn close(e: &mut Engine, g: u32);
    /// Calls `f` with the id of every copy the broker still holds for the group.
    fn held(r: View, g: &Group, f: impl FnMut(u32));
    /// The group's count against `capacity` (0 where the topic counts it instead).
    fn backlog(g: &Group) -> u64;
}

/// What the read-only verbs (`settled`, `held`) may look at: the topics' logs and the
/// instances, never the rest of the engine, so a census or a drain check cannot change
/// the run (and a model's reads are visible in its signature).
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    /// The topics, for their partitions' logs.
    pub topics: &'a [super::Topic],
    /// Every instance, by engine index.
    pub instances: &'a [Instance],
}

/// Runs `$body` with `$m` naming the model of group kind `$kind`: the registry.
macro_rules! with_model {
    ($kind:expr, $m:ident => $body:expr) => {
        match $kind {
            GroupKind::Log => {
                type $m = log::Log;
                $body
            }
            GroupKind::Sqs => {
                type $m = sqs::Sqs;
                $body
            }
            GroupKind::Amqp => {
                type $m = amqp::Amqp;
                $body
            }
            GroupKind::PubSub => {
                type $m = pubsub::PubSub;
                $body
            }
        }
    };
}

/// The group kind `broker.model` gives a topic's consumer groups.
pub(super) fn kind_of(model: BrokerModel) -> GroupKind {
    let kind = match model {
        BrokerModel::Log => GroupKind::Log,
        BrokerModel::Queue => GroupKind::Sqs,
        BrokerModel::Exchange => GroupKind::Amqp,
        BrokerModel::Pubsub => GroupKind::PubSub,
    };
    debug_assert_eq!(broker_of(kind), model, "registered to the wrong model");
    kind
}

/// The model's `broker.model`, read through the registry.
fn broker_of(kind: GroupKind) -> BrokerModel {
    with_model!(kind, M => M::BROKER)
}

/// Whether group kind `kind` rebalances on membership changes (see [`Model::REBALANCES`]).
pub(super) fn rebalances(kind: GroupKind) -> bool {
    with_model!(kind, M => M::REBALANCES)
}

/// Whether group kind `kind` leases what it hands out (see [`Model::LEASED`]).
pub(super) fn leased(kind: GroupKind) -> bool {
    with_model!(kind, M => M::LEASED)
}

/// Whether group kind `kind` hands a message over for good (see [`Model::REMOVED`]).
pub(super) fn removed_when_taken(kind: GroupKind) -> bool {
    with_model!(kind, M => M::REMOVED)
}

/// Whether the dashboard may replay group kind `kind` (see [`Model::REPLAYABLE`]).
pub(super) fn replayable(kind: GroupKind) -> bool {
    with_model!(kind, M => M::REPLAYABLE)
}

/// Whether group kind `kind` can redrive its dead letters (see [`Model::REDRIVABLE`]).
pub(super) fn redrivable(kind: GroupKind) -> bool {
    with_model!(kind, M => M::REDRIVABLE)
}

impl Engine {
    /// The narrow read-only context the models' `settled` and `held` see.
    fn view(&self) -> View<'_> {
        View {
            topics: &self.topics,
            instances: &self.instances,
        }
    }

    /// [`Model::start`] for group `g`.
    pub(super) fn model_start(&mut self, g: u32) {
        with_model!(self.groups[g as usize].kind, M => M::start(self, g));
    }

    /// [`Model::take`] for instance `i`'s group.
    #[inline]
    pub(super) fn model_take(&mut self, i: u32) -> Option<Work> {
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        with_model!(kind, M => M::take(self, i))
    }

    /// [`Model::idle`] for instance `i`'s group.
    #[inline]
    pub(super) fn model_idle(&mut self, i: u32) {
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        with_model!(kind, M => M::idle(self, i));
    }

    /// [`Model::settle`] for instance `i`'s group.
    #[inline]
    pub(super) fn model_settle(&mut self, i: u32, w: Work) {
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        with_model!(kind, M => M::settle(self, i, w));
    }

    /// [`Model::commit`] for group `g`.
    pub(super) fn model_commit(&mut self, g: u32) {
        with_model!(self.groups[g as usize].kind, M => M::commit(self, g));
    }

    /// [`Model::settled`] for group `g`.
    pub(super) fn model_settled(&self, g: &Group) -> bool {
        with_model!(g.kind, M => M::settled(self.view(), g))
    }

    /// [`Model::abandon`] for group `g`.
    pub(super) fn model_abandon(&mut self, g: u32, w: Work, lost_in_hand: bool) {
        with_model!(self.groups[g as usize].kind, M => M::abandon(self, g, w, lost_in_hand));
    }

    /// [`Model::leave`] for instance `i`'s group.
    pub(super) fn model_leave(&mut self, i: u32, work: Option<Work>, pending: &[PendingAck]) {
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        with_model!(kind, M => M::leave(self, i, work, pending));
    }

    /// [`Model::rejoin`] for instance `i`'s group.
    pub(super) fn model_rejoin(&mut self, i: u32) {
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        with_model!(kind, M => M::rejoin(self, i));
    }

    /// [`Model::close`] for group `g`.
    pub(super) fn model_close(&mut self, g: u32) {
        with_model!(self.groups[g as usize].kind, M => M::close(self, g));
    }

    /// [`Model::held`] for group `g`.
    pub(super) fn model_held(&self, g: &Group, f: impl FnMut(u32)) {
        with_model!(g.kind, M => M::held(self.view(), g, f));
    }

    /// [`Model::backlog`] for group `g`.
    #[inline]
    pub(super) fn model_backlog(&self, g: u32) -> u64 {
        let group = &self.groups[g as usize];
        with_model!(group.kind, M => M::backlog(group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `broker.model` value the scenario parser accepts.
    const BROKERS: [&str; 4] = ["log", "queue", "exchange", "pubsub"];

    #[test]
    fn every_broker_model_is_registered_to_the_model_that_declares_it() {
        for name in BROKERS {
            let model: BrokerModel =
                serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                    serde::de::value::Error,
                >::new(name))
                .expect("a broker model");
            assert_eq!(broker_of(kind_of(model)), model, "{name}");
        }
    }
}
