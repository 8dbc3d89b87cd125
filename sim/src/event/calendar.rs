//! The pending events once more than a few are pending: a calendar queue (Brown, 1988),
//! with a sorted bottom as a ladder queue has (Tang, Goh and Thng, 2005). Time is cut
//! into buckets of `2^shift` nanoseconds. The current bucket's events, and any pushed at
//! or before it, wait in `bottom`, sorted latest first, so a pop takes its last entry.
//! The next `slots - 1` buckets are slots of unsorted `Vec`s, each bucket in its own
//! slot; events past them wait in a heap (`far`). When the bottom runs out, the next
//! non-empty slot (found in a bitmap) trades places with it and is sorted. With a bucket about eight gaps
//! between pops wide, the bottom sorts a handful at a time, and a push or a pop costs the
//! same at 100 or 10,000 pending, where a heap's sifts grow with every doubling.
//! Every few thousand pops the width and slot count are set again from the mean gap and
//! the pending count, so a run whose pace changes keeps its buckets small. The keys are
//! unique, so the order popped is the keys' order whatever the buckets.

use super::heap::Heap;
use super::queue::{Entry, settle_last, time_of};

/// Slots at least and at most: twice the pending count, within these.
const MIN_SLOTS: usize = 64;
const MAX_SLOTS: usize = 1 << 16;
/// Pops between looks at whether the buckets still fit the events.
const TUNE_EVERY: u32 = 4096;
/// Entries the sorted bottom takes before pushes into the current bucket go to `crowd`.
const BOTTOM_MAX: usize = 64;
/// Entries' room a slot keeps when the bottom's emptied buffer becomes its own: a bucket
/// holds about eight. A buffer a burst grew past it is let go there (see `refill`).
const SLOT_ROOM: usize = 16;

#[derive(Debug)]
pub(super) struct Calendar {
    /// A bucket is `2^shift` nanoseconds.
    shift: u32,
    /// The current bucket: `bottom` holds every entry of it and of any bucket before it.
    cur: u64,
    /// Entries at or before bucket `cur`, latest first. Empty only when nothing is
    /// pending.
    bottom: Vec<Entry>,
    /// More entries at or before bucket `cur`, pushed while the bottom held
    /// `BOTTOM_MAX`: a burst at one instant, which no bucket width splits, costs a heap's
    /// push each instead of a walk along the bottom. Sorted into the bottom when the
    /// bottom runs out.
    crowd: Heap,
    /// Per slot, the entries of its bucket, which lies after `cur` and fewer than
    /// `mask + 1` buckets after it, in no order. A bucket's own `Vec` (a list of
    /// nodes in one pool had a refill chase a pointer a node, each a miss in a run whose
    /// state does not fit the cache); its buffer is kept, and trades places with the
    /// bottom's when it becomes current.
    slots: Vec<Vec<Entry>>,
    /// The slots in use less one (a power of two less one). The `Vec` keeps the slots a
    /// larger count once used, with their buffers, so that a queue crossing the sorted
    /// `Vec`'s limit back and forth does not free and allocate them each time.
    mask: usize,
    /// One bit per non-empty slot.
    bits: Vec<u64>,
    /// Entries in the slots.
    near: usize,
    /// Entries `mask + 1` buckets or more after `cur`.
    far: Heap,
    /// Pops since the last tuning, the time of the first of them (moved on by the time
    /// the calendar spent out of use), and the time of the last.
    pops: u32,
    since: u64,
    last: u64,
    /// A buffer for laying the entries out again, kept between tunings.
    spare: Vec<Entry>,
}

impl Default for Calendar {
    fn default() -> Calendar {
        let mut c = Calendar {
            shift: 0,
            cur: 0,
            bottom: Vec::new(),
            crowd: Heap::default(),
            slots: Vec::new(),
            mask: 0,
            bits: Vec::new(),
            near: 0,
            far: Heap::default(),
            pops: 0,
            since: 0,
            last: 0,
            spare: Vec::new(),
        };
        c.lay_out(&mut Vec::new(), 1);
        c
    }
}

impl Calendar {
    /// Takes `v`'s entries, sorted earliest first, into the empty calendar, its buckets
    /// sized from their spread; `v` is left empty, its buffer kept (the queue's sorted
    /// `Vec` moves in and out as the count crosses its limits, allocating nothing).
    pub(super) fn load(&mut self, v: &mut Vec<Entry>) {
        debug_assert!(self.is_empty() && v.is_sorted_by_key(|e| e.key));
        // The pace at the front, from the earliest quarter: the spread of all of them
        // is a far timer's as much as the pace's (a queue that first passed its limit
        // with a 60 s timeout among 32 events got buckets of 134 ms).
        let k = (v.len() / 4).max(1);
        let gap = match (v.first(), v.get(k)) {
            (Some(a), Some(b)) => (time_of(b.key).0 - time_of(a.key).0) / k as u64,
            _ => 1,
        };
        // Pops go on being counted towards the next look across the calendar's spells
        // out of use, less the time between them.
        let now = v.first().map_or(self.last, |e| time_of(e.key).0);
        self.since = self.since.saturating_add(now.saturating_sub(self.last));
        self.lay_out(v, gap);
    }

