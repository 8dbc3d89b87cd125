//! The partitions a consumer instance owns that may have a message for it to fetch, kept
//! as bits from the instance's first partition on, the first words in place: an instance
//! of a few dozen partitions then finds and marks its candidates in the instance itself,
//! not in two heap blocks that a run over many instances finds out of the cache at every
//! message.

/// Bit words (64 partitions each) held in place, from `lo` on; the rest go on the heap.
const NEAR: usize = 2;

/// Partitions up to which an instance (owning any) keeps no candidates: its fetch looks
/// at each of them from the cursor on, which costs less than marking and finding
/// candidates (two or three partitions an instance, as a topic of a few partitions read
/// by a few instances gives, paid about 150 instructions a message for the bits).
const SCANNED: usize = 8;

/// The partitions a consumer instance owns that may have a message for it to fetch, in
/// partition order, and where its next fetch starts looking (round-robin fairness across
/// its partitions). A partition goes in whenever something may have made it fetchable
/// (the high watermark rose, its message in service finished, its position went back, it
/// was assigned) and comes out when a fetch takes from it or finds nothing there, so a
/// fetch costs what it finds, not how many partitions the instance owns.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct Ready {
    /// The next fetch looks at this partition first, then on up, wrapping around.
    next: u32,
    /// The word (partition / 64) that bit word 0 holds: the one of the instance's first
    /// partition, set when its partitions change.
    lo: u32,
    /// The instance's partitions as a range `[lo, hi)` where they are contiguous (set by
    /// `restart`; empty otherwise): what it fetches from in a group that keeps its
    /// fetchable partitions in bits (`Ranges`).
    span: (u32, u32),
    /// Candidates looked at by fetches so far (what fetching has cost).
    looked: u64,
    len: usize,
    /// One bit per partition, words `0..NEAR` from `lo`; `far` the words after them. A
    /// second level (`sum`, one bit per nonzero word) finds the next candidate among
    /// 100,000 partitions in a few dozen word checks. A `BTreeSet` here cost about 100
    /// instructions per message on a one-partition instance.
    near: [u64; NEAR],
    /// The summary's first word (the first 64 bit words); `sum_far` the ones after it.
    sum: u64,
    // What an instance of more than `NEAR` words of partitions needs, after what every
    // fetch reads (declaration order: `repr(C)`).
    far: Vec<u64>,
    sum_far: Vec<u64>,
}

impl Ready {
    /// Bit word `r` (from `lo`).
    #[inline]
    fn word(&self, r: usize) -> u64 {
        match self.near.get(r) {
            Some(&w) => w,
            None => self.far.get(r - NEAR).copied().unwrap_or(0),
        }
    }

    /// Bit word `r`, made room for.
    #[inline]
    fn word_mut(&mut self, r: usize) -> &mut u64 {
        if r < NEAR {
            return &mut self.near[r];
        }
        let i = r - NEAR;
        if i >= self.far.len() {
            self.far.resize(i + 1, 0);
        }
        &mut self.far[i]
    }

    /// Summary word `s`.
    #[inline]
    fn sum_word(&self, s: usize) -> u64 {
        match s {
            0 => self.sum,
            _ => self.sum_far.get(s - 1).copied().unwrap_or(0),
        }
    }

    /// Summary word `s`, made room for.
    #[inline]
    fn sum_mut(&mut self, s: usize) -> &mut u64 {
        if s == 0 {
            return &mut self.sum;
        }
        if s > self.sum_far.len() {
            self.sum_far.resize(s, 0);
        }
        &mut self.sum_far[s - 1]
    }

    /// Bit words that may be nonzero.
    fn words(&self) -> usize {
        NEAR + self.far.len()
    }

    /// Partition `p` may have a message to fetch.
    #[inline]
    pub fn insert(&mut self, p: u32) {
        if p / 64 < self.lo {
            self.rebase(p / 64);
        }
        let r = (p / 64 - self.lo) as usize;
        let bit = 1u64 << (p % 64);
        let word = self.word_mut(r);
        if *word & bit == 0 {
            *word |= bit;
            *self.sum_mut(r / 64) |= 1u64 << (r % 64);
            self.len += 1;
        }
    }

    /// Each of `owned` may have a message to fetch.
    pub fn insert_all(&mut self, owned: &[u32]) {
        for &p in owned {
            self.insert(p);
        }
    }

    /// Partition `p` has nothing to fetch (or was just fetched from).
    #[inline]
    pub fn remove(&mut self, p: u32) {
        let Some(r) = (p / 64).checked_sub(self.lo).map(|r| r as usize) else {
            return;
        };
        // A word in place is looked at without the heap words' length, which lies in
        // another cache line.
        let word = match self.near.get_mut(r) {
            Some(w) => w,
            None => match self.far.get_mut(r - NEAR) {
                Some(w) => w,
                None => return,
            },
        };
        let bit = 1u64 << (p % 64);
        if *word & bit != 0 {
            *word &= !bit;
            let empty = *word == 0;
            self.len -= 1;
            if empty {
                *self.sum_mut(r / 64) &= !(1u64 << (r % 64));
            }
        }
    }

