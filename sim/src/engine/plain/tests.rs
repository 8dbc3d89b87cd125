//! The plain path leaves what the generic path leaves: every shipped scenario and random
//! eligible ones give the same summary (trace hash included) both ways.

use super::super::Engine;
use crate::scenario::Scenario;
use crate::time::SimDuration;
use proptest::prelude::*;

/// The summary of `scenario` under `seed`, on the plain path where it is eligible or
/// forced down the generic one, with a digest of the dashboard's snapshot every
/// `SNAPSHOT_EVERY` events and at the end (what only the dashboard shows, such as each
/// instance's count of messages processed, must agree too); and whether the plain path
/// ran.
fn run(scenario: &Scenario, seed: u64, generic: bool) -> (String, bool) {
    use std::hash::{Hash, Hasher};
    const SNAPSHOT_EVERY: u64 = 4096;
    let mut e = Engine::new(scenario, seed);
    if generic {
        e.force_generic();
    }
    let plain = e.plain_path();
    // A fixed-key hasher: both runs are digested in this process, the same way.
    let mut views = std::hash::DefaultHasher::new();
    let mut events = 0u64;
    while e.step() {
        events += 1;
        if events.is_multiple_of(SNAPSHOT_EVERY) {
            format!("{:?}", e.snapshot()).hash(&mut views);
        }
    }
    format!("{:?}", e.snapshot()).hash(&mut views);
    // Debug rather than `==`: a NaN figure must compare equal to itself.
    let summary = format!("{:?}", e.summary());
    (format!("{summary}\nsnapshots: {:x}", views.finish()), plain)
}

/// Runs both ways and asserts the same summary; returns whether the plain path ran.
pub(super) fn same_both_ways(scenario: &Scenario, seed: u64, what: &str) -> bool {
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
        "keys-100k-resequenced.toml",
        "mmc.toml",
    ] {
        assert!(
            plain.iter().any(|p| p == name),
            "{name} is plain: {plain:?}"
        );
    }
}

/// A broker crash injected live into a run on the plain path reads the lone replicas'
/// log end and flushed offsets, which the plain path leaves behind: leaving it brings
/// them up, so the run is the one that took the generic path from the start. The one
/// consumer falls behind, so the logs hold a backlog when the crash hits: left behind,
/// the offsets would have the returning node cut its logs back to them.
#[test]
fn a_broker_crash_injected_live_finds_the_replicas_where_the_generic_path_left_them() {
    use crate::scenario::{FaultConfig, FaultKind};
    use crate::time::SimTime;
    let text = r#"
        name = "crash"
        duration = "6s"
        drain = "10s"
        [broker]
        model = "log"
        nodes = 2
        [[topic]]
        name = "t"
        partitions = 4
        [[producer]]
        name = "p"
        topic = "t"
        rate = 2000
        partitioner = "round-robin"
        [[consumer]]
        group = "g"
        topic = "t"
        service_time = "exp(800us)"
    "#;
    let s = Scenario::from_toml(text, "crash.toml").expect("valid");
    let crashed = |generic: bool| {
        let mut e = Engine::new(&s, 7);
        if generic {
            e.force_generic();
        }
        assert_eq!(e.plain_path(), !generic, "the path the run starts on");
        e.run_until(SimTime(1_000_000_000));
        let mut fault = FaultConfig::new(FaultKind::BrokerCrash, "broker/0", SimDuration::ZERO);
        fault.duration = Some(SimDuration::from_millis(500));
        e.inject_fault(fault).expect("valid fault");
        assert!(!e.plain_path(), "a fault leaves the plain path");
        while e.step() {}
        format!("{:?}", e.summary())
    };
    let (plain, generic) = (crashed(false), crashed(true));
    assert!(plain == generic, "plain:   {plain}\ngeneric: {generic}");
    let calm = format!("{:?}", Engine::new(&s, 7).run());
    assert!(plain != calm, "the crash changed nothing");
}

