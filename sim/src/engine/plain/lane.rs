//! The plain path's steps on the engine's parts borrowed apart: an instance, its group,
//! their topic. The engine keeps each in a `Vec` indexed by id, and a handler that calls
//! a method of the engine's between two steps has to look all three up again after it
//! (a bounds check, and the `Vec`'s pointer and length read back, for each); with the
//! parts in hand, a completion finds them once. What lies behind a step that needs the
//! whole engine (a copy applied twice, a model asked to take or to idle) still goes
//! through the engine, after the parts are given back.
//!
//! The completions that run this way are in `done_lanes.rs`; these are their steps.

use super::super::Topic;
use super::super::idempotence::Idem;
use crate::consumer::{Group, Instance, Work};
use crate::dist::Dist;
use crate::event::{Event, EventQueue};
use crate::ledger::MessageFlags;
use crate::log::{GroupPartition, Partition, Ranges};
use crate::message::Msg;
use crate::metrics::SeriesBuilder;
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};

/// A first application's latency, for the fault windows: the message's birth and its
/// latency in nanoseconds (recorded through the engine, after the parts are given back).
pub(super) type Window = Option<(SimTime, u64)>;

/// `plain_apply`'s first application of `msg` by `group`: counted, ordered, left and
/// sampled. `None`, changing nothing, when the copy is not fresh (the engine then applies
/// it the generic way); else the window to record, if the run has faults.
#[inline(always)]
pub(super) fn apply_first(
    group: &mut Group,
    flags: &MessageFlags,
    series: &mut SeriesBuilder,
    faults: bool,
    now: SimTime,
    msg: &Msg,
    wait: SimDuration,
) -> Option<Window> {
    let first = group.ledger.apply_fresh(msg.id)?;
    group.metrics.processed += 1;
    group.note_order(msg);
    if first.leaves {
        group.metrics.leave(now, flags.exact(msg.id, msg.arrived));
    }
    let mut window = None;
    if first.sampled {
        series.processed();
        let latency = now.after(msg.born).0.max(1);
        group.metrics.latency.record(latency);
        group.metrics.record_wait(wait);
        group.metrics.record_sojourn(now.after(msg.arrived));
        // A scenario with faults keeps the latencies outside their windows (before the
        // first one starts, and so on the plain path, all of them).
        if faults {
            window = Some((msg.born, latency));
        }
    }
    Some(window)
}

/// A completion's first application of the work in instance `inst`'s hands (`apply_first`),
/// then the instance's side of it: its busy time and count, the copy noted for a
/// duplicate's cause (`Idem::note`), its hands emptied. `None`, changing nothing, when
/// the copy is not fresh; else the work and the window to record. Every lane completes
/// this way.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the parts, borrowed apart, are the point
pub(super) fn complete_first(
    inst: &mut Instance,
    group: &mut Group,
    g: u32,
    flags: &MessageFlags,
    series: &mut SeriesBuilder,
    faults: bool,
    idem: &mut Idem,
    now: SimTime,
) -> Option<(Work, Window)> {
    let w = inst.work.as_ref().expect("work in hand");
    let window = apply_first(group, flags, series, faults, now, &w.msg, inst.wait)?;
    let w = *w;
    inst.busy_ns += now.after(w.started).0;
    inst.processed += 1;
    idem.note(g, &w);
    inst.work = None;
    Some((w, window))
}

/// How `settle_owned` left the partition.
pub(super) enum Settled {
    /// The group committed past the work, the one group of the topic; the log trimmed.
    Committed,
    /// Nothing new to commit, or other groups read the topic: `done` and `committed`
    /// for the caller to go on with.
    Rest { done: u64, committed: u64 },
}

