//! One AMQP consumer instance's session, the same on both clients: `basic.qos`, receiving
//! in batches, processing as the delivery variant says, acknowledging (coalesced, or every
//! `commit_interval`), rejecting failures as `on_failure` says, and crash and partition
//! windows. What differs between lapin (`amqp_lapin_consume`) and the driver's own client
//! (`amqp_consume`) is only how a connection does each of these, `ConsumerConn`.

use crate::amqp::{POLL, is_queue_topic, queue_name};
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

/// What a consumer's connection subscribes to.
pub(crate) struct Subscription {
    pub(crate) queue: String,
    /// Its consumer tag: `group-instance`.
    pub(crate) tag: String,
    /// Its `basic.qos` prefetch.
    pub(crate) prefetch: u32,
}

/// One consumer's connection, subscribed (`basic.qos`, `basic.consume` with manual acks):
/// what the two clients do differently.
pub(crate) trait ConsumerConn: Sized {
    /// What acknowledges a delivery: its delivery tag, or the client's handle for it.
    type Tag: Clone;

    /// Waits up to `wait` for a delivery, then appends every one already there to `ready`
    /// (a wake-up per message would cap the rate).
    ///
    /// # Errors
    /// The connection failed, or the broker closed it or cancelled the consumer.
    fn receive(
        &mut self,
        wait: Duration,
        ready: &mut VecDeque<(Self::Tag, Vec<u8>)>,
    ) -> Result<(), String>;

    /// `basic.ack` (`multiple`: every delivery up to `tag`).
    ///
    /// # Errors
    /// The connection failed.
    fn ack(&mut self, tag: &Self::Tag, multiple: bool) -> Result<(), String>;

    /// A coalesced `multiple` ack sent without waiting for it to reach the wire; acks so
    /// sent reach it in order (`multiple` acks out of order are a channel error).
    ///
    /// # Errors
    /// The connection failed.
    fn ack_behind(&mut self, tag: &Self::Tag) -> Result<(), String> {
        self.ack(tag, true)
    }

    /// Waits (briefly) for the acks `ack_behind` left on their way to the wire.
    fn settle(&mut self) {}

    /// `basic.nack` of one delivery, requeued or (`requeue` false) dead-lettered.
    ///
    /// # Errors
    /// The connection failed.
    fn nack(&mut self, tag: &Self::Tag, requeue: bool) -> Result<(), String>;

    /// Publishes `body` to `exchange` (the default routing key).
    ///
    /// # Errors
    /// The connection failed.
    fn publish(&mut self, exchange: &str, body: &[u8]) -> Result<(), String>;

    /// Closes the connection (the broker requeues whatever is unacked), waiting briefly
    /// for its answer.
    fn close(self, code: u16, why: &str);
}

/// One consumer instance, on its own connection.
struct Session<C: ConsumerConn> {
    conn: C,
    /// The group queue's dead-letter exchange (an at-most-once consumer, which acked
    /// first, publishes its failures there itself).
    dead: String,
    /// The newest delivery processed but not yet acked, and since when acks are owed.
    unacked: Option<(C::Tag, u64)>,
    /// Deliveries processed since the last ack.
    owed: u32,
    /// Its `basic.qos` prefetch.
    prefetch: u32,
    /// Deliveries already received from the client, not yet looked at: (tag, body).
    ready: VecDeque<(C::Tag, Vec<u8>)>,
}

fn open<C: ConsumerConn>(
    ctx: &Ctx,
    inst: &Instance,
    connect: &impl Fn(&Subscription) -> Result<C, String>,
) -> Result<Session<C>, String> {
    let c = &ctx.sc.consumers[inst.group];
    // A queue-model consumer holds what one receive takes (`batch`).
    let queue_model = is_queue_topic(ctx, ctx.books().groups[inst.group].topic);
    let prefetch = if queue_model {
        *c.batch.get_ref()
    } else {
        *c.prefetch.get_ref()
    };
    let sub = Subscription {
        queue: queue_name(ctx, inst.group),
        tag: format!("{}-{}", c.group.get_ref(), inst.local),
        prefetch,
    };
    Ok(Session {
        conn: connect(&sub)?,
        dead: amqp_limit::dropped_name(&sub.queue),
        unacked: None,
        owed: 0,
        prefetch,
        ready: VecDeque::new(),
    })
}

