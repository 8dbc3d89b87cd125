//! The SQS-like queue: competing consumers receive the next visible message, which stays
//! invisible for the visibility timeout; a delete with the current receipt removes it,
//! otherwise it becomes visible again. Redrive to the dead-letter queue is decided by the
//! engine from `receives`. Slots are reused, so memory follows the backlog.

use crate::message::Msg;
use crate::time::SimTime;
use std::collections::VecDeque;

/// A message held by the queue.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// The message.
    pub msg: Msg,
    /// Changes at every receive; a delete must quote the latest.
    pub receipt: u32,
    /// Times received.
    pub receives: u32,
    /// Still held (not deleted).
    pub live: bool,
    /// Can be received now.
    pub visible: bool,
}

/// One queue (one per consumer group of a topic).
#[derive(Debug, Default)]
pub struct SqsQueue {
    slots: Vec<Slot>,
    free: Vec<u32>,
    visible: VecDeque<u32>,
    /// Receives in order of their timeout: (expiry, slot, receipt). The timeout is the
    /// same for every receive, so this stays sorted without a heap. A lease ends early
    /// when its message is deleted, put back or received again; its entry is dropped
    /// once it reaches the front (`prune`), so the front is a live lease or nothing.
    expiry: VecDeque<(SimTime, u32, u32)>,
    /// A `Visibility` event is scheduled (at or before the earliest live lease's end).
    timer_armed: bool,
    len: u64,
    /// FIFO queue: per message group (the key), whether one of its messages is in
    /// flight; the group's next message waits until it is deleted or comes back.
    locked: Option<Vec<bool>>,
    /// Priority scheduling over classes of producers.
    classes: Option<Classes>,
    /// Payload bytes held, when the engine tracks bytes (`track_bytes`).
    bytes: Option<Box<HeldBytes>>,
}

/// Payload bytes a queue holds.
#[derive(Debug, Default)]
struct HeldBytes {
    /// By slot.
    by_slot: Vec<u64>,
    total: u64,
    /// The slot of the last `send`.
    last: u32,
}

/// Priority classes: which class each producer's messages are in, and how a receive
/// picks the class to serve.
#[derive(Debug)]
struct Classes {
    /// Class by producer index.
    of_producer: Vec<u8>,
    /// Weighted round robin: weight by class; empty for strict priority.
    weights: Vec<u32>,
    /// Smooth weighted round robin credit by class.
    credit: Vec<i64>,
}

impl Classes {
    /// The class to serve among those with a visible message (`waiting`, a bit per class).
    fn pick(&mut self, waiting: u8) -> u8 {
        let top = 7 - waiting.leading_zeros() as u8;
        if self.weights.is_empty() {
            return top;
        }
        // Smooth weighted round robin (as nginx balances upstreams): every waiting class
        // gains its weight, the richest is served and pays the round's total. Classes with
        // nothing waiting neither gain nor pay, so the waiting ones split the consumers.
        let mut total = 0;
        let mut best = top;
        for c in (0..=top).rev().filter(|c| waiting & (1 << c) != 0) {
            let w = i64::from(self.weights[c as usize]);
            self.credit[c as usize] += w;
            total += w;
            if self.credit[c as usize] > self.credit[best as usize] {
                best = c;
            }
        }
        self.credit[best as usize] -= total;
        best
    }
}

impl SqsQueue {
    /// Makes this an SQS FIFO queue over `keys` message groups.
    pub fn make_fifo(&mut self, keys: u32) {
        self.locked = Some(vec![false; keys as usize]);
    }

    fn unlock(&mut self, i: u32) {
        let key = self.slots[i as usize].msg.key as usize;
        if let Some(locked) = &mut self.locked {
            locked[key] = false;
        }
    }

    /// Adds a visible message. The per-message verbs (`send`, `pop_visible`, `receive`,
    /// `delete`) are inlined into the models' handlers, where a call cost as much as
    /// their plain case; the FIFO, priority and byte-counting cases stay out of line.
    #[inline]
    pub fn send(&mut self, msg: Msg) {
        let mut slot = Slot {
            msg,
            receipt: 0,
            receives: 0,
            live: true,
            visible: true,
        };
        let i = if let Some(i) = self.free.pop() {
            // Receipts keep counting across reuse, so a stale timeout or delete meant for
            // the slot's previous message never matches the new one.
            slot.receipt = self.slots[i as usize].receipt.wrapping_add(1);
            self.slots[i as usize] = slot;
            i
        } else {
            self.slots.push(slot);
            u32::try_from(self.slots.len() - 1).expect("queue slots fit in u32")
        };
        self.visible.push_back(i);
        self.len += 1;
        if self.bytes.is_some() {
            self.track_sent(i);
        }
    }

