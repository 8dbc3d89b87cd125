//! Exchange topics on real RabbitMQ: one exchange per topic (`direct`, `topic` or
//! `fanout`), one queue per group bound with the group's patterns, one connection per
//! consumer instance with `basic.qos(prefetch)` and manual acks (batched every
//! `commit_interval`). Producers publish `mandatory` with publisher confirms, so the
//! broker itself says which messages no binding matched.
//!
//! Declarations, probes and the end-of-run reads use lapin on a tokio runtime. Producers
//! and consumers are plain threads, each on its own connection of the client
//! `--amqp-client` chooses: lapin (`amqp_lapin`, `amqp_lapin_consume`) or the driver's own
//! blocking client (`amqp_publish`, `amqp_consume` on `amqp_conn`), on which a message
//! costs no hand-off to another thread. A consumer's session loop (`amqp_session`) is the
//! same on both.

use crate::AmqpClient;
use crate::amqp_lapin::LapinPublisher;
use crate::amqp_limit;
use crate::amqp_publish::AmqpPublisher;
use crate::driver::{self, Ctx, Publisher};
use crate::schedule::Send;
use crate::wire;
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use mqlab_sim::exchange::ExchangeKind as Kind;
use mqlab_sim::ledger::Class;
use mqlab_sim::scenario::BrokerModel;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};

/// Any single AMQP operation taking longer than this means the broker is gone.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a waiting consumer looks at the stop flag, its crash windows and its acks.
pub(crate) const POLL: Duration = Duration::from_millis(20);

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

