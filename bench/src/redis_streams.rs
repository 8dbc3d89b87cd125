//! Log topics on real Redis Streams: one stream per partition (`mqlab.<topic>.<p>`, XADD),
//! one consumer group per scenario group (XGROUP CREATE at `0`), each instance a consumer
//! on its own connection reading its partitions with XREADGROUP and acknowledging with
//! XACK (batched every `commit_interval`). Redis has no group coordinator, so the driver
//! plays Kafka's: partitions are spread over the live members (`assignment`), a member
//! that crashed or was cut off is noticed `session_timeout` later and its partitions move;
//! the new owner takes its pending entries with XAUTOCLAIM (idle at least
//! `session_timeout`). A member that comes back first reads its own pending entries (ID
//! `0`), as a restarted Redis consumer does. A message that fails every retry goes to a
//! dead-letter stream (`<stream group>.dead`) and is acknowledged.

use crate::driver::{self, Ctx, Instance, Outcome, Publisher};
use crate::outage::RIDE_OUT;
use crate::schedule::Send;
use crate::stream_join::{AtJoin, await_join, create_groups};
use crate::wire;
use mqlab_sim::log::assign;
use mqlab_sim::scenario::Delivery;
use redis::{Client, Connection, Value};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// How long an XREADGROUP blocks for new entries: the loop's poll of its faults and acks.
const BLOCK_MS: u64 = 20;
/// Entries read per XREADGROUP (the client's fetch batch).
const COUNT: usize = 100;

/// A stream entry ID, `ms-seq`, ordered as Redis orders them.
pub(crate) type EntryId = crate::late::Position;
/// Entries as read: their ID and the message's payload.
type Entries = Vec<(EntryId, Vec<u8>)>;

pub(crate) fn parse_id(v: &[u8]) -> Option<EntryId> {
    let s = std::str::from_utf8(v).ok()?;
    let (a, b) = s.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

pub(crate) fn id_arg(id: EntryId) -> String {
    format!("{}-{}", id.0, id.1)
}

/// `mqlab.<topic>.<partition>`.
pub(crate) fn stream(ctx: &Ctx, t: usize, p: u32) -> String {
    format!("mqlab.{}.{p}", ctx.sc.topics[t].name.get_ref())
}

pub(crate) fn dead_stream(ctx: &Ctx, g: usize) -> String {
    let c = &ctx.sc.consumers[g];
    format!("mqlab.{}.{}.dead", c.topic.get_ref(), c.group.get_ref())
}

pub(crate) fn partitions(ctx: &Ctx, t: usize) -> u32 {
    *ctx.sc.topics[t].partitions.get_ref()
}

pub(crate) fn redis_err(what: &str) -> impl Fn(redis::RedisError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// The entries of an XREADGROUP or XRANGE reply (its `[id, [field, value, ...]]` items),
/// with the stream they came from when the reply names it.
pub(crate) fn entries(v: &Value, out: &mut Entries) {
    let Value::Array(items) = v else { return };
    for item in items {
        if let Value::Array(pair) = item
            && let [Value::BulkString(id), Value::Array(fields)] = pair.as_slice()
            && let Some(id) = parse_id(id)
            && let Some(Value::BulkString(data)) = fields.get(1)
        {
            out.push((id, data.clone()));
        }
    }
}

/// XREADGROUP's reply: per stream key, its entries.
fn read_reply(v: &Value) -> Vec<(String, Entries)> {
    let mut out = Vec::new();
    let pairs: Vec<(&Value, &Value)> = match v {
        Value::Array(streams) => streams
            .iter()
            .filter_map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => Some((&kv[0], &kv[1])),
                _ => None,
            })
            .collect(),
        Value::Map(kv) => kv.iter().map(|(k, v)| (k, v)).collect(),
        _ => Vec::new(),
    };
    for (k, v) in pairs {
        let Value::BulkString(key) = k else { continue };
        let mut e = Vec::new();
        entries(v, &mut e);
        out.push((String::from_utf8_lossy(key).into_owned(), e));
    }
    out
}

struct StreamPublisher {
    client: Client,
    con: Connection,
    streams: Vec<String>,
    /// Set when a group joins late from the latest offset: each entry's ID is told to the
    /// books, which compare it with where the group started (`late.rs`).
    late: Option<Arc<Ctx>>,
}

