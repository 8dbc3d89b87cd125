//! A binary min-heap on the packed keys, whose pop leaves the root empty until the next
//! push or pop. It held the pending events once more than a few were pending, before the
//! calendar; now it holds the calendar's events past its slots and a burst at one
//! instant, where a heap's cost is what is wanted. A push after a pop drops into the
//! root's place and sifts down once, where a pop and a push would each walk the heap.
//! The keys are unique, so the order popped is the keys' order whatever the shape.

use super::queue::Entry;

/// Children per node.
const ARITY: usize = 2;

#[derive(Debug, Default)]
pub(super) struct Heap {
    v: Vec<Entry>,
    /// `v[0]` was popped and waits to be replaced (by the next push, or by the last
    /// entry before the next pop).
    hole: bool,
}

impl Heap {
    /// Entries held.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.v.len() - usize::from(self.hole)
    }

    /// Entries' room kept.
    pub(super) fn capacity(&self) -> usize {
        self.v.capacity()
    }

    /// Nothing held.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The earliest key: the root's, or with the root popped, its earliest child's
    /// (every other entry comes after one of them).
    #[inline(always)]
    pub(super) fn peek_key(&self) -> Option<u128> {
        if !self.hole {
            return self.v.first().map(|e| e.key);
        }
        self.peek_below_hole()
    }

    /// `peek_key` with the root popped (out of line: a push usually fills it first).
    #[inline(never)]
    fn peek_below_hole(&self) -> Option<u128> {
        let end = self.v.len().min(1 + ARITY);
        self.v.get(1..end)?.iter().map(|e| e.key).min()
    }

    /// Removes the earliest entry (its place is filled later).
    #[inline]
    pub(super) fn pop(&mut self) -> Option<Entry> {
        self.fill();
        let top = *self.v.first()?;
        self.hole = true;
        Some(top)
    }

    /// Adds an entry: into the popped root's place if there is one, else at the end.
    // Inlined into the run loop: left to itself the compiler calls it, and
    // partitions-1000 paid ~50 instructions a message for the call (cachegrind).
    #[inline(always)]
    pub(super) fn push(&mut self, e: Entry) {
        if self.hole {
            self.hole = false;
            self.sift_down(0, e);
        } else {
            self.v.push(e);
            self.sift_up(self.v.len() - 1, e);
        }
    }

    /// Fills the popped root's place with the last entry.
    #[inline]
    fn fill(&mut self) {
        if self.hole {
            self.hole = false;
            if let Some(last) = self.v.pop()
                && !self.v.is_empty()
            {
                self.sift_down(0, last);
            }
        }
    }

    /// Puts `e` at `at` or above, moving later parents down.
    #[inline]
    fn sift_up(&mut self, mut at: usize, e: Entry) {
        while at > 0 {
            let parent = (at - 1) / ARITY;
            if self.v[parent].key < e.key {
                break;
            }
            self.v[at] = self.v[parent];
            at = parent;
        }
        self.v[at] = e;
    }

    /// Puts `e` at `at` or below, moving earlier children up.
    #[inline]
    fn sift_down(&mut self, mut at: usize, e: Entry) {
        let v = &mut self.v[..];
        let n = v.len();
        let mut kid = 2 * at + 1;
        while kid + 1 < n {
            kid += usize::from(v[kid + 1].key < v[kid].key);
            if e.key < v[kid].key {
                v[at] = e;
                return;
            }
            v[at] = v[kid];
            at = kid;
            kid = 2 * at + 1;
        }
        if kid < n && v[kid].key < e.key {
            // A last child without a sibling.
            v[at] = v[kid];
            at = kid;
        }
        v[at] = e;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use proptest::prelude::*;

    fn entry(key: u128) -> Entry {
        Entry {
            key,
            event: Event::Sample.pack(),
        }
    }

    proptest! {
        /// Pushes and pops interleaved (a pop often followed by a push, which fills its
        /// place) come out as a sorted list would give them, and the earliest key is
        /// known while the root's place is empty.
        #[test]
        fn pops_in_key_order_with_the_root_left_empty(
            ops in proptest::collection::vec((0u64..1_000, 0u8..3), 1..2_000)
        ) {
            let mut h = Heap::default();
            let mut model: Vec<u128> = Vec::new();
            let mut seq = 0u128;
            for (t, op) in ops {
                if op == 0 {
                    model.sort_unstable();
                    let want = (!model.is_empty()).then(|| model.remove(0));
                    prop_assert_eq!(h.pop().map(|e| e.key), want);
                } else {
                    seq += 1;
                    let key = (u128::from(t) << 64) | seq;
                    model.push(key);
                    h.push(entry(key));
                }
                prop_assert_eq!(h.len(), model.len());
                prop_assert_eq!(h.peek_key(), model.iter().min().copied());
            }
            let mut rest = model.clone();
            rest.sort_unstable();
            let got: Vec<u128> = std::iter::from_fn(|| h.pop().map(|e| e.key)).collect();
            prop_assert_eq!(got, rest);
        }
    }
}
