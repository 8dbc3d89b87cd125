//! What the queue-backed models (SQS, AMQP, Redis pub/sub) share: one queue per group,
//! competing consumers receiving from it, and acknowledgements that delete.

use super::{Ctx, Model, View};
use crate::consumer::{Group, PendingAck, Store, Work};
use crate::event::Event;
use crate::scenario::Delivery;

/// The run starts: every consumer waits on the queue (lowest index served first).
pub(super) fn start(mut e: Ctx, g: u32) {
    let group = e.group_mut(g);
    group.idle = group.instances().rev().collect();
}

/// Receives the next visible message of instance `i`'s queue. Always inlined (with the
/// queue's own verbs): it runs once per message, and the calls cost as much as its plain
/// case; the redrive is out of line.
#[inline(always)]
pub(super) fn receive<M: Model>(mut e: Ctx, i: u32) -> Option<Work> {
    let g = e.instance(i).group;
    let (vt, max_receives, now) = (e.visibility_timeout(), e.max_receives(), e.now());
    loop {
        let group = e.group_mut(g);
        let topic = group.topic;
        // Pub/sub hands the message over for good; so does an auto-ack consumer.
        let removed = M::REMOVED || group.delivery == Delivery::AtMostOnce;
        let Store::Queue(q) = &mut group.store else {
            unreachable!()
        };
        let slot = q.pop_visible()?;
        // The two fields it needs, not a copy of the slot (see `SqsQueue::slot`).
        if M::LEASED && q.slot(slot).receives >= max_receives {
            redrive(e.re(), g, slot);
            continue;
        }
        let msg = q.slot(slot).msg;
        let receipt = if M::LEASED {
            q.receive(slot, now + vt)
        } else {
            q.receive_untimed(slot)
        };
        if removed {
            q.remove(slot);
            group.lag = q.len();
        }
        // After the remove: a message handed over for good holds no lease to time.
        let arm = if M::LEASED { q.arm_timer() } else { None };
        if removed || M::READY_ONLY {
            // Removed, or (READY_ONLY) delivered and unacknowledged: no longer ready, so
            // no longer counted against the queue length limit.
            e.unpark_soon(topic);
        }
        if let Some(at) = arm {
            e.schedule(at, Event::Visibility { group: g });
        }
        return Some(Work::taken(msg, 0, u64::from(slot), receipt, now));
    }
}

/// SQS redrive: received `max_receives` times, the message in `slot` moves to the
/// dead-letter queue.
#[cold]
#[inline(never)]
pub(super) fn redrive(mut e: Ctx, g: u32, slot: u32) {
    let group = e.group_mut(g);
    let topic = group.topic;
    let Store::Queue(q) = &mut group.store else {
        unreachable!()
    };
    let msg = q.slot(slot).msg;
    q.remove(slot);
    group.lag = q.len();
    e.dead_letter(g, msg, "received max_receives times");
    e.unpark_soon(topic);
}

/// The next message the broker already sent instance `i`; when it holds none, up to
/// `room` more are received at once (the first is taken now, so it never passes through
/// the instance's deque).
#[inline]
pub(super) fn take_prefetched<M: Model>(mut e: Ctx, i: u32, room: usize) -> Option<Work> {
    if let Some(w) = e.instance_mut(i).prefetched.pop_front() {
        return Some(w);
    }
    if room == 0 {
        return None;
    }
    let first = receive::<M>(e.re(), i)?;
    for _ in 1..room {
        let Some(w) = receive::<M>(e.re(), i) else {
            break;
        };
        e.instance_mut(i).prefetched.push_back(w);
    }
    Some(first)
}

/// A receive found nothing: the consumer waits on the queue until a message comes.
#[inline]
pub(super) fn wait(mut e: Ctx, i: u32) {
    let (g, now) = (e.instance(i).group, e.now());
    let group = e.group_mut(g);
    if !group.idle.contains(&i) {
        group.idle.push(i);
    }
    // Only a polling model counts the wait (as empty receives); the others never set
    // it, so a start need not look at it (see `count_empty_receives`).
    if super::counts_empty_receives(group.kind) {
        e.instance_mut(i).idle_since.get_or_insert(now);
    }
}