/// A scenario the plain path takes, from the drawn settings.
#[allow(clippy::too_many_arguments)]
pub(super) fn eligible(
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
    resequence: usize,
    faults: usize,
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
        if g == 0 && resequence > 0 {
            // A small buffer and a short gap timeout hold, skip and let go on a full
            // buffer; the default ones mostly hold.
            let (buffer, gap) = [(2, "5ms"), (1000, "1s")][resequence - 1];
            text.push_str(&format!(
                "resequence = true\nresequence_buffer = {buffer}\ngap_timeout = \"{gap}\"\n"
            ));
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
    // Faults the plain path comes back from: an instance crashed, the group slowed,
    // both with a crash of the whole group inside the slow window, the producer crashed
    // across an instance's crash.
    let crash = "[[fault]]\nat = \"400ms\"\nkind = \"crash\"\ntarget = \"g0/0\"\n\
                 duration = \"300ms\"\n";
    let slow = "[[fault]]\nat = \"300ms\"\nkind = \"slow\"\ntarget = \"g0\"\n\
                duration = \"900ms\"\nfactor = 8\n";
    let group_crash = "[[fault]]\nat = \"700ms\"\nkind = \"crash\"\ntarget = \"g0\"\n\
                       duration = \"200ms\"\n";
    let producer_crash = "[[fault]]\nat = \"500ms\"\nkind = \"crash\"\ntarget = \"p\"\n\
                          duration = \"300ms\"\n";
    match faults {
        1 => text.push_str(crash),
        2 => text.push_str(slow),
        3 => {
            text.push_str(crash);
            text.push_str(slow);
            text.push_str(group_crash);
        }
        4 => {
            text.push_str(producer_crash);
            text.push_str(crash);
        }
        _ => {}
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
        resequence in 0usize..3,
        faults in 0usize..5,
        seed in 0u64..1000,
    ) {
        let text = eligible(
            model, partitions, instances, groups, rate, arrival, service, delivery, commit,
            ordered, keys, capacity, on_full, acks, extra, resequence, faults,
        );
        let s = Scenario::from_toml(&text, "plain.toml").expect("a valid scenario");
        let took_plain = same_both_ways(&s, seed, &text);
        prop_assert!(took_plain, "eligible, yet generic:\n{}", text);
    }
}

/// Every scenario setting there was when `plain_eligible` was last checked against the
/// scenario format, by the struct that holds it.
const KNOWN_SETTINGS: &[(&str, &[&str])] = &[
    (
        "BrokerConfig",
        &[
            "acks",
            "bandwidth",
            "capacity",
            "flush_interval",
            "high_watermark",
            "low_watermark",
            "max_receives",
            "min_insync_replicas",
            "model",
            "nodes",
            "on_full",
            "replica_lag",
            "replication",
            "spill_capacity",
            "spill_latency",
            "unclean_leader_election",
            "visibility_timeout",
        ],
    ),
    (
        "ConsumerConfig",
        &[
            "assignment",
            "backoff",
            "batch",
            "bindings",
            "buffer",
            "circuit_breaker",
            "claim_lease",
            "commit_interval",
            "cool_down",
            "dedup_latency",
            "dedup_ttl",
            "delivery",
            "derived",
            "gap_timeout",
            "group",
            "idempotence",
            "instances",
            "max_retries",
            "offset_reset",
            "on_failure",
            "on_overflow",
            "ordered",
            "outputs",
            "poll_interval",
            "prefetch",
            "processing_timeout",
            "quarantine",
            "rebalance_pause",
            "reconnect",
            "resequence",
            "resequence_buffer",
            "scheduling",
            "service_time",
            "session_timeout",
            "start_at",
            "topic",
            "wait_time",
            "weights",
        ],
    ),
    (
        "Expect",
        &[
            "dead_lettered",
            "dropped",
            "duplicated",
            "gaps_skipped",
            "half_done",
            "in_flight",
            "in_progress",
            "lost",
            "max_broker_bytes",
            "max_lag",
            "min_share",
            "mismatched",
            "orphans",
            "out_of_order",
            "p50_latency",
            "p999_latency",
            "p99_latency",
            "p99_latency_of",
            "phantom",
            "quarantined",
            "timeouts",
        ],
    ),
    ("NetworkConfig", &["duplicate", "latency", "loss"]),
    (
        "ProducerConfig",
        &[
            "arrival",
            "burst_off",
            "burst_on",
            "claim_check",
            "claim_reference_bytes",
            "claim_store_latency",
            "correlation",
            "db_failure",
            "db_latency",
            "derived",
            "events_per_key",
            "idempotent",
            "key_distribution",
            "keys",
            "max_in_flight",
            "name",
            "partitioner",
            "payload_bytes",
            "priority",
            "publish",
            "rate",
            "relay_batch",
            "relay_instances",
            "relay_interval",
            "reply_timeout",
            "request_timeout",
            "retries",
            "retry_backoff",
            "routing_keys",
            "topic",
            "zipf_exponent",
        ],
    ),
    (
        "Scenario",
        &[
            "broker",
            "consumers",
            "description",
            "drain",
            "duration",
            "expect",
            "faults",
            "name",
            "network",
            "producers",
            "sagas",
            "sample_interval",
            "seed",
            "topics",
        ],
    ),
    (
        "TopicConfig",
        &[
            "dedup_window",
            "derived",
            "exchange",
            "fifo",
            "model",
            "name",
            "partitions",
            "retention",
        ],
    ),
];

/// A tripwire for the plain path's one silent failure: a new per-message setting that
/// `plain_eligible` does not know, so the lean handlers run without it. Any setting added
/// to the scenario format fails this test until someone has decided, and written in
/// `plain_eligible`, whether a scenario using it may take the plain path; then it joins
/// `KNOWN_SETTINGS`. The settings are read off the parsed scenario's `Debug` form (every
/// field of every struct mm1 fills), so nothing here has to be kept in step by hand.
#[test]
fn every_scenario_setting_was_weighed_for_the_plain_path() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/mm1.toml");
    let text = std::fs::read_to_string(&path).expect("mm1.toml");
    let s = Scenario::from_toml(&text, "mm1.toml").expect("mm1 is valid");
    let found = settings_in(&format!("{s:#?}"));
    let known: std::collections::BTreeSet<String> = KNOWN_SETTINGS
        .iter()
        .flat_map(|(owner, names)| names.iter().map(move |n| format!("{owner}.{n}")))
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    assert!(
        new.is_empty(),
        "new scenario settings {new:?}: decide in `plain_eligible` (sim/src/engine/plain.rs) \
         whether a scenario using them may take the plain path, then add them to \
         KNOWN_SETTINGS"
    );
    let gone: Vec<_> = known.difference(&found).collect();
    assert!(
        gone.is_empty(),
        "settings {gone:?} are no longer in the format: drop them from KNOWN_SETTINGS"
    );
    // The reading itself works: it finds settings at each depth.
    for probe in [
        "Scenario.seed",
        "BrokerConfig.acks",
        "ConsumerConfig.delivery",
    ] {
        assert!(found.contains(probe), "{probe} not read off the Debug form");
    }
}

