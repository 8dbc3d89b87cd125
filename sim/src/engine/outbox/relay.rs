//! The outbox relay: a service whose input is the outbox table (a database table, not a
//! topic) and whose output is the producer's topic. It has `relay_instances` pollers,
//! each a loop over one database session:
//!
//! 1. sleep `relay_interval`, then `SELECT ... FOR UPDATE SKIP LOCKED LIMIT relay_batch`
//!    (one round trip): the statement locks up to `relay_batch` rows no other poller's
//!    open transaction holds, oldest first, so concurrent pollers split the table between
//!    them and never publish the same row at the same time;
//! 2. publish them through the service's producer client (the ordinary produce path:
//!    network, acknowledgements, retries, a full broker), and wait for every send to be
//!    acknowledged or given up (it looks again each round trip; the transaction stays
//!    open and the rows stay locked);
//! 3. `DELETE` the acknowledged rows and `COMMIT` (one round trip). The commit can fail
//!    (`db_failure`): nothing is deleted.
//!
//! A row is deleted only once its publish was acknowledged, so a crash of a poller after
//! it published and before its commit is durable (or a failed commit) leaves the row in
//! the table, unlocked (the database ends the dead session's transaction), and a poller
//! publishes it again: at-least-once publication, a duplicate downstream unless the
//! consumer deduplicates. A row whose send its client is still retrying is skipped until
//! that send settles (one message is never on the wire twice from one client).
//!
//! The relay runs in the service's process: the service's crash stops it too, and
//! `relay/<producer>` (or `relay/<producer>/<n>`) crashes the relay alone. An idle poller
//! (empty table) sleeps until a row commits, then polls `relay_interval` later. One
//! poller publishes at most `relay_batch` rows per `relay_interval` plus three round
//! trips, however fast the table grows.

use super::{Tx, service};
use crate::engine::patterns::PatternCtx;
use crate::event::Event;
use crate::snapshot::LogKind;
use crate::time::SimDuration;

/// No poller holds the row.
pub(super) const FREE: u32 = u32::MAX;

/// One relay instance.
#[derive(Debug)]
pub(super) struct Poller {
    /// Open crash windows holding it down (its own and its service's).
    down: u32,
    /// Asleep on an empty table: the next committed row wakes it.
    parked: bool,
    /// The rows its open transaction holds locked, by message id (ascending).
    batch: Vec<u32>,
}

impl Poller {
    /// A poller at the start: up, asleep on the empty table.
    pub(super) fn new() -> Poller {
        Poller {
            down: 0,
            parked: true,
            batch: Vec::new(),
        }
    }
}

/// A row committed: every parked poller that is up polls `relay_interval` from now.
pub(super) fn relay_wake(mut c: PatternCtx, p: u32) {
    for k in 0..service(&mut c, p).pollers.len() as u32 {
        let poller = &mut service(&mut c, p).pollers[k as usize];
        if poller.parked && poller.down == 0 {
            poller.parked = false;
            relay_sleep(c.re(), p, k);
        }
    }
}

/// Poller `k` ends a cycle: it sleeps `relay_interval` and reads again, or parks on
/// an empty table.
pub(super) fn relay_sleep(mut c: PatternCtx, p: u32, k: u32) {
    let now = c.now();
    let svc = service(&mut c, p);
    if svc.pollers[k as usize].down > 0 {
        return;
    }
    if svc.table.is_empty() {
        svc.pollers[k as usize].parked = true;
        return;
    }
    let (rt, reply_after) = svc.round_trip();
    let at = now + svc.relay_interval + SimDuration(rt.0 - reply_after.0);
    let tx = svc.open(Tx::Read {
        poller: k,
        reply_after,
    });
    c.schedule(at, Event::TxCommit { producer: p, tx });
}

/// The SELECT runs: poller `k` locks the oldest rows nobody holds, skipping rows its
/// client is still sending.
pub(super) fn relay_select(mut c: PatternCtx, p: u32, tx: u32, k: u32, reply_after: SimDuration) {
    let now = c.now();
    let (svc, inflight, _) = c.service_parts(p);
    let batch = svc.relay_batch as usize;
    let mut taken = Vec::new();
    for row in svc.table.iter_mut() {
        if taken.len() == batch {
            break;
        }
        if row.locked != FREE || inflight.contains_key(&row.msg.id) {
            continue;
        }
        row.locked = k;
        taken.push(row.msg.id);
    }
    svc.pollers[k as usize].batch = taken;
    c.schedule(now + reply_after, Event::TxReply { producer: p, tx });
}

/// The rows reach poller `k`: it publishes them and waits for the acknowledgements
/// (or reads again later when it got none).
pub(super) fn relay_publish(mut c: PatternCtx, p: u32, k: u32) {
    let batch = std::mem::take(&mut service(&mut c, p).pollers[k as usize].batch);
    if batch.is_empty() {
        relay_sleep(c, p, k);
        return;
    }
    for &id in &batch {
        let svc = service(&mut c, p);
        let Some(r) = row_index(svc, id) else {
            continue;
        };
        let row = &mut svc.table[r];
        row.sends += 1;
        let (msg, partition, first) = (row.msg, row.partition, row.sends == 1);
        if first {
            svc.stats.published += 1;
        } else {
            svc.stats.republished += 1;
        }
        c.send_message(p, msg, partition);
    }
    service(&mut c, p).pollers[k as usize].batch = batch;
    relay_flush(c, p, k);
}

