//! RabbitMQ-like queue bound to an exchange: the broker pushes messages to consumers up
//! to their `prefetch` of unacknowledged deliveries; a closed channel's unacknowledged
//! messages go straight back to the head of the queue.

use super::queue;
use super::{Ctx, Model, View};
use crate::consumer::{Group, Instance, PendingAck, Store, Work};
use crate::scenario::{BrokerModel, Delivery};

pub(super) struct Amqp;

impl Model for Amqp {
    const BROKER: BrokerModel = BrokerModel::Exchange;
    const READY_ONLY: bool = true;
    const REDRIVABLE: bool = true;
    const PUSHES: bool = true;
    /// RabbitMQ's drop-head overflow dead-letters the head when the queue has a
    /// dead-letter exchange (as its failures do).
    const DEAD_LETTERS_OVERFLOW: bool = true;

    /// The next message this consumer was sent; when it holds none, the broker sends it
    /// up to `prefetch` unacknowledged messages at once (basic.qos).
    fn start(mut e: Ctx, g: u32) {
        queue::start(e.re(), g);
    }

    #[inline]
    fn take(mut e: Ctx, i: u32) -> Option<Work> {
        let inst = e.instance(i);
        let unacked = inst.pending.len() + usize::from(inst.work.is_some());
        let prefetch = e.group(inst.group).prefetch as usize;
        // basic.qos: nothing more while `prefetch` deliveries are unacknowledged.
        queue::take_prefetched::<Amqp>(e.re(), i, prefetch.saturating_sub(unacked))
    }

    /// `take` with nothing in hand or sent ahead and room for exactly one more delivery:
    /// `take_prefetched` then receives once.
    #[inline(always)]
    fn single_receive(group: &Group, inst: &Instance) -> bool {
        inst.work.is_none()
            && inst.prefetched.is_empty()
            && inst.pending.len() + 1 == group.prefetch as usize
    }

    #[inline]
    fn idle(mut e: Ctx, i: u32) {
        queue::wait(e.re(), i);
    }

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

    /// Sent ahead but not started: as unacknowledged as the one in hand.
    fn leave(mut e: Ctx, i: u32, work: Option<Work>, pending: &[PendingAck]) {
        let g = e.instance(i).group;
        let prefetched = std::mem::take(&mut e.instance_mut(i).prefetched);
        return_unacked(
            e.re(),
            g,
            work.into_iter().chain(prefetched).collect(),
            pending,
        );
    }

    fn rejoin(mut e: Ctx, i: u32) {
        e.try_start(i);
    }

    /// The broker pushes queued messages round-robin to the consumers that hold fewer
    /// than `prefetch` unacknowledged ones (a slow consumer with a large prefetch hoards
    /// what a fast one could have taken). Most sends find every consumer full; that look
    /// is a leaf of its own and the deliveries a call beyond it, so the usual case saves
    /// no registers (it cost the exchange row as much as the rest of the send).
    #[inline(never)]
    fn dispatch(e: Ctx, g: u32) {
        if let Some(k) = with_room(e.group(g), e.instances()) {
            deliver(e, g, k);
        }
    }

    fn close(mut e: Ctx, g: u32) {
        queue::close(e.re(), g);
    }

    fn held(_: View, g: &Group, f: impl FnMut(u32)) {
        queue::held(g, f);
    }

    /// RabbitMQ's queue length limit counts ready messages only, not those delivered
    /// and unacknowledged.
    fn backlog(g: &Group) -> u64 {
        let Store::Queue(q) = &g.store else {
            unreachable!()
        };
        q.ready()
    }
}

/// The first of group `g`'s consumers from its round-robin position on that holds fewer
/// than `prefetch` unacknowledged deliveries and can be reached, as an offset from the
/// group's first. Walked without an iterator adapter (`(0..count).map(..).find(..)` cost
/// the exchange row ten instructions a message, most of its calls finding its one
/// consumer busy).
#[inline(always)]
fn with_room(group: &Group, instances: &[Instance]) -> Option<u32> {
    let (first, count, prefetch) = (group.first, group.count, group.prefetch as usize);
    let mut k = group.rr;
    for _ in 0..count {
        let inst = &instances[(first + k) as usize];
        let unacked = usize::from(inst.work.is_some()) + inst.prefetched.len() + inst.pending.len();
        if inst.up && inst.reachable && unacked < prefetch {
            return Some(k);
        }
        // `rr` < `count`, so the round robin wraps with a subtraction, not a division.
        k = if k + 1 >= count { k + 1 - count } else { k + 1 };
    }
    None
}

/// Sends consumer `first + k` of group `g` the queue's next message, and on round robin
/// while any consumer has room and the queue has messages.
#[inline(never)]
fn deliver(mut e: Ctx, g: u32, mut k: u32) {
    loop {
        let (first, count) = {
            let group = e.group(g);
            (group.first, group.count)
        };
        let i = first + k;
        let Some(w) = queue::receive::<Amqp>(e.re(), i) else {
            return;
        };
        e.group_mut(g).rr = if k + 1 >= count { k + 1 - count } else { k + 1 };
        e.instance_mut(i).prefetched.push_back(w);
        e.try_start(i);
        match with_room(e.group(g), e.instances()) {
            Some(next) => k = next,
            None => return,
        }
    }
}

/// A closed channel's unacked messages go back to the head of the queue at once
/// (redelivered: at-least-once repeats the ones it had processed but not acked).
fn return_unacked(mut e: Ctx, g: u32, work: Vec<Work>, pending: &[PendingAck]) {
    let group = e.group_mut(g);
    if group.delivery == Delivery::AtMostOnce {
        // Acknowledged on delivery: what the channel held dies with it.
        e.lost_with_instance(g, &work);
        return;
    }
    let Store::Queue(q) = &mut group.store else {
        unreachable!()
    };
    let mut back = 0;
    for (slot, receipt) in work
        .iter()
        .map(|w| (w.offset as u32, w.receipt))
        .chain(pending.iter().map(|a| (a.slot, a.receipt)))
    {
        back += usize::from(q.requeue(slot, receipt));
    }
    for _ in 0..back {
        let Some(i) = e.group_mut(g).idle.pop() else {
            break;
        };
        e.try_start(i);
    }
}
