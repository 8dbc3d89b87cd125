//! The visible messages of a queue that does not serve one line first-come-first-served:
//! one line per priority class, or per FIFO message group. Each slot carries its place
//! in the single line the queue would otherwise keep (lower is older; a slot put back at
//! the head takes a place before everything), so the oldest of a line, and the oldest of
//! all, are known without walking the backlog, where a scan for a class's or an unlocked
//! group's oldest made every receive of a backlog cost its length. A slot that leaves
//! a line other than from its front (a late delete after its lease ran out) stays in it,
//! out of date, until it would come to the front (each entry keeps the receipt its slot
//! had when it became visible, as the single line does), so no line is ever walked; a
//! line's first entry is always up to date.

use std::collections::{BTreeSet, VecDeque};

#[derive(Debug)]
pub(super) struct Lines {
    /// By line: its slots, oldest first, each with its place and receipt.
    lines: Vec<VecDeque<(i64, u32, u32)>>,
    /// Every non-empty line's first, as (place, line): the oldest slot is the first's.
    firsts: BTreeSet<(i64, u32)>,
    /// The place the next slot put back at the head takes, less one; the place the next
    /// slot added at the tail takes.
    head: i64,
    tail: i64,
    /// Up-to-date entries over every line.
    len: usize,
}

impl Lines {
    pub(super) fn new(lines: usize) -> Lines {
        Lines {
            lines: vec![VecDeque::new(); lines],
            firsts: BTreeSet::new(),
            head: 0,
            tail: 0,
            len: 0,
        }
    }

    /// Up-to-date slots over every line.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The place of line `l`'s first slot.
    pub(super) fn first_place(&self, l: u32) -> Option<i64> {
        self.lines[l as usize].front().map(|e| e.0)
    }

    /// Bit `l` set when line `l` (below 8) holds a slot.
    pub(super) fn waiting(&self) -> u8 {
        self.lines
            .iter()
            .take(8)
            .enumerate()
            .fold(0, |w, (l, q)| if q.is_empty() { w } else { w | 1 << l })
    }

    pub(super) fn push_back(&mut self, l: u32, i: u32, receipt: u32) {
        let line = &mut self.lines[l as usize];
        if line.is_empty() {
            self.firsts.insert((self.tail, l));
        }
        line.push_back((self.tail, i, receipt));
        self.tail += 1;
        self.len += 1;
    }

    pub(super) fn push_front(&mut self, l: u32, i: u32, receipt: u32) {
        self.head -= 1;
        let line = &mut self.lines[l as usize];
        if let Some(&(was, _, _)) = line.front() {
            self.firsts.remove(&(was, l));
        }
        line.push_front((self.head, i, receipt));
        self.firsts.insert((self.head, l));
        self.len += 1;
    }

    /// Takes line `l`'s first slot, and the out-of-date entries behind it (`current`:
    /// whether a slot's entry, by its receipt, is up to date).
    pub(super) fn pop_front(&mut self, l: u32, current: impl Fn(u32, u32) -> bool) -> Option<u32> {
        let line = &mut self.lines[l as usize];
        let (place, i, _) = line.pop_front()?;
        self.firsts.remove(&(place, l));
        while line.front().is_some_and(|&(_, j, r)| !current(j, r)) {
            line.pop_front();
        }
        if let Some(&(next, _, _)) = line.front() {
            self.firsts.insert((next, l));
        }
        self.len -= 1;
        Some(i)
    }

    /// Slot `i`, in line `l`, leaves it (no longer `current`): from the front at once,
    /// from further back when it would reach the front.
    pub(super) fn forget(&mut self, l: u32, i: u32, current: impl Fn(u32, u32) -> bool) {
        if self.lines[l as usize].front().is_some_and(|e| e.1 == i) {
            self.pop_front(l, current);
        } else {
            self.len -= 1;
        }
    }

    /// The oldest slot of any line, and its line.
    pub(super) fn oldest(&self) -> Option<(u32, u32)> {
        let &(_, l) = self.firsts.first()?;
        Some((self.lines[l as usize].front()?.1, l))
    }
}
