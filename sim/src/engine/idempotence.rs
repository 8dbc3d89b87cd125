//! Idempotent consumers as people write them: the dedup steps around a message's
//! processing (check or claim before, mark after), each a round trip to the group's dedup
//! store; the attribution of every duplicate to its cause; the guarantee each mode
//! promises; and the dead letters kept for an operator's redrive.
//!
//! The consume path (`consume.rs`) calls in at four points: a message taken
//! (`dedup_take`), its service about to start (`dedup_before`), its `ServiceDone`
//! (`dedup_done`) and its effect applied (`dedup_mark`). A group without a store and
//! without store latency pays one branch at each.

use super::Engine;
use crate::consumer::{Group, Store, Work};
use crate::dedup::{Cause, DedupStore, Phase, Seen, Tag};
use crate::dist::Dist;
use crate::event::Event;
use crate::message::Msg;
use crate::rng::{SimRng, StreamKind, stream};
use crate::scenario::{Delivery, Idempotence, Scenario};
use crate::summary::{DuplicateCauses, Expectation, GroupSummary};
use crate::time::SimDuration;
use std::collections::BTreeMap;

/// The idempotence state of every group.
#[derive(Debug, Default)]
pub(super) struct Idem {
    /// By group: its mode.
    modes: Vec<Idempotence>,
    /// By group: the mode was set in the scenario (reported then).
    explicit: Vec<bool>,
    /// By group: the dedup steps run (a store mode, or store latency to pay).
    active: Vec<bool>,
    /// By group: its store (`check-then-mark` and `claim`).
    stores: Vec<Option<DedupStore>>,
    /// By group: one round trip to the store.
    latency: Vec<Dist>,
    /// By group: a claim lease is set.
    leased: Vec<bool>,
    /// By instance: its draws of store round trips (none when its group pays none).
    rngs: Vec<Option<SimRng>>,
    /// By group: the cause of each copy's second application (copies not folded yet).
    causes: Vec<BTreeMap<u32, Cause>>,
    /// By group: the causes of folded copies still applied twice or more.
    folded_causes: Vec<DuplicateCauses>,
    /// The message whose `ServiceDone` is being handled: (group, id, its tag).
    hint: Option<(u32, u32, Tag)>,
    /// By group: dead letters an operator may redrive (queue groups).
    pub(super) dead: Vec<Vec<Msg>>,
    /// By group, by partition: offsets below this were delivered again by a replay.
    pub(super) replay_end: Vec<Vec<u64>>,
}

impl Idem {
    /// `dedup_tag` with group `g` (`group`) in hand.
    #[inline(always)]
    pub(super) fn tag(&self, group: &Group, g: u32, id: u32, partition: u32, offset: u64) -> Tag {
        Tag {
            applied_at_take: group.ledger.applied(id) > 0,
            replayed: self.replay_end[g as usize]
                .get(partition as usize)
                .is_some_and(|&end| offset < end),
            ..Tag::default()
        }
    }

    /// `dedup_note` without the engine.
    #[inline(always)]
    pub(super) fn note(&mut self, g: u32, w: &Work) {
        self.hint = Some((g, w.msg.id, w.dedup));
    }
}

/// Builds every group's idempotence state; `firsts` gives each group's first instance
/// index and instance count.
pub(super) fn build(sc: &Scenario, seed: u64, firsts: &[(u32, u32)]) -> Idem {
    let mut idem = Idem {
        dead: vec![Vec::new(); sc.consumers.len()],
        replay_end: vec![Vec::new(); sc.consumers.len()],
        causes: vec![BTreeMap::new(); sc.consumers.len()],
        folded_causes: vec![DuplicateCauses::default(); sc.consumers.len()],
        ..Idem::default()
    };
    let instances: u32 = firsts.iter().map(|f| f.1).sum();
    idem.rngs = (0..instances).map(|_| None).collect();
    for (c, &(first, count)) in sc.consumers.iter().zip(firsts) {
        let mode = c.idempotence();
        let pays = !c.dedup_latency.is_zero() && mode != Idempotence::None;
        idem.modes.push(mode);
        idem.explicit.push(c.idempotence.is_some());
        idem.active.push(mode.uses_store() || pays);
        idem.stores.push(mode.uses_store().then(|| {
            DedupStore::new(
                c.dedup_ttl.as_ref().map(|t| *t.get_ref()),
                c.claim_lease.as_ref().map(|t| *t.get_ref()),
            )
        }));
        idem.latency.push(c.dedup_latency);
        idem.leased.push(c.claim_lease.is_some());
        if pays {
            // Its own stream, so that scenarios without a store keep every other draw.
            for i in first..first + count {
                idem.rngs[i as usize] = Some(stream(seed, StreamKind::Dedup, i));
            }
        }
    }
    idem
}

