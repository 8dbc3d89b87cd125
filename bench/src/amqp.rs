//! Exchange topics on real RabbitMQ: one exchange per topic (`direct`, `topic` or
//! `fanout`), one queue per group bound with the group's patterns, one connection per
//! consumer instance with `basic.qos(prefetch)` and manual acks (batched every
//! `commit_interval`). Producers publish `mandatory` with publisher confirms, so the
//! broker itself says which messages no binding matched.
//!
//! The client is lapin on a tokio runtime; producer and consumer loops are plain threads
//! that wait on it (`Handle::block_on`), so their timing does not depend on a timer wheel.

use crate::amqp_limit;
use crate::driver::{self, Ctx, Instance, Outcome, Publisher};
use crate::schedule::Send;
use crate::wire;
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use mqlab_sim::exchange::ExchangeKind as Kind;
use mqlab_sim::scenario::{BrokerModel, Delivery, OnFailure};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

/// Any single AMQP operation taking longer than this means the broker is gone.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waiting consumer looks at the stop flag, its crash windows and its acks.
const POLL: Duration = Duration::from_millis(20);

/// The runtime the AMQP client runs on.
///
/// # Errors
/// The OS refused the threads.
pub fn runtime() -> Result<Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn block<T>(
    h: &Handle,
    what: &str,
    f: impl std::future::Future<Output = lapin::Result<T>>,
) -> Result<T, String> {
    h.block_on(async { tokio::time::timeout(OP_TIMEOUT, f).await })
        .map_err(|_| format!("{what}: no answer within {}s", OP_TIMEOUT.as_secs()))?
        .map_err(|e| format!("{what}: {e}"))
}

/// Connects once; `Err` when refused or not an AMQP server.
///
/// # Errors
/// The client's error.
pub fn connect(h: &Handle, uri: &str) -> Result<Connection, String> {
    block(
        h,
        "connect",
        Connection::connect(uri, ConnectionProperties::default()),
    )
}

/// The median round trip of a synchronous AMQP method (`basic.qos`, answered by
/// `basic.qos-ok`) on a fresh connection, which it then closes.
///
/// # Errors
/// Refused, or a failed round trip.
pub fn rtt(h: &Handle, uri: &str) -> Result<Duration, String> {
    let conn = connect(h, uri)?;
    let ch = block(h, "channel.open", conn.create_channel())?;
    let rtt = crate::probe::median_rtt(|| {
        block(h, "basic.qos", ch.basic_qos(1, BasicQosOptions::default()))
    });
    let _ = block(h, "connection.close", conn.close(200, "probe done".into()));
    rtt
}

/// A `queue`-model topic: each group's quorum queue is bound to a fanout exchange.
fn is_queue_topic(ctx: &Ctx, t: usize) -> bool {
    ctx.sc.topics[t].model(&ctx.sc.broker) == BrokerModel::Queue
}

fn exchange_name(ctx: &Ctx, t: usize) -> String {
    format!("mqlab.{}", ctx.sc.topics[t].name.get_ref())
}

fn queue_name(ctx: &Ctx, g: usize) -> String {
    let c = &ctx.sc.consumers[g];
    format!("mqlab.{}.{}", c.topic.get_ref(), c.group.get_ref())
}