    /// `send` while counting bytes: the new slot holds none until `hold_bytes`.
    #[inline(never)]
    fn track_sent(&mut self, i: u32) {
        if let Some(h) = &mut self.bytes {
            h.last = i;
            h.by_slot.resize(self.slots.len(), 0);
            h.by_slot[i as usize] = 0;
        }
    }

    /// Starts counting payload bytes (`hold_bytes` after each `send`).
    pub fn track_bytes(&mut self) {
        self.bytes = Some(Box::new(HeldBytes {
            by_slot: vec![0; self.slots.len()],
            ..HeldBytes::default()
        }));
    }

    /// The message just sent holds `bytes` (ignored unless tracking).
    #[inline]
    pub fn hold_bytes(&mut self, bytes: u64) {
        if let Some(h) = &mut self.bytes {
            h.by_slot[h.last as usize] = bytes;
            h.total += bytes;
        }
    }

    /// Payload bytes held (0 unless tracking).
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes.as_ref().map_or(0, |h| h.total)
    }

    /// Serves priority classes: `of_producer` gives each producer's class; `weights` by
    /// class makes it weighted round robin, none strict priority.
    pub fn make_priority(&mut self, of_producer: Vec<u8>, weights: Vec<u32>) {
        let credit = vec![0; weights.len()];
        self.classes = Some(Classes {
            of_producer,
            weights,
            credit,
        });
    }

    /// With priority classes: the oldest visible message of the class to serve. A scan of
    /// the visible messages, which is fine at the backlogs a scenario builds; one queue per
    /// class would be the way to scale it.
    fn pop_by_class(&mut self) -> Option<u32> {
        let classes = self.classes.as_mut().expect("priority queue");
        let class = |v: u32| classes.of_producer[self.slots[v as usize].msg.producer as usize];
        let waiting = self.visible.iter().fold(0u8, |w, &v| w | 1 << class(v));
        if waiting == 0 {
            return None;
        }
        let at = {
            let pick = classes.pick(waiting);
            let of = &classes.of_producer;
            let slots = &self.slots;
            self.visible
                .iter()
                .position(|&v| of[slots[v as usize].msg.producer as usize] == pick)
                .expect("a waiting class")
        };
        self.visible.remove(at)
    }

    /// Takes the next visible slot without receiving it yet (the caller decides between
    /// a receive and a redrive).
    #[inline]
    pub fn pop_visible(&mut self) -> Option<u32> {
        let i = if self.locked.is_none() && self.classes.is_none() {
            self.visible.pop_front()?
        } else {
            self.pop_ordered()?
        };
        self.slots[i as usize].visible = false;
        Some(i)
    }

    /// `pop_visible` of a FIFO queue or one with priority classes.
    #[inline(never)]
    fn pop_ordered(&mut self) -> Option<u32> {
        let i = match &mut self.locked {
            None => self.pop_by_class()?,
            Some(locked) => {
                // The oldest message whose group has nothing in flight.
                let slots = &self.slots;
                let at = self
                    .visible
                    .iter()
                    .position(|&v| !locked[slots[v as usize].msg.key as usize])?;
                let i = self.visible.remove(at).expect("position is in range");
                locked[slots[i as usize].msg.key as usize] = true;
                i
            }
        };
        Some(i)
    }

    /// True when a message can be received now.
    #[must_use]
    pub fn has_visible(&self) -> bool {
        !self.visible.is_empty()
    }

    /// The slot's current state, in place (read the fields needed: a whole-slot copy
    /// right after `send` wrote it, a field at a time, waits for those stores).
    #[must_use]
    #[inline]
    pub fn slot(&self, i: u32) -> &Slot {
        &self.slots[i as usize]
    }

    /// Receives slot `i`: invisible until `until`; returns the new receipt.
    #[inline]
    pub fn receive(&mut self, i: u32, until: SimTime) -> u32 {
        let s = &mut self.slots[i as usize];
        s.receives += 1;
        s.receipt = s.receipt.wrapping_add(1);
        self.expiry.push_back((until, i, s.receipt));
        s.receipt
    }

    /// Receives slot `i` with no timeout (AMQP: unacked until acked or the channel
    /// closes); returns the new receipt.
    #[inline]
    pub fn receive_untimed(&mut self, i: u32) -> u32 {
        let s = &mut self.slots[i as usize];
        s.receives += 1;
        s.receipt = s.receipt.wrapping_add(1);
        s.receipt
    }

    /// Puts an unacked message back at the head of the queue (its consumer's channel
    /// closed); false if `receipt` is no longer current.
    pub fn requeue(&mut self, i: u32, receipt: u32) -> bool {
        let s = &mut self.slots[i as usize];
        if !s.live || s.visible || s.receipt != receipt {
            return false;
        }
        s.visible = true;
        s.receipt = s.receipt.wrapping_add(1);
        self.visible.push_front(i);
        self.unlock(i);
        true
    }

    /// Empties the queue; returns what it held.
    pub fn drain(&mut self) -> Vec<Msg> {
        let held: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|&i| self.slots[i as usize].live)
            .collect();
        held.into_iter()
            .map(|i| {
                let m = self.slots[i as usize].msg;
                self.remove(i);
                m
            })
            .collect()
    }

    /// Deletes slot `i` if `receipt` is still current; true when it was deleted.
    #[inline]
    pub fn delete(&mut self, i: u32, receipt: u32) -> bool {
        let s = &mut self.slots[i as usize];
        if !s.live || s.receipt != receipt {
            return false;
        }
        self.remove(i);
        true
    }

    /// Removes slot `i` whatever its receipt (redrive, at-most-once receive).
    #[inline]
    pub fn remove(&mut self, i: u32) {
        let s = &mut self.slots[i as usize];
        debug_assert!(s.live);
        let visible = s.visible;
        s.live = false;
        s.visible = false;
        if visible {
            self.forget_visible(i);
        } else if self.locked.is_some() {
            self.unlock(i);
        }
        self.free.push(i);
        self.len -= 1;
        if self.bytes.is_some() {
            self.release_bytes(i);
        }
        self.prune();
    }

    /// A visible message leaves (a drop, a redrive of one never received).
    #[inline(never)]
    fn forget_visible(&mut self, i: u32) {
        self.visible.retain(|&v| v != i);
    }

    /// `remove` while counting bytes.
    #[inline(never)]
    fn release_bytes(&mut self, i: u32) {
        if let Some(h) = &mut self.bytes {
            h.total -= std::mem::take(&mut h.by_slot[i as usize]);
        }
    }

    /// Whether the lease `(slot, receipt)` still holds: the message is held, out of
    /// sight, and has not been received since (a reused slot counts its receipts on, so
    /// an old lease never matches the slot's next message).
    #[inline]
    fn leased(&self, i: u32, receipt: u32) -> bool {
        let s = &self.slots[i as usize];
        s.live && !s.visible && s.receipt == receipt
    }

    /// Drops the ended leases at the front of `expiry`: their timeouts would expire
    /// nothing, so no timer need fire for them, and the deque stays as short as the
    /// oldest live lease allows.
    #[inline]
    fn prune(&mut self) {
        while let Some(&(_, i, receipt)) = self.expiry.front() {
            if self.leased(i, receipt) {
                break;
            }
            self.expiry.pop_front();
        }
    }

    /// Arms the visibility timer unless it is armed: returns when the earliest live
    /// lease runs out (none when no lease is live). The timer then fires for leases
    /// that may still expire, never once per receive for messages deleted long ago.
    #[inline]
    pub fn arm_timer(&mut self) -> Option<SimTime> {
        if self.timer_armed {
            return None;
        }
        self.prune();
        let at = self.expiry.front().map(|e| e.0)?;
        self.timer_armed = true;
        Some(at)
    }

    /// The visibility timer fired (it is no longer armed): makes every receive whose
    /// timeout passed by `now` visible again; returns how many.
    pub fn expire(&mut self, now: SimTime) -> usize {
        self.timer_armed = false;
        let mut n = 0;
        while let Some(&(at, i, receipt)) = self.expiry.front() {
            if at > now {
                break;
            }
            self.expiry.pop_front();
            if self.leased(i, receipt) {
                let s = &mut self.slots[i as usize];
                s.visible = true;
                if self.locked.is_some() {
                    // Back at the head: it is still the oldest of its group.
                    self.visible.push_front(i);
                    self.unlock(i);
                } else {
                    self.visible.push_back(i);
                }
                n += 1;
            }
        }
        n
    }

    /// Messages received and neither deleted nor visible again yet.
    #[must_use]
    pub fn in_flight(&self) -> u64 {
        self.len - self.visible.len() as u64
    }

    /// Discards the oldest visible message to make room; returns it (none when every
    /// message held is in a consumer's hands).
    pub fn drop_oldest(&mut self) -> Option<Msg> {
        let i = *self.visible.front()?;
        let m = self.slots[i as usize].msg;
        self.remove(i);
        Some(m)
    }

    /// Messages ready to be received (visible: neither in a consumer's hands nor waiting
    /// out a visibility timeout).
    #[must_use]
    pub fn ready(&self) -> u64 {
        self.visible.len() as u64
    }

    /// Messages held (visible or in flight).
    #[must_use]
    #[inline]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the queue holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every message still held.
    pub fn held(&self) -> impl Iterator<Item = &Msg> {
        self.slots.iter().filter(|s| s.live).map(|s| &s.msg)
    }
}

#[cfg(test)]
mod tests;