impl Publisher for StreamPublisher {
    fn publish(&mut self, batch: &[(Send, Vec<u8>)]) -> Result<Vec<bool>, String> {
        let mut pipe = redis::pipe();
        for (s, payload) in batch {
            let key = &self.streams[s.partition as usize % self.streams.len()];
            pipe.cmd("XADD")
                .arg(key)
                .arg("*")
                .arg("m")
                .arg(payload.as_slice());
        }
        let ids: Vec<Value> = pipe.query(&mut self.con).map_err(|e| e.to_string())?;
        if let Some(ctx) = &self.late {
            let now = ctx.now_ns();
            let mut books = ctx.books();
            for ((s, _), id) in batch.iter().zip(&ids) {
                if let Value::BulkString(id) = id
                    && let Some(at) = parse_id(id)
                {
                    books.appended(s, at, now);
                }
            }
        }
        Ok(vec![true; batch.len()])
    }

    fn finish(&mut self, _ctx: &Ctx) -> Result<(), String> {
        Ok(())
    }

    fn reconnect(&mut self) -> Result<(), String> {
        self.con = crate::redis_pubsub::connect(&self.client)?;
        Ok(())
    }
}

/// Fresh streams and consumer groups for every log topic.
fn declare(ctx: &Ctx, admin: &mut Connection) -> Result<(), String> {
    for t in 0..ctx.sc.topics.len() {
        for p in 0..partitions(ctx, t) {
            let key = stream(ctx, t, p);
            redis::cmd("DEL")
                .arg(&key)
                .query::<()>(admin)
                .map_err(redis_err("DEL"))?;
        }
        create_groups(ctx, admin, t)?;
    }
    for g in 0..ctx.sc.consumers.len() {
        redis::cmd("DEL")
            .arg(dead_stream(ctx, g))
            .query::<()>(admin)
            .map_err(redis_err("DEL"))?;
    }
    Ok(())
}

