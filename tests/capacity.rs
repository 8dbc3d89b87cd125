//! What `capacity` counts on each broker model and what each `on_full` does under it, and
//! the counts that must agree with each other: drops by reason, unroutable messages, empty
//! receives, pauses. (Loss probabilities against M/M/c/K are in `theory.rs`.)

use crate::support::{mqlab, parse, run, scratch};
use mqlab_sim::RunSummary;

fn histogram_count(r: &RunSummary) -> u64 {
    r.latency_histogram.iter().map(|b| b[1]).sum()
}

fn reasons_total(r: &RunSummary) -> u64 {
    r.dropped_by_reason.values().sum()
}

#[test]
fn an_exchange_consumer_holding_unacked_messages_does_not_fill_the_queue() {
    // RabbitMQ's max-length counts ready messages: 1000 messages delivered to a stuck
    // consumer (prefetch 1000) and unacknowledged leave the queue empty, so nothing is
    // refused though the consumer holds 20 times `capacity`.
    let s = parse(
        r#"
        name = "hoard"
        duration = "10s"
        drain = "20s"
        [broker]
        model = "exchange"
        capacity = 50
        on_full = "reject"
        [[topic]]
        name = "x"
        exchange = "fanout"
        [[producer]]
        name = "p"
        topic = "x"
        rate = 100
        [[consumer]]
        group = "g"
        topic = "x"
        prefetch = 1000
        service_time = "1ms"
        [[fault]]
        at = "0s"
        kind = "slow"
        target = "g/0"
        duration = "10s"
        factor = 1000
        "#,
    );
    let r = run(&s, 1);
    assert_eq!(r.messages.dropped, 0, "{:?}", r.dropped_by_reason);
    assert_eq!(r.messages.processed, r.messages.produced);
}

#[test]
fn drop_oldest_on_a_queue_never_holds_more_than_capacity() {
    // Two workers each hold a message for 50 ms; capacity 2 is all in their hands. The
    // next message has nothing older to push out that nobody holds: it is the one dropped.
    let s = parse(
        r#"
        name = "busy"
        duration = "2s"
        drain = "5s"
        [broker]
        model = "queue"
        capacity = 2
        on_full = "drop-oldest"
        [[topic]]
        name = "q"
        [[producer]]
        name = "p"
        topic = "q"
        rate = 200
        [[consumer]]
        group = "g"
        topic = "q"
        instances = 2
        service_time = "50ms"
        "#,
    );
    let r = run(&s, 1);
    let g = &r.groups[0];
    assert!(g.max_lag <= 2, "held {} > capacity 2", g.max_lag);
    // Both workers busy all the time: about 40 of ~400 get through.
    assert!(g.processed <= 2 * 2000 / 50 + 2, "{g:?}");
    assert!(r.conservation_ok && r.messages.lost == 0);
    assert_eq!(reasons_total(&r), r.messages.dropped);
}

#[test]
fn drop_oldest_on_a_log_never_discards_the_message_in_service() {
    let s = parse(
        r#"
        name = "log-drop"
        duration = "10s"
        drain = "10s"
        [broker]
        capacity = 3
        on_full = "drop-oldest"
        [[topic]]
        name = "t"
        partitions = 1
        [[producer]]
        name = "p"
        topic = "t"
        rate = 900
        [[consumer]]
        group = "g"
        topic = "t"
        service_time = "exp(1ms)"
        "#,
    );
    let r = run(&s, 1);
    assert!(r.messages.dropped > 500, "{:?}", r.messages);
    // Every processed copy has its latency: none was processed after being discarded.
    assert_eq!(histogram_count(&r), r.messages.processed);
    assert_eq!(r.messages.processed + r.messages.dropped, r.messages.copies);
    assert_eq!(reasons_total(&r), r.messages.dropped);
    // The log holds at most `capacity` uncommitted messages: M/M/1/3's blocking
    // probability at rho = 0.9 is 0.212.
    let frac = r.messages.dropped as f64 / r.messages.copies as f64;
    assert!((frac - 0.212).abs() < 0.02, "{frac}");
}

fn late_group(capacity: u32, retention: &str, duration: &str) -> RunSummary {
    let s = parse(&format!(
        r#"
        name = "late"
        duration = "{duration}"
        drain = "10s"
        [broker]
        capacity = {capacity}
        on_full = "block"
        [[topic]]
        name = "t"
        partitions = 1
        {retention}
        [[producer]]
        name = "p"
        topic = "t"
        rate = 500
        arrival = "constant"
        [[consumer]]
        group = "now"
        topic = "t"
        service_time = "1ms"
        [[consumer]]
        group = "later"
        topic = "t"
        service_time = "1ms"
        start_at = "4s"
        offset_reset = "earliest"
        "#
    ));
    run(&s, 1)
}

