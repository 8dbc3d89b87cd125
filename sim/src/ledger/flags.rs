//! Per-message flags of a topic, windowed like the ledger: the flags of messages the
//! engine has folded are forgotten, so they cost memory while a message can still change,
//! not for the rest of the run.

/// Per-message flags of a topic: what the producer and the broker know of it.
#[derive(Clone, Debug)]
pub struct MessageFlags {
    /// Id of `flags[0]`; the messages below are folded (final, counted in their groups'
    /// ledgers).
    base: u32,
    flags: Vec<u8>,
    /// The id whose registration looks for a foldable prefix next.
    fold_at: u32,
    /// Messages between two looks, at least.
    every: u32,
}

impl Default for MessageFlags {
    fn default() -> Self {
        MessageFlags {
            base: 0,
            flags: Vec::new(),
            fold_at: super::FOLD_EVERY - 1,
            every: super::FOLD_EVERY,
        }
    }
}

const ACCEPTED: u8 = 1;
const ACKED: u8 = 1 << 1;
const GAVE_UP: u8 = 1 << 2;
const OWED: u8 = 1 << 3;
const REPEATED: u8 = 1 << 4;

impl MessageFlags {
    /// Index of message `id` in the window; panics below it (a folded message is final,
    /// so nothing may ask about it: an engine that does has a reference the watermark
    /// missed, and a wrong census would be worse than the panic).
    #[inline(always)]
    fn at(&self, id: u32) -> usize {
        (id - self.base) as usize
    }

    /// `arrived` when message `id` was appended once; `None` when a resend put twin
    /// entries of it at the broker, each with its own arrival.
    #[must_use]
    #[inline]
    pub fn exact(&self, id: u32, arrived: crate::time::SimTime) -> Option<crate::time::SimTime> {
        (!self.repeated(id)).then_some(arrived)
    }

    /// Registers a new message; returns its id.
    #[inline]
    pub fn push(&mut self) -> u32 {
        self.flags.push(0);
        u32::try_from(self.len() - 1).expect("more than 4 billion messages in one topic")
    }

    /// Whether registering message `id` is the moment to look for a foldable prefix
    /// (one compare per message; the look itself is amortised over many).
    #[inline(always)]
    #[must_use]
    pub fn fold_due(&self, id: u32) -> bool {
        id == self.fold_at
    }

    /// The next look for a foldable prefix comes `after` messages from now, or the usual
    /// interval if that is longer.
    pub fn fold_again(&mut self, after: u32) {
        let last = u32::try_from(self.len())
            .unwrap_or(u32::MAX)
            .saturating_sub(1);
        self.fold_at = last.saturating_add(after.max(self.every));
    }

    /// Looks for a foldable prefix every `every` messages instead of every `FOLD_EVERY`
    /// (tests: folding often must not change a run's result).
    pub fn fold_every(&mut self, every: u32) {
        self.every = every.max(1);
        self.fold_again(self.every);
    }

    /// Forgets the flags of every message below `below` (their groups' ledgers have
    /// folded them already).
    pub fn fold(&mut self, below: u32) {
        if below <= self.base {
            return;
        }
        let n = ((below - self.base) as usize).min(self.flags.len());
        self.flags.drain(..n);
        self.base += n as u32;
        super::shrink(&mut self.flags, super::FOLD_EVERY as usize);
    }

    /// The first message not folded.
    #[must_use]
    pub fn base(&self) -> u32 {
        self.base
    }

    /// Bytes held for the messages not folded yet.
    #[must_use]
    pub fn resident_bytes(&self) -> usize {
        self.flags.capacity()
    }

    /// Messages registered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.base as usize + self.flags.len()
    }

    /// True when the topic has no messages.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The broker appended it at least once; true the first time.
    #[inline]
    pub fn accept(&mut self, id: u32) -> bool {
        let i = self.at(id);
        let f = &mut self.flags[i];
        let first = *f & ACCEPTED == 0;
        *f |= ACCEPTED;
        first
    }

    /// The broker no longer has it (a failover cut it from the log): a resend must be
    /// appended again, even by an idempotent producer.
    pub fn unaccept(&mut self, id: u32) {
        let i = self.at(id);
        self.flags[i] &= !ACCEPTED;
    }

    /// Whether the broker has appended it.
    #[must_use]
    pub fn accepted(&self, id: u32) -> bool {
        self.flags[self.at(id)] & ACCEPTED != 0
    }

    /// The producer was told it was sent; true the first time.
    #[inline]
    pub fn ack(&mut self, id: u32) -> bool {
        let i = self.at(id);
        let f = &mut self.flags[i];
        let first = *f & ACKED == 0;
        *f |= ACKED;
        first
    }

    /// Whether the producer was told it was sent.
    #[must_use]
    pub fn acked(&self, id: u32) -> bool {
        self.flags[self.at(id)] & ACKED != 0
    }

    /// The broker appended it again (a resend it did not deduplicate).
    pub fn repeat(&mut self, id: u32) {
        let i = self.at(id);
        self.flags[i] |= REPEATED;
    }

    /// Whether the broker appended it more than once.
    #[must_use]
    #[inline]
    pub fn repeated(&self, id: u32) -> bool {
        self.flags[self.at(id)] & REPEATED != 0
    }

    /// The producer gave up on it.
    pub fn give_up(&mut self, id: u32) {
        let i = self.at(id);
        self.flags[i] |= GAVE_UP;
    }

    /// A service committed the state change this message is the event of: the event is
    /// owed downstream from then on, published or not.
    pub fn owe(&mut self, id: u32) {
        let i = self.at(id);
        self.flags[i] |= OWED;
    }

    /// Whether a committed state change owes this event.
    #[must_use]
    pub fn owed(&self, id: u32) -> bool {
        self.flags[self.at(id)] & OWED != 0
    }

    /// Whether the producer gave up on it.
    #[must_use]
    pub fn gave_up(&self, id: u32) -> bool {
        self.flags[self.at(id)] & GAVE_UP != 0
    }
}