impl Engine {
    /// One round trip to the store for instance `i` (zero when its group pays none).
    fn store_call(&mut self, i: u32) -> SimDuration {
        let g = self.instances[i as usize].group as usize;
        match self.idem.rngs[i as usize].as_mut() {
            Some(rng) => self.idem.latency[g].sample(rng),
            None => SimDuration::ZERO,
        }
    }

    /// Whether group `g` runs dedup steps at all (a store mode, or store latency to pay).
    pub(super) fn dedup_active(&self, g: u32) -> bool {
        self.idem.active[g as usize]
    }

    /// A message was taken: what its holder knows for attributing a second application.
    #[inline]
    pub(super) fn dedup_take(&mut self, i: u32, w: &mut Work) {
        let g = self.instances[i as usize].group;
        w.dedup = self.dedup_tag(g, w.msg.id, w.partition, w.offset);
    }

    /// `dedup_take`'s tag for group `g`'s message `id`, taken from `offset` of
    /// `partition`.
    #[inline(always)]
    pub(super) fn dedup_tag(&self, g: u32, id: u32, partition: u32, offset: u64) -> Tag {
        self.idem
            .tag(&self.groups[g as usize], g, id, partition, offset)
    }

    /// Before serving the message in hand: its check (or claim) in the store. Returns
    /// the round trips' time and whether the message is served at all (a mark found, or
    /// another live holder's claim, makes the call all there is).
    #[inline]
    pub(super) fn dedup_before(&mut self, i: u32) -> (SimDuration, bool) {
        let g = self.instances[i as usize].group as usize;
        if !self.idem.active[g] {
            return (SimDuration::ZERO, true);
        }
        let fresh = self.instances[i as usize]
            .work
            .is_some_and(|w| w.dedup.phase == Phase::Fresh);
        if !fresh {
            return (SimDuration::ZERO, true);
        }
        let call = self.store_call(i);
        let mode = self.idem.modes[g];
        if !mode.uses_store() {
            // Transactional: the check inside the transaction and its commit.
            let commit = self.store_call(i);
            self.set_phase(i, Phase::Serving);
            return (call + commit, true);
        }
        let (id, epoch) = {
            let inst = &self.instances[i as usize];
            (inst.work.expect("work").msg.id, inst.epoch)
        };
        let applied = self.groups[g].ledger.applied(id) > 0;
        let seen = self.idem.stores[g]
            .as_ref()
            .expect("a store")
            .seen(id, self.now);
        let busy = matches!(seen, Seen::Claimed(c) if (c.instance, c.epoch) != (i, epoch) && self.holds(c.instance, c.epoch, id));
        let work = self.instances[i as usize].work.as_mut().expect("work");
        work.dedup.applied_at_take = applied;
        work.dedup.seen_expired = seen == Seen::Expired;
        let phase = match seen {
            Seen::Marked => Phase::Skip,
            _ if busy => Phase::Busy,
            _ => Phase::Serving,
        };
        work.dedup.phase = phase;
        if phase == Phase::Serving && mode == Idempotence::Claim {
            let store = self.idem.stores[g].as_mut().expect("a store");
            store.claim(id, i, epoch, self.now);
        }
        (call, phase == Phase::Serving)
    }

    fn set_phase(&mut self, i: u32, phase: Phase) {
        if let Some(w) = self.instances[i as usize].work.as_mut() {
            w.dedup.phase = phase;
        }
    }