/// Deletes `w` now (per-message acknowledgement) or keeps it for the next commit.
/// Always inlined, as `receive` is; the rarer cases are out of line.
#[inline(always)]
pub(super) fn settle(mut e: Ctx, i: u32, w: &Work) {
    let g = e.instance(i).group;
    let group = e.group_mut(g);
    // Auto-acked (at-most-once): nothing left to acknowledge.
    if !group.commits_after_processing() {
        return;
    }
    let slot = w.offset as u32;
    if !group.commit_interval.is_zero() {
        let ack = PendingAck {
            slot,
            receipt: w.receipt,
            msg: w.msg,
        };
        e.instance_mut(i).pending.push(ack);
        return;
    }
    let topic = group.topic;
    if delete_processed(group, w) {
        e.unpark_soon(topic);
    }
    if e.is_stage(g) || e.traced_copy(g, w.msg.id) {
        deleted(e, g, w.msg.id);
    }
}

/// Group `g`'s per-message acknowledgement of `w`: committed in the ledger and deleted
/// from the queue. True when the delete may have made room for parked requests: a
/// queue whose length limit counts ready messages only had its room back when the
/// message was delivered (`receive`), so deleting it once acknowledged frees none.
/// Shared by `settle` and the plain path's queue lane.
#[inline(always)]
pub(in crate::engine) fn delete_processed(group: &mut Group, w: &Work) -> bool {
    let Store::Queue(q) = &mut group.store else {
        unreachable!("a queue group")
    };
    group.ledger.commit(w.msg.id);
    q.delete(w.offset as u32, w.receipt);
    group.lag = q.len();
    !super::ready_only(group.kind)
}

/// A pipeline stage's or the traced copy's per-message delete.
#[cold]
#[inline(never)]
fn deleted(mut e: Ctx, g: u32, id: u32) {
    if e.is_stage(g) {
        e.stage_committed(g, id);
    }
    if e.traced_copy(g, id) {
        e.trace_deleted(g, "acknowledged after processing");
    }
}

/// Sends instance `i`'s pending acknowledgements (deletes).
fn send_acks(mut e: Ctx, g: u32, i: u32, why: &str) {
    let pending = std::mem::take(&mut e.instance_mut(i).pending);
    let group = e.group_mut(g);
    let Store::Queue(q) = &mut group.store else {
        unreachable!()
    };
    for a in &pending {
        group.ledger.commit(a.msg.id);
        q.delete(a.slot, a.receipt);
    }
    group.lag = q.len();
    if e.is_stage(g) {
        for a in &pending {
            e.stage_committed(g, a.msg.id);
        }
    }
    if e.tracing() {
        e.trace_acks(g, &pending, why);
    }
}

/// The periodic commit: every instance's pending deletes.
pub(super) fn commit(mut e: Ctx, g: u32) {
    for i in e.group(g).instances() {
        send_acks(e.re(), g, i, "batched acknowledgement");
    }
    let t = e.group(g).topic;
    e.unpark_soon(t);
    // Deletes may have freed FIFO message groups.
    let idle = std::mem::take(&mut e.group_mut(g).idle);
    for i in idle {
        e.try_start(i);
    }
}

/// No acknowledgement is pending, and (`leased`) nothing received is waiting for its
/// visibility timeout.
pub(super) fn settled(r: View, g: &Group, leased: bool) -> bool {
    let Store::Queue(q) = &g.store else {
        unreachable!()
    };
    // Only SQS brings received messages back on a timer; short-polling consumers find
    // waiting messages only on their next poll.
    let polled = g.short_polling()
        && q.has_visible()
        && g.instances().any(|i| r.instances[i as usize].is_idle());
    !polled
        && (!leased || q.in_flight() == 0)
        && g.instances()
            .all(|i| r.instances[i as usize].pending.is_empty())
}

/// End of run: live members send their batched deletes and acks. A crashed or cut-off
/// member's batch was already given back when it left.
pub(super) fn close(mut e: Ctx, g: u32) {
    let live: Vec<u32> = e.group(g).instances().filter(|&i| e.live(i)).collect();
    for i in live {
        send_acks(
            e.re(),
            g,
            i,
            "sent as the consumer closed at the end of the run",
        );
    }
}

/// Every copy in the group's queue, received or not.
pub(super) fn held(g: &Group, mut f: impl FnMut(u32)) {
    let Store::Queue(q) = &g.store else {
        unreachable!()
    };
    q.held().for_each(|m| f(m.id));
}

/// The messages the group's queue holds, received or not.
pub(super) fn len(g: &Group) -> u64 {
    let Store::Queue(q) = &g.store else {
        unreachable!()
    };
    q.len()
}
