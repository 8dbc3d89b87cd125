//! Pub/sub topics on real Redis: PUBLISH on a channel per topic, one SUBSCRIBE connection
//! per group. Each subscriber reads its socket only when it is free (redis-rs's blocking
//! connection), so a slow one is slow for the server too: its output buffer grows until
//! `client-output-buffer-limit pubsub` (the scenario's `buffer` in bytes) disconnects
//! it, and it reconnects after `reconnect`. The copies it missed are dropped, with the
//! model's reasons.

use crate::books::Gap;
use crate::driver::{self, Ctx, Instance, Outcome, Publisher};
use crate::outage::RIDE_OUT;
use crate::schedule::Send;
use crate::wire;
use redis::{Client, Connection};
use std::sync::Arc;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a waiting subscriber looks at the stop flag and its crash windows.
const POLL: Duration = Duration::from_millis(50);

/// A connection whose reads time out (a setup call or producer never hangs on a dead
/// server).
///
/// # Errors
/// Refused or timed out.
pub fn connect(client: &Client) -> Result<Connection, String> {
    let con = client
        .get_connection_with_timeout(CONNECT_TIMEOUT)
        .map_err(|e| e.to_string())?;
    // A producer or setup call must never hang on a dead server.
    con.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    Ok(con)
}

/// Opens a client and checks the server answers; returns its version.
///
/// # Errors
/// Refused, timed out, or not a Redis server.
pub fn probe(host: &str, port: u16) -> Result<(Client, String), String> {
    let client = Client::open(format!("redis://{host}:{port}/")).map_err(|e| e.to_string())?;
    let mut con = connect(&client)?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut con)
        .map_err(|e| e.to_string())?;
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    Ok((client, version))
}

