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
mod ctx;
mod log;
mod pubsub;
mod queue;
pub(super) use queue::delete_processed;
mod sqs;

use super::Engine;
use super::plain::Taken;
use crate::consumer::{Group, GroupKind, Instance, ModelTraits, PendingAck, Work};
use crate::scenario::{BrokerModel, OnFailure};
use ctx::{Ctx, Parts};

/// The verbs a broker model answers. Associated functions (rather than methods on a model
/// object) because every verb reads and writes state the engine holds: the group's store,
/// its instances and the event queue. The verbs that change it act through a [`Ctx`],
/// which reaches only that state and a few engine services; the read-only ones see a
/// [`View`].
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

    /// A group's store is its view of the topic's partitions (rather than a queue of its
    /// own).
    const PARTITIONED: bool = false;
    /// What a message that failed every retry becomes when `on_failure` is not set.
    const ON_FAILURE: OnFailure = OnFailure::DeadLetter;
    /// The broker keeps nothing to redeliver: every group is at-most-once whatever its
    /// `delivery` says.
    const AT_MOST_ONCE: bool = false;
    /// A consumer with `wait_time = 0` short-polls (receives return empty and it polls
    /// again after `poll_interval`), and the census counts empty receives.
    const POLLS: bool = false;
    /// A publish is written straight to the subscriber's output buffer (if it is
    /// connected and has room) instead of joining a queue the broker keeps.
    const TO_SUBSCRIBER: bool = false;
    /// The broker pushes messages to its consumers as they arrive (`dispatch`), rather
    /// than waking one that waits on the queue.
    const PUSHES: bool = false;
    /// A queue length limit's drop-head overflow dead-letters the head when the group
    /// dead-letters its failures (RabbitMQ's dead-letter exchange), instead of dropping it.
    const DEAD_LETTERS_OVERFLOW: bool = false;
    /// The trace's event for a copy joining the group, and its detail.
    const ENQUEUED: (&'static str, &'static str) = ("enqueued", "enqueued in the group's queue");

    /// The run starts: the group's members get their partitions, or wait on (or poll)
    /// its queue.
    fn start(e: Ctx, g: u32);
    /// Fetch or receive the next message for idle instance `i`, if there is one.
    fn take(e: Ctx, i: u32) -> Option<Work>;
    /// `take` for idle instance `inst` is one `queue::receive` now (nothing sent ahead to
    /// serve, room for exactly one): the plain path then receives inline.
    #[inline(always)]
    fn single_receive(_: &Group, _: &Instance) -> bool {
        false
    }
    /// Instance `i` found nothing to take: wait (long poll) or poll again later.
    fn idle(e: Ctx, i: u32);
    /// Acknowledge `w` after processing (or dead-lettering): commit its offset or
    /// delete it, now or at the next periodic commit.
    fn settle(e: Ctx, i: u32, w: Work);
    /// The periodic commit (`commit_interval`).
    fn commit(e: Ctx, g: u32);
    /// Nothing of the group's is waiting to be committed or to become visible again.
    fn settled(r: View, g: &Group) -> bool;
    /// The message `w` an instance of group `g` had in hand when it crashed
    /// (`lost_in_hand`) or was cut off (it goes on as a zombie). By default only
    /// at-most-once loses it; the rest comes back as the model's `leave` says.
    fn abandon(mut e: Ctx, g: u32, w: Work, lost_in_hand: bool) {
        e.lost_in_crash(g, &w, lost_in_hand);
    }
    /// Instance `i` left the group (crashed, cut off, or its session expired): what it
    /// held goes back to the queue, to the other members, or is lost. `work` is the
    /// message it had in hand, `pending` its unsent acknowledgements.
    fn leave(e: Ctx, i: u32, work: Option<Work>, pending: &[PendingAck]);
    /// Instance `i` is back in the group.
    fn rejoin(e: Ctx, i: u32);
    /// Messages were added to the group's queue: push them to the consumers with room.
    /// Only a model that `PUSHES` is asked; the others have nothing to do.
    #[inline]
    fn dispatch(_: Ctx, _: u32) {}
    /// The end-of-run commit rule for a group that commits after processing.
    fn close(e: Ctx, g: u32);
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

/// What the group's model declares about groups of kind `kind`, for building them.
pub(super) fn traits(kind: GroupKind) -> ModelTraits {
    with_model!(kind, M => ModelTraits {
        kind,
        partitioned: M::PARTITIONED,
        on_failure: M::ON_FAILURE,
        at_most_once: M::AT_MOST_ONCE,
        polls: M::POLLS,
    })
}

/// Whether a publish goes straight to the subscriber (see [`Model::TO_SUBSCRIBER`]).
#[inline]
pub(super) fn to_subscriber(kind: GroupKind) -> bool {
    with_model!(kind, M => M::TO_SUBSCRIBER)
}

/// Whether the queue's length limit counts ready messages only (see
/// [`Model::READY_ONLY`]).
#[inline(always)]
pub(super) fn ready_only(kind: GroupKind) -> bool {
    with_model!(kind, M => M::READY_ONLY)
}