/// `Owner.field` for each field in a pretty-printed `Debug` value, the owner being the
/// innermost named struct (`Spanned`'s own fields, the position wrapper, are skipped).
fn settings_in(debug: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    // (indent, struct name) of each open brace, bracket or parenthesis.
    let mut open: Vec<(usize, &str)> = vec![(0, "Scenario")];
    for line in debug.lines().skip(1) {
        let indent = line.len() - line.trim_start().len();
        let body = line.trim();
        if matches!(body, "}" | "}," | "]" | "]," | ")" | "),") {
            if open.last().is_some_and(|o| o.0 == indent) {
                open.pop();
            }
            continue;
        }
        let (field, rest) = match body.split_once(": ") {
            Some((f, r))
                if f.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
            {
                (Some(f), r)
            }
            _ => (None, body),
        };
        if let (Some(f), Some(&(_, owner))) = (field, open.last())
            && owner != "Spanned"
            && owner != "?"
        {
            found.insert(format!("{owner}.{f}"));
        }
        if let Some(name) = rest.strip_suffix(" {") {
            let named = name.chars().next().is_some_and(|c| c.is_ascii_uppercase());
            open.push((indent, if named { name } else { "?" }));
        } else if rest.ends_with('{') || rest.ends_with('(') || rest.ends_with('[') {
            open.push((indent, "?"));
        }
    }
    found
}
