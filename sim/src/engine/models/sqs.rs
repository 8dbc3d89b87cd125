//! SQS-like queue: competing consumers receive messages (one at a time or in batches),
//! each receive leases the message for the visibility timeout, a delete acknowledges it,
//! and a message received `max_receives` times is redriven to the dead-letter queue.
//! Idle consumers long-poll (`wait_time`) or short-poll every `poll_interval`.

use super::queue;
use super::{Model, View};
use crate::consumer::{Group, GroupKind, PendingAck, Store, Work};
use crate::engine::Engine;
use crate::event::Event;
use crate::scenario::BrokerModel;
use crate::time::SimTime;

pub(super) struct Sqs;

impl Model for Sqs {
    const BROKER: BrokerModel = BrokerModel::Queue;
    const LEASED: bool = true;
    const REDRIVABLE: bool = true;

    /// Short polling: every consumer polls at once. Long polling: every consumer is
    /// waiting from the start, and its empty receives count from then too.
    fn start(e: &mut Engine, g: u32) {
        if e.groups[g as usize].short_polling() {
            for i in e.groups[g as usize].instances() {
                e.instances[i as usize].polling = true;
                e.queue.push(SimTime::ZERO, Event::Poll { instance: i });
            }
            return;
        }
        queue::start(e, g);
        for i in e.groups[g as usize].instances() {
            e.instances[i as usize].idle_since = Some(SimTime::ZERO);
        }
    }

    #[inline]
    fn take(e: &mut Engine, i: u32) -> Option<Work> {
        let batch = e.groups[e.instances[i as usize].group as usize].batch;
        if batch > 1 {
            // ReceiveMessage with MaxNumberOfMessages: a batch, served in turn.
            queue::take_prefetched::<Sqs>(e, i, batch as usize)
        } else {
            queue::receive::<Sqs>(e, i)
        }
    }

    /// A long poll waits for a message (the consumer is woken when one comes), a short
    /// poll returns empty and polls again later.
    #[inline]
    fn idle(e: &mut Engine, i: u32) {
        let g = e.instances[i as usize].group;
        let group = &mut e.groups[g as usize];
        if !group.short_polling() {
            queue::wait(e, i);
            return;
        }
        group.empty_receives += 1;
        let inst = &mut e.instances[i as usize];
        if !inst.polling {
            inst.polling = true;
            e.queue
                .push(e.now + group.poll_interval, Event::Poll { instance: i });
        }
    }

    #[inline]
    fn settle(e: &mut Engine, i: u32, w: Work) {
        queue::settle(e, i, w);
    }

    fn commit(e: &mut Engine, g: u32) {
        queue::commit(e, g);
    }

    fn settled(r: View, g: &Group) -> bool {
        queue::settled(r, g, true)
    }

    /// What it received comes back after the visibility timeout, unless at-most-once
    /// deleted it on receipt: then it dies with the instance.
    fn leave(e: &mut Engine, i: u32, _: Option<Work>, _: &[PendingAck]) {
        let g = e.instances[i as usize].group;
        let inst = &mut e.instances[i as usize];
        let mut prefetched = std::mem::take(&mut inst.prefetched);
        inst.idle_since = None;
        e.lost_with_instance(g, prefetched.make_contiguous());
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

    /// SQS keeps a message until it is deleted: received ones count too.
    fn backlog(g: &Group) -> u64 {
        queue::len(g)
    }
}

impl Engine {
    /// A lease ran out: the messages become visible again and idle consumers take them.
    pub(in crate::engine) fn on_visibility(&mut self, g: u32) {
        let group = &mut self.groups[g as usize];
        let Store::Queue(q) = &mut group.store else {
            return;
        };
        q.timer_armed = false;
        let visible = q.expire(self.now);
        if let Some(next) = q.next_expiry() {
            q.timer_armed = true;
            self.queue
                .push(next.max(self.now), Event::Visibility { group: g });
        }
        for _ in 0..visible {
            let Some(i) = self.groups[g as usize].idle.pop() else {
                break;
            };
            self.try_start(i);
        }
    }

    /// Long polling: every `wait_time` a consumer waited in vain was one empty receive.
    #[inline]
    pub(in crate::engine) fn count_empty_receives(&mut self, i: u32) {
        let inst = &mut self.instances[i as usize];
        if let Some(since) = inst.idle_since.take() {
            let group = &mut self.groups[inst.group as usize];
            if group.kind == GroupKind::Sqs {
                group.empty_receives += self.now.since(since).0 / group.wait_time.0.max(1);
            }
        }
    }
}
