//! Integration tests against the real servers, each spawned by the same `--spawn` code the
//! CLI uses (and killed by its guard, even when a test panics). Without the servers
//! installed each test prints that it is skipped, by name, with the install command; under
//! `MQLAB_REQUIRE_BROKERS=1` (set by `.ci/run`) a missing server fails the test instead.

mod common;

use common::{TOPIC_ROUTING, bench, bench_with, exclusive, with_model};
use mqlab_bench::spawn::SpawnedBroker;
use mqlab_bench::{AmqpClient, BenchOptions, BrokerKind, BrokerUrl};
use mqlab_sim::{Delivery, Engine, Scenario};
use std::time::{Duration, Instant};

/// RabbitMQ's own topic matching (`*` one word, `#` zero or more) puts in each queue the
/// copies the model routes there, and returns (mandatory) exactly the messages the model
/// calls unroutable.
#[test]
fn rabbitmq_topic_exchange_copies_and_unroutable_equal_the_models() {
    let Some(_one) = exclusive(BrokerKind::Amqp) else {
        return;
    };
    // The default client, whatever `MQLAB_AMQP_CLIENT` says.
    let (r, sc) = bench_with(TOPIC_ROUTING, BrokerKind::Amqp, None, None);
    let model = Engine::new(&sc, sc.seed).run();
    assert_probe_used(&r, &sc);
    assert_group_views(&r, &sc);
    let s = &r.summary;
    assert_eq!(s.messages.produced, model.messages.produced);
    assert_eq!(r.misrouted, 0, "no delivery outside the model's routing");
    for (real, m) in s.groups.iter().zip(&model.groups) {
        assert_eq!(real.name, m.name);
        assert_eq!(real.copies, m.copies, "copies of {}", m.name);
        assert_eq!(real.processed, m.copies, "every copy reached {}", m.name);
        assert_eq!(real.duplicated, 0);
    }
    assert!(
        model.messages.unroutable > 0,
        "the scenario has unroutable keys"
    );
    assert_eq!(s.messages.unroutable, model.messages.unroutable);
    assert!(s.conservation_ok);
    assert_eq!(s.trace_hash, "", "a real run has no trace hash");
    assert_eq!(r.source.broker, "rabbitmq");
    assert_eq!(r.source.client.as_deref(), Some("lapin"), "the default");
    assert!(r.source.spawned);
}

/// The driver's own AMQP client (`--amqp-client wire`) plays the same run: every copy the
/// topic exchange makes is processed, the unroutable ones are the model's, nothing lost.
#[test]
fn rabbitmq_topic_routing_on_the_wire_client_loses_nothing() {
    let Some(_one) = exclusive(BrokerKind::Amqp) else {
        return;
    };
    let (r, sc) = bench_with(
        TOPIC_ROUTING,
        BrokerKind::Amqp,
        None,
        Some(mqlab_bench::AmqpClient::Wire),
    );
    let model = Engine::new(&sc, sc.seed).run();
    assert_probe_used(&r, &sc);
    assert_group_views(&r, &sc);
    let s = &r.summary;
    assert_eq!(s.messages.produced, model.messages.produced);
    for (real, m) in s.groups.iter().zip(&model.groups) {
        assert_eq!(real.copies, m.copies, "copies of {}", m.name);
        assert_eq!(real.processed, m.copies, "every copy reached {}", m.name);
        assert_eq!(real.lost, 0, "{}", m.name);
    }
    assert_eq!(s.messages.unroutable, model.messages.unroutable);
    assert!(s.conservation_ok);
    assert!(r.partial.is_none());
    assert_eq!(r.source.client.as_deref(), Some("wire"));
}

/// One consumer, overloaded (so a message is always in hand), acks every second with room
/// for 200 unacked, crashes at 1.5s for 500ms: half a second after an ack, so it holds
/// copies it processed and has not acked, however slow the machine.
const CRASH: &str = r#"
name = "crash"
seed = 4
duration = "2s"
drain = "20s"
[broker]
model = "exchange"
[[topic]]
name = "jobs"
exchange = "direct"
[[producer]]
name = "p"
topic = "jobs"
rate = 300
keys = 10
routing_keys = ["job"]
[[consumer]]
group = "workers"
topic = "jobs"
bindings = ["job"]
service_time = "4ms"
prefetch = 200
commit_interval = "1s"
[[fault]]
at = "1500ms"
kind = "crash"
target = "workers/0"
duration = "500ms"
"#;

