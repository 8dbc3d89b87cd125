//! The engine's side of a group's resequencer (`resequence = true`, state in
//! `crate::resequencer`): holding a processed message whose predecessor is missing,
//! applying held messages once they are due, the gap-timeout timer (one per group, armed
//! for the earliest deadline), and the hooks where a copy leaves for good (dead-lettered
//! or dropped) so its successors need not wait. A group without a resequencer pays one
//! `Option` check per applied message and nothing else.
//!
//! The buffer is durable group state, like a Kafka Streams state store: a held message is
//! acknowledged to the broker as processed, survives instance crashes, and counts as
//! in flight (delivered, not yet applied) until it is applied.

use super::patterns::{PatternCtx, PatternView};
use crate::event::Event;
use crate::message::Msg;
use crate::resequencer::Offer;
use crate::time::SimDuration;

/// True when group `g`'s resequencer holds `msg` instead of letting it apply now. Out
/// of line: the engine's wrapper asks inline whether the group has a resequencer.
#[inline(never)]
pub(super) fn resequence_holds(mut c: PatternCtx, g: u32, msg: Msg, wait: SimDuration) -> bool {
    let now = c.now();
    let Some(r) = c.group_mut(g).reseq.as_mut() else {
        return false;
    };
    let mut due = Vec::new();
    let offer = r.offer(msg, now, &mut due);
    if offer == Offer::Apply {
        return false;
    }
    r.keep_wait(msg.id, wait);
    arm_gap_timer(c.re(), g);
    release_held(c, g, due);
    true
}

/// `msg` was just applied: held successors now in sequence follow it (out of line, as
/// `resequence_holds`).
#[inline(never)]
pub(super) fn resequence_applied(mut c: PatternCtx, g: u32, msg: Msg) {
    let crate::consumer::Group { reseq, ledger, .. } = c.group_mut(g);
    let Some(r) = reseq.as_mut() else {
        return;
    };
    let mut due = Vec::new();
    r.applied(msg, &mut due);
    if r.released_len() >= r.prune_at {
        // What a transaction released is kept until it commits, past the fold: the
        // releasing message may be folded by then (a run of 100,000 messages indexed
        // below the ledger's window and panicked).
        r.prune(|id| ledger.committed_or_folded(id));
    }
    release_held(c, g, due);
}

/// Exactly-once: `m`'s application was rolled back. What it released was applied in
/// the same transaction, so it is undone too and held again; the key's sequence goes
/// back to `m`, whose replay releases them once more.
pub(super) fn resequence_rolled_back(mut c: PatternCtx, g: u32, m: Msg) {
    let now = c.now();
    let crate::consumer::Group {
        reseq,
        ledger,
        metrics,
        order,
        ..
    } = c.group_mut(g);
    let Some(r) = reseq.as_mut() else {
        return;
    };
    let mut rehold = Vec::new();
    for x in r.take_released(m.id) {
        // Its own partition may since have committed its hold, never this effect.
        if ledger.applied(x.id) == 1 {
            ledger.unapply(x.id);
            ledger.unsample(x.id);
            metrics.processed -= 1;
            metrics.rolled_back_samples += 1;
            if let Some(high) = order.get_mut(x.key) {
                *high = (*high).min(x.seq);
            }
            rehold.push(x);
        }
    }
    let mut due = Vec::new();
    r.rolled_back(m, &rehold, now, &mut due);
    if c.is_stage(g) {
        // Undone with the transaction that released them: so are their outputs.
        for x in &rehold {
            c.stage_aborted(g, x.id);
        }
    }
    arm_gap_timer(c.re(), g);
    release_held(c, g, due);
}

/// Group `g`'s copy of `msg` will never be applied (dead-lettered or dropped).
pub(super) fn resequence_gone(mut c: PatternCtx, g: u32, msg: Msg) {
    let Some(r) = c.group_mut(g).reseq.as_mut() else {
        return;
    };
    let mut due = Vec::new();
    r.gone(msg, &mut due);
    release_held(c, g, due);
}

/// Every copy of `msg` in topic `t` was dropped (refused, or given up by its producer).
pub(super) fn resequence_dropped(mut c: PatternCtx, t: u32, msg: Msg) {
    for k in 0..c.topic_groups(t).len() {
        let g = c.topic_groups(t)[k];
        resequence_gone(c.re(), g, msg);
    }
}

/// The earliest held message of group `g` may have waited long enough.
pub(super) fn on_gap_timeout(mut c: PatternCtx, g: u32) {
    let now = c.now();
    let Some(r) = c.group_mut(g).reseq.as_mut() else {
        return;
    };
    r.timer_armed = false;
    let mut due = Vec::new();
    r.expire(now, &mut due);
    arm_gap_timer(c.re(), g);
    release_held(c, g, due);
}

/// Schedules the group's one gap-timeout event for its earliest deadline. Deadlines
/// are set in time order, so the earliest one never moves earlier.
fn arm_gap_timer(mut c: PatternCtx, g: u32) {
    let now = c.now();
    let Some(r) = c.group_mut(g).reseq.as_mut() else {
        return;
    };
    if r.timer_armed {
        return;
    }
    if let Some(at) = r.next_deadline() {
        r.timer_armed = true;
        c.schedule(at.max(now), Event::GapTimeout { group: g });
    }
}

/// Applies held messages that are due, in order.
fn release_held(mut c: PatternCtx, g: u32, due: Vec<Msg>) {
    for m in due {
        let now = c.now();
        let group = c.group_mut(g);
        let wait = group.reseq.as_mut().and_then(|r| r.wait_of(m.id));
        // Every held message's wait is kept until it can no longer be applied: a commit
        // prunes it, and a committed release is never undone.
        debug_assert!(wait.is_some(), "{}: no wait for {m:?}", group.name);
        c.apply_copy(g, m, wait.unwrap_or(now.since(m.arrived)));
    }
}

/// Gaps skipped by every group's resequencer (`[expect] gaps_skipped`).
pub(super) fn gaps_skipped(v: PatternView) -> u64 {
    v.groups()
        .iter()
        .filter_map(|g| g.reseq.as_ref())
        .map(|r| r.stats.gaps_skipped + r.stats.skipped_full)
        .sum()
}
