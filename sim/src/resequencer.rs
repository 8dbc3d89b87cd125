//! A consumer group's resequencer (`resequence = true`): durable group state, like a Kafka
//! Streams state store, that holds a key's message arriving ahead of a missing predecessor
//! and hands it back once every predecessor is applied, dead-lettered or dropped, or once
//! the gap times out or the buffer is full. It only keeps state and says which messages
//! are due; the engine applies them (`engine/resequence.rs`).
//!
//! Sequences are `Msg.seq`, a message's position among its key's messages in production
//! order; `next[key]` is the first sequence not yet passed. A gap is "skipped" by moving
//! `next` up to the lowest held sequence of the key: whatever was missing below it will,
//! if it ever comes, be applied late (and count as out of order).

use crate::keys::KeyTable;
use crate::message::Msg;
use crate::time::{SimDuration, SimTime};
use std::collections::{BTreeMap, BTreeSet};

/// What to do with a processed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Apply its side effect now (it is the key's next, or late, or a replay).
    Apply,
    /// Held until its predecessors are through.
    Held,
    /// Already held (a replay of a held message): nothing to do.
    AlreadyHeld,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages held at least once.
    pub resequenced: u64,
    /// Gaps skipped because a held message waited `gap_timeout`.
    pub gaps_skipped: u64,
    /// Gaps skipped because the buffer was full (the oldest held message was let go).
    pub skipped_full: u64,
    /// Most messages held at once.
    pub held_max: u64,
}

/// Entries `released` holds before its first prune.
const PRUNE_AT: usize = 1024;

/// One group's resequencing buffer.
#[derive(Clone, Debug)]
pub struct Resequencer {
    /// Per global key: the first sequence not yet passed.
    next: KeyTable<u32>,
    /// Held messages by (key, seq), with their deadline.
    held: BTreeMap<(u32, u32), (Msg, SimTime)>,
    /// Held messages by deadline: the earliest is the next to time out.
    deadlines: BTreeSet<(SimTime, u32, u32)>,
    /// Sequences ahead of `next` that will never be applied (dead-lettered or dropped).
    gone: BTreeSet<(u32, u32)>,
    bound: usize,
    timeout: SimDuration,
    /// Exactly-once: the held messages each application released, by the releasing
    /// message's id, so that rolling its transaction back holds them again.
    released: Option<BTreeMap<u32, Vec<Msg>>>,
    /// Each held message's wait (from its arrival to the start of the delivery that was
    /// held), by id, for its sample when it is applied. Exactly-once keeps a released
    /// one's until its transaction commits, as `released` does: a rollback holds it again.
    waits: BTreeMap<u32, SimDuration>,
    /// Exactly-once: prune `released` of committed transactions at this many entries.
    pub prune_at: usize,
    /// The least `prune_at` (`PRUNE_AT`; lowered by the tests that fold often, so that
    /// their short runs prune too).
    prune_min: usize,
    /// A gap-timeout event is scheduled.
    pub timer_armed: bool,
    /// What it did so far.
    pub stats: Stats,
}

impl Resequencer {
    /// Messages held now.
    #[must_use]
    pub fn held_now(&self) -> u64 {
        self.held.len() as u64
    }

    /// An empty buffer for `keys` keys holding at most `bound` messages, each for at most
    /// `timeout`.
    #[must_use]
    pub fn new(keys: u32, bound: u32, timeout: SimDuration) -> Resequencer {
        Resequencer::with_rollback(keys, bound, timeout, false)
    }

    /// As `new`; with `transactional`, it keeps what each application released so that
    /// an aborted transaction can hold them again (exactly-once).
    #[must_use]
    pub fn with_rollback(
        keys: u32,
        bound: u32,
        timeout: SimDuration,
        transactional: bool,
    ) -> Resequencer {
        Resequencer {
            next: KeyTable::new(keys),
            held: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            gone: BTreeSet::new(),
            bound: bound.max(1) as usize,
            timeout,
            released: transactional.then(BTreeMap::new),
            waits: BTreeMap::new(),
            prune_at: PRUNE_AT,
            prune_min: PRUNE_AT,
            timer_armed: false,
            stats: Stats::default(),
        }
    }

