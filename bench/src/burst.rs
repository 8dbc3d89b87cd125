//! The probe's burst, per broker: `probe::BURST` messages of the scenario's size published
//! in pipelined batches (as the driver publishes) on one connection and consumed on
//! another through a scratch channel, stream or queue the run does not use; returns the
//! time from the first publish to the last delivery. Each path is the one the workload
//! takes: PUBLISH/SUBSCRIBE, XADD/XREADGROUP/XACK, or a confirmed publish to a classic
//! (or, for a `queue` topic, quorum) queue read by a consumer with manual acks.

use crate::amqp::block;
use crate::probe::{BATCH, BURST};
use lapin::BasicProperties;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use redis::{Client, Value};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SCRATCH: &str = "mqlab.probe";
/// A burst that takes longer than this means something is wrong: the probe gives up.
const LIMIT: Duration = Duration::from_secs(30);

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
fn batches() -> impl Iterator<Item = usize> {
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
    let reader = crate::amqp::connect(h, uri)?;
    let rch = block(h, "channel.open", reader.create_channel())?;
    block(
        h,
        "basic.qos",
        rch.basic_qos(200, BasicQosOptions::default()),
    )?;
    let mut consumer = block(
        h,
        "basic.consume",
        rch.basic_consume(
            SCRATCH.into(),
            "probe".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )?;
    let pch = block(h, "channel.open", conn.create_channel())?;
    block(
        h,
        "confirm.select",
        pch.confirm_select(ConfirmSelectOptions::default()),
    )?;
    let data = payload(bytes);
    let start = Instant::now();
    let read = h.spawn(async move {
        use futures_lite::StreamExt;
        for n in 1..=BURST {
            let d = consumer
                .next()
                .await
                .ok_or("probe: the consumer was cancelled")?
                .map_err(|e| e.to_string())?;
            if n % 100 == 0 || n == BURST {
                d.acker
                    .ack(BasicAckOptions { multiple: true })
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok::<Instant, String>(Instant::now())
    });
    let publish = async {
        for n in batches() {
            let mut confirms = Vec::with_capacity(n);
            for _ in 0..n {
                confirms.push(
                    pch.basic_publish(
                        "".into(),
                        SCRATCH.into(),
                        BasicPublishOptions::default(),
                        &data,
                        BasicProperties::default(),
                    )
                    .await?,
                );
            }
        }
        pch.wait_for_confirms().await.map(|_| ())
    };
    block(h, "basic.publish", publish)?;
    let end = h
        .block_on(async { tokio::time::timeout(LIMIT, read).await })
        .map_err(|_| "probe: the burst did not arrive in time".to_string())?
        .map_err(|e| format!("probe: {e}"))??;
    let _ = block(
        h,
        "queue.delete",
        ch.queue_delete(SCRATCH.into(), QueueDeleteOptions::default()),
    );
    for c in [conn, reader] {
        let _ = block(h, "connection.close", c.close(200, "probe done".into()));
    }
    Ok(end - start)
}
