//! A producer that is a service with a database (`producer.publish`): each arrival is a
//! state change written in a local transaction, and its event is published by dual write
//! (commit, then publish), publish-first (publish, then commit) or a transactional outbox
//! (the change and an outbox row in one transaction; a relay publishes the rows). Crashes
//! of the service between the two steps are where the patterns differ. Owns only the
//! service side; the message then takes the ordinary produce path (`produce.rs`).
//!
//! Timing: `db_latency` is one round trip to the database. A transaction is two: its
//! writes, then COMMIT, which is durable when it reaches the database (1.5 round trips
//! after the arrival); the service hears the outcome half a round trip later. A crash
//! before the commit point rolls the transaction back; a crash after it leaves the change
//! committed whatever the service knew.

use super::Engine;
use crate::dist::Dist;
use crate::event::Event;
use crate::message::Msg;
use crate::rng::{SimRng, StreamKind, stream};
use crate::scenario::{Publish, Scenario};
use crate::snapshot::LogKind;
use crate::summary::ServiceSummary;
use crate::time::{SimDuration, SimTime};
use rand::RngExt;
use std::collections::{BTreeMap, VecDeque};

/// A transaction between its start and the service hearing its outcome.
#[derive(Clone, Copy, Debug)]
struct Tx {
    /// The arrival (the state change requested): the event's intended send time.
    born: SimTime,
    /// The half round trip from the commit point to the reply.
    reply_after: SimDuration,
    /// Past its commit point (dual write: the event is owed but not yet published).
    committed: bool,
    /// The event: published already (publish-first) or to publish (dual write).
    msg: Option<(Msg, u32)>,
}

/// A row of the outbox table: durable, published by the relay, deleted once marked.
#[derive(Clone, Copy, Debug)]
struct Row {
    msg: Msg,
    partition: u32,
    /// Published by the relay's current batch, not yet marked sent.
    out: bool,
    /// Times published.
    sends: u32,
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
    /// Incarnation: a crash cancels whatever the previous one had scheduled.
    epoch: u32,
    next_tx: u32,
    txs: BTreeMap<u32, Tx>,
    table: VecDeque<Row>,
    /// A relay poll (or mark) is scheduled.
    relay_armed: bool,
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
                epoch: 0,
                next_tx: 0,
                txs: BTreeMap::new(),
                table: VecDeque::new(),
                relay_armed: false,
                stats: ServiceSummary {
                    producer: p.name.get_ref().clone(),
                    publish: publish(p).as_str().to_string(),
                    ..ServiceSummary::default()
                },
            })
        })
        .collect()
}

impl Engine {
    /// True when producer `p` is a service with a database.
    pub(super) fn is_service(&self, p: u32) -> bool {
        self.services.get(p as usize).is_some_and(Option::is_some)
    }

    fn service(&mut self, p: u32) -> &mut Service {
        self.services[p as usize].as_mut().expect("a service")
    }

    /// A state change arrives: refused while the service is down, else its transaction
    /// begins (publish-first publishes first).
    pub(super) fn begin_transaction(&mut self, p: u32) {
        if !self.producers[p as usize].up {
            self.service(p).stats.refused += 1;
            return;
        }
        let now = self.now;
        let svc = self.service(p);
        let round_trip = svc.db_latency.sample(&mut svc.rng);
        let reply_after = SimDuration(round_trip.0 / 2);
        let commit_at = now + round_trip + SimDuration(round_trip.0 - reply_after.0);
        let tx = svc.next_tx;
        svc.next_tx += 1;
        let msg = if svc.publish == Publish::PublishFirst {
            svc.stats.published += 1;
            let (msg, partition) = self.make_message(p, now);
            self.send_message(p, msg, partition);
            Some((msg, partition))
        } else {
            None
        };
        let svc = self.service(p);
        svc.txs.insert(
            tx,
            Tx {
                born: now,
                reply_after,
                committed: false,
                msg,
            },
        );
        self.queue
            .push(commit_at, Event::TxCommit { producer: p, tx });
    }