/// Declares the exchanges and the groups' queues and bindings, fresh.
fn declare(ctx: &Ctx, h: &Handle, ch: &Channel) -> Result<(), String> {
    for t in 0..ctx.sc.topics.len() {
        let name = exchange_name(ctx, t);
        let kind = match ctx.sc.topics[t].exchange.as_ref().map(|k| *k.get_ref()) {
            _ if is_queue_topic(ctx, t) => ExchangeKind::Fanout,
            Some(Kind::Topic) => ExchangeKind::Topic,
            Some(Kind::Fanout) => ExchangeKind::Fanout,
            _ => ExchangeKind::Direct,
        };
        let _ = block(
            h,
            "exchange.delete",
            ch.exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default()),
        );
        block(
            h,
            "exchange.declare",
            ch.exchange_declare(
                name.as_str().into(),
                kind,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            ),
        )?;
    }
    for (g, c) in ctx.sc.consumers.iter().enumerate() {
        let q = queue_name(ctx, g);
        let _ = block(
            h,
            "queue.delete",
            ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()),
        );
        // A quorum queue must be durable.
        let durable = is_queue_topic(ctx, ctx.books().groups[g].topic);
        block(
            h,
            "queue.declare",
            ch.queue_declare(
                q.as_str().into(),
                QueueDeclareOptions {
                    durable,
                    ..QueueDeclareOptions::default()
                },
                amqp_limit::queue_args(ctx, g, &q),
            ),
        )?;
        amqp_limit::declare_dropped(h, ch, &q)?;
        let ex = exchange_name(ctx, ctx.books().groups[g].topic);
        let t = ctx.books().groups[g].topic;
        let fanout = is_queue_topic(ctx, t)
            || ctx.sc.topics[t]
                .exchange
                .as_ref()
                .is_some_and(|k| *k.get_ref() == Kind::Fanout);
        let keys: Vec<String> = if fanout {
            vec![String::new()]
        } else {
            c.bindings.iter().map(|b| b.get_ref().clone()).collect()
        };
        for key in keys {
            block(
                h,
                "queue.bind",
                ch.queue_bind(
                    q.as_str().into(),
                    ex.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                ),
            )?;
        }
    }
    Ok(())
}

struct AmqpPublisher {
    h: Handle,
    _conn: Connection,
    ch: Channel,
    exchange: String,
    keys: Vec<String>,
    /// `reject-publish`: each message's confirm, to learn which ones the queue refused.
    confirms: Option<Vec<(Send, lapin::PublisherConfirm)>>,
}

impl Publisher for AmqpPublisher {
    fn publish(&mut self, batch: &[(Send, Vec<u8>)]) -> Result<Vec<bool>, String> {
        let opts = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        // The whole batch in one trip to the runtime, pipelined: every publish is polled
        // once in order (which queues its frames, so the broker sees them in order) before
        // any is awaited, so the batch costs one hand-off to the I/O loop, not one per
        // message. The confirms are collected at the end (wait_for_confirms).
        let (ch, exchange, keys) = (&self.ch, self.exchange.as_str(), &self.keys);
        let confirms = &mut self.confirms;
        let send = async {
            let mut futs: Vec<_> = batch
                .iter()
                .map(|(s, payload)| {
                    let key = keys[s.route as usize].as_str();
                    Box::pin(ch.basic_publish(
                        exchange.into(),
                        key.into(),
                        opts,
                        payload,
                        BasicProperties::default(),
                    ))
                })
                .collect();
            let mut done: Vec<Option<lapin::Result<lapin::PublisherConfirm>>> =
                Vec::with_capacity(futs.len());
            for f in &mut futs {
                done.push(futures_lite::future::poll_once(f.as_mut()).await);
            }
            for ((f, d), (s, _)) in futs.iter_mut().zip(done).zip(batch) {
                let confirm = match d {
                    Some(r) => r?,
                    None => f.as_mut().await?,
                };
                if let Some(c) = confirms.as_mut() {
                    c.push((*s, confirm));
                }
            }
            Ok(())
        };
        block(&self.h, "basic.publish", send)?;
        Ok(vec![true; batch.len()])
    }

    fn finish(&mut self, ctx: &Ctx) -> Result<(), String> {
        let returned = self
            .h
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(60), self.ch.wait_for_confirms()).await
            })
            .map_err(|_| "publisher confirms: no answer within 60s".to_string())?
            .map_err(|e| format!("publisher confirms: {e}"))?;
        let unroutable = returned
            .iter()
            .filter(|r| wire::decode(&r.delivery.data).is_some())
            .count() as u64;
        if unroutable > 0 {
            *ctx.books()
                .dropped_by_reason
                .entry("unroutable".into())
                .or_default() += unroutable;
        }
        // reject-publish: a nacked publish is a copy the full queue refused.
        for (s, confirm) in self.confirms.take().unwrap_or_default() {
            let nacked = self
                .h
                .block_on(async { tokio::time::timeout(OP_TIMEOUT, confirm).await })
                .map_err(|_| "publisher confirm: no answer".to_string())?
                .map_err(|e| format!("publisher confirm: {e}"))?
                .is_nack();
            if nacked {
                let now = ctx.now_ns();
                let mut books = ctx.books();
                let topic = books
                    .groups
                    .iter()
                    .position(|g| g.topic == s.topic as usize);
                if let Some(g) = topic {
                    books.drop_copy(g, s.id, "reject", now);
                }
            }
        }
        Ok(())
    }
}

