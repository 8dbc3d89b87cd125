//! Shared by the real-server test binaries: one test at a time, spawn a broker per run,
//! and skip (or, under `MQLAB_REQUIRE_BROKERS=1`, fail) by name when a server is missing.
//! `MQLAB_AMQP_CLIENT=wire` (or `lapin`) runs every RabbitMQ test that does not name its
//! client on that one, so the whole suite can be played on each.
#![allow(dead_code)]

use mqlab_bench::spawn::{INSTALL, server_binary};
use mqlab_bench::{AmqpClient, BenchOptions, BenchResult, BrokerKind, BrokerUrl};
use mqlab_sim::{Delivery, Engine, RunSummary, Scenario};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A topic exchange whose routing keys the model and RabbitMQ must match alike: four
/// groups, and keys no binding matches (returned to the publisher, unroutable).
pub const TOPIC_ROUTING: &str = r##"
name = "topic-routing"
seed = 21
duration = "3s"
drain = "10s"
[broker]
model = "exchange"
[[topic]]
name = "events"
exchange = "topic"
[[producer]]
name = "mixed"
topic = "events"
rate = 400
routing_keys = ["user.created", "user.profile.updated", "order.created", "order.shipped", "payment.error", "audit.login", "user.login.error"]
[[consumer]]
group = "users"
topic = "events"
bindings = ["user.#"]
instances = 2
service_time = "exp(200us)"
prefetch = 10
[[consumer]]
group = "created"
topic = "events"
bindings = ["*.created"]
service_time = "exp(200us)"
[[consumer]]
group = "orders"
topic = "events"
bindings = ["order.*"]
service_time = "exp(200us)"
[[consumer]]
group = "errors"
topic = "events"
bindings = ["#.error"]
service_time = "exp(200us)"
"##;

/// One real-broker test at a time: they measure time, and the machine has two cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the one-at-a-time lock.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The one-at-a-time lock for a test that needs `kind`'s server, or `None` (the test is
/// skipped, `have` says so) when it is not installed.
pub fn exclusive(kind: BrokerKind) -> Option<MutexGuard<'static, ()>> {
    have(kind).then(serial)
}

/// Whether `kind`'s server is installed; says the test is skipped (or fails under
/// `MQLAB_REQUIRE_BROKERS=1`) when not, naming it by its thread: the test harness names
/// each test's thread after the test, so a renamed test cannot skip under its old name.
pub fn have(kind: BrokerKind) -> bool {
    if server_binary(kind).is_some() {
        return true;
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    assert!(
        std::env::var("MQLAB_REQUIRE_BROKERS").as_deref() != Ok("1"),
        "{test}: {} is not installed and MQLAB_REQUIRE_BROKERS=1; install with `{INSTALL}`",
        kind.package()
    );
    eprintln!(
        "SKIPPED {test}: {} is not installed; install with `{INSTALL}`",
        kind.package()
    );
    false
}

/// Runs `src` against a spawned `kind`, with every group's delivery set to `delivery`, on
/// the AMQP client `MQLAB_AMQP_CLIENT` names (the default when unset).
pub fn bench(src: &str, kind: BrokerKind, delivery: Option<Delivery>) -> (BenchResult, Scenario) {
    bench_with(src, kind, delivery, env_client(kind))
}

/// `MQLAB_AMQP_CLIENT` for a RabbitMQ run; a value that names no client fails the test.
fn env_client(kind: BrokerKind) -> Option<AmqpClient> {
    let name = std::env::var("MQLAB_AMQP_CLIENT").ok()?;
    if kind != BrokerKind::Amqp {
        return None;
    }
    match name.as_str() {
        "lapin" => Some(AmqpClient::Lapin),
        "wire" => Some(AmqpClient::Wire),
        other => panic!("MQLAB_AMQP_CLIENT={other}: expected `lapin` or `wire`"),
    }
}

/// `bench` with RabbitMQ's client chosen (`--amqp-client`).
pub fn bench_with(
    src: &str,
    kind: BrokerKind,
    delivery: Option<Delivery>,
    amqp_client: Option<AmqpClient>,
) -> (BenchResult, Scenario) {
    let mut sc = Scenario::from_toml(src, "test.toml").expect("valid scenario");
    if let Some(d) = delivery {
        sc.set_delivery(d);
    }
    let opts = BenchOptions {
        seed: sc.seed,
        scenario: sc.clone(),
        source: src.into(),
        file: "test.toml".into(),
        broker: BrokerUrl {
            kind,
            host: "127.0.0.1".into(),
            port: None,
        },
        spawn: true,
        amqp_client,
    };
    let started = Instant::now();
    let r = mqlab_bench::run(&opts).expect("bench runs");
    assert!(started.elapsed() < Duration::from_secs(120), "bounded run");
    assert_eq!(r.partial, None, "the run completed");
    (r, sc)
}

/// A bench run and, beside it, the model's run of the same scenario from its seed, its
/// broker crashes as long as the real server's outages were (as `--vs-model` runs it).
pub fn with_model((r, sc): (BenchResult, Scenario)) -> (BenchResult, RunSummary) {
    let measured = mqlab_bench::outage::as_measured(&sc, &r.outages);
    let model = Engine::new(measured.as_ref().unwrap_or(&sc), sc.seed).run();
    (r, model)
}
