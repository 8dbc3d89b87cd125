//! An AMQP consumer instance on lapin (the default client): `basic.qos`, receiving in
//! batches, processing as the delivery variant says, acknowledging (coalesced, or every
//! `commit_interval`), rejecting failures as `on_failure` says, and crash and partition
//! windows. `amqp_consume` is the same on the driver's own client (`--amqp-client wire`).

use crate::amqp::{POLL, block, connect, is_queue_topic, queue_name};
use crate::amqp_limit;
use crate::driver::{Ctx, Instance, Outcome};
use crate::outage::RIDE_OUT;
use crate::wire;
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use mqlab_sim::scenario::{Delivery, OnFailure};
use std::time::Duration;
use tokio::runtime::Handle;

/// `commit_interval = "0"`: acks owed for this long (and nothing more to process) go out
/// as one `multiple` ack; a message's ack per delivery round trip costs more CPU than the
/// broker's work on it.
const ACK_TICK: u64 = 1_000_000;

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
    /// The last coalesced ack's task (each awaits the one before it).
    last_ack: Option<tokio::task::JoinHandle<()>>,
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
        last_ack: None,
        prefetch,
        consumer,
        unacked: None,
        ready: std::collections::VecDeque::new(),
    })
}

/// Waits up to `POLL` for a delivery, then takes every one already there, in one trip
/// to the runtime (a wake-up per message would cap the rate).
fn receive(h: &Handle, s: &mut Session, wait: Duration) -> Result<(), String> {
    let (consumer, ready) = (&mut s.consumer, &mut s.ready);
    h.block_on(async {
        let mut next = tokio::time::timeout(wait, consumer.next()).await;
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

/// Waits (briefly) for the coalesced acks still on their way to the wire.
fn settle_acks(h: &Handle, s: &mut Session) {
    if let Some(last) = s.last_ack.take() {
        let _ = h.block_on(async { tokio::time::timeout(Duration::from_secs(2), last).await });
    }
}

fn ack(h: &Handle, acker: &lapin::Acker, multiple: bool) -> Result<(), String> {
    block(h, "basic.ack", acker.ack(BasicAckOptions { multiple })).map(|_| ())
}

/// Receives, serves and acknowledges as the group's delivery variant says; a crash drops
/// the connection without acking and reconnects after the fault's duration.
pub(crate) fn consume(
    ctx: &Ctx,
    h: &Handle,
    uri: &str,
    mut inst: Instance,
    ready: &std::sync::mpsc::Sender<Result<(), String>>,
) {
    let g = inst.group;
    let cfg = &ctx.sc.consumers[g];
    let (delivery, interval) = (cfg.delivery, cfg.commit_interval.0);
    let mut first = crate::driver::Ready::new(ready);
    let who = format!("consumer {}/{}", cfg.group.get_ref(), inst.local);
    let mut era = ctx.outages.generation();
    // Back after a broker-crash: the restarted server's queues may still be recovering.
    let mut rejoin = false;
    while !ctx.stopped() {
        // After a broker-crash, the restarted server (a quorum queue's recovery can lag
        // its listener by a moment, longer for one declared just before the kill).
        let reopen = || ctx.reconnect(Duration::from_secs(60), || open(ctx, h, uri, &inst));
        let opened = if std::mem::take(&mut rejoin) {
            let _back = ctx.rejoin();
            reopen()
        } else {
            open(ctx, h, uri, &inst).or_else(|e| match ctx.ride_out(era, RIDE_OUT) {
                Some(now) => {
                    era = now;
                    let _back = ctx.rejoin();
                    reopen()
                }
                None => Err(e),
            })
        };
        let mut s = match opened {
            Ok(s) => s,
            Err(e) => return first.failed(ctx, &who, &e),
        };
        first.ok();
        let crashed_at = match serve_session(ctx, h, &mut inst, &mut s, delivery, interval) {
            Ok(at) => at,
            // The broker was killed: what this consumer held unacked stays with the
            // broker (redelivered if it kept it); reconnect once it is back.
            Err(e) => {
                // Counted from the kill, so the run does not end while this one waits.
                let _down = ctx.rejoin();
                if let Some(now) = ctx.ride_out(era, RIDE_OUT) {
                    era = now;
                    rejoin = true;
                    continue;
                }
                if ctx.stopped() && ctx.outages.generation() > 0 {
                    return;
                }
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
    // A crash cut a message in hand: it goes down now.
    let mut cut = false;
    loop {
        let now = ctx.now_ns();
        // A crash that falls between two messages while the next is already in the client
        // takes that one in hand first (and cuts its service at once): a consumer busy in
        // the model has one in hand at any time, and the gap between two real messages is
        // the driver's own overhead, long on a loaded machine.
        if inst.crashed(now) && (cut || s.ready.is_empty()) {
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
        // for more, and at most half a prefetch apart (an ack frame per message would cap
        // the rate). It is not waited for (at prefetch 1 that would add a hand-off to the
        // I/O loop to every message), but each ack's task first awaits the one before:
        // `multiple` acks reaching the wire out of order are a channel error.
        let coalesced = interval == 0
            && (s.owed >= s.prefetch / 2
                || (s.ready.is_empty()
                    && s.unacked.as_ref().is_some_and(|u| now >= u.1 + ACK_TICK)));
        if let Some((acker, since)) = &s.unacked
            && (now >= since + interval || ctx.stopped() || coalesced)
        {
            if interval == 0 && !ctx.stopped() {
                let (prev, acker) = (s.last_ack.take(), acker.clone());
                s.last_ack = Some(h.spawn(async move {
                    if let Some(p) = prev {
                        let _ = p.await;
                    }
                    let _ = acker.ack(BasicAckOptions { multiple: true }).await;
                }));
            } else {
                let acker = acker.clone();
                settle_acks(h, s);
                ack(h, &acker, true)?;
            }
            s.unacked = None;
            s.owed = 0;
        }
        if ctx.stopped() {
            settle_acks(h, s);
            let _ = h.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), s.conn.close(200, "done".into())).await
            });
            return Ok(None);
        }
        if s.ready.is_empty() {
            // Acks owed: back within a tick to send them, if nothing more comes.
            let wait = if s.unacked.is_some() && interval == 0 {
                Duration::from_nanos(ACK_TICK)
            } else {
                POLL
            };
            receive(h, s, wait)?;
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
            Outcome::Cut => {
                cut = true;
                continue;
            }
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