/// Runs the workload on RabbitMQ; returns when the run is over.
///
/// # Errors
/// Setup failed before anything was sent.
pub fn run(ctx: &Arc<Ctx>, h: &Handle, uri: &str) -> Result<(), String> {
    let admin = connect(h, uri)?;
    let ch = block(h, "channel.open", admin.create_channel())?;
    declare(ctx, h, &ch)?;
    let mut threads = Vec::new();
    let mut ready = Vec::new();
    for inst in driver::instances(&ctx.sc, ctx.seed) {
        let (ctx2, h2, uri2) = (Arc::clone(ctx), h.clone(), uri.to_string());
        let (tx, rx) = std::sync::mpsc::channel();
        ready.push(rx);
        threads.push(std::thread::spawn(move || {
            consume(&ctx2, &h2, &uri2, inst, &tx)
        }));
    }
    for rx in ready {
        rx.recv_timeout(OP_TIMEOUT * 2)
            .map_err(|_| "a consumer did not start within 20s".to_string())??;
    }
    for p in 0..ctx.sc.producers.len() {
        let conn = connect(h, uri)?;
        let pch = block(h, "channel.open", conn.create_channel())?;
        block(
            h,
            "confirm.select",
            pch.confirm_select(ConfirmSelectOptions::default()),
        )?;
        let t = ctx
            .sc
            .topics
            .iter()
            .position(|t| t.name.get_ref() == ctx.sc.producers[p].topic.get_ref())
            .unwrap_or(0);
        let mut out = AmqpPublisher {
            h: h.clone(),
            _conn: conn,
            ch: pch,
            exchange: exchange_name(ctx, t),
            keys: ctx.work.routing_keys[p].clone(),
            confirms: (*ctx.sc.broker.on_full.get_ref() == mqlab_sim::scenario::OnFull::Reject)
                .then(Vec::new),
        };
        let ctx2 = Arc::clone(ctx);
        threads.push(std::thread::spawn(move || {
            driver::produce(&ctx2, p, &mut out)
        }));
    }
    driver::await_end(ctx, Duration::from_secs(2));
    for t in threads {
        let _ = t.join();
    }
    collect_leftovers(ctx, h, &ch);
    let _ = block(h, "connection.close", admin.close(200, "done".into()));
    Ok(())
}

/// After the consumers closed (their unacked messages went back), whatever the queues
/// still hold is in flight: read it out, then remove the queues and exchanges.
fn collect_leftovers(ctx: &Ctx, h: &Handle, ch: &Channel) {
    for g in 0..ctx.sc.consumers.len() {
        let q = queue_name(ctx, g);
        let opts = BasicGetOptions { no_ack: true };
        while let Ok(Some(m)) = block(h, "basic.get", ch.basic_get(q.as_str().into(), opts)) {
            if let Some(s) = wire::decode(&m.delivery.data) {
                ctx.books().groups[g].in_system.push(s.id);
            }
        }
        amqp_limit::collect_dropped(ctx, h, ch, g, &q);
        let _ = block(
            h,
            "queue.delete",
            ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()),
        );
    }
    for t in 0..ctx.sc.topics.len() {
        let _ = block(
            h,
            "exchange.delete",
            ch.exchange_delete(
                exchange_name(ctx, t).as_str().into(),
                ExchangeDeleteOptions::default(),
            ),
        );
    }
}

/// One consumer instance, on its own connection.
struct Session {
    conn: Connection,
    ch: Channel,
    /// The group queue's dead-letter exchange (an at-most-once consumer, which acked
    /// first, publishes its failures there itself).
    dead: String,
    consumer: lapin::Consumer,
    /// The newest delivery processed but not yet acked, and since when acks are owed.
    unacked: Option<(lapin::Acker, u64)>,
    /// Deliveries processed since the last ack.
    owed: u32,
    /// Its `basic.qos` prefetch.
    prefetch: u32,
    /// Deliveries already received from the client, not yet looked at.
    ready: std::collections::VecDeque<lapin::message::Delivery>,
}

