//! Delivery semantics under consumer crashes, as DESIGN.md and the real systems define
//! them: at-most-once may lose but never duplicates; at-least-once never loses an
//! acknowledged message but does duplicate; exactly-once does neither.

use crate::support::{load, parse, root, run_with};
use mqlab_sim::{Delivery, RunSummary, Scenario};

const SEEDS: std::ops::RangeInclusive<u64> = 1..=8;

fn sweep(s: &Scenario, d: Delivery) -> Vec<RunSummary> {
    SEEDS
        .map(|seed| {
            let r = run_with(s, d, seed);
            assert!(
                r.conservation_ok,
                "conservation failed: seed={seed} {d:?} {:?}",
                r.messages
            );
            r
        })
        .collect()
}

fn check_semantics(s: &Scenario, what: &str) {
    let amo = sweep(s, Delivery::AtMostOnce);
    assert!(
        amo.iter().all(|r| r.messages.duplicated == 0),
        "{what}: at-most-once duplicated"
    );
    assert!(
        amo.iter().any(|r| r.messages.lost > 0),
        "{what}: at-most-once never lost anything"
    );

    let alo = sweep(s, Delivery::AtLeastOnce);
    for r in &alo {
        assert_eq!(
            r.messages.lost, 0,
            "{what}: at-least-once lost, seed={}",
            r.seed
        );
    }
    assert!(
        alo.iter().any(|r| r.messages.duplicated > 0),
        "{what}: at-least-once never duplicated"
    );

    for r in sweep(s, Delivery::ExactlyOnce) {
        let m = r.messages;
        assert_eq!(
            (m.lost, m.duplicated),
            (0, 0),
            "{what}: exactly-once, seed={}",
            r.seed
        );
        assert_eq!(
            m.processed + m.dead_lettered + m.dropped,
            m.copies,
            "{what}: seed={}",
            r.seed
        );
    }
}

#[test]
fn log_model_delivery_variants_keep_their_promises_under_crashes() {
    let s = load(&root().join("scenarios/crash-during-processing.toml"));
    check_semantics(&s, "log");
}

/// SQS-like: deletes batched every second, consumers crash while busy.
const QUEUE_CRASHES: &str = r#"
    name = "queue-crashes"
    duration = "30s"
    drain = "60s"
    [broker]
    model = "queue"
    visibility_timeout = "2s"
    [[topic]]
    name = "q"
    [[producer]]
    name = "p"
    topic = "q"
    rate = 800
    [[consumer]]
    group = "g"
    topic = "q"
    instances = 3
    service_time = "exp(3ms)"
    commit_interval = "1s"
    [[fault]]
    at = "10s"
    kind = "crash"
    target = "g/0"
    duration = "3s"
    [[fault]]
    at = "20.5s"
    kind = "crash"
    target = "g"
    duration = "1s"
"#;

#[test]
fn queue_model_delivery_variants_keep_their_promises_under_crashes() {
    check_semantics(&parse(QUEUE_CRASHES), "queue");
}

#[test]
fn at_least_once_with_per_message_commits_repeats_nothing_on_a_log() {
    // Commit after each message: a crash can only repeat the message in hand, which was
    // never applied, so nothing is duplicated and nothing lost.
    let mut s = load(&root().join("scenarios/crash-during-processing.toml"));
    for c in &mut s.consumers {
        c.commit_interval = mqlab_sim::SimDuration::ZERO;
    }
    for r in sweep(&s, Delivery::AtLeastOnce) {
        assert_eq!(
            (r.messages.lost, r.messages.duplicated),
            (0, 0),
            "seed={}",
            r.seed
        );
    }
}

#[test]
fn a_message_outliving_its_visibility_timeout_is_processed_twice() {
    // Documented SQS behaviour: a consumer slower than the visibility timeout lets the
    // message become visible again, and another consumer receives it.
    let s = parse(
        r#"
        name = "slow-visibility"
        duration = "5s"
        [broker]
        model = "queue"
        visibility_timeout = "100ms"
        [[topic]]
        name = "q"
        [[producer]]
        name = "p"
        topic = "q"
        rate = 20
        arrival = "constant"
        [[consumer]]
        group = "g"
        topic = "q"
        instances = 4
        service_time = "150ms"
        "#,
    );
    let r = run_with(&s, Delivery::AtLeastOnce, 1);
    assert!(r.messages.duplicated > 0, "{:?}", r.messages);
    assert!(r.messages.delivered > r.messages.produced);
    assert_eq!(r.messages.lost, 0);
}

