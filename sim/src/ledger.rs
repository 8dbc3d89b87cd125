//! The delivery ledger: one byte and two bits per copy (message × consumer group) and one
//! byte per message (`MessageFlags`), for the copies that can still change. Message ids are
//! dense and in creation order, so each ledger is a window starting at a base id: once the
//! engine has proved that nothing can reach the copies below some id any more (see
//! `engine/window.rs`), the ledger counts them into `CopyCounts` (exactly what the census
//! would have counted at the end) and forgets them, and memory follows the backlog, not
//! the run's length. The bit layout is private; the engine calls the verbs below.

mod counts;
mod flags;

pub use counts::CopyCounts;
pub use flags::MessageFlags;

/// Messages between two looks for a foldable prefix, at least (a look costs what the
/// engine holds, so the engine spaces them further apart behind a larger backlog). A
/// multiple of 64, so a fold keeps the bit words aligned.
pub const FOLD_EVERY: u32 = 1 << 16;

/// Gives memory back once a window has shrunk well below what it once needed (a backlog
/// that has drained), without reallocating on every fold: `floor` elements (a fold's
/// worth) are always kept.
fn shrink<T>(v: &mut Vec<T>, floor: usize) {
    let keep = 2 * v.len().max(floor);
    if v.capacity() > 2 * keep {
        v.shrink_to(keep);
    }
}

/// Per-copy state: bits 0–1 how often the side effect was applied (saturating at 3:
/// twice is already a duplicate), then flags.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Id of `copies[0]`, a multiple of 64; every copy below it is folded into `folded`.
    base: u32,
    /// What the census counts of the folded copies.
    folded: CopyCounts,
    copies: Vec<u8>,
    /// One bit per copy: it reached the broker (counted into the group's time-average
    /// number in system). A copy refused before that must not be counted out of it.
    entered: Vec<u64>,
    /// One bit per copy: its first application's latency is recorded (a replay after a
    /// rolled-back transaction is not a second sample).
    sampled: Vec<u64>,
}

const COUNT: u8 = 0b0000_0011;
const UNADDRESSED: u8 = 1 << 2;
const FINISHED: u8 = 1 << 3;
const DELIVERED: u8 = 1 << 4;
const DEAD: u8 = 1 << 5;
const DROPPED: u8 = 1 << 6;
const COMMITTED: u8 = 1 << 7;

/// What [`Ledger::apply_fresh`] found besides the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstApply {
    /// The copy left the system now (finished the first time, having entered).
    pub leaves: bool,
    /// Its latency is sampled now (the first sample).
    pub sampled: bool,
}

/// Final class of a copy; processed wins over the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Side effect applied at least once (the count says how often).
    Processed(u8),
    /// Moved to a dead-letter queue.
    DeadLettered,
    /// Discarded by a known mechanism.
    Dropped,
    /// None of the above: still in the system, or lost (the census tells which).
    Gone,
}

impl Ledger {
    /// Index of copy `id` in the window; panics below it (a folded copy is final, so
    /// nothing may ask about it: an engine that does holds a reference the watermark
    /// missed, and a silently wrong census would be worse than the panic).
    #[inline(always)]
    fn at(&self, id: u32) -> usize {
        (id - self.base) as usize
    }

    /// Adds a copy for a new message; ids are dense and in creation order.
    #[inline]
    pub fn push(&mut self) {
        self.grow();
        self.copies.push(0);
    }

    #[inline]
    fn grow(&mut self) {
        if self.copies.len().is_multiple_of(64) {
            self.entered.push(0);
            self.sampled.push(0);
        }
    }

    /// The copy reached the broker; true the first time.
    #[inline]
    pub fn enter(&mut self, id: u32) -> bool {
        let (word, bit) = (self.at(id) / 64, 1u64 << (id % 64));
        let first = self.entered[word] & bit == 0;
        self.entered[word] |= bit;
        first
    }

    /// Whether the copy was ever dead-lettered (it may have been processed since).
    #[must_use]
    pub fn dead(&self, id: u32) -> bool {
        self.copies[self.at(id)] & DEAD != 0
    }

