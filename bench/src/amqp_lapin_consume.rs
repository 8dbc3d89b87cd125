//! An AMQP consumer's connection on lapin (the default client): the subscription and each
//! step of the session loop (`amqp_session`) as lapin calls on the tokio runtime. A
//! coalesced ack is a task of its own, not waited for.

use crate::amqp::{block, connect};
use crate::amqp_session::{self, ConsumerConn, Subscription};
use crate::driver::{Ctx, Instance};
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{Acker, BasicProperties, Channel, Connection};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::runtime::Handle;

/// One consumer's lapin connection, channel and consumer stream.
struct LapinConsumer {
    h: Handle,
    conn: Connection,
    ch: Channel,
    consumer: lapin::Consumer,
    /// The last coalesced ack's task (each awaits the one before it).
    last_ack: Option<tokio::task::JoinHandle<()>>,
}

/// Connects and subscribes: `basic.qos`, then `basic.consume` with manual acks.
fn open(h: &Handle, uri: &str, sub: &Subscription) -> Result<LapinConsumer, String> {
    let conn = connect(h, uri)?;
    let ch = block(h, "channel.open", conn.create_channel())?;
    block(
        h,
        "basic.qos",
        ch.basic_qos(
            sub.prefetch.min(u32::from(u16::MAX)) as u16,
            BasicQosOptions::default(),
        ),
    )?;
    let consumer = block(
        h,
        "basic.consume",
        ch.basic_consume(
            sub.queue.as_str().into(),
            sub.tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )?;
    Ok(LapinConsumer {
        h: h.clone(),
        conn,
        ch,
        consumer,
        last_ack: None,
    })
}

impl ConsumerConn for LapinConsumer {
    type Tag = Acker;

    /// Takes every delivery already there in one trip to the runtime.
    fn receive(
        &mut self,
        wait: Duration,
        ready: &mut VecDeque<(Acker, Vec<u8>)>,
    ) -> Result<(), String> {
        let consumer = &mut self.consumer;
        self.h.block_on(async {
            let mut next = tokio::time::timeout(wait, consumer.next()).await;
            loop {
                match next {
                    Err(_) => return Ok(()),
                    Ok(None) => return Err("the broker cancelled the consumer".to_string()),
                    Ok(Some(Err(e))) => return Err(e.to_string()),
                    Ok(Some(Ok(d))) => ready.push_back((d.acker, d.data)),
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

    fn ack(&mut self, acker: &Acker, multiple: bool) -> Result<(), String> {
        block(
            &self.h,
            "basic.ack",
            acker.ack(BasicAckOptions { multiple }),
        )
        .map(|_| ())
    }

    /// Waiting for it would add a hand-off to the I/O loop to every message at prefetch 1;
    /// each ack's task first awaits the one before, so they reach the wire in order.
    fn ack_behind(&mut self, acker: &Acker) -> Result<(), String> {
        let (prev, acker) = (self.last_ack.take(), acker.clone());
        self.last_ack = Some(self.h.spawn(async move {
            if let Some(p) = prev {
                let _ = p.await;
            }
            let _ = acker.ack(BasicAckOptions { multiple: true }).await;
        }));
        Ok(())
    }

    fn settle(&mut self) {
        if let Some(last) = self.last_ack.take() {
            let _ = self
                .h
                .block_on(async { tokio::time::timeout(Duration::from_secs(2), last).await });
        }
    }

    fn nack(&mut self, acker: &Acker, requeue: bool) -> Result<(), String> {
        let opts = BasicNackOptions {
            multiple: false,
            requeue,
        };
        block(&self.h, "basic.nack", acker.nack(opts)).map(|_| ())
    }

    fn publish(&mut self, exchange: &str, body: &[u8]) -> Result<(), String> {
        let publish = self.ch.basic_publish(
            exchange.into(),
            "".into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        );
        block(&self.h, "basic.publish", publish).map(|_| ())
    }

    fn close(self, code: u16, why: &str) {
        let _ = self.h.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), self.conn.close(code, why.into())).await
        });
    }
}

/// One consumer instance on lapin, for the whole run.
pub(crate) fn consume(
    ctx: &Ctx,
    h: &Handle,
    uri: &str,
    inst: Instance,
    ready: &std::sync::mpsc::Sender<Result<(), String>>,
) {
    amqp_session::consume(ctx, inst, ready, |sub| open(h, uri, sub));
}
