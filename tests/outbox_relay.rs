//! The outbox relay as a service (issue 13, item 4): pollers reading the outbox table
//! with `SELECT ... FOR UPDATE SKIP LOCKED`, publishing through the ordinary produce path
//! and deleting a row only once its publish is acknowledged. A relay crash between the
//! publish and the mark republishes; one poller serves at most `relay_batch` rows per
//! `relay_interval`; the relay is a fault target of its own.

use crate::support::{parse, run, run_with};
use mqlab_sim::summary::ServiceSummary;
use mqlab_sim::{Delivery, RunSummary, Scenario};

fn service(s: &RunSummary) -> &ServiceSummary {
    assert_eq!(s.services.len(), 1, "{:?}", s.services);
    &s.services[0]
}

/// One order at 1 s (its commit point at 1.015 s with 10 ms round trips). The parked relay
/// wakes: its SELECT reaches the database at 1.025 s (5 ms sleep, half a round trip), the
/// rows reach it at 1.030 s and it publishes (an instant network acknowledges at once);
/// its DELETE and COMMIT are durable at 1.035 s, and it hears so at 1.040 s.
fn one_order_relay_crash(crash_at: &str) -> RunSummary {
    run(
        &parse(&format!(
            r#"
name = "one-order-relay"
duration = "1.5s"

[[topic]]
name = "orders"

[[producer]]
name = "svc"
topic = "orders"
rate = 1
arrival = "constant"
publish = "outbox"
db_latency = "10ms"
relay_interval = "5ms"

[[consumer]]
group = "billing"
topic = "orders"
delivery = "at-least-once"

[[fault]]
at = "{crash_at}"
kind = "crash"
target = "relay/svc"
duration = "100ms"
"#
        )),
        1,
    )
}

#[test]
fn a_relay_crash_between_publish_and_mark_republishes_the_row() {
    // Published at 1.030 s, the mark not yet durable at 1.032 s: the database releases
    // the dead session's lock, the row stays, and the restarted relay publishes it again.
    let r = one_order_relay_crash("1.032s");
    let svc = service(&r);
    assert_eq!((svc.committed, svc.published), (1, 1), "{svc:?}");
    assert_eq!(svc.republished, 1, "{svc:?}");
    assert_eq!(
        svc.refused, 0,
        "the service itself never went down: {svc:?}"
    );
    assert_eq!(svc.outbox_rows, 0, "{svc:?}");
    // At-least-once downstream: the same order twice, nothing lost.
    assert_eq!(r.messages.duplicated, 1, "{:?}", r.messages);
    assert_eq!(r.messages.lost, 0);
    assert!(r.conservation_ok);
    // A crash before the publish (the SELECT ran, its rows not yet back) only releases
    // the lock; one after the mark is durable changes nothing.
    for at in ["1.027s", "1.037s", "1.045s"] {
        let r = one_order_relay_crash(at);
        let svc = service(&r);
        assert_eq!(
            (svc.published, svc.republished),
            (1, 0),
            "crash at {at}: {svc:?}"
        );
        assert_eq!(r.messages.duplicated, 0, "crash at {at}");
        assert_eq!(r.messages.processed, 1, "crash at {at}");
    }
}

/// The shipped scenario with the service's crashes replaced by crashes of its relay alone
/// (`relay/order-service`), and `extra` appended to the producer.
fn relay_crashes(extra: &str) -> Scenario {
    let text = std::fs::read_to_string(crate::support::root().join("scenarios/outbox.toml"))
        .expect("readable scenario")
        .replace(
            "target = \"order-service\"",
            "target = \"relay/order-service\"",
        )
        .replace("relay_batch = 100", &format!("relay_batch = 100\n{extra}"));
    parse(&text)
}

#[test]
fn relay_crashes_alone_duplicate_under_at_least_once_and_lose_nothing() {
    let s = relay_crashes("relay_instances = 2");
    let r = run_with(&s, Delivery::AtLeastOnce, s.seed);
    let svc = service(&r);
    assert_eq!(svc.relay_instances, 2);
    // The order service never crashed: nothing refused, no transaction rolled back by a
    // crash (only failed commits, about 0.1%).
    assert_eq!(svc.refused, 0, "{svc:?}");
    assert!(svc.aborted * 100 < svc.committed, "{svc:?}");
    assert!(svc.republished > 0, "{svc:?}");
    assert!(r.messages.duplicated > 0, "{:?}", r.messages);
    assert!(r.messages.duplicated <= svc.republished);
    assert_eq!(r.messages.lost, 0);
    assert_eq!(svc.outbox_rows, 0, "{svc:?}");
    assert_eq!(r.messages.processed, svc.committed);
    // The deduplicating consumer of the shipped scenario applies each once.
    let exactly = run_with(&s, Delivery::ExactlyOnce, s.seed);
    assert!(exactly.ok(), "{:?}", exactly.expectations);
    assert_eq!(exactly.messages.duplicated, 0);
}

