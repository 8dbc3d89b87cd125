//! The delivery ledger: one byte and one bit per copy (message × consumer group) and one byte per
//! message, so a hundred million messages fit on a laptop. The bit layout is private; the
//! engine calls the verbs below.

/// Per-copy state: bits 0–1 how often the side effect was applied (saturating at 3:
/// twice is already a duplicate), then flags.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
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
    /// Adds a copy for a new message; ids are dense and in creation order.
    pub fn push(&mut self) {
        self.grow();
        self.copies.push(0);
    }

    fn grow(&mut self) {
        if self.copies.len().is_multiple_of(64) {
            self.entered.push(0);
            self.sampled.push(0);
        }
    }

    /// The copy reached the broker; true the first time.
    pub fn enter(&mut self, id: u32) -> bool {
        let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        let first = self.entered[word] & bit == 0;
        self.entered[word] |= bit;
        first
    }

    /// Whether the copy was ever dead-lettered (it may have been processed since).
    #[must_use]
    pub fn dead(&self, id: u32) -> bool {
        self.copies[id as usize] & DEAD != 0
    }

    /// Takes a dead-lettering back: another entry of the message was processed, which
    /// wins.
    pub fn undead(&mut self, id: u32) {
        self.copies[id as usize] &= !DEAD;
    }

    /// Takes a drop back: the copy was processed or dead-lettered after all, which wins.
    pub fn undrop(&mut self, id: u32) {
        self.copies[id as usize] &= !DROPPED;
    }

    /// The copy left the broker without being finished (cut from a log by a failover):
    /// it counts into the system again if it is appended again.
    pub fn exit(&mut self, id: u32) {
        self.entered[(id / 64) as usize] &= !(1u64 << (id % 64));
    }

    /// The copy's first application is being counted (latency, throughput); true the
    /// first time only.
    pub fn sample(&mut self, id: u32) -> bool {
        let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        let first = self.sampled[word] & bit == 0;
        self.sampled[word] |= bit;
        first
    }

    /// An exactly-once rollback undid the copy's application: the next one is sampled
    /// again (the undone one's sample stays in the histogram, counted apart).
    pub fn unsample(&mut self, id: u32) {
        self.sampled[(id / 64) as usize] &= !(1u64 << (id % 64));
    }

    /// Whether the copy has reached the broker.
    #[must_use]
    pub fn entered(&self, id: u32) -> bool {
        self.entered[(id / 64) as usize] & (1u64 << (id % 64)) != 0
    }

    /// Whether the copy was ever marked dropped (it may have been processed since).
    #[must_use]
    pub fn dropped(&self, id: u32) -> bool {
        self.copies[id as usize] & DROPPED != 0
    }

    /// Adds a placeholder for a message this group should not receive (an exchange
    /// routed it elsewhere): not a copy.
    pub fn push_unaddressed(&mut self) {
        self.grow();
        self.copies.push(UNADDRESSED);
    }

    /// Whether message `id` is addressed to this group at all.
    #[must_use]
    pub fn addressed(&self, id: u32) -> bool {
        self.copies[id as usize] & UNADDRESSED == 0
    }

    /// How many copies the ledger holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.copies.len()
    }

    /// True when no message was addressed to this group.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.copies.is_empty()
    }

    /// Times applied so far.
    #[must_use]
    pub fn applied(&self, id: u32) -> u8 {
        self.copies[id as usize] & COUNT
    }

    /// Records a delivery; true the first time.
    pub fn deliver(&mut self, id: u32) -> bool {
        let c = &mut self.copies[id as usize];
        let first = *c & DELIVERED == 0;
        *c |= DELIVERED;
        first
    }

    /// Applies the side effect; returns the new count.
    pub fn apply(&mut self, id: u32) -> u8 {
        let c = &mut self.copies[id as usize];
        let n = (*c & COUNT).saturating_add(1).min(COUNT);
        *c = (*c & !COUNT) | n;
        n
    }

    /// Rolls one application back (an aborted transaction); returns the new count.
    pub fn unapply(&mut self, id: u32) -> u8 {
        let c = &mut self.copies[id as usize];
        let n = (*c & COUNT).saturating_sub(1);
        *c = (*c & !COUNT) | n;
        n
    }

    /// Marks the copy as having left the system once (processed, dead-lettered or
    /// dropped); true the first time, which is when waiting figures are recorded.
    pub fn finish(&mut self, id: u32) -> bool {
        let c = &mut self.copies[id as usize];
        let first = *c & FINISHED == 0;
        *c |= FINISHED;
        first
    }

    /// Whether the copy has left the system once.
    #[must_use]
    pub fn finished(&self, id: u32) -> bool {
        self.copies[id as usize] & FINISHED != 0
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
        self.copies[id as usize] |= COMMITTED;
    }

    /// Whether the side effect is committed.
    #[must_use]
    pub fn committed(&self, id: u32) -> bool {
        self.copies[id as usize] & COMMITTED != 0
    }

    fn flag(&mut self, id: u32, bit: u8) -> bool {
        let c = &mut self.copies[id as usize];
        let first = *c & bit == 0;
        *c |= bit;
        first
    }

    /// The final class of copy `id`.
    #[must_use]
    pub fn class(&self, id: u32) -> Class {
        let c = self.copies[id as usize];
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

/// Per-message flags of a topic: what the producer and the broker know of it.
#[derive(Clone, Debug, Default)]
pub struct MessageFlags {
    flags: Vec<u8>,
}

const ACCEPTED: u8 = 1;
const ACKED: u8 = 1 << 1;
const GAVE_UP: u8 = 1 << 2;
const OWED: u8 = 1 << 3;
const REPEATED: u8 = 1 << 4;

impl MessageFlags {
    /// `arrived` when message `id` was appended once; `None` when a resend put twin
    /// entries of it at the broker, each with its own arrival.
    #[must_use]
    pub fn exact(&self, id: u32, arrived: crate::time::SimTime) -> Option<crate::time::SimTime> {
        (!self.repeated(id)).then_some(arrived)
    }

    /// Registers a new message; returns its id.
    pub fn push(&mut self) -> u32 {
        self.flags.push(0);
        u32::try_from(self.flags.len() - 1).expect("more than 4 billion messages in one topic")
    }

    /// Messages registered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// True when the topic has no messages.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// The broker appended it at least once; true the first time.
    pub fn accept(&mut self, id: u32) -> bool {
        let f = &mut self.flags[id as usize];
        let first = *f & ACCEPTED == 0;
        *f |= ACCEPTED;
        first
    }

    /// The broker no longer has it (a failover cut it from the log): a resend must be
    /// appended again, even by an idempotent producer.
    pub fn unaccept(&mut self, id: u32) {
        self.flags[id as usize] &= !ACCEPTED;
    }

    /// Whether the broker has appended it.
    #[must_use]
    pub fn accepted(&self, id: u32) -> bool {
        self.flags[id as usize] & ACCEPTED != 0
    }

    /// The producer was told it was sent; true the first time.
    pub fn ack(&mut self, id: u32) -> bool {
        let f = &mut self.flags[id as usize];
        let first = *f & ACKED == 0;
        *f |= ACKED;
        first
    }

    /// Whether the producer was told it was sent.
    #[must_use]
    pub fn acked(&self, id: u32) -> bool {
        self.flags[id as usize] & ACKED != 0
    }

    /// The broker appended it again (a resend it did not deduplicate).
    pub fn repeat(&mut self, id: u32) {
        self.flags[id as usize] |= REPEATED;
    }

    /// Whether the broker appended it more than once.
    #[must_use]
    pub fn repeated(&self, id: u32) -> bool {
        self.flags[id as usize] & REPEATED != 0
    }

    /// The producer gave up on it.
    pub fn give_up(&mut self, id: u32) {
        self.flags[id as usize] |= GAVE_UP;
    }

    /// A service committed the state change this message is the event of: the event is
    /// owed downstream from then on, published or not.
    pub fn owe(&mut self, id: u32) {
        self.flags[id as usize] |= OWED;
    }

    /// Whether a committed state change owes this event.
    #[must_use]
    pub fn owed(&self, id: u32) -> bool {
        self.flags[id as usize] & OWED != 0
    }

    /// Whether the producer gave up on it.
    #[must_use]
    pub fn gave_up(&self, id: u32) -> bool {
        self.flags[id as usize] & GAVE_UP != 0
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

    #[test]
    fn application_count_saturates_instead_of_wrapping() {
        let mut l = Ledger::default();
        l.push();
        for _ in 0..20 {
            l.apply(0);
        }
        assert_eq!(l.applied(0), 3);
    }
}