fn open(ctx: &Ctx, h: &Handle, uri: &str, inst: &Instance) -> Result<Session, String> {
    let c = &ctx.sc.consumers[inst.group];
    let conn = connect(h, uri)?;
    let ch = block(h, "channel.open", conn.create_channel())?;
    // A queue-model consumer holds what one receive takes (`batch`).
    let queue_model = is_queue_topic(ctx, ctx.books().groups[inst.group].topic);
    let prefetch = if queue_model {
        *c.batch.get_ref()
    } else {
        *c.prefetch.get_ref()
    };
    block(
        h,
        "basic.qos",
        ch.basic_qos(
            prefetch.min(u32::from(u16::MAX)) as u16,
            BasicQosOptions::default(),
        ),
    )?;
    let tag = format!("{}-{}", c.group.get_ref(), inst.local);
    let consumer = block(
        h,
        "basic.consume",
        ch.basic_consume(
            queue_name(ctx, inst.group).as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )?;
    Ok(Session {
        conn,
        ch,
        dead: amqp_limit::dropped_name(&queue_name(ctx, inst.group)),
        owed: 0,
        prefetch,
        consumer,
        unacked: None,
        ready: std::collections::VecDeque::new(),
    })
}

/// Waits up to `POLL` for a delivery, then takes every one already there, in one trip
/// to the runtime (a wake-up per message would cap the rate).
fn receive(h: &Handle, s: &mut Session) -> Result<(), String> {
    let (consumer, ready) = (&mut s.consumer, &mut s.ready);
    h.block_on(async {
        let mut next = tokio::time::timeout(POLL, consumer.next()).await;
        loop {
            match next {
                Err(_) => return Ok(()),
                Ok(None) => return Err("the broker cancelled the consumer".to_string()),
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(Some(Ok(d))) => ready.push_back(d),
            }
            if ready.len() >= 256 {
                return Ok(());
            }
            match futures_lite::future::poll_once(consumer.next()).await {
                Some(more) => next = Ok(more),
                None => return Ok(()),
            }
        }
    })
}

fn ack(h: &Handle, acker: &lapin::Acker, multiple: bool) -> Result<(), String> {
    block(h, "basic.ack", acker.ack(BasicAckOptions { multiple })).map(|_| ())
}

/// Receives, serves and acknowledges as the group's delivery variant says; a crash drops
/// the connection without acking and reconnects after the fault's duration.
fn consume(
    ctx: &Ctx,
    h: &Handle,
    uri: &str,
    mut inst: Instance,
    ready: &std::sync::mpsc::Sender<Result<(), String>>,
) {
    let g = inst.group;
    let cfg = &ctx.sc.consumers[g];
    let (delivery, interval) = (cfg.delivery, cfg.commit_interval.0);
    let mut first = Some(ready.clone());
    while !ctx.stopped() {
        let mut s = match open(ctx, h, uri, &inst) {
            Ok(s) => s,
            Err(e) => {
                if let Some(tx) = first.take() {
                    let _ = tx.send(Err(e.clone()));
                }
                ctx.fail(format!(
                    "consumer {}/{}: {e}",
                    cfg.group.get_ref(),
                    inst.local
                ));
                return;
            }
        };
        if let Some(tx) = first.take() {
            let _ = tx.send(Ok(()));
        }
        let crashed_at = match serve_session(ctx, h, &mut inst, &mut s, delivery, interval) {
            Ok(at) => at,
            Err(e) => {
                ctx.fail(format!(
                    "consumer {}/{}: {e}",
                    cfg.group.get_ref(),
                    inst.local
                ));
                return;
            }
        };
        // Crash: the connection goes without acking what was processed since the last
        // ack; the broker requeues every unacked message at once.
        let _ = h.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), s.conn.close(320, "crash".into())).await
        });
        let Some(at) = crashed_at else { return };
        let back = inst.next_crash(at).map_or(at, |(_, until)| until);
        if !ctx.sleep_until(back) {
            return;
        }
    }
}

