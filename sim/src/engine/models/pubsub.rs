//! Redis-like pub/sub: each subscriber has a bounded output buffer; a message written to
//! it is gone from the server, and nothing is kept for a subscriber that disconnects.

use super::queue;
use super::{Ctx, Model, View};
use crate::consumer::{Group, Instance, PendingAck, Store, Work};
use crate::scenario::BrokerModel;

pub(super) struct PubSub;

impl Model for PubSub {
    const BROKER: BrokerModel = BrokerModel::Pubsub;
    const REMOVED: bool = true;
    /// Pub/sub keeps nothing to redeliver: it is at-most-once by nature.
    const AT_MOST_ONCE: bool = true;
    const TO_SUBSCRIBER: bool = true;
    const ENQUEUED: (&'static str, &'static str) =
        ("published", "published to the subscriber's buffer");

    fn start(mut e: Ctx, g: u32) {
        queue::start(e.re(), g);
    }

    #[inline]
    fn take(mut e: Ctx, i: u32) -> Option<Work> {
        queue::receive::<PubSub>(e.re(), i)
    }

    #[inline(always)]
    fn single_receive(_: &Group, _: &Instance) -> bool {
        true
    }

    #[inline]
    fn idle(mut e: Ctx, i: u32) {
        queue::wait(e.re(), i);
    }

    /// Pub/sub is at-most-once: nothing to acknowledge.
    #[inline]
    fn settle(mut e: Ctx, i: u32, w: Work) {
        queue::settle(e.re(), i, &w);
    }

    fn commit(mut e: Ctx, g: u32) {
        queue::commit(e.re(), g);
    }

    fn settled(r: View, g: &Group) -> bool {
        queue::settled(r, g, false)
    }

    /// Redis forgets a message once written to the subscriber's socket: like every other
    /// pub/sub miss, one lost with a crashed subscriber is a known drop, not a silent loss.
    fn abandon(mut e: Ctx, g: u32, w: Work, lost_in_hand: bool) {
        if lost_in_hand && e.group(g).ledger.applied(w.msg.id) == 0 {
            e.drop_copy(g, w.msg.id, Some(w.msg.arrived), "subscriber-crashed");
            return;
        }
        e.lost_in_crash(g, &w, lost_in_hand);
    }

    /// The connection closed: the server drops the subscriber's output buffer.
    fn leave(mut e: Ctx, i: u32, _: Option<Work>, _: &[PendingAck]) {
        let g = e.instance(i).group;
        discard_buffer(e.re(), g);
    }

    fn rejoin(mut e: Ctx, i: u32) {
        e.try_start(i);
    }

    fn close(mut e: Ctx, g: u32) {
        queue::close(e.re(), g);
    }

    fn held(_: View, g: &Group, f: impl FnMut(u32)) {
        queue::held(g, f);
    }

    /// The subscriber's output buffer (Redis never pushes back on a publisher: the topic
    /// backlog is 0, and each buffer's limit decides).
    fn backlog(g: &Group) -> u64 {
        queue::len(g)
    }
}

/// Redis: a subscriber's connection closed; the server drops its output buffer.
pub(super) fn discard_buffer(mut e: Ctx, g: u32) {
    let group = e.group_mut(g);
    let Store::Queue(q) = &mut group.store else {
        unreachable!()
    };
    let dropped = q.drain();
    group.lag = 0;
    for m in dropped {
        e.drop_copy(g, m.id, Some(m.arrived), "disconnected");
    }
}