#[test]
fn a_group_that_has_not_joined_yet_holds_back_no_producer() {
    // The producer stops as the group joins: about 2,000 messages made while it had not
    // joined, twenty times `capacity`, and no pause.
    let r = late_group(100, "", "4s");
    assert!(r.overflow.is_none(), "producers blocked: {:?}", r.overflow);
    let now = &r.groups[0];
    assert!(now.latency_p99_s < 0.01, "{now:?}");
    // Without retention the log keeps every message for it, as Kafka without a retention
    // limit does (once, what every joined group had committed was dropped for it): it
    // reads all of them when it joins.
    let later = &r.groups[1];
    assert!(r.conservation_ok && r.messages.in_flight == 0);
    assert!(later.copies >= 1990, "{later:?}");
    assert_eq!(
        (later.processed, later.dropped),
        (later.copies, 0),
        "{later:?}"
    );
    assert_eq!(r.dropped_by_reason.get("retention"), None);
}

#[test]
fn a_group_that_joins_counts_its_backlog_against_capacity() {
    // Joined at 4 s with 2,000 to read and 500 more a second, it is the slowest joined
    // group and 1,900 past `capacity`: the producer is paused once, until it has read
    // down to the low watermark (it reads 1,000 a second, so about 2,000 / 500 = 3.8 s
    // later at the most, the producer sending nothing meanwhile). Nothing is dropped.
    let r = late_group(100, "", "6s");
    let o = r.overflow.expect("paused");
    assert_eq!(o.pauses, 1, "{o:?}");
    assert!(o.paused_s > 1.0 && o.paused_s < 4.0, "{o:?}");
    let later = &r.groups[1];
    assert!(r.conservation_ok && r.messages.in_flight == 0);
    assert_eq!(later.processed, later.copies, "{later:?}");
    assert_eq!(r.messages.dropped, 0);
}

#[test]
fn a_late_group_reading_from_the_earliest_offset_gets_what_retention_kept() {
    // Once joined it is the slowest group, and what it has not committed counts: a
    // capacity above what retention keeps never blocks.
    let r = late_group(5000, "retention = \"3s\"", "6s");
    assert!(r.overflow.is_none(), "producers blocked: {:?}", r.overflow);
    let later = &r.groups[1];
    // Kept for 3 s: at 4 s it finds the last 3 s (about 1500 messages) and reads on.
    assert!(r.conservation_ok && r.messages.in_flight == 0);
    assert!(
        (490..=510).contains(&later.dropped) && later.processed + later.dropped == later.copies,
        "{later:?}"
    );
}

#[test]
fn dropped_by_reason_sums_to_dropped_and_unroutable_is_apart() {
    let s = parse(
        r#"
        name = "unroutable"
        duration = "2s"
        drain = "5s"
        [broker]
        model = "exchange"
        capacity = 5
        on_full = "reject"
        [[topic]]
        name = "x"
        exchange = "direct"
        [[producer]]
        name = "p"
        topic = "x"
        rate = 1000
        routing_keys = ["a", "b"]
        [[consumer]]
        group = "g"
        topic = "x"
        bindings = ["a"]
        service_time = "exp(2ms)"
        "#,
    );
    let r = run(&s, 1);
    assert!(r.messages.unroutable > 500, "{:?}", r.messages);
    assert_eq!(
        r.messages.copies + r.messages.unroutable,
        r.messages.produced
    );
    assert!(r.messages.dropped > 0);
    assert_eq!(reasons_total(&r), r.messages.dropped);
    assert!(!r.dropped_by_reason.contains_key("unroutable"));
    // A full queue refuses only what routes to it: every refusal is a dropped copy.
    assert_eq!(r.overflow.expect("refusals").rejections, r.messages.dropped);
}

#[test]
fn long_polling_counts_its_empty_receives_from_the_start() {
    // Nothing arrives for the first 10 s: a 1 s long poll returns empty ten times.
    let s = parse(
        r#"
        name = "long-poll"
        duration = "12s"
        drain = "5s"
        [broker]
        model = "queue"
        [[topic]]
        name = "q"
        [[producer]]
        name = "p"
        topic = "q"
        rate = 1000
        [[consumer]]
        group = "g"
        topic = "q"
        wait_time = "1s"
        service_time = "100us"
        [[fault]]
        at = "0s"
        kind = "crash"
        target = "p"
        duration = "10s"
        "#,
    );
    let r = run(&s, 1);
    let g = &r.groups[0];
    assert!(g.empty_receives >= 10, "{}", g.empty_receives);
    assert!(g.empty_receives <= 12, "{}", g.empty_receives);
}