    /// COMMIT reaches the database: the change is durable, or the commit fails.
    pub(super) fn on_tx_commit(&mut self, p: u32, tx: u32) {
        let svc = self.service(p);
        let Some(mut t) = svc.txs.remove(&tx) else {
            return; // rolled back by a crash
        };
        let fails = svc.db_failure > 0.0 && svc.rng.random_bool(svc.db_failure);
        if fails {
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
                let (msg, partition) = self.make_message(p, t.born);
                self.owe(p, msg.id);
                (t.committed, t.msg) = (true, Some((msg, partition)));
                let at = self.now + t.reply_after;
                self.service(p).txs.insert(tx, t);
                self.queue.push(at, Event::TxReply { producer: p, tx });
            }
            Publish::Outbox => {
                let (msg, partition) = self.make_message(p, t.born);
                self.owe(p, msg.id);
                self.service(p).table.push_back(Row {
                    msg,
                    partition,
                    out: false,
                    sends: 0,
                });
                self.arm_relay(p);
            }
        }
    }

    fn owe(&mut self, p: u32, id: u32) {
        let t = self.producers[p as usize].topic;
        self.topics[t as usize].flags.owe(id);
    }

    /// Dual write: the service hears its commit succeeded and publishes the event.
    pub(super) fn on_tx_reply(&mut self, p: u32, tx: u32) {
        let Some(t) = self.service(p).txs.remove(&tx) else {
            return;
        };
        if let Some((msg, partition)) = t.msg {
            self.service(p).stats.published += 1;
            self.send_message(p, msg, partition);
        }
    }

    fn arm_relay(&mut self, p: u32) {
        let now = self.now;
        let svc = self.service(p);
        if svc.relay_armed || !self.producers[p as usize].up {
            return;
        }
        let svc = self.service(p);
        svc.relay_armed = true;
        let (at, epoch) = (now + svc.relay_interval, svc.epoch);
        self.queue.push(at, Event::RelayPoll { producer: p, epoch });
    }

    /// The relay reads up to `relay_batch` unsent rows and publishes them, then marks them
    /// sent in one more round trip to the database.
    pub(super) fn on_relay_poll(&mut self, p: u32, epoch: u32) {
        if self.service(p).epoch != epoch {
            return;
        }
        let batch = self.service(p).relay_batch as usize;
        let mut sent = 0;
        for r in 0..self.service(p).table.len() {
            let row = self.service(p).table[r];
            // A row its client is still sending waits for that send to settle.
            if row.out
                || self.producers[p as usize]
                    .inflight
                    .contains_key(&row.msg.id)
            {
                continue;
            }
            let svc = self.service(p);
            let row_mut = &mut svc.table[r];
            row_mut.out = true;
            row_mut.sends += 1;
            if row_mut.sends == 1 {
                svc.stats.published += 1;
            } else {
                svc.stats.republished += 1;
            }
            self.send_message(p, row.msg, row.partition);
            sent += 1;
            if sent == batch {
                break;
            }
        }
        let now = self.now;
        let svc = self.service(p);
        // Rows out and awaiting their acknowledgement are marked once it comes.
        let (at, event) = if sent > 0 || svc.table.iter().any(|r| r.out) {
            let at = now + svc.db_latency.sample(&mut svc.rng);
            (at, Event::RelayMark { producer: p, epoch })
        } else {
            (
                now + svc.relay_interval,
                Event::RelayPoll { producer: p, epoch },
            )
        };
        self.queue.push(at, event);
    }

    /// The relay's update is durable: rows it published and saw acknowledged are sent
    /// and deleted; a row whose send ended without an acknowledgement goes again at the
    /// next poll; one its client is still sending waits for the outcome.
    pub(super) fn on_relay_mark(&mut self, p: u32, epoch: u32) {
        if self.service(p).epoch != epoch {
            return;
        }
        let prod = &self.producers[p as usize];
        let flags = &self.topics[prod.topic as usize].flags;
        let svc = self.services[p as usize].as_mut().expect("a service");
        svc.table
            .retain(|row| !(row.out && flags.acked(row.msg.id)));
        for row in &mut svc.table {
            row.out &= prod.inflight.contains_key(&row.msg.id);
        }
        svc.relay_armed = false;
        if !svc.table.is_empty() {
            self.arm_relay(p);
        }
    }

    /// The service crashes: open transactions roll back (publish-first's event is then a
    /// phantom), a dual write that committed but has not published loses its event, the
    /// relay forgets which rows it published (the table itself is durable).
    pub(super) fn crash_service(&mut self, p: u32) {
        if !self.is_service(p) {
            return;
        }
        let svc = self.service(p);
        svc.epoch += 1;
        svc.relay_armed = false;
        let (mut lost, mut phantoms) = (0, 0);
        for t in std::mem::take(&mut svc.txs).into_values() {
            if t.committed {
                lost += 1;
            } else {
                svc.stats.aborted += 1;
                phantoms += u64::from(svc.publish == Publish::PublishFirst);
            }
        }
        svc.stats.lost_events += lost;
        svc.stats.phantom_events += phantoms;
        for row in &mut svc.table {
            row.out = false;
        }
        let name = self.producers[p as usize].name.clone();
        if lost > 0 {
            let text = format!("{name}: crash after commit, before publish: {lost} events lost");
            self.note(LogKind::Loss, text);
        }
        if phantoms > 0 {
            let text = format!(
                "{name}: crash before commit: {phantoms} events published for changes rolled back"
            );
            self.note(LogKind::Loss, text);
        }
    }

    /// The service restarts: its relay resumes with the rows still in the table.
    pub(super) fn restart_service(&mut self, p: u32) {
        if self.is_service(p) && !self.service(p).table.is_empty() {
            self.arm_relay(p);
        }
    }

    /// Messages a service holds that the broker may not have: committed dual writes not
    /// yet published, and outbox rows. As (topic, message id).
    pub(super) fn held_by_services(&self) -> Vec<(u32, u32)> {
        let mut held = Vec::new();
        for (p, svc) in self.services.iter().enumerate() {
            let Some(svc) = svc else { continue };
            let t = self.producers[p].topic;
            let txs = svc.txs.values().filter(|t| t.committed);
            held.extend(txs.filter_map(|x| x.msg).map(|(m, _)| (t, m.id)));
            held.extend(svc.table.iter().map(|r| (t, r.msg.id)));
        }
        held
    }

    /// Per service, for the summary (rows left in its outbox at the end included).
    pub(super) fn service_summaries(&self) -> Vec<ServiceSummary> {
        self.services
            .iter()
            .flatten()
            .map(|s| ServiceSummary {
                outbox_rows: s.table.len() as u64,
                ..s.stats.clone()
            })
            .collect()
    }

    /// Events published for state changes never committed, over every service.
    pub(super) fn phantom_events(&self) -> u64 {
        self.services
            .iter()
            .flatten()
            .map(|s| s.stats.phantom_events)
            .sum()
    }
}
