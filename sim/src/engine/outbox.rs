//! A producer that is a service with a database (`producer.publish`): each arrival is a
//! state change written in a local transaction, and its event is published by dual write
//! (commit, then publish), publish-first (publish, then commit) or a transactional outbox
//! (the change and an outbox row in one transaction; the relay, a service whose input is
//! that table, publishes the rows: `relay.rs`). Crashes of the service between the two
//! steps are where the patterns differ. Owns only the service side; the message then
//! takes the ordinary produce path (`produce.rs`).
//!
//! Timing: `db_latency` is one round trip to the database. A transaction is two: its
//! writes, then COMMIT, which is durable when it reaches the database (1.5 round trips
//! after the arrival); the service hears the outcome half a round trip later. A crash
//! before the commit point rolls the transaction back; a crash after it leaves the change
//! committed whatever the service knew. Every round trip, the service's and the relay's,
//! is a `TxCommit` (the statement reaches the database) and a `TxReply` (its answer
//! reaches the caller) of one entry in `Service::txs`.

pub(super) mod relay;

use super::patterns::{PatternCtx, PatternView};
use crate::dist::Dist;
use crate::event::Event;
use crate::message::Msg;
use crate::metrics::{latency_of, new_histogram};
use crate::rng::{SimRng, StreamKind, stream};
use crate::scenario::{Publish, Scenario};
use crate::snapshot::LogKind;
use crate::summary::ServiceSummary;
use crate::time::{SimDuration, SimTime};
use hdrhistogram::Histogram;
use rand::RngExt;
use relay::{FREE, Poller};
use std::collections::{BTreeMap, VecDeque};

/// A state change's transaction between its start and the service hearing its outcome.
#[derive(Clone, Copy, Debug)]
struct Change {
    /// The arrival (the state change requested): the event's intended send time.
    born: SimTime,
    /// The half round trip from the commit point to the reply.
    reply_after: SimDuration,
    /// Past its commit point (dual write: the event is owed but not yet published).
    committed: bool,
    /// The event: published already (publish-first) or to publish (dual write).
    msg: Option<(Msg, u32)>,
}

/// A round trip to the service's database under way.
#[derive(Clone, Copy, Debug)]
enum Tx {
    /// A state change's transaction.
    Change(Change),
    /// A relay poller's `SELECT ... FOR UPDATE SKIP LOCKED LIMIT relay_batch`.
    Read {
        poller: u32,
        reply_after: SimDuration,
    },
    /// A poller waiting for its batch's acknowledgements (its transaction stays open).
    Flush { poller: u32 },
    /// A poller's `DELETE` of its acknowledged rows and `COMMIT`.
    Mark {
        poller: u32,
        reply_after: SimDuration,
    },
}

/// A row of the outbox table: durable, published by the relay, deleted once marked.
#[derive(Clone, Copy, Debug)]
struct Row {
    msg: Msg,
    partition: u32,
    /// When its transaction committed (the relay's latency starts here).
    committed_at: SimTime,
    /// The poller whose open transaction holds it locked, or `FREE`.
    locked: u32,
    /// Times published.
    sends: u32,
    /// Its commit → acknowledgement latency is recorded.
    timed: bool,
}

/// One service's database, relay and counters.
#[derive(Debug)]
pub(super) struct Service {
    publish: Publish,
    db_latency: Dist,
    db_failure: f64,
    relay_interval: SimDuration,
    relay_batch: u32,
    rng: SimRng,
    next_tx: u32,
    txs: BTreeMap<u32, Tx>,
    /// The outbox table, in commit order (so by message id).
    table: VecDeque<Row>,
    /// The relay's instances (none unless `publish = "outbox"`).
    pollers: Vec<Poller>,
    /// Row commit → the relay holds the publish's acknowledgement, nanoseconds.
    relay_latency: Histogram<u64>,
    stats: ServiceSummary,
}

/// The services of a scenario, by producer index: empty when every producer is direct,
/// so that a plain run allocates and checks nothing.
pub(super) fn services(sc: &Scenario, seed: u64) -> Vec<Option<Service>> {
    let publish = crate::scenario::ProducerConfig::publish;
    if sc.producers.iter().all(|p| publish(p) == Publish::Direct) {
        return Vec::new();
    }
    sc.producers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let pollers = if publish(p) == Publish::Outbox {
                p.relay_instances.as_ref().map_or(1, |n| *n.get_ref())
            } else {
                0
            };
            (publish(p) != Publish::Direct).then(|| Service {
                publish: publish(p),
                db_latency: p
                    .db_latency
                    .as_ref()
                    .map_or(Dist::Const(SimDuration::from_millis(1)), |d| *d.get_ref()),
                db_failure: p.db_failure.as_ref().map_or(0.0, |f| *f.get_ref()),
                relay_interval: p
                    .relay_interval
                    .as_ref()
                    .map_or(SimDuration::from_millis(100), |d| *d.get_ref()),
                relay_batch: p.relay_batch.as_ref().map_or(100, |b| *b.get_ref()),
                rng: stream(seed, StreamKind::Service, i as u32),
                next_tx: 0,
                txs: BTreeMap::new(),
                table: VecDeque::new(),
                pollers: (0..pollers).map(|_| Poller::new()).collect(),
                relay_latency: new_histogram(),
                stats: ServiceSummary {
                    producer: p.name.get_ref().clone(),
                    publish: publish(p).as_str().to_string(),
                    relay_instances: pollers,
                    ..ServiceSummary::default()
                },
            })
        })
        .collect()
}