#[test]
fn poison_messages_are_dead_lettered_after_retries_and_not_lost() {
    let s = load(&root().join("scenarios/poison-pill.toml"));
    let r = run_with(&s, Delivery::AtLeastOnce, 3);
    assert!(r.messages.dead_lettered > 0);
    assert_eq!(r.messages.lost, 0);
    // Each poison message is served 1 + max_retries times before it is dead-lettered.
    let max_retries = 3;
    let g = &r.groups[0];
    assert_eq!(g.dead_lettered + g.processed, g.copies);
    assert!(
        r.latency_s.p999 >= 0.35,
        "retries 50+100+200ms should show in the tail: {:?}",
        r.latency_s
    );
    let _ = max_retries;
}

#[test]
fn sqs_redrives_to_the_dead_letter_queue_after_max_receives() {
    let s = parse(
        r#"
        name = "redrive"
        duration = "2s"
        drain = "60s"
        [broker]
        model = "queue"
        visibility_timeout = "1s"
        max_receives = 3
        [[topic]]
        name = "q"
        [[producer]]
        name = "p"
        topic = "q"
        rate = 50
        [[consumer]]
        group = "g"
        topic = "q"
        service_time = "1ms"
        max_retries = 0
        [[fault]]
        at = "0s"
        kind = "poison"
        target = "p"
        count = 5
        "#,
    );
    let r = run_with(&s, Delivery::AtLeastOnce, 1);
    assert_eq!(r.messages.dead_lettered, 5, "{:?}", r.messages);
    // Received exactly max_receives times each before the redrive.
    assert_eq!(r.messages.delivered, r.messages.produced - 5 + 5 * 3);
    assert_eq!(r.messages.lost, 0);
}

#[test]
fn ordering_is_checked_per_key_and_round_robin_breaks_it() {
    let toml = |partitioner: &str| {
        format!(
            r#"
            name = "ordering"
            duration = "10s"
            [[topic]]
            name = "t"
            partitions = 4
            [[producer]]
            name = "p"
            topic = "t"
            rate = 2000
            keys = 10
            partitioner = "{partitioner}"
            [[consumer]]
            group = "g"
            topic = "t"
            instances = 4
            service_time = "exp(1ms)"
            ordered = true
            "#
        )
    };
    let by_key = run_with(&parse(&toml("key")), Delivery::AtLeastOnce, 1);
    assert_eq!(by_key.messages.out_of_order, 0);
    let spread = run_with(&parse(&toml("round-robin")), Delivery::AtLeastOnce, 1);
    assert!(spread.messages.out_of_order > 0, "{:?}", spread.messages);
}

#[test]
fn backpressure_policies_account_for_every_copy() {
    let toml = |on_full: &str| {
        format!(
            r#"
            name = "full"
            duration = "10s"
            drain = "60s"
            [broker]
            capacity = 100
            on_full = "{on_full}"
            [[topic]]
            name = "t"
            [[producer]]
            name = "p"
            topic = "t"
            rate = 1000
            [[consumer]]
            group = "g"
            topic = "t"
            service_time = "2ms"
            "#
        )
    };
    let block = run_with(&parse(&toml("block")), Delivery::AtLeastOnce, 1);
    assert_eq!((block.messages.dropped, block.messages.lost), (0, 0));
    assert!(
        block.latency_s.max > 5.0,
        "blocked sends count from their intended time: {:?}",
        block.latency_s
    );
    assert!(block.groups[0].max_lag <= 100);
    for policy in ["reject", "drop-oldest"] {
        let r = run_with(&parse(&toml(policy)), Delivery::AtLeastOnce, 1);
        assert!(r.messages.dropped > 3000, "{policy}: {:?}", r.messages);
        assert!(
            r.dropped_by_reason.contains_key(policy),
            "{policy}: {:?}",
            r.dropped_by_reason
        );
        assert_eq!(r.messages.lost, 0);
        assert!(r.conservation_ok);
        assert!(r.groups[0].max_lag <= 100);
    }
}

#[test]
fn non_idempotent_retries_duplicate_and_idempotent_ones_do_not() {
    let toml = |idempotent: bool| {
        format!(
            r#"
            name = "retries"
            duration = "10s"
            [network]
            latency = "exp(20ms)"
            [[topic]]
            name = "t"
            [[producer]]
            name = "p"
            topic = "t"
            rate = 200
            request_timeout = "50ms"
            retries = 5
            idempotent = {idempotent}
            [[consumer]]
            group = "g"
            topic = "t"
            service_time = "1ms"
            "#
        )
    };
    let plain = run_with(&parse(&toml(false)), Delivery::AtLeastOnce, 1);
    assert!(plain.messages.duplicated > 0, "{:?}", plain.messages);
    let idem = run_with(&parse(&toml(true)), Delivery::AtLeastOnce, 1);
    assert_eq!(idem.messages.duplicated, 0, "{:?}", idem.messages);
    assert!(plain.conservation_ok && idem.conservation_ok);
}
