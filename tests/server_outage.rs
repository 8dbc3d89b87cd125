//! A broker crash (or cut) on queue, exchange and pub/sub topics, held to what a killed
//! RabbitMQ or Redis server does to its clients: every send while it is down is refused,
//! consumers lose their connections (RabbitMQ requeues what they had not acknowledged,
//! so the message in hand is processed again), a Redis subscriber reads what its dead
//! connection still held, finds it closed, and misses what is published until it has
//! subscribed again. The counts are read against the run's own per-second series, so
//! each assertion is exact or bounded by a second's count.

use crate::support::{parse, run_with};
use mqlab_sim::{Delivery, RunSummary};

/// One topic of `model` at `rate`, a group of `instances` with `service`, producer
/// `retries`, and `faults` (TOML) appended; zero latency, one-second samples.
fn outage(
    model: &str,
    rate: u32,
    instances: u32,
    service: &str,
    retries: u32,
    faults: &str,
) -> String {
    let (exchange, bindings) = if model == "exchange" {
        ("exchange = \"topic\"\n", "bindings = [\"#\"]\n")
    } else {
        ("", "")
    };
    let keys = if model == "exchange" {
        "routing_keys = [\"a.b\"]\n"
    } else {
        ""
    };
    format!(
        "name = \"outage\"\nduration = \"6s\"\ndrain = \"60s\"\nsample_interval = \"1s\"\n\
         [broker]\nmodel = \"{model}\"\n\
         [[topic]]\nname = \"jobs\"\n{exchange}\
         [[producer]]\nname = \"p\"\ntopic = \"jobs\"\nrate = {rate}\nretries = {retries}\n\
         request_timeout = \"10s\"\n{keys}\
         [[consumer]]\ngroup = \"g\"\ntopic = \"jobs\"\ninstances = {instances}\n\
         service_time = \"{service}\"\ndelivery = \"at-least-once\"\n{bindings}\
         {faults}"
    )
}

const CRASH_1S_TO_2S: &str =
    "[[fault]]\nat = \"1s\"\nkind = \"broker-crash\"\ntarget = \"broker/0\"\nduration = \"1s\"\n";

fn run(toml: &str, delivery: Delivery, seed: u64) -> RunSummary {
    run_with(&parse(toml), delivery, seed)
}

#[test]
fn a_crashed_server_refuses_every_send_and_a_producer_without_retries_gives_each_up() {
    for model in ["queue", "exchange", "pubsub"] {
        let instances = if model == "pubsub" { 1 } else { 2 };
        let r = run(
            &outage(model, 300, instances, "exp(1ms)", 0, CRASH_1S_TO_2S),
            Delivery::AtLeastOnce,
            3,
        );
        let down = r.series.produced_per_s[1].round() as u64;
        assert!(down > 200, "{model}: {down}");
        assert_eq!(
            r.dropped_by_reason.get("producer-gave-up").copied(),
            Some(down),
            "{model}: every send of the second the server was down, and no other"
        );
        assert_eq!(r.messages.lost, 0, "{model}");
        assert!(r.conservation_ok, "{model}");
    }
}

#[test]
fn with_retries_what_was_refused_goes_again_once_the_server_is_back() {
    for model in ["queue", "exchange", "pubsub"] {
        let instances = if model == "pubsub" { 1 } else { 2 };
        // A subscriber back by the restart (it tries again half a second after it found
        // its connection gone, and then waits for the server) misses nothing resent.
        let toml = outage(model, 300, instances, "exp(1ms)", 3, CRASH_1S_TO_2S).replace(
            "delivery = \"at-least-once\"\n",
            if model == "pubsub" {
                "reconnect = \"500ms\"\n"
            } else {
                "delivery = \"at-least-once\"\n"
            },
        );
        let r = run(&toml, Delivery::AtLeastOnce, 3);
        assert_eq!(r.messages.dropped, 0, "{model}: {:?}", r.dropped_by_reason);
        assert_eq!(r.messages.lost, 0, "{model}");
        assert_eq!(r.messages.processed, r.messages.copies, "{model}");
        // Nothing is processed while it is down but what was in hand at the crash (or,
        // for the subscriber, already in its socket).
        let during = r.series.processed_per_s[1].round() as u64;
        assert!(during <= 3, "{model}: {during}");
        // The first send it refused waited out the whole outage.
        assert!(r.latency_s.max > 0.99, "{model}: {}", r.latency_s.max);
    }
}

/// RabbitMQ requeues a lost connection's unacknowledged messages: the one in hand, whose
/// ack died with the connection, is processed again after the restart (at least once),
/// never lost; acknowledged on delivery (at most once) it is not redelivered; exactly once
/// applies it once. The queue model (SQS) gives it back at its visibility timeout.
#[test]
fn the_message_in_hand_at_a_crash_is_processed_again_at_least_once_and_only_then() {
    for model in ["exchange", "queue"] {
        let (mut twice, mut seeds) = (0, 0);
        for seed in 1..=6 {
            let toml = outage(model, 180, 2, "exp(10ms)", 5, CRASH_1S_TO_2S);
            let alo = run(&toml, Delivery::AtLeastOnce, seed);
            assert_eq!(alo.messages.lost, 0, "{model} {seed}");
            // At most the two in hand: what was prefetched was never applied.
            assert!(alo.messages.duplicated <= 2, "{model} {seed}");
            twice += alo.messages.duplicated;
            seeds += u64::from(alo.messages.duplicated > 0);
            let amo = run(&toml, Delivery::AtMostOnce, seed);
            assert_eq!(amo.messages.duplicated, 0, "{model} {seed}");
            let eo = run(&toml, Delivery::ExactlyOnce, seed);
            assert_eq!(
                (eo.messages.lost, eo.messages.duplicated),
                (0, 0),
                "{model} {seed}"
            );
        }
        // Two instances 90% busy: most crashes find one in hand.
        assert!(
            seeds >= 4 && twice >= 4,
            "{model}: {twice} over {seeds} seeds"
        );
    }
}

