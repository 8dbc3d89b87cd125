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
    assert_eq!(r.dropped_by_reason.get("unroutable"), None);
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
    assert_eq!(r.dropped_by_reason.get("unroutable"), Some(&f));
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
