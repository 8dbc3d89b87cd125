//! The SQS-like queue: competing consumers receive the next visible message, which stays
//! invisible for the visibility timeout; a delete with the current receipt removes it,
//! otherwise it becomes visible again. Redrive to the dead-letter queue is decided by the
//! engine from `receives`. Slots are reused, so memory follows the backlog.

mod lines;

use crate::message::Msg;
use crate::time::SimTime;
use lines::Lines;
use std::collections::{BTreeSet, VecDeque};

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
    /// The visible slots, oldest first, each with the receipt it had when it became
    /// visible (empty when `lines` holds them). A slot that stops being visible other
    /// than by a receive (a late delete after its lease ran out, a drop) stays here until
    /// it reaches the front, recognised then as out of date (no longer visible, or
    /// visible again under a newer receipt), where taking it out walked the line, and a
    /// backlog's every late delete cost its length.
    visible: VecDeque<(u32, u32)>,
    /// The entries of `visible` out of date (while there are none, a receive takes the
    /// first without a look at its slot).
    stale: usize,
    /// With priority classes or FIFO message groups: the visible slots, a line per class
    /// or group.
    lines: Option<Lines>,
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
    /// FIFO queue: every group with nothing in flight and a visible message, as its
    /// oldest's place and the group: the first is the next to receive.
    ready: BTreeSet<(i64, u32)>,
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

/// Whether a visible entry, slot and the receipt it had when it became visible, still
/// stands for its slot: the slot is visible, under that receipt (every way back to
/// visible follows a change of receipt: a send, a receive, a put-back).
#[inline]
fn current(slots: &[Slot]) -> impl Fn(u32, u32) -> bool + '_ {
    |i, receipt| {
        let s = &slots[i as usize];
        s.visible && s.receipt == receipt
    }
}

impl SqsQueue {
    /// Makes this an SQS FIFO queue over `keys` message groups.
    pub fn make_fifo(&mut self, keys: u32) {
        debug_assert!(self.visible.is_empty(), "made FIFO before anything is sent");
        self.locked = Some(vec![false; keys as usize]);
        self.lines = Some(Lines::new(keys as usize));
    }

    /// Slot `i`'s group has nothing in flight any more (a FIFO queue's).
    fn unlock(&mut self, i: u32) {
        let key = self.slots[i as usize].msg.key;
        if let (Some(locked), Some(lines)) = (&mut self.locked, &self.lines) {
            locked[key as usize] = false;
            if let Some(first) = lines.first_place(key) {
                self.ready.insert((first, key));
            }
        }
    }

    /// Slot `i`'s line: its FIFO group or its priority class.
    fn line_of(&self, i: u32) -> u32 {
        let msg = &self.slots[i as usize].msg;
        match &self.classes {
            Some(c) => u32::from(c.of_producer[msg.producer as usize]),
            None => msg.key,
        }
    }

