//! Request-reply (`producer.reply_timeout`): a requester's every message is a request whose
//! correlation id is its message id and whose reply-to queue is the requester's own (a
//! real queue, `NAME.replies`, see `scenario::derive_reply_queues`). Each group of the
//! request topic is a service whose reply output publishes to that queue through the
//! ordinary produce path, and the requester consumes it: replies are messages in the
//! ledger, delayed, queued, lost and duplicated like any other. Here is the requester's
//! side: it matches the replies it consumes to requests, times requests out, and counts
//! late (orphan) and duplicate replies and replies matched to the wrong request.
//!
//! State is kept only when some producer is a requester, so a plain run pays one
//! `is_empty` test per message and records nothing.

use super::patterns::{PatternCtx, PatternView};
use super::pipeline::Role;
use crate::event::Event;
use crate::message::Msg;
use crate::metrics::{latency_of, new_histogram};
use crate::scenario::{Correlation, Scenario};
use crate::summary::RequestReplySummary;
use crate::time::{SimDuration, SimTime};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One requester's outstanding requests and what became of its requests and replies.
#[derive(Debug)]
pub(super) struct Requester {
    timeout: SimDuration,
    /// `correlation = "id"`; otherwise a reply takes the oldest outstanding request.
    by_id: bool,
    /// Requests awaiting a reply: id → intended send time. Ids grow in send order, so the
    /// first entry is the oldest request.
    outstanding: BTreeMap<u32, SimTime>,
    /// `(deadline, id)` in send order; the timeout is fixed, so deadlines only grow and
    /// one armed timer (for the front) serves them all. Answered entries are skipped.
    deadlines: VecDeque<(SimTime, u32)>,
    timer_armed: bool,
    /// Requests that timed out and had no late reply yet (a reply for one that had is a
    /// duplicate, as for any request not here). Forgotten once no reply can come.
    timed_out: BTreeSet<u32>,
    /// Requests that timed out, ever.
    timeouts: u64,
    requests: u64,
    replies: u64,
    replied: u64,
    orphans: u64,
    duplicate_replies: u64,
    mismatched: u64,
    /// Replies that came while the requester was crashed or cut off.
    replies_lost: u64,
    /// Send → matched reply, nanoseconds.
    rtt: Histogram<u64>,
    /// The request ids not folded yet, in send order (so sorted), for the reply output's
    /// lineage figures.
    sent: VecDeque<u32>,
}

/// Per producer, its requester state; empty when no producer is a requester.
pub(super) fn requesters(sc: &Scenario) -> Vec<Option<Requester>> {
    if sc.producers.iter().all(|p| p.reply_timeout.is_none()) {
        return Vec::new();
    }
    sc.producers
        .iter()
        .map(|p| {
            p.reply_timeout.as_ref().map(|t| Requester {
                timeout: *t.get_ref(),
                by_id: p
                    .correlation
                    .as_ref()
                    .is_none_or(|c| *c.get_ref() == Correlation::Id),
                outstanding: BTreeMap::new(),
                deadlines: VecDeque::new(),
                timer_armed: false,
                timed_out: BTreeSet::new(),
                timeouts: 0,
                requests: 0,
                replies: 0,
                replied: 0,
                orphans: 0,
                duplicate_replies: 0,
                mismatched: 0,
                replies_lost: 0,
                rtt: new_histogram(),
                sent: VecDeque::new(),
            })
        })
        .collect()
}

fn requester<'a>(c: &'a mut PatternCtx, p: u32) -> Option<&'a mut Requester> {
    c.requesters_mut()
        .get_mut(p as usize)
        .and_then(Option::as_mut)
}

/// Producer `p` created message `id`: if it is a requester, a request now awaits its
/// reply (timed from the intended send time, like end-to-end latency).
pub(super) fn request_sent(mut c: PatternCtx, p: u32, id: u32) {
    let now = c.now();
    let Some(r) = requester(&mut c, p) else {
        return;
    };
    r.requests += 1;
    r.sent.push_back(id);
    r.outstanding.insert(id, now);
    r.deadlines.push_back((now + r.timeout, id));
    if !r.timer_armed {
        arm_reply_timer(c, p);
    }
}