    /// Moves bit word 0 to partition word `lo`, keeping the candidates (and going lower
    /// still if one of them is below it). Rare: only when an instance's partitions change.
    fn rebase(&mut self, lo: u32) {
        if self.len == 0 {
            // Every word is zero already.
            self.lo = lo;
            return;
        }
        let mut held = Vec::with_capacity(self.len);
        for r in 0..self.words() {
            let mut w = self.word(r);
            while w != 0 {
                held.push((self.lo + r as u32) * 64 + w.trailing_zeros());
                w &= w - 1;
            }
        }
        self.near = [0; NEAR];
        self.far.iter_mut().for_each(|w| *w = 0);
        self.sum = 0;
        self.sum_far.iter_mut().for_each(|w| *w = 0);
        self.len = 0;
        self.lo = held.iter().map(|p| p / 64).fold(lo, u32::min);
        for p in held {
            self.insert(p);
        }
    }

    /// The first candidate at or after `from`.
    fn first_from(&self, from: u32) -> Option<u32> {
        let lo = self.lo as usize;
        let w = (from / 64) as usize;
        let (r, mask) = if w < lo {
            (0, u64::MAX)
        } else {
            (w - lo, u64::MAX << (from % 64))
        };
        let at = |r: usize| Some(((lo + r) * 64) as u32 + self.word(r).trailing_zeros());
        let m = self.word(r) & mask;
        if m != 0 {
            return Some(((lo + r) * 64) as u32 + m.trailing_zeros());
        }
        // The next nonzero word after `r`, through the summary.
        let start = r + 1;
        let mut s = start / 64;
        let mut mask = u64::MAX << (start % 64);
        while s <= self.sum_far.len() {
            let m = self.sum_word(s) & mask;
            if m != 0 {
                return at(s * 64 + m.trailing_zeros() as usize);
            }
            s += 1;
            mask = u64::MAX;
        }
        None
    }

    /// The partition the next fetch looks at: the first candidate from the cursor on,
    /// else (wrapping around) the first of all.
    pub fn peek(&mut self) -> Option<u32> {
        self.looked += 1;
        if self.len == 0 {
            return None;
        }
        self.first_from(self.next).or_else(|| self.first_from(0))
    }

    /// Whether an instance owning `owned` partitions looks at each of them (`scan_from`)
    /// instead of keeping candidates: then nothing is inserted.
    #[inline(always)]
    #[must_use]
    pub fn scans(owned: usize) -> bool {
        // An instance owning nothing keeps candidates, as it always did: a rebalance tells
        // it of its new partitions before they are its own.
        (1..=SCANNED).contains(&owned)
    }

    /// A fetch of an instance owning `owned` partitions took from `p`: the next one
    /// starts after it, and a candidate is no longer one until it is told again (in a
    /// group that keeps bits, `ranged`, its bit is the group's to clear).
    #[inline(always)]
    pub fn took(&mut self, owned: usize, p: u32, ranged: bool) {
        if Ready::scans(owned) || ranged {
            self.passed(p);
        } else {
            self.fetched(p);
        }
    }

    /// A fetch took from `p`: the next one starts after it.
    #[inline]
    pub fn fetched(&mut self, p: u32) {
        self.remove(p);
        self.next = p.saturating_add(1);
    }

    /// A fetch of a scanning instance took from `p`: the next one starts after it.
    #[inline(always)]
    pub fn passed(&mut self, p: u32) {
        self.next = p.saturating_add(1);
    }

    /// A scanning instance's fetch (counted as one look): the first of `owned`
    /// (ascending) from the cursor on, wrapping around, that `ready` accepts. The order
    /// `peek` gives when every partition that is ready is a candidate.
    #[inline]
    pub fn scan_from(&mut self, owned: &[u32], ready: impl Fn(u32) -> bool) -> Option<u32> {
        self.looked += 1;
        let n = owned.len();
        let start = owned.partition_point(|&p| p < self.next);
        for k in 0..n {
            let at = if start + k < n {
                start + k
            } else {
                start + k - n
            };
            let p = owned[at];
            if ready(p) {
                return Some(p);
            }
        }
        None
    }

    /// The instance's partitions changed from `was` to `owned`: the next fetch starts from
    /// the first, and the bits from the first of `owned` on. A one-partition instance kept
    /// no candidates (it looks at its partition directly), so when it takes more, each of
    /// them may have a message; likewise an instance that scanned its partitions.
    pub fn restart(&mut self, was: &[u32], owned: &[u32]) {
        self.next = 0;
        self.span = super::Ranges::span(owned).unwrap_or((0, 0));
        if let Some(first) = owned.iter().min() {
            self.rebase(first / 64);
        }
        if Ready::scans(was.len()) && !Ready::scans(owned.len()) {
            self.insert_all(owned);
        }
    }