/// Serves until a crash (returns its time) or the end of the run (`None`, acks flushed).
fn serve_session(
    ctx: &Ctx,
    h: &Handle,
    inst: &mut Instance,
    s: &mut Session,
    delivery: Delivery,
    interval: u64,
) -> Result<Option<u64>, String> {
    let g = inst.group;
    let on_failure = on_failure(ctx, g);
    loop {
        let now = ctx.now_ns();
        if inst.crashed(now) {
            return Ok(Some(now));
        }
        if let Some(until) = inst.cut_until(now)
            && !ctx.stopped()
        {
            // Partitioned: the connection stays open, nothing is read or acknowledged.
            inst.wait(ctx, until);
            continue;
        }
        // `commit_interval = "0"` acks after each message, coalesced: one `multiple` ack
        // for the run processed from what the client already holds, sent before it waits
        // for more (an ack frame per message would cap the rate).
        // An ack per half prefetch at most keeps the broker sending while the rest is
        // processed. Waited for: `multiple` acks sent from separate tasks could reach the
        // wire out of order, and an ack below one already sent is a channel error.
        let coalesced = interval == 0 && (s.ready.is_empty() || s.owed >= s.prefetch / 2);
        if let Some((acker, since)) = &s.unacked
            && (now >= since + interval || ctx.stopped() || coalesced)
        {
            ack(h, acker, true)?;
            s.unacked = None;
            s.owed = 0;
        }
        if ctx.stopped() {
            let _ = h.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), s.conn.close(200, "done".into())).await
            });
            return Ok(None);
        }
        if s.ready.is_empty() {
            receive(h, s)?;
        }
        let Some(d) = s.ready.pop_front() else {
            continue;
        };
        ctx.touch();
        let Some(m) = wire::decode(&d.data) else {
            ack(h, &d.acker, false)?;
            continue;
        };
        if !ctx.books().delivered(g, &m) {
            ack(h, &d.acker, false)?;
            continue;
        }
        if delivery == Delivery::AtMostOnce {
            // Acked before processing: a crash from here on loses it.
            ack(h, &d.acker, false)?;
        }
        let (start, outcome) = inst.process(ctx, m.poison);
        match outcome {
            // Crashed (or stopped) mid-service: the side effect never happened.
            Outcome::Cut => continue,
            Outcome::Failed => {
                fail(h, s, &d, delivery, on_failure)?;
                continue;
            }
            Outcome::Done => {}
        }
        ctx.books().apply(g, &m, start, ctx.now_ns());
        if delivery != Delivery::AtMostOnce {
            let since = s.unacked.as_ref().map_or(ctx.now_ns(), |u| u.1);
            s.unacked = Some((d.acker.clone(), since));
            s.owed += 1;
        }
    }
}

/// The group's `on_failure`, or its model's default: an exchange dead-letters, a queue
/// (SQS) leaves the message to come back until `max_receives`.
fn on_failure(ctx: &Ctx, g: usize) -> OnFailure {
    let cfg = &ctx.sc.consumers[g];
    cfg.on_failure.as_ref().map_or_else(
        || {
            if is_queue_topic(ctx, ctx.books().groups[g].topic) {
                OnFailure::Wait
            } else {
                OnFailure::DeadLetter
            }
        },
        |f| *f.get_ref(),
    )
}

/// A message failed every retry: `basic.nack` with requeue (`requeue`, and `wait`, since
/// RabbitMQ has no visibility timeout: a quorum queue counts the return against
/// `x-delivery-limit`), or without (to the dead-letter exchange). At most once it was
/// acked already, so the consumer publishes it to the dead-letter exchange itself.
fn fail(
    h: &Handle,
    s: &Session,
    d: &lapin::message::Delivery,
    delivery: Delivery,
    on_failure: OnFailure,
) -> Result<(), String> {
    if delivery == Delivery::AtMostOnce {
        return block(
            h,
            "basic.publish",
            s.ch.basic_publish(
                s.dead.as_str().into(),
                "".into(),
                BasicPublishOptions::default(),
                &d.data,
                BasicProperties::default(),
            ),
        )
        .map(|_| ());
    }
    let requeue = on_failure != OnFailure::DeadLetter;
    block(
        h,
        "basic.nack",
        d.acker.nack(BasicNackOptions {
            multiple: false,
            requeue,
        }),
    )
    .map(|_| ())
}