    /// Changes line `l` with `change`, keeping a FIFO queue's `ready` groups up to date.
    fn change_line(&mut self, l: u32, change: impl FnOnce(&mut Lines, &[Slot])) {
        let lines = self.lines.as_mut().expect("lines");
        let before = lines.first_place(l);
        change(lines, &self.slots);
        if let Some(locked) = &self.locked {
            if let Some(b) = before {
                self.ready.remove(&(b, l));
            }
            if !locked[l as usize]
                && let Some(first) = lines.first_place(l)
            {
                self.ready.insert((first, l));
            }
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
        if self.lines.is_none() {
            self.visible.push_back((i, slot.receipt));
        } else {
            self.send_to_line(i);
        }
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
        debug_assert!(
            self.visible.is_empty(),
            "classes are set before anything is sent"
        );
        let credit = vec![0; weights.len()];
        self.classes = Some(Classes {
            of_producer,
            weights,
            credit,
        });
        // A class is a bit of a `u8` (`pick`).
        self.lines = Some(Lines::new(8));
    }

    /// Slot `i` becomes visible: first in line (a put-back, a FIFO lease run out), else
    /// last.
    fn show(&mut self, i: u32, first: bool) {
        let receipt = self.slots[i as usize].receipt;
        match (&self.lines, first) {
            (None, true) => self.visible.push_front((i, receipt)),
            (None, false) => self.visible.push_back((i, receipt)),
            (Some(_), _) => {
                let l = self.line_of(i);
                self.change_line(l, |lines, _| {
                    if first {
                        lines.push_front(l, i, receipt);
                    } else {
                        lines.push_back(l, i, receipt);
                    }
                });
            }
        }
    }

    /// `send`'s `show` with lines (out of line: inlined, the queue row paid two
    /// instructions a message more than for this call's test).
    #[inline(never)]
    fn send_to_line(&mut self, i: u32) {
        self.show(i, false);
    }

    /// Visible slots.
    fn visible_len(&self) -> usize {
        self.visible.len() - self.stale + self.lines.as_ref().map_or(0, Lines::len)
    }

    /// With priority classes: the oldest visible message of the class to serve.
    fn pop_by_class(&mut self) -> Option<u32> {
        let classes = self.classes.as_mut().expect("priority queue");
        let lines = self.lines.as_mut().expect("a line per class");
        let waiting = lines.waiting();
        if waiting == 0 {
            return None;
        }
        let pick = classes.pick(waiting);
        let i = lines.pop_front(u32::from(pick), current(&self.slots));
        Some(i.expect("a waiting class"))
    }

    /// Takes the next visible slot without receiving it yet (the caller decides between
    /// a receive and a redrive).
    #[inline]
    pub fn pop_visible(&mut self) -> Option<u32> {
        let i = if self.locked.is_none() && self.classes.is_none() {
            self.pop_shown()?
        } else {
            self.pop_ordered()?
        };
        self.slots[i as usize].visible = false;
        Some(i)
    }

    /// `pop_visible` of a FIFO queue or one with priority classes.
    #[inline(never)]
    fn pop_ordered(&mut self) -> Option<u32> {
        let Some(locked) = &mut self.locked else {
            return self.pop_by_class();
        };
        // The oldest message whose group has nothing in flight.
        let (_, key) = self.ready.pop_first()?;
        locked[key as usize] = true;
        let lines = self.lines.as_mut().expect("a line per group");
        let i = lines.pop_front(key, current(&self.slots));
        Some(i.expect("a ready group has a visible message"))
    }

    /// Takes the first up-to-date entry of `visible`.
    #[inline]
    fn pop_shown(&mut self) -> Option<u32> {
        if self.stale == 0 {
            return self.visible.pop_front().map(|(i, _)| i);
        }
        self.pop_shown_past_stale()
    }

    /// `pop_shown` with out-of-date entries about (out of line: most queues never have
    /// any, and the queue row's receive stays as it was).
    #[inline(never)]
    fn pop_shown_past_stale(&mut self) -> Option<u32> {
        let i = self.first_shown()?;
        self.visible.pop_front();
        Some(i)
    }

    /// The first up-to-date entry of `visible`, dropping the out-of-date ones before it.
    fn first_shown(&mut self) -> Option<u32> {
        while let Some(&(i, receipt)) = self.visible.front() {
            if current(&self.slots)(i, receipt) {
                return Some(i);
            }
            self.visible.pop_front();
            self.stale -= 1;
        }
        None
    }

    /// True when a message can be received now.
    #[must_use]
    pub fn has_visible(&self) -> bool {
        self.visible_len() > 0
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
    /// closes); returns the new receipt. Always inlined: left to itself the compiler
    /// called it from the exchange's receive, saving the message around the call.
    #[inline(always)]
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
        self.show(i, true);
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

    /// A visible message leaves (a drop, a late delete after its lease ran out).
    #[inline(never)]
    fn forget_visible(&mut self, i: u32) {
        if self.lines.is_some() {
            let l = self.line_of(i);
            self.change_line(l, |lines, slots| lines.forget(l, i, current(slots)));
        } else {
            let entry = (i, self.slots[i as usize].receipt);
            if self.visible.front() == Some(&entry) {
                // The oldest (`drop_oldest`).
                self.visible.pop_front();
            } else {
                // Out of date where it is; dropped when it reaches the front.
                self.stale += 1;
            }
        }
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
                    self.show(i, true);
                    self.unlock(i);
                } else {
                    self.show(i, false);
                }
                n += 1;
            }
        }
        n
    }

    /// Messages received and neither deleted nor visible again yet.
    #[must_use]
    pub fn in_flight(&self) -> u64 {
        self.len - self.visible_len() as u64
    }

    /// Discards the oldest visible message to make room; returns it (none when every
    /// message held is in a consumer's hands).
    pub fn drop_oldest(&mut self) -> Option<Msg> {
        let i = if self.lines.is_none() {
            self.first_shown()?
        } else {
            self.lines.as_ref()?.oldest()?.0
        };
        let m = self.slots[i as usize].msg;
        self.remove(i);
        Some(m)
    }

    /// Messages ready to be received (visible: neither in a consumer's hands nor waiting
    /// out a visibility timeout).
    #[must_use]
    pub fn ready(&self) -> u64 {
        self.visible_len() as u64
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
