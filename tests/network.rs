//! Network faults: partitions make zombies and lost acknowledgements, latency spikes show
//! in latency, lossy links make producers retry.

use crate::support::{load, parse, root, run_with};
use mqlab_sim::Delivery;

#[test]
fn a_partitioned_consumer_is_a_zombie_that_duplicates_unless_fenced() {
    let s = load(&root().join("scenarios/network-partition.toml"));
    for seed in 1..=4 {
        let alo = run_with(&s, Delivery::AtLeastOnce, seed);
        assert_eq!(alo.messages.lost, 0, "seed={seed}");
        assert!(
            alo.messages.duplicated > 0,
            "seed={seed}: {:?}",
            alo.messages
        );
        let eo = run_with(&s, Delivery::ExactlyOnce, seed);
        assert_eq!(
            (eo.messages.lost, eo.messages.duplicated),
            (0, 0),
            "seed={seed}"
        );
        assert!(alo.conservation_ok && eo.conservation_ok);
    }
}

fn lossy(idempotent: bool) -> String {
    format!(
        r#"
        name = "lossy"
        duration = "20s"
        [network]
        latency = "exp(1ms)"
        loss = 0.05
        [[topic]]
        name = "t"
        [[producer]]
        name = "p"
        topic = "t"
        rate = 500
        request_timeout = "20ms"
        retries = 10
        idempotent = {idempotent}
        [[consumer]]
        group = "g"
        topic = "t"
        service_time = "exp(1ms)"
        "#
    )
}

#[test]
fn lost_acknowledgements_make_resends_that_only_idempotence_removes() {
    let plain = run_with(&parse(&lossy(false)), Delivery::AtLeastOnce, 1);
    // About one in twenty acknowledgements is lost, each one a resend of a message the
    // broker already appended.
    assert!(plain.messages.duplicated > 200, "{:?}", plain.messages);
    assert_eq!(plain.messages.lost, 0);
    let idem = run_with(&parse(&lossy(true)), Delivery::AtLeastOnce, 1);
    assert_eq!(idem.messages.duplicated, 0, "{:?}", idem.messages);
    assert_eq!(idem.messages.lost, 0);
    assert_eq!(idem.messages.acked, idem.messages.produced);
}

#[test]
fn fire_and_forget_over_a_lossy_link_loses_what_the_network_drops() {
    let toml = lossy(false).replace(
        "[[topic]]",
        "[broker]\n        acks = \"none\"\n        [[topic]]",
    );
    let r = run_with(&parse(&toml), Delivery::AtLeastOnce, 1);
    let m = r.messages;
    assert_eq!(
        m.acked, m.produced,
        "fire and forget counts every send as acknowledged"
    );
    let rate = m.lost as f64 / m.produced as f64;
    assert!(
        (0.03..0.07).contains(&rate),
        "5% of requests lost, got {rate}: {m:?}"
    );
    assert!(r.conservation_ok);
}

#[test]
fn a_latency_spike_shows_in_end_to_end_latency() {
    let base = r#"
        name = "spike"
        duration = "20s"
        [network]
        latency = "exp(1ms)"
        [[topic]]
        name = "t"
        [[producer]]
        name = "p"
        topic = "t"
        rate = 200
        [[consumer]]
        group = "g"
        topic = "t"
        service_time = "1ms"
    "#;
    let calm = run_with(&parse(base), Delivery::AtLeastOnce, 1);
    let spiked = format!(
        "{base}\n[[fault]]\nat = \"5s\"\nkind = \"latency-spike\"\ntarget = \"network\"\nduration = \"5s\"\nlatency = \"exp(100ms)\"\n"
    );
    let spiked = run_with(&parse(&spiked), Delivery::AtLeastOnce, 1);
    assert!(calm.latency_s.p99 < 0.02, "{:?}", calm.latency_s);
    assert!(spiked.latency_s.p99 > 0.2, "{:?}", spiked.latency_s);
    assert_eq!(spiked.messages.lost, 0);
}

#[test]
fn a_drained_run_ends_without_waiting_for_answered_requests_timeouts() {
    // Every request is answered within milliseconds; their 30 s timeouts are moot, so the
    // run ends once the consumers have drained, and a lossy link's unanswered requests
    // still get their timeouts (the resends land and nothing is lost).
    let text = |loss: f64| {
        format!(
            r#"
name = "ends"
duration = "5s"
drain = "60s"
[network]
latency = "exp(1ms)"
loss = {loss}
[[topic]]
name = "t"
[[producer]]
name = "p"
topic = "t"
rate = 200
request_timeout = "30s"
[[consumer]]
group = "g"
topic = "t"
service_time = "exp(1ms)"
"#
        )
    };
    let clean = run_with(&parse(&text(0.0)), Delivery::AtLeastOnce, 3);
    assert!(clean.sim_time_s < 5.5, "ran {} s", clean.sim_time_s);
    assert_eq!(clean.messages.processed, clean.messages.produced);
    let lossy = run_with(&parse(&text(0.05)), Delivery::AtLeastOnce, 3);
    assert!(
        lossy.sim_time_s > 30.0,
        "a lost request is resent after 30 s"
    );
    assert_eq!((lossy.messages.lost, lossy.messages.in_flight), (0, 0));
}

#[test]
fn at_most_once_consumption_is_not_blamed_for_the_producers_resends() {
    // The duplicates are the broker holding a message twice; the at-most-once group
    // applied each delivered message once, so its guarantee holds and the duplicates are
    // still reported, attributed to the resends.
    let s = parse(&lossy(false));
    let amo = run_with(&s, Delivery::AtMostOnce, 1);
    let g = &amo.groups[0];
    assert!(g.duplicated > 200, "{g:?}");
    assert_eq!(g.duplicated_by_resend, g.duplicated);
    let check = |r: &mqlab_sim::RunSummary| {
        r.expectations
            .iter()
            .find(|e| e.check.starts_with("guarantee"))
            .expect("a guarantee row")
            .clone()
    };
    let held = check(&amo);
    assert!(held.ok && held.actual.contains("from resends"), "{held:?}");
    // Exactly-once deduplicates by message id, resends included.
    let eo = run_with(&s, Delivery::ExactlyOnce, 1);
    assert_eq!(eo.groups[0].duplicated, 0);
    assert!(check(&eo).ok);
}