    /// Whether a claim still stands for another holder: its process died holding it (a
    /// crash ends the process, not the claim: it stands until its lease runs out), or it
    /// is alive and still has the message in hand. A live holder that gave the message up
    /// (dead-lettered it, left it to its visibility timeout) released its claim, as a
    /// `finally` would.
    fn holds(&self, instance: u32, epoch: u32, id: u32) -> bool {
        let inst = &self.instances[instance as usize];
        inst.epoch != epoch || inst.work.is_some_and(|w| w.msg.id == id)
    }

    /// Notes the message whose `ServiceDone` is being handled, for a duplicate's cause
    /// (the plain path's `dedup_done`: without a store there is no step to settle).
    #[inline(always)]
    pub(super) fn dedup_note(&mut self, g: u32, w: &Work) {
        self.idem.note(g, w);
    }

    /// A `ServiceDone` of a message that was not served (a mark found, a claim held
    /// elsewhere) or whose mark has just landed; true when handled here.
    #[inline]
    pub(super) fn dedup_done(&mut self, i: u32, w: &Work) -> bool {
        let g = self.instances[i as usize].group;
        self.idem.hint = Some((g, w.msg.id, w.dedup));
        if matches!(w.dedup.phase, Phase::Fresh | Phase::Serving) {
            return false;
        }
        self.dedup_settle(i, g, *w)
    }

    fn dedup_settle(&mut self, i: u32, g: u32, w: Work) -> bool {
        match w.dedup.phase {
            Phase::Skip | Phase::Marking => {
                if w.dedup.phase == Phase::Marking
                    && let Some(store) = self.idem.stores[g as usize].as_mut()
                {
                    store.mark(w.msg.id, self.now);
                }
                if w.fenced {
                    self.instances[i as usize].work = None;
                    self.try_start(i);
                } else {
                    self.complete(i, w);
                }
                true
            }
            Phase::Busy => {
                self.leave_claimed(i, w);
                true
            }
            Phase::Fresh | Phase::Serving => false,
        }
    }

    /// Another live holder has claimed the message: an SQS consumer leaves it to its
    /// visibility timeout; a log or AMQP consumer (which would get it straight back)
    /// holds it and checks again after its backoff, its partition stalled meanwhile.
    fn leave_claimed(&mut self, i: u32, mut w: Work) {
        let g = self.instances[i as usize].group as usize;
        if w.fenced
            && let Store::Log(parts) = &self.groups[g].store
            && parts[w.partition as usize].committed > w.offset
            && self.groups[g].ledger.applied(w.msg.id) == 0
        {
            // Retention deleted it while it waited on the claim: no replay brings it back.
            self.drop_copy(g as u32, w.msg.id, Some(w.msg.arrived), "retention");
        }
        if w.fenced || super::models::leased(self.groups[g].kind) {
            self.instances[i as usize].work = None;
            self.try_start(i);
            return;
        }
        w.dedup.phase = Phase::Fresh;
        let delay = self.groups[g].backoff.max(SimDuration::from_millis(1));
        let inst = &mut self.instances[i as usize];
        inst.work = Some(w);
        let epoch = inst.epoch;
        self.queue
            .push(self.now + delay, Event::RetryReady { instance: i, epoch });
    }

    /// The effect was applied: a store mode marks it, one round trip later. True when
    /// the mark is on its way (the acknowledgement waits for it).
    #[inline]
    pub(super) fn dedup_mark(&mut self, i: u32, mut w: Work) -> bool {
        let g = self.instances[i as usize].group as usize;
        if !self.idem.modes[g].uses_store() {
            return false;
        }
        let call = self.store_call(i);
        if call.is_zero() {
            let store = self.idem.stores[g].as_mut().expect("a store");
            store.mark(w.msg.id, self.now);
            return false;
        }
        w.dedup.phase = Phase::Marking;
        w.started = self.now;
        let inst = &mut self.instances[i as usize];
        inst.work = Some(w);
        let epoch = inst.epoch;
        self.queue
            .push(self.now + call, Event::ServiceDone { instance: i, epoch });
        true
    }