/// Dropping a consumer's connection mid-run: RabbitMQ requeues everything unacked. At
/// least once (ack after processing, batched) replays the processed-but-unacked ones:
/// duplicates, nothing lost. At most once (ack first) loses the one in hand. Exactly
/// once (idempotency record committed with the effect) neither. On both clients: the
/// session loop is theirs in common, the crash's close is each one's own.
#[test]
fn rabbitmq_consumer_connection_dropped_under_each_delivery_variant() {
    let Some(_one) = exclusive(BrokerKind::Amqp) else {
        return;
    };
    for client in [AmqpClient::Lapin, AmqpClient::Wire] {
        let run = |d| bench_with(CRASH, BrokerKind::Amqp, Some(d), Some(client)).0;
        let alo = run(Delivery::AtLeastOnce);
        let m = &alo.summary.messages;
        assert_eq!(m.lost, 0, "{client:?}: at-least-once loses nothing");
        assert!(
            m.duplicated > 0,
            "{client:?}: at-least-once replays processed-but-unacked copies"
        );
        assert_eq!(m.processed, m.copies, "{client:?}");

        let amo = run(Delivery::AtMostOnce);
        let m = &amo.summary.messages;
        assert!(
            m.lost >= 1,
            "{client:?}: at-most-once loses the message in hand: {m:?}"
        );
        assert!(
            m.lost <= 2,
            "{client:?}: only what was in hand (prefetched ones go back): {m:?}"
        );
        assert_eq!(m.duplicated, 0, "{client:?}");

        let eo = run(Delivery::ExactlyOnce);
        let m = &eo.summary.messages;
        assert_eq!(
            (m.lost, m.duplicated),
            (0, 0),
            "{client:?}: exactly-once: {m:?}"
        );
        assert_eq!(m.processed, m.copies, "{client:?}");
        for r in [&alo, &amo, &eo] {
            assert!(r.summary.conservation_ok, "{client:?}");
        }
    }
}

const SLOW_SUBSCRIBER: &str = r#"
name = "slow-subscriber"
seed = 3
duration = "5s"
drain = "3s"
[broker]
model = "pubsub"
[[topic]]
name = "prices"
[[producer]]
name = "ticker"
topic = "prices"
rate = 2000
payload_bytes = 4000
[[consumer]]
group = "fast"
topic = "prices"
service_time = "exp(100us)"
buffer = 200
[[consumer]]
group = "slow"
topic = "prices"
service_time = "2ms"
buffer = 200
reconnect = "300ms"
"#;

/// A subscriber at half the publish rate: the real server closes it at its
/// client-output-buffer-limit, and the copies it missed are dropped (not lost), as in the
/// model; the fast subscriber gets everything.
#[test]
fn redis_pubsub_slow_subscriber_is_disconnected_and_its_misses_dropped() {
    let Some(_one) = exclusive(BrokerKind::Redis) else {
        return;
    };
    let (r, model) = with_model(bench(SLOW_SUBSCRIBER, BrokerKind::Redis, None));
    let s = &r.summary;
    let (fast, slow) = (&s.groups[0], &s.groups[1]);
    assert_eq!(
        (fast.processed, fast.dropped, fast.lost),
        (fast.copies, 0, 0)
    );
    assert!(
        s.dropped_by_reason
            .get("disconnected")
            .copied()
            .unwrap_or(0)
            > 0,
        "{:?}",
        s.dropped_by_reason
    );
    assert!(slow.dropped > 0 && slow.lost == 0, "{slow:?}");
    assert!(model.groups[1].dropped > 0, "the model drops too");
    assert!(s.conservation_ok);
    assert_eq!(r.source.broker, "redis");
    assert!(r.source.version.starts_with('7'), "{}", r.source.version);
}

/// A broker killed mid-run gives a partial result, quickly, not a hang.
#[test]
fn redis_killed_mid_run_gives_a_partial_result() {
    let Some(_one) = exclusive(BrokerKind::Redis) else {
        return;
    };
    let url = BrokerUrl::parse("redis").unwrap();
    let mut broker = SpawnedBroker::start(&url).expect("redis starts");
    let sc = Scenario::from_toml(SLOW_SUBSCRIBER, "t.toml").unwrap();
    let opts = BenchOptions {
        seed: 3,
        scenario: sc,
        source: SLOW_SUBSCRIBER.into(),
        file: "t.toml".into(),
        broker: broker.url(),
        spawn: false,
        amqp_client: None,
    };
    // Kill only once the workload flows: a listener of our own has seen a message.
    let client = redis::Client::open(broker.url().to_string()).unwrap();
    let mut con = client.get_connection().unwrap();
    con.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut listener = con.as_pubsub();
    listener.subscribe("prices").unwrap();
    let started = Instant::now();
    let run = std::thread::spawn(move || mqlab_bench::run(&opts));
    listener.get_message().expect("the workload publishes");
    broker.kill();
    let r = run
        .join()
        .expect("no panic")
        .expect("a result, marked partial");
    assert!(started.elapsed() < Duration::from_secs(30), "no hang");
    let why = r.partial.expect("partial");
    assert!(
        why.contains("producer") || why.contains("subscriber"),
        "{why}"
    );
    assert!(r.summary.messages.produced < 10_000);
}

