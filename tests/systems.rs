//! The documented semantics of the real systems mqlab models: RabbitMQ exchange routing
//! and channel-close requeue, Redis pub/sub delivery to connected subscribers only.

use crate::support::{load, parse, root, run_with};
use mqlab_sim::{Delivery, Engine};

const ROUTING: &str = r##"
    name = "routing"
    duration = "10s"
    [broker]
    model = "exchange"
    [[topic]]
    name = "events"
    exchange = "topic"
    [[producer]]
    name = "a"
    topic = "events"
    rate = 100
    routing_keys = ["user.created"]
    [[producer]]
    name = "b"
    topic = "events"
    rate = 70
    routing_keys = ["user.profile.updated"]
    [[producer]]
    name = "c"
    topic = "events"
    rate = 50
    routing_keys = ["order.created"]
    [[producer]]
    name = "d"
    topic = "events"
    rate = 30
    routing_keys = ["order.shipped"]
    [[producer]]
    name = "e"
    topic = "events"
    rate = 20
    routing_keys = ["payment.error"]
    [[producer]]
    name = "f"
    topic = "events"
    rate = 10
    routing_keys = ["audit.login"]
    [[consumer]]
    group = "users"
    topic = "events"
    bindings = ["user.#"]
    [[consumer]]
    group = "creations"
    topic = "events"
    bindings = ["*.created"]
    [[consumer]]
    group = "orders"
    topic = "events"
    bindings = ["order.*"]
    [[consumer]]
    group = "errors"
    topic = "events"
    bindings = ["#.error"]
    [[consumer]]
    group = "everything"
    topic = "events"
    bindings = ["#"]
"##;

#[test]
fn each_queue_receives_exactly_what_its_binding_routes_to_it() {
    let s = parse(ROUTING);
    let mut engine = Engine::new(&s, 1);
    while engine.step() {}
    let produced: Vec<u64> = engine
        .snapshot()
        .producers
        .iter()
        .map(|p| p.produced)
        .collect();
    let [a, b, c, d, e, f] = produced[..] else {
        panic!("six producers")
    };
    let r = engine.summary();
    let copies = |g: &str| r.groups.iter().find(|x| x.name == g).expect("group").copies;
    assert_eq!(
        copies("users"),
        a + b,
        "user.# takes user.created and user.profile.updated"
    );
    assert_eq!(
        copies("creations"),
        a + c,
        "*.created is one word then `created`"
    );
    assert_eq!(copies("orders"), c + d);
    assert_eq!(copies("errors"), e);
    assert_eq!(copies("everything"), a + b + c + d + e + f);
    assert_eq!(r.messages.produced, a + b + c + d + e + f);
    // audit.login matches everything's `#` only: not unroutable here.
    assert_eq!(r.messages.unroutable, 0);
    assert!(r.conservation_ok && r.messages.lost == 0);
}

#[test]
fn a_key_no_binding_matches_is_unroutable() {
    let toml = ROUTING.replace("bindings = [\"#\"]", "bindings = [\"nothing.matches\"]");
    let s = parse(&toml);
    let mut engine = Engine::new(&s, 1);
    while engine.step() {}
    let f = engine.snapshot().producers[5].produced;
    let r = engine.summary();
    // Counted as messages, apart from the dropped copies.
    assert_eq!(r.messages.unroutable, f);
    assert!(!r.dropped_by_reason.contains_key("unroutable"));
    assert!(f > 0 && r.conservation_ok);
}

#[test]
fn a_closed_channel_returns_unacked_messages_at_once() {
    let s = load(&root().join("scenarios/rabbitmq-topic-routing.toml"));
    let alo = run_with(&s, Delivery::AtLeastOnce, 5);
    let errors = alo
        .groups
        .iter()
        .find(|g| g.name == "errors")
        .expect("group");
    assert_eq!(errors.lost, 0);
    assert!(
        errors.duplicated > 0,
        "processed-but-unacked messages are redelivered: {errors:?}"
    );
    let amo = run_with(&s, Delivery::AtMostOnce, 5);
    assert_eq!(amo.messages.duplicated, 0);
    let eo = run_with(&s, Delivery::ExactlyOnce, 5);
    assert_eq!((eo.messages.lost, eo.messages.duplicated), (0, 0));
}

const PUBSUB: &str = r#"
    name = "pubsub"
    duration = "5s"
    sample_interval = "1s"
    [broker]
    model = "pubsub"
    [[topic]]
    name = "ch"
    [[producer]]
    name = "p"
    topic = "ch"
    rate = 500
    [[consumer]]
    group = "late"
    topic = "ch"
    service_time = "100us"
    [[consumer]]
    group = "slow"
    topic = "ch"
    service_time = "3ms"
    buffer = 50
    on_overflow = "drop"
    [[fault]]
    at = "0s"
    kind = "crash"
    target = "late"
    duration = "1s"
"#;