/// Receives, serves and acknowledges as the group's delivery variant says, on connections
/// that `connect` opens; a crash drops the connection without acking and reconnects after
/// the fault's duration.
pub(crate) fn consume<C: ConsumerConn>(
    ctx: &Ctx,
    mut inst: Instance,
    ready: &std::sync::mpsc::Sender<Result<(), String>>,
    connect: impl Fn(&Subscription) -> Result<C, String>,
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
        let reopen = || ctx.reconnect(Duration::from_secs(60), || open(ctx, &inst, &connect));
        let opened = if std::mem::take(&mut rejoin) {
            let _back = ctx.rejoin();
            reopen()
        } else {
            open(ctx, &inst, &connect).or_else(|e| match ctx.ride_out(era, RIDE_OUT) {
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
        let crashed_at = match serve(ctx, &mut inst, &mut s, delivery, interval) {
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
                ctx.fail(format!("{who}: {e}"));
                return;
            }
        };
        let Some(at) = crashed_at else {
            // The end of the run: the last acks reach the broker before the close.
            s.conn.settle();
            s.conn.close(200, "done");
            return;
        };
        // Crash: the connection goes without acking what was processed since the last
        // ack; the broker requeues every unacked message at once.
        s.conn.close(320, "crash");
        let back = inst.next_crash(at).map_or(at, |(_, until)| until);
        if !ctx.sleep_until(back) {
            return;
        }
    }
}

/// Serves until a crash (returns its time) or the end of the run (`None`, acks sent).
fn serve<C: ConsumerConn>(
    ctx: &Ctx,
    inst: &mut Instance,
    s: &mut Session<C>,
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
        // the rate). It is not waited for (on lapin, at prefetch 1, that would add a
        // hand-off to the I/O loop to every message).
        let coalesced = interval == 0
            && (s.owed >= s.prefetch / 2
                || (s.ready.is_empty()
                    && s.unacked.as_ref().is_some_and(|u| now >= u.1 + ACK_TICK)));
        if let Some((tag, since)) = &s.unacked
            && (now >= since + interval || ctx.stopped() || coalesced)
        {
            if interval == 0 && !ctx.stopped() {
                s.conn.ack_behind(tag)?;
            } else {
                s.conn.settle();
                s.conn.ack(tag, true)?;
            }
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
            s.conn.receive(wait, &mut s.ready)?;
        }
        let Some((tag, body)) = s.ready.pop_front() else {
            continue;
        };
        ctx.touch();
        let Some(m) = wire::decode(&body) else {
            s.conn.ack(&tag, false)?;
            continue;
        };
        if !ctx.books().delivered(g, &m) {
            s.conn.ack(&tag, false)?;
            continue;
        }
        if delivery == Delivery::AtMostOnce {
            // Acked before processing: a crash from here on loses it.
            s.conn.ack(&tag, false)?;
        }
        let (start, outcome) = inst.process(ctx, m.poison);
        match outcome {
            // Crashed or stopped mid-service: the side effect never happened, and the
            // unacknowledged delivery goes back to the queue with the channel.
            Outcome::Crashed | Outcome::Stopped => {
                cut = true;
                continue;
            }
            Outcome::Failed => {
                fail(s, &tag, &body, delivery, on_failure)?;
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
fn fail<C: ConsumerConn>(
    s: &mut Session<C>,
    tag: &C::Tag,
    body: &[u8],
    delivery: Delivery,
    on_failure: OnFailure,
) -> Result<(), String> {
    if delivery == Delivery::AtMostOnce {
        return s.conn.publish(&s.dead, body);
    }
    s.conn.nack(tag, on_failure != OnFailure::DeadLetter)
}