    /// The instance's partitions as a range `[lo, hi)`, where they are contiguous.
    #[inline(always)]
    #[must_use]
    pub fn span(&self) -> (u32, u32) {
        self.span
    }

    /// Where the next fetch starts looking.
    #[inline(always)]
    #[must_use]
    pub fn cursor(&self) -> u32 {
        self.next
    }

    /// A one-partition instance's fetch looked at its partition (counted as `peek` does).
    pub fn look(&mut self) {
        self.looked += 1;
    }

    /// Candidates looked at by fetches so far, a found one or not, and each look that
    /// found none.
    #[must_use]
    pub fn looked(&self) -> u64 {
        self.looked
    }

    /// Candidates held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No candidate.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Ready;
    use std::collections::BTreeSet;

    /// The bit set answers as the ordered set it replaced, on a random walk of inserts,
    /// removes, peeks and restarts over a wide range of partitions (a restart moves its
    /// first word, and inserts below it move it back).
    #[test]
    fn the_bit_set_behaves_as_an_ordered_set() {
        let mut r = Ready::default();
        let mut model = BTreeSet::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly a narrow window that moves now and then, sometimes anywhere.
            let window = (step / 5_000) as u32 * 700 % 8_000;
            let p = if x.is_multiple_of(16) {
                (x >> 8) as u32 % 9_000
            } else {
                window + (x >> 8) as u32 % 300
            };
            match (x >> 40) % 9 {
                0..=3 => {
                    r.insert(p);
                    model.insert(p);
                }
                4..=6 => {
                    r.remove(p);
                    model.remove(&p);
                }
                7 => {
                    let next = (x >> 20) as u32 % 9_100;
                    r.next = next;
                    let want = model
                        .range(next..)
                        .next()
                        .or_else(|| model.first())
                        .copied();
                    assert_eq!(r.peek(), want, "from {next}");
                }
                _ if (x >> 50).is_multiple_of(64) => {
                    let owned = [window + 10, window + 200];
                    r.restart(&[1, 2], &owned);
                    assert!(r.lo <= (window + 10) / 64);
                    assert_eq!(r.peek(), model.first().copied());
                }
                _ => {}
            }
            assert_eq!(r.len(), model.len());
        }
    }

    /// An instance that scans its few partitions takes the one the candidate set would
    /// give when every ready partition is a candidate: the first from the cursor on,
    /// wrapping around.
    #[test]
    fn a_scan_takes_what_the_candidates_would_give() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let owned: Vec<u32> = (0..20).filter(|_| next() % 3 == 0).take(8).collect();
            let ready: Vec<u32> = owned.iter().copied().filter(|_| next() % 2 == 0).collect();
            let cursor = (next() % 22) as u32;
            let mut bits = Ready::default();
            for &p in &ready {
                bits.insert(p);
            }
            bits.next = cursor;
            let mut scan = Ready {
                next: cursor,
                ..Ready::default()
            };
            let want = bits.peek();
            assert_eq!(scan.scan_from(&owned, |p| ready.contains(&p)), want);
            assert_eq!(scan.looked(), 1);
        }
        assert!(Ready::scans(1) && Ready::scans(8));
        assert!(!Ready::scans(0) && !Ready::scans(9));
    }

    #[test]
    fn ready_partitions_are_taken_round_robin_from_the_cursor() {
        let mut r = Ready::default();
        assert_eq!(r.peek(), None);
        for p in [7, 2, 5] {
            r.insert(p);
        }
        assert_eq!(r.peek(), Some(2));
        r.fetched(2);
        r.insert(2);
        // After 2 comes 5, then 7, then around to 2 again.
        assert_eq!(r.peek(), Some(5));
        r.fetched(5);
        assert_eq!(r.peek(), Some(7));
        r.fetched(7);
        assert_eq!(r.peek(), Some(2));
        r.remove(2);
        assert!(r.is_empty());
        r.insert(9);
        r.restart(&[], &[]);
        r.insert(1);
        assert_eq!((r.peek(), r.len()), (Some(1), 2));
        assert_eq!(r.looked(), 6);
    }

    /// An instance of a few partitions past the first thousand keeps its candidates in
    /// place: nothing on the heap.
    #[test]
    fn a_narrow_instance_far_into_the_topic_holds_its_bits_in_place() {
        let mut r = Ready::default();
        let owned: Vec<u32> = (5_000..5_100).collect();
        r.restart(&[], &owned);
        for &p in owned.iter().rev() {
            r.insert(p);
        }
        assert!(r.far.is_empty() && r.sum_far.is_empty());
        assert_eq!((r.len(), r.peek()), (100, Some(5_000)));
        r.insert(3);
        assert_eq!((r.lo, r.peek()), (0, Some(3)));
        assert_eq!(r.len(), 101);
    }
}