    /// A processed message: apply it now, or hold it. When holding it overfills the
    /// buffer, the oldest held messages are let go past their gaps into `due`.
    pub fn offer(&mut self, msg: Msg, now: SimTime, due: &mut Vec<Msg>) -> Offer {
        let Some(next) = self.next.get(msg.key) else {
            return Offer::Apply;
        };
        if msg.seq <= next {
            return Offer::Apply;
        }
        let at = (msg.key, msg.seq);
        if self.held.contains_key(&at) {
            return Offer::AlreadyHeld;
        }
        let deadline = now + self.timeout;
        self.held.insert(at, (msg, deadline));
        self.deadlines.insert((deadline, msg.key, msg.seq));
        self.stats.resequenced += 1;
        while self.held.len() > self.bound {
            let &(_, key, seq) = self
                .deadlines
                .first()
                .expect("held messages have deadlines");
            self.skip_until_released(key, seq, true, due);
        }
        self.stats.held_max = self.stats.held_max.max(self.held.len() as u64);
        Offer::Held
    }

    /// The message was just applied: if it was its key's next, the key moves on and the
    /// held successors now in sequence are due, in order.
    pub fn applied(&mut self, msg: Msg, due: &mut Vec<Msg>) {
        if self.next.get(msg.key) == Some(msg.seq) {
            *self.next.get_mut(msg.key).expect("a key") += 1;
            let from = due.len();
            self.drain(msg.key, due);
            if let Some(released) = &mut self.released
                && due.len() > from
            {
                released.insert(msg.id, due[from..].to_vec());
            }
        }
    }

    /// Exactly-once: what applying message `id` released (taken: its transaction is
    /// rolling back).
    pub fn take_released(&mut self, id: u32) -> Vec<Msg> {
        self.released
            .as_mut()
            .and_then(|r| r.remove(&id))
            .unwrap_or_default()
    }

    /// Keeps held message `id`'s wait for its sample (the first hold's, if held again).
    pub fn keep_wait(&mut self, id: u32, wait: SimDuration) {
        self.waits.entry(id).or_insert(wait);
    }

    /// The wait of message `id`, due now: taken, unless a rollback may hold it again.
    pub fn wait_of(&mut self, id: u32) -> Option<SimDuration> {
        if self.released.is_some() {
            self.waits.get(&id).copied()
        } else {
            self.waits.remove(&id)
        }
    }

    /// Exactly-once: forgets what committed transactions released.
    pub fn prune(&mut self, committed: impl Fn(u32) -> bool) {
        if let Some(released) = &mut self.released {
            released.retain(|&id, _| !committed(id));
            // A wait goes with the last hold or release that may apply its message (its
            // own id committed says nothing: its partition commits its hold, not the
            // effect a rollback undoes).
            let live: std::collections::BTreeSet<u32> = self
                .held
                .values()
                .map(|(m, _)| m.id)
                .chain(released.values().flatten().map(|m| m.id))
                .collect();
            self.waits.retain(|id, _| live.contains(id));
            self.prune_at = (2 * released.len()).max(self.prune_min);
        }
    }

    /// Prunes from `n` entries on instead of `PRUNE_AT` (the tests that fold every few
    /// messages: a prune forgets only committed transactions, so when it runs changes no
    /// result, and a short run's prunes then meet its folds).
    pub fn prune_from(&mut self, n: usize) {
        self.prune_min = n.max(1);
        self.prune_at = self.prune_at.min(self.prune_min);
    }

    /// Entries kept for rollbacks.
    #[must_use]
    pub fn released_len(&self) -> usize {
        self.released.as_ref().map_or(0, BTreeMap::len)
    }

    /// Exactly-once: `msg`'s application rolled back with its transaction, and with it
    /// the release of `rehold` (its key's messages that application let through). The
    /// key goes back to `msg`; what was passed since and stays applied (other
    /// transactions, committed or not) is passed again without waiting.
    pub fn rolled_back(&mut self, msg: Msg, rehold: &[Msg], now: SimTime, due: &mut Vec<Msg>) {
        let key = msg.key;
        let Some(old) = self.next.get(key) else {
            return;
        };
        self.gone.remove(&(key, msg.seq));
        let deadline = now + self.timeout;
        for r in rehold {
            self.held.insert((key, r.seq), (*r, deadline));
            self.deadlines.insert((deadline, key, r.seq));
        }
        if msg.seq < old {
            *self.next.get_mut(key).expect("a key") = msg.seq;
            for s in msg.seq + 1..old {
                if !self.held.contains_key(&(key, s)) {
                    self.gone.insert((key, s));
                }
            }
        }
        while self.held.len() > self.bound {
            let &(_, k, s) = self
                .deadlines
                .first()
                .expect("held messages have deadlines");
            self.skip_until_released(k, s, true, due);
        }
        self.stats.held_max = self.stats.held_max.max(self.held.len() as u64);
    }