    /// Takes a dead-lettering back: another entry of the message was processed, which
    /// wins.
    pub fn undead(&mut self, id: u32) {
        let i = self.at(id);
        self.copies[i] &= !DEAD;
    }

    /// Takes a drop back: the copy was processed or dead-lettered after all, which wins.
    pub fn undrop(&mut self, id: u32) {
        let i = self.at(id);
        self.copies[i] &= !DROPPED;
    }

    /// The copy left the broker without being finished (cut from a log by a failover):
    /// it counts into the system again if it is appended again.
    pub fn exit(&mut self, id: u32) {
        let word = self.at(id) / 64;
        self.entered[word] &= !(1u64 << (id % 64));
    }

    /// The copy's first application is being counted (latency, throughput); true the
    /// first time only.
    #[inline]
    pub fn sample(&mut self, id: u32) -> bool {
        let (word, bit) = (self.at(id) / 64, 1u64 << (id % 64));
        let first = self.sampled[word] & bit == 0;
        self.sampled[word] |= bit;
        first
    }

    /// An exactly-once rollback undid the copy's application: the next one is sampled
    /// again (the undone one's sample stays in the histogram, counted apart).
    pub fn unsample(&mut self, id: u32) {
        let word = self.at(id) / 64;
        self.sampled[word] &= !(1u64 << (id % 64));
    }

    /// Whether the copy has reached the broker.
    #[must_use]
    #[inline]
    pub fn entered(&self, id: u32) -> bool {
        self.entered[self.at(id) / 64] & (1u64 << (id % 64)) != 0
    }

    /// Whether the copy was ever marked dropped (it may have been processed since).
    #[must_use]
    pub fn dropped(&self, id: u32) -> bool {
        self.copies[self.at(id)] & DROPPED != 0
    }

    /// Adds a placeholder for a message this group should not receive (an exchange
    /// routed it elsewhere): not a copy.
    #[inline]
    pub fn push_unaddressed(&mut self) {
        self.grow();
        self.copies.push(UNADDRESSED);
    }

    /// Makes the placeholder of message `id` a copy: a group that joined from the latest
    /// offset after the message was made reads it all the same when it lands after the
    /// join (its start was the log end at the join).
    #[inline]
    pub fn address(&mut self, id: u32) {
        let i = self.at(id);
        self.copies[i] &= !UNADDRESSED;
    }

    /// Whether message `id` is addressed to this group at all.
    #[must_use]
    #[inline]
    pub fn addressed(&self, id: u32) -> bool {
        self.copies[self.at(id)] & UNADDRESSED == 0
    }

    /// How many copies the ledger has had (folded or not): one past the last id.
    #[must_use]
    pub fn len(&self) -> usize {
        self.base as usize + self.copies.len()
    }

    /// True when no message was addressed to this group.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first copy not folded: the census counts the copies from here on itself.
    #[must_use]
    pub fn base(&self) -> u32 {
        self.base
    }

    /// The census of the folded copies.
    #[must_use]
    pub fn folded(&self) -> &CopyCounts {
        &self.folded
    }

    /// Counts every copy below `below` (a multiple of 64) into the folded census and
    /// forgets it. The caller has proved that none of them can change class any more and
    /// that none is anywhere the census looks for copies in the system; `flags` are the
    /// topic's, not folded past `below` yet.
    pub fn fold(&mut self, below: u32, flags: &MessageFlags) {
        debug_assert!(below.is_multiple_of(64), "fold at {below}");
        let below = below.min(u32::try_from(self.len()).unwrap_or(u32::MAX) & !63);
        if below <= self.base {
            return;
        }
        let mut folded = std::mem::take(&mut self.folded);
        let n = (below - self.base) as usize;
        // Almost every copy was applied once, whatever else its byte says: `add` counts
        // such a copy and nothing else (the class is `Processed(1)`), so eight bytes that
        // all say so are counted at once, and only the others one by one, in id order.
        const EACH: u64 = u64::from_le_bytes([1; 8]);
        const LOOK: u64 = EACH * (COUNT | UNADDRESSED) as u64;
        let mut once = 0u64;
        for (j, chunk) in self.copies[..n].chunks_exact(8).enumerate() {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            if word & LOOK == EACH {
                once += 8;
                continue;
            }
            for (k, &c) in chunk.iter().enumerate() {
                if c & UNADDRESSED != 0 {
                    continue;
                }
                if c & COUNT == 1 {
                    once += 1;
                    continue;
                }
                let id = self.base + (8 * j + k) as u32;
                folded.add(id, self.class(id), flags, || false);
            }
        }
        folded.copies += once;
        folded.processed += once;
        self.folded = folded;
        self.copies.drain(..n);
        self.entered.drain(..n / 64);
        self.sampled.drain(..n / 64);
        self.base = below;
        shrink(&mut self.copies, FOLD_EVERY as usize);
        shrink(&mut self.entered, FOLD_EVERY as usize / 64);
        shrink(&mut self.sampled, FOLD_EVERY as usize / 64);
    }

