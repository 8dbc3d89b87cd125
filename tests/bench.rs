//! `mqlab bench` on the command line, without a broker: what it refuses, and how. (The
//! runs against real servers are in `bench/tests/real.rs`.)

use crate::support::mqlab;

#[test]
fn bench_refuses_a_network_table_with_exit_2() {
    let out = mqlab()
        .args([
            "bench",
            "scenarios/network-partition.toml",
            "--broker",
            "redis://127.0.0.1:1",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("scenarios/network-partition.toml"), "{err}");
    assert!(err.contains("`network` (line 18)"), "{err}");
    assert!(err.contains("loopback"), "{err}");
}

#[test]
fn bench_bad_url_and_refused_connection_exit_2_with_the_url() {
    let out = mqlab()
        .args([
            "bench",
            "scenarios/rabbitmq-topic-routing.toml",
            "--broker",
            "kafka://h:1",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("bad broker URL `kafka://h:1`"), "{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("amqp://127.0.0.1:{port}");
    let out = mqlab()
        .args([
            "bench",
            "scenarios/rabbitmq-topic-routing.toml",
            "--broker",
            &url,
        ])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    // Refused at once as a rule; under load lapin's handshake may instead run into the
    // driver's connect timeout. Either way a clear error naming the URL, never a hang.
    assert!(
        err.contains(&url) && (err.contains("refused") || err.contains("no answer within")),
        "{err}"
    );
}

#[test]
fn bench_names_the_key_and_line_it_cannot_map() {
    let out = mqlab()
        .args([
            "bench",
            "scenarios/slow-consumer.toml",
            "--broker",
            "redis://127.0.0.1:1",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("`broker.capacity` (line 14)"), "{err}");
}

#[test]
fn bench_says_which_broker_a_topic_needs_before_judging_its_keys() {
    // A log scenario against RabbitMQ: the URL is what is wrong, not `broker.capacity`.
    let out = mqlab()
        .args([
            "bench",
            "scenarios/slow-consumer.toml",
            "--broker",
            "amqp://127.0.0.1:1",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("`topic[0].name` (line 18)") && err.contains("redis://"),
        "{err}"
    );
}

#[test]
fn bench_amqp_client_names_the_flag_and_its_choices() {
    let out = mqlab()
        .args([
            "bench",
            "scenarios/rabbitmq-topic-routing.toml",
            "--broker",
            "amqp://127.0.0.1:1",
            "--amqp-client",
            "amqprs",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("--amqp-client"), "{err}");
    assert!(err.contains("`amqprs`"), "{err}");
    assert!(err.contains("`lapin`") && err.contains("`wire`"), "{err}");
    // A client for RabbitMQ means nothing to Redis: refused before connecting.
    let out = mqlab()
        .args([
            "bench",
            "scenarios/redis-pubsub-slow-subscriber.toml",
            "--broker",
            "redis://127.0.0.1:1",
            "--amqp-client",
            "wire",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("--amqp-client wire"), "{err}");
    assert!(err.contains("not AMQP"), "{err}");
}
