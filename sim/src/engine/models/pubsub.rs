//! Redis-like pub/sub: each subscriber has a bounded output buffer; a message written to
//! it is gone from the server, and nothing is kept for a subscriber that disconnects.

use super::queue;
use super::{Model, View};
use crate::consumer::{Group, PendingAck, Store, Work};
use crate::engine::Engine;
use crate::scenario::BrokerModel;

pub(super) struct PubSub;

impl Model for PubSub {
    const BROKER: BrokerModel = BrokerModel::Pubsub;
    const REMOVED: bool = true;

    fn start(e: &mut Engine, g: u32) {
        queue::start(e, g);
    }

    #[inline]
    fn take(e: &mut Engine, i: u32) -> Option<Work> {
        queue::receive::<PubSub>(e, i)
    }

    #[inline]
    fn idle(e: &mut Engine, i: u32) {
        queue::wait(e, i);
    }

    /// Pub/sub is at-most-once: nothing to acknowledge.
    #[inline]
    fn settle(e: &mut Engine, i: u32, w: Work) {
        queue::settle(e, i, w);
    }

    fn commit(e: &mut Engine, g: u32) {
        queue::commit(e, g);
    }

    fn settled(r: View, g: &Group) -> bool {
        queue::settled(r, g, false)
    }

    /// Redis forgets a message once written to the subscriber's socket: like every other
    /// pub/sub miss, one lost with a crashed subscriber is a known drop, not a silent loss.
    fn abandon(e: &mut Engine, g: u32, w: Work, lost_in_hand: bool) {
        if lost_in_hand && e.groups[g as usize].ledger.applied(w.msg.id) == 0 {
            e.drop_copy(g, w.msg.id, Some(w.msg.arrived), "subscriber-crashed");
            return;
        }
        e.lost_in_crash(g, &w, lost_in_hand);
    }

    /// The connection closed: the server drops the subscriber's output buffer.
    fn leave(e: &mut Engine, i: u32, _: Option<Work>, _: &[PendingAck]) {
        e.discard_buffer(e.instances[i as usize].group);
    }

    fn rejoin(e: &mut Engine, i: u32) {
        e.try_start(i);
    }

    fn close(e: &mut Engine, g: u32) {
        queue::close(e, g);
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

impl Engine {
    /// Redis: a subscriber's connection closed; the server drops its output buffer.
    pub(in crate::engine) fn discard_buffer(&mut self, g: u32) {
        let group = &mut self.groups[g as usize];
        let Store::Queue(q) = &mut group.store else {
            unreachable!()
        };
        let dropped = q.drain();
        group.lag = 0;
        for m in dropped {
            self.drop_copy(g, m.id, Some(m.arrived), "disconnected");
        }
    }
}