/// The start of `Log::settle` for a partition its owner still holds, with its per-message
/// commit where the group is the topic's only one: the work's offset is done; committed
/// past and trimmed to when that moves the group's committed offset (`lag` and `ranges`
/// are the group's). Topic `t` may then have parked requests to let in (`unpark_due`).
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the parts, borrowed apart, are the point
pub(super) fn settle_owned(
    lag: &mut u64,
    ranges: &mut Ranges,
    gp: &mut GroupPartition,
    topic: &mut Topic,
    t: u32,
    p: u32,
    offset: u64,
    unpark_due: &mut Vec<u32>,
    ready: Option<&mut Instance>,
) -> Settled {
    gp.worker = None;
    let part = &mut topic.partitions[p as usize];
    let done = gp.done.max(offset + 1).min(part.end);
    gp.done = done;
    let committed = gp.committed;
    if done <= committed || topic.groups.len() != 1 {
        return Settled::Rest { done, committed };
    }
    *lag = *lag + committed - done;
    gp.committed = done;
    part.trim(done);
    // `fetchable` for the partition's owner, the instance settling: its next message may
    // be fetched now.
    if let Some(inst) = ready
        && gp.position < part.hw
    {
        super::super::ready::tell(ranges, inst, p);
    }
    topic.unpark_soon(t, unpark_due);
    Settled::Committed
}

/// Takes the next message of partition `p`, which instance `i` (`inst`, local index
/// `local`) owns alone, into its hands (`Log::take` without the candidate set); `None`
/// when there is none for it now.
#[inline(always)]
pub(super) fn fetch_owned(
    inst: &mut Instance,
    gp: &mut GroupPartition,
    partition: &Partition,
    p: u32,
    now: SimTime,
) -> Option<super::Taken> {
    inst.ready.look();
    if !gp.fetchable_by(inst.local, partition.hw) {
        return None;
    }
    Some(take_into(inst, gp, partition, p, now))
}

/// Instance `inst` fetches the entry at `gp`'s position in `partition` (`p`), which it
/// owns and may fetch, into its hands.
#[inline(always)]
pub(super) fn take_into(
    inst: &mut Instance,
    gp: &mut GroupPartition,
    partition: &Partition,
    p: u32,
    now: SimTime,
) -> super::Taken {
    let (offset, msg) = gp.take(partition, inst.local);
    let taken = super::Taken {
        id: msg.id,
        arrived: msg.arrived,
        partition: p,
        offset,
    };
    // The work goes straight into the instance's hands (a `Work` is large, and moving
    // it through an `Option` or two cost more than what is done with it); what the rest
    // needs of it comes back in registers.
    inst.work = Some(Work::taken(*msg, p, offset, 0, now));
    taken
}

/// What `begin` needs of the engine besides the instance and its group.
pub(super) struct Begin<'a> {
    pub(super) idem: &'a Idem,
    pub(super) queue: &'a mut EventQueue,
    pub(super) delivered: &'a mut u64,
    pub(super) now: SimTime,
    /// The network's latency and stream, for the fetch's hop (zero on the plain path;
    /// a run on the generic path may have one: `lean.rs`).
    pub(super) latency: &'a Dist,
    pub(super) net: &'a mut SimRng,
}

/// The rest of `plain_take_next` once instance `i` (`inst`, of group `g`) holds
/// `taken`: its dedup tag, the empty receives it waited through, its delivery, and its
/// service's end scheduled.
#[inline(always)]
pub(super) fn begin<const HOP: bool>(
    e: Begin<'_>,
    inst: &mut Instance,
    group: &mut Group,
    i: u32,
    g: u32,
    taken: super::Taken,
) {
    let dedup = e
        .idem
        .tag(group, g, taken.id, taken.partition, taken.offset);
    // The model first: `idle_since` lies in a line of the instance nothing else here
    // reads, found out of the cache at every message of a run over many instances, and
    // only a polling model ever sets it.
    if super::super::models::counts_empty_receives(group.kind)
        && let Some(since) = inst.idle_since.take()
    {
        group.empty_receives += e.now.since(since).0 / group.wait_time.0.max(1);
    }
    // Consumers fetch ahead, so the hop from the broker delays a message only past its
    // arrival (`take_next`).
    // Only on the generic path (`lean.rs`, `HOP`) can the network have a latency; the
    // plain path's copy of this asks nothing.
    let start = if HOP {
        e.now
            .max(taken.arrived + super::super::hop_over(*e.latency, e.net))
    } else {
        e.now.max(taken.arrived)
    };
    *e.delivered += 1;
    group.ledger.deliver(taken.id);
    inst.wait = start.after(taken.arrived);
    let service = group.service.sample(&mut inst.rng);
    let held = inst.work.as_mut().expect("work in hand");
    held.dedup = dedup;
    held.started = start;
    let epoch = inst.epoch;
    e.queue
        .push(start + service, Event::ServiceDone { instance: i, epoch });
}