/// Refused connections and bad URLs are errors at once, naming the URL.
#[test]
fn refused_connection_and_bad_url_are_clear_errors() {
    let sc = Scenario::from_toml(SLOW_SUBSCRIBER, "t.toml").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for kind in ["redis", "amqp"] {
        let src = if kind == "redis" {
            SLOW_SUBSCRIBER
        } else {
            CRASH
        };
        let sc2 = Scenario::from_toml(src, "t.toml").unwrap();
        let url = format!("{kind}://127.0.0.1:{closed}");
        let opts = BenchOptions {
            seed: 1,
            scenario: sc2,
            source: src.into(),
            file: "t.toml".into(),
            broker: BrokerUrl::parse(&url).unwrap(),
            spawn: false,
            amqp_client: None,
        };
        let started = Instant::now();
        let e = mqlab_bench::run(&opts).unwrap_err().to_string();
        assert!(e.contains(&url), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{kind}: no hang"
        );
    }
    let opts = BenchOptions {
        seed: 1,
        scenario: sc,
        source: SLOW_SUBSCRIBER.into(),
        file: "t.toml".into(),
        broker: BrokerUrl::parse("amqp://127.0.0.1:1").unwrap(),
        spawn: false,
        amqp_client: None,
    };
    let e = mqlab_bench::run(&opts).unwrap_err().to_string();
    assert!(e.contains("maps onto redis-server"), "{e}");
}

/// A queue capped at 20 fed at 200/s and drained at 100/s: about half the messages find
/// it full. The service time is long (10 ms) so that the real consumer's own overhead per
/// message (a sleep's overshoot, the ack) is a few percent of it, and `prefetch = 2` keeps
/// the next message in the client while one is served (at prefetch 1 each message waits
/// for the previous ack's round trip: on a loaded machine a millisecond or more, and each
/// millisecond per message is about 25 more drops over the run).
const LIMIT: &str = r#"
name = "limit"
seed = 8
duration = "3s"
drain = "10s"
[broker]
model = "exchange"
capacity = 20
on_full = "drop-oldest"
[[topic]]
name = "jobs"
[[producer]]
name = "p"
topic = "jobs"
rate = 200
arrival = "constant"
routing_keys = ["job"]
[[consumer]]
group = "workers"
topic = "jobs"
bindings = ["job"]
service_time = "10ms"
prefetch = 2
"#;

/// `x-max-length` with `drop-head` (dead-lettered to a queue the driver reads) and with
/// `reject-publish` (publisher nacks): each dropped copy is known, and the count agrees
/// within 15% with the model's, run at the real consumer's measured pace. The two differ by how fast the real consumer really is
/// (its overhead per message, more on a busy machine, drains less and drops more) and by
/// when the queue first fills, a few messages either way.
#[test]
fn rabbitmq_max_length_drops_agree_with_the_model() {
    let Some(_one) = exclusive(BrokerKind::Amqp) else {
        return;
    };
    for on_full in ["drop-oldest", "reject"] {
        let src = LIMIT.replace("drop-oldest", on_full);
        let (r, sc) = bench(&src, BrokerKind::Amqp, None);
        let nominal = Engine::new(&sc, sc.seed).run();
        assert!(
            nominal.messages.dead_lettered + nominal.messages.dropped > 200,
            "{on_full}: the model drops about half: {:?}",
            nominal.messages
        );
        // The real consumer's own overhead per message (a sleep's overshoot, the delivery
        // and ack round trips) is milliseconds on a loaded machine, and each millisecond is
        // about 25 more drops: the model runs with the time per message the real consumer
        // took while the queue was full (it is busy all along), so what is compared is the
        // broker's limit, not the machine's load.
        let per_message = 1.0 / r.summary.throughput.processed_per_s.max(1.0);
        let mut calibrated = sc.clone();
        calibrated.consumers[0].service_time =
            mqlab_sim::dist::Dist::Const(mqlab_sim::SimDuration((per_message * 1e9) as u64));
        let model = Engine::new(&calibrated, sc.seed).run();
        // A dropped head goes to the group's dead-letter exchange (dead-lettered); a
        // rejected publish is dropped with its reason.
        let gone = |m: &mqlab_sim::summary::Messages| m.dead_lettered + m.dropped;
        let (real, modeled) = (gone(&r.summary.messages), gone(&model.messages));
        let tolerance = modeled * 15 / 100;
        assert!(
            real.abs_diff(modeled) <= tolerance,
            "{on_full}: real {real} vs model {modeled} (tolerance {tolerance})"
        );
        if on_full == "reject" {
            assert_eq!(
                r.summary.dropped_by_reason.get("reject").copied(),
                Some(real)
            );
        } else {
            assert_eq!(r.summary.messages.dead_lettered, real);
        }
        assert_eq!(r.summary.messages.lost, 0, "{on_full}: every drop is known");
        assert!(r.summary.conservation_ok);
    }
}