/// Whether instance `inst` of `group` takes its next message by one receive of its own
/// that leaves the message in the queue until it is acknowledged: SQS with `batch = 1`
/// (a leased receive), RabbitMQ with `prefetch = 1` (unacknowledged). That is
/// `queue::receive`'s plain case, which the plain path's queue lane does on the parts
/// borrowed apart, leased or not (`leased`) and freeing room or not (`ready_only`) as
/// the model says; pub/sub, which hands a message over for good, takes the usual way.
#[inline(always)]
pub(super) fn takes_one_receive(group: &Group, inst: &Instance) -> bool {
    with_model!(group.kind, M => !M::REMOVED && M::single_receive(group, inst))
}

/// Whether the broker pushes to consumers (see [`Model::PUSHES`]).
#[inline]
pub(super) fn pushes(kind: GroupKind) -> bool {
    with_model!(kind, M => M::PUSHES)
}

/// Whether a drop-head overflow dead-letters (see [`Model::DEAD_LETTERS_OVERFLOW`]).
pub(super) fn dead_letters_overflow(kind: GroupKind) -> bool {
    with_model!(kind, M => M::DEAD_LETTERS_OVERFLOW)
}

/// Whether the group's consumers count empty receives (see [`Model::POLLS`]).
#[inline]
pub(super) fn counts_empty_receives(kind: GroupKind) -> bool {
    with_model!(kind, M => M::POLLS)
}

/// The trace's event and detail for a copy joining the group (see [`Model::ENQUEUED`]).
pub(super) fn enqueued(kind: GroupKind) -> (&'static str, &'static str) {
    with_model!(kind, M => M::ENQUEUED)
}

/// Whether group kind `kind` rebalances on membership changes (see [`Model::REBALANCES`]).
pub(super) fn rebalances(kind: GroupKind) -> bool {
    with_model!(kind, M => M::REBALANCES)
}