    /// The message will never be applied (dead-lettered or dropped): its successors need
    /// not wait for it.
    pub fn gone(&mut self, msg: Msg, due: &mut Vec<Msg>) {
        let Some(next) = self.next.get(msg.key) else {
            return;
        };
        let at = (msg.key, msg.seq);
        if msg.seq == next {
            *self.next.get_mut(msg.key).expect("a key") += 1;
            self.drain(msg.key, due);
        } else if msg.seq > next && !self.held.contains_key(&at) {
            self.gone.insert(at);
        }
    }

    /// Gaps whose held message waited until `now` are skipped; the released are due.
    pub fn expire(&mut self, now: SimTime, due: &mut Vec<Msg>) {
        while let Some(&(deadline, key, seq)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.skip_until_released(key, seq, false, due);
        }
    }

    /// When the earliest held message times out.
    #[must_use]
    pub fn next_deadline(&self) -> Option<SimTime> {
        self.deadlines.first().map(|d| d.0)
    }

    /// Messages held now.
    pub fn held(&self) -> impl Iterator<Item = &Msg> {
        self.held.values().map(|(m, _)| m)
    }

    /// The figures for the run's summary.
    #[must_use]
    pub fn summary(&self) -> crate::summary::ResequencerSummary {
        crate::summary::ResequencerSummary {
            resequenced: self.stats.resequenced,
            gaps_skipped: self.stats.gaps_skipped + self.stats.skipped_full,
            skipped_full: self.stats.skipped_full,
            held_max: self.stats.held_max,
            held_end: self.held.len() as u64,
        }
    }

    /// Skips the key's gaps, lowest first, until (key, seq) is released.
    fn skip_until_released(&mut self, key: u32, seq: u32, full: bool, due: &mut Vec<Msg>) {
        while self.held.contains_key(&(key, seq)) {
            let lowest = self
                .held
                .range((key, 0)..=(key, u32::MAX))
                .next()
                .map(|(&(_, s), _)| s)
                .expect("(key, seq) is held");
            if full {
                self.stats.skipped_full += 1;
            } else {
                self.stats.gaps_skipped += 1;
            }
            *self.next.get_mut(key).expect("a key") = lowest;
            let stale: Vec<(u32, u32)> =
                self.gone.range((key, 0)..(key, lowest)).copied().collect();
            for s in stale {
                self.gone.remove(&s);
            }
            self.drain(key, due);
        }
    }

    /// Passes every held or gone sequence that is now next.
    fn drain(&mut self, key: u32, due: &mut Vec<Msg>) {
        loop {
            let at = (key, self.next.get(key).expect("a key"));
            if let Some((msg, deadline)) = self.held.remove(&at) {
                self.deadlines.remove(&(deadline, at.0, at.1));
                due.push(msg);
            } else if !self.gone.remove(&at) {
                return;
            }
            *self.next.get_mut(key).expect("a key") += 1;
        }
    }
}