/// The median round trip of a PING on a fresh connection.
///
/// # Errors
/// A failed PING.
pub fn rtt(client: &Client) -> Result<Duration, String> {
    let mut con = connect(client)?;
    crate::probe::median_rtt(|| {
        redis::cmd("PING")
            .query::<String>(&mut con)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// Bytes one message of `payload` bytes takes in a subscriber's output buffer: the RESP
/// push `*3 $7 message $<channel> $<payload>`.
#[must_use]
pub fn resp_bytes(channel: &str, payload: usize) -> u64 {
    let bulk = |n: usize| 1 + n.to_string().len() + 2 + n + 2;
    (4 + bulk(7) + bulk(channel.len()) + bulk(payload)) as u64
}

struct RedisPublisher {
    client: Client,
    con: Connection,
    channel: String,
}

impl Publisher for RedisPublisher {
    fn publish(&mut self, batch: &[(Send, Vec<u8>)]) -> Result<Vec<bool>, String> {
        let mut pipe = redis::pipe();
        for (_, payload) in batch {
            pipe.cmd("PUBLISH")
                .arg(&self.channel)
                .arg(payload.as_slice());
        }
        let _: Vec<i64> = pipe.query(&mut self.con).map_err(|e| e.to_string())?;
        Ok(vec![true; batch.len()])
    }

    fn finish(&mut self, _ctx: &Ctx) -> Result<(), String> {
        Ok(())
    }

    fn reconnect(&mut self) -> Result<(), String> {
        self.con = connect(&self.client)?;
        Ok(())
    }
}

/// Runs the workload on Redis; returns when the run is over (the books hold the result).
///
/// # Errors
/// Setup failed before anything was sent.
pub fn run(ctx: &Arc<Ctx>, client: &Client) -> Result<(), String> {
    let mut admin = connect(client)?;
    let restore = set_buffer_limit(ctx, &mut admin)?;
    let mut threads = Vec::new();
    let mut ready = Vec::new();
    for inst in driver::instances(&ctx.sc, ctx.seed) {
        let who = driver::consumer_name(&ctx.sc, &inst);
        let (ctx2, client2) = (Arc::clone(ctx), client.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        ready.push(rx);
        threads.push(driver::spawn_worker(ctx, who, move || {
            subscribe(&ctx2, &client2, inst, &tx);
        }));
    }
    // Producers start once every subscriber is subscribed (the model's start).
    for rx in ready {
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| "a subscriber did not subscribe within 10s".to_string())??;
    }
    let mut publishers = Vec::new();
    for p in 0..ctx.sc.producers.len() {
        publishers.push(RedisPublisher {
            client: client.clone(),
            con: connect(client)?,
            channel: ctx.sc.producers[p].topic.get_ref().clone(),
        });
    }
    // Set up: the workload's clock (and its faults') starts now.
    ctx.start();
    for (p, mut out) in publishers.into_iter().enumerate() {
        let ctx2 = Arc::clone(ctx);
        let who = driver::producer_name(&ctx.sc, p);
        threads.push(driver::spawn_worker(ctx, who, move || {
            driver::produce(&ctx2, p, &mut out);
        }));
    }
    driver::await_end(ctx, Duration::from_millis(500));
    for t in threads {
        let _ = t.join();
    }
    if let Some(old) = restore {
        let _: Result<(), _> = redis::cmd("CONFIG")
            .arg("SET")
            .arg("client-output-buffer-limit")
            .arg(old)
            .query(&mut admin);
    }
    ctx.books().settle_gaps();
    Ok(())
}

/// Sets `client-output-buffer-limit pubsub` to the groups' `buffer` in bytes; returns
/// the old setting, to restore.
fn set_buffer_limit(ctx: &Ctx, admin: &mut Connection) -> Result<Option<String>, String> {
    let Some(c) = ctx.sc.consumers.first() else {
        return Ok(None);
    };
    let payload = ctx.work.payload_bytes.iter().copied().max().unwrap_or(0) as usize;
    let bytes = *c.buffer.get_ref() * resp_bytes(c.topic.get_ref(), payload.max(wire::HEADER));
    let old: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("client-output-buffer-limit")
        .query(admin)
        .map_err(|e| format!("CONFIG GET: {e}"))?;
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg(format!("pubsub {bytes} {bytes} 0"))
        .query::<()>(admin)
        .map_err(|e| format!("CONFIG SET client-output-buffer-limit: {e}"))?;
    Ok(old.get(1).cloned())
}

/// One subscriber: receives, serves, applies; reconnects after a server disconnect or a
/// crash, and records the window in which it could not receive.
fn subscribe(
    ctx: &Ctx,
    client: &Client,
    mut inst: Instance,
    ready: &std::sync::mpsc::Sender<Result<(), String>>,
) {
    let g = inst.group;
    let cfg = &ctx.sc.consumers[g];
    let channel = cfg.topic.get_ref().clone();
    let reconnect = cfg.reconnect.0;
    let mut first = crate::driver::Ready::new(ready);
    let who = format!("subscriber {}", cfg.group.get_ref());
    // Publish time of the last copy received: a gap starts after it.
    let mut last_seen = (0u64, 0u32);
    // The window since the last copy received, until subscribed again.
    let mut gap: Option<((u64, u32), u64, &'static str)> = None;
    let mut era = ctx.outages.generation();
    while !ctx.stopped() {
        let opened = connect(client).or_else(|e| match ctx.ride_out(era, RIDE_OUT) {
            Some(_) => ctx.reconnect(Duration::from_secs(30), || connect(client)),
            None => Err(e),
        });
        let mut con = match opened {
            Ok(c) => c,
            Err(e) => return first.failed(ctx, &who, &e),
        };
        if ctx.outages.generation() != era {
            // A restarted server has its default configuration: the buffer limit again.
            era = ctx.outages.generation();
            if let Err(e) = set_buffer_limit(ctx, &mut con) {
                return first.failed(ctx, &who, &e);
            }
        }
        let _ = con.set_read_timeout(Some(POLL));
        let mut ps = con.as_pubsub();
        if let Err(e) = ps.subscribe(&channel) {
            return first.failed(ctx, &who, &format!("SUBSCRIBE: {e}"));
        }
        first.ok();
        if let Some(cut) = gap.take() {
            record_gap(ctx, g, cut, ctx.now_ns());
        }
        // Ends with why the connection went, and when.
        let (why, at) = loop {
            let now = ctx.now_ns();
            if let Some((crash, _)) = inst.next_crash(now)
                && crash <= now
            {
                break ("crash", now);
            }
            if ctx.stopped() {
                ctx.books().still_buffered(g, last_seen);
                return;
            }
            if let Some(until) = inst.cut_until(now) {
                // Partitioned: connected but reading nothing; the server's output buffer
                // for it fills as it would behind a dead link.
                inst.wait(ctx, until);
                continue;
            }
            match ps.get_message() {
                Ok(msg) => {
                    ctx.touch();
                    let Some(s) = wire::decode(msg.get_payload_bytes()) else {
                        continue;
                    };
                    last_seen = (
                        ctx.books().published_ns[s.topic as usize][s.id as usize],
                        s.id,
                    );
                    if !ctx.books().delivered(g, &s) {
                        continue;
                    }
                    match inst.process(ctx, s.poison) {
                        (start, Outcome::Done) => {
                            ctx.books().apply(g, &s, start, ctx.now_ns());
                        }
                        // Pub/sub keeps nothing to retry from: the subscriber sets a
                        // failed message aside itself, as the model dead-letters it.
                        (_, Outcome::Failed) => ctx.books().dead_letter(g, s.id, ctx.now_ns()),
                        // A crash in service: nothing keeps the copy to deliver again, so it
                        // is gone with the subscriber, as the model drops it.
                        (_, Outcome::Crashed) => {
                            ctx.books()
                                .drop_copy(g, s.id, "subscriber-crashed", ctx.now_ns());
                        }
                        // In hand at the end: `still_buffered` counts it in flight.
                        (_, Outcome::Stopped) => {}
                    }
                }
                Err(e) if e.is_timeout() => {}
                // The server killed (`broker-crash`) drops every buffer it held.
                Err(_) if ctx.outages.generation() != era => break ("broker-crash", ctx.now_ns()),
                Err(_) => break ("disconnected", ctx.now_ns()),
            }
        };
        drop(ps);
        drop(con);
        let back = if why == "crash" {
            inst.next_crash(at).map_or(at, |(_, until)| until)
        } else {
            at + reconnect
        };
        gap = Some((last_seen, at, why));
        if !ctx.sleep_until(back) {
            record_gap(ctx, g, (last_seen, at, why), u64::MAX);
            return;
        }
    }
}

/// A server disconnect (or a crash) drops the output buffer: the copies published after
/// the last one read, until the connection went, are `disconnected` (`broker-crash` when
/// the server was killed); what is published until the subscription is back reaches nobody
/// (`subscriber-offline`).
fn record_gap(ctx: &Ctx, g: usize, (seen, at, why): ((u64, u32), u64, &'static str), back: u64) {
    let why = if why == "crash" { "disconnected" } else { why };
    let mut books = ctx.books();
    let gaps = &mut books.groups[g].gaps;
    gaps.push(Gap {
        after: seen,
        until_ns: at,
        why,
    });
    gaps.push(Gap {
        after: (at, u32::MAX),
        until_ns: back,
        why: "subscriber-offline",
    });
}