/// Runs the workload on Redis Streams; returns when the run is over.
///
/// # Errors
/// Setup failed before anything was sent.
pub fn run(ctx: &Arc<Ctx>, client: &Client) -> Result<(), String> {
    let mut admin = crate::redis_pubsub::connect(client)?;
    declare(ctx, &mut admin)?;
    let mut threads = Vec::new();
    let mut ready = Vec::new();
    for inst in driver::instances(&ctx.sc, ctx.seed) {
        let who = driver::consumer_name(&ctx.sc, &inst);
        let (ctx2, client2) = (Arc::clone(ctx), client.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        ready.push(rx);
        threads.push(driver::spawn_worker(ctx, who, move || {
            consume(&ctx2, &client2, inst, &tx);
        }));
    }
    for rx in ready {
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| "a consumer did not connect within 10s".to_string())??;
    }
    let mut publishers = Vec::new();
    for p in 0..ctx.sc.producers.len() {
        let t = ctx
            .work
            .sends
            .iter()
            .find(|s| s.producer as usize == p)
            .map_or_else(
                || {
                    ctx.sc
                        .topics
                        .iter()
                        .position(|t| t.name.get_ref() == ctx.sc.producers[p].topic.get_ref())
                        .unwrap_or(0)
                },
                |s| s.topic as usize,
            );
        let streams = (0..partitions(ctx, t)).map(|q| stream(ctx, t, q)).collect();
        let con = crate::redis_pubsub::connect(client)?;
        let late = ctx.books().late.any().then(|| Arc::clone(ctx));
        publishers.push(StreamPublisher {
            client: client.clone(),
            con,
            streams,
            late,
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
    driver::await_end(ctx, Duration::from_secs(2));
    for t in threads {
        let _ = t.join();
    }
    if ctx.outages.generation() > 0 {
        // The first admin connection died with the broker.
        admin = crate::redis_pubsub::connect(client)?;
    }
    crate::stream_leftovers::collect(ctx, &mut admin);
    Ok(())
}

/// Each partition's owner (group-local) in group `g` at `now_ns`, and the members live
/// then: the group's partitions spread over the members whose session has not run out (a
/// crashed or cut-off member is noticed `session_timeout` after it went silent, and is
/// back as soon as it is).
fn owners(
    ctx: &Ctx,
    g: usize,
    all: &[(Vec<(u64, u64)>, u32)],
    now: u64,
) -> (Vec<Option<u32>>, Vec<u32>) {
    let cfg = &ctx.sc.consumers[g];
    let session = cfg.session_timeout.0;
    let live: Vec<u32> = all
        .iter()
        .filter(|(silent, _)| {
            !silent
                .iter()
                .any(|&(at, until)| at.saturating_add(session) <= now && now < until)
        })
        .map(|&(_, l)| l)
        .collect();
    let t = ctx.books().groups[g].topic;
    (assign(partitions(ctx, t), &live, cfg.assignment), live)
}

/// The partitions member `local` owns under `owners`.
fn owned_by(owners: &[Option<u32>], local: u32) -> Vec<u32> {
    (0..owners.len() as u32)
        .filter(|&p| owners[p as usize] == Some(local))
        .collect()
}

/// One member's connection and what it holds.
struct Member {
    con: Connection,
    group: String,
    name: String,
    /// Stream keys of the topic's partitions.
    keys: Vec<String>,
    /// Read but not yet processed: (partition, entry, message).
    buf: VecDeque<(u32, EntryId, Send)>,
    /// Processed, not yet acknowledged, and since when acks are owed.
    unacked: Vec<(u32, EntryId)>,
    since: u64,
}

impl Member {
    fn push(&mut self, p: u32, got: Entries) {
        for (id, data) in got {
            if let Some(s) = wire::decode(&data) {
                self.buf.push_back((p, id, s));
            }
        }
    }

    fn partition_of(&self, key: &str) -> u32 {
        self.keys.iter().position(|k| k == key).unwrap_or(0) as u32
    }

    /// XREADGROUP on `parts` from `from` (`>` new entries, `0` its own pending ones).
    fn read(&mut self, parts: &[u32], from: &str, block: bool) -> Result<(), String> {
        if parts.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(&self.group).arg(&self.name);
        // Its own history comes back whole; new entries a fetch at a time.
        cmd.arg("COUNT")
            .arg(if from == ">" { COUNT } else { 1_000_000 });
        if block {
            cmd.arg("BLOCK").arg(BLOCK_MS);
        }
        cmd.arg("STREAMS");
        for &p in parts {
            cmd.arg(&self.keys[p as usize]);
        }
        for _ in parts {
            cmd.arg(from);
        }
        let v: Value = cmd.query(&mut self.con).map_err(redis_err("XREADGROUP"))?;
        for (key, got) in read_reply(&v) {
            let p = self.partition_of(&key);
            self.push(p, got);
        }
        Ok(())
    }

    /// XAUTOCLAIM of partition `p`'s entries pending for at least `idle_ms` with any member.
    fn claim(&mut self, p: u32, idle_ms: u64) -> Result<(), String> {
        let mut cursor = "0-0".to_string();
        loop {
            let v: Value = redis::cmd("XAUTOCLAIM")
                .arg(&self.keys[p as usize])
                .arg(&self.group)
                .arg(&self.name)
                .arg(idle_ms)
                .arg(&cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut self.con)
                .map_err(redis_err("XAUTOCLAIM"))?;
            let Value::Array(parts) = &v else {
                return Ok(());
            };
            let mut got = Vec::new();
            if let Some(list) = parts.get(1) {
                entries(list, &mut got);
            }
            self.push(p, got);
            match parts.first() {
                Some(Value::BulkString(c)) if c.as_slice() != b"0-0" => {
                    cursor = String::from_utf8_lossy(c).into_owned();
                }
                _ => return Ok(()),
            }
        }
    }

    fn ack_now(&mut self, acks: &[(u32, EntryId)]) -> Result<(), String> {
        if acks.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for &(p, id) in acks {
            pipe.cmd("XACK")
                .arg(&self.keys[p as usize])
                .arg(&self.group)
                .arg(id_arg(id))
                .ignore();
        }
        pipe.query::<()>(&mut self.con).map_err(redis_err("XACK"))
    }

    /// Acknowledges what it owes; on a failure (the server killed) still owes it, for the
    /// connection after.
    fn flush(&mut self) -> Result<(), String> {
        let acks = std::mem::take(&mut self.unacked);
        self.ack_now(&acks).inspect_err(|_| self.unacked = acks)
    }

    /// `ack_now` of the one entry just processed; on a failure it is owed (`flush`).
    fn ack_or_owe(&mut self, p: u32, id: EntryId) -> Result<(), String> {
        self.ack_now(&[(p, id)])
            .inspect_err(|_| self.unacked.push((p, id)))
    }
}

/// One consumer instance: connects, serves, and on a crash drops its connection without
/// acknowledging and comes back after the fault's duration.
fn consume(
    ctx: &Ctx,
    client: &Client,
    mut inst: Instance,
    ready: &std::sync::mpsc::Sender<Result<(), String>>,
) {
    let g = inst.group;
    let cfg = &ctx.sc.consumers[g];
    let t = ctx.books().groups[g].topic;
    let mut first = crate::driver::Ready::new(ready);
    let who = format!("consumer {}/{}", cfg.group.get_ref(), inst.local);
    let mut era = ctx.outages.generation();
    // Processed and not yet acknowledged when the server was killed: the instance lives
    // on and acknowledges them on its next connection, before it reads its pending
    // entries again. Dropped with the connection, they came back with those and were
    // processed twice (101 duplicates in a run with two kills, the model's none: a
    // broker's crash moves no consumer's position).
    let mut owed: Vec<(u32, EntryId)> = Vec::new();
    while !ctx.stopped() {
        let connect = || crate::redis_pubsub::connect(client);
        let opened = connect().or_else(|e| match ctx.ride_out(era, RIDE_OUT) {
            Some(_) => ctx.reconnect(Duration::from_secs(30), connect),
            None => Err(e),
        });
        let mut con = match opened {
            Ok(c) => c,
            Err(e) => return first.failed(ctx, &who, &e),
        };
        if ctx.outages.generation() != era {
            // A restarted Redis: the groups again, which a Redis without persistence lost
            // with the streams (a producer's XADD may have made the stream already); one
            // on its append-only file kept them, and the create finds them there.
            era = ctx.outages.generation();
            if let Err(e) = create_groups(ctx, &mut con, t) {
                return first.failed(ctx, &who, &e);
            }
        }
        first.ok();
        match await_join(ctx, &mut con, g, era, &who) {
            AtJoin::Serve => {}
            AtJoin::Reconnect => continue,
            AtJoin::Stop => return,
        }
        let mut m = Member {
            con,
            group: cfg.group.get_ref().clone(),
            name: format!("{}-{}", cfg.group.get_ref(), inst.local),
            keys: (0..partitions(ctx, t)).map(|p| stream(ctx, t, p)).collect(),
            buf: VecDeque::new(),
            unacked: std::mem::take(&mut owed),
            since: 0,
        };
        match serve(ctx, &mut inst, &mut m) {
            Ok(Some(at)) => {
                drop(m);
                let back = inst.next_crash(at).map_or(at, |(_, until)| until);
                if !ctx.sleep_until(back) {
                    return;
                }
            }
            Ok(None) => return,
            // Killed with the broker: it connects again once the server is back (what it
            // held is gone with a server without persistence, or pending in one with it).
            Err(_) if ctx.ride_out(era, RIDE_OUT).is_some() => owed = m.unacked,
            Err(_) if ctx.stopped() && ctx.outages.generation() > 0 => return,
            Err(e) => return ctx.fail(format!("{who}: {e}")),
        }
    }
}

/// Serves until a crash (its time) or the end of the run (`None`, acks flushed).
fn serve(ctx: &Ctx, inst: &mut Instance, m: &mut Member) -> Result<Option<u64>, String> {
    let g = inst.group;
    let cfg = &ctx.sc.consumers[g];
    let (delivery, interval) = (cfg.delivery, cfg.commit_interval.0);
    let idle_ms = cfg.session_timeout.0 / 1_000_000;
    // Every member's silent windows (crashes and partitions), for the coordinator.
    let members: Vec<(Vec<(u64, u64)>, u32)> = driver::instances(&ctx.sc, ctx.seed)
        .into_iter()
        .filter(|i| i.group == g)
        .map(|i| (i.crashes.iter().chain(&i.cuts).copied().collect(), i.local))
        .collect();
    let mut mine: Vec<u32> = Vec::new();
    let mut fresh = true;
    // The owners as last seen (a member starting or back from a crash: as they were
    // the instant before).
    let mut before = owners(ctx, g, &members, ctx.now_ns().saturating_sub(1)).0;
    // What the last connection owed, before its pending entries are read again.
    m.flush()?;
    loop {
        let now = ctx.now_ns();
        if inst.crashed(now) {
            return Ok(Some(now));
        }
        if let Some(until) = inst.cut_until(now)
            && !ctx.stopped()
        {
            // Cut off: connected, but neither reading nor acknowledging.
            inst.wait(ctx, until);
            continue;
        }
        if !m.unacked.is_empty() && (now >= m.since + interval || ctx.stopped()) {
            m.flush()?;
        }
        if ctx.stopped() {
            return Ok(None);
        }
        let (owners_now, live) = owners(ctx, g, &members, now);
        let owned_now = owned_by(&owners_now, inst.local);
        if owned_now != mine || fresh {
            // Partitions that came to it: first its own pending entries (a restarted
            // consumer's history), then what a silent member left pending. Only a silent
            // one's: a partition handed back by a live member (this one returning) stays
            // with that member for what it fetched already, which it processes and
            // acknowledges. Claiming those too (every entry idle `session_timeout`, at
            // once by default) had both process them: an at-most-once run with a 1 s
            // crash duplicated 3 to 27 copies.
            let gained: Vec<u32> = owned_now
                .iter()
                .copied()
                .filter(|p| fresh || !mine.contains(p))
                .collect();
            // On a new connection, its pending entries of every partition: a member
            // killed with the server may hold entries of a partition it has handed back
            // since (claimed from a crashed member, not yet processed), which it keeps
            // and processes as it would have; read only for the partitions it owned,
            // they stayed pending with it for good (the new owner claims only a silent
            // member's).
            if fresh {
                let every: Vec<u32> = (0..m.keys.len() as u32).collect();
                m.read(&every, "0", false)?;
            } else {
                m.read(&gained, "0", false)?;
            }
            for &p in &gained {
                let from = before.get(p as usize).copied().flatten();
                if from.is_none_or(|o| !live.contains(&o)) {
                    m.claim(p, idle_ms)?;
                }
            }
            mine = owned_now;
            fresh = false;
        }
        before = owners_now;
        if m.buf.is_empty() {
            if mine.is_empty() {
                ctx.sleep_until(ctx.now_ns() + BLOCK_MS * 1_000_000);
                continue;
            }
            let parts = mine.clone();
            m.read(&parts, ">", true)?;
        }
        let Some((p, id, s)) = m.buf.pop_front() else {
            continue;
        };
        ctx.touch();
        let delivered = {
            let mut books = ctx.books();
            books.read_after_join(g, &s, ctx.now_ns());
            books.delivered(g, &s)
        };
        if !delivered {
            m.ack_now(&[(p, id)])?;
            continue;
        }
        if delivery == Delivery::AtMostOnce {
            // Acknowledged before processing: a crash from here on loses it.
            m.ack_now(&[(p, id)])?;
        }
        match inst.process(ctx, s.poison) {
            // Unacknowledged, the entry stays in the group's pending list: claimed again
            // after a crash, read as left over after the stop.
            (_, Outcome::Crashed | Outcome::Stopped) => continue,
            (_, Outcome::Failed) => {
                // The dead-letter stream, then the entry is done with.
                let data = wire::encode(&s, ctx.work.payload_bytes[s.producer as usize]);
                redis::cmd("XADD")
                    .arg(dead_stream(ctx, g))
                    .arg("*")
                    .arg("m")
                    .arg(data)
                    .query::<Value>(&mut m.con)
                    .map_err(redis_err("XADD (dead letter)"))?;
                ctx.books().dead_letter(g, s.id, ctx.now_ns());
                if delivery != Delivery::AtMostOnce {
                    m.ack_or_owe(p, id)?;
                }
                continue;
            }
            (start, Outcome::Done) => {
                ctx.books().apply(g, &s, start, ctx.now_ns());
            }
        }
        if delivery != Delivery::AtMostOnce {
            if interval == 0 {
                m.ack_or_owe(p, id)?;
            } else {
                if m.unacked.is_empty() {
                    m.since = ctx.now_ns();
                }
                m.unacked.push((p, id));
            }
        }
    }
}