    /// Bytes held for the copies not folded yet.
    #[must_use]
    pub fn resident_bytes(&self) -> usize {
        self.copies.capacity() + 8 * (self.entered.capacity() + self.sampled.capacity())
    }

    /// Times applied so far.
    #[must_use]
    #[inline]
    pub fn applied(&self, id: u32) -> u8 {
        self.copies[self.at(id)] & COUNT
    }

    /// Never applied, dropped or dead-lettered: a first application changes nothing but
    /// the count (one look for the plain path, where the three are all false).
    #[inline]
    #[must_use]
    pub fn fresh(&self, id: u32) -> bool {
        self.copies[self.at(id)] & (COUNT | DEAD | DROPPED) == 0
    }

    /// `!finished(id) && enter(id)` in one look (the plain path's append): the copy
    /// reached the broker; true the first time, unless it has already left the system.
    #[inline(always)]
    pub fn enter_unfinished(&mut self, id: u32) -> bool {
        let i = self.at(id);
        if self.copies[i] & FINISHED != 0 {
            return false;
        }
        let (word, bit) = (i / 64, 1u64 << (id % 64));
        let e = &mut self.entered[word];
        let first = *e & bit == 0;
        *e |= bit;
        first
    }

    /// The plain path's application of a copy, with one look at its byte and bit words
    /// instead of one per verb: `None`, changing nothing, unless the copy is `fresh`;
    /// else `apply`, then `finish` (and whether the copy left the system now: finished
    /// the first time, having entered), then `sample` (whether this is its first sample).
    #[inline(always)]
    pub fn apply_fresh(&mut self, id: u32) -> Option<FirstApply> {
        let i = self.at(id);
        let c = &mut self.copies[i];
        if *c & (COUNT | DEAD | DROPPED) != 0 {
            return None;
        }
        // Fresh: the count goes from 0 to 1.
        let first_finish = *c & FINISHED == 0;
        *c |= 1 | FINISHED;
        let (word, bit) = (i / 64, 1u64 << (id % 64));
        let leaves = first_finish && self.entered[word] & bit != 0;
        let s = &mut self.sampled[word];
        let sampled = *s & bit == 0;
        *s |= bit;
        Some(FirstApply { leaves, sampled })
    }

    /// Records a delivery; true the first time. What the group was delivered is a copy
    /// for it (`address`): a replay before a late join from the latest offset moves the
    /// group back over messages made before it joined.
    #[inline]
    pub fn deliver(&mut self, id: u32) -> bool {
        let i = self.at(id);
        let c = &mut self.copies[i];
        let first = *c & DELIVERED == 0;
        *c = (*c | DELIVERED) & !UNADDRESSED;
        first
    }

    /// Applies the side effect; returns the new count.
    #[inline]
    pub fn apply(&mut self, id: u32) -> u8 {
        let i = self.at(id);
        let c = &mut self.copies[i];
        let n = (*c & COUNT).saturating_add(1).min(COUNT);
        *c = (*c & !COUNT) | n;
        n
    }

    /// Rolls one application back (an aborted transaction); returns the new count.
    pub fn unapply(&mut self, id: u32) -> u8 {
        let i = self.at(id);
        let c = &mut self.copies[i];
        let n = (*c & COUNT).saturating_sub(1);
        *c = (*c & !COUNT) | n;
        n
    }