impl Service {
    /// Registers a round trip; returns its number.
    fn open(&mut self, tx: Tx) -> u32 {
        let n = self.next_tx;
        self.next_tx += 1;
        self.txs.insert(n, tx);
        n
    }

    /// One round trip to the database and the half of it after the statement arrives.
    fn round_trip(&mut self) -> (SimDuration, SimDuration) {
        let rt = self.db_latency.sample(&mut self.rng);
        (rt, SimDuration(rt.0 / 2))
    }

    /// A commit fails (`db_failure`).
    fn commit_fails(&mut self) -> bool {
        self.db_failure > 0.0 && self.rng.random_bool(self.db_failure)
    }
}

/// True when producer `p` is a service with a database.
#[inline]
pub(super) fn is_service(v: PatternView, p: u32) -> bool {
    v.services().get(p as usize).is_some_and(Option::is_some)
}

fn service<'a>(c: &'a mut PatternCtx, p: u32) -> &'a mut Service {
    c.services_mut()[p as usize].as_mut().expect("a service")
}

/// A state change arrives: refused while the service is down, else its transaction
/// begins (publish-first publishes first).
pub(super) fn begin_transaction(mut c: PatternCtx, p: u32) {
    if !c.producer_up(p) {
        service(&mut c, p).stats.refused += 1;
        return;
    }
    let now = c.now();
    let svc = service(&mut c, p);
    let (round_trip, reply_after) = svc.round_trip();
    let commit_at = now + round_trip + SimDuration(round_trip.0 - reply_after.0);
    let msg = if svc.publish == Publish::PublishFirst {
        svc.stats.published += 1;
        let (msg, partition) = c.make_message(p, now);
        c.send_message(p, msg, partition);
        Some((msg, partition))
    } else {
        None
    };
    let tx = service(&mut c, p).open(Tx::Change(Change {
        born: now,
        reply_after,
        committed: false,
        msg,
    }));
    c.schedule(commit_at, Event::TxCommit { producer: p, tx });
}

/// A statement reaches the database: a state change's COMMIT (durable, or it fails),
/// or a relay poller's read or mark.
pub(super) fn on_tx_commit(mut c: PatternCtx, p: u32, tx: u32) {
    match service(&mut c, p).txs.get(&tx).copied() {
        None => {} // rolled back by a crash
        Some(Tx::Change(ch)) => change_commit(c, p, tx, ch),
        Some(Tx::Read {
            poller,
            reply_after,
        }) => relay::relay_select(c, p, tx, poller, reply_after),
        Some(Tx::Mark {
            poller,
            reply_after,
        }) => relay::relay_delete(c, p, tx, poller, reply_after),
        Some(Tx::Flush { .. }) => unreachable!("a flush waits without a statement"),
    }
}

/// The answer reaches the caller: dual write publishes; a poller goes on.
pub(super) fn on_tx_reply(mut c: PatternCtx, p: u32, tx: u32) {
    let Some(t) = service(&mut c, p).txs.remove(&tx) else {
        return; // its caller crashed
    };
    match t {
        Tx::Change(ch) => {
            if let Some((msg, partition)) = ch.msg {
                service(&mut c, p).stats.published += 1;
                c.send_message(p, msg, partition);
            }
        }
        Tx::Read { poller, .. } => relay::relay_publish(c, p, poller),
        Tx::Flush { poller } => relay::relay_flush(c, p, poller),
        Tx::Mark { poller, .. } => relay::relay_sleep(c, p, poller),
    }
}

fn change_commit(mut c: PatternCtx, p: u32, tx: u32, mut ch: Change) {
    let svc = service(&mut c, p);
    svc.txs.remove(&tx);
    if svc.commit_fails() {
        svc.stats.aborted += 1;
        if svc.publish == Publish::PublishFirst {
            svc.stats.phantom_events += 1;
        }
        return;
    }
    svc.stats.committed += 1;
    let publish = svc.publish;
    match publish {
        Publish::PublishFirst | Publish::Direct => {}
        Publish::DualWrite => {
            let (msg, partition) = c.make_message(p, ch.born);
            c.owe(p, msg.id);
            (ch.committed, ch.msg) = (true, Some((msg, partition)));
            let at = c.now() + ch.reply_after;
            service(&mut c, p).txs.insert(tx, Tx::Change(ch));
            c.schedule(at, Event::TxReply { producer: p, tx });
        }
        Publish::Outbox => {
            let (msg, partition) = c.make_message(p, ch.born);
            c.owe(p, msg.id);
            let now = c.now();
            let svc = service(&mut c, p);
            svc.table.push_back(Row {
                msg,
                partition,
                committed_at: now,
                locked: FREE,
                sends: 0,
                timed: false,
            });
            svc.stats.outbox_peak = svc.stats.outbox_peak.max(svc.table.len() as u64);
            relay::relay_wake(c, p);
        }
    }
}