    /// Moves every entry into `v`, latest first; the calendar is left empty.
    pub(super) fn unload(&mut self, v: &mut Vec<Entry>) {
        self.drain_into(v);
        v.sort_unstable_by_key(|e| std::cmp::Reverse(e.key));
    }

    /// The bucket of an entry with this key.
    #[inline(always)]
    fn bucket_of(&self, key: u128) -> u64 {
        time_of(key).0 >> self.shift
    }

    /// Entries' room kept: every buffer's capacity, the slots no longer in use included.
    pub(super) fn room(&self) -> usize {
        self.slots.iter().map(Vec::capacity).sum::<usize>()
            + self.bottom.capacity()
            + self.crowd.capacity()
            + self.far.capacity()
            + self.spare.capacity()
    }

    /// Entries held.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.bottom.len() + self.crowd.len() + self.near + self.far.len()
    }

    /// At most `n` entries held: asked at every pop, so the slots' count, which holds
    /// most of them in a calendar in use, answers first without summing four lengths.
    #[inline(always)]
    pub(super) fn holds_at_most(&self, n: usize) -> bool {
        self.near <= n && self.len() <= n
    }

    /// Nothing held.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.bottom.is_empty()
    }

    /// The earliest key.
    #[inline(always)]
    pub(super) fn peek_key(&self) -> Option<u128> {
        let key = self.bottom.last().map(|e| e.key);
        if self.crowd.is_empty() {
            return key;
        }
        let crowd = self.crowd.peek_key();
        key.min(crowd).or(crowd)
    }

    /// Removes the earliest entry.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<Entry> {
        let e = if self.crowd.is_empty() {
            self.bottom.pop()?
        } else {
            self.pop_crowded()
        };
        if self.bottom.is_empty() {
            self.refill();
        }
        self.last = time_of(e.key).0;
        self.pops += 1;
        if self.pops >= TUNE_EVERY {
            self.tune(self.last);
        }
        Some(e)
    }

    /// The earlier of the bottom's last and the crowd's least (the bottom is not empty
    /// while the crowd is not).
    #[inline(never)]
    fn pop_crowded(&mut self) -> Entry {
        let crowd = self.crowd.peek_key().expect("a crowd");
        match self.bottom.last() {
            Some(e) if e.key < crowd => self.bottom.pop().expect("a last"),
            _ => self.crowd.pop().expect("a crowd"),
        }
    }

    /// Adds an entry.
    #[inline(always)]
    pub(super) fn push(&mut self, e: Entry) {
        let b = self.bucket_of(e.key);
        if b > self.cur && b - self.cur <= self.mask as u64 && !self.is_empty() {
            self.link(b, e);
        } else if b <= self.cur && (1..BOTTOM_MAX).contains(&self.bottom.len()) {
            self.insert_bottom(e);
        } else {
            self.push_else(b, e);
        }
    }

    /// `push` into an empty calendar, a crowded bottom or `far` (out of line: the heaps'
    /// pushes would be inlined at every place the engine schedules).
    #[inline(never)]
    fn push_else(&mut self, b: u64, e: Entry) {
        if self.is_empty() {
            self.cur = b;
            self.bottom.push(e);
        } else if b <= self.cur {
            self.crowd.push(e);
        } else {
            self.far.push(e);
        }
    }

    /// Puts `e` in its place in the bottom, looking from its end (a new event usually
    /// comes after the few due soonest).
    #[inline]
    fn insert_bottom(&mut self, e: Entry) {
        if self.bottom.len() > 8 {
            // A long bottom (a bucket whose events crowd in faster than the mean pace):
            // a binary search and one move, where a walk costs a compare and a copy an
            // entry.
            let at = self.bottom.partition_point(|x| x.key > e.key);
            self.bottom.insert(at, e);
            return;
        }
        self.bottom.push(e);
        let last = self.bottom.len() - 1;
        settle_last(&mut self.bottom, last, e);
    }

    /// Adds `e` to bucket `b`, which lies in the slots' span.
    #[inline(always)]
    fn link(&mut self, b: u64, e: Entry) {
        let slot = (b as usize) & self.mask;
        self.slots[slot].push(e);
        self.bits[slot / 64] |= 1 << (slot % 64);
        self.near += 1;
    }

    /// The bottom ran out: the next non-empty bucket, from the slots or from `far`,
    /// becomes the current one and is sorted into the bottom.
    #[inline(never)]
    fn refill(&mut self) {
        if !self.crowd.is_empty() {
            while let Some(e) = self.crowd.pop() {
                self.bottom.push(e);
            }
            self.bottom.reverse();
            return;
        }
        let b = if self.near > 0 {
            self.cur + self.next_slot_after_cur()
        } else if let Some(key) = self.far.peek_key() {
            self.bucket_of(key)
        } else {
            return;
        };
        self.cur = b;
        if self.near > 0 {
            let slot = (b as usize) & self.mask;
            // The bottom is empty: its buffer goes to the slot, the slot's comes here.
            // One that a burst grew is let go instead of kept by the slot: buffers trade
            // places at every refill, so each burst would otherwise leave one more slot
            // holding a burst's room for good (a pipeline whose transactions publish
            // their outputs together kept 100 MB for 2,000 pending events after a few
            // million messages).
            std::mem::swap(&mut self.bottom, &mut self.slots[slot]);
            if self.slots[slot].capacity() > SLOT_ROOM {
                self.slots[slot] = Vec::new();
            }
            self.bits[slot / 64] &= !(1 << (slot % 64));
            self.near -= self.bottom.len();
        }
        // What `far` holds within the slots' span now comes in.
        let span = self.mask as u64 + 1;
        while let Some(key) = self.far.peek_key() {
            let fb = self.bucket_of(key);
            if fb - b >= span {
                break;
            }
            let e = self.far.pop().expect("peeked");
            if fb == b {
                self.bottom.push(e);
            } else {
                self.link(fb, e);
            }
        }
        self.sort_bottom();
    }

    /// Sorts the bottom latest first: in place for the few a bucket usually holds.
    #[inline]
    fn sort_bottom(&mut self) {
        let v = &mut self.bottom[..];
        if v.len() > 16 {
            v.sort_unstable_by_key(|e| std::cmp::Reverse(e.key));
            return;
        }
        for i in 1..v.len() {
            settle_last(v, i, v[i]);
        }
    }

    /// Buckets from `cur` to the next non-empty slot (at least one; there is one).
    fn next_slot_after_cur(&self) -> u64 {
        let mask = self.mask;
        let start = (self.cur as usize + 1) & mask;
        let words = self.bits.len();
        let mut w = start / 64;
        let mut word = self.bits[w] & (!0u64 << (start % 64));
        for _ in 0..=words {
            if word != 0 {
                let slot = w * 64 + word.trailing_zeros() as usize;
                return ((slot.wrapping_sub(start) & mask) + 1) as u64;
            }
            w = (w + 1) % words;
            word = self.bits[w];
        }
        unreachable!("a non-empty slot is marked")
    }

    /// Every few thousand pops: sets the width and slots again when the mean gap between
    /// pops or the pending count has moved far from what they were set for.
    #[inline(never)]
    fn tune(&mut self, now: u64) {
        let gap = now.saturating_sub(self.since) / u64::from(self.pops);
        self.pops = 0;
        self.since = now;
        let (shift, slots) = Self::fit(gap, self.len());
        // Within a factor of four of what fits is left alone, so that a pace or a count
        // hovering at a boundary does not lay everything out again at every look.
        let (have, want) = (self.mask + 1, slots);
        if shift.abs_diff(self.shift) >= 2 || want > 2 * have || 2 * want < have {
            let mut v = std::mem::take(&mut self.spare);
            self.drain_into(&mut v);
            self.lay_out(&mut v, gap);
            self.spare = v;
        }
    }

    /// The width and slot count for a mean gap between pops and a pending count: a
    /// bucket about eight gaps wide (fewer, and the walks to the next bucket and the
    /// refills of the bottom cost partitions-1000 more than the bottom's sorting saves),
    /// slots for twice the pending (so their span is about sixteen
    /// times what is pending spans).
    fn fit(gap: u64, pending: usize) -> (u32, usize) {
        let shift = gap.max(1).saturating_mul(8).ilog2();
        let slots = (2 * pending)
            .next_power_of_two()
            .clamp(MIN_SLOTS, MAX_SLOTS);
        (shift, slots)
    }

    /// Moves every entry into `v`, in no order.
    fn drain_into(&mut self, v: &mut Vec<Entry>) {
        v.append(&mut self.bottom);
        while let Some(e) = self.crowd.pop() {
            v.push(e);
        }
        // Only the marked slots hold anything: a calendar once grown keeps many more.
        for (w, word) in self.bits.iter_mut().enumerate() {
            while *word != 0 {
                let slot = w * 64 + word.trailing_zeros() as usize;
                v.append(&mut self.slots[slot]);
                *word &= *word - 1;
            }
        }
        self.near = 0;
        while let Some(e) = self.far.pop() {
            v.push(e);
        }
    }

    /// Lays `v`'s entries out, into the empty calendar, for this mean gap between pops;
    /// `v` is left empty.
    fn lay_out(&mut self, v: &mut Vec<Entry>, gap: u64) {
        debug_assert!(self.is_empty() && self.near == 0 && self.far.is_empty());
        let (shift, slots) = Self::fit(gap, v.len());
        self.shift = shift;
        if self.slots.len() < slots {
            self.slots.resize_with(slots, Vec::new);
        }
        self.mask = slots - 1;
        self.bits.clear();
        self.bits.resize(slots / 64, 0);
        self.cur = v.iter().map(|e| self.bucket_of(e.key)).min().unwrap_or(0);
        let span = slots as u64;
        for e in v.drain(..) {
            let b = self.bucket_of(e.key);
            if b == self.cur {
                self.bottom.push(e);
            } else if b - self.cur < span {
                self.link(b, e);
            } else {
                self.far.push(e);
            }
        }
        self.sort_bottom();
    }
}

#[cfg(test)]
mod tests;
