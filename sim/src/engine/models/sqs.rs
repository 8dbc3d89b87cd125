//! SQS-like queue: competing consumers receive messages (one at a time or in batches),
//! each receive leases the message for the visibility timeout, a delete acknowledges it,
//! and a message received `max_receives` times is redriven to the dead-letter queue.
//! Idle consumers long-poll (`wait_time`) or short-poll every `poll_interval`.

use super::queue;
use super::{Ctx, Model, View};
use crate::consumer::{Group, Instance, PendingAck, Store, Work};
use crate::event::Event;
use crate::scenario::{BrokerModel, OnFailure};
use crate::time::SimTime;

pub(super) struct Sqs;

impl Model for Sqs {
    const BROKER: BrokerModel = BrokerModel::Queue;
    const LEASED: bool = true;
    const REDRIVABLE: bool = true;
    const POLLS: bool = true;
    /// SQS has no dead-letter on failure of its own: a failed message is simply not
    /// deleted, and comes back when its visibility timeout runs out.
    const ON_FAILURE: OnFailure = OnFailure::Wait;

    /// Short polling: every consumer polls at once. Long polling: every consumer is
    /// waiting from the start, and its empty receives count from then too.
    fn start(mut e: Ctx, g: u32) {
        if e.group(g).short_polling() {
            for i in e.group(g).instances() {
                e.instance_mut(i).polling = true;
                e.schedule(SimTime::ZERO, Event::Poll { instance: i });
            }
            return;
        }
        queue::start(e.re(), g);
        for i in e.group(g).instances() {
            e.instance_mut(i).idle_since = Some(SimTime::ZERO);
        }
    }

    #[inline]
    fn take(mut e: Ctx, i: u32) -> Option<Work> {
        let group = e.group(e.instance(i).group);
        if Self::single_receive(group, e.instance(i)) {
            queue::receive::<Sqs>(e.re(), i)
        } else {
            // ReceiveMessage with MaxNumberOfMessages: a batch, served in turn.
            let batch = group.batch as usize;
            queue::take_prefetched::<Sqs>(e.re(), i, batch)
        }
    }

    /// Without a batch (`batch = 1`), each take is one ReceiveMessage.
    #[inline(always)]
    fn single_receive(group: &Group, _: &Instance) -> bool {
        group.batch <= 1
    }

    /// A long poll waits for a message (the consumer is woken when one comes), a short
    /// poll returns empty and polls again later.
    #[inline]
    fn idle(mut e: Ctx, i: u32) {
        let (g, now) = (e.instance(i).group, e.now());
        let group = e.group_mut(g);
        if !group.short_polling() {
            queue::wait(e.re(), i);
            return;
        }
        group.empty_receives += 1;
        let next = now + group.poll_interval;
        let inst = e.instance_mut(i);
        if !inst.polling {
            inst.polling = true;
            e.schedule(next, Event::Poll { instance: i });
        }
    }

    #[inline]
    fn settle(mut e: Ctx, i: u32, w: Work) {
        queue::settle(e.re(), i, &w);
    }

    fn commit(mut e: Ctx, g: u32) {
        queue::commit(e.re(), g);
    }

    fn settled(r: View, g: &Group) -> bool {
        queue::settled(r, g, true)
    }

    /// What it received comes back after the visibility timeout, unless at-most-once
    /// deleted it on receipt: then it dies with the instance.
    fn leave(mut e: Ctx, i: u32, _: Option<Work>, _: &[PendingAck]) {
        let g = e.instance(i).group;
        let inst = e.instance_mut(i);
        let mut prefetched = std::mem::take(&mut inst.prefetched);
        inst.idle_since = None;
        e.lost_with_instance(g, prefetched.make_contiguous());
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

    /// SQS keeps a message until it is deleted: received ones count too.
    fn backlog(g: &Group) -> u64 {
        queue::len(g)
    }
}

/// A lease ran out: the messages become visible again and idle consumers take them.
pub(super) fn on_visibility(mut e: Ctx, g: u32) {
    let now = e.now();
    let group = e.group_mut(g);
    let Store::Queue(q) = &mut group.store else {
        return;
    };
    let visible = q.expire(now);
    if let Some(next) = q.arm_timer() {
        e.schedule(next.max(now), Event::Visibility { group: g });
    }
    for _ in 0..visible {
        let Some(i) = e.group_mut(g).idle.pop() else {
            break;
        };
        e.try_start(i);
    }
}

/// Long polling: every `wait_time` a consumer waited in vain was one empty receive.
#[inline]
pub(super) fn count_empty_receives(mut e: Ctx, i: u32) {
    // The model first: only a polling one sets `idle_since` (`queue::wait`), which lies
    // in a line of the instance a start reads nothing else from.
    let g = e.instance(i).group;
    if !super::counts_empty_receives(e.group(g).kind) {
        return;
    }
    let now = e.now();
    if let Some(since) = e.instance_mut(i).idle_since.take() {
        let group = e.group_mut(g);
        group.empty_receives += now.since(since).0 / group.wait_time.0.max(1);
    }
}
