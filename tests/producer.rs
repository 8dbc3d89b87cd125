//! The producer as a Kafka client behaves: an idempotent producer keeps each partition in
//! order across resends (the broker refuses a sequence gap), `max_in_flight = 1` keeps
//! order without idempotence, a crashed producer does nothing until it restarts and what
//! it had not had acknowledged dies with it, and arrival times stay exact at any rate.

use crate::support::{parse, run_with};
use mqlab_sim::Delivery;

fn lossy(producer: &str) -> String {
    format!(
        r#"
        name = "lossy-order"
        duration = "10s"
        drain = "30s"
        [network]
        latency = "exp(1ms)"
        loss = 0.05
        [[topic]]
        name = "t"
        partitions = 2
        [[producer]]
        name = "p"
        topic = "t"
        rate = 500
        keys = 20
        request_timeout = "20ms"
        retries = 20
        {producer}
        [[consumer]]
        group = "g"
        topic = "t"
        instances = 2
        service_time = "exp(1ms)"
        ordered = true
        "#
    )
}

#[test]
fn an_idempotent_producer_keeps_each_partition_in_order_on_a_lossy_network() {
    // Kafka: the broker refuses a sequence gap, so a resend is never appended after the
    // messages that followed it, with up to five requests in flight.
    for (seed, producer) in [(1, ""), (2, ""), (3, "max_in_flight = 5")] {
        let s = parse(&lossy(&format!("idempotent = true\n{producer}")));
        let r = run_with(&s, Delivery::AtLeastOnce, seed);
        let m = &r.messages;
        assert_eq!(
            (m.out_of_order, m.duplicated, m.lost),
            (0, 0, 0),
            "seed={seed}: {m:?}"
        );
        assert_eq!(m.processed, m.produced, "seed={seed}: {m:?}");
        assert!(r.conservation_ok);
    }
}

#[test]
fn one_request_in_flight_keeps_order_without_idempotence_and_more_may_reorder() {
    let one = run_with(
        &parse(&lossy("max_in_flight = 1")),
        Delivery::AtLeastOnce,
        1,
    );
    assert_eq!(one.messages.out_of_order, 0, "{:?}", one.messages);
    // Without idempotence a lost acknowledgement still makes a duplicate.
    assert!(one.messages.duplicated > 0, "{:?}", one.messages);
    assert_eq!(one.messages.processed, one.messages.produced);
    let many = run_with(&parse(&lossy("")), Delivery::AtLeastOnce, 1);
    assert!(many.messages.out_of_order > 0, "{:?}", many.messages);
}

#[test]
fn one_request_in_flight_bounds_throughput_by_the_round_trip() {
    // One message per round trip (2 x 5ms): at most about 100 a second get out; the rest
    // wait in the producer's buffer and their latency grows with the backlog.
    let toml = r#"
        name = "window"
        duration = "2s"
        drain = "60s"
        [network]
        latency = "5ms"
        [[topic]]
        name = "t"
        [[producer]]
        name = "p"
        topic = "t"
        rate = 200
        arrival = "constant"
        max_in_flight = 1
        [[consumer]]
        group = "g"
        topic = "t"
        service_time = "100us"
        "#;
    let r = run_with(&parse(toml), Delivery::AtLeastOnce, 1);
    assert_eq!(r.messages.processed, r.messages.produced);
    // 400 messages at 100 per second: the last leaves about 4 s after the start, 2 s
    // after it was made.
    assert!(
        r.latency_s.max > 1.9 && r.latency_s.max < 2.1,
        "{:?}",
        r.latency_s
    );
}

const CRASHED: &str = r#"
    name = "crashed-producer"
    duration = "10s"
    drain = "30s"
    [broker]
    acks = "leader"
    [[topic]]
    name = "t"
    [[producer]]
    name = "p"
    topic = "t"
    rate = 1000
    arrival = "constant"
    request_timeout = "20ms"
    retries = 255
    [[consumer]]
    group = "g"
    topic = "t"
    service_time = "100us"
    # The only broker is down from 4 s to 8 s: requests go unanswered and are retried.
    [[fault]]
    at = "4s"
    kind = "broker-crash"
    target = "broker/0"
    duration = "4s"
    # The producer dies at 5 s and never restarts.
    [[fault]]
    at = "5s"
    kind = "crash"
    target = "p"
"#;

#[test]
fn a_crashed_producer_stops_resending_and_loses_what_it_had_not_had_acknowledged() {
    let r = run_with(&parse(CRASHED), Delivery::AtLeastOnce, 1);
    let m = &r.messages;
    // Arrivals every millisecond from 1ms: 3999 before the broker crash (appended and
    // acknowledged), 1000 in [4s, 5s) that no broker took before the producer died.
    assert_eq!(m.produced, 4999, "{m:?}");
    assert_eq!(m.processed, 3999, "{m:?}");
    assert_eq!(
        r.dropped_by_reason.get("producer-crash"),
        Some(&1000),
        "{r:?}"
    );
    assert_eq!((m.lost, m.in_flight), (0, 0), "{m:?}");
    assert!(r.conservation_ok);
}

