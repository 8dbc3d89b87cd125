//! The AMQP producer on lapin, the field's standard client and the default
//! (`--amqp-client lapin`): a due batch is published pipelined in one trip to the tokio
//! runtime, with publisher confirms. `amqp_publish` is the same on the driver's own client.

use crate::amqp::{OP_TIMEOUT, block, connect};
use crate::driver::{Ctx, Publisher};
use crate::schedule::Send;
use crate::wire;
use lapin::options::{BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection};
use std::time::Duration;
use tokio::runtime::Handle;

/// The median round trip of a synchronous AMQP method (`basic.qos`, answered by
/// `basic.qos-ok`) on a fresh lapin connection, which it then closes.
///
/// # Errors
/// Refused, or a failed round trip.
pub(crate) fn rtt(h: &Handle, uri: &str) -> Result<Duration, String> {
    let conn = connect(h, uri)?;
    let ch = block(h, "channel.open", conn.create_channel())?;
    let rtt = crate::probe::median_rtt(|| {
        block(h, "basic.qos", ch.basic_qos(1, BasicQosOptions::default()))
    });
    let _ = block(h, "connection.close", conn.close(200, "probe done".into()));
    rtt
}

pub(crate) struct LapinPublisher {
    h: Handle,
    uri: String,
    _conn: Connection,
    ch: Channel,
    exchange: String,
    keys: Vec<String>,
    /// `reject-publish`: each message's confirm, to learn which ones the queue refused.
    confirms: Option<Vec<(Send, lapin::PublisherConfirm)>>,
    /// A run with a `broker-crash`: persistent messages, and each batch's confirms awaited
    /// before it counts as taken (an unconfirmed message may die with the broker; it is
    /// resent, not counted as lost).
    durable: bool,
    /// `durable`: the messages a full queue refused (nacked), for `finish`.
    nacked: Vec<Send>,
    /// Messages returned on a confirm this publisher awaited itself (no binding matched):
    /// lapin hands such a return to that confirm, never to `wait_for_confirms`.
    returned: Vec<Send>,
}

impl LapinPublisher {
    /// Connects; publishes go to `exchange` with the producer's routing `keys`; `reject`:
    /// the queues refuse publishes when full (`reject-publish`), so each confirm is kept.
    pub(crate) fn open(
        h: &Handle,
        uri: &str,
        exchange: String,
        keys: Vec<String>,
        durable: bool,
        reject: bool,
    ) -> Result<Self, String> {
        let (conn, ch) = open_publisher(h, uri)?;
        Ok(LapinPublisher {
            h: h.clone(),
            uri: uri.to_string(),
            _conn: conn,
            ch,
            exchange,
            keys,
            confirms: reject.then(Vec::new),
            durable,
            nacked: Vec::new(),
            returned: Vec::new(),
        })
    }
}

/// The message of ours the broker returned with this confirm, if it did.
fn returned_by(confirmation: lapin::Confirmation) -> Option<Send> {
    wire::decode(&confirmation.take_message()?.delivery.data)
}

/// A producer's connection and channel, in confirm mode.
fn open_publisher(h: &Handle, uri: &str) -> Result<(Connection, Channel), String> {
    let conn = connect(h, uri)?;
    let ch = block(h, "channel.open", conn.create_channel())?;
    block(
        h,
        "confirm.select",
        ch.confirm_select(ConfirmSelectOptions::default()),
    )?;
    Ok((conn, ch))
}

impl Publisher for LapinPublisher {
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
        let (confirms, durable) = (&mut self.confirms, self.durable);
        let (nacked, returned) = (&mut self.nacked, &mut self.returned);
        // delivery_mode 2: persistent, what RabbitMQ writes to disk for a durable queue.
        let props = if durable {
            BasicProperties::default().with_delivery_mode(2)
        } else {
            BasicProperties::default()
        };
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
                        props.clone(),
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
                if durable {
                    let confirmation = confirm.await?;
                    if confirmation.is_nack() {
                        nacked.push(*s);
                    }
                    returned.extend(returned_by(confirmation));
                } else if let Some(c) = confirms.as_mut() {
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
        let mut returned: Vec<Send> = returned
            .iter()
            .filter_map(|r| wire::decode(&r.delivery.data))
            .collect();
        returned.append(&mut self.returned);
        let mut nacked = std::mem::take(&mut self.nacked);
        for (s, confirm) in self.confirms.take().unwrap_or_default() {
            let confirmation = self
                .h
                .block_on(async { tokio::time::timeout(OP_TIMEOUT, confirm).await })
                .map_err(|_| "publisher confirm: no answer".to_string())?
                .map_err(|e| format!("publisher confirm: {e}"))?;
            if confirmation.is_nack() {
                nacked.push(s);
            }
            returned.extend(returned_by(confirmation));
        }
        crate::amqp::refused(ctx, returned, nacked);
        Ok(())
    }

    fn reconnect(&mut self) -> Result<(), String> {
        let (conn, ch) = open_publisher(&self.h, &self.uri)?;
        self._conn = conn;
        self.ch = ch;
        Ok(())
    }
}

/// The burst probe's consumer and publisher on lapin (`burst::amqp` declared the scratch
/// queue on `conn`): prefetch 200, a `multiple` ack every 100, confirmed publishes in the
/// driver's batches; the time from the first publish to the last delivery.
pub(crate) fn burst(
    h: &Handle,
    conn: &Connection,
    uri: &str,
    data: &[u8],
) -> Result<Duration, String> {
    use crate::burst::{LIMIT, SCRATCH, batches};
    use crate::probe::BURST;
    use lapin::options::{BasicAckOptions, BasicConsumeOptions};
    use lapin::types::FieldTable;
    let reader = connect(h, uri)?;
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
    let start = std::time::Instant::now();
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
        Ok::<std::time::Instant, String>(std::time::Instant::now())
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
                        data,
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
        "connection.close",
        reader.close(200, "probe done".into()),
    );
    Ok(end - start)
}