/// The probe's figures are real measurements (positive, finite, a per-message time far
/// below a millisecond on loopback) and `calibrate` puts both into the model: its p50
/// latency holds the one-way trip and the broker's per-message time, which a model run
/// with the round trip alone lacks by that time (at 200/s nothing queues at the broker,
/// so the difference is one ingest).
/// A real run's group rows carry the same latency views and throughput as the model's
/// (they were zero: `rate/s 0.0`, `p50 0`): every group that processed something has a
/// positive median no larger than its p99, a percentile ladder, and a rate while producing
/// no larger than everything it processed over the producing period.
fn assert_group_views(r: &mqlab_bench::BenchResult, sc: &Scenario) {
    let duration_s = sc.duration.as_secs_f64();
    for g in r.summary.groups.iter().filter(|g| g.processed > 0) {
        let l = &g.latency_s;
        assert!(
            l.p50 > 0.0 && l.p50 <= l.p99 && l.p99 <= l.max,
            "{}: {l:?}",
            g.name
        );
        assert_eq!(g.latency_p99_s, l.p99, "{}", g.name);
        assert!(!g.latency_by_percentile_s.is_empty(), "{}", g.name);
        assert!(
            g.processed_per_s > 0.0 && g.processed_per_s <= g.processed as f64 / duration_s + 1e-9,
            "{}: {} per s of {} processed",
            g.name,
            g.processed_per_s,
            g.processed
        );
    }
}

fn assert_probe_used(r: &mqlab_bench::BenchResult, sc: &Scenario) {
    let p = r.probe.expect("a real run has a probe");
    assert!(p.rtt_s.is_finite() && p.rtt_s > 0.0, "{p:?}");
    assert!(
        p.per_message_s.is_finite() && p.per_message_s > 0.0,
        "{p:?}"
    );
    assert!(
        p.per_message_s < 1e-3,
        "a loopback broker per message: {p:?}"
    );
    assert_eq!(p.rtt_s, r.loopback_rtt_s);
    let calibrated = mqlab_bench::probe::calibrate(sc, &p);
    let with = Engine::new(&calibrated, sc.seed).run().latency_s.p50;
    let mut wire_only = calibrated.clone();
    wire_only.broker.bandwidth = None;
    let without = Engine::new(&wire_only, sc.seed).run().latency_s.p50;
    assert!(with >= p.rtt_s / 2.0 + p.per_message_s, "{with} vs {p:?}");
    assert!(
        with - without >= 0.9 * p.per_message_s,
        "{with} - {without} vs {p:?}"
    );
}

const LIGHT: &str = r#"
name = "light"
seed = 2
duration = "1s"
drain = "2s"
[broker]
model = "pubsub"
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 200
arrival = "constant"
[[consumer]]
group = "g"
topic = "t"
service_time = "0s"
"#;

/// The probe on Redis pub/sub and Redis Streams (its burst takes the workload's path).
#[test]
fn redis_probe_measures_the_per_message_overhead_and_the_model_uses_it() {
    let Some(_one) = exclusive(BrokerKind::Redis) else {
        return;
    };
    let (r, sc) = bench(LIGHT, BrokerKind::Redis, None);
    assert_probe_used(&r, &sc);
    assert_group_views(&r, &sc);
    let log = LIGHT.replace("\"pubsub\"", "\"log\"");
    let (r, sc) = bench(&log, BrokerKind::Redis, None);
    assert_probe_used(&r, &sc);
    assert_group_views(&r, &sc);
}
