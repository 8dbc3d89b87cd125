//! The end of a Redis Streams run: every entry still pending in a group, or not yet
//! delivered to it, is in flight; then the streams are removed.

use crate::driver::Ctx;
use crate::redis_streams::{EntryId, dead_stream, entries, parse_id, partitions, stream};
use crate::wire;
use redis::{Connection, Value};

/// After the run: every entry still pending in a group, or not yet delivered to it, is
/// in flight. Then the streams are removed.
pub(crate) fn collect(ctx: &Ctx, admin: &mut Connection) {
    for t in 0..ctx.sc.topics.len() {
        for p in 0..partitions(ctx, t) {
            let key = stream(ctx, t, p);
            let all: Value = redis::cmd("XRANGE")
                .arg(&key)
                .arg("-")
                .arg("+")
                .query(admin)
                .unwrap_or(Value::Nil);
            let mut msgs = Vec::new();
            entries(&all, &mut msgs);
            let groups = ctx.books().topic_groups[t].clone();
            for g in groups {
                let name = ctx.sc.consumers[g].group.get_ref();
                let last = last_delivered(admin, &key, name).unwrap_or((0, 0));
                let pending = pending_ids(admin, &key, name);
                let mut books = ctx.books();
                for (id, data) in &msgs {
                    if (*id > last || pending.contains(id))
                        && let Some(s) = wire::decode(data)
                    {
                        books.groups[g].in_system.push(s.id);
                    }
                }
            }
            let _: Result<(), _> = redis::cmd("DEL").arg(&key).query(admin);
        }
    }
    for g in 0..ctx.sc.consumers.len() {
        let _: Result<(), _> = redis::cmd("DEL").arg(dead_stream(ctx, g)).query(admin);
    }
}

fn last_delivered(admin: &mut Connection, key: &str, group: &str) -> Option<EntryId> {
    let v: Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(key)
        .query(admin)
        .ok()?;
    let Value::Array(groups) = v else { return None };
    for info in groups {
        let fields: Vec<(Value, Value)> = match info {
            Value::Array(a) => a
                .chunks(2)
                .filter_map(|c| Some((c.first()?.clone(), c.get(1)?.clone())))
                .collect(),
            Value::Map(m) => m,
            _ => continue,
        };
        let get = |name: &[u8]| {
            fields.iter().find_map(|(k, v)| match (k, v) {
                (Value::BulkString(k), Value::BulkString(v)) if k.as_slice() == name => {
                    Some(v.clone())
                }
                _ => None,
            })
        };
        if get(b"name").as_deref() == Some(group.as_bytes()) {
            return get(b"last-delivered-id").and_then(|v| parse_id(&v));
        }
    }
    None
}

fn pending_ids(admin: &mut Connection, key: &str, group: &str) -> Vec<EntryId> {
    let v: Value = redis::cmd("XPENDING")
        .arg(key)
        .arg(group)
        .arg("-")
        .arg("+")
        .arg(u32::MAX)
        .query(admin)
        .unwrap_or(Value::Nil);
    let Value::Array(rows) = v else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|r| match r {
            Value::Array(f) => match f.first() {
                Some(Value::BulkString(id)) => parse_id(id),
                _ => None,
            },
            _ => None,
        })
        .collect()
}