#[test]
fn constant_arrivals_are_exact_at_any_rate_the_clock_can_express() {
    // 3e8 a second for 10us is 3000 messages (3.33ns apart; a gap rounded to 3ns would
    // make 3333).
    let toml = r#"
        name = "fast"
        duration = "10us"
        [[topic]]
        name = "t"
        [[producer]]
        name = "p"
        topic = "t"
        rate = 3e8
        arrival = "constant"
        keys = 4294967295
        "#;
    let r = run_with(&parse(toml), Delivery::AtLeastOnce, 1);
    // Arrivals at round(k * 10/3) ns for k >= 1, below 10000ns: k = 1..2999.
    assert_eq!(r.messages.produced, 2999);
}

#[test]
fn a_producer_beyond_the_sixteen_bit_index_is_refused_at_its_name() {
    let mut toml = String::from("name = \"many\"\nduration = \"1s\"\n[[topic]]\nname = \"t\"\n");
    for i in 0..=65_536 {
        toml += &format!("[[producer]]\nname = \"p{i}\"\ntopic = \"t\"\nrate = 1\n");
    }
    let err = mqlab_sim::Scenario::from_toml(&toml, "many.toml")
        .expect_err("65,537 producers cannot be told apart");
    // Producer i's name is on line 6 + 4i.
    let shown = err.to_string();
    assert!(shown.starts_with("many.toml:262150:8: "), "{shown}");
    assert!(shown.contains("at most 65536 producers"), "{shown}");
}

#[test]
fn four_billion_keys_cost_only_the_keys_used() {
    // Per-key state (the producer's sequence numbers, an ordered group's high-water marks)
    // is kept for the keys drawn: 4 bytes a key up front would be 16 GB each.
    let toml = r#"
        name = "many-keys"
        duration = "1s"
        [[topic]]
        name = "t"
        partitions = 4
        [[producer]]
        name = "p"
        topic = "t"
        rate = 1000
        keys = 4294967295
        [[consumer]]
        group = "g"
        topic = "t"
        instances = 4
        service_time = "100us"
        ordered = true
        "#;
    let r = run_with(&parse(toml), Delivery::AtLeastOnce, 1);
    assert_eq!(r.messages.processed, r.messages.produced);
    assert_eq!(r.messages.out_of_order, 0);
}

#[test]
fn an_idempotent_producer_on_an_instant_network_has_every_message_appended() {
    // The broker's sequence check once refused every message of an idempotent producer
    // when the network took no time: nothing was appended or processed.
    let s = parse(
        r#"
        name = "idempotent-instant"
        duration = "2s"
        [[topic]]
        name = "t"
        partitions = 2
        [[producer]]
        name = "p"
        topic = "t"
        rate = 100
        keys = 4
        idempotent = true
        [[consumer]]
        group = "g"
        topic = "t"
        "#,
    );
    let r = run_with(&s, Delivery::AtLeastOnce, 1);
    let m = r.messages;
    assert!(m.produced > 100, "{m:?}");
    assert_eq!((m.acked, m.processed), (m.produced, m.copies), "{m:?}");
    assert!(r.ok(), "{:?}", r.expectations);
}

/// One broker node, down from 2.5 s to 2.8 s: the partitions have no leader, and what the
/// producer sends meanwhile is refused. It sends each again as soon as the node is back,
/// as Kafka's producer does once its metadata shows a leader (it learns of the failure at
/// once, from the error or the dead connection): everything is processed and nothing is
/// in flight at the end. It once waited for `request_timeout`, 30 s by default, so the 84
/// sent while the node was down were still in flight after the 10 s drain (on Redis
/// Streams, `mqlab bench --spawn`, the client sent them again when the server was back,
/// and all were processed). With a shorter timeout than the outage, the timeout resends
/// first, as before.
#[test]
fn sends_refused_by_a_partition_without_a_leader_go_again_when_it_has_one() {
    let text = |timeout: &str| outage("", &[(0, "2500ms", "300ms")], timeout);
    for timeout in ["", "request_timeout = \"100ms\""] {
        let r = run_with(&parse(&text(timeout)), Delivery::AtLeastOnce, 5);
        let m = r.messages;
        assert_eq!((m.in_flight, m.lost), (0, 0), "{timeout}: {m:?}");
        assert_eq!(m.processed, m.copies, "{timeout}: {m:?}");
        assert_eq!(m.acked, m.produced, "{timeout}: {m:?}");
        // Sent during the outage, they wait for the node: the worst latency is the
        // outage's 300 ms at most (plus a service time), not a timeout of 30 s.
        assert!(r.latency_s.max < 0.35, "{timeout}: {:?}", r.latency_s);
        assert!(r.conservation_ok);
    }
}

