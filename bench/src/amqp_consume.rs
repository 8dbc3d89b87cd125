//! An AMQP consumer's connection on the driver's own client (`--amqp-client wire`): the
//! subscription and each step of the session loop (`amqp_session`) as frames written and
//! read on one blocking socket. Acks have no answer, so a coalesced one is simply written.

use crate::amqp_conn::{CH, Conn, closed};
use crate::amqp_frame::{Event, id};
use crate::amqp_session::{self, ConsumerConn, Subscription};
use crate::driver::{Ctx, Instance};
use std::collections::VecDeque;
use std::time::Duration;

/// Connects and subscribes: `basic.qos`, then `basic.consume` with manual acks.
fn open(uri: &str, sub: &Subscription) -> Result<Conn, String> {
    let mut conn = Conn::open(uri)?;
    conn.call("basic.qos", id::QOS_OK, |o| {
        o.method(CH, id::QOS, |a| {
            let count = sub.prefetch.min(u32::from(u16::MAX)) as u16;
            a.u32(0).u16(count).u8(0);
        });
    })?;
    conn.call("basic.consume", id::CONSUME_OK, |o| {
        // no-local, no-ack, exclusive and no-wait all off: manual acks.
        o.method(CH, id::CONSUME, |a| {
            a.u16(0).short(&sub.queue).short(&sub.tag).u8(0).table();
        });
    })?;
    Ok(conn)
}

impl ConsumerConn for Conn {
    type Tag = u64;

    /// Takes every delivery already read, in one system call.
    fn receive(
        &mut self,
        wait: Duration,
        ready: &mut VecDeque<(u64, Vec<u8>)>,
    ) -> Result<(), String> {
        let wire = &mut self.wire;
        if wire.events.is_empty() {
            wire.read(Some(wait))?;
        }
        for e in wire.events.drain(..) {
            match e {
                Event::Deliver { tag, body } => ready.push_back((tag, body)),
                Event::Method(ids, args) => {
                    if let Some(why) = closed(ids, &args) {
                        return Err(why);
                    }
                }
                Event::Return(_) | Event::Confirm { .. } => {}
            }
        }
        Ok(())
    }

    fn ack(&mut self, tag: &u64, multiple: bool) -> Result<(), String> {
        Conn::ack(self, *tag, multiple)
    }

    fn nack(&mut self, tag: &u64, requeue: bool) -> Result<(), String> {
        self.send(|o| {
            o.method(CH, id::NACK, |a| {
                a.u64(*tag).u8(u8::from(requeue) << 1);
            });
        })
        .map_err(|e| format!("basic.nack: {e}"))
    }

    fn publish(&mut self, exchange: &str, body: &[u8]) -> Result<(), String> {
        let frame_max = self.frame_max;
        self.send(|o| o.publish(CH, (exchange, ""), false, false, body, frame_max))
            .map_err(|e| format!("basic.publish: {e}"))
    }

    fn close(self, code: u16, why: &str) {
        Conn::close(self, code, why);
    }
}

/// One consumer instance on the driver's own client, for the whole run.
pub(crate) fn consume(
    ctx: &Ctx,
    uri: &str,
    inst: Instance,
    ready: &std::sync::mpsc::Sender<Result<(), String>>,
) {
    amqp_session::consume(ctx, inst, ready, |sub| open(uri, sub));
}
