//! An idempotent consumer's dedup store, Redis-like: a mark per message id with a TTL
//! (`SETEX id ttl`) and, for the claim mode, claims with a lease (`SET id NX PX lease`).
//! Also the small tag a message in hand carries through the dedup steps, and the causes
//! a duplicate is attributed to. The store only keeps state; the engine decides when each
//! call happens (`engine/idempotence.rs`).

use crate::time::{SimDuration, SimTime};
use std::collections::BTreeMap;

/// Where a message in hand is in its dedup steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    /// Not checked yet.
    #[default]
    Fresh,
    /// Checked (and claimed) or needing no check: being served.
    Serving,
    /// The check found a mark: the consumer acknowledges it without applying.
    Skip,
    /// Another live holder's claim: the consumer leaves it for later.
    Busy,
    /// Applied; the mark is on its way to the store.
    Marking,
}

/// What a message in hand carries for the dedup steps and for attributing a duplicate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tag {
    /// Its dedup step.
    pub phase: Phase,
    /// The copy's effect had been applied when this holder took it (a holder that took
    /// it before any application was concurrent with the one that applied first).
    pub applied_at_take: bool,
    /// Delivered again because an operator replay moved the offsets back over it.
    pub replayed: bool,
    /// The check found a mark that had expired.
    pub seen_expired: bool,
}

/// Why a copy's side effect was applied a second time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// Taken after an application whose commit never took effect (a crash before the
    /// commit, or a delete refused because another holder had received it since).
    CrashBeforeCommit,
    /// Two holders had it at once (a visibility timeout, a zombie, a lease outrun).
    Race,
    /// The effect was applied and its mark never written (a crash in between).
    Unmarked,
    /// The mark had expired (its TTL) when the message came again.
    Expired,
    /// The broker held the message twice (a producer's or outbox relay's resend).
    Resend,
    /// An operator replay moved the group's offsets back over it.
    Replay,
}

/// A claim on a message id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Engine index of the claiming instance.
    pub instance: u32,
    /// Its crash epoch when it claimed (a restarted process is another holder).
    pub epoch: u32,
    /// When the lease runs out (none: until marked).
    pub until: Option<SimTime>,
}

/// What a check of the store finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// No record.
    Nothing,
    /// A mark whose TTL ran out.
    Expired,
    /// A live mark: the message was processed.
    Marked,
    /// A live claim.
    Claimed(Claim),
}

/// One group's dedup store.
#[derive(Clone, Debug, Default)]
pub struct DedupStore {
    /// Id of `marks[0]`: the marks below were of folded copies, which nothing delivers
    /// again, so nothing asks for them.
    base: u32,
    /// By message id from `base`: when it was marked, plus one (0: never).
    marks: Vec<u64>,
    claims: BTreeMap<u32, Claim>,
    ttl: Option<SimDuration>,
    lease: Option<SimDuration>,
}

impl DedupStore {
    /// A store whose marks live `ttl` and claims `lease` (none: forever).
    #[must_use]
    pub fn new(ttl: Option<SimDuration>, lease: Option<SimDuration>) -> DedupStore {
        DedupStore {
            ttl,
            lease,
            ..DedupStore::default()
        }
    }

    /// What the store holds for `id` at `now`.
    #[must_use]
    pub fn seen(&self, id: u32, now: SimTime) -> Seen {
        let marked = id
            .checked_sub(self.base)
            .and_then(|i| self.marks.get(i as usize))
            .copied()
            .unwrap_or(0);
        if marked > 0 {
            let at = SimTime(marked - 1);
            return match self.ttl {
                Some(ttl) if at + ttl <= now => self.claim_or(id, now, Seen::Expired),
                _ => Seen::Marked,
            };
        }
        self.claim_or(id, now, Seen::Nothing)
    }

    fn claim_or(&self, id: u32, now: SimTime, otherwise: Seen) -> Seen {
        match self.claims.get(&id) {
            Some(c) if c.until.is_none_or(|u| u > now) => Seen::Claimed(*c),
            _ => otherwise,
        }
    }

    /// Claims `id` for `instance` (in its `epoch`) from `now`.
    pub fn claim(&mut self, id: u32, instance: u32, epoch: u32, now: SimTime) {
        let until = self.lease.map(|l| now + l);
        self.claims.insert(
            id,
            Claim {
                instance,
                epoch,
                until,
            },
        );
    }

    /// Marks `id` processed at `now`; its claim, if any, is done.
    pub fn mark(&mut self, id: u32, now: SimTime) {
        // A folded copy is final: nothing processes it again.
        let i = (id - self.base) as usize;
        if self.marks.len() <= i {
            self.marks.resize(i + 1, 0);
        }
        self.marks[i] = now.0 + 1;
        self.claims.remove(&id);
    }
}

impl DedupStore {
    /// Forgets the marks and claims of messages below `below`: their copies are folded
    /// (final, never delivered again), so no lookup can ask for them.
    pub fn forget_below(&mut self, below: u32) {
        if below > self.base {
            let n = ((below - self.base) as usize).min(self.marks.len());
            self.marks.drain(..n);
            self.base = below;
            let keep = 2 * self.marks.len().max(crate::ledger::FOLD_EVERY as usize);
            if self.marks.capacity() > 2 * keep {
                self.marks.shrink_to(keep);
            }
        }
        self.claims = self.claims.split_off(&below);
    }

    /// Bytes held for the marks of messages not folded yet.
    #[must_use]
    pub fn resident_bytes(&self) -> usize {
        8 * self.marks.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_expires_after_its_ttl_and_never_without_one() {
        let mut s = DedupStore::new(Some(SimDuration::from_secs(10)), None);
        s.mark(3, SimTime::ZERO);
        assert_eq!(s.seen(3, SimTime(9_999_999_999)), Seen::Marked);
        assert_eq!(s.seen(3, SimTime(10_000_000_000)), Seen::Expired);
        assert_eq!(s.seen(2, SimTime::ZERO), Seen::Nothing);
        let mut forever = DedupStore::new(None, None);
        forever.mark(0, SimTime::ZERO);
        assert_eq!(forever.seen(0, SimTime(u64::MAX / 2)), Seen::Marked);
    }

    #[test]
    fn a_claim_holds_until_its_lease_runs_out_or_it_is_marked() {
        let mut s = DedupStore::new(None, Some(SimDuration::from_secs(1)));
        s.claim(7, 4, 0, SimTime::ZERO);
        assert!(matches!(s.seen(7, SimTime(999_999_999)), Seen::Claimed(c) if c.instance == 4));
        assert_eq!(s.seen(7, SimTime(1_000_000_000)), Seen::Nothing);
        s.claim(7, 5, 0, SimTime::ZERO);
        s.mark(7, SimTime(5));
        assert_eq!(s.seen(7, SimTime(6)), Seen::Marked);
    }
}
