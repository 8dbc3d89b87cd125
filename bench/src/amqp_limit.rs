//! A group queue's arguments on RabbitMQ and its dead letters. `capacity` and `on_full`:
//! `x-max-length = capacity` with `x-overflow` = `drop-head` (`drop-oldest`) or
//! `reject-publish` (`reject`); a `queue`-model topic's groups get quorum queues with
//! `x-delivery-limit` from `max_receives`. Every queue dead-letters (a dropped head, a
//! rejected failure, a message past its delivery limit) to a per-group exchange and queue
//! that the driver reads at the end, so every such copy is known; a rejected publish comes
//! back as a publisher-confirm nack.

use crate::driver::Ctx;
use crate::wire;
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};
use mqlab_sim::scenario::{BrokerModel, OnFull};
use tokio::runtime::Handle;

/// Where the group's queue dead-letters: the heads `drop-head` discards, the messages its
/// consumers reject after their retries, and (quorum queues) those past `x-delivery-limit`.
pub fn dropped_name(queue: &str) -> String {
    format!("{queue}.dead")
}

/// The queue arguments of group `g`'s queue: its dead-letter exchange, the length limit
/// (`capacity`/`on_full`), and for a `queue`-model topic a quorum queue whose
/// `x-delivery-limit` is `max_receives - 1` (RabbitMQ dead-letters a message returned
/// more than that many times, so it is delivered `max_receives` times at most, as SQS
/// receives it).
#[must_use]
pub fn queue_args(ctx: &Ctx, g: usize, queue: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(LongString::from(dropped_name(queue).as_str())),
    );
    let t = ctx
        .sc
        .topics
        .iter()
        .position(|t| t.name.get_ref() == ctx.sc.consumers[g].topic.get_ref())
        .unwrap_or(0);
    if ctx.sc.topics[t].model(&ctx.sc.broker) == BrokerModel::Queue {
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        let limit = i64::from(ctx.sc.broker.max_receives.get_ref().saturating_sub(1));
        args.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(limit));
    }
    let overflow = match ctx.sc.broker.on_full.get_ref() {
        OnFull::DropOldest => "drop-head",
        OnFull::Reject => "reject-publish",
        // Refused by the mapping when set; the default leaves the queue unbounded.
        OnFull::Block | OnFull::Spill => return args,
    };
    let cap = i64::try_from(*ctx.sc.broker.capacity.get_ref()).unwrap_or(i64::MAX);
    args.insert("x-max-length".into(), AMQPValue::LongLongInt(cap));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString(LongString::from(overflow)),
    );
    args
}

/// Declares the exchange and queue that collect `queue`'s dropped heads.
///
/// # Errors
/// The broker's refusal.
pub fn declare_dropped(h: &Handle, ch: &Channel, queue: &str, durable: bool) -> Result<(), String> {
    let name = dropped_name(queue);
    let n = name.as_str();
    let _ = run(
        h,
        ch.exchange_delete(n.into(), ExchangeDeleteOptions::default()),
    );
    run(
        h,
        ch.exchange_declare(
            n.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        ),
    )
    .map_err(|e| format!("exchange.declare {n}: {e}"))?;
    let _ = run(h, ch.queue_delete(n.into(), QueueDeleteOptions::default()));
    run(
        h,
        ch.queue_declare(
            n.into(),
            QueueDeclareOptions {
                durable,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        ),
    )
    .map_err(|e| format!("queue.declare {n}: {e}"))?;
    run(
        h,
        ch.queue_bind(
            n.into(),
            n.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        ),
    )
    .map_err(|e| format!("queue.bind {n}: {e}"))
}

fn run<T>(
    h: &Handle,
    f: impl std::future::Future<Output = lapin::Result<T>>,
) -> Result<(), String> {
    h.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), f).await })
        .map_err(|_| "no answer within 10s".to_string())?
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Reads what group `g`'s queue dead-lettered and marks those copies dead-lettered (a
/// dropped head too, as the model does for a group that dead-letters its failures, the
/// default on an exchange); then removes the exchange and queue.
pub fn collect_dropped(ctx: &Ctx, h: &Handle, ch: &Channel, g: usize, queue: &str) {
    let name = dropped_name(queue);
    let opts = BasicGetOptions { no_ack: true };
    loop {
        let got = h.block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                ch.basic_get(name.as_str().into(), opts),
            )
            .await
        });
        let Ok(Ok(Some(m))) = got else { break };
        if let Some(s) = wire::decode(&m.delivery.data) {
            ctx.books().dead_letter(g, s.id, ctx.now_ns());
        }
    }
    let _ = run(
        h,
        ch.queue_delete(name.as_str().into(), QueueDeleteOptions::default()),
    );
    let _ = run(
        h,
        ch.exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default()),
    );
}