    /// Marks the copy as having left the system once (processed, dead-lettered or
    /// dropped); true the first time, which is when waiting figures are recorded.
    #[inline]
    pub fn finish(&mut self, id: u32) -> bool {
        let i = self.at(id);
        let c = &mut self.copies[i];
        let first = *c & FINISHED == 0;
        *c |= FINISHED;
        first
    }

    /// Whether the copy has left the system once.
    #[must_use]
    #[inline]
    pub fn finished(&self, id: u32) -> bool {
        self.copies[self.at(id)] & FINISHED != 0
    }

    /// Marks the copy dead-lettered; true the first time.
    pub fn dead_letter(&mut self, id: u32) -> bool {
        self.flag(id, DEAD)
    }

    /// Marks the copy dropped; true the first time.
    pub fn drop_copy(&mut self, id: u32) -> bool {
        self.flag(id, DROPPED)
    }

    /// Marks the copy's side effect as committed (exactly-once on a queue: the
    /// idempotency record is durable, so a redelivery is a known duplicate).
    pub fn commit(&mut self, id: u32) {
        let i = self.at(id);
        self.copies[i] |= COMMITTED;
    }

    /// Whether the side effect is committed.
    #[must_use]
    pub fn committed(&self, id: u32) -> bool {
        self.copies[self.at(id)] & COMMITTED != 0
    }

    /// Whether the side effect can no longer be rolled back: committed, or folded (the
    /// fold takes only copies that can no longer change). For a table keyed by message
    /// id that outlives the fold, where `committed` would index below the window.
    #[must_use]
    pub fn committed_or_folded(&self, id: u32) -> bool {
        id < self.base || self.committed(id)
    }

    fn flag(&mut self, id: u32, bit: u8) -> bool {
        let i = self.at(id);
        let c = &mut self.copies[i];
        let first = *c & bit == 0;
        *c |= bit;
        first
    }