#[test]
fn plain_block_reports_its_pauses() {
    let s = parse(
        r#"
        name = "plain-block"
        duration = "2s"
        drain = "10s"
        [broker]
        model = "queue"
        capacity = 10
        on_full = "block"
        [[topic]]
        name = "q"
        [[producer]]
        name = "p"
        topic = "q"
        rate = 2000
        [[consumer]]
        group = "g"
        topic = "q"
        service_time = "1ms"
        "#,
    );
    let r = run(&s, 1);
    let o = r.overflow.expect("the producer was blocked");
    assert!(o.pauses > 0 && o.paused_s > 1.0, "{o:?}");
    assert_eq!(r.messages.dropped, 0);
}

#[test]
fn a_pubsub_message_in_hand_when_the_subscriber_crashes_is_a_known_drop() {
    let s = parse(
        r#"
        name = "pubsub-crash"
        duration = "2s"
        drain = "5s"
        [broker]
        model = "pubsub"
        [[topic]]
        name = "ch"
        [[producer]]
        name = "p"
        topic = "ch"
        rate = 100
        arrival = "constant"
        [[consumer]]
        group = "s"
        topic = "ch"
        service_time = "9ms"
        [[fault]]
        at = "1005ms"
        kind = "crash"
        target = "s/0"
        duration = "100ms"
        "#,
    );
    let r = run(&s, 1);
    assert_eq!(r.messages.lost, 0, "{:?}", r.messages);
    assert_eq!(r.dropped_by_reason.get("subscriber-crashed"), Some(&1));
    assert_eq!(reasons_total(&r), r.messages.dropped);
}

const NOBODY_READS: &str = r#"
name = "nobody-reads"
duration = "1s"
drain = "1s"
[broker]
model = "MODEL"
[[topic]]
name = "read"
[[topic]]
name = "unread"
[[producer]]
name = "p"
topic = "read"
rate = 100
arrival = "constant"
[[producer]]
name = "orphan"
topic = "unread"
rate = 100
arrival = "constant"
[[consumer]]
group = "g"
topic = "read"
service_time = "1ms"
"#;

#[test]
fn messages_to_a_topic_nobody_consumes_are_counted_unroutable() {
    for model in ["queue", "exchange", "pubsub"] {
        let mut text = NOBODY_READS.replace("MODEL", model);
        if model == "exchange" {
            text = text.replace("[[topic]]\n", "[[topic]]\nexchange = \"fanout\"\n");
        }
        let r = run(&parse(&text), 1);
        let half = r.messages.produced / 2;
        assert!(half > 90, "{model}: {:?}", r.messages);
        assert_eq!(r.messages.unroutable, half, "{model}");
        assert_eq!(r.messages.copies, half, "{model}");
        assert!(r.conservation_ok, "{model}");
    }
    let dir = scratch("nobody-reads");
    let path = dir.join("s.toml");
    std::fs::write(&path, NOBODY_READS.replace("MODEL", "queue")).unwrap();
    let out = mqlab().arg("run").arg(&path).output().expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn retention_never_discards_the_message_in_service() {
    // Messages age out after 150 ms while each takes 100 ms to serve: some go while they
    // wait (dropped, `retention`), but the one a consumer has fetched is processed, with
    // its latency, as a Kafka consumer finishes a record whose segment was deleted.
    let s = parse(
        r#"
        name = "retention-in-hand"
        duration = "5s"
        drain = "10s"
        [[topic]]
        name = "t"
        partitions = 1
        retention = "150ms"
        [[producer]]
        name = "p"
        topic = "t"
        rate = 15
        [[consumer]]
        group = "g"
        topic = "t"
        service_time = "100ms"
        "#,
    );
    let r = run(&s, 1);
    let g = &r.groups[0];
    assert!(g.dropped > 0 && g.processed > 0, "{g:?}");
    assert_eq!(histogram_count(&r), r.messages.processed);
    assert_eq!(g.processed + g.dropped, g.copies);
    assert_eq!(r.dropped_by_reason.get("retention"), Some(&g.dropped));
    assert!(r.conservation_ok);
}
