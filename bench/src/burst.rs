//! The probe's burst, per broker: `probe::BURST` messages of the scenario's size published
//! in pipelined batches (as the driver publishes) on one connection and consumed on
//! another through a scratch channel, stream or queue the run does not use; returns the
//! time from the first publish to the last delivery. Each path is the one the workload
//! takes: PUBLISH/SUBSCRIBE, XADD/XREADGROUP/XACK, or a confirmed publish to a classic
//! (or, for a `queue` topic, quorum) queue read by a consumer with manual acks.

use crate::amqp::block;
use crate::amqp_conn::{CH, Conn};
use crate::amqp_frame::{Event, id};
use crate::probe::{BATCH, BURST};
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use redis::{Client, Value};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub(crate) const SCRATCH: &str = "mqlab.probe";
/// A burst that takes longer than this means something is wrong: the probe gives up.
pub(crate) const LIMIT: Duration = Duration::from_secs(30);

fn payload(bytes: u64) -> Vec<u8> {
    vec![b'.'; (bytes as usize).max(crate::wire::HEADER)]
}

/// Redis pub/sub: a subscriber on its own connection, then PUBLISH in pipelines.
///
/// # Errors
/// A failed command, or a burst that did not arrive in time.
pub fn redis_pubsub(client: &Client, bytes: u64) -> Result<Duration, String> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let sub_client = client.clone();
    let sub = std::thread::spawn(move || -> Result<Instant, String> {
        let mut con = crate::redis_pubsub::connect(&sub_client)?;
        let mut ps = con.as_pubsub();
        ps.subscribe(SCRATCH)
            .map_err(|e| format!("SUBSCRIBE: {e}"))?;
        let _ = ready_tx.send(());
        for _ in 0..BURST {
            ps.get_message().map_err(|e| format!("probe: {e}"))?;
        }
        Ok(Instant::now())
    });
    ready_rx
        .recv_timeout(LIMIT)
        .map_err(|_| "probe: the subscriber did not subscribe".to_string())?;
    let mut con = crate::redis_pubsub::connect(client)?;
    let data = payload(bytes);
    let start = Instant::now();
    for n in batches() {
        let mut pipe = redis::pipe();
        for _ in 0..n {
            pipe.cmd("PUBLISH")
                .arg(SCRATCH)
                .arg(data.as_slice())
                .ignore();
        }
        pipe.query::<()>(&mut con)
            .map_err(|e| format!("PUBLISH: {e}"))?;
    }
    let end = sub.join().map_err(|_| "probe: subscriber panicked")??;
    Ok(end - start)
}

/// Redis Streams: XADD in pipelines; one group member reads with XREADGROUP and XACKs
/// each read.
///
/// # Errors
/// As `redis_pubsub`.
pub fn redis_stream(client: &Client, bytes: u64) -> Result<Duration, String> {
    let mut admin = crate::redis_pubsub::connect(client)?;
    let cmd_err = |what: &'static str| move |e: redis::RedisError| format!("{what}: {e}");
    redis::cmd("DEL")
        .arg(SCRATCH)
        .query::<()>(&mut admin)
        .map_err(cmd_err("DEL"))?;
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(SCRATCH)
        .arg("probe")
        .arg("0")
        .arg("MKSTREAM")
        .query::<()>(&mut admin)
        .map_err(cmd_err("XGROUP CREATE"))?;
    let mut reader = crate::redis_pubsub::connect(client)?;
    let data = payload(bytes);
    let start = Instant::now();
    let consumer = std::thread::spawn(move || -> Result<Instant, String> {
        let mut got = 0;
        while got < BURST {
            if start.elapsed() > LIMIT {
                return Err("probe: the burst did not arrive in time".into());
            }
            let v: Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg("probe")
                .arg("m")
                .arg("COUNT")
                .arg(100)
                .arg("BLOCK")
                .arg(20)
                .arg("STREAMS")
                .arg(SCRATCH)
                .arg(">")
                .query(&mut reader)
                .map_err(|e| format!("XREADGROUP: {e}"))?;
            let mut ids = Vec::new();
            collect_ids(&v, &mut ids);
            got += ids.len() as u32;
            if !ids.is_empty() {
                redis::cmd("XACK")
                    .arg(SCRATCH)
                    .arg("probe")
                    .arg(&ids)
                    .query::<()>(&mut reader)
                    .map_err(|e| format!("XACK: {e}"))?;
            }
        }
        Ok(Instant::now())
    });
    let mut con = crate::redis_pubsub::connect(client)?;
    for n in batches() {
        let mut pipe = redis::pipe();
        for _ in 0..n {
            pipe.cmd("XADD")
                .arg(SCRATCH)
                .arg("*")
                .arg("m")
                .arg(data.as_slice())
                .ignore();
        }
        pipe.query::<()>(&mut con).map_err(cmd_err("XADD"))?;
    }
    let end = consumer.join().map_err(|_| "probe: reader panicked")??;
    let _: Result<(), _> = redis::cmd("DEL").arg(SCRATCH).query(&mut admin);
    Ok(end - start)
}

/// The entry IDs in an XREADGROUP reply (RESP2 arrays or a RESP3 map).
fn collect_ids(v: &Value, out: &mut Vec<Vec<u8>>) {
    let streams: Vec<&Value> = match v {
        Value::Array(s) => s
            .iter()
            .filter_map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => Some(&kv[1]),
                _ => None,
            })
            .collect(),
        Value::Map(kv) => kv.iter().map(|(_, v)| v).collect(),
        _ => Vec::new(),
    };
    for entries in streams {
        if let Value::Array(items) = entries {
            for item in items {
                if let Value::Array(pair) = item
                    && let Some(Value::BulkString(id)) = pair.first()
                {
                    out.push(id.clone());
                }
            }
        }
    }
}