/// Whether group kind `kind` leases what it hands out (see [`Model::LEASED`]).
#[inline(always)]
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
        with_model!(self.groups[g as usize].kind, M => M::start(Ctx::new(self), g));
    }

    /// [`Model::take`] for instance `i`'s group.
    #[inline]
    pub(super) fn model_take(&mut self, i: u32) -> Option<Work> {
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        with_model!(kind, M => M::take(Ctx::new(self), i))
    }

    /// [`Model::idle`] for instance `i`'s group.
    #[inline]
    pub(super) fn model_idle(&mut self, i: u32) {
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        with_model!(kind, M => M::idle(Ctx::new(self), i));
    }

    /// [`Model::settle`] for instance `i`'s group.
    #[inline]
    pub(super) fn model_settle(&mut self, i: u32, w: Work) {
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        with_model!(kind, M => M::settle(Ctx::new(self), i, w));
    }

    /// The plain path's take where the model's `take` is one receive
    /// ([`Model::single_receive`]), into the instance's hands:
    /// the receive is inlined where its work is stored, not returned through memory
    /// from the model, and what the plain path reads of it comes back in registers.
    /// `None` where the model must take; `Some(None)` when there was nothing to receive.
    #[inline(always)]
    pub(super) fn queue_receive(&mut self, i: u32) -> Option<Option<Taken>> {
        let inst = &self.instances[i as usize];
        let group = &self.groups[inst.group as usize];
        let w = with_model!(group.kind, M => {
            if !M::single_receive(group, inst) {
                return None;
            }
            queue::receive::<M>(Ctx::new(self), i)
        });
        Some(w.map(|w| {
            let taken = Taken::of(&w);
            self.instances[i as usize].work = Some(w);
            taken
        }))
    }

    /// Redrives slot `slot` of queue group `g`, just taken off its visible line, to the
    /// dead-letter queue (`queue::receive`'s redrive, for the plain path's receive).
    pub(super) fn queue_redrive(&mut self, g: u32, slot: u32) {
        queue::redrive(Ctx::new(self), g, slot);
    }

    /// [`Model::settle`] of the queue models (all three settle the same way), for the
    /// plain path: no dispatch on the model, and the work read where it lies rather than
    /// copied into an argument.
    #[inline(always)]
    pub(super) fn queue_settle(&mut self, i: u32, w: &Work) {
        debug_assert!(
            self.groups[self.instances[i as usize].group as usize].kind != GroupKind::Log
        );
        queue::settle(Ctx::new(self), i, w);
    }

    /// [`Model::commit`] for group `g`.
    pub(super) fn model_commit(&mut self, g: u32) {
        with_model!(self.groups[g as usize].kind, M => M::commit(Ctx::new(self), g));
    }

    /// [`Model::settled`] for group `g`.
    pub(super) fn model_settled(&self, g: &Group) -> bool {
        with_model!(g.kind, M => M::settled(self.view(), g))
    }

    /// [`Model::abandon`] for group `g`.
    pub(super) fn model_abandon(&mut self, g: u32, w: Work, lost_in_hand: bool) {
        with_model!(self.groups[g as usize].kind, M => M::abandon(Ctx::new(self), g, w, lost_in_hand));
    }

    /// [`Model::leave`] for instance `i`'s group.
    pub(super) fn model_leave(&mut self, i: u32, work: Option<Work>, pending: &[PendingAck]) {
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        with_model!(kind, M => M::leave(Ctx::new(self), i, work, pending));
    }

    /// [`Model::rejoin`] for instance `i`'s group.
    pub(super) fn model_rejoin(&mut self, i: u32) {
        let kind = self.groups[self.instances[i as usize].group as usize].kind;
        with_model!(kind, M => M::rejoin(Ctx::new(self), i));
    }

    /// [`Model::dispatch`] for group `g`, whose model `PUSHES`.
    #[inline]
    pub(super) fn model_dispatch(&mut self, g: u32) {
        with_model!(self.groups[g as usize].kind, M => M::dispatch(Ctx::new(self), g));
    }

    /// `model_dispatch` for a group known to be the exchange's (the one model that
    /// pushes), where every message is sent: without a second look at the model.
    #[inline(always)]
    pub(super) fn amqp_dispatch(&mut self, g: u32) {
        debug_assert_eq!(self.groups[g as usize].kind, GroupKind::Amqp);
        amqp::Amqp::dispatch(Ctx::new(self), g);
    }

    /// [`Model::close`] for group `g`.
    pub(super) fn model_close(&mut self, g: u32) {
        with_model!(self.groups[g as usize].kind, M => M::close(Ctx::new(self), g));
    }

    /// SQS: group `g`'s earliest visibility timeout may have run out.
    pub(super) fn on_visibility(&mut self, g: u32) {
        sqs::on_visibility(Ctx::new(self), g);
    }

    /// Counts instance `i`'s empty receives while it waited (long polling), as it
    /// starts on a message.
    #[inline]
    pub(super) fn count_empty_receives(&mut self, i: u32) {
        sqs::count_empty_receives(Ctx::new(self), i);
    }

    /// Redis: the server closed group `g`'s subscriber connection and drops its buffer.
    pub(super) fn discard_buffer(&mut self, g: u32) {
        pubsub::discard_buffer(Ctx::new(self), g);
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

    /// Every per-model property, as one model declares it.
    fn declared<M: Model>() -> String {
        format!(
            "{:?}",
            (
                M::BROKER,
                (M::REBALANCES, M::REPLAYABLE, M::REDRIVABLE),
                (M::LEASED, M::REMOVED, M::READY_ONLY),
                (M::PARTITIONED, M::ON_FAILURE, M::AT_MOST_ONCE, M::POLLS),
                (
                    M::TO_SUBSCRIBER,
                    M::PUSHES,
                    M::DEAD_LETTERS_OVERFLOW,
                    M::ENQUEUED
                ),
            )
        )
    }

    /// Every per-model property, as the rest of the engine asks it of a group's kind.
    fn answered(kind: GroupKind) -> String {
        let t = traits(kind);
        assert_eq!(t.kind, kind);
        format!(
            "{:?}",
            (
                broker_of(kind),
                (rebalances(kind), replayable(kind), redrivable(kind)),
                (
                    leased(kind),
                    removed_when_taken(kind),
                    with_model!(kind, M => M::READY_ONLY)
                ),
                (t.partitioned, t.on_failure, t.at_most_once, t.polls),
                (
                    to_subscriber(kind),
                    pushes(kind),
                    dead_letters_overflow(kind),
                    enqueued(kind),
                ),
            )
        )
    }

    #[test]
    fn every_property_the_engine_asks_is_answered_by_the_models_own_declaration() {
        let models = [
            declared::<log::Log>(),
            declared::<sqs::Sqs>(),
            declared::<amqp::Amqp>(),
            declared::<pubsub::PubSub>(),
        ];
        for (model, name) in models.iter().zip(BROKERS) {
            let broker: BrokerModel =
                serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                    serde::de::value::Error,
                >::new(name))
                .expect("a broker model");
            assert_eq!(&answered(kind_of(broker)), model, "{name}");
        }
    }

    /// Rust source files under `dir`, recursively, with their text.
    fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("the source tree") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).expect("a source file");
                out.push((path.display().to_string(), text));
            }
        }
    }

    /// A new model is its file plus its registration: nothing else in the engine tells
    /// one kind from another, and no model file reaches past its context.
    #[test]
    fn only_the_registry_tells_kinds_apart_and_models_never_name_the_engine() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        assert!(files.len() > 20, "found {} sources", files.len());
        for (path, text) in &files {
            let path = path.replace('\\', "/");
            let registry = path.ends_with("engine/models.rs");
            let model = path.contains("engine/models/");
            if !(registry || model) {
                assert!(!text.contains("GroupKind::"), "{path} tests a group's kind");
            }
            if model && !path.ends_with("models/ctx.rs") {
                assert!(!text.contains("Engine"), "{path} names the engine");
            }
        }
    }
}
