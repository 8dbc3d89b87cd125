//! An AMQP consumer instance on its own connection: `basic.qos`, receiving in batches,
//! processing as the delivery variant says, acknowledging (coalesced, or every
//! `commit_interval`), rejecting failures as `on_failure` says, and crash and partition
//! windows.

use crate::amqp::{POLL, is_queue_topic, queue_name};
use crate::amqp_conn::{CH, Conn, closed};
use crate::amqp_frame::{Event, id};
use crate::amqp_limit;
use crate::driver::{Ctx, Instance, Outcome};
use crate::outage::RIDE_OUT;
use crate::wire;
use mqlab_sim::scenario::{Delivery, OnFailure};
use std::collections::VecDeque;
use std::time::Duration;

/// `commit_interval = "0"`: acks owed for this long (and nothing more to process) go out
/// as one `multiple` ack; a message's ack per delivery round trip costs more CPU than the
/// broker's work on it.
const ACK_TICK: u64 = 1_000_000;

/// One consumer instance, on its own connection.
struct Session {
    conn: Conn,
    /// The group queue's dead-letter exchange (an at-most-once consumer, which acked
    /// first, publishes its failures there itself).
    dead: String,
    /// The newest delivery processed but not yet acked (its tag), and since when acks
    /// are owed.
    unacked: Option<(u64, u64)>,
    /// Deliveries processed since the last ack.
    owed: u32,
    /// Its `basic.qos` prefetch.
    prefetch: u32,
    /// Deliveries already read from the socket, not yet looked at: (tag, body).
    ready: VecDeque<(u64, Vec<u8>)>,
}

fn open(ctx: &Ctx, uri: &str, inst: &Instance) -> Result<Session, String> {
    let c = &ctx.sc.consumers[inst.group];
    let mut conn = Conn::open(uri)?;
    // A queue-model consumer holds what one receive takes (`batch`).
    let queue_model = is_queue_topic(ctx, ctx.books().groups[inst.group].topic);
    let prefetch = if queue_model {
        *c.batch.get_ref()
    } else {
        *c.prefetch.get_ref()
    };
    conn.call("basic.qos", id::QOS_OK, |o| {
        o.method(CH, id::QOS, |a| {
            let count = prefetch.min(u32::from(u16::MAX)) as u16;
            a.u32(0).u16(count).u8(0);
        });
    })?;
    let tag = format!("{}-{}", c.group.get_ref(), inst.local);
    let queue = queue_name(ctx, inst.group);
    conn.call("basic.consume", id::CONSUME_OK, |o| {
        // no-local, no-ack, exclusive and no-wait all off: manual acks.
        o.method(CH, id::CONSUME, |a| {
            a.u16(0).short(&queue).short(&tag).u8(0).table();
        });
    })?;
    Ok(Session {
        conn,
        dead: amqp_limit::dropped_name(&queue),
        owed: 0,
        prefetch,
        unacked: None,
        ready: VecDeque::new(),
    })
}

/// Waits up to `wait` for deliveries, then takes every one already read, in one system
/// call (a wake-up per message would cap the rate).
fn receive(s: &mut Session, wait: Duration) -> Result<(), String> {
    let wire = &mut s.conn.wire;
    if wire.events.is_empty() {
        wire.read(Some(wait))?;
    }
    for e in wire.events.drain(..) {
        match e {
            Event::Deliver { tag, body } => s.ready.push_back((tag, body)),
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

/// Receives, serves and acknowledges as the group's delivery variant says; a crash drops
/// the connection without acking and reconnects after the fault's duration.
pub(crate) fn consume(
    ctx: &Ctx,
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
        let reopen = || ctx.reconnect(Duration::from_secs(60), || open(ctx, uri, &inst));
        let opened = if std::mem::take(&mut rejoin) {
            let _back = ctx.rejoin();
            reopen()
        } else {
            open(ctx, uri, &inst).or_else(|e| match ctx.ride_out(era, RIDE_OUT) {
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
        let crashed_at = match serve_session(ctx, &mut inst, &mut s, delivery, interval) {
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
        let Some(at) = crashed_at else {
            s.conn.close(200, "done");
            return;
        };
        s.conn.close(320, "crash");
        let back = inst.next_crash(at).map_or(at, |(_, until)| until);
        if !ctx.sleep_until(back) {
            return;
        }
    }
}

/// Serves until a crash (returns its time) or the end of the run (`None`, acks flushed).
fn serve_session(
    ctx: &Ctx,
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
        // the rate). It is written, not waited for: acks have no answer.
        let coalesced = interval == 0
            && (s.owed >= s.prefetch / 2
                || (s.ready.is_empty()
                    && s.unacked.as_ref().is_some_and(|u| now >= u.1 + ACK_TICK)));
        if let Some((tag, since)) = s.unacked
            && (now >= since + interval || ctx.stopped() || coalesced)
        {
            s.conn.ack(tag, true)?;
            s.unacked = None;
            s.owed = 0;
        }
        if ctx.stopped() {
            return Ok(None);
        }
        if s.ready.is_empty() {
            // Acks owed: back within a tick to send them, if nothing more comes.
            let wait = if s.unacked.is_some() && interval == 0 {
                Duration::from_nanos(ACK_TICK)
            } else {
                POLL
            };
            receive(s, wait)?;
        }
        let Some((tag, body)) = s.ready.pop_front() else {
            continue;
        };
        ctx.touch();
        let Some(m) = wire::decode(&body) else {
            s.conn.ack(tag, false)?;
            continue;
        };
        if !ctx.books().delivered(g, &m) {
            s.conn.ack(tag, false)?;
            continue;
        }
        if delivery == Delivery::AtMostOnce {
            // Acked before processing: a crash from here on loses it.
            s.conn.ack(tag, false)?;
        }
        let (start, outcome) = inst.process(ctx, m.poison);
        match outcome {
            // Crashed (or stopped) mid-service: the side effect never happened.
            Outcome::Cut => {
                cut = true;
                continue;
            }
            Outcome::Failed => {
                fail(s, tag, &body, delivery, on_failure)?;
                continue;
            }
            Outcome::Done => {}
        }
        ctx.books().apply(g, &m, start, ctx.now_ns());
        if delivery != Delivery::AtMostOnce {
            let since = s.unacked.as_ref().map_or(ctx.now_ns(), |u| u.1);
            s.unacked = Some((tag, since));
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
    s: &mut Session,
    tag: u64,
    body: &[u8],
    delivery: Delivery,
    on_failure: OnFailure,
) -> Result<(), String> {
    let frame_max = s.conn.frame_max;
    if delivery == Delivery::AtMostOnce {
        let dead = s.dead.clone();
        return s
            .conn
            .send(|o| o.publish(CH, (&dead, ""), false, false, body, frame_max))
            .map_err(|e| format!("basic.publish: {e}"));
    }
    let requeue = on_failure != OnFailure::DeadLetter;
    s.conn
        .send(|o| {
            o.method(CH, id::NACK, |a| {
                a.u64(tag).u8(u8::from(requeue) << 1);
            });
        })
        .map_err(|e| format!("basic.nack: {e}"))
}