/// Poller `k` looks at its batch: while a send is unanswered it waits one more round
/// trip; then it deletes the acknowledged rows and commits.
pub(super) fn relay_flush(mut c: PatternCtx, p: u32, k: u32) {
    let now = c.now();
    let (svc, inflight, flags) = c.service_parts(p);
    let waiting = svc.pollers[k as usize]
        .batch
        .iter()
        .any(|id| !flags.acked(*id) && inflight.contains_key(id));
    let (rt, reply_after) = svc.round_trip();
    if waiting {
        let tx = svc.open(Tx::Flush { poller: k });
        c.schedule(now + rt, Event::TxReply { producer: p, tx });
        return;
    }
    for i in 0..svc.pollers[k as usize].batch.len() {
        let id = svc.pollers[k as usize].batch[i];
        if let Some(r) = row_index(svc, id)
            && flags.acked(id)
            && !svc.table[r].timed
        {
            svc.table[r].timed = true;
            let ns = (now - svc.table[r].committed_at).0.max(1);
            svc.relay_latency.saturating_record(ns);
        }
    }
    let tx = svc.open(Tx::Mark {
        poller: k,
        reply_after,
    });
    let at = now + SimDuration(rt.0 - reply_after.0);
    c.schedule(at, Event::TxCommit { producer: p, tx });
}

/// Poller `k`'s DELETE and COMMIT reach the database: the acknowledged rows are gone
/// (unless the commit fails), the rest are unlocked for the next poll.
pub(super) fn relay_delete(mut c: PatternCtx, p: u32, tx: u32, k: u32, reply_after: SimDuration) {
    let now = c.now();
    let (svc, _, flags) = c.service_parts(p);
    let failed = svc.commit_fails();
    let batch = std::mem::take(&mut svc.pollers[k as usize].batch);
    if failed {
        svc.stats.marks_failed += 1;
    }
    for id in batch {
        let Some(r) = row_index(svc, id) else {
            continue;
        };
        if !failed && flags.acked(id) {
            svc.table.remove(r);
        } else {
            svc.table[r].locked = FREE;
        }
    }
    c.schedule(now + reply_after, Event::TxReply { producer: p, tx });
}

/// Poller `k` goes down (its own crash or its service's): its round trips are
/// forgotten and the database releases its locks. Nested windows count.
pub(super) fn relay_down(mut c: PatternCtx, p: u32, k: u32) {
    let svc = service(&mut c, p);
    let poller = &mut svc.pollers[k as usize];
    poller.down += 1;
    if poller.down > 1 {
        return;
    }
    poller.parked = false;
    let batch = std::mem::take(&mut poller.batch);
    svc.txs.retain(|_, t| match *t {
        Tx::Read { poller, .. } | Tx::Flush { poller } | Tx::Mark { poller, .. } => poller != k,
        Tx::Change(_) => true,
    });
    for id in batch {
        if let Some(r) = row_index(svc, id) {
            svc.table[r].locked = FREE;
        }
    }
}

/// Poller `k`'s window ends; up again once no other window holds it.
pub(super) fn relay_up(mut c: PatternCtx, p: u32, k: u32) {
    let poller = &mut service(&mut c, p).pollers[k as usize];
    poller.down -= 1;
    if poller.down == 0 {
        relay_sleep(c, p, k);
    }
}

/// A fault crashes the relay of producer `p` alone (every poller, or poller `k`).
pub(in crate::engine) fn crash_relay(mut c: PatternCtx, p: u32, k: Option<u32>) {
    let n = service(&mut c, p).pollers.len() as u32;
    let locked = |c: &mut PatternCtx| {
        service(c, p)
            .table
            .iter()
            .filter(|r| r.locked != FREE)
            .count()
    };
    let before = locked(&mut c);
    for k in k.map_or(0..n, |k| k..k + 1) {
        relay_down(c.re(), p, k);
    }
    let released = before - locked(&mut c);
    if released > 0 {
        let name = c.producer_name(p as usize).to_string();
        let text = format!("{name}: relay crash releases {released} rows it had not marked sent");
        c.note(LogKind::Fault, text);
    }
}

/// The fault's window ends.
pub(in crate::engine) fn restart_relay(mut c: PatternCtx, p: u32, k: Option<u32>) {
    let n = service(&mut c, p).pollers.len() as u32;
    for k in k.map_or(0..n, |k| k..k + 1) {
        relay_up(c.re(), p, k);
    }
}

/// Where the row of message `id` is in the table (sorted by id), if still there.
fn row_index(svc: &super::Service, id: u32) -> Option<usize> {
    svc.table.binary_search_by_key(&id, |r| r.msg.id).ok()
}