#[test]
fn a_subscriber_never_sees_what_was_published_before_it_connected() {
    let r = run_with(&parse(PUBSUB), Delivery::AtLeastOnce, 2);
    let first_second = (r.series.produced_per_s[0] * 1.0).round() as u64;
    let late = r.groups.iter().find(|g| g.name == "late").expect("group");
    assert_eq!(
        late.dropped, first_second,
        "everything published while it was away"
    );
    assert_eq!(late.processed, late.copies - first_second);
    assert_eq!(r.dropped_by_reason["subscriber-offline"], first_second);
    assert_eq!(
        late.delivery, "at-most-once",
        "pub/sub is at-most-once by nature"
    );
}

#[test]
fn a_bounded_output_buffer_drops_and_accounts_for_it() {
    let r = run_with(&parse(PUBSUB), Delivery::AtLeastOnce, 2);
    let slow = r.groups.iter().find(|g| g.name == "slow").expect("group");
    // 500/s offered, 333/s served: about a third is dropped.
    assert!(slow.dropped > 600 && slow.dropped < 1100, "{slow:?}");
    assert!(slow.max_lag <= 50);
    assert_eq!(r.dropped_by_reason["output-buffer-full"], slow.dropped);
    assert_eq!(slow.processed + slow.dropped + slow.lost, slow.copies);
    assert!(r.conservation_ok);
}

#[test]
fn an_overflowing_subscriber_is_disconnected_and_misses_messages_until_it_reconnects() {
    let toml = PUBSUB.replace(
        "on_overflow = \"drop\"",
        "on_overflow = \"disconnect\"\n    reconnect = \"500ms\"",
    );
    let r = run_with(&parse(&toml), Delivery::AtLeastOnce, 2);
    let slow = r.groups.iter().find(|g| g.name == "slow").expect("group");
    assert!(r.dropped_by_reason["disconnected"] > 0);
    assert!(r.dropped_by_reason["subscriber-offline"] > r.dropped_by_reason["output-buffer-full"]);
    assert_eq!(slow.processed + slow.dropped + slow.lost, slow.copies);
}

#[test]
fn sqs_fifo_keeps_each_message_group_in_order_and_drops_resends() {
    let fifo = load(&root().join("scenarios/sqs-fifo.toml"));
    let mut standard = fifo.clone();
    standard.topics[0].fifo = None;
    for seed in 1..=3 {
        let f = run_with(&fifo, Delivery::AtLeastOnce, seed);
        assert_eq!(
            (
                f.messages.out_of_order,
                f.messages.duplicated,
                f.messages.lost
            ),
            (0, 0, 0),
            "seed={seed}"
        );
        let s = run_with(&standard, Delivery::AtLeastOnce, seed);
        assert!(
            s.messages.out_of_order > 0,
            "seed={seed}: a standard queue reorders under competing consumers"
        );
        assert!(
            s.messages.duplicated > 0,
            "seed={seed}: and keeps the producer's resends"
        );
    }
}

fn failing(model: &str, on_failure: &str) -> mqlab_sim::Scenario {
    let extra = if model == "exchange" {
        "bindings = [\"#\"]"
    } else {
        ""
    };
    let exchange = if model == "exchange" {
        "exchange = \"topic\""
    } else {
        ""
    };
    parse(&format!(
        r#"
        name = "failing"
        duration = "5s"
        drain = "30s"
        [broker]
        model = "{model}"
        visibility_timeout = "10s"
        max_receives = 3
        [[topic]]
        name = "t"
        {exchange}
        [[producer]]
        name = "p"
        topic = "t"
        rate = 100
        [[consumer]]
        group = "g"
        topic = "t"
        service_time = "1ms"
        max_retries = 1
        backoff = "10ms"
        on_failure = "{on_failure}"
        {extra}
        [[fault]]
        at = "1s"
        kind = "poison"
        target = "p"
        count = 3
        "#
    ))
}

#[test]
fn nack_with_requeue_loops_a_poison_message_and_dead_lettering_ends_it() {
    let looping = run_with(&failing("exchange", "requeue"), Delivery::AtLeastOnce, 1);
    // Requeued at the head, the first poison message comes straight back to the only
    // consumer: it loops, and everything behind it starves.
    let m = looping.messages;
    assert!(
        m.in_flight > 3 && m.processed + m.in_flight == m.copies,
        "{m:?}"
    );
    assert!(
        looping.messages.delivered > 1000,
        "the loop keeps redelivering: {:?}",
        looping.messages
    );
    assert!(
        looping.sim_time_s > 30.0,
        "the loop keeps the run busy to the end of the drain"
    );
    let dlx = run_with(
        &failing("exchange", "dead-letter"),
        Delivery::AtLeastOnce,
        1,
    );
    assert_eq!((dlx.messages.dead_lettered, dlx.messages.in_flight), (3, 0));
}