    /// Copy `msg` of group `g` was just applied a second time: why.
    pub(super) fn attribute_duplicate(&mut self, g: u32, msg: Msg) {
        let repeated = self.topics[self.groups[g as usize].topic as usize]
            .flags
            .repeated(msg.id);
        let tag = match self.idem.hint {
            Some((hg, id, tag)) if hg == g && id == msg.id => Some(tag),
            _ => None,
        };
        let store = self.idem.modes[g as usize].uses_store();
        let cause = match tag {
            // Applied later without its holder's tag (a resequencer let it through): the
            // store did not stop it, which is the unmarked effect's doing.
            None if store => Cause::Unmarked,
            Some(t) if store && !t.applied_at_take => Cause::Race,
            Some(t) if store && t.seen_expired => Cause::Expired,
            Some(_) if store => Cause::Unmarked,
            _ if repeated => Cause::Resend,
            Some(t) if !t.applied_at_take => Cause::Race,
            Some(t) if t.replayed => Cause::Replay,
            _ => Cause::CrashBeforeCommit,
        };
        self.idem.causes[g as usize].insert(msg.id, cause);
    }

    /// A copy was dead-lettered: a queue group keeps it for an operator's redrive
    /// (quarantined copies stay in their quarantine).
    pub(super) fn keep_dead_letter(&mut self, g: u32, msg: Msg, why: &str) {
        let group = &self.groups[g as usize];
        if super::models::redrivable(group.kind) && !why.starts_with("quarantined") {
            self.idem.dead[g as usize].push(msg);
        }
    }

    /// Fills each group's idempotence figures: its mode when set, its duplicates by
    /// cause (only copies applied twice still count: a rollback takes one back).
    pub(super) fn fill_idempotence(&self, groups: &mut [GroupSummary]) {
        for (gi, s) in groups.iter_mut().enumerate() {
            let ledger = &self.groups[gi].ledger;
            let mut causes = self.idem.folded_causes[gi];
            for (&id, &cause) in &self.idem.causes[gi] {
                if ledger.applied(id) >= 2 {
                    causes.add(cause);
                }
            }
            let explicit = self.idem.explicit[gi];
            s.idempotence = explicit.then(|| self.idem.modes[gi].as_str().to_string());
            s.duplicated_by_cause = (explicit || s.duplicated > 0).then_some(causes);
        }
    }

    /// Folds group `g`'s copies below `below`: their duplicates' causes are counted as
    /// `fill_idempotence` would count them (the ledger is not folded past `below` yet),
    /// and their dedup marks and claims forgotten (nothing delivers a folded copy again).
    pub(super) fn fold_idempotence(&mut self, g: u32, below: u32) {
        let g = g as usize;
        let kept = self.idem.causes[g].split_off(&below);
        let old = std::mem::replace(&mut self.idem.causes[g], kept);
        let ledger = &self.groups[g].ledger;
        for (id, cause) in old {
            if ledger.applied(id) >= 2 {
                self.idem.folded_causes[g].add(cause);
            }
        }
        if let Some(store) = &mut self.idem.stores[g] {
            store.forget_below(below);
        }
        // Dead letters the window let go are final: no redrive can bring them back.
        self.idem.dead[g].retain(|m| m.id >= below);
    }

    /// Bytes held per copy by the idempotence state (dedup marks).
    pub(super) fn idempotence_resident_bytes(&self) -> usize {
        self.idem
            .stores
            .iter()
            .flatten()
            .map(DedupStore::resident_bytes)
            .sum()
    }