/// Orders at 2,000/s against one poller of `relay_batch = 10` every 20 ms (at most 500
/// rows/s), 1 ms round trips and an instant network.
fn overloaded(instances: u32) -> RunSummary {
    run(
        &parse(&format!(
            r#"
name = "relay-bound"
duration = "4s"
drain = "0s"

[[topic]]
name = "orders"
partitions = 2

[[producer]]
name = "svc"
topic = "orders"
rate = 2000
publish = "outbox"
db_latency = "1ms"
relay_interval = "20ms"
relay_batch = 10
relay_instances = {instances}

[[consumer]]
group = "billing"
topic = "orders"
instances = 4
service_time = "exp(100us)"
delivery = "exactly-once"
"#
        )),
        7,
    )
}

#[test]
fn one_poller_serves_at_most_relay_batch_rows_per_relay_interval() {
    let r = overloaded(1);
    let svc = service(&r);
    let secs = 4.0;
    // The bound: B rows per interval. Exactly, a cycle is the sleep plus the SELECT's and
    // the mark's round trips (acknowledgements are instant here): 10 / 22 ms.
    let bound = 10.0 / 0.020 * secs;
    let cycle = 10.0 / 0.022 * secs;
    let published = svc.published as f64;
    assert!(published <= bound, "{published} rows > bound {bound}");
    assert!(
        (published - cycle).abs() <= 0.02 * cycle,
        "{published} rows, one full batch per 22 ms cycle gives {cycle}"
    );
    // Everything else waits in the table: it grows at the arrival rate minus the relay's.
    let excess = svc.committed as f64 - published;
    assert!(excess > 0.7 * 2000.0 * secs, "{svc:?}");
    // Rows left: the unpublished ones, and any of the last batch published but not yet
    // deleted when the run stops.
    let left = svc.outbox_rows as f64;
    assert!((excess..=excess + 10.0).contains(&left), "{svc:?}");
    assert!(svc.outbox_peak >= svc.outbox_rows, "{svc:?}");
    // A row waits for the ones committed before it: the relay's stage latency grows
    // through the run, to most of the run at the end.
    assert!(
        svc.relay_latency_s.max > 0.5 * secs,
        "{:?}",
        svc.relay_latency_s
    );
    // Two pollers skip each other's locked rows and serve twice as much, nothing twice.
    let two = overloaded(2);
    let svc2 = service(&two);
    assert_eq!(svc2.republished, 0, "{svc2:?}");
    let ratio = svc2.published as f64 / published;
    assert!((1.9..=2.05).contains(&ratio), "two pollers: {ratio}x");
    assert_eq!(two.messages.duplicated, 0);
}

fn with_fault(target: &str, kind: &str) -> Result<Scenario, String> {
    let text = format!(
        r#"
name = "relay-target"
duration = "1s"

[[topic]]
name = "orders"

[[producer]]
name = "svc"
topic = "orders"
rate = 100
publish = "outbox"
relay_instances = 2

[[producer]]
name = "plain"
topic = "orders"
rate = 10

[[consumer]]
group = "billing"
topic = "orders"

[[fault]]
at = "100ms"
kind = "{kind}"
target = "{target}"
duration = "100ms"
factor = 2.0
"#
    );
    Scenario::from_toml(&text, "inline.toml").map_err(|e| e.to_string())
}

#[test]
fn the_relay_is_targeted_by_the_ordinary_fault_syntax() {
    for target in ["relay/svc", "relay/svc/0", "relay/svc/1"] {
        let s = with_fault(target, "crash").unwrap_or_else(|e| panic!("{target}: {e}"));
        let r = run(&s, 3);
        assert_eq!(service(&r).refused, 0, "{target} leaves the service up");
        assert!(r.conservation_ok, "{target}");
    }
    for (target, kind, says) in [
        ("relay/svc/2", "crash", "names nothing"),
        ("relay/plain", "crash", "names nothing"),
        ("relay/nobody", "crash", "names nothing"),
        ("relay/svc", "slow", "an outbox relay takes a crash only"),
    ] {
        let e = with_fault(target, kind).expect_err(target);
        assert!(e.contains(says), "{target}: {e}");
        assert!(e.contains("inline.toml:"), "{target}: {e}");
    }
}

#[test]
fn relay_instances_needs_an_outbox_and_at_least_one() {
    let base = r#"
name = "x"
duration = "1s"
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 1
"#;
    let e = Scenario::from_toml(&format!("{base}relay_instances = 2\n"), "x.toml")
        .expect_err("no outbox")
        .to_string();
    assert!(e.contains("relay_instances") && e.contains("outbox"), "{e}");
    let e = Scenario::from_toml(
        &format!("{base}publish = \"outbox\"\nrelay_instances = 0\n"),
        "x.toml",
    )
    .expect_err("zero")
    .to_string();
    assert!(e.contains("relay_instances is from 1"), "{e}");
}