/// Three brokers, three replicas, `min_insync_replicas = 2` and `acks = "all"`; brokers 1
/// and 2 down from 2.5 s to 2.8 s: every partition is led by broker 0 alone, and each
/// send meanwhile is refused with Kafka's NOT_ENOUGH_REPLICAS. The producer hears the
/// error at once and its retries go in as soon as a follower is back in the ISR, so the
/// worst latency is the outage and a catch-up, not `request_timeout` (30 s by default,
/// after which the sends of the outage were still in flight at the end of a 10 s drain).
/// The followers come back with the whole log, so it is their fetch with nothing to copy
/// that puts them back in the ISR: they once waited for an append, which the short ISR
/// refused, and the partitions stayed unwritable for good (with a 100 ms timeout, 136
/// messages given up). The send that broker 2's crash cut from partition 2's log, its
/// answer pending, goes again too, as the producer hears at once that its leader went.
/// With a 100 ms timeout and three retries the timeouts resend first, and a send whose
/// retries all fall in the outage is given up (`producer-gave-up`), as the timeout says.
#[test]
fn sends_refused_for_too_few_in_sync_replicas_go_again_when_the_isr_is_whole() {
    let broker = "nodes = 3\nreplication = 3\nmin_insync_replicas = 2\nacks = \"all\"";
    let text = |timeout: &str| {
        outage(
            broker,
            &[(1, "2500ms", "300ms"), (2, "2500ms", "300ms")],
            timeout,
        )
    };
    let r = run_with(&parse(&text("")), Delivery::AtLeastOnce, 5);
    let m = r.messages;
    assert_eq!((m.in_flight, m.lost, m.dropped), (0, 0, 0), "{m:?}");
    assert_eq!((m.processed, m.acked), (m.copies, m.produced), "{m:?}");
    // The outage's 300 ms, a follower's fetch (1 ms by default) and a service time.
    assert!(r.latency_s.max < 0.35, "{:?}", r.latency_s);
    assert!(r.conservation_ok);

    let r = run_with(
        &parse(&text("request_timeout = \"100ms\"")),
        Delivery::AtLeastOnce,
        5,
    );
    let m = r.messages;
    assert_eq!((m.in_flight, m.lost), (0, 0), "{m:?}");
    assert_eq!(m.processed + m.dropped, m.copies, "{m:?}");
    // Only sends of the outage's first retry-spans can run out of retries.
    assert!(m.dropped < m.produced / 100, "{m:?}");
    let reasons: Vec<&str> = r.dropped_by_reason.keys().map(String::as_str).collect();
    assert!(
        m.dropped == 0 || reasons == ["producer-gave-up"],
        "{reasons:?}"
    );
    assert!(r.conservation_ok);
}