/// The resequencer of a group that asks for one (`resequence = true`; defaults
/// `resequence_buffer = 1000`, `gap_timeout = "1s"`).
#[must_use]
pub fn for_group(cfg: &crate::scenario::ConsumerConfig, keys: u32) -> Option<Box<Resequencer>> {
    cfg.resequences().then(|| {
        let bound = cfg
            .resequence_buffer
            .as_ref()
            .map_or(1000, |b| *b.get_ref());
        let timeout = cfg
            .gap_timeout
            .as_ref()
            .map_or(SimDuration::from_secs(1), |t| *t.get_ref());
        let transactional = cfg.delivery == crate::scenario::Delivery::ExactlyOnce;
        Box::new(Resequencer::with_rollback(
            keys,
            bound,
            timeout,
            transactional,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(seq: u32) -> Msg {
        let mut msg = Msg::numbered(seq);
        msg.seq = seq;
        msg
    }

    fn seqs(v: &[Msg]) -> Vec<u32> {
        v.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn holds_successors_until_the_missing_one_is_applied_then_releases_in_order() {
        let mut r = Resequencer::new(1, 100, SimDuration::from_secs(1));
        let mut due = Vec::new();
        assert_eq!(r.offer(m(2), SimTime::ZERO, &mut due), Offer::Held);
        assert_eq!(r.offer(m(1), SimTime::ZERO, &mut due), Offer::Held);
        assert_eq!(r.offer(m(2), SimTime::ZERO, &mut due), Offer::AlreadyHeld);
        assert_eq!(r.offer(m(0), SimTime::ZERO, &mut due), Offer::Apply);
        r.applied(m(0), &mut due);
        assert_eq!(seqs(&due), [1, 2]);
        assert_eq!(r.held().count(), 0);
        assert_eq!(r.stats.resequenced, 2);
        assert_eq!(r.stats.held_max, 2);
        assert_eq!(r.offer(m(3), SimTime::ZERO, &mut due), Offer::Apply);
    }

    #[test]
    fn a_dead_lettered_predecessor_releases_at_once_without_a_skip() {
        let mut r = Resequencer::new(1, 100, SimDuration::from_secs(1));
        let mut due = Vec::new();
        r.offer(m(1), SimTime::ZERO, &mut due);
        r.offer(m(3), SimTime::ZERO, &mut due);
        r.gone(m(2), &mut due);
        r.gone(m(0), &mut due);
        assert_eq!(seqs(&due), [1, 3]);
        assert_eq!(r.stats.gaps_skipped, 0);
        assert_eq!(r.offer(m(4), SimTime::ZERO, &mut due), Offer::Apply);
    }

    #[test]
    fn a_gap_times_out_and_the_late_message_is_applied_late() {
        let mut r = Resequencer::new(1, 100, SimDuration::from_secs(1));
        let mut due = Vec::new();
        r.offer(m(3), SimTime(5), &mut due);
        r.offer(m(1), SimTime(6), &mut due);
        r.expire(SimTime(5) + SimDuration::from_millis(999), &mut due);
        assert!(due.is_empty());
        assert_eq!(
            r.next_deadline(),
            Some(SimTime(5) + SimDuration::from_secs(1))
        );
        r.expire(SimTime(5) + SimDuration::from_secs(1), &mut due);
        // Skips 0 (releasing 1), then 2 (releasing 3): two gaps.
        assert_eq!(seqs(&due), [1, 3]);
        assert_eq!(r.stats.gaps_skipped, 2);
        assert_eq!(r.next_deadline(), None);
        assert_eq!(r.offer(m(0), SimTime(9), &mut due), Offer::Apply);
    }

    #[test]
    fn a_rolled_back_release_is_held_again_and_the_key_waits_for_the_replay() {
        let mut r = Resequencer::with_rollback(1, 100, SimDuration::from_secs(1), true);
        let mut due = Vec::new();
        r.offer(m(1), SimTime::ZERO, &mut due);
        r.offer(m(2), SimTime::ZERO, &mut due);
        r.applied(m(0), &mut due);
        assert_eq!(seqs(&due), [1, 2]);
        // 3 came on its own, in another transaction that stays.
        assert_eq!(r.offer(m(3), SimTime::ZERO, &mut due), Offer::Apply);
        r.applied(m(3), &mut due);
        // 0's transaction aborts: 1 and 2 are held again, the key waits for 0.
        let rehold = r.take_released(0);
        assert_eq!(seqs(&rehold), [1, 2]);
        due.clear();
        r.rolled_back(m(0), &rehold, SimTime(7), &mut due);
        assert!(due.is_empty());
        assert_eq!(r.offer(m(4), SimTime(8), &mut due), Offer::Held);
        assert_eq!(r.offer(m(0), SimTime(9), &mut due), Offer::Apply);
        r.applied(m(0), &mut due);
        // 1 and 2 again, 3 passed (still applied), then 4.
        assert_eq!(seqs(&due), [1, 2, 4]);
        assert_eq!(r.held().count(), 0);
    }

    #[test]
    fn committed_releases_are_pruned() {
        let mut r = Resequencer::with_rollback(1, 100, SimDuration::from_secs(1), true);
        let mut due = Vec::new();
        r.offer(m(1), SimTime::ZERO, &mut due);
        r.applied(m(0), &mut due);
        assert_eq!(r.released_len(), 1);
        r.prune(|id| id == 0);
        assert_eq!(r.released_len(), 0);
        assert!(r.take_released(0).is_empty());
    }

    #[test]
    fn a_full_buffer_lets_the_oldest_go_and_never_holds_more_than_its_bound() {
        let mut r = Resequencer::new(3, 2, SimDuration::from_secs(1));
        let mut due = Vec::new();
        for (key, t) in [(0, 1), (1, 2), (2, 3)] {
            let mut msg = m(5);
            msg.key = key;
            r.offer(msg, SimTime(t), &mut due);
        }
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].key, 0);
        assert_eq!(r.stats.skipped_full, 1);
        assert_eq!(r.stats.held_max, 2);
        assert_eq!(r.held().count(), 2);
    }
}