pub(crate) fn block<T>(
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
/// `basic.qos-ok`) on a fresh connection of the run's client, which it then closes.
///
/// # Errors
/// Refused, or a failed round trip.
pub fn rtt(h: &Handle, uri: &str, client: AmqpClient) -> Result<Duration, String> {
    use crate::amqp_frame::id;
    if client == AmqpClient::Lapin {
        return crate::amqp_lapin::rtt(h, uri);
    }
    let mut conn = crate::amqp_conn::Conn::open(uri)?;
    let rtt = crate::probe::median_rtt(|| {
        conn.call("basic.qos", id::QOS_OK, |o| {
            o.method(crate::amqp_conn::CH, id::QOS, |a| {
                a.u32(0).u16(1).u8(0);
            });
        })
        .map(|_| ())
    });
    conn.close(200, "probe done");
    rtt
}

/// A `queue`-model topic: each group's quorum queue is bound to a fanout exchange.
pub(crate) fn is_queue_topic(ctx: &Ctx, t: usize) -> bool {
    ctx.sc.topics[t].model(&ctx.sc.broker) == BrokerModel::Queue
}

fn exchange_name(ctx: &Ctx, t: usize) -> String {
    format!("mqlab.{}", ctx.sc.topics[t].name.get_ref())
}

pub(crate) fn queue_name(ctx: &Ctx, g: usize) -> String {
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
                ExchangeDeclareOptions {
                    durable: durable(ctx),
                    ..ExchangeDeclareOptions::default()
                },
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
        let durable = is_queue_topic(ctx, ctx.books().groups[g].topic) || durable(ctx);
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
        amqp_limit::declare_dropped(h, ch, &q, durable)?;
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

/// What a producer learned from the broker, on either client: the messages `returned`
/// (no binding matched) and the `nacked` ones a full queue refused.
///
/// A returned message is unroutable. A copy of it the scenario routes to a group never
/// reached that group's queue: the broker had no such binding (one declared moments
/// before a `broker-crash` may not survive the restart), so the copy is dropped as
/// `unbound`, not counted lost.
pub(crate) fn refused(
    ctx: &Ctx,
    returned: impl IntoIterator<Item = Send>,
    nacked: impl IntoIterator<Item = Send>,
) {
    let now = ctx.now_ns();
    // A batch resent after a broker restart may have been returned on both connections.
    let mut returned: Vec<Send> = returned.into_iter().collect();
    returned.sort_unstable_by_key(|s| (s.topic, s.id));
    returned.dedup_by_key(|s| (s.topic, s.id));
    let mut books = ctx.books();
    for s in returned {
        *books
            .dropped_by_reason
            .entry("unroutable".into())
            .or_default() += 1;
        for g in books.topic_groups[s.topic as usize].clone() {
            // A resend of it that found the binding may have been processed.
            let ledger = &books.groups[g].ledger;
            if (s.id as usize) < ledger.len() && ledger.class(s.id) == Class::Gone {
                books.drop_copy(g, s.id, "unbound", now);
            }
        }
    }
    drop(books);
    // reject-publish: a nacked publish is a copy the full queue refused.
    for s in nacked {
        reject(ctx, &s);
    }
}

/// The full queue refused `s` (`reject-publish`).
pub(crate) fn reject(ctx: &Ctx, s: &Send) {
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

/// Whether the run has a `broker-crash`: then exchanges and queues are durable and
/// messages persistent, the configuration under which RabbitMQ keeps what it confirmed.
pub(crate) fn durable(ctx: &Ctx) -> bool {
    !ctx.outages.windows.is_empty()
}

/// Runs the workload on RabbitMQ; returns when the run is over.
///
/// # Errors
/// Setup failed before anything was sent.
pub fn run(ctx: &Arc<Ctx>, h: &Handle, uri: &str, client: AmqpClient) -> Result<(), String> {
    let admin = connect(h, uri)?;
    let ch = block(h, "channel.open", admin.create_channel())?;
    declare(ctx, h, &ch)?;
    let mut threads = Vec::new();
    let mut ready = Vec::new();
    for inst in driver::instances(&ctx.sc, ctx.seed) {
        let who = driver::consumer_name(&ctx.sc, &inst);
        let (ctx2, h2, uri2) = (Arc::clone(ctx), h.clone(), uri.to_string());
        let (tx, rx) = std::sync::mpsc::channel();
        ready.push(rx);
        threads.push(driver::spawn_worker(ctx, who, move || match client {
            AmqpClient::Lapin => crate::amqp_lapin_consume::consume(&ctx2, &h2, &uri2, inst, &tx),
            AmqpClient::Wire => crate::amqp_consume::consume(&ctx2, &uri2, inst, &tx),
        }));
    }
    for rx in ready {
        rx.recv_timeout(OP_TIMEOUT * 2)
            .map_err(|_| "a consumer did not start within 20s".to_string())??;
    }
    let mut publishers: Vec<Box<dyn Publisher + std::marker::Send>> = Vec::new();
    for p in 0..ctx.sc.producers.len() {
        let t = ctx
            .sc
            .topics
            .iter()
            .position(|t| t.name.get_ref() == ctx.sc.producers[p].topic.get_ref())
            .unwrap_or(0);
        let (exchange, keys) = (exchange_name(ctx, t), ctx.work.routing_keys[p].clone());
        publishers.push(match client {
            AmqpClient::Lapin => Box::new(LapinPublisher::open(
                h,
                uri,
                exchange,
                keys,
                durable(ctx),
                *ctx.sc.broker.on_full.get_ref() == mqlab_sim::scenario::OnFull::Reject,
            )?),
            AmqpClient::Wire => Box::new(AmqpPublisher::open(uri, exchange, keys, durable(ctx))?),
        });
    }
    // Set up: the workload's clock (and its faults') starts now.
    ctx.start();
    for (p, mut out) in publishers.into_iter().enumerate() {
        let ctx2 = Arc::clone(ctx);
        let who = driver::producer_name(&ctx.sc, p);
        threads.push(driver::spawn_worker(ctx, who, move || {
            driver::produce(&ctx2, p, out.as_mut());
        }));
    }
    driver::await_end(ctx, Duration::from_secs(2));
    for t in threads {
        let _ = t.join();
    }
    if ctx.outages.generation() > 0 {
        // The first admin connection died with the broker.
        let (admin, ch) = connect(h, uri)
            .and_then(|a| block(h, "channel.open", a.create_channel()).map(|c| (a, c)))?;
        collect_leftovers(ctx, h, &admin, ch);
        let _ = block(h, "connection.close", admin.close(200, "done".into()));
        return Ok(());
    }
    collect_leftovers(ctx, h, &admin, ch);
    let _ = block(h, "connection.close", admin.close(200, "done".into()));
    Ok(())
}

/// How long the end-of-run read of a queue retries a failing `basic.get`: a quorum queue
/// on a restarted server answers only once it has recovered (its Raft log replayed, a
/// leader elected), which on a loaded machine can take many seconds.
const LEFTOVER_RETRY: Duration = Duration::from_secs(60);

/// Reads out group `g`'s queue (`no_ack`); each message is in flight. A failing read is
/// retried on a fresh channel for `LEFTOVER_RETRY`; after that the run is marked partial
/// (what the queue still held would otherwise be counted lost).
fn read_queue(ctx: &Ctx, h: &Handle, admin: &Connection, ch: &mut Channel, g: usize) {
    let q = queue_name(ctx, g);
    let opts = BasicGetOptions { no_ack: true };
    let deadline = std::time::Instant::now() + LEFTOVER_RETRY;
    loop {
        match block(h, "basic.get", ch.basic_get(q.as_str().into(), opts)) {
            Ok(Some(m)) => {
                if let Some(s) = wire::decode(&m.delivery.data) {
                    ctx.books().groups[g].in_system.push(s.id);
                }
            }
            Ok(None) => return,
            Err(e) if std::time::Instant::now() >= deadline => {
                ctx.books()
                    .fail(format!("reading what queue {q} held after the run: {e}"));
                return;
            }
            Err(_) => {
                std::thread::sleep(Duration::from_millis(500));
                if let Ok(c) = block(h, "channel.open", admin.create_channel()) {
                    *ch = c;
                }
            }
        }
    }
}

/// After the consumers closed (their unacked messages went back), whatever the queues
/// still hold is in flight: read it out, then remove the queues and exchanges.
fn collect_leftovers(ctx: &Ctx, h: &Handle, admin: &Connection, mut ch: Channel) {
    let ch = &mut ch;
    for g in 0..ctx.sc.consumers.len() {
        let q = queue_name(ctx, g);
        read_queue(ctx, h, admin, ch, g);
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

#[cfg(test)]
mod tests {
    use crate::driver::Ctx;
    use mqlab_sim::Scenario;

    /// A fanout to two groups: a message the broker returned (its bindings gone) is one
    /// unroutable message and two copies dropped as `unbound`, however many connections
    /// returned it; the rest are processed, and nothing counts lost.
    #[test]
    fn a_returned_message_is_unroutable_and_its_copies_unbound_not_lost() {
        let src = r#"
name = "unbound"
duration = "1s"
[broker]
model = "exchange"
[[topic]]
name = "t"
exchange = "fanout"
[[producer]]
name = "p"
topic = "t"
rate = 5
[[consumer]]
group = "a"
topic = "t"
service_time = "1ms"
[[consumer]]
group = "b"
topic = "t"
service_time = "1ms"
"#;
        let sc = Scenario::from_toml(src, "unbound.toml").expect("valid");
        let work = crate::schedule::workload(&sc, 1);
        let sends = work.sends.clone();
        assert!(sends.len() >= 3, "{} sends", sends.len());
        let ctx = Ctx::new(sc.clone(), 1, work);
        ctx.start();
        for s in &sends {
            ctx.books().published(s, 0, true);
        }
        for s in &sends[1..] {
            let mut b = ctx.books();
            for g in 0..2 {
                assert!(b.apply(g, s, 0, 1));
            }
        }
        // sends[1] was returned on a connection, then resent and processed: not dropped.
        super::refused(&ctx, [sends[0], sends[1], sends[0]], []);
        let r = ctx.books().summary(&sc, 1, 1_000_000_000);
        let m = &r.messages;
        assert_eq!(m.unroutable, 2, "{m:?}");
        assert_eq!((m.dropped, m.lost), (2, 0), "{m:?}");
        assert_eq!(m.processed, 2 * (sends.len() as u64 - 1), "{m:?}");
        assert_eq!(r.dropped_by_reason.get("unbound"), Some(&2));
        assert!(r.conservation_ok);
    }
}