/// Batch sizes of the burst.
pub(crate) fn batches() -> impl Iterator<Item = usize> {
    let full = BURST as usize / BATCH;
    let rest = BURST as usize % BATCH;
    std::iter::repeat_n(BATCH, full).chain((rest > 0).then_some(rest))
}

/// RabbitMQ: a scratch queue (quorum when `quorum`), a consumer with prefetch 200 and
/// `multiple` acks every 100, and a confirmed publisher sending pipelined batches.
///
/// # Errors
/// As `redis_pubsub`.
pub fn amqp(
    h: &tokio::runtime::Handle,
    uri: &str,
    bytes: u64,
    quorum: bool,
    client: crate::AmqpClient,
) -> Result<Duration, String> {
    let conn = crate::amqp::connect(h, uri)?;
    let ch = block(h, "channel.open", conn.create_channel())?;
    let _ = block(
        h,
        "queue.delete",
        ch.queue_delete(SCRATCH.into(), QueueDeleteOptions::default()),
    );
    let mut args = FieldTable::default();
    if quorum {
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
    }
    block(
        h,
        "queue.declare",
        ch.queue_declare(
            SCRATCH.into(),
            QueueDeclareOptions {
                durable: quorum,
                ..QueueDeclareOptions::default()
            },
            args,
        ),
    )?;
    let data = payload(bytes);
    if client == crate::AmqpClient::Lapin {
        let took = crate::amqp_lapin::burst(h, &conn, uri, &data);
        let _ = block(
            h,
            "queue.delete",
            ch.queue_delete(SCRATCH.into(), QueueDeleteOptions::default()),
        );
        let _ = block(h, "connection.close", conn.close(200, "probe done".into()));
        return took;
    }
    let (ready_tx, ready_rx) = mpsc::channel();
    let uri2 = uri.to_string();
    let read = std::thread::spawn(move || read_burst(&uri2, &ready_tx));
    ready_rx
        .recv_timeout(LIMIT)
        .map_err(|_| "probe: the consumer did not start".to_string())??;
    let start = Instant::now();
    publish_burst(uri, &data)?;
    let end = read
        .join()
        .map_err(|_| "probe: the consumer panicked".to_string())??;
    let _ = block(
        h,
        "queue.delete",
        ch.queue_delete(SCRATCH.into(), QueueDeleteOptions::default()),
    );
    let _ = block(h, "connection.close", conn.close(200, "probe done".into()));
    Ok(end - start)
}

/// The burst's consumer, on the driver's own client: prefetch 200, a `multiple` ack every
/// 100; returns when the last message came.
fn read_burst(uri: &str, ready: &mpsc::Sender<Result<(), String>>) -> Result<Instant, String> {
    let opened = Conn::open(uri).and_then(|mut c| {
        c.call("basic.qos", id::QOS_OK, |o| {
            o.method(CH, id::QOS, |a| {
                a.u32(0).u16(200).u8(0);
            });
        })?;
        c.call("basic.consume", id::CONSUME_OK, |o| {
            o.method(CH, id::CONSUME, |a| {
                a.u16(0).short(SCRATCH).short("probe").u8(0).table();
            });
        })?;
        Ok(c)
    });
    let mut c = match opened {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e.clone()));
            return Err(e);
        }
    };
    let _ = ready.send(Ok(()));
    let deadline = Instant::now() + LIMIT;
    let mut n = 0;
    while n < BURST {
        if Instant::now() > deadline {
            return Err("probe: the burst did not arrive in time".into());
        }
        if c.wire.events.is_empty() {
            c.wire.read(Some(Duration::from_millis(100)))?;
        }
        while let Some(e) = c.wire.events.pop_front() {
            if let Event::Deliver { tag, .. } = e {
                n += 1;
                if n % 100 == 0 || n == BURST {
                    c.ack(tag, true)?;
                }
            }
        }
    }
    let end = Instant::now();
    c.close(200, "probe done");
    Ok(end)
}

/// The burst's publisher, as the driver publishes: confirmed, in pipelined batches; returns
/// when the last message is confirmed.
fn publish_burst(uri: &str, data: &[u8]) -> Result<(), String> {
    let mut c = Conn::open(uri)?;
    c.call("confirm.select", id::SELECT_OK, |o| {
        o.method(CH, id::SELECT, |a| {
            a.u8(0);
        });
    })?;
    let frame_max = c.frame_max;
    for n in batches() {
        c.send(|o| {
            for _ in 0..n {
                o.publish(CH, ("", SCRATCH), false, false, data, frame_max);
            }
        })?;
    }
    let deadline = Instant::now() + LIMIT;
    loop {
        if Instant::now() > deadline {
            return Err("probe: publisher confirms did not arrive in time".into());
        }
        if c.wire.events.is_empty() {
            c.wire.read(Some(Duration::from_millis(100)))?;
        }
        while let Some(e) = c.wire.events.pop_front() {
            if matches!(e, Event::Confirm { tag, .. } if tag >= u64::from(BURST)) {
                c.close(200, "probe done");
                return Ok(());
            }
        }
    }
}