/// The service crashes: open transactions roll back (publish-first's event is then a
/// phantom), a dual write that committed but has not published loses its event, and
/// its relay (a part of its process) goes down with it; the table itself is durable.
pub(super) fn crash_service(mut c: PatternCtx, p: u32) {
    if !is_service(c.view(), p) {
        return;
    }
    for k in 0..service(&mut c, p).pollers.len() as u32 {
        relay::relay_down(c.re(), p, k);
    }
    let svc = service(&mut c, p);
    let (mut lost, mut phantoms) = (0, 0);
    let changes: Vec<u32> = svc
        .txs
        .iter()
        .filter(|(_, t)| matches!(t, Tx::Change(_)))
        .map(|(&n, _)| n)
        .collect();
    for n in changes {
        let Some(Tx::Change(t)) = svc.txs.remove(&n) else {
            continue;
        };
        if t.committed {
            lost += 1;
        } else {
            svc.stats.aborted += 1;
            phantoms += u64::from(svc.publish == Publish::PublishFirst);
        }
    }
    svc.stats.lost_events += lost;
    svc.stats.phantom_events += phantoms;
    let name = c.producer_name(p as usize).to_string();
    if lost > 0 {
        let text = format!("{name}: crash after commit, before publish: {lost} events lost");
        c.note(LogKind::Loss, text);
    }
    if phantoms > 0 {
        let text = format!(
            "{name}: crash before commit: {phantoms} events published for changes rolled back"
        );
        c.note(LogKind::Loss, text);
    }
}

/// The service restarts: its relay's pollers resume with the rows still in the table.
pub(super) fn restart_service(mut c: PatternCtx, p: u32) {
    if !is_service(c.view(), p) {
        return;
    }
    for k in 0..service(&mut c, p).pollers.len() as u32 {
        relay::relay_up(c.re(), p, k);
    }
}

/// Messages a service holds that the broker may not have: committed dual writes not
/// yet published, and outbox rows. As (topic, message id).
pub(super) fn held_by_services(v: PatternView) -> Vec<(u32, u32)> {
    let mut held = Vec::new();
    for (p, svc) in v.services().iter().enumerate() {
        let Some(svc) = svc else { continue };
        let t = v.producer_topic(p as u32);
        let txs = svc.txs.values().filter_map(|t| match t {
            Tx::Change(c) if c.committed => c.msg,
            _ => None,
        });
        held.extend(txs.map(|(m, _)| (t, m.id)));
        held.extend(svc.table.iter().map(|r| (t, r.msg.id)));
    }
    held
}

/// Message ids of topic `t` the services may still send (again): every change's event
/// (a dual write's to publish, publish-first's already sent), and the outbox rows (the
/// relay's batches are rows too). A committed row or change is nothing else: once sent
/// and acknowledged its copies are the system's, seen by the window like any other.
pub(super) fn services_live(v: PatternView, t: u32, see: &mut impl FnMut(u32)) {
    for (p, svc) in v.services().iter().enumerate() {
        let Some(svc) = svc else { continue };
        if v.producer_topic(p as u32) != t {
            continue;
        }
        for tx in svc.txs.values() {
            if let Tx::Change(Change {
                msg: Some((m, _)), ..
            }) = tx
            {
                see(m.id);
            }
        }
        svc.table.iter().for_each(|r| see(r.msg.id));
    }
}

/// Entries the services hold: (round trips under way, outbox rows).
pub(super) fn services_resident(v: PatternView) -> (usize, usize) {
    v.services()
        .iter()
        .flatten()
        .fold((0, 0), |(t, r), s| (t + s.txs.len(), r + s.table.len()))
}

/// Per service, for the summary (rows left in its outbox at the end included).
pub(super) fn service_summaries(v: PatternView) -> Vec<ServiceSummary> {
    v.services()
        .iter()
        .flatten()
        .map(|s| ServiceSummary {
            outbox_rows: s.table.len() as u64,
            relay_latency_s: latency_of(&s.relay_latency),
            ..s.stats.clone()
        })
        .collect()
}

/// Events published for state changes never committed, over every service.
pub(super) fn phantom_events(v: PatternView) -> u64 {
    v.services()
        .iter()
        .flatten()
        .map(|s| s.stats.phantom_events)
        .sum()
}