    /// The final class of copy `id`.
    #[must_use]
    pub fn class(&self, id: u32) -> Class {
        let c = self.copies[self.at(id)];
        match c {
            _ if c & COUNT > 0 => Class::Processed(c & COUNT),
            _ if c & DEAD != 0 => Class::DeadLettered,
            // A producer's give-up drops provisionally: if a send of it landed after all,
            // the copy is at the broker until it leaves, and not a drop meanwhile.
            _ if c & DROPPED != 0 && (c & FINISHED != 0 || !self.entered(id)) => Class::Dropped,
            _ => Class::Gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processed_wins_over_every_other_class() {
        let mut l = Ledger::default();
        l.push();
        l.drop_copy(0);
        l.dead_letter(0);
        assert_eq!(l.class(0), Class::DeadLettered);
        l.apply(0);
        assert_eq!(l.class(0), Class::Processed(1));
    }

    #[test]
    fn rollback_undoes_one_application() {
        let mut l = Ledger::default();
        l.push();
        assert_eq!(l.apply(0), 1);
        assert_eq!(l.apply(0), 2);
        assert_eq!(l.unapply(0), 1);
        assert_eq!(l.unapply(0), 0);
        assert_eq!(l.unapply(0), 0);
        assert_eq!(l.class(0), Class::Gone);
    }

    /// The fused verbs leave and answer what the separate ones would, from every state a
    /// copy's byte and bits can be in.
    #[test]
    fn fused_verbs_match_the_separate_ones() {
        let n = 256u32;
        let setup = |l: &mut Ledger, id: u32| {
            let s = id % 32;
            for _ in 0..(s % 3) {
                l.apply(id);
            }
            if s & 4 != 0 {
                l.dead_letter(id);
            }
            if s & 8 != 0 {
                l.drop_copy(id);
            }
            if s & 16 != 0 {
                l.finish(id);
            }
            if id & 32 != 0 {
                l.enter(id);
            }
            if id & 64 != 0 {
                l.sample(id);
            }
        };
        let (mut fused, mut separate) = (Ledger::default(), Ledger::default());
        for id in 0..n {
            fused.push();
            separate.push();
            setup(&mut fused, id);
            setup(&mut separate, id);
        }
        let mut changed = 0;
        for id in 0..n {
            let got = fused.apply_fresh(id);
            let want = separate.fresh(id).then(|| {
                separate.apply(id);
                let leaves = separate.finish(id) && separate.entered(id);
                FirstApply {
                    leaves,
                    sampled: separate.sample(id),
                }
            });
            assert_eq!(got, want, "copy {id}");
            changed += usize::from(got.is_some_and(|f| f.leaves && f.sampled));
            let want = !separate.finished(id) && separate.enter(id);
            assert_eq!(fused.enter_unfinished(id), want, "copy {id}");
        }
        assert!(changed > 0);
        for id in 0..n {
            assert_eq!(fused.class(id), separate.class(id), "copy {id}");
            assert_eq!(fused.entered(id), separate.entered(id), "copy {id}");
            assert_eq!(fused.sample(id), separate.sample(id), "copy {id}");
            assert_eq!(fused.finish(id), separate.finish(id), "copy {id}");
        }
    }

    #[test]
    fn application_count_saturates_instead_of_wrapping() {
        let mut l = Ledger::default();
        l.push();
        for _ in 0..20 {
            l.apply(0);
        }
        assert_eq!(l.applied(0), 3);
    }

    /// A ledger of `n` copies in every class: processed once and twice, dead-lettered,
    /// dropped, unaddressed, and untouched; with flags saying which were accepted.
    fn mixed(n: u32) -> (Ledger, MessageFlags) {
        let (mut l, mut f) = (Ledger::default(), MessageFlags::default());
        for id in 0..n {
            f.push();
            if id % 7 == 6 {
                l.push_unaddressed();
                continue;
            }
            l.push();
            match id % 6 {
                0 => {
                    l.apply(id);
                }
                1 => {
                    l.apply(id);
                    l.apply(id);
                    f.accept(id);
                    f.repeat(id);
                }
                2 => {
                    l.dead_letter(id);
                }
                3 => {
                    l.drop_copy(id);
                }
                4 => {
                    f.accept(id);
                }
                _ => {}
            }
        }
        (l, f)
    }

    fn census(l: &Ledger, f: &MessageFlags) -> CopyCounts {
        let mut c = l.folded().clone();
        for id in (l.base()..l.len() as u32).filter(|&id| l.addressed(id)) {
            c.add(id, l.class(id), f, || false);
        }
        c
    }

    #[test]
    fn a_fold_counts_exactly_what_the_census_would_and_forgets_the_copies() {
        let (whole, flags) = mixed(1_000);
        let expected = census(&whole, &flags);
        assert_eq!(expected.copies, 1_000 - 1_000 / 7);
        assert!(expected.duplicated > 0 && expected.lost > 0 && expected.unaccounted > 0);
        let (mut l, mut f) = mixed(1_000);
        l.fold(320, &f);
        f.fold(320);
        assert_eq!(l.base(), 320);
        assert_eq!(l.len(), 1_000);
        assert_eq!(f.len(), 1_000);
        assert_eq!(census(&l, &f), expected);
        // Folding again, past what was held, stops at the last whole word.
        l.fold(2_048, &f);
        f.fold(960);
        assert_eq!(l.base(), 960);
        assert_eq!(census(&l, &f), expected);
        assert_eq!(l.applied(961), whole.applied(961));
        assert_eq!(l.class(999), whole.class(999));
    }

    #[test]
    fn resident_bytes_follow_the_window_not_the_copies_ever_held() {
        let mut l = Ledger::default();
        let f = MessageFlags::default();
        for round in 0..40u32 {
            let start = u32::try_from(l.len()).unwrap();
            for _ in 0..FOLD_EVERY {
                l.push();
            }
            let len = u32::try_from(l.len()).unwrap();
            for id in start..len {
                l.apply(id);
            }
            l.fold(len - 64, &f);
            assert!(
                l.resident_bytes() < 4 * FOLD_EVERY as usize,
                "round {round}"
            );
        }
        assert_eq!(l.folded().processed, 40 * u64::from(FOLD_EVERY) - 64);
    }

    #[test]
    #[should_panic]
    fn a_folded_copy_cannot_be_touched() {
        let (mut l, f) = mixed(200);
        l.fold(128, &f);
        l.apply(3);
    }
}