/// Redis's subscriber finds its connection gone when it next reads it: at once if it was
/// idle, after the backlog its socket held if not (none of it is lost). It subscribes
/// again `reconnect` (2 s) after that, and misses everything published until then: the
/// sends refused during the outage and resent at the restart, and what follows them.
#[test]
fn a_subscriber_reads_what_its_socket_held_and_misses_all_until_it_subscribes_again() {
    let with = |service: &str| {
        let toml = outage("pubsub", 400, 1, service, 5, CRASH_1S_TO_2S)
            .replace("delivery = \"at-least-once\"\n", "reconnect = \"2s\"\n");
        run(&toml, Delivery::AtLeastOnce, 4)
    };
    let produced = |r: &RunSummary, seconds: std::ops::Range<usize>| -> u64 {
        r.series.produced_per_s[seconds].iter().sum::<f64>().round() as u64
    };
    // Idle at the crash: it finds out at 1 s and is back at 3 s.
    let fast = with("100us");
    assert_eq!(
        fast.dropped_by_reason.get("subscriber-offline").copied(),
        Some(produced(&fast, 1..3))
    );
    assert_eq!(fast.messages.dropped, produced(&fast, 1..3));
    // 400/s offered to a 333/s subscriber: a backlog in its socket at the crash, read
    // during the outage, so it finds out later and is back within the fourth second.
    let slow = with("3ms");
    assert_eq!(
        slow.dropped_by_reason.keys().collect::<Vec<_>>(),
        ["subscriber-offline"],
        "nothing it had been sent is lost with the server"
    );
    assert!(slow.series.processed_per_s[1] > 20.0, "{:?}", slow.series);
    let offline = slow.dropped_by_reason["subscriber-offline"];
    assert!(
        offline > produced(&slow, 1..3) && offline <= produced(&slow, 1..4),
        "{offline}: {:?}",
        slow.series.produced_per_s
    );
    // Back before it has read its socket out: what is published meanwhile goes to the
    // closed connection, not to it, and it still finds out and goes.
    let short = {
        let toml = outage(
            "pubsub",
            400,
            1,
            "3ms",
            5,
            &CRASH_1S_TO_2S.replace("duration = \"1s\"", "duration = \"100ms\""),
        )
        .replace("delivery = \"at-least-once\"\n", "reconnect = \"2s\"\n");
        run(&toml, Delivery::AtLeastOnce, 4)
    };
    assert!(
        short.dropped_by_reason["subscriber-offline"] >= produced(&short, 2..3),
        "{:?}",
        short.dropped_by_reason
    );
    for r in [fast, slow, short] {
        assert_eq!(r.messages.lost, 0);
        assert!(r.conservation_ok);
    }
}

/// Overlapping windows: a consumer partitioned on its own stays cut off when the server
/// comes back, and the server's outage holds it when its own partition heals.
#[test]
fn a_consumer_cut_off_by_its_own_partition_and_the_server_comes_back_when_both_are_over() {
    let inner = format!(
        "{CRASH_1S_TO_2S}[[fault]]\nat = \"1.5s\"\nkind = \"partition\"\ntarget = \"g/0\"\n\
         duration = \"2.5s\"\n"
    );
    let outer = "[[fault]]\nat = \"0.5s\"\nkind = \"partition\"\ntarget = \"g/0\"\n\
                 duration = \"1s\"\n[[fault]]\nat = \"1s\"\nkind = \"broker-crash\"\n\
                 target = \"broker/0\"\nduration = \"2s\"\n";
    for model in ["queue", "exchange"] {
        // One instance, cut off from 1 s to 4 s by the two windows together.
        let r = run(
            &outage(model, 200, 1, "exp(2ms)", 5, &inner),
            Delivery::AtLeastOnce,
            2,
        );
        let cut: f64 = r.series.processed_per_s[2..4].iter().sum();
        assert!(cut <= 1.0, "{model}: {:?}", r.series.processed_per_s);
        assert!(r.series.processed_per_s[4] > 100.0, "{model}");
        // Cut off from 0.5 s to 3 s.
        let r = run(
            &outage(model, 200, 1, "exp(2ms)", 5, outer),
            Delivery::AtLeastOnce,
            2,
        );
        let cut: f64 = r.series.processed_per_s[1..3].iter().sum();
        assert!(cut <= 1.0, "{model}: {:?}", r.series.processed_per_s);
        assert!(r.series.processed_per_s[3] > 100.0, "{model}");
        assert_eq!(r.messages.lost, 0, "{model}");
    }
}
