//! How consumer groups come to be on a Redis Streams log: every group at `0` when the
//! streams are made (and again after a restart), except a late group from the latest
//! offset, which is created when it joins, at `start_at`, on each partition's stream at
//! the ID of the stream's last entry (`late.rs` keeps its copies apart). It reads only
//! what comes after, as a Kafka group joining with `auto.offset.reset = latest` does. The
//! books stay locked across the join's round trips, so no producer's entry is counted
//! against a start not yet known: one told of its entry while the join runs is counted
//! once the join has recorded where the group starts.

use crate::driver::Ctx;
use crate::outage::RIDE_OUT;
use crate::redis_streams::{EntryId, entries, id_arg, partitions, redis_err, stream};
use redis::{Connection, Value};

/// What a consumer does once its group has joined.
pub(crate) enum AtJoin {
    /// Reads.
    Serve,
    /// Connects again: the broker restarted while it waited, or during the join.
    Reconnect,
    /// Nothing more: the run is over, or the join failed (the run is marked so).
    Stop,
}

/// A group joining late (`start_at`) reads nothing until then. From the earliest offset
/// it was created at `0` with the others: a stream is never trimmed here, so it finds
/// every entry, as a Kafka group created then with `auto.offset.reset = earliest` would
/// in a log kept by retention. From the latest it is created now (`join_latest`).
/// `con` was opened in broker era `era`; `who` names the consumer in an error.
pub(crate) fn await_join(ctx: &Ctx, con: &mut Connection, g: usize, era: u64, who: &str) -> AtJoin {
    let start_at = *ctx.sc.consumers[g].start_at.get_ref();
    if !start_at.is_zero() && !ctx.sleep_until(start_at.0) {
        return AtJoin::Stop;
    }
    if ctx.outages.generation() != era {
        // The broker restarted while it waited: its connection died with it.
        return AtJoin::Reconnect;
    }
    if ctx.books().late.latest[g] {
        match join_latest(ctx, con, g) {
            Ok(()) => {}
            Err(_) if ctx.ride_out(era, RIDE_OUT).is_some() => return AtJoin::Reconnect,
            Err(e) => {
                ctx.fail(format!("{who}: {e}"));
                return AtJoin::Stop;
            }
        }
    }
    AtJoin::Serve
}

/// Joins group `g` (once: the first of its instances to come does it for the others).
fn join_latest(ctx: &Ctx, con: &mut Connection, g: usize) -> Result<(), String> {
    let mut books = ctx.books();
    if books.late.from[g].is_some() {
        return Ok(());
    }
    let t = books.groups[g].topic;
    let name = ctx.sc.consumers[g].group.get_ref();
    let mut from = Vec::new();
    for p in 0..partitions(ctx, t) {
        let key = stream(ctx, t, p);
        let last: Value = redis::cmd("XREVRANGE")
            .arg(&key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query(con)
            .map_err(redis_err("XREVRANGE"))?;
        let mut got = Vec::new();
        entries(&last, &mut got);
        // An empty stream: everything to come is after the join.
        let at = got.first().map_or((0, 0), |e| e.0);
        create_group(con, &key, name, at)?;
        from.push(at);
    }
    books.joined(g, from, ctx.now_ns());
    Ok(())
}

/// Whether group `g` is created with the others: not a late group from the latest
/// offset that has not joined yet. After a restart that lost the streams, one that had
/// joined is created again at `0` like the rest: everything in the new streams came after
/// its join.
fn created_with_the_others(ctx: &Ctx, g: usize) -> bool {
    let books = ctx.books();
    !books.late.latest[g] || books.late.from[g].is_some()
}

/// Every consumer group of topic `t` on each of its streams, reading from the start
/// (`0`); one that exists already is left as it is, and a late group from the latest
/// offset is created when it joins (`join_latest`).
pub(crate) fn create_groups(ctx: &Ctx, con: &mut Connection, t: usize) -> Result<(), String> {
    let groups: Vec<usize> = ctx.books().topic_groups[t].clone();
    let groups: Vec<usize> = groups
        .into_iter()
        .filter(|&g| created_with_the_others(ctx, g))
        .collect();
    for p in 0..partitions(ctx, t) {
        let key = stream(ctx, t, p);
        for &g in &groups {
            create_group(con, &key, ctx.sc.consumers[g].group.get_ref(), (0, 0))?;
        }
    }
    Ok(())
}

/// Consumer group `group` on stream `key`, reading the entries after `from`; one that
/// exists already is left as it is.
fn create_group(con: &mut Connection, key: &str, group: &str, from: EntryId) -> Result<(), String> {
    let made = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(group)
        .arg(id_arg(from))
        .arg("MKSTREAM")
        .query::<()>(con);
    match made {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other.map_err(redis_err("XGROUP CREATE")),
    }
}
