//! The plain path leaves what the generic path leaves: every shipped scenario and random
//! eligible ones give the same summary (trace hash included) both ways.

use super::super::Engine;
use crate::scenario::Scenario;
use crate::time::SimDuration;
use proptest::prelude::*;

/// The summary of `scenario` under `seed`, on the plain path where it is eligible or
/// forced down the generic one; and whether the plain path ran.
fn run(scenario: &Scenario, seed: u64, generic: bool) -> (String, bool) {
    let mut e = Engine::new(scenario, seed);
    if generic {
        e.force_generic();
    }
    let plain = e.plain_path();
    // Debug rather than `==`: a NaN figure must compare equal to itself.
    (format!("{:?}", e.run()), plain)
}

/// Runs both ways and asserts the same summary; returns whether the plain path ran.
fn same_both_ways(scenario: &Scenario, seed: u64, what: &str) -> bool {
    let (plain, took_plain) = run(scenario, seed, false);
    let (generic, took_generic) = run(scenario, seed, true);
    assert!(!took_generic, "{what}: forced generic");
    assert!(
        plain == generic,
        "{what}, seed {seed}: the plain path's summary differs from the generic one's\n\
         plain:   {plain}\ngeneric: {generic}"
    );
    took_plain
}

/// Shipped scenarios (the real brokers' benchmarks aside), shortened to about `messages`.
fn shipped(messages: f64) -> Vec<(String, Scenario)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut out = Vec::new();
    for dir in [root.clone(), root.join("bench")] {
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("the scenarios directory")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let name = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            if name.starts_with("rabbitmq-") || name.starts_with("redis-") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a scenario file");
            let mut s = Scenario::from_toml(&text, &name).expect("a shipped scenario is valid");
            let rate: f64 = s.producers.iter().map(|p| *p.rate.get_ref()).sum();
            if rate > 0.0 && rate * s.duration.as_secs_f64() > messages {
                s.duration = SimDuration::from_secs_f64(messages / rate);
            }
            out.push((name, s));
        }
    }
    out
}

#[test]
fn every_shipped_scenario_gives_the_same_summary_on_both_paths() {
    let mut plain = Vec::new();
    for (name, s) in shipped(20_000.0) {
        if same_both_ways(&s, s.seed, &name) {
            plain.push(name);
        }
    }
    // The rows issue 17 measures take the plain path (else this test proves nothing).
    for name in [
        "mm1.toml",
        "mm1-queue.toml",
        "mm1-exchange.toml",
        "partitions-1000.toml",
        "keys-100k.toml",
        "mmc.toml",
    ] {
        assert!(
            plain.iter().any(|p| p == name),
            "{name} is plain: {plain:?}"
        );
    }
}

/// A scenario the plain path takes, from the drawn settings.
#[allow(clippy::too_many_arguments)]
fn eligible(
    model: usize,
    partitions: u32,
    instances: u32,
    groups: usize,
    rate: u32,
    arrival: usize,
    service: usize,
    delivery: usize,
    commit: bool,
    ordered: bool,
    keys: u32,
    capacity: u64,
    on_full: usize,
    acks: usize,
    extra: usize,
) -> String {
    let model_name = ["log", "queue", "exchange"][model];
    let arrival = ["poisson", "constant", "bursty"][arrival];
    let service = ["exp(1ms)", "800us", "uniform(100us,3ms)", "exp(5ms)"][service];
    let delivery = ["at-least-once", "at-most-once"][delivery];
    let on_full = ["block", "reject", "drop-oldest"][on_full];
    let acks = ["leader", "none"][acks];
    let mut text = format!(
        "name = \"plain\"\nduration = \"2s\"\ndrain = \"5s\"\n\
         [broker]\nmodel = \"{model_name}\"\ncapacity = {capacity}\non_full = \"{on_full}\"\n\
         acks = \"{acks}\"\n"
    );
    if model == 1 && extra % 2 == 1 {
        // A visibility timeout shorter than some services: copies are received twice.
        text.push_str("visibility_timeout = \"2ms\"\n");
    }
    text.push_str("[[topic]]\nname = \"t\"\n");
    if model == 0 {
        text.push_str(&format!("partitions = {partitions}\n"));
    }
    if model == 2 {
        text.push_str("exchange = \"direct\"\n");
    }
    text.push_str(&format!(
        "[[producer]]\nname = \"p\"\ntopic = \"t\"\nrate = {rate}\narrival = \"{arrival}\"\n\
         keys = {keys}\n"
    ));
    if arrival == "bursty" {
        text.push_str("burst_on = \"200ms\"\nburst_off = \"300ms\"\n");
    }
    if model == 0 {
        let partitioner = ["random", "key", "round-robin"][extra % 3];
        text.push_str(&format!("partitioner = \"{partitioner}\"\n"));
    }
    if model == 2 {
        text.push_str("routing_keys = [\"a\", \"b\"]\n");
    }
    for g in 0..groups {
        text.push_str(&format!(
            "[[consumer]]\ngroup = \"g{g}\"\ntopic = \"t\"\ninstances = {instances}\n\
             service_time = \"{service}\"\ndelivery = \"{delivery}\"\nordered = {ordered}\n"
        ));
        if commit {
            text.push_str("commit_interval = \"50ms\"\n");
        }
        if model == 1 {
            let (batch, wait) = [(1, "20s"), (4, "20s"), (1, "0s")][(extra + g) % 3];
            text.push_str(&format!("batch = {batch}\nwait_time = \"{wait}\"\n"));
        }
        if model == 2 {
            // The second group binds one key only: the other's messages skip it.
            let bindings = if g == 1 { "[\"a\"]" } else { "[\"a\", \"b\"]" };
            let prefetch = [1, 3, 10][(extra + g) % 3];
            text.push_str(&format!("bindings = {bindings}\nprefetch = {prefetch}\n"));
        }
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(debug_assertions) { 12 } else { 64 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_eligible_scenarios_give_the_same_summary_on_both_paths(
        model in 0usize..3,
        partitions in 1u32..12,
        instances in 1u32..5,
        groups in 1usize..3,
        rate in 50u32..3000,
        arrival in 0usize..3,
        service in 0usize..4,
        delivery in 0usize..2,
        commit in any::<bool>(),
        ordered in any::<bool>(),
        keys in 1u32..50,
        capacity in prop_oneof![Just(1_000_000u64), 2u64..40],
        on_full in 0usize..3,
        acks in 0usize..2,
        extra in 0usize..6,
        seed in 0u64..1000,
    ) {
        let text = eligible(
            model, partitions, instances, groups, rate, arrival, service, delivery, commit,
            ordered, keys, capacity, on_full, acks, extra,
        );
        let s = Scenario::from_toml(&text, "plain.toml").expect("a valid scenario");
        let took_plain = same_both_ways(&s, seed, &text);
        prop_assert!(took_plain, "eligible, yet generic:\n{}", text);
    }
}