/// Three brokers, three replicas, `acks = "leader"` and an idempotent producer; the
/// brokers crash one after another until all three are down (1.15 s to 1.25 s). The
/// failover at 1.1 s cuts a message from partition 0's log whose acknowledgement was
/// already on its way: the producer takes it as written and never sends it again, a loss
/// `acks = "leader"` allows. The broker's sequence check must then move on without it,
/// as Kafka's producer bumps its epoch at the OUT_OF_ORDER_SEQUENCE_NUMBER that follows
/// (KIP-360). It once waited for it for good: every later send to that partition was
/// refused, at its timeout too, and 163 of 888 copies were in flight after the drain.
#[test]
fn an_idempotent_producer_goes_on_past_an_acknowledged_message_a_failover_cut() {
    let broker =
        "nodes = 3\nreplication = 3\nacks = \"leader\"\n[network]\nlatency = \"exp(200us)\"";
    let down = [
        (0, "1000ms", "300ms"),
        (1, "1100ms", "300ms"),
        (2, "1150ms", "100ms"),
    ];
    let text = outage(broker, &down, "idempotent = true");
    let r = run_with(&parse(&text), Delivery::AtLeastOnce, 28);
    let m = r.messages;
    assert_eq!(m.in_flight, 0, "{m:?}");
    assert_eq!(m.processed + m.lost, m.copies, "{m:?}");
    // The loss is real (the scenario reaches the case) and no larger than what the
    // failovers cut.
    let cut: u64 = r
        .broker_timeline
        .iter()
        .filter_map(|e| e.text.split("; log cut to ").nth(1))
        .filter_map(|rest| {
            rest.split(':')
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        m.lost > 0 && m.lost <= cut,
        "lost {} of {cut} cut: {m:?}",
        m.lost
    );
    assert!(r.conservation_ok);
}

/// A 3 s run at 300 messages a second over three partitions read by two instances, the
/// log broker given `broker` besides its model, and each of `down`'s broker nodes crashed
/// at its time for its duration; `timeout`, if any, is the producer's lines.
fn outage(broker: &str, down: &[(u32, &str, &str)], timeout: &str) -> String {
    let faults: String = down
        .iter()
        .map(|(n, at, duration)| {
            format!(
                "[[fault]]\nat = \"{at}\"\nkind = \"broker-crash\"\ntarget = \"broker/{n}\"\n\
                 duration = \"{duration}\"\n"
            )
        })
        .collect();
    format!(
        r#"
        name = "outage"
        seed = 5
        duration = "3s"
        drain = "10s"
        [broker]
        model = "log"
        {broker}
        [[topic]]
        name = "orders"
        partitions = 3
        [[producer]]
        name = "p"
        topic = "orders"
        rate = 300
        keys = 20
        {timeout}
        [[consumer]]
        group = "billing"
        topic = "orders"
        instances = 2
        service_time = "exp(1ms)"
        commit_interval = "200ms"
        {faults}"#
    )
}

/// A producer with `retries = 0` whose partitions lose their only broker for 300 ms: each
/// send meanwhile is refused with an error the producer hears at once, and with no retry
/// left it gives the message up then (`producer-gave-up`), as Kafka's does, not at its
/// `request_timeout` of 30 s, when the 10 s drain had ended with them still in flight.
/// The same for an idempotent producer, whose later sends the first refusal puts out of
/// sequence: each is given up at its own refusal, and the partition goes on.
#[test]
fn a_producer_without_retries_gives_up_a_refused_send_at_once() {
    for producer in ["retries = 0", "retries = 0\nidempotent = true"] {
        let text = outage("", &[(0, "2500ms", "300ms")], producer);
        let r = run_with(&parse(&text), Delivery::AtLeastOnce, 5);
        let m = r.messages;
        assert_eq!((m.in_flight, m.lost), (0, 0), "{producer}: {m:?}");
        assert!(m.dropped > 0, "{producer}: {m:?}");
        assert_eq!(m.processed + m.dropped, m.copies, "{producer}: {m:?}");
        let reasons: Vec<&str> = r.dropped_by_reason.keys().map(String::as_str).collect();
        assert_eq!(reasons, ["producer-gave-up"], "{producer}");
        // What the outage's sends gave up is about its share of the run's sends: 300 ms
        // of 3 s at 300 a second, not the run.
        assert!(m.dropped < m.produced / 5, "{producer}: {m:?}");
        assert!(r.conservation_ok);
    }
}

/// Kafka's `min.insync.replicas`: with `acks = "all"`, "if this minimum cannot be met, then
/// the producer will raise an exception (either NotEnoughReplicas or
/// NotEnoughReplicasAfterAppend)". Both followers of every partition crash while the
/// leader holds sends it has appended and they have not yet fetched (a 50 ms fetch): the
/// ISR shrinks to the leader, the high watermark passes those sends, and each is answered
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND. The copy stays in the log; the producer sends it again
/// once the ISR is whole, so a producer without idempotence writes it twice (a duplicate
/// by resend) and an idempotent one does not. The model once answered them as written:
/// no error, no second copy.
#[test]
fn a_send_the_isr_shrinks_under_after_its_append_is_an_error_and_goes_again() {
    let broker = "nodes = 3\nreplication = 3\nmin_insync_replicas = 2\nacks = \"all\"\n\
                  replica_lag = \"50ms\"";
    let down = [(1, "2500ms", "300ms"), (2, "2500ms", "300ms")];
    let plain = run_with(&parse(&outage(broker, &down, "")), Delivery::AtLeastOnce, 5);
    let m = plain.messages;
    assert_eq!((m.in_flight, m.lost, m.dropped), (0, 0, 0), "{m:?}");
    assert_eq!(m.processed, m.copies, "{m:?}");
    // Some of the sends of the last fetch's 50 ms before the crash (300 a second, 15 in
    // all): those of partitions whose leader stays up (where a follower took over, the
    // election cut them from the log and they go again once).
    let g = &plain.groups[0];
    assert!(
        (1..=40).contains(&g.duplicated) && g.duplicated_by_resend == g.duplicated,
        "{g:?}"
    );
    assert!(plain.conservation_ok);

    let idempotent = outage(broker, &down, "idempotent = true");
    let r = run_with(&parse(&idempotent), Delivery::AtLeastOnce, 5);
    let m = r.messages;
    assert_eq!(
        (m.in_flight, m.lost, m.dropped, m.duplicated),
        (0, 0, 0, 0),
        "{m:?}"
    );
    assert_eq!(m.processed, m.copies, "{m:?}");
    assert!(r.conservation_ok);
}