#[test]
fn sqs_releasing_a_failed_message_redrives_it_without_waiting_for_the_timeout() {
    let wait = run_with(&failing("queue", "wait"), Delivery::AtLeastOnce, 1);
    let release = run_with(&failing("queue", "requeue"), Delivery::AtLeastOnce, 1);
    for r in [&wait, &release] {
        assert_eq!((r.messages.dead_lettered, r.messages.lost), (3, 0));
    }
    // Three receives, each waiting out a 10s visibility timeout, against none.
    assert!(wait.sim_time_s > 25.0, "{}", wait.sim_time_s);
    assert!(release.sim_time_s < 6.0, "{}", release.sim_time_s);
}

#[test]
fn a_large_prefetch_lets_a_slow_consumer_hoard_messages() {
    let toml = |prefetch: u32| {
        format!(
            r#"
            name = "prefetch"
            duration = "20s"
            drain = "120s"
            [broker]
            model = "exchange"
            [[topic]]
            name = "work"
            exchange = "fanout"
            [[producer]]
            name = "p"
            topic = "work"
            rate = 300
            [[consumer]]
            group = "workers"
            topic = "work"
            instances = 2
            service_time = "exp(2ms)"
            prefetch = {prefetch}
            [[fault]]
            at = "0s"
            kind = "slow"
            target = "workers/0"
            factor = 50
            "#
        )
    };
    // RabbitMQ's fair dispatch: with prefetch 1 the fast worker takes nearly everything;
    // with 100 the slow one is sent a hundred messages at a time and they wait behind it.
    let fair = run_with(&parse(&toml(1)), Delivery::AtLeastOnce, 1);
    let hoarding = run_with(&parse(&toml(100)), Delivery::AtLeastOnce, 1);
    assert!(fair.latency_s.p99 < 0.2, "{:?}", fair.latency_s);
    assert!(hoarding.latency_s.p99 > 1.0, "{:?}", hoarding.latency_s);
    assert_eq!((fair.messages.lost, hoarding.messages.lost), (0, 0));
    assert!(fair.conservation_ok && hoarding.conservation_ok);
}

fn polling(wait_time: &str, batch: u32, visibility: &str) -> mqlab_sim::Scenario {
    parse(&format!(
        r#"
        name = "polling"
        duration = "60s"
        drain = "60s"
        [broker]
        model = "queue"
        visibility_timeout = "{visibility}"
        [[topic]]
        name = "q"
        [[producer]]
        name = "p"
        topic = "q"
        rate = 5
        [[consumer]]
        group = "g"
        topic = "q"
        instances = 2
        service_time = "100ms"
        wait_time = "{wait_time}"
        poll_interval = "200ms"
        batch = {batch}
        "#
    ))
}

#[test]
fn short_polling_pays_in_empty_receives_and_waiting_long_polling_does_not() {
    let short = run_with(&polling("0", 1, "30s"), Delivery::AtLeastOnce, 1);
    let long = run_with(&polling("20s", 1, "30s"), Delivery::AtLeastOnce, 1);
    let (s, l) = (&short.groups[0], &long.groups[0]);
    // Two consumers idle about half the time, polling every 200ms: some 300 empty
    // receives a minute; long polls of 20s: a handful.
    assert!(s.empty_receives > 200, "{s:?}");
    assert!(l.empty_receives < 20, "{l:?}");
    // A message reaching idle short-pollers waits for the next poll (about 100ms on
    // average); a long poll returns at once.
    assert!(
        s.wait_mean_s > 0.05 && l.wait_mean_s < 0.02,
        "{} vs {}",
        s.wait_mean_s,
        l.wait_mean_s
    );
    assert_eq!((short.messages.lost, long.messages.lost), (0, 0));
}

#[test]
fn a_batch_receive_starts_every_visibility_timeout_at_once() {
    // Ten messages at 100ms each take a second to work through; with a 500ms visibility
    // timeout the back of each batch becomes visible again and is processed twice.
    let toml = |batch| {
        let mut s = polling("20s", batch, "500ms");
        s.producers[0].rate = toml::Spanned::new(0..0, 15.0);
        s
    };
    let single = run_with(&toml(1), Delivery::AtLeastOnce, 1);
    let batched = run_with(&toml(10), Delivery::AtLeastOnce, 1);
    assert_eq!(single.messages.duplicated, 0, "{:?}", single.messages);
    assert!(batched.messages.duplicated > 0, "{:?}", batched.messages);
    assert!(batched.conservation_ok && batched.messages.lost == 0);
}

#[test]
fn sqs_fifo_deduplicates_only_within_its_window() {
    let mut s = load(&root().join("scenarios/sqs-fifo.toml"));
    // Resends leave at the earliest one request timeout (5ms) after the first send.
    s.topics[0].dedup_window = mqlab_sim::SimDuration::from_millis(1);
    let r = run_with(&s, Delivery::AtLeastOnce, 1);
    assert!(r.messages.duplicated > 0, "{:?}", r.messages);
    assert_eq!(r.messages.lost, 0);
}
