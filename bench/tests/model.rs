//! Model checks against the brokers' documented semantics that need no server (the
//! real-server checks are in `real.rs`).

use mqlab_sim::{Engine, Scenario};

/// RabbitMQ's basic.qos: "once the number [of unacknowledged deliveries] reaches the
/// configured count, RabbitMQ will stop delivering more messages on the channel unless
/// at least one of the outstanding ones is acknowledged". With `prefetch = 1` and acks
/// every 500 ms a consumer can take at most one message per ack interval, however fast
/// it serves: about 10 in 5 s, where the model used to take one beyond `prefetch` each
/// time and process all 100 published.
#[test]
fn an_amqp_consumer_at_its_prefetch_takes_nothing_until_it_acks() {
    let src = r#"
        name = "prefetch-bound"
        duration = "5s"
        drain = "0s"
        [broker]
        model = "exchange"
        [[topic]]
        name = "jobs"
        [[producer]]
        name = "p"
        topic = "jobs"
        rate = 20
        arrival = "constant"
        routing_keys = ["job"]
        [[consumer]]
        group = "workers"
        topic = "jobs"
        bindings = ["job"]
        service_time = "1ms"
        prefetch = 1
        commit_interval = "500ms"
    "#;
    let sc = Scenario::from_toml(src, "t.toml").expect("valid");
    let r = Engine::new(&sc, 1).run();
    let g = &r.groups[0];
    assert!(g.copies >= 95, "{g:?}");
    // One message per 500 ms interval, plus the one taken at the start.
    assert!(
        g.processed <= 5 * 2 + 1,
        "processed {} > 11: {g:?}",
        g.processed
    );
    assert!(g.processed >= 5, "{g:?}");
    assert!(r.conservation_ok);
}