/// Arms the requester's timer for its earliest deadline within the run.
fn arm_reply_timer(mut c: PatternCtx, p: u32) {
    let end = c.end();
    let r = requester(&mut c, p).expect("a requester");
    let next = r.deadlines.front().map(|d| d.0).filter(|&at| at <= end);
    r.timer_armed = next.is_some();
    if let Some(at) = next {
        c.schedule(at, Event::ReplyTimeout { producer: p });
    }
}

/// Every request whose deadline has passed without a reply times out.
pub(super) fn on_reply_timeout(mut c: PatternCtx, p: u32) {
    let now = c.now();
    let r = requester(&mut c, p).expect("a requester");
    while let Some(&(at, id)) = r.deadlines.front()
        && at <= now
    {
        r.deadlines.pop_front();
        if r.outstanding.remove(&id).is_some() {
            r.timed_out.insert(id);
            r.timeouts += 1;
        }
    }
    arm_reply_timer(c, p);
}

/// Whether message `id` (of its topic) is a request of requester `p`.
pub(super) fn sent_request(v: PatternView, p: u32, id: u32) -> bool {
    v.requesters()
        .get(p as usize)
        .and_then(Option::as_ref)
        .is_some_and(|r| r.sent.binary_search(&id).is_ok())
}

/// The requester's consumer is about to take reply `msg` from group `g`'s queue. A
/// crashed or cut-off requester has lost its connection and with it its exclusive
/// reply queue: the reply is dropped (`requester-gone`) and its request left to time
/// out. True when it was dropped.
pub(super) fn reply_dropped(mut c: PatternCtx, g: u32, msg: &Msg) -> bool {
    let Some(Role::Requester(p)) = c.role(g) else {
        return false;
    };
    if c.producer_connected(p) {
        return false;
    }
    c.drop_copy(g, msg.id, Some(msg.arrived), "requester-gone");
    requester(&mut c, p).expect("a requester").replies_lost += 1;
    true
}

/// A reply with correlation id `id` reaches requester `p`.
pub(super) fn on_reply(mut c: PatternCtx, p: u32, id: u32) {
    let now = c.now();
    let r = requester(&mut c, p).expect("a requester");
    r.replies += 1;
    let matched = if r.by_id {
        r.outstanding.remove(&id).map(|sent| (id, sent))
    } else {
        // The naive client: replies come back in order, so this one is the oldest's.
        r.outstanding.pop_first()
    };
    match matched {
        Some((request, sent)) => {
            r.replied += 1;
            r.mismatched += u64::from(request != id);
            r.rtt.saturating_record(now.since(sent).0.max(1));
        }
        // Nothing to match: late for a timed-out request (once), or a repeat.
        None if r.timed_out.remove(&id) => r.orphans += 1,
        None => r.duplicate_replies += 1,
    }
}

/// Requester `p`'s requests below `requests` are folded (final), and no reply kept
/// answers one below `replies`: their ids are forgotten, and a timed-out one below both
/// gets no late reply any more (nothing can publish or deliver one).
pub(super) fn forget_requests(mut c: PatternCtx, p: u32, requests: u32, replies: u32) {
    let Some(r) = requester(&mut c, p) else {
        return;
    };
    while r.sent.front().is_some_and(|&id| id < requests) {
        r.sent.pop_front();
    }
    super::pipeline::shrink(&mut r.sent);
    let keep = r.timed_out.split_off(&requests.min(replies));
    r.timed_out = keep;
}

/// Entries requester `p` holds per request: (ids sent, timed out awaiting a reply).
pub(super) fn requester_resident(v: PatternView, p: u32) -> (usize, usize) {
    v.requesters()
        .get(p as usize)
        .and_then(Option::as_ref)
        .map_or((0, 0), |r| (r.sent.len(), r.timed_out.len()))
}

/// Per requester figures for the summary (empty without requesters).
pub(super) fn request_reply_summaries(v: PatternView) -> Vec<RequestReplySummary> {
    v.requesters()
        .iter()
        .zip(v.producer_names())
        .filter_map(|(r, name)| Some((r.as_ref()?, name)))
        .map(|(r, name)| RequestReplySummary {
            producer: name.to_string(),
            requests: r.requests,
            replies: r.replies,
            replied: r.replied,
            timed_out: r.timeouts,
            outstanding: r.outstanding.len() as u64,
            orphans: r.orphans,
            duplicate_replies: r.duplicate_replies,
            mismatched: r.mismatched,
            replies_lost: r.replies_lost,
            rtt_s: latency_of(&r.rtt),
        })
        .collect()
}

#[cfg(test)]
mod tests;