    /// The message ids of group `g`'s dead letters kept for a redrive, which brings them
    /// back: none unless the scenario redrives the group (a redrive injected live finds
    /// the dead letters of the window not folded yet, as a dead-letter queue's retention
    /// keeps the recent ones). Without one a dead letter is final, and only the list an
    /// operator would look at holds it, until the window passes it.
    pub(super) fn kept_dead_letters(&self, g: u32) -> impl Iterator<Item = u32> + '_ {
        let redriven = self.faults.iter().any(|f| {
            *f.cfg.kind.get_ref() == crate::scenario::FaultKind::Redrive
                && f.target == crate::scenario::Target::Group(g as usize)
        });
        let kept: &[Msg] = if redriven {
            &self.idem.dead[g as usize]
        } else {
            &[]
        };
        kept.iter().map(|m| m.id)
    }

    /// Dead letters kept, over every group.
    pub(super) fn dead_letters_kept(&self) -> usize {
        self.idem.dead.iter().map(Vec::len).sum()
    }

    /// What each group's delivery variant and idempotence mode promise, one row each.
    pub(super) fn guarantees(&self, groups: &[GroupSummary]) -> Vec<Expectation> {
        groups
            .iter()
            .enumerate()
            .map(|(gi, g)| guarantee(g, self.idem.modes[gi], self.idem.leased[gi]))
            .collect()
    }

    /// The invariant row: per group, the duplicates by cause sum to `duplicated`.
    pub(super) fn duplicate_causes(groups: &[GroupSummary]) -> Expectation {
        let failure = groups.iter().find_map(|s| {
            let total = s.duplicated_by_cause.map_or(0, |c| c.total());
            (total != s.duplicated).then(|| {
                format!(
                    "{}: {total} attributed, {} duplicated",
                    s.name, s.duplicated
                )
            })
        });
        Expectation {
            check: "duplicate_causes".into(),
            expected: "duplicated_by_cause sums to duplicated per group".into(),
            ok: failure.is_none(),
            actual: failure.unwrap_or_else(|| format!("holds in {} groups", groups.len())),
        }
    }
}

/// What a group's variant and mode promise. At-most-once: no second application of a
/// delivered message (a resend is the producer's duplicate, a replay the operator's);
/// at-least-once: nothing lost, and with a store every duplicate through one of that
/// mode's known holes; exactly-once (transactional): neither loss nor duplicate.
fn guarantee(g: &GroupSummary, mode: Idempotence, leased: bool) -> Expectation {
    let c = g.duplicated_by_cause.unwrap_or_default();
    // Duplicates a store recognises within its TTL: one of these under a store is a bug.
    let recognised = c.crash_before_commit + c.resend + c.replay;
    let (expected, ok) = match (Delivery::parse(&g.delivery), mode) {
        (Some(Delivery::AtMostOnce), _) => (
            if c.replay > 0 {
                "duplicated = 0 (apart from resends and replays)"
            } else {
                "duplicated = 0 (apart from resends)"
            },
            g.duplicated == g.duplicated_by_resend + c.replay,
        ),
        (Some(Delivery::AtLeastOnce), Idempotence::CheckThenMark) => (
            "lost = 0; duplicates only from a race, an unmarked effect or an expired mark",
            g.lost == 0 && recognised == 0,
        ),
        (Some(Delivery::AtLeastOnce), Idempotence::Claim) if leased => (
            "lost = 0; duplicates only from an unmarked effect, an expired mark or a lease outrun",
            g.lost == 0 && recognised == 0,
        ),
        (Some(Delivery::AtLeastOnce), Idempotence::Claim) => (
            "lost = 0; duplicates only from an unmarked effect or an expired mark",
            g.lost == 0 && recognised + c.race == 0,
        ),
        (Some(Delivery::AtLeastOnce), _) => ("lost = 0", g.lost == 0),
        _ => (
            "lost = 0 and duplicated = 0",
            g.lost == 0 && g.duplicated == 0,
        ),
    };
    let label = match &g.idempotence {
        Some(m) => format!("{}, {m}", g.delivery),
        None => g.delivery.clone(),
    };
    let mut actual = if g.duplicated_by_resend > 0 {
        format!(
            "lost = {}, duplicated = {} ({} from resends)",
            g.lost, g.duplicated, g.duplicated_by_resend
        )
    } else {
        format!("lost = {}, duplicated = {}", g.lost, g.duplicated)
    };
    if g.idempotence.is_some() && g.duplicated > 0 {
        actual = format!("{actual}: {}", c.describe());
    }
    Expectation {
        check: format!("guarantee {} ({label})", g.name),
        expected: expected.into(),
        actual,
        ok,
    }
}
